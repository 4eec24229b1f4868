//! The request pipeline of kube-apiserver, as one pure function: body limit → health and
//! version → impersonation → authorization (every request, `system:masters` first) → the
//! handler of the path (discovery, get, list, watch, reviews); every failure a `Status`.

use std::time::Duration;

use http::HeaderMap;
use serde_json::json;
use time::OffsetDateTime;

use crate::auth::{impersonate, require, Check, UserInfo};
use crate::discovery;
use crate::list::{list_api_version, list_json, page, table, IncludeObject, Page, Selection};
use crate::reply::{Handled, Reply};
use crate::request::{ApiRequest, Query, RequestInfo, MAX_BODY_BYTES};
use crate::review;
use crate::status::ApiError;
use crate::store::{Served, Store};
use crate::watch::{error_line, too_old, WatchPlan, DEFAULT_WATCH_TIMEOUT};

/// The Kubernetes version the facade reports on `/version` (the discovery table's release).
pub const KUBERNETES_VERSION: (&str, &str) = ("1", "33");

/// Paths served to everyone without authorization (kube-apiserver's `system:public-info-viewer`).
fn health(path: &str) -> bool {
    ["/healthz", "/livez", "/readyz"]
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
}

fn version_info() -> serde_json::Value {
    json!({
        "major": KUBERNETES_VERSION.0,
        "minor": KUBERNETES_VERSION.1,
        "gitVersion": format!("v{}.{}.0+virtguard-{}", KUBERNETES_VERSION.0, KUBERNETES_VERSION.1, env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, match std::env::consts::ARCH { "x86_64" => "amd64", "aarch64" => "arm64", a => a }),
    })
}

/// Whether the client asks for a `meta.k8s.io` Table (`Accept: application/json;as=Table;…`),
/// as its first acceptable choice.
pub fn wants_table(headers: &HeaderMap) -> bool {
    for v in headers.get_all(http::header::ACCEPT) {
        let Ok(v) = v.to_str() else { continue };
        for range in v.split(',') {
            let params: Vec<&str> = range.split(';').map(str::trim).collect();
            let base = params.first().copied().unwrap_or("");
            if base != "application/json" && base != "*/*" && base != "application/*" {
                continue;
            }
            let has = |p: &str| params.iter().any(|x| x.eq_ignore_ascii_case(p));
            if params.iter().any(|p| p.starts_with("as=")) {
                if has("as=Table") && has("g=meta.k8s.io") {
                    return true;
                }
                // Another transformation we do not serve: try the next range.
                continue;
            }
            return false;
        }
    }
    false
}

/// Whether the client accepts `apidiscovery.k8s.io/v2` `APIGroupDiscoveryList` before plain
/// JSON (the order of its Accept header).
pub fn wants_aggregated(headers: &HeaderMap) -> bool {
    for v in headers.get_all(http::header::ACCEPT) {
        let Ok(v) = v.to_str() else { continue };
        for range in v.split(',') {
            let params: Vec<&str> = range.split(';').map(str::trim).collect();
            let has = |p: &str| params.iter().any(|x| x.eq_ignore_ascii_case(p));
            if has("as=APIGroupDiscoveryList") {
                if has("g=apidiscovery.k8s.io") && has("v=v2") {
                    return true;
                }
                continue;
            }
            return false;
        }
    }
    false
}

/// Answers one request from `requester` (the authenticated identity) against the store's
/// current state at time `now`.
pub fn handle(
    store: &Store,
    requester: &UserInfo,
    req: &ApiRequest<'_>,
    now: OffsetDateTime,
) -> Handled {
    match route(store, requester, req, now) {
        Ok(h) => h,
        Err(e) => Handled::Reply(e.reply()),
    }
}

fn route(
    store: &Store,
    requester: &UserInfo,
    req: &ApiRequest<'_>,
    now: OffsetDateTime,
) -> Result<Handled, ApiError> {
    if req.body.len() > MAX_BODY_BYTES {
        return Err(ApiError::too_large(MAX_BODY_BYTES));
    }
    let is_read = matches!(req.method, "GET" | "HEAD");
    if health(req.path) && is_read {
        return Ok(Reply::text(200, "ok").into());
    }
    if req.path == "/version" && is_read {
        return Ok(Reply::json(200, &version_info()).into());
    }
    let state = store.current();
    let policy = &state.policy;
    let user = impersonate(policy, requester, req.headers)?;
    let query = Query::parse(req.query);
    let info = RequestInfo::new(req.method, req.path, &query).map_err(ApiError::bad_request)?;
    let check = if info.is_resource {
        Check {
            verb: info.verb.clone(),
            resource_request: true,
            namespace: info.namespace.clone(),
            group: info.group.clone(),
            resource: info.resource.clone(),
            subresource: info.subresource.clone(),
            name: info.name.clone(),
            path: String::new(),
        }
    } else {
        Check {
            verb: info.verb.clone(),
            path: info.path.clone(),
            ..Check::default()
        }
    };
    require(policy, &user, &check)?;
    if !info.is_resource {
        return non_resource(&state, &info, req.headers, is_read);
    }
    if req.method == "POST" {
        if let Some(reply) = reviews(&state.policy, &user, &info, req, now)? {
            return Ok(reply.into());
        }
    }
    resource(store, &info, &query, req.headers, now)
}

fn non_resource(
    state: &crate::store::State,
    info: &RequestInfo,
    headers: &HeaderMap,
    is_read: bool,
) -> Result<Handled, ApiError> {
    let parts: Vec<&str> = info
        .path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let aggregated = |core: bool| {
        let mut r = Reply::json(200, &discovery::aggregated(state, core));
        r.content_type = discovery::AGGREGATED_V2;
        r
    };
    let doc = match parts.as_slice() {
        ["api"] if wants_aggregated(headers) => Some(aggregated(true)),
        ["apis"] if wants_aggregated(headers) => Some(aggregated(false)),
        ["api"] => Some(Reply::json(200, &discovery::api_versions())),
        ["apis"] => Some(Reply::json(200, &discovery::api_group_list(state))),
        ["apis", g] => discovery::api_group_of(state, g).map(|d| Reply::json(200, &d)),
        ["api", v] => discovery::api_resource_list(state, "", v).map(|d| Reply::json(200, &d)),
        ["apis", g, v] => discovery::api_resource_list(state, g, v).map(|d| Reply::json(200, &d)),
        _ => None,
    };
    match doc {
        Some(_) if !is_read => Err(ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: format!(
                "the server does not allow this method on the requested resource ({} {})",
                info.verb.to_ascii_uppercase(),
                info.path
            ),
            details: None,
        }),
        Some(d) => Ok(d.into()),
        None => Err(ApiError::no_such_path()),
    }
}

/// The review endpoints (POST only); `None` when the path is not one.
fn reviews(
    policy: &virtguard_rbac::Policy,
    user: &UserInfo,
    info: &RequestInfo,
    req: &ApiRequest<'_>,
    now: OffsetDateTime,
) -> Result<Option<Reply>, ApiError> {
    if info.version != "v1" || !info.name.is_empty() || !info.subresource.is_empty() {
        return Ok(None);
    }
    let is_review = matches!(
        (info.group.as_str(), info.resource.as_str()),
        (
            "authorization.k8s.io",
            "selfsubjectaccessreviews"
                | "subjectaccessreviews"
                | "selfsubjectrulesreviews"
                | "localsubjectaccessreviews"
        ) | ("authentication.k8s.io", "selfsubjectreviews")
    );
    if !is_review {
        return Ok(None);
    }
    let mut converted = None;
    if let Some(ct) = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        let base = ct.split(';').next().unwrap_or("").trim();
        if base == crate::protobuf::PROTOBUF {
            converted = Some(crate::protobuf::to_json(req.body)?);
        } else if !base.is_empty() && base != "application/json" && base != "*/*" {
            return Err(ApiError::unsupported_media_type(ct));
        }
    }
    let body: &[u8] = converted.as_deref().unwrap_or(req.body);
    let req = &ApiRequest { body, ..*req };
    let ns = info.namespace.as_str();
    let r = match (info.group.as_str(), info.resource.as_str(), ns.is_empty()) {
        ("authorization.k8s.io", "selfsubjectaccessreviews", true) => {
            review::self_subject_access_review(policy, user, req.body)?
        }
        ("authorization.k8s.io", "subjectaccessreviews", true) => {
            review::subject_access_review(policy, req.body)?
        }
        ("authorization.k8s.io", "selfsubjectrulesreviews", true) => {
            review::self_subject_rules_review(policy, user, req.body)?
        }
        ("authorization.k8s.io", "localsubjectaccessreviews", false) => {
            review::local_subject_access_review(policy, ns, req.body)?
        }
        ("authentication.k8s.io", "selfsubjectreviews", true) => {
            review::self_subject_review(user, req.body, now)?
        }
        _ => return Ok(None),
    };
    Ok(Some(r))
}

fn resource(
    store: &Store,
    info: &RequestInfo,
    query: &Query,
    headers: &HeaderMap,
    now: OffsetDateTime,
) -> Result<Handled, ApiError> {
    let state = store.current();
    let served: &Served = state
        .find(&info.group, &info.version, &info.resource)
        .ok_or_else(ApiError::no_such_path)?;
    // A cluster-scoped resource under /namespaces/NS/ (other than a namespace itself) is no path.
    let namespace_object = info.resource == "namespaces" && info.group.is_empty();
    if !served.namespaced && !info.namespace.is_empty() && !namespace_object {
        return Err(ApiError::no_such_path());
    }
    let read = matches!(info.verb.as_str(), "get" | "list" | "watch");
    if !read || !served.readable() || !(info.subresource.is_empty() || info.subresource == "status")
    {
        return Err(ApiError::method_not_allowed(
            &info.verb,
            &info.group,
            &info.resource,
        ));
    }
    let as_table = wants_table(headers);
    let include = IncludeObject::parse(query)?;
    let rv = state.resource_version;
    let objects = state.objects(&served.group, &served.resource);
    let path_name_given = info.parts.len() >= 2;
    match info.verb.as_str() {
        "get" if path_name_given => {
            let key_ns = if served.namespaced {
                info.namespace.clone()
            } else {
                String::new()
            };
            if served.namespaced && key_ns.is_empty() {
                return Err(ApiError::no_such_path());
            }
            let o = objects
                .and_then(|m| m.get(&(key_ns, info.name.clone())))
                .ok_or_else(|| ApiError::not_found(&info.group, &info.resource, &info.name))?;
            if as_table {
                let p = Page {
                    items: vec![o.as_ref()],
                    next: String::new(),
                    remaining: 0,
                };
                return Ok(Reply::json(200, &table(rv, &p, &served.columns, include, now)).into());
            }
            Ok(Reply::raw_json(200, o.json.to_vec()).into())
        }
        "list" | "get" => {
            let ns = if served.namespaced {
                info.namespace.as_str()
            } else {
                ""
            };
            let sel = Selection::parse(ns, &served.group, &served.resource, query)?;
            let p = page(&state, objects, &sel, query)?;
            if as_table {
                return Ok(Reply::json(200, &table(rv, &p, &served.columns, include, now)).into());
            }
            Ok(Reply::raw_json(200, list_json(served, &info.version, rv, &p)).into())
        }
        _ => {
            let ns = if served.namespaced {
                info.namespace.as_str()
            } else {
                ""
            };
            let mut sel = Selection::parse(ns, &served.group, &served.resource, query)?;
            if path_name_given {
                // `/watch/…/NAME`: the one object.
                sel.fields
                    .push(("metadata.name".to_string(), info.name.clone(), true));
            }
            watch(store, served, info, query, sel, as_table.then_some(include))
        }
    }
}

fn watch(
    store: &Store,
    served: &Served,
    info: &RequestInfo,
    query: &Query,
    selection: Selection,
    table: Option<IncludeObject>,
) -> Result<Handled, ApiError> {
    let state = store.current();
    let timeout = match query.get("timeoutSeconds") {
        None | Some("") | Some("0") => DEFAULT_WATCH_TIMEOUT,
        Some(t) => Duration::from_secs(t.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!(
                "timeoutSeconds: invalid value {t:?}: must be a non-negative integer"
            ))
        })?),
    };
    let mut plan = WatchPlan {
        group: served.group.clone(),
        resource: served.resource.clone(),
        kind: served.kind.clone(),
        api_version: list_api_version(served, &info.version),
        selection,
        initial: Vec::new(),
        since: state.resource_version,
        finished: false,
        bookmarks: query.flag("allowWatchBookmarks"),
        timeout,
        table,
        columns: served.columns.clone(),
    };
    let send_initial = query.flag("sendInitialEvents");
    let rv = query.get("resourceVersion").unwrap_or("");
    let all_current = rv.is_empty() || rv == "0" || send_initial;
    if all_current {
        if let Some(objs) = state.objects(&served.group, &served.resource) {
            for o in objs.values().filter(|o| plan.selection.matches(o)) {
                plan.initial.push(plan.event_line(
                    crate::store::EventType::Added,
                    o,
                    o.resource_version,
                ));
            }
        }
        if send_initial {
            plan.initial
                .push(plan.bookmark(state.resource_version, true));
        }
    } else {
        let since: u64 = rv.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "resourceVersion: Invalid value: {rv:?}: must be an integer"
            ))
        })?;
        match store.changes_since(since) {
            Ok((batches, current)) => {
                plan.initial = plan.lines_for(&batches);
                plan.since = current;
            }
            Err(e) => {
                plan.initial.push(error_line(&too_old(since, e.oldest)));
                plan.finished = true;
            }
        }
    }
    Ok(Handled::Watch(Box::new(plan)))
}

#[cfg(test)]
mod tests;
