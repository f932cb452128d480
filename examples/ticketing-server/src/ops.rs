//! Operations: health, readiness, Prometheus metrics, request metrics.

use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use (`None` when
/// another recorder was installed first).
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok().map(|()| handle)
        })
        .as_ref()
}

/// Liveness: the process answers.
pub async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: not shutting down, and the inventory answers within 2 s.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.stopping.load(Ordering::SeqCst) {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "stopping", "the server is shutting down")
            .into_response();
    }
    match tokio::time::timeout(Duration::from_secs(2), state.stores.inventory.list_shows()).await {
        Ok(Ok(_)) => {
            axum::Json(serde_json::json!({ "status": "ready", "backend": state.stores.backend.name() })).into_response()
        }
        Ok(Err(e)) => ApiError::unavailable(e).into_response(),
        Err(_) => ApiError::unavailable("the inventory did not answer in 2 s").into_response(),
    }
}

/// The metrics in Prometheus' text format.
pub async fn metrics_text() -> Response {
    let body = prometheus().map(|h| h.render()).unwrap_or_default();
    let mut res = body.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    res
}

/// Counts requests and times them, by method, route and status.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = req.method().to_string();
    let started = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    res
}
