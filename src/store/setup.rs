//! First-start setup links: a service started on a database without any
//! console account prints `…/setup?token=…`, which creates the first
//! operator. Only the token's SHA-256 is stored, in the database, so any
//! instance honours a link any other printed. A link works once, for
//! [`LINK_HOURS`] hours, and only while no operator exists: creating the
//! first operator retires every outstanding link.

use sqlx::Row as _;

use super::activity::Actor;
use super::admins::{self, Admin, AdminError};
use super::tx::args;
use super::{Db, SqlError, format_time, now};
use crate::secret;

/// How long a setup link stays valid.
pub const LINK_HOURS: i64 = 24;

/// Prefix of setup tokens (recognisable in a pasted URL).
const TOKEN_PREFIX: &str = "sgsu_";

/// Mints a setup link token when the database has no console account at
/// all; None otherwise. Links that expired are deleted on the way.
pub async fn issue_if_needed(db: &Db) -> Result<Option<String>, SqlError> {
    if admins::count(db).await? > 0 {
        return Ok(None);
    }
    let token = secret::generate(TOKEN_PREFIX);
    let mut tx = db.begin().await?;
    tx.execute(
        "DELETE FROM setup_links WHERE expires_at <= $1",
        args![&now()],
    )
    .await?;
    tx.execute(
        "INSERT INTO setup_links (token_hash, created_at, expires_at) VALUES ($1, $2, $3)",
        args![
            &secret::hash(&token),
            &now(),
            &format_time(chrono::Utc::now() + chrono::Duration::hours(LINK_HOURS)),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(Some(token))
}

/// Whether a presented token is a live link: known, unused, unexpired, and
/// no operator exists yet.
pub async fn is_live(db: &Db, token: &str) -> Result<bool, SqlError> {
    if !secret::plausible(token) {
        return Ok(false);
    }
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM setup_links
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
           AND NOT EXISTS (SELECT 1 FROM admins WHERE tenant_id IS NULL)",
    )
    .bind(secret::hash(token))
    .bind(now())
    .fetch_one(db.reader())
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    #[error("this setup link is not valid: it was already used, it expired, or an operator exists")]
    Dead,
    #[error(transparent)]
    Admin(#[from] AdminError),
}

impl From<SqlError> for RedeemError {
    fn from(e: SqlError) -> Self {
        RedeemError::Admin(AdminError::Db(e))
    }
}

super::from_sqlx!(RedeemError);

/// Uses a link: creates the first operator and retires every link, in one
/// transaction. Two browsers submitting the same link at once cannot both
/// succeed: the conditional update lets one of them through.
pub async fn redeem(
    db: &Db,
    token: &str,
    email: &str,
    password_hash: &str,
) -> Result<Admin, RedeemError> {
    if !secret::plausible(token) {
        return Err(RedeemError::Dead);
    }
    let at = now();
    let mut tx = db.begin().await?;
    // Links printed by several instances are different rows: locking all
    // live ones first serialises two first-operator setups on PostgreSQL
    // (SQLite's single writer already does).
    tx.fetch(
        &format!(
            "SELECT token_hash FROM setup_links WHERE used_at IS NULL{}",
            db.backend().for_update()
        ),
        args![],
        |_| Ok(()),
    )
    .await?;
    let claimed = tx
        .execute(
            "UPDATE setup_links SET used_at = $1
         WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
            args![&at, &secret::hash(token)],
        )
        .await?;
    if claimed == 0 {
        return Err(RedeemError::Dead);
    }
    let operators: i64 = tx
        .fetch_optional(
            "SELECT COUNT(*) AS n FROM admins WHERE tenant_id IS NULL",
            args![],
            |r| r.get("n"),
        )
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    if operators > 0 {
        return Err(RedeemError::Dead);
    }
    let actor = Actor {
        kind: "system",
        id: None,
        label: "first-start setup link".to_string(),
    };
    let admin = admins::create_in(&mut tx, None, email, password_hash, &actor).await?;
    tx.execute(
        "UPDATE setup_links SET used_at = $1 WHERE used_at IS NULL",
        args![&at],
    )
    .await?;
    tx.commit().await?;
    Ok(admin)
}
