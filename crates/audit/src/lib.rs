//! KubeVirt posture audit: pure checks over a snapshot and its RBAC policy.
//!
//! Each check is a function from a [`Context`] to findings, registered with its metadata in
//! [`registry::CHECKS`]. RBAC checks go through the real policy (aggregation applied, a
//! ClusterRole bound by a RoleBinding counts in that namespace only) and never report the
//! defaults: Kubernetes' bootstrap bindings and KubeVirt's/CDI's own component bindings, as the
//! catalog defines them for the detected release. No I/O: the caller loads and renders.

mod certs;
mod context;
mod finding;
mod host;
mod kubevirt_cr;
mod network;
mod nodes;
mod paths;
mod podsec;
mod rbac;
mod registry;
mod suppress;
mod value;
mod vmspec;
mod workloads;

pub use context::{Context, PreAuthorizer, Skipped};
pub use finding::{Category, Finding, ObjectRef, Severity, SubjectRef};
pub use kubevirt_cr::{MANUAL_WITHOUT_GATE, RISKY_GATES};
pub use nodes::{node_facts, node_findings, NodeFacts, Vulnerability};
pub use paths::{path_findings, reported_paths};
pub use registry::{check, CheckInfo, CHECKS, OPT_IN};
pub use suppress::{apply_suppressions, Suppressed, Suppression, SuppressionError};
pub use value::strings_at;
pub use workloads::workload_findings;

/// Which checks to run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only these ids (empty: all).
    pub only: Vec<String>,
    /// Never these ids.
    pub skip: Vec<String>,
    /// Also the [`OPT_IN`](registry::OPT_IN) checks (escalation paths).
    pub paths: bool,
}

impl Selection {
    /// Whether the check runs. An opt-in check runs when `paths` is set or `only` names it.
    pub fn wants(&self, id: &str) -> bool {
        let named = self.only.iter().any(|o| o == id);
        let chosen = if registry::OPT_IN.contains(&id) {
            named || (self.paths && self.only.is_empty())
        } else {
            self.only.is_empty() || named
        };
        chosen && !self.skip.iter().any(|s| s == id)
    }

    /// Whether any escalation-path check runs.
    pub fn wants_paths(&self) -> bool {
        registry::OPT_IN.iter().any(|id| self.wants(id))
    }

    /// Ids given that no check has.
    pub fn unknown_ids(&self) -> Vec<&str> {
        self.only
            .iter()
            .chain(&self.skip)
            .map(String::as_str)
            .filter(|id| check(id).is_none())
            .collect()
    }
}

/// A module's entry point: runs its selected checks, appending findings.
type CheckGroup = fn(&Context<'_>, &Selection, &mut Vec<Finding>);

/// Runs the selected checks; findings sorted by severity (most severe first), id, namespace
/// and object.
pub fn run(ctx: &Context<'_>, sel: &Selection) -> Vec<Finding> {
    let mut out = Vec::new();
    let groups: [(&[&str], CheckGroup); 8] = [
        (&["VG001"], context::skipped_findings),
        (
            &[
                "VG101", "VG102", "VG103", "VG104", "VG105", "VG106", "VG107", "VG108", "VG109",
                "VG110",
            ],
            rbac::run,
        ),
        (
            &[
                "VG201", "VG202", "VG203", "VG204", "VG205", "VG206", "VG207", "VG208",
            ],
            kubevirt_cr::run,
        ),
        (
            &[
                "VG301", "VG302", "VG303", "VG304", "VG305", "VG306", "VG307", "VG308", "VG309",
                "VG310", "VG311",
            ],
            workloads::run,
        ),
        (&["VG401", "VG402", "VG403"], network::run),
        (&["VG501", "VG502", "VG601"], podsec::run),
        (&["VG701", "VG702"], nodes::run),
        (&["VG801"], certs::run),
    ];
    for (ids, f) in groups {
        if ids.iter().any(|id| sel.wants(id)) {
            f(ctx, sel, &mut out);
        }
    }
    out.retain(|f| sel.wants(f.id));
    out.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    out.dedup();
    out
}

/// A finding of check `id` with the registry's metadata filled in.
pub(crate) fn finding(id: &'static str, message: String) -> Finding {
    let c = check(id).unwrap_or(&CHECKS[0]);
    Finding {
        id: c.id,
        severity: c.severity,
        title: c.title,
        category: c.category,
        message,
        namespace: String::new(),
        objects: Vec::new(),
        subjects: Vec::new(),
        evidence: String::new(),
        remediation: c.remediation.to_string(),
        references: c.references.to_vec(),
    }
}

#[cfg(test)]
mod selection_tests {
    use super::Selection;

    #[test]
    fn path_checks_are_opt_in() {
        let default = Selection::default();
        assert!(default.wants("VG101"));
        assert!(!default.wants("VG121") && !default.wants_paths());
        let paths = Selection {
            paths: true,
            ..Selection::default()
        };
        assert!(paths.wants("VG121") && paths.wants("VG101"));
        let named = Selection {
            only: vec!["VG122".into()],
            ..Selection::default()
        };
        assert!(named.wants("VG122") && !named.wants("VG121") && !named.wants("VG101"));
        let skipped = Selection {
            paths: true,
            skip: vec!["VG121".into()],
            ..Selection::default()
        };
        assert!(!skipped.wants("VG121") && skipped.wants("VG122"));
    }
}
