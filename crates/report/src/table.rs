//! The terminal report: findings grouped by severity (most severe first), one line each
//! (`  ID  Kind/namespace/name  message`, cut to the terminal width) with the first object's
//! `file:line` dimmed underneath, and a summary line. ANSI colors only on request; text from the
//! input is stripped of control characters so it cannot inject escape sequences.

use std::fmt::Write;

use virtguard_audit::{Finding, Severity};

use crate::util::{terminal_safe, truncate};
use crate::{count_severity, AuditReport};

/// The widest object column before it is cut.
const MAX_OBJECT_WIDTH: usize = 48;
/// The narrowest the object column gets on a narrow terminal.
const MIN_OBJECT_WIDTH: usize = 12;
/// The message room the object column leaves when it can.
const MIN_MESSAGE_WIDTH: usize = 24;

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";

/// The ANSI color of a severity's heading.
fn color_of(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "\x1b[1;97;41m",
        Severity::High => "\x1b[1;31m",
        Severity::Medium => "\x1b[1;33m",
        Severity::Low => "\x1b[1;36m",
        Severity::Info => "\x1b[1;37m",
    }
}

/// The object column of a finding: the first object as `Kind/namespace/name` (the form a
/// suppression's `object` takes), else the finding's namespace, else `-`.
fn object_label(f: &Finding) -> String {
    let label = match f.objects.first() {
        Some(o) if o.namespace.is_empty() => format!("{}/{}", o.kind, o.name),
        Some(o) => format!("{}/{}/{}", o.kind, o.namespace, o.name),
        None if !f.namespace.is_empty() => f.namespace.clone(),
        None => "-".to_string(),
    };
    terminal_safe(&label)
}

/// The summary line: `12 findings: 1 critical, 3 high, 5 medium, 2 low, 1 info (2 suppressed)`.
pub(crate) fn summary_line(r: &AuditReport) -> String {
    let n = r.findings.len();
    let counts: Vec<String> = Severity::ALL
        .iter()
        .map(|s| format!("{} {}", count_severity(r.findings, *s), s.as_str()))
        .collect();
    let mut line = format!(
        "{n} finding{}: {}",
        if n == 1 { "" } else { "s" },
        counts.join(", ")
    );
    if !r.suppressed.is_empty() {
        let _ = write!(line, " ({} suppressed)", r.suppressed.len());
    }
    line
}

/// The findings as text for a terminal `width` columns wide (0: no limit), colored with ANSI
/// escapes when `color` is true.
pub fn table(r: &AuditReport, color: bool, width: usize) -> String {
    let paint = |code: &str, s: &str| {
        if color {
            format!("{code}{s}{RESET}")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    if r.findings.is_empty() {
        out.push_str("No findings.\n");
        let _ = writeln!(out, "{}", paint(BOLD, &summary_line(r)));
        return out;
    }
    let id_width = r
        .findings
        .iter()
        .map(|f| f.id.chars().count())
        .max()
        .unwrap_or(0);
    let obj_width = r
        .findings
        .iter()
        .map(|f| object_label(f).chars().count())
        .max()
        .unwrap_or(0)
        .min(MAX_OBJECT_WIDTH);
    let indent = 2 + id_width + 2;
    // On a narrow terminal the object column gives way so the message keeps some room.
    let obj_width = if width == 0 {
        obj_width
    } else {
        let room = width.saturating_sub(indent + 2 + MIN_MESSAGE_WIDTH);
        obj_width.min(room.max(MIN_OBJECT_WIDTH))
    };
    let mut first = true;
    for sev in Severity::ALL {
        let group: Vec<&Finding> = r.findings.iter().filter(|f| f.severity == sev).collect();
        if group.is_empty() {
            continue;
        }
        if !first {
            out.push('\n');
        }
        first = false;
        let heading = format!("{} ({})", sev.as_str().to_uppercase(), group.len());
        let _ = writeln!(out, "{}", paint(color_of(sev), &heading));
        for f in group {
            let id = terminal_safe(f.id);
            let obj = truncate(&object_label(f), obj_width);
            let line = format!(
                "  {id:<id_width$}  {obj:<obj_width$}  {}",
                terminal_safe(&f.message)
            );
            let line = truncate(line.trim_end(), width);
            // Color only the id, after cutting, so escape sequences never count as columns.
            if color && line.len() >= 2 + id.len() && line.is_char_boundary(2 + id.len()) {
                let (head, rest) = line.split_at(2 + id.len());
                let _ = writeln!(out, "  {}{rest}", paint(color_of(sev), &head[2..]));
            } else {
                let _ = writeln!(out, "{line}");
            }
            if let Some(o) = f.objects.first() {
                let loc = o.location();
                if !loc.is_empty() {
                    let more = match f.objects.len() {
                        1 => String::new(),
                        n => format!(" (+{} more)", n - 1),
                    };
                    let second = format!("{:indent$}{}{more}", "", terminal_safe(&loc));
                    let _ = writeln!(out, "{}", paint(DIM, &truncate(&second, width)));
                }
            }
        }
    }
    out.push('\n');
    let _ = writeln!(out, "{}", paint(BOLD, &summary_line(r)));
    out
}
