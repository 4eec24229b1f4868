//! The RBAC conformance corpus (`tests/data/rbac/*.yaml`): cases taken from Kubernetes' own
//! authorizer tests, the aggregation controller and KubeVirt's access tests. Each case's objects
//! go through the snapshot loader and the policy; every request must get the expected decision
//! from both the indexed path (`decide`) and the reference walk (`explain`), and every who-can
//! block the exact set of subjects.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;
use virtguard_rbac::{Attributes, ResourceAttributes, SubjectKind, User};
use virtguard_snapshot::{from_texts, Format, LoadOptions};

#[derive(Deserialize)]
struct File {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Case {
    name: String,
    covers: String,
    source: String,
    #[serde(default)]
    objects: Vec<Value>,
    #[serde(default)]
    requests: Vec<Req>,
    #[serde(default)]
    who_can: Vec<WhoCan>,
    /// How many of the objects the loader must reject (left out, reported as warnings).
    #[serde(default)]
    invalid: usize,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct Req {
    user: String,
    groups: Vec<String>,
    verb: String,
    namespace: String,
    group: String,
    resource: String,
    subresource: String,
    name: String,
    path: Option<String>,
    allowed: Option<bool>,
    reason: Option<String>,
}

#[derive(Deserialize)]
struct WhoCan {
    request: Req,
    subjects: Vec<String>,
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/rbac")
}

fn attrs<'a>(r: &'a Req, user: &'a User) -> Attributes<'a> {
    match &r.path {
        Some(p) => Attributes::non_resource(user, &r.verb, p),
        None => Attributes::resource(
            user,
            &r.verb,
            ResourceAttributes {
                namespace: &r.namespace,
                api_group: &r.group,
                resource: &r.resource,
                subresource: &r.subresource,
                name: &r.name,
            },
        ),
    }
}

#[test]
fn corpus() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files");
    let mut failures = Vec::new();
    let mut names = BTreeSet::new();
    let (mut n_requests, mut n_who) = (0, 0);
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read corpus file");
        let file: File =
            serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for case in file.cases {
            assert!(
                names.insert(case.name.clone()),
                "duplicate case name {}",
                case.name
            );
            assert!(
                !case.covers.is_empty() && !case.source.is_empty(),
                "{}: covers/source",
                case.name
            );
            let stream: String = case
                .objects
                .iter()
                .map(|o| serde_json::to_string(o).expect("json"))
                .collect::<Vec<_>>()
                .join("\n");
            let snap = match from_texts(
                vec![(case.name.as_str().into(), stream, Format::Json)],
                &LoadOptions {
                    skip_invalid: case.invalid > 0,
                },
            ) {
                Ok(s) => {
                    let left_out = s
                        .warnings
                        .iter()
                        .filter(|w| w.message.ends_with("(left out)"))
                        .count();
                    if left_out != case.invalid {
                        failures.push(format!(
                            "{}: want {} object(s) rejected by the loader, got {left_out}",
                            case.name, case.invalid
                        ));
                    }
                    s
                }
                Err(e) => {
                    failures.push(format!("{}: objects do not load: {e}", case.name));
                    continue;
                }
            };
            let policy = snap.policy();
            for (i, r) in case.requests.iter().enumerate() {
                n_requests += 1;
                let user = User::new(r.user.clone(), r.groups.clone());
                let a = attrs(r, &user);
                let fast = policy.decide(&a);
                let slow = policy.explain(&a);
                let want = r
                    .allowed
                    .unwrap_or_else(|| panic!("{} request {i}: allowed missing", case.name));
                if fast.allowed != want || slow.allowed != want {
                    failures.push(format!(
                        "{} request {i} ({}): want allowed={want}, decide={}, explain={} [{}]",
                        case.name, case.covers, fast.allowed, slow.allowed, case.source
                    ));
                    continue;
                }
                if fast.allowed && fast.grants.first() != slow.grants.first() {
                    failures.push(format!(
                        "{} request {i}: decide's grant {:?} is not explain's first {:?}",
                        case.name,
                        fast.grants.first(),
                        slow.grants.first()
                    ));
                }
                if let Some(reason) = &r.reason {
                    let got = fast.reason(&policy);
                    if &got != reason {
                        failures.push(format!(
                            "{} request {i}: reason\n   want {reason}\n    got {got}",
                            case.name
                        ));
                    }
                }
            }
            for (i, w) in case.who_can.iter().enumerate() {
                n_who += 1;
                let nobody = User::default();
                let a = attrs(&w.request, &nobody);
                let got: BTreeSet<String> = policy
                    .who_can(&a, false)
                    .iter()
                    .map(|s| match s.subject.kind {
                        SubjectKind::ServiceAccount => {
                            format!("ServiceAccount:{}/{}", s.subject.namespace, s.subject.name)
                        }
                        k => format!("{}:{}", k.as_str(), s.subject.name),
                    })
                    .collect();
                let want: BTreeSet<String> = w.subjects.iter().cloned().collect();
                if got != want {
                    failures.push(format!(
                        "{} whoCan {i}: want {want:?}, got {got:?}",
                        case.name
                    ));
                }
            }
        }
    }
    eprintln!(
        "conformance: {} files, {} cases, {n_requests} requests, {n_who} who-can checks",
        files.len(),
        names.len()
    );
    assert!(n_requests >= 100, "corpus too small: {n_requests} requests");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
