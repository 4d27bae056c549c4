//! `/settings`: the tenant's single sign-on provider (OpenID Connect). The
//! client secret is write-only: the page says whether one is stored (with
//! its last characters when long enough), never shows it, and a blank secret
//! field on save keeps the stored one. Turning single sign-on on reads the
//! provider's discovery document first, so a typo is caught here rather than
//! at the next sign-in.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{TenantAdmin, set_notice, take_notice, when};
use crate::console::nav::{Nav, Section};
use crate::console::sso::redirect_uri;
use crate::console::{ConsoleError, CsrfForm, CsrfOnly, render, see_other};
use crate::http::AppState;
use crate::oidc::{self, Provider};
use crate::store::sso::{self, SaveError, SsoChange};

#[derive(Template)]
#[template(path = "manage/settings.html")]
pub struct SettingsPage {
    pub nav: Nav,
    pub tenant_name: String,
    pub csrf: String,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// Settings are stored (Remove is offered).
    pub configured: bool,
    pub issuer: String,
    pub client_id: String,
    /// "set", with the secret's last characters when it has a hint.
    pub secret_status: Option<String>,
    pub enabled: bool,
    pub updated: Option<String>,
    pub redirect_uri: String,
}

async fn load(
    state: &AppState,
    current: &TenantAdmin,
    error: Option<String>,
) -> Result<SettingsPage, ConsoleError> {
    let stored = sso::get(state.db(), &current.tenant.id).await?;
    Ok(SettingsPage {
        nav: current.nav(state, Section::Settings).await?,
        tenant_name: current.tenant.name.clone(),
        csrf: current.csrf().await?,
        notice: take_notice(&current.session).await?,
        error,
        configured: stored.is_some(),
        secret_status: stored.as_ref().map(|s| {
            if s.secret_hint.is_empty() {
                "set".to_string()
            } else {
                format!("set (ends in {})", s.secret_hint)
            }
        }),
        issuer: stored
            .as_ref()
            .map(|s| s.issuer.clone())
            .unwrap_or_default(),
        client_id: stored
            .as_ref()
            .map(|s| s.client_id.clone())
            .unwrap_or_default(),
        enabled: stored.as_ref().is_some_and(|s| s.enabled),
        updated: stored.as_ref().map(|s| when(&s.updated_at)),
        redirect_uri: redirect_uri(state),
    })
}

/// `GET /settings`
pub async fn page(
    State(state): State<AppState>,
    current: TenantAdmin,
) -> Result<Response, ConsoleError> {
    Ok(render(StatusCode::OK, &load(&state, &current, None).await?))
}

#[derive(Debug, Deserialize)]
pub struct SsoForm {
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    /// A checkbox: present when ticked.
    enabled: Option<String>,
}

/// A client id or secret typed into the form: trimmed, 1 to `max`
/// characters, no control characters.
fn parse_credential(raw: &str, what: &str, max: usize) -> Result<String, String> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(format!(
            "Enter the {what} your identity provider gave you for scimgate."
        ));
    }
    if value.chars().count() > max {
        return Err(format!("The {what} must have at most {max} characters."));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("The {what} must not contain control characters."));
    }
    Ok(value.to_string())
}

/// `POST /settings/sso`
pub async fn save(
    State(state): State<AppState>,
    current: TenantAdmin,
    CsrfForm(form): CsrfForm<SsoForm>,
) -> Result<Response, ConsoleError> {
    let issuer_raw = form.issuer.unwrap_or_default();
    let client_id_raw = form.client_id.unwrap_or_default();
    let enabled = form.enabled.is_some();
    // The typed issuer and client id come back with the error; the secret
    // never does.
    let again = |error: String| async {
        let mut page = load(&state, &current, Some(error)).await?;
        page.issuer = issuer_raw.trim().to_string();
        page.client_id = client_id_raw.trim().to_string();
        page.enabled = enabled;
        Ok::<_, ConsoleError>(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
    };
    let issuer = match oidc::check_issuer(&issuer_raw) {
        Ok(i) => i,
        Err(e) => return again(format!("Issuer URL refused: {e}.")).await,
    };
    let client_id = match parse_credential(&client_id_raw, "client id", 255) {
        Ok(c) => c,
        Err(e) => return again(e).await,
    };
    let secret_raw = form.client_secret.unwrap_or_default();
    let client_secret = if secret_raw.trim().is_empty() {
        None
    } else {
        match parse_credential(&secret_raw, "client secret", 1024) {
            Ok(s) => Some(s),
            Err(e) => return again(e).await,
        }
    };
    if enabled {
        let probe = Provider {
            issuer: issuer.clone(),
            client_id: client_id.clone(),
            client_secret: client_secret.clone().unwrap_or_default(),
            reach: state.config().tenant_sso_reach(),
        };
        if let Err(e) = oidc::discover(&probe, &redirect_uri(&state)).await {
            return again(format!(
                "Single sign-on was not turned on: {e}. Check the issuer URL (the provider's documentation calls it the issuer or authority), or save with single sign-on off and turn it on later."
            ))
            .await;
        }
    }
    let change = SsoChange {
        issuer,
        client_id,
        client_secret,
        enabled,
    };
    match sso::save(state.db(), &current.tenant.id, &change, &current.actor()).await {
        Ok(_) => {}
        Err(SaveError::SecretRequired) => {
            return again(
                "Enter the client secret your identity provider gave you for scimgate: none is stored yet."
                    .to_string(),
            )
            .await;
        }
        Err(SaveError::NewIssuerNeedsSecret) => {
            return again(
                "Enter the client secret of the new provider: the issuer changed, and the stored secret is only ever sent to the provider it was given for."
                    .to_string(),
            )
            .await;
        }
        Err(SaveError::Db(e)) => return Err(e.into()),
    }
    tracing::info!(tenant = %current.tenant.id, by = %current.admin.id, enabled, "single sign-on settings saved");
    set_notice(
        &current.session,
        if enabled {
            "Single sign-on settings saved. Single sign-on is on: your admins can use Continue with SSO on the sign-in page."
        } else {
            "Single sign-on settings saved. Single sign-on is off."
        },
    )
    .await?;
    Ok(see_other("/settings"))
}

/// `POST /settings/sso/remove`
pub async fn remove(
    State(state): State<AppState>,
    current: TenantAdmin,
    _: CsrfForm<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    let removed = sso::remove(state.db(), &current.tenant.id, &current.actor()).await?;
    set_notice(
        &current.session,
        if removed {
            "Single sign-on settings removed, client secret included. Admins sign in with their passwords."
        } else {
            "There were no single sign-on settings to remove."
        },
    )
    .await?;
    Ok(see_other("/settings"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_trimmed_and_checked() {
        assert_eq!(
            parse_credential("  abc ", "client id", 10),
            Ok("abc".into())
        );
        assert!(parse_credential("", "client id", 10).is_err());
        assert!(parse_credential("a\nb", "client id", 10).is_err());
        assert!(parse_credential(&"x".repeat(11), "client id", 10).is_err());
    }
}
