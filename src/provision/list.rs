//! Listing and filtering (`GET /Users?filter=…`, `POST /.search`).
//!
//! Every filter is answered by the evaluator of the protocol core, so results
//! are always exactly what RFC 7644 says. The database's part is to narrow the
//! candidates: a filter is translated into an indexed SQL condition that is
//! either *exact* (the SQL answers the filter by itself, so paging and counting
//! happen in SQL) or a *superset* (the rows are then checked one by one). The
//! filters Entra sends — `userName`, `externalId`, `id`, group `displayName`
//! and work e-mail, each with `eq` — are exact or near-exact index lookups
//! whose cost does not grow with the tenant.

use std::cmp::Ordering;

use scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use scim::schema::{self, ResourceKind};
use scim::{Quirks, ScimError};
use serde_json::Value;

use super::represent::{self, Resource};
use super::{Ctx, table};
use crate::store::lookup::UserKey;
use crate::store::members;
use crate::store::resources::{self, Order, Row};
use crate::store::sql::{CmpOp, Column, Cond, SqlValue, like_pattern};

/// What a list request asked for.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub filter: Option<String>,
    /// 1-based; values below 1 are treated as 1.
    pub start_index: i64,
    /// None: the server's default page size.
    pub count: Option<i64>,
    pub sort_by: Option<String>,
    pub descending: bool,
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

pub struct Page {
    pub total: i64,
    pub start_index: i64,
    pub resources: Vec<Value>,
    pub quirks: Quirks,
}

impl Page {
    /// The ListResponse body. `Resources` is always an array, also when
    /// empty: Entra's Test Connection fails on a missing or null one.
    /// The ListResponse body as text, serialised straight from the page.
    pub fn to_text(&self) -> String {
        // Serialising borrowed JSON values cannot fail.
        serde_json::to_string(&self.body()).unwrap_or_default()
    }

    fn body(&self) -> ListBody<'_> {
        ListBody {
            schemas: [schema::LIST_RESPONSE],
            total_results: self.total,
            start_index: self.start_index,
            items_per_page: self.resources.len(),
            resources: &self.resources,
        }
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ListBody<'a> {
    schemas: [&'static str; 1],
    total_results: i64,
    start_index: i64,
    items_per_page: usize,
    #[serde(rename = "Resources")]
    resources: &'a [Value],
}

/// A filter translated for the database.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub cond: Option<Cond>,
    /// The condition alone answers the filter (no row needs checking).
    pub exact: bool,
}

impl Plan {
    fn none() -> Plan {
        Plan {
            cond: None,
            exact: false,
        }
    }

    fn exact(cond: Cond) -> Plan {
        Plan {
            cond: Some(cond),
            exact: true,
        }
    }
}

fn string_value(v: &CompValue) -> Option<&str> {
    match v {
        CompValue::Str(s) => Some(s),
        _ => None,
    }
}

fn bool_value(v: &CompValue) -> Option<bool> {
    match v {
        CompValue::Bool(b) => Some(*b),
        CompValue::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
        CompValue::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A case-insensitive string column: `eq`, `ne`, `sw`, `ew`, `co` are exact
/// on its lower-cased copy.
fn case_insensitive(col: Column, op: CompareOp, value: &CompValue) -> Plan {
    let Some(v) = string_value(value) else {
        return Plan::none();
    };
    let v = v.to_lowercase();
    match op {
        CompareOp::Eq => Plan::exact(Cond::Cmp(col, CmpOp::Eq, SqlValue::Text(v))),
        CompareOp::Ne => Plan::exact(Cond::Cmp(col, CmpOp::Ne, SqlValue::Text(v))),
        CompareOp::Sw => Plan::exact(Cond::Like(col, like_pattern(false, &v, true))),
        CompareOp::Ew => Plan::exact(Cond::Like(col, like_pattern(true, &v, false))),
        CompareOp::Co => Plan::exact(Cond::Like(col, like_pattern(true, &v, true))),
        // Orderings depend on collation, which differs between engines and the
        // evaluator: leave those to the evaluator.
        _ => Plan::none(),
    }
}

/// A case-exact string column that may be NULL (externalId) or not (id).
fn case_exact(col: Column, nullable: bool, op: CompareOp, value: &CompValue) -> Plan {
    let Some(v) = string_value(value) else {
        return Plan::none();
    };
    let text = SqlValue::Text(v.to_string());
    match op {
        CompareOp::Eq => Plan::exact(Cond::Cmp(col, CmpOp::Eq, text)),
        CompareOp::Ne if nullable => Plan::exact(Cond::Or(vec![
            Cond::IsNull(col),
            Cond::Cmp(col, CmpOp::Ne, text),
        ])),
        CompareOp::Ne => Plan::exact(Cond::Cmp(col, CmpOp::Ne, text)),
        // SQLite's LIKE ignores ASCII case, so on a case-exact column it
        // only narrows; the evaluator decides.
        CompareOp::Sw => Plan {
            cond: Some(Cond::Like(col, like_pattern(false, v, true))),
            exact: false,
        },
        _ => Plan::none(),
    }
}

fn leaf(kind: ResourceKind, path: &AttrPath, op: CompareOp, value: &CompValue) -> Plan {
    let Some(resolved) = schema::resolve(kind, path.urn.as_deref(), &path.name) else {
        return Plan::none();
    };
    let name = resolved.attr.name;
    if resolved.extension.is_some() {
        return Plan::none();
    }
    match (kind, name, path.sub.as_deref()) {
        (_, "id", None) => case_exact(Column::Id, false, op, value),
        (_, "externalId", None) => case_exact(Column::ExternalId, true, op, value),
        (ResourceKind::User, "userName", None) => {
            case_insensitive(Column::UserNameLower, op, value)
        }
        (ResourceKind::Group, "displayName", None) => {
            case_insensitive(Column::DisplayNameLower, op, value)
        }
        (ResourceKind::User, "active", None) => match (op, bool_value(value)) {
            (CompareOp::Eq, Some(b)) => Plan::exact(Cond::Cmp(
                Column::Active,
                CmpOp::Eq,
                SqlValue::Int(i64::from(b)),
            )),
            (CompareOp::Ne, Some(b)) => Plan::exact(Cond::Cmp(
                Column::Active,
                CmpOp::Ne,
                SqlValue::Int(i64::from(b)),
            )),
            _ => Plan::none(),
        },
        (ResourceKind::User, "emails", sub)
            if sub.is_none_or(|s| s.eq_ignore_ascii_case("value")) =>
        {
            match (op, string_value(value)) {
                (CompareOp::Eq, Some(v)) => Plan::exact(Cond::EmailLowerEq(v.to_lowercase())),
                _ => Plan::none(),
            }
        }
        _ => Plan::none(),
    }
}

/// Translates a filter into a database condition (see the module docs).
pub fn plan(kind: ResourceKind, filter: &Filter) -> Plan {
    match filter {
        Filter::Compare { path, op, value } => leaf(kind, path, *op, value),
        Filter::Present(path) => {
            match schema::resolve(kind, path.urn.as_deref(), &path.name) {
                Some(r) if r.attr.name == "externalId" && path.sub.is_none() => Plan {
                    // An empty string is "not present" to the evaluator.
                    cond: Some(Cond::NotNull(Column::ExternalId)),
                    exact: false,
                },
                _ => Plan::none(),
            }
        }
        Filter::And(a, b) => {
            let (pa, pb) = (plan(kind, a), plan(kind, b));
            let exact = pa.exact && pb.exact;
            let cond = match (pa.cond, pb.cond) {
                (Some(x), Some(y)) => Some(Cond::And(vec![x, y])),
                (Some(x), None) | (None, Some(x)) => Some(x),
                (None, None) => None,
            };
            Plan { cond, exact }
        }
        Filter::Or(a, b) => {
            let (pa, pb) = (plan(kind, a), plan(kind, b));
            match (pa.cond, pb.cond) {
                (Some(x), Some(y)) => Plan {
                    cond: Some(Cond::Or(vec![x, y])),
                    exact: pa.exact && pb.exact,
                },
                _ => Plan::none(),
            }
        }
        Filter::Not(_) => Plan::none(),
        Filter::ValuePath { path, filter } => {
            let is_emails = kind == ResourceKind::User
                && path.sub.is_none()
                && schema::resolve(kind, path.urn.as_deref(), &path.name)
                    .is_some_and(|r| r.attr.name == "emails");
            match (is_emails, email_value(filter)) {
                (true, Some(v)) => Plan {
                    cond: Some(Cond::EmailLowerEq(v.to_lowercase())),
                    exact: false,
                },
                _ => Plan::none(),
            }
        }
    }
}

/// `value eq "x"` somewhere in the conjunction inside `emails[…]`.
fn email_value(filter: &Filter) -> Option<&str> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Str(v),
        } if path.urn.is_none()
            && path.sub.is_none()
            && path.name.eq_ignore_ascii_case("value") =>
        {
            Some(v)
        }
        Filter::And(a, b) => email_value(a).or_else(|| email_value(b)),
        _ => None,
    }
}

/// The column a `sortBy` can be answered by, if any.
fn sort_column(kind: ResourceKind, path: &AttrPath) -> Option<Column> {
    let r = schema::resolve(kind, path.urn.as_deref(), &path.name)?;
    if r.extension.is_some() {
        return None;
    }
    match (kind, r.attr.name, path.sub.as_deref()) {
        (ResourceKind::User, "userName", None) => Some(Column::UserNameLower),
        (ResourceKind::Group, "displayName", None) => Some(Column::DisplayNameLower),
        (_, "meta", Some(s)) if s.eq_ignore_ascii_case("created") => Some(Column::CreatedAt),
        (_, "meta", Some(s)) if s.eq_ignore_ascii_case("lastModified") => Some(Column::UpdatedAt),
        _ => None,
    }
}

/// Runs a list request.
pub async fn list(
    ctx: &Ctx,
    kind: ResourceKind,
    params: &ListParams,
    default_count: i64,
    max_count: i64,
) -> Result<Page, ScimError> {
    let mut quirks = Quirks::new();
    let filter = match params.filter.as_deref().map(str::trim) {
        // No stored value holds NUL, and PostgreSQL fails any query that
        // compares with one: refuse it the same way on both databases.
        Some(f) if f.contains('\0') => {
            return Err(ScimError::invalid_filter(
                "the filter contains a NUL character (\\u0000 or %00); remove it",
            ));
        }
        Some(f) if !f.is_empty() => {
            Some(scim::filter::parse_filter(f, &mut quirks).map_err(ScimError::from)?)
        }
        _ => None,
    };
    let sort_path = match params.sort_by.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Some(
            scim::filter::parse_attr_path(s)
                .map_err(|e| ScimError::invalid_value(format!("sortBy: {e}")))?,
        ),
        _ => None,
    };
    let start = params.start_index.max(1);
    let count = params.count.unwrap_or(default_count).clamp(0, max_count);

    let plan = match &filter {
        Some(f) => plan(kind, f),
        None => Plan {
            cond: None,
            exact: true,
        },
    };
    let sql_order = match &sort_path {
        None => Some(Order::default()),
        Some(p) => sort_column(kind, p).map(|column| Order {
            column,
            descending: params.descending,
        }),
    };
    let with_related = match kind {
        ResourceKind::User => represent::wants("groups", &params.attributes, &params.excluded),
        ResourceKind::Group => represent::wants("members", &params.attributes, &params.excluded),
    };

    let (total, page_resources) = match (plan.exact, sql_order) {
        (true, Some(order)) => {
            let rows = if count == 0 {
                Vec::new()
            } else {
                resources::query(
                    &ctx.db,
                    table(kind),
                    &ctx.tenant_id,
                    plan.cond.as_ref(),
                    order,
                    start - 1,
                    Some(count),
                )
                .await?
            };
            // A first page that is not full holds everything: no COUNT needed.
            let total = if start == 1 && (rows.len() as i64) < count {
                rows.len() as i64
            } else {
                resources::count(&ctx.db, table(kind), &ctx.tenant_id, plan.cond.as_ref()).await?
            };
            let rows = within_member_budget(ctx, kind, with_related, rows).await?;
            (total, build_many(ctx, kind, &rows, with_related).await?)
        }
        _ => {
            // What checking the filter and the sort needs; the page is
            // built afterwards with what the response shows.
            let needs_related = filter.as_ref().is_some_and(|f| mentions_related(kind, f))
                || sort_path.as_ref().is_some_and(|p| is_related(kind, p));
            scan(
                ctx,
                kind,
                &plan,
                filter.as_ref(),
                sort_path.as_ref().map(|p| (p, params.descending)),
                start,
                count,
                with_related,
                needs_related,
            )
            .await?
        }
    };

    let resources = page_resources
        .iter()
        .map(|r| scim::resource::project(kind, &r.json, &params.attributes, &params.excluded))
        .collect();
    Ok(Page {
        total,
        start_index: start,
        resources,
        quirks,
    })
}

/// A Users listing that names at most one user by a unique key —
/// `userName eq "…"` or `id eq "…"`, unsorted: Entra's matching query and
/// Test Connection. Such a listing is answered from
/// [`crate::store::lookup::token_and_user`], one statement that also checks
/// the bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueUser {
    pub by_id: bool,
    pub value: String,
    /// Whether the representation includes `groups`.
    pub with_groups: bool,
}

impl UniqueUser {
    pub fn key(&self) -> UserKey<'_> {
        if self.by_id {
            UserKey::Id(&self.value)
        } else {
            UserKey::UserName(&self.value)
        }
    }
}

/// Recognises [`UniqueUser`] listings; `None` for every other request
/// (including malformed ones, which the general path answers).
pub fn unique_user(kind: ResourceKind, params: &ListParams) -> Option<UniqueUser> {
    if kind != ResourceKind::User || params.sort_by.is_some() {
        return None;
    }
    let text = params.filter.as_deref()?.trim();
    if text.is_empty() || text.contains('\0') {
        return None;
    }
    let (path, op, value) = match user_name_eq(text) {
        Some((path, value)) => (path, CompareOp::Eq, value),
        None => match scim::filter::parse_filter(text, &mut Quirks::new()).ok()? {
            Filter::Compare { path, op, value } => (path, op, value),
            _ => return None,
        },
    };
    let plan = leaf(kind, &path, op, &value);
    let (by_id, value) = match (plan.exact, plan.cond) {
        (true, Some(Cond::Cmp(Column::UserNameLower, CmpOp::Eq, SqlValue::Text(v)))) => (false, v),
        (true, Some(Cond::Cmp(Column::Id, CmpOp::Eq, SqlValue::Text(v)))) => (true, v),
        _ => return None,
    };
    Some(UniqueUser {
        by_id,
        value,
        with_groups: represent::wants("groups", &params.attributes, &params.excluded),
    })
}

/// `userName eq "…"` as Entra writes it — single spaces, a string without
/// escapes or control characters — read without the general filter parser,
/// which reads it the same way; `None` for anything else.
fn user_name_eq(text: &str) -> Option<(AttrPath, CompValue)> {
    let (name, rest) = text.split_once(' ')?;
    let (op, quoted) = rest.split_once(' ')?;
    let value = quoted.strip_prefix('"')?.strip_suffix('"')?;
    let plain = !value.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20);
    (name.eq_ignore_ascii_case("userName")
        && op.eq_ignore_ascii_case("eq")
        && plain
        && text.len() <= scim::filter::MAX_INPUT_BYTES)
        .then(|| {
            let path = AttrPath {
                urn: None,
                name: name.to_string(),
                sub: None,
            };
            (path, CompValue::Str(value.to_string()))
        })
}

/// The ListResponse of a [`UniqueUser`] listing, from what the lookup
/// found: a hit in the default representation is written straight from the
/// stored document ([`super::hit`]), everything else through the page.
pub fn unique_user_text(
    base_url: &str,
    query: &UniqueUser,
    params: &ListParams,
    default_count: i64,
    max_count: i64,
    found: Option<(Row, Vec<members::Membership>)>,
) -> String {
    let default_page = params.start_index <= 1
        && params.count.unwrap_or(default_count).clamp(0, max_count) > 0
        && params.attributes.is_empty()
        && params.excluded.is_empty();
    if default_page
        && let Some((row, groups)) = &found
        && let Some(text) = super::hit::list_of_one(
            base_url,
            row,
            query.with_groups.then_some(groups.as_slice()),
        )
    {
        return text;
    }
    unique_user_page(base_url, query, params, default_count, max_count, found).to_text()
}

/// The page of a [`UniqueUser`] listing, from what the lookup found.
pub fn unique_user_page(
    base_url: &str,
    query: &UniqueUser,
    params: &ListParams,
    default_count: i64,
    max_count: i64,
    found: Option<(Row, Vec<members::Membership>)>,
) -> Page {
    let start = params.start_index.max(1);
    let count = params.count.unwrap_or(default_count).clamp(0, max_count);
    let total = i64::from(found.is_some());
    let resources = match found {
        Some((row, groups)) if start == 1 && count > 0 => {
            let kind = ResourceKind::User;
            let doc = super::parse_doc(&row);
            let groups = query.with_groups.then_some(groups.as_slice());
            let r = represent::full(kind, base_url, &row, doc, None, groups);
            vec![scim::resource::project_owned(
                kind,
                r.json,
                &params.attributes,
                &params.excluded,
            )]
        }
        _ => Vec::new(),
    };
    Page {
        total,
        start_index: start,
        resources,
        quirks: Quirks::new(),
    }
}

fn is_related(kind: ResourceKind, path: &AttrPath) -> bool {
    let name = match kind {
        ResourceKind::User => "groups",
        ResourceKind::Group => "members",
    };
    path.urn.is_none() && path.name.eq_ignore_ascii_case(name)
}

fn mentions_related(kind: ResourceKind, f: &Filter) -> bool {
    match f {
        Filter::Compare { path, .. } | Filter::Present(path) => is_related(kind, path),
        Filter::ValuePath { path, .. } => is_related(kind, path),
        Filter::And(a, b) | Filter::Or(a, b) => {
            mentions_related(kind, a) || mentions_related(kind, b)
        }
        Filter::Not(a) => mentions_related(kind, a),
    }
}

/// Candidates read per query when a filter or a sort is checked in memory.
const SCAN_BATCH: i64 = 500;
/// Groups are read in smaller batches when their members must be checked
/// (a filter on `members`), since each brings its member list.
const SCAN_BATCH_WITH_MEMBERS: i64 = 50;

/// Most members one listing of groups carries beyond its first group: a
/// page that would hold more ends early (RFC 7644 §3.4.2.4 lets a page hold
/// fewer than `count`; `itemsPerPage` says how many, and the next
/// `startIndex` picks up from there). A page always holds at least one
/// group, whatever its size.
pub const MEMBER_BUDGET: i64 = 10_000;

/// The leading `rows` whose members fit [`MEMBER_BUDGET`], at least one:
/// for groups shown with their members; other listings are left whole.
async fn within_member_budget(
    ctx: &Ctx,
    kind: ResourceKind,
    with_members: bool,
    mut rows: Vec<Row>,
) -> Result<Vec<Row>, ScimError> {
    if kind != ResourceKind::Group || !with_members || rows.len() <= 1 {
        return Ok(rows);
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let counts = members::counts(&ctx.db, &ctx.tenant_id, &ids).await?;
    let mut sum = 0i64;
    let mut keep = rows.len();
    for (i, id) in ids.iter().enumerate() {
        sum += counts.get(id).copied().unwrap_or(0);
        if i > 0 && sum > MEMBER_BUDGET {
            keep = i;
            break;
        }
    }
    rows.truncate(keep);
    Ok(rows)
}

/// The most results a sort the database cannot do orders: the page must end
/// within the first this many. Beyond it the client is told to narrow the
/// filter (`400 tooMany`, RFC 7644 §3.12).
pub const MAX_SORT_WINDOW: i64 = 10_000;

/// A filter or sort the database cannot answer by itself: the candidates
/// are read in batches of [`SCAN_BATCH`] (in the listing's default order,
/// by keyset, so each batch is one indexed range) and checked one by one.
/// Memory holds one batch and the page — plus, for a sort, the sort keys
/// of the first `startIndex + count` results — whatever the tenant's size.
#[allow(clippy::too_many_arguments)]
async fn scan(
    ctx: &Ctx,
    kind: ResourceKind,
    plan: &Plan,
    filter: Option<&Filter>,
    sort: Option<(&AttrPath, bool)>,
    start: i64,
    count: i64,
    with_related: bool,
    needs_related: bool,
) -> Result<(i64, Vec<Resource>), ScimError> {
    let skip = start - 1;
    let window = skip.saturating_add(count);
    if sort.is_some() && window > MAX_SORT_WINDOW {
        return Err(ScimError::bad_request(
            scim::ScimType::TooMany,
            format!(
                "sorting by this attribute orders at most the first {MAX_SORT_WINDOW} results, and startIndex + count asks for {window}: narrow the filter, or sort by userName (Users), displayName (Groups), meta.created or meta.lastModified"
            ),
        ));
    }
    let mut total = 0i64;
    // Without a sort: the page's rows, in the listing's order (built once
    // at the end, with what the response shows).
    let mut page: Vec<Row> = Vec::new();
    let batch = if kind == ResourceKind::Group && needs_related {
        SCAN_BATCH_WITH_MEMBERS
    } else {
        SCAN_BATCH
    };
    // With one: the first `window` results' keys, the one that sorts last on top.
    let mut best: std::collections::BinaryHeap<Ranked> = std::collections::BinaryHeap::new();
    let mut after: Option<(String, String)> = None;
    loop {
        let next = match &after {
            None => plan.cond.clone(),
            Some((created, id)) => {
                let past = Cond::Or(vec![
                    Cond::Cmp(
                        Column::CreatedAt,
                        CmpOp::Gt,
                        SqlValue::Text(created.clone()),
                    ),
                    Cond::And(vec![
                        Cond::Cmp(
                            Column::CreatedAt,
                            CmpOp::Eq,
                            SqlValue::Text(created.clone()),
                        ),
                        Cond::Cmp(Column::Id, CmpOp::Gt, SqlValue::Text(id.clone())),
                    ]),
                ]);
                Some(match &plan.cond {
                    Some(c) => Cond::And(vec![c.clone(), past]),
                    None => past,
                })
            }
        };
        let rows = resources::query(
            &ctx.db,
            table(kind),
            &ctx.tenant_id,
            next.as_ref(),
            Order::default(),
            0,
            Some(batch),
        )
        .await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = Some((last.created_at.clone(), last.id.clone()));
        let full = rows.len() as i64 == batch;
        let built = build_many(ctx, kind, &rows, needs_related).await?;
        for (row, r) in rows.into_iter().zip(built) {
            if filter.is_some_and(|f| !scim::filter::matches(f, kind, &r.json)) {
                continue;
            }
            match sort {
                None => {
                    if total >= skip && total < window {
                        page.push(row);
                    }
                }
                Some((path, descending)) => {
                    if window > 0 {
                        best.push(Ranked {
                            key: scim::filter::sort_key(kind, &r.json, path),
                            id: r.id.clone(),
                            descending,
                        });
                        if best.len() as i64 > window {
                            best.pop();
                        }
                    }
                }
            }
            total += 1;
        }
        if !full {
            break;
        }
    }
    if sort.is_none() {
        let page = within_member_budget(ctx, kind, with_related, page).await?;
        return Ok((total, build_many(ctx, kind, &page, with_related).await?));
    }
    // The page's ids in order, then their rows.
    let ids: Vec<String> = best
        .into_sorted_vec()
        .into_iter()
        .skip(skip as usize)
        .map(|r| r.id)
        .collect();
    if ids.is_empty() {
        return Ok((total, Vec::new()));
    }
    let cond = Cond::Or(
        ids.iter()
            .map(|id| Cond::Cmp(Column::Id, CmpOp::Eq, SqlValue::Text(id.clone())))
            .collect(),
    );
    let rows = resources::query(
        &ctx.db,
        table(kind),
        &ctx.tenant_id,
        Some(&cond),
        Order::default(),
        0,
        None,
    )
    .await?;
    // In the sorted order, so that a page cut by the member budget keeps
    // its first groups.
    let mut rows = rows;
    let place: std::collections::HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    rows.sort_by_key(|r| place.get(r.id.as_str()).copied().unwrap_or(usize::MAX));
    let rows = within_member_budget(ctx, kind, with_related, rows).await?;
    let mut by_id: std::collections::HashMap<String, Resource> =
        build_many(ctx, kind, &rows, with_related)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
    // A resource deleted since the scan is left out.
    Ok((
        total,
        ids.iter().filter_map(|id| by_id.remove(id)).collect(),
    ))
}

/// A sorted result's place: sort key, then id. Resources without a value
/// sort last in both directions.
struct Ranked {
    key: Option<scim::filter::SortKey>,
    id: String,
    descending: bool,
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        let ord = match (&self.key, &other.key) {
            (Some(x), Some(y)) => {
                if self.descending {
                    y.cmp(x)
                } else {
                    x.cmp(y)
                }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        ord.then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

/// Full representations for many rows, loading memberships in one query for
/// users and one per group for groups.
pub async fn build_many(
    ctx: &Ctx,
    kind: ResourceKind,
    rows: &[Row],
    with_related: bool,
) -> Result<Vec<Resource>, ScimError> {
    if !with_related || rows.is_empty() {
        return Ok(rows
            .iter()
            .map(|row| {
                let doc = super::parse_doc(row);
                represent::full(kind, &ctx.base_url, row, doc, None, None)
            })
            .collect());
    }
    match kind {
        ResourceKind::User => {
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let groups = members::groups_of(&ctx.db, &ctx.tenant_id, &ids).await?;
            let by_member = represent::by_member(groups);
            Ok(rows
                .iter()
                .map(|row| {
                    let doc = super::parse_doc(row);
                    let g = by_member.get(&row.id).map(Vec::as_slice).unwrap_or(&[]);
                    represent::full(kind, &ctx.base_url, row, doc, None, Some(g))
                })
                .collect())
        }
        ResourceKind::Group => {
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(super::build(ctx, kind, row, true).await?);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(filter: &str) -> ListParams {
        ListParams {
            filter: Some(filter.to_string()),
            start_index: 1,
            ..ListParams::default()
        }
    }

    fn unique(filter: &str) -> Option<UniqueUser> {
        unique_user(ResourceKind::User, &params(filter))
    }

    #[test]
    fn user_name_eq_reads_as_the_general_parser_does() {
        let cases = [
            r#"userName eq "ann@example.com""#,
            r#"USERNAME EQ "Ann.O'Neil@Example.com""#,
            r#"userName eq """#,
            r#"userName eq "Zoë Ünïcode ünd spaces""#,
            r#"userName eq "a\"b""#,
            r#"userName eq "a\\b""#,
            r#"userName eq "a\u0041""#,
            "userName eq \"tab\there\"",
            r#"userName  eq "two spaces""#,
            r#"userName eq "unterminated"#,
            r#"userName eq "a" or userName eq "b""#,
            r#"userName eq "a" and active eq true"#,
            r#"userName ne "a""#,
            r#"displayName eq "a""#,
            r#"userName eq 5"#,
            r#"userName eq "#,
        ];
        for text in cases {
            let general = match scim::filter::parse_filter(text, &mut Quirks::new()) {
                Ok(Filter::Compare { path, op, value }) => {
                    let plan = leaf(ResourceKind::User, &path, op, &value);
                    Some((plan.exact, plan.cond))
                }
                _ => None,
            };
            if let Some((path, value)) = user_name_eq(text) {
                let plan = leaf(ResourceKind::User, &path, CompareOp::Eq, &value);
                assert_eq!(Some((plan.exact, plan.cond)), general, "{text}");
            }
        }
        // The plain forms are read by the shortcut, the rest by the parser.
        assert!(user_name_eq(r#"USERNAME EQ "Ann.O'Neil@Example.com""#).is_some());
        assert!(user_name_eq(r#"userName eq "a\"b""#).is_none());
        assert!(user_name_eq("userName eq \"tab\there\"").is_none());
        assert!(user_name_eq(r#"userName eq "a" or userName eq "b""#).is_none());
        let long = format!(
            "userName eq \"{}\"",
            "a".repeat(scim::filter::MAX_INPUT_BYTES)
        );
        assert!(user_name_eq(&long).is_none());
        assert_eq!(unique(&long), None);
    }

    #[test]
    fn entra_matching_queries_are_unique_user_lookups() {
        assert_eq!(
            unique(r#"userName eq "Ann.O'Neil@Example.com""#),
            Some(UniqueUser {
                by_id: false,
                value: "ann.o'neil@example.com".into(),
                with_groups: true,
            })
        );
        // Entra's unquoted form and a URN-qualified name are the same query.
        assert_eq!(
            unique("urn:ietf:params:scim:schemas:core:2.0:User:userName eq abc").map(|u| u.value),
            Some("abc".into())
        );
        assert_eq!(
            unique(r#"id eq "6f1c""#),
            Some(UniqueUser {
                by_id: true,
                value: "6f1c".into(),
                with_groups: true,
            })
        );
    }

    #[test]
    fn other_listings_take_the_general_path() {
        for f in [
            r#"userName ne "a""#,
            r#"userName co "a""#,
            r#"externalId eq "a""#,
            r#"userName eq "a" and active eq true"#,
            r#"emails[type eq "work"].value eq "a@b.c""#,
            r#"userName eq "#,
            "",
        ] {
            assert_eq!(unique(f), None, "{f}");
        }
        assert_eq!(
            unique_user(ResourceKind::Group, &params(r#"id eq "a""#)),
            None
        );
        let mut sorted = params(r#"userName eq "a""#);
        sorted.sort_by = Some("userName".into());
        assert_eq!(unique_user(ResourceKind::User, &sorted), None);
    }

    #[test]
    fn excluding_groups_skips_them() {
        let mut p = params(r#"userName eq "a""#);
        p.excluded = vec![scim::filter::parse_attr_path("groups").unwrap()];
        assert!(!unique_user(ResourceKind::User, &p).unwrap().with_groups);
        p.excluded.clear();
        p.attributes = vec![scim::filter::parse_attr_path("userName").unwrap()];
        assert!(!unique_user(ResourceKind::User, &p).unwrap().with_groups);
    }
}
