//! Data-driven tests: the policies and SubjectAccessReview cases under `tests/data/policy/`.
//!
//! * `cases.yaml` against every `*.cedar` there plus the Policy objects of `objects.yaml`;
//! * `invalid/*.cedar`, each loaded alone, against the one-line errors in `invalid/expected.yaml`;
//! * `lockout/lockout.cedar` against `lockout/expected.yaml`;
//! * `suites/*.yaml`: self-contained files, each with its policies and SubjectAccessReview
//!   cases, one per mapping rule of `docs/cedar-mapping.md` with negative controls.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use virtguard_policy::{
    policy_object_source, source, Decision, Guard, PolicyError, PolicySet, Request,
};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/policy")
}

/// Sources named by file name, so expectations do not depend on the checkout path.
fn by_file_name(sources: Vec<(String, String)>) -> Vec<(String, String)> {
    sources
        .into_iter()
        .map(|(path, text)| {
            let name = Path::new(&path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or(path);
            (name, text)
        })
        .collect()
}

fn main_set() -> PolicySet {
    let mut sources = by_file_name(source::load_dir(&data()).expect("read policy dir"));
    let objects = std::fs::read_to_string(data().join("objects.yaml")).expect("objects.yaml");
    for doc in serde_yaml_ng::Deserializer::from_str(&objects) {
        let value = serde_json::Value::deserialize(doc).expect("YAML object");
        sources.push(policy_object_source(&value).expect("Policy object"));
    }
    match PolicySet::from_sources(&sources) {
        Ok(set) => set,
        Err(e) => panic!("test policies do not load:\n{e}"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    spec: Request,
    expect: String,
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    errors: usize,
    /// Every matching policy of the deciding effect, in load order, when given.
    #[serde(default)]
    matched: Option<Vec<String>>,
}

#[test]
fn cases() {
    let set = main_set();
    let text = std::fs::read_to_string(data().join("cases.yaml")).expect("cases.yaml");
    let cases: Vec<Case> = serde_yaml_ng::from_str(&text).expect("cases.yaml parses");
    assert!(cases.len() >= 50, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let eval = set.decide(&case.spec);
        let (got, policy) = match &eval.decision {
            Decision::Allow { policy } => ("Allow", Some(policy)),
            Decision::Deny { policy } => ("Deny", Some(policy)),
            Decision::NoOpinion => ("NoOpinion", None),
        };
        let mut wrong = Vec::new();
        if got != case.expect {
            wrong.push(format!("decision {got}, want {}", case.expect));
        }
        if policy.map(|p| &p.id) != case.policy.as_ref() {
            wrong.push(format!(
                "policy {:?}, want {:?}",
                policy.map(|p| &p.id),
                case.policy
            ));
        }
        if let Some(want) = &case.source {
            if policy.map(|p| &p.source) != Some(want) {
                wrong.push(format!(
                    "source {:?}, want {want}",
                    policy.map(|p| &p.source)
                ));
            }
        }
        if eval.errors.len() != case.errors {
            wrong.push(format!("errors {:?}, want {}", eval.errors, case.errors));
        }
        if let Some(want) = &case.matched {
            let got: Vec<&String> = eval.matched.iter().map(|p| &p.id).collect();
            if got.iter().copied().ne(want.iter()) {
                wrong.push(format!("matched {got:?}, want {want:?}"));
            }
        }
        if !wrong.is_empty() {
            failures.push(format!("{}: {}", case.name, wrong.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A `suites/*.yaml` file: its policies (Cedar text) and cases.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Suite {
    policies: String,
    cases: Vec<SuiteCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteCase {
    name: String,
    /// A SubjectAccessReview object or its bare spec (`Request::from_review`).
    review: serde_json::Value,
    /// `allow`, `deny` or `no_opinion`.
    expect: String,
    /// The deciding policy's `@id` (none for `no_opinion`).
    #[serde(default)]
    policy: Option<String>,
}

#[test]
fn suites() {
    let dir = data().join("suites");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read suites dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "suites: {files:?}");
    let mut failures = Vec::new();
    let mut total = 0;
    for path in &files {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(path).expect("read suite");
        let suite: Suite = serde_yaml_ng::from_str(&text)
            .unwrap_or_else(|e| panic!("{file}: does not parse: {e}"));
        let set = match PolicySet::from_sources(&[(file.clone(), suite.policies.clone())]) {
            Ok(set) => set,
            Err(e) => {
                failures.push(format!("{file}: policies do not load:\n{e}"));
                continue;
            }
        };
        let mut deciding = std::collections::BTreeSet::new();
        for case in &suite.cases {
            total += 1;
            let req = match Request::from_review(&case.review) {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{file}: {}: review does not parse: {e}", case.name));
                    continue;
                }
            };
            let eval = set.decide(&req);
            let (got, policy) = match &eval.decision {
                Decision::Allow { policy } => ("allow", Some(policy.id.clone())),
                Decision::Deny { policy } => ("deny", Some(policy.id.clone())),
                Decision::NoOpinion => ("no_opinion", None),
            };
            if !["allow", "deny", "no_opinion"].contains(&case.expect.as_str()) {
                failures.push(format!(
                    "{file}: {}: bad expect {:?}",
                    case.name, case.expect
                ));
            }
            if got != case.expect || policy != case.policy || !eval.errors.is_empty() {
                failures.push(format!(
                    "{file}: {}: got {got} by {policy:?} (errors {:?}), want {} by {:?}",
                    case.name, eval.errors, case.expect, case.policy
                ));
            }
            deciding.extend(policy);
        }
        // Every policy of a suite decides at least one of its cases.
        for entry in set.policies() {
            if !deciding.contains(&entry.policy.id) {
                failures.push(format!(
                    "{file}: policy {} decides no case",
                    entry.policy.id
                ));
            }
        }
    }
    assert!(total >= 80, "only {total} suite cases");
    assert!(
        failures.is_empty(),
        "{} suite failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn evaluation_errors_name_the_policy() {
    let set = main_set();
    let req: Request = serde_yaml_ng::from_str(
        "{user: vic, resourceAttributes: {verb: get, version: v1, resource: overflow-probes}}",
    )
    .expect("request");
    let eval = set.decide(&req);
    assert_eq!(eval.errors.len(), 1);
    let e = &eval.errors[0];
    assert!(
        e.starts_with("evaluation-errors.cedar:3: policy overflowing-forbid: ")
            && e.contains("overflow"),
        "{e}"
    );
}

#[derive(Deserialize)]
struct InvalidExpected {
    file: String,
    errors: Vec<String>,
}

#[test]
fn invalid_policies_give_one_line_errors() {
    let dir = data().join("invalid");
    let text = std::fs::read_to_string(dir.join("expected.yaml")).expect("expected.yaml");
    let expected: Vec<InvalidExpected> =
        serde_yaml_ng::from_str(&text).expect("expected.yaml parses");
    let files = by_file_name(source::load_dir(&dir).expect("read invalid dir"));
    assert_eq!(
        files.len(),
        expected.len(),
        "every invalid file has expectations"
    );
    let mut failures = Vec::new();
    for want in &expected {
        let Some(src) = files.iter().find(|(n, _)| *n == want.file) else {
            failures.push(format!("{}: no such file", want.file));
            continue;
        };
        match PolicySet::from_sources(std::slice::from_ref(src)) {
            Ok(_) => failures.push(format!("{}: loaded, want errors", want.file)),
            Err(e) => {
                let got: Vec<String> = e.source_errors().iter().map(ToString::to_string).collect();
                assert!(
                    got.iter().all(|l| !l.contains('\n')),
                    "multi-line error {got:?}"
                );
                assert_eq!(e.to_string(), got.join("\n"));
                if got != want.errors {
                    failures.push(format!(
                        "{}:\n  got  {got:#?}\n  want {:#?}",
                        want.file, want.errors
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn policy_objects_are_checked() {
    let not_policy =
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    assert!(matches!(
        policy_object_source(&not_policy),
        Err(PolicyError::Object { .. })
    ));
    // Errors in an object's content are located in Policy/<name>.
    let obj = serde_json::json!({
        "apiVersion": "cedar.k8s.aws/v1alpha1", "kind": "Policy",
        "metadata": {"name": "bad"},
        "spec": {"content": "permit (principal, action, resource)\n  when { resource.nope };"}
    });
    let src = policy_object_source(&obj).expect("object shape");
    let err = PolicySet::from_sources(&[src]).expect_err("invalid content");
    let line = err.to_string();
    assert!(line.starts_with("Policy/bad:2:"), "{line}");
}

#[derive(Deserialize)]
struct LockoutRow {
    policy: String,
    identity: String,
}

#[derive(Deserialize)]
struct LockoutExpected {
    default: Vec<LockoutRow>,
    webhook_users: Vec<String>,
    custom: Vec<LockoutRow>,
}

#[test]
fn lockout_guard() {
    let dir = data().join("lockout");
    let set = PolicySet::from_sources(&by_file_name(source::load_dir(&dir).expect("lockout dir")))
        .unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(dir.join("expected.yaml")).expect("expected.yaml");
    let want: LockoutExpected = serde_yaml_ng::from_str(&text).expect("expected.yaml parses");
    let pairs = |rows: &[LockoutRow]| -> Vec<(String, String)> {
        rows.iter()
            .map(|r| (r.policy.clone(), r.identity.clone()))
            .collect()
    };
    let got = set.lockout();
    let got_pairs: Vec<(String, String)> = got
        .iter()
        .map(|l| (l.policy.id.clone(), l.identity.clone()))
        .collect();
    assert_eq!(got_pairs, pairs(&want.default));
    assert!(got.iter().all(|l| !l.requests.is_empty()));
    // The scheduler is locked out by its leader-election lease.
    let sched = got
        .iter()
        .find(|l| l.identity == "system:kube-scheduler")
        .expect("scheduler lockout");
    assert!(
        sched
            .requests
            .iter()
            .any(|r| r == "update leases kube-scheduler in kube-system (coordination.k8s.io)"),
        "{:?}",
        sched.requests
    );
    let custom = set.lockout_with(&Guard {
        webhook_users: want.webhook_users.clone(),
    });
    let custom_pairs: Vec<(String, String)> = custom
        .iter()
        .map(|l| (l.policy.id.clone(), l.identity.clone()))
        .collect();
    assert_eq!(custom_pairs, pairs(&want.custom));
}

#[test]
fn the_main_test_policies_lock_nobody_out() {
    // The main test set forbids things system:masters members could do (posts to /metrics,
    // KubeVirt consoles in prod) but nothing the probed identities need.
    let set = main_set();
    let got: BTreeMap<String, Vec<String>> = set
        .lockout()
        .into_iter()
        .map(|l| (format!("{} {}", l.policy.id, l.identity), l.requests))
        .collect();
    assert!(got.is_empty(), "{got:#?}");
}

#[test]
fn empty_set_has_no_opinion() {
    let set = PolicySet::from_sources(&[]).expect("empty");
    assert!(set.is_empty());
    let req = Request::non_resource("u", &[], "get", "/healthz");
    assert_eq!(set.decide(&req).decision, Decision::NoOpinion);
}

#[test]
fn unreadable_sources_are_io_errors() {
    let missing = data().join("no-such-dir");
    match source::load_dir(&missing) {
        Err(PolicyError::Io { path, .. }) => assert!(path.ends_with("no-such-dir"), "{path}"),
        other => panic!("want an Io error, got {other:?}"),
    }
    assert!(matches!(
        source::load_file(&missing.join("x.cedar")),
        Err(PolicyError::Io { .. })
    ));
    // load_dir takes only *.cedar files: cases.yaml and objects.yaml are not policies.
    let names: Vec<String> = by_file_name(source::load_dir(&data()).expect("dir"))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(names.iter().all(|n| n.ends_with(".cedar")), "{names:?}");
    assert!(names.contains(&"kubevirt.cedar".to_owned()), "{names:?}");
}
