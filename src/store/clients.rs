//! OAuth clients and their secrets.

use serde::Serialize;
use sqlx::Row as _;

use super::activity::{self, Actor, Entry};
use super::events;
use super::tx::args;
use super::{Db, SqlError, Tx, format_time, new_id, now};
use crate::secret;

/// Prefix of client ids (public) and client secrets.
pub const CLIENT_ID_PREFIX: &str = "sgc_";
pub const CLIENT_SECRET_PREFIX: &str = "sgcs_";
/// Default lifetime of a client secret: two years (Entra allows 1 to 3).
pub const DEFAULT_SECRET_DAYS: u32 = 730;

/// Entra's provisioning service sends the admin's browser back to one of
/// these after **Authorize**.
pub const ENTRA_REDIRECT_URIS: [&str; 3] = [
    "https://portal.azure.com/TokenAuthorize",
    "https://aad.portal.azure.com/TokenAuthorize",
    "https://entra.microsoft.com/TokenAuthorize",
];

#[derive(Debug, Clone, Serialize)]
pub struct Client {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecretInfo {
    pub id: String,
    pub client_id: String,
    pub hint: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

impl SecretInfo {
    pub fn status(&self, now: &str) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.as_str() <= now {
            "expired"
        } else {
            "active"
        }
    }
}

const CLIENT_COLUMNS: &str = "id, tenant_id, name, redirect_uris, created_at, revoked_at";
const SECRET_COLUMNS: &str =
    "id, client_id, hint, created_at, expires_at, revoked_at, last_used_at";

fn client_from_row(row: &sqlx::any::AnyRow) -> Result<Client, SqlError> {
    let uris: String = row.try_get("redirect_uris")?;
    Ok(Client {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        redirect_uris: serde_json::from_str(&uris).unwrap_or_default(),
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn secret_from_row(row: &sqlx::any::AnyRow) -> Result<SecretInfo, SqlError> {
    Ok(SecretInfo {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        hint: row.try_get("hint")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

/// Checks a redirect URI a client registers: absolute https (or http on a
/// loopback host, for tools on the admin's own machine), no fragment.
pub fn valid_redirect_uri(uri: &str) -> Result<(), String> {
    let parsed =
        url::Url::parse(uri).map_err(|e| format!("{uri:?} is not an absolute URL: {e}"))?;
    if parsed.fragment().is_some() {
        return Err(format!("{uri:?} must not contain a fragment (#…)"));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")) => Ok(()),
        _ => Err(format!(
            "{uri:?} must use https (http is allowed only for localhost)"
        )),
    }
}

/// Registers a client with its first secret. Returns the client and the
/// secret, which is shown once and stored only as a hash.
pub async fn create(
    db: &Db,
    tenant_id: &str,
    name: &str,
    redirect_uris: &[String],
    secret_days: u32,
    actor: &Actor,
) -> Result<(Client, SecretInfo, String), SqlError> {
    let client = Client {
        id: secret::generate(CLIENT_ID_PREFIX)[..CLIENT_ID_PREFIX.len() + 22].to_string(),
        tenant_id: tenant_id.to_string(),
        name: name.to_string(),
        redirect_uris: redirect_uris.to_vec(),
        created_at: now(),
        revoked_at: None,
    };
    let mut tx = db.begin().await?;
    tx.execute(
        "INSERT INTO oauth_clients (id, tenant_id, name, redirect_uris, created_at) VALUES ($1, $2, $3, $4, $5)",
        args![
            &client.id,
            &client.tenant_id,
            &client.name,
            &serde_json::to_string(&client.redirect_uris).unwrap_or_else(|_| "[]".into()),
            &client.created_at,
        ],
    )
    .await?;
    let (info, secret) = insert_secret(&mut tx, &client.id, secret_days).await?;
    activity::record(
        &mut tx,
        &Entry::security(tenant_id, actor, "client.create")
            .resource("Client", &client.id, name)
            .detail(format!(
                "OAuth client created with {} redirect URI(s); secret expires {}",
                client.redirect_uris.len(),
                info.expires_at
            )),
    )
    .await?;
    events::insert_one(
        &mut tx,
        &events::connection(
            tenant_id,
            events::types::CONNECTION_AUTHORIZED,
            events::Connection::OauthClient,
            &client.id,
            name,
            Some(&client.id),
            None,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok((client, info, secret))
}

async fn insert_secret(
    tx: &mut Tx,
    client_id: &str,
    days: u32,
) -> Result<(SecretInfo, String), SqlError> {
    let secret = secret::generate(CLIENT_SECRET_PREFIX);
    let info = SecretInfo {
        id: new_id(),
        client_id: client_id.to_string(),
        hint: secret::hint(&secret),
        created_at: now(),
        expires_at: format_time(chrono::Utc::now() + chrono::Duration::days(i64::from(days))),
        revoked_at: None,
        last_used_at: None,
    };
    tx.execute(
        "INSERT INTO oauth_client_secrets (id, client_id, secret_hash, hint, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        args![
            &info.id,
            &info.client_id,
            &secret::hash(&secret),
            &info.hint,
            &info.created_at,
            &info.expires_at,
        ],
    )
    .await?;
    Ok((info, secret))
}

/// Adds a secret to a client (rotation without downtime: the old one keeps
/// working until it expires or is revoked).
pub async fn add_secret(
    db: &Db,
    client: &Client,
    days: u32,
    actor: &Actor,
) -> Result<(SecretInfo, String), SqlError> {
    let mut tx = db.begin().await?;
    let (info, secret) = insert_secret(&mut tx, &client.id, days).await?;
    activity::record(
        &mut tx,
        &Entry::security(&client.tenant_id, actor, "client.secret.create")
            .resource("Client", &client.id, &client.name)
            .detail(format!(
                "client secret {} added, expires {}",
                info.hint, info.expires_at
            )),
    )
    .await?;
    tx.commit().await?;
    Ok((info, secret))
}

/// Revokes one secret of a client. False when the client has no such secret.
pub async fn revoke_secret(
    db: &Db,
    client: &Client,
    secret_id: &str,
    actor: &Actor,
) -> Result<bool, SqlError> {
    let mut tx = db.begin().await?;
    let n = tx
        .execute(
            "UPDATE oauth_client_secrets SET revoked_at = $1 WHERE id = $2 AND client_id = $3 AND revoked_at IS NULL",
            args![&now(), secret_id, &client.id],
        )
        .await?;
    if n > 0 {
        activity::record(
            &mut tx,
            &Entry::security(&client.tenant_id, actor, "client.secret.revoke")
                .resource("Client", &client.id, &client.name)
                .detail("client secret revoked"),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(n > 0)
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<Client>, SqlError> {
    let row = sqlx::query(&format!(
        "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db.reader())
    .await?;
    row.as_ref().map(client_from_row).transpose()
}

pub async fn list(db: &Db, tenant_id: &str) -> Result<Vec<Client>, SqlError> {
    let rows = sqlx::query(&format!(
        "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE tenant_id = $1 ORDER BY created_at, id"
    ))
    .bind(tenant_id)
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(client_from_row).collect()
}

pub async fn secrets(db: &Db, client_id: &str) -> Result<Vec<SecretInfo>, SqlError> {
    let rows = sqlx::query(&format!(
        "SELECT {SECRET_COLUMNS} FROM oauth_client_secrets WHERE client_id = $1 ORDER BY created_at, id"
    ))
    .bind(client_id)
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(secret_from_row).collect()
}

/// Authenticates a client by id and secret. Every active secret is compared
/// (in constant time) so that the answer does not depend on which matched.
pub async fn authenticate(
    db: &Db,
    client_id: &str,
    presented: &str,
) -> Result<Option<Client>, SqlError> {
    if client_id.len() > 128 || presented.len() > 256 {
        return Ok(None);
    }
    let Some(client) = by_id(db, client_id).await? else {
        // Hash anyway: unknown ids take as long as wrong secrets.
        let _ = secret::verify(presented, "");
        return Ok(None);
    };
    if client.revoked_at.is_some() {
        return Ok(None);
    }
    let at = now();
    let rows = sqlx::query(
        "SELECT id, secret_hash FROM oauth_client_secrets
         WHERE client_id = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(client_id)
    .bind(&at)
    .fetch_all(db.reader())
    .await?;
    let mut matched: Option<String> = None;
    for row in &rows {
        let hash: String = row.try_get("secret_hash")?;
        if secret::verify(presented, &hash) {
            matched = Some(row.try_get("id")?);
        }
    }
    let Some(secret_id) = matched else {
        return Ok(None);
    };
    db.execute(
        "UPDATE oauth_client_secrets SET last_used_at = $1 WHERE id = $2",
        args![&at, &secret_id],
    )
    .await?;
    Ok(Some(client))
}
