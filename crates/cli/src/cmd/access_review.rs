//! `virtguard access-review`: SubjectAccessReviews in, each written back with its `status`, one
//! JSON line per review. The batch and machine interface.
//!
//! Each review is evaluated literally, as kube-apiserver evaluates one: the groups are exactly
//! those given, and a member of `system:masters` is allowed before RBAC is asked, as
//! kube-apiserver's privileged-group authorizer does. With Cedar policies (`--policies`, or Policy
//! objects in the snapshot) the chain is kube-apiserver's with the webhook in it: a `forbid`
//! denies (`denied: true`), a `permit` allows, otherwise RBAC decides. A review that cannot be evaluated gets
//! `status.evaluationError` on its own line and the others go on. Reviews are answered in
//! parallel and written in input order.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{Read, Write};

use anyhow::{Context, Result};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;
use virtguard_rbac::{Attributes, Decision, Policy, ResourceAttributes, User};
use virtguard_snapshot::Text;

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
    #[serde(borrow)]
    groups: Option<Vec<Cow<'a, str>>>,
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

/// What reviews are answered against: RBAC, behind the Cedar policies when there are any.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    policy: &'a Policy,
    cedar: Option<&'a virtguard_policy::PolicySet>,
}

/// The status of one review, or the reason it could not be evaluated.
enum Answer {
    /// RBAC decided (the Cedar policies, if any, had no opinion; their evaluation errors, if
    /// any, are the second field).
    Decided(Decision, Option<String>),
    /// A Cedar policy decided: allowed by a `permit`, or denied by a `forbid`.
    Cedar {
        allowed: bool,
        reason: String,
        errors: Option<String>,
    },
    /// A member of `system:masters`: kube-apiserver's privileged-group authorizer allows the
    /// request before RBAC is asked, and gives no reason.
    Privileged,
    Error(String),
}

/// State one thread reuses from review to review: the user's strings (so a review allocates no
/// user), and the JSON of every reason already written. An allowed decision's reason names only
/// the binding and the subject that granted it, and a stream of reviews meets the same few
/// thousand of those again and again.
#[derive(Default)]
struct Scratch {
    user: User,
    reasons: FxHashMap<(usize, usize), Box<[u8]>>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Sets `user` to the review's user and groups, reusing its strings' memory.
fn set_user(user: &mut User, name: &str, groups: &[Cow<'_, str>]) {
    user.name.clear();
    user.name.push_str(name);
    user.groups.truncate(groups.len());
    for (i, g) in groups.iter().enumerate() {
        match user.groups.get_mut(i) {
            Some(slot) => {
                slot.clear();
                slot.push_str(g);
            }
            None => user.groups.push(g.to_string()),
        }
    }
}

fn evaluate(ctx: &Ctx<'_>, r: &Review<'_>, text: &str, user: &mut User) -> Answer {
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
    let groups = spec.groups.as_deref().unwrap_or_default();
    let user_name = s(&spec.user);
    if user_name.is_empty() && groups.is_empty() {
        return Answer::Error(
            "spec.user: Invalid value: \"\": at least one of user or group must be specified"
                .to_string(),
        );
    }
    set_user(user, user_name, groups);
    let user = &*user;
    if user.is_privileged() {
        return Answer::Privileged;
    }
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
            user,
            s(&ra.verb),
            ResourceAttributes {
                namespace: s(&ra.namespace),
                api_group: s(&ra.group),
                resource: s(&ra.resource),
                subresource: s(&ra.subresource),
                name: s(&ra.name),
            },
        ),
        (None, Some(n)) => Attributes::non_resource(user, s(&n.verb), s(&n.path)),
    };
    let mut cedar_errors = None;
    if let Some(set) = ctx.cedar {
        // Cedar sees the whole spec (uid, extra, selectors), as the webhook would.
        let eval = match serde_json::from_str::<Value>(text)
            .and_then(|v| virtguard_policy::Request::from_review(&v))
        {
            Ok(req) => set.decide(&req),
            Err(e) => return Answer::Error(format!("spec: {e}")),
        };
        let errors = (!eval.errors.is_empty()).then(|| eval.errors.join("; "));
        match eval.decision {
            virtguard_policy::Decision::Deny { policy } => {
                return Answer::Cedar {
                    allowed: false,
                    reason: format!("denied by Cedar {policy}"),
                    errors,
                }
            }
            virtguard_policy::Decision::Allow { policy } => {
                return Answer::Cedar {
                    allowed: true,
                    reason: format!("allowed by Cedar {policy}"),
                    errors,
                }
            }
            virtguard_policy::Decision::NoOpinion => cedar_errors = errors,
        }
    }
    Answer::Decided(ctx.policy.decide(&attrs), cedar_errors)
}

/// Appends a string as a JSON string literal.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail, and a &str always serialises.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Appends the `status` object of an answer as JSON.
fn push_status(
    out: &mut Vec<u8>,
    a: &Answer,
    policy: &Policy,
    reasons: &mut FxHashMap<(usize, usize), Box<[u8]>>,
) {
    match a {
        Answer::Cedar {
            allowed,
            reason,
            errors,
        } => {
            let _ = write!(out, "{{\"allowed\":{allowed},\"denied\":{}", !allowed);
            out.extend_from_slice(b",\"reason\":");
            push_json_str(out, reason);
            if let Some(e) = errors {
                out.extend_from_slice(b",\"evaluationError\":");
                push_json_str(out, e);
            }
            out.push(b'}');
        }
        Answer::Decided(d, cedar_errors) => {
            out.extend_from_slice(if d.allowed {
                b"{\"allowed\":true,\"denied\":false"
            } else {
                b"{\"allowed\":false,\"denied\":false"
            });
            match d.grants.first() {
                Some(g) if d.allowed => {
                    let json = reasons.entry((g.binding, g.subject)).or_insert_with(|| {
                        let mut j = Vec::new();
                        push_json_str(&mut j, &d.reason(policy));
                        j.into_boxed_slice()
                    });
                    out.extend_from_slice(b",\"reason\":");
                    out.extend_from_slice(json);
                }
                _ => {
                    let reason = d.reason(policy);
                    if !reason.is_empty() {
                        out.extend_from_slice(b",\"reason\":");
                        push_json_str(out, &reason);
                    }
                }
            }
            if let Some(e) = cedar_errors {
                out.extend_from_slice(b",\"evaluationError\":");
                push_json_str(out, e);
            }
            out.push(b'}');
        }
        Answer::Privileged => out.extend_from_slice(b"{\"allowed\":true,\"denied\":false}"),
        Answer::Error(e) => {
            out.extend_from_slice(b"{\"allowed\":false,\"denied\":false,\"evaluationError\":");
            push_json_str(out, e);
            out.push(b'}');
        }
    }
}

/// A line for input that could not be parsed at all.
fn push_error_line(out: &mut Vec<u8>, where_: &str, msg: &str) {
    out.extend_from_slice(
        b"{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":\"SubjectAccessReview\",\"status\":",
    );
    out.extend_from_slice(b"{\"allowed\":false,\"denied\":false,\"evaluationError\":");
    push_json_str(out, &format!("{where_}: {msg}"));
    out.push(b'}');
    out.extend_from_slice(b"}\n");
}

/// Answers one JSON review given as text, appending its output line (with the newline) to
/// `out`; returns whether it failed. `where_` names the review in messages and is only called
/// when one is needed.
fn answer_json_text(
    out: &mut Vec<u8>,
    ctx: &Ctx<'_>,
    text: &str,
    where_: &dyn Fn() -> String,
) -> bool {
    let text = text.trim();
    let review: Review<'_> = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            push_error_line(out, &where_(), &format!("invalid review: {e}"));
            return true;
        }
    };
    SCRATCH.with_borrow_mut(|scratch| {
        let answer = evaluate(ctx, &review, text, &mut scratch.user);
        write_answer(
            out,
            ctx.policy,
            text,
            &review,
            &answer,
            &mut scratch.reasons,
        )
    })
}

/// Writes the output line of an answered review.
fn write_answer(
    out: &mut Vec<u8>,
    policy: &Policy,
    text: &str,
    review: &Review<'_>,
    answer: &Answer,
    reasons: &mut FxHashMap<(usize, usize), Box<[u8]>>,
) -> bool {
    let failed = matches!(answer, Answer::Error(_));
    // Fast path: splice the status into the original single-line object.
    if review.status.is_none() && !text.contains('\n') && text.len() > 2 {
        if let Some(body) = text.strip_suffix('}') {
            let body = body.trim_end();
            if !body.ends_with('{') {
                out.extend_from_slice(body.as_bytes());
                out.extend_from_slice(b",\"status\":");
                push_status(out, answer, policy, reasons);
                out.extend_from_slice(b"}\n");
                return failed;
            }
        }
    }
    let mut status = Vec::new();
    push_status(&mut status, answer, policy, reasons);
    out.extend_from_slice(with_status(text, &String::from_utf8_lossy(&status)).as_bytes());
    out.push(b'\n');
    failed
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

/// Bytes of JSON lines answered by one task: a block of whole lines.
const BLOCK_BYTES: usize = 256 * 1024;
/// Blocks answered per batch: the batch's blocks are answered in parallel, then written in
/// order, so memory stays bounded however many reviews come in.
const BATCH_BLOCKS: usize = 16;

/// Splits text into blocks of whole lines of about `size` bytes.
fn blocks(text: &str, size: usize) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len() / size + 1);
    let mut start = 0;
    while start < b.len() {
        let mut end = (start + size).min(b.len());
        if end < b.len() {
            end = memchr::memchr(b'\n', &b[end..]).map_or(b.len(), |j| end + j + 1);
        }
        out.push(&text[start..end]);
        start = end;
    }
    out
}

/// Answers the JSON lines of one block, the first of which is line `first_line` of `name`;
/// returns the output lines and whether any review failed.
fn answer_block(ctx: &Ctx<'_>, block: &str, first_line: usize, name: &str) -> (Vec<u8>, bool) {
    // An answered line is its review plus a status of up to a few hundred bytes: room for
    // twice the block, so the buffer is not grown (copied) while it is written.
    let mut buf = Vec::with_capacity(2 * block.len() + 4096);
    let mut failed = false;
    for (i, l) in block.split('\n').enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        failed |= answer_json_text(&mut buf, ctx, l, &|| format!("{name}:{}", first_line + i));
    }
    (buf, failed)
}

pub fn run(g: &Global, a: &AccessReviewArgs) -> Result<u8> {
    let loaded = load_all(g)?;
    let mut timer = crate::timing::Timer::from_env();
    let ctx = Ctx {
        policy: &loaded.policy,
        cedar: loaded.cedar.as_ref().filter(|c| !c.is_empty()),
    };
    // The reviews are read after the snapshot is loaded: they then reuse memory the load freed
    // (read while loading, they cost 25 MiB more peak and saved no time). A large file is
    // mapped, not read.
    let text: Text = match a.requests.as_deref() {
        None | Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read reviews from stdin")?;
            text.into()
        }
        Some(path) => Text::read(path.as_ref()).with_context(|| format!("cannot read {path}"))?,
    };
    let text: &str = &text;
    let name = a.requests.as_deref().unwrap_or("<stdin>");
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut failed = false;
    if looks_like_json_lines(text) {
        let blocks = blocks(text, BLOCK_BYTES);
        // Each block's first line number, for messages: newlines counted in parallel.
        let newlines: Vec<usize> = blocks
            .par_iter()
            .map(|b| memchr::memchr_iter(b'\n', b.as_bytes()).count())
            .collect();
        let mut first_lines = Vec::with_capacity(blocks.len());
        let mut line = 1;
        for n in newlines {
            first_lines.push(line);
            line += n;
        }
        for (batch, firsts) in blocks
            .chunks(BATCH_BLOCKS)
            .zip(first_lines.chunks(BATCH_BLOCKS))
        {
            let parts: Vec<(Vec<u8>, bool)> = batch
                .par_iter()
                .zip(firsts)
                .map(|(block, &first)| answer_block(&ctx, block, first, name))
                .collect();
            for (buf, f) in parts {
                failed |= f;
                out.write_all(&buf)?;
            }
        }
    } else {
        let mut buf = Vec::new();
        failed = yaml_or_json_stream(&mut buf, &ctx, text, name);
        out.write_all(&buf)?;
    }
    out.flush()?;
    timer.mark("reviews");
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

/// A pretty-printed JSON stream or a YAML stream, answered in order; returns whether any
/// review failed.
fn yaml_or_json_stream(out: &mut Vec<u8>, ctx: &Ctx<'_>, text: &str, name: &str) -> bool {
    let mut failed = false;
    if text.trim_start().starts_with('{') {
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        loop {
            match stream.next() {
                None => break,
                Some(Ok(v)) => {
                    let t = v.to_string();
                    failed |= answer_json_text(out, ctx, &t, &|| name.to_string());
                }
                Some(Err(e)) => {
                    push_error_line(
                        out,
                        &format!("{name}:{}", e.line()),
                        &format!("invalid JSON: {e}"),
                    );
                    return true;
                }
            }
        }
        return failed;
    }
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let where_ = || format!("{name}: document {}", i + 1);
        match Option::<Value>::deserialize(doc) {
            Ok(None) => {}
            Ok(Some(v)) => {
                let t = v.to_string();
                failed |= answer_json_text(out, ctx, &t, &where_);
            }
            Err(e) => {
                push_error_line(out, &where_(), &format!("invalid YAML: {e}"));
                return true;
            }
        }
    }
    failed
}
