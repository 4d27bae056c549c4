//! Tenants: one customer organisation each.

use serde::Serialize;

use super::{Db, SqlError, Tx, new_id, now};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Tenant {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub created_at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("a tenant with the slug {0:?} already exists")]
    SlugTaken(String),
    #[error(
        "invalid tenant slug {0:?}: use 1 to 63 lower-case letters, digits and hyphens, starting with a letter or digit"
    )]
    InvalidSlug(String),
    #[error(transparent)]
    Db(#[from] SqlError),
}

super::from_sqlx!(TenantError);

pub fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 63
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
}

pub async fn create(db: &Db, slug: &str, name: &str) -> Result<Tenant, TenantError> {
    if !valid_slug(slug) {
        return Err(TenantError::InvalidSlug(slug.to_string()));
    }
    let tenant = Tenant {
        id: new_id(),
        slug: slug.to_string(),
        name: name.to_string(),
        created_at: now(),
    };
    let result =
        sqlx::query("INSERT INTO tenants (id, slug, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&tenant.id)
            .bind(&tenant.slug)
            .bind(&tenant.name)
            .bind(&tenant.created_at)
            .execute(db.writer())
            .await
            .map_err(SqlError::from);
    match result {
        Ok(_) => Ok(tenant),
        Err(e) if e.is_unique_violation() => Err(TenantError::SlugTaken(slug.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// As [`create`], inside the caller's transaction (a tenant and its first
/// admin are created together or not at all).
pub async fn create_in(tx: &mut Tx, slug: &str, name: &str) -> Result<Tenant, TenantError> {
    if !valid_slug(slug) {
        return Err(TenantError::InvalidSlug(slug.to_string()));
    }
    let tenant = Tenant {
        id: new_id(),
        slug: slug.to_string(),
        name: name.to_string(),
        created_at: now(),
    };
    let result =
        sqlx::query("INSERT INTO tenants (id, slug, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&tenant.id)
            .bind(&tenant.slug)
            .bind(&tenant.name)
            .bind(&tenant.created_at)
            .execute(&mut **tx)
            .await
            .map_err(SqlError::from);
    match result {
        Ok(_) => Ok(tenant),
        Err(e) if e.is_unique_violation() => Err(TenantError::SlugTaken(slug.to_string())),
        Err(e) => Err(e.into()),
    }
}

pub async fn list(db: &Db) -> Result<Vec<Tenant>, SqlError> {
    let rows = sqlx::query("SELECT id, slug, name, created_at FROM tenants ORDER BY slug")
        .fetch_all(db.reader())
        .await?;
    rows.iter().map(super::decode).collect()
}

pub async fn by_slug(db: &Db, slug: &str) -> Result<Option<Tenant>, SqlError> {
    let row = sqlx::query("SELECT id, slug, name, created_at FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_optional(db.reader())
        .await?;
    row.as_ref().map(super::decode).transpose()
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<Tenant>, SqlError> {
    let row = sqlx::query("SELECT id, slug, name, created_at FROM tenants WHERE id = $1")
        .bind(id)
        .fetch_optional(db.reader())
        .await?;
    row.as_ref().map(super::decode).transpose()
}
