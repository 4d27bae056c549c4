//! The tenant's users: a searchable, sortable list read one index range per
//! page (`/users`), its CSV export (`/users.csv`), and one user with every
//! attribute, its groups and the timeline of its changes (`/users/{id}`).

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
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
use crate::provision::mapping::{self, Derived};
use crate::provision::recompute;
use crate::store::listings::{self, Cursor, UserFilter, UserRow, UserSort};
use crate::store::members::{self, Membership};
use crate::store::resources;
use crate::store::sql::Table;

/// Users per page.
pub const PAGE_SIZE: i64 = 50;
/// Users read per query while exporting.
const EXPORT_CHUNK: i64 = 1000;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub q: Option<String>,
    /// `active`, `inactive`, or anything else for all.
    pub status: Option<String>,
    /// `userName`, `displayName`, `created`, `updated`.
    pub sort: Option<String>,
    /// `asc` or `desc`.
    pub dir: Option<String>,
    pub after: Option<String>,
    pub before: Option<String>,
    pub last: Option<String>,
}

/// The list's settings, read leniently: anything unknown is the default.
#[derive(Debug, Clone)]
pub struct ListSettings {
    pub q: String,
    pub status: &'static str,
    pub sort: &'static str,
    pub dir: &'static str,
}

impl ListSettings {
    pub fn from_query(q: &ListQuery) -> ListSettings {
        let status = match q.status.as_deref() {
            Some("active") => "active",
            Some("inactive") => "inactive",
            _ => "",
        };
        let sort = match q.sort.as_deref() {
            Some("displayName") => "displayName",
            Some("created") => "created",
            Some("updated") => "updated",
            _ => "userName",
        };
        let dir = match q.dir.as_deref() {
            Some("desc") => "desc",
            _ => "asc",
        };
        ListSettings {
            q: q.q.as_deref().unwrap_or("").trim().to_string(),
            status,
            sort,
            dir,
        }
    }

    pub fn filter(&self) -> UserFilter {
        UserFilter {
            search: (!self.q.is_empty()).then(|| self.q.clone()),
            active: match self.status {
                "active" => Some(true),
                "inactive" => Some(false),
                _ => None,
            },
        }
    }

    pub fn sort(&self) -> UserSort {
        match self.sort {
            "displayName" => UserSort::DisplayName,
            "created" => UserSort::Created,
            "updated" => UserSort::Updated,
            _ => UserSort::UserName,
        }
    }

    pub fn descending(&self) -> bool {
        self.dir == "desc"
    }

    /// The list's query string with `extra` added (defaults left out).
    fn href(&self, path: &str, extra: &[(&str, &str)]) -> String {
        let sort = if self.sort == "userName" {
            ""
        } else {
            self.sort
        };
        let dir = if self.dir == "asc" { "" } else { self.dir };
        let mut pairs = vec![
            ("q", self.q.as_str()),
            ("status", self.status),
            ("sort", sort),
            ("dir", dir),
        ];
        pairs.extend_from_slice(extra);
        format!("{path}{}", query_string(&pairs))
    }
}

/// A column header that sorts the list.
#[derive(Debug, Clone)]
pub struct SortLink {
    pub label: &'static str,
    pub href: String,
    /// `ascending`/`descending` when the list is sorted by it, else "".
    pub aria_sort: &'static str,
}

#[derive(Debug, Clone)]
pub struct UserListRow {
    pub id: String,
    pub user_name: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub active: bool,
    pub created: When,
    pub updated: When,
}

#[derive(Template)]
#[template(path = "users/list.html")]
pub struct UsersPage {
    pub nav: Nav,
    pub rows: Vec<UserListRow>,
    pub settings: ListSettings,
    pub columns: Vec<SortLink>,
    pub total: String,
    pub matching: String,
    pub filtered: bool,
    pub pager: Pager,
    pub export_href: String,
}

fn doc_of(row: &UserRow) -> Value {
    serde_json::from_str(&row.doc).unwrap_or(Value::Null)
}

/// The address to show for a user: the primary one, else a work one, else
/// the first.
pub fn main_email(doc: &Value) -> Option<String> {
    let emails = doc.get("emails")?.as_array()?;
    let pick = emails
        .iter()
        .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
        .or_else(|| {
            emails
                .iter()
                .find(|e| e.get("type").and_then(Value::as_str) == Some("work"))
        })
        .or_else(|| emails.first())?;
    pick.get("value")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// `GET /users`
pub async fn list(
    State(state): State<AppState>,
    current: CurrentAdmin,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let tenant_id = tenant_of(&current)?.to_string();
    let settings = ListSettings::from_query(&q);
    let filter = settings.filter();
    let cursor = cursor_from(
        q.after.as_deref(),
        q.before.as_deref(),
        q.last.as_deref() == Some("1"),
    );
    let db = state.db();
    let page = listings::users_page(
        db,
        &tenant_id,
        &filter,
        settings.sort(),
        settings.descending(),
        &cursor,
        PAGE_SIZE,
    )
    .await?;
    let filtered = filter.search.is_some() || filter.active.is_some();
    let total = listings::users_count(db, &tenant_id, &UserFilter::default()).await?;
    let matching = if filtered {
        listings::users_count(db, &tenant_id, &filter).await?
    } else {
        total
    };
    let now = Utc::now();
    let pager = Pager {
        first: page.has_previous.then(|| settings.href("/users", &[])),
        previous: match (page.has_previous, page.rows.first()) {
            (true, Some(r)) => {
                Some(settings.href("/users", &[("before", &encode_cursor(&r.sort_key, &r.id))]))
            }
            _ => None,
        },
        next: match (page.has_next, page.rows.last()) {
            (true, Some(r)) => {
                Some(settings.href("/users", &[("after", &encode_cursor(&r.sort_key, &r.id))]))
            }
            _ => None,
        },
        last: page
            .has_next
            .then(|| settings.href("/users", &[("last", "1")])),
    };
    let columns = [
        ("userName", "User name"),
        ("displayName", "Display name"),
        ("created", "Created"),
        ("updated", "Updated"),
    ]
    .iter()
    .map(|(key, label)| {
        let sorted = settings.sort == *key;
        let next_dir = if sorted && !settings.descending() {
            "desc"
        } else {
            "asc"
        };
        let mut s = settings.clone();
        s.sort = key;
        s.dir = next_dir;
        SortLink {
            label,
            href: s.href("/users", &[]),
            aria_sort: match (sorted, settings.descending()) {
                (false, _) => "",
                (true, false) => "ascending",
                (true, true) => "descending",
            },
        }
    })
    .collect();
    let rows = page
        .rows
        .iter()
        .map(|r| UserListRow {
            id: r.id.clone(),
            user_name: r.user_name.clone(),
            display_name: r.display_name.clone(),
            email: main_email(&doc_of(r)),
            active: r.active,
            created: When::new(&r.created_at, now),
            updated: When::new(&r.updated_at, now),
        })
        .collect();
    let page = UsersPage {
        nav: Nav::build(&state, &current, Section::Users).await?,
        rows,
        export_href: settings.href("/users.csv", &[]),
        settings,
        columns,
        total: thousands(total),
        matching: thousands(matching),
        filtered,
        pager,
    };
    Ok(render(StatusCode::OK, &page))
}

/// The export's columns: header and where the value is in the document.
const CSV_COLUMNS: [(&str, &str); 14] = [
    ("id", ""),
    ("userName", "/userName"),
    ("displayName", "/displayName"),
    ("givenName", "/name/givenName"),
    ("familyName", "/name/familyName"),
    ("email", ""),
    ("active", ""),
    ("externalId", "/externalId"),
    ("title", "/title"),
    (
        "department",
        "/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User/department",
    ),
    (
        "employeeNumber",
        "/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User/employeeNumber",
    ),
    (
        "manager",
        "/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User/manager/value",
    ),
    ("created", ""),
    ("lastModified", ""),
];

/// A spreadsheet evaluates a cell starting with `=`, `+`, `-` or `@` (and,
/// in some, a tab or carriage return) as a formula; a leading `'` makes it
/// text. Directory data comes from the identity provider, so any user
/// attribute may start with one.
pub fn csv_cell(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_string(),
    }
}

fn csv_record(row: &UserRow) -> Vec<String> {
    let doc = doc_of(row);
    CSV_COLUMNS
        .iter()
        .map(|(name, pointer)| {
            let raw = match *name {
                "id" => row.id.clone(),
                "email" => main_email(&doc).unwrap_or_default(),
                "active" => row.active.to_string(),
                "created" => row.created_at.clone(),
                "lastModified" => row.updated_at.clone(),
                _ => match doc.pointer(pointer) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                },
            };
            csv_cell(&redact(&raw))
        })
        .collect()
}

fn csv_bytes(header: bool, rows: &[UserRow]) -> Result<Bytes, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(rows.len() * 160 + 200));
    if header {
        w.write_record(CSV_COLUMNS.iter().map(|(h, _)| *h))?;
    }
    for row in rows {
        w.write_record(csv_record(row))?;
    }
    w.into_inner()
        .map(Bytes::from)
        .map_err(|e| csv::Error::from(e.into_error()))
}

/// `GET /users.csv`: the list with the same search, filter and order, every
/// page of it, streamed a chunk at a time.
pub async fn export(
    State(state): State<AppState>,
    current: CurrentAdmin,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let tenant_id = tenant_of(&current)?.to_string();
    let settings = ListSettings::from_query(&q);
    let db = state.db().clone();
    // The first chunk is read before answering, so a failing database is an
    // error page rather than a broken download.
    let first = listings::users_page(
        &db,
        &tenant_id,
        &settings.filter(),
        settings.sort(),
        settings.descending(),
        &Cursor::First,
        EXPORT_CHUNK,
    )
    .await?;
    let head = csv_bytes(true, &first.rows).map_err(ConsoleError::internal)?;
    let next = first
        .has_next
        .then(|| {
            first
                .rows
                .last()
                .map(|r| (r.sort_key.clone(), r.id.clone()))
        })
        .flatten();
    let rest = futures_util::stream::try_unfold(next, move |cursor| {
        let db = db.clone();
        let tenant_id = tenant_id.clone();
        let settings = settings.clone();
        async move {
            let Some((key, id)) = cursor else {
                return Ok::<_, std::io::Error>(None);
            };
            let page = listings::users_page(
                &db,
                &tenant_id,
                &settings.filter(),
                settings.sort(),
                settings.descending(),
                &Cursor::After(key, id),
                EXPORT_CHUNK,
            )
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "the users export stopped");
                std::io::Error::other(e)
            })?;
            let bytes = csv_bytes(false, &page.rows).map_err(std::io::Error::other)?;
            let next = page
                .has_next
                .then(|| page.rows.last().map(|r| (r.sort_key.clone(), r.id.clone())))
                .flatten();
            Ok(Some((bytes, next)))
        }
    });
    let head = futures_util::stream::once(async move { Ok::<_, std::io::Error>(head) });
    let body = Body::from_stream(futures_util::StreamExt::chain(head, rest));
    let file = format!("users-{}.csv", Utc::now().format("%Y%m%d-%H%M"));
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
            (CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "users/show.html")]
pub struct UserPage {
    pub nav: Nav,
    pub id: String,
    pub user_name: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub active: bool,
    pub external_id: Option<String>,
    pub created: When,
    pub updated: When,
    pub version: i64,
    pub sections: Vec<AttrSection>,
    pub groups: Vec<Membership>,
    /// What the mapping rules derived, and the values they did not map.
    pub mapped: Derived,
    pub unmapped_roles: Vec<String>,
    pub unmapped_groups: Vec<String>,
    pub timeline: Vec<LogRow>,
    pub timeline_more: bool,
    pub json: String,
}

/// `GET /users/{id}`
pub async fn show(
    State(state): State<AppState>,
    current: CurrentAdmin,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let tenant_id = tenant_of(&current)?.to_string();
    let db = state.db();
    let Some(row) = resources::get(db, Table::Users, &tenant_id, &id).await? else {
        return Err(ConsoleError::not_found("user"));
    };
    let groups = members::groups_of(db, &tenant_id, std::slice::from_ref(&row.id)).await?;
    let doc: Value = serde_json::from_str(&row.doc).unwrap_or(Value::Null);
    let full = crate::provision::represent::full(
        scim::ResourceKind::User,
        &state.scim_base(),
        &row,
        doc.clone(),
        None,
        Some(&groups),
    );
    let (timeline, timeline_more) = timeline(&state, &tenant_id, &row.id).await?;
    // The stored result is what clients read; the unmapped values are those
    // of the current rules (the same rules, since saving recomputes).
    let (rules, _) = recompute::current(db, &tenant_id).await?;
    let outcome = mapping::derive(&rules, &doc);
    let mapped = Derived::from_stored(row.derived_role.as_deref(), row.derived_groups.as_deref());
    let now = Utc::now();
    let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
    let page = UserPage {
        nav: Nav::build(&state, &current, Section::Users).await?,
        id: row.id.clone(),
        user_name: text("userName").unwrap_or_default(),
        display_name: text("displayName"),
        email: main_email(&doc),
        active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
        external_id: text("externalId"),
        created: When::new(&row.created_at, now),
        updated: When::new(&row.updated_at, now),
        version: row.version,
        sections: sections(&full.json),
        groups,
        mapped,
        unmapped_roles: outcome.unmapped_roles,
        unmapped_groups: outcome.unmapped_groups,
        timeline,
        timeline_more,
        json: redact(&serde_json::to_string_pretty(&full.json).unwrap_or_default()),
    };
    Ok(render(StatusCode::OK, &page))
}
