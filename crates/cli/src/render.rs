//! Rendering shared by the commands: references, rules and grants as JSON and as text, and
//! kubectl-style tables.

use serde_json::{json, Value};
use virtguard_rbac::{Binding, Grant, Policy, PolicyRule, Role, RoleKind};

/// `{"kind", "name", "namespace"?}`.
pub fn object_ref(kind: &str, name: &str, namespace: &str) -> Value {
    if namespace.is_empty() {
        json!({"kind": kind, "name": name})
    } else {
        json!({"kind": kind, "name": name, "namespace": namespace})
    }
}

/// A rule as Kubernetes writes it.
pub fn rule_json(rule: &PolicyRule) -> Value {
    serde_json::to_value(rule).unwrap_or(Value::Null)
}

/// `ClusterRoleBinding x` / `RoleBinding ns/x`.
pub fn binding_text(b: &Binding) -> String {
    if b.namespace.is_empty() {
        format!("{} {}", b.kind.as_str(), b.name)
    } else {
        format!("{} {}/{}", b.kind.as_str(), b.namespace, b.name)
    }
}

/// `ClusterRole x` / `Role ns/x`.
pub fn role_text(r: &Role) -> String {
    if r.namespace.is_empty() {
        format!("{} {}", r.kind.as_str(), r.name)
    } else {
        format!("{} {}/{}", r.kind.as_str(), r.namespace, r.name)
    }
}

/// For a rule of an aggregated ClusterRole, the chain of roles it was aggregated from
/// (`kubevirt.io:edit`, or `view ← kubevirt.io:view`).
pub fn aggregated_from(policy: &Policy, role: &Role, rule: &PolicyRule) -> Option<String> {
    fn walk(policy: &Policy, role: &Role, rule: &PolicyRule, depth: usize) -> Option<Vec<String>> {
        let selectors = role.aggregation.as_ref()?;
        if depth > 16 {
            return None;
        }
        let mut candidates: Vec<&Role> = policy
            .roles()
            .iter()
            .filter(|r| {
                r.kind == RoleKind::ClusterRole
                    && r.name != role.name
                    && selectors.iter().any(|s| s.matches(&r.labels))
                    && r.rules.iter().any(|x| x.as_ref() == rule)
            })
            .collect();
        candidates.sort_by(|a, b| a.name.cmp(&b.name));
        // Prefer a role that holds the rule itself over one that aggregated it.
        if let Some(leaf) = candidates.iter().find(|r| r.aggregation.is_none()) {
            return Some(vec![leaf.name.clone()]);
        }
        let first = candidates.first()?;
        let mut chain = vec![first.name.clone()];
        if let Some(rest) = walk(policy, first, rule, depth + 1) {
            chain.extend(rest);
        }
        Some(chain)
    }
    walk(policy, role, rule, 0).map(|c| c.join(" ← "))
}

/// A grant as JSON: binding, subject, role, rule and sources.
pub fn grant_json(policy: &Policy, g: &Grant) -> Value {
    let Some((b, role, rule)) = policy.grant_rule(g) else {
        return Value::Null;
    };
    let subject = b
        .subjects
        .get(g.subject)
        .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    let mut v = json!({
        "binding": object_ref(b.kind.as_str(), &b.name, &b.namespace),
        "subject": subject,
        "role": object_ref(role.kind.as_str(), &role.name, &role.namespace),
        "rule": rule_json(rule),
    });
    if let Some(o) = &b.origin {
        v["bindingSource"] = json!(o);
    }
    if let Some(o) = &role.origin {
        v["roleSource"] = json!(o);
    }
    if let Some(from) = aggregated_from(policy, role, rule) {
        v["aggregatedFrom"] = json!(from);
    }
    v
}

/// A grant as indented text lines.
pub fn grant_text(policy: &Policy, g: &Grant) -> String {
    let Some((b, role, rule)) = policy.grant_rule(g) else {
        return String::new();
    };
    let at = |o: &Option<String>| o.as_ref().map(|o| format!(" ({o})")).unwrap_or_default();
    let mut s = format!(
        "  {}{}\n    → {}{}\n    → rule {}: {}",
        binding_text(b),
        at(&b.origin),
        role_text(role),
        at(&role.origin),
        g.rule + 1,
        rule.describe()
    );
    if let Some(from) = aggregated_from(policy, role, rule) {
        s.push_str(&format!("\n      (aggregated from ClusterRole {from})"));
    }
    s
}

/// Writes rows as kubectl's tab writer does (padding 2, last column unpadded).
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                let pad = widths[i] + 2 - c.chars().count();
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Prints JSON or YAML.
pub fn print_structured(v: &Value, yaml: bool) -> anyhow::Result<()> {
    let v = virtguard_report::canonical(v.clone());
    if yaml {
        print!("{}", serde_yaml_ng::to_string(&v)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(())
}

/// A spinner on stderr while a live cluster is listed (only on a terminal, never with `-q`):
/// the kinds done and the one in progress, with their item counts.
pub struct ListProgress {
    bar: Option<indicatif::ProgressBar>,
    counts: std::sync::Mutex<Vec<(String, usize, bool)>>,
}

impl ListProgress {
    /// A spinner when stderr is a terminal and `quiet` is off; else nothing is drawn.
    pub fn new(quiet: bool) -> Self {
        use std::io::IsTerminal;
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let pb = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stderr_with_hz(8),
            );
            pb.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            pb.set_message("reading the cluster");
            pb.enable_steady_tick(std::time::Duration::from_millis(125));
            pb
        });
        ListProgress {
            bar,
            counts: std::sync::Mutex::default(),
        }
    }

    /// Clears the spinner.
    pub fn finish(&self) {
        if let Some(pb) = &self.bar {
            pb.finish_and_clear();
        }
    }
}

impl virtguard_live::Progress for ListProgress {
    fn listed(&self, kind: &virtguard_live::Kind, items: usize, done: bool) {
        let Some(pb) = &self.bar else { return };
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        let name = kind.qualified();
        match counts.iter_mut().find(|(n, _, _)| *n == name) {
            Some(c) => {
                c.1 = items;
                c.2 = done;
            }
            None => counts.push((name, items, done)),
        }
        let total: usize = counts.iter().map(|c| c.1).sum();
        let busy: Vec<String> = counts
            .iter()
            .filter(|c| !c.2)
            .map(|c| format!("{} {}", c.0, c.1))
            .collect();
        pb.set_message(format!(
            "reading the cluster: {total} objects, {} kinds done{}{}",
            counts.iter().filter(|c| c.2).count(),
            if busy.is_empty() { "" } else { "; listing " },
            busy.join(", ")
        ));
    }
}

/// Now, as RFC 3339 (the `generated` stamp of reports and pages).
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
