//! Webhook endpoints, their delivery streams (one per endpoint and tenant,
//! leased by one instance at a time) and the record of every attempt
//! (`migrations/*/0011_webhooks.sql`).

use serde::Serialize;
use sqlx::Row as _;

use super::sql::value_rows;
use super::tx::{Arg, args};
use super::{Db, SqlError, now};

#[derive(Debug, Clone, Serialize)]
pub struct Webhook {
    pub id: String,
    pub tenant_id: Option<String>,
    pub url: String,
    /// `None`: every type.
    pub event_types: Option<Vec<String>>,
    #[serde(skip)]
    pub secret: String,
    #[serde(skip)]
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<String>,
    pub created_at: String,
    #[serde(skip)]
    pub start_after: i64,
    pub failing_since: Option<String>,
    pub disabled_at: Option<String>,
    pub disabled_reason: Option<String>,
}

impl Webhook {
    pub fn accepts(&self, event_type: &str) -> bool {
        self.event_types
            .as_ref()
            .is_none_or(|t| t.iter().any(|x| x == event_type))
    }

    /// The secrets that sign a delivery now: the current one, and the
    /// previous one during a rotation.
    pub fn signing_secrets(&self, at: &str) -> Vec<&str> {
        let mut out = vec![self.secret.as_str()];
        if let (Some(p), Some(until)) = (&self.previous_secret, &self.previous_secret_until)
            && until.as_str() > at
        {
            out.push(p);
        }
        out
    }
}

const COLUMNS: &str =
    "id, tenant_id, url, event_types, secret, previous_secret, previous_secret_until,
     created_at, start_after, failing_since, disabled_at, disabled_reason";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Webhook, SqlError> {
    let types: Option<String> = row.try_get("event_types")?;
    Ok(Webhook {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        url: row.try_get("url")?,
        event_types: types.map(|t| t.split(',').map(str::to_string).collect()),
        secret: row.try_get("secret")?,
        previous_secret: row.try_get("previous_secret")?,
        previous_secret_until: row.try_get("previous_secret_until")?,
        created_at: row.try_get("created_at")?,
        start_after: row.try_get("start_after")?,
        failing_since: row.try_get("failing_since")?,
        disabled_at: row.try_get("disabled_at")?,
        disabled_reason: row.try_get("disabled_reason")?,
    })
}

/// Registers an endpoint; it receives the events committed from now on.
pub async fn create(
    db: &Db,
    tenant_id: Option<&str>,
    url: &str,
    event_types: Option<&[String]>,
    secret: &str,
) -> Result<Webhook, SqlError> {
    let hook = Webhook {
        id: format!("wh_{}", uuid::Uuid::new_v4().simple()),
        tenant_id: tenant_id.map(str::to_string),
        url: url.to_string(),
        event_types: event_types.map(<[String]>::to_vec),
        secret: secret.to_string(),
        previous_secret: None,
        previous_secret_until: None,
        created_at: now(),
        start_after: {
            // What has committed by now is before the endpoint's time.
            super::events::publish_committed(db).await?;
            super::events::latest(db).await?
        },
        failing_since: None,
        disabled_at: None,
        disabled_reason: None,
    };
    let event_types = hook.event_types.as_ref().map(|t| t.join(","));
    db.execute(
        "INSERT INTO webhooks (id, tenant_id, url, event_types, secret, created_at, start_after)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            &hook.id,
            hook.tenant_id.as_deref(),
            &hook.url,
            &event_types,
            &hook.secret,
            &hook.created_at,
            hook.start_after,
        ],
    )
    .await?;
    Ok(hook)
}

pub async fn list(db: &Db) -> Result<Vec<Webhook>, SqlError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM webhooks ORDER BY created_at, id"
    ))
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Webhook>, SqlError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.reader())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Deletes an endpoint with its streams and record. False when none.
pub async fn delete(db: &Db, id: &str) -> Result<bool, SqlError> {
    let mut tx = db.begin().await?;
    for table in ["webhook_deliveries", "webhook_streams"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE webhook_id = $1"),
            args![id],
        )
        .await?;
    }
    let n = tx
        .execute("DELETE FROM webhooks WHERE id = $1", args![id])
        .await?;
    tx.commit().await?;
    Ok(n > 0)
}

/// A new secret; the current one keeps signing until `previous_until`.
pub async fn rotate_secret(
    db: &Db,
    id: &str,
    secret: &str,
    previous_until: &str,
) -> Result<bool, SqlError> {
    let n = db
        .execute(
            "UPDATE webhooks SET previous_secret = secret, previous_secret_until = $1, secret = $2
             WHERE id = $3",
            args![previous_until, secret, id],
        )
        .await?;
    Ok(n > 0)
}

/// Turns a disabled endpoint on again: delivery resumes where it stopped.
pub async fn enable(db: &Db, id: &str) -> Result<bool, SqlError> {
    let n = db
        .execute(
            "UPDATE webhooks SET disabled_at = NULL, disabled_reason = NULL, failing_since = NULL
             WHERE id = $1",
            args![id],
        )
        .await?;
    db.execute(
        "UPDATE webhook_streams SET attempts = 0, next_attempt_at = $1 WHERE webhook_id = $2",
        args![&now(), id],
    )
    .await?;
    Ok(n > 0)
}

/// Records the first failure of a run of failures (no-op while one runs),
/// or clears it after a success.
pub async fn set_failing(db: &Db, id: &str, failing: bool) -> Result<(), SqlError> {
    if failing {
        db.execute(
            "UPDATE webhooks SET failing_since = $1 WHERE id = $2 AND failing_since IS NULL",
            args![&now(), id],
        )
        .await?;
    } else {
        db.execute(
            "UPDATE webhooks SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
            args![id],
        )
        .await?;
    }
    Ok(())
}

pub async fn disable(db: &Db, id: &str, reason: &str) -> Result<(), SqlError> {
    db.execute(
        "UPDATE webhooks SET disabled_at = $1, disabled_reason = $2 WHERE id = $3 AND disabled_at IS NULL",
        args![&now(), reason, id],
    )
    .await?;
    Ok(())
}

/// Gives an enabled endpoint a stream for each tenant it serves that has
/// none yet, starting after the endpoint's creation.
pub async fn ensure_streams(db: &Db, hook: &Webhook) -> Result<(), SqlError> {
    // Looked for with a read first: this runs every second, and on SQLite
    // even an insert of nothing takes the one writer.
    let missing = sqlx::query(
        "SELECT 1 FROM tenants t WHERE ($2 = '' OR t.id = $2)
           AND NOT EXISTS (SELECT 1 FROM webhook_streams s WHERE s.webhook_id = $1 AND s.tenant_id = t.id)
         LIMIT 1",
    )
    .bind(&hook.id)
    .bind(hook.tenant_id.as_deref().unwrap_or(""))
    .fetch_optional(db.reader())
    .await?;
    if missing.is_none() {
        return Ok(());
    }
    db.execute(
        "INSERT INTO webhook_streams (webhook_id, tenant_id, delivered_through, attempts, next_attempt_at)
         SELECT $1, t.id, $2, 0, $3 FROM tenants t
         WHERE ($4 = '' OR t.id = $4)
           AND EXISTS (SELECT 1 FROM webhooks w WHERE w.id = $1 AND w.disabled_at IS NULL)
           AND NOT EXISTS (SELECT 1 FROM webhook_streams s WHERE s.webhook_id = $1 AND s.tenant_id = t.id)
         ON CONFLICT DO NOTHING",
        args![
            &hook.id,
            hook.start_after,
            &now(),
            hook.tenant_id.as_deref().unwrap_or(""),
        ],
    )
    .await?;
    Ok(())
}

/// A stream ready for its next attempt.
#[derive(Debug, Clone)]
pub struct Stream {
    pub webhook_id: String,
    pub tenant_id: String,
    pub delivered_through: i64,
    pub attempts: i64,
}

/// Streams of enabled endpoints that have events to send, are due and
/// are not leased (or whose lease ran out).
pub async fn due(db: &Db, at: &str, limit: i64) -> Result<Vec<Stream>, SqlError> {
    let pos = super::events::pos(db.backend());
    let rows = sqlx::query(&format!(
        "SELECT s.webhook_id, s.tenant_id, s.delivered_through, s.attempts
         FROM webhook_streams s JOIN webhooks w ON w.id = s.webhook_id
         WHERE w.disabled_at IS NULL AND s.next_attempt_at <= $1
           AND (s.lease_until IS NULL OR s.lease_until < $1)
           AND EXISTS (SELECT 1 FROM events e WHERE e.tenant_id = s.tenant_id AND e.{pos} > s.delivered_through)
         ORDER BY s.next_attempt_at LIMIT $2"
    ))
    .bind(at)
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Stream {
                webhook_id: r.try_get("webhook_id")?,
                tenant_id: r.try_get("tenant_id")?,
                delivered_through: r.try_get("delivered_through")?,
                attempts: r.try_get::<i64, _>("attempts")?,
            })
        })
        .collect()
}

/// Takes a stream for `owner` until `until`, if nobody holds it and it has
/// not moved since it was read. False when another instance was quicker.
pub async fn lease(
    db: &Db,
    s: &Stream,
    owner: &str,
    at: &str,
    until: &str,
) -> Result<bool, SqlError> {
    let n = db
        .execute(
            "UPDATE webhook_streams SET lease_owner = $1, lease_until = $2
             WHERE webhook_id = $3 AND tenant_id = $4 AND delivered_through = $5
               AND (lease_until IS NULL OR lease_until < $6)",
            args![
                owner,
                until,
                &s.webhook_id,
                &s.tenant_id,
                s.delivered_through,
                at
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Hands back every stream `owner` holds (at shutdown).
pub async fn release_all(db: &Db, owner: &str) -> Result<u64, SqlError> {
    db.execute(
        "UPDATE webhook_streams SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
        args![owner],
    )
    .await
}

/// One attempt, as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: String,
    pub webhook_id: String,
    pub tenant_id: Option<String>,
    pub event_position: i64,
    pub event_type: String,
    pub attempt: i64,
    pub at: String,
    pub outcome: String,
    pub status: Option<i64>,
    pub latency_ms: Option<i64>,
    pub error: Option<String>,
    pub response: Option<String>,
}

impl Delivery {
    pub fn new(webhook_id: &str, tenant_id: Option<&str>, position: i64, event_type: &str) -> Self {
        Delivery {
            id: format!("whd_{}", uuid::Uuid::new_v4().simple()),
            webhook_id: webhook_id.to_string(),
            tenant_id: tenant_id.map(str::to_string),
            event_position: position,
            event_type: event_type.to_string(),
            attempt: 1,
            at: now(),
            outcome: String::new(),
            status: None,
            latency_ms: None,
            error: None,
            response: None,
        }
    }
}

/// Where a stream's delivery stands after some attempts.
#[derive(Debug, Clone)]
pub struct Progress {
    pub delivered_through: i64,
    pub attempts: i64,
    pub next_attempt_at: String,
    /// `Some`: keep the lease until then; `None`: release it.
    pub lease_until: Option<String>,
}

/// Saves a stream's progress and the attempts behind it, if `owner` still
/// holds the lease. False when it lost it (nothing is saved: another
/// instance sends from the last saved point, at least once).
pub async fn save_progress(
    db: &Db,
    s: &Stream,
    owner: &str,
    p: &Progress,
    attempts: &[Delivery],
) -> Result<bool, SqlError> {
    let mut tx = db.begin().await?;
    let n = tx
        .execute(
            "UPDATE webhook_streams SET delivered_through = $1, attempts = $2, next_attempt_at = $3,
                lease_owner = $4, lease_until = $5
             WHERE webhook_id = $6 AND tenant_id = $7 AND lease_owner = $8",
            args![
                p.delivered_through,
                p.attempts,
                &p.next_attempt_at,
                p.lease_until.as_ref().map(|_| owner),
                p.lease_until.as_deref(),
                &s.webhook_id,
                &s.tenant_id,
                owner,
            ],
        )
        .await?;
    if n != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    insert_deliveries(&mut tx, attempts).await?;
    tx.commit().await?;
    Ok(true)
}

async fn insert_deliveries(tx: &mut super::Tx, list: &[Delivery]) -> Result<(), SqlError> {
    let backend = tx.backend();
    for chunk in list.chunks(50) {
        let text = format!(
            "INSERT INTO webhook_deliveries (id, webhook_id, tenant_id, event_position, event_type,
                attempt, at, outcome, status, latency_ms, error, response) VALUES {}",
            value_rows(backend, chunk.len(), 12)
        );
        let mut values: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 12);
        for d in chunk {
            values.extend_from_slice(args![
                d.id.as_str(),
                d.webhook_id.as_str(),
                d.tenant_id.as_deref(),
                d.event_position,
                d.event_type.as_str(),
                d.attempt,
                d.at.as_str(),
                d.outcome.as_str(),
                d.status,
                d.latency_ms,
                d.error.as_deref(),
                d.response.as_deref(),
            ]);
        }
        tx.execute(&text, &values).await?;
    }
    Ok(())
}

/// Records an attempt made outside a stream (a test or a redelivery).
pub async fn record(db: &Db, d: &Delivery) -> Result<(), SqlError> {
    let mut tx = db.begin().await?;
    insert_deliveries(&mut tx, std::slice::from_ref(d)).await?;
    tx.commit().await
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, tenant_id, event_position, event_type, attempt, at,
     outcome, status, latency_ms, error, response";

fn delivery_from_row(r: &sqlx::any::AnyRow) -> Result<Delivery, SqlError> {
    Ok(Delivery {
        id: r.try_get("id")?,
        webhook_id: r.try_get("webhook_id")?,
        tenant_id: r.try_get("tenant_id")?,
        event_position: r.try_get("event_position")?,
        event_type: r.try_get("event_type")?,
        attempt: r.try_get::<i64, _>("attempt")?,
        at: r.try_get("at")?,
        outcome: r.try_get("outcome")?,
        status: r.try_get::<Option<i64>, _>("status")?,
        latency_ms: r.try_get::<Option<i64>, _>("latency_ms")?,
        error: r.try_get("error")?,
        response: r.try_get("response")?,
    })
}

/// An endpoint's latest attempts, newest first.
pub async fn deliveries(db: &Db, webhook_id: &str, limit: i64) -> Result<Vec<Delivery>, SqlError> {
    let rows = sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1
         ORDER BY at DESC, id LIMIT $2"
    ))
    .bind(webhook_id)
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(delivery_from_row).collect()
}

pub async fn delivery(db: &Db, id: &str) -> Result<Option<Delivery>, SqlError> {
    let row = sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db.reader())
    .await?;
    row.as_ref().map(delivery_from_row).transpose()
}

/// How far behind an endpoint is: per tenant, the events not yet
/// acknowledged or given up, counted up to `cap`.
pub async fn backlog(db: &Db, webhook_id: &str, cap: i64) -> Result<i64, SqlError> {
    let pos = super::events::pos(db.backend());
    let row = sqlx::query(&format!(
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM webhook_streams s
            JOIN events e ON e.tenant_id = s.tenant_id AND e.{pos} > s.delivered_through
            WHERE s.webhook_id = $1 LIMIT $2) x"
    ))
    .bind(webhook_id)
    .bind(cap)
    .fetch_one(db.reader())
    .await?;
    Ok(row.try_get("n")?)
}

/// Deletes attempts recorded before `cutoff`, a batch at a time.
pub async fn prune_deliveries(db: &Db, cutoff: &str, batch: i64) -> Result<u64, SqlError> {
    db.execute(
        "DELETE FROM webhook_deliveries WHERE id IN
            (SELECT id FROM webhook_deliveries WHERE at < $1 ORDER BY at LIMIT $2)",
        args![cutoff, batch],
    )
    .await
}
