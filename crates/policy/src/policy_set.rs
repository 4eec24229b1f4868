//! Compiled, schema-validated policies and the decision on a request.
//!
//! Semantics: any matching `forbid` → [`Decision::Deny`]; else any matching `permit` →
//! [`Decision::Allow`]; else [`Decision::NoOpinion`] (Cedar's default deny becomes "no
//! opinion", so that RBAC decides), as in cedar-access-control-for-k8s
//! (`internal/server/authorizer/authorizer.go`).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use cedar_policy::{Authorizer, Effect, PolicyId, Schema, ValidationMode, Validator};
use miette::Diagnostic;

use crate::entities;
use crate::error::{one_line, PolicyError, SourceError};
use crate::request::Request;

/// The Cedar schema of cedar-access-control-for-k8s' authorizer (namespace `k8s`), which
/// every policy is validated against.
pub const SCHEMA: &str = include_str!("k8s-authorization.cedarschema");

/// Which policy decided: its `@id` (or `policy<N>`, its index in its source) and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyRef {
    /// `@id` annotation, or `policy<N>` with N the policy's index in its source.
    pub id: String,
    /// `name:line` of the policy's first line (annotations included).
    pub source: String,
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy {} ({})", self.id, self.source)
    }
}

/// `permit` or `forbid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `permit` policy.
    Permit,
    /// A `forbid` policy.
    Forbid,
}

/// One loaded policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyEntry {
    /// Identity and place.
    pub policy: PolicyRef,
    /// `permit` or `forbid`.
    pub kind: Kind,
}

/// The outcome of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A `forbid` matched (the first one in load order).
    Deny {
        /// The deciding policy.
        policy: PolicyRef,
    },
    /// No `forbid` matched and a `permit` did (the first one in load order).
    Allow {
        /// The deciding policy.
        policy: PolicyRef,
    },
    /// Nothing matched: the next authorizer decides.
    NoOpinion,
}

/// A decision and the policies that could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The decision.
    pub decision: Decision,
    /// Every matching policy of the deciding effect, in load order (first = the decider).
    pub matched: Vec<PolicyRef>,
    /// Policies that errored during evaluation and were skipped (Cedar's rules), one line
    /// each: `source:line: policy <id>: message`. Also a request Cedar cannot express.
    pub errors: Vec<String>,
}

/// Compiled policies validated against [`SCHEMA`]; each keeps its source and `@id`.
#[derive(Debug, Clone)]
pub struct PolicySet {
    /// The policies that can apply to each verb named in an action scope: those whose scope
    /// names it (`==` or `in [...]`) and those with no action constraint. Request actions have no
    /// ancestors (no action entities are passed), so `in` is equality and the slice decides
    /// exactly as the whole set, evaluating fewer policies.
    by_action: HashMap<String, Slice>,
    /// The policies with no action constraint: the slice of every verb not in `by_action`.
    any_action: Slice,
    entries: Vec<PolicyEntry>,
    by_id: HashMap<PolicyId, usize>,
    /// The whole set as Cedar text (scanned for the users and groups the policies name).
    text: String,
}

/// One verb's policies, split by the `resource.resource` value a policy requires before
/// anything in it can fail (see [`resource_key`]): a request is evaluated against `rest` and
/// the policies of its own resource only. Skipping the others is exact: Cedar would find each
/// of them false at that test, with no error, so neither decisions nor errors change.
#[derive(Debug, Clone, Default)]
struct Slice {
    rest: cedar_policy::PolicySet,
    by_resource: HashMap<String, cedar_policy::PolicySet>,
}

impl Slice {
    /// `keys`: each policy's [`resource_key`], computed once for every slice.
    fn of(
        policies: &[&cedar_policy::Policy],
        keys: &HashMap<PolicyId, Option<String>>,
    ) -> Result<Slice, String> {
        let mut slice = Slice::default();
        for p in policies {
            let set = match keys.get(p.id()).cloned().flatten() {
                Some(key) => slice.by_resource.entry(key).or_default(),
                None => &mut slice.rest,
            };
            set.add((*p).clone()).map_err(|e| e.to_string())?;
        }
        Ok(slice)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.rest.policies().count()
            + self
                .by_resource
                .values()
                .map(|s| s.policies().count())
                .sum::<usize>()
    }
}

/// The `resource.resource` string a policy requires, when finding it unequal ends the policy's
/// evaluation with `false` and no error: the resource scope is `is k8s::Resource` (whose
/// `apiGroup` and `resource` the schema requires), the first condition is a `when`, and the
/// conjuncts evaluated before `resource.resource == "…"` (left to right, `&&` short-circuits)
/// are `has` tests and equalities of those required attributes with string literals, which
/// cannot fail. Scope constraints are evaluated before the conditions and cannot fail either.
fn resource_key(p: &cedar_policy::Policy) -> Option<String> {
    use cedar_policy::ResourceConstraint;
    use serde_json::Value;
    let ty = match p.resource_constraint() {
        ResourceConstraint::Is(ty) | ResourceConstraint::IsIn(ty, _) => ty,
        _ => return None,
    };
    if ty.to_string() != "k8s::Resource" {
        return None;
    }
    let est = p.to_json().ok()?;
    let first = est.get("conditions")?.as_array()?.first()?;
    if first.get("kind")?.as_str()? != "when" {
        return None;
    }
    fn conjuncts<'a>(e: &'a Value, out: &mut Vec<&'a Value>) {
        match e.get("&&") {
            Some(and) => {
                if let (Some(l), Some(r)) = (and.get("left"), and.get("right")) {
                    conjuncts(l, out);
                    conjuncts(r, out);
                } else {
                    out.push(e);
                }
            }
            None => out.push(e),
        }
    }
    /// `resource.<attr>` for a required attribute of `k8s::Resource`.
    fn required_attr(e: &Value) -> Option<&str> {
        let dot = e.get(".")?;
        (dot.get("left")?.get("Var")?.as_str()? == "resource")
            .then(|| dot.get("attr")?.as_str())
            .flatten()
            .filter(|a| matches!(*a, "apiGroup" | "resource"))
    }
    let mut parts = Vec::new();
    conjuncts(first.get("body")?, &mut parts);
    for part in parts {
        if let Some(has) = part.get("has") {
            if has.get("left")?.get("Var")?.as_str()? == "resource" {
                continue;
            }
            return None;
        }
        let eq = part.get("==")?;
        let (l, r) = (eq.get("left")?, eq.get("right")?);
        let (attr, lit) = match (required_attr(l), required_attr(r)) {
            (Some(a), None) => (a, r),
            (None, Some(a)) => (a, l),
            _ => return None,
        };
        let lit = lit.get("Value")?.as_str()?;
        if attr == "resource" {
            return Some(lit.to_owned());
        }
    }
    None
}

/// The `k8s::Action` of an action-scope entity, `None` for another type (never equal to a
/// request's action).
fn action_verb(uid: &cedar_policy::EntityUid) -> Option<String> {
    (uid.type_name().to_string() == "k8s::Action").then(|| uid.id().unescaped().to_owned())
}

/// Slices `set` by action (see [`PolicySet::by_action`](PolicySet)), each slice indexed by
/// resource (see [`Slice`]).
fn slice_by_action(
    set: &cedar_policy::PolicySet,
) -> Result<(HashMap<String, Slice>, Slice), String> {
    use cedar_policy::ActionConstraint;
    let mut any: Vec<&cedar_policy::Policy> = Vec::new();
    let mut named: HashMap<String, Vec<&cedar_policy::Policy>> = HashMap::new();
    for p in set.policies() {
        match p.action_constraint() {
            ActionConstraint::Any => any.push(p),
            ActionConstraint::Eq(uid) => {
                if let Some(v) = action_verb(&uid) {
                    named.entry(v).or_default().push(p);
                }
            }
            ActionConstraint::In(uids) => {
                let mut verbs: Vec<String> = uids.iter().filter_map(action_verb).collect();
                verbs.sort();
                verbs.dedup();
                for v in verbs {
                    named.entry(v).or_default().push(p);
                }
            }
        }
    }
    let keys: HashMap<PolicyId, Option<String>> = set
        .policies()
        .map(|p| (p.id().clone(), resource_key(p)))
        .collect();
    let mut by_action = HashMap::with_capacity(named.len());
    for (verb, policies) in named {
        let mut all = any.clone();
        all.extend(policies);
        by_action.insert(verb, Slice::of(&all, &keys)?);
    }
    Ok((by_action, Slice::of(&any, &keys)?))
}

/// Line and column (from 1, column in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Byte offsets of the first token of each top-level statement (annotations included), found
/// by skipping strings and `//` comments and splitting on `;` outside brackets.
fn statement_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    let mut depth: i64 = 0;
    let mut in_statement = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if !in_statement {
            starts.push(i);
            in_statement = true;
        }
        match c {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b';' if depth <= 0 => {
                in_statement = false;
                depth = 0;
            }
            _ => {}
        }
        i += 1;
    }
    starts
}

/// The `@id("…")` of a statement's text, if written plainly.
fn annotated_id(statement: &str) -> Option<String> {
    let rest = statement.split("@id").nth(1)?.trim_start();
    let rest = rest.strip_prefix('(')?.trim_start().strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(rest[..end].to_owned())
}

/// One source while it is being compiled.
struct Parsed<'a> {
    name: &'a str,
    text: &'a str,
    starts: Vec<usize>,
}

impl Parsed<'_> {
    /// Index of the statement containing `offset`.
    fn statement_at(&self, offset: usize) -> usize {
        self.starts
            .iter()
            .rposition(|&s| s <= offset)
            .unwrap_or_default()
    }

    fn statement_text(&self, index: usize) -> &str {
        let start = self.starts.get(index).copied().unwrap_or_default();
        let end = self
            .starts
            .get(index + 1)
            .copied()
            .unwrap_or(self.text.len());
        self.text.get(start..end).unwrap_or_default()
    }

    /// `@id` or `policy<index>` for a statement that may not parse.
    fn display_id(&self, index: usize) -> String {
        annotated_id(self.statement_text(index)).unwrap_or_else(|| format!("policy{index}"))
    }

    fn error(&self, offset: usize, policy: String, message: String) -> SourceError {
        let (line, column) = line_col(self.text, offset);
        SourceError {
            source: self.name.to_owned(),
            line,
            column,
            policy,
            message,
        }
    }
}

/// First label offset of a diagnostic.
fn diagnostic_offset(d: &dyn Diagnostic) -> Option<usize> {
    d.labels()?.next().map(|l| l.offset())
}

/// A diagnostic's message and help on one line, without Cedar's `for policy `…`, ` prefix.
fn diagnostic_message(d: &dyn Diagnostic, internal_id: Option<&str>) -> String {
    let mut m = d.to_string();
    if let Some(id) = internal_id {
        m = m.replace(&format!("for policy `{id}`, "), "");
    }
    if let Some(help) = d.help() {
        m = format!("{m} (help: {help})");
    }
    one_line(&m)
}

/// Statement index of Cedar's default id `policyN`.
fn default_index(id: &PolicyId) -> Option<usize> {
    id.to_string().strip_prefix("policy")?.parse().ok()
}

impl PolicySet {
    /// Parses and validates `(name, text)` sources (name: a file path or `Policy/<name>`).
    /// All errors are collected; each is one line `name:line:column: policy <id>: message`.
    pub fn from_sources(sources: &[(String, String)]) -> Result<PolicySet, PolicyError> {
        let (schema, _warnings) =
            Schema::from_cedarschema_str(SCHEMA).map_err(|e| PolicyError::Schema(e.to_string()))?;
        let mut errors = Vec::new();
        let mut set = cedar_policy::PolicySet::new();
        let mut entries = Vec::new();
        let mut by_id = HashMap::new();
        // internal id → (source index, statement index)
        let mut origin: HashMap<PolicyId, (usize, usize)> = HashMap::new();
        let mut parsed = Vec::with_capacity(sources.len());

        for (si, (name, text)) in sources.iter().enumerate() {
            let p = Parsed {
                name,
                text,
                starts: statement_starts(text),
            };
            match cedar_policy::PolicySet::from_str(text) {
                Err(e) => {
                    for pe in e.iter() {
                        let offset = diagnostic_offset(pe).unwrap_or_default();
                        let id = p.display_id(p.statement_at(offset));
                        errors.push(p.error(offset, id, diagnostic_message(pe, None)));
                    }
                }
                Ok(ps) => {
                    for t in ps.templates() {
                        let index = default_index(t.id()).unwrap_or_default();
                        let offset = p.starts.get(index).copied().unwrap_or_default();
                        errors.push(p.error(
                            offset,
                            p.display_id(index),
                            "templates (?principal, ?resource) are not supported".to_owned(),
                        ));
                    }
                    let mut policies: Vec<_> = ps
                        .policies()
                        .map(|pol| (default_index(pol.id()).unwrap_or_default(), pol))
                        .collect();
                    policies.sort_by_key(|(i, _)| *i);
                    for (index, pol) in policies {
                        let internal = PolicyId::new(format!("s{si}p{index}"));
                        let id = pol
                            .annotation("id")
                            .map_or_else(|| format!("policy{index}"), str::to_owned);
                        let offset = p.starts.get(index).copied().unwrap_or_default();
                        let (line, _) = line_col(text, offset);
                        let kind = match pol.effect() {
                            Effect::Permit => Kind::Permit,
                            Effect::Forbid => Kind::Forbid,
                        };
                        if let Err(e) = set.add(pol.new_id(internal.clone())) {
                            errors.push(p.error(offset, id, one_line(&e.to_string())));
                            continue;
                        }
                        by_id.insert(internal.clone(), entries.len());
                        origin.insert(internal, (si, index));
                        entries.push(PolicyEntry {
                            policy: PolicyRef {
                                id,
                                source: format!("{name}:{line}"),
                            },
                            kind,
                        });
                    }
                }
            }
            parsed.push(p);
        }

        let validation = Validator::new(schema).validate(&set, ValidationMode::Strict);
        for ve in validation.validation_errors() {
            let internal = ve.policy_id();
            let (Some(&(si, index)), Some(&ei)) = (origin.get(internal), by_id.get(internal))
            else {
                continue;
            };
            let (Some(p), Some(entry)) = (parsed.get(si), entries.get(ei)) else {
                continue;
            };
            let offset = diagnostic_offset(ve)
                .unwrap_or_else(|| p.starts.get(index).copied().unwrap_or_default());
            errors.push(p.error(
                offset,
                entry.policy.id.clone(),
                diagnostic_message(ve, Some(internal.as_ref())),
            ));
        }

        // Deterministic order: source order, then position (Cedar's validator order is not).
        errors.sort_by(|a: &SourceError, b: &SourceError| {
            let rank = |e: &SourceError| sources.iter().position(|(n, _)| *n == e.source);
            (rank(a), a.line, a.column, &a.message).cmp(&(rank(b), b.line, b.column, &b.message))
        });
        if errors.is_empty() {
            let (by_action, any_action) = slice_by_action(&set).map_err(|e| {
                PolicyError::Invalid(vec![SourceError {
                    source: String::new(),
                    line: 0,
                    column: 0,
                    policy: String::new(),
                    message: format!("cannot index the policies by action: {e}"),
                }])
            })?;
            Ok(PolicySet {
                by_action,
                any_action,
                entries,
                by_id,
                text: set.to_string(),
            })
        } else {
            Err(PolicyError::Invalid(errors))
        }
    }

    /// The policies as Cedar text (for scanning the entities they name).
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The loaded policies in load order.
    pub fn policies(&self) -> &[PolicyEntry] {
        &self.entries
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no policy is loaded (every decision is then [`Decision::NoOpinion`]).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn entry(&self, id: &PolicyId) -> Option<&PolicyEntry> {
        self.by_id.get(id).and_then(|&i| self.entries.get(i))
    }

    /// Evaluates the policies on `req`. Never fails: a request that cannot be expressed
    /// in Cedar gives [`Decision::NoOpinion`] with the reason in `errors`.
    pub fn decide(&self, req: &Request) -> Evaluation {
        let mapped = match entities::map(req) {
            Ok(m) => m,
            Err(e) => {
                return Evaluation {
                    decision: Decision::NoOpinion,
                    matched: Vec::new(),
                    errors: vec![format!("request: {e}")],
                }
            }
        };
        let slice = self
            .by_action
            .get(mapped.action.id().unescaped())
            .unwrap_or(&self.any_action);
        let indexed = mapped
            .resource_name
            .as_deref()
            .and_then(|r| slice.by_resource.get(r));
        let cedar_req = match cedar_policy::Request::new(
            mapped.principal,
            mapped.action,
            mapped.resource,
            entities::context(),
            None,
        ) {
            Ok(r) => r,
            Err(e) => {
                return Evaluation {
                    decision: Decision::NoOpinion,
                    matched: Vec::new(),
                    errors: vec![format!("request: {}", one_line(&e.to_string()))],
                }
            }
        };
        let authorizer = Authorizer::new();
        let mut responses =
            vec![authorizer.is_authorized(&cedar_req, &slice.rest, &mapped.entities)];
        if let Some(set) = indexed {
            responses.push(authorizer.is_authorized(&cedar_req, set, &mapped.entities));
        }

        // Satisfied policies of both parts; Cedar's reasons are the satisfied forbids when one
        // is, else the satisfied permits, which the combination below recomputes.
        let mut matched: Vec<(usize, Kind, PolicyRef)> = responses
            .iter()
            .flat_map(|r| r.diagnostics().reason())
            .filter_map(|id| {
                let i = *self.by_id.get(id)?;
                let entry = self.entries.get(i)?;
                Some((i, entry.kind, entry.policy.clone()))
            })
            .collect();
        matched.sort_by_key(|(i, _, _)| *i);
        if matched.iter().any(|(_, k, _)| *k == Kind::Forbid) {
            matched.retain(|(_, k, _)| *k == Kind::Forbid);
        }
        let decision = match matched.first() {
            None => Decision::NoOpinion,
            Some((_, Kind::Forbid, p)) => Decision::Deny { policy: p.clone() },
            Some((_, Kind::Permit, p)) => Decision::Allow { policy: p.clone() },
        };
        let matched: Vec<PolicyRef> = matched.into_iter().map(|(_, _, p)| p).collect();

        let mut errors: Vec<(usize, String)> = responses
            .iter()
            .flat_map(|r| r.diagnostics().errors())
            .map(|e| {
                let text = e.to_string();
                match e {
                    cedar_policy::AuthorizationError::PolicyEvaluationError(pe) => {
                        let id = pe.policy_id();
                        let index = self.by_id.get(id).copied().unwrap_or(usize::MAX);
                        match self.entry(id) {
                            Some(entry) => {
                                let msg = one_line(&pe.inner().to_string());
                                (
                                    index,
                                    format!(
                                        "{}: policy {}: {msg}",
                                        entry.policy.source, entry.policy.id
                                    ),
                                )
                            }
                            None => (index, one_line(&text)),
                        }
                    }
                }
            })
            .collect();
        errors.sort();
        let errors = errors.into_iter().map(|(_, e)| e).collect();

        Evaluation {
            decision,
            matched,
            errors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_slices_decide_as_the_whole_set() {
        let text = r#"@id("any")
forbid (principal, action, resource is k8s::Resource) when { resource.resource == "secrets" };
@id("read")
permit (principal, action in [k8s::Action::"get", k8s::Action::"list"], resource);
@id("del")
forbid (principal, action == k8s::Action::"delete", resource is k8s::Resource) when { resource.resource == "pods" };"#;
        let set = PolicySet::from_sources(&[("s.cedar".into(), text.into())]).expect("valid");
        assert_eq!(set.by_action.len(), 3);
        assert_eq!(set.any_action.len(), 1);
        let decide = |verb: &str, resource: &str| {
            let req = Request::resource(
                "u",
                &[],
                crate::request::ResourceAttributes {
                    verb: verb.into(),
                    resource: resource.into(),
                    ..Default::default()
                },
            );
            match set.decide(&req).decision {
                Decision::Deny { policy } => format!("deny {}", policy.id),
                Decision::Allow { policy } => format!("allow {}", policy.id),
                Decision::NoOpinion => "none".into(),
            }
        };
        assert_eq!(decide("get", "secrets"), "deny any");
        assert_eq!(decide("list", "pods"), "allow read");
        assert_eq!(decide("delete", "pods"), "deny del");
        assert_eq!(decide("delete", "nodes"), "none");
        assert_eq!(decide("frobnicate", "secrets"), "deny any");
        assert_eq!(decide("frobnicate", "pods"), "none");
    }

    #[test]
    fn resource_index_keys_only_policies_that_cannot_fail_before_the_test() {
        let keys = |text: &str| -> Vec<Option<String>> {
            let set: cedar_policy::PolicySet = text.parse().expect("parses");
            let mut ps: Vec<_> = set.policies().collect();
            ps.sort_by_key(|p| p.id().to_string());
            ps.into_iter().map(resource_key).collect()
        };
        let text = r#"
forbid (principal, action, resource is k8s::Resource) when { resource.resource == "pods" };
forbid (principal, action, resource is k8s::Resource) when { resource has subresource && resource.apiGroup == "" && "vms" == resource.resource && resource.subresource == "vnc" };
forbid (principal, action, resource is k8s::Resource) when { resource.namespace == "x" && resource.resource == "pods" };
forbid (principal, action, resource) when { resource.resource == "pods" };
forbid (principal, action, resource is k8s::Resource) unless { resource.resource == "pods" };
forbid (principal, action, resource is k8s::Resource) when { resource.resource == "pods" || resource.resource == "x" };
forbid (principal, action, resource is k8s::Resource) when { resource.apiGroup == resource.resource };
"#;
        let got = keys(text);
        assert_eq!(
            got,
            vec![
                Some("pods".to_owned()),
                Some("vms".to_owned()),
                None, // `resource.namespace` may be absent: the policy errors, which must be seen
                None, // not only k8s::Resource
                None, // unless
                None, // a disjunction
                None, // no literal
            ]
        );
    }

    #[test]
    fn the_resource_index_decides_and_errs_as_the_whole_set() {
        let text = r#"@id("f-pods-err")
forbid (principal, action, resource is k8s::Resource) when { resource.resource == "pods" && 9223372036854775807 + 1 > 0 };
@id("f-pods-a")
forbid (principal, action, resource is k8s::Resource) when { resource.resource == "pods" && resource has namespace && resource.namespace == "a" };
@id("p-vms")
permit (principal, action == k8s::Action::"get", resource is k8s::Resource) when { resource.apiGroup == "kubevirt.io" && resource.resource == "vms" };
@id("f-ns")
forbid (principal, action, resource is k8s::Resource) when { resource has namespace && resource.namespace == "b" && resource.resource == "vms" };
@id("p-any")
permit (principal, action == k8s::Action::"list", resource);
@id("f-err-first")
forbid (principal, action == k8s::Action::"delete", resource is k8s::Resource) when { 9223372036854775807 + 1 > 0 && resource.resource == "pods" };"#;
        let set = PolicySet::from_sources(&[("s.cedar".into(), text.into())]).expect("valid");
        assert_eq!(set.any_action.by_resource.len(), 1);
        assert_eq!(set.any_action.rest.policies().count(), 1);
        let decide = |verb: &str, group: &str, resource: &str, ns: &str| {
            let req = Request::resource(
                "u",
                &[],
                crate::request::ResourceAttributes {
                    verb: verb.into(),
                    group: group.into(),
                    resource: resource.into(),
                    namespace: ns.into(),
                    ..Default::default()
                },
            );
            let e = set.decide(&req);
            let d = match e.decision {
                Decision::Deny { policy } => format!("deny {}", policy.id),
                Decision::Allow { policy } => format!("allow {}", policy.id),
                Decision::NoOpinion => "none".into(),
            };
            (d, e.errors.len())
        };
        // An indexed policy that errors is still evaluated (and reported) for its resource.
        assert_eq!(decide("get", "", "pods", ""), ("none".into(), 1));
        assert_eq!(decide("get", "", "pods", "a"), ("deny f-pods-a".into(), 1));
        assert_eq!(
            decide("get", "kubevirt.io", "vms", "x"),
            ("allow p-vms".into(), 0)
        );
        assert_eq!(
            decide("get", "kubevirt.io", "vms", "b"),
            ("deny f-ns".into(), 0)
        );
        assert_eq!(
            decide("list", "", "secrets", "b"),
            ("allow p-any".into(), 0)
        );
        // A policy that can fail before its resource test is never skipped.
        assert_eq!(
            decide("delete", "", "pods", "a"),
            ("deny f-pods-a".into(), 2)
        );
        assert_eq!(decide("delete", "", "secrets", ""), ("none".into(), 1));
    }

    #[test]
    fn statements_and_lines() {
        let text = "// c; \"x\"\n@id(\"a;b\")\npermit(principal, action, resource) when { \"}\" == \";\" };\n\n  forbid(principal, action, resource);";
        let starts = statement_starts(text);
        assert_eq!(starts.len(), 2);
        assert_eq!(line_col(text, starts[0]), (2, 1));
        assert_eq!(line_col(text, starts[1]), (5, 3));
        assert_eq!(
            annotated_id(&text[starts[0]..starts[1]]).as_deref(),
            Some("a;b")
        );
        assert_eq!(line_col("é\nx", 100), (2, 2));
    }
}
