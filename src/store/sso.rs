//! Each tenant's single sign-on provider (OpenID Connect): issuer, client id
//! and client secret. The secret is stored as given because scimgate must
//! present it to the provider; it leaves this module only to be sent there.

use sqlx::Row as _;

use super::activity::{self, Actor, Entry};
use super::tx::args;
use super::{Db, SqlError, now};

/// A tenant's provider settings.
#[derive(Clone)]
pub struct TenantSso {
    pub tenant_id: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// The secret's last characters, for people.
    pub secret_hint: String,
    pub enabled: bool,
    pub updated_at: String,
}

impl std::fmt::Debug for TenantSso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantSso")
            .field("tenant_id", &self.tenant_id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// What an admin saves. `client_secret: None` keeps the stored one.
#[derive(Clone)]
pub struct SsoChange {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub enabled: bool,
}

/// `…wxyz`: the last four characters of a secret long enough that they give
/// little away, else nothing.
pub fn secret_hint(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 16 {
        return String::new();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("…{tail}")
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<TenantSso, SqlError> {
    Ok(TenantSso {
        tenant_id: row.try_get("tenant_id")?,
        issuer: row.try_get("issuer")?,
        client_id: row.try_get("client_id")?,
        client_secret: row.try_get("client_secret")?,
        secret_hint: row.try_get("secret_hint")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The tenant's settings, enabled or not.
pub async fn get(db: &Db, tenant_id: &str) -> Result<Option<TenantSso>, SqlError> {
    let row = sqlx::query(
        "SELECT tenant_id, issuer, client_id, client_secret, secret_hint, enabled, updated_at
         FROM tenant_sso WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(db.reader())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The tenant's settings when single sign-on is on.
pub async fn enabled(db: &Db, tenant_id: &str) -> Result<Option<TenantSso>, SqlError> {
    Ok(get(db, tenant_id).await?.filter(|s| s.enabled))
}

/// Whether any tenant has single sign-on on (the sign-in page then offers
/// the e-mail-first step).
pub async fn any_enabled(db: &Db) -> Result<bool, SqlError> {
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM tenant_sso WHERE enabled = 1")
        .fetch_one(db.reader())
        .await?
        .try_get("n")?;
    Ok(n > 0)
}

/// Why settings were not saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("no client secret is stored yet: enter the one the provider gave you")]
    SecretRequired,
    /// The issuer changes and no new secret was given: the stored secret is
    /// only ever sent to the provider it was given for, so it is not kept.
    #[error("the issuer changes: enter the client secret of the new provider")]
    NewIssuerNeedsSecret,
    #[error(transparent)]
    Db(#[from] SqlError),
}

super::from_sqlx!(SaveError);

/// Creates or replaces the tenant's settings (keeping the stored secret when
/// none is given), with an entry in the tenant's activity log.
pub async fn save(
    db: &Db,
    tenant_id: &str,
    change: &SsoChange,
    actor: &Actor,
) -> Result<TenantSso, SaveError> {
    let mut tx = db.begin().await?;
    let stored = tx
        .fetch_optional(
            &format!(
                "SELECT issuer, client_secret FROM tenant_sso WHERE tenant_id = $1{}",
                db.backend().for_update()
            ),
            args![tenant_id],
            |r| {
                Ok((
                    r.get::<String>("issuer")?,
                    r.get::<String>("client_secret")?,
                ))
            },
        )
        .await?;
    let exists = stored.is_some();
    let secret = match (&change.client_secret, stored) {
        (Some(new), _) => new.clone(),
        (None, Some((issuer, old))) if issuer == change.issuer => old,
        (None, Some(_)) => return Err(SaveError::NewIssuerNeedsSecret),
        (None, None) => return Err(SaveError::SecretRequired),
    };
    let saved = TenantSso {
        tenant_id: tenant_id.to_string(),
        issuer: change.issuer.clone(),
        client_id: change.client_id.clone(),
        secret_hint: secret_hint(&secret),
        client_secret: secret,
        enabled: change.enabled,
        updated_at: now(),
    };
    let sql = if exists {
        "UPDATE tenant_sso SET issuer = $2, client_id = $3, client_secret = $4, secret_hint = $5,
             enabled = $6, updated_at = $7 WHERE tenant_id = $1"
    } else {
        "INSERT INTO tenant_sso (tenant_id, issuer, client_id, client_secret, secret_hint, enabled, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    };
    tx.execute(
        sql,
        args![
            &saved.tenant_id,
            &saved.issuer,
            &saved.client_id,
            &saved.client_secret,
            &saved.secret_hint,
            i64::from(saved.enabled),
            &saved.updated_at,
        ],
    )
    .await?;
    let secret_note = if change.client_secret.is_some() {
        "new client secret"
    } else {
        "client secret kept"
    };
    activity::record(
        &mut tx,
        &Entry::security(tenant_id, actor, "sso.settings.update").detail(format!(
            "single sign-on {} with issuer {} and client id {} ({secret_note})",
            if saved.enabled { "on" } else { "off" },
            saved.issuer,
            saved.client_id,
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(saved)
}

/// Removes the tenant's settings; false when there were none.
pub async fn remove(db: &Db, tenant_id: &str, actor: &Actor) -> Result<bool, SqlError> {
    let mut tx = db.begin().await?;
    let n = tx
        .execute(
            "DELETE FROM tenant_sso WHERE tenant_id = $1",
            args![tenant_id],
        )
        .await?;
    if n > 0 {
        activity::record(
            &mut tx,
            &Entry::security(tenant_id, actor, "sso.settings.remove")
                .detail("single sign-on settings removed"),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_show_little_of_short_secrets() {
        assert_eq!(secret_hint("short"), "");
        assert_eq!(secret_hint("0123456789abcdefWXYZ"), "…WXYZ");
    }
}
