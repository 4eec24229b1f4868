//! `virtguard can-i --list`: what a user may do in a namespace, printed exactly as
//! `kubectl auth can-i --list` prints a SelfSubjectRulesReview (rules broken down to one verb,
//! resource and name each, simple ones compacted, sorted by their Go string form).

use anyhow::Result;
use serde_json::json;
use virtguard_rbac::{Policy, PolicyRule, User};

use crate::args::{CanIArgs, Global, Output};
use crate::render::print_structured;

pub fn run(g: &Global, a: &CanIArgs, policy: &Policy, user: &User) -> Result<u8> {
    let namespace = if a.request.all_namespaces {
        String::new()
    } else {
        a.request
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string())
    };
    let rules = policy.rules_for(user, &namespace);
    if g.quiet {
        return Ok(0);
    }
    let incomplete = !rules.errors.is_empty();
    if incomplete {
        eprintln!(
            "warning: the list may be incomplete: {}",
            rules.errors.join(", ")
        );
    }
    let all: Vec<&PolicyRule> = rules.rules.iter().map(|s| s.rule).collect();
    match g.output {
        Some(o @ (Output::Json | Output::Yaml)) => {
            let resource_rules: Vec<_> = all
                .iter()
                .filter(|r| !r.resources.is_empty())
                .map(|r| {
                    json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources, "resourceNames": r.resource_names})
                })
                .collect();
            let non_resource_rules: Vec<_> = all
                .iter()
                .filter(|r| !r.non_resource_urls.is_empty())
                .map(|r| json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}))
                .collect();
            let v = json!({
                "user": {"name": user.name, "groups": user.groups},
                "namespace": namespace,
                "resourceRules": resource_rules,
                "nonResourceRules": non_resource_rules,
                "incomplete": incomplete,
                "evaluationError": rules.errors.join(", "),
            });
            print_structured(&v, o == Output::Yaml)?;
        }
        _ => {
            let mut rows = Vec::new();
            if !a.no_headers {
                rows.push(
                    ["Resources", "Non-Resource URLs", "Resource Names", "Verbs"]
                        .map(String::from)
                        .to_vec(),
                );
            }
            for r in compact(&all) {
                rows.push(vec![
                    combine_resource_group(&r),
                    go_list(&r.non_resource_urls),
                    go_list(&r.resource_names),
                    go_list(&r.verbs),
                ]);
            }
            print!("{}", tab_table(&rows));
        }
    }
    Ok(0)
}

/// The rules as a SelfSubjectRulesReview reports them, broken down and compacted as kubectl does.
pub fn compact(rules: &[&PolicyRule]) -> Vec<PolicyRule> {
    // SelfSubjectRulesReview: resource rules (those with resources) and non-resource rules.
    let mut review: Vec<PolicyRule> = Vec::new();
    for r in rules {
        if !r.resources.is_empty() {
            review.push(PolicyRule {
                non_resource_urls: vec![],
                ..(*r).clone()
            });
        }
    }
    for r in rules {
        if !r.non_resource_urls.is_empty() {
            review.push(PolicyRule::non_resource(
                &r.verbs.iter().map(String::as_str).collect::<Vec<_>>(),
                &r.non_resource_urls
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            ));
        }
    }
    let mut broken: Vec<PolicyRule> = Vec::new();
    for r in &review {
        for g in &r.api_groups {
            for res in &r.resources {
                for v in &r.verbs {
                    if r.resource_names.is_empty() {
                        broken.push(PolicyRule::resource(&[v], &[g], &[res]));
                    } else {
                        for n in &r.resource_names {
                            broken.push(PolicyRule::resource(&[v], &[g], &[res]).with_names(&[n]));
                        }
                    }
                }
            }
        }
        for u in &r.non_resource_urls {
            for v in &r.verbs {
                broken.push(PolicyRule::non_resource(&[v], &[u]));
            }
        }
    }
    // CompactRules: simple rules (one group, one resource, at most one name) merge their verbs.
    let mut compacted: Vec<PolicyRule> = Vec::new();
    let mut simple: Vec<PolicyRule> = Vec::new();
    for r in broken {
        let is_simple = r.non_resource_urls.is_empty()
            && r.resource_names.len() <= 1
            && r.api_groups.len() == 1
            && r.resources.len() == 1;
        if !is_simple {
            compacted.push(r);
            continue;
        }
        match simple.iter_mut().find(|s| {
            s.api_groups == r.api_groups
                && s.resources == r.resources
                && s.resource_names == r.resource_names
        }) {
            // kubectl's CompactRules adds only the verbs the rule does not list yet.
            Some(s) => {
                for v in r.verbs {
                    if !s.verbs.contains(&v) {
                        s.verbs.push(v);
                    }
                }
            }
            None => simple.push(r),
        }
    }
    compacted.extend(simple);
    compacted.sort_by_cached_key(go_string);
    compacted
}

/// The table as kubectl's tab writer prints it (`printers.GetNewTabWriter`: cells padded by 3,
/// columns at least 10 wide; the last cell unpadded).
fn tab_table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max((c.chars().count() + 3).max(10));
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < r.len() {
                out.push_str(&" ".repeat(widths[i] - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// Go's `%v` of a string slice: `[a b]`.
fn go_list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// The generated `PolicyRule.String()` kubectl sorts by.
fn go_string(r: &PolicyRule) -> String {
    format!(
        "&PolicyRule{{Verbs:{},APIGroups:{},Resources:{},ResourceNames:{},NonResourceURLs:{},}}",
        go_list(&r.verbs),
        go_list(&r.api_groups),
        go_list(&r.resources),
        go_list(&r.resource_names),
        go_list(&r.non_resource_urls)
    )
}

/// kubectl's `CombineResourceGroup`: `resource.group/subresource`.
fn combine_resource_group(r: &PolicyRule) -> String {
    let Some(first) = r.resources.first() else {
        return String::new();
    };
    let (res, sub) = match first.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (first.as_str(), None),
    };
    let mut s = res.to_string();
    if let Some(g) = r.api_groups.first() {
        if !g.is_empty() {
            s.push('.');
            s.push_str(g);
        }
    }
    if let Some(sub) = sub {
        s.push('/');
        s.push_str(sub);
    }
    s
}
