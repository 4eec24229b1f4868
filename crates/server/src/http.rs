//! The HTTP side: the built-in `/healthz`, `/readyz` and `/metrics` routes, merged with the
//! caller's router, and a middleware counting every response by matched route and status.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use time::OffsetDateTime;

use crate::Shared;

/// Label used for requests that matched no route.
pub const UNMATCHED_PATH: &str = "unmatched";

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.shutting_down.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let snap = shared.reloader.current();
    if !snap.serving.leaf.is_valid_at(OffsetDateTime::now_utc()) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "serving certificate is not valid now",
        )
            .into_response();
    }
    (StatusCode::OK, "ok").into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response()
}

async fn count(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| UNMATCHED_PATH.to_string());
    let resp = next.run(req).await;
    shared.metrics.record_request(&path, resp.status().as_u16());
    resp
}

/// `user` plus the built-in routes, with request counting on every route.
///
/// The caller's router must not define `/healthz`, `/readyz` or `/metrics` (axum panics on
/// overlapping routes when they are merged, before anything is served).
pub(crate) fn app(user: Router, shared: Arc<Shared>) -> Router {
    let builtin = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(shared.clone());
    user.merge(builtin)
        .layer(axum::middleware::from_fn_with_state(shared, count))
}
