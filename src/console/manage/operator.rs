//! The operator's home: every tenant with its size and last SCIM request,
//! and creating a tenant together with its first admin. Operators run
//! scimgate for many customers; they see no tenant's pages.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::connections::SecretPage;
use super::{Operator, no_store, set_notice, take_notice, when, when_or};
use crate::console::nav::Nav;
use crate::console::{ConsoleError, CsrfForm, render, see_other};
use crate::http::AppState;
use crate::store::admins::{self, AdminError};
use crate::store::tenants::{self, NewTenantError, TenantError};

pub struct TenantRow {
    pub slug: String,
    pub name: String,
    pub created: String,
    pub users: i64,
    pub groups: i64,
    pub last_scim: String,
}

#[derive(Template)]
#[template(path = "manage/operator.html")]
pub struct OperatorPage {
    pub nav: Nav,
    pub email: String,
    pub csrf: String,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub tenants: Vec<TenantRow>,
    pub slug: String,
    pub name: String,
    pub admin_email: String,
    pub min_password: usize,
}

async fn load(
    state: &AppState,
    current: &Operator,
    error: Option<String>,
) -> Result<OperatorPage, ConsoleError> {
    let tenants = tenants::summaries(state.db())
        .await?
        .into_iter()
        .map(|t| TenantRow {
            created: when(&t.created_at),
            last_scim: when_or(t.last_scim_at.as_deref(), "never"),
            slug: t.slug,
            name: t.name,
            users: t.users,
            groups: t.groups,
        })
        .collect();
    Ok(OperatorPage {
        nav: current.nav(state).await?,
        email: current.admin.email.clone(),
        csrf: crate::console::session::csrf_token(&current.session).await?,
        notice: take_notice(&current.session).await?,
        error,
        tenants,
        slug: String::new(),
        name: String::new(),
        admin_email: String::new(),
        min_password: crate::password::MIN_LEN,
    })
}

/// The operator's `GET /`: the handler of `/` hands operators here.
pub async fn home(state: &AppState, current: Operator) -> Result<Response, ConsoleError> {
    Ok(render(StatusCode::OK, &load(state, &current, None).await?))
}

#[derive(Debug, Deserialize)]
pub struct TenantForm {
    slug: Option<String>,
    name: Option<String>,
    admin_email: Option<String>,
    admin_password: Option<String>,
}

/// `POST /tenants`: a tenant and its first admin, together.
pub async fn create_tenant(
    State(state): State<AppState>,
    current: Operator,
    CsrfForm(form): CsrfForm<TenantForm>,
) -> Result<Response, ConsoleError> {
    let slug = form.slug.unwrap_or_default().trim().to_lowercase();
    let name = form.name.unwrap_or_default().trim().to_string();
    let email = form.admin_email.unwrap_or_default().trim().to_string();
    let typed = form.admin_password.filter(|p| !p.is_empty());
    let again = |error: String| async {
        let mut page = load(&state, &current, Some(error)).await?;
        page.slug = slug.clone();
        page.name = name.clone();
        page.admin_email = email.clone();
        Ok::<_, ConsoleError>(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
    };
    if !tenants::valid_slug(&slug) {
        return again(TenantError::InvalidSlug(slug.clone()).to_string()).await;
    }
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return again(
            "Give the tenant a display name (the customer's organisation), up to 200 characters."
                .to_string(),
        )
        .await;
    }
    if !admins::plausible_email(&email) {
        return again(format!(
            "{email:?} is not an e-mail address: give the e-mail of the tenant's first admin."
        ))
        .await;
    }
    if let Some(p) = &typed
        && let Err(e) = crate::password::check_policy(p)
    {
        return again(format!(
            "Password refused: {e}. Or leave it blank to generate one."
        ))
        .await;
    }
    let generated = typed.is_none();
    let password = typed.unwrap_or_else(crate::password::generate);
    let hash = crate::password::hash(password.clone())
        .await
        .map_err(ConsoleError::internal)?;
    let created =
        tenants::create_with_admin(state.db(), &slug, &name, &email, &hash, &current.actor()).await;
    let (tenant, admin) = match created {
        Ok(v) => v,
        Err(NewTenantError::Tenant(TenantError::Db(e)))
        | Err(NewTenantError::Admin(AdminError::Db(e))) => return Err(e.into()),
        Err(NewTenantError::Admin(AdminError::EmailTaken(_))) => {
            return again(format!(
                "An account with the e-mail {email} already exists (e-mail addresses are unique across scimgate). Give another address for this tenant's first admin."
            ))
            .await;
        }
        Err(e) => return again(e.to_string()).await,
    };
    tracing::info!(tenant = %tenant.id, operator = %current.admin.id, "tenant created in the console");
    if !generated {
        set_notice(
            &current.session,
            format!(
                "Tenant {} ({}) created; {} can sign in with the password you chose.",
                tenant.name, tenant.slug, admin.email
            ),
        )
        .await?;
        return Ok(see_other("/"));
    }
    let page = SecretPage {
        nav: current.nav(&state).await?,
        title: format!("Tenant {} created", tenant.name),
        lead: format!(
            "Give {} this password through a channel you trust; it is shown only this once.",
            admin.email
        ),
        details: vec![
            (
                "Tenant".to_string(),
                format!("{} ({})", tenant.name, tenant.slug),
            ),
            ("First admin".to_string(), admin.email.clone()),
            (
                "Sign in at".to_string(),
                format!("{}/signin", state.public_url()),
            ),
        ],
        secret_label: "First admin's password".to_string(),
        secret: password,
        note: "scimgate stores only an argon2 hash of this password.".to_string(),
        back_href: "/".to_string(),
        back_label: "Back to tenants".to_string(),
    };
    Ok(no_store(render(StatusCode::OK, &page)))
}
