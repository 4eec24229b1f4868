//! VG121–VG123: escalation paths (`virtguard paths`) as findings, one per subject and target,
//! with the path as evidence and the binding of its first step as the object to change. A path
//! whose first step a vendor binding grants (one of the defaults, unchanged: an operator's own
//! rights) is by design and not reported, as the other RBAC checks treat vendor bindings.
//! The search itself is the caller's (it needs the snapshot's facts and the authorizer chain).

use crate::finding::{Finding, SubjectRef};
use crate::{finding, rbac, Context, Selection};
use virtguard_paths::{Answer, Gain, Target};

/// The check of a target.
fn check_of(target: Target) -> &'static str {
    match target {
        Target::ClusterAdmin => "VG121",
        Target::Node => "VG122",
        Target::VirtLauncher => "VG123",
    }
}

/// The paths of `answer` that one of `findings` reports (its check and first subject), for the
/// report's graph view: what the reader is shown as findings, no more (vendor paths, checks not
/// selected and suppressed findings are left out as they are from the findings). No admins.
pub fn reported_paths(answer: &Answer, findings: &[Finding]) -> Answer {
    let paths = answer
        .paths
        .iter()
        .filter(|p| {
            let id = check_of(p.target);
            findings.iter().any(|f| {
                f.id == id
                    && f.subjects.first().is_some_and(|s| {
                        s.kind == p.subject.kind
                            && s.name == p.subject.name
                            && s.namespace == p.subject.namespace
                    })
            })
        })
        .cloned()
        .collect();
    Answer {
        admins: Vec::new(),
        paths,
    }
}

/// One finding per path of `answer` whose check `sel` wants.
pub fn path_findings(answer: &Answer, ctx: &Context<'_>, sel: &Selection) -> Vec<Finding> {
    let policy = ctx.policy;
    let mut out = Vec::new();
    for p in &answer.paths {
        let id = check_of(p.target);
        if !sel.wants(id) {
            continue;
        }
        let first_binding = p
            .steps
            .first()
            .and_then(|s| s.grants.first())
            .map(|g| g.binding);
        if first_binding.is_some_and(|b| ctx.is_vendor_index(b)) {
            continue;
        }
        let n = p.steps.len();
        let first = p.steps.first();
        let mut f = finding(
            id,
            format!(
                "{} can reach {} in {n} step{}{}",
                p.subject.describe(),
                p.target.as_str(),
                if n == 1 { "" } else { "s" },
                first.map(|s| format!(": {}", s.action)).unwrap_or_default()
            ),
        );
        f.subjects.push(SubjectRef {
            kind: p.subject.kind.to_string(),
            name: p.subject.name.clone(),
            namespace: p.subject.namespace.clone(),
        });
        let mut evidence = Vec::new();
        for (i, s) in p.steps.iter().enumerate() {
            let gains = match &s.gains {
                Gain::Target(t) => t.as_str().to_string(),
                Gain::Identity(id) => id.describe(),
            };
            evidence.push(format!("{}. {} ⇒ {gains}", i + 1, s.action));
            for g in &s.grants {
                evidence.push(format!("   via {}", policy.describe_grant(g)));
            }
        }
        f.evidence = evidence.join("\n");
        if let Some(b) = first
            .and_then(|s| s.grants.first())
            .and_then(|g| policy.bindings().get(g.binding))
        {
            f.objects.push(rbac::binding_ref(b));
            f.remediation = format!(
                "Take {} out of {} (or narrow {} {}). {}",
                p.subject.describe(),
                b.describe_name(),
                b.role_ref.kind,
                b.role_ref.name,
                f.remediation
            );
        }
        out.push(f);
    }
    out.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    out.dedup();
    out
}
