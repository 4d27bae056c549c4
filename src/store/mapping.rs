//! A tenant's mapping rules and the values they derived for each user
//! (`mapping_rules`, `scim_users.derived_role` / `derived_groups`).

use sqlx::Row as _;

use super::Tx;
use super::sql::Sql;
use super::tx::{Arg, Cells, args};
use super::{Backend, Db, SqlError};

/// The rules as stored; the value tables are JSON text.
#[derive(Debug, Clone)]
pub struct StoredRules {
    pub role_attribute: String,
    pub groups_attribute: String,
    pub delimiter: String,
    pub role_values: String,
    pub group_values: String,
    pub updated_at: String,
    pub updated_by: Option<String>,
}

fn stored_rules(r: &Cells<'_>) -> Result<StoredRules, SqlError> {
    Ok(StoredRules {
        role_attribute: r.get("role_attribute")?,
        groups_attribute: r.get("groups_attribute")?,
        delimiter: r.get("delimiter")?,
        role_values: r.get("role_values")?,
        group_values: r.get("group_values")?,
        updated_at: r.get("updated_at")?,
        updated_by: r.get("updated_by")?,
    })
}

const SELECT_RULES: &str = "SELECT role_attribute, groups_attribute, delimiter, role_values,
        group_values, updated_at, updated_by
     FROM mapping_rules WHERE tenant_id = $1";

/// The tenant's saved rules; None when it never saved any.
pub async fn rules(db: &Db, tenant_id: &str) -> Result<Option<StoredRules>, SqlError> {
    let row = sqlx::query(SELECT_RULES)
        .bind(tenant_id)
        .fetch_optional(db.reader())
        .await?;
    row.as_ref()
        .map(|r| stored_rules(&Cells::Sqlx(r)))
        .transpose()
}

/// How [`rules_locked`] locks the rules row on PostgreSQL (SQLite's single
/// writer already orders write transactions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// A user write: saving new rules waits for it, and it for a save.
    Share,
    /// The save that replaces the rules.
    Update,
}

/// The saved rules, read and locked inside a write transaction. A user
/// write share-locks the row until it commits and a save locks it for
/// update first, so a save waits for writes that applied the old rules and
/// later writes wait for the save: each write's result is recomputed or
/// uses the new rules.
pub async fn rules_locked(
    tx: &mut Tx,
    tenant_id: &str,
    lock: Lock,
) -> Result<Option<StoredRules>, SqlError> {
    let backend = tx.backend();
    let suffix = match (backend, lock) {
        (Backend::Sqlite, _) => "",
        (Backend::Postgres, Lock::Share) => " FOR SHARE",
        (Backend::Postgres, Lock::Update) => " FOR UPDATE",
    };
    tx.fetch_optional(
        &format!("{SELECT_RULES}{suffix}"),
        args![tenant_id],
        stored_rules,
    )
    .await
}

/// Inserts the tenant's rules; `on_conflict` says what an existing row gets.
fn upsert_sql(on_conflict: &str) -> String {
    format!(
        "INSERT INTO mapping_rules (tenant_id, role_attribute, groups_attribute, delimiter,
            role_values, group_values, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tenant_id) {on_conflict}"
    )
}

fn upsert_args<'a>(tenant_id: &'a str, r: &'a StoredRules) -> [Arg<'a>; 8] {
    [
        Arg::from(tenant_id),
        Arg::from(&r.role_attribute),
        Arg::from(&r.groups_attribute),
        Arg::from(&r.delimiter),
        Arg::from(&r.role_values),
        Arg::from(&r.group_values),
        Arg::from(&r.updated_at),
        Arg::from(&r.updated_by),
    ]
}

/// Stores `defaults` as the tenant's rules unless it has a row, committed
/// on its own: a row must exist before a save locks it, for the locks of
/// [`rules_locked`] to order writes against the save.
pub async fn ensure_rules_row(
    db: &Db,
    tenant_id: &str,
    defaults: &StoredRules,
) -> Result<(), SqlError> {
    db.execute(&upsert_sql("DO NOTHING"), &upsert_args(tenant_id, defaults))
        .await?;
    Ok(())
}

/// Inserts or replaces the tenant's rules.
pub async fn save_rules(tx: &mut Tx, tenant_id: &str, r: &StoredRules) -> Result<(), SqlError> {
    let sql = upsert_sql(
        "DO UPDATE SET role_attribute = excluded.role_attribute,
            groups_attribute = excluded.groups_attribute, delimiter = excluded.delimiter,
            role_values = excluded.role_values, group_values = excluded.group_values,
            updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    );
    tx.execute(&sql, &upsert_args(tenant_id, r)).await?;
    Ok(())
}

/// The state of the tenant's recompute under way, if any (read inside the
/// transaction that locked the rules row with [`rules_locked`]).
pub async fn recompute_state(tx: &mut Tx, tenant_id: &str) -> Result<Option<String>, SqlError> {
    Ok(tx
        .fetch_optional(
            "SELECT recompute_state FROM mapping_rules WHERE tenant_id = $1",
            args![tenant_id],
            |r| r.get::<Option<String>>("recompute_state"),
        )
        .await?
        .flatten())
}

/// Records (or, with None, ends) the tenant's recompute.
pub async fn set_recompute_state(
    tx: &mut Tx,
    tenant_id: &str,
    state: Option<&str>,
) -> Result<(), SqlError> {
    tx.execute(
        "UPDATE mapping_rules SET recompute_state = $1 WHERE tenant_id = $2",
        args![state, tenant_id],
    )
    .await?;
    Ok(())
}

/// Tenants with a recompute under way (or cut short by a restart).
pub async fn recomputing(db: &Db) -> Result<Vec<String>, SqlError> {
    sqlx::query("SELECT tenant_id FROM mapping_rules WHERE recompute_state IS NOT NULL")
        .fetch_all(db.reader())
        .await?
        .iter()
        .map(|r| Ok(r.try_get("tenant_id")?))
        .collect()
}

/// Writes one user's derived values (after a SCIM write of that user).
pub async fn set_derived(
    tx: &mut Tx,
    tenant_id: &str,
    user_id: &str,
    role: Option<&str>,
    groups: Option<&str>,
) -> Result<(), SqlError> {
    tx.execute(
        "UPDATE scim_users SET derived_role = $3, derived_groups = $4
         WHERE tenant_id = $1 AND id = $2",
        args![tenant_id, user_id, role, groups],
    )
    .await?;
    Ok(())
}

/// One user as the rules see it.
#[derive(Debug, Clone)]
pub struct UserDoc {
    pub id: String,
    pub user_name: String,
    pub doc: String,
    pub derived_role: Option<String>,
    pub derived_groups: Option<String>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

fn user_doc(row: &Cells<'_>) -> Result<UserDoc, SqlError> {
    Ok(UserDoc {
        id: row.get("id")?,
        user_name: row.get("user_name")?,
        doc: row.get("doc")?,
        derived_role: row.get("derived_role")?,
        derived_groups: row.get("derived_groups")?,
        version: row.get("version")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

const SELECT_BATCH: &str = "SELECT id, user_name, doc, derived_role, derived_groups,
        version, created_at, updated_at
     FROM scim_users WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3";

/// The next `limit` users after `after_id` in id order (keyset paging over
/// the primary key: comparison and order use the same collation, so every
/// user is seen once), for a dry run: read-only, outside any transaction.
pub async fn users_after(
    db: &Db,
    tenant_id: &str,
    after_id: &str,
    limit: i64,
) -> Result<Vec<UserDoc>, SqlError> {
    let rows = sqlx::query(SELECT_BATCH)
        .bind(tenant_id)
        .bind(after_id)
        .bind(limit)
        .fetch_all(db.reader())
        .await?;
    rows.iter().map(|r| user_doc(&Cells::Sqlx(r))).collect()
}

/// The same, inside the transaction that saves rules, locking the rows on
/// PostgreSQL so that a concurrent SCIM write of one of them either lands
/// before the batch is read (and is recomputed) or waits for the new rules.
pub async fn users_after_for_update(
    tx: &mut Tx,
    tenant_id: &str,
    after_id: &str,
    limit: i64,
) -> Result<Vec<UserDoc>, SqlError> {
    let backend = tx.backend();
    tx.fetch(
        &format!("{SELECT_BATCH}{}", backend.for_update()),
        args![tenant_id, after_id, limit],
        user_doc,
    )
    .await
}

/// A user's recomputed values: (id, role, groups as JSON).
pub type DerivedRow = (String, Option<String>, Option<String>);

/// Rows per UPDATE: 3 values each, far below both engines' limits on bind
/// parameters.
const UPDATE_BATCH: usize = 500;

/// Writes recomputed values of many users, a few hundred per statement, and
/// moves their version and `lastModified`, since their representation
/// changed.
pub async fn update_derived(
    tx: &mut Tx,
    tenant_id: &str,
    rows: &[DerivedRow],
    at: &str,
) -> Result<(), SqlError> {
    for chunk in rows.chunks(UPDATE_BATCH) {
        let mut sql = Sql::new("WITH v (id, role, groups) AS (VALUES ");
        for (i, (id, role, groups)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(");
            sql.bind_text(id).push(", ");
            // `SqlValue` has no NULL: absent values are written as such.
            match role {
                Some(r) => sql.bind_text(r),
                None => sql.push("NULL"),
            }
            .push(", ");
            match groups {
                Some(g) => sql.bind_text(g),
                None => sql.push("NULL"),
            }
            .push(")");
        }
        // UPDATE … FROM: PostgreSQL, and SQLite since 3.33.
        sql.push(
            ") UPDATE scim_users SET derived_role = v.role, derived_groups = v.groups,
                version = scim_users.version + 1, updated_at = ",
        );
        sql.bind_text(at);
        sql.push(" FROM v WHERE scim_users.tenant_id = ");
        sql.bind_text(tenant_id);
        sql.push(" AND scim_users.id = v.id");
        tx.execute_sql(&sql).await?;
    }
    Ok(())
}
