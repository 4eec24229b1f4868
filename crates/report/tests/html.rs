//! HTML output: self-contained, escaped, with every finding, filters, suppressed findings and
//! the matrix fragment.

mod common;

use common::Fixture;
use virtguard_report::html;

fn count(h: &str, needle: &str) -> usize {
    h.matches(needle).count()
}

/// The page without the caller's matrix fragment (which is inserted verbatim).
fn without_matrix(h: &str, fx: &Fixture) -> String {
    match &fx.matrix {
        Some(m) => h.replacen(m.as_str(), "", 1),
        None => h.to_string(),
    }
}

#[test]
fn self_contained_document() {
    let fx = Fixture::standard();
    let h = html(&fx.report());
    assert!(h.starts_with("<!DOCTYPE html>"));
    assert!(h.trim_end().ends_with("</html>"));
    assert_eq!(count(&h, "<style>"), 1);
    assert_eq!(count(&h, "<script>"), 1, "only our own inline script");
    for external in ["<link", " src=", "url(", "@import", "http://", "https://"] {
        assert!(
            !h.contains(external),
            "external resource marker {external:?}"
        );
    }
    let body = without_matrix(&h, &fx);
    for tag in [
        "section", "table", "tbody", "tr", "td", "div", "details", "select", "label",
    ] {
        assert_eq!(
            count(&body, &format!("<{tag}>")) + count(&body, &format!("<{tag} ")),
            count(&body, &format!("</{tag}>")),
            "unbalanced <{tag}>"
        );
    }
}

#[test]
fn header_shows_run_facts() {
    let fx = Fixture::standard();
    let h = html(&fx.report());
    assert!(h.contains("virtguard 0.1.0"));
    assert!(h.contains("v1.5.2"));
    assert!(h.contains("2025-06-01T12:00:00Z"));
    assert!(h.contains("<code>manifests/</code>, <code>/abs/dir/rb.yaml</code>"));
    let mut fx = Fixture::standard();
    fx.matrix = None;
    let mut r = fx.report();
    r.kubevirt_version = None;
    assert!(html(&r).contains("not detected"));
}

#[test]
fn every_finding_is_a_filterable_row() {
    let fx = Fixture::standard();
    let h = html(&fx.report());
    assert_eq!(count(&h, "<tbody class=\"finding\""), 6);
    for (sev, n) in [
        ("critical", 1),
        ("high", 1),
        ("medium", 2),
        ("low", 1),
        ("info", 1),
    ] {
        assert_eq!(count(&h, &format!("data-sev=\"{sev}\"")), n, "{sev}");
        assert!(h.contains(&format!(
            "<input type=\"checkbox\" value=\"{sev}\" checked>"
        )));
    }
    for f in &fx.findings {
        assert!(h.contains(&format!("data-id=\"{}\"", f.id)));
    }
    assert!(h.contains("<select id=\"f-cat\">"));
    for cat in ["rbac", "kubevirt-config", "workloads", "nodes"] {
        assert!(h.contains(&format!("<option value=\"{cat}\">")), "{cat}");
    }
    assert!(
        !h.contains("<option value=\"network\">"),
        "only categories with findings"
    );
    assert!(h.contains("id=\"f-q\""));
    // Columns: objects with file:line, subjects, evidence, remediation.
    assert!(h.contains("manifests/rbac.yaml:12"));
    assert!(h.contains("/abs/dir/rb.yaml:7"));
    assert!(h.contains("ServiceAccount tenant-a/builder"));
    assert!(h.contains("Group system:authenticated"));
    assert!(h.contains("spec.template.spec.domain.devices.gpus[0].deviceName = nvidia.com/A100"));
    assert!(h.contains(&fx.findings[0].remediation.replace('\'', "&#39;")));
    assert!(h.contains("Write access to KubeVirt&#39;s control plane"));
}

#[test]
fn input_text_is_escaped() {
    let fx = Fixture::standard();
    let h = html(&fx.report());
    assert!(!h.contains("<script>alert"));
    assert!(
        h.contains("console for &lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt; granted")
    );
    assert!(!h.contains("<b>vnc</b>"));
    assert!(h.contains("Role &lt;b&gt;vnc&lt;/b&gt; &amp; &#39;co&#39;"));
}

#[test]
fn summary_bars() {
    let fx = Fixture::standard();
    let h = html(&fx.report());
    let start = h.find("id=\"by-severity\"").expect("severity chart");
    let end = h.find("id=\"by-category\"").expect("category chart");
    let sev = &h[start..end];
    // Medium has the most findings (2): full bar; the others half.
    assert!(sev.contains("<div class=\"seg medium\" style=\"width:100.0%\">"));
    assert!(sev.contains("<div class=\"seg critical\" style=\"width:50.0%\">"));
    let cat = &h[end..];
    assert!(cat.contains("data-cat=\"rbac\""));
    assert!(cat.contains("data-cat=\"workloads\""));
    // Workloads: one high and one medium segment, each half the widest category.
    assert!(cat.contains("<div class=\"seg high\" style=\"width:50.0%\" title=\"1 high\">"));
    for color in ["#7f1d1d", "#dc2626", "#ea580c", "#eab308", "#6b7280"] {
        assert!(h.contains(color), "{color}");
    }
}

#[test]
fn suppressed_section_with_reasons() {
    let fx = Fixture::standard();
    let h = html(&fx.report());
    let start = h
        .find("<section id=\"suppressed\">")
        .expect("suppressed section");
    let sec = &h[start..];
    let sec = &sec[..sec.find("</section>").expect("section end")];
    assert!(sec.contains("admins in tenant-c can migrate"));
    assert!(sec.contains("accepted by &lt;ops&gt; &amp; &quot;platform&quot; team"));
    assert!(sec.contains("2030-01-01"));
    assert!(sec.contains("manifests/rbac.yaml:88"));
    // Suppressed findings are not among the filterable findings.
    assert!(!h.contains("data-id=\"VG101\""));
}

#[test]
fn matrix_fragment_only_when_given() {
    let fx = Fixture::standard();
    let h = html(&fx.report());
    let m = fx.matrix.as_deref().expect("matrix");
    let at = h.find(m).expect("matrix inserted verbatim");
    let section = h.find("<section id=\"matrix\">").expect("matrix section");
    assert!(section < at);
    assert!(h.contains("Access matrix"));

    let clean = Fixture::clean();
    let h = html(&clean.report());
    assert!(!h.contains("id=\"matrix\""));
    assert!(h.contains("No findings."));
    assert_eq!(count(&h, "<tbody class=\"finding\""), 0);
}
