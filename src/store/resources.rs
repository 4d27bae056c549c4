//! SCIM users and groups: the stored document plus the indexed columns that
//! filters and uniqueness use.

use sqlx::Row as _;

use super::sql::{Column, Cond, Sql, SqlValue, Table};
use super::tx::{Cells, args};
use super::{Backend, Db, SqlError, Tx};

/// One stored resource.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    /// The canonical SCIM document as JSON text (no `id`, `meta`, members).
    pub doc: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    /// Users only: the role and the employee groups (JSON array) the
    /// tenant's mapping rules derived, see `store::mapping`.
    pub derived_role: Option<String>,
    pub derived_groups: Option<String>,
}

/// The columns derived from a document that the database indexes.
#[derive(Debug, Clone, Default)]
pub struct Indexed {
    /// `userName` of a user, `displayName` of a group.
    pub name: String,
    pub external_id: Option<String>,
    /// `displayName` of a user (not indexed, kept for the console's lists).
    pub display_name: Option<String>,
    pub active: bool,
    /// Users' e-mails: (value lower-cased, type).
    pub emails: Vec<(String, Option<String>)>,
}

const ROW_COLUMNS: &str = "id, doc, version, created_at, updated_at";
const USER_ROW_COLUMNS: &str =
    "id, doc, version, created_at, updated_at, derived_role, derived_groups";

fn row_columns(table: Table) -> &'static str {
    match table {
        Table::Users => USER_ROW_COLUMNS,
        Table::Groups => ROW_COLUMNS,
    }
}

fn from_row(table: Table, row: &sqlx::any::AnyRow) -> Result<Row, SqlError> {
    from_cells(table, &Cells::Sqlx(row))
}

fn from_cells(table: Table, row: &Cells<'_>) -> Result<Row, SqlError> {
    let (derived_role, derived_groups) = match table {
        Table::Users => (row.get("derived_role")?, row.get("derived_groups")?),
        Table::Groups => (None, None),
    };
    Ok(Row {
        id: row.get("id")?,
        doc: row.get("doc")?,
        version: row.get("version")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
        derived_role,
        derived_groups,
    })
}

/// Whether `id` could be the id of a stored row. PostgreSQL cannot even
/// compare text holding NUL (it fails the query), so such an id, which no
/// row can have, is answered as "no such resource" on both databases.
pub fn storable_id(id: &str) -> bool {
    !id.contains('\0')
}

pub async fn get(
    db: &Db,
    table: Table,
    tenant_id: &str,
    id: &str,
) -> Result<Option<Row>, SqlError> {
    if !storable_id(id) {
        return Ok(None);
    }
    let row = sqlx::query(&format!(
        "SELECT {} FROM {} WHERE tenant_id = $1 AND id = $2",
        row_columns(table),
        table.name()
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db.reader())
    .await?;
    row.as_ref().map(|r| from_row(table, r)).transpose()
}

/// The next `limit` rows after `after_id` in id order (keyset paging over
/// the primary key: a row is never seen twice nor skipped, whatever is
/// written between pages).
pub async fn page_after(
    db: &Db,
    table: Table,
    tenant_id: &str,
    after_id: &str,
    limit: i64,
) -> Result<Vec<Row>, SqlError> {
    let rows = sqlx::query(&format!(
        "SELECT {} FROM {} WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        row_columns(table),
        table.name()
    ))
    .bind(tenant_id)
    .bind(after_id)
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(|r| from_row(table, r)).collect()
}

/// Reads a row inside a write transaction, locking it on PostgreSQL so that
/// concurrent PATCHes of one resource apply one after the other.
pub async fn get_for_update(
    tx: &mut Tx,
    table: Table,
    tenant_id: &str,
    id: &str,
) -> Result<Option<Row>, SqlError> {
    let backend = tx.backend();
    if !storable_id(id) {
        return Ok(None);
    }
    let sql = format!(
        "SELECT {} FROM {} WHERE tenant_id = $1 AND id = $2{}",
        row_columns(table),
        table.name(),
        backend.for_update()
    );
    tx.fetch_optional(&sql, args![tenant_id, id], |r| from_cells(table, r))
        .await
}

/// Sort order of a listing; ties are broken by id so pages are stable.
#[derive(Debug, Clone, Copy)]
pub struct Order {
    pub column: Column,
    pub descending: bool,
}

impl Default for Order {
    fn default() -> Self {
        Order {
            column: Column::CreatedAt,
            descending: false,
        }
    }
}

fn where_clause(table: Table, tenant_id: &str, cond: Option<&Cond>) -> Sql {
    let mut sql = Sql::default();
    sql.push(" FROM ")
        .push(table.name())
        .push(" WHERE tenant_id = ");
    sql.bind_text(tenant_id);
    if let Some(cond) = cond {
        sql.push(" AND ");
        sql.cond(table, 1, cond);
    }
    sql
}

/// Rows matching `cond`, sorted, from `offset`, at most `limit` (all when None).
pub async fn query(
    db: &Db,
    table: Table,
    tenant_id: &str,
    cond: Option<&Cond>,
    order: Order,
    offset: i64,
    limit: Option<i64>,
) -> Result<Vec<Row>, SqlError> {
    let body = where_clause(table, tenant_id, cond);
    let mut sql = Sql::new(&format!("SELECT {}", row_columns(table)));
    sql.push(&body.text);
    sql.binds = body.binds;
    let col = table.column(order.column).unwrap_or("created_at");
    let dir = if order.descending { "DESC" } else { "ASC" };
    // Byte order on both engines: SQLite compares text as bytes, while
    // PostgreSQL would follow the database's locale (where "émile" sorts
    // before "zed"), so pages would differ between the two and from the
    // filters the protocol core sorts in memory.
    let collate = match db.backend() {
        Backend::Postgres => " COLLATE \"C\"",
        Backend::Sqlite => "",
    };
    sql.push(&format!(
        " ORDER BY {col}{collate} {dir}, id{collate} {dir}"
    ));
    if let Some(limit) = limit {
        sql.push(" LIMIT ");
        sql.bind(SqlValue::Int(limit));
        sql.push(" OFFSET ");
        sql.bind(SqlValue::Int(offset));
    } else if offset > 0 {
        // Both engines accept LIMIT -1 / ALL differently; a huge limit is portable.
        sql.push(" LIMIT ");
        sql.bind(SqlValue::Int(i64::MAX));
        sql.push(" OFFSET ");
        sql.bind(SqlValue::Int(offset));
    }
    let rows = sql.query().fetch_all(db.reader()).await?;
    rows.iter().map(|r| from_row(table, r)).collect()
}

pub async fn count(
    db: &Db,
    table: Table,
    tenant_id: &str,
    cond: Option<&Cond>,
) -> Result<i64, SqlError> {
    let body = where_clause(table, tenant_id, cond);
    let mut sql = Sql::new("SELECT COUNT(*) AS n");
    sql.push(&body.text);
    sql.binds = body.binds;
    let row = sql.query().fetch_one(db.reader()).await?;
    Ok(row.try_get("n")?)
}

/// Inserts a new resource.
pub async fn insert(
    tx: &mut Tx,
    table: Table,
    tenant_id: &str,
    row: &Row,
    ix: &Indexed,
) -> Result<(), SqlError> {
    match table {
        Table::Users => {
            tx.execute(
                "INSERT INTO scim_users (tenant_id, id, user_name, user_name_lower, external_id,
                    display_name, active, doc, version, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                args![
                    tenant_id,
                    &row.id,
                    &ix.name,
                    &ix.name.to_lowercase(),
                    &ix.external_id,
                    &ix.display_name,
                    ix.active,
                    &row.doc,
                    row.version,
                    &row.created_at,
                    &row.updated_at,
                ],
            )
            .await?;
            // A new user has no e-mail rows to replace: one statement
            // (and, on SQLite, one round trip to its connection) fewer.
            let rows = email_rows(&row.id, &ix.emails);
            insert_emails(tx, tenant_id, &rows).await?;
        }
        Table::Groups => {
            tx.execute(
                "INSERT INTO scim_groups (tenant_id, id, display_name, display_name_lower,
                    external_id, doc, version, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                args![
                    tenant_id,
                    &row.id,
                    &ix.name,
                    &ix.name.to_lowercase(),
                    &ix.external_id,
                    &row.doc,
                    row.version,
                    &row.created_at,
                    &row.updated_at,
                ],
            )
            .await?;
        }
    }
    Ok(())
}

/// Replaces a resource's document and indexed columns.
pub async fn update(
    tx: &mut Tx,
    table: Table,
    tenant_id: &str,
    row: &Row,
    ix: &Indexed,
) -> Result<(), SqlError> {
    match table {
        Table::Users => {
            tx.execute(
                "UPDATE scim_users SET user_name = $3, user_name_lower = $4, external_id = $5,
                    display_name = $6, active = $7, doc = $8, version = $9, updated_at = $10
                 WHERE tenant_id = $1 AND id = $2",
                args![
                    tenant_id,
                    &row.id,
                    &ix.name,
                    &ix.name.to_lowercase(),
                    &ix.external_id,
                    &ix.display_name,
                    ix.active,
                    &row.doc,
                    row.version,
                    &row.updated_at,
                ],
            )
            .await?;
            replace_emails(tx, tenant_id, &row.id, &ix.emails).await?;
        }
        Table::Groups => {
            tx.execute(
                "UPDATE scim_groups SET display_name = $3, display_name_lower = $4,
                    external_id = $5, doc = $6, version = $7, updated_at = $8
                 WHERE tenant_id = $1 AND id = $2",
                args![
                    tenant_id,
                    &row.id,
                    &ix.name,
                    &ix.name.to_lowercase(),
                    &ix.external_id,
                    &row.doc,
                    row.version,
                    &row.updated_at,
                ],
            )
            .await?;
        }
    }
    Ok(())
}

/// Bumps the version of a resource whose stored document did not change (a
/// group whose membership changed).
pub async fn touch(
    tx: &mut Tx,
    table: Table,
    tenant_id: &str,
    id: &str,
    version: i64,
    at: &str,
) -> Result<(), SqlError> {
    let sql = format!(
        "UPDATE {} SET version = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2",
        table.name()
    );
    tx.execute(&sql, args![tenant_id, id, version, at]).await?;
    Ok(())
}

async fn replace_emails(
    tx: &mut Tx,
    tenant_id: &str,
    user_id: &str,
    emails: &[(String, Option<String>)],
) -> Result<(), SqlError> {
    tx.execute(
        "DELETE FROM scim_user_emails WHERE tenant_id = $1 AND user_id = $2",
        args![tenant_id, user_id],
    )
    .await?;
    insert_emails(tx, tenant_id, &email_rows(user_id, emails)).await
}

/// The rows [`insert_emails`] writes for one user.
fn email_rows<'a>(
    user_id: &'a str,
    emails: &'a [(String, Option<String>)],
) -> Vec<(&'a str, &'a str, Option<&'a str>)> {
    emails
        .iter()
        .map(|(value, kind)| (user_id, value.as_str(), kind.as_deref()))
        .collect()
}

/// E-mail rows `(user id, lower-cased value, type)` written 500 per
/// statement: a user with 40,000 addresses costs 80 statements, not 40,000.
pub(crate) async fn insert_emails(
    tx: &mut Tx,
    tenant_id: &str,
    rows: &[(&str, &str, Option<&str>)],
) -> Result<(), SqlError> {
    for part in rows.chunks(500) {
        let mut sql = Sql::new(
            "INSERT INTO scim_user_emails (tenant_id, user_id, value_lower, type) VALUES ",
        );
        for (i, (user_id, value, kind)) in part.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(");
            sql.bind_text(tenant_id).push(", ");
            sql.bind_text(user_id).push(", ");
            sql.bind_text(value).push(", ");
            // `SqlValue` has no NULL: absent values are written as such.
            match kind {
                Some(k) => sql.bind_text(k),
                None => sql.push("NULL"),
            }
            .push(")");
        }
        tx.execute_sql(&sql).await?;
    }
    Ok(())
}

/// Deletes a resource and every membership it has, as member and as group.
/// Returns false when there was no such resource.
pub async fn delete(
    tx: &mut Tx,
    table: Table,
    tenant_id: &str,
    id: &str,
) -> Result<bool, SqlError> {
    // The groups it leaves no longer list it: their version and lastModified
    // move, so ETags and `meta.lastModified` filters see the change.
    tx.execute(
        "UPDATE scim_groups SET version = version + 1, updated_at = $3
         WHERE tenant_id = $1 AND id IN
            (SELECT group_id FROM scim_group_members WHERE tenant_id = $1 AND member_id = $2)",
        args![tenant_id, id, &super::now()],
    )
    .await?;
    tx.execute(
        "DELETE FROM scim_group_members WHERE tenant_id = $1 AND member_id = $2",
        args![tenant_id, id],
    )
    .await?;
    let dependent = match table {
        Table::Groups => "DELETE FROM scim_group_members WHERE tenant_id = $1 AND group_id = $2",
        Table::Users => "DELETE FROM scim_user_emails WHERE tenant_id = $1 AND user_id = $2",
    };
    tx.execute(dependent, args![tenant_id, id]).await?;
    let sql = format!(
        "DELETE FROM {} WHERE tenant_id = $1 AND id = $2",
        table.name()
    );
    let n = tx.execute(&sql, args![tenant_id, id]).await?;
    Ok(n > 0)
}

/// Counts for the console: (users, active users, groups).
pub async fn totals(db: &Db, tenant_id: &str) -> Result<(i64, i64, i64), SqlError> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM scim_users WHERE tenant_id = $1) AS users,
                (SELECT COUNT(*) FROM scim_users WHERE tenant_id = $1 AND active = 1) AS active,
                (SELECT COUNT(*) FROM scim_groups WHERE tenant_id = $1) AS groups",
    )
    .bind(tenant_id)
    .fetch_one(db.reader())
    .await?;
    Ok((
        row.try_get("users")?,
        row.try_get("active")?,
        row.try_get("groups")?,
    ))
}

/// The ids of a tenant's users in id order, `limit` of them from `offset`
/// (the benchmarks address existing users with them).
pub async fn user_ids(
    db: &Db,
    tenant_id: &str,
    offset: usize,
    limit: usize,
) -> Result<Vec<String>, SqlError> {
    let rows = sqlx::query(
        "SELECT id FROM scim_users WHERE tenant_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
    )
    .bind(tenant_id)
    .bind(limit as i64)
    .bind(offset as i64)
    .fetch_all(db.reader())
    .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, sqlx::Error>>()?)
}
