//! The webhook measurement of `scimgate bench`: user creates with and
//! without one webhook endpoint registered, and the lag from each change's
//! commit to its delivery at a receiver on loopback (in this process) that
//! acknowledges at once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use hdrhistogram::Histogram;
use serde::Serialize;

use super::load::{self, LoadResult};
use super::{ScratchDatabase, Tenant};

#[derive(Debug, Serialize)]
pub struct WebhookReport {
    /// Creates per second without an endpoint, then with one.
    pub creates_without: f64,
    pub creates_with: f64,
    /// `creates_with / creates_without`.
    pub ratio: f64,
    /// Events the receiver got (each acknowledged once).
    pub delivered: u64,
    /// From the event's `occurred_at` (stamped in the change's transaction,
    /// just before its commit) to its arrival at the receiver.
    pub lag_p50_ms: u64,
    pub lag_p99_ms: u64,
    pub lag_max_ms: u64,
    /// From the last create's answer until the receiver had every event.
    pub catch_up_ms: u64,
}

struct Receiver {
    lags: Histogram<u64>,
    delivered: u64,
}

async fn receive(State(r): State<Arc<Mutex<Receiver>>>, body: Bytes) -> &'static str {
    #[derive(serde::Deserialize)]
    struct Event {
        occurred_at: String,
    }
    if let Ok(e) = serde_json::from_slice::<Event>(&body)
        && let Ok(at) = chrono::DateTime::parse_from_rfc3339(&e.occurred_at)
    {
        let lag = (chrono::Utc::now() - at.with_timezone(&chrono::Utc))
            .num_milliseconds()
            .max(0) as u64;
        let mut r = r.lock().unwrap_or_else(|p| p.into_inner());
        let _ = r.lags.record(lag);
        r.delivered += 1;
    }
    "ok"
}

/// A receiver on loopback in this process; its URL.
async fn start_receiver()
-> anyhow::Result<(String, Arc<Mutex<Receiver>>, tokio::task::JoinHandle<()>)> {
    let state = Arc::new(Mutex::new(Receiver {
        lags: Histogram::new(3)?,
        delivered: 0,
    }));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, state, server))
}

fn delivered(state: &Mutex<Receiver>) -> u64 {
    state.lock().unwrap_or_else(|p| p.into_inner()).delivered
}

/// Waits (at most two minutes) until the receiver has `expected` events;
/// returns how long that took.
async fn catch_up(state: &Mutex<Receiver>, expected: u64) -> u64 {
    let done = Instant::now();
    let deadline = done + Duration::from_secs(120);
    while delivered(state) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done.elapsed().as_millis() as u64
}

/// Measures creates without an endpoint (`without`, measured just before),
/// registers one, measures creates again and waits (bounded) for every
/// event to arrive.
pub async fn measure(
    db: &impl ScratchDatabase,
    client: &reqwest::Client,
    scim: &str,
    token: &str,
    without: &LoadResult,
    max_duration: Duration,
) -> anyhow::Result<WebhookReport> {
    let (url, state, server) = start_receiver().await?;
    let hook = db.create_webhook(None, &url).await?;
    // The server's worker gives new endpoints their streams once a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let with = load::creates(
        client,
        scim,
        token,
        "create user c=8, one webhook",
        max_duration,
    )
    .await;
    eprintln!("{}", with.line());
    let catch_up_ms = catch_up(&state, with.requests - with.errors).await;
    server.abort();
    db.delete_webhook(&hook.id).await?;
    let r = state.lock().unwrap_or_else(|p| p.into_inner());
    Ok(WebhookReport {
        creates_without: without.requests_per_second,
        creates_with: with.requests_per_second,
        ratio: if without.requests_per_second > 0.0 {
            with.requests_per_second / without.requests_per_second
        } else {
            0.0
        },
        delivered: r.delivered,
        lag_p50_ms: r.lags.value_at_quantile(0.5),
        lag_p99_ms: r.lags.value_at_quantile(0.99),
        lag_max_ms: r.lags.max(),
        catch_up_ms,
    })
}

#[derive(Debug, Serialize)]
pub struct CycleReport {
    pub users: usize,
    pub groups: usize,
    /// The simulator's initial cycle on a tenant without an endpoint, then
    /// on another tenant with one: wall time and SCIM requests per second.
    pub seconds_without: f64,
    pub requests_per_second_without: f64,
    pub seconds_with: f64,
    pub requests_per_second_with: f64,
    pub delivered: u64,
    pub lag_p50_ms: u64,
    pub lag_p99_ms: u64,
    pub lag_max_ms: u64,
    pub catch_up_ms: u64,
}

/// The simulator's initial cycle (Entra's requests, eight in flight) of
/// `users` and `groups`, on a fresh tenant without a webhook, then on a
/// fresh tenant whose events go to one.
pub async fn cycle(
    db: &impl ScratchDatabase,
    scim: &str,
    users: usize,
    groups: usize,
) -> anyhow::Result<CycleReport> {
    use crate::sim;
    let options = |token: String| {
        let mut o = sim::Options::new(scim.to_string(), sim::AuthMode::SecretToken { token });
        o.users = users;
        o.groups = groups;
        o.incremental_fraction = 0.0;
        o
    };
    let Tenant { token, .. } = db.tenant("cycle-without", "cycle-without").await?;
    let without = sim::run(options(token)).await?;
    eprintln!(
        "cycle of {users} users, {groups} groups without a webhook: {:.1} s, {} failed requests",
        without.wall_ms / 1000.0,
        without.failed_requests
    );

    let Tenant { id: tenant, token } = db.tenant("cycle-with", "cycle-with").await?;
    let (url, state, server) = start_receiver().await?;
    let hook = db.create_webhook(Some(&tenant), &url).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let with = sim::run(options(token)).await?;
    let events = db.latest_event().await?;
    let expected = events - hook.start_after;
    eprintln!(
        "cycle of {users} users, {groups} groups with a webhook: {:.1} s, {} failed requests",
        with.wall_ms / 1000.0,
        with.failed_requests
    );
    let catch_up_ms = catch_up(&state, expected.max(0) as u64).await;
    server.abort();
    db.delete_webhook(&hook.id).await?;
    let r = state.lock().unwrap_or_else(|p| p.into_inner());
    Ok(CycleReport {
        users,
        groups,
        seconds_without: without.wall_ms / 1000.0,
        requests_per_second_without: without.requests_per_second,
        seconds_with: with.wall_ms / 1000.0,
        requests_per_second_with: with.requests_per_second,
        delivered: r.delivered,
        lag_p50_ms: r.lags.value_at_quantile(0.5),
        lag_p99_ms: r.lags.value_at_quantile(0.99),
        lag_max_ms: r.lags.max(),
        catch_up_ms,
    })
}
