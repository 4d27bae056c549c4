//! Listings: users, groups and the activity log read page by page, with
//! their counts, and the activity summaries of the overview.
//!
//! Lists use keyset paging: a page starts after (or ends before) the sort
//! key and id of a row the previous page showed, so reading any page of a
//! directory of 100,000 users is one range of an index (migration
//! `0004_console_views`), never a scan of the rows before it.

use sqlx::Row as _;

use super::activity::{RECORDED_COLUMNS, Recorded};
use super::sql::{Sql, SqlValue, like_pattern};
use super::{Backend, Db, SqlError};

/// Where a page of a list starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// The first rows in the list's order.
    First,
    /// The last rows in the list's order.
    Last,
    /// The rows following this (sort key, id).
    After(String, String),
    /// The rows preceding this (sort key, id).
    Before(String, String),
}

/// One page of rows, in the list's order.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub rows: Vec<T>,
    /// Whether rows exist before the first one of this page.
    pub has_previous: bool,
    /// Whether rows exist after the last one of this page.
    pub has_next: bool,
}

/// The sorts of the users list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    UserName,
    DisplayName,
    Created,
    Updated,
}

impl UserSort {
    /// The SQL expression sorted on; each has an index in `0004_console_views`
    /// (the PostgreSQL one with `COLLATE "C"`, added by [`collate`]).
    fn key(self) -> &'static str {
        match self {
            UserSort::UserName => "user_name_lower",
            UserSort::DisplayName => "lower(COALESCE(display_name, ''))",
            UserSort::Created => "created_at",
            UserSort::Updated => "updated_at",
        }
    }
}

/// Filters of the users list (and its CSV export).
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Part of the user name, display name or an e-mail address, any case.
    pub search: Option<String>,
    /// Only active (true) or only inactive (false) users.
    pub active: Option<bool>,
}

/// A user as listed.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub user_name: String,
    pub display_name: Option<String>,
    pub active: bool,
    /// The stored SCIM document (JSON text).
    pub doc: String,
    pub created_at: String,
    pub updated_at: String,
    /// The value of the list's sort key, for the cursors of the next pages.
    pub sort_key: String,
}

/// A group as listed.
#[derive(Debug, Clone)]
pub struct GroupRow {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: i64,
    pub created_at: String,
    pub updated_at: String,
    pub sort_key: String,
}

/// Byte order on both engines (SQLite compares text as bytes; PostgreSQL
/// would follow the server's locale), matching the indexes' collation.
fn collate(db: &Db) -> &'static str {
    match db.backend() {
        Backend::Postgres => " COLLATE \"C\"",
        Backend::Sqlite => "",
    }
}

/// Appends the keyset condition and ORDER BY … LIMIT for `cursor` over
/// (`key`, id). Returns whether the rows come back reversed (a page read
/// backwards from its end).
fn push_keyset(
    sql: &mut Sql,
    db: &Db,
    key: &str,
    descending: bool,
    cursor: &Cursor,
    limit: i64,
) -> bool {
    let c = collate(db);
    let (backwards, bound) = match cursor {
        Cursor::First => (false, None),
        Cursor::Last => (true, None),
        Cursor::After(k, id) => (false, Some((k, id))),
        Cursor::Before(k, id) => (true, Some((k, id))),
    };
    // Reading backwards flips both the comparison and the order.
    let down = descending != backwards;
    if let Some((k, id)) = bound {
        sql.push(&format!(
            " AND ({key}{c}, id{c}) {} (",
            if down { "<" } else { ">" }
        ));
        sql.bind_text(k);
        sql.push(", ");
        sql.bind_text(id);
        sql.push(")");
    }
    let dir = if down { "DESC" } else { "ASC" };
    sql.push(&format!(" ORDER BY {key}{c} {dir}, id{c} {dir} LIMIT "));
    // One more than asked tells whether another page follows.
    sql.bind(SqlValue::Int(limit + 1));
    backwards
}

/// Trims the extra row and restores the list's order.
fn finish_page<T>(mut rows: Vec<T>, limit: i64, backwards: bool, cursor: &Cursor) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let more = rows.len() > limit;
    rows.truncate(limit);
    if backwards {
        rows.reverse();
    }
    let (has_previous, has_next) = match cursor {
        Cursor::First => (false, more),
        Cursor::After(..) => (true, more),
        Cursor::Last => (more, false),
        Cursor::Before(..) => (more, true),
    };
    Page {
        rows,
        has_previous,
        has_next,
    }
}

/// ` AND …` for the users filter; `$1` must be the tenant id.
fn push_user_filter(sql: &mut Sql, filter: &UserFilter) {
    if let Some(active) = filter.active {
        sql.push(" AND active = ");
        sql.bind(SqlValue::Int(i64::from(active)));
    }
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let pattern = like_pattern(true, &search.to_lowercase(), true);
        sql.push(" AND (user_name_lower LIKE ");
        sql.bind_text(&pattern);
        sql.push(" ESCAPE '\\' OR lower(COALESCE(display_name, '')) LIKE ");
        sql.bind_text(&pattern);
        sql.push(
            " ESCAPE '\\' OR id IN (SELECT user_id FROM scim_user_emails WHERE tenant_id = $1 AND value_lower LIKE ",
        );
        sql.bind_text(&pattern);
        sql.push(" ESCAPE '\\'))");
    }
}

/// One page of a tenant's users.
pub async fn users_page(
    db: &Db,
    tenant_id: &str,
    filter: &UserFilter,
    sort: UserSort,
    descending: bool,
    cursor: &Cursor,
    limit: i64,
) -> Result<Page<UserRow>, SqlError> {
    let key = sort.key();
    let mut sql = Sql::new(&format!(
        "SELECT id, user_name, display_name, active, doc, created_at, updated_at, {key} AS sort_key
         FROM scim_users WHERE tenant_id = "
    ));
    sql.bind_text(tenant_id);
    push_user_filter(&mut sql, filter);
    let backwards = push_keyset(&mut sql, db, key, descending, cursor, limit);
    let rows = sql.query().fetch_all(db.reader()).await?;
    let rows = rows
        .iter()
        .map(|r| {
            Ok(UserRow {
                id: r.try_get("id")?,
                user_name: r.try_get("user_name")?,
                display_name: r.try_get("display_name")?,
                active: r.try_get::<i64, _>("active")? != 0,
                doc: r.try_get("doc")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
                sort_key: r.try_get("sort_key")?,
            })
        })
        .collect::<Result<Vec<_>, SqlError>>()?;
    Ok(finish_page(rows, limit, backwards, cursor))
}

/// How many users match the filter.
pub async fn users_count(db: &Db, tenant_id: &str, filter: &UserFilter) -> Result<i64, SqlError> {
    let mut sql = Sql::new("SELECT COUNT(*) AS n FROM scim_users WHERE tenant_id = ");
    sql.bind_text(tenant_id);
    push_user_filter(&mut sql, filter);
    Ok(sql.query().fetch_one(db.reader()).await?.try_get("n")?)
}

fn push_group_filter(sql: &mut Sql, search: Option<&str>) {
    if let Some(search) = search.map(str::trim).filter(|s| !s.is_empty()) {
        sql.push(" AND g.display_name_lower LIKE ");
        sql.bind_text(&like_pattern(true, &search.to_lowercase(), true));
        sql.push(" ESCAPE '\\'");
    }
}

/// One page of a tenant's groups, by name, with their member counts.
pub async fn groups_page(
    db: &Db,
    tenant_id: &str,
    search: Option<&str>,
    cursor: &Cursor,
    limit: i64,
) -> Result<Page<GroupRow>, SqlError> {
    let mut sql = Sql::new(
        "SELECT g.id, g.display_name, g.external_id, g.created_at, g.updated_at,
                g.display_name_lower AS sort_key,
                (SELECT COUNT(*) FROM scim_group_members m
                  WHERE m.tenant_id = g.tenant_id AND m.group_id = g.id) AS members
         FROM scim_groups g WHERE g.tenant_id = ",
    );
    sql.bind_text(tenant_id);
    push_group_filter(&mut sql, search);
    // The keyset columns are unqualified: `id` and `display_name_lower` are
    // only in scim_groups, the subquery is a column of its own.
    let backwards = push_keyset(&mut sql, db, "display_name_lower", false, cursor, limit);
    let rows = sql.query().fetch_all(db.reader()).await?;
    let rows = rows
        .iter()
        .map(|r| {
            Ok(GroupRow {
                id: r.try_get("id")?,
                display_name: r.try_get("display_name")?,
                external_id: r.try_get("external_id")?,
                members: r.try_get("members")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
                sort_key: r.try_get("sort_key")?,
            })
        })
        .collect::<Result<Vec<_>, SqlError>>()?;
    Ok(finish_page(rows, limit, backwards, cursor))
}

pub async fn groups_count(db: &Db, tenant_id: &str, search: Option<&str>) -> Result<i64, SqlError> {
    let mut sql = Sql::new("SELECT COUNT(*) AS n FROM scim_groups g WHERE g.tenant_id = ");
    sql.bind_text(tenant_id);
    push_group_filter(&mut sql, search);
    Ok(sql.query().fetch_one(db.reader()).await?.try_get("n")?)
}

/// Filters of the activity log.
#[derive(Debug, Clone, Default)]
pub struct ActivityFilter {
    /// `success` or `failure`.
    pub outcome: Option<String>,
    /// The start of the operation name: `user.`, `group.patch`, `oauth.`…
    pub operation: Option<String>,
    /// A resource type (`User`, `Group`, `Token`, `Client`, any case) or a
    /// resource id.
    pub resource: Option<String>,
    /// Leaves out reads of single resources (`*.get`): a resource's
    /// timeline shows what changed it.
    pub changes_only: bool,
}

/// Resource types the log names; anything else in the resource filter is an id.
const RESOURCE_TYPES: [&str; 5] = ["User", "Group", "Token", "Client", "Admin"];

/// Where a page of the activity log starts; the log is newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogCursor {
    Newest,
    /// Entries older than this id.
    OlderThan(i64),
    /// Entries newer than this id.
    NewerThan(i64),
}

/// One page of the activity log, newest first.
pub async fn activity_page(
    db: &Db,
    tenant_id: &str,
    filter: &ActivityFilter,
    cursor: LogCursor,
    limit: i64,
) -> Result<Page<Recorded>, SqlError> {
    let mut sql = Sql::new(&format!(
        "SELECT {RECORDED_COLUMNS} FROM activity WHERE tenant_id = "
    ));
    sql.bind_text(tenant_id);
    if let Some(outcome) = &filter.outcome {
        sql.push(" AND outcome = ");
        sql.bind_text(outcome);
    }
    if let Some(op) = filter.operation.as_deref().filter(|s| !s.is_empty()) {
        sql.push(" AND operation LIKE ");
        sql.bind_text(&like_pattern(false, op, true));
        sql.push(" ESCAPE '\\'");
    }
    if let Some(resource) = filter.resource.as_deref().filter(|s| !s.is_empty()) {
        match RESOURCE_TYPES
            .iter()
            .find(|t| t.eq_ignore_ascii_case(resource))
        {
            Some(kind) => {
                sql.push(" AND resource_type = ");
                sql.bind_text(kind);
            }
            None => {
                sql.push(" AND resource_id = ");
                sql.bind_text(resource);
            }
        }
    }
    if filter.changes_only {
        sql.push(" AND operation NOT LIKE '%.get'");
    }
    let newer = match cursor {
        LogCursor::Newest => {
            sql.push(" ORDER BY id DESC");
            false
        }
        LogCursor::OlderThan(id) => {
            sql.push(" AND id < ");
            sql.bind(SqlValue::Int(id));
            sql.push(" ORDER BY id DESC");
            false
        }
        LogCursor::NewerThan(id) => {
            sql.push(" AND id > ");
            sql.bind(SqlValue::Int(id));
            sql.push(" ORDER BY id ASC");
            true
        }
    };
    sql.push(" LIMIT ");
    sql.bind(SqlValue::Int(limit + 1));
    let rows = sql.query().fetch_all(db.reader()).await?;
    let mut rows = rows
        .iter()
        .map(super::decode)
        .collect::<Result<Vec<_>, _>>()?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(0);
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    if newer {
        rows.reverse();
    }
    let (has_previous, has_next) = match cursor {
        LogCursor::Newest => (false, more),
        LogCursor::OlderThan(_) => (true, more),
        LogCursor::NewerThan(_) => (more, true),
    };
    Ok(Page {
        rows,
        has_previous,
        has_next,
    })
}

/// One entry of a tenant's log.
pub async fn activity_entry(
    db: &Db,
    tenant_id: &str,
    id: i64,
) -> Result<Option<Recorded>, SqlError> {
    let row = sqlx::query(&format!(
        "SELECT {RECORDED_COLUMNS} FROM activity WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db.reader())
    .await?;
    row.as_ref().map(super::decode).transpose()
}

/// The newest SCIM request of a tenant (SCIM callers are the only actors of
/// kind `token`).
pub async fn last_scim_request(db: &Db, tenant_id: &str) -> Result<Option<Recorded>, SqlError> {
    let row = sqlx::query(&format!(
        "SELECT {RECORDED_COLUMNS} FROM activity WHERE tenant_id = $1 AND actor_kind = 'token'
         ORDER BY id DESC LIMIT 1"
    ))
    .bind(tenant_id)
    .fetch_optional(db.reader())
    .await?;
    row.as_ref().map(super::decode).transpose()
}

/// SCIM requests and failures per hour since `since`: (hour as
/// `YYYY-MM-DDTHH`, requests, failures), oldest first.
pub async fn hourly_requests(
    db: &Db,
    tenant_id: &str,
    since: &str,
) -> Result<Vec<(String, i64, i64)>, SqlError> {
    let rows = sqlx::query(
        "SELECT substr(at, 1, 13) AS hour, COUNT(*) AS n,
                SUM(CASE WHEN outcome = 'failure' THEN 1 ELSE 0 END) AS failed
         FROM activity WHERE tenant_id = $1 AND at >= $2 AND actor_kind = 'token'
         GROUP BY substr(at, 1, 13) ORDER BY hour",
    )
    .bind(tenant_id)
    .bind(since)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("hour")?, r.try_get("n")?, r.try_get("failed")?)))
        .collect()
}

/// When each grant's access tokens were last used: (grant id, time).
pub async fn grant_token_use(db: &Db, tenant_id: &str) -> Result<Vec<(String, String)>, SqlError> {
    let rows = sqlx::query(
        "SELECT grant_id, MAX(last_used_at) AS used FROM api_tokens
         WHERE tenant_id = $1 AND grant_id IS NOT NULL AND last_used_at IS NOT NULL
         GROUP BY grant_id",
    )
    .bind(tenant_id)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("grant_id")?, r.try_get("used")?)))
        .collect()
}
