//! JUnit output: well-formed XML, escaping, suites per category and failure counts.

mod common;

use common::Fixture;
use virtguard_report::junit;

/// One element of the document, attributes and text unescaped.
#[derive(Debug)]
struct Elem {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    /// The enclosing element's index.
    parent: Option<usize>,
}

impl Elem {
    fn attr(&self, name: &str) -> &str {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("<{}> has no {name}", self.name))
    }
}

/// Resolves the entity references of `s`; errors on a bare `&`, `<` or an unknown entity.
fn unescape(s: &str) -> Result<String, String> {
    if s.contains('<') {
        return Err(format!("raw < in {s:?}"));
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..]
            .find(';')
            .ok_or_else(|| format!("bare & in {s:?}"))?
            + i;
        let ent = &rest[i + 1..end];
        let c = match ent {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let n = if let Some(h) = ent.strip_prefix("#x") {
                    u32::from_str_radix(h, 16).map_err(|e| format!("&{ent}; {e}"))?
                } else if let Some(d) = ent.strip_prefix('#') {
                    d.parse::<u32>().map_err(|e| format!("&{ent}; {e}"))?
                } else {
                    return Err(format!("unknown entity &{ent}; in {s:?}"));
                };
                char::from_u32(n).ok_or_else(|| format!("bad char &{ent};"))?
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A tiny XML checker: balanced tags, one root, quoted attributes, valid entities.
fn parse(xml: &str) -> Result<Vec<Elem>, String> {
    let mut elems: Vec<Elem> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut roots = 0;
    let mut rest = xml;
    if let Some(r) = rest.strip_prefix("<?xml") {
        let end = r.find("?>").ok_or("unterminated declaration")?;
        rest = &r[end + 2..];
    }
    while !rest.is_empty() {
        let lt = rest.find('<').unwrap_or(rest.len());
        let text = unescape(&rest[..lt])?;
        match stack.last() {
            Some(&top) => elems[top].text.push_str(&text),
            None if !text.trim().is_empty() => return Err(format!("text outside root: {text:?}")),
            None => {}
        }
        rest = &rest[lt..];
        if rest.is_empty() {
            break;
        }
        if let Some(r) = rest.strip_prefix("</") {
            let gt = r.find('>').ok_or("unterminated end tag")?;
            let name = r[..gt].trim();
            let top = stack
                .pop()
                .ok_or_else(|| format!("</{name}> without start"))?;
            if elems[top].name != name {
                return Err(format!("<{}> closed by </{name}>", elems[top].name));
            }
            rest = &r[gt + 1..];
            continue;
        }
        let r = &rest[1..];
        let name_end = r
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .ok_or("unterminated tag")?;
        let name = r[..name_end].to_string();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || "-_.:".contains(c))
        {
            return Err(format!("bad tag name {name:?}"));
        }
        let mut r = &r[name_end..];
        let mut attrs = Vec::new();
        let self_closing = loop {
            r = r.trim_start();
            if let Some(x) = r.strip_prefix("/>") {
                r = x;
                break true;
            }
            if let Some(x) = r.strip_prefix('>') {
                r = x;
                break false;
            }
            let eq = r
                .find('=')
                .ok_or_else(|| format!("attribute without value in <{name}>"))?;
            let key = r[..eq].trim().to_string();
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(format!("bad attribute name {key:?} in <{name}>"));
            }
            let v = r[eq + 1..]
                .strip_prefix('"')
                .ok_or_else(|| format!("unquoted attribute {key} in <{name}>"))?;
            let close = v.find('"').ok_or("unterminated attribute value")?;
            if attrs.iter().any(|(k, _)| *k == key) {
                return Err(format!("duplicate attribute {key}"));
            }
            attrs.push((key, unescape(&v[..close])?));
            r = &v[close + 1..];
        };
        if stack.is_empty() {
            roots += 1;
        }
        elems.push(Elem {
            name,
            attrs,
            text: String::new(),
            parent: stack.last().copied(),
        });
        if !self_closing {
            stack.push(elems.len() - 1);
        }
        rest = r;
    }
    if let Some(&open) = stack.last() {
        return Err(format!("<{}> never closed", elems[open].name));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(elems)
}

fn children<'a>(elems: &'a [Elem], parent: usize, name: &'a str) -> Vec<(usize, &'a Elem)> {
    elems
        .iter()
        .enumerate()
        .filter(|(_, e)| e.parent == Some(parent) && e.name == name)
        .collect()
}

#[test]
fn checker_rejects_broken_xml() {
    assert!(parse("<a><b></a></b>").is_err());
    assert!(parse("<a>x & y</a>").is_err());
    assert!(parse("<a b=\"1 < 2\"/>").is_err());
    assert!(parse("<a b=c/>").is_err());
    assert!(parse("<a></a><b/>").is_err());
    assert!(parse("<a>").is_err());
    assert!(parse("<a b=\"&quot;x&amp;\">t &lt;</a>").is_ok());
}

#[test]
fn well_formed_with_suites_per_category() {
    let fx = Fixture::standard();
    let xml = junit(&fx.report());
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    let elems = parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let root = &elems[0];
    assert_eq!(root.name, "testsuites");
    assert_eq!(root.attr("name"), "virtguard audit");
    // Eight checks ran; five of them have findings (VG101's only finding is suppressed).
    assert_eq!(root.attr("tests"), "8");
    assert_eq!(root.attr("failures"), "5");

    let suites = children(&elems, 0, "testsuite");
    let names: Vec<&str> = suites.iter().map(|(_, s)| s.attr("name")).collect();
    assert_eq!(names, ["rbac", "kubevirt-config", "workloads", "nodes"]);
    let expect = [
        ("rbac", 4, 2),
        ("kubevirt-config", 1, 1),
        ("workloads", 1, 1),
        ("nodes", 2, 1),
    ];
    let mut total_failures = 0;
    for ((i, s), (name, tests, failures)) in suites.iter().zip(expect) {
        assert_eq!(s.attr("name"), name);
        assert_eq!(s.attr("tests"), tests.to_string(), "{name}");
        assert_eq!(s.attr("failures"), failures.to_string(), "{name}");
        let cases = children(&elems, *i, "testcase");
        assert_eq!(cases.len(), tests, "{name}");
        let failing = cases
            .iter()
            .filter(|(ci, _)| !children(&elems, *ci, "failure").is_empty())
            .count();
        assert_eq!(failing, failures, "{name}");
        total_failures += failing;
        for (_, c) in &cases {
            assert_eq!(c.attr("classname"), format!("virtguard.{name}"));
        }
    }
    assert_eq!(total_failures, 5);
    // One <failure> per finding.
    assert_eq!(elems.iter().filter(|e| e.name == "failure").count(), 6);
}

#[test]
fn failures_carry_severity_message_and_details() {
    let fx = Fixture::standard();
    let xml = junit(&fx.report());
    let elems = parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let case = |name: &str| {
        elems
            .iter()
            .position(|e| e.name == "testcase" && e.attr("name") == name)
            .unwrap_or_else(|| panic!("no testcase {name}"))
    };
    let vg301 = case("VG301 GPU or host device passed through");
    let fails = children(&elems, vg301, "failure");
    let types: Vec<&str> = fails.iter().map(|(_, f)| f.attr("type")).collect();
    assert_eq!(types, ["high", "medium"]);

    let vg102 = case("VG102 VM console, VNC or port-forward access granted broadly");
    let (_, f) = children(&elems, vg102, "failure")[0];
    // The message round-trips through the escaping.
    assert_eq!(
        f.attr("message"),
        "console for <script>alert(\"x&y\")</script> granted"
    );
    assert!(f
        .text
        .contains("Evidence: RoleBinding tenant-a/console-all → Role <b>vnc</b> & 'co'"));
    assert!(f
        .text
        .contains("RoleBinding tenant-a/console-all (/abs/dir/rb.yaml:7)"));
    assert!(f.text.contains("ServiceAccount tenant-a/builder"));
    assert!(f.text.contains("Remediation: Grant these subresources"));
    // And is escaped in the raw document.
    assert!(
        xml.contains("console for &lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt; granted")
    );
    assert!(!xml.contains("<script>"));
    assert!(!xml.contains("<b>"));

    let vg105 = case("VG105 Write access to KubeVirt's control plane");
    let (_, f) = children(&elems, vg105, "failure")[0];
    assert_eq!(f.attr("type"), "critical");
    assert!(f
        .text
        .contains("ClusterRoleBinding everyone-kv (manifests/rbac.yaml:12)"));
    assert!(f
        .text
        .contains("ClusterRole kv-writer (manifests/rbac.yaml:3)"));

    // Passing checks have no children; the suppressed-only check passes and says why.
    let vg103 = case("VG103 Exec into virt-* or virt-launcher pods");
    assert!(elems.iter().all(|e| e.parent != Some(vg103)));
    let vg101 = case("VG101 Migrations beyond the intended migrators");
    assert!(children(&elems, vg101, "failure").is_empty());
    let (_, out) = children(&elems, vg101, "system-out")[0];
    assert!(out
        .text
        .contains("reason: accepted by <ops> & \"platform\" team (until 2030-01-01)"));
}

#[test]
fn clean_run_passes() {
    let fx = Fixture::clean();
    let xml = junit(&fx.report());
    let elems = parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert_eq!(elems[0].attr("tests"), "2");
    assert_eq!(elems[0].attr("failures"), "0");
    assert_eq!(elems.iter().filter(|e| e.name == "testcase").count(), 2);
    assert_eq!(elems.iter().filter(|e| e.name == "failure").count(), 0);
}

#[test]
fn control_characters_do_not_break_the_document() {
    let mut fx = Fixture::standard();
    fx.findings[0].message = "bad\u{1}\u{1b}[31m name\r\n".into();
    let xml = junit(&fx.report());
    parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert!(!xml.contains('\u{1}') && !xml.contains('\u{1b}'));
}
