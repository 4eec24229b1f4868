//! The `virtguard` binary end to end: answers, exit codes, text and JSON output (golden files in
//! `snapshots/`), warnings and errors, on the bundled example cluster and small test snapshots.

use std::path::PathBuf;

use assert_cmd::Command;
use predicates::prelude::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `virtguard` run from the workspace root with `--defaults none`.
fn vg() -> Command {
    let mut c = Command::cargo_bin("virtguard").expect("binary");
    c.current_dir(root()).arg("--defaults").arg("none");
    c
}

fn stdout(args: &[&str]) -> (String, i32) {
    let out = vg().args(args).output().expect("run");
    (
        String::from_utf8(out.stdout).expect("utf8"),
        out.status.code().unwrap_or(-1),
    )
}

const EX: &str = "examples/cluster";
const SMALL: &str = "tests/data/cli/small.yaml";

#[test]
fn yes_exits_0_no_exits_1() {
    vg().args([
        "can-i", "get", "vm", "-n", "lab", "--as", "ann", "-f", SMALL,
    ])
    .assert()
    .code(0)
    .stdout("yes\n");
    vg().args([
        "can-i", "delete", "vm", "-n", "lab", "--as", "ann", "-f", SMALL,
    ])
    .assert()
    .code(1)
    .stdout("no\n");
    // RoleBinding scope: nothing in another namespace.
    vg().args([
        "can-i", "get", "vm", "-n", "other", "--as", "ann", "-f", SMALL,
    ])
    .assert()
    .code(1);
}

#[test]
fn missing_role_is_the_reason() {
    vg().args([
        "can-i", "get", "pods", "-n", "lab", "--as", "ben", "-f", SMALL,
    ])
    .assert()
    .code(1)
    .stdout("no - RBAC: role.rbac.authorization.k8s.io \"does-not-exist\" not found\n")
    .stderr(predicate::str::contains(
        "tests/data/cli/small.yaml:40: RoleBinding lab/gone: grants nothing",
    ));
}

#[test]
fn service_account_subject_without_namespace_means_the_binding_namespace() {
    vg().args([
        "can-i",
        "list",
        "vmis",
        "-n",
        "lab",
        "--as",
        "system:serviceaccount:lab:robot",
        "-f",
        SMALL,
    ])
    .assert()
    .code(0);
    vg().args([
        "can-i",
        "list",
        "vmis",
        "-n",
        "lab",
        "--as",
        "system:serviceaccount:other:robot",
        "-f",
        SMALL,
    ])
    .assert()
    .code(1);
}

#[test]
fn kubevirt_subresources_are_checked_in_their_group() {
    // `vmi --subresource vnc` means subresources.kubevirt.io without the user knowing.
    vg().args([
        "can-i",
        "get",
        "vmi",
        "--subresource",
        "vnc",
        "-n",
        "x",
        "--as",
        "u",
        "--as-group",
        "ops",
        "-f",
        SMALL,
    ])
    .assert()
    .code(0);
    // Given explicitly, kubectl-style, it works the same.
    vg().args([
        "can-i",
        "get",
        "virtualmachineinstances.subresources.kubevirt.io",
        "--subresource",
        "vnc",
        "-n",
        "x",
        "--as",
        "u",
        "--as-group",
        "ops",
        "-f",
        SMALL,
    ])
    .assert()
    .code(0);
    // v1.9.0 took vnc/screenshot out of edit: alice (edit in vm-dev) cannot, vm-admins can.
    vg().args([
        "can-i",
        "get",
        "vmi",
        "--subresource",
        "vnc/screenshot",
        "-n",
        "vm-dev",
        "--as",
        "alice",
        "-f",
        EX,
    ])
    .assert()
    .code(1);
    vg().args([
        "can-i",
        "get",
        "vmi",
        "--subresource",
        "vnc/screenshot",
        "-n",
        "vm-prod",
        "--as",
        "x",
        "--as-group",
        "vm-admins",
        "-f",
        EX,
    ])
    .assert()
    .code(0);
}

#[test]
fn migrations_need_the_migrate_role_since_v1_5() {
    // Namespace admins no longer create VMIMs; carol (kubevirt.io:migrate in vm-prod) does.
    vg().args([
        "can-i",
        "create",
        "vmim",
        "-n",
        "vm-prod",
        "--as",
        "x",
        "--as-group",
        "vm-admins",
        "-f",
        EX,
    ])
    .assert()
    .code(1);
    vg().args([
        "can-i", "create", "vmim", "-n", "vm-prod", "--as", "carol", "-f", EX,
    ])
    .assert()
    .code(0);
    vg().args([
        "can-i", "create", "vmim", "-n", "vm-dev", "--as", "carol", "-f", EX,
    ])
    .assert()
    .code(1);
}

#[test]
fn resource_names_and_non_resource_urls() {
    vg().args([
        "can-i", "update", "vm/db-1", "-n", "vm-prod", "--as", "dave", "-f", EX,
    ])
    .assert()
    .code(0);
    vg().args([
        "can-i",
        "get",
        "/metrics/slis",
        "--as",
        "u",
        "--as-group",
        "ops",
        "-f",
        SMALL,
    ])
    .assert()
    .code(0);
    vg().args([
        "can-i",
        "get",
        "/healthz/x",
        "--as",
        "u",
        "--as-group",
        "ops",
        "-f",
        SMALL,
    ])
    .assert()
    .code(1);
}

#[test]
fn explain_golden() {
    let (out, code) = stdout(&[
        "can-i",
        "update",
        "virtualmachines",
        "--subresource",
        "start",
        "-n",
        "vm-dev",
        "--as",
        "alice",
        "--explain",
        "-f",
        EX,
    ]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("explain_alice_start", out);
    let (out, code) = stdout(&[
        "can-i",
        "delete",
        "vm",
        "-n",
        "lab",
        "--as",
        "ann",
        "--explain",
        "-f",
        SMALL,
    ]);
    assert_eq!(code, 1);
    insta::assert_snapshot!("explain_denied", out);
}

#[test]
fn json_golden() {
    let (out, code) = stdout(&[
        "can-i",
        "get",
        "vmi",
        "--subresource",
        "vnc",
        "-n",
        "lab",
        "--as",
        "u",
        "--as-group",
        "ops",
        "-o",
        "json",
        "-f",
        SMALL,
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["allowed"], true);
    assert_eq!(v["request"]["group"], "subresources.kubevirt.io");
    insta::assert_snapshot!("can_i_json", out);
    let (out, code) = stdout(&[
        "who-can", "create", "vmim", "-n", "vm-prod", "-o", "json", "-f", EX,
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let names: Vec<&str> = v["subjects"]
        .as_array()
        .expect("subjects")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or(""))
        .collect();
    assert!(
        names.contains(&"carol") && names.contains(&"sre"),
        "{names:?}"
    );
    assert!(!names.contains(&"vm-admins"), "{names:?}");
    insta::assert_snapshot!("who_can_json", out);
}

#[test]
fn who_can_table_and_exit_codes() {
    let (out, code) = stdout(&["who-can", "create", "vmim", "-n", "vm-prod", "-f", EX]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("who_can_table", out);
    vg().args(["who-can", "delete", "nodes", "-f", SMALL])
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with("No subject can delete nodes"));
    // -A counts RoleBindings of every namespace.
    let (out, _) = stdout(&["who-can", "get", "vm", "-A", "-f", SMALL]);
    assert!(out.contains("ann") && out.contains("robot"), "{out}");
}

#[test]
fn list_golden() {
    let (out, code) = stdout(&["can-i", "--list", "-n", "lab", "--as", "ann", "-f", SMALL]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("list_ann", out);
}

#[test]
fn access_review_answers_each_line_and_isolates_bad_ones() {
    let out = vg()
        .args([
            "access-review",
            "-f",
            SMALL,
            "--requests",
            "tests/data/cli/reviews.jsonl",
        ])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad line makes the exit code 2"
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    insta::assert_snapshot!("access_review", text);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is JSON"))
        .collect();
    assert_eq!(lines.len(), 7);
    let allowed: Vec<bool> = lines
        .iter()
        .map(|l| l["status"]["allowed"].as_bool().unwrap_or(false))
        .collect();
    // Literal groups: the SA review carries no groups and still matches its SA subject.
    assert_eq!(allowed, vec![true, false, true, false, false, false, true]);
    assert!(lines[4]["status"]["evaluationError"]
        .as_str()
        .unwrap_or("")
        .contains("reviews.jsonl:5"));
    assert!(lines[5]["status"]["evaluationError"]
        .as_str()
        .unwrap_or("")
        .contains("at least one of user or group must be specified"));
}

/// A review file of many megabytes is mapped and answered in blocks of lines on every core: every
/// line still gets its answer in input order, and a bad line anywhere is named by its own line
/// number (blank lines and CRLF endings counted as lines).
#[test]
fn access_review_of_a_large_file_keeps_order_and_line_numbers() {
    let good = |i: usize| {
        format!(
            r#"{{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{{"user":"ann","resourceAttributes":{{"namespace":"lab","verb":"get","group":"kubevirt.io","resource":"virtualmachines","name":"vm-{i}"}}}}}}"#
        )
    };
    let mut text = String::new();
    let mut bad = Vec::new();
    let mut n = 0usize;
    let mut line = 0usize;
    while text.len() < 3 << 20 {
        line += 1;
        match line % 5000 {
            1234 => {
                text.push_str("{not json\n");
                bad.push(line);
            }
            777 => text.push('\n'),
            _ => {
                text.push_str(&good(n));
                text.push_str(if line.is_multiple_of(2) { "\r\n" } else { "\n" });
                n += 1;
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reviews.jsonl");
    std::fs::write(&path, &text).unwrap();
    let out = vg()
        .args(["access-review", "-f", SMALL, "--requests"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut names = 0usize;
    let mut errors = Vec::new();
    for l in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(l).expect("each output line is JSON");
        match v["spec"]["resourceAttributes"]["name"].as_str() {
            Some(name) => {
                assert_eq!(name, format!("vm-{names}"), "answers in input order");
                assert_eq!(v["status"]["allowed"], true, "{l}");
                names += 1;
            }
            None => errors.push(v["status"]["evaluationError"].as_str().unwrap().to_string()),
        }
    }
    assert_eq!(names, n);
    assert!(bad.len() >= 3, "bad lines in several blocks");
    assert_eq!(errors.len(), bad.len());
    for (e, line) in errors.iter().zip(&bad) {
        assert!(
            e.starts_with(&format!("{}:{line}: invalid review", path.display())),
            "{e} should name line {line}"
        );
    }
}

#[test]
fn access_review_reads_stdin_yaml() {
    let yaml = "apiVersion: authorization.k8s.io/v1\nkind: SubjectAccessReview\nspec:\n  user: ann\n  resourceAttributes: {namespace: lab, verb: get, group: kubevirt.io, resource: virtualmachines}\n";
    vg().args(["access-review", "-f", SMALL])
        .write_stdin(yaml)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("\"allowed\":true"));
}

#[test]
fn input_errors_exit_2_and_name_the_place() {
    vg().args(["can-i", "get", "pods", "--as", "a", "-f", "tests/data/cli/bad-roleref.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "tests/data/cli/bad-roleref.yaml:8: RoleBinding prod/vm-admins: roleRef.kind must be Role or ClusterRole, got \"Roles\"",
        ));
    let home = tempfile::tempdir().unwrap();
    vg().args(["can-i", "get", "pods", "--as", "a"])
        .env("HOME", home.path())
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no cluster to read: pass -f PATH for manifests or --kubeconfig PATH",
        ));
    vg().args(["can-i", "get", "pods", "-f", SMALL])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("pass --as USER"));
    vg().args(["can-i", "get", "--as", "a", "-f", SMALL])
        .assert()
        .code(2);
    vg().args(["can-i", "get", "pods", "--as", "a", "-f", "no/such/dir"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no/such/dir"));
    // --skip-invalid leaves the bad object out and still answers.
    vg().args([
        "--skip-invalid",
        "can-i",
        "get",
        "pods",
        "--as",
        "a",
        "-f",
        "tests/data/cli/bad-roleref.yaml",
    ])
    .assert()
    .code(1)
    .stderr(predicate::str::contains("(left out)"));
}

#[test]
fn warnings_quiet_and_scope() {
    vg().args([
        "can-i",
        "get",
        "widgets.example.com",
        "--as",
        "a",
        "-f",
        SMALL,
    ])
    .assert()
    .code(1)
    .stderr(predicate::str::contains(
        "does not know resource type \"widgets\" in group \"example.com\"",
    ));
    vg().args([
        "can-i", "get", "nodes", "-n", "lab", "--as", "a", "-f", SMALL,
    ])
    .assert()
    .code(1)
    .stderr(predicate::str::contains("is not namespace scoped"));
    vg().args([
        "-q", "can-i", "get", "pods", "-n", "lab", "--as", "ben", "-f", SMALL,
    ])
    .assert()
    .code(1)
    .stdout("")
    .stderr("");
}

#[test]
fn stdin_snapshot_and_completion() {
    let text = std::fs::read_to_string(root().join(SMALL)).expect("read");
    vg().args(["can-i", "get", "vm", "-n", "lab", "--as", "ann", "-f", "-"])
        .write_stdin(text)
        .assert()
        .code(0);
    // Concatenated JSON objects on stdin (as `jq -c` prints them) are read as a JSON stream.
    let json = concat!(
        r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"r"},"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}]}"#,
        "\n",
        r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"b"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"r"},"subjects":[{"kind":"User","name":"zoe"}]}"#
    );
    vg().args(["can-i", "get", "pods", "--as", "zoe", "-f", "-"])
        .write_stdin(json)
        .assert()
        .code(0);
    Command::cargo_bin("virtguard")
        .expect("bin")
        .args(["completion", "bash"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("virtguard"));
}

/// `virtguard` without `--defaults none`: the built-in catalog is in play.
fn vg_defaults(defaults: &str) -> Command {
    let mut c = Command::cargo_bin("virtguard").expect("binary");
    c.current_dir(root()).arg("--defaults").arg(defaults);
    c
}

const BINDINGS_ONLY: &str = "tests/data/cli/bindings-only.yaml";

#[test]
fn defaults_follow_the_kubevirt_version() {
    let vmim = [
        "can-i",
        "create",
        "vmim",
        "-n",
        "apps",
        "--as",
        "x",
        "--as-group",
        "ns-admins",
        "-f",
        BINDINGS_ONLY,
    ];
    // Before v1.5 namespace admins could create migrations; from v1.5 on they cannot.
    vg_defaults("kubernetes,kubevirt@v1.4.0")
        .args(vmim)
        .assert()
        .code(0);
    vg_defaults("kubernetes,kubevirt@v1.5")
        .args(vmim)
        .assert()
        .code(1);
    vg_defaults("auto")
        .args(vmim)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "KubeVirt v1.9.0, the newest in the catalog",
        ));
    // admin aggregates kubevirt.io:admin: starting VMs is fine.
    vg_defaults("auto")
        .args([
            "can-i",
            "update",
            "vm",
            "--subresource",
            "start",
            "-n",
            "apps",
            "--as",
            "x",
            "--as-group",
            "ns-admins",
            "-f",
            BINDINGS_ONLY,
        ])
        .assert()
        .code(0);
    // Without defaults the binding points at nothing.
    vg_defaults("none")
        .args(vmim)
        .assert()
        .code(1)
        .stdout("no - RBAC: clusterrole.rbac.authorization.k8s.io \"admin\" not found\n");
}

#[test]
fn defaults_errors_list_what_is_known() {
    vg_defaults("kubevirt@v1.3")
        .args(["can-i", "get", "pods", "--as", "a", "-f", BINDINGS_ONLY])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "kubevirt has no version \"v1.3\" in the catalog (known: v1.4.0, v1.5.0, v1.6.0, v1.7.0, v1.8.0, v1.9.0)",
        ));
    vg_defaults("kubernetes,openshift")
        .args(["can-i", "get", "pods", "--as", "a", "-f", BINDINGS_ONLY])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown component \"openshift\""));
}

#[test]
fn manual_strategy_stops_aggregation_into_admin() {
    let start = [
        "can-i",
        "update",
        "vm",
        "--subresource",
        "start",
        "-n",
        "apps",
        "--as",
        "x",
        "--as-group",
        "ns-admins",
        "-f",
        "tests/data/cli/manual",
    ];
    // v1.9: OptOutRoleAggregation is Beta (on): admin no longer carries kubevirt.io:admin.
    vg_defaults("auto")
        .args(start)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("roleAggregationStrategy Manual"));
    // kubevirt.io:operator is installed by the operator manifest, not virt-operator: it still
    // aggregates into admin.
    vg_defaults("auto")
        .args([
            "can-i",
            "delete",
            "kubevirts",
            "-n",
            "apps",
            "--as",
            "x",
            "--as-group",
            "ns-admins",
            "-f",
            "tests/data/cli/manual",
        ])
        .assert()
        .code(0);
}

#[test]
fn roles_render_per_version_and_strategy() {
    let (v15, code) = stdout(&["roles", "--kubevirt-version", "v1.5"]);
    assert_eq!(code, 0);
    assert!(v15.contains("name: kubevirt.io:migrate"));
    assert!(
        !v15.contains("name: kubevirt.io:operator"),
        "installed by the operator manifest, not virt-operator"
    );
    let (v14, _) = stdout(&["roles", "--kubevirt-version", "v1.4.0"]);
    assert!(!v14.contains("name: kubevirt.io:migrate"));
    // Manual: labels patched to "false", not removed.
    let (manual, code) = stdout(&[
        "roles",
        "--kubevirt-version",
        "v1.9",
        "--strategy",
        "Manual",
        "--disabled-feature-gates",
        "Template",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        manual
            .matches("rbac.authorization.k8s.io/aggregate-to-")
            .count(),
        3
    );
    assert_eq!(manual.matches("\"false\"").count(), 3);
    // Template is Beta in v1.9 (on by default): virt-template's 7 user roles come along
    // (8 labels: the request-source role aggregates into admin and edit), also patched.
    let (manual, _) = stdout(&[
        "roles",
        "--kubevirt-version",
        "v1.9",
        "--strategy",
        "Manual",
    ]);
    assert_eq!(manual.matches("\"false\"").count(), 11);
    assert!(manual.contains("name: virt-template-virtualmachinetemplate-admin-role"));
    assert!(
        !manual.contains("name: virt-template-manager-role"),
        "components only with --components"
    );
    let (v18, _) = stdout(&["roles", "--kubevirt-version", "v1.8"]);
    assert!(!v18.contains("virt-template"), "Template is Alpha in v1.8");
    let (v18, _) = stdout(&[
        "roles",
        "--kubevirt-version",
        "v1.8",
        "--feature-gates",
        "Template",
    ]);
    assert!(v18.contains("name: virt-template-virtualmachinetemplaterequest-source-role"));
    // An unknown gate is a warning naming the known ones; the output is unchanged.
    vg().args([
        "roles",
        "--kubevirt-version",
        "v1.9",
        "--feature-gates",
        "NoSuchGate",
    ])
    .assert()
    .code(0)
    .stderr(
        predicate::str::contains("unknown feature gate \"NoSuchGate\" for KubeVirt v1.9.0")
            .and(predicate::str::contains("known gates: CPUManager,")),
    );
    // The gate: Beta in v1.9 (on unless disabled), Alpha in v1.8 (on only when listed).
    vg().args(["roles", "--kubevirt-version", "v1.9", "--strategy", "Manual", "--disabled-feature-gates", "OptOutRoleAggregation"])
        .assert()
        .code(2)
        .stderr("error: RoleAggregationStrategy cannot be set to Manual without enabling the OptOutRoleAggregation feature gate\n");
    vg().args([
        "roles",
        "--kubevirt-version",
        "v1.8",
        "--strategy",
        "Manual",
    ])
    .assert()
    .code(2);
    vg().args([
        "roles",
        "--kubevirt-version",
        "v1.8",
        "--strategy",
        "Manual",
        "--feature-gates",
        "OptOutRoleAggregation",
    ])
    .assert()
    .code(0);
    vg().args([
        "roles",
        "--kubevirt-version",
        "v1.7",
        "--strategy",
        "Manual",
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains(
        "does not support spec.configuration.roleAggregationStrategy",
    ));
    // Components in the install namespace.
    let (comp, _) = stdout(&[
        "roles",
        "--kubevirt-version",
        "v1.9",
        "--components",
        "-n",
        "cnv",
    ]);
    assert!(comp.contains("name: kubevirt-controller") && comp.contains("namespace: cnv"));
    // The temporary role of the VMIM hardening guidance.
    let (tmp, _) = stdout(&[
        "roles",
        "--kubevirt-version",
        "v1.5",
        "--temporary-migrate-role",
    ]);
    assert!(
        tmp.contains("name: kubevirt.io:upgrademigrate")
            && tmp.contains("aggregate-to-admin: \"true\"")
    );
}

#[test]
fn roles_output_loads_as_a_snapshot() {
    // What `roles` prints is a valid snapshot: v1.9 roles alone grant migrations to no one.
    let (text, _) = stdout(&["roles", "--kubevirt-version", "v1.9"]);
    let (tmp, _) = stdout(&[
        "roles",
        "--kubevirt-version",
        "v1.9",
        "--temporary-migrate-role",
    ]);
    let both = format!(
        "{text}---\n{tmp}---\n{}",
        std::fs::read_to_string(root().join(BINDINGS_ONLY)).expect("read")
    );
    // With the temporary role aggregated into admin (from the Kubernetes defaults), admins migrate.
    vg_defaults("kubernetes")
        .args([
            "can-i",
            "create",
            "vmim",
            "-n",
            "apps",
            "--as",
            "x",
            "--as-group",
            "ns-admins",
            "-f",
            "-",
        ])
        .write_stdin(both)
        .assert()
        .code(0);
    let (json, code) = stdout(&[
        "-o",
        "json",
        "roles",
        "--kubevirt-version",
        "v1.9",
        "--disabled-feature-gates",
        "Template",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["kind"], "List");
    assert_eq!(
        v["items"].as_array().map(Vec::len),
        Some(8),
        "GetAllCluster() at v1.9.0 creates 8 objects"
    );
}

fn json_out(cmd: &mut Command) -> (serde_json::Value, i32) {
    let out = cmd.output().expect("run");
    let v = serde_json::from_slice(&out.stdout).expect("json output");
    (v, out.status.code().unwrap_or(-1))
}

fn change<'a>(
    v: &'a serde_json::Value,
    kind: &str,
    name: &str,
    ns: &str,
) -> Option<&'a serde_json::Value> {
    v["changes"].as_array()?.iter().find(|c| {
        c["subject"]["kind"] == kind && c["subject"]["name"] == name && c["namespace"] == ns
    })
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn diff_versions_per_role_and_per_subject() {
    // Role level: the v1.5 migrate split, and its mirror image.
    let (fwd, code) = json_out(vg().args([
        "-o",
        "json",
        "diff",
        "--from",
        "kubevirt@v1.4.0",
        "--to",
        "kubevirt@v1.5.0",
    ]));
    assert_eq!(code, 0);
    let admin = change(&fwd, "ClusterRole", "admin", "").expect("admin changes");
    assert!(strings(&admin["lost"])
        .contains(&"create virtualmachineinstancemigrations.kubevirt.io".to_string()));
    assert!(strings(&admin["lost"])
        .contains(&"update virtualmachines.subresources.kubevirt.io/migrate".to_string()));
    let migrate = change(&fwd, "ClusterRole", "kubevirt.io:migrate", "").expect("new role");
    assert!(strings(&migrate["lost"]).is_empty() && !strings(&migrate["gained"]).is_empty());
    let (back, _) = json_out(vg().args([
        "-o",
        "json",
        "diff",
        "--from",
        "kubevirt@v1.5.0",
        "--to",
        "kubevirt@v1.4.0",
    ]));
    for c in fwd["changes"].as_array().expect("changes") {
        let r = change(
            &back,
            c["subject"]["kind"].as_str().unwrap_or(""),
            c["subject"]["name"].as_str().unwrap_or(""),
            "",
        )
        .expect("mirror change");
        assert_eq!(strings(&c["gained"]), strings(&r["lost"]));
        assert_eq!(strings(&c["lost"]), strings(&r["gained"]));
    }
    // Subject level: exactly the namespace admins lose migrations, in their namespace.
    let (v, code) = json_out(vg_defaults("auto").args([
        "-o",
        "json",
        "diff",
        "--from",
        "kubevirt@v1.4",
        "--to",
        "kubevirt@v1.5",
        "-f",
        BINDINGS_ONLY,
        "--exit-code",
    ]));
    assert_eq!(code, 1, "something is lost");
    // Only the namespace admins lose anything (KubeVirt's own service accounts only gain).
    let losers: Vec<&serde_json::Value> = v["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| !strings(&c["lost"]).is_empty())
        .collect();
    assert_eq!(losers.len(), 1, "{losers:?}");
    let c = change(&v, "Group", "ns-admins", "apps").expect("ns-admins in apps");
    assert!(strings(&c["lost"])
        .contains(&"create virtualmachineinstancemigrations.kubevirt.io".to_string()));
}

#[test]
fn diff_strategy_and_snapshots() {
    // Opting out of aggregation: vm-admins (admin in vm-prod) lose KubeVirt's rules.
    let (v, code) = json_out(vg_defaults("auto").args([
        "-o",
        "json",
        "diff",
        "--from",
        "strategy=AggregateToDefault",
        "--to",
        "strategy=Manual",
        "-f",
        EX,
    ]));
    assert_eq!(code, 0);
    let c = change(&v, "Group", "vm-admins", "vm-prod").expect("vm-admins");
    assert!(strings(&c["lost"])
        .contains(&"update virtualmachines.subresources.kubevirt.io/start".to_string()));
    // The same snapshot twice: nothing changes.
    vg().args([
        "diff",
        "--from-snapshot",
        SMALL,
        "--to-snapshot",
        SMALL,
        "--exit-code",
    ])
    .assert()
    .code(0)
    .stdout(predicate::str::starts_with("No access changes"));
    vg().args([
        "diff",
        "--from-snapshot",
        SMALL,
        "--to-snapshot",
        BINDINGS_ONLY,
        "--exit-code",
    ])
    .assert()
    .code(1);
    // Bad input.
    vg().args(["diff", "--from", "kubevirt@v1.4", "--to", "strategy=Manual"])
        .assert()
        .code(2);
    vg().args(["diff", "--from", "strategy=Auto", "--to", "strategy=Manual"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "supported values: \"AggregateToDefault\", \"Manual\"",
        ));
    vg().args(["diff", "--from", "kubevirt@v1.4"])
        .assert()
        .code(2);
}

/// `matrix --roles` with KubeVirt's catalog reproduces KubeVirt's own access-test expectations
/// (`tests/data/matrix/kubevirt-access-<version>.yaml`).
#[test]
fn matrix_roles_reproduce_kubevirts_access_test() {
    let dir = root().join("tests/data/matrix");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("matrix data") {
        let path = entry.expect("entry").path();
        let data: serde_json::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&path).expect("read")).expect("yaml");
        let version = data["version"].as_str().expect("version");
        for r in data["roles"].as_array().expect("roles") {
            let role = r["role"].as_str().expect("role");
            let mut args = vec![
                "-o".to_string(),
                "json".into(),
                "matrix".into(),
                "--roles".into(),
                role.into(),
                "-f".into(),
                BINDINGS_ONLY.into(),
            ];
            if r["boundBy"] == "ClusterRoleBinding" {
                args.push("--cluster-wide".into());
            }
            let (v, code) =
                json_out(vg_defaults(&format!("kubernetes,kubevirt@{version}")).args(&args));
            assert_eq!(code, 0);
            let cells = &v["rows"][0]["cells"];
            for (col, want) in r["expect"].as_object().expect("expect") {
                assert_eq!(
                    strings(&cells[col]),
                    strings(want),
                    "{} {version} {role} {col}",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "only {checked} cells checked");
}

#[test]
fn matrix_formats() {
    let (text, code) = stdout(&["matrix", "-n", "vm-prod", "-f", EX]);
    assert_eq!(code, 0);
    assert!(
        text.lines()
            .any(|l| l.starts_with("User carol") && l.contains("glwcupdD")),
        "{text}"
    );
    let (csv, _) = stdout(&["matrix", "-n", "vm-prod", "--format", "csv", "-f", EX]);
    assert!(csv.starts_with("kind,name,namespace,\"vm\""));
    let (html, _) = stdout(&["matrix", "-n", "vm-prod", "--format", "html", "-f", EX]);
    assert!(html.contains("<table class=\"vg-matrix\">") && html.contains("vm-admins"));
    let (one, _) = stdout(&[
        "-o", "json", "matrix", "--as", "alice", "-n", "vm-dev", "-f", EX,
    ]);
    let v: serde_json::Value = serde_json::from_str(&one).expect("json");
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(1));
    assert_eq!(strings(&v["rows"][0]["cells"]["vm/start"]), vec!["update"]);
    vg().args(["matrix", "--roles", "no-such-role", "-f", EX])
        .assert()
        .code(2);
}

#[test]
fn kubevirt_cr_problems_are_input_errors() {
    vg_defaults("auto")
        .args(["can-i", "get", "pods", "--as", "a", "-f", "tests/data/cli/two-crs"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the snapshot has 2 KubeVirt CRs (KubeVirt kubevirt/kubevirt at tests/data/cli/two-crs/a.yaml:1, KubeVirt kubevirt/kubevirt-2 at tests/data/cli/two-crs/b.yaml:1)"));
    vg_defaults("auto")
        .args(["can-i", "get", "pods", "--as", "a", "-f", "tests/data/cli/bad-strategy"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "spec.configuration.roleAggregationStrategy: Unsupported value: \"Aggregate\": supported values: \"AggregateToDefault\", \"Manual\"",
        ));
    // Without defaults the CR is not consulted.
    vg().args([
        "can-i",
        "get",
        "pods",
        "--as",
        "a",
        "-f",
        "tests/data/cli/two-crs",
    ])
    .assert()
    .code(1);
}

#[test]
fn roles_golden_per_version() {
    // Everything virt-operator creates per release with default gates: user roles, component
    // RBAC and (v1.8+ with the Template gate) virt-template's. Reviewed against the sources at
    // each tag; any change to the catalog or the rendering shows up here.
    for v in ["v1.4.0", "v1.5.0", "v1.6.0", "v1.7.0", "v1.8.0", "v1.9.0"] {
        let (text, code) = stdout(&["roles", "--kubevirt-version", v, "--components"]);
        assert_eq!(code, 0, "{v}");
        insta::assert_snapshot!(format!("roles_{}", v.replace('.', "_")), text);
    }
}

/// kube-apiserver's privileged group answers before RBAC: `system:masters` is allowed what no
/// binding grants, in can-i (with the reason said by --explain), access-review (no reason, as the
/// privileged-group authorizer gives none) and who-can (listed first; "nobody" means nobody else).
#[test]
fn system_masters_is_allowed_before_rbac() {
    // RBAC alone: nobody may delete VMs in lab.
    vg().args([
        "can-i", "delete", "vm", "-n", "lab", "--as", "root", "-f", SMALL,
    ])
    .assert()
    .code(1);
    let (out, code) = stdout(&[
        "can-i",
        "delete",
        "vm",
        "-n",
        "lab",
        "--as",
        "root",
        "--as-group",
        "system:masters",
        "--explain",
        "-f",
        SMALL,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("yes\n"), "{out}");
    assert!(out.contains("note: group system:masters is kube-apiserver's privileged group"));
    assert!(out.contains("RBAC alone would not allow it:"), "{out}");
    let (v, code) = json_out(vg().args([
        "can-i",
        "delete",
        "vm",
        "-n",
        "lab",
        "--as",
        "root",
        "--as-group",
        "system:masters",
        "-o",
        "json",
        "-f",
        SMALL,
    ]));
    assert_eq!(code, 0);
    assert_eq!(v["allowed"], true);
    assert_eq!(v["reason"], "");
    assert_eq!(v["grants"], serde_json::json!([]));

    let review = |groups: &str| {
        format!(
            r#"{{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{{"user":"root","groups":{groups},"resourceAttributes":{{"namespace":"lab","verb":"delete","group":"kubevirt.io","resource":"virtualmachines"}}}}}}"#
        )
    };
    let input = format!(
        "{}\n{}\n",
        review(r#"["system:masters"]"#),
        review(r#"["system:authenticated"]"#)
    );
    let out = vg()
        .args(["access-review", "-f", SMALL])
        .write_stdin(input)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines[0]["status"],
        serde_json::json!({"allowed": true, "denied": false})
    );
    assert_eq!(
        lines[1]["status"],
        serde_json::json!({"allowed": false, "denied": false})
    );

    // who-can: listed first; nobody else can, so exit 1.
    let (out, code) = stdout(&["who-can", "delete", "vm", "-n", "lab", "-f", SMALL]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("apart from Group system:masters, kube-apiserver's privileged group"),
        "{out}"
    );
    let (v, _) = json_out(vg().args([
        "who-can", "get", "vm", "-n", "lab", "-o", "json", "-f", SMALL,
    ]));
    assert_eq!(v["subjects"][0]["name"], "system:masters");
    assert_eq!(v["subjects"][0]["privileged"], true);
    assert!(v["subjects"].as_array().unwrap().len() > 1);
}
