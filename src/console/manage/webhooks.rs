//! The operator's Webhooks page: the product's endpoints, their health and
//! backlog, each one's latest deliveries (status, latency, attempt, the
//! start of the answer), with buttons to send a test message, redeliver an
//! event and enable an endpoint that was disabled. Endpoints are created on
//! the command line (`scimgate webhook create`), which shows the secret.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{Operator, set_notice, take_notice, when, when_or};
use crate::console::nav::{Nav, Section};
use crate::console::{ConsoleError, CsrfForm, CsrfOnly, render, see_other};
use crate::http::AppState;
use crate::store::tenants;
use crate::store::webhooks::{self as store, Delivery};

/// Attempts shown per endpoint.
const SHOWN: i64 = 10;
/// The backlog is counted up to this many events.
const BACKLOG_CAP: i64 = 10_000;

pub struct DeliveryRow {
    pub id: String,
    pub at: String,
    pub event: String,
    pub event_type: String,
    pub attempt: i64,
    pub outcome: String,
    pub ok: bool,
    pub status: String,
    pub latency: String,
    pub detail: String,
    pub can_redeliver: bool,
}

pub struct EndpointRow {
    pub id: String,
    pub url: String,
    pub scope: String,
    pub events: String,
    /// `ok`, `warn` or `bad`, for the badge.
    pub health: &'static str,
    pub health_text: String,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub backlog: String,
    pub created: String,
    pub deliveries: Vec<DeliveryRow>,
}

#[derive(Template)]
#[template(path = "manage/webhooks.html")]
pub struct WebhooksPage {
    pub nav: Nav,
    pub csrf: String,
    pub notice: Option<String>,
    pub endpoints: Vec<EndpointRow>,
    pub troubled: usize,
}

fn row(d: &Delivery) -> DeliveryRow {
    let ok = matches!(d.outcome.as_str(), "delivered" | "test" | "redelivered")
        && d.status.is_some_and(|s| (200..300).contains(&s));
    DeliveryRow {
        id: d.id.clone(),
        at: when(&d.at),
        event: if d.event_position > 0 {
            crate::events::event_id(d.event_position)
        } else {
            "test message".to_string()
        },
        event_type: d.event_type.clone(),
        attempt: d.attempt,
        outcome: d.outcome.replace('_', " "),
        ok,
        status: d.status.map_or("no answer".to_string(), |s| s.to_string()),
        latency: d.latency_ms.map_or(String::new(), |l| format!("{l} ms")),
        detail: match (&d.error, &d.response) {
            (Some(e), Some(r)) => format!("{e}: {}", r.chars().take(200).collect::<String>()),
            (Some(e), None) => e.clone(),
            (None, Some(r)) => r.chars().take(200).collect(),
            (None, None) => String::new(),
        },
        can_redeliver: d.event_position > 0,
    }
}

/// `GET /webhooks`
pub async fn page(
    State(state): State<AppState>,
    current: Operator,
) -> Result<Response, ConsoleError> {
    let db = state.db();
    let tenant_list = tenants::list(db).await?;
    let slug = |id: &str| {
        tenant_list
            .iter()
            .find(|t| t.id == id)
            .map_or_else(|| id.to_string(), |t| t.slug.clone())
    };
    let mut endpoints = Vec::new();
    for h in store::list(db).await? {
        let backlog = store::backlog(db, &h.id, BACKLOG_CAP).await?;
        let (health, health_text) = match (&h.disabled_at, &h.failing_since) {
            (Some(at), _) => ("bad", format!("Disabled since {}", when(at))),
            (None, Some(since)) => ("warn", format!("Failing since {}", when(since))),
            (None, None) => ("ok", "Healthy".to_string()),
        };
        endpoints.push(EndpointRow {
            scope: h
                .tenant_id
                .as_deref()
                .map_or("every tenant".to_string(), |t| {
                    format!("tenant {}", slug(t))
                }),
            events: h
                .event_types
                .as_ref()
                .map_or("every type".to_string(), |t| t.join(", ")),
            health,
            health_text,
            disabled: h.disabled_at.is_some(),
            disabled_reason: h.disabled_reason.clone(),
            backlog: if backlog >= BACKLOG_CAP {
                format!("{BACKLOG_CAP} or more")
            } else {
                backlog.to_string()
            },
            created: when_or(Some(&h.created_at), ""),
            deliveries: store::deliveries(db, &h.id, SHOWN)
                .await?
                .iter()
                .map(row)
                .collect(),
            id: h.id,
            url: h.url,
        });
    }
    let troubled = endpoints.iter().filter(|e| e.health != "ok").count();
    let page = WebhooksPage {
        nav: current.nav_at(&state, Section::Webhooks).await?,
        csrf: crate::console::session::csrf_token(&current.session).await?,
        notice: take_notice(&current.session).await?,
        endpoints,
        troubled,
    };
    Ok(render(StatusCode::OK, &page))
}

async fn endpoint(state: &AppState, id: &str) -> Result<store::Webhook, ConsoleError> {
    store::get(state.db(), id).await?.ok_or_else(|| {
        ConsoleError::new(
            StatusCode::NOT_FOUND,
            "No such webhook",
            "There is no webhook endpoint with this id. It may have been deleted; go back to the list and reload it.",
        )
    })
}

fn answer(d: &Delivery) -> String {
    match (d.status, &d.error) {
        (Some(s), _) if (200..300).contains(&s) => format!("answered {s}"),
        (Some(s), _) => format!("failed: it answered {s}"),
        (None, Some(e)) => format!("failed: {e}"),
        (None, None) => "failed".to_string(),
    }
}

/// `POST /webhooks/{id}/test`
pub async fn test(
    State(state): State<AppState>,
    current: Operator,
    Path(id): Path<String>,
    _: CsrfForm<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    let hook = endpoint(&state, &id).await?;
    let d = crate::webhooks::send_test(state.db(), &hook, &state.config().webhooks).await?;
    set_notice(
        &current.session,
        format!("Test message to {}: {}.", hook.url, answer(&d)),
    )
    .await?;
    Ok(see_other("/webhooks"))
}

/// `POST /webhooks/{id}/enable`
pub async fn enable(
    State(state): State<AppState>,
    current: Operator,
    Path(id): Path<String>,
    _: CsrfForm<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    let hook = endpoint(&state, &id).await?;
    store::enable(state.db(), &hook.id).await?;
    tracing::info!(webhook = %hook.id, operator = %current.admin.id, "webhook enabled in the console");
    set_notice(
        &current.session,
        format!(
            "{} is enabled; delivery resumes where it stopped.",
            hook.url
        ),
    )
    .await?;
    Ok(see_other("/webhooks"))
}

/// `POST /webhooks/deliveries/{id}/redeliver`
pub async fn redeliver(
    State(state): State<AppState>,
    current: Operator,
    Path(id): Path<String>,
    _: CsrfForm<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    let earlier = store::delivery(state.db(), &id).await?.ok_or_else(|| {
        ConsoleError::new(
            StatusCode::NOT_FOUND,
            "No such delivery",
            "There is no delivery with this id; its record may have been pruned. Go back to the list and reload it.",
        )
    })?;
    let text = match crate::webhooks::redeliver(state.db(), &earlier, &state.config().webhooks)
        .await?
    {
        Some(d) => format!(
            "{} sent again: {}.",
            crate::events::event_id(d.event_position),
            answer(&d)
        ),
        None => "That event is no longer kept (pruned past retention), so it cannot be sent again."
            .to_string(),
    };
    set_notice(&current.session, text).await?;
    Ok(see_other("/webhooks"))
}
