//! Properties of the search on random small clusters (namespaces with and without Pod Security,
//! service accounts, token Secrets, roles drawn from the rules the edges ask about, bindings to
//! users, groups and service accounts):
//! - searching every subject at once gives each subject the path a search from that subject
//!   alone gives (the graph explored for all subjects changes nobody's answer), except paths a
//!   group grants, which are reported for the group;
//! - a path found with `--max-steps K` is the one found with no practical limit when that one
//!   has at most K steps, and there is none otherwise (the depth limit only cuts, never bends);
//! - every step's first grant is an RBAC grant of the subject walking it (the engine's own).

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::{json, Value};
use virtguard_paths::{find_paths, Facts, Gain, Identity, Options, Path, Target};
use virtguard_rbac::{Attributes, ResourceAttributes, SubjectKind};

const NAMESPACES: [&str; 3] = ["ns-a", "ns-b", "ns-c"];
const SAS: [&str; 2] = ["sa-0", "sa-1"];

/// Rules the edges ask about, and a few that grant nothing the search uses.
fn rule(i: usize) -> Value {
    let rules = [
        json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}),
        json!({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["create"]}),
        json!({"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}),
        json!({"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"], "resourceNames": ["sa-1"]}),
        json!({"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]}),
        json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}),
        json!({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"], "resourceNames": ["cluster-admin"]}),
        json!({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterrolebindings"], "verbs": ["create"]}),
        json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}),
        json!({"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}),
        json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}),
        json!({"apiGroups": ["kubevirt.io"], "resources": ["virtualmachines"], "verbs": ["get", "list"]}),
    ];
    rules[i % rules.len()].clone()
}

fn subject(i: usize) -> Value {
    match i % 7 {
        0..=2 => {
            json!({"kind": "User", "name": format!("user-{}", i % 3), "apiGroup": "rbac.authorization.k8s.io"})
        }
        3 | 4 => {
            json!({"kind": "Group", "name": format!("group-{}", i % 2), "apiGroup": "rbac.authorization.k8s.io"})
        }
        _ => {
            json!({"kind": "ServiceAccount", "name": SAS[i % 2], "namespace": NAMESPACES[(i / 2) % 3]})
        }
    }
}

/// A random cluster: (per namespace: Pod Security level), roles (rule indices), bindings
/// (role, namespace or cluster-wide, subjects), whether a token Secret exists.
fn cluster() -> impl Strategy<Value = Vec<Value>> {
    (
        prop::collection::vec(0usize..3, 3),
        prop::collection::vec(prop::collection::vec(0usize..12, 1..3), 4),
        prop::collection::vec((0usize..4, 0usize..4, prop::collection::vec(0usize..40, 1..3)), 3..12),
        any::<bool>(),
    )
        .prop_map(|(levels, roles, bindings, secret)| {
            let mut objects = Vec::new();
            for (ns, level) in NAMESPACES.iter().zip(&levels) {
                let labels = match level {
                    0 => json!({}),
                    1 => json!({"pod-security.kubernetes.io/enforce": "baseline"}),
                    _ => json!({"pod-security.kubernetes.io/enforce": "privileged"}),
                };
                objects.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}));
                for sa in SAS {
                    objects.push(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": ns}}));
                }
            }
            if secret {
                objects.push(json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                    "metadata": {"name": "sa-0-token", "namespace": "ns-b", "annotations": {"kubernetes.io/service-account.name": "sa-0"}}}));
            }
            objects.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "cluster-admin"}, "rules": [rule(8)]}));
            for (i, rules) in roles.iter().enumerate() {
                objects.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": {"name": format!("role-{i}")}, "rules": rules.iter().map(|&r| rule(r)).collect::<Vec<_>>()}));
            }
            for (i, (role, scope, subjects)) in bindings.iter().enumerate() {
                let role_ref = json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("role-{role}")});
                let subjects: Vec<Value> = subjects.iter().map(|&s| subject(s)).collect();
                objects.push(if *scope == 3 {
                    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                        "metadata": {"name": format!("b-{i}")}, "roleRef": role_ref, "subjects": subjects})
                } else {
                    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                        "metadata": {"name": format!("b-{i}"), "namespace": NAMESPACES[*scope]}, "roleRef": role_ref, "subjects": subjects})
                });
            }
            objects
        })
}

fn load(objects: &[Value]) -> (virtguard_rbac::Policy, Facts) {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    let snap = virtguard_snapshot::from_texts(
        vec![(
            "random.json".into(),
            list.to_string(),
            virtguard_snapshot::Format::Json,
        )],
        &Default::default(),
    )
    .expect("the generated cluster loads");
    let facts = Facts::from_objects(&snap.objects);
    (snap.policy(), facts)
}

fn key(p: &Path) -> (String, Target) {
    (p.subject.describe(), p.target)
}

fn actions(p: &Path) -> Vec<String> {
    p.steps.iter().map(|s| s.action.clone()).collect()
}

/// The request a step's first grant answers, read back from its action text (the forms the
/// random clusters produce): (verb, group, resource, subresource, namespace, name).
fn request_of(action: &str) -> Option<(String, String, String, String, String, String)> {
    let own = |v: &str, g: &str, r: &str, sub: &str, ns: &str, n: &str| {
        Some((
            v.into(),
            g.into(),
            r.into(),
            sub.into(),
            ns.into(),
            n.into(),
        ))
    };
    let ns_name = |rest: &str| -> Option<(String, String)> {
        let (ns, name) = rest.split_once('/')?;
        Some((ns.to_string(), name.split(' ').next()?.to_string()))
    };
    if let Some(rest) = action.strip_prefix("create serviceaccounts/token for ") {
        let (ns, n) = ns_name(rest)?;
        return own("create", "", "serviceaccounts", "token", &ns, &n);
    }
    if let Some(rest) = action.strip_prefix("impersonate service account ") {
        let (ns, n) = ns_name(rest)?;
        return own("impersonate", "", "serviceaccounts", "", &ns, &n);
    }
    if let Some(rest) = action.strip_prefix("read Secret ") {
        let (ns, n) = ns_name(rest)?;
        return own("get", "", "secrets", "", &ns, &n);
    }
    if action == "get nodes/proxy" {
        return own("get", "", "nodes", "proxy", "", "");
    }
    if action.starts_with("bind ClusterRole cluster-admin") {
        return own(
            "bind",
            "rbac.authorization.k8s.io",
            "clusterroles",
            "",
            "",
            "cluster-admin",
        );
    }
    let rest = action.strip_prefix("create ")?;
    let (what, after) = rest.split_once(' ')?;
    let ns = after
        .split_once("in namespace ")?
        .1
        .split(' ')
        .next()?
        .to_string();
    let (resource, group) = what.split_once('.').unwrap_or((what, ""));
    own("create", group, resource, "", &ns, "")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn every_subject_at_once_is_each_subject_alone(objects in cluster()) {
        let (policy, facts) = load(&objects);
        let all = find_paths(&policy, &facts, &Options::default());
        let mut subjects: Vec<Identity> = all.paths.iter().map(|p| p.subject.clone()).collect();
        subjects.extend(all.admins.iter().cloned());
        for p in &all.paths {
            let alone = find_paths(&policy, &facts, &Options { from: Some(p.subject.clone()), ..Options::default() });
            let same = alone.paths.iter().find(|q| key(q) == key(p));
            prop_assert_eq!(same.map(actions), Some(actions(p)), "{:?}", key(p));
        }
        // Each subject searched alone: what it finds is reported for it, unless its first
        // step is granted to a group (then it is the group's path).
        let mut candidates: Vec<Identity> = Vec::new();
        for n in ["user-0", "user-1", "user-2"] { candidates.push(Identity::user(n)); }
        for n in ["group-0", "group-1"] { candidates.push(Identity::group(n)); }
        for ns in NAMESPACES { for sa in SAS { candidates.push(Identity::service_account(ns, sa)); } }
        for c in candidates {
            let alone = find_paths(&policy, &facts, &Options { from: Some(c.clone()), ..Options::default() });
            for q in &alone.paths {
                let reported = all.paths.iter().any(|p| key(p) == key(q));
                let via_group = q.steps.first().and_then(|s| s.grants.first()).and_then(|g| {
                    policy.bindings().get(g.binding).and_then(|b| b.subjects.get(g.subject))
                }).is_some_and(|s| s.kind == SubjectKind::Group && !(c.kind == "Group" && c.name == s.name));
                let known = subjects.contains(&c);
                prop_assert!(reported || via_group || !known, "{:?} not reported", key(q));
            }
        }
    }

    #[test]
    fn the_depth_limit_only_cuts(objects in cluster(), k in 1usize..4) {
        let (policy, facts) = load(&objects);
        let long = find_paths(&policy, &facts, &Options { max_steps: 12, ..Options::default() });
        let short = find_paths(&policy, &facts, &Options { max_steps: k, ..Options::default() });
        for p in &long.paths {
            let q = short.paths.iter().find(|q| key(q) == key(p));
            // A path ends with "act as" when it gains an identity that is cluster-admin: that
            // is not a step of the search.
            let searched = p.steps.iter().filter(|s| !s.action.starts_with("act as ")).count();
            if searched <= k {
                prop_assert_eq!(q.map(actions), Some(actions(p)), "{:?} k={}", key(p), k);
            } else {
                prop_assert!(q.is_none(), "{:?}: found with k={} but shortest is {}", key(p), k, searched);
            }
        }
        for q in &short.paths {
            prop_assert!(long.paths.iter().any(|p| key(p) == key(q)), "{:?} only with k={}", key(q), k);
        }
    }
}

/// Every subject the random clusters name, searched alone.
fn candidates() -> Vec<Identity> {
    let mut out = Vec::new();
    for n in ["user-0", "user-1", "user-2"] {
        out.push(Identity::user(n));
    }
    for n in ["group-0", "group-1"] {
        out.push(Identity::group(n));
    }
    for ns in NAMESPACES {
        for sa in SAS {
            out.push(Identity::service_account(ns, sa));
        }
    }
    out
}

/// Per (subject searched alone, target): the length of its path.
fn lengths(objects: &[Value]) -> std::collections::BTreeMap<(String, Target), usize> {
    let (policy, facts) = load(objects);
    let mut out = std::collections::BTreeMap::new();
    for c in candidates() {
        let alone = find_paths(
            &policy,
            &facts,
            &Options {
                from: Some(c.clone()),
                ..Options::default()
            },
        );
        for p in &alone.paths {
            out.insert(key(p), p.steps.len());
        }
        if alone.admins.contains(&c) {
            // A cluster-admin reaches every target at once.
            for t in [Target::ClusterAdmin, Target::Node, Target::VirtLauncher] {
                out.insert((c.describe(), t), 0);
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    /// RBAC only grants: one more binding never removes a path nor makes one longer.
    #[test]
    fn adding_a_binding_never_removes_a_path(
        objects in cluster(),
        role in 0usize..4,
        scope in 0usize..4,
        subjects in prop::collection::vec(0usize..40, 1..3),
    ) {
        let before = lengths(&objects);
        let mut more = objects.clone();
        let role_ref = json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("role-{role}")});
        let subjects: Vec<Value> = subjects.iter().map(|&s| subject(s)).collect();
        more.push(if scope == 3 {
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "added"}, "roleRef": role_ref, "subjects": subjects})
        } else {
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "added", "namespace": NAMESPACES[scope]}, "roleRef": role_ref, "subjects": subjects})
        });
        let after = lengths(&more);
        for (k, len) in &before {
            let now = after.get(k);
            prop_assert!(now.is_some_and(|n| n <= len), "{:?}: {} steps before, {:?} after", k, len, now);
        }
    }

    /// Removing the binding behind a path's first step removes that path: what is found then
    /// (if anything, maybe the same action granted by another binding) takes no step through it.
    #[test]
    fn removing_the_first_steps_binding_removes_that_path(objects in cluster()) {
        let (policy, facts) = load(&objects);
        let all = find_paths(&policy, &facts, &Options::default());
        for p in all.paths.iter().take(3) {
            let Some(g) = p.steps.first().and_then(|s| s.grants.first()) else { continue };
            let Some(b) = policy.bindings().get(g.binding) else { continue };
            let (name, ns) = (b.name.clone(), b.namespace.clone());
            let fewer: Vec<Value> = objects.iter().filter(|o| {
                !(o["metadata"]["name"] == json!(name)
                    && o["metadata"]["namespace"].as_str().unwrap_or("") == ns
                    && o["kind"].as_str().is_some_and(|k| k.ends_with("Binding")))
            }).cloned().collect();
            prop_assert_eq!(fewer.len() + 1, objects.len());
            let (policy2, facts2) = load(&fewer);
            let again = find_paths(&policy2, &facts2, &Options { from: Some(p.subject.clone()), ..Options::default() });
            if let Some(q) = again.paths.iter().find(|q| key(q) == key(p)) {
                for s in &q.steps {
                    for g in &s.grants {
                        let b2 = &policy2.bindings()[g.binding];
                        prop_assert!(!(b2.name == name && b2.namespace == ns), "{:?} still uses {}", key(q), name);
                    }
                }
            }
        }
    }
}

/// Each step's grants re-checked against the policy: the binding exists, its subject applies
/// to the identity taking the step (the path's subject, then what each step gained), a
/// RoleBinding is in the step's namespace, the bound role holds the rule, and the first grant
/// is what `decide` answers for the step's request, asked again. (An SCC step also carries the
/// use grant of the service account the pod runs as.) Counts the steps re-decided.
fn check_grants(
    objects: &[Value],
    redecided: &std::cell::Cell<usize>,
) -> Result<(), TestCaseError> {
    let (policy, facts) = load(objects);
    let all = find_paths(&policy, &facts, &Options::default());
    for p in &all.paths {
        let mut actor = p.subject.clone();
        for step in &p.steps {
            for g in &step.grants {
                let b = policy.bindings().get(g.binding);
                prop_assert!(b.is_some(), "{:?}: no binding {}", key(p), g.binding);
                let Some(b) = b else { continue };
                let subject = b.subjects.get(g.subject);
                prop_assert!(subject.is_some(), "{:?}: no subject {}", key(p), g.subject);
                let Some(subject) = subject else { continue };
                let for_pod_sa = step.action.contains("under SCC")
                    && subject.kind == SubjectKind::ServiceAccount;
                prop_assert!(
                    for_pod_sa || subject.applies_to(&actor.as_user(), &b.namespace),
                    "{:?}: step {:?} granted by {} to {:?}, not to {:?}",
                    key(p),
                    step.action,
                    b.name,
                    subject,
                    actor
                );
                if !b.namespace.is_empty() && !step.namespace.is_empty() {
                    prop_assert_eq!(&b.namespace, &step.namespace, "{:?}", step.action);
                }
                let role = policy.binding_role(g.binding);
                prop_assert!(
                    role.is_ok_and(|r| r.rules.get(g.rule).is_some()),
                    "{:?}: rule {} of {}",
                    key(p),
                    g.rule,
                    b.name
                );
            }
            // The step's first grant is what the engine decides for its request, re-asked.
            if let (Some(first), Some((verb, group, resource, sub, ns, name))) =
                (step.grants.first(), request_of(&step.action))
            {
                let user = actor.as_user();
                let ask = |verb: &str, name: &str| {
                    policy.decide(&Attributes::resource(
                        &user,
                        verb,
                        ResourceAttributes {
                            namespace: &ns,
                            api_group: &group,
                            resource: &resource,
                            subresource: &sub,
                            name,
                        },
                    ))
                };
                let mut d = ask(&verb, &name);
                if !d.allowed && resource == "secrets" {
                    d = ask("list", "");
                }
                prop_assert!(
                    d.allowed,
                    "{:?}: {:?} not allowed for {:?}",
                    key(p),
                    step.action,
                    actor
                );
                prop_assert_eq!(d.grants.first(), Some(first), "{:?}", step.action);
                redecided.set(redecided.get() + 1);
            }
            if let Gain::Identity(next) = &step.gains {
                actor = next.clone();
            }
        }
    }
    Ok(())
}

#[test]
fn every_steps_grants_are_the_actors_own_and_what_decide_answers() {
    let redecided = std::cell::Cell::new(0);
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    });
    let result = runner.run(&cluster(), |objects| check_grants(&objects, &redecided));
    assert!(result.is_ok(), "{result:?}");
    // Not vacuous: many steps' requests were read back and decided again.
    assert!(
        redecided.get() > 100,
        "only {} steps re-decided",
        redecided.get()
    );
}
