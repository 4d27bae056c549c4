//! Tenants: one customer organisation each; the operator's list of them
//! with their sizes, and a new tenant created with its first admin.

use serde::Serialize;
use sqlx::Row as _;

use super::activity::{self, Actor, Entry};
use super::admins::{self, Admin, AdminError};
use super::tx::{Arg, row_struct};
use super::{Db, SqlError, Tx, new_id, now};

row_struct! {
    #[derive(Debug, Clone, Serialize)]
    pub struct Tenant {
        pub id: String,
        pub slug: String,
        pub name: String,
        pub created_at: String,
    }
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

/// Stores a new tenant.
const INSERT: &str = "INSERT INTO tenants (id, slug, name, created_at) VALUES ($1, $2, $3, $4)";

/// The values of [`INSERT`].
fn insert_args(tenant: &Tenant) -> [Arg<'_>; 4] {
    [
        (&tenant.id).into(),
        (&tenant.slug).into(),
        (&tenant.name).into(),
        (&tenant.created_at).into(),
    ]
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
    let result = db.execute(INSERT, &insert_args(&tenant)).await;
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
    let result = tx.execute(INSERT, &insert_args(&tenant)).await;
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

/// One row of the operator's tenant list.
#[derive(Debug, Clone, Serialize)]
pub struct TenantSummary {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub created_at: String,
    pub users: i64,
    pub groups: i64,
    /// When the tenant's identity provider last called the SCIM API.
    pub last_scim_at: Option<String>,
}

/// Every tenant with its size and last SCIM request, by slug.
pub async fn summaries(db: &Db) -> Result<Vec<TenantSummary>, SqlError> {
    let rows = sqlx::query(
        "SELECT t.id, t.slug, t.name, t.created_at,
                (SELECT COUNT(*) FROM scim_users u WHERE u.tenant_id = t.id) AS user_count,
                (SELECT COUNT(*) FROM scim_groups g WHERE g.tenant_id = t.id) AS group_count,
                (SELECT MAX(a.at) FROM activity a
                  WHERE a.tenant_id = t.id AND a.actor_kind = 'token') AS last_scim_at
         FROM tenants t ORDER BY t.slug",
    )
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TenantSummary {
                id: r.try_get("id")?,
                slug: r.try_get("slug")?,
                name: r.try_get("name")?,
                created_at: r.try_get("created_at")?,
                users: r.try_get("user_count")?,
                groups: r.try_get("group_count")?,
                last_scim_at: r.try_get("last_scim_at")?,
            })
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum NewTenantError {
    #[error(transparent)]
    Tenant(#[from] TenantError),
    #[error(transparent)]
    Admin(#[from] AdminError),
}

impl From<SqlError> for NewTenantError {
    fn from(e: SqlError) -> Self {
        NewTenantError::Tenant(TenantError::Db(e))
    }
}

/// Creates a tenant and its first admin together: a tenant nobody can sign
/// in to is never left behind by a taken e-mail address.
pub async fn create_with_admin(
    db: &Db,
    slug: &str,
    name: &str,
    admin_email: &str,
    password_hash: &str,
    actor: &Actor,
) -> Result<(Tenant, Admin), NewTenantError> {
    let mut tx = db.begin().await?;
    let tenant = create_in(&mut tx, slug, name).await?;
    activity::record(
        &mut tx,
        &Entry::security(&tenant.id, actor, "tenant.create")
            .resource("Tenant", &tenant.id, &tenant.slug)
            .detail(format!(
                "tenant {} ({}) created by {}",
                tenant.name, tenant.slug, actor.label
            )),
    )
    .await?;
    let admin =
        admins::create_in(&mut tx, Some(&tenant.id), admin_email, password_hash, actor).await?;
    tx.commit().await?;
    Ok((tenant, admin))
}
