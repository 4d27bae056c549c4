//! `/admins`: the tenant's console accounts. Adding one with a generated
//! password shows it once; resetting a password ends that account's
//! sessions; the last admin of a tenant cannot be removed, and an admin who
//! removes their own account is signed out.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::connections::SecretPage;
use super::{TenantAdmin, no_store, set_notice, take_notice, when};
use crate::console::nav::{Nav, Section};
use crate::console::session;
use crate::console::{ConsoleError, CsrfForm, CsrfOnly, render, see_other};
use crate::http::AppState;
use crate::store::admins::{self, Admin, AdminError, DeleteError};

pub struct AdminRow {
    pub id: String,
    pub email: String,
    pub created: String,
    pub password_changed: String,
    pub is_you: bool,
}

#[derive(Template)]
#[template(path = "manage/admins.html")]
pub struct AdminsPage {
    pub nav: Nav,
    pub tenant_name: String,
    pub csrf: String,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub admins: Vec<AdminRow>,
    /// Removing is offered only while another admin would remain.
    pub can_remove: bool,
    pub email: String,
    pub min_password: usize,
}

async fn load(
    state: &AppState,
    current: &TenantAdmin,
    error: Option<String>,
) -> Result<AdminsPage, ConsoleError> {
    let list = admins::list(state.db(), Some(&current.tenant.id)).await?;
    Ok(AdminsPage {
        nav: current.nav(state, Section::Admins).await?,
        tenant_name: current.tenant.name.clone(),
        csrf: current.csrf().await?,
        notice: take_notice(&current.session).await?,
        error,
        can_remove: list.len() > 1,
        admins: list
            .into_iter()
            .map(|a| AdminRow {
                is_you: a.id == current.admin.id,
                created: when(&a.created_at),
                password_changed: when(&a.password_changed_at),
                id: a.id,
                email: a.email,
            })
            .collect(),
        email: String::new(),
        min_password: crate::password::MIN_LEN,
    })
}

/// `GET /admins`
pub async fn page(
    State(state): State<AppState>,
    current: TenantAdmin,
) -> Result<Response, ConsoleError> {
    Ok(render(StatusCode::OK, &load(&state, &current, None).await?))
}

#[derive(Debug, Deserialize)]
pub struct AddForm {
    email: Option<String>,
    password: Option<String>,
}

/// `POST /admins`: with a password typed in, or a generated one shown once.
pub async fn add(
    State(state): State<AppState>,
    current: TenantAdmin,
    CsrfForm(form): CsrfForm<AddForm>,
) -> Result<Response, ConsoleError> {
    let email = form.email.unwrap_or_default().trim().to_string();
    let typed = form.password.filter(|p| !p.is_empty());
    let again = |error: String| async {
        let mut page = load(&state, &current, Some(error)).await?;
        page.email = email.clone();
        Ok::<_, ConsoleError>(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
    };
    if !admins::plausible_email(&email) {
        return again(format!(
            "{email:?} is not an e-mail address. Type the new admin's address, like it-admin@example.com."
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
    let admin = match admins::create(
        state.db(),
        Some(&current.tenant.id),
        &email,
        &hash,
        &current.actor(),
    )
    .await
    {
        Ok(a) => a,
        Err(AdminError::EmailTaken(_)) => {
            return again(format!(
                "An account with the e-mail {email} already exists (e-mail addresses are unique across scimgate). Use another address."
            ))
            .await;
        }
        Err(AdminError::InvalidEmail(_)) => {
            return again(format!("{email:?} is not an e-mail address.")).await;
        }
        Err(AdminError::Db(e)) => return Err(e.into()),
    };
    tracing::info!(admin = %admin.id, by = %current.admin.id, "admin added in the console");
    if !generated {
        set_notice(
            &current.session,
            format!(
                "{} can now sign in with the password you chose.",
                admin.email
            ),
        )
        .await?;
        return Ok(see_other("/admins"));
    }
    Ok(no_store(render(
        StatusCode::OK,
        &password_page(
            current.nav(&state, Section::Admins).await?,
            format!("Admin {} added", admin.email),
            format!(
                "Give {} this password through a channel you trust; it is shown only this once.",
                admin.email
            ),
            &admin,
            password,
        ),
    )))
}

fn password_page(
    nav: Nav,
    title: String,
    lead: String,
    admin: &Admin,
    password: String,
) -> SecretPage {
    SecretPage {
        nav,
        title,
        lead,
        details: vec![("E-mail".to_string(), admin.email.clone())],
        secret_label: "Password".to_string(),
        secret: password,
        note: "scimgate stores only an argon2 hash of this password.".to_string(),
        back_href: "/admins".to_string(),
        back_label: "Back to admins".to_string(),
    }
}

/// An admin of this tenant, or a 404 (other tenants and operators included).
async fn tenant_admin(
    state: &AppState,
    current: &TenantAdmin,
    id: &str,
) -> Result<Admin, ConsoleError> {
    match admins::by_id(state.db(), id).await? {
        Some(a) if a.tenant_id.as_deref() == Some(current.tenant.id.as_str()) => Ok(a),
        _ => Err(ConsoleError::not_found("admin")),
    }
}

/// `POST /admins/{id}/remove`
pub async fn remove(
    State(state): State<AppState>,
    current: TenantAdmin,
    Path(id): Path<String>,
    _: CsrfForm<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    let target = tenant_admin(&state, &current, &id).await?;
    match admins::delete(state.db(), &target, &current.actor()).await {
        Ok(()) => {}
        Err(DeleteError::NotFound) => return Err(ConsoleError::not_found("admin")),
        Err(DeleteError::LastAdmin(email)) => {
            return Err(ConsoleError::new(
                StatusCode::CONFLICT,
                "The last admin cannot be removed",
                format!(
                    "{email} is the only admin of {}. Without an admin nobody could manage its connections. Add another admin first, then remove this one.",
                    current.tenant.name
                ),
            ));
        }
        Err(DeleteError::Db(e)) => return Err(e.into()),
    }
    tracing::info!(admin = %target.id, by = %current.admin.id, "admin removed in the console");
    if target.id == current.admin.id {
        session::sign_out(&current.session).await?;
        return Ok(see_other(crate::paths::SIGNIN_PATH));
    }
    set_notice(
        &current.session,
        format!("{} was removed and can no longer sign in.", target.email),
    )
    .await?;
    Ok(see_other("/admins"))
}

/// `POST /admins/{id}/reset-password`: a generated password, shown once.
pub async fn reset_password(
    State(state): State<AppState>,
    current: TenantAdmin,
    Path(id): Path<String>,
    _: CsrfForm<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    let target = tenant_admin(&state, &current, &id).await?;
    let password = crate::password::generate();
    let hash = crate::password::hash(password.clone())
        .await
        .map_err(ConsoleError::internal)?;
    admins::reset_password(state.db(), &target, &hash, &current.actor()).await?;
    tracing::info!(admin = %target.id, by = %current.admin.id, "admin password reset in the console");
    let lead = if target.id == current.admin.id {
        // The reset ended every session of this account, this one included:
        // open a new one so the admin is not thrown out mid-task.
        if let Some(updated) = admins::by_id(state.db(), &target.id).await? {
            session::sign_in(&current.session, &updated).await?;
        }
        "This is your new password; it is shown only this once. Your other sessions were signed out.".to_string()
    } else {
        format!(
            "Give {} this new password through a channel you trust; it is shown only this once. Their open sessions were signed out.",
            target.email
        )
    };
    Ok(no_store(render(
        StatusCode::OK,
        &password_page(
            current.nav(&state, Section::Admins).await?,
            format!("Password of {} reset", target.email),
            lead,
            &target,
            password,
        ),
    )))
}
