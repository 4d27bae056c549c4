//! Group membership: one row per (group, member). Adding or removing members
//! never reads or rewrites the rest of the group.

use sqlx::Row as _;

use super::Tx;
use super::sql::{Sql, SqlValue, push_in_list, value_rows};
use super::tx::{Cells, args};
use super::{Db, SqlError};

/// Most ids bound in one statement; both engines allow far more, but short
/// statements keep plans cheap.
const CHUNK: usize = 500;

/// A member as listed in a group's `members`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    /// `User` or `Group`.
    pub kind: String,
    pub display: Option<String>,
}

/// A group a user or group belongs to directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub member_id: String,
    pub group_id: String,
    pub group_display: String,
}

/// Finds which of `ids` are users or groups of the tenant. Returns
/// (found with their kind, ids that are neither).
pub async fn resolve(
    tx: &mut Tx,
    tenant_id: &str,
    ids: &[String],
) -> Result<(Vec<(String, &'static str)>, Vec<String>), SqlError> {
    let mut found: Vec<(String, &'static str)> = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        for (table, kind) in [("scim_users", "User"), ("scim_groups", "Group")] {
            let mut sql = Sql::new(&format!("SELECT id FROM {table} WHERE tenant_id = "));
            sql.bind_text(tenant_id);
            sql.push(" AND id IN (");
            push_in_list(&mut sql, chunk);
            sql.push(")");
            for id in tx.fetch_sql(&sql, |r| r.get::<String>("id")).await? {
                found.push((id, kind));
            }
        }
    }
    let known: std::collections::HashSet<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
    let missing = ids
        .iter()
        .filter(|id| !known.contains(id.as_str()))
        .cloned()
        .collect();
    Ok((found, missing))
}

/// A member that was added or removed: (id, `User` or `Group`).
pub type Changed = (String, String);

fn changed(r: &Cells<'_>) -> Result<Changed, SqlError> {
    Ok((r.get("member_id")?, r.get("member_type")?))
}

/// Adds members; ones already present are left as they are. Returns the
/// ones that were new.
pub async fn add(
    tx: &mut Tx,
    tenant_id: &str,
    group_id: &str,
    members: &[(String, &'static str)],
    at: &str,
) -> Result<Vec<Changed>, SqlError> {
    let backend = tx.backend();
    // One multi-row statement per chunk: a PATCH adding a hundred members is
    // one round trip to the database, not a hundred.
    let mut added = Vec::new();
    for chunk in members.chunks(CHUNK) {
        let mut sql = Sql::new(&format!(
            "INSERT INTO scim_group_members (tenant_id, group_id, member_id, member_type, added_at) VALUES {}
             ON CONFLICT DO NOTHING RETURNING member_id, member_type",
            value_rows(backend, chunk.len(), 5)
        ));
        for (id, kind) in chunk {
            for value in [tenant_id, group_id, id.as_str(), kind, at] {
                sql.binds.push(SqlValue::Text(value.to_string()));
            }
        }
        added.extend(tx.fetch_sql(&sql, changed).await?);
    }
    Ok(added)
}

/// Removes the listed members only. Returns the ones that were members.
pub async fn remove(
    tx: &mut Tx,
    tenant_id: &str,
    group_id: &str,
    ids: &[String],
) -> Result<Vec<Changed>, SqlError> {
    let mut removed = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut sql = Sql::new("DELETE FROM scim_group_members WHERE tenant_id = ");
        sql.bind_text(tenant_id);
        sql.push(" AND group_id = ");
        sql.bind_text(group_id);
        sql.push(" AND member_id IN (");
        push_in_list(&mut sql, chunk);
        sql.push(") RETURNING member_id, member_type");
        removed.extend(tx.fetch_sql(&sql, changed).await?);
    }
    Ok(removed)
}

/// Removes every member of a group. Returns them.
pub async fn remove_all(
    tx: &mut Tx,
    tenant_id: &str,
    group_id: &str,
) -> Result<Vec<Changed>, SqlError> {
    tx.fetch(
        "DELETE FROM scim_group_members WHERE tenant_id = $1 AND group_id = $2
         RETURNING member_id, member_type",
        args![tenant_id, group_id],
        changed,
    )
    .await
}

/// A user or group as membership events name it: its id, `userName` or
/// `displayName`, and `externalId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub id: String,
    pub name: String,
    pub external_id: Option<String>,
}

/// The names of the given users (`kind` `User`) or groups, by id, inside a
/// write transaction. Ids that are neither are left out.
pub async fn describe(
    tx: &mut Tx,
    tenant_id: &str,
    kind: &str,
    ids: &[String],
) -> Result<Vec<Named>, SqlError> {
    let (table, name) = if kind == "Group" {
        ("scim_groups", "display_name")
    } else {
        ("scim_users", "user_name")
    };
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut sql = Sql::new(&format!(
            "SELECT id, {name} AS name, external_id FROM {table} WHERE tenant_id = "
        ));
        sql.bind_text(tenant_id);
        sql.push(" AND id IN (");
        push_in_list(&mut sql, chunk);
        sql.push(")");
        out.extend(
            tx.fetch_sql(&sql, |r| {
                Ok(Named {
                    id: r.get("id")?,
                    name: r.get("name")?,
                    external_id: r.get("external_id")?,
                })
            })
            .await?,
        );
    }
    Ok(out)
}

/// The groups each of `member_ids` belongs to directly, inside a write
/// transaction: (member id, group), ordered as a user's `groups` are.
pub async fn groups_of_in_tx(
    tx: &mut Tx,
    tenant_id: &str,
    member_ids: &[String],
) -> Result<Vec<(String, Named)>, SqlError> {
    let mut out = Vec::new();
    for chunk in member_ids.chunks(CHUNK) {
        out.extend(
            tx.fetch_sql(&groups_of_sql(tenant_id, chunk), group_of)
                .await?,
        );
    }
    Ok(out)
}

/// The statement of [`groups_of`] for one chunk of member ids.
fn groups_of_sql(tenant_id: &str, member_ids: &[String]) -> Sql {
    let mut sql = Sql::new(
        "SELECT m.member_id, g.id, g.display_name, g.external_id FROM scim_group_members m
         JOIN scim_groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id
         WHERE m.tenant_id = ",
    );
    sql.bind_text(tenant_id);
    sql.push(" AND m.member_id IN (");
    push_in_list(&mut sql, member_ids);
    sql.push(") ORDER BY g.display_name_lower, g.id");
    sql
}

fn group_of(r: &Cells<'_>) -> Result<(String, Named), SqlError> {
    Ok((
        r.get("member_id")?,
        Named {
            id: r.get("id")?,
            name: r.get("display_name")?,
            external_id: r.get("external_id")?,
        },
    ))
}

const LIST_SQL: &str = "SELECT m.member_id, m.member_type,
        COALESCE(u.display_name, u.user_name, g.display_name) AS display
     FROM scim_group_members m
     LEFT JOIN scim_users u ON u.tenant_id = m.tenant_id AND u.id = m.member_id
     LEFT JOIN scim_groups g ON g.tenant_id = m.tenant_id AND g.id = m.member_id
     WHERE m.tenant_id = $1 AND m.group_id = $2
     ORDER BY m.added_at, m.member_id";

/// Up to `limit` members of a group that come after `after` (an
/// `(added_at, member_id)` position) in the order of [`list`], with their
/// positions: for reading a large group's members a page at a time.
pub async fn page_in_order(
    db: &Db,
    tenant_id: &str,
    group_id: &str,
    after: Option<&(String, String)>,
    limit: i64,
) -> Result<Vec<(Member, (String, String))>, SqlError> {
    let (added, id) = after.cloned().unwrap_or_default();
    let rows = sqlx::query(
        "SELECT m.member_id, m.member_type, m.added_at,
            COALESCE(u.display_name, u.user_name, g.display_name) AS display
         FROM scim_group_members m
         LEFT JOIN scim_users u ON u.tenant_id = m.tenant_id AND u.id = m.member_id
         LEFT JOIN scim_groups g ON g.tenant_id = m.tenant_id AND g.id = m.member_id
         WHERE m.tenant_id = $1 AND m.group_id = $2
           AND (m.added_at > $3 OR (m.added_at = $3 AND m.member_id > $4))
         ORDER BY m.added_at, m.member_id
         LIMIT $5",
    )
    .bind(tenant_id)
    .bind(group_id)
    .bind(added)
    .bind(id)
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            let m = member_from_row(r)?;
            let at: String = r.try_get("added_at")?;
            let position = (at, m.id.clone());
            Ok((m, position))
        })
        .collect()
}

fn member_from_row(row: &sqlx::any::AnyRow) -> Result<Member, SqlError> {
    member(&Cells::Sqlx(row))
}

fn member(row: &Cells<'_>) -> Result<Member, SqlError> {
    Ok(Member {
        id: row.get("member_id")?,
        kind: row.get("member_type")?,
        display: row.get("display")?,
    })
}

/// Every member of a group, in the order they were added.
pub async fn list(db: &Db, tenant_id: &str, group_id: &str) -> Result<Vec<Member>, SqlError> {
    let rows = sqlx::query(LIST_SQL)
        .bind(tenant_id)
        .bind(group_id)
        .fetch_all(db.reader())
        .await?;
    rows.iter().map(member_from_row).collect()
}

/// The same inside a write transaction (to evaluate a PATCH filter on members).
pub async fn list_in_tx(
    tx: &mut Tx,
    tenant_id: &str,
    group_id: &str,
) -> Result<Vec<Member>, SqlError> {
    tx.fetch(LIST_SQL, args![tenant_id, group_id], member).await
}

/// A group's members after `after_id` in id order, with their names
/// (`userName` or `displayName`) and `externalId`: (kind, member).
pub async fn page_after(
    db: &Db,
    tenant_id: &str,
    group_id: &str,
    after_id: &str,
    limit: i64,
) -> Result<Vec<(String, Named)>, SqlError> {
    let rows = sqlx::query(
        "SELECT m.member_id, m.member_type,
                COALESCE(u.user_name, g.display_name) AS name,
                COALESCE(u.external_id, g.external_id) AS external_id
         FROM scim_group_members m
         LEFT JOIN scim_users u ON u.tenant_id = m.tenant_id AND u.id = m.member_id
         LEFT JOIN scim_groups g ON g.tenant_id = m.tenant_id AND g.id = m.member_id
         WHERE m.tenant_id = $1 AND m.group_id = $2 AND m.member_id > $3
         ORDER BY m.member_id LIMIT $4",
    )
    .bind(tenant_id)
    .bind(group_id)
    .bind(after_id)
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("member_type")?,
                Named {
                    id: r.try_get("member_id")?,
                    name: r.try_get::<Option<String>, _>("name")?.unwrap_or_default(),
                    external_id: r.try_get("external_id")?,
                },
            ))
        })
        .collect()
}

/// One page of a group's members, for the console.
pub async fn page(
    db: &Db,
    tenant_id: &str,
    group_id: &str,
    offset: i64,
    limit: i64,
) -> Result<Vec<Member>, SqlError> {
    let rows = sqlx::query(&format!("{LIST_SQL} LIMIT $3 OFFSET $4"))
        .bind(tenant_id)
        .bind(group_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(db.reader())
        .await?;
    rows.iter().map(member_from_row).collect()
}

pub async fn count(db: &Db, tenant_id: &str, group_id: &str) -> Result<i64, SqlError> {
    Ok(sqlx::query(
        "SELECT COUNT(*) AS n FROM scim_group_members WHERE tenant_id = $1 AND group_id = $2",
    )
    .bind(tenant_id)
    .bind(group_id)
    .fetch_one(db.reader())
    .await?
    .try_get("n")?)
}

/// How many members each of `group_ids` has (groups without members are
/// absent).
pub async fn counts(
    db: &Db,
    tenant_id: &str,
    group_ids: &[String],
) -> Result<std::collections::HashMap<String, i64>, SqlError> {
    let mut out = std::collections::HashMap::new();
    for chunk in group_ids.chunks(CHUNK) {
        let mut sql =
            Sql::new("SELECT group_id, COUNT(*) AS n FROM scim_group_members WHERE tenant_id = ");
        sql.bind_text(tenant_id);
        sql.push(" AND group_id IN (");
        push_in_list(&mut sql, chunk);
        sql.push(") GROUP BY group_id");
        for r in sql.query().fetch_all(db.reader()).await? {
            out.insert(r.try_get("group_id")?, r.try_get("n")?);
        }
    }
    Ok(out)
}

/// The groups each of `member_ids` belongs to directly.
pub async fn groups_of(
    db: &Db,
    tenant_id: &str,
    member_ids: &[String],
) -> Result<Vec<Membership>, SqlError> {
    let mut conn = db.reader().acquire().await?;
    let mut found = Vec::new();
    for chunk in member_ids.chunks(CHUNK) {
        let rows = groups_of_sql(tenant_id, chunk)
            .query()
            .fetch_all(&mut *conn)
            .await?;
        for r in &rows {
            found.push(group_of(&Cells::Sqlx(r))?);
        }
    }
    Ok(found
        .into_iter()
        .map(|(member_id, g)| Membership {
            member_id,
            group_id: g.id,
            group_display: g.name,
        })
        .collect())
}
