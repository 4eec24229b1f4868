//! Access as sets of permissions, and what changes between two policies.
//!
//! A permission is one (verb, group, resource[/subresource], names) or (verb, URL) taken from a
//! rule, as written (wildcards stay wildcards). The access of a subject in a scope (a namespace,
//! or the cluster) is the union of the permissions of every role bound to it there; a diff
//! compares those sets between two policies, for upgrade and strategy impact.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::binding::BindingKind;
use crate::policy::Policy;
use crate::role::Role;
use crate::subject::SubjectKind;

/// One permission a rule grants.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Permission {
    /// The verb (`*` for every verb).
    pub verb: String,
    /// API group (empty for core; `*` for every group); empty for a URL.
    pub group: String,
    /// `resource` or `resource/subresource` (wildcards as written); empty for a URL.
    pub resource: String,
    /// Object names the permission is limited to (empty: every name).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// A non-resource URL (empty for resources).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
}

impl fmt::Display for Permission {
    /// `create virtualmachineinstancemigrations.kubevirt.io`,
    /// `update virtualmachines.subresources.kubevirt.io/migrate`, `get /healthz`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.url.is_empty() {
            return write!(f, "{} {}", self.verb, self.url);
        }
        let (res, sub) = match self.resource.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (self.resource.as_str(), None),
        };
        write!(f, "{} {res}", self.verb)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        if let Some(s) = sub {
            write!(f, "/{s}")?;
        }
        if !self.names.is_empty() {
            write!(f, " (names: {})", self.names.join(", "))?;
        }
        Ok(())
    }
}

/// Every permission of a role's rules.
pub fn role_permissions(role: &Role) -> BTreeSet<Permission> {
    let mut out = BTreeSet::new();
    for rule in &role.rules {
        for verb in &rule.verbs {
            for group in &rule.api_groups {
                for resource in &rule.resources {
                    out.insert(Permission {
                        verb: verb.clone(),
                        group: group.clone(),
                        resource: resource.clone(),
                        names: rule.resource_names.clone(),
                        url: String::new(),
                    });
                }
            }
            for url in &rule.non_resource_urls {
                out.insert(Permission {
                    verb: verb.clone(),
                    group: String::new(),
                    resource: String::new(),
                    names: Vec::new(),
                    url: url.clone(),
                });
            }
        }
    }
    out
}

/// What one subject gains and loses in one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The subject (a ServiceAccount's namespace filled in), or a role for role-level diffs.
    pub subject: ChangeSubject,
    /// The namespace of the access; empty for cluster-wide.
    pub namespace: String,
    /// Permissions only the second policy grants.
    pub gained: Vec<Permission>,
    /// Permissions only the first policy grants.
    pub lost: Vec<Permission>,
}

/// Whose access changes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ChangeSubject {
    /// `User`, `Group`, `ServiceAccount` or `ClusterRole`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// A ServiceAccount's namespace.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// A subject in a scope, borrowed from a policy: (kind, name, ServiceAccount namespace, scope).
type BoundKey<'p> = (SubjectKind, &'p str, &'p str, &'p str);

/// For every (subject, scope), the indices of the roles bound to it there, sorted.
fn bound_roles(policy: &Policy) -> FxHashMap<BoundKey<'_>, Vec<usize>> {
    let mut out: FxHashMap<BoundKey<'_>, Vec<usize>> = FxHashMap::default();
    for (bi, b) in policy.bindings().iter().enumerate() {
        let Some(ri) = policy.binding_role_index(bi) else {
            continue;
        };
        let scope = match b.kind {
            BindingKind::ClusterRoleBinding => "",
            BindingKind::RoleBinding => b.namespace.as_str(),
        };
        for s in &b.subjects {
            let key = match s.kind {
                SubjectKind::ServiceAccount => {
                    let ns = if s.namespace.is_empty() {
                        &b.namespace
                    } else {
                        &s.namespace
                    };
                    if ns.is_empty() {
                        continue;
                    }
                    (s.kind, s.name.as_str(), ns.as_str(), scope)
                }
                _ => (s.kind, s.name.as_str(), "", scope),
            };
            out.entry(key).or_default().push(ri);
        }
    }
    for v in out.values_mut() {
        v.sort_unstable();
        v.dedup();
    }
    out
}

/// Each role's permissions, computed once — and once for all roles sharing the very same rules
/// (aggregated roles in a cycle all hold the same shared rule list).
struct Cache<'p> {
    policy: &'p Policy,
    roles: HashMap<usize, Rc<BTreeSet<Permission>>>,
    by_rules: HashMap<Vec<usize>, Rc<BTreeSet<Permission>>>,
}

impl<'p> Cache<'p> {
    fn new(policy: &'p Policy) -> Self {
        Cache {
            policy,
            roles: HashMap::new(),
            by_rules: HashMap::new(),
        }
    }

    fn of(&mut self, r: usize) -> Rc<BTreeSet<Permission>> {
        if let Some(p) = self.roles.get(&r) {
            return p.clone();
        }
        let role = &self.policy.roles()[r];
        let key: Vec<usize> = role.rules.iter().map(|x| Arc::as_ptr(x) as usize).collect();
        let set = self
            .by_rules
            .entry(key)
            .or_insert_with(|| Rc::new(role_permissions(role)))
            .clone();
        self.roles.insert(r, set.clone());
        set
    }
}

/// The inverse of a partial one-to-one map from `0..n_from` into `0..n`.
fn inverse(map: &[Option<usize>], n: usize) -> Vec<Option<usize>> {
    let mut out = vec![None; n];
    for (i, o) in map.iter().enumerate() {
        if let Some(o) = o {
            out[*o] = Some(i);
        }
    }
    out
}

/// The same role (kind, namespace, name) on the other side, whatever its rules. A role that is
/// on both sides with the same rules (a "counterpart") can neither gain nor lose anything.
fn namesakes(from: &Policy, to: &Policy) -> Vec<Option<usize>> {
    let ident = |r: &Role| (r.kind, r.namespace.clone(), r.name.clone());
    let by_ident: HashMap<_, usize> = to
        .roles()
        .iter()
        .enumerate()
        .map(|(i, r)| (ident(r), i))
        .collect();
    from.roles()
        .iter()
        .map(|r| by_ident.get(&ident(r)).copied())
        .collect()
}

/// Permissions of the `changed` roles of one side that no role of the other side grants. A
/// changed role whose namesake is among the other side's roles only contributes what the
/// namesake lacks (a small set even for large aggregated roles).
fn only_in(
    changed: &[usize],
    mine: &mut Cache<'_>,
    namesake: &[Option<usize>],
    others: &[usize],
    theirs: &mut Cache<'_>,
) -> Vec<Permission> {
    let mut candidates: BTreeSet<Permission> = BTreeSet::new();
    for &r in changed {
        let set = mine.of(r);
        match namesake[r].filter(|o| others.binary_search(o).is_ok()) {
            Some(o) => {
                let other = theirs.of(o);
                candidates.extend(set.difference(&other).cloned());
            }
            None => candidates.extend(set.iter().cloned()),
        }
    }
    for &o in others {
        if candidates.is_empty() {
            break;
        }
        let set = theirs.of(o);
        candidates.retain(|p| !set.contains(p));
    }
    candidates.into_iter().collect()
}

/// Who gains and who loses what between two policies, per subject and scope (subjects of the
/// bindings; groups are not expanded). Sorted by subject, then scope. Only roles that differ
/// between the policies are expanded, so unchanged large roles cost nothing.
pub fn diff_subjects(from: &Policy, to: &Policy) -> Vec<Change> {
    let (a, b) = (bound_roles(from), bound_roles(to));
    let name_ab = namesakes(from, to);
    let name_ba = inverse(&name_ab, to.roles().len());
    let same_ab: Vec<Option<usize>> = name_ab
        .iter()
        .enumerate()
        .map(|(r, o)| o.filter(|&o| from.roles()[r].rules == to.roles()[o].rules))
        .collect();
    let same_ba = inverse(&same_ab, to.roles().len());
    let mut ca = Cache::new(from);
    let mut cb = Cache::new(to);
    let empty = Vec::new();
    let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
    // Many subjects hold the same roles (every namespace admin holds `admin`): answer each
    // combination of roles once.
    type Combo = (Vec<usize>, Vec<usize>);
    let mut lost_memo: HashMap<Combo, Vec<Permission>> = HashMap::new();
    let mut gained_memo: HashMap<Combo, Vec<Permission>> = HashMap::new();
    let mut out = Vec::new();
    for key in keys {
        let ra = a.get(key).unwrap_or(&empty);
        let rb = b.get(key).unwrap_or(&empty);
        let changed_a: Vec<usize> = ra
            .iter()
            .copied()
            .filter(|&r| same_ab[r].is_none_or(|o| rb.binary_search(&o).is_err()))
            .collect();
        let changed_b: Vec<usize> = rb
            .iter()
            .copied()
            .filter(|&r| same_ba[r].is_none_or(|o| ra.binary_search(&o).is_err()))
            .collect();
        if changed_a.is_empty() && changed_b.is_empty() {
            continue;
        }
        let lost = lost_memo
            .entry((changed_a.clone(), rb.clone()))
            .or_insert_with(|| only_in(&changed_a, &mut ca, &name_ab, rb, &mut cb))
            .clone();
        let gained = gained_memo
            .entry((changed_b.clone(), ra.clone()))
            .or_insert_with(|| only_in(&changed_b, &mut cb, &name_ba, ra, &mut ca))
            .clone();
        if lost.is_empty() && gained.is_empty() {
            continue;
        }
        let (kind, name, namespace, scope) = *key;
        out.push(Change {
            subject: ChangeSubject {
                kind: kind.as_str().to_string(),
                name: name.to_string(),
                namespace: namespace.to_string(),
            },
            namespace: scope.to_string(),
            gained,
            lost,
        });
    }
    out.sort_by(|x, y| (&x.subject, &x.namespace).cmp(&(&y.subject, &y.namespace)));
    out
}

/// What each ClusterRole selected by `select` gains and loses between two policies (after
/// aggregation). Roles present in only one policy count as empty in the other.
pub fn diff_roles(from: &Policy, to: &Policy, select: impl Fn(&str) -> bool) -> Vec<Change> {
    let cluster = |p: &Policy| -> BTreeMap<String, BTreeSet<Permission>> {
        p.roles()
            .iter()
            .filter(|r| r.namespace.is_empty() && select(&r.name))
            .map(|r| (r.name.clone(), role_permissions(r)))
            .collect()
    };
    let a = cluster(from);
    let b = cluster(to);
    let empty = BTreeSet::new();
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    names
        .into_iter()
        .filter_map(|n| {
            let pa = a.get(n).unwrap_or(&empty);
            let pb = b.get(n).unwrap_or(&empty);
            (pa != pb).then(|| Change {
                subject: ChangeSubject {
                    kind: "ClusterRole".to_string(),
                    name: n.clone(),
                    namespace: String::new(),
                },
                namespace: String::new(),
                gained: pb.difference(pa).cloned().collect(),
                lost: pa.difference(pb).cloned().collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::Binding;
    use crate::role::RoleKind;
    use crate::rule::PolicyRule;
    use crate::subject::Subject;

    fn policy(admin_verbs: &[&str], extra_role: bool) -> Policy {
        let mut roles = vec![
            Role::cluster(
                "admin",
                vec![PolicyRule::resource(
                    admin_verbs,
                    &["kubevirt.io"],
                    &["vmim"],
                )],
            ),
            Role::cluster(
                "big",
                vec![PolicyRule::resource(&["get"], &[""], &["pods"])],
            ),
        ];
        if extra_role {
            roles.push(Role::cluster(
                "migrate",
                vec![PolicyRule::resource(
                    &["create"],
                    &["kubevirt.io"],
                    &["vmim"],
                )],
            ));
        }
        let sub = |n: &str| vec![Subject::new(SubjectKind::Group, n, "")];
        let bindings = vec![
            Binding::namespaced("a", "x", RoleKind::ClusterRole, "admin", sub("admins")),
            Binding::namespaced("b", "x", RoleKind::ClusterRole, "admin", sub("others")),
            Binding::namespaced("b", "y", RoleKind::ClusterRole, "big", sub("others")),
            Binding::namespaced("a", "z", RoleKind::ClusterRole, "migrate", sub("sre")),
            Binding::cluster("c", "big", sub("viewers")),
        ];
        Policy::new(roles, bindings)
    }

    #[test]
    fn lost_and_gained_are_mirror_images() {
        let before = policy(&["get", "create"], false);
        let after = policy(&["get"], true);
        let fwd = diff_subjects(&before, &after);
        let back = diff_subjects(&after, &before);
        let who: Vec<(&str, &str)> = fwd
            .iter()
            .map(|c| (c.subject.name.as_str(), c.namespace.as_str()))
            .collect();
        // Unchanged roles (big) produce nothing; both holders of admin lose create.
        assert_eq!(who, vec![("admins", "a"), ("others", "b"), ("sre", "a")]);
        assert_eq!(fwd[0].lost.len(), 1);
        assert_eq!(fwd[0].lost[0].to_string(), "create vmim.kubevirt.io");
        assert!(fwd[2].lost.is_empty() && fwd[2].gained.len() == 1);
        for (f, b) in fwd.iter().zip(&back) {
            assert_eq!(f.subject, b.subject);
            assert_eq!(f.gained, b.lost);
            assert_eq!(f.lost, b.gained);
        }
    }
}
