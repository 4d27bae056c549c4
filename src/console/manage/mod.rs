//! The console's management pages: connecting Entra (`/connect`), the
//! tenant's connections and credentials (`/connections`), its admins
//! (`/admins`), its single sign-on settings (`/settings`), the operator's
//! tenant list (`/` for an operator, `/tenants`), and the first-start setup
//! link (`/setup`).
//!
//! Tenant pages take a [`TenantAdmin`] and operator pages an [`Operator`]:
//! the two kinds of account never see each other's pages. Every action is a
//! POST carrying the session's CSRF token and is written to the tenant's
//! activity log. Secrets (client secrets, secret tokens, generated
//! passwords) are shown once, in the response to the POST that created them,
//! with `Cache-Control: no-store`; they are never put in the session, a
//! redirect or a log.

pub mod admins;
pub mod connect;
pub mod connections;
pub mod operator;
pub mod settings;
pub mod setup;
pub mod webhooks;

use std::sync::LazyLock;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tower_sessions::Session;

use super::nav::{Nav, Section};
pub use super::present::{when, when_or};
use super::{ConsoleError, SignedIn};
use crate::console::session::{CurrentAdmin, csrf_token};
use crate::http::AppState;
use crate::store::activity::Actor;
use crate::store::admins::Admin;
use crate::store::clients::{self, Client};
use crate::store::tenants::{self, Tenant};
use crate::store::tokens::{self, TokenInfo};

/// The routes of these pages; merged inside the console's session layer.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/connect", get(connect::page))
        .route("/connect/client", post(connect::create_client))
        .route("/connect/token", post(connect::create_token))
        .route("/connect/status", get(connect::status))
        .route("/connections", get(connections::page))
        .route("/connections/clients", post(connections::create_client))
        .route(
            "/connections/clients/{id}/secrets",
            post(connections::add_secret),
        )
        .route(
            "/connections/clients/{id}/secrets/{secret_id}/revoke",
            post(connections::revoke_secret),
        )
        .route(
            "/connections/grants/{id}/revoke",
            post(connections::revoke_grant),
        )
        .route("/connections/tokens", post(connections::create_token))
        .route(
            "/connections/tokens/{id}/revoke",
            post(connections::revoke_token),
        )
        .route("/admins", get(admins::page).post(admins::add))
        .route("/admins/{id}/remove", post(admins::remove))
        .route("/admins/{id}/reset-password", post(admins::reset_password))
        .route("/settings", get(settings::page))
        .route("/settings/sso", post(settings::save))
        .route("/settings/sso/remove", post(settings::remove))
        .route("/tenants", post(operator::create_tenant))
        .route("/webhooks", get(webhooks::page))
        .route("/webhooks/{id}/test", post(webhooks::test))
        .route("/webhooks/{id}/enable", post(webhooks::enable))
        .route(
            "/webhooks/deliveries/{id}/redeliver",
            post(webhooks::redeliver),
        )
        .route(
            crate::paths::SETUP_PATH,
            get(setup::form).post(setup::submit),
        )
}

/// The vendored htmx (2.0.11, 0BSD, from the npm package `htmx.org`): the
/// Connect page's status panel polls with it. Served from our origin, so the
/// `default-src 'self'` policy allows it; pages work without it.
const HTMX: &str = include_str!("../../../static/htmx.min.js");

/// `/static/htmx.min.js?v=<hash of its content>`, cached like the stylesheet.
pub fn htmx_href() -> &'static str {
    static HREF: LazyLock<String> = LazyLock::new(|| {
        let digest = hex::encode(Sha256::digest(HTMX.as_bytes()));
        format!("/static/htmx.min.js?v={}", &digest[..12])
    });
    HREF.as_str()
}

/// `GET /static/htmx.min.js`
pub async fn htmx_script() -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        HTMX,
    )
        .into_response()
}

/// htmx's settings for these pages: no inline indicator styles (the CSP
/// refuses them) and no evaluated code.
pub const HTMX_CONFIG: &str =
    r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}"#;

/// A signed-in admin of a tenant, with that tenant. Operators are refused:
/// they run scimgate but do not speak for a customer.
pub struct TenantAdmin {
    pub admin: Admin,
    pub tenant: Tenant,
    pub session: Session,
}

impl TenantAdmin {
    pub fn actor(&self) -> Actor {
        Actor {
            kind: "admin",
            id: Some(self.admin.id.clone()),
            label: self.admin.email.clone(),
        }
    }

    pub async fn csrf(&self) -> Result<String, ConsoleError> {
        csrf_token(&self.session).await
    }

    /// The header of a page of `section`.
    pub async fn nav(&self, state: &AppState, section: Section) -> Result<Nav, ConsoleError> {
        nav_of(state, &self.admin, &self.session, section).await
    }
}

async fn nav_of(
    state: &AppState,
    admin: &Admin,
    session: &Session,
    section: Section,
) -> Result<Nav, ConsoleError> {
    let current = CurrentAdmin {
        admin: admin.clone(),
        session: session.clone(),
    };
    Nav::build(state, &current, section).await
}

async fn signed_in(admin: &Admin, session: &Session) -> Result<SignedIn, ConsoleError> {
    Ok(SignedIn {
        email: admin.email.clone(),
        csrf: csrf_token(session).await?,
    })
}

impl FromRequestParts<AppState> for TenantAdmin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let CurrentAdmin { admin, session } =
            CurrentAdmin::from_request_parts(parts, state).await?;
        let refuse = |e: ConsoleError| e.into_response();
        let Some(tenant_id) = admin.tenant_id.clone() else {
            let who = signed_in(&admin, &session).await.map_err(refuse)?;
            return Err(refuse(
                ConsoleError::forbidden(
                    "This page belongs to a tenant's administrators",
                    format!(
                        "You are signed in as {}, an operator account. Operators create and list tenants from the home page; a tenant's connections, credentials and admins are managed by that tenant's administrators.",
                        admin.email
                    ),
                )
                .with_sign_out(who),
            ));
        };
        let tenant = tenants::by_id(state.db(), &tenant_id)
            .await
            .map_err(|e| refuse(e.into()))?
            .ok_or_else(|| {
                refuse(ConsoleError::internal(format!(
                    "admin {} belongs to the missing tenant {tenant_id}",
                    admin.id
                )))
            })?;
        Ok(TenantAdmin {
            admin,
            tenant,
            session,
        })
    }
}

/// A signed-in operator (an account with no tenant). Tenant admins are
/// refused.
pub struct Operator {
    pub admin: Admin,
    pub session: Session,
}

impl Operator {
    pub fn actor(&self) -> Actor {
        Actor {
            kind: "operator",
            id: Some(self.admin.id.clone()),
            label: self.admin.email.clone(),
        }
    }

    /// The header of an operator's page.
    pub async fn nav(&self, state: &AppState) -> Result<Nav, ConsoleError> {
        self.nav_at(state, Section::Tenants).await
    }

    /// The header of an operator's page of `section`.
    pub async fn nav_at(&self, state: &AppState, section: Section) -> Result<Nav, ConsoleError> {
        nav_of(state, &self.admin, &self.session, section).await
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let CurrentAdmin { admin, session } =
            CurrentAdmin::from_request_parts(parts, state).await?;
        if admin.tenant_id.is_some() {
            let who = signed_in(&admin, &session)
                .await
                .map_err(IntoResponse::into_response)?;
            return Err(ConsoleError::forbidden(
                "This page is for operators",
                format!(
                    "You are signed in as {}, an administrator of one tenant. Creating and listing tenants is done by the operators who run scimgate.",
                    admin.email
                ),
            )
            .with_sign_out(who)
            .into_response());
        }
        Ok(Operator { admin, session })
    }
}

/// Session key of the one-line notice shown on the next page (never a secret).
const NOTICE: &str = "manage_notice";

/// Leaves a notice for the page the browser is redirected to.
pub async fn set_notice(session: &Session, text: impl Into<String>) -> Result<(), ConsoleError> {
    session.insert(NOTICE, text.into()).await?;
    Ok(())
}

/// The pending notice, removed so it is shown once.
pub async fn take_notice(session: &Session) -> Result<Option<String>, ConsoleError> {
    Ok(session.remove::<String>(NOTICE).await?)
}

/// A page that shows a secret: never stored by the browser or a proxy.
pub fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A form's optional expiry in days: blank is none; 1 to 3650 days.
pub fn parse_days(raw: Option<&str>) -> Result<Option<u32>, String> {
    let raw = raw.unwrap_or("").trim();
    if raw.is_empty() {
        return Ok(None);
    }
    match raw.parse::<u32>() {
        Ok(d) if (1..=3650).contains(&d) => Ok(Some(d)),
        _ => Err(format!(
            "The expiry must be a whole number of days from 1 to 3650, or blank for a token that never expires; got {raw:?}."
        )),
    }
}

/// A name typed into a form: trimmed, 1 to 100 characters.
pub fn parse_name(raw: Option<&str>, what: &str) -> Result<String, String> {
    let name = raw.unwrap_or("").trim();
    if name.is_empty() {
        return Err(format!(
            "Give the {what} a name, so you can recognise it later."
        ));
    }
    if name.chars().count() > 100 {
        return Err(format!("The {what} name must have at most 100 characters."));
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "The {what} name must not contain control characters."
        ));
    }
    Ok(name.to_string())
}

/// The client of this tenant, or a 404 (other tenants' ids included).
pub async fn tenant_client(
    state: &AppState,
    current: &TenantAdmin,
    id: &str,
) -> Result<Client, ConsoleError> {
    match clients::by_id(state.db(), id).await? {
        Some(c) if c.tenant_id == current.tenant.id => Ok(c),
        _ => Err(ConsoleError::not_found("OAuth client")),
    }
}

/// The secret-token form of the Connect and Connections pages.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    name: Option<String>,
    expires_in_days: Option<String>,
}

/// A token form that was not valid: the message to show beside it and
/// what was typed, to fill the form again.
pub struct TokenRefused {
    pub error: String,
    pub name: String,
    pub days: String,
}

/// Creates the secret token a form asks for, from its typed name and
/// expiry in days: the token's record and the token itself (shown once),
/// or, when the form is not valid, what the page shows to have it mended.
pub async fn create_secret_token(
    state: &AppState,
    current: &TenantAdmin,
    form: TokenForm,
) -> Result<Result<(TokenInfo, String), TokenRefused>, ConsoleError> {
    let parsed = parse_name(form.name.as_deref(), "token")
        .and_then(|n| parse_days(form.expires_in_days.as_deref()).map(|d| (n, d)));
    let (name, days) = match parsed {
        Ok(v) => v,
        Err(error) => {
            return Ok(Err(TokenRefused {
                error,
                name: form.name.unwrap_or_default(),
                days: form.expires_in_days.unwrap_or_default(),
            }));
        }
    };
    let (info, secret) = tokens::create_secret_token(
        state.db(),
        &current.tenant.id,
        &name,
        days,
        &current.actor(),
    )
    .await?;
    tracing::info!(token = %info.id, admin = %current.admin.id, "secret token created in the console");
    Ok(Ok((info, secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_optional_and_bounded() {
        assert_eq!(parse_days(None), Ok(None));
        assert_eq!(parse_days(Some("  ")), Ok(None));
        assert_eq!(parse_days(Some("90")), Ok(Some(90)));
        assert!(parse_days(Some("0")).is_err());
        assert!(parse_days(Some("3651")).is_err());
        assert!(parse_days(Some("-1")).is_err());
        assert!(parse_days(Some("ten")).is_err());
    }

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(parse_name(Some("  Entra  "), "client"), Ok("Entra".into()));
        assert!(parse_name(Some(""), "client").is_err());
        assert!(parse_name(None, "client").is_err());
        assert!(parse_name(Some(&"x".repeat(101)), "client").is_err());
        assert!(parse_name(Some("a\u{7}b"), "client").is_err());
    }

    #[test]
    fn times_are_shown_in_the_one_format() {
        assert_eq!(when("2026-11-02T10:04:30.000Z"), "2026-11-02 10:04:30 UTC");
        assert_eq!(when("garbage"), "garbage");
        assert_eq!(when_or(None, "never"), "never");
    }
}
