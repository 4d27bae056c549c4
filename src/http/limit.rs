//! Request rate limits, per instance (a deployment of N instances behind a
//! balancer admits up to N times the rate; see the README):
//!
//! - per tenant, on every authenticated SCIM request: one tenant's runaway
//!   client cannot take the capacity every other tenant shares;
//! - per client address, on the endpoints anyone may call without a
//!   credential (sign-in, setup, single sign-on, the OAuth token,
//!   revocation and introspection endpoints).
//!
//! Both are token buckets (GCRA, the `governor` crate) refilled at the
//! configured rate with a burst of twice that. Over the limit: `429` with
//! `Retry-After`; Entra and Okta wait that long and send the request again.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AppState;
use crate::config::Rates;

/// The limiters of one instance.
pub struct Limiters {
    tenants: Option<DefaultKeyedRateLimiter<String>>,
    clients: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(rate: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(rate)?;
    let burst = rate.saturating_mul(NonZeroU32::new(2).expect("2 is not zero"));
    Some(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

impl Limiters {
    pub fn new(rates: &Rates) -> Self {
        Limiters {
            tenants: limiter(rates.tenant),
            clients: limiter(rates.client),
        }
    }

    /// `Err(wait)` when the tenant is over its rate.
    pub fn tenant(&self, tenant_id: &str) -> Result<(), Duration> {
        // The key is an owned String: made only when there is a limit.
        match &self.tenants {
            Some(l) => check(Some(l), &tenant_id.to_string()),
            None => Ok(()),
        }
    }

    /// `Err(wait)` when the address is over its rate.
    pub fn client(&self, ip: IpAddr) -> Result<(), Duration> {
        check(self.clients.as_ref(), &ip)
    }

    /// Forgets keys whose buckets are full again, so the maps hold only
    /// recently active tenants and addresses.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.tenants {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.clients {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
) -> Result<(), Duration> {
    let Some(l) = limiter else {
        return Ok(());
    };
    l.check_key(key)
        .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
}

/// `Retry-After` in whole seconds, at least one.
pub fn retry_after(wait: Duration) -> HeaderValue {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    HeaderValue::from(secs.max(1))
}

/// The endpoints anyone may call without a credential.
fn anonymous(method: &Method, path: &str) -> bool {
    use crate::paths::{
        INTROSPECT_PATH, OIDC_CALLBACK_PATH, REVOKE_PATH, SETUP_PATH, SIGNIN_PATH, SIGNIN_SSO_PATH,
        TOKEN_PATH,
    };
    match *method {
        Method::POST => matches!(
            path,
            SIGNIN_PATH | SIGNIN_SSO_PATH | SETUP_PATH | TOKEN_PATH | REVOKE_PATH | INTROSPECT_PATH
        ),
        Method::GET => path == OIDC_CALLBACK_PATH,
        _ => false,
    }
}

/// Limits the anonymous endpoints per client address.
pub async fn per_client(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if anonymous(req.method(), req.uri().path())
        && let Some(ip) = super::client::client_address(
            req.headers(),
            req.extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
            &state.config().trusted_proxies,
        )
        && let Err(wait) = state.limiters().client(ip)
    {
        state.metrics().rate_limited("client");
        let mut resp = (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests from this address: wait a moment and try again.\n",
        )
            .into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, retry_after(wait));
        return resp;
    }
    next.run(req).await
}
