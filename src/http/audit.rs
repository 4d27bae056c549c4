//! The SCIM request log: every SCIM request lands in the tenant's activity
//! log. Writes are recorded by `provision` in the same transaction as the
//! change; everything else (reads, searches, discovery, and writes rejected
//! before they reached `provision`) is recorded by the [`scim_audit`]
//! middleware here, after the response, and written by the
//! [`ActivityWriter`] in batches off the request path, so that Entra's hot
//! read path never waits for a write.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::{mpsc, oneshot};

use super::AppState;
use crate::metrics::Metrics;
use crate::store::activity::{self, Actor, Entry};
use crate::store::{Db, now};

/// Entries waiting to be written; past this many, new ones are dropped (and
/// counted in the logs) rather than slowing requests down.
const QUEUE: usize = 20_000;
/// ... or past this many bytes (a burst of the longest paths and filters
/// cannot hold more memory than this).
const QUEUE_BYTES: i64 = 8 * 1024 * 1024;
/// Longest path (with its query) and filter kept in an entry; longer ones
/// are cut, marked with `…`.
const MAX_PATH: usize = 1024;
const MAX_FILTER: usize = 1024;

/// `text` cut to at most `max` bytes on a character boundary, marked `…`
/// when cut.
fn capped(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}
const BATCH: usize = 500;
const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// Filled by the bearer-token extractor with who is calling, so the
/// middleware can attribute the request to a tenant after the handler ran;
/// and flagged by write handlers when they hand the request to `provision`,
/// which records every outcome itself.
#[derive(Debug, Clone, Default)]
pub struct CallerSlot(Arc<Slot>);

#[derive(Debug, Default)]
struct Slot {
    caller: Mutex<Option<(String, Actor)>>,
    recorded: AtomicBool,
}

impl CallerSlot {
    pub fn set(&self, tenant_id: &str, actor: &Actor) {
        if let Ok(mut slot) = self.0.caller.lock() {
            *slot = Some((tenant_id.to_string(), actor.clone()));
        }
    }

    /// The request goes to `provision` now: it records the outcome.
    pub fn recorded_by_provision(&self) {
        self.0.recorded.store(true, Ordering::Relaxed);
    }

    /// The caller's tenant, however the request is recorded.
    fn tenant(&self) -> Option<String> {
        self.0
            .caller
            .lock()
            .ok()
            .and_then(|s| s.as_ref().map(|(t, _)| t.clone()))
    }

    fn take(&self) -> Option<(String, Actor)> {
        if self.0.recorded.load(Ordering::Relaxed) {
            return None;
        }
        self.0.caller.lock().ok().and_then(|mut s| s.take())
    }
}

/// Writes read-log entries in the background.
pub struct ActivityWriter {
    tx: mpsc::Sender<(String, Entry)>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    done: Mutex<Option<tokio::task::JoinHandle<()>>>,
    metrics: Arc<Metrics>,
}

impl ActivityWriter {
    pub fn start(db: Db, metrics: Arc<Metrics>) -> ActivityWriter {
        let (tx, mut rx) = mpsc::channel::<(String, Entry)>(QUEUE);
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let queue_metrics = metrics.clone();
        let handle = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            loop {
                let stopping = tokio::select! {
                    got = rx.recv_many(&mut batch, BATCH) => got == 0,
                    _ = &mut stop_rx => true,
                };
                if stopping {
                    while let Ok(e) = rx.try_recv() {
                        batch.push(e);
                    }
                }
                // A full batch means more are waiting: write on without a
                // pause, so the log keeps up with any request rate the
                // database can absorb. Otherwise wait a little to gather
                // the next batch rather than writing one row at a time.
                let more_waiting = batch.len() >= BATCH;
                if !batch.is_empty() {
                    let entries = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    let count = entries.len();
                    let bytes: usize = entries.iter().map(|(_, e)| e.approx_bytes()).sum();
                    queue_metrics.activity_log_queue_bytes.dec_by(bytes as i64);
                    if let Err(e) = activity::record_batch(&db, entries).await {
                        tracing::error!(error = %e, entries = count, "could not write the read log");
                    }
                }
                if stopping {
                    break;
                }
                if !more_waiting {
                    tokio::time::sleep(FLUSH_EVERY).await;
                }
            }
        });
        ActivityWriter {
            tx,
            stop: Mutex::new(Some(stop_tx)),
            done: Mutex::new(Some(handle)),
            metrics,
        }
    }

    pub fn log(&self, entry: Entry) {
        let bytes = entry.approx_bytes() as i64;
        if self.metrics.activity_log_queue_bytes.get() + bytes > QUEUE_BYTES {
            self.metrics.activity_log_dropped.inc();
            tracing::warn!("the read log is behind; an entry was dropped");
            return;
        }
        match self.tx.try_send((now(), entry)) {
            Ok(()) => {
                self.metrics.activity_log_queue_bytes.inc_by(bytes);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.activity_log_dropped.inc();
                tracing::warn!("the read log is behind; an entry was dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Writes what is queued and stops.
    pub async fn close(&self) {
        if let Some(stop) = self.stop.lock().ok().and_then(|mut s| s.take()) {
            let _ = stop.send(());
        }
        let handle = self.done.lock().ok().and_then(|mut d| d.take());
        if let Some(h) = handle {
            let _ = h.await;
        }
    }
}

/// The operation name of a SCIM request, from its method and path.
fn operation(method: &Method, path: &str) -> &'static str {
    let rest = path.strip_prefix(crate::paths::SCIM_PREFIX).unwrap_or(path);
    let mut parts = rest.split('/').filter(|s| !s.is_empty());
    let names: &[&'static str; 8] = match parts.next() {
        Some("Users") => &[
            "user.search",
            "user.list",
            "user.get",
            "user.create",
            "user.replace",
            "user.patch",
            "user.delete",
            "user.other",
        ],
        Some("Groups") => &[
            "group.search",
            "group.list",
            "group.get",
            "group.create",
            "group.replace",
            "group.patch",
            "group.delete",
            "group.other",
        ],
        Some(".search") => return "search",
        Some("Schemas" | "ResourceTypes" | "ServiceProviderConfig") => return "discovery",
        _ => return "unknown",
    };
    let verb = match (method.as_str(), parts.next()) {
        ("POST", Some(".search")) => 0,
        ("GET", None) => 1,
        ("GET", Some(_)) => 2,
        ("POST", None) => 3,
        ("PUT", _) => 4,
        ("PATCH", _) => 5,
        ("DELETE", _) => 6,
        _ => 7,
    };
    names[verb]
}

/// Records each authenticated SCIM request that `provision` did not record.
pub async fn scim_audit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let slot = CallerSlot::default();
    req.extensions_mut().insert(slot.clone());
    // Cheap copies (shared buffers): turned into text only when logged.
    let method = req.method().clone();
    let uri = req.uri().clone();
    let request_id = req.headers().get(&super::basics::X_REQUEST_ID).cloned();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let path = uri.path();
    let op = operation(&method, path);
    if let Some(tenant_id) = slot.tenant() {
        let tenant = state.tenant_slug(&tenant_id).await;
        tracing::Span::current().record("tenant", tenant);
        let (resource, operation) = op.split_once('.').unwrap_or(("none", op));
        let outcome = match status {
            500.. => "server_error",
            400.. => "client_error",
            _ => "success",
        };
        state
            .metrics()
            .scim_operations
            .get_or_create(&crate::metrics::ScimLabels {
                tenant,
                resource,
                operation,
                outcome,
            })
            .inc();
    }
    let Some((tenant_id, actor)) = slot.take() else {
        // Recorded by provision, or unauthenticated (no tenant to tell).
        return resp;
    };
    let mut entry = Entry::new(&tenant_id, &actor, op, status);
    let id = path
        .strip_prefix(crate::paths::SCIM_PREFIX)
        .and_then(|p| p.split('/').filter(|s| !s.is_empty()).nth(1))
        .filter(|s| *s != ".search");
    if let (Some(id), Some((kind, _))) = (id, op.split_once('.')) {
        entry.resource_type = Some(if kind == "user" { "User" } else { "Group" }.to_string());
        entry.resource_id = Some(capped(id.to_string(), 128));
    }
    let filter = uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k.eq_ignore_ascii_case("filter"))
            .map(|(_, v)| v.into_owned())
    });
    if let Some(f) = filter {
        entry.detail = Some(format!("filter: {}", capped(f, MAX_FILTER)));
    } else if status >= 400 {
        entry.detail = Some(format!("answered {status}"));
    }
    entry.method = Some(method.as_str().to_string());
    entry.path = Some(capped(
        uri.path_and_query()
            .map_or_else(|| path.to_string(), |pq| pq.as_str().to_string()),
        MAX_PATH,
    ));
    entry.request_id = request_id.and_then(|v| v.to_str().ok().map(str::to_string));
    entry.latency_ms = Some(started.elapsed().as_millis() as i64);
    state.activity().log(entry);
    resp
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::operation;
    use super::{MAX_PATH, capped};

    #[test]
    fn long_paths_are_cut_on_a_character_boundary() {
        assert_eq!(capped("short".into(), 10), "short");
        assert_eq!(capped("ééé".into(), 3), "é…");
        assert_eq!(
            capped("x".repeat(5000), MAX_PATH).len(),
            MAX_PATH + '…'.len_utf8()
        );
    }

    #[test]
    fn operations_are_named_from_method_and_path() {
        let op = |m: &str, p: &str| operation(&Method::from_bytes(m.as_bytes()).unwrap(), p);
        assert_eq!(op("GET", "/scim/v2/Users"), "user.list");
        assert_eq!(op("GET", "/scim/v2/Users/abc"), "user.get");
        assert_eq!(op("POST", "/scim/v2/Groups/.search"), "group.search");
        assert_eq!(op("POST", "/scim/v2/.search"), "search");
        assert_eq!(op("GET", "/scim/v2/Schemas/urn:x"), "discovery");
        assert_eq!(op("PATCH", "/scim/v2/Groups/g1"), "group.patch");
        assert_eq!(op("POST", "/scim/v2/Users"), "user.create");
        assert_eq!(op("PUT", "/scim/v2/Users/u1"), "user.replace");
        assert_eq!(op("DELETE", "/scim/v2/Groups/g1"), "group.delete");
        assert_eq!(op("GET", "/scim/v2/Other"), "unknown");
    }
}
