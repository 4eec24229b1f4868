//! The terminal table: grouping by severity, truncation, colors and the summary line.

mod common;

use common::{finding, obj, Fixture};
use virtguard_audit::Severity;
use virtguard_report::table;

/// The text without ANSI escape sequences.
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn grouped_by_severity_most_severe_first() {
    let fx = Fixture::standard();
    let t = table(&fx.report(), false, 0);
    assert!(!t.contains('\x1b'), "no colors when not asked");
    let headings = [
        "CRITICAL (1)",
        "HIGH (1)",
        "MEDIUM (2)",
        "LOW (1)",
        "INFO (1)",
    ];
    let pos: Vec<usize> = headings
        .iter()
        .map(|h| {
            t.lines()
                .position(|l| l == *h)
                .unwrap_or_else(|| panic!("no heading {h}\n{t}"))
        })
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}\n{t}");
    let lines: Vec<&str> = t.lines().collect();
    // The medium group holds exactly the two medium findings.
    let medium = &lines[pos[2]..pos[3]];
    let ids: Vec<&str> = medium
        .iter()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| l.starts_with("VG"))
        .map(|l| &l[..5])
        .collect();
    assert_eq!(ids, ["VG102", "VG301"]);
    assert!(lines[pos[0] + 1].starts_with("  VG105  ClusterRoleBinding/everyone-kv"));
    assert!(lines[pos[0] + 1].ends_with("Group system:authenticated can patch kubevirts"));
    assert_eq!(lines[pos[0] + 2].trim(), "manifests/rbac.yaml:12 (+1 more)");
    assert!(t.contains("RoleBinding/tenant-a/console-all"));
    // A node has no file: no second line.
    let low = lines[pos[3] + 1];
    assert!(low.contains("Node/worker-1"), "{low}");
    assert_eq!(lines[pos[3] + 2], "", "blank line before the next group");
}

#[test]
fn summary_line_counts() {
    let fx = Fixture::standard();
    let t = table(&fx.report(), false, 0);
    assert_eq!(
        t.lines().last(),
        Some("6 findings: 1 critical, 1 high, 2 medium, 1 low, 1 info (1 suppressed)")
    );
    let mut one = Fixture::clean();
    one.findings
        .push(finding("VG701", Severity::Medium, "nested on"));
    assert_eq!(
        table(&one.report(), false, 0).lines().last(),
        Some("1 finding: 0 critical, 0 high, 1 medium, 0 low, 0 info")
    );
}

#[test]
fn no_findings() {
    let fx = Fixture::clean();
    assert_eq!(
        table(&fx.report(), false, 80),
        "No findings.\n0 findings: 0 critical, 0 high, 0 medium, 0 low, 0 info\n"
    );
    let mut sup = Fixture::standard();
    sup.findings.clear();
    let t = table(&sup.report(), false, 80);
    assert!(t.starts_with("No findings.\n"));
    assert!(t.contains("(1 suppressed)"));
}

#[test]
fn lines_fit_the_width() {
    let fx = Fixture::standard();
    for width in [40, 60, 100] {
        let t = table(&fx.report(), false, width);
        for l in t.lines().filter(|l| l.starts_with("  ")) {
            assert!(l.chars().count() <= width, "{width}: {l:?}");
        }
        if width < 100 {
            assert!(
                t.lines().any(|l| l.ends_with('…')),
                "{width}: something cut\n{t}"
            );
        }
    }
    // Narrow: the object column shrinks so every line keeps part of its message.
    let narrow = table(&fx.report(), false, 50);
    let first = narrow
        .lines()
        .find(|l| l.starts_with("  VG105"))
        .expect("VG105 line");
    assert!(first.contains("Group system"), "{first}");
    let wide = table(&fx.report(), false, 0);
    assert!(!wide.contains('…'));
    assert_eq!(
        table(&fx.report(), false, usize::MAX),
        wide,
        "huge width: no limit"
    );
}

#[test]
fn colors_when_asked_without_changing_the_text() {
    let fx = Fixture::standard();
    let plain = table(&fx.report(), false, 70);
    let colored = table(&fx.report(), true, 70);
    assert!(colored.contains("\x1b["));
    assert!(colored.contains("\x1b[2m"), "dimmed location line");
    assert_eq!(strip_ansi(&colored), plain);
}

#[test]
fn input_cannot_inject_escape_sequences() {
    let mut fx = Fixture::clean();
    let mut f = finding("VG101", Severity::High, "evil\x1b[2J\x07name\nsecond line");
    f.objects = vec![obj("RoleBinding", "ns\x1b]0;x", "rb", "a.yaml", 1)];
    fx.findings.push(f);
    let t = table(&fx.report(), false, 0);
    assert!(!t.contains('\x1b') && !t.contains('\x07'), "{t:?}");
    assert!(t.contains("evil?[2J?name second line"));
    let colored = table(&fx.report(), true, 0);
    assert!(!strip_ansi(&colored).contains('\x1b'));
    assert!(!colored.contains("\x1b[2J"));
}
