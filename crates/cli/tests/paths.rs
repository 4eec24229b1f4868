//! `virtguard paths` as a user runs it: the example cluster's KubeVirt paths in JSON (every step
//! with the binding → role → rule that allows it), the same paths as a Graphviz graph (`-o dot`,
//! names quoted), the exit codes, and the refusals (`-o dot` elsewhere, `--max-steps 0`).

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use common::{bin, repo};
use serde_json::Value;

fn vg(args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(repo())
        .args(args)
        .output()
        .expect("run virtguard")
}

fn describe(subject: &Value) -> String {
    match subject["namespace"].as_str() {
        Some(ns) => format!(
            "{} {ns}/{}",
            subject["kind"].as_str().unwrap_or_default(),
            subject["name"].as_str().unwrap_or_default()
        ),
        None => format!(
            "{} {}",
            subject["kind"].as_str().unwrap_or_default(),
            subject["name"].as_str().unwrap_or_default()
        ),
    }
}

#[test]
fn json_and_dot_tell_the_same_paths() {
    let out = vg(&["paths", "-f", "examples/cluster", "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "paths found: exit 1");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let paths = v["paths"].as_array().expect("paths");
    // KubeVirt's own edges on the example cluster.
    let has = |subject: &str, target: &str, action: &str| {
        paths.iter().any(|p| {
            describe(&p["subject"]) == subject
                && p["target"] == target
                && p["steps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| s["action"].as_str().is_some_and(|a| a.contains(action)))
        })
    };
    assert!(
        has(
            "Group support",
            "node",
            "pods/exec on kubevirt/virt-handler"
        ),
        "{v}"
    );
    assert!(
        has(
            "Group system:authenticated",
            "virt-launcher",
            "hook sidecar"
        ),
        "{v}"
    );
    assert!(
        has(
            "ServiceAccount kubevirt/kubevirt-controller",
            "node",
            "spec.customizeComponents"
        ),
        "{v}"
    );
    for p in paths {
        for s in p["steps"].as_array().expect("steps") {
            if s["action"]
                .as_str()
                .is_some_and(|a| a.starts_with("act as "))
            {
                continue;
            }
            assert!(
                s["via"]["binding"].is_object(),
                "a step without its binding: {s}"
            );
            assert!(s["via"]["rule"].is_object(), "a step without its rule: {s}");
        }
    }

    let out = vg(&["paths", "-f", "examples/cluster", "-o", "dot"]);
    assert_eq!(out.status.code(), Some(1));
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(
        dot.contains("digraph paths {") && dot.trim_end().ends_with('}'),
        "{dot}"
    );
    // Every step of every path is an edge from where it starts to what it gains.
    let edges: BTreeSet<(String, String)> = dot
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let (from, rest) = l.split_once(" -> ")?;
            let to = rest.split(" [label=").next()?;
            Some((
                from.trim_matches('"').to_owned(),
                to.trim_matches('"').to_owned(),
            ))
        })
        .collect();
    let mut wanted = BTreeSet::new();
    for p in paths {
        let mut at = describe(&p["subject"]);
        for s in p["steps"].as_array().expect("steps") {
            let to = match &s["gains"] {
                Value::String(t) => t.clone(),
                g => describe(g),
            };
            wanted.insert((at.clone(), to.clone()));
            at = to;
        }
    }
    assert_eq!(edges, wanted, "{dot}");
    // Targets are drawn as targets.
    assert!(dot.contains("\"node\" [shape=octagon"), "{dot}");
}

#[test]
fn dot_quotes_names() {
    let out = vg(&[
        "paths",
        "-f",
        "tests/data/paths-cli/quoted.yaml",
        "--defaults",
        "none",
        "-o",
        "dot",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(dot.contains(r#""User o\"hara\\x" [shape=box]"#), "{dot}");
    assert!(dot.contains(r#""User o\"hara\\x" -> "node""#), "{dot}");
}

#[test]
fn refusals_and_nothing_found() {
    let out = vg(&[
        "can-i",
        "get",
        "pods",
        "-f",
        "examples/cluster",
        "-o",
        "dot",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-o dot is only for paths"));
    let out = vg(&["paths", "-f", "examples/cluster", "--max-steps", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-steps must be at least 1"));
    let out = vg(&[
        "paths",
        "-f",
        "examples/cluster",
        "--from",
        "User:nobody-at-all",
        "--to",
        "cluster-admin", // (everyone may run a hook sidecar: virt-launcher, but not this)
    ]);
    assert_eq!(out.status.code(), Some(0), "no path: exit 0");
    assert!(String::from_utf8_lossy(&out.stdout).contains("No escalation path found."));
}

fn audit_findings(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["audit", "-f", "examples/cluster", "-o", "json"];
    all.extend_from_slice(args);
    let out = vg(&all);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "audit -o json: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    v["findings"].as_array().cloned().unwrap_or_default()
}

#[test]
fn audit_reports_paths_when_asked() {
    let ids = |f: &[Value]| -> BTreeSet<String> {
        f.iter()
            .filter_map(|x| x["id"].as_str())
            .filter(|id| id.starts_with("VG12"))
            .map(str::to_owned)
            .collect()
    };
    // Off by default.
    assert!(ids(&audit_findings(&[])).is_empty());
    let found = audit_findings(&["--paths"]);
    let paths: Vec<&Value> = found
        .iter()
        .filter(|f| f["id"].as_str().is_some_and(|i| i.starts_with("VG12")))
        .collect();
    let support = paths
        .iter()
        .find(|f| f["id"] == "VG122" && f["subjects"][0]["name"] == "support")
        .expect("Group support → node (exec into virt-handler)");
    assert_eq!(support["objects"][0]["name"], "support-debug");
    assert_eq!(
        support["objects"][0]["file"],
        "examples/cluster/platform.yaml"
    );
    let evidence = support["evidence"].as_str().unwrap_or_default();
    assert!(
        evidence.contains("1. create pods/exec on kubevirt/virt-handler"),
        "{evidence}"
    );
    assert!(evidence.contains("via RoleBinding"), "{evidence}");
    assert!(paths
        .iter()
        .any(|f| f["id"] == "VG123" && f["subjects"][0]["name"] == "system:authenticated"));
    // The operators' own rights (vendor bindings, unchanged) are by design: not reported…
    assert!(
        !paths
            .iter()
            .any(|f| f["subjects"][0]["name"] == "kubevirt-operator"),
        "{paths:?}"
    );
    // …unless there are no defaults to tell them apart.
    let bare = audit_findings(&["--paths", "--defaults", "none"]);
    assert!(bare
        .iter()
        .any(|f| f["id"] == "VG121" && f["subjects"][0]["name"] == "kubevirt-operator"));
    // --only names one: it runs alone.
    assert_eq!(
        ids(&audit_findings(&["--only", "VG123"])),
        BTreeSet::from(["VG123".to_owned()])
    );
    assert!(ids(&audit_findings(&["--paths", "--skip", "VG122,VG123"])).is_empty());
}
