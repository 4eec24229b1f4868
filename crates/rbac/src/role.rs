//! Roles and ClusterRoles: named lists of rules, possibly aggregated from other ClusterRoles.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::rule::PolicyRule;
use crate::selector::LabelSelector;

/// Role (namespaced) or ClusterRole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum RoleKind {
    /// A namespaced Role.
    Role,
    /// A cluster-wide ClusterRole.
    ClusterRole,
}

impl RoleKind {
    /// The kind as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            RoleKind::Role => "Role",
            RoleKind::ClusterRole => "ClusterRole",
        }
    }

    /// Lower-case singular resource name used in not-found errors (`clusterrole`, `role`).
    pub fn lister_resource(self) -> &'static str {
        match self {
            RoleKind::Role => "role",
            RoleKind::ClusterRole => "clusterrole",
        }
    }
}

/// A Role or ClusterRole as evaluated by RBAC.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    /// Role or ClusterRole.
    pub kind: RoleKind,
    /// Object name.
    pub name: String,
    /// Namespace of a Role; empty for a ClusterRole.
    pub namespace: String,
    /// Labels (aggregation selects ClusterRoles by them).
    pub labels: BTreeMap<String, String>,
    /// `aggregationRule.clusterRoleSelectors`, when the ClusterRole is aggregated.
    pub aggregation: Option<Vec<LabelSelector>>,
    /// The rules (for an aggregated ClusterRole: after aggregation). Shared, because aggregated
    /// roles repeat the rules of the roles they aggregate.
    pub rules: Vec<Arc<PolicyRule>>,
    /// Where the object came from (`file:line`), for explanations; opaque to this crate.
    pub origin: Option<String>,
}

impl Role {
    /// A ClusterRole with these rules.
    pub fn cluster(name: impl Into<String>, rules: Vec<PolicyRule>) -> Self {
        Role {
            kind: RoleKind::ClusterRole,
            name: name.into(),
            namespace: String::new(),
            labels: BTreeMap::new(),
            aggregation: None,
            rules: rules.into_iter().map(Arc::new).collect(),
            origin: None,
        }
    }

    /// A namespaced Role with these rules.
    pub fn namespaced(
        namespace: impl Into<String>,
        name: impl Into<String>,
        rules: Vec<PolicyRule>,
    ) -> Self {
        Role {
            kind: RoleKind::Role,
            namespace: namespace.into(),
            ..Role::cluster(name, rules)
        }
    }
}
