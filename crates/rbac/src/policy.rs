//! The policy: roles (aggregated) and bindings, indexed once, answering many questions.
//!
//! Bindings are kept in Kubernetes' visiting order, made deterministic: ClusterRoleBindings by
//! name, then RoleBindings by namespace and name. [`Policy::decide`] answers from the index;
//! [`Policy::explain`] walks bindings and rules exactly as Kubernetes' `VisitRulesFor` does and
//! reports every grant. The two must always agree (a property test checks it).

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::aggregation::aggregate;
use crate::attributes::{Attributes, Request};
use crate::binding::{Binding, BindingKind};
use crate::decision::{Decision, Grant, GrantedSubject};
use crate::index::{
    res_key, CompiledKind, CompiledRequest, CompiledRole, Index, CLUSTER, GROUP, USER,
};
use crate::intern::{Sym, NONE};
use crate::role::{Role, RoleKind};
use crate::rule::{rule_allows, PolicyRule};
use crate::subject::{Subject, SubjectKind, User};

/// Something wrong in the policy that grants nothing but deserves a word (a binding to a missing
/// role, an aggregation cycle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWarning {
    /// `Kind namespace/name` of the object.
    pub object: String,
    /// Where the object came from, when known.
    pub origin: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// One rule a user holds, and through what (as a SelfSubjectRulesReview lists them).
#[derive(Debug, Clone, Copy)]
pub struct RuleSource<'p> {
    /// The binding that grants the rule.
    pub binding: &'p Binding,
    /// The role bound.
    pub role: &'p Role,
    /// The rule.
    pub rule: &'p PolicyRule,
}

/// Every rule a user holds in a namespace (`RulesFor`), and the errors met.
#[derive(Debug, Clone, Default)]
pub struct SubjectRules<'p> {
    /// Rules in visiting order.
    pub rules: Vec<RuleSource<'p>>,
    /// Errors (missing roles); when present the list is incomplete.
    pub errors: Vec<String>,
}

/// Roles and bindings, aggregated and indexed.
#[derive(Debug)]
pub struct Policy {
    roles: Vec<Role>,
    bindings: Vec<Binding>,
    binding_role: Vec<Result<usize, String>>,
    lazy: OnceLock<Built>,
    warnings: Vec<PolicyWarning>,
}

impl Policy {
    /// Builds the policy: aggregates ClusterRoles, resolves every binding's role, and indexes the
    /// rules by subject and resource.
    pub fn new(mut roles: Vec<Role>, mut bindings: Vec<Binding>) -> Self {
        let mut warnings: Vec<PolicyWarning> = aggregate(&mut roles)
            .into_iter()
            .map(|w| PolicyWarning {
                object: format!("ClusterRole {}", w.role),
                origin: roles
                    .iter()
                    .find(|r| r.kind == RoleKind::ClusterRole && r.name == w.role)
                    .and_then(|r| r.origin.clone()),
                message: w.message,
            })
            .collect();
        bindings.par_sort_by(|a, b| {
            (a.kind, &a.namespace, &a.name).cmp(&(b.kind, &b.namespace, &b.name))
        });
        let mut by_name: HashMap<(RoleKind, &str, &str), usize> = HashMap::new();
        for (i, r) in roles.iter().enumerate() {
            by_name.insert((r.kind, r.namespace.as_str(), r.name.as_str()), i);
        }
        let binding_role: Vec<Result<usize, String>> = bindings
            .iter()
            .map(|b| {
                let ns = match b.kind {
                    BindingKind::ClusterRoleBinding => "",
                    BindingKind::RoleBinding => b.namespace.as_str(),
                };
                match b.role_ref.role_kind() {
                    None => Err(format!(
                        "unsupported role reference kind: \"{}\"",
                        b.role_ref.kind
                    )),
                    Some(kind) => {
                        let ns = if kind == RoleKind::ClusterRole {
                            ""
                        } else {
                            ns
                        };
                        by_name
                            .get(&(kind, ns, b.role_ref.name.as_str()))
                            .copied()
                            .ok_or_else(|| {
                                format!(
                                    "{}.rbac.authorization.k8s.io \"{}\" not found",
                                    kind.lister_resource(),
                                    b.role_ref.name
                                )
                            })
                    }
                }
            })
            .collect();
        for (b, r) in bindings.iter().zip(&binding_role) {
            if let Err(e) = r {
                warnings.push(PolicyWarning {
                    object: object_name(b),
                    origin: b.origin.clone(),
                    message: format!("grants nothing: {e}"),
                });
            }
        }

        Policy {
            roles,
            bindings,
            binding_role,
            lazy: OnceLock::new(),
            warnings,
        }
    }

    /// Builds the decision index now rather than on the first query (where it would otherwise
    /// be built): a server or a benchmark pays for it at start-up, and its memory is laid out
    /// before what the queries allocate.
    pub fn build_index(&self) {
        self.built();
    }

    /// The decision index, built on first use: commands that only compare roles and bindings
    /// (`diff`) never pay for it.
    fn built(&self) -> &Built {
        self.lazy
            .get_or_init(|| build_index(&self.roles, &self.bindings, &self.binding_role))
    }

    /// Roles, after aggregation.
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// Bindings, in visiting order (ClusterRoleBindings by name, then RoleBindings).
    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// The role a binding grants, or the error Kubernetes reports for it.
    pub fn binding_role(&self, binding: usize) -> Result<&Role, &str> {
        match &self.binding_role[binding] {
            Ok(r) => Ok(&self.roles[*r]),
            Err(e) => Err(e.as_str()),
        }
    }

    /// The index (into [`Policy::roles`]) of the role a binding grants, if it exists.
    pub fn binding_role_index(&self, binding: usize) -> Option<usize> {
        self.binding_role.get(binding)?.as_ref().ok().copied()
    }

    /// Problems found while building (bindings to missing roles, aggregation cycles).
    pub fn warnings(&self) -> &[PolicyWarning] {
        &self.warnings
    }

    /// The role and rule behind a grant.
    pub fn grant_rule(&self, g: &Grant) -> Option<(&Binding, &Role, &PolicyRule)> {
        let b = self.bindings.get(g.binding)?;
        let r = self.binding_role(g.binding).ok()?;
        Some((b, r, r.rules.get(g.rule)?.as_ref()))
    }

    /// `ClusterRoleBinding "b" of ClusterRole "r" to User "u"`, as Kubernetes describes a source.
    pub fn describe_grant(&self, g: &Grant) -> String {
        let Some(b) = self.bindings.get(g.binding) else {
            return String::new();
        };
        let subject = b
            .subjects
            .get(g.subject)
            .map(|s| s.describe(&b.namespace))
            .unwrap_or_default();
        format!(
            "{} of {} \"{}\" to {}",
            b.describe_name(),
            b.role_ref.kind,
            b.role_ref.name,
            subject
        )
    }

    fn compile<'a>(&self, attrs: &Attributes<'a>) -> CompiledRequest<'a> {
        let i = &self.built().index.interner;
        let verb = i.get(attrs.verb);
        let kind = match &attrs.request {
            Request::Resource(r) => {
                let key = if r.resource.contains('/') {
                    let combined = r.combined_resource();
                    combined
                        .split_once('/')
                        .and_then(|(res, sub)| Some(res_key(i.get(res)?, i.get(sub)?)))
                } else if r.subresource.is_empty() {
                    i.get(r.resource).map(|res| res_key(res, NONE))
                } else {
                    match (i.get(r.resource), i.get(r.subresource)) {
                        (Some(res), Some(sub)) => Some(res_key(res, sub)),
                        _ => None,
                    }
                };
                CompiledKind::Resource {
                    group: i.get(r.api_group),
                    key,
                    sub: if r.subresource.is_empty() {
                        None
                    } else {
                        i.get(r.subresource)
                    },
                    name: if r.name.is_empty() {
                        None
                    } else {
                        i.get(r.name)
                    },
                    has_name: !r.name.is_empty(),
                }
            }
            Request::NonResource(n) => CompiledKind::NonResource { path: n.path },
        };
        CompiledRequest { verb, kind }
    }

    /// Scopes to visit: the cluster, and the request's namespace when it has one.
    fn scopes(&self, attrs: &Attributes<'_>) -> [Option<Sym>; 2] {
        let ns = attrs.namespace();
        let ns_scope = if ns.is_empty() {
            None
        } else {
            self.built().index.interner.get(ns).map(|s| s + 1)
        };
        [Some(CLUSTER), ns_scope]
    }

    fn keys<'s>(&'s self, user: &'s User) -> impl Iterator<Item = (u8, Sym)> + 's {
        let i = &self.built().index.interner;
        let u = i.get(&user.name).map(|s| (USER, s));
        let gs = user
            .groups
            .iter()
            .filter_map(move |g| i.get(g).map(|s| (GROUP, s)));
        u.into_iter().chain(gs)
    }

    /// Decides one request as Kubernetes' RBAC authorizer does, from the index. On allow the
    /// decision carries the first grant (in visiting order); on deny the errors of the bindings
    /// that applied but whose role is missing.
    pub fn decide(&self, attrs: &Attributes<'_>) -> Decision {
        let index = &self.built().index;
        let req = self.compile(attrs);
        let scopes = self.scopes(attrs);
        // The user's keys, looked up once, on the stack for the usual handful of groups.
        let mut inline = [(0u8, 0 as Sym); 16];
        let mut spill: Vec<(u8, Sym)> = Vec::new();
        let mut n = 0;
        for k in self.keys(attrs.user) {
            if n < inline.len() {
                inline[n] = k;
                n += 1;
            } else {
                spill.push(k);
            }
        }
        let keys = || inline[..n].iter().chain(spill.iter());
        let mut missing: Vec<usize> = Vec::new();
        for scope in scopes.iter().flatten() {
            let mut best: Option<Grant> = None;
            for &(kind, name) in keys() {
                let key = (*scope, kind, name);
                if !index.may_have(&key) {
                    continue;
                }
                if let Some(g) = index.first_grant(key, &req) {
                    if best.is_none_or(|b| g < b) {
                        best = Some(g);
                    }
                }
                if index.may_have_missing(&key) {
                    if let Some(idx) = index.subjects.get(&key) {
                        missing.extend(&idx.missing);
                    }
                }
            }
            if let Some(g) = best {
                return Decision {
                    allowed: true,
                    grants: vec![g],
                    errors: Vec::new(),
                };
            }
        }
        if missing.is_empty() {
            return Decision::default();
        }
        missing.sort_unstable();
        missing.dedup();
        Decision {
            allowed: false,
            grants: Vec::new(),
            errors: missing
                .into_iter()
                .filter_map(|b| self.binding_role[b].as_ref().err().cloned())
                .collect(),
        }
    }

    /// Whether the request is allowed (the fast path of [`Policy::decide`], without the reason).
    pub fn allows(&self, attrs: &Attributes<'_>) -> bool {
        self.decide(attrs).allowed
    }

    /// Bindings that can apply to a request in `namespace` (empty: ClusterRoleBindings only), in
    /// visiting order.
    fn bindings_in_scope<'s>(&'s self, namespace: &'s str) -> impl Iterator<Item = usize> + 's {
        self.bindings.iter().enumerate().filter_map(move |(i, b)| {
            let applies = match b.kind {
                BindingKind::ClusterRoleBinding => true,
                BindingKind::RoleBinding => !namespace.is_empty() && b.namespace == namespace,
            };
            applies.then_some(i)
        })
    }

    /// Decides by walking every binding and rule as Kubernetes' `VisitRulesFor` does, and returns
    /// every grant (not just the first). Slower than [`Policy::decide`]; for explanations.
    pub fn explain(&self, attrs: &Attributes<'_>) -> Decision {
        let mut d = Decision::default();
        for bi in self.bindings_in_scope(attrs.namespace()) {
            let b = &self.bindings[bi];
            let Some(si) = b.applies_to(attrs.user) else {
                continue;
            };
            match &self.binding_role[bi] {
                Err(e) => d.errors.push(e.clone()),
                Ok(ri) => {
                    for (rule_i, rule) in self.roles[*ri].rules.iter().enumerate() {
                        if rule_allows(attrs, rule) {
                            d.grants.push(Grant {
                                binding: bi,
                                subject: si,
                                rule: rule_i,
                            });
                        }
                    }
                }
            }
        }
        d.allowed = !d.grants.is_empty();
        if d.allowed {
            d.errors.clear();
        }
        d
    }

    /// Every subject of a binding that grants the request (`attrs.user` is ignored), with one
    /// grant (the first rule) per binding. With `all_namespaces`, a namespaced request is answered for every namespace: every
    /// RoleBinding counts, each in its own namespace.
    pub fn who_can(&self, attrs: &Attributes<'_>, all_namespaces: bool) -> Vec<GrantedSubject> {
        let ns = attrs.namespace();
        let is_resource = matches!(attrs.request, Request::Resource(_));
        let req = self.compile(attrs);
        let mut role_rule: HashMap<usize, Option<u32>> = HashMap::new();
        let mut out: BTreeMap<Subject, Vec<Grant>> = BTreeMap::new();
        for (bi, b) in self.bindings.iter().enumerate() {
            let in_scope = match b.kind {
                BindingKind::ClusterRoleBinding => true,
                BindingKind::RoleBinding => {
                    is_resource && (all_namespaces || (!ns.is_empty() && b.namespace == ns))
                }
            };
            if !in_scope {
                continue;
            }
            let Ok(ri) = self.binding_role[bi] else {
                continue;
            };
            let rule = *role_rule.entry(ri).or_insert_with(|| {
                self.built()
                    .compiled
                    .get(&ri)
                    .and_then(|c| self.built().index.role_rule(c, &req))
            });
            let Some(rule) = rule else {
                continue;
            };
            for (si, s) in b.subjects.iter().enumerate() {
                let subject = match s.kind {
                    SubjectKind::ServiceAccount => {
                        let sa_ns = if s.namespace.is_empty() {
                            &b.namespace
                        } else {
                            &s.namespace
                        };
                        if sa_ns.is_empty() {
                            continue;
                        }
                        Subject::new(SubjectKind::ServiceAccount, s.name.clone(), sa_ns.clone())
                    }
                    _ => Subject::new(s.kind, s.name.clone(), ""),
                };
                out.entry(subject).or_default().push(Grant {
                    binding: bi,
                    subject: si,
                    rule: rule as usize,
                });
            }
        }
        out.into_iter()
            .map(|(subject, grants)| GrantedSubject { subject, grants })
            .collect()
    }

    /// Every rule the user holds in `namespace` (empty: cluster-wide only), as Kubernetes'
    /// `RulesFor` backs a SelfSubjectRulesReview.
    pub fn rules_for(&self, user: &User, namespace: &str) -> SubjectRules<'_> {
        let mut out = SubjectRules::default();
        for bi in self.bindings_in_scope(namespace) {
            let b = &self.bindings[bi];
            if b.applies_to(user).is_none() {
                continue;
            }
            match &self.binding_role[bi] {
                Err(e) => out.errors.push(e.clone()),
                Ok(ri) => {
                    let role = &self.roles[*ri];
                    for rule in &role.rules {
                        out.rules.push(RuleSource {
                            binding: b,
                            role,
                            rule,
                        });
                    }
                }
            }
        }
        out
    }

    /// Namespaces that have at least one RoleBinding.
    pub fn binding_namespaces(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .bindings
            .iter()
            .filter(|b| b.kind == BindingKind::RoleBinding)
            .map(|b| b.namespace.as_str())
            .collect();
        v.dedup();
        v
    }
}

fn object_name(b: &Binding) -> String {
    match b.kind {
        BindingKind::ClusterRoleBinding => format!("ClusterRoleBinding {}", b.name),
        BindingKind::RoleBinding => format!("RoleBinding {}/{}", b.namespace, b.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::ResourceAttributes;
    use crate::binding::RoleRef;

    fn alice() -> User {
        User::new("alice", vec![])
    }

    #[test]
    fn unsupported_role_ref_kind_is_the_reason() {
        let mut b = Binding::cluster("x", "r", vec![Subject::new(SubjectKind::User, "alice", "")]);
        b.role_ref = RoleRef {
            kind: "Clusterrole".into(),
            name: "r".into(),
        };
        let p = Policy::new(
            vec![Role::cluster(
                "r",
                vec![PolicyRule::resource(&["get"], &[""], &["pods"])],
            )],
            vec![b],
        );
        let u = alice();
        let a = Attributes::resource(
            &u,
            "get",
            ResourceAttributes {
                resource: "pods",
                ..Default::default()
            },
        );
        let d = p.decide(&a);
        assert!(!d.allowed);
        assert_eq!(
            d.reason(&p),
            "RBAC: unsupported role reference kind: \"Clusterrole\""
        );
        assert_eq!(p.explain(&a).errors, d.errors);
        assert_eq!(p.warnings().len(), 1);
    }

    #[test]
    fn missing_roles_aggregate_like_apimachinery() {
        let s = vec![Subject::new(SubjectKind::User, "alice", "")];
        let p = Policy::new(
            vec![],
            vec![
                Binding::cluster("a", "gone", s.clone()),
                Binding::cluster("b", "gone", s.clone()),
                Binding::cluster("c", "other", s),
            ],
        );
        let u = alice();
        let a = Attributes::resource(
            &u,
            "get",
            ResourceAttributes {
                resource: "pods",
                ..Default::default()
            },
        );
        assert_eq!(
            p.decide(&a).reason(&p),
            "RBAC: [clusterrole.rbac.authorization.k8s.io \"gone\" not found, clusterrole.rbac.authorization.k8s.io \"other\" not found]"
        );
    }
}

/// The decision index and the compiled roles it points into.
#[derive(Debug)]
struct Built {
    index: Index,
    compiled: FxHashMap<usize, std::sync::Arc<CompiledRole>>,
}

/// Indexes the rules of every bound role by (scope, subject, resource).
fn build_index(
    roles: &[Role],
    bindings: &[Binding],
    binding_role: &[Result<usize, String>],
) -> Built {
    let mut index = Index::new();
    // Roles with the very same rules (aggregated roles often are) share one compilation: each
    // bound role's first role with its rules, in binding order.
    let mut by_rules: FxHashMap<Vec<usize>, usize> = FxHashMap::default();
    let mut same_as: FxHashMap<usize, usize> = FxHashMap::default();
    let mut to_compile: Vec<usize> = Vec::new();
    for ri in binding_role.iter().filter_map(|r| r.as_ref().ok()) {
        if same_as.contains_key(ri) {
            continue;
        }
        let key: Vec<usize> = roles[*ri]
            .rules
            .iter()
            .map(|r| std::sync::Arc::as_ptr(r) as usize)
            .collect();
        let first = *by_rules.entry(key).or_insert_with(|| {
            to_compile.push(*ri);
            *ri
        });
        same_as.insert(*ri, first);
    }
    // Rules are compiled (in parallel, their strings interned first), then the roles (in
    // parallel), their entries placed in order.
    index.compile_rules(to_compile.iter().flat_map(|&ri| &roles[ri].rules));
    let entries: Vec<_> = to_compile
        .par_iter()
        .map(|&ri| index.compile_role(&roles[ri].rules))
        .collect();
    let mut compiled: FxHashMap<usize, std::sync::Arc<CompiledRole>> = FxHashMap::default();
    for (&ri, e) in to_compile.iter().zip(entries) {
        compiled.insert(ri, std::sync::Arc::new(index.place_role(e)));
    }
    for (&ri, &first) in &same_as {
        if ri != first {
            if let Some(c) = compiled.get(&first).cloned() {
                compiled.insert(ri, c);
            }
        }
    }
    // The references of each (binding, subject) to its role's entries are written in parallel.
    let mut grants: Vec<(
        crate::index::SubjectKey,
        usize,
        usize,
        std::sync::Arc<CompiledRole>,
    )> = Vec::new();
    for (bi, b) in bindings.iter().enumerate() {
        let scope = match b.kind {
            BindingKind::ClusterRoleBinding => CLUSTER,
            BindingKind::RoleBinding => index.interner.intern(&b.namespace) + 1,
        };
        for (si, s) in b.subjects.iter().enumerate() {
            let key = match s.kind {
                SubjectKind::User => (scope, USER, index.interner.intern(&s.name)),
                SubjectKind::Group => (scope, GROUP, index.interner.intern(&s.name)),
                SubjectKind::ServiceAccount => match s.service_account_username(&b.namespace) {
                    Some(u) => (scope, USER, index.interner.intern(&u)),
                    None => continue,
                },
            };
            match binding_role[bi] {
                Ok(ri) => {
                    if let Some(c) = compiled.get(&ri) {
                        index.note_subject(key, c);
                        grants.push((key, bi, si, c.clone()));
                    }
                }
                Err(_) => index.bind_missing(key, bi),
            }
        }
    }
    index.bind_all(&grants);
    drop(grants);
    index.finish();
    Built { index, compiled }
}
