//! The provisioning log (`/activity`): every SCIM request and security event
//! of the tenant, newest first, filtered by outcome, operation and resource;
//! and one entry in full (`/activity/{id}`) with the request and the stored
//! field-level changes.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::nav::{Nav, Section, tenant_of};
use super::present::{
    ChangeView, Pager, QuirkView, When, actor_text, changes, failure_reason, ignored, query_string,
    quirks, redact, resource_href,
};
use super::{ConsoleError, render};
use crate::console::session::CurrentAdmin;
use crate::http::AppState;
use crate::store::activity::Recorded;
use crate::store::listings::{self, ActivityFilter, LogCursor};

/// Entries per page of the log.
pub const PAGE_SIZE: i64 = 50;

/// One log entry as a row of a table.
#[derive(Debug, Clone)]
pub struct LogRow {
    pub id: i64,
    pub when: When,
    pub actor: String,
    pub operation: String,
    /// The resource's name (or id), when the entry is about one.
    pub resource: Option<String>,
    pub resource_kind: Option<String>,
    pub resource_href: Option<String>,
    pub status: i64,
    pub failed: bool,
    pub latency: Option<String>,
    pub quirks: Vec<QuirkView>,
    pub reason: Option<String>,
    /// For successes: the detail (a filter, what a security event did).
    pub note: Option<String>,
    pub changes: Vec<ChangeView>,
}

impl LogRow {
    pub fn new(e: &Recorded, now: DateTime<Utc>) -> LogRow {
        let resource = e
            .resource_label
            .as_deref()
            .filter(|l| !l.is_empty())
            .or(e.resource_id.as_deref())
            .map(redact);
        let failed = e.outcome == "failure";
        LogRow {
            id: e.id,
            when: When::new(&e.at, now),
            actor: actor_text(e),
            operation: e.operation.clone(),
            resource,
            resource_kind: e.resource_type.clone(),
            resource_href: resource_href(e),
            status: e.status,
            failed,
            latency: e.latency_ms.map(|ms| format!("{ms} ms")),
            quirks: quirks(e.quirks.as_deref()),
            reason: failure_reason(e),
            note: if failed {
                None
            } else {
                e.detail.as_deref().filter(|d| !d.is_empty()).map(redact)
            },
            changes: changes(e.changes.as_deref()),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    pub outcome: Option<String>,
    pub operation: Option<String>,
    pub resource: Option<String>,
    /// Entries older than this id (the next page).
    pub older: Option<String>,
    /// Entries newer than this id (the previous page).
    pub newer: Option<String>,
}

/// Operation prefixes offered by the filter (any other prefix may be typed).
pub const OPERATION_PREFIXES: [(&str, &str); 10] = [
    ("user.", "SCIM users"),
    ("group.", "SCIM groups"),
    ("search", "SCIM searches"),
    ("discovery", "SCIM discovery"),
    ("oauth.", "OAuth consent, tokens and grants"),
    ("token.", "Secret tokens"),
    ("client.", "OAuth clients"),
    ("admin.", "Admins and sign-ins"),
    ("mapping.", "Mapping rules"),
    ("tenant.", "Tenant"),
];

#[derive(Template)]
#[template(path = "activity/list.html")]
pub struct ActivityPage {
    pub nav: Nav,
    pub rows: Vec<LogRow>,
    pub outcome: String,
    pub operation: String,
    pub resource: String,
    pub prefixes: Vec<(&'static str, &'static str)>,
    pub pager: Pager,
    pub filtered: bool,
}

fn clean(v: Option<&String>) -> String {
    v.map(|s| s.trim().to_string()).unwrap_or_default()
}

/// `GET /activity`
pub async fn list(
    State(state): State<AppState>,
    current: CurrentAdmin,
    Query(q): Query<LogQuery>,
) -> Result<Response, ConsoleError> {
    let tenant_id = tenant_of(&current)?.to_string();
    let outcome = match clean(q.outcome.as_ref()).as_str() {
        o @ ("success" | "failure") => o.to_string(),
        _ => String::new(),
    };
    let operation = clean(q.operation.as_ref());
    let resource = clean(q.resource.as_ref());
    let filter = ActivityFilter {
        outcome: (!outcome.is_empty()).then(|| outcome.clone()),
        operation: (!operation.is_empty()).then(|| operation.clone()),
        resource: (!resource.is_empty()).then(|| resource.clone()),
        changes_only: false,
    };
    let parse = |v: Option<&String>| v.and_then(|s| s.trim().parse::<i64>().ok());
    let cursor = match (parse(q.older.as_ref()), parse(q.newer.as_ref())) {
        (Some(id), _) => LogCursor::OlderThan(id),
        (None, Some(id)) => LogCursor::NewerThan(id),
        (None, None) => LogCursor::Newest,
    };
    let page = listings::activity_page(state.db(), &tenant_id, &filter, cursor, PAGE_SIZE).await?;
    let now = Utc::now();
    let rows: Vec<LogRow> = page.rows.iter().map(|e| LogRow::new(e, now)).collect();
    let base = [
        ("outcome", outcome.as_str()),
        ("operation", operation.as_str()),
        ("resource", resource.as_str()),
    ];
    let link = |extra: Option<(&str, String)>| {
        let mut pairs: Vec<(&str, &str)> = base.to_vec();
        if let Some((k, v)) = &extra {
            pairs.push((k, v.as_str()));
        }
        format!("/activity{}", query_string(&pairs))
    };
    let pager = Pager {
        first: page.has_previous.then(|| link(None)),
        previous: match (page.has_previous, rows.first()) {
            (true, Some(r)) => Some(link(Some(("newer", r.id.to_string())))),
            _ => None,
        },
        next: match (page.has_next, rows.last()) {
            (true, Some(r)) => Some(link(Some(("older", r.id.to_string())))),
            _ => None,
        },
        last: None,
    };
    let filtered = !(outcome.is_empty() && operation.is_empty() && resource.is_empty());
    let page = ActivityPage {
        nav: Nav::build(&state, &current, Section::Activity).await?,
        rows,
        outcome,
        operation,
        resource,
        prefixes: OPERATION_PREFIXES.to_vec(),
        pager,
        filtered,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "activity/show.html")]
pub struct EntryPage {
    pub nav: Nav,
    pub row: LogRow,
    pub method: Option<String>,
    pub path: Option<String>,
    pub request_id: Option<String>,
    pub resource_id: Option<String>,
    pub ignored: Vec<String>,
    pub detail: Option<String>,
}

/// `GET /activity/{id}`
pub async fn show(
    State(state): State<AppState>,
    current: CurrentAdmin,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let tenant_id = tenant_of(&current)?.to_string();
    let Ok(id) = id.parse::<i64>() else {
        return Err(ConsoleError::not_found("activity entry"));
    };
    let Some(e) = listings::activity_entry(state.db(), &tenant_id, id).await? else {
        return Err(ConsoleError::not_found("activity entry"));
    };
    let page = EntryPage {
        nav: Nav::build(&state, &current, Section::Activity).await?,
        row: LogRow::new(&e, Utc::now()),
        method: e.method.clone(),
        path: e.path.as_deref().map(redact),
        request_id: e.request_id.clone(),
        resource_id: e.resource_id.as_deref().map(redact),
        ignored: ignored(e.ignored_attributes.as_deref()),
        detail: e.detail.as_deref().filter(|d| !d.is_empty()).map(redact),
    };
    Ok(render(StatusCode::OK, &page))
}
