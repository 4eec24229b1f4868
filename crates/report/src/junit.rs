//! JUnit XML output, for CI systems that show test results (GitLab, Jenkins, Azure DevOps).
//!
//! One `<testsuite>` per category, one `<testcase>` per check that ran: a check without findings
//! passes, a check with findings fails with one `<failure>` per finding. The `failures`
//! attributes count failing test cases (so they never exceed `tests`). Suppressed findings do
//! not fail a check; they are listed in its `<system-out>` with their reasons.

use std::collections::BTreeMap;
use std::fmt::Write;

use virtguard_audit::{Category, CheckInfo, Finding, Suppressed};

use crate::util::{xml_attr, xml_text};
use crate::{all_checks, AuditReport};

/// One check with what it found.
struct Case<'r> {
    check: CheckInfo,
    findings: Vec<&'r Finding>,
    suppressed: Vec<&'r Suppressed>,
}

/// The JUnit XML document for the report.
pub fn junit(r: &AuditReport) -> String {
    let mut suites: BTreeMap<Category, Vec<Case>> = BTreeMap::new();
    for c in all_checks(r) {
        suites.entry(c.category).or_default().push(Case {
            check: c,
            findings: r.findings.iter().filter(|f| f.id == c.id).collect(),
            suppressed: r
                .suppressed
                .iter()
                .filter(|s| s.finding.id == c.id)
                .collect(),
        });
    }
    let tests: usize = suites.values().map(Vec::len).sum();
    let failures = |cases: &[Case]| cases.iter().filter(|c| !c.findings.is_empty()).count();
    let total_failures: usize = suites.values().map(|c| failures(c)).sum();

    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"virtguard audit\" tests=\"{tests}\" failures=\"{total_failures}\" errors=\"0\" time=\"0\">"
    );
    for (cat, cases) in &suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"0\">",
            xml_attr(cat.as_str()),
            cases.len(),
            failures(cases)
        );
        write_properties(&mut out, r);
        for case in cases {
            write_case(&mut out, *cat, case);
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// The run's facts as `<properties>`.
fn write_properties(out: &mut String, r: &AuditReport) {
    out.push_str("    <properties>\n");
    let mut prop = |name: &str, value: &str| {
        let _ = writeln!(
            out,
            "      <property name=\"{}\" value=\"{}\"/>",
            xml_attr(name),
            xml_attr(value)
        );
    };
    prop("virtguard.version", r.tool_version);
    if let Some(v) = r.kubevirt_version {
        prop("kubevirt.version", v);
    }
    prop("generated", r.generated);
    for i in r.inputs {
        prop("input", i);
    }
    out.push_str("    </properties>\n");
}

/// One `<testcase>` with its failures and suppressed findings.
fn write_case(out: &mut String, cat: Category, case: &Case) {
    let _ = write!(
        out,
        "    <testcase classname=\"virtguard.{}\" name=\"{}\" time=\"0\"",
        xml_attr(cat.as_str()),
        xml_attr(&format!("{} {}", case.check.id, case.check.title))
    );
    if case.findings.is_empty() && case.suppressed.is_empty() {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    for f in &case.findings {
        let _ = writeln!(
            out,
            "      <failure message=\"{}\" type=\"{}\">{}</failure>",
            xml_attr(&f.message),
            xml_attr(f.severity.as_str()),
            xml_text(&failure_text(f))
        );
    }
    if !case.suppressed.is_empty() {
        let mut text = String::new();
        for s in &case.suppressed {
            let _ = writeln!(
                text,
                "suppressed: {} [{}] reason: {}{}",
                s.finding.message,
                objects_line(&s.finding),
                s.reason,
                s.expires
                    .as_deref()
                    .map(|e| format!(" (until {e})"))
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(out, "      <system-out>{}</system-out>", xml_text(&text));
    }
    out.push_str("    </testcase>\n");
}

/// The objects of a finding on one line: `Kind ns/name (file:line), …`.
fn objects_line(f: &Finding) -> String {
    f.objects
        .iter()
        .map(|o| {
            let loc = o.location();
            if loc.is_empty() {
                o.describe()
            } else {
                format!("{} ({loc})", o.describe())
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The body of a `<failure>`: evidence, objects with file:line, subjects, remediation.
fn failure_text(f: &Finding) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{} {} [{}]", f.id, f.message, f.severity);
    if !f.namespace.is_empty() {
        let _ = writeln!(t, "Namespace: {}", f.namespace);
    }
    if !f.evidence.is_empty() {
        let _ = writeln!(t, "Evidence: {}", f.evidence);
    }
    if !f.objects.is_empty() {
        t.push_str("Objects:\n");
        for o in &f.objects {
            let loc = o.location();
            if loc.is_empty() {
                let _ = writeln!(t, "  - {}", o.describe());
            } else {
                let _ = writeln!(t, "  - {} ({loc})", o.describe());
            }
        }
    }
    if !f.subjects.is_empty() {
        t.push_str("Subjects:\n");
        for s in &f.subjects {
            let _ = writeln!(t, "  - {}", s.describe());
        }
    }
    if !f.remediation.is_empty() {
        let _ = writeln!(t, "Remediation: {}", f.remediation);
    }
    if !f.references.is_empty() {
        let _ = writeln!(t, "References: {}", f.references.join("; "));
    }
    t
}
