//! The live source end to end: virtguard reads `virtguard serve --api` (a Kubernetes API over a
//! copy of `examples/cluster`) with `--kubeconfig`, and must give the answers it gives reading
//! the files — `who-can`, `access-review`, `audit` — with sources naming the cluster; `snapshot`
//! of the facade audits like the files and keeps Secrets' data out; a caller denied some kinds
//! gets warnings and a partial answer; bad kubeconfigs, unreachable servers and certificates
//! the server does not trust are one line each, exit 2.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

/// Runs virtguard with no kubeconfig but the one given (HOME and KUBECONFIG isolated).
fn vg(home: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(repo())
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("run virtguard")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A JSON answer with every source (file:line or cluster) removed, for comparing the two reads.
fn sourceless(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| {
                !k.to_ascii_lowercase().ends_with("source")
                    && k != "origin"
                    && k != "file"
                    && k != "line"
            });
            m.values_mut().for_each(sourceless);
        }
        Value::Array(a) => a.iter_mut().for_each(sourceless),
        _ => {}
    }
}

fn json(o: &Output) -> Value {
    let mut v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&o.stdout), text(&o.stderr)));
    sourceless(&mut v);
    v
}

/// A KubeVirt certificate Secret: a real (foreign) certificate and a key that is not one.
fn secret() -> String {
    let cert = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        include_str!("../../pki/tests/data/ec.crt"),
    );
    format!(
        "apiVersion: v1
kind: Secret
metadata:
  name: kubevirt-virt-handler-certs
  namespace: kubevirt
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{{\"data\":{{\"tls.key\":\"c2VjcmV0LWtleQ==\"}}}}'
type: kubernetes.io/tls
data:
  tls.key: c2VjcmV0LWtleQ==
  tls.crt: {cert}
"
    )
}

struct Setup {
    tmp: tempfile::TempDir,
    snap: std::path::PathBuf,
    server: Server,
    admin: std::path::PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().expect("tempdir");
    let snap = tmp.path().join("cluster");
    copy_dir(&repo().join("examples/cluster"), &snap);
    std::fs::write(snap.join("secret.yaml"), secret()).expect("write secret");
    let pki = tmp.path().join("pki");
    let server = start(tmp.path(), &snap, &pki);
    let admin = tmp.path().join("admin.kubeconfig");
    kubeconfig(&pki, &server, "admin", &["system:masters"], &[], &admin);
    Setup {
        tmp,
        snap,
        server,
        admin,
    }
}

#[test]
fn live_reads_of_the_facade_answer_as_the_files_do() {
    let s = setup();
    let home = s.tmp.path();
    let kc = s.admin.to_str().expect("utf-8");
    let f = s.snap.to_str().expect("utf-8");
    for args in [
        &["who-can", "create", "vmim", "-A", "-o", "json"][..],
        &[
            "who-can",
            "get",
            "vmi",
            "--subresource",
            "vnc",
            "-n",
            "vm-prod",
            "-o",
            "json",
        ],
        &[
            "can-i", "--list", "-n", "vm-dev", "--as", "alice", "-o", "json",
        ],
        &["matrix", "-n", "vm-prod", "-o", "json"],
    ] {
        let from_files = vg(home, &[args, &["-f", f]].concat());
        let live = vg(home, &[args, &["--kubeconfig", kc]].concat());
        assert_eq!(
            from_files.status.code(),
            live.status.code(),
            "{args:?}: {}",
            text(&live.stderr)
        );
        assert_eq!(json(&from_files), json(&live), "{args:?}");
    }
    // access-review: the same JSON lines.
    let reviews = s.tmp.path().join("reviews.jsonl");
    let mut lines = String::new();
    for (user, verb, res, sub, ns) in [
        (
            "carol",
            "create",
            "virtualmachineinstancemigrations",
            "",
            "vm-prod",
        ),
        ("alice", "get", "virtualmachineinstances", "vnc", "vm-dev"),
        ("alice", "delete", "virtualmachines", "", "vm-prod"),
        (
            "system:serviceaccount:kubevirt:kubevirt-handler",
            "list",
            "secrets",
            "",
            "",
        ),
    ] {
        let group = if sub.is_empty() {
            "kubevirt.io"
        } else {
            "subresources.kubevirt.io"
        };
        let group = if res == "secrets" { "" } else { group };
        lines.push_str(&serde_json::json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "resourceAttributes": {"verb": verb, "group": group, "resource": res, "subresource": sub, "namespace": ns}}}).to_string());
        lines.push('\n');
    }
    std::fs::write(&reviews, lines).expect("write reviews");
    let r = reviews.to_str().expect("utf-8");
    let from_files = vg(home, &["access-review", "--requests", r, "-f", f]);
    let live = vg(
        home,
        &["access-review", "--requests", r, "--kubeconfig", kc],
    );
    assert!(live.status.success(), "{}", text(&live.stderr));
    let lines = |o: &Output| -> Vec<Value> {
        text(&o.stdout)
            .lines()
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).expect("JSON line");
                v["status"].as_object_mut().map(|m| m.remove("reason"));
                v
            })
            .collect()
    };
    assert_eq!(lines(&from_files), lines(&live));
    assert_eq!(lines(&live).len(), 4);
    // The audit: the same findings.
    let audit = |args: &[&str]| {
        let o = vg(
            home,
            &[
                &["audit", "-o", "json", "--now", "2026-12-05T00:00:00Z"],
                args,
            ]
            .concat(),
        );
        let v = json(&o);
        let mut f: Vec<String> = v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| format!("{} {} {}", f["id"], f["severity"], f["title"]))
            .collect();
        f.sort();
        (o.status.code(), f)
    };
    let files_audit = audit(&["-f", f]);
    assert!(!files_audit.1.is_empty());
    assert_eq!(
        files_audit,
        audit(&["--kubeconfig", kc, "--include-secret-data"])
    );
    // By default the live read withholds private keys: the key check (VG801 "tls.key cannot be
    // read") is the only finding that goes; the certificate's own problems stay.
    let (code, live_default) = audit(&["--kubeconfig", kc]);
    assert_eq!(code, files_audit.0);
    let vg801 = |v: &[String]| v.iter().filter(|f| f.starts_with("\"VG801\"")).count();
    assert_eq!(
        live_default.len() + 1,
        files_audit.1.len(),
        "{live_default:?}"
    );
    assert_eq!(vg801(&live_default) + 1, vg801(&files_audit.1));
    assert!(live_default.iter().all(|f| files_audit.1.contains(f)));
    assert!(live_default.iter().any(|f| f.starts_with("\"VG801\"")));
    // Sources name the cluster and the object.
    let o = vg(
        home,
        &[
            "can-i",
            "create",
            "vmim",
            "-n",
            "vm-prod",
            "--as",
            "carol",
            "--explain",
            "--kubeconfig",
            kc,
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("(cluster virtguard: RoleBinding/vm-prod/carol-migrate)"),
        "{}",
        text(&o.stdout)
    );
    // $KUBECONFIG, and --context naming the kubeconfig's context, work as kubectl's.
    let o = Command::new(bin())
        .args([
            "who-can",
            "create",
            "vmim",
            "-n",
            "vm-prod",
            "--context",
            "virtguard",
        ])
        .env("HOME", home)
        .env("KUBECONFIG", &s.admin)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("carol"));
    let _ = &s.server;
}

#[test]
fn a_snapshot_of_the_facade_audits_like_the_files_and_keeps_secret_data_out() {
    let s = setup();
    let home = s.tmp.path();
    let kc = s.admin.to_str().expect("utf-8");
    let out = s.tmp.path().join("snap");
    let o = vg(
        home,
        &[
            "snapshot",
            "--kubeconfig",
            kc,
            "--output-directory",
            out.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("from cluster virtguard"),
        "{}",
        text(&o.stderr)
    );
    let secret = std::fs::read_to_string(out.join("kubevirt/Secret.yaml")).expect("secrets file");
    assert!(secret.contains("kubevirt-virt-handler-certs") && secret.contains("kubernetes.io/tls"));
    assert!(
        !secret.contains("c2VjcmV0"),
        "the private key is written: {secret}"
    );
    assert!(
        secret.contains("tls.crt: LS0t"),
        "the public certificate is kept: {secret}"
    );
    assert!(
        secret.contains("virtguard.io/withheld-data: tls.key"),
        "{secret}"
    );
    assert!(out
        .join("_cluster/ClusterRole.rbac.authorization.k8s.io.yaml")
        .is_file());
    assert!(out
        .join("vm-prod/RoleBinding.rbac.authorization.k8s.io.yaml")
        .is_file());
    // Every file is a List that -f reads; the audit finds what the files' audit finds (with the
    // secret data included, as the files have it).
    let audit = |f: &Path| {
        let o = vg(
            home,
            &[
                "audit",
                "-f",
                f.to_str().expect("utf-8"),
                "-o",
                "json",
                "--now",
                "2026-12-05T00:00:00Z",
            ],
        );
        let v = json(&o);
        let mut ids: Vec<String> = v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| format!("{} {}", f["id"], f["title"]))
            .collect();
        ids.sort();
        ids
    };
    let full = s.tmp.path().join("full");
    let o = vg(
        home,
        &[
            "snapshot",
            "--kubeconfig",
            kc,
            "--include-secret-data",
            "--output-directory",
            full.to_str().expect("utf-8"),
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(audit(&s.snap), audit(&full));
    let withheld = audit(&out);
    // One finding fewer: the unreadable key, which was not read.
    assert_eq!(audit(&s.snap).len(), withheld.len() + 1);
    assert!(withheld.iter().all(|f| audit(&s.snap).contains(f)));
    // kubectl applies the files (client dry run against the facade; the facade serves no OpenAPI
    // schema, so kubectl's schema validation is off).
    if let Some((kubectl, _)) = kubectls().into_iter().next() {
        let o = Command::new(kubectl)
            .args([
                "--kubeconfig",
                kc,
                "--request-timeout=20s",
                "apply",
                "--dry-run=client",
                "--validate=false",
                "-R",
                "-f",
            ])
            .arg(&out)
            .env_remove("KUBECONFIG")
            .output()
            .expect("kubectl");
        let stdout = text(&o.stdout);
        assert!(o.status.success(), "{stdout}{}", text(&o.stderr));
        assert!(stdout.lines().count() > 100, "{stdout}");
        assert!(stdout.lines().all(|l| l.ends_with("(dry run)")), "{stdout}");
    }
    // --include-secret-data keeps the data.
    let o = vg(
        home,
        &[
            "snapshot",
            "--kubeconfig",
            kc,
            "--include-secret-data",
            "-o",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON List");
    let sec = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["kind"] == "Secret")
        .expect("the Secret");
    assert_eq!(sec["data"]["tls.key"], "c2VjcmV0LWtleQ==");
}

#[test]
fn a_caller_denied_some_kinds_gets_warnings_and_a_partial_answer() {
    let s = setup();
    let home = s.tmp.path();
    let pki = s.tmp.path().join("pki");
    let alice = s.tmp.path().join("alice.kubeconfig");
    kubeconfig(&pki, &s.server, "alice", &[], &[], &alice);
    let o = vg(
        home,
        &[
            "who-can",
            "create",
            "vmim",
            "-n",
            "vm-prod",
            "--kubeconfig",
            alice.to_str().expect("utf-8"),
        ],
    );
    let err = text(&o.stderr);
    assert!(
        err.contains("warning: cluster virtguard: cannot list clusterrolebindings.rbac.authorization.k8s.io (403 Forbidden: clusterrolebindings.rbac.authorization.k8s.io is forbidden: User \"alice\" cannot list resource \"clusterrolebindings\""),
        "{err}"
    );
    assert!(err.contains("answers are partial"), "{err}");
    assert_ne!(
        o.status.code(),
        Some(2),
        "a partial read still answers: {err}"
    );
}

#[test]
fn bad_kubeconfigs_unreachable_servers_and_untrusted_certificates_are_one_line() {
    let s = setup();
    let home = s.tmp.path();
    let one_line_error = |o: &Output, starts: &str| {
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{err}");
        assert!(errors[0].starts_with(starts), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    };
    let bad = s.tmp.path().join("bad.kubeconfig");
    std::fs::write(&bad, "apiVersion: v1\nclusters: {oops\n").expect("write");
    let b = bad.to_str().expect("utf-8");
    one_line_error(
        &vg(home, &["who-can", "get", "vm", "--kubeconfig", b]),
        &format!("error: kubeconfig {b}: "),
    );
    let o = vg(
        home,
        &[
            "who-can",
            "get",
            "vm",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
        ],
    );
    one_line_error(&o, "error: kubeconfig /nonexistent/kubeconfig: ");
    // Unreachable: the admin kubeconfig pointed at a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let kc = std::fs::read_to_string(&s.admin).expect("read");
    let down = s.tmp.path().join("down.kubeconfig");
    std::fs::write(
        &down,
        kc.replace(&s.server.addr, &format!("127.0.0.1:{port}")),
    )
    .expect("write");
    let o = vg(
        home,
        &["audit", "--kubeconfig", down.to_str().expect("utf-8")],
    );
    one_line_error(
        &o,
        &format!("error: cannot reach the API server https://127.0.0.1:{port}: "),
    );
    // A server certificate of a CA the kubeconfig does not trust.
    let foreign = s.tmp.path().join("foreign.kubeconfig");
    let other_ca = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        include_str!("../../pki/tests/data/ec.crt"),
    );
    let replaced: String = kc
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("certificate-authority-data:") {
                format!("    certificate-authority-data: {other_ca}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&foreign, replaced).expect("write");
    let o = vg(
        home,
        &[
            "who-can",
            "get",
            "vm",
            "--kubeconfig",
            foreign.to_str().expect("utf-8"),
        ],
    );
    one_line_error(
        &o,
        &format!(
            "error: cannot reach the API server https://{}: ",
            s.server.addr
        ),
    );
    assert!(
        text(&o.stderr).to_lowercase().contains("certificate"),
        "{}",
        text(&o.stderr)
    );
    // An expired client certificate: the server answers 401.
    let expired = s.tmp.path().join("expired.kubeconfig");
    kubeconfig(
        &s.tmp.path().join("pki"),
        &s.server,
        "admin",
        &["system:masters"],
        &["--expiration", "1s"],
        &expired,
    );
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let o = vg(
        home,
        &[
            "who-can",
            "get",
            "vm",
            "--kubeconfig",
            expired.to_str().expect("utf-8"),
        ],
    );
    one_line_error(
        &o,
        &format!(
            "error: the API server https://{} answered 401 Unauthorized to GET /api/v1: ",
            s.server.addr
        ),
    );
}
