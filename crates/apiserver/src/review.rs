//! The review APIs (`pkg/registry/authorization/*`, `pkg/registry/authentication/selfsubjectreview`):
//! SelfSubjectAccessReview, SubjectAccessReview, LocalSubjectAccessReview,
//! SelfSubjectRulesReview and SelfSubjectReview, answered by the same authorizer chain as every
//! request (`system:masters`, then RBAC), with kube-apiserver's validation messages.

use k8s_openapi::api::authentication::v1::{
    SelfSubjectReview, SelfSubjectReviewStatus, UserInfo as K8sUserInfo,
};
use k8s_openapi::api::authorization::v1::{
    LocalSubjectAccessReview, NonResourceAttributes, NonResourceRule, ResourceAttributes,
    ResourceRule, SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview,
    SubjectAccessReviewStatus, SubjectRulesReviewStatus,
};
use serde::de::DeserializeOwned;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use virtguard_rbac::Policy;

use crate::auth::{authorize, Check, UserInfo};
use crate::reply::Reply;
use crate::status::ApiError;

/// Decodes a JSON body as `kind`; anything else is a 400 naming the kind.
pub fn decode<T: DeserializeOwned>(kind: &str, body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!(
            "the request body is empty: a {kind} is required"
        )));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "{kind} in version \"v1\" cannot be handled as a {kind}: {e}"
        ))
    })
}

fn s(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn resource_check(ra: &ResourceAttributes) -> Check {
    Check {
        verb: s(&ra.verb),
        resource_request: true,
        namespace: s(&ra.namespace),
        group: s(&ra.group),
        resource: s(&ra.resource),
        subresource: s(&ra.subresource),
        name: s(&ra.name),
        path: String::new(),
    }
}

fn non_resource_check(na: &NonResourceAttributes) -> Check {
    Check {
        verb: s(&na.verb),
        resource_request: false,
        path: s(&na.path),
        ..Check::default()
    }
}

/// `exactly one of nonResourceAttributes or resourceAttributes`.
fn one_of(
    kind: &str,
    ra: &Option<ResourceAttributes>,
    na: &Option<NonResourceAttributes>,
) -> Result<Check, ApiError> {
    match (ra, na) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            kind,
            "spec.nonResourceAttributes: Invalid value: \"\": cannot be specified in combination with resourceAttributes",
        )),
        (None, None) => Err(ApiError::invalid(
            kind,
            "spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
        (Some(ra), None) => Ok(resource_check(ra)),
        (None, Some(na)) => Ok(non_resource_check(na)),
    }
}

fn evaluate(policy: &Policy, user: &UserInfo, check: &Check) -> SubjectAccessReviewStatus {
    let v = authorize(policy, user, check);
    SubjectAccessReviewStatus {
        allowed: v.allowed,
        denied: None,
        evaluation_error: None,
        reason: (!v.reason.is_empty()).then_some(v.reason),
    }
}

/// `POST selfsubjectaccessreviews`: the caller's own identity, after impersonation.
pub fn self_subject_access_review(
    policy: &Policy,
    user: &UserInfo,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let mut review: SelfSubjectAccessReview = decode("SelfSubjectAccessReview", body)?;
    let check = one_of(
        "SelfSubjectAccessReview",
        &review.spec.resource_attributes,
        &review.spec.non_resource_attributes,
    )?;
    review.status = Some(evaluate(policy, user, &check));
    Ok(Reply::json(201, &review))
}

fn subject_of(spec: &k8s_openapi::api::authorization::v1::SubjectAccessReviewSpec) -> UserInfo {
    UserInfo {
        name: s(&spec.user),
        uid: s(&spec.uid),
        groups: spec.groups.clone().unwrap_or_default(),
        extra: spec.extra.clone().unwrap_or_default(),
    }
}

/// `POST subjectaccessreviews`: the subject exactly as given (nothing is added).
pub fn subject_access_review(policy: &Policy, body: &[u8]) -> Result<Reply, ApiError> {
    let mut review: SubjectAccessReview = decode("SubjectAccessReview", body)?;
    let check = one_of(
        "SubjectAccessReview",
        &review.spec.resource_attributes,
        &review.spec.non_resource_attributes,
    )?;
    let subject = subject_of(&review.spec);
    if subject.name.is_empty() && subject.groups.is_empty() {
        return Err(ApiError::invalid(
            "SubjectAccessReview",
            "spec.user: Invalid value: \"\": at least one of user or group must be specified",
        ));
    }
    review.status = Some(evaluate(policy, &subject, &check));
    Ok(Reply::json(201, &review))
}

/// `POST namespaces/NS/localsubjectaccessreviews`: as a SubjectAccessReview, restricted to
/// resource requests in the path's namespace.
pub fn local_subject_access_review(
    policy: &Policy,
    namespace: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let mut review: LocalSubjectAccessReview = decode("LocalSubjectAccessReview", body)?;
    match review.metadata.namespace.as_deref() {
        None | Some("") => review.metadata.namespace = Some(namespace.to_string()),
        Some(ns) if ns == namespace => {}
        Some(_) => return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
    }
    if review.spec.non_resource_attributes.is_some() {
        return Err(ApiError::invalid(
            "LocalSubjectAccessReview",
            "spec.nonResourceAttributes: Invalid value: \"\": disallowed on this kind of request",
        ));
    }
    let check = one_of(
        "LocalSubjectAccessReview",
        &review.spec.resource_attributes,
        &None,
    )?;
    if check.namespace != namespace {
        return Err(ApiError::bad_request(format!(
            "spec.resourceAttributes.namespace must match namespace: {namespace}"
        )));
    }
    let subject = subject_of(&review.spec);
    if subject.name.is_empty() && subject.groups.is_empty() {
        return Err(ApiError::invalid(
            "LocalSubjectAccessReview",
            "spec.user: Invalid value: \"\": at least one of user or group must be specified",
        ));
    }
    review.status = Some(evaluate(policy, &subject, &check));
    Ok(Reply::json(201, &review))
}

fn opt(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

/// The rules `user` holds in `namespace`, as the authorizer chain's `RulesFor` reports them:
/// `system:masters` gets `*` rules first, then every RBAC rule that applies.
pub fn rules_review_status(
    policy: &Policy,
    user: &UserInfo,
    namespace: &str,
) -> SubjectRulesReviewStatus {
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    if user.is_master() {
        resource_rules.push(ResourceRule {
            api_groups: Some(vec!["*".into()]),
            resource_names: None,
            resources: Some(vec!["*".into()]),
            verbs: vec!["*".into()],
        });
        non_resource_rules.push(NonResourceRule {
            non_resource_urls: Some(vec!["*".into()]),
            verbs: vec!["*".into()],
        });
    }
    let rules = policy.rules_for(&user.rbac_user(), namespace);
    for r in &rules.rules {
        let rule = r.rule;
        if !rule.resources.is_empty() {
            resource_rules.push(ResourceRule {
                api_groups: opt(&rule.api_groups),
                resource_names: opt(&rule.resource_names),
                resources: opt(&rule.resources),
                verbs: rule.verbs.clone(),
            });
        }
        if !rule.non_resource_urls.is_empty() {
            non_resource_rules.push(NonResourceRule {
                non_resource_urls: opt(&rule.non_resource_urls),
                verbs: rule.verbs.clone(),
            });
        }
    }
    let mut errors: Vec<&str> = Vec::new();
    for e in &rules.errors {
        if !errors.contains(&e.as_str()) {
            errors.push(e);
        }
    }
    SubjectRulesReviewStatus {
        evaluation_error: match errors.len() {
            0 => None,
            1 => Some(errors[0].to_string()),
            _ => Some(format!("[{}]", errors.join(", "))),
        },
        incomplete: !errors.is_empty(),
        non_resource_rules,
        resource_rules,
    }
}

/// `POST selfsubjectrulesreviews`.
pub fn self_subject_rules_review(
    policy: &Policy,
    user: &UserInfo,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let mut review: SelfSubjectRulesReview = decode("SelfSubjectRulesReview", body)?;
    let namespace = review.spec.namespace.clone().unwrap_or_default();
    if namespace.is_empty() {
        return Err(ApiError::bad_request("no namespace on request"));
    }
    review.status = Some(rules_review_status(policy, user, &namespace));
    Ok(Reply::json(201, &review))
}

/// `POST selfsubjectreviews` (`kubectl auth whoami`): the caller's identity after
/// impersonation.
pub fn self_subject_review(
    user: &UserInfo,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Reply, ApiError> {
    let mut review: SelfSubjectReview = decode("SelfSubjectReview", body)?;
    review.metadata.creation_timestamp = now
        .format(&Rfc3339)
        .ok()
        .and_then(|t| serde_json::from_value(serde_json::Value::String(t)).ok());
    review.status = Some(SelfSubjectReviewStatus {
        user_info: Some(K8sUserInfo {
            extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
            groups: Some(user.groups.clone()),
            uid: (!user.uid.is_empty()).then(|| user.uid.clone()),
            username: Some(user.name.clone()),
        }),
    });
    Ok(Reply::json(201, &review))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use virtguard_rbac::{Binding, PolicyRule, Role, Subject, SubjectKind};

    fn policy() -> Policy {
        let p = Policy::new(
            vec![Role::cluster(
                "vm-reader",
                vec![
                    PolicyRule::resource(&["get", "list"], &["kubevirt.io"], &["virtualmachines"]),
                    PolicyRule::non_resource(&["get"], &["/healthz"]),
                ],
            )],
            vec![
                Binding::cluster(
                    "alice-reads",
                    "vm-reader",
                    vec![Subject::new(SubjectKind::User, "alice", "")],
                ),
                Binding::cluster(
                    "dangling",
                    "missing",
                    vec![Subject::new(SubjectKind::User, "alice", "")],
                ),
            ],
        );
        p.build_index();
        p
    }

    fn alice() -> UserInfo {
        UserInfo::from_certificate("alice", &[])
    }

    fn body(v: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn ssar_answers_for_the_caller() {
        let b = body(
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": "list", "group": "kubevirt.io", "resource": "virtualmachines", "namespace": "prod"}}}),
        );
        let r = self_subject_access_review(&policy(), &alice(), &b).unwrap();
        assert_eq!(r.code, 201);
        let v = r.body_json().unwrap();
        assert_eq!(v["status"]["allowed"], true);
        assert!(v["status"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("RBAC: allowed by ClusterRoleBinding \"alice-reads\""));
        let bob = UserInfo::from_certificate("bob", &[]);
        let v = self_subject_access_review(&policy(), &bob, &b)
            .unwrap()
            .body_json()
            .unwrap();
        assert_eq!(v["status"]["allowed"], false);
        let root = UserInfo::from_certificate("root", &["system:masters".into()]);
        let v = self_subject_access_review(&policy(), &root, &b)
            .unwrap()
            .body_json()
            .unwrap();
        assert_eq!(v["status"]["allowed"], true);
    }

    #[test]
    fn malformed_and_invalid_reviews() {
        let e = self_subject_access_review(&policy(), &alice(), b"{not json").unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e
            .message
            .contains("cannot be handled as a SelfSubjectAccessReview"));
        let e = self_subject_access_review(&policy(), &alice(), &body(json!({"kind": "Pod"})))
            .unwrap_err();
        assert_eq!(e.code, 400);
        let e = self_subject_access_review(&policy(), &alice(), b"").unwrap_err();
        assert_eq!(e.code, 400);
        let e = self_subject_access_review(&policy(), &alice(), &body(json!({"spec": {}})))
            .unwrap_err();
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        assert!(e
            .message
            .contains("exactly one of nonResourceAttributes or resourceAttributes"));
        let e = subject_access_review(
            &policy(),
            &body(json!({"spec": {"nonResourceAttributes": {"verb": "get", "path": "/healthz"}}})),
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("at least one of user or group must be specified"),
            "{}",
            e.message
        );
    }

    #[test]
    fn sar_is_literal() {
        let b = body(
            json!({"spec": {"user": "alice", "nonResourceAttributes": {"verb": "get", "path": "/healthz"}}}),
        );
        let v = subject_access_review(&policy(), &b)
            .unwrap()
            .body_json()
            .unwrap();
        assert_eq!(v["status"]["allowed"], true);
        assert_eq!(v["spec"]["user"], "alice");
    }

    #[test]
    fn local_reviews_stay_in_their_namespace() {
        let b = body(
            json!({"spec": {"user": "alice", "resourceAttributes": {"verb": "get", "group": "kubevirt.io", "resource": "virtualmachines", "namespace": "prod"}}}),
        );
        let v = local_subject_access_review(&policy(), "prod", &b)
            .unwrap()
            .body_json()
            .unwrap();
        assert_eq!(v["status"]["allowed"], true);
        assert_eq!(v["metadata"]["namespace"], "prod");
        let e = local_subject_access_review(&policy(), "dev", &b).unwrap_err();
        assert_eq!(
            e.message,
            "spec.resourceAttributes.namespace must match namespace: dev"
        );
        let nr = body(
            json!({"spec": {"user": "alice", "nonResourceAttributes": {"verb": "get", "path": "/x"}}}),
        );
        assert_eq!(
            local_subject_access_review(&policy(), "prod", &nr)
                .unwrap_err()
                .code,
            422
        );
    }

    #[test]
    fn rules_review_lists_rules_and_errors() {
        let b = body(json!({"spec": {"namespace": "prod"}}));
        let v = self_subject_rules_review(&policy(), &alice(), &b)
            .unwrap()
            .body_json()
            .unwrap();
        assert_eq!(
            v["status"]["resourceRules"][0]["resources"][0],
            "virtualmachines"
        );
        assert_eq!(
            v["status"]["nonResourceRules"][0]["nonResourceURLs"][0],
            "/healthz"
        );
        assert_eq!(v["status"]["incomplete"], true);
        assert!(v["status"]["evaluationError"]
            .as_str()
            .unwrap()
            .contains("missing"));
        let root = UserInfo::from_certificate("root", &["system:masters".into()]);
        let st = rules_review_status(&policy(), &root, "prod");
        assert_eq!(st.resource_rules[0].verbs, ["*"]);
        assert_eq!(
            self_subject_rules_review(&policy(), &alice(), &body(json!({"spec": {}})))
                .unwrap_err()
                .code,
            400
        );
    }

    #[test]
    fn whoami() {
        let u = UserInfo::from_certificate("alice", &["devs".into()]);
        let v = self_subject_review(
            &u,
            b"{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"SelfSubjectReview\"}",
            OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap()
        .body_json()
        .unwrap();
        assert_eq!(v["status"]["userInfo"]["username"], "alice");
        assert_eq!(
            v["status"]["userInfo"]["groups"],
            json!(["devs", "system:authenticated"])
        );
        assert_eq!(v["kind"], "SelfSubjectReview");
    }
}
