//! Cedar policies in the offline queries (`--policies`): the chain system:masters → Cedar → RBAC
//! as `can-i` and `access-review` evaluate it (cases as data in `tests/data/policy/chain`, each
//! run through both commands, which must agree), `who-can` (subjects left out, added, listed
//! with conditions), `matrix` (denied cells), `audit` (findings removed and VG111), Policy
//! objects in the snapshot, and the refusals (invalid policy, lockout).

mod common;

use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize;
use serde_json::{json, Value};

use common::{bin, repo};

const EX: &str = "examples/cluster";
const POLICIES: &str = "tests/data/policy/chain";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Case {
    name: String,
    can_i: Vec<String>,
    review: Value,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Expect {
    allowed: bool,
    denied: bool,
    decided_by: String,
    #[serde(default)]
    policy: Option<String>,
}

fn vg(args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .current_dir(repo())
        .args(args)
        .output()
        .expect("run virtguard")
}

fn cases() -> Vec<Case> {
    let path = repo().join(POLICIES).join("cases.yaml");
    let text = std::fs::read_to_string(&path).expect("cases.yaml");
    serde_yaml_ng::from_str(&text).expect("cases.yaml parses")
}

#[test]
fn can_i_and_access_review_agree_with_the_cases() {
    let cases = cases();
    assert!(cases.len() >= 10);
    // access-review: every case in one stream.
    let mut stream = String::new();
    for c in &cases {
        let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": c.review});
        stream.push_str(&review.to_string());
        stream.push('\n');
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let reviews: PathBuf = dir.path().join("reviews.jsonl");
    std::fs::write(&reviews, stream).expect("write reviews");
    let out = vg(&[
        "-q",
        "access-review",
        "-f",
        EX,
        "--policies",
        POLICIES,
        "--requests",
        reviews.to_str().expect("utf-8 path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), cases.len());

    for (c, line) in cases.iter().zip(&lines) {
        let st = &line["status"];
        let what = format!("{POLICIES}/cases.yaml: {}: access-review {st}", c.name);
        assert_eq!(st["allowed"], json!(c.expect.allowed), "{what}");
        assert_eq!(st["denied"], json!(c.expect.denied), "{what}");
        let reason = st["reason"].as_str().unwrap_or_default();
        match c.expect.decided_by.as_str() {
            "cedar" => {
                let p = c
                    .expect
                    .policy
                    .as_deref()
                    .expect("cedar cases name the policy");
                assert!(reason.contains(&format!("Cedar policy {p} (")), "{what}");
            }
            "rbac" if c.expect.allowed => assert!(reason.starts_with("RBAC: allowed by"), "{what}"),
            _ => assert!(!reason.contains("Cedar"), "{what}"),
        }
        assert!(st.get("evaluationError").is_none(), "{what}");

        let mut args: Vec<&str> = vec!["can-i"];
        args.extend(c.can_i.iter().map(String::as_str));
        args.extend(["-f", EX, "--policies", POLICIES, "-o", "json"]);
        let out = vg(&args);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: can-i -o json: {e}: {}",
                c.name,
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let what = format!("{POLICIES}/cases.yaml: {}: can-i {v}", c.name);
        assert_eq!(
            out.status.code(),
            Some(if c.expect.allowed { 0 } else { 1 }),
            "{what}"
        );
        assert_eq!(v["allowed"], json!(c.expect.allowed), "{what}");
        assert_eq!(v["denied"], json!(c.expect.denied), "{what}");
        assert_eq!(v["decidedBy"], json!(c.expect.decided_by), "{what}");
        if let Some(p) = &c.expect.policy {
            assert_eq!(v["cedar"]["matched"][0]["id"], json!(p), "{what}");
        }
    }
}

#[test]
fn without_policies_the_answers_are_rbac_alone() {
    let out = vg(&[
        "-q",
        "can-i",
        "create",
        "virtualmachineinstancemigrations",
        "-n",
        "vm-prod",
        "--as",
        "carol",
        "-f",
        EX,
    ]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn explain_names_the_deciding_policy_and_what_rbac_says() {
    let out = vg(&[
        "can-i",
        "create",
        "virtualmachineinstancemigrations",
        "-n",
        "vm-prod",
        "--as",
        "carol",
        "-f",
        EX,
        "--policies",
        POLICIES,
        "--explain",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.starts_with("no - denied by Cedar policy prod-migrations-sre-only (tests/data/policy/chain/kubevirt.cedar:14)"),
        "{text}"
    );
    assert!(text.contains("what RBAC alone says:"), "{text}");
    assert!(
        text.contains("carol-migrate"),
        "RBAC's grant is shown: {text}"
    );
}

fn who_can(args: &[&str]) -> Value {
    let mut all = vec!["who-can"];
    all.extend(args);
    all.extend(["-f", EX, "--policies", POLICIES, "-o", "json"]);
    let out = vg(&all);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

fn subject<'a>(v: &'a Value, kind: &str, name: &str) -> Option<&'a Value> {
    v["subjects"]
        .as_array()
        .expect("subjects")
        .iter()
        .find(|s| s["kind"] == kind && s["name"] == name)
}

#[test]
fn who_can_leaves_out_denied_subjects_and_adds_permitted_ones() {
    // Migrations in vm-prod: service accounts (whose groups are fixed) are left out; carol is
    // kept only for the case she is in sre.
    let v = who_can(&[
        "create",
        "virtualmachineinstancemigrations",
        "-n",
        "vm-prod",
    ]);
    let left: Vec<&Value> = v["deniedByPolicy"]
        .as_array()
        .expect("deniedByPolicy")
        .iter()
        .collect();
    assert!(
        left.iter().any(|s| s["kind"] == "ServiceAccount"
            && s["name"] == "kubevirt-controller"
            && s["policy"]["id"] == "prod-migrations-sre-only"),
        "{v}"
    );
    assert!(
        subject(&v, "ServiceAccount", "kubevirt-controller").is_none(),
        "{v}"
    );
    let carol = subject(&v, "User", "carol").expect("carol, with a condition");
    assert_eq!(carol["onlyWhenIn"]["groups"], json!(["sre"]), "{carol}");
    // The sre group is exempt and stays, without conditions.
    let sre = subject(&v, "Group", "sre").expect("sre listed");
    assert!(sre.get("onlyWhenIn").is_none(), "{sre}");

    // vnc in prod: system:authenticated is kept only for its members in sre.
    let v = who_can(&[
        "get",
        "virtualmachineinstances",
        "--subresource",
        "vnc",
        "-n",
        "vm-prod",
    ]);
    let all = subject(&v, "Group", "system:authenticated").expect("listed with a condition");
    assert_eq!(all["onlyWhenIn"]["groups"], json!(["sre"]), "{all}");
    // The privileged group is never judged.
    assert!(subject(&v, "Group", "system:masters").is_some());

    // The oncall permit adds a subject RBAC does not know.
    let v = who_can(&["list", "virtualmachines", "-n", "vm-dev"]);
    let oncall = subject(&v, "Group", "oncall").expect("oncall added by the permit");
    assert_eq!(oncall["permittedBy"]["id"], json!("oncall-read-vms"));
    assert_eq!(oncall["grants"], json!([]));

    // Without policies: carol is there, oncall is not.
    let out = vg(&[
        "who-can",
        "create",
        "virtualmachineinstancemigrations",
        "-n",
        "vm-prod",
        "-f",
        EX,
        "-o",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(subject(&v, "User", "carol").is_some());
    assert!(v.get("deniedByPolicy").is_none());
}

#[test]
fn matrix_marks_denied_cells() {
    let out = vg(&[
        "matrix",
        "-n",
        "vm-prod",
        "-f",
        EX,
        "--policies",
        POLICIES,
        "-o",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows = v["rows"].as_array().expect("rows");
    let carol = rows
        .iter()
        .find(|r| r["name"] == "carol")
        .expect("carol row");
    assert_eq!(
        carol["deniedByPolicy"]["vmim"],
        json!(["create", "update", "patch"]),
        "{carol}"
    );
    assert!(!carol["cells"]["vmim"]
        .as_array()
        .expect("cell")
        .contains(&json!("create")));
    let text = vg(&["matrix", "-n", "vm-prod", "-f", EX, "--policies", POLICIES]);
    let text = String::from_utf8_lossy(&text.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("User carol"))
        .expect("carol line");
    assert!(line.contains("!cup"), "{line}");
}

fn audit(extra: &[&str]) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a.json");
    let mut args = vec![
        "audit",
        "-f",
        EX,
        "-o",
        "json",
        "--output-file",
        file.to_str().expect("utf-8"),
    ];
    args.extend(extra);
    let out = vg(&args);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&std::fs::read(&file).expect("report")).expect("json");
    v["findings"].as_array().expect("findings").clone()
}

#[test]
fn audit_drops_forbidden_grants_and_reports_risky_permits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("p.cedar");
    std::fs::write(
        &p,
        r#"@id("no-exec-in-kubevirt")
forbid (principal, action, resource is k8s::Resource)
when { resource.resource == "pods" && resource has subresource && resource.subresource == "exec" && resource has namespace && resource.namespace == "kubevirt" };
@id("oncall-migrates")
permit (principal in k8s::Group::"oncall", action == k8s::Action::"create", resource is k8s::Resource)
when { resource.resource == "virtualmachineinstancemigrations" };
"#,
    )
    .expect("write");
    let support_exec = |f: &&Value| {
        f["id"] == "VG103"
            && f["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Group support"))
    };
    let before = audit(&[]);
    assert!(before.iter().any(|f| support_exec(&f)));
    assert!(!before.iter().any(|f| f["id"] == "VG111"));
    let after = audit(&["--policies", p.to_str().expect("utf-8")]);
    assert!(
        !after.iter().any(|f| support_exec(&f)),
        "the forbid removes support's exec"
    );
    // alice's exec in vm-dev is not in the forbid's namespace.
    assert!(after.iter().any(|f| f["id"] == "VG103"));
    let permits: Vec<&Value> = after.iter().filter(|f| f["id"] == "VG111").collect();
    assert_eq!(
        permits.len(),
        1,
        "cluster-wide once, not per namespace: {permits:?}"
    );
    let m = permits[0]["message"].as_str().unwrap_or_default();
    assert!(
        m.starts_with("Group oncall can create virtualmachineinstancemigrations"),
        "{m}"
    );
    assert!(m.contains("oncall-migrates"), "{m}");
}

#[test]
fn policy_objects_in_the_snapshot_take_part() {
    let dir = tempfile::tempdir().expect("tempdir");
    let obj = dir.path().join("policy.yaml");
    std::fs::write(
        &obj,
        r#"apiVersion: cedar.k8s.aws/v1alpha1
kind: Policy
metadata:
  name: no-vm-deletes
spec:
  content: |
    @id("no-vm-deletes")
    forbid (principal, action == k8s::Action::"delete", resource is k8s::Resource)
    when { resource.resource == "virtualmachines" };
"#,
    )
    .expect("write");
    let out = vg(&[
        "can-i",
        "delete",
        "virtualmachines",
        "-n",
        "vm-dev",
        "--as",
        "carol",
        "-f",
        EX,
        "-f",
        obj.to_str().expect("utf-8"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("denied by Cedar policy no-vm-deletes (Policy/no-vm-deletes:1)"),
        "{text}"
    );
}

#[test]
fn invalid_policies_and_lockouts_are_refused_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.cedar");
    std::fs::write(
        &bad,
        "@id(\"typo\")\nforbid (principal, action, resource) when { resource.nope == 1 };\n",
    )
    .expect("write");
    let out = vg(&[
        "-q",
        "can-i",
        "get",
        "pods",
        "--as",
        "a",
        "-f",
        EX,
        "--policies",
        bad.to_str().expect("utf-8"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad.cedar:2:") && err.contains("policy typo"),
        "{err}"
    );

    let lock = dir.path().join("lock.cedar");
    std::fs::write(
        &lock,
        "@id(\"deny-all\")\nforbid (principal, action, resource);\n",
    )
    .expect("write");
    let path = lock.to_str().expect("utf-8");
    let out = vg(&[
        "-q",
        "can-i",
        "get",
        "pods",
        "--as",
        "a",
        "-f",
        EX,
        "--policies",
        path,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("locks the cluster out") && err.contains("deny-all"),
        "{err}"
    );
    let out = vg(&[
        "-q",
        "can-i",
        "get",
        "pods",
        "--as",
        "a",
        "-f",
        EX,
        "--policies",
        path,
        "--allow-lockout",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "accepted with --allow-lockout, and denies"
    );
}

#[test]
fn paths_skip_edges_a_forbid_denies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("p.cedar");
    std::fs::write(
        &p,
        r#"@id("no-exec-into-kubevirt")
forbid (principal, action, resource is k8s::Resource)
when { resource.resource == "pods" && resource has subresource && resource.subresource == "exec" && resource has namespace && resource.namespace == "kubevirt" };
"#,
    )
    .expect("write");
    let to_node = |extra: &[&str]| -> bool {
        let mut args = vec![
            "paths",
            "-f",
            EX,
            "--from",
            "Group:support",
            "--to",
            "node",
            "-o",
            "json",
        ];
        args.extend(extra);
        let out = vg(&args);
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        v["paths"]
            .as_array()
            .expect("paths")
            .iter()
            .any(|p| p["target"] == "node")
    };
    assert!(to_node(&[]), "support execs into virt-handler");
    assert!(
        !to_node(&["--policies", p.to_str().expect("utf-8")]),
        "the forbid prunes that edge"
    );
}
