//! `virtguard paths`: privilege-escalation paths of a snapshot or a live cluster, as text (one
//! step per line, with the binding → role → rule that allows it), JSON, a Graphviz graph, or one
//! self-contained HTML page with a graph view (`virtguard_report::paths_html`).

use anyhow::{bail, Result};
use serde_json::{json, Value};
use virtguard_paths::{find_paths_with, Facts, Gain, Identity, Options, Target};

use crate::args::{Global, Output, PathsArgs};
use crate::input::{gather, print_warnings, wants_live};
use crate::render::{grant_json, grant_text, print_structured};

/// `User:NAME`, `Group:NAME`, `ServiceAccount:NS:NAME` or `system:serviceaccount:NS:NAME`.
fn parse_subject(s: &str) -> Result<Identity> {
    if let Some(rest) = s.strip_prefix("system:serviceaccount:") {
        if let Some((ns, name)) = rest.split_once(':') {
            return Ok(Identity::service_account(ns, name));
        }
    }
    match s.split_once(':') {
        Some(("User", n)) if !n.is_empty() => Ok(Identity::user(n)),
        Some(("Group", n)) if !n.is_empty() => Ok(Identity::group(n)),
        Some(("ServiceAccount", rest)) => match rest.split_once(':') {
            Some((ns, n)) if !ns.is_empty() && !n.is_empty() => {
                Ok(Identity::service_account(ns, n))
            }
            _ => bail!("--from {s:?}: a service account is ServiceAccount:NAMESPACE:NAME"),
        },
        _ => bail!("--from {s:?}: expected User:NAME, Group:NAME or ServiceAccount:NAMESPACE:NAME"),
    }
}

pub fn run(g: &Global, a: &PathsArgs) -> Result<u8> {
    let from = a.from.as_deref().map(parse_subject).transpose()?;
    let to = match a.to.as_str() {
        "cluster-admin" => vec![Target::ClusterAdmin],
        "node" => vec![Target::Node],
        "virt-launcher" => vec![Target::VirtLauncher],
        _ => vec![Target::ClusterAdmin, Target::Node, Target::VirtLauncher],
    };
    if a.max_steps == 0 {
        bail!("--max-steps must be at least 1");
    }
    let gathered = gather(g, virtguard_live::Scope::Audit, wants_live(g), false)?;
    print_warnings(g, &gathered.snapshot);
    let inputs = gathered.inputs;
    let mut snapshot = gathered.snapshot;
    if let Some(d) = crate::input::defaults_for(&g.defaults, &snapshot)? {
        let added = snapshot.add_defaults(d.catalog);
        crate::input::announce(&d.note, added, g.quiet);
    }
    let facts = Facts::from_objects(&snapshot.objects);
    let cedar = crate::input::policy_set(&g.policies, &snapshot.objects, g.allow_lockout)?
        .filter(|c| !c.is_empty());
    let policy = virtguard_rbac::Policy::new(snapshot.roles(), snapshot.bindings());
    // The policy and the facts hold what the search reads: the objects go before it runs.
    drop(snapshot);
    // A Cedar `forbid` prunes the edges it denies (system:masters is never asked).
    let deny = |attrs: &virtguard_rbac::Attributes<'_>| {
        cedar
            .as_ref()
            .is_some_and(|set| crate::input::cedar_denies(set, attrs))
    };
    let answer = find_paths_with(
        &policy,
        &facts,
        &Options {
            from,
            to,
            max_steps: a.max_steps,
        },
        cedar
            .is_some()
            .then_some(&deny as virtguard_paths::Deny<'_>),
    );
    let found = !answer.paths.is_empty();
    match g.output {
        Some(Output::Html) => {
            if !g.quiet {
                let generated = crate::render::now_rfc3339();
                print!(
                    "{}",
                    virtguard_report::paths_html(
                        &virtguard_report::PathsView {
                            answer: &answer,
                            policy: &policy,
                        },
                        &virtguard_report::PathsPage {
                            tool_version: env!("CARGO_PKG_VERSION"),
                            inputs: &inputs,
                            generated: &generated,
                        },
                    )
                );
            }
        }
        Some(Output::Dot) => {
            if !g.quiet {
                print!("{}", dot(&answer, &policy));
            }
        }
        Some(Output::Json | Output::Yaml) => {
            let paths: Vec<Value> = answer
                .paths
                .iter()
                .map(|p| {
                    json!({
                        "subject": p.subject,
                        "target": p.target.as_str(),
                        "steps": p.steps.iter().map(|s| {
                            let mut v = json!({"action": s.action, "gains": match &s.gains {
                                Gain::Target(t) => json!(t.as_str()),
                                Gain::Identity(i) => json!(i),
                            }, "reference": s.reference});
                            if !s.namespace.is_empty() {
                                v["namespace"] = json!(s.namespace);
                            }
                            if let Some(gr) = s.grants.first() {
                                v["via"] = grant_json(&policy, gr);
                            }
                            // A step needing several requests (bind + create, create pods + use
                            // of an SCC) carries the other decisions too.
                            if s.grants.len() > 1 {
                                v["alsoVia"] = s.grants.iter().skip(1).map(|gr| grant_json(&policy, gr)).collect();
                            }
                            v
                        }).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let v = json!({"admins": answer.admins, "paths": paths});
            if !g.quiet {
                print_structured(&v, g.output == Some(Output::Yaml))?;
            }
        }
        _ => {
            if g.quiet {
                return Ok(u8::from(found));
            }
            if !answer.admins.is_empty() {
                println!("Already cluster-admin ({}):", answer.admins.len());
                for i in &answer.admins {
                    println!("  {}", i.describe());
                }
                println!();
            }
            for p in &answer.paths {
                println!(
                    "{} → {} in {} step{}:",
                    p.subject.describe(),
                    p.target.as_str(),
                    p.steps.len(),
                    if p.steps.len() == 1 { "" } else { "s" }
                );
                for (i, s) in p.steps.iter().enumerate() {
                    let gains = match &s.gains {
                        Gain::Target(t) => t.as_str().to_string(),
                        Gain::Identity(id) => id.describe(),
                    };
                    println!("  {}. {} ⇒ {gains}", i + 1, s.action);
                    if !s.grants.is_empty() {
                        println!("     via:");
                    }
                    for gr in &s.grants {
                        for line in grant_text(&policy, gr).lines() {
                            println!("     {line}");
                        }
                    }
                    println!("     why: {}", s.reference);
                }
            }
            if answer.paths.is_empty() {
                println!("No escalation path found.");
            }
        }
    }
    Ok(u8::from(found))
}

/// A DOT string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The paths as one Graphviz digraph: subjects and identities gained are boxes (admins
/// double-bordered), targets red octagons; an edge per step, labelled with its action and the
/// binding that allows it. A step shared by several paths is drawn once.
fn dot(answer: &virtguard_paths::Answer, policy: &virtguard_rbac::Policy) -> String {
    use std::collections::BTreeSet;
    use std::fmt::Write as _;
    let mut nodes: BTreeSet<(String, &'static str)> = BTreeSet::new();
    let mut edges: BTreeSet<(String, String, String)> = BTreeSet::new();
    for a in &answer.admins {
        nodes.insert((a.describe(), "box, peripheries=2"));
    }
    for p in &answer.paths {
        let mut at = p.subject.describe();
        nodes.insert((at.clone(), "box"));
        for s in &p.steps {
            let (to, shape) = match &s.gains {
                Gain::Target(t) => (t.as_str().to_string(), "octagon, color=red, fontcolor=red"),
                Gain::Identity(i) => (i.describe(), "box"),
            };
            nodes.insert((to.clone(), shape));
            let via = s
                .grants
                .first()
                .and_then(|g| policy.bindings().get(g.binding))
                .map(|b| format!("\n{}", b.describe_name()))
                .unwrap_or_default();
            edges.insert((at, to.clone(), format!("{}{via}", s.action)));
            at = to;
        }
    }
    let mut out = String::from(
        "// virtguard paths -o dot: render with `dot -Tsvg`\ndigraph paths {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
    );
    // A node drawn as a target wins over the same name drawn as a box.
    let mut seen = BTreeSet::new();
    for (name, shape) in nodes.iter().rev() {
        if seen.insert(name.clone()) {
            let _ = writeln!(out, "  {} [shape={shape}];", quote(name));
        }
    }
    for (from, to, label) in &edges {
        let _ = writeln!(
            out,
            "  {} -> {} [label={}];",
            quote(from),
            quote(to),
            quote(label)
        );
    }
    out.push_str("}\n");
    out
}
