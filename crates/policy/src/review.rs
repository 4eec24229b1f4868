//! The authorization webhook's wire format: a SubjectAccessReview (`authorization.k8s.io/v1`
//! or `v1beta1`) as kube-apiserver posts it, decoded into a [`Request`], and the review sent
//! back with its `status` filled from an [`Evaluation`].
//!
//! `v1beta1` names the groups `group` (not `groups`); both versions decode to the same
//! [`Request`], and the answer carries the version it was asked in. Decoding never panics:
//! anything that is not a review of a known version is a [`ReviewError`].

use serde_json::{json, Map, Value};

use crate::policy_set::{Decision, Evaluation};
use crate::request::Request;

/// The API group of SubjectAccessReviews.
pub const REVIEW_GROUP: &str = "authorization.k8s.io";
/// The kind kube-apiserver's authorization webhook posts.
pub const REVIEW_KIND: &str = "SubjectAccessReview";

/// Why a body is not a SubjectAccessReview this webhook answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// Not JSON, or not a JSON object.
    #[error("the body is not a JSON object: {0}")]
    NotJson(String),
    /// `kind` is not `SubjectAccessReview`.
    #[error("kind {0:?}: expected SubjectAccessReview")]
    Kind(String),
    /// `apiVersion` is not `authorization.k8s.io/v1` or `v1beta1`.
    #[error("apiVersion {0:?}: expected authorization.k8s.io/v1 or authorization.k8s.io/v1beta1")]
    ApiVersion(String),
    /// `spec` is missing or does not have the SubjectAccessReview shape.
    #[error("spec: {0}")]
    Spec(String),
}

/// A decoded review: the version it came in and the request it asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// `authorization.k8s.io/v1` or `authorization.k8s.io/v1beta1`, as received.
    pub api_version: String,
    /// The spec.
    pub request: Request,
}

/// The string at `key` of an object: `""` when absent, an error when not a string.
fn string_at<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("{key} is {other}, not a string")),
    }
}

/// Decodes a webhook body. `v1beta1`'s `spec.group` becomes [`Request::groups`].
pub fn parse_review(body: &[u8]) -> Result<Review, ReviewError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ReviewError::NotJson(e.to_string()))?;
    let Value::Object(mut obj) = value else {
        return Err(ReviewError::NotJson("not an object".into()));
    };
    let kind = string_at(&obj, "kind").map_err(ReviewError::Kind)?;
    if kind != REVIEW_KIND {
        return Err(ReviewError::Kind(kind.to_owned()));
    }
    let api_version = string_at(&obj, "apiVersion")
        .map_err(ReviewError::ApiVersion)?
        .to_owned();
    let beta = match api_version.strip_prefix(REVIEW_GROUP) {
        Some("/v1") => false,
        Some("/v1beta1") => true,
        _ => return Err(ReviewError::ApiVersion(api_version)),
    };
    let mut spec = match obj.remove("spec") {
        Some(Value::Object(spec)) => spec,
        Some(other) => return Err(ReviewError::Spec(format!("{other} is not an object"))),
        None => return Err(ReviewError::Spec("missing".into())),
    };
    if beta {
        // v1beta1 names it `group`; a v1-style `groups` is not part of v1beta1 and ignored.
        spec.remove("groups");
        if let Some(groups) = spec.remove("group") {
            spec.insert("groups".into(), groups);
        }
    }
    let request: Request = serde_json::from_value(Value::Object(spec))
        .map_err(|e| ReviewError::Spec(e.to_string()))?;
    Ok(Review {
        api_version,
        request,
    })
}

/// The `reason` of a decision: the deciding effect's matching policies, `id (source)` each.
pub fn reason(eval: &Evaluation) -> String {
    let verb = match eval.decision {
        Decision::Deny { .. } => "denied",
        Decision::Allow { .. } => "allowed",
        Decision::NoOpinion => return String::new(),
    };
    let policies: Vec<String> = eval
        .matched
        .iter()
        .map(|p| format!("{} ({})", p.id, p.source))
        .collect();
    format!("{verb} by Cedar policy {}", policies.join(", "))
}

/// The SubjectAccessReview kube-apiserver expects back: `apiVersion` and `kind` as asked,
/// `status` with `allowed`, `denied` (a `forbid`), `reason` and `evaluationError` (policies that
/// errored and were skipped). No opinion is `allowed: false` without `denied`: the next
/// authorizer (RBAC) decides.
pub fn review_response(api_version: &str, eval: &Evaluation) -> Value {
    let mut status = Map::new();
    match &eval.decision {
        Decision::Deny { .. } => {
            status.insert("allowed".into(), Value::Bool(false));
            status.insert("denied".into(), Value::Bool(true));
            status.insert("reason".into(), Value::String(reason(eval)));
        }
        Decision::Allow { .. } => {
            status.insert("allowed".into(), Value::Bool(true));
            status.insert("reason".into(), Value::String(reason(eval)));
        }
        Decision::NoOpinion => {
            status.insert("allowed".into(), Value::Bool(false));
        }
    }
    if !eval.errors.is_empty() {
        status.insert(
            "evaluationError".into(),
            Value::String(eval.errors.join("; ")),
        );
    }
    json!({
        "apiVersion": api_version,
        "kind": REVIEW_KIND,
        "status": Value::Object(status),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PolicySet;

    const POLICIES: &str = r#"@id("no-vnc")
forbid (principal, action, resource is k8s::Resource)
when { resource has subresource && resource.subresource == "vnc" }
unless { principal in k8s::Group::"sre" };
@id("sre-all")
permit (principal in k8s::Group::"sre", action, resource);"#;

    fn sar(version: &str, spec: Value) -> Vec<u8> {
        json!({"apiVersion": format!("authorization.k8s.io/{version}"), "kind": "SubjectAccessReview", "spec": spec})
            .to_string()
            .into_bytes()
    }

    fn vnc() -> Value {
        json!({"verb": "get", "group": "subresources.kubevirt.io", "resource": "virtualmachineinstances", "subresource": "vnc", "namespace": "prod", "name": "vm1"})
    }

    #[test]
    fn decodes_both_versions_and_answers() {
        let set = PolicySet::from_sources(&[("p.cedar".into(), POLICIES.into())]).expect("valid");
        let v1 = parse_review(&sar(
            "v1",
            json!({"user": "dora", "groups": ["dev"], "resourceAttributes": vnc()}),
        ))
        .expect("v1");
        assert_eq!(v1.request.groups, vec!["dev".to_string()]);
        let out = review_response(&v1.api_version, &set.decide(&v1.request));
        assert_eq!(out["status"]["denied"], true);
        assert_eq!(out["status"]["allowed"], false);
        assert_eq!(
            out["status"]["reason"],
            "denied by Cedar policy no-vnc (p.cedar:1)"
        );

        let beta = parse_review(&sar(
            "v1beta1",
            json!({"user": "sam", "group": ["sre"], "resourceAttributes": vnc()}),
        ))
        .expect("v1beta1");
        assert_eq!(beta.request.groups, vec!["sre".to_string()]);
        let out = review_response(&beta.api_version, &set.decide(&beta.request));
        assert_eq!(out["apiVersion"], "authorization.k8s.io/v1beta1");
        assert_eq!(out["status"]["allowed"], true);
        assert!(out["status"].get("denied").is_none());

        let none = parse_review(&sar(
            "v1",
            json!({"user": "eve", "nonResourceAttributes": {"path": "/healthz", "verb": "get"}}),
        ))
        .expect("v1");
        let out = review_response("authorization.k8s.io/v1", &set.decide(&none.request));
        assert_eq!(out["status"], json!({"allowed": false}));
    }

    #[test]
    fn refuses_what_is_not_a_review() {
        assert!(matches!(parse_review(b"{"), Err(ReviewError::NotJson(_))));
        assert!(matches!(parse_review(b"[]"), Err(ReviewError::NotJson(_))));
        assert!(matches!(
            parse_review(
                br#"{"kind":"AdmissionReview","apiVersion":"authorization.k8s.io/v1","spec":{}}"#
            ),
            Err(ReviewError::Kind(_))
        ));
        assert!(matches!(
            parse_review(br#"{"kind":"SubjectAccessReview","apiVersion":"authorization.k8s.io/v2","spec":{}}"#),
            Err(ReviewError::ApiVersion(_))
        ));
        assert!(matches!(
            parse_review(
                br#"{"kind":"SubjectAccessReview","apiVersion":"authorization.k8s.io/v1"}"#
            ),
            Err(ReviewError::Spec(_))
        ));
        assert!(matches!(
            parse_review(br#"{"kind":"SubjectAccessReview","apiVersion":"authorization.k8s.io/v1","spec":{"groups":"x"}}"#),
            Err(ReviewError::Spec(_))
        ));
        assert!(matches!(
            parse_review(br#"{"kind":7,"apiVersion":"authorization.k8s.io/v1","spec":{}}"#),
            Err(ReviewError::Kind(_))
        ));
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|n| json!(n)),
                "[a-z:/ ]{0,12}".prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 32, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::btree_map(
                        prop_oneof![
                            Just("user".to_string()),
                            Just("groups".to_string()),
                            Just("group".to_string()),
                            Just("extra".to_string()),
                            Just("resourceAttributes".to_string()),
                            Just("nonResourceAttributes".to_string()),
                            Just("verb".to_string()),
                            Just("namespace".to_string()),
                            Just("labelSelector".to_string()),
                            Just("requirements".to_string()),
                            "[a-z]{1,6}",
                        ],
                        inner,
                        0..5
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
                let _ = parse_review(&bytes);
            }

            #[test]
            fn random_specs_never_panic(spec in json_value(), beta in any::<bool>()) {
                let set = PolicySet::from_sources(&[("p.cedar".into(), POLICIES.into())]).expect("valid");
                let version = if beta { "v1beta1" } else { "v1" };
                if let Ok(review) = parse_review(&sar(version, spec)) {
                    let out = review_response(&review.api_version, &set.decide(&review.request));
                    prop_assert!(out["status"]["allowed"].is_boolean());
                }
            }
        }
    }
}
