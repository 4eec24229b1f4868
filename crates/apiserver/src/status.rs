//! `metav1.Status` errors as kube-apiserver writes them (`k8s.io/apimachinery/pkg/api/errors`):
//! every failure the facade answers is one of these, with the HTTP code, `reason` and the message
//! shape kubectl prints after `Error from server (Reason): `.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusDetails};

use crate::reply::Reply;

/// A failure to be answered as a `Status` object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} ({reason}): {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `StatusReason` (`Forbidden`, `NotFound`, …).
    pub reason: &'static str,
    /// The message kubectl prints.
    pub message: String,
    /// `details` (group, kind = resource, name), when the error is about an object.
    pub details: Option<(String, String, String)>,
}

/// `group` + `resource` as `schema.GroupResource.String()`: `pods`, `virtualmachines.kubevirt.io`.
pub fn group_resource(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// 400 `BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 500 `InternalError`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// 401 `Unauthorized` (message as kube-apiserver: `Unauthorized`).
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 403 `Forbidden` for `resource` (`group`) `name`: `NewForbidden`'s message shapes.
    pub fn forbidden(group: &str, resource: &str, name: &str, err: &str) -> Self {
        let message = if resource.is_empty() {
            format!("forbidden: {err}")
        } else if name.is_empty() {
            format!("{} is forbidden: {err}", group_resource(group, resource))
        } else {
            format!(
                "{} \"{name}\" is forbidden: {err}",
                group_resource(group, resource)
            )
        };
        ApiError {
            details: (!resource.is_empty())
                .then(|| (group.to_string(), resource.to_string(), name.to_string())),
            ..Self::new(403, "Forbidden", message)
        }
    }

    /// 404 `NotFound` for an object: `virtualmachines.kubevirt.io "x" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        ApiError {
            details: Some((group.to_string(), resource.to_string(), name.to_string())),
            ..Self::new(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", group_resource(group, resource)),
            )
        }
    }

    /// 404 `NotFound` for a path no handler serves (kube-apiserver's
    /// `the server could not find the requested resource`).
    pub fn no_such_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// 405 `MethodNotAllowed` for a write to a read-only resource.
    pub fn method_not_allowed(verb: &str, group: &str, resource: &str) -> Self {
        ApiError {
            details: Some((group.to_string(), resource.to_string(), String::new())),
            ..Self::new(
                405,
                "MethodNotAllowed",
                format!(
                    "{verb} is not supported on resources of kind \"{}\": virtguard serves a read-only snapshot",
                    group_resource(group, resource)
                ),
            )
        }
    }

    /// 406 `NotAcceptable`.
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(406, "NotAcceptable", message)
    }

    /// 410 `Expired` (a continue token or resourceVersion from before the last reload).
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 413 `RequestEntityTooLarge`.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// 415 `UnsupportedMediaType`.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {content_type:?})"),
        )
    }

    /// 422 `Invalid`: a review that fails kube-apiserver's validation.
    pub fn invalid(kind: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError {
            details: Some((
                "authorization.k8s.io".to_string(),
                kind.to_string(),
                String::new(),
            )),
            ..Self::new(
                422,
                "Invalid",
                format!("{kind}.authorization.k8s.io \"\" is invalid: {message}"),
            )
        }
    }

    /// The `Status` object.
    pub fn status(&self) -> Status {
        Status {
            code: Some(i32::from(self.code)),
            details: self
                .details
                .as_ref()
                .map(|(group, kind, name)| StatusDetails {
                    group: (!group.is_empty()).then(|| group.clone()),
                    kind: Some(kind.clone()),
                    name: (!name.is_empty()).then(|| name.clone()),
                    ..StatusDetails::default()
                }),
            message: Some(self.message.clone()),
            metadata: Default::default(),
            reason: Some(self.reason.to_string()),
            status: Some("Failure".to_string()),
        }
    }

    /// The `Status` as a JSON response.
    pub fn reply(&self) -> Reply {
        Reply::json(self.code, &self.status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_messages_follow_new_forbidden() {
        let e = ApiError::forbidden("kubevirt.io", "virtualmachines", "", "User \"alice\" cannot list resource \"virtualmachines\" in API group \"kubevirt.io\" in the namespace \"prod\"");
        assert_eq!(e.message, "virtualmachines.kubevirt.io is forbidden: User \"alice\" cannot list resource \"virtualmachines\" in API group \"kubevirt.io\" in the namespace \"prod\"");
        assert_eq!(
            ApiError::forbidden("", "pods", "p1", "x").message,
            "pods \"p1\" is forbidden: x"
        );
        assert_eq!(ApiError::forbidden("", "", "", "x").message, "forbidden: x");
        let s = serde_json::to_value(e.status()).unwrap();
        assert_eq!(s["kind"], "Status");
        assert_eq!(s["apiVersion"], "v1");
        assert_eq!(s["code"], 403);
        assert_eq!(s["reason"], "Forbidden");
        assert_eq!(s["status"], "Failure");
        assert_eq!(s["details"]["kind"], "virtualmachines");
        assert_eq!(s["details"]["group"], "kubevirt.io");
    }

    #[test]
    fn not_found_names_the_object() {
        assert_eq!(
            ApiError::not_found("rbac.authorization.k8s.io", "clusterroles", "x").message,
            "clusterroles.rbac.authorization.k8s.io \"x\" not found"
        );
    }
}
