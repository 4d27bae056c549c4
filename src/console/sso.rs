//! Single sign-on to the console with OpenID Connect.
//!
//! Two kinds of provider: the operator's (configuration: it may sign in any
//! console account whose e-mail it has verified) and each tenant's (the
//! Settings page: only that tenant's admins). The sign-in page offers a
//! button for the operator's provider and an e-mail-first step that finds
//! the provider of the tenant the e-mail's admin belongs to. The e-mail-first
//! step never says whether an address is an admin: an address without a
//! tenant provider goes to the operator's provider, or gets the same neutral
//! notice whether or not it is an admin.
//!
//! The provider's answer maps to an existing admin by verified e-mail,
//! case-insensitively; nothing is ever created. Refusals are written to the
//! tenant's activity log as security events.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use tower_sessions::Session;

use super::signin::{SignInPage, complete, request_id};
use super::{ConsoleError, HtmlForm, query_pairs, render, safe_next, see_other};
use crate::console::session::SigninCsrf;
use crate::http::AppState;
use crate::http::client::ClientIp;
use crate::oidc::{self, Flow, OidcError, Provider};
use crate::store::activity::{self, Actor, Entry};
use crate::store::admins::{self, Admin};
use crate::store::{sso, tenants};

/// Session key of the sign-in under way at a provider.
const PENDING: &str = "sso_pending";

/// Which provider a sign-in goes through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Scope {
    /// The operator's: any console account.
    Global,
    /// A tenant's: only that tenant's admins.
    Tenant(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    scope: Scope,
    flow: Flow,
    next: String,
}

/// The single sign-on ways the sign-in page offers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Choices {
    /// A button for the operator's provider.
    pub global: bool,
    /// The e-mail-first step.
    pub email_first: bool,
}

pub async fn choices(state: &AppState) -> Result<Choices, ConsoleError> {
    let global = state.config().oidc.is_some();
    Ok(Choices {
        global,
        email_first: global || sso::any_enabled(state.db()).await?,
    })
}

/// The redirect URI to register at every provider.
pub fn redirect_uri(state: &AppState) -> String {
    format!("{}{}", state.public_url(), crate::paths::OIDC_CALLBACK_PATH)
}

async fn provider_of(state: &AppState, scope: &Scope) -> Result<Option<Provider>, ConsoleError> {
    Ok(match scope {
        Scope::Global => state.config().oidc.clone(),
        Scope::Tenant(id) => sso::enabled(state.db(), id).await?.map(|s| Provider {
            issuer: s.issuer,
            client_id: s.client_id,
            client_secret: s.client_secret,
            reach: state.config().tenant_sso_reach(),
        }),
    })
}

/// A page explaining why single sign-on did not sign anyone in.
#[derive(Template)]
#[template(path = "sso_problem.html")]
pub struct SsoProblemPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub request_id: &'a str,
}

fn problem(status: StatusCode, headers: &HeaderMap, title: &str, message: &str) -> Response {
    let id = request_id(headers).unwrap_or_else(|| "-".to_string());
    render(
        status,
        &SsoProblemPage {
            title,
            message,
            request_id: &id,
        },
    )
}

fn unreachable_provider(headers: &HeaderMap, e: &OidcError) -> Response {
    tracing::warn!(error = %e, "single sign-on provider failed");
    problem(
        StatusCode::BAD_GATEWAY,
        headers,
        "Single sign-on is not working right now",
        &format!(
            "scimgate could not complete single sign-on: {e}. Try again in a moment, or sign in with your password; if it keeps failing, tell the admin who set up single sign-on."
        ),
    )
}

#[derive(Debug, Deserialize)]
pub struct StartForm {
    csrf: Option<String>,
    next: Option<String>,
    /// The e-mail-first step; absent for the operator's provider button.
    email: Option<String>,
}

/// `POST /signin/sso`: the operator's provider (no e-mail), or the provider
/// of the tenant whose admin has this e-mail.
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    HtmlForm(form): HtmlForm<StartForm>,
) -> Result<Response, ConsoleError> {
    SigninCsrf::require(&headers, form.csrf.as_deref())?;
    let next = form.next.unwrap_or_default();
    let email = form.email.unwrap_or_default().trim().to_string();
    let global = state.config().oidc.is_some();
    let mut scope = global.then_some(Scope::Global);
    if !email.is_empty()
        && let Some((admin, _)) = admins::by_email(state.db(), &email).await?
        && let Some(tenant_id) = admin.tenant_id
        && sso::enabled(state.db(), &tenant_id).await?.is_some()
    {
        scope = Some(Scope::Tenant(tenant_id));
    }
    let Some(scope) = scope else {
        // The same answer for unknown addresses and admins without single
        // sign-on.
        let page = SignInPage {
            csrf: form.csrf.unwrap_or_default(),
            email: String::new(),
            purpose: None,
            next,
            error: None,
            sso: choices(&state).await?,
            sso_notice: Some(
                "Single sign-on is not set up for this address. Sign in with your password, or ask an admin of your organisation to set up single sign-on in Settings.".to_string(),
            ),
            sso_email: email,
        };
        return Ok(render(StatusCode::OK, &page));
    };
    let Some(provider) = provider_of(&state, &scope).await? else {
        return Err(ConsoleError::internal(
            "a single sign-on scope without provider",
        ));
    };
    let hint = (!email.is_empty()).then_some(email.as_str());
    match oidc::start(&provider, &redirect_uri(&state), hint).await {
        Ok((url, flow)) => {
            session
                .insert(PENDING, Pending { scope, flow, next })
                .await?;
            Ok(see_other(&url))
        }
        Err(e) => Ok(unreachable_provider(&headers, &e)),
    }
}

/// Who is refused, for the log.
fn refused_actor(label: &str) -> Actor {
    Actor {
        kind: "sso",
        id: None,
        label: label.to_string(),
    }
}

/// An identity turned away: what the log records and what the person reads.
struct Refusal<'a> {
    /// The e-mail, or the provider's subject when it gave none.
    who: &'a str,
    /// The admin with that e-mail, if any (for the operator's provider, it
    /// decides whose log records the refusal).
    admin: Option<&'a Admin>,
    reason: String,
    title: &'a str,
    message: String,
}

/// Writes a refused single sign-on to the activity log of the tenant it
/// concerns — the provider's tenant, or for the operator's provider the
/// tenant of the matching admin; an identity unknown to every tenant under
/// the operator's provider goes to the service log only — and answers with
/// the refusal page.
async fn refuse(
    state: &AppState,
    scope: &Scope,
    headers: &HeaderMap,
    refusal: Refusal<'_>,
) -> Result<Response, ConsoleError> {
    tracing::warn!(who = %refusal.who, reason = %refusal.reason, "single sign-on refused");
    let tenant = match scope {
        Scope::Tenant(id) => Some(id.clone()),
        Scope::Global => refusal.admin.and_then(|a| a.tenant_id.clone()),
    };
    if let Some(tenant) = tenant {
        let mut entry = Entry::new(
            &tenant,
            &refused_actor(refusal.who),
            "admin.signin.sso.refused",
            403,
        )
        .detail(refusal.reason);
        entry.request_id = request_id(headers);
        activity::record_alone(state.db(), &entry).await?;
    }
    Ok(problem(
        StatusCode::FORBIDDEN,
        headers,
        refusal.title,
        &refusal.message,
    ))
}

/// "an admin of Acme Corp in scimgate" or "an admin of scimgate".
async fn scope_text(state: &AppState, scope: &Scope) -> Result<String, ConsoleError> {
    Ok(match scope {
        Scope::Global => "an admin of scimgate".to_string(),
        Scope::Tenant(id) => match tenants::by_id(state.db(), id).await? {
            Some(t) => format!("an admin of {} in scimgate", t.name),
            None => "an admin of scimgate".to_string(),
        },
    })
}

/// `GET /signin/oidc/callback`: where the provider sends the browser back.
pub async fn callback(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    session: Session,
    uri: Uri,
) -> Result<Response, ConsoleError> {
    let params = query_pairs(uri.query());
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    // Single use: whatever happens next, this flow is over.
    let pending: Option<Pending> = session.remove(PENDING).await?;
    let start_again = "Go back to the sign-in page and start again.";
    let Some(pending) = pending else {
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            &headers,
            "This sign-in has expired",
            &format!(
                "scimgate has no single sign-on under way in this browser: it was already finished, took too long, or was started in another browser. {start_again}"
            ),
        ));
    };
    let state_ok: bool = param("state")
        .map(|s| s.as_bytes().ct_eq(pending.flow.state.as_bytes()).into())
        .unwrap_or(false);
    if !state_ok {
        tracing::warn!(address = %ip, "single sign-on answer with a wrong state refused");
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            &headers,
            "This sign-in answer is not the one scimgate asked for",
            &format!(
                "The identity provider's answer does not belong to the sign-in started in this browser, so scimgate ignored it. {start_again}"
            ),
        ));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if now - pending.flow.started_at > oidc::FLOW_SECS {
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            &headers,
            "This sign-in has expired",
            &format!(
                "Signing in at the identity provider took longer than {} minutes. {start_again}",
                oidc::FLOW_SECS / 60
            ),
        ));
    }
    if let Some(error) = param("error") {
        let described = param("error_description")
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        return Ok(if error == "access_denied" {
            problem(
                StatusCode::FORBIDDEN,
                &headers,
                "Single sign-on was cancelled",
                &format!(
                    "The identity provider did not sign you in: access was denied{described}. {start_again}"
                ),
            )
        } else {
            problem(
                StatusCode::BAD_GATEWAY,
                &headers,
                "The identity provider refused the sign-in",
                &format!(
                    "It answered with the error {error}{described}. {start_again} If it keeps failing, tell the admin who set up single sign-on."
                ),
            )
        });
    }
    let Some(provider) = provider_of(&state, &pending.scope).await? else {
        return Ok(problem(
            StatusCode::FORBIDDEN,
            &headers,
            "Single sign-on is off",
            &format!(
                "Single sign-on with this provider was turned off while you were signing in. Sign in with your password. {start_again}"
            ),
        ));
    };
    // RFC 9207: a provider that names itself must be the one asked.
    if let Some(iss) = param("iss")
        && iss != provider.issuer
    {
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            &headers,
            "This sign-in answer came from another provider",
            &format!(
                "The answer names the issuer {iss}, but this sign-in was started at {}. {start_again}",
                provider.issuer
            ),
        ));
    }
    let Some(code) = param("code").filter(|c| !c.is_empty()) else {
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            &headers,
            "The identity provider sent no sign-in code",
            &format!("The answer has neither a code nor an error. {start_again}"),
        ));
    };
    let identity = match oidc::finish(&provider, &redirect_uri(&state), &pending.flow, code).await {
        Ok(identity) => identity,
        Err(e) => return Ok(unreachable_provider(&headers, &e)),
    };

    let scope = &pending.scope;
    let Some(email) = identity.email.clone().filter(|e| !e.trim().is_empty()) else {
        let refusal = Refusal {
            who: &identity.subject,
            admin: None,
            reason: format!(
                "the identity provider {} gave no e-mail address for the account {}",
                provider.issuer, identity.subject
            ),
            title: "Your identity provider gave no e-mail address",
            message: "scimgate finds your admin account by e-mail, and the identity provider did not share one. Ask the admin who set up single sign-on to release the email claim to scimgate.".to_string(),
        };
        return refuse(&state, scope, &headers, refusal).await;
    };
    let found = admins::by_email(state.db(), &email).await?.map(|(a, _)| a);
    if !identity.email_verified {
        let refusal = Refusal {
            who: &email,
            admin: found.as_ref(),
            reason: format!(
                "{email} signed in at {} from {ip} with an e-mail address the provider has not verified",
                provider.issuer
            ),
            title: "Your e-mail address is not verified",
            message: format!(
                "Your identity provider has not verified the address {email}, and scimgate signs in only verified addresses. Verify it at your identity provider, then start again."
            ),
        };
        return refuse(&state, scope, &headers, refusal).await;
    }
    let admin = found.filter(|a| match scope {
        Scope::Global => true,
        Scope::Tenant(id) => a.tenant_id.as_deref() == Some(id.as_str()),
    });
    let Some(admin) = admin else {
        let refusal = Refusal {
            who: &email,
            admin: None,
            reason: format!(
                "{email} signed in at {} from {ip} but is not an admin here; nobody was signed in",
                provider.issuer
            ),
            title: "You are not an admin here",
            message: format!(
                "{email} is not {}; ask an admin to add you.",
                scope_text(&state, scope).await?
            ),
        };
        return refuse(&state, scope, &headers, refusal).await;
    };
    let how = format!(
        "{} signed in with single sign-on ({}) from {ip}",
        admin.email, provider.issuer
    );
    complete(state.db(), &session, &admin, how, &headers).await?;
    Ok(see_other(safe_next(Some(&pending.next))))
}
