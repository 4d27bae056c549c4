//! Entra's hot path in one statement: `GET /Users?filter=userName eq "…"`
//! (and `id eq "…"`) checks the bearer token, finds at most one user and
//! reads its groups. Done as three queries that is three round trips to the
//! database (for SQLite, three hops to its connection thread and back);
//! joined, it is one, and the answer is the same: the token row decides who
//! the caller is, exactly as [`super::tokens::authenticate`] does, and the
//! user is looked up only within the token's tenant.

use sqlx::Row as _;

use super::members::Membership;
use super::resources::Row;
use super::tokens::Authenticated;
use super::{Db, SqlError, now};
use crate::secret;

/// A unique key of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKey<'a> {
    /// `userName`, compared case-insensitively.
    UserName(&'a str),
    Id(&'a str),
}

/// What the statement found.
#[derive(Debug)]
pub struct Lookup {
    /// `None`: the token is unknown, revoked or expired.
    pub auth: Option<Authenticated>,
    /// The user with that key in the token's tenant, with its groups (sorted
    /// by display name) when asked for.
    pub user: Option<(Row, Vec<Membership>)>,
}

/// Authenticates `presented` and finds the user with `key` in its tenant,
/// with the user's groups when `with_groups`.
pub async fn token_and_user(
    db: &Db,
    presented: &str,
    key: UserKey<'_>,
    with_groups: bool,
) -> Result<Lookup, SqlError> {
    let none = Lookup {
        auth: None,
        user: None,
    };
    if !secret::plausible(presented) {
        return Ok(none);
    }
    let (by_id, value) = match key {
        UserKey::UserName(v) => (false, v.to_lowercase()),
        UserKey::Id(v) if super::resources::storable_id(v) => (true, v.to_string()),
        // No row can have such an id: the token alone decides the answer.
        UserKey::Id(_) => (true, String::new()),
    };
    let sql = &STATEMENTS[usize::from(by_id) * 2 + usize::from(with_groups)];
    let hash = secret::hash(presented);
    let mut rows = match db.direct() {
        Some(direct) => direct.read(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let rows = stmt.query_map(rusqlite::params![value, hash], |r| {
                Found::read(|i| r.get(i), |i| r.get(i), with_groups)
            })?;
            rows.collect::<rusqlite::Result<Vec<Found>>>()
        })?,
        None => sqlx::query(sql)
            .bind(value)
            .bind(hash)
            .fetch_all(db.reader())
            .await?
            .iter()
            .map(|r| Found::read(|i| r.try_get(i), |i| r.try_get(i), with_groups))
            .collect::<Result<Vec<Found>, sqlx::Error>>()?,
    };
    // Groups by display name, as every listing of them is ordered (sorted
    // here rather than by the database: a user has a handful).
    rows.sort_by(|a, b| match (&a.group, &b.group) {
        (Some(a), Some(b)) => (&a.2, &a.0).cmp(&(&b.2, &b.0)),
        _ => std::cmp::Ordering::Equal,
    });
    let Some(first) = rows.first() else {
        return Ok(none);
    };
    if first.revoked_at.is_some() || first.expires_at.as_ref().is_some_and(|e| *e <= now()) {
        return Ok(none);
    }
    let auth = Authenticated {
        tenant_id: first.tenant_id.clone(),
        token_id: first.token_id.clone(),
        token_name: first.token_name.clone(),
        last_used_at: first.last_used_at.clone(),
    };
    let user = match &first.id {
        None => None,
        Some(id) => {
            let groups = rows
                .iter()
                .filter_map(|row| {
                    let (group_id, group_display, _) = row.group.clone()?;
                    Some(Membership {
                        member_id: id.clone(),
                        group_id,
                        group_display,
                    })
                })
                .collect();
            let row = Row {
                id: id.clone(),
                doc: first.doc.clone().unwrap_or_default(),
                version: first.version.unwrap_or_default(),
                created_at: first.created_at.clone().unwrap_or_default(),
                updated_at: first.updated_at.clone().unwrap_or_default(),
                derived_role: first.derived_role.clone(),
                derived_groups: first.derived_groups.clone(),
            };
            Some((row, groups))
        }
    };
    Ok(Lookup {
        auth: Some(auth),
        user,
    })
}

/// One row of the statement: the token, and (left-joined) the user and one
/// of its groups.
struct Found {
    token_id: String,
    tenant_id: String,
    token_name: String,
    expires_at: Option<String>,
    revoked_at: Option<String>,
    last_used_at: Option<String>,
    id: Option<String>,
    doc: Option<String>,
    version: Option<i64>,
    created_at: Option<String>,
    updated_at: Option<String>,
    derived_role: Option<String>,
    derived_groups: Option<String>,
    /// One group of the user: id, display name, display name lower-cased.
    group: Option<(String, String, String)>,
}

fn group_of(
    id: Option<String>,
    display: Option<String>,
    lower: Option<String>,
) -> Option<(String, String, String)> {
    Some((id?, display.unwrap_or_default(), lower.unwrap_or_default()))
}

/// The statement for each (key column, with groups): `$1` is the key, `$2`
/// the token's hash, numbered in the order they appear so that both drivers
/// bind them by position.
static STATEMENTS: std::sync::LazyLock<[String; 4]> = std::sync::LazyLock::new(|| {
    let statement = |column: &str, with_groups: bool| {
        let (group_columns, group_joins) = if with_groups {
            (
                ", g.id AS group_id, g.display_name AS group_display, g.display_name_lower",
                " LEFT JOIN scim_group_members m ON m.tenant_id = u.tenant_id AND m.member_id = u.id
                  LEFT JOIN scim_groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id",
            )
        } else {
            ("", "")
        };
        format!(
            "SELECT t.id AS token_id, t.tenant_id, t.name AS token_name, t.expires_at,
                    t.revoked_at, t.last_used_at,
                    u.id, u.doc, u.version, u.created_at, u.updated_at,
                    u.derived_role, u.derived_groups{group_columns}
             FROM api_tokens t
             LEFT JOIN scim_users u ON u.tenant_id = t.tenant_id AND u.{column} = $1{group_joins}
             WHERE t.token_hash = $2"
        )
    };
    [
        statement("user_name_lower", false),
        statement("user_name_lower", true),
        statement("id", false),
        statement("id", true),
    ]
});

impl Found {
    /// Reads one row by column position, with `text(i)` and `int(i)`
    /// reading column `i` in whichever driver ran the statement.
    fn read<E>(
        text: impl Fn(usize) -> Result<Option<String>, E>,
        int: impl Fn(usize) -> Result<Option<i64>, E>,
        with_groups: bool,
    ) -> Result<Found, E> {
        Ok(Found {
            // Columns of the token row, never NULL.
            token_id: text(0)?.unwrap_or_default(),
            tenant_id: text(1)?.unwrap_or_default(),
            token_name: text(2)?.unwrap_or_default(),
            expires_at: text(3)?,
            revoked_at: text(4)?,
            last_used_at: text(5)?,
            id: text(6)?,
            doc: text(7)?,
            version: int(8)?,
            created_at: text(9)?,
            updated_at: text(10)?,
            derived_role: text(11)?,
            derived_groups: text(12)?,
            group: if with_groups {
                group_of(text(13)?, text(14)?, text(15)?)
            } else {
                None
            },
        })
    }
}
