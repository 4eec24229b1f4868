//! Renders the findings of the KubeVirt posture audit (`virtguard-audit`) for people and tools:
//! a terminal table ([`table`]), JSON ([`to_json`]), SARIF 2.1.0 ([`sarif`]), JUnit XML
//! ([`junit`]) and one self-contained HTML page ([`html`]); and the escalation paths of
//! `virtguard paths` as an HTML graph view ([`paths_html`], [`paths_section`]), shared by the
//! `paths -o html` page and the audit report.
//!
//! Every renderer is pure: it reads an [`AuditReport`] and returns a string or a JSON value.
//! Nothing here reads files or the clock; the caller passes the `generated` timestamp.

mod html;
mod junit;
mod paths;
mod sarif;
mod table;
mod util;

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use virtguard_audit::{Category, CheckInfo, Finding, Severity, Suppressed};

pub use html::html;
pub use junit::junit;
pub use paths::{paths_html, paths_section, PathsPage, PathsView};
pub use sarif::sarif;
pub use table::table;
pub use util::{canonical, html_escape};

/// Everything a renderer needs: the findings, what was suppressed, which checks ran, and the
/// facts shown in report headers.
#[derive(Debug, Clone, Copy)]
pub struct AuditReport<'a> {
    /// Findings that were not suppressed, in the order to show them (usually by severity).
    pub findings: &'a [Finding],
    /// Findings hidden by a suppression, with the reason.
    pub suppressed: &'a [Suppressed],
    /// The checks that ran (SARIF rules, JUnit test cases).
    pub checks: &'a [CheckInfo],
    /// virtguard's version.
    pub tool_version: &'a str,
    /// The input paths (`-f`).
    pub inputs: &'a [String],
    /// The KubeVirt release detected in the input, if any.
    pub kubevirt_version: Option<&'a str>,
    /// When the report was generated (RFC 3339), given by the caller.
    pub generated: &'a str,
    /// An HTML `<table>` fragment (the access matrix), inserted verbatim into the HTML report.
    pub matrix_html: Option<&'a str>,
    /// The escalation paths reported (VG121–VG123), drawn as a graph in the HTML report.
    pub paths: Option<PathsView<'a>>,
}

/// Counts of the (unsuppressed) findings:
/// `{"total": n, "bySeverity": {"critical": n, "high": n, "medium": n, "low": n, "info": n},
/// "byCategory": {"rbac": n, ...}, "suppressed": n}`.
///
/// `byCategory` lists every category of a check that ran or of a finding, zero included.
pub fn summary(r: &AuditReport) -> Value {
    let mut by_sev = Map::new();
    for s in Severity::ALL {
        by_sev.insert(s.as_str().to_string(), json!(count_severity(r.findings, s)));
    }
    let mut by_cat = Map::new();
    for (c, n) in category_counts(r) {
        by_cat.insert(c.as_str().to_string(), json!(n));
    }
    json!({
        "total": r.findings.len(),
        "bySeverity": by_sev,
        "byCategory": by_cat,
        "suppressed": r.suppressed.len(),
    })
}

/// The machine-readable report: `{"findings": [...], "suppressed": [...], "summary": {...}}`,
/// with findings and suppressed findings as `virtguard-audit` serializes them.
pub fn to_json(r: &AuditReport) -> Value {
    let findings: Vec<Value> = r
        .findings
        .iter()
        .map(|f| serde_json::to_value(f).unwrap_or(Value::Null))
        .collect();
    let suppressed: Vec<Value> = r
        .suppressed
        .iter()
        .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
        .collect();
    canonical(json!({
        "findings": findings,
        "suppressed": suppressed,
        "summary": summary(r),
    }))
}

/// How many findings have severity `s`.
pub(crate) fn count_severity(findings: &[Finding], s: Severity) -> usize {
    findings.iter().filter(|f| f.severity == s).count()
}

/// Finding counts per category, for every category of a check that ran or of a finding.
pub(crate) fn category_counts(r: &AuditReport) -> BTreeMap<Category, usize> {
    let mut m: BTreeMap<Category, usize> = BTreeMap::new();
    for c in r.checks {
        m.entry(c.category).or_default();
    }
    for f in r.findings {
        *m.entry(f.category).or_default() += 1;
    }
    m
}

/// The checks to describe: those that ran, then (for any finding or suppressed finding whose
/// check is not among them) the registry's entry or one made from the finding. Each id once.
pub(crate) fn all_checks(r: &AuditReport) -> Vec<CheckInfo> {
    let mut out: Vec<CheckInfo> = Vec::new();
    let mut push = |c: CheckInfo| {
        if !out.iter().any(|x| x.id == c.id) {
            out.push(c);
        }
    };
    for c in r.checks {
        push(*c);
    }
    let extra = r
        .findings
        .iter()
        .chain(r.suppressed.iter().map(|s| &s.finding));
    for f in extra {
        let c = virtguard_audit::check(f.id).copied().unwrap_or(CheckInfo {
            id: f.id,
            title: f.title,
            severity: f.severity,
            category: f.category,
            rationale: "",
            remediation: "",
            references: &[],
        });
        push(c);
    }
    out
}
