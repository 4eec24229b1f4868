//! The mapping of a [`Request`] to a Cedar request and its entities, following
//! cedar-access-control-for-k8s (`internal/server/entities/user.go`,
//! `internal/server/authorizer/entitiy_builders.go`, `internal/server/server.go`).
//! `docs/cedar-mapping.md` describes every rule and where it comes from.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression,
};

use crate::request::{Request, ResourceAttributes, SelectorRequirement};

/// The Cedar pieces of one request.
pub(crate) struct Mapped {
    pub principal: EntityUid,
    pub action: EntityUid,
    pub resource: EntityUid,
    pub entities: Entities,
    /// The `resource` attribute when the resource is a `k8s::Resource` (the policy index key).
    pub resource_name: Option<String>,
}

/// Builds `k8s::<ty>::"<id>"`.
pub(crate) fn uid(ty: &str, id: &str) -> Result<EntityUid, String> {
    let name = EntityTypeName::from_str(&format!("k8s::{ty}"))
        .map_err(|e| format!("entity type k8s::{ty}: {e}"))?;
    Ok(EntityUid::from_type_name_and_id(name, EntityId::new(id)))
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

fn record(fields: Vec<(&str, RestrictedExpression)>) -> Result<RestrictedExpression, String> {
    RestrictedExpression::new_record(fields.into_iter().map(|(k, v)| (k.to_owned(), v)))
        .map_err(|e| e.to_string())
}

/// Entities by uid; a later insert replaces an earlier one, as the project's `EntityMap` does.
#[derive(Default)]
struct Builder {
    entities: BTreeMap<String, Entity>,
}

impl Builder {
    fn put(
        &mut self,
        uid: EntityUid,
        attrs: Vec<(&str, RestrictedExpression)>,
        parents: HashSet<EntityUid>,
    ) -> Result<(), String> {
        let attrs: HashMap<String, RestrictedExpression> =
            attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let key = uid.to_string();
        let entity = Entity::new(uid, attrs, parents).map_err(|e| e.to_string())?;
        self.entities.insert(key, entity);
        Ok(())
    }
}

/// Splits `system:serviceaccount:NS:NAME` (exactly three colons).
fn service_account(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    (!name.contains(':')).then_some((ns, name))
}

/// Splits `system:node:NAME` (exactly two colons).
fn node(user: &str) -> Option<&str> {
    let name = user.strip_prefix("system:node:")?;
    (!name.contains(':')).then_some(name)
}

/// Maps a request; the error is a message for a request that cannot be expressed in Cedar.
pub(crate) fn map(req: &Request) -> Result<Mapped, String> {
    let mut b = Builder::default();

    // Groups, then the principal in them.
    let mut parents = HashSet::new();
    for g in &req.groups {
        let g_uid = uid("Group", g)?;
        b.put(g_uid.clone(), vec![("name", string(g))], HashSet::new())?;
        parents.insert(g_uid);
    }
    let id = if req.uid.is_empty() {
        &req.user
    } else {
        &req.uid
    };
    let (ty, mut attrs) = if let Some(name) = node(&req.user) {
        ("Node", vec![("name", string(name))])
    } else if let Some((ns, name)) = service_account(&req.user) {
        (
            "ServiceAccount",
            vec![("name", string(name)), ("namespace", string(ns))],
        )
    } else {
        ("User", vec![("name", string(&req.user))])
    };
    if !req.extra.is_empty() {
        // Keys lower-cased as the project does; equal keys after lower-casing merge.
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in &req.extra {
            extra
                .entry(k.to_lowercase())
                .or_default()
                .extend(v.iter().cloned());
        }
        let mut set = Vec::with_capacity(extra.len());
        for (k, v) in &extra {
            set.push(record(vec![
                ("key", string(k)),
                (
                    "values",
                    RestrictedExpression::new_set(v.iter().map(|s| string(s))),
                ),
            ])?);
        }
        attrs.push(("extra", RestrictedExpression::new_set(set)));
    }
    let principal = uid(ty, id)?;
    b.put(principal.clone(), attrs, parents)?;

    let mut resource_name = None;
    let (verb, resource) = match (&req.non_resource_attributes, &req.resource_attributes) {
        (Some(n), _) => {
            let r = uid("NonResourceURL", &n.path)?;
            b.put(r.clone(), vec![("path", string(&n.path))], HashSet::new())?;
            (n.verb.as_str(), r)
        }
        (None, Some(ra)) => {
            let r = if ra.verb == "impersonate" {
                impersonated(&mut b, ra)?
            } else {
                None
            };
            let r = match r {
                Some(r) => r,
                None => {
                    resource_name = Some(ra.resource.clone());
                    resource(&mut b, ra)?
                }
            };
            (ra.verb.as_str(), r)
        }
        (None, None) => {
            let r = uid("NonResourceURL", "")?;
            b.put(r.clone(), vec![("path", string(""))], HashSet::new())?;
            ("", r)
        }
    };
    let action = EntityUid::from_type_name_and_id(
        EntityTypeName::from_str("k8s::Action").map_err(|e| e.to_string())?,
        EntityId::new(verb),
    );
    let entities =
        Entities::from_entities(b.entities.into_values(), None).map_err(|e| e.to_string())?;
    Ok(Mapped {
        principal,
        action,
        resource,
        entities,
        resource_name,
    })
}

/// The empty context every action of the schema takes.
pub(crate) fn context() -> Context {
    Context::empty()
}

/// The target of an impersonation; `None` for a resource the project does not map.
fn impersonated(b: &mut Builder, ra: &ResourceAttributes) -> Result<Option<EntityUid>, String> {
    let (r, attrs) = match ra.resource.as_str() {
        "serviceaccounts" => (
            uid(
                "ServiceAccount",
                &format!("system:serviceaccount:{}:{}", ra.namespace, ra.name),
            )?,
            vec![
                ("name", string(&ra.name)),
                ("namespace", string(&ra.namespace)),
            ],
        ),
        "uids" => (uid("PrincipalUID", &ra.name)?, vec![]),
        "users" => match node(&ra.name) {
            Some(n) => (uid("Node", &ra.name)?, vec![("name", string(n))]),
            None => (uid("User", &ra.name)?, vec![("name", string(&ra.name))]),
        },
        "groups" => (uid("Group", &ra.name)?, vec![("name", string(&ra.name))]),
        "userextras" => {
            let mut attrs = vec![("key", string(&ra.subresource))];
            if !ra.name.is_empty() {
                attrs.push(("value", string(&ra.name)));
            }
            (uid("Extra", &ra.subresource)?, attrs)
        }
        _ => return Ok(None),
    };
    b.put(r.clone(), attrs, HashSet::new())?;
    Ok(Some(r))
}

/// The request path the project uses as a `k8s::Resource` id (`ResourceRequestToPath`).
fn resource_path(ra: &ResourceAttributes) -> String {
    let mut p = if ra.group.is_empty() {
        "/api".to_owned()
    } else {
        format!("/apis/{}", ra.group)
    };
    p.push('/');
    p.push_str(&ra.version);
    if !ra.namespace.is_empty() {
        p.push_str("/namespaces/");
        p.push_str(&ra.namespace);
    }
    p.push('/');
    p.push_str(&ra.resource);
    for part in [&ra.name, &ra.subresource] {
        if !part.is_empty() {
            p.push('/');
            p.push_str(part);
        }
    }
    p
}

/// A label requirement as apimachinery's `selection.Operator` string and its values, or
/// `None` when `labels.NewRequirement` would reject it.
fn label_requirement(r: &SelectorRequirement) -> Option<(&'static str, &[String])> {
    let (op, needs_values) = match r.operator.as_str() {
        "In" => ("in", true),
        "NotIn" => ("notin", true),
        "Exists" => ("exists", false),
        "DoesNotExist" => ("!", false),
        _ => return None,
    };
    if r.key.is_empty() || needs_values == r.values.is_empty() {
        return None;
    }
    Some((op, &r.values))
}

/// A field requirement as `(operator, value)`, or `None` for what the project drops.
fn field_requirement(r: &SelectorRequirement) -> Option<(&'static str, &str)> {
    let op = match r.operator.as_str() {
        "In" => "=",
        "NotIn" => "!=",
        _ => return None,
    };
    match r.values.as_slice() {
        [v] => Some((op, v.as_str())),
        _ => None,
    }
}

fn resource(b: &mut Builder, ra: &ResourceAttributes) -> Result<EntityUid, String> {
    let mut attrs = vec![
        ("apiGroup", string(&ra.group)),
        ("resource", string(&ra.resource)),
    ];
    for (k, v) in [
        ("name", &ra.name),
        ("subresource", &ra.subresource),
        ("namespace", &ra.namespace),
    ] {
        if !v.is_empty() {
            attrs.push((k, string(v)));
        }
    }
    if let Some(sel) = &ra.label_selector {
        let mut set = Vec::new();
        for (r, (op, values)) in sel
            .requirements
            .iter()
            .filter_map(|r| label_requirement(r).map(|x| (r, x)))
        {
            set.push(record(vec![
                ("key", string(&r.key)),
                ("operator", string(op)),
                (
                    "values",
                    RestrictedExpression::new_set(values.iter().map(|s| string(s))),
                ),
            ])?);
        }
        if !set.is_empty() {
            attrs.push(("labelSelector", RestrictedExpression::new_set(set)));
        }
    }
    if let Some(sel) = &ra.field_selector {
        let mut set = Vec::new();
        for (r, (op, value)) in sel
            .requirements
            .iter()
            .filter_map(|r| field_requirement(r).map(|x| (r, x)))
        {
            set.push(record(vec![
                ("field", string(&r.key)),
                ("operator", string(op)),
                ("value", string(value)),
            ])?);
        }
        if !set.is_empty() {
            attrs.push(("fieldSelector", RestrictedExpression::new_set(set)));
        }
    }
    let r = uid("Resource", &resource_path(ra))?;
    b.put(r.clone(), attrs, HashSet::new())?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_the_project() {
        let mut ra = ResourceAttributes {
            namespace: "default".into(),
            version: "v1".into(),
            resource: "pods".into(),
            name: "test-pod".into(),
            ..Default::default()
        };
        // authorizer_test.go: "/api/v1/namespaces/default/pods/test-pod"
        assert_eq!(
            resource_path(&ra),
            "/api/v1/namespaces/default/pods/test-pod"
        );
        ra.group = "subresources.kubevirt.io".into();
        ra.version = "v1".into();
        ra.resource = "virtualmachineinstances".into();
        ra.subresource = "vnc".into();
        assert_eq!(
            resource_path(&ra),
            "/apis/subresources.kubevirt.io/v1/namespaces/default/virtualmachineinstances/test-pod/vnc"
        );
        // authorizer_test.go: "/api/v1/pods" and ".../deployments/nginx/scale"
        let list = ResourceAttributes {
            version: "v1".into(),
            resource: "pods".into(),
            ..Default::default()
        };
        assert_eq!(resource_path(&list), "/api/v1/pods");
        let scale = ResourceAttributes {
            namespace: "default".into(),
            group: "apps".into(),
            version: "v1".into(),
            resource: "deployments".into(),
            name: "nginx".into(),
            subresource: "scale".into(),
            ..Default::default()
        };
        assert_eq!(
            resource_path(&scale),
            "/apis/apps/v1/namespaces/default/deployments/nginx/scale"
        );
    }

    /// Entities as `{"Type::\"id\"": {"attrs": …, "parents": [sorted]}}` for comparison.
    fn shapes(req: &Request) -> serde_json::Value {
        let mapped = map(req).expect("maps");
        let json = mapped.entities.to_json_value().expect("json");
        let mut out = serde_json::Map::new();
        for e in json.as_array().expect("array") {
            let uid = format!(
                "{}::\"{}\"",
                e["uid"]["type"].as_str().unwrap_or(""),
                e["uid"]["id"].as_str().unwrap_or("")
            );
            let mut parents: Vec<String> = e["parents"]
                .as_array()
                .expect("parents")
                .iter()
                .map(|p| {
                    format!(
                        "{}::\"{}\"",
                        p["type"].as_str().unwrap_or(""),
                        p["id"].as_str().unwrap_or("")
                    )
                })
                .collect();
            parents.sort();
            out.insert(
                uid,
                serde_json::json!({"attrs": e["attrs"], "parents": parents}),
            );
        }
        serde_json::Value::Object(out)
    }

    /// The "ServiceAccount principal" case of the project's
    /// `internal/server/authorizer/authorizer_test.go`, sent as a SubjectAccessReview.
    #[test]
    fn service_account_case_of_the_project() {
        let req: Request = serde_json::from_value(serde_json::json!({
            "user": "system:serviceaccount:foo:bar", "uid": "1234567890",
            "groups": ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"],
            "extra": {"attr1": ["value1"]},
            "resourceAttributes": {"verb": "get", "namespace": "default", "version": "v1", "resource": "pods", "name": "test-pod"}
        }))
        .expect("SAR spec");
        let group = |g: &str| serde_json::json!({"attrs": {"name": g}, "parents": []});
        assert_eq!(
            shapes(&req),
            serde_json::json!({
                "k8s::ServiceAccount::\"1234567890\"": {
                    "attrs": {"name": "bar", "namespace": "foo", "extra": [{"key": "attr1", "values": ["value1"]}]},
                    "parents": ["k8s::Group::\"system:authenticated\"", "k8s::Group::\"system:serviceaccounts\"", "k8s::Group::\"system:serviceaccounts:default\""]
                },
                "k8s::Group::\"system:serviceaccounts\"": group("system:serviceaccounts"),
                "k8s::Group::\"system:serviceaccounts:default\"": group("system:serviceaccounts:default"),
                "k8s::Group::\"system:authenticated\"": group("system:authenticated"),
                "k8s::Resource::\"/api/v1/namespaces/default/pods/test-pod\"": {
                    "attrs": {"apiGroup": "", "namespace": "default", "resource": "pods", "name": "test-pod"},
                    "parents": []
                }
            })
        );
    }

    /// The "labelSelector & fieldSelector" case of the project's `authorizer_test.go`, sent
    /// as a SubjectAccessReview: requirements arrive as `In`, so the label operator is `in`
    /// (the project's test builds `=` directly, which a SAR cannot carry).
    #[test]
    fn selector_case_of_the_project() {
        let req: Request = serde_json::from_value(serde_json::json!({
            "user": "test-user", "uid": "1234567890", "groups": ["test-group"],
            "resourceAttributes": {
                "verb": "list", "namespace": "default", "version": "v1", "resource": "pods",
                "labelSelector": {"requirements": [{"key": "owner", "operator": "In", "values": ["test-user"]}]},
                "fieldSelector": {"requirements": [{"key": ".spec.nodeName", "operator": "In", "values": ["test-node"]}]}
            }
        }))
        .expect("SAR spec");
        let shapes = shapes(&req);
        assert_eq!(
            shapes["k8s::Resource::\"/api/v1/namespaces/default/pods\""],
            serde_json::json!({
                "attrs": {
                    "apiGroup": "", "namespace": "default", "resource": "pods",
                    "labelSelector": [{"key": "owner", "operator": "in", "values": ["test-user"]}],
                    "fieldSelector": [{"field": ".spec.nodeName", "operator": "=", "value": "test-node"}]
                },
                "parents": []
            })
        );
        assert_eq!(
            shapes["k8s::User::\"1234567890\""],
            serde_json::json!({"attrs": {"name": "test-user"}, "parents": ["k8s::Group::\"test-group\""]})
        );
    }

    #[test]
    fn selector_operators_are_apimachinery_strings() {
        let req = |op: &str, values: &[&str]| SelectorRequirement {
            key: "tier".into(),
            operator: op.into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        };
        let none: &[String] = &[];
        assert_eq!(
            label_requirement(&req("Exists", &[])),
            Some(("exists", none))
        );
        assert_eq!(
            label_requirement(&req("DoesNotExist", &[])),
            Some(("!", none))
        );
        assert_eq!(label_requirement(&req("Exists", &["a"])), None);
        assert_eq!(label_requirement(&req("In", &[])), None);
        assert_eq!(label_requirement(&req("in", &["a"])), None);
        assert_eq!(field_requirement(&req("In", &["a"])), Some(("=", "a")));
        assert_eq!(field_requirement(&req("NotIn", &["a"])), Some(("!=", "a")));
        assert_eq!(field_requirement(&req("Exists", &[])), None);
        assert_eq!(field_requirement(&req("In", &["a", "b"])), None);
    }

    #[test]
    fn principal_kinds() {
        assert_eq!(node("system:node:n1"), Some("n1"));
        assert_eq!(node("system:node:a:b"), None);
        assert_eq!(
            service_account("system:serviceaccount:ns:sa"),
            Some(("ns", "sa"))
        );
        assert_eq!(service_account("system:serviceaccount:ns"), None);
        assert_eq!(service_account("system:serviceaccount:ns:a:b"), None);
    }
}
