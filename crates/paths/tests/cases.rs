//! Every case of `tests/data/paths/*.yaml`: a snapshot, the paths expected (subject, target,
//! length, actions in order, optionally the roles of the first step's grants: the RBAC decisions
//! it carries) and the paths that must not exist (the controls); and every step of every path
//! found is re-checked: its grant must be one the engine gives for that step.

use std::path::Path as FsPath;

use serde_json::{json, Value};
use virtguard_paths::{find_paths, Facts, Identity, Options, Target};

fn identity(s: &str) -> Identity {
    match s.split_once(':') {
        Some(("User", n)) => Identity::user(n),
        Some(("Group", n)) => Identity::group(n),
        Some(("ServiceAccount", rest)) => {
            let (ns, n) = rest.split_once(':').expect("ServiceAccount:NS:NAME");
            Identity::service_account(ns, n)
        }
        _ => panic!("bad subject {s}"),
    }
}

fn target(s: &str) -> Target {
    match s {
        "cluster-admin" => Target::ClusterAdmin,
        "node" => Target::Node,
        "virt-launcher" => Target::VirtLauncher,
        _ => panic!("bad target {s}"),
    }
}

fn run(file: &FsPath) {
    let doc: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(file).expect("read")).expect("YAML");
    let list = json!({"apiVersion": "v1", "kind": "List", "items": doc["objects"]});
    let snap = virtguard_snapshot::from_texts(
        vec![(
            file.display().to_string().into(),
            list.to_string(),
            virtguard_snapshot::Format::Json,
        )],
        &Default::default(),
    )
    .expect("snapshot loads");
    let facts = Facts::from_objects(&snap.objects);
    let policy = snap.policy();
    let all = find_paths(&policy, &facts, &Options::default());
    let admins: Vec<String> = all.admins.iter().map(Identity::describe).collect();
    for a in doc["admins"].as_array().into_iter().flatten() {
        assert!(
            admins.iter().any(|x| x == a.as_str().unwrap_or("")),
            "{a} not an admin: {admins:?}"
        );
    }
    for e in doc["expect"].as_array().into_iter().flatten() {
        let from = identity(e["from"].as_str().expect("from"));
        let to = target(e["to"].as_str().expect("to"));
        let answer = find_paths(
            &policy,
            &facts,
            &Options {
                from: Some(from.clone()),
                ..Options::default()
            },
        );
        let p = answer
            .paths
            .iter()
            .find(|p| p.target == to)
            .unwrap_or_else(|| {
                panic!(
                    "{}: no path {from:?} → {to:?}: {:?}",
                    file.display(),
                    answer.paths
                )
            });
        assert_eq!(
            p.steps.len() as u64,
            e["steps"].as_u64().expect("steps"),
            "{e}: {p:?}"
        );
        // The roles of the first step's grants, in order: the RBAC decisions it carries.
        if let Some(roles) = e["roles"].as_array() {
            let got: Vec<String> = p.steps[0]
                .grants
                .iter()
                .filter_map(|g| policy.grant_rule(g))
                .map(|(_, role, _)| role.name.clone())
                .collect();
            let want: Vec<&str> = roles.iter().filter_map(Value::as_str).collect();
            assert_eq!(got, want, "{e}: {p:?}");
        }
        for (i, want) in e["actions"].as_array().into_iter().flatten().enumerate() {
            let want = want.as_str().expect("action");
            assert!(
                p.steps[i].action.contains(want),
                "{e}: step {i} is {:?}",
                p.steps[i].action
            );
        }
    }
    for e in doc["absent"].as_array().into_iter().flatten() {
        let from = identity(e["from"].as_str().expect("from"));
        let to = target(e["to"].as_str().expect("to"));
        let answer = find_paths(
            &policy,
            &facts,
            &Options {
                from: Some(from.clone()),
                ..Options::default()
            },
        );
        assert!(
            !answer.paths.iter().any(|p| p.target == to),
            "{}: unexpected path {from:?} → {to:?}: {:?}",
            file.display(),
            answer
                .paths
                .iter()
                .filter(|p| p.target == to)
                .collect::<Vec<_>>()
        );
    }
    // Every step's grant is a real grant: its binding names the actor's identity (or a group the
    // actor is in), and its role has the rule.
    for p in &all.paths {
        for s in &p.steps {
            for g in &s.grants {
                assert!(policy.grant_rule(g).is_some(), "{p:?}");
            }
        }
    }
}

#[test]
fn every_case_file() {
    let dir = FsPath::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/paths");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("dir").filter_map(Result::ok) {
        if e.path().extension().is_some_and(|x| x == "yaml") {
            run(&e.path());
            n += 1;
        }
    }
    assert!(n >= 1);
}
