//! Property tests of the RBAC engine over random small policies.
//!
//! Policies are drawn from small alphabets (a few verbs, groups, resources, names, URLs, users,
//! groups, namespaces) so that random rules and random requests actually meet. Each property is
//! checked against [`Policy::decide`] (the indexed path), [`Policy::explain`] (the walk), a
//! reference implementation written here from the rule predicates (Kubernetes' `VisitRulesFor`),
//! and [`Policy::who_can`].
//!
//! The case count defaults to 256 per property; `PROPTEST_CASES=10000` raises it.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::Config;
use virtguard_rbac::{
    rule_allows, Attributes, Binding, BindingKind, Decision, Grant, LabelSelector, Policy,
    PolicyRule, ResourceAttributes, Role, RoleKind, RoleRef, Subject, SubjectKind, User,
};

// ---------------------------------------------------------------------------------------------
// Alphabets
// ---------------------------------------------------------------------------------------------

const RULE_VERBS: &[&str] = &["get", "list", "create", "*"];
const RULE_GROUPS: &[&str] = &["", "apps", "kubevirt.io", "subresources.kubevirt.io", "*"];
const RULE_RESOURCES: &[&str] = &[
    "pods",
    "pods/log",
    "virtualmachineinstances/vnc",
    "*/scale",
    "deployments/scale",
    "*",
    "pods",
    "pods/log",
    "virtualmachineinstances/vnc",
    "*/scale",
    "deployments/scale",
    "*",
    // Odd ones Kubernetes gives no special meaning: `*/` matches nothing, `pods/*` only the
    // literal subresource `*`.
    "*/",
    "pods/*",
];
const RULE_NAMES: &[&str] = &["n1", "n2"];
const RULE_URLS: &[&str] = &[
    "/healthz",
    "/healthz/*",
    "/apis/*",
    "*",
    "/metrics",
    "/logs**",
];
const LABEL_KEYS: &[&str] = &["agg", "tier"];
const LABEL_VALUES: &[&str] = &["x", "y"];
const NAMESPACES: &[&str] = &["a", "b"];
const CLUSTER_ROLE_NAMES: &[&str] = &["c0", "c1", "c2", "c3", "c4", "view", "edit"];
const ROLE_NAMES: &[&str] = &["r0", "r1", "r2"];

const USER_NAMES: &[&str] = &[
    "alice",
    "bob",
    "system:serviceaccount:a:sa1",
    "system:serviceaccount:b:sa1",
    "system:serviceaccount:a:sa2",
    "alice",
    "system:serviceaccount:a:sa1",
    // What a ServiceAccount subject without namespace would stand for if it were not ignored.
    "system:serviceaccount::sa1",
];
const GROUP_NAMES: &[&str] = &["g1", "g2", "system:authenticated", "system:serviceaccounts"];
const SA_NAMES: &[&str] = &["sa1", "sa2"];

const REQ_VERBS: &[&str] = &[
    "get",
    "list",
    "create",
    "delete",
    "watch",
    "frobnicate",
    "*",
];
const REQ_GROUPS: &[&str] = &[
    "",
    "apps",
    "kubevirt.io",
    "subresources.kubevirt.io",
    "batch",
    "*",
];
const REQ_RESOURCES: &[&str] = &[
    "pods",
    "deployments",
    "virtualmachineinstances",
    "secrets",
    "*",
    "pods/log",
];
const REQ_SUBRESOURCES: &[&str] = &["", "", "", "log", "scale", "vnc", "vnc/screenshot", "*"];
const REQ_NAMES: &[&str] = &["", "n1", "n2", "n3"];
const REQ_NAMESPACES: &[&str] = &["", "a", "b", "c"];
const REQ_PATHS: &[&str] = &[
    "/x/healthz/ready",
    "/x/logs",
    "/healthz",
    "/healthz/ready",
    "/apis",
    "/apis/",
    "/apis/apps",
    "/metrics",
    "/logs",
    "/logs/x",
    "/api",
];

fn pick(alphabet: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(alphabet).prop_map(str::to_string)
}

fn some_of(alphabet: &'static [&'static str], max: usize) -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(pick(alphabet), 0..=max)
}

fn one_or_more(
    alphabet: &'static [&'static str],
    max: usize,
) -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(pick(alphabet), 1..=max)
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

fn resource_rule() -> impl Strategy<Value = PolicyRule> {
    (
        one_or_more(RULE_VERBS, 2),
        one_or_more(RULE_GROUPS, 2),
        one_or_more(RULE_RESOURCES, 2),
        prop_oneof![3 => Just(Vec::new()), 1 => one_or_more(RULE_NAMES, 2)],
    )
        .prop_map(
            |(verbs, api_groups, resources, resource_names)| PolicyRule {
                verbs,
                api_groups,
                resources,
                resource_names,
                non_resource_urls: Vec::new(),
            },
        )
}

fn url_rule() -> impl Strategy<Value = PolicyRule> {
    (one_or_more(RULE_VERBS, 2), one_or_more(RULE_URLS, 2)).prop_map(|(verbs, urls)| PolicyRule {
        verbs,
        non_resource_urls: urls,
        ..Default::default()
    })
}

/// Rules of a ClusterRole: resource rules and sometimes non-resource rules; rarely an odd rule
/// mixing both or missing a field, as a manifest could have.
fn cluster_rule() -> impl Strategy<Value = PolicyRule> {
    prop_oneof![
        6 => resource_rule(),
        2 => url_rule(),
        1 => (
            some_of(RULE_VERBS, 2),
            some_of(RULE_GROUPS, 2),
            some_of(RULE_RESOURCES, 2),
            some_of(RULE_NAMES, 1),
            some_of(RULE_URLS, 1),
        )
            .prop_map(|(verbs, api_groups, resources, resource_names, non_resource_urls)| {
                PolicyRule {
                    verbs,
                    api_groups,
                    resources,
                    resource_names,
                    non_resource_urls,
                }
            }),
    ]
}

fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop_oneof![
        1 => Just(BTreeMap::new()),
        2 => proptest::collection::btree_map(pick(LABEL_KEYS), pick(LABEL_VALUES), 1..=2),
    ]
}

fn aggregation() -> impl Strategy<Value = Option<Vec<LabelSelector>>> {
    let selector = proptest::collection::btree_map(pick(LABEL_KEYS), pick(LABEL_VALUES), 0..=2)
        .prop_map(|match_labels| LabelSelector {
            match_labels,
            match_expressions: Vec::new(),
        });
    prop_oneof![
        3 => Just(None),
        1 => proptest::collection::vec(selector, 1..=2).prop_map(Some),
    ]
}

fn cluster_role() -> impl Strategy<Value = Role> {
    (
        pick(CLUSTER_ROLE_NAMES),
        proptest::collection::vec(cluster_rule(), 0..=4),
        labels(),
        aggregation(),
    )
        .prop_map(|(name, rules, labels, aggregation)| {
            let mut r = Role::cluster(name, rules);
            r.labels = labels;
            r.aggregation = aggregation;
            r
        })
}

fn namespaced_role() -> impl Strategy<Value = Role> {
    (
        pick(NAMESPACES),
        pick(ROLE_NAMES),
        proptest::collection::vec(resource_rule(), 0..=4),
        labels(),
    )
        .prop_map(|(ns, name, rules, labels)| {
            let mut r = Role::namespaced(ns, name, rules);
            r.labels = labels;
            r
        })
}

/// Roles with unique (kind, namespace, name), as a cluster has them.
fn roles() -> impl Strategy<Value = Vec<Role>> {
    (
        proptest::collection::vec(cluster_role(), 0..=6),
        proptest::collection::vec(namespaced_role(), 0..=4),
    )
        .prop_map(|(c, r)| {
            let mut seen = BTreeSet::new();
            c.into_iter()
                .chain(r)
                .filter(|r| seen.insert((r.kind, r.namespace.clone(), r.name.clone())))
                .collect()
        })
}

fn subject(in_role_binding: bool) -> impl Strategy<Value = Subject> {
    let sa_namespaces: &'static [&'static str] = if in_role_binding {
        &["", "a", "b"]
    } else {
        &["a", "b", "a", "b", ""]
    };
    prop_oneof![
        pick(&["alice", "bob"]).prop_map(|n| Subject::new(SubjectKind::User, n, "")),
        pick(GROUP_NAMES).prop_map(|n| Subject::new(SubjectKind::Group, n, "")),
        (pick(SA_NAMES), pick(sa_namespaces)).prop_map(|(n, ns)| Subject::new(
            SubjectKind::ServiceAccount,
            n,
            ns
        )),
    ]
}

/// A role reference: usually to a role that may exist, sometimes to a missing one, rarely of a
/// kind RBAC does not understand.
fn role_ref(namespaced: bool) -> impl Strategy<Value = RoleRef> {
    let cluster = pick(CLUSTER_ROLE_NAMES).prop_map(|name| RoleRef {
        kind: "ClusterRole".into(),
        name,
    });
    let role = pick(ROLE_NAMES).prop_map(|name| RoleRef {
        kind: "Role".into(),
        name,
    });
    let missing = pick(&["ClusterRole", "Role"]).prop_map(|kind| RoleRef {
        kind,
        name: "missing".into(),
    });
    let odd = Just(RoleRef {
        kind: "Roles".into(),
        name: "r0".into(),
    });
    if namespaced {
        prop_oneof![5 => cluster, 4 => role, 1 => missing, 1 => odd].boxed()
    } else {
        prop_oneof![8 => cluster, 1 => role, 1 => missing, 1 => odd].boxed()
    }
}

fn binding() -> impl Strategy<Value = Binding> {
    prop_oneof![
        (
            role_ref(false),
            proptest::collection::vec(subject(false), 0..=3)
        )
            .prop_map(|(role_ref, subjects)| Binding {
                kind: BindingKind::ClusterRoleBinding,
                name: String::new(),
                namespace: String::new(),
                role_ref,
                subjects,
                origin: None,
            }),
        (
            pick(NAMESPACES),
            role_ref(true),
            proptest::collection::vec(subject(true), 0..=3)
        )
            .prop_map(|(namespace, role_ref, subjects)| Binding {
                kind: BindingKind::RoleBinding,
                name: String::new(),
                namespace,
                role_ref,
                subjects,
                origin: None,
            }),
    ]
}

/// Bindings with unique names (`b0`, `b1`, …; `b10` sorts before `b2`, which is fine).
fn bindings(max: usize) -> impl Strategy<Value = Vec<Binding>> {
    proptest::collection::vec(binding(), 0..=max).prop_map(|bs| {
        bs.into_iter()
            .enumerate()
            .map(|(i, mut b)| {
                b.name = format!("b{i}");
                b
            })
            .collect()
    })
}

#[derive(Debug, Clone)]
struct Input {
    roles: Vec<Role>,
    bindings: Vec<Binding>,
}

/// Roles and bindings; three bindings in four that name a Role or ClusterRole are pointed at
/// one that exists (when there is one), so that bindings do grant something.
fn input() -> impl Strategy<Value = Input> {
    (roles(), bindings(8), any::<u64>()).prop_map(|(roles, mut bindings, seed)| {
        let mut rng = Mix(seed);
        for b in &mut bindings {
            if rng.below(4) == 0 {
                continue;
            }
            let targets: Vec<&Role> = roles
                .iter()
                .filter(|r| {
                    r.kind.as_str() == b.role_ref.kind
                        && (r.kind == RoleKind::ClusterRole || r.namespace == b.namespace)
                })
                .collect();
            if !targets.is_empty() {
                b.role_ref.name = targets[rng.below(targets.len())].name.clone();
            }
        }
        Input { roles, bindings }
    })
}

/// A request, owning its strings; [`Req::attrs`] borrows them.
#[derive(Debug, Clone)]
struct Req {
    user: User,
    verb: String,
    kind: ReqKind,
}

#[derive(Debug, Clone)]
enum ReqKind {
    Resource {
        namespace: String,
        group: String,
        resource: String,
        subresource: String,
        name: String,
    },
    NonResource(String),
}

impl Req {
    fn attrs(&self) -> Attributes<'_> {
        self.attrs_as(&self.user)
    }

    fn attrs_as<'a>(&'a self, user: &'a User) -> Attributes<'a> {
        self.attrs_in(user, None)
    }

    /// The request for `user`, in `namespace` instead of its own when given (resource requests).
    fn attrs_in<'a>(&'a self, user: &'a User, namespace: Option<&'a str>) -> Attributes<'a> {
        match &self.kind {
            ReqKind::Resource {
                namespace: ns,
                group,
                resource,
                subresource,
                name,
            } => Attributes::resource(
                user,
                &self.verb,
                ResourceAttributes {
                    namespace: namespace.unwrap_or(ns),
                    api_group: group,
                    resource,
                    subresource,
                    name,
                },
            ),
            ReqKind::NonResource(p) => Attributes::non_resource(user, &self.verb, p),
        }
    }
}

fn user() -> impl Strategy<Value = User> {
    (
        pick(USER_NAMES),
        proptest::collection::btree_set(pick(GROUP_NAMES), 0..=3),
    )
        .prop_map(|(name, groups)| User::new(name, groups.into_iter().collect()))
}

fn request() -> impl Strategy<Value = Req> {
    let resource = (
        pick(REQ_NAMESPACES),
        pick(REQ_GROUPS),
        pick(REQ_RESOURCES),
        pick(REQ_SUBRESOURCES),
        pick(REQ_NAMES),
    )
        .prop_map(
            |(namespace, group, resource, subresource, name)| ReqKind::Resource {
                namespace,
                group,
                resource,
                subresource,
                name,
            },
        );
    let kind = prop_oneof![5 => resource, 1 => pick(REQ_PATHS).prop_map(ReqKind::NonResource)];
    (user(), pick(REQ_VERBS), kind).prop_map(|(user, verb, kind)| Req { user, verb, kind })
}

/// A request aimed at the policy: one rule of a role some binding refers to, asked by one of
/// the binding's subjects, then sometimes one field swapped for a random one; or (one time in
/// four) an entirely random request. Random requests alone would almost never be allowed.
fn near(input: &Input, random: Req, seed: u64) -> Req {
    let mut rng = Mix(seed);
    let mut next = |n: usize| rng.below(n);
    if input.bindings.is_empty() || next(4) == 0 {
        return random;
    }
    // A binding whose role exists and has a subject, when there is one.
    let resolve = |b: &Binding| {
        input.roles.iter().find(|r| {
            r.name == b.role_ref.name
                && r.kind.as_str() == b.role_ref.kind
                && (r.kind == RoleKind::ClusterRole || r.namespace == b.namespace)
        })
    };
    let start = next(input.bindings.len());
    let n = input.bindings.len();
    let b = (0..n)
        .map(|i| &input.bindings[(start + i) % n])
        .find(|b| !b.subjects.is_empty() && resolve(b).is_some())
        .unwrap_or(&input.bindings[start]);
    let Some(role) = resolve(b).or_else(|| input.roles.get(next(input.roles.len()))) else {
        return random;
    };
    // An aggregated role's own rules are replaced: aim at any role's rule then.
    let rules: Vec<&PolicyRule> = if role.aggregation.is_some() {
        input
            .roles
            .iter()
            .flat_map(|r| r.rules.iter().map(|r| r.as_ref()))
            .collect()
    } else {
        role.rules.iter().map(|r| r.as_ref()).collect()
    };
    if rules.is_empty() {
        return random;
    }
    let rule = rules[next(rules.len())];
    let choose = |v: &[String], default: &str, i: usize| -> String {
        if v.is_empty() {
            default.to_string()
        } else {
            v[i % v.len()].clone()
        }
    };
    let verb = match choose(&rule.verbs, "get", next(8)).as_str() {
        "*" => "list".to_string(),
        v => v.to_string(),
    };
    let mut user = random.user.clone();
    if let Some(subject) = b.subjects.get(next(b.subjects.len().max(1))) {
        match subject.kind {
            SubjectKind::User => user.name = subject.name.clone(),
            SubjectKind::Group => {
                if !user.groups.contains(&subject.name) {
                    user.groups.push(subject.name.clone())
                }
            }
            SubjectKind::ServiceAccount => {
                let ns = if subject.namespace.is_empty() {
                    if b.namespace.is_empty() {
                        "a"
                    } else {
                        &b.namespace
                    }
                } else {
                    &subject.namespace
                };
                user.name = format!("system:serviceaccount:{ns}:{}", subject.name);
            }
        }
    }
    let kind = if !rule.non_resource_urls.is_empty() && (rule.resources.is_empty() || next(2) == 0)
    {
        let url = choose(&rule.non_resource_urls, "/", next(8));
        let path = match url.strip_suffix('*') {
            Some(prefix) => format!(
                "{}{}",
                prefix.trim_end_matches('*'),
                ["", "x", "/y"][next(3)]
            ),
            None => url,
        };
        ReqKind::NonResource(path)
    } else {
        let ReqKind::Resource {
            namespace: random_ns,
            name: random_name,
            ..
        } = &random.kind
        else {
            return Req {
                user,
                verb,
                kind: random.kind,
            };
        };
        let group = match choose(&rule.api_groups, "", next(8)).as_str() {
            "*" => "apps".to_string(),
            g => g.to_string(),
        };
        let (resource, subresource) = match choose(&rule.resources, "pods", next(8)).as_str() {
            "*" => ("pods".to_string(), String::new()),
            r => match r.split_once('/') {
                Some(("*", sub)) => ("deployments".to_string(), sub.to_string()),
                Some((res, sub)) => (res.to_string(), sub.to_string()),
                None => (r.to_string(), String::new()),
            },
        };
        // A listed name, a random one, or (a near miss) one no rule lists.
        let name = match next(4) {
            _ if rule.resource_names.is_empty() => random_name.clone(),
            0 => random_name.clone(),
            1 => "n3".to_string(),
            _ => choose(&rule.resource_names, "", next(8)),
        };
        let namespace = match b.kind {
            BindingKind::RoleBinding if next(4) != 0 => b.namespace.clone(),
            _ => random_ns.clone(),
        };
        ReqKind::Resource {
            namespace,
            group,
            resource,
            subresource,
            name,
        }
    };
    let mut req = Req { user, verb, kind };
    // One field in three cases swapped for the random request's.
    match next(9) {
        0 => req.verb = random.verb,
        1 => req.user = random.user,
        2 => {
            if let (
                ReqKind::Resource {
                    group, subresource, ..
                },
                ReqKind::Resource {
                    group: g,
                    subresource: sr,
                    ..
                },
            ) = (&mut req.kind, &random.kind)
            {
                if next(2) == 0 {
                    *group = g.clone();
                } else {
                    *subresource = sr.clone();
                }
            }
        }
        _ => {}
    }
    req
}

/// splitmix64, for choices derived from one generated seed (so failures replay and shrink).
struct Mix(u64);

impl Mix {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n.max(1) as u64) as usize
    }
}

/// A policy and requests aimed at it.
fn input_and_requests() -> impl Strategy<Value = (Input, Vec<Req>)> {
    (
        input(),
        proptest::collection::vec((request(), any::<u64>()), 1..=24),
    )
        .prop_map(|(input, raw)| {
            let reqs = raw
                .into_iter()
                .map(|(random, seed)| near(&input, random, seed))
                .collect();
            (input, reqs)
        })
}

// ---------------------------------------------------------------------------------------------
// Reference implementation
// ---------------------------------------------------------------------------------------------

/// Kubernetes' `VisitRulesFor`, from the rule and subject predicates: ClusterRoleBindings, then
/// (for a namespaced request) the RoleBindings of the namespace, in [`Policy::bindings`] order;
/// for each binding the first subject that applies, then every rule of its role. Returns the
/// first grant, or the errors of applying bindings whose role is missing.
fn reference(policy: &Policy, attrs: &Attributes<'_>) -> Decision {
    let ns = attrs.namespace();
    let mut errors = Vec::new();
    for (bi, b) in policy.bindings().iter().enumerate() {
        let in_scope = match b.kind {
            BindingKind::ClusterRoleBinding => true,
            BindingKind::RoleBinding => !ns.is_empty() && b.namespace == ns,
        };
        if !in_scope {
            continue;
        }
        let bns = match b.kind {
            BindingKind::ClusterRoleBinding => "",
            BindingKind::RoleBinding => b.namespace.as_str(),
        };
        let Some(si) = b
            .subjects
            .iter()
            .position(|s| s.applies_to(attrs.user, bns))
        else {
            continue;
        };
        match policy.binding_role(bi) {
            Err(e) => errors.push(e.to_string()),
            Ok(role) => {
                if let Some(ri) = role.rules.iter().position(|r| rule_allows(attrs, r)) {
                    return Decision {
                        allowed: true,
                        grants: vec![Grant {
                            binding: bi,
                            subject: si,
                            rule: ri,
                        }],
                        errors: Vec::new(),
                    };
                }
            }
        }
    }
    Decision {
        allowed: false,
        grants: Vec::new(),
        errors,
    }
}

/// `RuleAllows` from Kubernetes' `evaluation_helpers.go`, written out independently of the
/// library's predicates (`VerbMatches`, `APIGroupMatches`, `ResourceMatches`,
/// `ResourceNameMatches`, `NonResourceURLMatches`).
fn spec_rule_allows(attrs: &Attributes<'_>, rule: &PolicyRule) -> bool {
    let has = |v: &[String], x: &str| v.iter().any(|e| e == x);
    let verb = has(&rule.verbs, "*") || has(&rule.verbs, attrs.verb);
    match &attrs.request {
        virtguard_rbac::Request::Resource(r) => {
            let combined = if r.subresource.is_empty() {
                r.resource.to_string()
            } else {
                format!("{}/{}", r.resource, r.subresource)
            };
            let group = has(&rule.api_groups, "*") || has(&rule.api_groups, r.api_group);
            let resource = rule.resources.iter().any(|x| {
                x == "*"
                    || *x == combined
                    || (!r.subresource.is_empty() && *x == format!("*/{}", r.subresource))
            });
            let name = rule.resource_names.is_empty()
                || (!r.name.is_empty() && has(&rule.resource_names, r.name));
            verb && group && resource && name
        }
        virtguard_rbac::Request::NonResource(n) => {
            verb && rule.non_resource_urls.iter().any(|u| {
                u == "*"
                    || u == n.path
                    || (u.ends_with('*') && n.path.starts_with(u.trim_end_matches('*')))
            })
        }
    }
}

/// `appliesToUser` from Kubernetes' `rule.go`, written out independently.
fn spec_applies(s: &Subject, user: &User, binding_namespace: &str) -> bool {
    match s.kind {
        SubjectKind::User => user.name == s.name,
        SubjectKind::Group => user.groups.contains(&s.name),
        SubjectKind::ServiceAccount => {
            let ns = if s.namespace.is_empty() {
                binding_namespace
            } else {
                &s.namespace
            };
            !ns.is_empty() && user.name == format!("system:serviceaccount:{ns}:{}", s.name)
        }
    }
}

/// The role a binding refers to, looked up by hand in the policy's (aggregated) roles, or the
/// error Kubernetes reports.
fn reference_role<'p>(policy: &'p Policy, b: &Binding) -> Result<&'p Role, String> {
    let kind = match b.role_ref.kind.as_str() {
        "Role" => RoleKind::Role,
        "ClusterRole" => RoleKind::ClusterRole,
        other => return Err(format!("unsupported role reference kind: \"{other}\"")),
    };
    let ns = match (kind, b.kind) {
        (RoleKind::ClusterRole, _) | (_, BindingKind::ClusterRoleBinding) => "",
        (RoleKind::Role, BindingKind::RoleBinding) => b.namespace.as_str(),
    };
    policy
        .roles()
        .iter()
        .find(|r| r.kind == kind && r.namespace == ns && r.name == b.role_ref.name)
        .ok_or_else(|| {
            format!(
                "{}.rbac.authorization.k8s.io \"{}\" not found",
                kind.lister_resource(),
                b.role_ref.name
            )
        })
}

/// Aggregation as the clusterrole-aggregation controller settles it, for policies without
/// aggregation cycles: an aggregated ClusterRole's rules are the union (first occurrence first,
/// duplicates by value dropped) of the settled rules of every other ClusterRole matching its
/// selectors, selectors in order, matching roles in name order. `None` when there is a cycle.
fn reference_aggregate(roles: &[Role]) -> Option<BTreeMap<String, Vec<PolicyRule>>> {
    let mut cluster: Vec<&Role> = roles
        .iter()
        .filter(|r| r.kind == RoleKind::ClusterRole)
        .collect();
    cluster.sort_by(|a, b| a.name.cmp(&b.name));
    fn settle(
        name: &str,
        cluster: &[&Role],
        done: &mut BTreeMap<String, Vec<PolicyRule>>,
        visiting: &mut BTreeSet<String>,
    ) -> Option<Vec<PolicyRule>> {
        if let Some(r) = done.get(name) {
            return Some(r.clone());
        }
        let role = cluster.iter().find(|r| r.name == name)?;
        let Some(selectors) = &role.aggregation else {
            let rules: Vec<PolicyRule> = role.rules.iter().map(|r| (**r).clone()).collect();
            done.insert(name.to_string(), rules.clone());
            return Some(rules);
        };
        if !visiting.insert(name.to_string()) {
            return None;
        }
        let mut out: Vec<PolicyRule> = Vec::new();
        for sel in selectors {
            for c in cluster {
                if c.name != name && sel.matches(&c.labels) {
                    for r in settle(&c.name, cluster, done, visiting)? {
                        if !out.contains(&r) {
                            out.push(r);
                        }
                    }
                }
            }
        }
        visiting.remove(name);
        done.insert(name.to_string(), out.clone());
        Some(out)
    }
    let mut done = BTreeMap::new();
    for c in &cluster {
        settle(&c.name, &cluster, &mut done, &mut BTreeSet::new())?;
    }
    Some(done)
}

/// A decision described by names and rule content, not indices (which move when the input
/// order or the set of bindings changes).
fn describe(policy: &Policy, d: &Decision) -> (bool, Option<String>, Vec<String>) {
    let grant = d.grants.first().map(|g| {
        let (b, r, rule) = policy.grant_rule(g).expect("grant points into the policy");
        format!(
            "{} subject {} role {} {}/{} rule {:?}",
            policy.describe_grant(g),
            g.subject,
            r.kind.as_str(),
            r.namespace,
            r.name,
            rule
        ) + " in "
            + &b.name
    });
    (d.allowed, grant, d.errors.clone())
}

fn cfg() -> Config {
    // `Config::default()` reads PROPTEST_CASES; without it, 256 cases.
    let mut c = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 256;
    }
    c.failure_persistence = None;
    c
}

/// Users to try for a policy: every user name with no groups, with each group alone, and with
/// every group.
fn all_users() -> Vec<User> {
    let mut out = Vec::new();
    for name in USER_NAMES.iter().chain(&["", "carol"]) {
        out.push(User::new(*name, vec![]));
        for g in GROUP_NAMES {
            out.push(User::new(*name, vec![g.to_string()]));
        }
        out.push(User::new(
            *name,
            GROUP_NAMES.iter().map(|g| g.to_string()).collect(),
        ));
    }
    out
}

fn policy(input: &Input) -> Policy {
    Policy::new(input.roles.clone(), input.bindings.clone())
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cfg())]

    /// `decide` (index) and `explain` (walk) agree on `allowed` for every request; when allowed,
    /// decide's single grant is explain's first grant; when denied, both report the same errors
    /// (the applying bindings whose role is missing, in binding order).
    #[test]
    fn decide_agrees_with_explain((input, reqs) in input_and_requests()) {
        let p = policy(&input);
        for req in &reqs {
            let a = req.attrs();
            let d = p.decide(&a);
            let e = p.explain(&a);
            prop_assert_eq!(d.allowed, e.allowed, "request {:?}", req);
            if d.allowed {
                prop_assert_eq!(d.grants.len(), 1);
                prop_assert_eq!(d.grants.first(), e.grants.first(), "request {:?}", req);
                prop_assert!(d.errors.is_empty());
            } else {
                prop_assert!(d.grants.is_empty() && e.grants.is_empty());
                prop_assert_eq!(&d.errors, &e.errors, "request {:?}", req);
            }
            prop_assert_eq!(d.allowed, p.allows(&a));
            prop_assert_eq!(d.reason(&p), e.reason(&p), "request {:?}", req);
            // Every grant explain reports is real: its rule allows the request, its subject
            // applies, its binding is in scope.
            for g in &e.grants {
                let (b, _, rule) = p.grant_rule(g).expect("grant points into the policy");
                prop_assert!(rule_allows(&a, rule));
                prop_assert!(b.subjects[g.subject].applies_to(a.user, &b.namespace));
            }
        }
    }

    /// `decide` agrees exactly (allowed, first grant, errors) with a reference `VisitRulesFor`
    /// written here from `rule_allows`, `Subject::applies_to`, `Policy::bindings` and
    /// `Policy::binding_role`; and `binding_role` agrees with a lookup by hand of the referenced
    /// role.
    #[test]
    fn decide_agrees_with_reference((input, reqs) in input_and_requests()) {
        let p = policy(&input);
        for (bi, b) in p.bindings().iter().enumerate() {
            let ours = p.binding_role(bi).map_err(str::to_string);
            let theirs = reference_role(&p, b);
            prop_assert_eq!(ours.as_ref().map(|r| (r.kind, &r.namespace, &r.name)),
                theirs.as_ref().map(|r| (r.kind, &r.namespace, &r.name)), "binding {:?}", b);
        }
        // Bindings are visited ClusterRoleBindings first, then RoleBindings by namespace, name.
        let order: Vec<_> = p.bindings().iter().map(|b| (b.kind, &b.namespace, &b.name)).collect();
        let mut sorted = order.clone();
        sorted.sort();
        prop_assert_eq!(order, sorted);
        for req in &reqs {
            let a = req.attrs();
            prop_assert_eq!(p.decide(&a), reference(&p, &a), "request {:?}", req);
        }
        // Exhaustively over users for the first request: the alphabet is small.
        let req = &reqs[0];
        for u in all_users() {
            let a = req.attrs_as(&u);
            prop_assert_eq!(p.decide(&a), reference(&p, &a), "request {:?} as {:?}", req, u);
        }
    }

    /// Aggregation matches the controller's semantics (checked when there is no cycle): every
    /// aggregated ClusterRole holds exactly the union of the settled rules of the other
    /// ClusterRoles its selectors match; every other role keeps its rules.
    #[test]
    fn aggregation_matches_reference(input in input()) {
        let p = policy(&input);
        if let Some(expected) = reference_aggregate(&input.roles) {
            for r in p.roles() {
                let rules: Vec<PolicyRule> = r.rules.iter().map(|r| (**r).clone()).collect();
                match r.kind {
                    RoleKind::ClusterRole => prop_assert_eq!(&rules, &expected[&r.name], "{}", r.name),
                    RoleKind::Role => {
                        let orig = input.roles.iter()
                            .find(|o| o.kind == r.kind && o.namespace == r.namespace && o.name == r.name)
                            .expect("role kept");
                        prop_assert_eq!(&r.rules, &orig.rules);
                    }
                }
            }
            prop_assert!(p.warnings().iter().all(|w| !w.message.contains("aggregation cycle")));
        }
        prop_assert_eq!(p.roles().len(), input.roles.len());
    }

    /// Adding a binding (or a role) never removes access: every request allowed before is
    /// allowed after.
    #[test]
    fn adding_never_removes_access(
        (input, reqs) in input_and_requests(),
        extra in binding(),
        extra_role in prop_oneof![cluster_role(), namespaced_role()],
    ) {
        let before = policy(&input);
        let mut more = input.clone();
        let mut extra = extra;
        extra.name = "extra".into();
        more.bindings.push(extra);
        let with_binding = policy(&more);
        let mut with_role_input = input.clone();
        let key = (extra_role.kind, extra_role.namespace.clone(), extra_role.name.clone());
        let fresh = !input.roles.iter().any(|r| (r.kind, r.namespace.clone(), r.name.clone()) == key);
        if fresh {
            with_role_input.roles.push(extra_role);
        }
        let with_role = policy(&with_role_input);
        let users = all_users();
        for req in &reqs {
            for u in std::iter::once(&req.user).chain(users.iter().step_by(7)) {
                let a = req.attrs_as(u);
                if before.decide(&a).allowed {
                    prop_assert!(with_binding.decide(&a).allowed, "binding added; {:?} as {:?}", req, u);
                    prop_assert!(with_role.decide(&a).allowed, "role added; {:?} as {:?}", req, u);
                }
            }
        }
    }

    /// `who_can` agrees with `decide`. Soundness: every subject returned, as a user
    /// (`User::from_subject`), is allowed by decide, and each of its grants names a rule that
    /// allows the request and is the role's first such rule. Completeness: for random users,
    /// when decide allows, who_can lists a subject matching the user (the User by name, a Group
    /// the user has, or the ServiceAccount whose user name is the user's). With
    /// `all_namespaces`, every subject is allowed in the request's namespace or in one of the
    /// binding namespaces, and the answer contains the namespace-scoped one.
    #[test]
    fn who_can_agrees_with_decide((input, reqs) in input_and_requests()) {
        let p = policy(&input);
        let users = all_users();
        for req in &reqs {
            let a = req.attrs();
            let subjects = p.who_can(&a, false);
            for gs in &subjects {
                let u = User::from_subject(&gs.subject).expect("who_can lists usable subjects");
                prop_assert!(p.decide(&req.attrs_as(&u)).allowed, "{:?} from who_can denied for {:?}", gs.subject, req);
                prop_assert!(!gs.grants.is_empty());
                for g in &gs.grants {
                    let (b, role, rule) = p.grant_rule(g).expect("grant points into the policy");
                    let ua = req.attrs_as(&u);
                    prop_assert!(rule_allows(&ua, rule));
                    let first = role.rules.iter().position(|r| rule_allows(&ua, r));
                    prop_assert_eq!(first, Some(g.rule));
                    prop_assert!(b.subjects[g.subject].applies_to(&u, &b.namespace));
                }
            }
            for u in std::iter::once(&req.user).chain(users.iter()) {
                if !p.decide(&req.attrs_as(u)).allowed {
                    continue;
                }
                let found = subjects.iter().any(|gs| {
                    let s = &gs.subject;
                    match s.kind {
                        SubjectKind::User => s.name == u.name,
                        SubjectKind::Group => u.groups.contains(&s.name),
                        SubjectKind::ServiceAccount => {
                            s.service_account_username("").as_deref() == Some(u.name.as_str())
                        }
                    }
                });
                prop_assert!(found, "{:?} allowed for {:?} but who_can lists {:?}", u, req, subjects);
            }
            let everywhere = p.who_can(&a, true);
            for gs in &subjects {
                prop_assert!(everywhere.iter().any(|e| e.subject == gs.subject));
            }
            for gs in &everywhere {
                let u = User::from_subject(&gs.subject).expect("who_can lists usable subjects");
                let allowed_somewhere = ["", "a", "b"]
                    .iter()
                    .chain(std::iter::once(&a.namespace()))
                    .any(|ns| p.decide(&req.attrs_in(&u, Some(ns))).allowed);
                prop_assert!(allowed_somewhere, "{:?} from who_can --all-namespaces never allowed for {:?}", gs.subject, req);
            }
        }
    }

    /// The library's rule and subject predicates (`rule_allows`, `Subject::applies_to`) are
    /// Kubernetes' (`RuleAllows`, `appliesToUser`), written out independently here, for every
    /// rule of every role and every subject of every binding against random requests.
    #[test]
    fn predicates_match_kubernetes((input, reqs) in input_and_requests()) {
        for req in &reqs {
            let a = req.attrs();
            for r in &input.roles {
                for rule in &r.rules {
                    prop_assert_eq!(rule_allows(&a, rule), spec_rule_allows(&a, rule), "{:?} {:?}", rule, req);
                }
            }
            for b in &input.bindings {
                for s in &b.subjects {
                    prop_assert_eq!(s.applies_to(&req.user, &b.namespace), spec_applies(s, &req.user, &b.namespace), "{:?} {:?}", s, req);
                }
            }
        }
    }

    /// `rules_for` (SelfSubjectRulesReview) agrees with `decide`: a request is allowed exactly
    /// when one of the rules the user holds in the request's namespace allows it; its errors
    /// are those of the applying bindings whose role is missing.
    #[test]
    fn rules_for_agrees_with_decide((input, reqs) in input_and_requests()) {
        let p = policy(&input);
        for req in &reqs {
            let a = req.attrs();
            let rules = p.rules_for(a.user, a.namespace());
            let by_rules = rules.rules.iter().any(|r| rule_allows(&a, r.rule));
            let d = p.decide(&a);
            prop_assert_eq!(d.allowed, by_rules, "request {:?}", req);
            if !d.allowed {
                prop_assert_eq!(&rules.errors, &d.errors);
            }
            for r in &rules.rules {
                prop_assert!(r.binding.applies_to(a.user).is_some());
                prop_assert!(r.role.rules.iter().any(|x| x.as_ref() == r.rule));
            }
        }
    }

    /// Aggregation and decisions do not depend on the order of the input: shuffling the roles
    /// and the bindings gives the same roles after aggregation, the same binding order and the
    /// same decisions (allowed, first grant by name and rule, errors) and who-can answers.
    #[test]
    fn order_independent(
        (input, reqs) in input_and_requests(),
        role_perm in any::<u64>(),
    ) {
        let mut shuffled = input.clone();
        // A Fisher-Yates shuffle driven by proptest's generated seed (so failures replay).
        let mut seed = role_perm | 1;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for i in (1..shuffled.roles.len()).rev() {
            let j = next(i + 1);
            shuffled.roles.swap(i, j);
        }
        for i in (1..shuffled.bindings.len()).rev() {
            let j = next(i + 1);
            shuffled.bindings.swap(i, j);
        }
        let p = policy(&input);
        let q = policy(&shuffled);
        let by_key = |p: &Policy| -> BTreeMap<(RoleKind, String, String), Vec<Arc<PolicyRule>>> {
            p.roles().iter().map(|r| ((r.kind, r.namespace.clone(), r.name.clone()), r.rules.clone())).collect()
        };
        prop_assert_eq!(by_key(&p), by_key(&q));
        prop_assert_eq!(p.bindings(), q.bindings());
        let mut pw: Vec<_> = p.warnings().iter().map(|w| (&w.object, &w.message)).collect();
        let mut qw: Vec<_> = q.warnings().iter().map(|w| (&w.object, &w.message)).collect();
        pw.sort();
        qw.sort();
        prop_assert_eq!(pw, qw);
        for req in &reqs {
            let a = req.attrs();
            prop_assert_eq!(describe(&p, &p.decide(&a)), describe(&q, &q.decide(&a)), "request {:?}", req);
            let names = |p: &Policy| p.who_can(&a, true).into_iter().map(|g| g.subject).collect::<Vec<_>>();
            prop_assert_eq!(names(&p), names(&q));
        }
    }
}

/// The generators reach the interesting cases (otherwise the properties above prove little):
/// over a few hundred policies, requests are allowed and denied, through names, `*/sub` rules,
/// URL rules, Roles and ClusterRoles via RoleBindings, aggregated roles; denied with errors;
/// aggregation cycles occur and acyclic aggregation is checked against the reference.
#[test]
fn generators_reach_interesting_cases() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = input_and_requests();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for _ in 0..400 {
        let (input, reqs) = strategy.new_tree(&mut runner).unwrap().current();
        let p = policy(&input);
        match reference_aggregate(&input.roles) {
            Some(_) if input.roles.iter().any(|r| r.aggregation.is_some()) => {
                *counts.entry("acyclic aggregation").or_default() += 1
            }
            None => *counts.entry("aggregation cycle").or_default() += 1,
            _ => {}
        }
        for req in &reqs {
            let d = p.decide(&req.attrs());
            if !d.allowed {
                *counts.entry("denied").or_default() += 1;
                if !d.errors.is_empty() {
                    *counts.entry("denied with errors").or_default() += 1;
                }
                continue;
            }
            *counts.entry("allowed").or_default() += 1;
            let (b, role, rule) = p.grant_rule(&d.grants[0]).unwrap();
            if !rule.resource_names.is_empty() {
                *counts.entry("allowed by name").or_default() += 1;
            }
            if rule.resources.iter().any(|r| r.starts_with("*/")) {
                *counts.entry("allowed by */sub").or_default() += 1;
            }
            if !rule.non_resource_urls.is_empty() {
                *counts.entry("allowed by URL").or_default() += 1;
            }
            if role.aggregation.is_some() {
                *counts.entry("allowed by aggregated role").or_default() += 1;
            }
            match (b.kind, role.kind) {
                (BindingKind::RoleBinding, RoleKind::Role) => {
                    *counts.entry("RoleBinding to Role").or_default() += 1
                }
                (BindingKind::RoleBinding, RoleKind::ClusterRole) => {
                    *counts.entry("RoleBinding to ClusterRole").or_default() += 1
                }
                _ => {}
            }
            let s = &b.subjects[d.grants[0].subject];
            if s.kind == SubjectKind::ServiceAccount && s.namespace.is_empty() {
                *counts.entry("SA without namespace").or_default() += 1;
            }
        }
    }
    eprintln!("{counts:#?}");
    let allowed = counts.get("allowed").copied().unwrap_or(0);
    let denied = counts.get("denied").copied().unwrap_or(0);
    assert!(
        allowed * 10 >= allowed + denied,
        "under 10% of requests allowed: {counts:?}"
    );
    for what in [
        "allowed",
        "denied",
        "denied with errors",
        "allowed by name",
        "allowed by */sub",
        "allowed by URL",
        "allowed by aggregated role",
        "RoleBinding to Role",
        "RoleBinding to ClusterRole",
        "SA without namespace",
        "acyclic aggregation",
        "aggregation cycle",
    ] {
        assert!(
            counts.get(what).copied().unwrap_or(0) >= 3,
            "generators rarely reach {what}: {counts:?}"
        );
    }
}
