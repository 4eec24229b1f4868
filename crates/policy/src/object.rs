//! `cedar.k8s.aws/v1alpha1` `Policy` objects (the CRD `policies.cedar.k8s.aws` of
//! cedar-access-control-for-k8s, `api/v1alpha1/policy_types.go`): the policy text is in
//! `spec.content`.

use serde_json::Value;

use crate::error::PolicyError;

/// API version of the project's Policy objects.
pub const POLICY_API_VERSION: &str = "cedar.k8s.aws/v1alpha1";
/// Kind of the project's Policy objects.
pub const POLICY_KIND: &str = "Policy";

/// Turns a `Policy` object into a `(name, text)` source for
/// [`PolicySet::from_sources`](crate::PolicySet::from_sources), named `Policy/<metadata.name>`.
pub fn policy_object_source(object: &Value) -> Result<(String, String), PolicyError> {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let label = format!(
        "{}/{}",
        if kind.is_empty() { "<no kind>" } else { kind },
        if name.is_empty() { "<unnamed>" } else { name }
    );
    let fail = |message: String| PolicyError::Object {
        object: label.clone(),
        message,
    };
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if api_version != POLICY_API_VERSION || kind != POLICY_KIND {
        return Err(fail(format!(
            "expected apiVersion {POLICY_API_VERSION} kind {POLICY_KIND}, got apiVersion {api_version:?} kind {kind:?}"
        )));
    }
    if name.is_empty() {
        return Err(fail("metadata.name is missing".to_owned()));
    }
    let content = object
        .pointer("/spec/content")
        .and_then(Value::as_str)
        .ok_or_else(|| fail("spec.content is missing or not a string".to_owned()))?;
    Ok((label, content.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_spec_content() {
        let obj = serde_json::json!({
            "apiVersion": "cedar.k8s.aws/v1alpha1", "kind": "Policy",
            "metadata": {"name": "p"}, "spec": {"content": "permit(principal, action, resource);"}
        });
        let (name, text) = policy_object_source(&obj).expect("valid object");
        assert_eq!(name, "Policy/p");
        assert!(text.starts_with("permit"));
        let bad =
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p"}});
        assert!(policy_object_source(&bad).is_err());
        let no_content = serde_json::json!({
            "apiVersion": "cedar.k8s.aws/v1alpha1", "kind": "Policy", "metadata": {"name": "p"}, "spec": {}
        });
        assert_eq!(
            policy_object_source(&no_content)
                .map_err(|e| e.to_string())
                .err()
                .as_deref(),
            Some("Policy/p: spec.content is missing or not a string")
        );
    }
}
