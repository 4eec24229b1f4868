//! `virtguard matrix`: who may do what to KubeVirt's and CDI's resources, as a grid of subjects
//! (or roles) × resources and subresources, each cell the verbs allowed.

use anyhow::{bail, Result};
use serde_json::{json, Value};
use virtguard_policy::{representative, request_of, Decision as CedarDecision, PolicySet};
use virtguard_rbac::{rule_allows, Attributes, Policy, ResourceAttributes, SubjectKind, User};
use virtguard_report::html_escape as esc;

use crate::args::{Global, MatrixArgs, Output};
use crate::input::load_all;

const ALL: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];
const GET: &[&str] = &["get"];
const UPDATE: &[&str] = &["update"];
const CREATE: &[&str] = &["create"];

/// One column: a resource or subresource and the verbs that matter for it.
pub struct Column {
    pub label: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: &'static str,
    pub namespaced: bool,
    pub verbs: &'static [&'static str],
}

const fn col(
    label: &'static str,
    group: &'static str,
    resource: &'static str,
    subresource: &'static str,
    namespaced: bool,
    verbs: &'static [&'static str],
) -> Column {
    Column {
        label,
        group,
        resource,
        subresource,
        namespaced,
        verbs,
    }
}

/// The columns, KubeVirt's security-relevant resources first.
pub const COLUMNS: &[Column] = &[
    col("vm", "kubevirt.io", "virtualmachines", "", true, ALL),
    col(
        "vmi",
        "kubevirt.io",
        "virtualmachineinstances",
        "",
        true,
        ALL,
    ),
    col(
        "vmim",
        "kubevirt.io",
        "virtualmachineinstancemigrations",
        "",
        true,
        ALL,
    ),
    col(
        "vm/start",
        "subresources.kubevirt.io",
        "virtualmachines",
        "start",
        true,
        UPDATE,
    ),
    col(
        "vm/stop",
        "subresources.kubevirt.io",
        "virtualmachines",
        "stop",
        true,
        UPDATE,
    ),
    col(
        "vm/restart",
        "subresources.kubevirt.io",
        "virtualmachines",
        "restart",
        true,
        UPDATE,
    ),
    col(
        "vm/migrate",
        "subresources.kubevirt.io",
        "virtualmachines",
        "migrate",
        true,
        UPDATE,
    ),
    col(
        "vmi/console",
        "subresources.kubevirt.io",
        "virtualmachineinstances",
        "console",
        true,
        GET,
    ),
    col(
        "vmi/vnc",
        "subresources.kubevirt.io",
        "virtualmachineinstances",
        "vnc",
        true,
        GET,
    ),
    col(
        "vmi/vnc/screenshot",
        "subresources.kubevirt.io",
        "virtualmachineinstances",
        "vnc/screenshot",
        true,
        GET,
    ),
    col(
        "vmi/portforward",
        "subresources.kubevirt.io",
        "virtualmachineinstances",
        "portforward",
        true,
        GET,
    ),
    col(
        "vmi/usbredir",
        "subresources.kubevirt.io",
        "virtualmachineinstances",
        "usbredir",
        true,
        GET,
    ),
    col(
        "vmi/pause",
        "subresources.kubevirt.io",
        "virtualmachineinstances",
        "pause",
        true,
        UPDATE,
    ),
    col(
        "vmsnapshot",
        "snapshot.kubevirt.io",
        "virtualmachinesnapshots",
        "",
        true,
        ALL,
    ),
    col(
        "vmrestore",
        "snapshot.kubevirt.io",
        "virtualmachinerestores",
        "",
        true,
        ALL,
    ),
    col(
        "vmexport",
        "export.kubevirt.io",
        "virtualmachineexports",
        "",
        true,
        ALL,
    ),
    col(
        "vmclone",
        "clone.kubevirt.io",
        "virtualmachineclones",
        "",
        true,
        ALL,
    ),
    col(
        "vmpool",
        "pool.kubevirt.io",
        "virtualmachinepools",
        "",
        true,
        ALL,
    ),
    col(
        "instancetype",
        "instancetype.kubevirt.io",
        "virtualmachineinstancetypes",
        "",
        true,
        ALL,
    ),
    col(
        "preference",
        "instancetype.kubevirt.io",
        "virtualmachinepreferences",
        "",
        true,
        ALL,
    ),
    col(
        "clusterinstancetype",
        "instancetype.kubevirt.io",
        "virtualmachineclusterinstancetypes",
        "",
        false,
        ALL,
    ),
    col(
        "clusterpreference",
        "instancetype.kubevirt.io",
        "virtualmachineclusterpreferences",
        "",
        false,
        ALL,
    ),
    col(
        "migrationpolicy",
        "migrations.kubevirt.io",
        "migrationpolicies",
        "",
        false,
        ALL,
    ),
    col("kubevirt", "kubevirt.io", "kubevirts", "", true, ALL),
    col("dv", "cdi.kubevirt.io", "datavolumes", "", true, ALL),
    col(
        "dv/source",
        "cdi.kubevirt.io",
        "datavolumes",
        "source",
        true,
        CREATE,
    ),
];

fn letter(verb: &str) -> char {
    match verb {
        "get" => 'g',
        "list" => 'l',
        "watch" => 'w',
        "create" => 'c',
        "update" => 'u',
        "patch" => 'p',
        "delete" => 'd',
        "deletecollection" => 'D',
        _ => '?',
    }
}

/// A row: its name and, per column, the verbs allowed (and those RBAC grants but a Cedar
/// `forbid` denies).
struct Row {
    kind: String,
    name: String,
    namespace: String,
    cells: Vec<Vec<&'static str>>,
    denied: Vec<Vec<&'static str>>,
}

fn attrs<'a>(user: &'a User, verb: &'a str, c: &'a Column, ns: &'a str) -> Attributes<'a> {
    Attributes::resource(
        user,
        verb,
        ResourceAttributes {
            namespace: if c.namespaced { ns } else { "" },
            api_group: c.group,
            resource: c.resource,
            subresource: c.subresource,
            name: "",
        },
    )
}

/// A subject's row: RBAC for `user` (the subject's own grants), then the Cedar policies for
/// `member` (the subject as a whole: see `virtguard_policy::representative`), which may deny a
/// verb RBAC grants or allow one it does not.
fn user_row(
    policy: &Policy,
    cedar: Option<&PolicySet>,
    who: (&str, &str, &str),
    user: &User,
    member: &User,
    ns: &str,
) -> Row {
    let (kind, name, sa_ns) = who;
    let mut cells = Vec::new();
    let mut denied = Vec::new();
    for c in COLUMNS {
        let mut allowed = Vec::new();
        let mut forbidden = Vec::new();
        for &v in c.verbs {
            let rbac = policy.allows(&attrs(user, v, c, ns));
            let said = match cedar {
                Some(set) if !member.is_privileged() => {
                    set.decide(&request_of(&attrs(member, v, c, ns))).decision
                }
                _ => CedarDecision::NoOpinion,
            };
            match said {
                CedarDecision::Deny { .. } if rbac => forbidden.push(v),
                CedarDecision::Deny { .. } => {}
                CedarDecision::Allow { .. } => allowed.push(v),
                CedarDecision::NoOpinion if rbac => allowed.push(v),
                CedarDecision::NoOpinion => {}
            }
        }
        cells.push(allowed);
        denied.push(forbidden);
    }
    Row {
        kind: kind.to_string(),
        name: name.to_string(),
        namespace: sa_ns.to_string(),
        cells,
        denied,
    }
}

/// A role's row: what its rules (after aggregation) allow, bound by a RoleBinding in `ns` (or a
/// ClusterRoleBinding with `cluster_wide`). `None` when no such role exists.
fn role_row(policy: &Policy, name: &str, ns: &str, cluster_wide: bool) -> Option<Row> {
    let nobody = User::default();
    let role = policy
        .roles()
        .iter()
        .find(|r| r.name == *name && (r.namespace.is_empty() || r.namespace == ns))?;
    Some(Row {
        denied: vec![Vec::new(); COLUMNS.len()],
        kind: role.kind.as_str().to_string(),
        name: role.name.clone(),
        namespace: role.namespace.clone(),
        cells: COLUMNS
            .iter()
            .map(|c| {
                // A RoleBinding never grants cluster-scoped resources.
                if !c.namespaced && !cluster_wide {
                    return Vec::new();
                }
                c.verbs
                    .iter()
                    .copied()
                    .filter(|v| {
                        role.rules
                            .iter()
                            .any(|r| rule_allows(&attrs(&nobody, v, c, ns), r))
                    })
                    .collect()
            })
            .collect(),
    })
}

/// The access matrix of the default roles present in the policy, as an HTML `<table>` fragment
/// (for the audit report).
pub fn default_roles_fragment(policy: &Policy) -> String {
    let rows: Vec<Row> = [
        "admin",
        "edit",
        "view",
        "kubevirt.io:admin",
        "kubevirt.io:edit",
        "kubevirt.io:view",
        "kubevirt.io:migrate",
        "kubevirt.io:default",
    ]
    .iter()
    .filter_map(|n| role_row(policy, n, "default", false))
    .collect();
    format!(
        "<style>{MATRIX_CSS}table.vg-matrix td,table.vg-matrix th{{white-space:nowrap}}</style>\n<p>What each default role grants when bound by a RoleBinding in a namespace (after aggregation, as this cluster defines the roles).</p>\n{}",
        table_html(&rows)
    )
}

pub fn run(g: &Global, a: &MatrixArgs) -> Result<u8> {
    let loaded = load_all(g)?;
    let policy = &loaded.policy;
    let cedar = loaded.cedar.as_ref().filter(|c| !c.is_empty());
    let ns = a.namespace.clone().unwrap_or_else(|| "default".to_string());
    let mut rows = Vec::new();
    if let Some(u) = &a.as_user {
        let user = User::impersonated(u, &a.as_group);
        rows.push(user_row(policy, cedar, ("User", u, ""), &user, &user, &ns));
    } else if !a.roles.is_empty() {
        for name in &a.roles {
            let Some(row) = role_row(policy, name, &ns, a.cluster_wide) else {
                bail!("role \"{name}\" is neither a ClusterRole nor a Role in namespace {ns} (with --defaults {})", g.defaults);
            };
            rows.push(row);
        }
    } else {
        if let Some(s) = &a.subjects {
            if s != "all" {
                bail!("--subjects takes `all`, got \"{s}\"");
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for b in policy.bindings() {
            if !(b.namespace.is_empty() || b.namespace == ns) {
                continue;
            }
            for s in &b.subjects {
                let sa_ns = match s.kind {
                    SubjectKind::ServiceAccount if s.namespace.is_empty() => b.namespace.clone(),
                    SubjectKind::ServiceAccount => s.namespace.clone(),
                    _ => String::new(),
                };
                if s.kind == SubjectKind::ServiceAccount && sa_ns.is_empty() {
                    continue;
                }
                seen.insert((s.kind, s.name.clone(), sa_ns));
            }
        }
        for (kind, name, sa_ns) in seen {
            let subject = virtguard_rbac::Subject::new(kind, name.clone(), sa_ns.clone());
            let Some(user) = User::from_subject(&subject) else {
                continue;
            };
            let member = representative(&subject);
            let row = user_row(
                policy,
                cedar,
                (kind.as_str(), &name, &sa_ns),
                &user,
                &member,
                &ns,
            );
            if row.cells.iter().chain(&row.denied).any(|c| !c.is_empty()) {
                rows.push(row);
            }
        }
    }
    let format = match (a.format.as_deref(), g.output) {
        (Some(f), _) => f.to_string(),
        (None, Some(Output::Json)) => "json".to_string(),
        (None, Some(Output::Yaml)) => "yaml".to_string(),
        (None, Some(Output::Html)) => "html".to_string(),
        _ => "text".to_string(),
    };
    if g.quiet {
        return Ok(0);
    }
    match format.as_str() {
        "json" | "yaml" => {
            let v = json!({
                "namespace": ns,
                "columns": COLUMNS.iter().map(|c| json!({
                    "label": c.label, "group": c.group, "resource": c.resource,
                    "subresource": c.subresource, "namespaced": c.namespaced, "verbs": c.verbs,
                })).collect::<Vec<_>>(),
                "rows": rows.iter().map(|r| {
                    let cells: serde_json::Map<String, Value> = COLUMNS.iter().zip(&r.cells)
                        .map(|(c, v)| (c.label.to_string(), json!(v))).collect();
                    let mut o = json!({"kind": r.kind, "name": r.name, "cells": cells});
                    if !r.namespace.is_empty() { o["namespace"] = json!(r.namespace); }
                    if cedar.is_some() {
                        let denied: serde_json::Map<String, Value> = COLUMNS.iter().zip(&r.denied)
                            .filter(|(_, v)| !v.is_empty())
                            .map(|(c, v)| (c.label.to_string(), json!(v))).collect();
                        o["deniedByPolicy"] = Value::Object(denied);
                    }
                    o
                }).collect::<Vec<_>>(),
            });
            crate::render::print_structured(&v, format == "yaml")?;
        }
        "csv" => {
            let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
            let mut out = String::from("kind,name,namespace");
            for c in COLUMNS {
                out.push(',');
                out.push_str(&q(c.label));
            }
            out.push('\n');
            for r in &rows {
                out.push_str(&format!(
                    "{},{},{}",
                    q(&r.kind),
                    q(&r.name),
                    q(&r.namespace)
                ));
                for (cell, denied) in r.cells.iter().zip(&r.denied) {
                    out.push(',');
                    let mut text = cell.join(" ");
                    if !denied.is_empty() {
                        text.push_str(&format!(" denied: {}", denied.join(" ")));
                    }
                    out.push_str(&q(text.trim_start()));
                }
                out.push('\n');
            }
            print!("{out}");
        }
        "html" => print!("{}", html(&ns, &rows)),
        "text" => {
            let mut table = vec![std::iter::once("SUBJECT".to_string())
                .chain(COLUMNS.iter().map(|c| c.label.to_string()))
                .collect::<Vec<_>>()];
            for r in &rows {
                let who = if r.namespace.is_empty() {
                    format!("{} {}", r.kind, r.name)
                } else {
                    format!("{} {}/{}", r.kind, r.namespace, r.name)
                };
                let mut line = vec![who];
                for (cell, denied) in r.cells.iter().zip(&r.denied) {
                    let mut text: String = cell.iter().map(|v| letter(v)).collect();
                    if !denied.is_empty() {
                        text.push('!');
                        text.extend(denied.iter().map(|v| letter(v)));
                    }
                    line.push(if text.is_empty() {
                        "-".to_string()
                    } else {
                        text
                    });
                }
                table.push(line);
            }
            println!("namespace {ns}; g get, l list, w watch, c create, u update, p patch, d delete, D deletecollection");
            if cedar.is_some() {
                println!("after !: verbs RBAC grants that a Cedar policy denies");
            }
            print!("{}", crate::render::table(&table));
        }
        other => bail!("unknown matrix format \"{other}\" (text, json, yaml, csv, html)"),
    }
    Ok(0)
}

fn html(ns: &str, rows: &[Row]) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>virtguard access matrix: {}</title>\n<style>body{{font-family:sans-serif}}{MATRIX_CSS}</style></head><body>\n<h1>Access matrix, namespace {}</h1>\n{}</body></html>\n",
        esc(ns),
        esc(ns),
        table_html(rows)
    )
}

/// The matrix's CSS (cells coloured by how much of the column's verbs they allow).
pub const MATRIX_CSS: &str = "table.vg-matrix{border-collapse:collapse;font-size:12px}table.vg-matrix th,table.vg-matrix td{border:1px solid #ccc;padding:2px 4px;text-align:center}table.vg-matrix th{background:#eee}table.vg-matrix td.none{background:#f4f4f4;color:#999}table.vg-matrix td.some{background:#fff3c4}table.vg-matrix td.all{background:#c8e6c9}table.vg-matrix td.who{text-align:left;white-space:nowrap}";

/// The matrix as an HTML `<table class="vg-matrix">` with its legend.
fn table_html(rows: &[Row]) -> String {
    let mut s = String::from("<table class=\"vg-matrix\">\n<tr><th>subject</th>");
    for c in COLUMNS {
        s.push_str(&format!(
            "<th title=\"{}/{}{}\">{}</th>",
            esc(c.group),
            esc(c.resource),
            if c.subresource.is_empty() {
                String::new()
            } else {
                format!("/{}", esc(c.subresource))
            },
            esc(c.label)
        ));
    }
    s.push_str("</tr>\n");
    for r in rows {
        let who = if r.namespace.is_empty() {
            format!("{} {}", r.kind, r.name)
        } else {
            format!("{} {}/{}", r.kind, r.namespace, r.name)
        };
        s.push_str(&format!("<tr><td class=\"who\">{}</td>", esc(&who)));
        for ((c, cell), denied) in COLUMNS.iter().zip(&r.cells).zip(&r.denied) {
            let class = if !denied.is_empty() {
                "denied"
            } else if cell.is_empty() {
                "none"
            } else if cell.len() == c.verbs.len() {
                "all"
            } else {
                "some"
            };
            let mut text: String = cell.iter().map(|v| letter(v)).collect();
            let mut title = cell.join(", ");
            if !denied.is_empty() {
                text.push('!');
                text.extend(denied.iter().map(|v| letter(v)));
                title.push_str(&format!(
                    " (denied by a Cedar policy: {})",
                    denied.join(", ")
                ));
            }
            if text.is_empty() {
                text.push('-');
            }
            s.push_str(&format!(
                "<td class=\"{class}\" title=\"{}\">{}</td>",
                esc(&title),
                esc(&text)
            ));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n<p>g get, l list, w watch, c create, u update, p patch, d delete, D deletecollection");
    if rows.iter().any(|r| r.denied.iter().any(|d| !d.is_empty())) {
        s.push_str("; after !: verbs RBAC grants that a Cedar policy denies");
    }
    s.push_str("</p>\n");
    s
}
