//! ClusterRole aggregation, as the clusterrole-aggregation controller leaves roles at rest.
//!
//! An aggregated ClusterRole's rules become exactly the union of the rules of every ClusterRole
//! that matches any of its selectors (selectors in order, matching roles by name, duplicates
//! dropped, never itself). Aggregated roles feed other aggregators (Kubernetes' view → edit →
//! admin chain), so roles are settled in dependency order; cycles are iterated to a fixpoint.
//! Rules are interned once, so unions of thousands of rules compare integers, not strings.

use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

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

/// Rules by value → id, so unions work on ids.
#[derive(Default)]
struct RuleTable {
    ids: FxHashMap<Arc<PolicyRule>, u32>,
    rules: Vec<Arc<PolicyRule>>,
}

impl RuleTable {
    fn id(&mut self, r: &Arc<PolicyRule>) -> u32 {
        if let Some(&i) = self.ids.get(r) {
            return i;
        }
        let i = self.rules.len() as u32;
        self.ids.insert(r.clone(), i);
        self.rules.push(r.clone());
        i
    }
}

/// Replaces the rules of every aggregated ClusterRole in `roles` by the union of the rules of the
/// ClusterRoles its selectors match. Returns warnings (aggregation cycles).
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
    // Every (label key, value) → the positions in `cluster` of the roles that carry it, so a
    // selector with `matchLabels` is checked only against roles carrying one of its pairs.
    let mut by_label: FxHashMap<(&str, &str), Vec<usize>> = FxHashMap::default();
    for (p, &c) in cluster.iter().enumerate() {
        for (k, v) in &roles[c].labels {
            by_label.entry((k, v)).or_default().push(p);
        }
    }
    // For each aggregator, the roles it draws from, in the controller's order.
    let sources: Vec<Vec<usize>> = aggregators
        .par_iter()
        .map(|&a| {
            let mut out = Vec::new();
            for sel in roles[a].aggregation.as_deref().unwrap_or_default() {
                let candidates = sel
                    .match_labels
                    .iter()
                    .map(|(k, v)| {
                        by_label
                            .get(&(k.as_str(), v.as_str()))
                            .map_or(&[][..], Vec::as_slice)
                    })
                    .min_by_key(|c| c.len());
                let mut consider = |c: usize| {
                    if c != a && sel.matches(&roles[c].labels) {
                        out.push(c);
                    }
                };
                match candidates {
                    Some(ps) => ps.iter().for_each(|&p| consider(cluster[p])),
                    None => cluster.iter().for_each(|&c| consider(c)),
                }
            }
            out
        })
        .collect();
    drop(by_label);
    // Rules by value, for the roles that take part: the aggregators and their sources.
    let mut table = RuleTable::default();
    let mut ids: Vec<Vec<u32>> = vec![Vec::new(); roles.len()];
    let mut involved = vec![false; roles.len()];
    for (&a, s) in aggregators.iter().zip(&sources) {
        involved[a] = true;
        for &c in s {
            involved[c] = true;
        }
    }
    for &c in &cluster {
        if involved[c] {
            ids[c] = roles[c].rules.iter().map(|r| table.id(r)).collect();
        }
    }

    let n_rules = table.rules.len();
    let mut pos = vec![usize::MAX; roles.len()];
    for (k, &a) in aggregators.iter().enumerate() {
        pos[a] = k;
    }
    let edges: Vec<Vec<usize>> = sources
        .iter()
        .map(|s| {
            let mut d: Vec<usize> = s
                .iter()
                .filter_map(|&r| (pos[r] != usize::MAX).then_some(pos[r]))
                .collect();
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect();
    let mut warnings = Vec::new();
    // Components come dependencies first, so every source is settled before it is read.
    for comp in strongly_connected(&edges) {
        if comp.len() == 1 {
            let k = comp[0];
            ids[aggregators[k]] = union(&ids, &sources[k], n_rules);
            continue;
        }
        // A cycle: the controller's result would depend on timing. Take the least fixpoint:
        // every member gets the union of what the cycle draws from outside itself (members in
        // name order, each member's selectors in order).
        let members: Vec<usize> = comp.iter().map(|&k| aggregators[k]).collect();
        let mut sorted = comp.clone();
        sorted.sort_by(|&a, &b| roles[aggregators[a]].name.cmp(&roles[aggregators[b]].name));
        let outside: Vec<usize> = sorted
            .iter()
            .flat_map(|&k| sources[k].iter().copied())
            .filter(|r| !members.contains(r))
            .collect();
        let shared = union(&ids, &outside, n_rules);
        for &m in &members {
            ids[m] = shared.clone();
        }
        let names: Vec<&str> = sorted
            .iter()
            .map(|&k| roles[aggregators[k]].name.as_str())
            .collect();
        let shown = if names.len() > 4 {
            format!("{}, … and {} more", names[..4].join(", "), names.len() - 4)
        } else {
            names.join(", ")
        };
        warnings.push(AggregationWarning {
            role: names[0].to_string(),
            message: format!(
                "aggregation cycle of {} ClusterRoles ({shown}); each is evaluated as the union of the roles the cycle selects outside itself (the controller's result would depend on timing)",
                names.len()
            ),
        });
    }
    for &a in &aggregators {
        roles[a].rules = ids[a]
            .iter()
            .map(|&i| table.rules[i as usize].clone())
            .collect();
    }
    warnings
}

/// The union of the sources' rule ids, first occurrence first (a bitset: ids are dense).
fn union(ids: &[Vec<u32>], sources: &[usize], n_rules: usize) -> Vec<u32> {
    let mut seen = vec![0u64; n_rules.div_ceil(64)];
    let mut out = Vec::new();
    for &s in sources {
        for &r in &ids[s] {
            let (w, b) = ((r / 64) as usize, r % 64);
            if seen[w] & (1 << b) == 0 {
                seen[w] |= 1 << b;
                out.push(r);
            }
        }
    }
    out
}

/// Strongly connected components of a graph (edges: node → nodes it depends on), each
/// emitted after every component it depends on (Tarjan's algorithm, iterative so a long chain
/// cannot exhaust the stack).
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut out = Vec::new();
    let mut next = 0usize;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // (node, next edge to look at)
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut i)) = work.last_mut() {
            if let Some(&w) = edges[v].get(*i) {
                *i += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                out.push(comp);
            }
        }
    }
    out
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
        let mut r = labelled(
            name,
            labels,
            vec![PolicyRule::resource(&["x"], &[""], &["own"])],
        );
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
            let rules: Vec<&PolicyRule> = r.rules.iter().map(|r| r.as_ref()).collect();
            assert_eq!(rules, vec![&get_pods], "{}", r.name);
        }
    }

    #[test]
    fn cycle_gets_the_union_of_what_it_selects_outside_itself() {
        let get_pods = PolicyRule::resource(&["get"], &[""], &["pods"]);
        let mut roles = vec![
            aggregator("a", &[("t", "b")], &[("t", "a")]),
            aggregator("b", &[("t", "a")], &[("t", "b")]),
            labelled("ext", &[("t", "a")], vec![get_pods.clone()]),
        ];
        let w = aggregate(&mut roles);
        assert_eq!(w.len(), 1, "one warning per cycle");
        assert!(w[0].message.contains("a, b"), "{}", w[0].message);
        for r in &roles[..2] {
            let rules: Vec<&PolicyRule> = r.rules.iter().map(|r| r.as_ref()).collect();
            // Their own listed rules ("own") are gone; only what the cycle selects outside stays.
            assert_eq!(rules, vec![&get_pods], "{}", r.name);
        }
    }
}
