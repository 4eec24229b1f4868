//! GET and LIST of stored objects: label selectors (`labels.Parse` syntax), field selectors on
//! `metadata.name` / `metadata.namespace`, paging with `limit` / `continue`, `kind: XList`
//! documents assembled from each object's pre-serialized JSON, and the `meta.k8s.io/v1`
//! `Table` form kubectl asks for.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use virtguard_rbac::{LabelSelector, Requirement, RequirementOperator};

use crate::columns::PrinterColumn;
use crate::request::Query;
use crate::status::ApiError;
use crate::store::{Objects, Served, State, StoredObject};

/// Which objects a list or watch selects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Namespace (`""`: every namespace).
    pub namespace: String,
    /// Label selector.
    pub labels: LabelSelector,
    /// `metadata.name` / `metadata.namespace` terms: (field, wanted, equal).
    pub fields: Vec<(String, String, bool)>,
}

impl Selection {
    /// Reads `labelSelector` and `fieldSelector` from the query for a resource of `group`;
    /// bad syntax, or a field the resource does not select on, is a 400.
    pub fn parse(
        namespace: &str,
        group: &str,
        resource: &str,
        query: &Query,
    ) -> Result<Selection, ApiError> {
        let labels = match query.get("labelSelector") {
            Some(s) => parse_label_selector(s).map_err(ApiError::bad_request)?,
            None => LabelSelector::default(),
        };
        let fields = match query.get("fieldSelector") {
            Some(s) => parse_field_selector(s, selectable_fields(group, resource))
                .map_err(ApiError::bad_request)?,
            None => Vec::new(),
        };
        Ok(Selection {
            namespace: namespace.to_string(),
            labels,
            fields,
        })
    }

    /// Whether an object is selected.
    pub fn matches(&self, o: &StoredObject) -> bool {
        (self.namespace.is_empty() || o.namespace == self.namespace)
            && self.labels.matches(&o.labels)
            && self.fields.iter().all(|(field, want, eq)| {
                let have = match field.as_str() {
                    "metadata.name" => o.name.clone(),
                    "metadata.namespace" => o.namespace.clone(),
                    other => field_value(&o.value(), other),
                };
                (have == *want) == *eq
            })
    }
}

/// The fields besides `metadata.name` / `metadata.namespace` a built-in resource selects on
/// (its registry's `GetAttrs`); custom resources select on metadata only.
pub fn selectable_fields(group: &str, resource: &str) -> &'static [&'static str] {
    match (group, resource) {
        ("", "events") | ("events.k8s.io", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "secrets") => &["type"],
        ("", "namespaces") => &["status.phase"],
        ("", "nodes") => &["spec.unschedulable"],
        _ => &[],
    }
}

/// A field's value as a field selector compares it: a string, a number or boolean as text,
/// absent as empty (an event's `source` is its `source.component`).
fn field_value(content: &Value, field: &str) -> String {
    let path = if field == "source" {
        "source.component"
    } else {
        field
    };
    let mut v = content;
    for part in path.split('.') {
        match v.get(part) {
            Some(x) => v = x,
            None => return String::new(),
        }
    }
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn valid_label_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 317
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_label_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Splits on commas outside parentheses.
fn split_terms(s: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!(
                        "unable to parse requirement: unmatched ')' in {s:?}"
                    ));
                }
            }
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!(
            "unable to parse requirement: unmatched '(' in {s:?}"
        ));
    }
    out.push(&s[start..]);
    Ok(out)
}

/// Parses a label selector string: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`,
/// `k`, `!k`, comma-separated.
pub fn parse_label_selector(s: &str) -> Result<LabelSelector, String> {
    let mut sel = LabelSelector::default();
    if s.trim().is_empty() {
        return Ok(sel);
    }
    for term in split_terms(s)? {
        let term = term.trim();
        let bad =
            || format!("unable to parse requirement: {term:?} is not a valid label selector term");
        let req = |key: &str, operator, values: Vec<String>| -> Result<Requirement, String> {
            let key = key.trim();
            if !valid_label_key(key) {
                return Err(format!(
                    "unable to parse requirement: invalid label key {key:?}"
                ));
            }
            if let Some(v) = values.iter().find(|v| !valid_label_value(v)) {
                return Err(format!(
                    "unable to parse requirement: invalid label value {v:?}"
                ));
            }
            Ok(Requirement {
                key: key.to_string(),
                operator,
                values,
            })
        };
        let r = if let Some(k) = term.strip_prefix('!') {
            req(k, RequirementOperator::DoesNotExist, Vec::new())?
        } else if let Some((k, v)) = term.split_once("!=") {
            req(k, RequirementOperator::NotIn, vec![v.trim().to_string()])?
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            req(k, RequirementOperator::In, vec![v.trim().to_string()])?
        } else if let Some(open) = term.find('(') {
            let close = term.rfind(')').filter(|c| *c > open).ok_or_else(bad)?;
            if !term[close + 1..].trim().is_empty() {
                return Err(bad());
            }
            let head = term[..open].trim();
            let values: Vec<String> = term[open + 1..close]
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            if let Some(k) = head.strip_suffix(" notin") {
                req(k, RequirementOperator::NotIn, values)?
            } else if let Some(k) = head.strip_suffix(" in") {
                if values.is_empty() {
                    return Err(format!("unable to parse requirement: {term:?}: for 'in' operator, values set can't be empty"));
                }
                req(k, RequirementOperator::In, values)?
            } else {
                return Err(bad());
            }
        } else if term.contains(' ') || term.contains('<') || term.contains('>') {
            return Err(bad());
        } else {
            req(term, RequirementOperator::Exists, Vec::new())?
        };
        sel.match_expressions.push(r);
    }
    Ok(sel)
}

/// Parses a field selector (`=`, `==`, `!=`) on `metadata.name`, `metadata.namespace` and the
/// `extra` fields of the resource.
pub fn parse_field_selector(
    s: &str,
    extra: &[&str],
) -> Result<Vec<(String, String, bool)>, String> {
    let mut out = Vec::new();
    for term in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (field, value, eq) = if let Some((k, v)) = term.split_once("!=") {
            (k, v, false)
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            (k, v, true)
        } else {
            return Err(format!(
                "invalid selector: '{term}'; can't understand '{term}'"
            ));
        };
        let field = field.trim();
        if field != "metadata.name" && field != "metadata.namespace" && !extra.contains(&field) {
            return Err(format!("field label not supported: {field}"));
        }
        out.push((field.to_string(), value.trim().to_string(), eq));
    }
    Ok(out)
}

/// Kubernetes' `duration.HumanDuration`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The AGE cell: `<unknown>` without a creation timestamp.
pub fn age(created: Option<&str>, now: OffsetDateTime) -> String {
    match created.and_then(|c| OffsetDateTime::parse(c, &Rfc3339).ok()) {
        Some(t) => human_duration((now - t).whole_seconds()),
        None => "<unknown>".to_string(),
    }
}

/// A continue token: the state it belongs to and the last key returned.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    ns: String,
    name: String,
}

fn encode_continue(rv: u64, last: &(String, String)) -> String {
    let t = ContinueToken {
        rv,
        ns: last.0.clone(),
        name: last.1.clone(),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&t).unwrap_or_default())
}

fn decode_continue(token: &str, current: u64) -> Result<(String, String), ApiError> {
    let bad = |why: &str| ApiError::bad_request(format!("continue key is not valid: {why}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad("not base64"))?;
    let t: ContinueToken =
        serde_json::from_slice(&bytes).map_err(|_| bad("not a virtguard continue token"))?;
    if t.rv != current {
        return Err(ApiError::expired(
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
        ));
    }
    Ok((t.ns, t.name))
}

/// One page of selected objects and the token for the next.
pub struct Page<'s> {
    /// The objects.
    pub items: Vec<&'s StoredObject>,
    /// The continue token (empty at the end).
    pub next: String,
    /// How many selected objects follow this page.
    pub remaining: usize,
}

/// Selects and pages the objects of a resource.
pub fn page<'s>(
    state: &'s State,
    objects: Option<&'s Objects>,
    sel: &Selection,
    query: &Query,
) -> Result<Page<'s>, ApiError> {
    let limit = match query.get("limit") {
        None | Some("") => 0,
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| {
                ApiError::bad_request(format!("limit: invalid value {l:?}: must be an integer"))
            })?
            .max(0) as usize,
    };
    let start = match query.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => Some(decode_continue(token, state.resource_version)?),
        None => None,
    };
    let lower = match &start {
        Some(k) => std::ops::Bound::Excluded(k.clone()),
        None => std::ops::Bound::Unbounded,
    };
    let mut all = objects
        .into_iter()
        .flat_map(|m| m.range::<(String, String), _>((lower.clone(), std::ops::Bound::Unbounded)))
        .filter(|(_, o)| sel.matches(o))
        .map(|(_, o)| o.as_ref());
    let mut items: Vec<&StoredObject> = Vec::new();
    while let Some(o) = all.next() {
        items.push(o);
        if limit > 0 && items.len() == limit {
            let remaining = all.count();
            if remaining == 0 {
                break;
            }
            let next = encode_continue(
                state.resource_version,
                &(o.namespace.clone(), o.name.clone()),
            );
            return Ok(Page {
                items,
                next,
                remaining,
            });
        }
    }
    Ok(Page {
        items,
        next: String::new(),
        remaining: 0,
    })
}

/// `apiVersion` of a served resource's list.
pub fn list_api_version(served: &Served, version: &str) -> String {
    if served.group.is_empty() {
        version.to_string()
    } else {
        format!("{}/{version}", served.group)
    }
}

fn list_meta(rv: u64, page: &Page<'_>) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if !page.next.is_empty() {
        meta["continue"] = Value::String(page.next.clone());
        meta["remainingItemCount"] = json!(page.remaining);
    }
    meta
}

/// The `kind: XList` document, from the objects' pre-serialized JSON.
pub fn list_json(served: &Served, version: &str, rv: u64, page: &Page<'_>) -> Vec<u8> {
    let head = json!({
        "apiVersion": list_api_version(served, version),
        "kind": format!("{}List", served.kind),
        "metadata": list_meta(rv, page),
    });
    let mut out = serde_json::to_vec(&head).unwrap_or_default();
    // Replace the closing brace by the items array.
    out.pop();
    out.extend_from_slice(b",\"items\":[");
    for (i, o) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&o.json);
    }
    out.extend_from_slice(b"]}");
    out
}

/// What a Table row carries as `object` (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    /// Nothing.
    None,
    /// `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Reads `includeObject`.
    pub fn parse(query: &Query) -> Result<Self, ApiError> {
        match query.get("includeObject") {
            None | Some("") | Some("Metadata") => Ok(IncludeObject::Metadata),
            Some("None") => Ok(IncludeObject::None),
            Some("Object") => Ok(IncludeObject::Object),
            Some(other) => Err(ApiError::bad_request(format!(
                "includeObject: Unsupported value: {other:?}: supported values: \"Metadata\", \"None\", \"Object\""
            ))),
        }
    }
}

fn row(
    o: &StoredObject,
    columns: &[PrinterColumn],
    include: IncludeObject,
    now: OffsetDateTime,
) -> Value {
    let mut cells = vec![Value::String(o.name.clone())];
    if columns.is_empty() {
        cells.push(Value::String(age(o.created.as_deref(), now)));
    } else {
        cells.extend(columns.iter().map(|c| c.cell(o, now)));
    }
    let mut r = json!({ "cells": cells });
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            let mut meta = o.metadata();
            if let Some(m) = meta.as_object_mut() {
                m.insert(
                    "resourceVersion".into(),
                    Value::String(o.resource_version.to_string()),
                );
            }
            r["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
            });
        }
        IncludeObject::Object => r["object"] = o.value(),
    }
    r
}

/// The `meta.k8s.io/v1` Table of a page: NAME, then the resource's printer columns or AGE,
/// as kube-apiserver's default and CRD table convertors.
pub fn table(
    rv: u64,
    page: &Page<'_>,
    columns: &[PrinterColumn],
    include: IncludeObject,
    now: OffsetDateTime,
) -> Value {
    let mut defs = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace. It is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically.", "priority": 0}),
    ];
    if columns.is_empty() {
        defs.push(json!({"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0}));
    } else {
        defs.extend(columns.iter().map(PrinterColumn::definition));
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta(rv, page),
        "columnDefinitions": defs,
        "rows": page.items.iter().map(|o| row(o, columns, include, now)).collect::<Vec<_>>(),
    })
}

/// Labels as a map (tests).
pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::loaded;
    use time::macros::datetime;

    #[test]
    fn label_selectors() {
        let s =
            parse_label_selector("app=db,tier!=web,env in (prod, staging),!legacy,team").unwrap();
        assert!(s.matches(&labels(&[("app", "db"), ("env", "prod"), ("team", "a")])));
        assert!(!s.matches(&labels(&[("app", "db"), ("env", "dev"), ("team", "a")])));
        assert!(!s.matches(&labels(&[
            ("app", "db"),
            ("env", "prod"),
            ("team", "a"),
            ("legacy", "")
        ])));
        assert!(!s.matches(&labels(&[
            ("app", "db"),
            ("env", "prod"),
            ("team", "a"),
            ("tier", "web")
        ])));
        let n = parse_label_selector("env notin (prod)").unwrap();
        assert!(n.matches(&labels(&[])));
        for bad in ["app in (a", "a b", "x=(", "env in ()", "=v", "k>1"] {
            assert!(parse_label_selector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_selectors() {
        assert_eq!(
            parse_field_selector("metadata.name=a,metadata.namespace!=b", &[]).unwrap(),
            vec![
                ("metadata.name".to_string(), "a".to_string(), true),
                ("metadata.namespace".to_string(), "b".to_string(), false)
            ]
        );
        assert!(parse_field_selector("spec.nodeName=x", selectable_fields("", "pods")).is_ok());
        assert!(parse_field_selector("spec.nodeName=x", &[])
            .unwrap_err()
            .contains("field label not supported: spec.nodeName"));
    }

    #[test]
    fn built_in_field_selectors() {
        let yaml = "apiVersion: v1\nkind: Event\nmetadata: {name: e1, namespace: a}\ninvolvedObject: {kind: VirtualMachine, name: db}\nsource: {component: virt-controller}\ntype: Warning\n---\napiVersion: v1\nkind: Event\nmetadata: {name: e2, namespace: a}\ninvolvedObject: {kind: Pod, name: p}\n";
        let state = State::build(loaded(yaml), 1, None);
        let objs = state.objects("", "events");
        let q = Query::parse(
            "fieldSelector=involvedObject.name%3Ddb,source%3Dvirt-controller,type%3DWarning",
        );
        let sel = Selection::parse("a", "", "events", &q).unwrap();
        let p = page(&state, objs, &sel, &Query::default()).unwrap();
        assert_eq!(
            p.items.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
            ["e1"]
        );
        let q = Query::parse("fieldSelector=type%3D");
        let sel = Selection::parse("a", "", "events", &q).unwrap();
        let p = page(&state, objs, &sel, &Query::default()).unwrap();
        assert_eq!(
            p.items.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
            ["e2"],
            "absent is empty"
        );
        let q = Query::parse("fieldSelector=type%3DWarning");
        assert!(Selection::parse("a", "kubevirt.io", "virtualmachines", &q).is_err());
    }

    #[test]
    fn human_durations() {
        for (s, want) in [
            (5, "5s"),
            (119, "119s"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (30 * 3600, "30h"),
            (3 * 86400 + 3600, "3d1h"),
            (30 * 86400, "30d"),
            (800 * 86400, "2y70d"),
            (-5, "<invalid>"),
        ] {
            assert_eq!(human_duration(s), want, "{s}");
        }
        let now = datetime!(2026-01-02 00:00:00 UTC);
        assert_eq!(age(Some("2026-01-01T00:00:00Z"), now), "24h");
        assert_eq!(age(None, now), "<unknown>");
    }

    fn three() -> State {
        let yaml = (1..=3)
            .map(|i| {
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}, namespace: n{}}}\n",
                    i % 2
                )
            })
            .collect::<Vec<_>>()
            .join("---\n");
        State::build(loaded(&yaml), 7, None)
    }

    #[test]
    fn paging_and_continue() {
        let state = three();
        let objs = state.objects("", "configmaps");
        let sel = Selection::default();
        let p1 = page(&state, objs, &sel, &Query::parse("limit=2")).unwrap();
        assert_eq!(p1.items.len(), 2);
        assert_eq!(p1.remaining, 1);
        let q = Query::parse(&format!("limit=2&continue={}", p1.next));
        let p2 = page(&state, objs, &sel, &q).unwrap();
        assert_eq!(p2.items.len(), 1);
        assert!(p2.next.is_empty());
        let names: Vec<_> = p1
            .items
            .iter()
            .chain(&p2.items)
            .map(|o| o.name.as_str())
            .collect();
        assert_eq!(names, ["c2", "c1", "c3"]);
        let old = State::build(
            loaded("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: a}\n"),
            8,
            None,
        );
        let e = page(&old, old.objects("", "configmaps"), &sel, &q)
            .err()
            .unwrap();
        assert_eq!((e.code, e.reason), (410, "Expired"));
        let e = page(&state, objs, &sel, &Query::parse("continue=%%%"))
            .err()
            .unwrap();
        assert_eq!(e.code, 400);
        assert!(page(&state, objs, &sel, &Query::parse("limit=x")).is_err());
    }

    #[test]
    fn list_and_table_documents() {
        let state = three();
        let served = state.find("", "v1", "configmaps").unwrap();
        let sel = Selection {
            namespace: "n1".into(),
            ..Selection::default()
        };
        let p = page(
            &state,
            state.objects("", "configmaps"),
            &sel,
            &Query::default(),
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&list_json(served, "v1", 7, &p)).unwrap();
        assert_eq!(v["kind"], "ConfigMapList");
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["metadata"]["resourceVersion"], "7");
        assert_eq!(v["items"].as_array().unwrap().len(), 2);
        let t = table(
            7,
            &p,
            &[],
            IncludeObject::Metadata,
            datetime!(2026-01-01 00:00:00 UTC),
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["columnDefinitions"][0]["name"], "Name");
        assert_eq!(t["rows"][0]["cells"][1], "<unknown>");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["rows"][0]["object"]["metadata"]["namespace"], "n1");
        assert_eq!(t["rows"][0]["object"]["metadata"]["resourceVersion"], "7");
    }
}
