//! Prometheus metrics, served at `/metrics` on the management listener
//! only (`--management-bind`). One registry per server (no global state),
//! so several servers in one process — the tests — count apart.
//!
//! Labels are bounded: surfaces, methods, status codes, route templates
//! (never raw paths), tenant slugs, resource and operation names, outcomes.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub surface: &'static str,
    pub method: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub surface: &'static str,
    pub route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScimLabels {
    pub tenant: &'static str,
    pub resource: &'static str,
    pub operation: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScopeLabel {
    pub scope: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabel {
    pub version: &'static str,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ]
    .into_iter()
}

/// Every metric scimgate records.
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<RouteLabels, Histogram>,
    pub scim_operations: Family<ScimLabels, Counter>,
    pub auth_failures: Family<KindLabel, Counter>,
    pub db_pool_connections: Family<StateLabel, Gauge>,
    pub db_wait: Histogram,
    pub db_write_groups: Histogram,
    pub activity_log_dropped: Counter,
    pub activity_log_queue_bytes: Gauge,
    pub events_pending: Gauge,
    pub webhook_deliveries: Family<OutcomeLabel, Counter>,
    pub webhook_delivery_lag: Histogram,
    pub rate_limited: Family<ScopeLabel, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("scimgate");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by surface (scim, oauth, api, console, other), method and status",
            http_requests.clone(),
        );
        let http_duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(latency_buckets())
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by surface and route template",
            http_duration.clone(),
        );
        let scim_operations = Family::<ScimLabels, Counter>::default();
        registry.register(
            "scim_operations",
            "SCIM requests of tenants, by resource, operation and outcome (success, client_error, server_error)",
            scim_operations.clone(),
        );
        let auth_failures = Family::<KindLabel, Counter>::default();
        registry.register(
            "auth_failures",
            "Refused credentials: no_token, bad_token, revoked, expired (SCIM tokens), bad_app_key (API), sign_in (console password), throttled (sign-in throttle)",
            auth_failures.clone(),
        );
        let db_pool_connections = Family::<StateLabel, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections: idle, in_use",
            db_pool_connections.clone(),
        );
        let db_wait = Histogram::new(latency_buckets());
        registry.register(
            "db_wait_seconds",
            "Time a write waited to begin its transaction (on SQLite, for the one writer)",
            db_wait.clone(),
        );
        let db_write_groups = Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]);
        registry.register(
            "db_write_group_transactions",
            "Write transactions committed together by one commit of the SQLite writer (SQLite only; the read log commits its batches apart and is not counted)",
            db_write_groups.clone(),
        );
        let activity_log_dropped = Counter::default();
        registry.register(
            "activity_log_dropped",
            "Read-log entries dropped because the queue was full",
            activity_log_dropped.clone(),
        );
        let activity_log_queue_bytes = Gauge::default();
        registry.register(
            "activity_log_queue_bytes",
            "Approximate size of the read-log entries waiting to be written",
            activity_log_queue_bytes.clone(),
        );
        let events_pending = Gauge::default();
        registry.register(
            "events_pending",
            "Events not yet acknowledged by the enabled webhook endpoints (counted up to 100,000 per endpoint)",
            events_pending.clone(),
        );
        let webhook_deliveries = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts by this instance: delivered, failed, gave_up",
            webhook_deliveries.clone(),
        );
        let webhook_delivery_lag = Histogram::new([
            0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
        ]);
        registry.register(
            "webhook_delivery_lag_seconds",
            "From an event's commit to its acknowledgement by a webhook endpoint",
            webhook_delivery_lag.clone(),
        );
        let rate_limited = Family::<ScopeLabel, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused with 429 by this instance's rate limits: tenant (SCIM, per tenant) or client (anonymous endpoints, per address)",
            rate_limited.clone(),
        );
        let build_info = Family::<VersionLabel, Gauge>::default();
        build_info
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "The running scimgate's version", build_info);
        Metrics {
            registry,
            http_requests,
            http_duration,
            scim_operations,
            auth_failures,
            db_pool_connections,
            db_wait,
            db_write_groups,
            activity_log_dropped,
            activity_log_queue_bytes,
            events_pending,
            webhook_deliveries,
            webhook_delivery_lag,
            rate_limited,
        }
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding the metrics failed");
        }
        out
    }

    pub fn auth_failure(&self, kind: &'static str) {
        self.auth_failures.get_or_create(&KindLabel { kind }).inc();
    }

    pub fn rate_limited(&self, scope: &'static str) {
        self.rate_limited.get_or_create(&ScopeLabel { scope }).inc();
    }

    pub fn db_waited(&self, d: Duration) {
        self.db_wait.observe(d.as_secs_f64());
    }
}

/// A `&'static str` for a label value from a small, bounded set (route
/// templates, tenant slugs): each distinct value is kept once for the
/// process's life, so recording needs no allocation.
pub fn intern(value: &str) -> &'static str {
    static SEEN: LazyLock<Mutex<HashSet<&'static str>>> = LazyLock::new(Default::default);
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(v) = seen.get(value) {
        return v;
    }
    let leaked: &'static str = Box::leak(value.to_string().into_boxed_str());
    seen.insert(leaked);
    leaked
}
