//! SARIF 2.1.0 output, for GitHub code scanning and other static-analysis dashboards.
//!
//! One run; one rule per check (with its rationale, remediation and a `security-severity`);
//! one result per finding, located at each involved object's file and line. Suppressed findings
//! are results too, with an external suppression carrying the reason. Objects without a file
//! (nodes, built-in `catalog:` defaults, stdin) get a logical location only.

use serde_json::{json, Map, Value};
use virtguard_audit::{CheckInfo, Finding, ObjectRef, Severity, Suppressed};

use crate::util::{camel_case, fnv1a64};
use crate::{all_checks, AuditReport};

/// The SARIF schema this output follows.
const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// Where virtguard lives.
const INFORMATION_URI: &str = "https://github.com/virtguard/virtguard";
/// The key of virtguard's partial fingerprint.
const FINGERPRINT_KEY: &str = "virtguard/v1";

/// The SARIF level of a severity: critical/high → `error`, medium → `warning`, else `note`.
fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's `security-severity` score of a severity.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.0",
        Severity::High => "7.0",
        Severity::Medium => "5.0",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

/// The SARIF log (`{"$schema", "version": "2.1.0", "runs": [one run]}`) for the report.
pub fn sarif(r: &AuditReport) -> Value {
    let checks = all_checks(r);
    let rules: Vec<Value> = checks.iter().map(rule).collect();
    let any_suppressed = !r.suppressed.is_empty();
    let mut results: Vec<Value> = r
        .findings
        .iter()
        .map(|f| result(f, &checks, None, any_suppressed))
        .collect();
    results.extend(
        r.suppressed
            .iter()
            .map(|s| result(&s.finding, &checks, Some(s), true)),
    );
    let mut props = Map::new();
    props.insert("generated".into(), json!(r.generated));
    props.insert("inputs".into(), json!(r.inputs));
    if let Some(v) = r.kubevirt_version {
        props.insert("kubevirtVersion".into(), json!(v));
    }
    crate::canonical(json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "virtguard",
                    "version": r.tool_version,
                    "semanticVersion": semantic_version(r.tool_version),
                    "informationUri": INFORMATION_URI,
                    "rules": rules,
                }
            },
            "columnKind": "utf16CodeUnits",
            "results": results,
            "properties": props,
        }]
    }))
}

/// The version without a leading `v` (SARIF's `semanticVersion`).
fn semantic_version(v: &str) -> &str {
    v.strip_prefix('v').unwrap_or(v)
}

/// A `reportingDescriptor` for one check.
fn rule(c: &CheckInfo) -> Value {
    let mut markdown = String::new();
    if !c.remediation.is_empty() {
        markdown.push_str(&format!("**Remediation:** {}\n\n", c.remediation));
    }
    if !c.rationale.is_empty() {
        markdown.push_str(&format!("**Why:** {}\n\n", c.rationale));
    }
    if !c.references.is_empty() {
        markdown.push_str("**References:**\n");
        for r in c.references {
            markdown.push_str(&format!("- {r}\n"));
        }
    }
    let full = if c.rationale.is_empty() {
        c.title
    } else {
        c.rationale
    };
    let help = if c.remediation.is_empty() {
        c.title
    } else {
        c.remediation
    };
    json!({
        "id": c.id,
        "name": camel_case(c.title),
        "shortDescription": { "text": c.title },
        "fullDescription": { "text": full },
        "help": { "text": help, "markdown": markdown.trim_end() },
        "defaultConfiguration": { "level": level(c.severity) },
        "properties": {
            "tags": ["security", c.category.as_str()],
            "security-severity": security_severity(c.severity),
            "precision": "high",
        },
    })
}

/// A `result` for one finding, suppressed when `sup` is given. `with_suppressions` adds an
/// empty `suppressions` array to unsuppressed results (SARIF: once one result of a run has
/// suppressions, all should).
fn result(
    f: &Finding,
    checks: &[CheckInfo],
    sup: Option<&Suppressed>,
    with_suppressions: bool,
) -> Value {
    let mut text = f.message.clone();
    if !f.evidence.is_empty() {
        text.push_str("\nEvidence: ");
        text.push_str(&f.evidence);
    }
    let mut res = Map::new();
    res.insert("ruleId".into(), json!(f.id));
    if let Some(i) = checks.iter().position(|c| c.id == f.id) {
        res.insert("ruleIndex".into(), json!(i));
    }
    res.insert("level".into(), json!(level(f.severity)));
    res.insert("message".into(), json!({ "text": text }));
    res.insert(
        "locations".into(),
        Value::Array(f.objects.iter().map(location).collect()),
    );
    res.insert(
        "partialFingerprints".into(),
        json!({ FINGERPRINT_KEY: fingerprint(f) }),
    );
    if let Some(s) = sup {
        let mut one = Map::new();
        one.insert("kind".into(), json!("external"));
        one.insert("justification".into(), json!(s.reason));
        if let Some(e) = &s.expires {
            one.insert("properties".into(), json!({ "expires": e }));
        }
        res.insert("suppressions".into(), json!([one]));
    } else if with_suppressions {
        res.insert("suppressions".into(), json!([]));
    }
    let mut props = Map::new();
    props.insert("severity".into(), json!(f.severity.as_str()));
    props.insert("category".into(), json!(f.category.as_str()));
    if !f.namespace.is_empty() {
        props.insert("namespace".into(), json!(f.namespace));
    }
    if !f.subjects.is_empty() {
        let subjects: Vec<String> = f.subjects.iter().map(|s| s.describe()).collect();
        props.insert("subjects".into(), json!(subjects));
    }
    if !f.remediation.is_empty() {
        props.insert("remediation".into(), json!(f.remediation));
    }
    res.insert("properties".into(), Value::Object(props));
    Value::Object(res)
}

/// A `location` for one object: physical (file, line) when it has a real file, and always
/// logical (`Kind namespace/name`).
fn location(o: &ObjectRef) -> Value {
    let mut loc = Map::new();
    if let Some(artifact) = artifact_location(&o.file) {
        let mut phys = Map::new();
        phys.insert("artifactLocation".into(), artifact);
        if o.line > 0 {
            phys.insert("region".into(), json!({ "startLine": o.line }));
        }
        loc.insert("physicalLocation".into(), Value::Object(phys));
    }
    loc.insert(
        "logicalLocations".into(),
        json!([{
            "name": o.name,
            "fullyQualifiedName": o.describe(),
            "kind": "resource",
        }]),
    );
    Value::Object(loc)
}

/// The `artifactLocation` of an input file: relative paths stay relative (to `%SRCROOT%`),
/// absolute ones become `file://` URIs. None for no file, stdin and `catalog:` defaults.
fn artifact_location(file: &str) -> Option<Value> {
    // Objects of the built-in catalog, stdin and a live cluster (`cluster <context>: …`) have no
    // file to point at.
    if file.is_empty()
        || file.starts_with("catalog:")
        || file.starts_with("cluster ")
        || file.starts_with('<')
        || file == "-"
    {
        return None;
    }
    let path = file.replace('\\', "/");
    let b = path.as_bytes();
    let windows_drive = b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'/';
    if path.starts_with('/') {
        Some(json!({ "uri": format!("file://{}", uri_encode(&path)) }))
    } else if windows_drive {
        let (drive, rest) = path.split_at(1);
        let rest = rest.get(1..).unwrap_or_default();
        Some(json!({ "uri": format!("file:///{drive}:{}", uri_encode(rest)) }))
    } else {
        Some(json!({ "uri": uri_encode(&path), "uriBaseId": "%SRCROOT%" }))
    }
}

/// Percent-encodes what a URI path may not contain (keeps unreserved characters, `/` and the
/// sub-delimiters; `:` is encoded, as it would read as a scheme in a relative reference).
fn uri_encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'/'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'@'
            );
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A stable fingerprint of a finding: FNV-1a 64 of its id, its objects (kind, namespace,
/// name; not file or line, so it survives edits elsewhere in the file) and its message.
pub(crate) fn fingerprint(f: &Finding) -> String {
    let mut key = String::new();
    key.push_str(f.id);
    for o in &f.objects {
        key.push('\u{1f}');
        key.push_str(&o.kind);
        key.push('/');
        key.push_str(&o.namespace);
        key.push('/');
        key.push_str(&o.name);
    }
    key.push('\u{1e}');
    key.push_str(&f.message);
    format!("{:016x}", fnv1a64(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_locations() {
        assert_eq!(artifact_location(""), None);
        assert_eq!(artifact_location("catalog:kubevirt-1.5"), None);
        assert_eq!(artifact_location("<stdin>"), None);
        assert_eq!(artifact_location("cluster prod: ClusterRole/view"), None);
        assert_eq!(
            artifact_location("manifests/a b.yaml"),
            Some(json!({"uri": "manifests/a%20b.yaml", "uriBaseId": "%SRCROOT%"}))
        );
        assert_eq!(
            artifact_location("/tmp/x.yaml"),
            Some(json!({"uri": "file:///tmp/x.yaml"}))
        );
        assert_eq!(
            artifact_location("C:\\m\\x.yaml"),
            Some(json!({"uri": "file:///C:/m/x.yaml"}))
        );
        // A colon in the first segment of a relative reference would read as a scheme.
        assert_eq!(
            artifact_location("a:b.yaml"),
            Some(json!({"uri": "a%3Ab.yaml", "uriBaseId": "%SRCROOT%"}))
        );
    }
}
