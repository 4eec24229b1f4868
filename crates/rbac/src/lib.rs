//! Kubernetes RBAC authorization as a pure function of (request attributes, policy) → decision.
//!
//! The semantics follow Kubernetes' own RBAC authorizer: `evaluation_helpers.go` (rule predicates),
//! `validation/rule.go` (which bindings apply to a user), `authorizer/rbac` (the visit order and the
//! reason strings) and the clusterrole-aggregation controller. Nothing here does I/O: callers turn
//! manifests into [`Role`]s and [`Binding`]s, build a [`Policy`] once, and ask it many questions.

mod access;
mod aggregation;
mod attributes;
mod binding;
mod decision;
mod index;
mod intern;
mod policy;
mod role;
mod rule;
mod selector;
mod subject;

pub use access::{diff_roles, diff_subjects, role_permissions, Change, ChangeSubject, Permission};
pub use aggregation::{aggregate, AggregationWarning};
pub use attributes::{Attributes, NonResourceAttributes, Request, ResourceAttributes};
pub use binding::{Binding, BindingKind, RoleRef};
pub use decision::{Decision, Grant, GrantedSubject};
pub use policy::{Policy, PolicyWarning, RuleSource, SubjectRules};
pub use role::{Role, RoleKind};
pub use rule::{
    api_group_matches, non_resource_url_matches, resource_matches, resource_name_matches,
    rule_allows, verb_matches, PolicyRule,
};
pub use selector::{LabelSelector, Requirement, RequirementOperator};
pub use subject::{
    Subject, SubjectKind, User, ALL_AUTHENTICATED, ALL_UNAUTHENTICATED, ANONYMOUS, SYSTEM_MASTERS,
};
