//! ClusterRole aggregation, as the clusterrole-aggregation controller leaves roles at rest.
//!
//! An aggregated ClusterRole's rules become exactly the union of the rules of every ClusterRole
//! that matches any of its selectors (selectors in order, matching roles by name, duplicates
//! dropped, never itself). Aggregated roles feed other aggregators (Kubernetes' view → edit →
//! admin chain), so roles are settled in dependency order; cycles are iterated to a fixpoint.

use std::collections::HashSet;

use crate::role::{Role, RoleKind};
use crate::rule::PolicyRule;

/// Something about aggregation a user should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregationWarning {
    /// The aggregated ClusterRole.
    pub role: String,
    /// What happened.
    pub message: String,
}

/// Replaces the rules of every aggregated ClusterRole in `roles` by the union of the rules of the
/// ClusterRoles its selectors match. Returns warnings (aggregation cycles that do not settle).
pub fn aggregate(roles: &mut [Role]) -> Vec<AggregationWarning> {
    let mut cluster: Vec<usize> = (0..roles.len())
        .filter(|&i| roles[i].kind == RoleKind::ClusterRole)
        .collect();
    cluster.sort_by(|&a, &b| roles[a].name.cmp(&roles[b].name));
    let aggregators: Vec<usize> = cluster
        .iter()
        .copied()
        .filter(|&i| roles[i].aggregation.is_some())
        .collect();
    if aggregators.is_empty() {
        return Vec::new();
    }
    // For each aggregator, the roles it draws from, in the controller's order.
    let sources: Vec<Vec<usize>> = aggregators
        .iter()
        .map(|&a| {
            let mut out = Vec::new();
            for sel in roles[a].aggregation.as_deref().unwrap_or_default() {
                for &c in &cluster {
                    if c != a && sel.matches(&roles[c].labels) {
                        out.push(c);
                    }
                }
            }
            out
        })
        .collect();

    let order = dependency_order(&aggregators, &sources, roles.len());
    let cyclic = order.len() < aggregators.len();
    let mut warnings = Vec::new();
    if !cyclic {
        for &k in &order {
            let rules = union(roles, &sources[k]);
            roles[aggregators[k]].rules = rules;
        }
        return warnings;
    }
    // Cycles: settle what is acyclic first, then iterate the rest until nothing changes.
    for &k in &order {
        let rules = union(roles, &sources[k]);
        roles[aggregators[k]].rules = rules;
    }
    let settled: HashSet<usize> = order.iter().copied().collect();
    let rest: Vec<usize> = (0..aggregators.len())
        .filter(|k| !settled.contains(k))
        .collect();
    let mut stable = false;
    for _ in 0..=rest.len() + 1 {
        let mut changed = false;
        for &k in &rest {
            let rules = union(roles, &sources[k]);
            if roles[aggregators[k]].rules != rules {
                roles[aggregators[k]].rules = rules;
                changed = true;
            }
        }
        // Roles downstream of the cycle were settled before it: redo them too.
        for &k in &order {
            let rules = union(roles, &sources[k]);
            if roles[aggregators[k]].rules != rules {
                roles[aggregators[k]].rules = rules;
                changed = true;
            }
        }
        if !changed {
            stable = true;
            break;
        }
    }
    for &k in &rest {
        warnings.push(AggregationWarning {
            role: roles[aggregators[k]].name.clone(),
            message: if stable {
                "takes part in an aggregation cycle (settled)".to_string()
            } else {
                "takes part in an aggregation cycle that does not settle".to_string()
            },
        });
    }
    warnings
}

fn union(roles: &[Role], sources: &[usize]) -> Vec<PolicyRule> {
    let mut seen: HashSet<&PolicyRule> = HashSet::new();
    let mut out = Vec::new();
    for &s in sources {
        for r in &roles[s].rules {
            if seen.insert(r) {
                out.push(r.clone());
            }
        }
    }
    out
}

/// Aggregator positions (into `aggregators`) in an order where every aggregator comes after the
/// aggregators it draws from; those on or behind a cycle are left out.
fn dependency_order(aggregators: &[usize], sources: &[Vec<usize>], n: usize) -> Vec<usize> {
    let mut pos = vec![usize::MAX; n];
    for (k, &a) in aggregators.iter().enumerate() {
        pos[a] = k;
    }
    let deps: Vec<Vec<usize>> = sources
        .iter()
        .map(|s| {
            s.iter()
                .filter_map(|&r| (pos[r] != usize::MAX).then_some(pos[r]))
                .collect()
        })
        .collect();
    let mut indegree: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); aggregators.len()];
    for (k, d) in deps.iter().enumerate() {
        for &j in d {
            dependents[j].push(k);
        }
    }
    let mut ready: Vec<usize> = (0..aggregators.len())
        .filter(|&k| indegree[k] == 0)
        .collect();
    ready.reverse();
    let mut order = Vec::with_capacity(aggregators.len());
    while let Some(k) = ready.pop() {
        order.push(k);
        for &d in &dependents[k] {
            indegree[d] -= 1;
            if indegree[d] == 0 {
                ready.push(d);
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selector::LabelSelector;

    fn labelled(name: &str, labels: &[(&str, &str)], rules: Vec<PolicyRule>) -> Role {
        let mut r = Role::cluster(name, rules);
        r.labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        r
    }

    fn aggregator(name: &str, labels: &[(&str, &str)], select: &[(&str, &str)]) -> Role {
        let mut r = labelled(name, labels, vec![PolicyRule::resource(&["x"], &[""], &["own"])]);
        r.aggregation = Some(vec![LabelSelector {
            match_labels: select
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            match_expressions: vec![],
        }]);
        r
    }

    #[test]
    fn chain_view_edit_admin() {
        let mut roles = vec![
            aggregator("admin", &[], &[("to-admin", "true")]),
            aggregator("edit", &[("to-admin", "true")], &[("to-edit", "true")]),
            aggregator("view", &[("to-edit", "true")], &[("to-view", "true")]),
            labelled(
                "pods-view",
                &[("to-view", "true")],
                vec![PolicyRule::resource(&["get"], &[""], &["pods"])],
            ),
            labelled(
                "off",
                &[("to-view", "false")],
                vec![PolicyRule::resource(&["get"], &[""], &["secrets"])],
            ),
        ];
        assert!(aggregate(&mut roles).is_empty());
        let get_pods = PolicyRule::resource(&["get"], &[""], &["pods"]);
        for r in &roles[..3] {
            assert_eq!(r.rules, vec![get_pods.clone()], "{}", r.name);
        }
    }

    #[test]
    fn cycle_settles_with_warning() {
        let mut roles = vec![
            aggregator("a", &[("t", "b")], &[("t", "a")]),
            aggregator("b", &[("t", "a")], &[("t", "b")]),
        ];
        let w = aggregate(&mut roles);
        assert_eq!(w.len(), 2);
    }
}
