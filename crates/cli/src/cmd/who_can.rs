//! `virtguard who-can`: every subject that may perform an action, with the bindings that let it.
//! Group `system:masters`, which kube-apiserver allows everything before RBAC, is always listed
//! first (as Kubernetes' own subject locator lists it). With Cedar policies, subjects a `forbid`
//! denies are left out, subjects a `permit` allows are added, and a subject denied only when in
//! some group is listed with that condition.

use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use virtguard_policy::{PolicyRef, PolicySet, SubjectVerdict};
use virtguard_rbac::{
    Attributes, GrantedSubject, Policy, Request, Subject, SubjectKind, User, SYSTEM_MASTERS,
};

use crate::args::{Global, Output, WhoCanArgs};
use crate::cmd::{Target, TargetKind};
use crate::input::load_all;
use crate::render::{binding_text, grant_json, print_structured, role_text, table};

pub fn run(g: &Global, a: &WhoCanArgs) -> Result<u8> {
    let loaded = load_all(g)?;
    let target = Target::parse(&a.request, &loaded.discovery)?;
    let policy = &loaded.policy;
    let nobody = User::default();
    let attrs = target.attributes(&nobody);
    let all_ns = a.request.all_namespaces
        && matches!(
            target.kind,
            TargetKind::Resource {
                namespaced: Some(true) | None,
                ..
            }
        );
    let subjects = policy.who_can(&attrs, all_ns);
    let judged = match loaded.cedar.as_ref().filter(|c| !c.is_empty()) {
        Some(cedar) => judge(cedar, policy, &attrs, subjects),
        None => Judged {
            subjects: subjects
                .into_iter()
                .map(|s| (s, SubjectVerdict::default()))
                .collect(),
            left_out: Vec::new(),
        },
    };
    let subjects = judged.subjects;
    // kube-apiserver allows its privileged group everything before RBAC; it is listed first, and
    // "nobody can" (exit 1) means nobody else.
    let code = if subjects.is_empty() { 1 } else { 0 };
    if g.quiet {
        return Ok(code);
    }
    for w in &target.warnings {
        eprintln!("warning: {w}");
    }
    match g.output {
        Some(o @ (Output::Json | Output::Yaml)) => {
            let privileged =
                json!({"kind": "Group", "name": SYSTEM_MASTERS, "privileged": true, "grants": []});
            let list: Vec<Value> = std::iter::once(privileged)
                .chain(subjects.iter().map(|(s, verdict)| {
                    let mut v = subject_json(&s.subject);
                    v["grants"] =
                        Value::Array(s.grants.iter().map(|g| grant_json(policy, g)).collect());
                    if let Some(p) = &verdict.permitted {
                        v["permittedBy"] = policy_json(p);
                    }
                    if let (Some(p), false) = (&verdict.denied, verdict.allowed_when_in.is_empty())
                    {
                        v["onlyWhenIn"] =
                            json!({"groups": verdict.allowed_when_in, "policy": policy_json(p)});
                    }
                    if !verdict.denied_when_in.is_empty() {
                        v["deniedWhenIn"] = Value::Array(
                            verdict
                                .denied_when_in
                                .iter()
                                .map(|(g, p)| json!({"group": g, "policy": policy_json(p)}))
                                .collect(),
                        );
                    }
                    v
                }))
                .collect();
            let mut v = json!({"request": target.to_json(), "subjects": list, "notes": target.notes, "warnings": target.warnings});
            if loaded.cedar.is_some() {
                v["deniedByPolicy"] = Value::Array(
                    judged
                        .left_out
                        .iter()
                        .map(|(s, p)| {
                            let mut v = subject_json(s);
                            v["policy"] = policy_json(p);
                            v
                        })
                        .collect(),
                );
            }
            print_structured(&v, o == Output::Yaml)?;
        }
        _ => {
            print_left_out(&judged.left_out);
            if subjects.is_empty() {
                println!(
                    "No subject can {} (apart from Group {SYSTEM_MASTERS}, kube-apiserver's privileged group)",
                    target.describe()
                );
                return Ok(code);
            }
            let mut rows = vec![
                vec![
                    "KIND".to_string(),
                    "NAME".to_string(),
                    "NAMESPACE".to_string(),
                    "SCOPE".to_string(),
                    "VIA".to_string(),
                ],
                vec![
                    "Group".to_string(),
                    SYSTEM_MASTERS.to_string(),
                    String::new(),
                    "cluster".to_string(),
                    "kube-apiserver's privileged group (allowed before RBAC)".to_string(),
                ],
            ];
            for (s, verdict) in &subjects {
                let mut unless: String = verdict
                    .denied_when_in
                    .iter()
                    .map(|(g, p)| format!(" (unless in group {g}: denied by {p})"))
                    .collect();
                if let (Some(p), false) = (&verdict.denied, verdict.allowed_when_in.is_empty()) {
                    unless.push_str(&format!(
                        " (only members of group {}: others denied by {p})",
                        verdict.allowed_when_in.join(" or ")
                    ));
                }
                if s.grants.is_empty() {
                    if let Some(p) = &verdict.permitted {
                        rows.push(vec![
                            s.subject.kind.as_str().to_string(),
                            s.subject.name.clone(),
                            sa_namespace(&s.subject),
                            "cedar".to_string(),
                            format!("allowed by Cedar {p}{unless}"),
                        ]);
                    }
                    continue;
                }
                let mut seen = Vec::new();
                for g in &s.grants {
                    if seen.contains(&g.binding) {
                        continue;
                    }
                    seen.push(g.binding);
                    let b = &policy.bindings()[g.binding];
                    let role = policy
                        .binding_role(g.binding)
                        .map(role_text)
                        .unwrap_or_default();
                    let scope = if b.namespace.is_empty() {
                        "cluster".to_string()
                    } else {
                        b.namespace.clone()
                    };
                    rows.push(vec![
                        s.subject.kind.as_str().to_string(),
                        s.subject.name.clone(),
                        sa_namespace(&s.subject),
                        scope,
                        format!("{} → {}{unless}", binding_text(b), role),
                    ]);
                }
            }
            print!("{}", table(&rows));
        }
    }
    Ok(code)
}

/// The RBAC answer after the Cedar policies: subjects still allowed (with what the policies
/// add) and subjects a `forbid` leaves out.
struct Judged {
    subjects: Vec<(GrantedSubject, SubjectVerdict)>,
    left_out: Vec<(Subject, PolicyRef)>,
}

/// Applies the Cedar policies to RBAC's subjects: each grant is judged in its own namespace
/// (a RoleBinding's, else the request's) for the subject's representative member; grants a
/// `forbid` removes are dropped, and a subject with none left is left out. Subjects RBAC does
/// not grant but a `permit` allows are added: every subject of the snapshot's bindings and
/// every user and group the policies name is asked.
fn judge(
    cedar: &PolicySet,
    policy: &Policy,
    attrs: &Attributes<'_>,
    subjects: Vec<GrantedSubject>,
) -> Judged {
    let groups = cedar.named_groups();
    let mut out = Judged {
        subjects: Vec::new(),
        left_out: Vec::new(),
    };
    let mut seen: BTreeSet<Subject> = BTreeSet::new();
    for mut s in subjects {
        seen.insert(s.subject.clone());
        let mut verdicts: BTreeMap<String, SubjectVerdict> = BTreeMap::new();
        let mut denied_by = None;
        s.grants.retain(|g| {
            let ns: &str = &policy.bindings()[g.binding].namespace;
            let v = verdicts
                .entry(ns.to_owned())
                .or_insert_with(|| cedar.judge(&s.subject, &in_namespace(attrs, ns), &groups));
            if let (true, Some(p)) = (v.every_member_denied(), &v.denied) {
                denied_by.get_or_insert_with(|| p.clone());
                false
            } else {
                true
            }
        });
        match (s.grants.is_empty(), denied_by) {
            (true, Some(p)) => out.left_out.push((s.subject, p)),
            _ => {
                let verdict = verdicts
                    .into_values()
                    .find(|v| !v.every_member_denied())
                    .unwrap_or_default();
                out.subjects.push((s, verdict));
            }
        }
    }
    // Subjects only Cedar allows.
    let mut candidates: BTreeSet<Subject> = BTreeSet::new();
    for b in policy.bindings() {
        for s in &b.subjects {
            let mut s = s.clone();
            if s.kind == SubjectKind::ServiceAccount && s.namespace.is_empty() {
                s.namespace = b.namespace.clone();
            }
            if s.kind != SubjectKind::ServiceAccount {
                s.namespace.clear();
            }
            candidates.insert(s);
        }
    }
    for g in &groups {
        candidates.insert(Subject::new(SubjectKind::Group, g.clone(), ""));
    }
    for u in cedar.named_users() {
        candidates.insert(Subject::new(SubjectKind::User, u, ""));
    }
    for c in candidates {
        if seen.contains(&c) {
            continue;
        }
        let v = cedar.judge(&c, attrs, &groups);
        if v.denied.is_none() && v.permitted.is_some() {
            out.subjects.push((
                GrantedSubject {
                    subject: c,
                    grants: Vec::new(),
                },
                v,
            ));
        }
    }
    out.subjects.sort_by(|a, b| a.0.subject.cmp(&b.0.subject));
    out
}

/// `attrs` in namespace `ns` (unchanged when `ns` is empty or the request is not a resource).
fn in_namespace<'a>(attrs: &Attributes<'a>, ns: &'a str) -> Attributes<'a> {
    let mut a = attrs.clone();
    if let Request::Resource(r) = &mut a.request {
        if !ns.is_empty() {
            r.namespace = ns;
        }
    }
    a
}

fn subject_json(s: &Subject) -> Value {
    let mut v = json!({"kind": s.kind.as_str(), "name": s.name});
    if !s.namespace.is_empty() {
        v["namespace"] = json!(s.namespace);
    }
    v
}

fn policy_json(p: &PolicyRef) -> Value {
    json!({"id": p.id, "source": p.source})
}

fn sa_namespace(s: &Subject) -> String {
    if s.kind == SubjectKind::ServiceAccount {
        s.namespace.clone()
    } else {
        String::new()
    }
}

/// The subjects a `forbid` leaves out, on stderr (the table is the answer).
fn print_left_out(left_out: &[(Subject, PolicyRef)]) {
    for (s, p) in left_out {
        let ns = if s.namespace.is_empty() {
            String::new()
        } else {
            format!(" in {}", s.namespace)
        };
        eprintln!(
            "note: {} {}{ns} is granted by RBAC but denied by Cedar {p}: left out",
            s.kind.as_str(),
            s.name
        );
    }
}
