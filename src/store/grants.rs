//! OAuth grants, authorization codes, refresh tokens and access tokens.
//! The rules (single use, rotation, reuse detection) live in `crate::oauth`;
//! these are the queries they run, each inside the caller's transaction.

use serde::Serialize;
use sqlx::Row as _;

use super::Tx;
use super::activity::{self, Actor, Entry};
use super::events;
use super::tokens::KIND_ACCESS;
use super::tx::{Cells, FromCells as _, args, row_struct};
use super::{Db, SqlError, format_time, new_id, now};
use crate::secret;

pub const KIND_AUTHORIZATION_CODE: &str = "authorization_code";
pub const KIND_CLIENT_CREDENTIALS: &str = "client_credentials";

row_struct! {
    #[derive(Debug, Clone, Serialize)]
    pub struct Grant {
        pub id: String,
        pub tenant_id: String,
        pub client_id: String,
        pub admin_id: Option<String>,
        pub kind: String,
        pub scope: String,
        pub created_at: String,
        pub revoked_at: Option<String>,
        pub revoked_reason: Option<String>,
        pub last_used_at: Option<String>,
    }
}

const GRANT_COLUMNS: &str = "id, tenant_id, client_id, admin_id, kind, scope, created_at, revoked_at, revoked_reason, last_used_at";

pub async fn create_grant(
    tx: &mut Tx,
    tenant_id: &str,
    client_id: &str,
    admin_id: Option<&str>,
    kind: &str,
    scope: &str,
) -> Result<Grant, SqlError> {
    let g = Grant {
        id: new_id(),
        tenant_id: tenant_id.to_string(),
        client_id: client_id.to_string(),
        admin_id: admin_id.map(str::to_string),
        kind: kind.to_string(),
        scope: scope.to_string(),
        created_at: now(),
        revoked_at: None,
        revoked_reason: None,
        last_used_at: None,
    };
    tx.execute(
        "INSERT INTO oauth_grants (id, tenant_id, client_id, admin_id, kind, scope, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            &g.id,
            &g.tenant_id,
            &g.client_id,
            &g.admin_id,
            &g.kind,
            &g.scope,
            &g.created_at,
        ],
    )
    .await?;
    events::insert_one(
        tx,
        &events::connection(
            &g.tenant_id,
            events::types::CONNECTION_AUTHORIZED,
            events::Connection::OauthGrant,
            &g.id,
            &g.kind,
            Some(&g.client_id),
            None,
        ),
    )
    .await?;
    Ok(g)
}

pub async fn grant_in_tx(tx: &mut Tx, id: &str) -> Result<Option<Grant>, SqlError> {
    tx.fetch_optional(
        &format!("SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE id = $1"),
        args![id],
        Grant::from_cells,
    )
    .await
}

pub async fn grant(db: &Db, id: &str) -> Result<Option<Grant>, SqlError> {
    let row = sqlx::query(&format!(
        "SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db.reader())
    .await?;
    row.as_ref().map(super::decode).transpose()
}

/// The client-credentials grant of a client, if one was opened.
pub async fn client_credentials_grant(
    tx: &mut Tx,
    client_id: &str,
) -> Result<Option<Grant>, SqlError> {
    tx.fetch_optional(
        &format!(
            "SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE client_id = $1 AND kind = $2 AND revoked_at IS NULL
         ORDER BY created_at DESC LIMIT 1"
        ),
        args![client_id, KIND_CLIENT_CREDENTIALS],
        Grant::from_cells,
    )
    .await
}

pub async fn list(db: &Db, tenant_id: &str) -> Result<Vec<Grant>, SqlError> {
    let rows = sqlx::query(&format!(
        "SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE tenant_id = $1 ORDER BY created_at DESC, id"
    ))
    .bind(tenant_id)
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(super::decode).collect()
}

/// Revokes a grant and every access and refresh token it issued. Returns
/// false when it was already revoked.
pub async fn revoke_grant(tx: &mut Tx, grant_id: &str, reason: &str) -> Result<bool, SqlError> {
    let at = now();
    let n = tx
        .execute(
            "UPDATE oauth_grants SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
            args![&at, reason, grant_id],
        )
        .await?;
    tx.execute(
        "UPDATE api_tokens SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL",
        args![&at, grant_id],
    )
    .await?;
    tx.execute(
        "UPDATE oauth_refresh_tokens SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL",
        args![&at, grant_id],
    )
    .await?;
    if n > 0
        && let Some(g) = grant_in_tx(tx, grant_id).await?
    {
        events::insert_one(
            tx,
            &events::connection(
                &g.tenant_id,
                events::types::CONNECTION_REVOKED,
                events::Connection::OauthGrant,
                &g.id,
                &g.kind,
                Some(&g.client_id),
                Some(reason),
            ),
        )
        .await?;
    }
    Ok(n > 0)
}

pub async fn touch_grant(tx: &mut Tx, grant_id: &str) -> Result<(), SqlError> {
    tx.execute(
        "UPDATE oauth_grants SET last_used_at = $1 WHERE id = $2",
        args![&now(), grant_id],
    )
    .await?;
    Ok(())
}

/// What an authorization code is bound to.
#[derive(Debug, Clone)]
pub struct Code {
    pub client_id: String,
    pub tenant_id: String,
    pub admin_id: String,
    pub redirect_uri: String,
    /// Whether the authorization request carried `redirect_uri` (then the
    /// token request must repeat it, RFC 6749 §4.1.3).
    pub redirect_uri_sent: bool,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub expires_at: String,
    pub used_at: Option<String>,
    pub grant_id: Option<String>,
}

/// Stores a new code and returns it (shown once, to the redirect).
pub async fn create_code(db: &Db, code: &Code) -> Result<String, SqlError> {
    let value = secret::generate("");
    db.execute(
        "INSERT INTO oauth_codes (code_hash, client_id, tenant_id, admin_id, redirect_uri, redirect_uri_sent,
            scope, code_challenge, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        args![
            &secret::hash(&value),
            &code.client_id,
            &code.tenant_id,
            &code.admin_id,
            &code.redirect_uri,
            code.redirect_uri_sent,
            &code.scope,
            &code.code_challenge,
            &now(),
            &code.expires_at,
        ],
    )
    .await?;
    Ok(value)
}

/// Marks a code used and returns what it was bound to. A code that was
/// already used comes back with `used_at` set and the grant it was
/// exchanged for (the caller then revokes that grant); an unknown code is
/// None.
pub async fn take_code(tx: &mut Tx, value: &str) -> Result<Option<Code>, SqlError> {
    const COLUMNS: &str = "client_id, tenant_id, admin_id, redirect_uri, redirect_uri_sent, scope,
        code_challenge, expires_at, used_at, grant_id";
    fn code(row: &Cells<'_>) -> Result<Code, SqlError> {
        let sent: i64 = row.get("redirect_uri_sent")?;
        Ok(Code {
            client_id: row.get("client_id")?,
            tenant_id: row.get("tenant_id")?,
            admin_id: row.get("admin_id")?,
            redirect_uri: row.get("redirect_uri")?,
            redirect_uri_sent: sent != 0,
            scope: row.get("scope")?,
            code_challenge: row.get("code_challenge")?,
            expires_at: row.get("expires_at")?,
            used_at: row.get("used_at")?,
            grant_id: row.get("grant_id")?,
        })
    }
    let hash = secret::hash(value);
    // First use wins, across instances too: the conditional update takes
    // the code in one statement. On PostgreSQL a racing exchange waits here
    // for the winner's transaction and then updates nothing.
    let first = tx
        .fetch_optional(
            &format!(
                "UPDATE oauth_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL
                 RETURNING {COLUMNS}"
            ),
            args![&now(), &hash],
            code,
        )
        .await?;
    if let Some(first) = first {
        return Ok(Some(Code {
            used_at: None,
            ..first
        }));
    }
    // Unknown, or used before: read it as it is now, with the grant the
    // first exchange committed, so that the caller revokes that grant.
    tx.fetch_optional(
        &format!("SELECT {COLUMNS} FROM oauth_codes WHERE code_hash = $1"),
        args![&hash],
        code,
    )
    .await
}

pub async fn set_code_grant(tx: &mut Tx, value: &str, grant_id: &str) -> Result<(), SqlError> {
    tx.execute(
        "UPDATE oauth_codes SET grant_id = $1 WHERE code_hash = $2",
        args![grant_id, &secret::hash(value)],
    )
    .await?;
    Ok(())
}

/// Deletes codes that expired more than a day ago.
pub async fn purge_codes(db: &Db) -> Result<u64, SqlError> {
    let cutoff = format_time(chrono::Utc::now() - chrono::Duration::days(1));
    db.execute(
        "DELETE FROM oauth_codes WHERE expires_at < $1",
        args![&cutoff],
    )
    .await
}

/// Mints an access token for a grant, stored in `api_tokens`.
pub async fn issue_access_token(
    tx: &mut Tx,
    grant: &Grant,
    name: &str,
    ttl_seconds: i64,
) -> Result<String, SqlError> {
    let value = secret::generate(secret::ACCESS_TOKEN_PREFIX);
    tx.execute(
        "INSERT INTO api_tokens (id, tenant_id, kind, name, token_hash, hint, created_at, expires_at, grant_id, client_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        args![
            &new_id(),
            &grant.tenant_id,
            KIND_ACCESS,
            name,
            &secret::hash(&value),
            &secret::hint(&value),
            &now(),
            &format_time(chrono::Utc::now() + chrono::Duration::seconds(ttl_seconds)),
            &grant.id,
            &grant.client_id,
        ],
    )
    .await?;
    Ok(value)
}

row_struct! {
    #[derive(Debug, Clone)]
    pub struct RefreshToken {
        pub id: String,
        pub grant_id: String,
        pub expires_at: String,
        pub used_at: Option<String>,
        pub replaced_by: Option<String>,
        pub revoked_at: Option<String>,
    }
}

/// Mints a refresh token; returns (its id, its value).
pub async fn issue_refresh_token(
    tx: &mut Tx,
    grant_id: &str,
    ttl_seconds: i64,
) -> Result<(String, String), SqlError> {
    let value = secret::generate(secret::REFRESH_TOKEN_PREFIX);
    let id = new_id();
    tx.execute(
        "INSERT INTO oauth_refresh_tokens (id, grant_id, token_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
        args![
            &id,
            grant_id,
            &secret::hash(&value),
            &now(),
            &format_time(chrono::Utc::now() + chrono::Duration::seconds(ttl_seconds)),
        ],
    )
    .await?;
    Ok((id, value))
}

const REFRESH_COLUMNS: &str = "id, grant_id, expires_at, used_at, replaced_by, revoked_at";

pub async fn refresh_by_value(tx: &mut Tx, value: &str) -> Result<Option<RefreshToken>, SqlError> {
    let for_update = tx.backend().for_update();
    tx.fetch_optional(
        &format!(
            "SELECT {REFRESH_COLUMNS} FROM oauth_refresh_tokens WHERE token_hash = $1{for_update}"
        ),
        args![&secret::hash(value)],
        RefreshToken::from_cells,
    )
    .await
}

pub async fn refresh_by_id(tx: &mut Tx, id: &str) -> Result<Option<RefreshToken>, SqlError> {
    tx.fetch_optional(
        &format!("SELECT {REFRESH_COLUMNS} FROM oauth_refresh_tokens WHERE id = $1"),
        args![id],
        RefreshToken::from_cells,
    )
    .await
}

/// Marks a refresh token used and replaced. Returns false when another
/// request used it first.
pub async fn mark_refresh_used(tx: &mut Tx, id: &str, replaced_by: &str) -> Result<bool, SqlError> {
    Ok(tx
        .execute(
            "UPDATE oauth_refresh_tokens SET used_at = $1, replaced_by = $2 WHERE id = $3 AND used_at IS NULL",
            args![&now(), replaced_by, id],
        )
        .await?
        > 0)
}

/// Re-points a used refresh token at a new successor (grace-window retry).
pub async fn repoint_refresh(tx: &mut Tx, id: &str, replaced_by: &str) -> Result<(), SqlError> {
    tx.execute(
        "UPDATE oauth_refresh_tokens SET replaced_by = $1 WHERE id = $2",
        args![replaced_by, id],
    )
    .await?;
    Ok(())
}

pub async fn revoke_refresh(tx: &mut Tx, id: &str) -> Result<(), SqlError> {
    tx.execute(
        "UPDATE oauth_refresh_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        args![&now(), id],
    )
    .await?;
    Ok(())
}

/// An access token as introspection sees it.
#[derive(Debug, Clone)]
pub struct AccessTokenInfo {
    pub id: String,
    pub tenant_id: String,
    pub kind: String,
    pub grant_id: Option<String>,
    pub client_id: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

pub async fn access_token_by_value(
    db: &Db,
    value: &str,
) -> Result<Option<AccessTokenInfo>, SqlError> {
    let row = sqlx::query(
        "SELECT id, tenant_id, kind, grant_id, client_id, created_at, expires_at, revoked_at
         FROM api_tokens WHERE token_hash = $1",
    )
    .bind(secret::hash(value))
    .fetch_optional(db.reader())
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(AccessTokenInfo {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        kind: row.try_get("kind")?,
        grant_id: row.try_get("grant_id")?,
        client_id: row.try_get("client_id")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    }))
}

/// A refresh token with its grant, for revocation and introspection.
pub async fn refresh_with_grant(
    db: &Db,
    value: &str,
) -> Result<Option<(RefreshToken, Grant)>, SqlError> {
    let row = sqlx::query(&format!(
        "SELECT {REFRESH_COLUMNS} FROM oauth_refresh_tokens WHERE token_hash = $1"
    ))
    .bind(secret::hash(value))
    .fetch_optional(db.reader())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let rt: RefreshToken = super::decode(&row)?;
    Ok(grant(db, &rt.grant_id).await?.map(|g| (rt, g)))
}

pub async fn revoke_access_token(tx: &mut Tx, id: &str) -> Result<(), SqlError> {
    tx.execute(
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        args![&now(), id],
    )
    .await?;
    Ok(())
}

/// How long a code is kept after it expired: a replay within this time is
/// still recognised as reuse (and revokes what the code issued).
pub const CODE_KEPT_SECS: i64 = 24 * 60 * 60;

/// Deletes up to `batch` authorization codes that expired more than
/// [`CODE_KEPT_SECS`] ago. Returns how many.
pub async fn prune_codes(db: &Db, batch: i64) -> Result<u64, SqlError> {
    let cutoff = format_time(chrono::Utc::now() - chrono::Duration::seconds(CODE_KEPT_SECS));
    db.execute(
        "DELETE FROM oauth_codes WHERE code_hash IN (
             SELECT code_hash FROM oauth_codes WHERE expires_at < $1 LIMIT $2)",
        args![&cutoff, batch],
    )
    .await
}

/// Ends an OAuth connection: the grant and every access and refresh token it
/// issued are revoked at once, and the revocation is logged, in one
/// transaction. A client-credentials connection takes its client with it:
/// otherwise the client would open a new one with its next token request.
/// False when it was already revoked.
pub async fn end_connection(db: &Db, grant: &Grant, actor: &Actor) -> Result<bool, SqlError> {
    let mut tx = db.begin().await?;
    let reason = format!("revoked by {} in the console", actor.label);
    let revoked = revoke_grant(&mut tx, &grant.id, &reason).await?;
    if revoked {
        let client_too = grant.kind == KIND_CLIENT_CREDENTIALS
            && tx
                .execute(
                    "UPDATE oauth_clients SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                    args![&now(), &grant.client_id],
                )
                .await?
                > 0;
        let detail = if client_too {
            format!(
                "connection {} of client {} revoked with all its tokens; the client was revoked too, so its credentials get no new token",
                grant.id, grant.client_id
            )
        } else {
            format!(
                "connection {} of client {} revoked with all its tokens",
                grant.id, grant.client_id
            )
        };
        activity::record(
            &mut tx,
            &Entry::security(&grant.tenant_id, actor, "oauth.grant.revoke")
                .resource("Grant", &grant.id, &grant.client_id)
                .detail(detail),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(revoked)
}
