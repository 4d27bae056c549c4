//! HTTP: the routers of every surface, merged once, and the layers around
//! them (request ids, tracing, security headers, path normalisation).

pub mod api;
pub mod audit;
pub mod basics;
pub mod client;
pub mod limit;
pub mod listen;
pub mod oauth;
pub mod observe;
pub mod scim;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;

use basics::BasicsLayer;

use crate::config::Config;
use crate::store::Db;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

pub struct Inner {
    pub db: Db,
    pub config: Config,
    /// External base URL, no trailing slash.
    pub public_url: String,
    /// `public_url` + the SCIM prefix, made once (every SCIM request needs it).
    scim_base: String,
    /// When each token's `last_used_at` was last written by this instance.
    token_touches: Mutex<Touches>,
    activity: audit::ActivityWriter,
    metrics: Arc<crate::metrics::Metrics>,
    /// Set once shutdown begins: `/readyz` answers 503 from then on.
    draining: std::sync::atomic::AtomicBool,
    /// Tenant slugs by id, for metric labels (tenants are never renamed).
    slugs: Mutex<HashMap<String, &'static str>>,
    limiters: limit::Limiters,
}

/// How stale a token's `last_used_at` may get before it is written again.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// When tokens were last touched, forgetting those older than
/// [`TOUCH_INTERVAL`] (they would be written again anyway) once per
/// interval: the map holds only the tokens used in the last minute or two,
/// however many tokens are issued over the months.
struct Touches {
    at: HashMap<String, Instant>,
    swept: Instant,
}

impl Touches {
    fn new() -> Touches {
        Touches {
            at: HashMap::new(),
            swept: Instant::now(),
        }
    }

    /// Whether `token_id` is due a write now (and records that it got one).
    fn due(&mut self, token_id: &str, now: Instant) -> bool {
        if now.duration_since(self.swept) >= TOUCH_INTERVAL {
            self.at
                .retain(|_, t| now.duration_since(*t) < TOUCH_INTERVAL);
            self.swept = now;
        }
        match self.at.get(token_id) {
            Some(t) if now.duration_since(*t) < TOUCH_INTERVAL => false,
            _ => {
                self.at.insert(token_id.to_string(), now);
                true
            }
        }
    }
}

impl AppState {
    /// Must be called inside a Tokio runtime (it starts the read-log writer).
    pub fn new(db: Db, config: Config, public_url: String) -> AppState {
        let db_for_log = db.clone();
        let metrics = db.metrics().clone();
        let limiters = limit::Limiters::new(&config.rates);
        AppState {
            inner: Arc::new(Inner {
                db,
                config,
                scim_base: format!("{public_url}{}", crate::paths::SCIM_PREFIX),
                public_url,
                token_touches: Mutex::new(Touches::new()),
                activity: audit::ActivityWriter::start(db_for_log, metrics.clone()),
                metrics,
                draining: std::sync::atomic::AtomicBool::new(false),
                slugs: Mutex::new(HashMap::new()),
                limiters,
            }),
        }
    }

    /// The read log (see [`audit`]).
    pub fn activity(&self) -> &audit::ActivityWriter {
        &self.inner.activity
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.inner.metrics
    }

    /// Shutdown has begun: readiness fails so that balancers stop sending.
    pub fn start_draining(&self) {
        self.inner
            .draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn draining(&self) -> bool {
        self.inner
            .draining
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A tenant's slug for metric labels, read once per tenant.
    pub async fn tenant_slug(&self, tenant_id: &str) -> &'static str {
        if let Some(s) = self
            .inner
            .slugs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant_id)
        {
            return s;
        }
        let slug = match crate::store::tenants::by_id(&self.inner.db, tenant_id).await {
            Ok(Some(t)) => crate::metrics::intern(&t.slug),
            _ => return "unknown",
        };
        self.inner
            .slugs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant_id.to_string(), slug);
        slug
    }

    /// This instance's rate limits.
    pub fn limiters(&self) -> &limit::Limiters {
        &self.inner.limiters
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Whether cookies are marked `Secure`: when the public URL is https
    /// (plain http is only for local use and tests).
    pub fn secure_cookies(&self) -> bool {
        self.public_url().starts_with("https://")
    }

    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    /// `…/scim/v2`.
    pub fn scim_base(&self) -> String {
        self.inner.scim_base.clone()
    }

    /// Whether this token's use should be written now (at most once per
    /// interval per token and instance).
    pub fn should_touch(&self, token_id: &str) -> bool {
        self.inner
            .token_touches
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .due(token_id, Instant::now())
    }
}

async fn fallback(method: axum::http::Method, uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    if uri.path().starts_with(crate::paths::SCIM_PREFIX) {
        scim::unsupported(method, uri).await
    } else if uri.path().starts_with(crate::paths::API_PREFIX) {
        api::not_found(&method, &uri)
    } else {
        (axum::http::StatusCode::NOT_FOUND, "Not found\n").into_response()
    }
}

/// The complete application: every surface's router, merged once, with the
/// layers every response gets. `browser` is the router of the pages people
/// open in a browser (the console's, which bring their own session layer);
/// it comes from the layer above, since nothing here names it. Path
/// normalisation wraps the result from outside (see
/// [`scim::normalize_path`]) because it must run before routing.
pub fn router(state: AppState, browser: Router<AppState>) -> Router {
    // Behind https, browsers are told to use nothing else (RFC 6797).
    let hsts = state.public_url().starts_with("https://").then(|| {
        tower_http::set_header::SetResponseHeaderLayer::if_not_present(
            axum::http::header::STRICT_TRANSPORT_SECURITY,
            axum::http::HeaderValue::from_static("max-age=31536000"),
        )
    });
    Router::new()
        .merge(
            scim::router().route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                audit::scim_audit,
            )),
        )
        .merge(oauth::router())
        .merge(api::router())
        .merge(browser)
        // Load balancers probe these on the service's own port; `/metrics`
        // is served only by the management listener.
        .route(
            crate::paths::HEALTH_PATH,
            axum::routing::get(observe::healthz),
        )
        .route(
            crate::paths::READY_PATH,
            axum::routing::get(observe::readyz),
        )
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit::per_client,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::track,
        ))
        .with_state(state)
        .layer(tower::util::option_layer(hsts))
        .layer(BasicsLayer)
}

#[cfg(test)]
mod touch_tests {
    use super::*;

    #[test]
    fn touches_are_due_once_per_interval_and_old_ones_are_forgotten() {
        let mut t = Touches::new();
        let start = t.swept;
        for i in 0..1000 {
            assert!(t.due(&format!("tok{i}"), start));
        }
        assert!(!t.due("tok1", start + Duration::from_secs(1)));
        // A minute on, one use sweeps out the 1,000 idle tokens.
        assert!(t.due("tok1", start + TOUCH_INTERVAL));
        assert_eq!(t.at.len(), 1);
    }
}
