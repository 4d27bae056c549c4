//! Console accounts: tenant admins, and operators (no tenant).

use serde::Serialize;
use sqlx::Row as _;

use super::activity::{self, Actor, Entry};
use super::tx::{Arg, args, row_struct};
use super::{Db, SqlError, Tx, new_id, now};

row_struct! {
    #[derive(Debug, Clone, Serialize)]
    pub struct Admin {
        pub id: String,
        /// None for an operator.
        pub tenant_id: Option<String>,
        pub email: String,
        pub created_at: String,
        pub password_changed_at: String,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("an account with the e-mail {0:?} already exists")]
    EmailTaken(String),
    #[error("{0:?} is not an e-mail address")]
    InvalidEmail(String),
    #[error(transparent)]
    Db(#[from] SqlError),
}

const COLUMNS: &str = "id, tenant_id, email, created_at, password_changed_at";

pub fn plausible_email(email: &str) -> bool {
    let email = email.trim();
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && email.len() <= 254
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// Creates an account with an argon2id hash already computed.
pub async fn create(
    db: &Db,
    tenant_id: Option<&str>,
    email: &str,
    password_hash: &str,
    actor: &Actor,
) -> Result<Admin, AdminError> {
    let email = email.trim();
    if !plausible_email(email) {
        return Err(AdminError::InvalidEmail(email.to_string()));
    }
    let mut tx = db.begin().await?;
    let admin = create_in(&mut tx, tenant_id, email, password_hash, actor).await?;
    tx.commit().await?;
    Ok(admin)
}

/// As [`create`], inside the caller's transaction (a tenant and its first
/// admin, or the first operator and the setup link it uses, land together).
pub async fn create_in(
    tx: &mut Tx,
    tenant_id: Option<&str>,
    email: &str,
    password_hash: &str,
    actor: &Actor,
) -> Result<Admin, AdminError> {
    let email = email.trim();
    if !plausible_email(email) {
        return Err(AdminError::InvalidEmail(email.to_string()));
    }
    let at = now();
    let admin = Admin {
        id: new_id(),
        tenant_id: tenant_id.map(str::to_string),
        email: email.to_string(),
        created_at: at.clone(),
        password_changed_at: at,
    };
    let inserted = tx
        .execute(
            "INSERT INTO admins (id, tenant_id, email, email_lower, password_hash, created_at, password_changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
            args![
                &admin.id,
                &admin.tenant_id,
                &admin.email,
                &admin.email.to_lowercase(),
                password_hash,
                &admin.created_at,
                &admin.password_changed_at,
            ],
        )
        .await;
    match inserted {
        Ok(_) => {}
        Err(e) if e.is_unique_violation() => return Err(AdminError::EmailTaken(email.to_string())),
        Err(e) => return Err(e.into()),
    }
    if let Some(t) = tenant_id {
        activity::record(
            tx,
            &Entry::security(t, actor, "admin.create")
                .resource("Admin", &admin.id, &admin.email)
                .detail(format!("admin account {} created", admin.email)),
        )
        .await?;
    }
    Ok(admin)
}

/// The account and its password hash, by e-mail (case-insensitive).
pub async fn by_email(db: &Db, email: &str) -> Result<Option<(Admin, Option<String>)>, SqlError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, password_hash FROM admins WHERE email_lower = $1"
    ))
    .bind(email.trim().to_lowercase())
    .fetch_optional(db.reader())
    .await?;
    match row {
        Some(r) => Ok(Some((super::decode(&r)?, r.try_get("password_hash")?))),
        None => Ok(None),
    }
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<Admin>, SqlError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM admins WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.reader())
        .await?;
    row.as_ref().map(super::decode).transpose()
}

/// A tenant's admins, or the operators when `tenant_id` is None.
pub async fn list(db: &Db, tenant_id: Option<&str>) -> Result<Vec<Admin>, SqlError> {
    let rows = match tenant_id {
        Some(t) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM admins WHERE tenant_id = $1 ORDER BY email_lower"
            ))
            .bind(t)
            .fetch_all(db.reader())
            .await?
        }
        None => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM admins WHERE tenant_id IS NULL ORDER BY email_lower"
            ))
            .fetch_all(db.reader())
            .await?
        }
    };
    rows.iter().map(super::decode).collect()
}

/// Sets an account's password hash and the time it changed.
const SET_PASSWORD: &str =
    "UPDATE admins SET password_hash = $1, password_changed_at = $2 WHERE id = $3";

/// The values of [`SET_PASSWORD`].
fn set_password_args<'a>(password_hash: &'a str, at: &'a str, id: &'a str) -> [Arg<'a>; 3] {
    [password_hash.into(), at.into(), id.into()]
}

/// Sets a new password hash. Sessions opened before this moment are no
/// longer honoured (they carry the old `password_changed_at`).
pub async fn set_password(db: &Db, id: &str, password_hash: &str) -> Result<bool, SqlError> {
    let at = now();
    let n = db
        .execute(SET_PASSWORD, &set_password_args(password_hash, &at, id))
        .await?;
    Ok(n > 0)
}

pub async fn count(db: &Db) -> Result<i64, SqlError> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM admins")
        .fetch_one(db.reader())
        .await?
        .try_get("n")?)
}

/// Admins of one tenant.
pub async fn count_in_tenant(db: &Db, tenant_id: &str) -> Result<i64, SqlError> {
    Ok(
        sqlx::query("SELECT COUNT(*) AS n FROM admins WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(db.reader())
            .await?
            .try_get("n")?,
    )
}

/// Why an admin account was not removed.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    #[error("no such admin account")]
    NotFound,
    #[error("{0} is the last admin of this tenant; add another admin first")]
    LastAdmin(String),
    #[error(transparent)]
    Db(#[from] SqlError),
}

super::from_sqlx!(AdminError, DeleteError);

/// Removes a tenant admin, refusing to remove a tenant's last admin (nobody
/// could then connect or manage it). The count and the delete run in one
/// transaction with the tenant's admin rows locked, so two admins removing
/// each other at once cannot both succeed. Sessions of the removed account
/// stop working at their next request (the account is gone).
pub async fn delete(db: &Db, admin: &Admin, actor: &Actor) -> Result<(), DeleteError> {
    let Some(tenant_id) = admin.tenant_id.as_deref() else {
        return Err(DeleteError::NotFound);
    };
    let mut tx = db.begin().await?;
    let ids: Vec<String> = tx
        .fetch(
            &format!(
                "SELECT id FROM admins WHERE tenant_id = $1{}",
                db.backend().for_update()
            ),
            args![tenant_id],
            |r| r.get("id"),
        )
        .await?;
    if !ids.contains(&admin.id) {
        return Err(DeleteError::NotFound);
    }
    if ids.len() <= 1 {
        return Err(DeleteError::LastAdmin(admin.email.clone()));
    }
    tx.execute(
        "DELETE FROM admins WHERE id = $1 AND tenant_id = $2",
        args![&admin.id, tenant_id],
    )
    .await?;
    activity::record(
        &mut tx,
        &Entry::security(tenant_id, actor, "admin.delete")
            .resource("Admin", &admin.id, &admin.email)
            .detail(format!("admin account {} removed", admin.email)),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a password chosen by another admin (a reset), logged in the
/// tenant's activity. Like [`set_password`], it ends the account's sessions.
pub async fn reset_password(
    db: &Db,
    admin: &Admin,
    password_hash: &str,
    actor: &Actor,
) -> Result<(), SqlError> {
    let mut tx = db.begin().await?;
    let at = now();
    tx.execute(
        SET_PASSWORD,
        &set_password_args(password_hash, &at, &admin.id),
    )
    .await?;
    if let Some(tenant_id) = &admin.tenant_id {
        activity::record(
            &mut tx,
            &Entry::security(tenant_id, actor, "admin.password.reset")
                .resource("Admin", &admin.id, &admin.email)
                .detail(format!(
                    "password of {} reset by {}; their sessions were ended",
                    admin.email, actor.label
                )),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
