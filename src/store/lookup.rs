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
    let (column, value) = match key {
        UserKey::UserName(v) => ("user_name_lower", v.to_lowercase()),
        UserKey::Id(v) if super::resources::storable_id(v) => ("id", v.to_string()),
        // No row can have such an id: the token alone decides the answer.
        UserKey::Id(_) => ("id", String::new()),
    };
    let (group_columns, group_joins, order) = if with_groups {
        (
            ", g.id AS group_id, g.display_name AS group_display",
            " LEFT JOIN scim_group_members m ON m.tenant_id = u.tenant_id AND m.member_id = u.id
              LEFT JOIN scim_groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id",
            " ORDER BY g.display_name_lower, g.id",
        )
    } else {
        ("", "", "")
    };
    let sql = format!(
        "SELECT t.id AS token_id, t.tenant_id, t.name AS token_name, t.expires_at,
                t.revoked_at, t.last_used_at,
                u.id, u.doc, u.version, u.created_at, u.updated_at,
                u.derived_role, u.derived_groups{group_columns}
         FROM api_tokens t
         LEFT JOIN scim_users u ON u.tenant_id = t.tenant_id AND u.{column} = $2{group_joins}
         WHERE t.token_hash = $1{order}"
    );
    let rows = sqlx::query(&sql)
        .bind(secret::hash(presented))
        .bind(value)
        .fetch_all(db.reader())
        .await?;
    let Some(first) = rows.first() else {
        return Ok(none);
    };
    let revoked: Option<String> = first.try_get("revoked_at")?;
    let expires: Option<String> = first.try_get("expires_at")?;
    if revoked.is_some() || expires.is_some_and(|e| e <= now()) {
        return Ok(none);
    }
    let auth = Authenticated {
        tenant_id: first.try_get("tenant_id")?,
        token_id: first.try_get("token_id")?,
        token_name: first.try_get("token_name")?,
        last_used_at: first.try_get("last_used_at")?,
    };
    let user_id: Option<String> = first.try_get("id")?;
    let user = match user_id {
        None => None,
        Some(id) => {
            let mut groups = Vec::new();
            if with_groups {
                for row in &rows {
                    let group_id: Option<String> = row.try_get("group_id")?;
                    if let Some(group_id) = group_id {
                        groups.push(Membership {
                            member_id: id.clone(),
                            group_id,
                            group_display: row.try_get("group_display")?,
                        });
                    }
                }
            }
            let row = Row {
                id,
                doc: first.try_get("doc")?,
                version: first.try_get("version")?,
                created_at: first.try_get("created_at")?,
                updated_at: first.try_get("updated_at")?,
                derived_role: first.try_get("derived_role")?,
                derived_groups: first.try_get("derived_groups")?,
            };
            Some((row, groups))
        }
    };
    Ok(Lookup {
        auth: Some(auth),
        user,
    })
}
