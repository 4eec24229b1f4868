//! Validation of typed RBAC objects as kube-apiserver validates them, and conversion into the
//! `virtguard-rbac` model.

use k8s_openapi::api::rbac::v1::{
    PolicyRule as K8sRule, RoleRef as K8sRoleRef, Subject as K8sSubject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as K8sSelector;
use virtguard_rbac::{
    Binding, BindingKind, LabelSelector, PolicyRule, Requirement, RequirementOperator, Role,
    RoleKind, RoleRef, Subject, SubjectKind,
};

use crate::object::{Object, Typed};

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// What validation found: errors fail the load; warnings name objects kube-apiserver would have
/// rejected but that RBAC still evaluates as written (they grant nothing or less than they seem).
#[derive(Debug, Default)]
pub(crate) struct Checks {
    pub(crate) errors: Vec<String>,
    pub(crate) warnings: Vec<String>,
}

/// Validates a typed object as kube-apiserver would (messages in its words).
pub(crate) fn validate(obj: &Typed, namespace: &str) -> Checks {
    let mut c = Checks::default();
    match obj {
        Typed::Role(r) => {
            if namespace.is_empty() {
                c.errors
                    .push("metadata.namespace is required for a Role".to_string());
            }
            validate_rules(r.rules.as_deref().unwrap_or_default(), true, &mut c);
        }
        Typed::ClusterRole(r) => {
            validate_rules(r.rules.as_deref().unwrap_or_default(), false, &mut c);
            if let Some(agg) = &r.aggregation_rule {
                for (i, sel) in agg.cluster_role_selectors.iter().flatten().enumerate() {
                    if let Err(e) = selector(sel) {
                        c.errors
                            .push(format!("aggregationRule.clusterRoleSelectors[{i}].{e}"));
                    }
                }
            }
        }
        Typed::RoleBinding(b) => {
            if namespace.is_empty() {
                c.errors
                    .push("metadata.namespace is required for a RoleBinding".to_string());
            }
            validate_role_ref(&b.role_ref, true, &mut c);
            validate_subjects(b.subjects.as_deref().unwrap_or_default(), true, &mut c);
        }
        Typed::ClusterRoleBinding(b) => {
            validate_role_ref(&b.role_ref, false, &mut c);
            validate_subjects(b.subjects.as_deref().unwrap_or_default(), false, &mut c);
        }
        Typed::ServiceAccount(_) => {
            if namespace.is_empty() {
                c.errors
                    .push("metadata.namespace is required for a ServiceAccount".to_string());
            }
        }
        Typed::Namespace(_) | Typed::Dynamic(_) => {}
    }
    c
}

fn validate_rules(rules: &[K8sRule], namespaced: bool, c: &mut Checks) {
    let out = &mut c.warnings;
    for (i, r) in rules.iter().enumerate() {
        let empty = |v: &Option<Vec<String>>| v.as_ref().is_none_or(Vec::is_empty);
        if r.verbs.is_empty() {
            out.push(format!(
                "rules[{i}].verbs: Required value: verbs must contain at least one value"
            ));
        }
        if !empty(&r.non_resource_urls) {
            if namespaced {
                out.push(format!(
                    "rules[{i}].nonResourceURLs: Invalid value: namespaced rules cannot apply to non-resource URLs"
                ));
            }
            if !empty(&r.api_groups) || !empty(&r.resources) || !empty(&r.resource_names) {
                out.push(format!(
                    "rules[{i}].nonResourceURLs: Invalid value: rules cannot apply to both regular resources and non-resource URLs"
                ));
            }
            continue;
        }
        if empty(&r.api_groups) {
            out.push(format!(
                "rules[{i}].apiGroups: Required value: resource rules must supply at least one api group"
            ));
        }
        if empty(&r.resources) {
            out.push(format!(
                "rules[{i}].resources: Required value: resource rules must supply at least one resource"
            ));
        }
    }
}

fn validate_role_ref(r: &K8sRoleRef, namespaced: bool, c: &mut Checks) {
    if r.api_group != RBAC_GROUP {
        c.warnings.push(format!(
            "roleRef.apiGroup: Unsupported value: \"{}\": supported values: \"{RBAC_GROUP}\"",
            r.api_group
        ));
    }
    match r.kind.as_str() {
        "ClusterRole" => {}
        "Role" if namespaced => {}
        "Role" => c.warnings.push(
            "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\" (a ClusterRoleBinding cannot grant a Role)".to_string(),
        ),
        other => c.errors.push(format!(
            "roleRef.kind must be Role or ClusterRole, got \"{other}\""
        )),
    }
    if r.name.is_empty() {
        c.errors.push("roleRef.name: Required value".to_string());
    }
}

fn validate_subjects(subjects: &[K8sSubject], namespaced: bool, c: &mut Checks) {
    for (i, s) in subjects.iter().enumerate() {
        if s.name.is_empty() {
            c.errors.push(format!("subjects[{i}].name: Required value"));
        }
        let group = s.api_group.as_deref().unwrap_or("");
        match s.kind.as_str() {
            "ServiceAccount" => {
                if !group.is_empty() {
                    c.warnings.push(format!(
                        "subjects[{i}].apiGroup: Unsupported value: \"{group}\": supported values: \"\""
                    ));
                }
                if !namespaced && s.namespace.as_deref().unwrap_or("").is_empty() {
                    c.warnings.push(format!(
                        "subjects[{i}].namespace: Required value (a ServiceAccount without namespace in a ClusterRoleBinding matches nobody)"
                    ));
                }
            }
            "User" | "Group" => {
                if !group.is_empty() && group != RBAC_GROUP {
                    c.warnings.push(format!(
                        "subjects[{i}].apiGroup: Unsupported value: \"{group}\": supported values: \"{RBAC_GROUP}\""
                    ));
                }
            }
            other => c.errors.push(format!(
                "subjects[{i}].kind: Unsupported value: \"{other}\": supported values: \"ServiceAccount\", \"User\", \"Group\""
            )),
        }
    }
}

fn selector(s: &K8sSelector) -> Result<LabelSelector, String> {
    let mut out = LabelSelector {
        match_labels: s.match_labels.clone().unwrap_or_default(),
        match_expressions: Vec::new(),
    };
    for (j, e) in s.match_expressions.iter().flatten().enumerate() {
        let operator = RequirementOperator::parse(&e.operator).ok_or_else(|| {
            format!(
                "matchExpressions[{j}].operator: Unsupported value: \"{}\": supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\"",
                e.operator
            )
        })?;
        out.match_expressions.push(Requirement {
            key: e.key.clone(),
            operator,
            values: e.values.clone().unwrap_or_default(),
        });
    }
    Ok(out)
}

fn rule(r: &K8sRule) -> PolicyRule {
    PolicyRule {
        verbs: r.verbs.clone(),
        api_groups: r.api_groups.clone().unwrap_or_default(),
        resources: r.resources.clone().unwrap_or_default(),
        resource_names: r.resource_names.clone().unwrap_or_default(),
        non_resource_urls: r.non_resource_urls.clone().unwrap_or_default(),
    }
}

fn subject(s: &K8sSubject) -> Option<Subject> {
    Some(Subject::new(
        SubjectKind::parse(&s.kind)?,
        s.name.clone(),
        s.namespace.clone().unwrap_or_default(),
    ))
}

/// The object as an RBAC role (Role or ClusterRole), with its origin.
pub fn to_role(obj: &Object) -> Option<Role> {
    let (kind, meta, rules, aggregation) = match &obj.typed {
        Typed::Role(r) => (RoleKind::Role, &r.metadata, &r.rules, None),
        Typed::ClusterRole(r) => (
            RoleKind::ClusterRole,
            &r.metadata,
            &r.rules,
            r.aggregation_rule.as_ref().map(|a| {
                a.cluster_role_selectors
                    .iter()
                    .flatten()
                    .filter_map(|s| selector(s).ok())
                    .collect()
            }),
        ),
        _ => return None,
    };
    Some(Role {
        kind,
        name: obj.name.clone(),
        namespace: obj.namespace.clone(),
        labels: meta.labels.clone().unwrap_or_default(),
        aggregation,
        rules: rules
            .iter()
            .flatten()
            .map(|r| std::sync::Arc::new(rule(r)))
            .collect(),
        origin: Some(obj.source.to_string()),
    })
}

/// The object as an RBAC binding (RoleBinding or ClusterRoleBinding), with its origin.
pub fn to_binding(obj: &Object) -> Option<Binding> {
    let (kind, role_ref, subjects) = match &obj.typed {
        Typed::RoleBinding(b) => (BindingKind::RoleBinding, &b.role_ref, &b.subjects),
        Typed::ClusterRoleBinding(b) => (BindingKind::ClusterRoleBinding, &b.role_ref, &b.subjects),
        _ => return None,
    };
    Some(Binding {
        kind,
        name: obj.name.clone(),
        namespace: obj.namespace.clone(),
        role_ref: RoleRef {
            kind: role_ref.kind.clone(),
            name: role_ref.name.clone(),
        },
        subjects: subjects.iter().flatten().filter_map(subject).collect(),
        origin: Some(obj.source.to_string()),
    })
}

/// What [`into_rbac`] makes of an object: a role, a binding, or the object back.
pub enum Rbac {
    /// A Role or ClusterRole.
    Role(Role),
    /// A RoleBinding or ClusterRoleBinding.
    Binding(Binding),
    /// Any other object.
    Other(Object),
}

/// The object as an RBAC role or binding, its strings moved rather than copied: what
/// [`to_role`] and [`to_binding`] give, for a caller that no longer needs the object.
pub fn into_rbac(obj: Object) -> Rbac {
    let origin = Some(obj.source.to_string());
    match obj.typed {
        Typed::Role(r) => Rbac::Role(Role {
            kind: RoleKind::Role,
            name: obj.name,
            namespace: obj.namespace,
            labels: r.metadata.labels.unwrap_or_default(),
            aggregation: None,
            rules: owned_rules(r.rules),
            origin,
        }),
        Typed::ClusterRole(r) => {
            let aggregation = r.aggregation_rule.as_ref().map(|a| {
                a.cluster_role_selectors
                    .iter()
                    .flatten()
                    .filter_map(|s| selector(s).ok())
                    .collect()
            });
            Rbac::Role(Role {
                kind: RoleKind::ClusterRole,
                name: obj.name,
                namespace: obj.namespace,
                labels: r.metadata.labels.unwrap_or_default(),
                aggregation,
                rules: owned_rules(r.rules),
                origin,
            })
        }
        Typed::RoleBinding(b) => Rbac::Binding(owned_binding(
            BindingKind::RoleBinding,
            obj.name,
            obj.namespace,
            b.role_ref,
            b.subjects,
            origin,
        )),
        Typed::ClusterRoleBinding(b) => Rbac::Binding(owned_binding(
            BindingKind::ClusterRoleBinding,
            obj.name,
            obj.namespace,
            b.role_ref,
            b.subjects,
            origin,
        )),
        typed => Rbac::Other(Object { typed, ..obj }),
    }
}

fn owned_rules(rules: Option<Vec<K8sRule>>) -> Vec<std::sync::Arc<PolicyRule>> {
    rules
        .into_iter()
        .flatten()
        .map(|r| {
            std::sync::Arc::new(PolicyRule {
                verbs: r.verbs,
                api_groups: r.api_groups.unwrap_or_default(),
                resources: r.resources.unwrap_or_default(),
                resource_names: r.resource_names.unwrap_or_default(),
                non_resource_urls: r.non_resource_urls.unwrap_or_default(),
            })
        })
        .collect()
}

fn owned_binding(
    kind: BindingKind,
    name: String,
    namespace: String,
    role_ref: K8sRoleRef,
    subjects: Option<Vec<K8sSubject>>,
    origin: Option<String>,
) -> Binding {
    Binding {
        kind,
        name,
        namespace,
        role_ref: RoleRef {
            kind: role_ref.kind,
            name: role_ref.name,
        },
        subjects: subjects
            .into_iter()
            .flatten()
            .filter_map(|s| {
                Some(Subject::new(
                    SubjectKind::parse(&s.kind)?,
                    s.name,
                    s.namespace.unwrap_or_default(),
                ))
            })
            .collect(),
        origin,
    }
}
