//! `virtguard access-review`: SubjectAccessReviews in, each written back with its `status`, one
//! JSON line per review. The batch and machine interface.
//!
//! Each review is evaluated literally, as kube-apiserver evaluates one: the groups are exactly
//! those given. A review that cannot be evaluated gets `status.evaluationError` on its own line
//! and the others go on. Reviews are answered in parallel and written in input order.

use std::borrow::Cow;
use std::io::{Read, Write};

use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;
use virtguard_rbac::{Attributes, Policy, ResourceAttributes, User};

use crate::args::{AccessReviewArgs, Global};
use crate::input::load_all;

#[derive(Deserialize)]
struct Review<'a> {
    #[serde(borrow, rename = "apiVersion")]
    api_version: Option<Cow<'a, str>>,
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    spec: Option<Spec<'a>>,
    status: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec<'a> {
    #[serde(borrow)]
    user: Option<Cow<'a, str>>,
    groups: Option<Vec<String>>,
    #[serde(borrow)]
    resource_attributes: Option<ResourceIn<'a>>,
    #[serde(borrow)]
    non_resource_attributes: Option<NonResourceIn<'a>>,
}

#[derive(Deserialize, Default)]
struct ResourceIn<'a> {
    #[serde(borrow)]
    namespace: Option<Cow<'a, str>>,
    #[serde(borrow)]
    verb: Option<Cow<'a, str>>,
    #[serde(borrow)]
    group: Option<Cow<'a, str>>,
    #[serde(borrow)]
    resource: Option<Cow<'a, str>>,
    #[serde(borrow)]
    subresource: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct NonResourceIn<'a> {
    #[serde(borrow)]
    path: Option<Cow<'a, str>>,
    #[serde(borrow)]
    verb: Option<Cow<'a, str>>,
}

fn s<'x>(v: &'x Option<Cow<'_, str>>) -> &'x str {
    v.as_deref().unwrap_or("")
}

/// The status of one review, or the reason it could not be evaluated.
enum Answer {
    Decided { allowed: bool, reason: String },
    Error(String),
}

fn evaluate(policy: &Policy, r: &Review<'_>) -> Answer {
    if s(&r.kind) != "SubjectAccessReview" {
        return Answer::Error(format!(
            "kind must be SubjectAccessReview, got \"{}\"",
            s(&r.kind)
        ));
    }
    if s(&r.api_version) != "authorization.k8s.io/v1" {
        return Answer::Error(format!(
            "apiVersion must be authorization.k8s.io/v1, got \"{}\"",
            s(&r.api_version)
        ));
    }
    let Some(spec) = &r.spec else {
        return Answer::Error("spec is required".to_string());
    };
    let groups = spec.groups.clone().unwrap_or_default();
    let user_name = s(&spec.user);
    if user_name.is_empty() && groups.is_empty() {
        return Answer::Error(
            "spec.user: Invalid value: \"\": at least one of user or group must be specified"
                .to_string(),
        );
    }
    let user = User::new(user_name, groups);
    let attrs = match (&spec.resource_attributes, &spec.non_resource_attributes) {
        (Some(_), Some(_)) => {
            return Answer::Error(
                "spec.nonResourceAttributes: Invalid value: cannot be specified in combination with resourceAttributes"
                    .to_string(),
            )
        }
        (None, None) => {
            return Answer::Error(
                "spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified"
                    .to_string(),
            )
        }
        (Some(ra), None) => Attributes::resource(
            &user,
            s(&ra.verb),
            ResourceAttributes {
                namespace: s(&ra.namespace),
                api_group: s(&ra.group),
                resource: s(&ra.resource),
                subresource: s(&ra.subresource),
                name: s(&ra.name),
            },
        ),
        (None, Some(n)) => Attributes::non_resource(&user, s(&n.verb), s(&n.path)),
    };
    let d = policy.decide(&attrs);
    Answer::Decided {
        allowed: d.allowed,
        reason: d.reason(policy),
    }
}

fn status_json(a: &Answer) -> String {
    match a {
        Answer::Decided { allowed, reason } => {
            if reason.is_empty() {
                format!("{{\"allowed\":{allowed},\"denied\":false}}")
            } else {
                format!(
                    "{{\"allowed\":{allowed},\"denied\":false,\"reason\":{}}}",
                    serde_json::to_string(reason).unwrap_or_default()
                )
            }
        }
        Answer::Error(e) => format!(
            "{{\"allowed\":false,\"denied\":false,\"evaluationError\":{}}}",
            serde_json::to_string(e).unwrap_or_default()
        ),
    }
}

/// A line for input that could not be parsed at all.
fn error_line(where_: &str, msg: &str) -> String {
    let status = status_json(&Answer::Error(format!("{where_}: {msg}")));
    format!(
        "{{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":\"SubjectAccessReview\",\"status\":{status}}}"
    )
}

/// Answers one JSON review given as text; returns the output line and whether it failed.
fn answer_json_text(policy: &Policy, text: &str, where_: &str) -> (String, bool) {
    let text = text.trim();
    let review: Review<'_> = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => return (error_line(where_, &format!("invalid review: {e}")), true),
    };
    let answer = evaluate(policy, &review);
    let failed = matches!(answer, Answer::Error(_));
    let status = status_json(&answer);
    // Fast path: splice the status into the original single-line object.
    if review.status.is_none() && !text.contains('\n') && text.len() > 2 {
        if let Some(body) = text.strip_suffix('}') {
            let body = body.trim_end();
            if !body.ends_with('{') {
                return (format!("{body},\"status\":{status}}}"), failed);
            }
        }
    }
    (with_status(text, &status), failed)
}

/// Re-serialises a review as one line with `status` replaced.
fn with_status(text: &str, status: &str) -> String {
    match (
        serde_json::from_str::<Value>(text),
        serde_json::from_str::<Value>(status),
    ) {
        (Ok(Value::Object(mut m)), Ok(st)) => {
            m.insert("status".to_string(), st);
            serde_json::to_string(&Value::Object(m)).unwrap_or_default()
        }
        _ => format!("{{\"status\":{status}}}"),
    }
}

pub fn run(g: &Global, a: &AccessReviewArgs) -> Result<u8> {
    let loaded = load_all(g)?;
    let policy = &loaded.policy;
    let mut text = String::new();
    match a.requests.as_deref() {
        None | Some("-") => {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read reviews from stdin")?;
        }
        Some(path) => {
            text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
        }
    }
    let name = a.requests.as_deref().unwrap_or("<stdin>");
    let outputs: Vec<(String, bool)> = if looks_like_json_lines(&text) {
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .collect();
        lines
            .par_chunks(2048)
            .flat_map_iter(|chunk| {
                chunk
                    .iter()
                    .map(|(i, l)| answer_json_text(policy, l, &format!("{name}:{}", i + 1)))
            })
            .collect()
    } else {
        yaml_or_json_stream(policy, &text, name)
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut failed = false;
    for (line, f) in outputs {
        failed |= f;
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(if failed { crate::EXIT_ERROR } else { 0 })
}

/// JSON lines: the first non-empty line is a whole JSON object on its own.
fn looks_like_json_lines(text: &str) -> bool {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| {
            let l = l.trim();
            l.starts_with('{') && serde_json::from_str::<IgnoredAny>(l).is_ok()
        })
        .unwrap_or(false)
}

/// A pretty-printed JSON stream or a YAML stream, answered in order.
fn yaml_or_json_stream(policy: &Policy, text: &str, name: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    if text.trim_start().starts_with('{') {
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        loop {
            match stream.next() {
                None => break,
                Some(Ok(v)) => {
                    let t = v.to_string();
                    out.push(answer_json_text(policy, &t, name));
                }
                Some(Err(e)) => {
                    out.push((
                        error_line(
                            &format!("{name}:{}", e.line()),
                            &format!("invalid JSON: {e}"),
                        ),
                        true,
                    ));
                    break;
                }
            }
        }
        return out;
    }
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let where_ = format!("{name}: document {}", i + 1);
        match Option::<Value>::deserialize(doc) {
            Ok(None) => {}
            Ok(Some(v)) => {
                let t = v.to_string();
                out.push(answer_json_text(policy, &t, &where_));
            }
            Err(e) => {
                out.push((error_line(&where_, &format!("invalid YAML: {e}")), true));
                break;
            }
        }
    }
    out
}
