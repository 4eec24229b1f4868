//! The decision index: for every (scope, subject) the rules it holds, keyed by resource, so a
//! decision looks up only what can apply instead of walking every binding.
//!
//! Scope is the cluster (ClusterRoleBindings) or one namespace (RoleBindings). A subject is a user
//! name or a group name; ServiceAccount subjects are indexed under the user name they stand for.

use rustc_hash::FxHashMap;

use crate::decision::Grant;
use crate::intern::{Interner, Sym, ANY, NONE};
use crate::rule::{PolicyRule, WILDCARD};

/// Cluster scope (ClusterRoleBindings); namespaces are `sym + 1`.
pub(crate) const CLUSTER: Sym = 0;

/// User or group key kind.
pub(crate) const USER: u8 = 0;
pub(crate) const GROUP: u8 = 1;

/// (scope, kind, name).
pub(crate) type SubjectKey = (Sym, u8, Sym);

#[derive(Debug, Clone)]
pub(crate) struct VerbSet {
    any: bool,
    verbs: Box<[Sym]>,
}

impl VerbSet {
    fn new(interner: &mut Interner, verbs: &[String]) -> Self {
        VerbSet {
            any: verbs.iter().any(|v| v == WILDCARD),
            verbs: verbs.iter().map(|v| interner.intern(v)).collect(),
        }
    }

    #[inline]
    fn matches(&self, verb: Option<Sym>) -> bool {
        self.any || verb.is_some_and(|v| self.verbs.contains(&v))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ResEntry {
    group: Sym,
    verbs: VerbSet,
    names: Option<Box<[Sym]>>,
    grant: Grant,
}

#[derive(Debug, Clone)]
pub(crate) struct UrlEntry {
    /// Exact URL, or the prefix before a trailing `*`.
    url: Box<str>,
    prefix: bool,
    verbs: VerbSet,
    grant: Grant,
}

/// One subject's rules in one scope.
#[derive(Debug, Default)]
pub(crate) struct SubjectIndex {
    by_resource: FxHashMap<u64, Vec<ResEntry>>,
    star_sub: FxHashMap<Sym, Vec<ResEntry>>,
    any_resource: Vec<ResEntry>,
    urls: Vec<UrlEntry>,
    /// Bindings applying to this subject whose role is missing.
    pub(crate) missing: Vec<usize>,
}

/// A request with its strings looked up.
pub(crate) struct CompiledRequest {
    pub(crate) verb: Option<Sym>,
    pub(crate) kind: CompiledKind,
}

pub(crate) enum CompiledKind {
    Resource {
        group: Option<Sym>,
        /// (resource, subresource) key of the combined resource; `None` when a part is unknown.
        key: Option<u64>,
        /// The requested subresource field, for `*/sub` rules.
        sub: Option<Sym>,
        name: Option<Sym>,
        has_name: bool,
    },
    NonResource {
        path: Box<str>,
    },
}

#[inline]
pub(crate) fn res_key(resource: Sym, sub: Sym) -> u64 {
    ((resource as u64) << 32) | sub as u64
}

impl SubjectIndex {
    pub(crate) fn add_rule(&mut self, interner: &mut Interner, rule: &PolicyRule, grant: Grant) {
        if !rule.resources.is_empty() {
            let verbs = VerbSet::new(interner, &rule.verbs);
            let names: Option<Box<[Sym]>> = if rule.resource_names.is_empty() {
                None
            } else {
                Some(
                    rule.resource_names
                        .iter()
                        .map(|n| interner.intern(n))
                        .collect(),
                )
            };
            let groups: Vec<Sym> = if rule.api_groups.iter().any(|g| g == WILDCARD) {
                vec![ANY]
            } else {
                rule.api_groups.iter().map(|g| interner.intern(g)).collect()
            };
            for &group in &groups {
                for res in &rule.resources {
                    let entry = ResEntry {
                        group,
                        verbs: verbs.clone(),
                        names: names.clone(),
                        grant,
                    };
                    if res == WILDCARD {
                        self.any_resource.push(entry);
                    } else if let Some(sub) = res.strip_prefix("*/") {
                        if !sub.is_empty() {
                            let s = interner.intern(sub);
                            self.star_sub.entry(s).or_default().push(entry);
                        }
                    } else {
                        let (r, s) = match res.split_once('/') {
                            Some((r, s)) => (interner.intern(r), interner.intern(s)),
                            None => (interner.intern(res), NONE),
                        };
                        self.by_resource
                            .entry(res_key(r, s))
                            .or_default()
                            .push(entry);
                    }
                }
            }
        }
        if !rule.non_resource_urls.is_empty() {
            let verbs = VerbSet::new(interner, &rule.verbs);
            for u in &rule.non_resource_urls {
                let (url, prefix) = if u.ends_with('*') {
                    (u.trim_end_matches('*'), true)
                } else {
                    (u.as_str(), false)
                };
                self.urls.push(UrlEntry {
                    url: url.into(),
                    prefix,
                    verbs: verbs.clone(),
                    grant,
                });
            }
        }
    }

    /// The smallest grant among this subject's rules that allows the request.
    #[inline]
    pub(crate) fn first_grant(&self, req: &CompiledRequest) -> Option<Grant> {
        match &req.kind {
            CompiledKind::Resource {
                group,
                key,
                sub,
                name,
                has_name,
            } => {
                let check = |list: &[ResEntry]| -> Option<Grant> {
                    list.iter()
                        .find(|e| {
                            (e.group == ANY || Some(e.group) == *group)
                                && e.verbs.matches(req.verb)
                                && match &e.names {
                                    None => true,
                                    Some(ns) => *has_name && name.is_some_and(|n| ns.contains(&n)),
                                }
                        })
                        .map(|e| e.grant)
                };
                let mut best: Option<Grant> = None;
                let mut consider = |g: Option<Grant>| {
                    if let Some(g) = g {
                        if best.is_none_or(|b| g < b) {
                            best = Some(g);
                        }
                    }
                };
                if let Some(k) = key {
                    if let Some(list) = self.by_resource.get(k) {
                        consider(check(list));
                    }
                }
                if let Some(s) = sub {
                    if !self.star_sub.is_empty() {
                        if let Some(list) = self.star_sub.get(s) {
                            consider(check(list));
                        }
                    }
                }
                if !self.any_resource.is_empty() {
                    consider(check(&self.any_resource));
                }
                best
            }
            CompiledKind::NonResource { path } => self
                .urls
                .iter()
                .find(|u| {
                    u.verbs.matches(req.verb)
                        && if u.prefix {
                            path.starts_with(&*u.url)
                        } else {
                            *u.url == **path
                        }
                })
                .map(|u| u.grant),
        }
    }
}
