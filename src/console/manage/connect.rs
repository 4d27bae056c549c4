//! `/connect`: connecting Microsoft Entra ID, step by step. The admin picks
//! OAuth (Entra's **Authorize** button) or a secret token, scimgate creates
//! the credential and shows exactly what goes into each field of Entra's
//! Admin Credentials section, then a status panel shows Entra's Authorize and
//! Test Connection arriving, read from the activity log. The panel refreshes
//! itself with htmx when scripts run, and has a Refresh link when they don't.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;

use super::{
    HTMX_CONFIG, TenantAdmin, TokenForm, create_secret_token, htmx_href, no_store, parse_name,
    tenant_client, when, when_or,
};
use crate::console::nav::{Nav, Section};
use crate::console::{ConsoleError, CsrfForm, render};
use crate::http::AppState;
use crate::store::activity::{self, Caller, ScimSeen};
use crate::store::clients::{self, Client, DEFAULT_SECRET_DAYS, ENTRA_REDIRECT_URIS};
use crate::store::tokens::{self, KIND_SECRET, TokenInfo};

/// Seconds between two refreshes of the status panel.
pub const POLL_SECONDS: u32 = 3;

/// The URLs Entra's Admin Credentials fields take.
pub struct Urls {
    pub tenant: String,
    pub authorize: String,
    pub token: String,
}

impl Urls {
    fn of(state: &AppState) -> Urls {
        Urls {
            tenant: state.scim_base(),
            authorize: format!("{}/oauth/authorize", state.public_url()),
            token: format!("{}/oauth/token", state.public_url()),
        }
    }
}

/// An OAuth client being connected.
pub struct ClientShown {
    pub id: String,
    pub name: String,
    /// Only in the response to the POST that created it.
    pub secret: Option<String>,
    pub secret_expires: String,
}

/// A secret token being connected.
pub struct TokenShown {
    pub id: String,
    pub name: String,
    /// Only in the response to the POST that created it.
    pub secret: Option<String>,
    pub hint: String,
    pub expires: String,
}

/// An existing credential the admin can go back to watching.
pub struct Existing {
    pub href: String,
    pub label: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "manage/connect.html")]
pub struct ConnectPage {
    pub nav: Nav,
    pub tenant_name: String,
    pub csrf: String,
    pub urls: Urls,
    pub client: Option<ClientShown>,
    pub token: Option<TokenShown>,
    /// The rendered status panel (a [`StatusPanel`]), when a credential is shown.
    pub status: Option<String>,
    pub existing: Vec<Existing>,
    pub error: Option<String>,
    pub client_name: String,
    pub token_name: String,
    pub token_days: String,
    pub htmx_href: &'static str,
    pub htmx_config: &'static str,
}

/// One line of the status panel.
pub struct Step {
    pub title: &'static str,
    pub done: bool,
    pub text: String,
}

#[derive(Template)]
#[template(path = "manage/connect_status.html")]
pub struct StatusPanel {
    pub steps: Vec<Step>,
    /// `/connect/status?…`: polled while something is still awaited.
    pub poll_href: Option<String>,
    /// `/connect?…`: the whole page, for browsers without scripts.
    pub refresh_href: String,
    pub poll_seconds: u32,
    pub connected: bool,
}

#[derive(Debug, Deserialize)]
pub struct Which {
    client: Option<String>,
    token: Option<String>,
}

async fn existing(state: &AppState, tenant_id: &str) -> Result<Vec<Existing>, ConsoleError> {
    let mut out = Vec::new();
    for c in clients::list(state.db(), tenant_id).await? {
        if c.revoked_at.is_none() {
            out.push(Existing {
                href: format!("/connect?client={}", c.id),
                label: format!("{} (OAuth client {})", c.name, c.id),
                created: when(&c.created_at),
            });
        }
    }
    let now = crate::store::now();
    for t in tokens::list(state.db(), tenant_id).await? {
        if t.status(&now) == "active" {
            out.push(Existing {
                href: format!("/connect?token={}", t.id),
                label: format!("{} (secret token {})", t.name, t.hint),
                created: when(&t.created_at),
            });
        }
    }
    Ok(out)
}

impl ConnectPage {
    async fn new(state: &AppState, current: &TenantAdmin) -> Result<ConnectPage, ConsoleError> {
        Ok(ConnectPage {
            nav: current.nav(state, Section::ConnectEntra).await?,
            tenant_name: current.tenant.name.clone(),
            csrf: current.csrf().await?,
            urls: Urls::of(state),
            client: None,
            token: None,
            status: None,
            existing: existing(state, &current.tenant.id).await?,
            error: None,
            client_name: "Microsoft Entra ID".to_string(),
            token_name: "Microsoft Entra ID".to_string(),
            token_days: String::new(),
            htmx_href: htmx_href(),
            htmx_config: HTMX_CONFIG,
        })
    }
}

/// The secret token of this tenant, or a 404.
async fn tenant_token(
    state: &AppState,
    current: &TenantAdmin,
    id: &str,
) -> Result<TokenInfo, ConsoleError> {
    match tokens::by_id(state.db(), id).await? {
        Some(t) if t.tenant_id == current.tenant.id && t.kind == KIND_SECRET => Ok(t),
        _ => Err(ConsoleError::not_found("secret token")),
    }
}

/// The next expiry among a client's active secrets.
async fn secret_expiry(state: &AppState, client: &Client) -> Result<String, ConsoleError> {
    let now = crate::store::now();
    Ok(clients::secrets(state.db(), &client.id)
        .await?
        .iter()
        .filter(|s| s.status(&now) == "active")
        .map(|s| s.expires_at.clone())
        .max()
        .map(|e| when(&e))
        .unwrap_or_else(|| "no active secret: add one on the Connections page".to_string()))
}

/// `GET /connect[?client=ID|?token=ID]`
pub async fn page(
    State(state): State<AppState>,
    current: TenantAdmin,
    Query(which): Query<Which>,
) -> Result<Response, ConsoleError> {
    let mut page = ConnectPage::new(&state, &current).await?;
    if let Some(id) = which.client.as_deref() {
        let client = tenant_client(&state, &current, id).await?;
        page.status = Some(client_status(&state, &current, &client).await?);
        page.client = Some(ClientShown {
            secret_expires: secret_expiry(&state, &client).await?,
            id: client.id,
            name: client.name,
            secret: None,
        });
    } else if let Some(id) = which.token.as_deref() {
        let token = tenant_token(&state, &current, id).await?;
        page.status = Some(token_status(&state, &current, &token).await?);
        page.token = Some(shown_token(token, None));
    }
    Ok(render(StatusCode::OK, &page))
}

fn shown_token(token: TokenInfo, secret: Option<String>) -> TokenShown {
    TokenShown {
        expires: when_or(token.expires_at.as_deref(), "never"),
        id: token.id,
        name: token.name,
        hint: token.hint,
        secret,
    }
}

#[derive(Debug, Deserialize)]
pub struct ClientForm {
    name: Option<String>,
}

/// `POST /connect/client`: a client with Entra's redirect URIs; the page
/// shows its secret this once.
pub async fn create_client(
    State(state): State<AppState>,
    current: TenantAdmin,
    CsrfForm(form): CsrfForm<ClientForm>,
) -> Result<Response, ConsoleError> {
    let mut page = ConnectPage::new(&state, &current).await?;
    let name = match parse_name(form.name.as_deref(), "connection") {
        Ok(n) => n,
        Err(e) => {
            page.error = Some(e);
            page.client_name = form.name.unwrap_or_default();
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    let uris: Vec<String> = ENTRA_REDIRECT_URIS.iter().map(|u| u.to_string()).collect();
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
    page.status = Some(client_status(&state, &current, &client).await?);
    page.existing = existing(&state, &current.tenant.id).await?;
    page.client = Some(ClientShown {
        id: client.id,
        name: client.name,
        secret: Some(secret),
        secret_expires: when(&info.expires_at),
    });
    Ok(no_store(render(StatusCode::OK, &page)))
}

/// `POST /connect/token`: a secret token; the page shows it this once.
pub async fn create_token(
    State(state): State<AppState>,
    current: TenantAdmin,
    CsrfForm(form): CsrfForm<TokenForm>,
) -> Result<Response, ConsoleError> {
    let mut page = ConnectPage::new(&state, &current).await?;
    let (info, secret) = match create_secret_token(&state, &current, form).await? {
        Ok(v) => v,
        Err(refused) => {
            (page.error, page.token_name, page.token_days) =
                (Some(refused.error), refused.name, refused.days);
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    page.status = Some(token_status(&state, &current, &info).await?);
    page.existing = existing(&state, &current.tenant.id).await?;
    page.token = Some(shown_token(info, Some(secret)));
    Ok(no_store(render(StatusCode::OK, &page)))
}

/// `GET /connect/status?client=ID|token=ID`: the status panel alone, for
/// the page's polling.
pub async fn status(
    State(state): State<AppState>,
    current: TenantAdmin,
    Query(which): Query<Which>,
) -> Result<Response, ConsoleError> {
    let html = if let Some(id) = which.client.as_deref() {
        let client = tenant_client(&state, &current, id).await?;
        client_status(&state, &current, &client).await?
    } else if let Some(id) = which.token.as_deref() {
        let token = tenant_token(&state, &current, id).await?;
        token_status(&state, &current, &token).await?
    } else {
        return Err(ConsoleError::bad_request(
            "Which connection?",
            "Add ?client=ID or ?token=ID to the address, or open the Connect page.",
        ));
    };
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response())
}

fn scim_line(seen: &ScimSeen) -> String {
    let request = match (&seen.method, &seen.path) {
        (Some(m), Some(p)) => format!("{m} {p}"),
        _ => seen.operation.clone(),
    };
    format!("{request} answered {} at {}", seen.status, when(&seen.at))
}

async fn client_status(
    state: &AppState,
    current: &TenantAdmin,
    client: &Client,
) -> Result<String, ConsoleError> {
    let db = state.db();
    let tenant = &current.tenant.id;
    let consent = activity::latest_event(db, tenant, "oauth.consent.approve", &client.id).await?;
    let issued = activity::latest_event(db, tenant, "oauth.token.issue", &client.id).await?;
    let (first, latest, count) =
        activity::scim_requests(db, tenant, Caller::Client(&client.id), &client.created_at).await?;
    let mut steps = vec![
        Step {
            title: "Authorize: consent approved",
            done: consent.is_some(),
            text: match &consent {
                Some(s) => format!(
                    "Approved by {} at {}.",
                    s.actor_label.as_deref().unwrap_or("an admin"),
                    when(&s.at)
                ),
                None => "Waiting for you to click Authorize in Entra and approve the connection in scimgate.".to_string(),
            },
        },
        Step {
            title: "Authorize: token issued",
            done: issued.is_some(),
            text: match &issued {
                Some(s) => format!("Entra received an access token at {}.", when(&s.at)),
                None => "Waiting for Entra to exchange the approval for a token (this follows the approval within seconds).".to_string(),
            },
        },
    ];
    steps.push(scim_step(first.as_ref(), latest.as_ref(), count));
    panel(steps, format!("client={}", client.id))
}

async fn token_status(
    state: &AppState,
    current: &TenantAdmin,
    token: &TokenInfo,
) -> Result<String, ConsoleError> {
    let (first, latest, count) = activity::scim_requests(
        state.db(),
        &current.tenant.id,
        Caller::Token(&token.id),
        &token.created_at,
    )
    .await?;
    panel(
        vec![scim_step(first.as_ref(), latest.as_ref(), count)],
        format!("token={}", token.id),
    )
}

fn scim_step(first: Option<&ScimSeen>, latest: Option<&ScimSeen>, count: i64) -> Step {
    Step {
        title: "Test Connection: first SCIM request",
        done: first.is_some(),
        text: match (first, latest) {
            (Some(f), Some(l)) if count > 1 => format!(
                "First request: {}. {count} requests so far; the latest: {}.",
                scim_line(f),
                scim_line(l)
            ),
            (Some(f), _) => format!("First request: {}.", scim_line(f)),
            _ => "Waiting for Entra's first request: click Test Connection.".to_string(),
        },
    }
}

fn panel(steps: Vec<Step>, query: String) -> Result<String, ConsoleError> {
    let connected = steps.iter().all(|s| s.done);
    let panel = StatusPanel {
        poll_href: (!connected).then(|| format!("/connect/status?{query}")),
        refresh_href: format!("/connect?{query}"),
        poll_seconds: POLL_SECONDS,
        connected,
        steps,
    };
    panel
        .render()
        .map_err(|e| ConsoleError::internal(format!("rendering the connect status panel: {e}")))
}
