//! `virtguard audit` end to end: every check's positive and negative cases under
//! `tests/data/audit/<ID>/` (expectations in each file's header), defaults never reported,
//! suppressions, `--fail-on`, the report formats, bad input, and `node-check` on a fake sysfs.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn vg() -> Command {
    let mut c = Command::cargo_bin("virtguard").expect("binary");
    c.current_dir(root());
    c
}

fn audit_json(args: &[&str]) -> (Value, i32) {
    let out = vg()
        .args(["audit", "-o", "json"])
        .args(args)
        .output()
        .expect("run");
    let text = String::from_utf8(out.stdout).expect("utf8");
    let code = out.status.code().unwrap_or(-1);
    if text.trim().is_empty() {
        return (Value::Null, code);
    }
    (
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
        code,
    )
}

/// The header of a case: `# expect: N`, `# expect-severity: S`, `# expect-object: K/ns/n`.
struct Expect {
    count: usize,
    severity: Option<String>,
    objects: Vec<String>,
}

fn expectations(text: &str, file: &Path) -> Expect {
    let mut e = Expect {
        count: usize::MAX,
        severity: None,
        objects: Vec::new(),
    };
    for line in text
        .lines()
        .take_while(|l| l.starts_with('#') || l.trim().is_empty())
    {
        let line = line.trim_start_matches('#').trim();
        let value = |k: &str| {
            line.strip_prefix(k)
                .map(|v| v.split('#').next().unwrap_or("").trim().to_string())
        };
        if let Some(v) = value("expect:") {
            e.count = v
                .parse()
                .unwrap_or_else(|_| panic!("{}: bad expect", file.display()));
        } else if let Some(v) = value("expect-severity:") {
            e.severity = Some(v);
        } else if let Some(v) = value("expect-object:") {
            e.objects.push(v);
        }
    }
    assert!(
        e.count != usize::MAX,
        "{}: no `# expect: N` header",
        file.display()
    );
    e
}

fn object_name(o: &Value) -> String {
    let s = |k: &str| o[k].as_str().unwrap_or("").to_string();
    if s("namespace").is_empty() {
        format!("{}/{}", s("kind"), s("name"))
    } else {
        format!("{}/{}/{}", s("kind"), s("namespace"), s("name"))
    }
}

#[test]
fn every_check_case() {
    let dir = root().join("tests/data/audit");
    let mut cases = 0;
    let mut failures = Vec::new();
    let mut ids: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/data/audit")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    ids.sort();
    for id_dir in ids {
        let id = id_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&id_dir)
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        let (mut pos, mut neg) = (0, 0);
        for f in files {
            let text = std::fs::read_to_string(&f).expect("read");
            let want = expectations(&text, &f);
            let rel = f.strip_prefix(root()).unwrap_or(&f).display().to_string();
            let (v, code) = audit_json(&["-f", &rel, "--only", &id]);
            cases += 1;
            if code != 0 {
                failures.push(format!("{rel}: exit {code}"));
                continue;
            }
            let got: Vec<&Value> = v["findings"]
                .as_array()
                .map(|a| a.iter().filter(|x| x["id"] == id.as_str()).collect())
                .unwrap_or_default();
            if want.count > 0 {
                pos += 1;
            } else {
                neg += 1;
            }
            if got.len() != want.count {
                failures.push(format!(
                    "{rel}: {} findings, expected {}: {}",
                    got.len(),
                    want.count,
                    got.iter()
                        .map(|x| x["message"].to_string())
                        .collect::<Vec<_>>()
                        .join(" | ")
                ));
                continue;
            }
            if let Some(sev) = &want.severity {
                for g in &got {
                    if g["severity"] != sev.as_str() {
                        failures.push(format!(
                            "{rel}: severity {} != {sev}: {}",
                            g["severity"], g["message"]
                        ));
                    }
                }
            }
            for o in &want.objects {
                let named = got.iter().any(|g| {
                    g["objects"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| object_name(x) == *o))
                });
                if !named {
                    failures.push(format!("{rel}: no finding names {o}"));
                }
            }
        }
        if !id.starts_with("VG0") {
            assert!(
                pos > 0 && neg > 0,
                "{id}: needs a positive and a negative case"
            );
        }
    }
    assert!(cases >= 40, "only {cases} cases");
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const RBAC_IDS: &str = "VG101,VG102,VG103,VG104,VG105,VG106,VG107,VG108,VG109,VG110,VG601";

#[test]
fn defaults_and_vendor_bindings_are_never_findings() {
    // A snapshot that is exactly what Kubernetes and virt-operator install (as a cluster dump
    // would show them): no RBAC finding, and no component drift.
    let dir = tempfile::tempdir().expect("tmp");
    for v in ["v1.5.0", "v1.9.0"] {
        let out = vg()
            .args(["roles", "--kubevirt-version", v, "--components"])
            .output()
            .expect("roles");
        let mut text = String::from_utf8(out.stdout).expect("utf8");
        text.push_str(&format!(
            "---\napiVersion: kubevirt.io/v1\nkind: KubeVirt\nmetadata:\n  name: kubevirt\n  namespace: kubevirt\nstatus:\n  observedKubeVirtVersion: {v}\n"
        ));
        let f = dir.path().join(format!("{v}.yaml"));
        std::fs::write(&f, text).expect("write");
        let k8s = root().join("crates/catalog/data/kubernetes");
        let (json, code) = audit_json(&[
            "-f",
            f.to_str().expect("path"),
            "-f",
            k8s.to_str().expect("path"),
            "--only",
            RBAC_IDS,
        ]);
        assert_eq!(code, 0);
        assert_eq!(
            json["findings"].as_array().map(Vec::len),
            Some(0),
            "{v}: {}",
            json["findings"]
        );
    }
}

#[test]
fn a_changed_vendor_binding_is_reported() {
    // kubevirt.io:default's binding widened to system:unauthenticated is no longer the default.
    let text = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: kubevirt.io:default\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: kubevirt.io:edit\nsubjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: Group\n  name: system:unauthenticated\n";
    let out = vg()
        .args(["audit", "-o", "json", "-f", "-", "--only", "VG102"])
        .write_stdin(text)
        .output()
        .expect("run");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let f = &v["findings"][0];
    assert_eq!(f["id"], "VG102");
    assert_eq!(f["severity"], "high");
    assert_eq!(f["subjects"][0]["name"], "system:unauthenticated");
}

fn fake_sysfs(nested: &str, vulns: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tmp");
    let p = d.path().join("module/kvm_intel/parameters");
    std::fs::create_dir_all(&p).expect("mkdir");
    std::fs::write(p.join("nested"), format!("{nested}\n")).expect("write");
    let v = d.path().join("devices/system/cpu/vulnerabilities");
    std::fs::create_dir_all(&v).expect("mkdir");
    for (n, s) in vulns {
        std::fs::write(v.join(n), format!("{s}\n")).expect("write");
    }
    d
}

#[test]
fn node_check_reads_sysfs_and_feeds_the_audit() {
    let bad = fake_sysfs(
        "Y",
        &[
            ("spectre_v2", "Mitigation: Retpolines; IBPB: conditional"),
            ("meltdown", "Not affected"),
            (
                "mds",
                "Vulnerable: Clear CPU buffers attempted, no microcode",
            ),
        ],
    );
    let out = vg()
        .args([
            "node-check",
            "--node",
            "worker-1",
            "-o",
            "json",
            "--sysfs-root",
        ])
        .arg(bad.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "findings exit 1");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["VG701", "VG702"]);
    assert!(v["findings"][1]["message"]
        .as_str()
        .unwrap_or("")
        .contains("mds"));
    // The JSON feeds the audit.
    let facts = tempfile::tempdir().expect("tmp");
    std::fs::write(facts.path().join("worker-1.json"), &out.stdout).expect("write");
    let (a, code) = audit_json(&["--node-facts", facts.path().to_str().expect("p")]);
    assert_eq!(code, 0);
    assert_eq!(a["findings"].as_array().map(Vec::len), Some(2));
    assert_eq!(a["findings"][0]["objects"][0]["name"], "worker-1");

    let good = fake_sysfs("N", &[("meltdown", "Not affected")]);
    vg().args(["node-check", "--sysfs-root"])
        .arg(good.path())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("nested virtualization off"));
    vg().args(["node-check", "--sysfs-root", "/nonexistent/sys"])
        .assert()
        .code(2);
}

#[test]
fn node_check_on_this_machine() {
    // The real /sys: whatever it says, the command answers 0 or 1 and valid JSON.
    let out = vg()
        .args(["node-check", "-o", "json"])
        .output()
        .expect("run");
    assert!(matches!(out.status.code(), Some(0 | 1)), "{:?}", out);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["facts"]["node"].is_string());
}

#[test]
fn fail_on_and_suppressions() {
    // examples/cluster has one critical finding (VG104, everyone-edits-vms).
    vg().args([
        "audit",
        "-q",
        "-f",
        "examples/cluster",
        "--fail-on",
        "critical",
    ])
    .assert()
    .code(3);
    vg().args([
        "audit",
        "-q",
        "-f",
        "examples/cluster",
        "--only",
        "VG303",
        "--fail-on",
        "high",
    ])
    .assert()
    .code(0);
    let dir = tempfile::tempdir().expect("tmp");
    let sup = dir.path().join("accepted.yaml");
    std::fs::write(
        &sup,
        "- id: VG104\n  object: ClusterRoleBinding/everyone-edits-vms\n  reason: migration to per-namespace grants tracked in TICKET-12\n  expires: 2999-01-01\n- id: VG303\n  object: \"*\"\n  reason: expired acceptance\n  expires: 2000-01-01\n",
    )
    .expect("write");
    let (v, code) = audit_json(&[
        "-f",
        "examples/cluster",
        "--suppress",
        sup.to_str().expect("p"),
        "--fail-on",
        "critical",
    ]);
    assert_eq!(code, 0, "the critical finding is suppressed");
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(!ids.contains(&"VG104"));
    assert!(
        ids.contains(&"VG002"),
        "the expired suppression is a finding"
    );
    assert!(
        ids.contains(&"VG303"),
        "an expired suppression hides nothing"
    );
    // Both VG104 findings of that binding (cluster and namespaced instance types).
    let hidden = v["suppressed"].as_array().expect("suppressed");
    assert_eq!(hidden.len(), 2);
    assert!(hidden.iter().all(|h| h["finding"]["id"] == "VG104"
        && h["reason"].as_str().unwrap_or("").contains("TICKET-12")));
    assert_eq!(v["summary"]["suppressed"], 2);
    // A bad suppression file is an input error naming the problem.
    std::fs::write(&sup, "- id: VG999\n  object: x\n  reason: r\n").expect("write");
    vg().args(["audit", "-q", "-f", "examples/cluster", "--suppress"])
        .arg(&sup)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown check id \"VG999\""));
}

#[test]
fn report_formats() {
    let run = |fmt: &str| {
        let out = vg()
            .args(["audit", "-f", "examples/cluster", "-o", fmt])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(0), "{fmt}");
        String::from_utf8(out.stdout).expect("utf8")
    };
    let sarif: Value = serde_json::from_str(&run("sarif")).expect("sarif json");
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert!(!results.is_empty());
    let loc = &results[0]["locations"][0]["physicalLocation"];
    assert!(loc["artifactLocation"]["uri"]
        .as_str()
        .unwrap_or("")
        .contains("examples/cluster/"));
    assert!(loc["region"]["startLine"].as_u64().unwrap_or(0) > 0);
    let junit = run("junit");
    assert!(
        junit.starts_with("<?xml") && junit.contains("<testsuites") && junit.contains("<failure")
    );
    let html = run("html");
    assert!(html.contains("<!DOCTYPE html") || html.contains("<!doctype html"));
    assert!(
        html.contains("vg-matrix"),
        "the access matrix is in the report"
    );
    let table = run("table");
    assert!(table.contains("CRITICAL") && table.contains("findings:"));
    // Other commands refuse audit-only formats.
    vg().args([
        "who-can",
        "get",
        "pods",
        "-f",
        "examples/cluster",
        "-o",
        "sarif",
    ])
    .assert()
    .code(2);
    // --list-checks: the registry.
    let out = vg()
        .args(["audit", "--list-checks", "-o", "json"])
        .output()
        .expect("run");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["checks"].as_array().map(Vec::len).unwrap_or(0) >= 30);
}

#[test]
fn bad_input_is_an_error_or_a_finding() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("bad.yaml");
    std::fs::write(
        &f,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ok\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: no-roleref\n  namespace: ok\n---\nkind: [unclosed\n",
    )
    .expect("write");
    vg().args(["audit", "-q", "-f"])
        .arg(&f)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.yaml"));
    let out = vg()
        .args(["audit", "-o", "json", "--skip-invalid", "-f"])
        .arg(&f)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let skipped: Vec<&Value> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|x| x["id"] == "VG001")
        .collect();
    assert_eq!(skipped.len(), 2, "{}", v["findings"]);
    assert!(skipped.iter().all(|x| x["objects"][0]["file"]
        .as_str()
        .unwrap_or("")
        .ends_with("bad.yaml")));
    vg().args(["audit", "-f", "examples/cluster", "--only", "VG999"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown check id"));
    vg().args(["audit", "-f", "examples/cluster", "--fail-on", "severe"])
        .assert()
        .code(2);
}

#[test]
fn certificates_in_the_snapshot_are_judged_at_the_audit_instant() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("pki.yaml");
    let out = vg()
        .args([
            "certs",
            "init",
            "-o",
            "yaml",
            "--now",
            "2030-01-01T00:00:00Z",
        ])
        .output()
        .expect("init");
    assert!(out.status.success());
    std::fs::write(&f, &out.stdout).expect("write");
    let file = f.to_str().expect("p");
    let count = |now: &str| {
        let (v, code) = audit_json(&["-f", file, "--only", "VG801", "--now", now]);
        assert_eq!(code, 0);
        v["findings"].as_array().map(Vec::len).unwrap_or(usize::MAX)
    };
    assert_eq!(count("2030-01-01T01:00:00Z"), 0, "fresh");
    // 23 h later the 14 leaves are past their renewal point (0.8 × 24 h), the CAs are not.
    assert_eq!(count("2030-01-01T23:00:00Z"), 14);
    vg().args(["audit", "-f", file, "--now", "yesterday"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--now"));
}

#[test]
fn node_facts_that_are_not_node_check_output_are_input_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let other = dir.path().join("other.json");
    std::fs::write(&other, "{\"x\": 1}").expect("write");
    vg().args(["audit", "--node-facts"])
        .arg(&other)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "other.json: not the output of `virtguard node-check -o json`",
        ));
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "not json").expect("write");
    vg().args(["audit", "--node-facts"])
        .arg(&garbage)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("garbage.json: not JSON"));
}

/// The findings of an audit as (id, severity, object kind/name) triples.
fn triples(v: &Value) -> Vec<(String, String, String)> {
    v["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        f["id"].as_str().unwrap_or("").to_string(),
                        f["severity"].as_str().unwrap_or("").to_string(),
                        object_name(&f["objects"][0]),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn kubevirt_examples() {
    // KubeVirt's own examples (v1.9.0, no KubeVirt CR): the VMs that reach the host are
    // reported, the plain ones produce nothing of medium or higher.
    let (v, code) = audit_json(&["-f", "tests/data/kubevirt-examples"]);
    assert_eq!(code, 0, "{v}");
    let got = triples(&v);
    for (id, object) in [
        ("VG307", "VirtualMachineInstance/vmi-host-disk"),
        ("VG308", "VirtualMachineInstance/vmi-with-sidecar-hook"),
        (
            "VG308",
            "VirtualMachineInstance/vmi-with-sidecar-hook-configmap",
        ),
        (
            "VG308",
            "VirtualMachine/vm-cirros-with-sidecar-hook-configmap",
        ),
        ("VG301", "VirtualMachineInstance/vmi-gpu"),
        ("VG301", "VirtualMachineInstance/vmi-usb"),
        ("VG311", "VirtualMachineInstance/vmi-dra-pgpu"),
    ] {
        assert!(
            got.iter()
                .any(|(i, s, o)| i == id && o == object && s == "medium"),
            "{id} on {object} (medium) missing: {got:?}"
        );
    }
    let reaching = [
        "vmi-host-disk",
        "vmi-with-sidecar-hook",
        "vmi-with-sidecar-hook-configmap",
        "vm-cirros-with-sidecar-hook-configmap",
        "vmi-gpu",
        "vmi-usb",
        "vmi-dra-pgpu",
    ];
    let serious: Vec<_> = got
        .iter()
        .filter(|(_, s, o)| {
            matches!(s.as_str(), "medium" | "high" | "critical")
                && !reaching.iter().any(|r| o.ends_with(&format!("/{r}")))
        })
        .collect();
    assert!(serious.is_empty(), "plain workloads reported: {serious:?}");
    assert_eq!(got.len(), reaching.len(), "{got:?}");
}

#[test]
fn two_objects_with_one_name_stay_an_input_error() {
    // A directory of examples plus a different VMI under an existing name: an error naming
    // both places; with --skip-invalid a VG001 finding, and the first object still judged.
    let dir = tempfile::tempdir().expect("tmp");
    let src = root().join("tests/data/kubevirt-examples");
    for e in std::fs::read_dir(&src).expect("examples") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "yaml") {
            std::fs::copy(&p, dir.path().join(p.file_name().expect("name"))).expect("copy");
        }
    }
    std::fs::write(
        dir.path().join("zz-same-name.yaml"),
        "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata:\n  name: vmi-host-disk\nspec:\n  domain:\n    devices: {}\n",
    )
    .expect("write");
    vg().args(["audit", "-f"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "duplicate object with different content",
        ))
        .stderr(predicate::str::contains("zz-same-name.yaml"));
    let out = vg()
        .args(["audit", "-o", "json", "--skip-invalid", "-f"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let skipped: Vec<&Value> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["id"] == "VG001")
        .collect();
    assert_eq!(skipped.len(), 1, "{}", v["findings"]);
    assert!(skipped[0]["objects"][0]["file"]
        .as_str()
        .unwrap_or("")
        .ends_with("zz-same-name.yaml"));
    assert!(skipped[0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("vmi-host-disk.yaml:2"));
    let got = triples(&v);
    assert!(
        got.iter()
            .any(|(i, _, o)| i == "VG307" && o == "VirtualMachineInstance/vmi-host-disk"),
        "{got:?}"
    );
}
