//! Small text helpers shared by the renderers: HTML and XML escaping, a terminal-safe line,
//! truncation to a column count, CamelCase names and an FNV-1a hash for fingerprints.

/// `v` with every object's keys in sorted order. serde_json keeps insertion order when any crate
/// of the build enables its `preserve_order` feature (cedar-policy does) and sorts otherwise;
/// JSON output goes through here so it reads the same either way.
pub fn canonical(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// Escapes text for HTML element content and double- or single-quoted attribute values (the
/// project's one HTML escaper: the reports and `matrix --format html` use it).
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether XML 1.0 allows the character at all.
fn xml_char_ok(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Escapes text for XML element content; characters XML 1.0 forbids become U+FFFD.
pub(crate) fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c if !xml_char_ok(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a double-quoted XML attribute value, keeping tabs and line breaks (which
/// attribute normalization would otherwise turn into spaces).
pub(crate) fn xml_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if !xml_char_ok(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// One line safe to print on a terminal: line breaks and tabs become spaces, other control
/// characters (ESC included, so input cannot inject escape sequences) become `?`.
pub(crate) fn terminal_safe(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '?',
            c => c,
        })
        .collect()
}

/// `s` cut to at most `width` characters, ending in `…` when cut; `width` 0 means no limit.
pub(crate) fn truncate(s: &str, width: usize) -> String {
    if width == 0 || s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A title as a CamelCase identifier: `VM console, VNC or port-forward` → `VMConsoleVNCOrPortForward`.
pub(crate) fn camel_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split(|c: char| !c.is_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

/// FNV-1a, 64-bit.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_sorts_keys_at_every_depth() {
        let v = serde_json::json!({"b": 1, "a": {"d": [{"z": 1, "y": 2}], "c": 3}});
        assert_eq!(
            canonical(v).to_string(),
            r#"{"a":{"c":3,"d":[{"y":2,"z":1}]},"b":1}"#
        );
    }

    #[test]
    fn fnv_known_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            html_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(xml_attr("a\"<&\n"), "a&quot;&lt;&amp;&#10;");
        assert_eq!(xml_text("a\u{1}<b>"), "a\u{FFFD}&lt;b&gt;");
        assert_eq!(terminal_safe("a\x1b[31mb\nc"), "a?[31mb c");
    }

    #[test]
    fn camel_and_truncate() {
        assert_eq!(
            camel_case("VM console, VNC or port-forward access"),
            "VMConsoleVNCOrPortForwardAccess"
        );
        assert_eq!(camel_case("Exec into virt-* pods"), "ExecIntoVirtPods");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdef", 0), "abcdef");
    }
}
