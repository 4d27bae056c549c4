//! Authorization requests (RFC 6749 §4.1.1): validation, and the redirect
//! back to the client after the admin approves or denies.
//!
//! Per RFC 9700 §4.1, the redirect URI must match a registered one exactly,
//! and an unknown client or unregistered redirect URI is shown on an error
//! page, never redirected to.

use crate::store::activity::{self, Actor, Entry};
use crate::store::clients::{self, Client};
use crate::store::grants::{self, Code};
use crate::store::{Db, SqlError, format_time};

use super::{SCOPE, Settings, pkce};

/// A validated authorization request.
#[derive(Debug, Clone)]
pub struct AuthzRequest {
    /// scimgate's issuer identifier (its public URL), sent back as `iss`
    /// with every authorization response (RFC 9207).
    pub issuer: String,
    pub client: Client,
    pub redirect_uri: String,
    pub redirect_uri_sent: bool,
    /// Echoed exactly, also when present and empty.
    pub state: Option<String>,
    pub requested_scope: Option<String>,
    pub code_challenge: Option<String>,
}

/// Why a request cannot proceed.
#[derive(Debug, Clone)]
pub enum AuthzError {
    /// Shown to the person; the client cannot be trusted with a redirect.
    Page {
        title: String,
        message: String,
    },
    /// Sent back to the client's redirect URI (`error`, `error_description`,
    /// `state`).
    Redirect(String),
    Internal,
}

impl From<SqlError> for AuthzError {
    fn from(e: SqlError) -> Self {
        tracing::error!(error = %e, "database error during authorization");
        AuthzError::Internal
    }
}

fn single<'a>(params: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, usize> {
    let mut found = params.iter().filter(|(k, _)| k == name);
    let first = found.next().map(|(_, v)| v.as_str());
    let extra = found.count();
    if extra > 0 { Err(extra + 1) } else { Ok(first) }
}

fn page(title: &str, message: impl Into<String>) -> AuthzError {
    AuthzError::Page {
        title: title.to_string(),
        message: message.into(),
    }
}

/// Validates the query of `GET /oauth/authorize`.
pub async fn validate(
    db: &Db,
    issuer: &str,
    params: &[(String, String)],
) -> Result<AuthzRequest, AuthzError> {
    let client_id = match single(params, "client_id") {
        Ok(Some(id)) if !id.is_empty() => id,
        Ok(_) => {
            return Err(page(
                "Missing client",
                "The authorization request has no client_id. Start again from your identity provider's Authorize button.",
            ));
        }
        Err(_) => {
            return Err(page(
                "Invalid request",
                "client_id was sent more than once.",
            ));
        }
    };
    let client = match clients::by_id(db, client_id).await? {
        Some(c) if c.revoked_at.is_none() => c,
        _ => {
            return Err(page(
                "Unknown client",
                format!(
                    "No active OAuth client has the id {client_id:?}. Check the Client ID entered in your identity provider against the one shown in scimgate's console."
                ),
            ));
        }
    };
    let (redirect_uri, redirect_uri_sent) = match single(params, "redirect_uri") {
        Ok(Some(uri)) => {
            if !client.redirect_uris.iter().any(|r| r == uri) {
                return Err(page(
                    "Redirect URI not registered",
                    // The registered URIs are not listed: the page is
                    // shown to whoever follows the link.
                    format!(
                        "The redirect URI {uri:?} is not registered for the client {:?}. Compare the client's redirect URIs in scimgate's console with what your identity provider sends.",
                        client.name,
                    ),
                ));
            }
            (uri.to_string(), true)
        }
        Ok(None) => match client.redirect_uris.as_slice() {
            [only] => (only.clone(), false),
            _ => {
                return Err(page(
                    "Missing redirect URI",
                    "The authorization request has no redirect_uri and the client registers several; the request must name one.",
                ));
            }
        },
        Err(_) => {
            return Err(page(
                "Invalid request",
                "redirect_uri was sent more than once.",
            ));
        }
    };
    // From here on, errors go back to the (now trusted) redirect URI.
    let state = match single(params, "state") {
        Ok(s) => s.map(str::to_string),
        Err(_) => None,
    };
    let mut req = AuthzRequest {
        issuer: issuer.to_string(),
        client,
        redirect_uri,
        redirect_uri_sent,
        state,
        requested_scope: None,
        code_challenge: None,
    };
    let fail = |req: &AuthzRequest, code: &str, description: &str| {
        AuthzError::Redirect(redirect_url(
            req,
            &[
                ("error", code),
                (
                    "error_description",
                    &super::error::wire_description(description),
                ),
            ],
        ))
    };
    for name in [
        "state",
        "response_type",
        "scope",
        "code_challenge",
        "code_challenge_method",
    ] {
        if let Err(n) = single(params, name) {
            return Err(fail(
                &req,
                "invalid_request",
                &format!("{name} was sent {n} times; send it once"),
            ));
        }
    }
    match single(params, "response_type").ok().flatten() {
        Some("code") => {}
        Some(_) => {
            return Err(fail(
                &req,
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
        None => return Err(fail(&req, "invalid_request", "response_type is missing")),
    }
    req.requested_scope = single(params, "scope").ok().flatten().map(str::to_string);
    let challenge = single(params, "code_challenge").ok().flatten();
    let method = single(params, "code_challenge_method").ok().flatten();
    match (challenge, method) {
        (None, None) => {}
        (None, Some(_)) => {
            return Err(fail(
                &req,
                "invalid_request",
                "code_challenge_method was sent without code_challenge",
            ));
        }
        (Some(c), m) => {
            if m != Some("S256") {
                return Err(fail(
                    &req,
                    "invalid_request",
                    "code_challenge_method must be S256",
                ));
            }
            if !pkce::valid_challenge(c) {
                return Err(fail(
                    &req,
                    "invalid_request",
                    "code_challenge must be the 43-character base64url SHA-256 of the verifier",
                ));
            }
            req.code_challenge = Some(c.to_string());
        }
    }
    Ok(req)
}

/// The client's redirect URI with `pairs`, `state` and `iss` added to its
/// query.
pub fn redirect_url(req: &AuthzRequest, pairs: &[(&str, &str)]) -> String {
    let mut url = match url::Url::parse(&req.redirect_uri) {
        Ok(u) => u,
        // Registered URIs are validated at registration; this cannot happen
        // for a stored client, and a bare string is the safest fallback.
        Err(_) => return req.redirect_uri.clone(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
        if let Some(state) = &req.state {
            q.append_pair("state", state);
        }
        // Which authorization server answered (RFC 9207), so that a client
        // talking to several cannot be mixed up.
        q.append_pair("iss", &req.issuer);
    }
    url.to_string()
}

/// The admin approved: issue a code and return where to send the browser.
pub async fn approve(
    db: &Db,
    req: &AuthzRequest,
    admin_id: &str,
    admin_email: &str,
    settings: &Settings,
) -> Result<String, SqlError> {
    let code = grants::create_code(
        db,
        &Code {
            client_id: req.client.id.clone(),
            tenant_id: req.client.tenant_id.clone(),
            admin_id: admin_id.to_string(),
            redirect_uri: req.redirect_uri.clone(),
            redirect_uri_sent: req.redirect_uri_sent,
            scope: SCOPE.to_string(),
            code_challenge: req.code_challenge.clone(),
            expires_at: format_time(
                chrono::Utc::now() + chrono::Duration::seconds(settings.code_secs),
            ),
            used_at: None,
            grant_id: None,
        },
    )
    .await?;
    let actor = Actor {
        kind: "admin",
        id: Some(admin_id.to_string()),
        label: admin_email.to_string(),
    };
    activity::record_alone(
        db,
        &Entry::security(&req.client.tenant_id, &actor, "oauth.consent.approve")
            .resource("Client", &req.client.id, &req.client.name)
            .detail(format!(
                "{admin_email} approved the connection of {:?}; code sent to {}",
                req.client.name, req.redirect_uri
            )),
    )
    .await?;
    Ok(redirect_url(req, &[("code", &code)]))
}

/// The admin denied: tell the client so.
pub async fn deny(
    db: &Db,
    req: &AuthzRequest,
    admin_id: &str,
    admin_email: &str,
) -> Result<String, SqlError> {
    let actor = Actor {
        kind: "admin",
        id: Some(admin_id.to_string()),
        label: admin_email.to_string(),
    };
    activity::record_alone(
        db,
        &Entry::new(&req.client.tenant_id, &actor, "oauth.consent.deny", 403)
            .resource("Client", &req.client.id, &req.client.name)
            .detail(format!(
                "{admin_email} denied the connection of {:?}",
                req.client.name
            )),
    )
    .await?;
    Ok(redirect_url(
        req,
        &[
            ("error", "access_denied"),
            ("error_description", "the administrator denied the request"),
        ],
    ))
}
