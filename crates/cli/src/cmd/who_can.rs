//! `virtguard who-can`: every subject that may perform an action, with the bindings that let it.
//! Group `system:masters`, which kube-apiserver allows everything before RBAC, is always listed
//! first (as Kubernetes' own subject locator lists it).

use anyhow::Result;
use serde_json::{json, Value};
use virtguard_rbac::{SubjectKind, User, SYSTEM_MASTERS};

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
                .chain(subjects.iter().map(|s| {
                    let mut v = json!({"kind": s.subject.kind.as_str(), "name": s.subject.name});
                    if !s.subject.namespace.is_empty() {
                        v["namespace"] = json!(s.subject.namespace);
                    }
                    v["grants"] =
                        Value::Array(s.grants.iter().map(|g| grant_json(policy, g)).collect());
                    v
                }))
                .collect();
            let v = json!({"request": target.to_json(), "subjects": list, "notes": target.notes, "warnings": target.warnings});
            print_structured(&v, o == Output::Yaml)?;
        }
        _ => {
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
            for s in &subjects {
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
                        if s.subject.kind == SubjectKind::ServiceAccount {
                            s.subject.namespace.clone()
                        } else {
                            String::new()
                        },
                        scope,
                        format!("{} → {}", binding_text(b), role),
                    ]);
                }
            }
            print!("{}", table(&rows));
        }
    }
    Ok(code)
}
