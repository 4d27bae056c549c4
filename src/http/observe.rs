//! What operators watch: every request's span, access log line and metrics
//! ([`track`]); health (`/healthz`), readiness (`/readyz`) and Prometheus
//! metrics (`/metrics`, on the management listener only).

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tracing::Instrument as _;

use super::AppState;
use super::basics::X_REQUEST_ID;
use crate::metrics::{HttpLabels, RouteLabels, intern};
use crate::paths::{
    API_PREFIX, HEALTH_PATH, METRICS_PATH, OAUTH_PREFIX, READY_PATH, SCIM_PREFIX, WELL_KNOWN_PREFIX,
};

/// Which face of scimgate a path belongs to, for metric labels.
pub fn surface(path: &str) -> &'static str {
    if path.starts_with(SCIM_PREFIX) {
        "scim"
    } else if path.starts_with(API_PREFIX) {
        "api"
    } else if path.starts_with(OAUTH_PREFIX) || path.starts_with(WELL_KNOWN_PREFIX) {
        "oauth"
    } else if path == HEALTH_PATH
        || path == READY_PATH
        || path == METRICS_PATH
        || path.starts_with("/static/")
    {
        "other"
    } else {
        "console"
    }
}

/// A route template as a label: `/scim/v2/{resource}/{id}` becomes
/// `/scim/v2/:resource/:id`, which no exposition parser mistakes for the
/// end of a label set. Interned: there are a few dozen routes.
fn route_label(template: &str) -> &'static str {
    static LABELS: std::sync::LazyLock<
        std::sync::Mutex<std::collections::HashMap<String, &'static str>>,
    > = std::sync::LazyLock::new(Default::default);
    let mut labels = LABELS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(l) = labels.get(template) {
        return l;
    }
    let label = intern(&template.replace('{', ":").replace('}', ""));
    labels.insert(template.to_string(), label);
    label
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Runs a request inside its span (method, route template, request id, and
/// the tenant once known), counts it, times it, and logs it: at `debug`
/// when it succeeded, `info` for a client error, `warn` for a server error
/// (`RUST_LOG=scimgate=debug` logs every request).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let surface = surface(req.uri().path());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| route_label(m.as_str()));
    let request_id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let span = tracing::info_span!(
        "request",
        method,
        route,
        request_id = %request_id,
        tenant = tracing::field::Empty,
    );
    let resp = next.run(req).instrument(span.clone()).await;
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    let m = state.metrics();
    m.http_requests
        .get_or_create(&HttpLabels {
            surface,
            method,
            status,
        })
        .inc();
    m.http_duration
        .get_or_create(&RouteLabels { surface, route })
        .observe(elapsed.as_secs_f64());
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    let _in = span.enter();
    match status {
        500.. => tracing::warn!(status, latency_ms, "request failed"),
        400.. => tracing::info!(status, latency_ms, "request refused"),
        _ => tracing::debug!(status, latency_ms, "request"),
    }
    drop(_in);
    resp
}

fn json_reply(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

/// `GET /healthz`: the process serves. Touches no database.
pub async fn healthz() -> Response {
    json_reply(StatusCode::OK, json!({"status": "ok"}))
}

/// How long readiness waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /readyz`: 200 when the database answers and its migrations are
/// those this binary expects; 503 with the reason otherwise, and while the
/// process shuts down.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.draining() {
        return json_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "draining", "reason": "scimgate is shutting down"}),
        );
    }
    match tokio::time::timeout(READY_TIMEOUT, state.db().readiness()).await {
        Ok(Ok(())) => json_reply(StatusCode::OK, json!({"status": "ready"})),
        Ok(Err(reason)) => json_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "unavailable", "reason": reason}),
        ),
        Err(_) => json_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "unavailable", "reason": format!("the database did not answer within {} s", READY_TIMEOUT.as_secs())}),
        ),
    }
}

/// Webhook backlog counted per endpoint up to this many events.
const BACKLOG_CAP: i64 = 100_000;

/// `GET /metrics`: the Prometheus text exposition (OpenMetrics).
pub async fn metrics(State(state): State<AppState>) -> Response {
    let m = state.metrics();
    let db = state.db();
    for (label, value) in db.pool_connections() {
        m.db_pool_connections
            .get_or_create(&crate::metrics::StateLabel { state: label })
            .set(value);
    }
    let mut pending = 0;
    if let Ok(hooks) = crate::store::webhooks::list(db).await {
        for h in hooks.iter().filter(|h| h.disabled_at.is_none()) {
            pending += crate::store::webhooks::backlog(db, &h.id, BACKLOG_CAP)
                .await
                .unwrap_or(0);
        }
    }
    m.events_pending.set(pending);
    (
        [
            (
                CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
            (CACHE_CONTROL, "no-store"),
        ],
        m.encode(),
    )
        .into_response()
}

/// The management listener's routes: health, readiness and metrics.
pub fn management_router(state: AppState) -> Router {
    Router::new()
        .route(HEALTH_PATH, get(healthz))
        .route(READY_PATH, get(readyz))
        .route(METRICS_PATH, get(metrics))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::surface;

    #[test]
    fn surfaces_from_paths() {
        assert_eq!(surface("/scim/v2/Users"), "scim");
        assert_eq!(surface("/api/v1/events"), "api");
        assert_eq!(surface("/oauth/token"), "oauth");
        assert_eq!(surface("/.well-known/oauth-authorization-server"), "oauth");
        assert_eq!(surface("/healthz"), "other");
        assert_eq!(surface("/users"), "console");
        assert_eq!(surface("/"), "console");
    }
}
