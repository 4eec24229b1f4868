//! RoleBindings and ClusterRoleBindings: who gets which role, and where.

use serde::Serialize;

use crate::role::RoleKind;
use crate::subject::Subject;

/// RoleBinding (grants in one namespace) or ClusterRoleBinding (grants everywhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum BindingKind {
    /// A ClusterRoleBinding.
    ClusterRoleBinding,
    /// A namespaced RoleBinding.
    RoleBinding,
}

impl BindingKind {
    /// The kind as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            BindingKind::ClusterRoleBinding => "ClusterRoleBinding",
            BindingKind::RoleBinding => "RoleBinding",
        }
    }
}

/// `roleRef`: the role a binding grants. `kind` is kept as written: a kind other than Role or
/// ClusterRole (or a Role from a ClusterRoleBinding) grants nothing, as in Kubernetes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleRef {
    /// `Role` or `ClusterRole` as written in the manifest.
    pub kind: String,
    /// Name of the role.
    pub name: String,
}

impl RoleRef {
    /// The referenced kind, when it is one RBAC understands.
    pub fn role_kind(&self) -> Option<RoleKind> {
        match self.kind.as_str() {
            "Role" => Some(RoleKind::Role),
            "ClusterRole" => Some(RoleKind::ClusterRole),
            _ => None,
        }
    }
}

/// A RoleBinding or ClusterRoleBinding.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// RoleBinding or ClusterRoleBinding.
    pub kind: BindingKind,
    /// Object name.
    pub name: String,
    /// Namespace of a RoleBinding; empty for a ClusterRoleBinding.
    pub namespace: String,
    /// The role granted.
    pub role_ref: RoleRef,
    /// Who is granted it.
    pub subjects: Vec<Subject>,
    /// Where the object came from (`file:line`), for explanations; opaque to this crate.
    pub origin: Option<String>,
}

impl Binding {
    /// A ClusterRoleBinding to a ClusterRole.
    pub fn cluster(
        name: impl Into<String>,
        role: impl Into<String>,
        subjects: Vec<Subject>,
    ) -> Self {
        Binding {
            kind: BindingKind::ClusterRoleBinding,
            name: name.into(),
            namespace: String::new(),
            role_ref: RoleRef {
                kind: "ClusterRole".into(),
                name: role.into(),
            },
            subjects,
            origin: None,
        }
    }

    /// A RoleBinding in `namespace` to a Role or ClusterRole.
    pub fn namespaced(
        namespace: impl Into<String>,
        name: impl Into<String>,
        role_kind: RoleKind,
        role: impl Into<String>,
        subjects: Vec<Subject>,
    ) -> Self {
        Binding {
            kind: BindingKind::RoleBinding,
            name: name.into(),
            namespace: namespace.into(),
            role_ref: RoleRef {
                kind: role_kind.as_str().into(),
                name: role.into(),
            },
            subjects,
            origin: None,
        }
    }

    /// The first subject that applies to the user (`appliesTo`), by index.
    pub fn applies_to(&self, user: &crate::User) -> Option<usize> {
        self.subjects
            .iter()
            .position(|s| s.applies_to(user, &self.namespace))
    }

    /// How Kubernetes names the binding in a reason: `ClusterRoleBinding "n"` or
    /// `RoleBinding "n/ns"`.
    pub fn describe_name(&self) -> String {
        match self.kind {
            BindingKind::ClusterRoleBinding => format!("ClusterRoleBinding \"{}\"", self.name),
            BindingKind::RoleBinding => {
                format!("RoleBinding \"{}/{}\"", self.name, self.namespace)
            }
        }
    }
}
