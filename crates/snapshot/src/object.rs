//! One object of a snapshot: identity, source, and its content (typed for RBAC kinds).

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde_json::{Map, Value};

use crate::convert;
use crate::error::Problem;
use crate::source::Source;

/// An object's content: typed where RBAC needs it, dynamic JSON otherwise. The typed variants
/// are boxed so an `Object` stays small (a snapshot holds hundreds of thousands).
#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    /// `rbac.authorization.k8s.io` Role.
    Role(Box<Role>),
    /// `rbac.authorization.k8s.io` ClusterRole.
    ClusterRole(Box<ClusterRole>),
    /// `rbac.authorization.k8s.io` RoleBinding.
    RoleBinding(Box<RoleBinding>),
    /// `rbac.authorization.k8s.io` ClusterRoleBinding.
    ClusterRoleBinding(Box<ClusterRoleBinding>),
    /// Core ServiceAccount.
    ServiceAccount(Box<ServiceAccount>),
    /// Core Namespace.
    Namespace(Box<Namespace>),
    /// Any other kind, as parsed.
    Dynamic(Value),
}

/// Identity of an object for duplicate detection: API group, kind, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    /// API group (`""` for core).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// One object with where it came from.
#[derive(Debug, Clone)]
pub struct Object {
    /// `apiVersion` as written.
    pub api_version: String,
    /// `kind` as written.
    pub kind: String,
    /// `metadata.name` (for a dynamic object with only `generateName`, that prefix and `*`).
    pub name: String,
    /// `metadata.namespace`, empty when absent or cluster-scoped.
    pub namespace: String,
    /// Where the object is in the input.
    pub source: Source,
    /// The content.
    pub typed: Typed,
    /// What kube-apiserver's validation would have rejected, though RBAC evaluates it as written.
    pub warnings: Vec<String>,
}

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The (apiVersion, kind) pairs JSON input parses straight into their typed structs.
pub(crate) const TYPED_JSON: &[(&str, &str)] = &[
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("v1", "ServiceAccount"),
    ("v1", "Namespace"),
];

/// API group of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
pub fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map(|(g, _)| g).unwrap_or("")
}

fn describe(kind: &str, namespace: &str, name: &str) -> String {
    match (namespace.is_empty(), name.is_empty()) {
        (_, true) => kind.to_string(),
        (true, false) => format!("{kind} {name}"),
        (false, false) => format!("{kind} {namespace}/{name}"),
    }
}

impl Object {
    /// Builds an object from a parsed mapping, typing and validating RBAC kinds.
    pub(crate) fn from_map(mut map: Map<String, Value>, source: Source) -> Result<Object, Problem> {
        let str_field = |m: &Map<String, Value>, k: &str| {
            m.get(k).and_then(Value::as_str).unwrap_or("").to_string()
        };
        let api_version = str_field(&map, "apiVersion");
        let kind = str_field(&map, "kind");
        let (name, namespace, generate_name) = match map.get("metadata") {
            Some(Value::Object(m)) => (
                str_field(m, "name"),
                str_field(m, "namespace"),
                str_field(m, "generateName"),
            ),
            _ => Default::default(),
        };
        let what = describe(
            if kind.is_empty() { "object" } else { &kind },
            &namespace,
            &name,
        );
        for field in ["kind", "apiVersion"] {
            match map.get(field) {
                Some(Value::String(s)) if !s.is_empty() => {}
                None | Some(Value::Null) | Some(Value::String(_)) => {
                    return Err(Problem::at(
                        &source,
                        Some(what),
                        format!("missing `{field}`"),
                    ));
                }
                Some(other) => {
                    return Err(Problem::at(
                        &source,
                        Some(what),
                        format!(
                            "`{field}` must be a string, got {}",
                            crate::parse::type_name(other)
                        ),
                    ));
                }
            }
        }
        let group = group_of(&api_version).to_string();
        let typed_kind = matches!(
            (group.as_str(), kind.as_str()),
            (
                RBAC_GROUP,
                "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
            ) | ("", "ServiceAccount" | "Namespace")
        );
        if name.is_empty() && (typed_kind || generate_name.is_empty()) {
            return Err(Problem::at(
                &source,
                Some(what),
                "metadata.name is required",
            ));
        }
        let name = if name.is_empty() {
            format!("{generate_name}*")
        } else {
            name
        };
        let fail =
            |msg: String| Problem::at(&source, Some(describe(&kind, &namespace, &name)), msg);
        if typed_kind && kind.ends_with("Binding") && map.get("roleRef").is_none_or(Value::is_null)
        {
            return Err(fail("roleRef: Required value".to_string()));
        }
        let mut warnings = Vec::new();
        let typed = if typed_kind {
            // Every served version of these kinds has the v1 shape; k8s-openapi checks the version.
            let canonical = if group.is_empty() {
                "v1".to_string()
            } else {
                format!("{group}/v1")
            };
            map.insert("apiVersion".into(), Value::String(canonical));
            let v = Value::Object(map);
            let parsed = match kind.as_str() {
                "Role" => serde_json::from_value(v).map(|x| Typed::Role(Box::new(x))),
                "ClusterRole" => serde_json::from_value(v).map(|x| Typed::ClusterRole(Box::new(x))),
                "RoleBinding" => serde_json::from_value(v).map(|x| Typed::RoleBinding(Box::new(x))),
                "ClusterRoleBinding" => {
                    serde_json::from_value(v).map(|x| Typed::ClusterRoleBinding(Box::new(x)))
                }
                "ServiceAccount" => {
                    serde_json::from_value(v).map(|x| Typed::ServiceAccount(Box::new(x)))
                }
                _ => serde_json::from_value(v).map(|x| Typed::Namespace(Box::new(x))),
            }
            .map_err(|e| fail(format!("invalid {kind}: {e}")))?;
            let checks = convert::validate(&parsed, &namespace);
            if !checks.errors.is_empty() {
                return Err(fail(checks.errors.join("; ")));
            }
            warnings = checks.warnings;
            parsed
        } else {
            Typed::Dynamic(Value::Object(map))
        };
        let namespace = match typed {
            Typed::ClusterRole(_) | Typed::ClusterRoleBinding(_) | Typed::Namespace(_) => {
                String::new()
            }
            _ => namespace,
        };
        Ok(Object {
            api_version,
            kind,
            name,
            namespace,
            source,
            typed,
            warnings,
        })
    }

    /// The fast path for JSON: an RBAC kind, ServiceAccount or Namespace of the served version
    /// is parsed straight from its text into its typed struct (no `Value` tree), after a walk
    /// that refuses duplicate keys. `None` when the text is anything else or anything about it is
    /// off: the caller then takes the general path, which words every problem.
    pub(crate) fn from_json_typed(
        text: &str,
        source: &Source,
        defaults: Option<(&str, &str)>,
    ) -> Option<Result<Object, Problem>> {
        let head: crate::strict::Head<'_> = match crate::strict::fast_head(text) {
            Some(h) => h,
            None => serde_json::from_str(text).ok()?,
        };
        let kind = match &head.kind {
            Some(k) => k.as_ref(),
            None => defaults?.0,
        };
        let api_version = match &head.api_version {
            Some(a) => a.as_ref(),
            None => defaults?.1,
        };
        let parse = |t: Result<Typed, serde_json::Error>| t.ok();
        let typed = match (api_version, kind) {
            ("rbac.authorization.k8s.io/v1", "Role") => {
                parse(serde_json::from_str(text).map(|x| Typed::Role(Box::new(x))))?
            }
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
                parse(serde_json::from_str(text).map(|x| Typed::ClusterRole(Box::new(x))))?
            }
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
                parse(serde_json::from_str(text).map(|x| Typed::RoleBinding(Box::new(x))))?
            }
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                parse(serde_json::from_str(text).map(|x| Typed::ClusterRoleBinding(Box::new(x))))?
            }
            ("v1", "ServiceAccount") => {
                parse(serde_json::from_str(text).map(|x| Typed::ServiceAccount(Box::new(x))))?
            }
            ("v1", "Namespace") => {
                parse(serde_json::from_str(text).map(|x| Typed::Namespace(Box::new(x))))?
            }
            _ => return None,
        };
        let meta = match &typed {
            Typed::Role(x) => &x.metadata,
            Typed::ClusterRole(x) => &x.metadata,
            Typed::RoleBinding(x) => &x.metadata,
            Typed::ClusterRoleBinding(x) => &x.metadata,
            Typed::ServiceAccount(x) => &x.metadata,
            Typed::Namespace(x) => &x.metadata,
            Typed::Dynamic(_) => return None,
        };
        let name = meta.name.clone().filter(|n| !n.is_empty())?;
        // k8s-openapi fills a missing `roleRef` with an empty one; the general path says it is
        // missing.
        let role_ref = match &typed {
            Typed::RoleBinding(b) => Some(&b.role_ref),
            Typed::ClusterRoleBinding(b) => Some(&b.role_ref),
            _ => None,
        };
        if role_ref.is_some_and(|r| r.name.is_empty() && r.kind.is_empty()) {
            return None;
        }
        let namespace = meta.namespace.clone().unwrap_or_default();
        let checks = convert::validate(&typed, &namespace);
        if !checks.errors.is_empty() {
            return Some(Err(Problem::at(
                source,
                Some(describe(kind, &namespace, &name)),
                checks.errors.join("; "),
            )));
        }
        let namespace = match typed {
            Typed::ClusterRole(_) | Typed::ClusterRoleBinding(_) | Typed::Namespace(_) => {
                String::new()
            }
            _ => namespace,
        };
        Some(Ok(Object {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name,
            namespace,
            source: source.clone(),
            typed,
            warnings: checks.warnings,
        }))
    }

    /// Identity for duplicate detection.
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            group: group_of(&self.api_version).to_string(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// `Kind namespace/name`, as messages name objects.
    pub fn describe(&self) -> String {
        describe(&self.kind, &self.namespace, &self.name)
    }

    /// Whether two objects with the same key have the same content.
    pub(crate) fn same_content(&self, other: &Object) -> bool {
        self.typed == other.typed
    }

    /// The dynamic JSON content (every kind but the typed ones).
    pub fn value(&self) -> Option<&Value> {
        match &self.typed {
            Typed::Dynamic(v) => Some(v),
            _ => None,
        }
    }

    /// The whole object as JSON (typed kinds serialized back, with `apiVersion` and `kind`);
    /// `None` for an object that has no `metadata` to serve.
    pub fn to_json(&self) -> Option<Value> {
        let v = match &self.typed {
            Typed::Role(r) => serde_json::to_value(r),
            Typed::ClusterRole(r) => serde_json::to_value(r),
            Typed::RoleBinding(r) => serde_json::to_value(r),
            Typed::ClusterRoleBinding(r) => serde_json::to_value(r),
            Typed::ServiceAccount(r) => serde_json::to_value(r),
            Typed::Namespace(r) => serde_json::to_value(r),
            Typed::Dynamic(v) => Ok(v.clone()),
        };
        v.ok().filter(|v| v.get("metadata").is_some())
    }

    /// This object as an RBAC role, if it is a Role or ClusterRole.
    pub fn as_role(&self) -> Option<virtguard_rbac::Role> {
        convert::to_role(self)
    }

    /// This object as an RBAC binding, if it is a RoleBinding or ClusterRoleBinding.
    pub fn as_binding(&self) -> Option<virtguard_rbac::Binding> {
        convert::to_binding(self)
    }
}
