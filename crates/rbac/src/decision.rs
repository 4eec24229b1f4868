//! Decisions that carry their reason: the binding, subject, role and rule that allowed a request.

use crate::policy::Policy;
use crate::subject::Subject;

/// Why access is granted: binding → subject → role → rule (indices into the [`Policy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grant {
    /// Index of the binding in [`Policy::bindings`] (ClusterRoleBindings first, by name).
    pub binding: usize,
    /// Index of the binding subject that applies.
    pub subject: usize,
    /// Index of the rule in the role's rules.
    pub rule: usize,
}

/// The answer to one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Whether RBAC allows the request. RBAC never denies: `false` means "no opinion".
    pub allowed: bool,
    /// The grants found: the first one for [`Policy::decide`], all of them for [`Policy::explain`].
    pub grants: Vec<Grant>,
    /// Errors met on the way (bindings whose role does not exist), as Kubernetes words them.
    pub errors: Vec<String>,
}

/// A subject that may do something, with every grant that lets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedSubject {
    /// The subject as the binding names it; a ServiceAccount's namespace filled in.
    pub subject: Subject,
    /// The grants, in policy order.
    pub grants: Vec<Grant>,
}

impl Decision {
    /// The reason string kube-apiserver's RBAC authorizer gives: `RBAC: allowed by …` when
    /// allowed, `RBAC: <errors>` when denied with errors, empty otherwise.
    pub fn reason(&self, policy: &Policy) -> String {
        if self.allowed {
            match self.grants.first() {
                Some(g) => format!("RBAC: allowed by {}", policy.describe_grant(g)),
                None => "RBAC: allowed".to_string(),
            }
        } else if self.errors.is_empty() {
            String::new()
        } else {
            format!("RBAC: {}", aggregate_errors(&self.errors))
        }
    }
}

/// Joins errors as apimachinery's aggregate error prints them: one message alone, several
/// distinct messages as `[a, b]`.
fn aggregate_errors(errors: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for e in errors {
        if !seen.contains(&e.as_str()) {
            seen.push(e);
        }
    }
    if seen.len() == 1 {
        seen[0].to_string()
    } else {
        format!("[{}]", seen.join(", "))
    }
}
