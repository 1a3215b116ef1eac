//! Health, readiness and metrics.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;

/// `GET /healthz`: the process serves requests.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the relay is ready for sessions. In a cluster it also says whether Redis
/// answers: a relay that cannot reach it still serves its own sessions but cannot take new
/// ones into the cluster or attach other relays' sessions, so a load balancer should send
/// new people elsewhere (503, `cluster: redis unreachable`).
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if !state.ready.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response();
    }
    match &state.cluster {
        None => "ready".into_response(),
        Some(node) if node.redis_ok() => format!(
            "ready\ncluster: node {}, redis ok, {} sessions here\n",
            node.name,
            state.registry.len()
        )
        .into_response(),
        Some(node) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "cluster: node {}, redis unreachable; serving its {} sessions to their clients\n",
                node.name,
                state.registry.len()
            ),
        )
            .into_response(),
    }
}

/// `GET /metrics` on the main port: only with `[metrics] token_hash` and that token
/// (metrics name targets); otherwise the JSON 404 of an unknown API path (issue 17, item 16).
pub async fn metrics_on_main_port(
    State(state): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
) -> Response {
    let Some(expected) = &state.metrics_token else {
        return super::error::Failure::new(
            StatusCode::NOT_FOUND,
            winrelay_shared::api::FailureCode::NotFound,
            "metrics are served on [metrics] listen, or here with [metrics] token_hash",
        )
        .into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(|t| crate::access::digest(t.trim()));
    // Digests compared: the time taken says nothing about the token.
    if presented.as_ref() != Some(expected) {
        return super::error::Failure::new(
            StatusCode::UNAUTHORIZED,
            winrelay_shared::api::FailureCode::BadToken,
            "metrics need the metrics token: Authorization: Bearer TOKEN",
        )
        .into_response();
    }
    metrics(State(state)).await
}

/// `GET /metrics` (on the metrics address, or after the token check).
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
