//! One page of a LIST response, turned into what the snapshot loader reads.
//!
//! The API server leaves `apiVersion` and `kind` out of a List's items (they are the List's, less
//! `List`); the loader needs them on each object, so they are written back in front of each item's
//! own bytes — no value tree is built for the page. Secrets lose their data here, before anything
//! keeps them, unless the caller asked for it.

use serde::Deserialize;
use serde_json::value::RawValue;

/// What a page says besides its items.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PageMeta {
    /// The `continue` token of the next page; empty on the last.
    pub continue_token: String,
    /// The list's `resourceVersion`.
    pub resource_version: String,
}

#[derive(Deserialize)]
struct Page<'a> {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(rename = "continue", default)]
    continue_token: Option<String>,
    #[serde(rename = "resourceVersion", default)]
    resource_version: Option<String>,
}

#[derive(Deserialize)]
struct ItemHead<'a> {
    #[serde(borrow, rename = "apiVersion", default)]
    api_version: Option<&'a str>,
    #[serde(borrow, default)]
    kind: Option<&'a str>,
}

/// Appends the items of one page to `out` (comma-separated JSON objects, each with `apiVersion`
/// and `kind`), and returns the page's metadata and how many items it held. `strip_secret_data`
/// keeps of Secrets only what is public (see `virtguard_pki::secret::withhold_private_data`).
pub fn append_items(
    body: &str,
    api_version: &str,
    kind: &str,
    strip_secret_data: bool,
    out: &mut String,
) -> Result<(PageMeta, usize), String> {
    let page: Page<'_> =
        serde_json::from_str(body).map_err(|e| format!("malformed List response: {e}"))?;
    let items = page.items.unwrap_or_default();
    for (i, item) in items.iter().enumerate() {
        let raw = item.get();
        let head: ItemHead<'_> = serde_json::from_str(raw)
            .map_err(|e| format!("malformed List response: items[{i}]: {e}"))?;
        if !out.is_empty() {
            out.push(',');
        }
        if kind == "Secret" && strip_secret_data {
            out.push_str(&strip_secret(raw, api_version, kind, i)?);
            continue;
        }
        let rest = raw
            .strip_prefix('{')
            .ok_or_else(|| format!("malformed List response: items[{i}] is not an object"))?;
        out.push('{');
        if head.api_version.is_none() {
            push_field(out, "apiVersion", api_version);
        }
        if head.kind.is_none() {
            push_field(out, "kind", kind);
        }
        if head.api_version.is_some() && head.kind.is_some() {
            out.push_str(rest);
        } else if rest.trim_start().starts_with('}') {
            // An empty object: drop the comma after the last written field.
            out.pop();
            out.push('}');
        } else {
            out.push_str(rest);
        }
    }
    Ok((
        PageMeta {
            continue_token: page.metadata.continue_token.unwrap_or_default(),
            resource_version: page.metadata.resource_version.unwrap_or_default(),
        },
        items.len(),
    ))
}

fn push_field(out: &mut String, name: &str, value: &str) {
    out.push('"');
    out.push_str(name);
    out.push_str("\":");
    // A JSON string of `value` (quotes and escapes); serializing a &str cannot fail.
    out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "\"\"".into()));
    out.push(',');
}

/// A Secret item without its data.
fn strip_secret(raw: &str, api_version: &str, kind: &str, i: usize) -> Result<String, String> {
    let mut v: serde_json::Value = serde_json::from_str(raw)
        .map_err(|e| format!("malformed List response: items[{i}]: {e}"))?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| format!("malformed List response: items[{i}] is not an object"))?;
    obj.entry("apiVersion")
        .or_insert_with(|| api_version.into());
    obj.entry("kind").or_insert_with(|| kind.into());
    virtguard_pki::secret::withhold_private_data(&mut v);
    serde_json::to_string(&v).map_err(|e| format!("items[{i}]: {e}"))
}

/// Wraps items written by [`append_items`] into one JSON `List` document.
pub fn list_document(items: &str) -> String {
    let mut s = String::with_capacity(items.len() + 48);
    s.push_str("{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[");
    s.push_str(items);
    s.push_str("]}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn items(body: &str, kind: &str, strip: bool) -> (Vec<Value>, PageMeta) {
        let mut out = String::new();
        let (meta, n) = append_items(body, "v1", kind, strip, &mut out).expect("page");
        let doc: Value = serde_json::from_str(&list_document(&out)).expect("valid JSON");
        let items = doc["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), n);
        (items, meta)
    }

    #[test]
    fn items_get_their_kind_back() {
        let body = json!({"kind": "ServiceAccountList", "apiVersion": "v1",
            "metadata": {"resourceVersion": "42", "continue": "abc"},
            "items": [{"metadata": {"name": "a"}}, {}, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "c"}}]})
        .to_string();
        let (items, meta) = items(&body, "ServiceAccount", false);
        assert_eq!(meta.continue_token, "abc");
        assert_eq!(meta.resource_version, "42");
        assert_eq!(
            items[0],
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "a"}})
        );
        assert_eq!(
            items[1],
            json!({"apiVersion": "v1", "kind": "ServiceAccount"})
        );
        assert_eq!(items[2]["metadata"]["name"], "c");
    }

    #[test]
    fn secrets_lose_their_data_unless_asked() {
        let body = json!({"items": [{"type": "kubernetes.io/tls", "data": {"tls.key": "c2VjcmV0"},
            "stringData": {"x": "y"},
            "metadata": {"name": "s", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{}}", "keep": "1"}}}]})
        .to_string();
        let (stripped, _) = items(&body, "Secret", true);
        assert_eq!(
            stripped[0],
            json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "data": {},
                "metadata": {"name": "s", "annotations": {"keep": "1",
                    "virtguard.io/withheld-data": "tls.key,x"}}})
        );
        let (kept, _) = items(&body, "Secret", false);
        assert_eq!(kept[0]["data"]["tls.key"], "c2VjcmV0");
    }

    #[test]
    fn null_items_and_missing_metadata_are_an_empty_last_page() {
        let (items, meta) = items(r#"{"kind":"PodList","items":null}"#, "Pod", false);
        assert!(items.is_empty());
        assert_eq!(meta, PageMeta::default());
    }

    #[test]
    fn malformed_pages_are_errors_not_panics() {
        let mut out = String::new();
        for bad in [
            "",
            "[",
            "{\"items\":[1]}",
            "{\"items\":{}}",
            "{\"items\":[\"x\"]}",
        ] {
            assert!(
                append_items(bad, "v1", "Pod", false, &mut out).is_err(),
                "{bad:?} accepted"
            );
        }
    }
}
