//! Subjects of bindings and the users they match (`appliesToUser` in Kubernetes' `rule.go`).

use serde::{Deserialize, Serialize};

/// The group every authenticated user carries.
pub const ALL_AUTHENTICATED: &str = "system:authenticated";
/// The group the anonymous user carries.
pub const ALL_UNAUTHENTICATED: &str = "system:unauthenticated";
/// The anonymous user's name.
pub const ANONYMOUS: &str = "system:anonymous";
const SA_PREFIX: &str = "system:serviceaccount:";

/// Kind of a binding subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SubjectKind {
    /// A user by name.
    User,
    /// A group by name.
    Group,
    /// A service account by namespace and name.
    ServiceAccount,
}

impl SubjectKind {
    /// The kind as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::User => "User",
            SubjectKind::Group => "Group",
            SubjectKind::ServiceAccount => "ServiceAccount",
        }
    }

    /// Parses `User`, `Group` or `ServiceAccount` (exact spelling, as Kubernetes requires).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "User" => Some(SubjectKind::User),
            "Group" => Some(SubjectKind::Group),
            "ServiceAccount" => Some(SubjectKind::ServiceAccount),
            _ => None,
        }
    }
}

/// A subject of a RoleBinding or ClusterRoleBinding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Subject {
    /// User, Group or ServiceAccount.
    pub kind: SubjectKind,
    /// The user, group or service account name.
    pub name: String,
    /// A service account's namespace; empty in a RoleBinding means the binding's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// An authenticated user: a name and groups (`user.Info`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    /// User name; service accounts are `system:serviceaccount:NS:NAME`.
    pub name: String,
    /// Groups, exactly as authenticated.
    pub groups: Vec<String>,
}

impl Subject {
    /// A subject of the given kind.
    pub fn new(kind: SubjectKind, name: impl Into<String>, namespace: impl Into<String>) -> Self {
        Subject {
            kind,
            name: name.into(),
            namespace: namespace.into(),
        }
    }

    /// `appliesToUser`: whether this subject, in a binding of `binding_namespace` (empty for a
    /// ClusterRoleBinding), matches the user.
    pub fn applies_to(&self, user: &User, binding_namespace: &str) -> bool {
        match self.kind {
            SubjectKind::User => user.name == self.name,
            SubjectKind::Group => user.groups.contains(&self.name),
            SubjectKind::ServiceAccount => match self.service_account_username(binding_namespace) {
                Some(u) => user.name == u,
                None => false,
            },
        }
    }

    /// The user name a ServiceAccount subject stands for in a binding of `binding_namespace`, or
    /// `None` when it has no namespace (an SA without namespace in a ClusterRoleBinding matches
    /// nobody). `None` as well for User and Group subjects.
    pub fn service_account_username(&self, binding_namespace: &str) -> Option<String> {
        if self.kind != SubjectKind::ServiceAccount {
            return None;
        }
        let ns = if self.namespace.is_empty() {
            binding_namespace
        } else {
            &self.namespace
        };
        if ns.is_empty() {
            return None;
        }
        Some(format!("{SA_PREFIX}{ns}:{}", self.name))
    }

    /// `describeSubject`: how Kubernetes names the subject in a reason string.
    pub fn describe(&self, binding_namespace: &str) -> String {
        match self.kind {
            SubjectKind::ServiceAccount => {
                let ns = if self.namespace.is_empty() {
                    binding_namespace
                } else {
                    &self.namespace
                };
                format!("ServiceAccount \"{}/{}\"", self.name, ns)
            }
            k => format!("{} \"{}\"", k.as_str(), self.name),
        }
    }
}

/// kube-apiserver's privileged group: its members are allowed every request by the
/// privileged-group authorizer, which runs before any other (RBAC included). RBAC itself knows
/// no superuser; callers that model kube-apiserver's whole chain check [`User::is_privileged`].
pub const SYSTEM_MASTERS: &str = "system:masters";

impl User {
    /// Whether kube-apiserver allows this user everything before RBAC is asked (a member of
    /// [`SYSTEM_MASTERS`]).
    pub fn is_privileged(&self) -> bool {
        self.groups.iter().any(|g| g == SYSTEM_MASTERS)
    }

    /// A user with exactly these groups.
    pub fn new(name: impl Into<String>, groups: Vec<String>) -> Self {
        User {
            name: name.into(),
            groups,
        }
    }

    /// The user kube-apiserver's impersonation produces for `--as NAME --as-group G…`:
    /// a service-account name gets its SA groups when no group is given; every user but
    /// `system:anonymous` gets `system:authenticated` unless `system:authenticated` or
    /// `system:unauthenticated` was given; the anonymous user without groups carries
    /// `system:unauthenticated`, as a real anonymous request does.
    pub fn impersonated(name: &str, groups: &[String]) -> Self {
        let mut out: Vec<String> = groups.to_vec();
        if groups.is_empty() {
            if let Some((ns, _)) = split_service_account(name) {
                out.push("system:serviceaccounts".to_string());
                out.push(format!("system:serviceaccounts:{ns}"));
            }
        }
        if name == ANONYMOUS {
            if out.is_empty() {
                out.push(ALL_UNAUTHENTICATED.to_string());
            }
        } else if !out
            .iter()
            .any(|g| g == ALL_AUTHENTICATED || g == ALL_UNAUTHENTICATED)
        {
            out.push(ALL_AUTHENTICATED.to_string());
        }
        User {
            name: name.to_string(),
            groups: out,
        }
    }

    /// The user a subject stands for, for checking a who-can answer: a User by name, a Group as a
    /// nameless member, a ServiceAccount by its user name. `None` for an SA without namespace.
    pub fn from_subject(subject: &Subject) -> Option<Self> {
        match subject.kind {
            SubjectKind::User => Some(User::new(subject.name.clone(), vec![])),
            SubjectKind::Group => Some(User::new("", vec![subject.name.clone()])),
            SubjectKind::ServiceAccount => subject
                .service_account_username("")
                .map(|n| User::new(n, vec![])),
        }
    }
}

/// Splits `system:serviceaccount:NS:NAME` into (NS, NAME), as `serviceaccount.SplitUsername`.
pub fn split_service_account(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix(SA_PREFIX)?;
    let (ns, name) = rest.split_once(':')?;
    if ns.is_empty() || name.is_empty() || name.contains(':') {
        return None;
    }
    Some((ns, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sa_without_namespace_uses_binding_namespace() {
        let s = Subject::new(SubjectKind::ServiceAccount, "builder", "");
        let u = User::new("system:serviceaccount:ci:builder", vec![]);
        assert!(s.applies_to(&u, "ci"));
        assert!(!s.applies_to(&u, "other"));
        assert!(!s.applies_to(&u, ""));
    }

    #[test]
    fn impersonation_adds_groups() {
        let u = User::impersonated("system:serviceaccount:ci:b", &[]);
        assert_eq!(
            u.groups,
            vec![
                "system:serviceaccounts",
                "system:serviceaccounts:ci",
                "system:authenticated"
            ]
        );
        let u = User::impersonated("alice", &["g".into()]);
        assert_eq!(u.groups, vec!["g", "system:authenticated"]);
        let u = User::impersonated("alice", &["system:unauthenticated".into()]);
        assert_eq!(u.groups, vec!["system:unauthenticated"]);
        let u = User::impersonated(ANONYMOUS, &[]);
        assert_eq!(u.groups, vec!["system:unauthenticated"]);
    }
}
