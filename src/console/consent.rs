//! `/oauth/authorize`: the admin's side of the authorization code flow
//! (RFC 6749 §4.1.1–4.1.2). The request is validated by
//! `crate::oauth::authorize`; this module signs the admin in when needed,
//! checks that the admin belongs to the client's tenant, shows the consent
//! page and turns the decision into the redirect back to the client.
//!
//! A shown request is kept in the session under [`PENDING`] (a map from a
//! random key to the raw query), so the decision is tied to this browser and
//! re-validated from the original query when it arrives: a client revoked
//! while the page was open is refused.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::{ConsoleError, CsrfForm, SignedIn, query_pairs, render, see_other};
use crate::console::session::{csrf_token, signed_in_admin, signin_url};
use crate::http::AppState;
use crate::oauth::authorize::{self, AuthzError, AuthzRequest};
use crate::store::admins::Admin;
use crate::store::tenants;

/// Session key of the authorization requests awaiting a decision.
pub const PENDING: &str = "authz_pending";
/// How long a consent page stays answerable.
const PENDING_SECS: i64 = 15 * 60;
/// Consent pages open at once per session; the oldest is dropped beyond.
const MAX_PENDING: usize = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    /// The raw query of `GET /oauth/authorize`.
    query: String,
    /// Unix seconds.
    created_at: i64,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage {
    pub client_name: String,
    pub tenant_name: String,
    pub admin_email: String,
    pub redirect_host: String,
    pub csrf: String,
    pub request_key: String,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The response for a request that cannot proceed.
fn refused(error: AuthzError) -> Response {
    match error {
        AuthzError::Page { title, message } => {
            ConsoleError::bad_request(title, message).into_response()
        }
        AuthzError::Redirect(url) => see_other(&url),
        AuthzError::Internal => {
            ConsoleError::internal("authorization request validation failed").into_response()
        }
    }
}

async fn tenant_name(state: &AppState, tenant_id: &str) -> Result<String, ConsoleError> {
    Ok(tenants::by_id(state.db(), tenant_id)
        .await?
        .map(|t| t.name)
        .unwrap_or_else(|| tenant_id.to_string()))
}

/// Refuses an admin who is not an admin of the client's tenant (operators
/// included: they run scimgate but do not speak for a customer).
async fn check_tenant(
    state: &AppState,
    session: &Session,
    admin: &Admin,
    req: &AuthzRequest,
) -> Result<String, ConsoleError> {
    let name = tenant_name(state, &req.client.tenant_id).await?;
    if admin.tenant_id.as_deref() == Some(req.client.tenant_id.as_str()) {
        return Ok(name);
    }
    let who = match admin.tenant_id {
        Some(_) => format!("{}, which is not an administrator of {name}", admin.email),
        None => format!(
            "{}, an operator account; operators cannot approve connections on behalf of a tenant",
            admin.email
        ),
    };
    Err(ConsoleError::forbidden(
        format!("You cannot approve connections for {name}"),
        format!(
            "The connection {:?} belongs to {name}, and only an administrator of {name} can approve it. You are signed in as {who}. Sign out, then start again from your identity provider's Authorize button and sign in as an administrator of {name}.",
            req.client.name
        ),
    )
    .with_sign_out(SignedIn {
        email: admin.email.clone(),
        csrf: csrf_token(session).await?,
    }))
}

/// Keeps a shown request; returns its key.
async fn keep(session: &Session, query: &str) -> Result<String, ConsoleError> {
    let mut pending: BTreeMap<String, Pending> = session.get(PENDING).await?.unwrap_or_default();
    let now = now();
    pending.retain(|_, p| now - p.created_at < PENDING_SECS);
    while pending.len() >= MAX_PENDING {
        let oldest = pending
            .iter()
            .min_by_key(|(_, p)| p.created_at)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => {
                pending.remove(&k);
            }
            None => break,
        }
    }
    let key = crate::secret::generate("");
    pending.insert(
        key.clone(),
        Pending {
            query: query.to_string(),
            created_at: now,
        },
    );
    session.insert(PENDING, &pending).await?;
    Ok(key)
}

/// Removes and returns a kept request's query, if it exists and is fresh.
async fn take(session: &Session, key: &str) -> Result<Option<String>, ConsoleError> {
    let Some(mut pending) = session.get::<BTreeMap<String, Pending>>(PENDING).await? else {
        return Ok(None);
    };
    let found = pending.remove(key);
    if pending.is_empty() {
        session.remove_value(PENDING).await?;
    } else {
        session.insert(PENDING, &pending).await?;
    }
    Ok(found
        .filter(|p| now() - p.created_at < PENDING_SECS)
        .map(|p| p.query))
}

/// `GET /oauth/authorize`
pub async fn show(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, ConsoleError> {
    let query = uri.query().unwrap_or("");
    let req = match authorize::validate(state.db(), state.public_url(), &query_pairs(Some(query)))
        .await
    {
        Ok(req) => req,
        Err(e) => return Ok(refused(e)),
    };
    let Some(admin) = signed_in_admin(&state, &session).await? else {
        let back = uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or(crate::paths::AUTHORIZE_PATH);
        return Ok(see_other(&signin_url(back)));
    };
    let tenant_name = check_tenant(&state, &session, &admin, &req).await?;
    let request_key = keep(&session, query).await?;
    let redirect_host = url::Url::parse(&req.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| req.redirect_uri.clone());
    let page = ConsentPage {
        client_name: req.client.name.clone(),
        tenant_name,
        admin_email: admin.email.clone(),
        redirect_host,
        csrf: csrf_token(&session).await?,
        request_key,
    };
    let mut res = render(StatusCode::OK, &page);
    // The page holds a one-time decision: never serve it from a cache.
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    request: Option<String>,
    decision: Option<String>,
}

enum Decision {
    Approve,
    Deny,
}

fn expired() -> ConsoleError {
    ConsoleError::bad_request(
        "This approval page has expired",
        "The connection request this page showed is no longer waiting for an answer (it was already answered, or left open too long). Start again from Entra: click Authorize in the provisioning settings of your application.",
    )
}

/// `POST /oauth/authorize`
pub async fn decide(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<DecisionForm>,
) -> Result<Response, ConsoleError> {
    let decision = match form.decision.as_deref() {
        Some("approve") => Decision::Approve,
        Some("deny") => Decision::Deny,
        _ => {
            return Err(ConsoleError::bad_request(
                "No decision was sent",
                "Use the Approve or Deny button on the approval page.",
            ));
        }
    };
    let Some(query) = take(&session, form.request.as_deref().unwrap_or("")).await? else {
        return Err(expired());
    };
    let Some(admin) = signed_in_admin(&state, &session).await? else {
        return Err(ConsoleError::forbidden(
            "You are no longer signed in",
            "Your session ended before you answered (you signed out, or your password was changed). Start again from Entra: click Authorize in the provisioning settings of your application.",
        ));
    };
    let req = match authorize::validate(state.db(), state.public_url(), &query_pairs(Some(&query)))
        .await
    {
        Ok(req) => req,
        Err(e) => return Ok(refused(e)),
    };
    check_tenant(&state, &session, &admin, &req).await?;
    let location = match decision {
        Decision::Approve => {
            authorize::approve(
                state.db(),
                &req,
                &admin.id,
                &admin.email,
                &state.config().oauth,
            )
            .await?
        }
        Decision::Deny => authorize::deny(state.db(), &req, &admin.id, &admin.email).await?,
    };
    Ok(see_other(&location))
}
