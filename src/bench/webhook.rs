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
use crate::store::{Db, webhooks};

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

/// Measures creates without an endpoint (`without`, measured just before),
/// registers one, measures creates again and waits (bounded) for every
/// event to arrive.
pub async fn measure(
    db: &Db,
    client: &reqwest::Client,
    base: &str,
    token: &str,
    without: &LoadResult,
    max_duration: Duration,
) -> anyhow::Result<WebhookReport> {
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
    webhooks::create(db, None, &url, None, &crate::webhooks::new_secret()).await?;
    // The server's worker gives new endpoints their streams once a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let with = load::creates(
        client,
        base,
        token,
        "create user c=8, one webhook",
        max_duration,
    )
    .await;
    eprintln!("{}", with.line());
    let done = Instant::now();
    let expected = with.requests - with.errors;
    let deadline = done + Duration::from_secs(120);
    while state.lock().unwrap_or_else(|p| p.into_inner()).delivered < expected
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let catch_up_ms = done.elapsed().as_millis() as u64;
    server.abort();
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
