//! `virtguard can-i`: one decision, kubectl-style, with `--explain` and `--list`.

use anyhow::{bail, Result};
use serde_json::json;
use virtguard_policy::{ChainDecision, DecidedBy};
use virtguard_rbac::{Policy, User};

use crate::args::{CanIArgs, Global, Output};
use crate::cmd::{list, Target};
use crate::input::load_all;
use crate::render::{binding_text, grant_json, grant_text, print_structured, role_text};

/// The user `--as`/`--as-group` stand for, as kube-apiserver's impersonation builds it.
pub fn impersonated(a: &CanIArgs) -> Result<User> {
    match &a.as_user {
        Some(u) if !u.is_empty() => Ok(User::impersonated(u, &a.as_group)),
        _ => {
            if a.as_group.is_empty() {
                bail!("no user to check: pass --as USER (and --as-group GROUP…); offline there is no current user");
            }
            bail!("--as-group needs --as USER, as with kubectl impersonation");
        }
    }
}

/// What `--explain` and `-o json` say when the user is in `system:masters`.
pub const PRIVILEGED_NOTE: &str = "group system:masters is kube-apiserver's privileged group: every request of its members is allowed before RBAC (or any other authorizer) is asked";

pub fn run(g: &Global, a: &CanIArgs) -> Result<u8> {
    let user = impersonated(a)?;
    let loaded = load_all(g)?;
    if a.list {
        return list::run(g, a, &loaded.policy, &user);
    }
    let target = Target::parse(&a.request, &loaded.discovery)?;
    let policy = &loaded.policy;
    let attrs = target.attributes(&user);
    // kube-apiserver's chain: the privileged group, the Cedar webhook (when policies are
    // given), then RBAC. RBAC's own answer (every grant) is kept for the explanation.
    let chained = loaded.chain().decide(&attrs, true);
    let decision = chained
        .rbac
        .clone()
        .unwrap_or_else(|| policy.explain(&attrs));
    let privileged = chained.by == DecidedBy::Privileged;
    let allowed = chained.allowed;
    let code = if allowed { 0 } else { 1 };
    if g.quiet {
        return Ok(code);
    }
    for w in &target.warnings {
        eprintln!("warning: {w}");
    }
    let reason = chained.reason(policy);
    let has_policies = loaded.chain().has_policies();
    let cedar_json = has_policies.then(|| match &chained.cedar {
        // system:masters: kube-apiserver does not ask the webhook.
        None => json!({"decision": "not-asked", "matched": [], "errors": []}),
        Some(e) => json!({
            "decision": match &chained.by {
                DecidedBy::Forbid(_) => "deny",
                DecidedBy::Permit(_) => "allow",
                _ => "no-opinion",
            },
            "matched": e.matched.iter().map(|p| json!({"id": p.id, "source": p.source})).collect::<Vec<_>>(),
            "errors": e.errors,
        }),
    });
    let mut notes = target.notes.clone();
    if privileged {
        notes.push(PRIVILEGED_NOTE.to_string());
    }
    match g.output {
        Some(o @ (Output::Json | Output::Yaml)) => {
            let mut v = json!({
                "allowed": allowed,
                "denied": chained.denied,
                "reason": reason,
                "user": {"name": user.name, "groups": user.groups},
                "request": target.to_json(),
                "grants": decision.grants.iter().map(|g| grant_json(policy, g)).collect::<Vec<_>>(),
                "errors": decision.errors,
                "notes": notes,
                "warnings": target.warnings,
            });
            if let Some(c) = cedar_json {
                // Only with policies: without them the output is RBAC's, as before.
                v["decidedBy"] = json!(match &chained.by {
                    DecidedBy::Privileged => "system:masters",
                    DecidedBy::Forbid(_) | DecidedBy::Permit(_) => "cedar",
                    DecidedBy::Rbac => "rbac",
                });
                v["cedar"] = c;
            }
            print_structured(&v, o == Output::Yaml)?;
        }
        _ => {
            if allowed {
                println!("yes");
            } else if reason.is_empty() {
                println!("no");
            } else {
                println!("no - {reason}");
            }
            if a.explain {
                print!("{}", cedar_text(&chained));
                print!(
                    "{}",
                    explain_text(policy, &user, &target, &decision, privileged)
                );
            }
        }
    }
    Ok(code)
}

/// What the Cedar policies said, for `--explain` (nothing without policies).
fn cedar_text(chained: &ChainDecision) -> String {
    let Some(eval) = &chained.cedar else {
        return String::new();
    };
    let mut s = String::new();
    match &chained.by {
        DecidedBy::Forbid(p) => {
            s.push_str(&format!("denied by Cedar {p}, before RBAC is asked\n"));
        }
        DecidedBy::Permit(p) => {
            s.push_str(&format!("allowed by Cedar {p}, before RBAC is asked\n"));
        }
        _ => s.push_str("Cedar policies: no policy matches (no opinion): RBAC decides\n"),
    }
    for p in eval.matched.iter().skip(1) {
        s.push_str(&format!("  also matching: {p}\n"));
    }
    for e in &eval.errors {
        s.push_str(&format!("  policy skipped (evaluation error): {e}\n"));
    }
    if matches!(chained.by, DecidedBy::Forbid(_) | DecidedBy::Permit(_)) {
        s.push_str("what RBAC alone says:\n");
    }
    s
}

fn explain_text(
    policy: &Policy,
    user: &User,
    target: &Target,
    decision: &virtguard_rbac::Decision,
    privileged: bool,
) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "request: {} as user \"{}\" with groups [{}]\n",
        target.describe(),
        user.name,
        user.groups.join(", ")
    ));
    for n in &target.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    if privileged {
        s.push_str(&format!("note: {PRIVILEGED_NOTE}\n"));
        s.push_str(if decision.allowed {
            "RBAC alone would allow it too:\n"
        } else {
            "RBAC alone would not allow it:\n"
        });
    }
    if decision.allowed {
        s.push_str(&format!("granted by {} rule(s):\n", decision.grants.len()));
        for g in &decision.grants {
            s.push_str(&grant_text(policy, g));
            s.push('\n');
        }
        return s;
    }
    // Why not: what applies to the user here, and what is broken.
    let attrs = target.attributes(user);
    let ns = attrs.namespace();
    let applying: Vec<usize> = policy
        .bindings()
        .iter()
        .enumerate()
        .filter(|(_, b)| {
            (b.namespace.is_empty() || (!ns.is_empty() && b.namespace == ns))
                && b.applies_to(user).is_some()
        })
        .map(|(i, _)| i)
        .collect();
    if applying.is_empty() {
        s.push_str("no binding in scope applies to this user or any of its groups\n");
    } else {
        s.push_str(&format!(
            "{} binding(s) apply to this user here, and none has a rule that matches:\n",
            applying.len()
        ));
        for i in applying {
            let b = &policy.bindings()[i];
            let role = match policy.binding_role(i) {
                Ok(r) => role_text(r),
                Err(e) => format!("(missing: {e})"),
            };
            s.push_str(&format!("  {} → {}\n", binding_text(b), role));
        }
    }
    if !ns.is_empty() {
        s.push_str(&format!(
            "RoleBindings in namespaces other than {ns} do not count; ClusterRoleBindings count everywhere\n"
        ));
    }
    s
}
