//! The event log (`migrations/*/0010_events.sql`): rows written in the
//! transaction of the change they describe, read in feed order.
//!
//! The feed's order is a column that differs by engine: `seq` on SQLite,
//! whose single writer commits in `seq` order, and `position` on PostgreSQL,
//! assigned after commit by [`publish`]. Everything else is one query set.

use sqlx::Row as _;

use super::Tx;
use super::sql::value_rows;
use super::tx::args;
use super::{Backend, Db, SqlError};

/// The event types, as the envelope's `type` names them.
pub mod types {
    pub const USER_CREATED: &str = "user.created";
    pub const USER_UPDATED: &str = "user.updated";
    /// `active` went from true to false (other attributes may have changed
    /// too: `previous_attributes` lists them all).
    pub const USER_DEACTIVATED: &str = "user.deactivated";
    pub const USER_REACTIVATED: &str = "user.reactivated";
    pub const USER_DELETED: &str = "user.deleted";
    pub const GROUP_CREATED: &str = "group.created";
    pub const GROUP_UPDATED: &str = "group.updated";
    pub const GROUP_DELETED: &str = "group.deleted";
    pub const GROUP_USER_ADDED: &str = "group.user_added";
    pub const GROUP_USER_REMOVED: &str = "group.user_removed";
    /// A group became a member of a group (nested groups; Entra sends none).
    pub const GROUP_GROUP_ADDED: &str = "group.group_added";
    pub const GROUP_GROUP_REMOVED: &str = "group.group_removed";
    pub const CONNECTION_AUTHORIZED: &str = "connection.authorized";
    pub const CONNECTION_REVOKED: &str = "connection.revoked";

    /// Every type, for validating a consumer's `types` filter.
    pub const ALL: &[&str] = &[
        USER_CREATED,
        USER_UPDATED,
        USER_DEACTIVATED,
        USER_REACTIVATED,
        USER_DELETED,
        GROUP_CREATED,
        GROUP_UPDATED,
        GROUP_DELETED,
        GROUP_USER_ADDED,
        GROUP_USER_REMOVED,
        GROUP_GROUP_ADDED,
        GROUP_GROUP_REMOVED,
        CONNECTION_AUTHORIZED,
        CONNECTION_REVOKED,
    ];
}

/// What kind of connection a `connection.*` event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// A long-lived secret token pasted into the identity provider.
    SecretToken,
    /// An OAuth client registered for the identity provider.
    OauthClient,
    /// An approved OAuth connection (Authorize, or client credentials).
    OauthGrant,
}

impl Connection {
    fn name(self) -> &'static str {
        match self {
            Connection::SecretToken => "secret_token",
            Connection::OauthClient => "oauth_client",
            Connection::OauthGrant => "oauth_grant",
        }
    }
}

/// A `connection.authorized` or `connection.revoked` event. `data` names
/// the connection: `{"kind", "id", "name", "client_id"?, "reason"?}`.
pub fn connection(
    tenant_id: &str,
    kind: &'static str,
    connection: Connection,
    id: &str,
    name: &str,
    client_id: Option<&str>,
    reason: Option<&str>,
) -> NewEvent {
    let mut data = serde_json::json!({
        "kind": connection.name(),
        "id": id,
        "name": name,
    });
    if let Some(c) = client_id {
        data["client_id"] = c.into();
    }
    if let Some(r) = reason {
        data["reason"] = r.into();
    }
    NewEvent {
        tenant_id: tenant_id.to_string(),
        kind,
        data: data.to_string(),
        previous: None,
    }
}

/// Writes one event in the caller's transaction, stamped now.
pub async fn insert_one(tx: &mut Tx, event: &NewEvent) -> Result<(), SqlError> {
    insert(tx, &super::now(), std::slice::from_ref(event)).await
}

/// An event to write in the current transaction.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub tenant_id: String,
    pub kind: &'static str,
    /// The envelope's `data`, JSON text.
    pub data: String,
    /// The envelope's `previous_attributes`, JSON text (updates only).
    pub previous: Option<String>,
}

/// An event as stored, ready to be put in its envelope.
#[derive(Debug, Clone)]
pub struct Stored {
    pub position: i64,
    pub tenant_slug: String,
    pub kind: String,
    pub occurred_at: String,
    pub data: String,
    pub previous: Option<String>,
}

/// The column that orders the feed.
pub(crate) fn pos(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "seq",
        Backend::Postgres => "position",
    }
}

/// Rows per INSERT: five values each.
const INSERT_BATCH: usize = 200;

/// Writes events inside the caller's transaction, in the order given.
pub async fn insert(tx: &mut Tx, at: &str, events: &[NewEvent]) -> Result<(), SqlError> {
    let backend = tx.backend();
    for chunk in events.chunks(INSERT_BATCH) {
        let text = format!(
            "INSERT INTO events (tenant_id, type, occurred_at, data, previous) VALUES {}",
            value_rows(backend, chunk.len(), 5)
        );
        let mut values = Vec::with_capacity(chunk.len() * 5);
        for e in chunk {
            values.extend_from_slice(args![
                e.tenant_id.as_str(),
                e.kind,
                at,
                e.data.as_str(),
                &e.previous
            ]);
        }
        tx.execute(&text, &values).await?;
    }
    Ok(())
}

/// What a page of the feed asks for.
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    /// Events after this position (0: from the oldest kept).
    pub after: i64,
    pub limit: i64,
    pub tenant_id: Option<&'a str>,
    /// Only these types (empty: all).
    pub types: &'a [String],
    /// Look no further than this position: a type filter that matches few
    /// events must not scan the whole log in one request.
    pub until: Option<i64>,
}

/// Events after `filter.after`, oldest first, at most `filter.limit`.
pub async fn page(db: &Db, filter: &Filter<'_>) -> Result<Vec<Stored>, SqlError> {
    let p = pos(db.backend());
    let mut text = format!(
        "SELECT e.{p} AS position, t.slug, e.type, e.occurred_at, e.data, e.previous
         FROM events e JOIN tenants t ON t.id = e.tenant_id
         WHERE e.{p} > $1"
    );
    let mut n = 1;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if filter.tenant_id.is_some() {
        text.push_str(&format!(" AND e.tenant_id = {}", next()));
    }
    if filter.until.is_some() {
        text.push_str(&format!(" AND e.{p} <= {}", next()));
    }
    if !filter.types.is_empty() {
        let list: Vec<String> = filter.types.iter().map(|_| next()).collect();
        text.push_str(&format!(" AND e.type IN ({})", list.join(", ")));
    }
    text.push_str(&format!(" ORDER BY e.{p} LIMIT {}", next()));
    let mut q = sqlx::query(&text).bind(filter.after);
    if let Some(t) = filter.tenant_id {
        q = q.bind(t);
    }
    if let Some(u) = filter.until {
        q = q.bind(u);
    }
    for t in filter.types {
        q = q.bind(t.as_str());
    }
    q = q.bind(filter.limit);
    let rows = q.fetch_all(db.reader()).await?;
    rows.iter()
        .map(|r| {
            Ok(Stored {
                position: r.try_get("position")?,
                tenant_slug: r.try_get("slug")?,
                kind: r.try_get("type")?,
                occurred_at: r.try_get("occurred_at")?,
                data: r.try_get("data")?,
                previous: r.try_get("previous")?,
            })
        })
        .collect()
}

/// The newest position a reader can see (0 when the log is empty): every
/// change whose event is at or below it is visible to a read that starts
/// after this one.
pub async fn latest(db: &Db) -> Result<i64, SqlError> {
    let p = pos(db.backend());
    let row = sqlx::query(&format!("SELECT COALESCE(MAX({p}), 0) AS n FROM events"))
        .fetch_one(db.reader())
        .await?;
    Ok(row.try_get("n")?)
}

/// Every event at or below this position has been pruned.
pub async fn pruned_through(db: &Db) -> Result<i64, SqlError> {
    let row = sqlx::query("SELECT pruned_through FROM event_feed WHERE id = 1")
        .fetch_one(db.reader())
        .await?;
    Ok(row.try_get("pruned_through")?)
}

/// PostgreSQL: gives the committed events that have none a position, in
/// `seq` order, after every position handed out before. One publisher runs
/// at a time (the `event_feed` row is locked), and its positions become
/// visible all at once when it commits, so readers never see a gap that
/// fills later. Returns how many events it published.
pub async fn publish(db: &Db, max: i64) -> Result<u64, SqlError> {
    debug_assert_eq!(db.backend(), Backend::Postgres);
    // A cheap look first: an idle instance must not take the lock every tick.
    let pending = sqlx::query("SELECT seq FROM events WHERE position IS NULL LIMIT 1")
        .fetch_optional(db.reader())
        .await?;
    if pending.is_none() {
        return Ok(0);
    }
    let mut tx = db.begin().await?;
    let published: i64 = tx
        .fetch_optional(
            "SELECT published FROM event_feed WHERE id = 1 FOR UPDATE",
            args![],
            |r| r.get("published"),
        )
        .await?
        .ok_or_else(|| SqlError::invalid("the event feed's row is missing"))?;
    let n = tx
        .execute(
            "UPDATE events e SET position = $1 + c.rn
             FROM (SELECT seq, row_number() OVER (ORDER BY seq) AS rn
                   FROM events WHERE position IS NULL ORDER BY seq LIMIT $2) c
             WHERE e.seq = c.seq",
            args![published, max],
        )
        .await?;
    if n > 0 {
        tx.execute(
            "UPDATE event_feed SET published = $1 WHERE id = 1",
            args![published + n as i64],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(n)
}

/// Whether committed events wait for [`publish_committed`] to get their
/// positions: on PostgreSQL, whose concurrent writers commit out of order.
/// SQLite's single writer numbers events as they commit.
pub fn needs_publisher(db: &Db) -> bool {
    db.backend() == Backend::Postgres
}

/// Events one publishing pass positions at most.
const PUBLISH_BATCH: i64 = 5000;

/// Gives every event committed so far its position (PostgreSQL; nothing to
/// do on SQLite, where `seq` is the position). After it, [`latest`] covers
/// every change committed before the call. Returns how many it published.
pub async fn publish_committed(db: &Db) -> Result<u64, SqlError> {
    if db.backend() != Backend::Postgres {
        return Ok(0);
    }
    let mut total = 0;
    loop {
        let n = publish(db, PUBLISH_BATCH).await?;
        total += n;
        if n < PUBLISH_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// Deletes up to `batch` of the oldest events that occurred before
/// `cutoff`, always a run of consecutive positions from the oldest, and
/// records how far the log is pruned. Returns how many were deleted.
pub async fn prune(db: &Db, cutoff: &str, batch: i64) -> Result<u64, SqlError> {
    let p = pos(db.backend());
    let from = pruned_through(db).await?;
    let rows = sqlx::query(&format!(
        "SELECT {p} AS position, occurred_at FROM events WHERE {p} > $1 ORDER BY {p} LIMIT $2"
    ))
    .bind(from)
    .bind(batch)
    .fetch_all(db.reader())
    .await?;
    let mut through = None;
    for r in &rows {
        let at: String = r.try_get("occurred_at")?;
        if at.as_str() >= cutoff {
            break;
        }
        through = Some(r.try_get::<i64, _>("position")?);
    }
    let Some(through) = through else {
        return Ok(0);
    };
    let mut tx = db.begin().await?;
    let n = tx
        .execute(
            &format!("DELETE FROM events WHERE {p} > $1 AND {p} <= $2"),
            args![from, through],
        )
        .await?;
    tx.execute(
        "UPDATE event_feed SET pruned_through = $1 WHERE id = 1 AND pruned_through < $1",
        args![through],
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}
