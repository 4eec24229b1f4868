//! The request being authorized, modelled on the `spec` of an `authorization.k8s.io/v1`
//! SubjectAccessReview so that a SAR spec in JSON or YAML deserializes straight into it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A SubjectAccessReview spec: who asks (`user`, `groups`, `uid`, `extra`) and for what
/// (`resource_attributes` or `non_resource_attributes`).
///
/// When both attribute sets are present the non-resource one wins, as in
/// cedar-access-control-for-k8s (`internal/server/server.go`). When neither is present the
/// request is a non-resource request with an empty path and verb.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// User name as authenticated (`system:serviceaccount:NS:NAME`, `system:node:NAME`, …).
    #[serde(default)]
    pub user: String,
    /// Groups of the user.
    #[serde(default)]
    pub groups: Vec<String>,
    /// User UID; the principal entity's id, or the user name when empty.
    #[serde(default)]
    pub uid: String,
    /// Extra authenticator information; keys are lower-cased when mapped.
    #[serde(default)]
    pub extra: BTreeMap<String, Vec<String>>,
    /// A request on an API resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_attributes: Option<ResourceAttributes>,
    /// A request on a non-resource URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_resource_attributes: Option<NonResourceAttributes>,
}

/// `spec.resourceAttributes` of a SubjectAccessReview.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAttributes {
    /// Namespace; empty for cluster-scoped resources or requests across all namespaces.
    #[serde(default)]
    pub namespace: String,
    /// Verb (`get`, `list`, `impersonate`, …).
    #[serde(default)]
    pub verb: String,
    /// API group; empty for the core group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Resource (plural, lower case).
    #[serde(default)]
    pub resource: String,
    /// Subresource, e.g. `status` or `vnc`.
    #[serde(default)]
    pub subresource: String,
    /// Object name; empty for collections.
    #[serde(default)]
    pub name: String,
    /// Field selector of a list or watch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_selector: Option<SelectorAttributes>,
    /// Label selector of a list or watch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<SelectorAttributes>,
}

/// `fieldSelector` or `labelSelector` of SAR resource attributes. Only `requirements` are
/// mapped (as in cedar-access-control-for-k8s); `raw_selector` is kept but not parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectorAttributes {
    /// The unparsed selector string.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub raw_selector: String,
    /// Parsed requirements, ANDed.
    #[serde(default)]
    pub requirements: Vec<SelectorRequirement>,
}

/// One selector requirement: `key`, an operator (`In`, `NotIn`, `Exists`, `DoesNotExist`)
/// and values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectorRequirement {
    /// Label key or field path.
    #[serde(default)]
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    #[serde(default)]
    pub operator: String,
    /// Values for `In` and `NotIn`.
    #[serde(default)]
    pub values: Vec<String>,
}

/// `spec.nonResourceAttributes` of a SubjectAccessReview.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NonResourceAttributes {
    /// URL path, e.g. `/healthz`.
    #[serde(default)]
    pub path: String,
    /// Lower-case HTTP verb (`get`, `post`, …).
    #[serde(default)]
    pub verb: String,
}

impl Request {
    /// A resource request by `user` in `groups`.
    pub fn resource(user: &str, groups: &[&str], attributes: ResourceAttributes) -> Self {
        Request {
            user: user.to_owned(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            resource_attributes: Some(attributes),
            ..Request::default()
        }
    }

    /// A non-resource request by `user` in `groups`.
    pub fn non_resource(user: &str, groups: &[&str], verb: &str, path: &str) -> Self {
        Request {
            user: user.to_owned(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            non_resource_attributes: Some(NonResourceAttributes {
                path: path.to_owned(),
                verb: verb.to_owned(),
            }),
            ..Request::default()
        }
    }

    /// Reads a SubjectAccessReview: a whole `authorization.k8s.io` review object (its `spec`
    /// is read) or a bare spec.
    pub fn from_review(review: &serde_json::Value) -> Result<Request, serde_json::Error> {
        let spec = match review.get("spec") {
            Some(spec) if review.get("kind").is_some() => spec,
            _ => review,
        };
        Request::deserialize(spec)
    }

    /// The verb of the request, from whichever attributes decide it.
    pub fn verb(&self) -> &str {
        match (&self.non_resource_attributes, &self.resource_attributes) {
            (Some(n), _) => &n.verb,
            (None, Some(r)) => &r.verb,
            (None, None) => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_review_or_a_spec() {
        let review = serde_json::json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": "u", "groups": ["g"], "nonResourceAttributes": {"path": "/healthz", "verb": "get"}}
        });
        let req = Request::from_review(&review).expect("review");
        assert_eq!(req, Request::non_resource("u", &["g"], "get", "/healthz"));
        let spec = Request::from_review(&review["spec"]).expect("spec");
        assert_eq!(spec, req);
        assert_eq!(req.verb(), "get");
        assert!(Request::from_review(&serde_json::json!({"user": 3})).is_err());
    }
}
