//! The tenant's activity log: every SCIM write and every security event.
//! Writes are recorded in the transaction of the change they describe, so the
//! log never claims a change that was rolled back, nor misses one that landed.

use serde::Serialize;
use sqlx::Row as _;

use super::tx::{Arg, args, row_struct};
use super::{Db, SqlError, Tx, now};

/// Who did something.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `token`, `admin`, `operator` or `system`.
    pub kind: &'static str,
    pub id: Option<String>,
    pub label: String,
}

impl Actor {
    pub fn token(id: &str, name: &str) -> Actor {
        Actor {
            kind: "token",
            id: Some(id.to_string()),
            label: name.to_string(),
        }
    }

    /// The operator at the command line.
    pub fn operator() -> Actor {
        Actor {
            kind: "operator",
            id: None,
            label: "operator (command line)".to_string(),
        }
    }
}

/// One log entry being written.
#[derive(Debug, Clone)]
pub struct Entry {
    pub tenant_id: String,
    pub actor: Actor,
    pub operation: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub resource_label: Option<String>,
    pub status: u16,
    pub detail: Option<String>,
    pub quirks: Option<String>,
    pub ignored_attributes: Option<String>,
    pub request_id: Option<String>,
    pub latency_ms: Option<i64>,
    pub method: Option<String>,
    pub path: Option<String>,
    /// JSON array of `{"path", "before", "after"}`.
    pub changes: Option<String>,
}

impl Entry {
    /// About how much memory the entry holds, for the read log's queue.
    pub fn approx_bytes(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        160 + self.tenant_id.len()
            + self.actor.label.len()
            + self.operation.len()
            + opt(&self.resource_type)
            + opt(&self.resource_id)
            + opt(&self.resource_label)
            + opt(&self.detail)
            + opt(&self.quirks)
            + opt(&self.ignored_attributes)
            + opt(&self.request_id)
            + opt(&self.method)
            + opt(&self.path)
            + opt(&self.changes)
    }

    pub fn new(tenant_id: &str, actor: &Actor, operation: &str, status: u16) -> Entry {
        Entry {
            tenant_id: tenant_id.to_string(),
            actor: actor.clone(),
            operation: operation.to_string(),
            resource_type: None,
            resource_id: None,
            resource_label: None,
            status,
            detail: None,
            quirks: None,
            ignored_attributes: None,
            request_id: None,
            latency_ms: None,
            method: None,
            path: None,
            changes: None,
        }
    }

    /// A security event (token minted or revoked, sign-in, consent…).
    pub fn security(tenant_id: &str, actor: &Actor, operation: &str) -> Entry {
        Entry::new(tenant_id, actor, operation, 200)
    }

    pub fn resource(mut self, kind: &str, id: &str, label: &str) -> Entry {
        self.resource_type = Some(kind.to_string());
        self.resource_id = Some(id.to_string());
        self.resource_label = Some(label.to_string());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Entry {
        self.detail = Some(detail.into());
        self
    }

    pub fn outcome(&self) -> &'static str {
        if self.status < 400 {
            "success"
        } else {
            "failure"
        }
    }
}

/// Writes an entry inside the caller's transaction.
pub async fn record(tx: &mut Tx, entry: &Entry) -> Result<(), SqlError> {
    let at = now();
    tx.execute(INSERT_SQL, &values(entry, &at)).await?;
    Ok(())
}

/// Writes an entry on its own, for events with no change to pair with (a
/// rejected request, for example).
pub async fn record_alone(db: &Db, entry: &Entry) -> Result<(), SqlError> {
    let at = now();
    db.execute(INSERT_SQL, &values(entry, &at)).await?;
    Ok(())
}

const INSERT_SQL: &str =
    "INSERT INTO activity (tenant_id, at, actor_kind, actor_id, actor_label, operation,
        resource_type, resource_id, resource_label, status, outcome, detail, quirks,
        ignored_attributes, request_id, latency_ms, method, path, changes)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)";

/// An entry's values in the order of [`INSERT_SQL`]'s columns.
fn values<'a>(e: &'a Entry, at: &'a str) -> [Arg<'a>; COLUMNS] {
    [
        Arg::from(&e.tenant_id),
        Arg::from(at),
        Arg::from(e.actor.kind),
        Arg::from(&e.actor.id),
        Arg::from(&e.actor.label),
        Arg::from(&e.operation),
        Arg::from(&e.resource_type),
        Arg::from(&e.resource_id),
        Arg::from(&e.resource_label),
        Arg::from(i64::from(e.status)),
        Arg::from(e.outcome()),
        Arg::from(&e.detail),
        Arg::from(&e.quirks),
        Arg::from(&e.ignored_attributes),
        Arg::from(&e.request_id),
        Arg::from(e.latency_ms),
        Arg::from(&e.method),
        Arg::from(&e.path),
        Arg::from(&e.changes),
    ]
}

/// Columns of an activity row, in the order `bind` binds them (and
/// `record_batch` on SQLite).
const COLUMNS: usize = 19;
/// Rows per multi-row INSERT (19 × 100 binds, under both engines' limits).
const ROWS_PER_INSERT: usize = 100;

/// Writes many entries (with the times they happened) in one transaction.
/// Used for the read log, which is written in batches off the request path.
/// On SQLite in a transaction of the writer's own, off the async workers
/// ([`super::writer::Writer::transaction`]); on PostgreSQL with multi-row
/// INSERTs.
pub async fn record_batch(db: &Db, entries: Vec<(String, Entry)>) -> Result<(), SqlError> {
    if entries.is_empty() {
        return Ok(());
    }
    if let Some(writer) = db.sqlite_writer() {
        let writer = writer.clone();
        return tokio::task::spawn_blocking(move || {
            writer.transaction(|tx| insert_rows(tx, &entries))
        })
        .await
        .map_err(|e| SqlError::invalid(format!("the read-log writer stopped: {e}")))?;
    }
    let head = INSERT_SQL
        .split("VALUES")
        .next()
        .unwrap_or(INSERT_SQL)
        .to_string();
    let mut tx = db.begin().await?;
    for chunk in entries.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "{head}VALUES {}",
            super::sql::value_rows(db.backend(), chunk.len(), COLUMNS)
        );
        let mut all = Vec::with_capacity(chunk.len() * COLUMNS);
        for (at, entry) in chunk {
            all.extend_from_slice(&values(entry, at));
        }
        tx.execute(&sql, &all).await?;
    }
    tx.commit().await
}

/// The SQLite side of [`record_batch`]: multi-row INSERTs, as on PostgreSQL,
/// bound straight from the entries. Only two statement texts are used, a
/// full chunk's and a single row's, so that both stay in the connection's
/// statement cache: a text per batch length would be prepared again for
/// most batches, and preparing a 100-row INSERT costs more than writing
/// the rows.
fn insert_rows(
    tx: &rusqlite::Transaction<'_>,
    entries: &[(String, Entry)],
) -> rusqlite::Result<()> {
    let mut chunks = entries.chunks_exact(ROWS_PER_INSERT);
    for chunk in &mut chunks {
        insert_chunk(tx, chunk)?;
    }
    for entry in chunks.remainder() {
        insert_chunk(tx, std::slice::from_ref(entry))?;
    }
    Ok(())
}

/// One INSERT of `chunk`'s rows, from the statement cache.
fn insert_chunk(tx: &rusqlite::Transaction<'_>, chunk: &[(String, Entry)]) -> rusqlite::Result<()> {
    let head = INSERT_SQL.split("VALUES").next().unwrap_or(INSERT_SQL);
    let sql = format!(
        "{head}VALUES {}",
        super::sql::value_rows(super::Backend::Sqlite, chunk.len(), COLUMNS)
    );
    let mut insert = tx.prepare_cached(&sql)?;
    let mut at_index = 1;
    for (at, e) in chunk {
        for value in values(e, at) {
            insert.raw_bind_parameter(at_index, value)?;
            at_index += 1;
        }
    }
    insert.raw_execute()?;
    Ok(())
}

/// Deletes entries older than `days` days; returns how many.
pub async fn purge_older_than(db: &Db, days: i64) -> Result<u64, SqlError> {
    let cutoff = super::format_time(chrono::Utc::now() - chrono::Duration::days(days));
    db.execute("DELETE FROM activity WHERE at < $1", args![&cutoff])
        .await
}

row_struct! {
    /// A stored entry, as read back.
    #[derive(Debug, Clone, Serialize)]
    pub struct Recorded {
        pub id: i64,
        pub at: String,
        pub actor_kind: String,
        pub actor_id: Option<String>,
        pub actor_label: Option<String>,
        pub operation: String,
        pub resource_type: Option<String>,
        pub resource_id: Option<String>,
        pub resource_label: Option<String>,
        pub status: i64,
        pub outcome: String,
        pub detail: Option<String>,
        pub quirks: Option<String>,
        pub ignored_attributes: Option<String>,
        pub request_id: Option<String>,
        pub latency_ms: Option<i64>,
        pub method: Option<String>,
        pub path: Option<String>,
        pub changes: Option<String>,
    }
}

/// The columns a [`Recorded`] is read from.
pub(super) const RECORDED_COLUMNS: &str =
    "id, at, actor_kind, actor_id, actor_label, operation, resource_type,
    resource_id, resource_label, status, outcome, detail, quirks, ignored_attributes, request_id,
    latency_ms, method, path, changes";

/// The newest entries of a tenant, newest first.
pub async fn recent(db: &Db, tenant_id: &str, limit: i64) -> Result<Vec<Recorded>, SqlError> {
    let rows = sqlx::query(&format!(
        "SELECT {RECORDED_COLUMNS} FROM activity WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2"
    ))
    .bind(tenant_id)
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(super::decode).collect()
}

/// Deletes up to `batch` of the oldest entries written before `cutoff`.
/// Only the oldest `batch` rows are looked at (ids grow with time), so a
/// pass costs the same whatever the log's size.
pub async fn prune(db: &Db, cutoff: &str, batch: i64) -> Result<u64, SqlError> {
    db.execute(
        "DELETE FROM activity WHERE id IN (
             SELECT id FROM (SELECT id, at FROM activity ORDER BY id LIMIT $2) AS oldest
             WHERE at < $1)",
        args![cutoff, batch],
    )
    .await
}

/// A logged event, as the Connect page's status panel shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Seen {
    pub at: String,
    pub actor_label: Option<String>,
    pub detail: Option<String>,
    pub status: i64,
}

/// The latest `operation` logged for a resource of the tenant.
pub async fn latest_event(
    db: &Db,
    tenant_id: &str,
    operation: &str,
    resource_id: &str,
) -> Result<Option<Seen>, SqlError> {
    let row = sqlx::query(
        "SELECT at, actor_label, detail, status FROM activity
         WHERE tenant_id = $1 AND resource_id = $2 AND operation = $3
         ORDER BY id DESC LIMIT 1",
    )
    .bind(tenant_id)
    .bind(resource_id)
    .bind(operation)
    .fetch_optional(db.reader())
    .await?;
    row.map(|r| {
        Ok(Seen {
            at: r.try_get("at")?,
            actor_label: r.try_get("actor_label")?,
            detail: r.try_get("detail")?,
            status: r.try_get("status")?,
        })
    })
    .transpose()
}

/// A SCIM request as the status panel shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ScimSeen {
    pub at: String,
    pub operation: String,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: i64,
}

/// Whose SCIM requests the status panel watches.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// Any access token issued to this OAuth client.
    Client(&'a str),
    /// This secret token.
    Token(&'a str),
}

/// The first and the latest SCIM requests made with `caller`'s credentials
/// since `since` (when the client or token was created, so that only the
/// newest part of a large log is read), and how many there were.
pub async fn scim_requests(
    db: &Db,
    tenant_id: &str,
    caller: Caller<'_>,
    since: &str,
) -> Result<(Option<ScimSeen>, Option<ScimSeen>, i64), SqlError> {
    let who = match caller {
        Caller::Client(_) => {
            "a.actor_id IN (SELECT t.id FROM api_tokens t WHERE t.tenant_id = $1 AND t.client_id = $3)"
        }
        Caller::Token(_) => "a.actor_id = $3",
    };
    let id = match caller {
        Caller::Client(id) | Caller::Token(id) => id,
    };
    let base = format!(
        "FROM activity a WHERE a.tenant_id = $1 AND a.at >= $2 AND a.actor_kind = 'token' AND {who}"
    );
    let pick = |order: &'static str| {
        let sql = format!(
            "SELECT a.at, a.operation, a.method, a.path, a.status {base} ORDER BY a.id {order} LIMIT 1"
        );
        async move {
            let row = sqlx::query(&sql)
                .bind(tenant_id)
                .bind(since)
                .bind(id)
                .fetch_optional(db.reader())
                .await?;
            row.map(|r| {
                Ok::<_, SqlError>(ScimSeen {
                    at: r.try_get("at")?,
                    operation: r.try_get("operation")?,
                    method: r.try_get("method")?,
                    path: r.try_get("path")?,
                    status: r.try_get("status")?,
                })
            })
            .transpose()
        }
    };
    let first = pick("ASC").await?;
    let latest = pick("DESC").await?;
    let count: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n {base}"))
        .bind(tenant_id)
        .bind(since)
        .bind(id)
        .fetch_one(db.reader())
        .await?
        .try_get("n")?;
    Ok((first, latest, count))
}
