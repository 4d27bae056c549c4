//! The tenant's groups: a list by name with search (`/groups`), and one
//! group with its attributes, its members page by page and its timeline
//! (`/groups/{id}`).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;

use super::activity::LogRow;
use super::nav::{Nav, Section, tenant_of};
use super::present::{Pager, When, cursor_from, encode_cursor, query_string, redact, thousands};
use super::resource::{AttrSection, sections, timeline};
use super::{ConsoleError, render};
use crate::console::session::CurrentAdmin;
use crate::http::AppState;
use crate::store::listings;
use crate::store::members;
use crate::store::resources;
use crate::store::sql::Table;

pub const PAGE_SIZE: i64 = 50;
pub const MEMBERS_PAGE_SIZE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub q: Option<String>,
    pub after: Option<String>,
    pub before: Option<String>,
    pub last: Option<String>,
}

#[derive(Debug, Clone)]
pub struct GroupListRow {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: String,
    pub updated: When,
}

#[derive(Template)]
#[template(path = "groups/list.html")]
pub struct GroupsPage {
    pub nav: Nav,
    pub rows: Vec<GroupListRow>,
    pub q: String,
    pub total: String,
    pub matching: String,
    pub pager: Pager,
}

/// `GET /groups`
pub async fn list(
    State(state): State<AppState>,
    current: CurrentAdmin,
    Query(query): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let tenant_id = tenant_of(&current)?.to_string();
    let q = query.q.as_deref().unwrap_or("").trim().to_string();
    let search = (!q.is_empty()).then_some(q.as_str());
    let cursor = cursor_from(
        query.after.as_deref(),
        query.before.as_deref(),
        query.last.as_deref() == Some("1"),
    );
    let db = state.db();
    let page = listings::groups_page(db, &tenant_id, search, &cursor, PAGE_SIZE).await?;
    let total = listings::groups_count(db, &tenant_id, None).await?;
    let matching = match search {
        Some(_) => listings::groups_count(db, &tenant_id, search).await?,
        None => total,
    };
    let href = |extra: &[(&str, &str)]| {
        let mut pairs = vec![("q", q.as_str())];
        pairs.extend_from_slice(extra);
        format!("/groups{}", query_string(&pairs))
    };
    let pager = Pager {
        first: page.has_previous.then(|| href(&[])),
        previous: match (page.has_previous, page.rows.first()) {
            (true, Some(r)) => Some(href(&[("before", &encode_cursor(&r.sort_key, &r.id))])),
            _ => None,
        },
        next: match (page.has_next, page.rows.last()) {
            (true, Some(r)) => Some(href(&[("after", &encode_cursor(&r.sort_key, &r.id))])),
            _ => None,
        },
        last: page.has_next.then(|| href(&[("last", "1")])),
    };
    let now = Utc::now();
    let rows = page
        .rows
        .iter()
        .map(|r| GroupListRow {
            id: r.id.clone(),
            display_name: r.display_name.clone(),
            external_id: r.external_id.clone(),
            members: thousands(r.members),
            updated: When::new(&r.updated_at, now),
        })
        .collect();
    let page = GroupsPage {
        nav: Nav::build(&state, &current, Section::Groups).await?,
        rows,
        q,
        total: thousands(total),
        matching: thousands(matching),
        pager,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    /// The members page, from 1.
    pub page: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub id: String,
    pub kind: String,
    pub display: String,
    pub href: String,
}

#[derive(Template)]
#[template(path = "groups/show.html")]
pub struct GroupPage {
    pub nav: Nav,
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub created: When,
    pub updated: When,
    pub version: i64,
    pub sections: Vec<AttrSection>,
    pub members: Vec<MemberRow>,
    pub member_count: String,
    /// "Members 51–100 of 230".
    pub members_range: String,
    pub pager: Pager,
    pub timeline: Vec<LogRow>,
    pub timeline_more: bool,
    pub json: String,
}

/// `GET /groups/{id}`
pub async fn show(
    State(state): State<AppState>,
    current: CurrentAdmin,
    Path(id): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Result<Response, ConsoleError> {
    let tenant_id = tenant_of(&current)?.to_string();
    let db = state.db();
    let Some(row) = resources::get(db, Table::Groups, &tenant_id, &id).await? else {
        return Err(ConsoleError::not_found("group"));
    };
    let count = members::count(db, &tenant_id, &row.id).await?;
    let pages = ((count + MEMBERS_PAGE_SIZE - 1) / MEMBERS_PAGE_SIZE).max(1);
    let number = query
        .page
        .as_deref()
        .and_then(|p| p.trim().parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let offset = (number - 1) * MEMBERS_PAGE_SIZE;
    let list = members::page(db, &tenant_id, &row.id, offset, MEMBERS_PAGE_SIZE).await?;
    let shown = i64::try_from(list.len()).unwrap_or(0);
    let members_range = if count == 0 {
        String::new()
    } else {
        format!(
            "{}–{} of {}",
            thousands(offset + 1),
            thousands(offset + shown),
            thousands(count)
        )
    };
    let members = list
        .into_iter()
        .map(|m| {
            let href = if m.kind == "Group" {
                format!("/groups/{}", m.id)
            } else {
                format!("/users/{}", m.id)
            };
            MemberRow {
                display: m.display.clone().unwrap_or_else(|| m.id.clone()),
                id: m.id,
                kind: m.kind,
                href,
            }
        })
        .collect();
    let page_href = |n: i64| format!("/groups/{}?page={n}", row.id);
    let pager = Pager {
        first: (number > 2).then(|| page_href(1)),
        previous: (number > 1).then(|| page_href(number - 1)),
        next: (number < pages).then(|| page_href(number + 1)),
        last: (number + 1 < pages).then(|| page_href(pages)),
    };
    let doc: Value = serde_json::from_str(&row.doc).unwrap_or(Value::Null);
    let full = crate::provision::represent::full(
        scim::ResourceKind::Group,
        &state.scim_base(),
        &row,
        doc.clone(),
        None,
        None,
    );
    let (timeline, timeline_more) = timeline(&state, &tenant_id, &row.id).await?;
    let now = Utc::now();
    let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
    let page = GroupPage {
        nav: Nav::build(&state, &current, Section::Groups).await?,
        id: row.id.clone(),
        display_name: text("displayName").unwrap_or_default(),
        external_id: text("externalId"),
        created: When::new(&row.created_at, now),
        updated: When::new(&row.updated_at, now),
        version: row.version,
        sections: sections(&full.json),
        members,
        member_count: thousands(count),
        members_range,
        pager,
        timeline,
        timeline_more,
        json: redact(&serde_json::to_string_pretty(&full.json).unwrap_or_default()),
    };
    Ok(render(StatusCode::OK, &page))
}
