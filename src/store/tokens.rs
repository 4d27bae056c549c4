//! Bearer tokens for the SCIM API. The secret is shown once when minted;
//! only its SHA-256 is stored, so a stolen database yields no usable token.

use serde::Serialize;
use sqlx::Row as _;

use super::activity::{self, Actor, Entry};
use super::events;
use super::tx::{args, row_struct};
use super::{Db, SqlError, format_time, new_id, now};
use crate::secret;

/// An admin-minted long-lived token, pasted into Entra's "Secret Token".
pub const KIND_SECRET: &str = "secret";
/// An OAuth access token (authorization code or client credentials grant).
pub const KIND_ACCESS: &str = "access";

row_struct! {
    #[derive(Debug, Clone, Serialize)]
    pub struct TokenInfo {
        pub id: String,
        pub tenant_id: String,
        pub kind: String,
        pub name: String,
        pub hint: String,
        pub created_at: String,
        pub expires_at: Option<String>,
        pub revoked_at: Option<String>,
        pub last_used_at: Option<String>,
    }
}

impl TokenInfo {
    pub fn status(&self, now: &str) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.as_deref().is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        }
    }
}

/// The tenant and token a valid bearer credential stands for.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub tenant_id: String,
    pub token_id: String,
    pub token_name: String,
    pub last_used_at: Option<String>,
}

const COLUMNS: &str =
    "id, tenant_id, kind, name, hint, created_at, expires_at, revoked_at, last_used_at";

/// Mints a secret token; returns its record and the secret (never stored).
pub async fn create_secret_token(
    db: &Db,
    tenant_id: &str,
    name: &str,
    expires_in_days: Option<u32>,
    actor: &Actor,
) -> Result<(TokenInfo, String), SqlError> {
    let secret = secret::generate(secret::SECRET_TOKEN_PREFIX);
    let created_at = now();
    let expires_at = expires_in_days
        .map(|d| format_time(chrono::Utc::now() + chrono::Duration::days(i64::from(d))));
    let info = TokenInfo {
        id: new_id(),
        tenant_id: tenant_id.to_string(),
        kind: KIND_SECRET.to_string(),
        name: name.to_string(),
        hint: secret::hint(&secret),
        created_at: created_at.clone(),
        expires_at,
        revoked_at: None,
        last_used_at: None,
    };
    let mut tx = db.begin().await?;
    tx.execute(
        "INSERT INTO api_tokens (id, tenant_id, kind, name, token_hash, hint, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![
            &info.id,
            &info.tenant_id,
            &info.kind,
            &info.name,
            &secret::hash(&secret),
            &info.hint,
            &info.created_at,
            &info.expires_at,
        ],
    )
    .await?;
    activity::record(
        &mut tx,
        &Entry::security(tenant_id, actor, "token.create")
            .resource("Token", &info.id, name)
            .detail(match &info.expires_at {
                Some(e) => format!("secret token created, expires {e}"),
                None => "secret token created, never expires".to_string(),
            }),
    )
    .await?;
    events::insert_one(
        &mut tx,
        &events::connection(
            tenant_id,
            events::types::CONNECTION_AUTHORIZED,
            events::Connection::SecretToken,
            &info.id,
            name,
            None,
            None,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok((info, secret))
}

/// A tenant's secret tokens (OAuth access tokens are listed with their grants).
pub async fn list(db: &Db, tenant_id: &str) -> Result<Vec<TokenInfo>, SqlError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE tenant_id = $1 AND kind = $2 ORDER BY created_at, id"
    ))
    .bind(tenant_id)
    .bind(KIND_SECRET)
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(super::decode).collect()
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<TokenInfo>, SqlError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.reader())
        .await?;
    row.as_ref().map(super::decode).transpose()
}

/// Revokes a token. Returns false when there is no such token; revoking an
/// already revoked token keeps its first revocation time.
pub async fn revoke(db: &Db, id: &str, actor: &Actor) -> Result<bool, SqlError> {
    let Some(info) = by_id(db, id).await? else {
        return Ok(false);
    };
    let mut tx = db.begin().await?;
    let changed = tx
        .execute(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            args![&now(), id],
        )
        .await?;
    if changed > 0 {
        activity::record(
            &mut tx,
            &Entry::security(&info.tenant_id, actor, "token.revoke")
                .resource("Token", &info.id, &info.name)
                .detail("token revoked"),
        )
        .await?;
        events::insert_one(
            &mut tx,
            &events::connection(
                &info.tenant_id,
                events::types::CONNECTION_REVOKED,
                events::Connection::SecretToken,
                &info.id,
                &info.name,
                None,
                Some("revoked by an admin"),
            ),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Looks a presented bearer secret up. Unknown, revoked and expired tokens
/// all answer `None`: the caller must not tell them apart to the client.
pub async fn authenticate(db: &Db, presented: &str) -> Result<Option<Authenticated>, SqlError> {
    if !secret::plausible(presented) {
        return Ok(None);
    }
    const SQL: &str = "SELECT id, tenant_id, name, expires_at, revoked_at, last_used_at FROM api_tokens WHERE token_hash = $1";
    type Found = (
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let hash = secret::hash(presented);
    let found: Option<Found> = match db.direct() {
        Some(direct) => direct.read(|conn| {
            use rusqlite::OptionalExtension as _;
            conn.prepare_cached(SQL)?
                .query_row([&hash], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })
                .optional()
        })?,
        None => match sqlx::query(SQL)
            .bind(hash)
            .fetch_optional(db.reader())
            .await?
        {
            Some(row) => Some((
                row.try_get("id")?,
                row.try_get("tenant_id")?,
                row.try_get("name")?,
                row.try_get("expires_at")?,
                row.try_get("revoked_at")?,
                row.try_get("last_used_at")?,
            )),
            None => None,
        },
    };
    let Some((token_id, tenant_id, token_name, expires, revoked, last_used_at)) = found else {
        return Ok(None);
    };
    if revoked.is_some() || expires.is_some_and(|e| e <= now()) {
        return Ok(None);
    }
    Ok(Some(Authenticated {
        tenant_id,
        token_id,
        token_name,
        last_used_at,
    }))
}

/// Why a presented token was refused, for metrics only (clients are never
/// told): `revoked`, `expired`, or `bad_token` (unknown or malformed).
pub async fn refusal_kind(db: &Db, presented: &str) -> &'static str {
    if !secret::plausible(presented) {
        return "bad_token";
    }
    let row = sqlx::query("SELECT expires_at, revoked_at FROM api_tokens WHERE token_hash = $1")
        .bind(secret::hash(presented))
        .fetch_optional(db.reader())
        .await;
    match row {
        Ok(Some(r)) => {
            let revoked: Option<String> = r.try_get("revoked_at").unwrap_or(None);
            let expires: Option<String> = r.try_get("expires_at").unwrap_or(None);
            if revoked.is_some() {
                "revoked"
            } else if expires.is_some_and(|e| e <= now()) {
                "expired"
            } else {
                // Neither now (deleted and recreated?): counted as unknown.
                "bad_token"
            }
        }
        _ => "bad_token",
    }
}

/// Records that a token was used. Called at most about once a minute per
/// token, so the hot read path does not turn into a write per request.
pub async fn touch(db: &Db, token_id: &str, at: &str) -> Result<(), SqlError> {
    db.execute(
        "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2",
        args![at, token_id],
    )
    .await?;
    Ok(())
}
