//! The HTML report: one self-contained page (inline CSS and a little vanilla JS, no external
//! resources) with the run's facts, summary bars by severity and by category, a filterable
//! findings table, the suppressed findings with their reasons, the escalation paths' graph view
//! when the path checks ran ([`crate::paths_section`]), the checks that ran, and the access
//! matrix when one is given. Everything from the input is HTML-escaped; only the caller's matrix
//! fragment is inserted as is.

use std::fmt::Write;

use virtguard_audit::{Category, Finding, ObjectRef, Severity, SubjectRef};

use crate::util::html_escape as esc;
use crate::{all_checks, category_counts, count_severity, AuditReport};

/// The page's style sheet (the `paths -o html` page's too).
pub(crate) const CSS: &str = r#"
:root{--critical:#7f1d1d;--high:#dc2626;--medium:#ea580c;--low:#eab308;--info:#6b7280;
--bg:#f6f7f9;--card:#fff;--text:#1f2937;--muted:#6b7280;--line:#e5e7eb;--accent:#1e3a8a}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;background:var(--bg);color:var(--text);font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:12.5px}
header.top{background:linear-gradient(135deg,#0f172a,#1e3a8a);color:#fff;padding:24px 32px}
header.top h1{margin:0 0 4px;font-size:24px;font-weight:650;letter-spacing:.2px}
header.top h1 span{font-weight:400;opacity:.75;font-size:16px;margin-left:8px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:12px 0 0;font-size:13px}
dl.meta dt{opacity:.7}dl.meta dd{margin:0;word-break:break-all}
main{max-width:1400px;margin:0 auto;padding:24px 32px 48px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:20px 24px;margin:0 0 24px;box-shadow:0 1px 2px rgba(0,0,0,.04)}
h2{margin:0 0 16px;font-size:18px;font-weight:650}
h2 .count{font-size:13px;font-weight:400;color:var(--muted);margin-left:8px}
h3{margin:0 0 10px;font-size:14px;font-weight:600;color:var(--muted);text-transform:uppercase;letter-spacing:.5px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:20px}
.card{flex:1 1 110px;border:1px solid var(--line);border-left:5px solid var(--accent);border-radius:8px;padding:10px 14px}
.card .n{font-size:26px;font-weight:700;line-height:1.1}.card .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.5px}
.card.critical{border-left-color:var(--critical)}.card.high{border-left-color:var(--high)}.card.medium{border-left-color:var(--medium)}
.card.low{border-left-color:var(--low)}.card.info{border-left-color:var(--info)}.card.suppressed{border-left-color:#94a3b8}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:24px}
.bar-row{display:grid;grid-template-columns:130px 1fr 40px;align-items:center;gap:10px;margin:6px 0}
.bar-row .name{font-size:13px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.bar-row .num{text-align:right;font-variant-numeric:tabular-nums;font-weight:600}
.track{height:16px;background:#f1f5f9;border-radius:4px;overflow:hidden;display:flex}
.seg{height:100%}
.seg.critical,.dot.critical,.badge.critical{background:var(--critical)}
.seg.high,.dot.high,.badge.high{background:var(--high)}
.seg.medium,.dot.medium,.badge.medium{background:var(--medium)}
.seg.low,.dot.low,.badge.low{background:var(--low)}
.seg.info,.dot.info,.badge.info{background:var(--info)}
.legend{display:flex;flex-wrap:wrap;gap:12px;font-size:12px;color:var(--muted);margin-top:8px}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:5px;vertical-align:-1px}
.badge{display:inline-block;white-space:nowrap;min-width:64px;text-align:center;color:#fff;border-radius:999px;padding:1px 8px;font-size:11px;font-weight:700;text-transform:uppercase;letter-spacing:.4px}
.badge.low{color:#422006}
.filters{display:flex;flex-wrap:wrap;align-items:center;gap:10px 18px;padding:10px 12px;background:#f8fafc;border:1px solid var(--line);border-radius:8px;margin-bottom:14px}
.filters label{cursor:pointer;user-select:none;white-space:nowrap}
.filters select,.filters input[type=search]{font:inherit;padding:5px 8px;border:1px solid #cbd5e1;border-radius:6px;background:#fff}
.filters input[type=search]{min-width:240px;flex:1}
table{border-collapse:collapse;width:100%}
th{text-align:left;font-size:12px;text-transform:uppercase;letter-spacing:.4px;color:var(--muted);border-bottom:2px solid var(--line);padding:8px;background:#fafafa;position:sticky;top:0}
td{padding:8px;vertical-align:top;border-bottom:1px solid var(--line);word-break:break-word}
table.findings tbody.finding tr.main td{border-bottom:none;padding-bottom:2px}
table.findings tbody.finding:hover{background:#f8fafc}
tr.detail td{padding-top:2px;padding-bottom:12px}
.detail-grid{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.detail-grid .k{font-size:11px;text-transform:uppercase;letter-spacing:.4px;color:var(--muted);font-weight:600}
pre.evidence{margin:2px 0 0;white-space:pre-wrap;word-break:break-word;background:#f8fafc;border:1px solid var(--line);border-radius:6px;padding:6px 8px}
.fix p{margin:2px 0 0}
.refs{margin:4px 0 0;padding-left:18px;color:var(--muted);font-size:12px}
.id{font-weight:700;white-space:nowrap}
.obj{margin-bottom:3px}.obj .kind{color:var(--muted)}.loc{display:block;color:var(--accent);font-size:12px}
.muted{color:var(--muted)}
.empty{padding:20px;text-align:center;color:var(--muted)}
details summary{cursor:pointer;font-weight:600}
.matrix-wrap{overflow:auto;max-height:80vh}
.matrix-wrap table{width:auto;font-size:12.5px}
.matrix-wrap th,.matrix-wrap td{border:1px solid var(--line);padding:4px 8px}
footer{text-align:center;color:var(--muted);font-size:12px;padding:0 0 24px}
@media (max-width:900px){.detail-grid{grid-template-columns:1fr}main{padding:16px}}
@media print{.filters{display:none}body{background:#fff}section{box-shadow:none;break-inside:auto}th{position:static}}
"#;

/// The filter logic.
const JS: &str = r#"
(function(){
  var boxes=document.querySelectorAll('#filters input[type=checkbox]');
  var cat=document.getElementById('f-cat');
  var q=document.getElementById('f-q');
  var rows=document.querySelectorAll('tbody.finding');
  var shown=document.getElementById('shown');
  var none=document.getElementById('nomatch');
  if(!cat||!q){return;}
  function apply(){
    var sev={};
    for(var i=0;i<boxes.length;i++){if(boxes[i].checked){sev[boxes[i].value]=true;}}
    var c=cat.value,t=q.value.trim().toLowerCase(),n=0;
    for(var j=0;j<rows.length;j++){
      var r=rows[j];
      var ok=!!sev[r.getAttribute('data-sev')]&&(!c||r.getAttribute('data-cat')===c)&&(!t||r.textContent.toLowerCase().indexOf(t)>=0);
      r.hidden=!ok;if(ok){n++;}
    }
    if(shown){shown.textContent=n+' of '+rows.length+' shown';}
    if(none){none.hidden=n!==0;}
  }
  for(var i=0;i<boxes.length;i++){boxes[i].addEventListener('change',apply);}
  cat.addEventListener('change',apply);
  q.addEventListener('input',apply);
  apply();
})();
"#;

/// A category's display name.
fn category_label(c: Category) -> &'static str {
    match c {
        Category::Rbac => "RBAC",
        Category::KubevirtConfig => "KubeVirt config",
        Category::Workloads => "Workloads",
        Category::Network => "Network",
        Category::PodSecurity => "Pod security",
        Category::Components => "Components",
        Category::Nodes => "Nodes",
        Category::Certificates => "Certificates",
        Category::Input => "Input",
    }
}

/// A severity's display name (`Critical`).
fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
        Severity::Info => "Info",
    }
}

/// A bar's width in percent of `max`.
fn pct(n: usize, max: usize) -> String {
    if max == 0 {
        return "0".into();
    }
    format!("{:.1}", n as f64 * 100.0 / max as f64)
}

/// A severity badge.
fn badge(s: Severity) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        s.as_str(),
        severity_label(s)
    )
}

/// The page for the report.
pub fn html(r: &AuditReport) -> String {
    let mut out = String::with_capacity(16 * 1024 + r.findings.len() * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta name=\"generator\" content=\"virtguard ");
    out.push_str(&esc(r.tool_version));
    out.push_str("\">\n<title>virtguard audit report</title>\n<style>");
    out.push_str(CSS);
    if r.paths.is_some() {
        out.push_str(crate::paths::GRAPH_CSS);
    }
    out.push_str("</style>\n</head>\n<body>\n");
    write_header(&mut out, r);
    out.push_str("<main>\n");
    write_summary(&mut out, r);
    write_findings(&mut out, r);
    write_suppressed(&mut out, r);
    if let Some(view) = &r.paths {
        out.push_str(&crate::paths::paths_section(view));
    }
    write_checks(&mut out, r);
    if let Some(m) = r.matrix_html {
        out.push_str(
            "<section id=\"matrix\">\n<h2>Access matrix</h2>\n<div class=\"matrix-wrap\">\n",
        );
        out.push_str(m);
        out.push_str("\n</div>\n</section>\n");
    }
    out.push_str("</main>\n<footer>Generated by virtguard ");
    out.push_str(&esc(r.tool_version));
    out.push_str(" at ");
    out.push_str(&esc(r.generated));
    out.push_str("</footer>\n<script>");
    out.push_str(JS);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}

/// The page header with the run's facts.
fn write_header(out: &mut String, r: &AuditReport) {
    out.push_str("<header class=\"top\">\n<h1>virtguard<span>KubeVirt posture audit</span></h1>\n<dl class=\"meta\">\n");
    let _ = writeln!(
        out,
        "<dt>Tool</dt><dd>virtguard {}</dd>",
        esc(r.tool_version)
    );
    let _ = writeln!(
        out,
        "<dt>KubeVirt</dt><dd>{}</dd>",
        r.kubevirt_version
            .map(esc)
            .unwrap_or_else(|| "not detected".into())
    );
    let inputs = if r.inputs.is_empty() {
        "—".to_string()
    } else {
        r.inputs
            .iter()
            .map(|i| format!("<code>{}</code>", esc(i)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "<dt>Inputs</dt><dd>{inputs}</dd>");
    let _ = writeln!(out, "<dt>Generated</dt><dd>{}</dd>", esc(r.generated));
    out.push_str("</dl>\n</header>\n");
}

/// Cards and bars by severity and by category.
fn write_summary(out: &mut String, r: &AuditReport) {
    out.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n<div class=\"cards\">\n");
    let _ = writeln!(
        out,
        "<div class=\"card\"><div class=\"n\">{}</div><div class=\"l\">Findings</div></div>",
        r.findings.len()
    );
    for s in Severity::ALL {
        let _ = writeln!(
            out,
            "<div class=\"card {}\"><div class=\"n\">{}</div><div class=\"l\">{}</div></div>",
            s.as_str(),
            count_severity(r.findings, s),
            severity_label(s)
        );
    }
    let _ = writeln!(
        out,
        "<div class=\"card suppressed\"><div class=\"n\">{}</div><div class=\"l\">Suppressed</div></div>",
        r.suppressed.len()
    );
    out.push_str("</div>\n<div class=\"charts\">\n<div class=\"chart\" id=\"by-severity\">\n<h3>By severity</h3>\n");
    let max_sev = Severity::ALL
        .iter()
        .map(|s| count_severity(r.findings, *s))
        .max()
        .unwrap_or(0);
    for s in Severity::ALL {
        let n = count_severity(r.findings, s);
        let _ = writeln!(
            out,
            "<div class=\"bar-row\"><span class=\"name\">{}</span><div class=\"track\" role=\"img\" aria-label=\"{} {}\"><div class=\"seg {}\" style=\"width:{}%\"></div></div><span class=\"num\">{n}</span></div>",
            severity_label(s),
            n,
            s.as_str(),
            s.as_str(),
            pct(n, max_sev)
        );
    }
    out.push_str("</div>\n<div class=\"chart\" id=\"by-category\">\n<h3>By category</h3>\n");
    let cats = category_counts(r);
    let max_cat = cats.values().copied().max().unwrap_or(0);
    if cats.is_empty() {
        out.push_str("<p class=\"muted\">No checks ran.</p>\n");
    }
    for (c, total) in &cats {
        let _ = write!(
            out,
            "<div class=\"bar-row\" data-cat=\"{}\"><span class=\"name\" title=\"{}\">{}</span><div class=\"track\" role=\"img\" aria-label=\"{} {total}\">",
            c.as_str(),
            category_label(*c),
            category_label(*c),
            category_label(*c)
        );
        for s in Severity::ALL {
            let n = r
                .findings
                .iter()
                .filter(|f| f.category == *c && f.severity == s)
                .count();
            if n > 0 {
                let _ = write!(
                    out,
                    "<div class=\"seg {}\" style=\"width:{}%\" title=\"{} {}\"></div>",
                    s.as_str(),
                    pct(n, max_cat),
                    n,
                    s.as_str()
                );
            }
        }
        let _ = writeln!(out, "</div><span class=\"num\">{total}</span></div>");
    }
    out.push_str("<div class=\"legend\">");
    for s in Severity::ALL {
        let _ = write!(
            out,
            "<span><span class=\"dot {}\"></span>{}</span>",
            s.as_str(),
            severity_label(s)
        );
    }
    out.push_str("</div>\n</div>\n</div>\n</section>\n");
}

/// The objects of a finding, each with its `file:line`.
fn objects_cell(objects: &[ObjectRef]) -> String {
    let mut s = String::new();
    for o in objects {
        let name = if o.namespace.is_empty() {
            esc(&o.name)
        } else {
            format!("{}/{}", esc(&o.namespace), esc(&o.name))
        };
        let _ = write!(
            s,
            "<div class=\"obj\"><span class=\"kind\">{}</span> {name}",
            esc(&o.kind)
        );
        let loc = o.location();
        if !loc.is_empty() {
            let _ = write!(s, "<span class=\"loc mono\">{}</span>", esc(&loc));
        }
        s.push_str("</div>");
    }
    if s.is_empty() {
        s.push_str("<span class=\"muted\">—</span>");
    }
    s
}

/// The subjects of a finding.
fn subjects_cell(subjects: &[SubjectRef]) -> String {
    if subjects.is_empty() {
        return "<span class=\"muted\">—</span>".into();
    }
    subjects
        .iter()
        .map(|s| format!("<div>{}</div>", esc(&s.describe())))
        .collect()
}

/// A namespace, or a dash for cluster-wide.
fn namespace_cell(ns: &str) -> String {
    if ns.is_empty() {
        "<span class=\"muted\">cluster</span>".into()
    } else {
        esc(ns)
    }
}

/// The filterable findings table.
fn write_findings(out: &mut String, r: &AuditReport) {
    let _ = writeln!(
        out,
        "<section id=\"findings\">\n<h2>Findings<span class=\"count\" id=\"shown\">{} shown</span></h2>",
        r.findings.len()
    );
    if r.findings.is_empty() {
        out.push_str("<p class=\"empty\">No findings.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<div class=\"filters\" id=\"filters\">\n<span class=\"muted\">Severity:</span>\n",
    );
    for s in Severity::ALL {
        let _ = writeln!(
            out,
            "<label><input type=\"checkbox\" value=\"{}\" checked> <span class=\"dot {}\"></span>{} ({})</label>",
            s.as_str(),
            s.as_str(),
            severity_label(s),
            count_severity(r.findings, s)
        );
    }
    out.push_str("<label>Category: <select id=\"f-cat\"><option value=\"\">All</option>");
    let mut cats: Vec<Category> = r.findings.iter().map(|f| f.category).collect();
    cats.sort();
    cats.dedup();
    for c in cats {
        let _ = write!(
            out,
            "<option value=\"{}\">{}</option>",
            c.as_str(),
            category_label(c)
        );
    }
    out.push_str("</select></label>\n<input type=\"search\" id=\"f-q\" placeholder=\"Search id, object, subject, message…\" aria-label=\"Search findings\">\n</div>\n");
    out.push_str("<table class=\"findings\">\n<thead><tr><th>Severity</th><th>ID</th><th>Title</th><th>Namespace</th><th>Objects</th><th>Subjects</th><th>Message</th></tr></thead>\n");
    for f in r.findings {
        write_finding(out, f);
    }
    out.push_str("</table>\n<p class=\"empty\" id=\"nomatch\" hidden>No findings match the filters.</p>\n</section>\n");
}

/// One finding: a main row and a detail row (evidence, remediation, references) in a `<tbody>`
/// the filters show or hide.
fn write_finding(out: &mut String, f: &Finding) {
    let _ = writeln!(
        out,
        "<tbody class=\"finding\" data-sev=\"{}\" data-cat=\"{}\" data-id=\"{}\">",
        f.severity.as_str(),
        f.category.as_str(),
        esc(f.id)
    );
    let _ = writeln!(
        out,
        "<tr class=\"main\"><td>{}</td><td class=\"id mono\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        badge(f.severity),
        esc(f.id),
        esc(f.title),
        namespace_cell(&f.namespace),
        objects_cell(&f.objects),
        subjects_cell(&f.subjects),
        esc(&f.message)
    );
    out.push_str("<tr class=\"detail\"><td></td><td colspan=\"6\"><div class=\"detail-grid\">");
    out.push_str("<div class=\"ev\"><div class=\"k\">Evidence</div>");
    if f.evidence.is_empty() {
        out.push_str("<p class=\"muted\">—</p>");
    } else {
        let _ = write!(out, "<pre class=\"evidence\">{}</pre>", esc(&f.evidence));
    }
    out.push_str("</div><div class=\"fix\"><div class=\"k\">Remediation</div>");
    let _ = write!(out, "<p>{}</p>", esc(&f.remediation));
    if !f.references.is_empty() {
        out.push_str("<ul class=\"refs\">");
        for r in &f.references {
            let _ = write!(out, "<li>{}</li>", esc(r));
        }
        out.push_str("</ul>");
    }
    out.push_str("</div></div></td></tr>\n</tbody>\n");
}

/// The suppressed findings with their reasons.
fn write_suppressed(out: &mut String, r: &AuditReport) {
    let _ = writeln!(
        out,
        "<section id=\"suppressed\">\n<h2>Suppressed findings<span class=\"count\">{}</span></h2>",
        r.suppressed.len()
    );
    if r.suppressed.is_empty() {
        out.push_str("<p class=\"empty\">No findings were suppressed.</p>\n</section>\n");
        return;
    }
    out.push_str("<table>\n<thead><tr><th>Severity</th><th>ID</th><th>Title</th><th>Namespace</th><th>Objects</th><th>Message</th><th>Reason</th><th>Expires</th></tr></thead>\n<tbody>\n");
    for s in r.suppressed {
        let f = &s.finding;
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"id mono\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            badge(f.severity),
            esc(f.id),
            esc(f.title),
            namespace_cell(&f.namespace),
            objects_cell(&f.objects),
            esc(&f.message),
            esc(&s.reason),
            s.expires
                .as_deref()
                .map(esc)
                .unwrap_or_else(|| "<span class=\"muted\">never</span>".into())
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// The checks that ran, with how many findings each has.
fn write_checks(out: &mut String, r: &AuditReport) {
    let checks = all_checks(r);
    let _ = writeln!(
        out,
        "<section id=\"checks\">\n<details>\n<summary>Checks run ({})</summary>",
        checks.len()
    );
    out.push_str("<table>\n<thead><tr><th>ID</th><th>Title</th><th>Category</th><th>Default severity</th><th>Findings</th><th>Suppressed</th></tr></thead>\n<tbody>\n");
    for c in &checks {
        let n = r.findings.iter().filter(|f| f.id == c.id).count();
        let sup = r.suppressed.iter().filter(|s| s.finding.id == c.id).count();
        let result = if n == 0 {
            "<span class=\"muted\">0</span>".to_string()
        } else {
            format!("<strong>{n}</strong>")
        };
        let _ = writeln!(
            out,
            "<tr><td class=\"id mono\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{result}</td><td>{sup}</td></tr>",
            esc(c.id),
            esc(c.title),
            category_label(c.category),
            badge(c.severity)
        );
    }
    out.push_str("</tbody>\n</table>\n</details>\n</section>\n");
}
