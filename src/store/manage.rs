//! Queries of the console's management pages: the operator's tenant list,
//! creating a tenant with its first admin, ending an OAuth connection, and
//! the live "has Entra arrived yet" signals of the Connect page.

use serde::Serialize;
use sqlx::Row as _;

use super::activity::{self, Actor, Entry};
use super::admins::{self, Admin, AdminError};
use super::grants::{self, Grant};
use super::tenants::{self, Tenant, TenantError};
use super::{Db, SqlError};

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
pub async fn tenant_summaries(db: &Db) -> Result<Vec<TenantSummary>, SqlError> {
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
pub async fn create_tenant_with_admin(
    db: &Db,
    slug: &str,
    name: &str,
    admin_email: &str,
    password_hash: &str,
    actor: &Actor,
) -> Result<(Tenant, Admin), NewTenantError> {
    let mut tx = db.begin().await?;
    let tenant = tenants::create_in(&mut tx, slug, name).await?;
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

/// Ends an OAuth connection: the grant and every access and refresh token it
/// issued are revoked at once, and the revocation is logged, in one
/// transaction. A client-credentials connection takes its client with it:
/// otherwise the client would open a new one with its next token request.
/// False when it was already revoked.
pub async fn revoke_grant(db: &Db, grant: &Grant, actor: &Actor) -> Result<bool, SqlError> {
    let mut tx = db.begin().await?;
    let reason = format!("revoked by {} in the console", actor.label);
    let revoked = grants::revoke_grant(&mut tx, &grant.id, &reason).await?;
    if revoked {
        let client_too = grant.kind == grants::KIND_CLIENT_CREDENTIALS
            && sqlx::query(
                "UPDATE oauth_clients SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(super::now())
            .bind(&grant.client_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
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

/// A logged event, as the Connect page's status panel shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Seen {
    pub at: String,
    pub actor_label: Option<String>,
    pub detail: Option<String>,
    pub status: i64,
}

/// The latest `operation` logged for a resource of the tenant.
pub async fn latest_event(
    db: &Db,
    tenant_id: &str,
    operation: &str,
    resource_id: &str,
) -> Result<Option<Seen>, SqlError> {
    let row = sqlx::query(
        "SELECT at, actor_label, detail, status FROM activity
         WHERE tenant_id = $1 AND resource_id = $2 AND operation = $3
         ORDER BY id DESC LIMIT 1",
    )
    .bind(tenant_id)
    .bind(resource_id)
    .bind(operation)
    .fetch_optional(db.reader())
    .await?;
    row.map(|r| {
        Ok(Seen {
            at: r.try_get("at")?,
            actor_label: r.try_get("actor_label")?,
            detail: r.try_get("detail")?,
            status: r.try_get("status")?,
        })
    })
    .transpose()
}

/// A SCIM request as the status panel shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ScimSeen {
    pub at: String,
    pub operation: String,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: i64,
}

/// Whose SCIM requests the status panel watches.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// Any access token issued to this OAuth client.
    Client(&'a str),
    /// This secret token.
    Token(&'a str),
}

/// The first and the latest SCIM requests made with `caller`'s credentials
/// since `since` (when the client or token was created, so that only the
/// newest part of a large log is read), and how many there were.
pub async fn scim_requests(
    db: &Db,
    tenant_id: &str,
    caller: Caller<'_>,
    since: &str,
) -> Result<(Option<ScimSeen>, Option<ScimSeen>, i64), SqlError> {
    let who = match caller {
        Caller::Client(_) => {
            "a.actor_id IN (SELECT t.id FROM api_tokens t WHERE t.tenant_id = $1 AND t.client_id = $3)"
        }
        Caller::Token(_) => "a.actor_id = $3",
    };
    let id = match caller {
        Caller::Client(id) | Caller::Token(id) => id,
    };
    let base = format!(
        "FROM activity a WHERE a.tenant_id = $1 AND a.at >= $2 AND a.actor_kind = 'token' AND {who}"
    );
    let pick = |order: &'static str| {
        let sql = format!(
            "SELECT a.at, a.operation, a.method, a.path, a.status {base} ORDER BY a.id {order} LIMIT 1"
        );
        async move {
            let row = sqlx::query(&sql)
                .bind(tenant_id)
                .bind(since)
                .bind(id)
                .fetch_optional(db.reader())
                .await?;
            row.map(|r| {
                Ok::<_, SqlError>(ScimSeen {
                    at: r.try_get("at")?,
                    operation: r.try_get("operation")?,
                    method: r.try_get("method")?,
                    path: r.try_get("path")?,
                    status: r.try_get("status")?,
                })
            })
            .transpose()
        }
    };
    let first = pick("ASC").await?;
    let latest = pick("DESC").await?;
    let count: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n {base}"))
        .bind(tenant_id)
        .bind(since)
        .bind(id)
        .fetch_one(db.reader())
        .await?
        .try_get("n")?;
    Ok((first, latest, count))
}
