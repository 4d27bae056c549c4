//! Keys of the vendor's product for the `/api/v1` read API and event feed.
//! They are not tenants' SCIM tokens: a key without a tenant sees every
//! tenant. Shown once when created; only their SHA-256 is stored.

use serde::Serialize;

use super::tx::{args, row_struct};
use super::{Db, SqlError, new_id, now};
use crate::secret;

/// Prefix of app keys ("scimgate app key").
pub const PREFIX: &str = "sgak_";

row_struct! {
    #[derive(Debug, Clone, Serialize)]
    pub struct AppKey {
        pub id: String,
        /// The tenant the key is limited to, by id (`None`: every tenant).
        pub tenant_id: Option<String>,
        pub name: String,
        pub hint: String,
        pub created_at: String,
        pub revoked_at: Option<String>,
        pub last_used_at: Option<String>,
    }
}

const COLUMNS: &str = "id, tenant_id, name, hint, created_at, revoked_at, last_used_at";

/// Creates a key; returns it and the secret, which is never stored.
pub async fn create(
    db: &Db,
    tenant_id: Option<&str>,
    name: &str,
) -> Result<(AppKey, String), SqlError> {
    let secret = secret::generate(PREFIX);
    let key = AppKey {
        id: new_id(),
        tenant_id: tenant_id.map(str::to_string),
        name: name.to_string(),
        hint: secret::hint(&secret),
        created_at: now(),
        revoked_at: None,
        last_used_at: None,
    };
    db.execute(
        "INSERT INTO app_keys (id, tenant_id, name, key_hash, hint, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        args![
            &key.id,
            key.tenant_id.as_deref(),
            &key.name,
            &secret::hash(&secret),
            &key.hint,
            &key.created_at,
        ],
    )
    .await?;
    Ok((key, secret))
}

pub async fn list(db: &Db) -> Result<Vec<AppKey>, SqlError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM app_keys ORDER BY created_at, id"
    ))
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(super::decode).collect()
}

/// Revokes a key at once (every instance checks the row on every request).
/// False when there is no such key; a revoked key keeps its first time.
pub async fn revoke(db: &Db, id: &str) -> Result<bool, SqlError> {
    let exists = sqlx::query("SELECT id FROM app_keys WHERE id = $1")
        .bind(id)
        .fetch_optional(db.reader())
        .await?
        .is_some();
    if exists {
        db.execute(
            "UPDATE app_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            args![&now(), id],
        )
        .await?;
    }
    Ok(exists)
}

/// The key a presented secret stands for, when it exists and is not
/// revoked. Unknown and revoked keys both answer `None`.
pub async fn authenticate(db: &Db, presented: &str) -> Result<Option<AppKey>, SqlError> {
    if !presented.starts_with(PREFIX) || !secret::plausible(presented) {
        return Ok(None);
    }
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM app_keys WHERE key_hash = $1 AND revoked_at IS NULL"
    ))
    .bind(secret::hash(presented))
    .fetch_optional(db.reader())
    .await?;
    row.as_ref().map(super::decode).transpose()
}

/// Records that a key was used (called at most about once a minute per key).
pub async fn touch(db: &Db, id: &str) -> Result<(), SqlError> {
    db.execute(
        "UPDATE app_keys SET last_used_at = $1 WHERE id = $2",
        args![&now(), id],
    )
    .await?;
    Ok(())
}
