//! Webhooks: the event log pushed to the vendor's endpoints, signed as
//! Standard Webhooks (<https://www.standardwebhooks.com/>), at least once
//! and in order per endpoint and tenant.
//!
//! Each instance runs a [`spawn`]ed worker. It leases due streams (one per
//! endpoint and tenant, see `store::webhooks`), sends their events one
//! after the other — the next only once the previous was acknowledged with
//! a 2xx or given up — and saves how far it came with the record of each
//! attempt. A failed attempt is retried with exponential backoff and
//! jitter for about three days (`Retry-After` honoured on 429 and 503);
//! then the event is given up, and an endpoint that failed the whole time
//! is disabled. A crashed instance's lease runs out and another instance
//! (or the restarted one) sends from the last saved point: at least once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use rand::Rng as _;
use sha2::Sha256;

use crate::events::{self, event_id};
use crate::store::events::{self as event_log, Filter, Stored};
use crate::store::webhooks::{self as store, Delivery, Progress, Stream, Webhook};
use crate::store::{Db, SqlError, format_time, now};

/// Prefix of webhook secrets (the Standard Webhooks convention).
pub const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
/// base64-decoded part of the secret after `whsec_`.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// How deliveries are made.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Longest wait for one attempt's answer.
    pub attempt_timeout: Duration,
    /// The waits before each retry of an event; when they run out, the
    /// event is given up.
    pub retry_delays: Vec<Duration>,
    /// How long an instance holds a stream without saving progress; a
    /// crashed instance's streams are taken over after it.
    pub lease: Duration,
    /// How often the worker looks for due streams.
    pub poll: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        let s = Duration::from_secs;
        Settings {
            attempt_timeout: s(10),
            // 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, then
            // every 12 h: about 3 days and 4 hours in all.
            retry_delays: [5, 30, 120, 600, 1800, 3600, 7200, 14_400, 28_800]
                .into_iter()
                .chain([43_200; 5])
                .map(s)
                .collect(),
            lease: s(30),
            poll: Duration::from_millis(50),
        }
    }
}

impl Settings {
    /// The whole retry window: an endpoint failing for this long is disabled.
    pub fn window(&self) -> Duration {
        self.retry_delays.iter().sum()
    }

    /// The wait before retry number `n` (1-based), ±20 % so that endpoints
    /// coming back are not hit by every retry at once.
    fn delay(&self, n: i64) -> Duration {
        let base = self
            .retry_delays
            .get((n.max(1) - 1) as usize)
            .copied()
            .unwrap_or_default();
        base.mul_f64(rand::rng().random_range(0.8..1.2))
    }
}

/// Most bytes of a response body read; the first of them are kept.
const RESPONSE_READ: usize = 4096;
const RESPONSE_KEPT: usize = 1024;
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(12 * 3600);

/// What one attempt got.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Option<u16>,
    pub latency: Duration,
    pub error: Option<String>,
    pub response: Option<String>,
    pub retry_after: Option<Duration>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    fn into_delivery(self, mut d: Delivery, outcome: &str) -> Delivery {
        d.outcome = outcome.to_string();
        d.status = self.status.map(i64::from);
        d.latency_ms = Some(self.latency.as_millis() as i64);
        d.error = self.error;
        d.response = self.response;
        d
    }
}

/// The HTTP client of deliveries: no redirects followed, bounded waits.
pub fn client(settings: &Settings) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.attempt_timeout)
        .connect_timeout(settings.attempt_timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("scimgate-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the webhook HTTP client builds")
}

/// Sends one message: the body with the Standard Webhooks headers.
pub async fn send(client: &reqwest::Client, hook: &Webhook, msg_id: &str, body: String) -> Outcome {
    let timestamp = chrono::Utc::now().timestamp();
    let at = now();
    let signature = hook
        .signing_secrets(&at)
        .into_iter()
        .filter_map(|s| sign(s, msg_id, timestamp, body.as_bytes()))
        .collect::<Vec<_>>()
        .join(" ");
    let started = Instant::now();
    let sent = client
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let mut resp = match sent {
        Ok(r) => r,
        Err(e) => {
            return Outcome {
                status: None,
                latency: started.elapsed(),
                error: Some(describe(&e)),
                response: None,
                retry_after: None,
            };
        }
    };
    let status = resp.status().as_u16();
    let retry_after = if matches!(status, 429 | 503) {
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after)
    } else {
        None
    };
    let mut body = Vec::new();
    let mut error = None;
    while body.len() < RESPONSE_READ {
        match resp.chunk().await {
            Ok(Some(c)) => body.extend_from_slice(&c),
            Ok(None) => break,
            Err(e) => {
                error = Some(describe(&e));
                break;
            }
        }
    }
    body.truncate(RESPONSE_KEPT);
    let text = String::from_utf8_lossy(&body).into_owned();
    Outcome {
        status: Some(status),
        latency: started.elapsed(),
        error: error.or_else(|| {
            (!(200..300).contains(&status)).then(|| format!("the endpoint answered {status}"))
        }),
        response: (!text.is_empty()).then_some(text),
        retry_after,
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer within the attempt timeout".to_string()
    } else if e.is_connect() {
        "could not connect to the endpoint".to_string()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }
}

/// `Retry-After` as seconds or an HTTP date, capped.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let wait = match v.trim().parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let when = chrono::DateTime::parse_from_rfc2822(v.trim()).ok()?;
            (when.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The running delivery worker of one instance.
pub struct Deliveries {
    task: tokio::task::JoinHandle<()>,
    owner: String,
    db: Db,
}

impl Deliveries {
    /// Stops at once and hands this instance's streams back, so another
    /// instance (or this one restarted) goes on without waiting for the
    /// leases to run out. An attempt cut off here is sent again: at least
    /// once.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        if let Err(e) = store::release_all(&self.db, &self.owner).await {
            tracing::warn!(error = %e, "could not hand back the webhook streams; they are taken over when their leases run out");
        }
    }
}

/// Starts the delivery worker.
pub fn spawn(db: Db, settings: Settings) -> Deliveries {
    let owner = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    let task = tokio::spawn(run(db.clone(), settings, owner.clone()));
    Deliveries { task, owner, db }
}

async fn run(db: Db, settings: Settings, owner: String) {
    {
        let worker = Arc::new(Worker {
            owner,
            client: client(&settings),
            settings,
            db,
            busy: Mutex::new(HashSet::new()),
        });
        let mut tasks = tokio::task::JoinSet::new();
        let mut last_streams = None::<Instant>;
        let mut endpoints = 0;
        loop {
            if last_streams.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                match worker.ensure_streams().await {
                    Ok(n) => endpoints = n,
                    Err(e) => {
                        tracing::warn!(error = %e, "preparing webhook streams failed; retrying")
                    }
                }
                last_streams = Some(Instant::now());
            }
            // Without an enabled endpoint there is nothing to look for.
            if endpoints > 0
                && let Err(e) = worker.clone().start_due(&mut tasks).await
            {
                tracing::warn!(error = %e, "looking for due webhook deliveries failed");
            }
            while tasks.try_join_next().is_some() {}
            tokio::time::sleep(worker.settings.poll).await;
        }
    }
}

struct Worker {
    owner: String,
    client: reqwest::Client,
    settings: Settings,
    db: Db,
    /// Streams this instance is sending now.
    busy: Mutex<HashSet<(String, String)>>,
}

/// Streams sent at once by one instance.
const CONCURRENT_STREAMS: usize = 16;
/// Events read per query, and attempts saved per transaction at most.
const BATCH: i64 = 100;
/// Progress is saved at least this often while a stream is being sent.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// Saves a stream's progress beside the sending, one save at a time and in
/// order: the next events go out while the last batch's attempts are
/// written (on SQLite the writer may be busy with provisioning for a
/// while). At most one save waits behind the running one, so a slow
/// database slows the sending instead of queueing without bound.
struct Saver {
    queue: tokio::sync::mpsc::Sender<(Progress, Vec<Delivery>)>,
    task: tokio::task::JoinHandle<Result<bool, SqlError>>,
    /// Set when a save found the lease gone: another instance has the
    /// stream now, so this one stops.
    lost: Arc<std::sync::atomic::AtomicBool>,
}

impl Saver {
    fn start(db: Db, stream: Stream, owner: String) -> Saver {
        let (queue, mut saves) = tokio::sync::mpsc::channel::<(Progress, Vec<Delivery>)>(1);
        let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = lost.clone();
        let task = tokio::spawn(async move {
            while let Some((p, records)) = saves.recv().await {
                if !store::save_progress(&db, &stream, &owner, &p, &records).await? {
                    flag.store(true, std::sync::atomic::Ordering::Release);
                    return Ok(false);
                }
            }
            Ok(true)
        });
        Saver { queue, task, lost }
    }

    fn lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Queues a save; false when the saver has stopped (lease lost or a
    /// database error, which [`Saver::finish`] returns).
    async fn save(&self, p: Progress, records: Vec<Delivery>) -> bool {
        self.queue.send((p, records)).await.is_ok()
    }

    /// Waits for every queued save; whether the lease was still held.
    async fn finish(self) -> Result<bool, SqlError> {
        drop(self.queue);
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(SqlError::invalid(format!("the progress saver failed: {e}"))),
        }
    }
}

impl Worker {
    /// Gives every enabled endpoint its streams; returns how many there are.
    async fn ensure_streams(&self) -> Result<usize, SqlError> {
        let mut enabled = 0;
        for hook in store::list(&self.db).await? {
            if hook.disabled_at.is_none() {
                store::ensure_streams(&self.db, &hook).await?;
                enabled += 1;
            }
        }
        Ok(enabled)
    }

    fn count(&self, outcome: &'static str) {
        self.db
            .metrics()
            .webhook_deliveries
            .get_or_create(&crate::metrics::OutcomeLabel { outcome })
            .inc();
    }

    fn lease_until(&self) -> String {
        format_time(chrono::Utc::now() + self.settings.lease)
    }

    async fn start_due(
        self: Arc<Self>,
        tasks: &mut tokio::task::JoinSet<()>,
    ) -> Result<(), SqlError> {
        let free = CONCURRENT_STREAMS.saturating_sub(tasks.len());
        if free == 0 {
            return Ok(());
        }
        let at = now();
        for s in store::due(&self.db, &at, free as i64).await? {
            let key = (s.webhook_id.clone(), s.tenant_id.clone());
            if self
                .busy
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&key)
            {
                continue;
            }
            if !store::lease(&self.db, &s, &self.owner, &at, &self.lease_until()).await? {
                continue;
            }
            self.busy
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key.clone());
            let worker = self.clone();
            tasks.spawn(async move {
                if let Err(e) = worker.deliver(&s).await {
                    tracing::warn!(webhook = %s.webhook_id, error = %e, "webhook delivery stopped; it resumes when the lease runs out");
                }
                worker
                    .busy
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&key);
            });
        }
        Ok(())
    }

    /// Sends a leased stream's events until none is left or one fails.
    async fn deliver(&self, s: &Stream) -> Result<(), SqlError> {
        let Some(hook) = store::get(&self.db, &s.webhook_id).await? else {
            return Ok(());
        };
        let mut through = s.delivered_through;
        let mut attempts = s.attempts;
        let mut failing = hook.failing_since.is_some();
        let mut records: Vec<Delivery> = Vec::new();
        let mut saved = Instant::now();
        let saver = Saver::start(self.db.clone(), s.clone(), self.owner.clone());
        loop {
            let page = event_log::page(
                &self.db,
                &Filter {
                    after: through,
                    limit: BATCH,
                    tenant_id: Some(&s.tenant_id),
                    types: &[],
                    until: None,
                },
            )
            .await?;
            if page.is_empty() {
                let done = Progress {
                    delivered_through: through,
                    attempts,
                    next_attempt_at: now(),
                    lease_until: None,
                };
                saver.save(done, records).await;
                saver.finish().await?;
                return Ok(());
            }
            for e in &page {
                if saver.lost() {
                    return saver.finish().await.map(|_| ());
                }
                if hook.accepts(&e.kind) {
                    let outcome =
                        send(&self.client, &hook, &event_id(e.position), envelope(e)?).await;
                    let mut d = Delivery::new(&hook.id, Some(&s.tenant_id), e.position, &e.kind);
                    d.attempt = attempts + 1;
                    if !outcome.ok() {
                        // What was delivered is saved first, in order.
                        if !saver.finish().await? {
                            return Ok(());
                        }
                        return self
                            .failed(s, &hook, e, outcome, d, through, attempts + 1, records)
                            .await;
                    }
                    if failing {
                        store::set_failing(&self.db, &hook.id, false).await?;
                        failing = false;
                    }
                    self.count("delivered");
                    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(&e.occurred_at) {
                        let lag = chrono::Utc::now() - at.with_timezone(&chrono::Utc);
                        self.db
                            .metrics()
                            .webhook_delivery_lag
                            .observe(lag.num_milliseconds().max(0) as f64 / 1000.0);
                    }
                    records.push(outcome.into_delivery(d, "delivered"));
                    attempts = 0;
                }
                // Delivered, or not a type this endpoint takes.
                through = e.position;
                // Saved often enough that the lease never runs out while
                // this instance is still sending.
                if records.len() as i64 >= BATCH || saved.elapsed() >= SAVE_EVERY {
                    let p = Progress {
                        delivered_through: through,
                        attempts,
                        next_attempt_at: now(),
                        lease_until: Some(self.lease_until()),
                    };
                    if !saver.save(p, std::mem::take(&mut records)).await {
                        return saver.finish().await.map(|_| ());
                    }
                    saved = Instant::now();
                }
            }
        }
    }

    /// After a failed attempt: schedule the retry, or give the event up
    /// (and disable an endpoint that failed for the whole window).
    #[allow(clippy::too_many_arguments)]
    async fn failed(
        &self,
        s: &Stream,
        hook: &Webhook,
        e: &Stored,
        outcome: Outcome,
        d: Delivery,
        through: i64,
        attempts: i64,
        mut records: Vec<Delivery>,
    ) -> Result<(), SqlError> {
        store::set_failing(&self.db, &hook.id, true).await?;
        let retry_after = outcome.retry_after;
        let gave_up = attempts > self.settings.retry_delays.len() as i64;
        self.count(if gave_up { "gave_up" } else { "failed" });
        let (through, attempts, wait) = if gave_up {
            records.push(outcome.into_delivery(d, "gave_up"));
            (e.position, 0, Duration::ZERO)
        } else {
            records.push(outcome.into_delivery(d, "failed"));
            let wait = retry_after
                .unwrap_or_default()
                .max(self.settings.delay(attempts));
            (through, attempts, wait)
        };
        let p = Progress {
            delivered_through: through,
            attempts,
            next_attempt_at: format_time(chrono::Utc::now() + wait),
            lease_until: None,
        };
        store::save_progress(&self.db, s, &self.owner, &p, &records).await?;
        if gave_up {
            tracing::warn!(webhook = %hook.id, event = %event_id(e.position), "gave up delivering an event after every retry");
            let since = store::get(&self.db, &hook.id)
                .await?
                .and_then(|h| h.failing_since);
            let window = chrono::Duration::from_std(self.settings.window()).unwrap_or_default();
            if since.is_some_and(|t| t <= format_time(chrono::Utc::now() - window)) {
                let reason = format!(
                    "every delivery failed for the whole retry window ({} h); the last: {}",
                    self.settings.window().as_secs() / 3600,
                    records
                        .last()
                        .and_then(|r| r.error.clone())
                        .unwrap_or_default()
                );
                store::disable(&self.db, &hook.id, &reason).await?;
                tracing::warn!(webhook = %hook.id, url = %hook.url, "webhook endpoint disabled: it failed for the whole retry window");
            }
        }
        Ok(())
    }
}

fn envelope(e: &Stored) -> Result<String, SqlError> {
    events::envelope(e).map_err(SqlError::decode)
}

/// Sends a `webhook.test` message now (outside the endpoint's stream) and
/// records the attempt.
pub async fn send_test(db: &Db, hook: &Webhook, settings: &Settings) -> Result<Delivery, SqlError> {
    let msg_id = format!("msg_test_{}", uuid::Uuid::new_v4().simple());
    let body = serde_json::json!({
        "id": msg_id,
        "type": "webhook.test",
        "tenant": null,
        "occurred_at": now(),
        "data": {"webhook_id": hook.id, "url": hook.url},
    })
    .to_string();
    let outcome = send(&client(settings), hook, &msg_id, body).await;
    let d = outcome.into_delivery(Delivery::new(&hook.id, None, 0, "webhook.test"), "test");
    store::record(db, &d).await?;
    Ok(d)
}

/// Sends the event of an earlier attempt again, now, with the same
/// `webhook-id` (receivers that deduplicate see it as the same message),
/// and records the attempt. `None` when the event was pruned.
pub async fn redeliver(
    db: &Db,
    earlier: &Delivery,
    settings: &Settings,
) -> Result<Option<Delivery>, SqlError> {
    let Some(hook) = store::get(db, &earlier.webhook_id).await? else {
        return Ok(None);
    };
    let found = event_log::page(
        db,
        &Filter {
            after: earlier.event_position - 1,
            limit: 1,
            tenant_id: earlier.tenant_id.as_deref(),
            types: &[],
            until: Some(earlier.event_position),
        },
    )
    .await?;
    let Some(e) = found.first() else {
        return Ok(None);
    };
    let outcome = send(
        &client(settings),
        &hook,
        &event_id(e.position),
        envelope(e)?,
    )
    .await;
    let d = outcome.into_delivery(
        Delivery::new(&hook.id, earlier.tenant_id.as_deref(), e.position, &e.kind),
        "redelivered",
    );
    store::record(db, &d).await?;
    Ok(Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            sig.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn secrets_are_prefixed_random_and_decodable() {
        let a = new_secret();
        assert!(a.starts_with("whsec_"));
        assert_ne!(a, new_secret());
        assert!(sign(&a, "m", 1, b"x").is_some());
    }

    #[test]
    fn retries_last_about_three_days() {
        let s = Settings::default();
        assert!(s.retry_delays[0] <= Duration::from_secs(5));
        let hours = s.window().as_secs() / 3600;
        assert!((70..=80).contains(&hours), "{hours} h");
        for n in 1..=s.retry_delays.len() as i64 {
            let d = s.delay(n);
            let base = s.retry_delays[(n - 1) as usize];
            assert!(d >= base.mul_f64(0.8) && d <= base.mul_f64(1.2));
        }
    }

    #[test]
    fn retry_after_is_read_and_capped() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
