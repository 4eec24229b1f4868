//! The escalation paths (`virtguard paths`) for people who would rather look than read: a graph
//! view laid out here, in Rust, as inline SVG (subjects in the left column, each identity gained
//! in the column of the fewest steps that gain it, the targets in the right column; one arrow per
//! distinct step, labelled with its action, its tooltip naming the bindings and roles that allow
//! it; an arrow over several columns passes between their nodes), followed by each path's steps
//! as `paths` prints them. [`paths_section`] is that `<section>`, shared by the
//! `paths -o html` page ([`paths_html`]) and the audit report (when VG121–VG123 ran). Every name
//! is HTML-escaped; nothing is loaded from elsewhere.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use virtguard_paths::{Answer, Gain, Path, Target};
use virtguard_rbac::Policy;

use crate::util::html_escape as esc;

/// Escalation paths to draw, and the policy their steps' grants point into.
#[derive(Debug, Clone, Copy)]
pub struct PathsView<'a> {
    /// The paths (and the subjects that already are cluster-admin, listed beside the graph).
    pub answer: &'a Answer,
    /// The policy the paths were searched in.
    pub policy: &'a Policy,
}

/// The facts shown in the header of the `paths -o html` page.
#[derive(Debug, Clone, Copy)]
pub struct PathsPage<'a> {
    /// virtguard's version.
    pub tool_version: &'a str,
    /// The input paths (`-f`).
    pub inputs: &'a [String],
    /// When the page was generated (RFC 3339), given by the caller.
    pub generated: &'a str,
}

/// The graph's own style rules (the page's others are the audit report's).
pub(crate) const GRAPH_CSS: &str = r#"
.graph-wrap{overflow:auto;max-height:85vh;border:1px solid var(--line);border-radius:8px;background:#fcfcfd;margin-bottom:18px}
svg.paths-graph{display:block;font-family:inherit}
svg.paths-graph .node rect{stroke-width:1.5}
svg.paths-graph .node.subject rect{fill:#eff6ff;stroke:#1e3a8a}
svg.paths-graph .node.identity rect{fill:#f8fafc;stroke:#64748b}
svg.paths-graph .node.target rect{fill:#fef2f2;stroke:#b91c1c;stroke-width:2.5}
svg.paths-graph .node text{font-size:12px;fill:#1f2937;dominant-baseline:middle}
svg.paths-graph .node.target text{fill:#991b1b;font-weight:700}
svg.paths-graph .edge path{fill:none;stroke:#94a3b8;stroke-width:1.4}
svg.paths-graph .edge.to-target path{stroke:#ef4444}
svg.paths-graph .edge text{font-size:10px;fill:#475569;paint-order:stroke;stroke:#fcfcfd;stroke-width:3px;stroke-linejoin:round}
svg.paths-graph .edge:hover path{stroke:#1e3a8a;stroke-width:2.5}
svg.paths-graph .edge:hover text{fill:#1e3a8a}
svg.paths-graph .col-title{font-size:11px;fill:#6b7280;text-transform:uppercase;letter-spacing:.5px}
ol.steps{margin:4px 0 14px;padding-left:22px}
ol.steps li{margin:0 0 6px}
ol.steps .via,ol.steps .why{display:block;color:var(--muted);font-size:12px}
.path-head{font-weight:600;margin-top:10px}
.path-head .target{color:#b91c1c}
"#;

/// What a graph node stands for (its style).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum NodeKind {
    Subject,
    Identity,
    Target,
}

impl NodeKind {
    fn class(self) -> &'static str {
        match self {
            NodeKind::Subject => "subject",
            NodeKind::Identity => "identity",
            NodeKind::Target => "target",
        }
    }
}

/// A drawn step: from, to, action, and the bindings → roles that allow it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    from: String,
    to: String,
    action: String,
    via: Vec<String>,
    to_target: bool,
}

/// Where a node is drawn.
#[derive(Debug, Clone, Copy)]
struct Placed {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

/// The least node height.
const NODE_H: f64 = 30.0;
/// The height per edge leaving or entering a node's side: each edge has its own lane, so the
/// label on its first stretch does not overlap its neighbours'.
const LANE: f64 = 15.0;
const ROW_GAP: f64 = 16.0;
/// The horizontal stretch an edge starts with, carrying its label.
const RUN: f64 = 250.0;
const COL_GAP: f64 = RUN + 110.0;
const MARGIN: f64 = 24.0;
const TOP: f64 = 34.0;
/// The longest node text drawn in full (the whole name is in its tooltip).
const NODE_CHARS: usize = 48;
/// The longest edge label drawn in full (the whole action is in its tooltip).
const LABEL_CHARS: usize = 44;

/// The key of what a step gains: a target's name or an identity's description.
fn gained(gain: &Gain) -> (String, NodeKind) {
    match gain {
        Gain::Target(t) => (t.as_str().to_owned(), NodeKind::Target),
        Gain::Identity(i) => (i.describe(), NodeKind::Identity),
    }
}

/// `s` cut to `n` characters, with an ellipsis when cut.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `RoleBinding "b/ns" → ClusterRole "r"` for each grant of a step.
fn via(policy: &Policy, grants: &[virtguard_rbac::Grant]) -> Vec<String> {
    grants
        .iter()
        .filter_map(|g| policy.grant_rule(g))
        .map(|(b, role, _)| {
            format!(
                "{} → {} \"{}\"",
                b.describe_name(),
                role.kind.as_str(),
                role.name
            )
        })
        .collect()
}

/// The nodes (with their column) and the distinct steps of the paths.
fn graph(view: &PathsView<'_>) -> (BTreeMap<String, (NodeKind, usize)>, Vec<Edge>) {
    let mut nodes: BTreeMap<String, (NodeKind, usize)> = BTreeMap::new();
    let mut edges = BTreeSet::new();
    // Subjects in the left column, unless a path gains them: an identity is drawn at the
    // fewest steps any path takes to gain it (a subject too, styled as one), so that edges
    // run left to right.
    for p in &view.answer.paths {
        nodes.insert(p.subject.describe(), (NodeKind::Subject, 0));
    }
    for p in &view.answer.paths {
        let mut at = p.subject.describe();
        for (depth, s) in p.steps.iter().enumerate() {
            let (to, role) = gained(&s.gains);
            let column = depth + 1;
            nodes
                .entry(to.clone())
                .and_modify(|(r, c)| {
                    if *r != NodeKind::Target && (*c == 0 || column < *c) {
                        *c = column;
                    }
                })
                .or_insert((role, column));
            edges.insert(Edge {
                from: at,
                to: to.clone(),
                action: s.action.clone(),
                via: via(view.policy, &s.grants),
                to_target: role == NodeKind::Target,
            });
            at = to;
        }
    }
    // Targets in the right column.
    let last = nodes
        .values()
        .filter(|(r, _)| *r != NodeKind::Target)
        .map(|(_, c)| *c)
        .max()
        .unwrap_or(0)
        + 1;
    for (r, c) in nodes.values_mut() {
        if *r == NodeKind::Target {
            *c = last;
        }
    }
    // One edge per step: the same step reached by two paths is the same (from, to, action).
    let mut seen = BTreeSet::new();
    let edges = edges
        .into_iter()
        .filter(|e| seen.insert((e.from.clone(), e.to.clone(), e.action.clone())))
        .collect();
    (nodes, edges)
}

/// A place in a column: a node, or where an edge crosses a column between its ends (so that
/// long edges pass between nodes, not behind them).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Node(String),
    Via { edge: usize, column: usize },
}

/// The layout: every slot's place, each edge's slots from source to target, the drawing's size.
struct Layout {
    placed: BTreeMap<Slot, Placed>,
    routes: Vec<Vec<Slot>>,
    width: f64,
    height: f64,
}

/// Columns of slots: subjects by name, targets in their fixed order, the others by the mean
/// height of the slots before them (fewer crossings), then by name. A node is as tall as its
/// lanes need; columns are centred on the tallest.
fn layout(nodes: &BTreeMap<String, (NodeKind, usize)>, edges: &[Edge]) -> Layout {
    let column_of = |n: &str| nodes.get(n).map(|(_, c)| *c).unwrap_or(0);
    let columns = nodes.values().map(|(_, c)| c + 1).max().unwrap_or(0);
    // Each edge's route; a forward edge over several columns crosses the ones between.
    let routes: Vec<Vec<Slot>> = edges
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let (from, to) = (column_of(&e.from), column_of(&e.to));
            let mut r = vec![Slot::Node(e.from.clone())];
            r.extend(((from + 1)..to).map(|column| Slot::Via { edge: i, column }));
            r.push(Slot::Node(e.to.clone()));
            r
        })
        .collect();
    let mut preds: BTreeMap<&Slot, Vec<&Slot>> = BTreeMap::new();
    let mut lanes: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (e, r) in edges.iter().zip(&routes) {
        for w in r.windows(2) {
            if let [a, b] = w {
                preds.entry(b).or_default().push(a);
            }
        }
        lanes.entry(e.from.as_str()).or_default().0 += 1;
        lanes.entry(e.to.as_str()).or_default().1 += 1;
    }
    let height_of = |slot: &Slot| match slot {
        Slot::Via { .. } => LANE,
        Slot::Node(name) => {
            let (out, inn) = lanes.get(name.as_str()).copied().unwrap_or_default();
            ((out.max(inn) + 1) as f64 * LANE).max(NODE_H)
        }
    };
    let mut by_column: Vec<Vec<Slot>> = vec![Vec::new(); columns];
    for (name, (_, c)) in nodes {
        if let Some(col) = by_column.get_mut(*c) {
            col.push(Slot::Node(name.clone()));
        }
    }
    for r in &routes {
        for slot in r {
            if let Slot::Via { column, .. } = slot {
                if let Some(col) = by_column.get_mut(*column) {
                    col.push(slot.clone());
                }
            }
        }
    }
    let column_height: Vec<f64> = by_column
        .iter()
        .map(|col| col.iter().map(|s| height_of(s) + ROW_GAP).sum())
        .collect();
    let tallest = column_height.iter().copied().fold(0.0, f64::max);
    let width_of = |name: &str| clip(name, NODE_CHARS).chars().count() as f64 * 7.0 + 24.0;
    let mut placed: BTreeMap<Slot, Placed> = BTreeMap::new();
    let mut x = MARGIN;
    for (c, (col, col_h)) in by_column.iter().zip(&column_height).enumerate() {
        let mut here: Vec<(f64, &Slot)> = col
            .iter()
            .map(|slot| {
                let ys: Vec<f64> = preds
                    .get(slot)
                    .into_iter()
                    .flatten()
                    .filter_map(|p| placed.get(*p).map(|p| p.y + p.h / 2.0))
                    .collect();
                let target = match slot {
                    Slot::Node(n) => nodes.get(n).is_some_and(|(r, _)| *r == NodeKind::Target),
                    Slot::Via { .. } => false,
                };
                let key = match slot {
                    Slot::Node(n) if target => match n.as_str() {
                        n if n == Target::ClusterAdmin.as_str() => 0.0,
                        n if n == Target::Node.as_str() => 1.0,
                        _ => 2.0,
                    },
                    _ if c == 0 || ys.is_empty() => f64::MAX,
                    _ => ys.iter().sum::<f64>() / ys.len() as f64,
                };
                (key, slot)
            })
            .collect();
        here.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
        let w = col
            .iter()
            .filter_map(|s| match s {
                Slot::Node(n) => Some(width_of(n)),
                Slot::Via { .. } => None,
            })
            .fold(120.0_f64, f64::max)
            .min(360.0);
        let mut y = TOP + (tallest - col_h) / 2.0;
        for (_, slot) in here {
            let h = height_of(slot);
            placed.insert(slot.clone(), Placed { x, y, w, h });
            y += h + ROW_GAP;
        }
        x += w + COL_GAP;
    }
    Layout {
        placed,
        routes,
        width: (x - COL_GAP + MARGIN).max(2.0 * MARGIN),
        height: TOP + tallest + MARGIN,
    }
}

/// The y of lane `k` of `n` on a node's side.
fn lane(p: &Placed, k: usize, n: usize) -> f64 {
    p.y + (k as f64 + 1.0) * p.h / (n as f64 + 1.0)
}

/// Each edge's lanes: (its index among its source's outgoing edges, their count, its index
/// among its target's incoming edges, their count), ordered by the height of the next (or
/// previous) slot of its route so that lanes do not cross at the node.
fn lanes(l: &Layout) -> Vec<(usize, usize, usize, usize)> {
    let mid = |s: Option<&Slot>| {
        s.and_then(|s| l.placed.get(s))
            .map(|p| p.y + p.h / 2.0)
            .unwrap_or(0.0)
    };
    let mut outgoing: BTreeMap<&Slot, Vec<(f64, usize)>> = BTreeMap::new();
    let mut incoming: BTreeMap<&Slot, Vec<(f64, usize)>> = BTreeMap::new();
    for (i, r) in l.routes.iter().enumerate() {
        let n = r.len();
        if let (Some(first), Some(last)) = (r.first(), r.last()) {
            outgoing.entry(first).or_default().push((mid(r.get(1)), i));
            incoming
                .entry(last)
                .or_default()
                .push((mid(r.get(n.saturating_sub(2))), i));
        }
    }
    let mut out = vec![(0, 1, 0, 1); l.routes.len()];
    for list in outgoing.values_mut() {
        list.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (k, (_, i)) in list.iter().enumerate() {
            if let Some(v) = out.get_mut(*i) {
                (v.0, v.1) = (k, list.len());
            }
        }
    }
    for list in incoming.values_mut() {
        list.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (k, (_, i)) in list.iter().enumerate() {
            if let Some(v) = out.get_mut(*i) {
                (v.2, v.3) = (k, list.len());
            }
        }
    }
    out
}

/// An SVG curve from the current point `(x0, y0)` to `(x, y)`, leaving and arriving level.
fn curve_to(d: &mut String, (x0, y0): (f64, f64), (x, y): (f64, f64)) {
    let dx = (x - x0) / 2.0;
    let _ = write!(
        d,
        " C{:.1},{y0:.1} {:.1},{y:.1} {x:.1},{y:.1}",
        x0 + dx,
        x - dx
    );
}

/// The SVG drawing of the graph.
fn svg(view: &PathsView<'_>) -> String {
    let (nodes, edges) = graph(view);
    let l = layout(&nodes, &edges);
    let lanes = lanes(&l);
    let (width, height) = (l.width, l.height);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg class=\"paths-graph\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"escalation paths\">"
    );
    out.push_str("<defs><marker id=\"vg-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#64748b\"/></marker></defs>\n");
    // Column titles (a column's first node says which it is).
    let mut titled = BTreeSet::new();
    for (name, (role, col)) in &nodes {
        let Some(p) = l.placed.get(&Slot::Node(name.clone())) else {
            continue;
        };
        if !titled.insert(*col) {
            continue;
        }
        let title = match role {
            _ if *col == 0 => "subjects".to_owned(),
            NodeKind::Target => "targets".to_owned(),
            _ => format!("gained at step {col}"),
        };
        let _ = writeln!(
            out,
            "<text class=\"col-title\" x=\"{:.1}\" y=\"18\">{}</text>",
            p.x,
            esc(&title)
        );
    }
    // Edges under the nodes: each leaves its source on its own lane with a straight stretch
    // carrying its label, crosses the columns between level through its slots, and curves to
    // its lane on the target.
    for ((e, route), (ko, no, ki, ni)) in edges.iter().zip(&l.routes).zip(&lanes) {
        let (Some(a), Some(b)) = (
            l.placed.get(&Slot::Node(e.from.clone())),
            l.placed.get(&Slot::Node(e.to.clone())),
        ) else {
            continue;
        };
        let (y1, y2) = (lane(a, *ko, *no), lane(b, *ki, *ni));
        let x1 = a.x + a.w;
        let mut at = (x1 + RUN, y1);
        let mut d = format!("M{x1:.1},{y1:.1} H{:.1}", at.0);
        if b.x > at.0 {
            for slot in route.iter().filter(|s| matches!(s, Slot::Via { .. })) {
                let Some(p) = l.placed.get(slot) else {
                    continue;
                };
                let y = p.y + p.h / 2.0;
                curve_to(&mut d, at, (p.x, y));
                let _ = write!(d, " H{:.1}", p.x + p.w);
                at = (p.x + p.w, y);
            }
            curve_to(&mut d, at, (b.x, y2));
        } else {
            // Within a column or backwards: out to the right and back to the target's right.
            let bulge = at.0 + 60.0;
            let _ = write!(
                d,
                " C{bulge:.1},{y1:.1} {bulge:.1},{y2:.1} {:.1},{y2:.1}",
                b.x + b.w
            );
        }
        let mut title = e.action.clone();
        for v in &e.via {
            title.push_str("\nvia ");
            title.push_str(v);
        }
        let _ = writeln!(
            out,
            "<g class=\"edge{}\" data-from=\"{}\" data-to=\"{}\" data-action=\"{}\"><title>{}</title><path d=\"{d}\" marker-end=\"url(#vg-arrow)\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            if e.to_target { " to-target" } else { "" },
            esc(&e.from),
            esc(&e.to),
            esc(&e.action),
            esc(&title),
            x1 + 8.0,
            y1 - 3.0,
            esc(&clip(&e.action, LABEL_CHARS))
        );
    }
    for (name, (role, _)) in &nodes {
        let Some(p) = l.placed.get(&Slot::Node(name.clone())) else {
            continue;
        };
        let _ = writeln!(
            out,
            "<g class=\"node {}\" data-node=\"{}\"><title>{}</title><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            role.class(),
            esc(name),
            esc(name),
            p.x,
            p.y,
            p.w,
            p.h,
            if *role == NodeKind::Target { 12 } else { 5 },
            p.x + 10.0,
            p.y + p.h / 2.0,
            esc(&clip(name, NODE_CHARS))
        );
    }
    out.push_str("</svg>\n");
    out
}

/// One path's steps, as `paths` prints them: action ⇒ gain, each grant that allows it (binding
/// of role to subject → rule), and why it works.
fn write_path(out: &mut String, policy: &Policy, p: &Path) {
    let n = p.steps.len();
    let _ = writeln!(
        out,
        "<div class=\"path-head\">{} → <span class=\"target\">{}</span> in {n} step{}</div>\n<ol class=\"steps\">",
        esc(&p.subject.describe()),
        esc(p.target.as_str()),
        if n == 1 { "" } else { "s" }
    );
    for s in &p.steps {
        let (gains, _) = gained(&s.gains);
        let _ = write!(out, "<li>{} ⇒ <b>{}</b>", esc(&s.action), esc(&gains));
        for g in &s.grants {
            let rule = policy
                .grant_rule(g)
                .map(|(_, _, rule)| format!(" → rule {}: {}", g.rule + 1, rule.describe()))
                .unwrap_or_default();
            let _ = write!(
                out,
                "<span class=\"via mono\">via {}{}</span>",
                esc(&policy.describe_grant(g)),
                esc(&rule)
            );
        }
        let _ = writeln!(
            out,
            "<span class=\"why\">why: {}</span></li>",
            esc(s.reference)
        );
    }
    out.push_str("</ol>\n");
}

/// The paths as one `<section id="paths">`: the subjects already cluster-admin, the graph, and
/// every path's steps.
pub fn paths_section(view: &PathsView<'_>) -> String {
    let a = view.answer;
    let mut out = String::with_capacity(4096 + a.paths.len() * 1024);
    let _ = writeln!(
        out,
        "<section id=\"paths\">\n<h2>Escalation paths<span class=\"count\">{} path{}</span></h2>",
        a.paths.len(),
        if a.paths.len() == 1 { "" } else { "s" }
    );
    if !a.admins.is_empty() {
        let _ = write!(
            out,
            "<p class=\"admins\">Already cluster-admin ({}):",
            a.admins.len()
        );
        for (i, id) in a.admins.iter().enumerate() {
            let _ = write!(
                out,
                "{} <span class=\"mono\">{}</span>",
                if i == 0 { "" } else { "," },
                esc(&id.describe())
            );
        }
        out.push_str("</p>\n");
    }
    if a.paths.is_empty() {
        out.push_str("<p class=\"empty\">No escalation path found.</p>\n</section>\n");
        return out;
    }
    out.push_str("<div class=\"graph-wrap\">\n");
    out.push_str(&svg(view));
    out.push_str("</div>\n<h3>Steps</h3>\n");
    for p in &a.paths {
        write_path(&mut out, view.policy, p);
    }
    out.push_str("</section>\n");
    out
}

/// The `paths -o html` page: one self-contained document (inline CSS and SVG, no script) with
/// the run's facts and [`paths_section`].
pub fn paths_html(view: &PathsView<'_>, page: &PathsPage<'_>) -> String {
    let mut out = String::with_capacity(16 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        out,
        "<meta name=\"generator\" content=\"virtguard {}\">\n<title>virtguard escalation paths</title>\n<style>{}{}</style>\n</head>\n<body>",
        esc(page.tool_version),
        crate::html::CSS,
        GRAPH_CSS
    );
    out.push_str("<header class=\"top\">\n<h1>virtguard<span>privilege-escalation paths</span></h1>\n<dl class=\"meta\">\n");
    let _ = writeln!(
        out,
        "<dt>Tool</dt><dd>virtguard {}</dd>",
        esc(page.tool_version)
    );
    let inputs = if page.inputs.is_empty() {
        "(none)".to_owned()
    } else {
        page.inputs
            .iter()
            .map(|i| esc(i))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "<dt>Input</dt><dd>{inputs}</dd>");
    let mut by_target: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &view.answer.paths {
        *by_target.entry(p.target.as_str()).or_default() += 1;
    }
    let counts = by_target
        .iter()
        .map(|(t, n)| format!("{n} to {}", esc(t)))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        out,
        "<dt>Paths</dt><dd>{}</dd>",
        if counts.is_empty() {
            "none".to_owned()
        } else {
            counts
        }
    );
    out.push_str("</dl>\n</header>\n<main>\n");
    out.push_str(&paths_section(view));
    let _ = writeln!(
        out,
        "</main>\n<footer>Generated by virtguard {} at {}</footer>\n</body>\n</html>",
        esc(page.tool_version),
        esc(page.generated)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_counts_characters() {
        assert_eq!(clip("ab", 5), "ab");
        assert_eq!(clip("ééééé", 3), "éé…");
    }
}
