//! `virtguard paths` as a user runs it: the example cluster's KubeVirt paths in JSON (every step
//! with the binding → role → rule that allows it), the same paths as a Graphviz graph (`-o dot`,
//! names quoted) and as an HTML page with a graph view (`-o html`, names escaped, nothing loaded
//! from elsewhere), the audit report's graph of the paths it reports, the exit codes, and the
//! refusals (`-o dot` and `-o html` elsewhere, `--max-steps 0`).

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use common::{bin, repo};
use serde_json::Value;

fn vg(args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(repo())
        .args(args)
        .output()
        .expect("run virtguard")
}

fn describe(subject: &Value) -> String {
    match subject["namespace"].as_str() {
        Some(ns) => format!(
            "{} {ns}/{}",
            subject["kind"].as_str().unwrap_or_default(),
            subject["name"].as_str().unwrap_or_default()
        ),
        None => format!(
            "{} {}",
            subject["kind"].as_str().unwrap_or_default(),
            subject["name"].as_str().unwrap_or_default()
        ),
    }
}

#[test]
fn json_and_dot_tell_the_same_paths() {
    let out = vg(&["paths", "-f", "examples/cluster", "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "paths found: exit 1");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let paths = v["paths"].as_array().expect("paths");
    // KubeVirt's own edges on the example cluster.
    let has = |subject: &str, target: &str, action: &str| {
        paths.iter().any(|p| {
            describe(&p["subject"]) == subject
                && p["target"] == target
                && p["steps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| s["action"].as_str().is_some_and(|a| a.contains(action)))
        })
    };
    assert!(
        has(
            "Group support",
            "node",
            "pods/exec on kubevirt/virt-handler"
        ),
        "{v}"
    );
    assert!(
        has(
            "Group system:authenticated",
            "virt-launcher",
            "hook sidecar"
        ),
        "{v}"
    );
    assert!(
        has(
            "ServiceAccount kubevirt/kubevirt-controller",
            "node",
            "spec.customizeComponents"
        ),
        "{v}"
    );
    for p in paths {
        for s in p["steps"].as_array().expect("steps") {
            if s["action"]
                .as_str()
                .is_some_and(|a| a.starts_with("act as "))
            {
                continue;
            }
            assert!(
                s["via"]["binding"].is_object(),
                "a step without its binding: {s}"
            );
            assert!(s["via"]["rule"].is_object(), "a step without its rule: {s}");
        }
    }

    let out = vg(&["paths", "-f", "examples/cluster", "-o", "dot"]);
    assert_eq!(out.status.code(), Some(1));
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(
        dot.contains("digraph paths {") && dot.trim_end().ends_with('}'),
        "{dot}"
    );
    // Every step of every path is an edge from where it starts to what it gains.
    let edges: BTreeSet<(String, String)> = dot
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let (from, rest) = l.split_once(" -> ")?;
            let to = rest.split(" [label=").next()?;
            Some((
                from.trim_matches('"').to_owned(),
                to.trim_matches('"').to_owned(),
            ))
        })
        .collect();
    let mut wanted = BTreeSet::new();
    for p in paths {
        let mut at = describe(&p["subject"]);
        for s in p["steps"].as_array().expect("steps") {
            let to = match &s["gains"] {
                Value::String(t) => t.clone(),
                g => describe(g),
            };
            wanted.insert((at.clone(), to.clone()));
            at = to;
        }
    }
    assert_eq!(edges, wanted, "{dot}");
    // Targets are drawn as targets.
    assert!(dot.contains("\"node\" [shape=octagon"), "{dot}");
}

/// `paths -o FORMAT` of tests/data/paths-cli/quoted.yaml (names that need quoting), which has
/// paths (exit code 1).
fn quoted_paths(format: &str) -> String {
    let out = vg(&[
        "paths",
        "-f",
        "tests/data/paths-cli/quoted.yaml",
        "--defaults",
        "none",
        "-o",
        format,
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dot_quotes_names() {
    let dot = quoted_paths("dot");
    assert!(dot.contains(r#""User o\"hara\\x" [shape=box]"#), "{dot}");
    assert!(dot.contains(r#""User o\"hara\\x" -> "node""#), "{dot}");
}

/// The text of an HTML attribute value or element as written by the report's escaper.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Every value of attribute `attr` (`data-node`, …) in `html`, in order, unescaped.
fn attr_values(html: &str, attr: &str) -> Vec<String> {
    let key = format!(" {attr}=\"");
    html.split(&key)
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(v, _)| unescape(v)))
        .collect()
}

/// The `<g class="edge" …>` elements' (from, to, action).
fn html_edges(html: &str) -> Vec<(String, String, String)> {
    html.lines()
        .filter(|l| l.starts_with("<g class=\"edge"))
        .map(|l| {
            let one = |a: &str| attr_values(l, a).into_iter().next().unwrap_or_default();
            (one("data-from"), one("data-to"), one("data-action"))
        })
        .collect()
}

#[test]
fn html_draws_the_json_paths() {
    let out = vg(&["paths", "-f", "examples/cluster", "-o", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let paths = v["paths"].as_array().expect("paths");
    assert!(!paths.is_empty());
    let mut nodes = BTreeSet::new();
    let mut steps = BTreeSet::new();
    for p in paths {
        let mut at = describe(&p["subject"]);
        nodes.insert(at.clone());
        for s in p["steps"].as_array().expect("steps") {
            let to = match &s["gains"] {
                Value::String(t) => t.clone(),
                g => describe(g),
            };
            nodes.insert(to.clone());
            steps.insert((
                at.clone(),
                to.clone(),
                s["action"].as_str().unwrap_or_default().to_owned(),
            ));
            at = to;
        }
    }

    let out = vg(&["paths", "-f", "examples/cluster", "-o", "html"]);
    assert_eq!(out.status.code(), Some(1), "paths found: exit 1");
    let html = String::from_utf8_lossy(&out.stdout);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("<svg class=\"paths-graph\""), "{html}");
    // One node per subject, identity gained and target; one edge per distinct step.
    let drawn = attr_values(&html, "data-node");
    assert_eq!(drawn.len(), nodes.len(), "a node drawn twice: {drawn:?}");
    assert_eq!(drawn.into_iter().collect::<BTreeSet<_>>(), nodes);
    let edges = html_edges(&html);
    assert_eq!(edges.len(), steps.len(), "an edge drawn twice");
    assert_eq!(edges.into_iter().collect::<BTreeSet<_>>(), steps);
    // The steps listed per path, as in text output.
    assert_eq!(html.matches("<ol class=\"steps\">").count(), paths.len());
    assert!(html.contains("via RoleBinding"), "{html}");
    assert!(
        html.contains("→ rule 2: apiGroups=[&quot;&quot;] resources=[pods/exec] verbs=[create]"),
        "the rule of each grant, as in text output: {html}"
    );
    // Self-contained: no script, nothing loaded from elsewhere (references are text).
    for bad in ["<script", "src=", "href=", "@import", "<link", "=\"http"] {
        assert!(!html.contains(bad), "{bad} in the page");
    }
    assert_eq!(
        html.matches("url(").count(),
        html.matches("url(#").count(),
        "only the page's own fragments (the arrowhead marker)"
    );
}

#[test]
fn html_escapes_names() {
    let html = quoted_paths("html");
    assert!(html.contains(r#"data-node="User o&quot;hara\x""#), "{html}");
    assert!(
        html.contains("User &lt;img src=x onerror=alert(1)&gt;&#39;&amp;amp;"),
        "{html}"
    );
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("o\"hara"), "{html}");
    let nodes = attr_values(&html, "data-node");
    assert!(nodes.contains(&"User <img src=x onerror=alert(1)>'&amp;".to_owned()));
    assert!(html_edges(&html)
        .iter()
        .any(|(from, to, _)| from == "User o\"hara\\x" && to == "node"));
}

#[test]
fn audit_html_draws_the_reported_paths() {
    let html = |args: &[&str]| {
        let mut all = vec!["audit", "-f", "examples/cluster", "-o", "html"];
        all.extend_from_slice(args);
        String::from_utf8_lossy(&vg(&all).stdout).into_owned()
    };
    assert!(!html(&[]).contains("id=\"paths\""), "paths are opt-in");
    let page = html(&["--paths"]);
    assert!(page.contains("<section id=\"paths\">"), "{page}");
    assert!(page.contains("<svg class=\"paths-graph\""), "{page}");
    let nodes = attr_values(&page, "data-node");
    // Group support → node is reported (VG122); the operators' vendor paths are not (the CDI
    // operator's own paths, say), though kubevirt-operator is drawn as what support's path to
    // cluster-admin gains (exec into virt-operator's pod, then its rights).
    assert!(nodes.contains(&"Group support".to_owned()), "{nodes:?}");
    assert!(
        !nodes.iter().any(|n| n.contains("cdi-operator")),
        "{nodes:?}"
    );
    assert!(html_edges(&page)
        .iter()
        .any(|(from, to, _)| from == "Group support"
            && to == "ServiceAccount kubevirt/kubevirt-operator"));
    assert!(html_edges(&page)
        .iter()
        .any(|(from, to, action)| from == "Group support"
            && to == "node"
            && action.contains("pods/exec")));
    // Only the checks selected are drawn.
    let only = html(&["--only", "VG123"]);
    assert!(!attr_values(&only, "data-node").contains(&"Group support".to_owned()));
    assert!(attr_values(&only, "data-node").contains(&"virt-launcher".to_owned()));
}

#[test]
fn refusals_and_nothing_found() {
    let out = vg(&[
        "can-i",
        "get",
        "pods",
        "-f",
        "examples/cluster",
        "-o",
        "html",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-o Html is only for audit"));
    let out = vg(&[
        "can-i",
        "get",
        "pods",
        "-f",
        "examples/cluster",
        "-o",
        "dot",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-o dot is only for paths"));
    let out = vg(&["paths", "-f", "examples/cluster", "--max-steps", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-steps must be at least 1"));
    let out = vg(&[
        "paths",
        "-f",
        "examples/cluster",
        "--from",
        "User:nobody-at-all",
        "--to",
        "cluster-admin", // (everyone may run a hook sidecar: virt-launcher, but not this)
    ]);
    assert_eq!(out.status.code(), Some(0), "no path: exit 0");
    assert!(String::from_utf8_lossy(&out.stdout).contains("No escalation path found."));
}

fn audit_findings(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["audit", "-f", "examples/cluster", "-o", "json"];
    all.extend_from_slice(args);
    let out = vg(&all);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "audit -o json: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    v["findings"].as_array().cloned().unwrap_or_default()
}

#[test]
fn audit_reports_paths_when_asked() {
    let ids = |f: &[Value]| -> BTreeSet<String> {
        f.iter()
            .filter_map(|x| x["id"].as_str())
            .filter(|id| id.starts_with("VG12"))
            .map(str::to_owned)
            .collect()
    };
    // Off by default.
    assert!(ids(&audit_findings(&[])).is_empty());
    let found = audit_findings(&["--paths"]);
    let paths: Vec<&Value> = found
        .iter()
        .filter(|f| f["id"].as_str().is_some_and(|i| i.starts_with("VG12")))
        .collect();
    let support = paths
        .iter()
        .find(|f| f["id"] == "VG122" && f["subjects"][0]["name"] == "support")
        .expect("Group support → node (exec into virt-handler)");
    assert_eq!(support["objects"][0]["name"], "support-debug");
    assert_eq!(
        support["objects"][0]["file"],
        "examples/cluster/platform.yaml"
    );
    let evidence = support["evidence"].as_str().unwrap_or_default();
    assert!(
        evidence.contains("1. create pods/exec on kubevirt/virt-handler"),
        "{evidence}"
    );
    assert!(evidence.contains("via RoleBinding"), "{evidence}");
    assert!(paths
        .iter()
        .any(|f| f["id"] == "VG123" && f["subjects"][0]["name"] == "system:authenticated"));
    // The operators' own rights (vendor bindings, unchanged) are by design: not reported…
    assert!(
        !paths
            .iter()
            .any(|f| f["subjects"][0]["name"] == "kubevirt-operator"),
        "{paths:?}"
    );
    // …unless there are no defaults to tell them apart.
    let bare = audit_findings(&["--paths", "--defaults", "none"]);
    assert!(bare
        .iter()
        .any(|f| f["id"] == "VG121" && f["subjects"][0]["name"] == "kubevirt-operator"));
    // --only names one: it runs alone.
    assert_eq!(
        ids(&audit_findings(&["--only", "VG123"])),
        BTreeSet::from(["VG123".to_owned()])
    );
    // The one cluster-admin path that is not by design: support execs into virt-operator's pod
    // and takes its token.
    let admin = audit_findings(&["--paths", "--skip", "VG122,VG123"]);
    assert_eq!(ids(&admin), BTreeSet::from(["VG121".to_owned()]));
    let subjects: Vec<&str> = admin
        .iter()
        .filter(|f| f["id"] == "VG121")
        .filter_map(|f| f["subjects"][0]["name"].as_str())
        .collect();
    assert_eq!(subjects, ["support"], "{admin:?}");
    let evidence = admin
        .iter()
        .find(|f| f["id"] == "VG121")
        .and_then(|f| f["evidence"].as_str())
        .unwrap_or_default();
    assert!(
        evidence.contains("pods/exec on Deployment kubevirt/virt-operator's pods"),
        "{evidence}"
    );
}
