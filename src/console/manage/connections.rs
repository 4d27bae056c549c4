//! `/connections`: the tenant's OAuth clients and their secrets, the
//! connections (grants) admins approved, and secret tokens. Creating a
//! secret shows it once; revoking anything takes effect at the next request
//! that presents it.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{
    TenantAdmin, TokenForm, create_secret_token, no_store, parse_name, set_notice, take_notice,
    tenant_client, when, when_or,
};
use crate::console::nav::{Nav, Section};
use crate::console::{ConsoleError, CsrfForm, CsrfOnly, render, see_other};
use crate::http::AppState;
use crate::store::admins;
use crate::store::clients::{self, DEFAULT_SECRET_DAYS, ENTRA_REDIRECT_URIS};
use crate::store::grants::{self, KIND_AUTHORIZATION_CODE};
use crate::store::tokens::{self, KIND_SECRET};

pub struct SecretRow {
    pub id: String,
    pub hint: String,
    pub created: String,
    pub expires: String,
    pub last_used: String,
    pub status: &'static str,
}

pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub created: String,
    pub redirect_uris: Vec<String>,
    pub revoked: bool,
    pub secrets: Vec<SecretRow>,
}

pub struct GrantRow {
    pub id: String,
    pub client: String,
    pub kind: &'static str,
    pub approved_by: String,
    pub created: String,
    pub last_used: String,
    pub status: String,
    pub active: bool,
}

pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub hint: String,
    pub created: String,
    pub expires: String,
    pub last_used: String,
    pub status: &'static str,
}

#[derive(Template)]
#[template(path = "manage/connections.html")]
pub struct ConnectionsPage {
    pub nav: Nav,
    pub tenant_name: String,
    pub csrf: String,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub clients: Vec<ClientRow>,
    pub grants: Vec<GrantRow>,
    pub tokens: Vec<TokenRow>,
    pub client_name: String,
    pub redirect_uris: String,
    pub token_name: String,
    pub token_days: String,
}

/// One secret, shown once after its creation.
#[derive(Template)]
#[template(path = "manage/secret.html")]
pub struct SecretPage {
    pub nav: Nav,
    pub title: String,
    pub lead: String,
    /// (label, value) pairs shown beside the secret.
    pub details: Vec<(String, String)>,
    pub secret_label: String,
    pub secret: String,
    pub note: String,
    pub back_href: String,
    pub back_label: String,
}

fn entra_uris_text() -> String {
    ENTRA_REDIRECT_URIS.join("\n")
}

async fn load(
    state: &AppState,
    current: &TenantAdmin,
    error: Option<String>,
) -> Result<ConnectionsPage, ConsoleError> {
    let db = state.db();
    let tenant = &current.tenant.id;
    let now = crate::store::now();
    let client_list = clients::list(db, tenant).await?;
    let names: HashMap<String, String> = client_list
        .iter()
        .map(|c| (c.id.clone(), c.name.clone()))
        .collect();
    let mut client_rows = Vec::new();
    for c in client_list {
        let secrets = clients::secrets(db, &c.id)
            .await?
            .into_iter()
            .map(|s| SecretRow {
                status: s.status(&now),
                id: s.id,
                hint: s.hint,
                created: when(&s.created_at),
                expires: when(&s.expires_at),
                last_used: when_or(s.last_used_at.as_deref(), "never"),
            })
            .collect();
        client_rows.push(ClientRow {
            revoked: c.revoked_at.is_some(),
            id: c.id,
            name: c.name,
            created: when(&c.created_at),
            redirect_uris: c.redirect_uris,
            secrets,
        });
    }
    let admin_emails: HashMap<String, String> = admins::list(db, Some(tenant))
        .await?
        .into_iter()
        .map(|a| (a.id, a.email))
        .collect();
    let grant_rows = grants::list(db, tenant)
        .await?
        .into_iter()
        .map(|g| GrantRow {
            client: names
                .get(&g.client_id)
                .cloned()
                .unwrap_or_else(|| g.client_id.clone()),
            kind: if g.kind == KIND_AUTHORIZATION_CODE {
                "Authorize button"
            } else {
                "Client credentials"
            },
            approved_by: match &g.admin_id {
                Some(id) => admin_emails
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| "a removed admin".to_string()),
                None => "no one (client credentials)".to_string(),
            },
            created: when(&g.created_at),
            last_used: when_or(g.last_used_at.as_deref(), "never"),
            active: g.revoked_at.is_none(),
            status: match (&g.revoked_at, &g.revoked_reason) {
                (None, _) => "active".to_string(),
                (Some(at), Some(reason)) => format!("revoked {} ({reason})", when(at)),
                (Some(at), None) => format!("revoked {}", when(at)),
            },
            id: g.id,
        })
        .collect();
    let token_rows = tokens::list(db, tenant)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            status: t.status(&now),
            id: t.id,
            name: t.name,
            hint: t.hint,
            created: when(&t.created_at),
            expires: when_or(t.expires_at.as_deref(), "never"),
            last_used: when_or(t.last_used_at.as_deref(), "never"),
        })
        .collect();
    Ok(ConnectionsPage {
        nav: current.nav(state, Section::Connections).await?,
        tenant_name: current.tenant.name.clone(),
        csrf: current.csrf().await?,
        notice: take_notice(&current.session).await?,
        error,
        clients: client_rows,
        grants: grant_rows,
        tokens: token_rows,
        client_name: String::new(),
        redirect_uris: entra_uris_text(),
        token_name: String::new(),
        token_days: String::new(),
    })
}

/// `GET /connections`
pub async fn page(
    State(state): State<AppState>,
    current: TenantAdmin,
) -> Result<Response, ConsoleError> {
    let page = load(&state, &current, None).await?;
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize)]
pub struct ClientForm {
    name: Option<String>,
    redirect_uris: Option<String>,
}

/// Redirect URIs typed one per line; each checked.
fn parse_uris(raw: &str) -> Result<Vec<String>, String> {
    let uris: Vec<String> = raw
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if uris.is_empty() {
        return Err(
            "Give at least one redirect URI (Entra's are filled in by default).".to_string(),
        );
    }
    if uris.len() > 20 {
        return Err("Give at most 20 redirect URIs.".to_string());
    }
    for u in &uris {
        clients::valid_redirect_uri(u).map_err(|e| format!("Redirect URI refused: {e}."))?;
    }
    Ok(uris)
}

/// `POST /connections/clients`
pub async fn create_client(
    State(state): State<AppState>,
    current: TenantAdmin,
    CsrfForm(form): CsrfForm<ClientForm>,
) -> Result<Response, ConsoleError> {
    let raw_uris = form.redirect_uris.clone().unwrap_or_default();
    let parsed = parse_name(form.name.as_deref(), "client")
        .and_then(|n| parse_uris(&raw_uris).map(|u| (n, u)));
    let (name, uris) = match parsed {
        Ok(v) => v,
        Err(e) => {
            let mut page = load(&state, &current, Some(e)).await?;
            page.client_name = form.name.unwrap_or_default();
            page.redirect_uris = raw_uris;
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    let (client, info, secret) = clients::create(
        state.db(),
        &current.tenant.id,
        &name,
        &uris,
        DEFAULT_SECRET_DAYS,
        &current.actor(),
    )
    .await?;
    tracing::info!(client = %client.id, admin = %current.admin.id, "OAuth client created in the console");
    let page = SecretPage {
        nav: current.nav(&state, Section::Connections).await?,
        title: format!("OAuth client {name} created"),
        lead: "Copy the client secret now: it is shown only this once.".to_string(),
        details: vec![
            ("Client ID".to_string(), client.id.clone()),
            ("Token URL".to_string(), format!("{}/oauth/token", state.public_url())),
            (
                "Authorization URL".to_string(),
                format!("{}/oauth/authorize", state.public_url()),
            ),
            ("Secret expires".to_string(), when(&info.expires_at)),
        ],
        secret_label: "Client secret".to_string(),
        secret,
        note: "scimgate keeps only a fingerprint of this secret. If it is lost, add a new secret to the client and revoke the old one.".to_string(),
        back_href: format!("/connect?client={}", client.id),
        back_label: "Connect Entra with this client".to_string(),
    };
    Ok(no_store(render(StatusCode::OK, &page)))
}

/// `POST /connections/clients/{id}/secrets`: a new secret beside the
/// current ones, so Entra can be switched to it without downtime.
pub async fn add_secret(
    State(state): State<AppState>,
    current: TenantAdmin,
    Path(id): Path<String>,
    _: CsrfForm<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    let client = tenant_client(&state, &current, &id).await?;
    if client.revoked_at.is_some() {
        return Err(ConsoleError::new(
            StatusCode::CONFLICT,
            "This client is revoked",
            "A revoked client cannot get new secrets. Create a new client instead.",
        ));
    }
    let (info, secret) =
        clients::add_secret(state.db(), &client, DEFAULT_SECRET_DAYS, &current.actor()).await?;
    let page = SecretPage {
        nav: current.nav(&state, Section::Connections).await?,
        title: format!("New secret for {}", client.name),
        lead: "Copy the new client secret now: it is shown only this once. Paste it into Entra's Client Secret field; the previous secrets keep working until they expire or you revoke them.".to_string(),
        details: vec![
            ("Client ID".to_string(), client.id.clone()),
            ("Secret expires".to_string(), when(&info.expires_at)),
        ],
        secret_label: "Client secret".to_string(),
        secret,
        note: "scimgate keeps only a fingerprint of this secret.".to_string(),
        back_href: "/connections".to_string(),
        back_label: "Back to connections".to_string(),
    };
    Ok(no_store(render(StatusCode::OK, &page)))
}

/// `POST /connections/clients/{id}/secrets/{secret_id}/revoke`
pub async fn revoke_secret(
    State(state): State<AppState>,
    current: TenantAdmin,
    Path((id, secret_id)): Path<(String, String)>,
    _: CsrfForm<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    let client = tenant_client(&state, &current, &id).await?;
    let secrets = clients::secrets(state.db(), &client.id).await?;
    let Some(secret) = secrets.iter().find(|s| s.id == secret_id) else {
        return Err(ConsoleError::not_found("client secret"));
    };
    if clients::revoke_secret(state.db(), &client, &secret_id, &current.actor()).await? {
        set_notice(
            &current.session,
            format!(
                "Secret {} of {} revoked: the token endpoint refuses it from now on.",
                secret.hint, client.name
            ),
        )
        .await?;
    } else {
        set_notice(
            &current.session,
            format!("Secret {} was already revoked.", secret.hint),
        )
        .await?;
    }
    Ok(see_other("/connections"))
}

/// `POST /connections/grants/{id}/revoke`: ends the connection and every
/// token it issued.
pub async fn revoke_grant(
    State(state): State<AppState>,
    current: TenantAdmin,
    Path(id): Path<String>,
    _: CsrfForm<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    let grant = match grants::grant(state.db(), &id).await? {
        Some(g) if g.tenant_id == current.tenant.id => g,
        _ => return Err(ConsoleError::not_found("connection")),
    };
    let text = if !grants::end_connection(state.db(), &grant, &current.actor()).await? {
        "That connection was already revoked."
    } else if grant.kind == grants::KIND_CLIENT_CREDENTIALS {
        "Connection revoked: its access tokens stopped working at once, and its client was revoked so that its credentials get no new token. Create a new client to reconnect."
    } else {
        "Connection revoked: its access and refresh tokens stopped working at once. Entra must be authorized again to reconnect."
    };
    set_notice(&current.session, text).await?;
    Ok(see_other("/connections"))
}

/// `POST /connections/tokens`
pub async fn create_token(
    State(state): State<AppState>,
    current: TenantAdmin,
    CsrfForm(form): CsrfForm<TokenForm>,
) -> Result<Response, ConsoleError> {
    let (info, secret) = match create_secret_token(&state, &current, form).await? {
        Ok(v) => v,
        Err(refused) => {
            let mut page = load(&state, &current, Some(refused.error)).await?;
            (page.token_name, page.token_days) = (refused.name, refused.days);
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    let page = SecretPage {
        nav: current.nav(&state, Section::Connections).await?,
        title: format!("Secret token {} created", info.name),
        lead: "Copy the token now: it is shown only this once. Paste it into Entra's Secret Token field.".to_string(),
        details: vec![
            ("Tenant URL".to_string(), state.scim_base()),
            (
                "Expires".to_string(),
                when_or(info.expires_at.as_deref(), "never"),
            ),
        ],
        secret_label: "Secret token".to_string(),
        secret,
        note: "scimgate keeps only a fingerprint of this token. If it is lost, create a new one and revoke this one.".to_string(),
        back_href: format!("/connect?token={}", info.id),
        back_label: "Watch Entra connect with this token".to_string(),
    };
    Ok(no_store(render(StatusCode::OK, &page)))
}

/// `POST /connections/tokens/{id}/revoke`
pub async fn revoke_token(
    State(state): State<AppState>,
    current: TenantAdmin,
    Path(id): Path<String>,
    _: CsrfForm<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    let token = match tokens::by_id(state.db(), &id).await? {
        Some(t) if t.tenant_id == current.tenant.id && t.kind == KIND_SECRET => t,
        _ => return Err(ConsoleError::not_found("secret token")),
    };
    if token.revoked_at.is_some() {
        set_notice(
            &current.session,
            format!("Token {} was already revoked.", token.name),
        )
        .await?;
    } else {
        tokens::revoke(state.db(), &token.id, &current.actor()).await?;
        set_notice(
            &current.session,
            format!(
                "Token {} ({}) revoked: the SCIM API refuses it from now on.",
                token.name, token.hint
            ),
        )
        .await?;
    }
    Ok(see_other("/connections"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_one_per_line_and_checked() {
        assert_eq!(
            parse_uris(&entra_uris_text()).unwrap(),
            ENTRA_REDIRECT_URIS.to_vec()
        );
        assert_eq!(
            parse_uris(" https://a.example/cb \r\n\r\nhttp://localhost:8000/cb\n").unwrap(),
            vec!["https://a.example/cb", "http://localhost:8000/cb"]
        );
        assert!(parse_uris("  \n ").is_err());
        assert!(parse_uris("http://evil.example/cb").is_err());
        assert!(parse_uris("https://a.example/cb#frag").is_err());
    }
}
