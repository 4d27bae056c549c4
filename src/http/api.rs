//! `/api/v1`: the vendor's product reads what scimgate holds and follows
//! what changes. Authenticated by app keys (`sgak_…`), never by a tenant's
//! SCIM token or a console session; answers JSON, errors as
//! `{"error": code, "message": text}`.
//!
//! - `GET /api/v1/events?after=&limit=&tenant=&types=`: the event feed.
//! - `GET /api/v1/tenants`, `…/tenants/{slug}/users`, `…/groups`,
//!   `…/groups/{id}/members`: the initial sync, cursor-paged, each page
//!   naming `events_after`, the event id from which the feed continues the
//!   snapshot without a gap.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use scim::ResourceKind;
use serde_json::{Value, json};

use crate::events::{self, event_id, parse_event_id};
use crate::http::AppState;
use crate::paths::API_PREFIX;
use crate::provision::represent;
use crate::store::app_keys::{self, AppKey};
use crate::store::events::{self as event_log, Filter, types};
use crate::store::resources::{self, Row};
use crate::store::sql::Table;
use crate::store::tenants::{self, Tenant};
use crate::store::{SqlError, members};

/// Items per page when `limit` is not given, and the most a page may hold.
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;
/// The most events a `types`-filtered page looks through: a filter that
/// matches few events answers after this many, with `next_after` to go on.
const TYPE_WINDOW: i64 = 10_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(&format!("{API_PREFIX}/events"), get(events_feed))
        .route(&format!("{API_PREFIX}/tenants"), get(tenant_list))
        .route(
            &format!("{API_PREFIX}/tenants/{{slug}}/users"),
            get(user_list),
        )
        .route(
            &format!("{API_PREFIX}/tenants/{{slug}}/groups"),
            get(group_list),
        )
        .route(
            &format!("{API_PREFIX}/tenants/{{slug}}/groups/{{id}}/members"),
            get(member_list),
        )
}

/// An error of this surface: a status, a stable code and a message that
/// says what to do.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl From<SqlError> for ApiError {
    fn from(e: SqlError) -> ApiError {
        tracing::error!(error = %e, "database error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "scimgate could not read its database; retry shortly",
        )
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> ApiError {
        tracing::error!(error = %e, "a stored event is not valid JSON");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "a stored event could not be read",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            [(CACHE_CONTROL, "no-store")],
            axum::Json(json!({"error": self.code, "message": self.message})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scimgate-api\""),
            );
        }
        resp
    }
}

/// What `/api/v1` answers for a path or method it does not serve.
pub fn not_found(method: &axum::http::Method, uri: &axum::http::Uri) -> Response {
    ApiError::not_found(format!(
        "{method} {} is not part of the API; see the README's section for the product's engineers",
        uri.path()
    ))
    .into_response()
}

/// The app key a request presents.
pub struct Key(pub AppKey);

impl FromRequestParts<AppState> for Key {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Key, ApiError> {
        let unauthorized = |m: &str| {
            state.metrics().auth_failure("bad_app_key");
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m)
        };
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                unauthorized(
                    "send an app key as `Authorization: Bearer sgak_…` (`scimgate app-key create` makes one)",
                )
            })?;
        let presented = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .unwrap_or("");
        let key = app_keys::authenticate(state.db(), presented)
            .await?
            .ok_or_else(|| unauthorized("the app key is unknown or revoked"))?;
        if state.should_touch(&key.id) {
            let db = state.db().clone();
            let id = key.id.clone();
            tokio::spawn(async move {
                if let Err(e) = app_keys::touch(&db, &id).await {
                    tracing::warn!(error = %e, "could not record an app key's use");
                }
            });
        }
        Ok(Key(key))
    }
}

impl Key {
    /// The tenant named by `slug`, when this key may see it.
    async fn tenant(&self, state: &AppState, slug: &str) -> Result<Tenant, ApiError> {
        let tenant = tenants::by_slug(state.db(), slug)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no tenant with the slug {slug:?}")))?;
        self.allow(&tenant)?;
        Ok(tenant)
    }

    fn allow(&self, tenant: &Tenant) -> Result<(), ApiError> {
        match &self.0.tenant_id {
            Some(t) if *t != tenant.id => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this app key is limited to another tenant, not {:?}",
                    tenant.slug
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// The query string as a map; a parameter given twice is refused rather
/// than one of its values picked.
fn params(raw: Option<String>, allowed: &[&str]) -> Result<HashMap<String, String>, ApiError> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if !allowed.contains(&k.as_ref()) {
            return Err(ApiError::bad(format!(
                "unknown parameter {k:?}; this endpoint takes {}",
                allowed.join(", ")
            )));
        }
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(ApiError::bad(format!("the parameter {k:?} is given twice")));
        }
    }
    Ok(out)
}

fn limit(p: &HashMap<String, String>) -> Result<i64, ApiError> {
    match p.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad(format!(
                    "limit must be a whole number from 1 to {MAX_LIMIT}, not {v:?}"
                ))
            }),
    }
}

/// A JSON body that is already text (events are stored as JSON and copied).
fn json_text(body: String) -> Response {
    (
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn events_feed(
    State(state): State<AppState>,
    key: Key,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = params(raw, &["after", "limit", "tenant", "types"])?;
    let limit = limit(&p)?;
    let after = match p.get("after") {
        None => 0,
        Some(a) => parse_event_id(a).ok_or_else(|| {
            ApiError::bad(format!(
                "after must be an event id (evt_…) from this feed, not {a:?}"
            ))
        })?,
    };
    let tenant = match p.get("tenant") {
        Some(slug) => {
            let t = tenants::by_slug(state.db(), slug)
                .await?
                .ok_or_else(|| ApiError::bad(format!("no tenant with the slug {slug:?}")))?;
            key.allow(&t)?;
            Some(t.id)
        }
        None => key.0.tenant_id.clone(),
    };
    let types: Vec<String> = match p.get("types") {
        None => Vec::new(),
        Some(list) => {
            let mut v = Vec::new();
            for t in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if !types::ALL.contains(&t) {
                    return Err(ApiError::bad(format!(
                        "unknown event type {t:?}; the types are {}",
                        types::ALL.join(", ")
                    )));
                }
                if !v.iter().any(|x| x == t) {
                    v.push(t.to_string());
                }
            }
            v
        }
    };
    let db = state.db();
    let pruned = event_log::pruned_through(db).await?;
    if after > 0 && after < pruned {
        return Err(ApiError::new(
            StatusCode::GONE,
            "resync_required",
            format!(
                "events up to {} were pruned (they are kept {} days), so the feed cannot continue after {}: read the directory again with GET {API_PREFIX}/tenants/{{slug}}/users and …/groups, then follow the feed from their events_after",
                event_id(pruned),
                state.config().events.retention_days,
                event_id(after)
            ),
        ));
    }
    // Position what has committed now rather than at the publisher's next
    // tick: a consumer polling sees a change as soon as possible.
    event_log::publish_committed(db).await?;
    let until = (!types.is_empty()).then(|| after.saturating_add(TYPE_WINDOW));
    let mut rows = event_log::page(
        db,
        &Filter {
            after,
            limit: limit + 1,
            tenant_id: tenant.as_deref(),
            types: &types,
            until,
        },
    )
    .await?;
    let (has_more, next) = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        (true, rows.last().map_or(after, |e| e.position))
    } else {
        let last = rows.last().map_or(after, |e| e.position);
        match until {
            Some(until) if until < event_log::latest(db).await? => (true, until),
            _ => (false, last),
        }
    };
    let mut body = String::from("{\"data\":[");
    for (i, e) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&events::envelope(e)?);
    }
    body.push_str(&format!(
        "],\"has_more\":{has_more},\"next_after\":\"{}\"}}",
        event_id(next)
    ));
    Ok(json_text(body))
}

/// A read API cursor: the last id of the page before, and the feed
/// position of the snapshot's first page, which every later page repeats.
struct Cursor {
    after_id: String,
    events_after: i64,
}

impl Cursor {
    fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}\n{}", self.events_after, self.after_id))
    }

    fn decode(text: &str) -> Option<Cursor> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (pos, id) = text.split_once('\n')?;
        Some(Cursor {
            after_id: id.to_string(),
            events_after: pos.parse().ok().filter(|p| *p >= 0)?,
        })
    }
}

/// Where a listing starts: its cursor, or for a first page the feed's
/// newest position, read before the page so that every change the page
/// misses comes after it in the feed.
async fn start(state: &AppState, p: &HashMap<String, String>) -> Result<Cursor, ApiError> {
    match p.get("cursor") {
        Some(c) => Cursor::decode(c).ok_or_else(|| {
            ApiError::bad("cursor must be a next_cursor value from a previous page of this listing")
        }),
        None => {
            event_log::publish_committed(state.db()).await?;
            Ok(Cursor {
                after_id: String::new(),
                events_after: event_log::latest(state.db()).await?,
            })
        }
    }
}

/// `{"data", "has_more", "next_cursor", "events_after"}`.
fn listing(
    data: Vec<Value>,
    has_more: bool,
    last_id: Option<String>,
    events_after: i64,
) -> Response {
    let next = match (has_more, last_id) {
        (true, Some(id)) => Value::String(
            Cursor {
                after_id: id,
                events_after,
            }
            .encode(),
        ),
        _ => Value::Null,
    };
    (
        [(CACHE_CONTROL, "no-store")],
        axum::Json(json!({
            "data": data,
            "has_more": has_more,
            "next_cursor": next,
            "events_after": event_id(events_after),
        })),
    )
        .into_response()
}

async fn tenant_list(
    State(state): State<AppState>,
    key: Key,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = params(raw, &["limit", "cursor"])?;
    let limit = limit(&p)?;
    let cursor = start(&state, &p).await?;
    // Tenants are few (one per customer): read them all, page in memory.
    let mut all: Vec<Tenant> = tenants::list(state.db())
        .await?
        .into_iter()
        .filter(|t| key.0.tenant_id.as_ref().is_none_or(|k| *k == t.id))
        .filter(|t| t.slug > cursor.after_id)
        .collect();
    all.sort_by(|a, b| a.slug.cmp(&b.slug));
    let has_more = all.len() as i64 > limit;
    all.truncate(limit as usize);
    let last = all.last().map(|t| t.slug.clone());
    let data = all
        .iter()
        .map(|t| json!({"id": t.id, "slug": t.slug, "name": t.name, "created_at": t.created_at}))
        .collect();
    Ok(listing(data, has_more, last, cursor.events_after))
}

fn parse_doc(row: &Row) -> Value {
    serde_json::from_str(&row.doc).unwrap_or_else(|_| Value::Object(Default::default()))
}

/// What every page of a tenant's listing starts from: the tenant (which
/// the key must be allowed to see), the page size and the cursor.
struct Page {
    tenant: Tenant,
    limit: i64,
    cursor: Cursor,
}

impl Page {
    async fn begin(
        state: &AppState,
        key: &Key,
        slug: &str,
        raw: Option<String>,
    ) -> Result<Page, ApiError> {
        let p = params(raw, &["limit", "cursor"])?;
        let limit = limit(&p)?;
        let tenant = key.tenant(state, slug).await?;
        let cursor = start(state, &p).await?;
        Ok(Page {
            tenant,
            limit,
            cursor,
        })
    }

    /// Rows read with a limit one above the page's: whether more follow.
    fn cut<T>(&self, mut rows: Vec<T>) -> (Vec<T>, bool) {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        (rows, more)
    }
}

async fn user_list(
    State(state): State<AppState>,
    key: Key,
    Path(slug): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    resource_list(&state, &key, &slug, raw, ResourceKind::User).await
}

async fn group_list(
    State(state): State<AppState>,
    key: Key,
    Path(slug): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    resource_list(&state, &key, &slug, raw, ResourceKind::Group).await
}

/// Users as `GET /scim/v2/Users/{id}` returns them; groups without their
/// members, which `…/groups/{id}/members` lists a page at a time.
async fn resource_list(
    state: &AppState,
    key: &Key,
    slug: &str,
    raw: Option<String>,
    kind: ResourceKind,
) -> Result<Response, ApiError> {
    let page = Page::begin(state, key, slug, raw).await?;
    let table = match kind {
        ResourceKind::User => Table::Users,
        ResourceKind::Group => Table::Groups,
    };
    let rows = resources::page_after(
        state.db(),
        table,
        &page.tenant.id,
        &page.cursor.after_id,
        page.limit + 1,
    )
    .await?;
    let (rows, has_more) = page.cut(rows);
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut groups: HashMap<String, Vec<members::Membership>> = HashMap::new();
    if kind == ResourceKind::User {
        for m in members::groups_of(state.db(), &page.tenant.id, &ids).await? {
            groups.entry(m.member_id.clone()).or_default().push(m);
        }
    }
    let base = state.scim_base();
    let data = rows
        .iter()
        .map(|row| {
            let g = (kind == ResourceKind::User)
                .then(|| groups.get(&row.id).map_or(&[][..], Vec::as_slice));
            represent::full(kind, &base, row, parse_doc(row), None, g).json
        })
        .collect();
    Ok(listing(
        data,
        has_more,
        ids.last().cloned(),
        page.cursor.events_after,
    ))
}

async fn member_list(
    State(state): State<AppState>,
    key: Key,
    Path((slug, group_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let page = Page::begin(&state, &key, &slug, raw).await?;
    if resources::get(state.db(), Table::Groups, &page.tenant.id, &group_id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(format!(
            "tenant {slug:?} has no group with the id {group_id:?}"
        )));
    }
    let rows = members::page_after(
        state.db(),
        &page.tenant.id,
        &group_id,
        &page.cursor.after_id,
        page.limit + 1,
    )
    .await?;
    let (rows, has_more) = page.cut(rows);
    let data = rows
        .iter()
        .map(|(kind, m)| {
            if kind == "Group" {
                json!({"type": "Group", "id": m.id, "displayName": m.name, "externalId": m.external_id})
            } else {
                json!({"type": "User", "id": m.id, "userName": m.name, "externalId": m.external_id})
            }
        })
        .collect();
    let last = rows.last().map(|(_, m)| m.id.clone());
    Ok(listing(data, has_more, last, page.cursor.events_after))
}
