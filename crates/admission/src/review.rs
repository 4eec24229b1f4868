//! `admission.k8s.io/v1` AdmissionReview: the request as kube-apiserver sends it, and the
//! response it expects (the request's `uid` echoed, `allowed`, a `status` on denial, warnings).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

/// Kubernetes truncates admission warnings longer than this (characters).
pub const MAX_WARNING_CHARS: usize = 120;

/// What is under review.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmissionRequest {
    /// `request.uid`, echoed in the response.
    pub uid: String,
    /// `request.kind`: group, version, kind.
    pub group: String,
    /// Version of `request.kind`.
    pub version: String,
    /// Kind of the object.
    pub kind: String,
    /// `request.subResource`.
    pub sub_resource: String,
    /// `request.namespace`.
    pub namespace: String,
    /// `request.name`.
    pub name: String,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub operation: String,
    /// `request.userInfo.username`.
    pub username: String,
    /// `request.userInfo.groups`.
    pub groups: Vec<String>,
    /// `request.object`.
    pub object: Option<Value>,
    /// `request.oldObject`.
    pub old_object: Option<Value>,
    /// `request.dryRun`: judged the same, never recorded.
    pub dry_run: bool,
}

/// Why a body is not an AdmissionReview (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReviewError(pub String);

#[derive(Deserialize)]
struct Review {
    #[serde(rename = "apiVersion", default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    request: Option<Request>,
}

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    uid: String,
    kind: Option<Gvk>,
    #[serde(rename = "subResource", default)]
    sub_resource: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    operation: String,
    #[serde(rename = "userInfo", default)]
    user_info: UserInfo,
    #[serde(default)]
    object: Option<Value>,
    #[serde(rename = "oldObject", default)]
    old_object: Option<Value>,
    #[serde(rename = "dryRun", default)]
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
struct Gvk {
    #[serde(default)]
    group: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    kind: String,
}

#[derive(Deserialize, Default)]
struct UserInfo {
    #[serde(default)]
    username: String,
    #[serde(default)]
    groups: Vec<String>,
}

/// Reads an AdmissionReview `admission.k8s.io/v1` with a request (uid, kind, operation).
pub fn parse_review(body: &[u8]) -> Result<AdmissionRequest, ReviewError> {
    let r: Review = serde_json::from_slice(body)
        .map_err(|e| ReviewError(format!("the body is not an AdmissionReview: {e}")))?;
    if r.api_version != "admission.k8s.io/v1" || r.kind != "AdmissionReview" {
        return Err(ReviewError(format!(
            "expected apiVersion admission.k8s.io/v1, kind AdmissionReview; got apiVersion {:?}, kind {:?}",
            r.api_version, r.kind
        )));
    }
    let req = r
        .request
        .ok_or_else(|| ReviewError("the AdmissionReview has no request".into()))?;
    if req.uid.is_empty() {
        return Err(ReviewError("request.uid is missing".into()));
    }
    let gvk = req
        .kind
        .ok_or_else(|| ReviewError("request.kind is missing".into()))?;
    if gvk.kind.is_empty() {
        return Err(ReviewError("request.kind.kind is missing".into()));
    }
    if !matches!(
        req.operation.as_str(),
        "CREATE" | "UPDATE" | "DELETE" | "CONNECT"
    ) {
        return Err(ReviewError(format!(
            "request.operation {:?} is not CREATE, UPDATE, DELETE or CONNECT",
            req.operation
        )));
    }
    Ok(AdmissionRequest {
        uid: req.uid,
        group: gvk.group,
        version: gvk.version,
        kind: gvk.kind,
        sub_resource: req.sub_resource,
        namespace: req.namespace,
        name: req.name,
        operation: req.operation,
        username: req.user_info.username,
        groups: req.user_info.groups,
        object: req.object.filter(|o| !o.is_null()),
        old_object: req.old_object.filter(|o| !o.is_null()),
        dry_run: req.dry_run.unwrap_or(false),
    })
}

/// One field-level cause of a denial (KubeVirt's StatusCause).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueNotSupported`, `Forbidden`, …
    pub cause_type: String,
    /// The field path.
    pub field: String,
    /// The message.
    pub message: String,
}

/// The answer to one review.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// HTTP code of the denial status (403 Forbidden, 422 Invalid).
    pub code: u16,
    /// Status reason (`Forbidden`, `Invalid`).
    pub reason: String,
    /// The denial message.
    pub message: String,
    /// Field causes of the denial.
    pub causes: Vec<Cause>,
    /// Warnings shown to the client (each at most [`MAX_WARNING_CHARS`]).
    pub warnings: Vec<String>,
    /// Audit annotations (`Audit` actions).
    pub audit_annotations: BTreeMap<String, String>,
}

impl Verdict {
    /// Allowed, nothing to say.
    pub fn allow() -> Self {
        Verdict {
            allowed: true,
            ..Verdict::default()
        }
    }

    /// Denied with 403 Forbidden.
    pub fn forbid(message: impl Into<String>) -> Self {
        Verdict {
            allowed: false,
            code: 403,
            reason: "Forbidden".into(),
            message: message.into(),
            ..Verdict::default()
        }
    }

    /// Denied with 422 Invalid and field causes, as KubeVirt's webhooks deny
    /// (`webhookutils.ToAdmissionResponse`): the message is the causes' messages joined.
    pub fn invalid(causes: Vec<Cause>) -> Self {
        Verdict {
            allowed: false,
            code: 422,
            reason: "Invalid".into(),
            message: causes
                .iter()
                .map(|c| c.message.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            causes,
            ..Verdict::default()
        }
    }

    /// Adds a warning, truncated to [`MAX_WARNING_CHARS`] characters.
    pub fn warn(&mut self, w: &str) {
        self.warnings.push(truncate(w, MAX_WARNING_CHARS));
    }
}

/// `s` cut to at most `n` characters (an ellipsis marks a cut).
pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// The AdmissionReview response for `uid`.
pub fn response(uid: &str, v: &Verdict) -> Value {
    let mut resp = json!({"uid": uid, "allowed": v.allowed});
    if !v.allowed {
        let mut status =
            json!({"code": v.code, "reason": v.reason, "message": v.message, "status": "Failure"});
        if !v.causes.is_empty() {
            status["details"] = json!({"causes": v.causes.iter().map(|c| json!({"type": c.cause_type, "field": c.field, "message": c.message})).collect::<Vec<_>>()});
        }
        resp["status"] = status;
    }
    if !v.warnings.is_empty() {
        resp["warnings"] = json!(v.warnings);
    }
    if !v.audit_annotations.is_empty() {
        resp["auditAnnotations"] = json!(v.audit_annotations);
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reviews_parse_and_bad_ones_are_errors() {
        let ok = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"group":"kubevirt.io","version":"v1","kind":"VirtualMachine"},"namespace":"ns","name":"vm","operation":"CREATE","userInfo":{"username":"alice","groups":["g"]},"object":{"a":1},"oldObject":null,"dryRun":true}}"#;
        let r = parse_review(ok).expect("parses");
        assert_eq!(
            (r.uid.as_str(), r.kind.as_str(), r.dry_run),
            ("u1", "VirtualMachine", true)
        );
        assert_eq!(r.old_object, None);
        for (bad, why) in [
            (&b"{"[..], "not an AdmissionReview"),
            (br#"{"apiVersion":"v1","kind":"Pod"}"#, "expected apiVersion"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#, "no request"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{"kind":"X"},"operation":"CREATE"}}"#, "uid is missing"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE"}}"#, "kind is missing"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"X"},"operation":"PATCH"}}"#, "operation"),
        ] {
            let e = parse_review(bad).expect_err(why);
            assert!(e.0.contains(why), "{e}");
        }
    }

    proptest::proptest! {
        /// The decoder never panics: any bytes are a request or an error.
        #[test]
        fn any_bytes_decode_or_fail(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_review(&body);
        }

        /// Reviews with fields of the wrong types, or mangled, are errors or requests, never
        /// panics; a well-formed one keeps its uid.
        #[test]
        fn mangled_reviews_decode_or_fail(uid in ".{0,20}", op in "[A-Z]{0,8}", cut in 0usize..400, kind in proptest::option::of("[A-Za-z]{0,12}")) {
            let text = serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": {"uid": uid, "kind": {"group": "kubevirt.io", "version": "v1", "kind": kind},
                "operation": op, "object": {"metadata": {"name": "x"}}}}).to_string();
            let cut = cut.min(text.len());
            let _ = parse_review(&text.as_bytes()[..cut]);
            if let Ok(r) = parse_review(text.as_bytes()) {
                proptest::prop_assert_eq!(r.uid, uid);
            }
        }
    }

    #[test]
    fn responses_echo_the_uid_and_truncate_warnings() {
        let mut v = Verdict::forbid("no");
        v.warn(&"x".repeat(300));
        let r = response("u1", &v);
        assert_eq!(r["response"]["uid"], "u1");
        assert_eq!(r["response"]["allowed"], false);
        assert_eq!(r["response"]["status"]["code"], 403);
        assert_eq!(
            r["response"]["warnings"][0]
                .as_str()
                .map(|s| s.chars().count()),
            Some(120)
        );
        let ok = response("u2", &Verdict::allow());
        assert_eq!(ok["response"], json!({"uid": "u2", "allowed": true}));
    }
}
