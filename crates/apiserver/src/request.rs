//! An incoming request and what kube-apiserver's `RequestInfoFactory`
//! (`k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`) makes of it: resource or
//! non-resource, verb, API group and version, namespace, resource, subresource and name.

use std::collections::BTreeMap;

use http::HeaderMap;
use percent_encoding::percent_decode_str;

/// The most bytes a request body may have (kube-apiserver's 3 MiB limit for JSON bodies).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// One HTTP request as the network edge hands it over.
#[derive(Debug, Clone, Copy)]
pub struct ApiRequest<'a> {
    /// HTTP method (`GET`, `POST`, …).
    pub method: &'a str,
    /// URL path, not decoded.
    pub path: &'a str,
    /// Raw query string (without `?`), may be empty.
    pub query: &'a str,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The body (at most [`MAX_BODY_BYTES`]; the edge answers 413 beyond).
    pub body: &'a [u8],
}

/// The query parameters, decoded (`+` is a space, `%XX` escapes), each name with its values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(BTreeMap<String, Vec<String>>);

fn decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

impl Query {
    /// Parses `a=1&b=2&b=3`.
    pub fn parse(raw: &str) -> Self {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.entry(decode(k)).or_default().push(decode(v));
        }
        Query(map)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.first()).map(String::as_str)
    }

    /// Whether a boolean parameter is set as kube-apiserver reads it (`watch=1`, `watch=true`;
    /// any value but `false`/`0`/absent counts as set).
    pub fn flag(&self, name: &str) -> bool {
        match self.get(name) {
            None => false,
            Some(v) => !matches!(v.to_ascii_lowercase().as_str(), "false" | "0"),
        }
    }
}

/// What a request is about, as kube-apiserver's authorization sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// Whether it names an API resource (else a non-resource URL such as `/version`).
    pub is_resource: bool,
    /// The URL path.
    pub path: String,
    /// The verb (`get`, `list`, `watch`, `create`, …; for non-resource requests the lower-case
    /// HTTP method).
    pub verb: String,
    /// `api` or `apis` (resource requests).
    pub api_prefix: String,
    /// API group (`""` for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Namespace (`""` for cluster scope).
    pub namespace: String,
    /// Plural resource.
    pub resource: String,
    /// Subresource (`status`, `vnc`, …).
    pub subresource: String,
    /// Object name.
    pub name: String,
    /// The path segments from the resource on.
    pub parts: Vec<String>,
}

/// Resource segments kube-apiserver treats as subresources of a namespace
/// (`/api/v1/namespaces/NAME/status`).
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

impl RequestInfo {
    /// Builds the request info of `method path?query` as `RequestInfoFactory.NewRequestInfo`
    /// does. An `Err` is kube-apiserver's "unable to determine kind and namespace from url".
    pub fn new(method: &str, path: &str, query: &Query) -> Result<RequestInfo, String> {
        let mut info = RequestInfo {
            path: path.to_string(),
            verb: method.to_ascii_lowercase(),
            ..RequestInfo::default()
        };
        let trimmed = path.trim_matches('/');
        let mut parts: Vec<String> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').map(decode_segment).collect()
        };
        if parts.len() < 3 || !matches!(parts[0].as_str(), "api" | "apis") {
            return Ok(info);
        }
        info.api_prefix = parts.remove(0);
        if info.api_prefix == "apis" {
            if parts.len() < 3 {
                return Ok(info);
            }
            info.group = parts.remove(0);
        }
        info.is_resource = true;
        info.version = parts.remove(0);
        let via_method = match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        };
        match parts.first().map(String::as_str) {
            Some(special @ ("watch" | "proxy")) => {
                if parts.len() < 2 {
                    return Err(format!(
                        "unable to determine kind and namespace from url, {path}"
                    ));
                }
                info.verb = special.to_string();
                parts.remove(0);
            }
            _ => info.verb = via_method.to_string(),
        }
        if parts.first().map(String::as_str) == Some("namespaces") {
            if let Some(ns) = parts.get(1) {
                info.namespace = ns.clone();
                if parts.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&parts[2].as_str()) {
                    parts.drain(..2);
                }
            }
        }
        if parts.len() >= 3 && info.verb != "proxy" {
            info.subresource = parts[2].clone();
        }
        if parts.len() >= 2 {
            info.name = parts[1].clone();
        }
        if let Some(r) = parts.first() {
            info.resource = r.clone();
        }
        info.parts = parts;
        if info.name.is_empty() && info.verb == "get" {
            info.verb = if query.flag("watch") { "watch" } else { "list" }.to_string();
            if let Some(fs) = query.get("fieldSelector") {
                if let Some(name) = exact_name(fs) {
                    if valid_path_segment(&name) {
                        info.name = name;
                    }
                }
            }
        }
        if info.name.is_empty() && info.verb == "delete" {
            info.verb = "deletecollection".to_string();
        }
        Ok(info)
    }
}

fn decode_segment(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `metadata.name=X` (or `==`) in a field selector: the name the selector requires exactly.
fn exact_name(selector: &str) -> Option<String> {
    selector.split(',').find_map(|term| {
        let term = term.trim();
        let (k, v) = term
            .split_once("==")
            .or_else(|| term.split_once('='))
            .filter(|(k, _)| !k.ends_with('!'))?;
        (k.trim() == "metadata.name").then(|| v.trim().to_string())
    })
}

/// `path.IsValidPathSegmentName`: not `.`/`..`, no `/` or `%`.
fn valid_path_segment(name: &str) -> bool {
    name != "." && name != ".." && !name.contains('/') && !name.contains('%')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(method: &str, path: &str, query: &str) -> RequestInfo {
        RequestInfo::new(method, path, &Query::parse(query)).unwrap()
    }

    #[test]
    fn resource_paths() {
        let i = info(
            "GET",
            "/apis/kubevirt.io/v1/namespaces/prod/virtualmachines",
            "",
        );
        assert!(i.is_resource);
        assert_eq!(
            (
                i.verb.as_str(),
                i.group.as_str(),
                i.namespace.as_str(),
                i.resource.as_str()
            ),
            ("list", "kubevirt.io", "prod", "virtualmachines")
        );
        let i = info("GET", "/api/v1/namespaces/prod/pods/p1/log", "");
        assert_eq!(
            (i.verb.as_str(), i.name.as_str(), i.subresource.as_str()),
            ("get", "p1", "log")
        );
        let i = info("GET", "/api/v1/pods", "watch=1");
        assert_eq!((i.verb.as_str(), i.namespace.as_str()), ("watch", ""));
        let i = info("GET", "/api/v1/watch/namespaces/a/pods", "");
        assert_eq!((i.verb.as_str(), i.namespace.as_str()), ("watch", "a"));
        let i = info("DELETE", "/api/v1/namespaces/a/pods", "");
        assert_eq!(i.verb, "deletecollection");
        let i = info(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            "",
        );
        assert_eq!(
            (i.verb.as_str(), i.resource.as_str()),
            ("create", "selfsubjectaccessreviews")
        );
    }

    #[test]
    fn namespaces_are_their_own_namespace() {
        let i = info("GET", "/api/v1/namespaces/prod", "");
        assert_eq!(
            (i.resource.as_str(), i.name.as_str(), i.namespace.as_str()),
            ("namespaces", "prod", "prod")
        );
        let i = info("GET", "/api/v1/namespaces/prod/status", "");
        assert_eq!(
            (i.resource.as_str(), i.name.as_str(), i.subresource.as_str()),
            ("namespaces", "prod", "status")
        );
    }

    #[test]
    fn list_with_a_name_field_selector_carries_the_name() {
        let i = info(
            "GET",
            "/api/v1/namespaces/a/pods",
            "fieldSelector=metadata.name%3Dp1&watch=true",
        );
        assert_eq!((i.verb.as_str(), i.name.as_str()), ("watch", "p1"));
        let i = info(
            "GET",
            "/api/v1/namespaces/a/pods",
            "fieldSelector=metadata.name!%3Dp1",
        );
        assert_eq!(i.name, "");
    }

    #[test]
    fn non_resource_paths() {
        for p in [
            "/",
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/version",
            "/healthz/ping",
        ] {
            let i = info("GET", p, "");
            assert!(!i.is_resource, "{p}");
            assert_eq!(i.verb, "get");
        }
        assert!(RequestInfo::new("GET", "/api/v1/watch", &Query::default()).is_err());
    }

    #[test]
    fn query_decoding() {
        let q = Query::parse("labelSelector=app+in+(a%2Cb)&watch=0&limit=5");
        assert_eq!(q.get("labelSelector"), Some("app in (a,b)"));
        assert!(!q.flag("watch"));
        assert!(!q.flag("absent"));
        assert!(Query::parse("watch=true").flag("watch"));
    }
}
