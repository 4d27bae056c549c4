//! The SCIM 2.0 API at `/scim/v2`: routes, the bearer-token extractor, body
//! and query parsing, and the mapping of results to `application/scim+json`.

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use scim::filter::AttrPath;
use scim::{ResourceKind, ScimError, schema};
use serde_json::{Value, json};

use super::AppState;
use super::audit::CallerSlot;
use crate::paths::{SCIM_PREFIX, scim_path};
use crate::provision::list::{ListParams, Page};
use crate::provision::{self, Ctx, Resource};
use crate::store::activity::Actor;
use crate::store::lookup;
use crate::store::tokens::{self, Authenticated};

pub const CONTENT_TYPE: &str = "application/scim+json";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            scim_path!("/ServiceProviderConfig"),
            scim_route(get(service_provider_config), READ_ONLY),
        )
        .route(
            scim_path!("/ResourceTypes"),
            scim_route(get(resource_types), READ_ONLY),
        )
        .route(
            scim_path!("/ResourceTypes/{id}"),
            scim_route(get(resource_type), READ_ONLY),
        )
        .route(scim_path!("/Schemas"), scim_route(get(schemas), READ_ONLY))
        .route(
            scim_path!("/Schemas/{id}"),
            scim_route(get(schema_by_id), READ_ONLY),
        )
        .route(
            scim_path!("/.search"),
            scim_route(post(search_root), "POST"),
        )
        .route(
            scim_path!("/{resource}"),
            scim_route(get(list_resources).post(create_resource), "GET, HEAD, POST"),
        )
        .route(
            scim_path!("/{resource}/.search"),
            scim_route(post(search_resources), "POST"),
        )
        .route(
            scim_path!("/{resource}/{id}"),
            scim_route(
                get(get_resource)
                    .put(replace_resource)
                    .patch(patch_resource)
                    .delete(delete_resource),
                "GET, HEAD, PUT, PATCH, DELETE",
            ),
        )
}

/// The methods of the discovery endpoints (RFC 7644 §4 defines only GET).
const READ_ONLY: &str = "GET, HEAD";

/// A route whose path exists answers any other method with 405 and `Allow`
/// (RFC 9110 §15.5.6), not 404: clients and validators probe the discovery
/// endpoints this way, and a 404 would claim the endpoint is missing.
fn scim_route(m: MethodRouter<AppState>, allow: &'static str) -> MethodRouter<AppState> {
    m.fallback(move |method: Method, uri: Uri| method_not_allowed(method, uri, allow))
}

async fn method_not_allowed(method: Method, uri: Uri, allow: &'static str) -> Response {
    // `/{resource}` routes match any segment: an unknown type is still a 404.
    let type_segment = uri.path()[SCIM_PREFIX.len()..]
        .split('/')
        .nth(1)
        .unwrap_or_default();
    let known = matches!(
        type_segment,
        "ServiceProviderConfig" | "ResourceTypes" | "Schemas" | ".search"
    ) || kind_of(type_segment).is_ok();
    if !known {
        return unsupported(method, uri).await;
    }
    let mut resp = ApiError(ScimError::new(
        405,
        None,
        format!(
            "{method} is not supported on {}; this endpoint accepts {allow}",
            uri.path()
        ),
    ))
    .into_response();
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}

/// Answers requests no route matched: a SCIM error under the SCIM prefix.
pub async fn unsupported(method: Method, uri: Uri) -> Response {
    ApiError(ScimError::not_found(format!(
        "{method} {} is not a SCIM endpoint of this server; see {SCIM_PREFIX}/ResourceTypes",
        uri.path()
    )))
    .into_response()
}

/// A SCIM error as an HTTP response.
#[derive(Debug)]
pub struct ApiError(pub ScimError);

impl From<ScimError> for ApiError {
    fn from(e: ScimError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = scim_json(status, &self.0.to_json());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(BUSY_RETRY_AFTER),
            );
        }
        resp
    }
}

type ApiResult = Result<Response, ApiError>;

/// Seconds a client is asked to wait after a 503 for a busy database.
const BUSY_RETRY_AFTER: &str = "2";

pub fn scim_json(status: StatusCode, body: &Value) -> Response {
    scim_text(status, body.to_string())
}

/// A SCIM response from a body already serialised.
pub fn scim_text(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    // Resources carry personal data: keep them out of caches.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn with_resource_headers(mut resp: Response, r: &Resource) -> Response {
    if let Ok(v) = HeaderValue::from_str(&r.etag()) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    if let Some(loc) = r.json.pointer("/meta/location").and_then(Value::as_str)
        && let Ok(v) = HeaderValue::from_str(loc)
    {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// The authenticated caller of a SCIM request.
pub struct ScimCaller(pub Ctx);

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let request = ScimRequest::from_request_parts(parts, state).await?;
        Ok(ScimCaller(request.authenticate(state).await?))
    }
}

/// A SCIM request before its bearer token is checked: what the check needs
/// and what the request context is built from. Most handlers take
/// [`ScimCaller`]; the Users listing checks the token in the same database
/// statement as its lookup when it can (see [`provision::list::unique_user`]).
pub struct ScimRequest {
    presented: String,
    request_id: Option<String>,
    method: String,
    path: Option<String>,
    slot: Option<CallerSlot>,
}

impl FromRequestParts<AppState> for ScimRequest {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(presented) = bearer(&parts.headers) else {
            return Err(unauthorized(
                state,
                "No bearer token: send the header \"Authorization: Bearer <token>\" with a token issued by scimgate",
                false,
            ));
        };
        Ok(ScimRequest {
            presented: presented.to_string(),
            request_id: parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            method: parts.method.to_string(),
            path: parts.uri.path_and_query().map(|pq| pq.as_str().to_string()),
            slot: parts.extensions.get::<CallerSlot>().cloned(),
        })
    }
}

impl ScimRequest {
    /// Checks the token on its own.
    async fn authenticate(self, state: &AppState) -> Result<Ctx, Response> {
        let auth = tokens::authenticate(state.db(), &self.presented)
            .await
            .map_err(|e| ApiError(e.into()).into_response())?;
        self.admit(state, auth)
    }

    /// The context of a caller whose token was checked (`None`: refused).
    // The error is the 401 response itself, built once per refused request.
    #[allow(clippy::result_large_err)]
    fn admit(self, state: &AppState, auth: Option<Authenticated>) -> Result<Ctx, Response> {
        let Some(auth) = auth else {
            // Counted by why it was refused, off the request's path.
            let (db, metrics, presented) =
                (state.db().clone(), state.metrics().clone(), self.presented);
            tokio::spawn(async move {
                metrics.auth_failure(tokens::refusal_kind(&db, &presented).await);
            });
            return Err(unauthorized(
                state,
                "The bearer token is not valid: it is unknown, revoked or expired. Ask the tenant's admin for a new token.",
                true,
            ));
        };
        if state.should_touch(&auth.token_id) {
            let db = state.db().clone();
            let id = auth.token_id.clone();
            tokio::spawn(async move {
                if let Err(e) = tokens::touch(&db, &id, &crate::store::now()).await {
                    tracing::warn!(error = %e, "could not record token use");
                }
            });
        }
        if let Err(wait) = state.limiters().tenant(&auth.tenant_id) {
            state.metrics().rate_limited("tenant");
            let mut resp = scim_json(
                StatusCode::TOO_MANY_REQUESTS,
                &ScimError::new(
                    429,
                    None,
                    "This tenant is over its request rate: wait for the Retry-After seconds and send the request again.",
                )
                .to_json(),
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, super::limit::retry_after(wait));
            return Err(resp);
        }
        let actor = Actor::token(&auth.token_id, &auth.token_name);
        if let Some(slot) = &self.slot {
            slot.set(&auth.tenant_id, &actor);
        }
        Ok(Ctx {
            db: state.db().clone(),
            tenant_id: auth.tenant_id,
            actor,
            base_url: state.scim_base(),
            request_id: self.request_id,
            method: Some(self.method),
            path: self.path,
        })
    }
}

/// 401 with a SCIM error body and an RFC 6750 challenge that names the
/// protected resource's metadata (RFC 9728 §5.1), so clients can discover
/// the authorization server.
fn unauthorized(state: &AppState, detail: &str, invalid_token: bool) -> Response {
    if !invalid_token {
        state.metrics().auth_failure("no_token");
    }
    let mut resp = scim_json(
        StatusCode::UNAUTHORIZED,
        &ScimError::unauthorized(detail).to_json(),
    );
    let metadata = format!(
        "{}{}{SCIM_PREFIX}",
        state.public_url(),
        crate::paths::RESOURCE_METADATA_PATH
    );
    let challenge = if invalid_token {
        format!(
            "Bearer realm=\"scimgate\", error=\"invalid_token\", resource_metadata=\"{metadata}\""
        )
    } else {
        format!("Bearer realm=\"scimgate\", resource_metadata=\"{metadata}\"")
    };
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// The credential of `Authorization: Bearer …` (scheme case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// The JSON body of a write. Both `application/scim+json` and
/// `application/json` are accepted, as is a missing content type.
pub struct ScimBody(pub Value);

impl axum::extract::FromRequest<AppState> for ScimBody {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.config().max_payload_bytes;
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
            if !ct.is_empty() && !ct.contains("json") {
                return Err(ScimError::new(
                    415,
                    Some(scim::ScimType::InvalidSyntax),
                    format!("the body must be JSON (Content-Type application/scim+json or application/json), not {ct:?}"),
                )
                .into());
            }
        }
        let too_large = || {
            ScimError::new(
                413,
                None,
                format!(
                    "the request body is larger than the limit of {limit} bytes; send fewer members or attributes per request"
                ),
            )
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > limit.saturating_mul(DRAIN_FACTOR)) {
            return Err(too_large().into());
        }
        let bytes = read_limited(req.into_body(), limit)
            .await?
            .ok_or_else(too_large)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(
                ScimError::invalid_syntax("the request body is empty; send a JSON object").into(),
            );
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            // serde_json stops at 128 levels of arrays and objects, before
            // its stack could be at risk.
            if e.to_string().starts_with("recursion limit exceeded") {
                ScimError::invalid_syntax(format!(
                    "the request body nests arrays and objects more than 128 levels deep (at line {}, column {}); a SCIM resource needs a few levels",
                    e.line(),
                    e.column()
                ))
            } else {
                ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}"))
            }
        })?;
        if let Some(at) = nul_at(&value, "") {
            return Err(ScimError::invalid_value(format!(
                "{at} contains a NUL character (\\u0000), which no attribute may hold; remove it"
            ))
            .into());
        }
        Ok(ScimBody(value))
    }
}

/// Where in a body a NUL character occurs (a key or a string), as a JSON
/// path. PostgreSQL text cannot hold NUL, so such a value would be accepted
/// on SQLite and fail on PostgreSQL: it is refused up front on both.
fn nul_at(v: &Value, at: &str) -> Option<String> {
    let here = || {
        if at.is_empty() {
            "the body".to_string()
        } else {
            at.to_string()
        }
    };
    match v {
        Value::String(s) => s.contains('\0').then(here),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| nul_at(x, &format!("{at}[{i}]"))),
        Value::Object(m) => m.iter().find_map(|(k, x)| {
            let path = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            if k.contains('\0') {
                Some(format!("the attribute name {path:?}"))
            } else {
                nul_at(x, &path)
            }
        }),
        _ => None,
    }
}

/// How far past the limit a body is still read (and thrown away) before the
/// 413 is sent. Answering while the client is still sending makes most HTTP
/// clients report a broken connection instead of the 413, so a moderately
/// oversized body is drained; a huge one is cut off.
const DRAIN_FACTOR: usize = 8;

/// The body when it is at most `limit` bytes, `None` when it is larger.
async fn read_limited(body: Body, limit: usize) -> Result<Option<Vec<u8>>, ApiError> {
    use futures_util::StreamExt as _;
    let cap = limit.saturating_mul(DRAIN_FACTOR);
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ScimError::invalid_syntax(format!(
                "the request body could not be read completely ({e}); send it again"
            ))
        })?;
        seen = seen.saturating_add(chunk.len());
        if seen > cap {
            return Ok(None);
        }
        if seen <= limit {
            buf.extend_from_slice(&chunk);
        }
    }
    Ok((seen <= limit).then_some(buf))
}

fn kind_of(segment: &str) -> Result<ResourceKind, ApiError> {
    match segment {
        "Users" => Ok(ResourceKind::User),
        "Groups" => Ok(ResourceKind::Group),
        other => Err(ScimError::not_found(format!(
            "there is no resource type {other:?}; this server serves /Users and /Groups"
        ))
        .into()),
    }
}

/// Query parameters of a read, names case-insensitive.
fn read_params(query: Option<&str>) -> Result<ListParams, ScimError> {
    let mut p = ListParams {
        start_index: 1,
        ..Default::default()
    };
    let Some(query) = query else { return Ok(p) };
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.to_ascii_lowercase().as_str() {
            "filter" => p.filter = Some(v.into_owned()),
            "startindex" => p.start_index = parse_int("startIndex", &v)?,
            "count" => p.count = Some(parse_int("count", &v)?.max(0)),
            "sortby" => p.sort_by = Some(v.into_owned()),
            "sortorder" => p.descending = parse_sort_order(&v)?,
            "attributes" => p.attributes = scim::resource::parse_attribute_list(&v)?,
            "excludedattributes" => p.excluded = scim::resource::parse_attribute_list(&v)?,
            // Entra's aadOptscim062020 flag and anything else: harmless.
            _ => {}
        }
    }
    Ok(p)
}

fn parse_int(name: &str, v: &str) -> Result<i64, ScimError> {
    v.trim()
        .parse::<i64>()
        .map_err(|_| ScimError::invalid_value(format!("{name} must be a whole number, got {v:?}")))
}

fn parse_sort_order(v: &str) -> Result<bool, ScimError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "ascending" | "" => Ok(false),
        "descending" => Ok(true),
        _ => Err(ScimError::invalid_value(format!(
            "sortOrder must be \"ascending\" or \"descending\", got {v:?}"
        ))),
    }
}

/// A SearchRequest body (RFC 7644 §3.4.3), member names case-insensitive.
fn search_params(body: &Value) -> Result<ListParams, ScimError> {
    let Value::Object(map) = body else {
        return Err(ScimError::invalid_syntax(
            "a search request must be a JSON object",
        ));
    };
    let mut p = ListParams {
        start_index: 1,
        ..Default::default()
    };
    let text = |k: &str, v: &Value| -> Result<String, ScimError> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| ScimError::invalid_value(format!("{k} must be a string")))
    };
    let list = |k: &str, v: &Value| -> Result<Vec<AttrPath>, ScimError> {
        match v {
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    out.extend(scim::resource::parse_attribute_list(&text(k, item)?)?);
                }
                Ok(out)
            }
            Value::String(s) => scim::resource::parse_attribute_list(s),
            _ => Err(ScimError::invalid_value(format!(
                "{k} must be an array of attribute names"
            ))),
        }
    };
    let int = |k: &str, v: &Value| -> Result<i64, ScimError> {
        match v {
            Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| ScimError::invalid_value(format!("{k} must be a whole number"))),
            Value::String(s) => parse_int(k, s),
            _ => Err(ScimError::invalid_value(format!(
                "{k} must be a whole number"
            ))),
        }
    };
    for (k, v) in map {
        if v.is_null() {
            continue;
        }
        match k.to_ascii_lowercase().as_str() {
            "filter" => p.filter = Some(text(k, v)?),
            "startindex" => p.start_index = int(k, v)?,
            "count" => p.count = Some(int(k, v)?.max(0)),
            "sortby" => p.sort_by = Some(text(k, v)?),
            "sortorder" => p.descending = parse_sort_order(&text(k, v)?)?,
            "attributes" => p.attributes = list(k, v)?,
            "excludedattributes" => p.excluded = list(k, v)?,
            _ => {}
        }
    }
    Ok(p)
}

async fn run_list(
    state: &AppState,
    ctx: &Ctx,
    kind: ResourceKind,
    params: &ListParams,
) -> Result<Page, ScimError> {
    let cfg = state.config();
    provision::list::list(ctx, kind, params, cfg.default_page_size, cfg.max_page_size).await
}

async fn list_resources(
    State(state): State<AppState>,
    request: ScimRequest,
    Path(resource): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let kind = kind_of(&resource);
    let params = read_params(query.as_deref());
    let unique = match (&kind, &params) {
        (Ok(kind), Ok(params)) => provision::list::unique_user(*kind, params),
        _ => None,
    };
    let (unique, params) = match (unique, params) {
        (Some(unique), Ok(params)) => (unique, params),
        (_, params) => {
            // Every other listing (and every malformed one, whose error
            // comes after the token check as for any request).
            let ctx = request.authenticate(&state).await?;
            let kind = kind.map_err(IntoResponse::into_response)?;
            let params = params.map_err(|e| ApiError(e).into_response())?;
            let page = run_list(&state, &ctx, kind, &params)
                .await
                .map_err(|e| ApiError(e).into_response())?;
            return Ok(scim_text(StatusCode::OK, page.to_text()));
        }
    };
    let found = lookup::token_and_user(
        state.db(),
        &request.presented,
        unique.key(),
        unique.with_groups,
    )
    .await
    .map_err(|e| ApiError(e.into()).into_response())?;
    let ctx = request.admit(&state, found.auth)?;
    let cfg = state.config();
    let text = provision::list::unique_user_text(
        &ctx.base_url,
        &unique,
        &params,
        cfg.default_page_size,
        cfg.max_page_size,
        found.user,
    );
    Ok(scim_text(StatusCode::OK, text))
}

async fn search_resources(
    State(state): State<AppState>,
    ScimCaller(ctx): ScimCaller,
    Path(resource): Path<String>,
    ScimBody(body): ScimBody,
) -> ApiResult {
    let kind = kind_of(&resource)?;
    let params = search_params(&body)?;
    let page = run_list(&state, &ctx, kind, &params).await?;
    Ok(scim_text(StatusCode::OK, page.to_text()))
}

/// `POST /.search` at the root: users then groups, paged together.
async fn search_root(
    State(state): State<AppState>,
    ScimCaller(ctx): ScimCaller,
    ScimBody(body): ScimBody,
) -> ApiResult {
    let params = search_params(&body)?;
    let cfg = state.config();
    let start = params.start_index.max(1);
    let count = params
        .count
        .unwrap_or(cfg.default_page_size)
        .clamp(0, cfg.max_page_size);
    // Fetch each type's matches up to the end of the requested page.
    let mut all_params = params.clone();
    all_params.start_index = 1;
    // Saturating: startIndex and count are the client's numbers, up to i64::MAX.
    all_params.count = Some(
        (start - 1)
            .saturating_add(count)
            .min(cfg.max_page_size.saturating_mul(10)),
    );
    let users =
        provision::list::list(&ctx, ResourceKind::User, &all_params, count, i64::MAX).await?;
    let groups =
        provision::list::list(&ctx, ResourceKind::Group, &all_params, count, i64::MAX).await?;
    let total = users.total + groups.total;
    let resources: Vec<Value> = users
        .resources
        .into_iter()
        .chain(groups.resources)
        .skip((start - 1) as usize)
        .take(count as usize)
        .collect();
    let page = Page {
        total,
        start_index: start,
        resources,
        quirks: Default::default(),
    };
    Ok(scim_text(StatusCode::OK, page.to_text()))
}

fn if_none_match_hits(headers: &HeaderMap, r: &Resource) -> bool {
    let etag = r.etag();
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').map(str::trim).any(|t| t == "*" || t == etag))
}

fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn project(kind: ResourceKind, r: &Resource, params: &ListParams) -> Value {
    if params.attributes.is_empty() && params.excluded.is_empty() {
        r.json.clone()
    } else {
        scim::resource::project(kind, &r.json, &params.attributes, &params.excluded)
    }
}

async fn get_resource(
    ScimCaller(ctx): ScimCaller,
    Path((resource, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let kind = kind_of(&resource)?;
    let params = read_params(query.as_deref())?;
    let related = match kind {
        ResourceKind::User => {
            crate::provision::represent::wants("groups", &params.attributes, &params.excluded)
        }
        ResourceKind::Group => {
            crate::provision::represent::wants("members", &params.attributes, &params.excluded)
        }
    };
    if kind == ResourceKind::Group
        && related
        && !names_member_sub_attributes(&params)
        && provision::member_count(&ctx, &id).await? > provision::STREAM_MEMBERS_AFTER
    {
        return stream_group(ctx, id, &params, &headers).await;
    }
    let r = provision::get(&ctx, kind, &id, related).await?;
    if if_none_match_hits(&headers, &r) {
        return Ok(not_modified(&r));
    }
    Ok(with_resource_headers(
        scim_json(StatusCode::OK, &project(kind, &r, &params)),
        &r,
    ))
}

/// `304 Not Modified` with the resource's ETag.
fn not_modified(r: &Resource) -> Response {
    let mut resp = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(v) = HeaderValue::from_str(&r.etag()) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// Whether `attributes` or `excludedAttributes` names a sub-attribute of
/// `members` (then the group is built whole, to project each member).
fn names_member_sub_attributes(params: &ListParams) -> bool {
    params
        .attributes
        .iter()
        .chain(&params.excluded)
        .any(|a| a.name.eq_ignore_ascii_case("members") && a.sub.is_some())
}

/// A large group, written as it is read: the representation without
/// `members`, then its members a page at a time. Memory holds one page,
/// whatever the group's size.
async fn stream_group(ctx: Ctx, id: String, params: &ListParams, headers: &HeaderMap) -> ApiResult {
    let kind = ResourceKind::Group;
    let r = provision::get(&ctx, kind, &id, false).await?;
    if if_none_match_hits(headers, &r) {
        return Ok(not_modified(&r));
    }
    let mut head = project(kind, &r, params).to_string();
    // `{…}` becomes `{…,"members":[`; a projection always keeps `id`.
    head.pop();
    head.push_str(",\"members\":[");
    let pages = provision::MemberPages::new(ctx, id);
    let body =
        futures_util::stream::unfold((Some(head), Some(pages)), |(head, pages)| async move {
            if let Some(h) = head {
                return Some((Ok(axum::body::Bytes::from(h)), (None, pages)));
            }
            let mut pages = pages?;
            match pages.next_page().await {
                Ok(Some(text)) => Some((Ok(axum::body::Bytes::from(text)), (None, Some(pages)))),
                Ok(None) => Some((Ok(axum::body::Bytes::from_static(b"]}")), (None, None))),
                Err(e) => {
                    // The status is sent: all that is left is to cut the
                    // answer short, which the client sees as a broken body.
                    tracing::error!(error = %e.detail, "streaming a group's members failed");
                    Some((
                        Err(std::io::Error::other("reading members failed")),
                        (None, None),
                    ))
                }
            }
        });
    let mut resp = Response::new(Body::from_stream(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(with_resource_headers(resp, &r))
}

async fn create_resource(
    ScimCaller(ctx): ScimCaller,
    Extension(slot): Extension<CallerSlot>,
    Path(resource): Path<String>,
    RawQuery(query): RawQuery,
    ScimBody(body): ScimBody,
) -> ApiResult {
    let kind = kind_of(&resource)?;
    let params = read_params(query.as_deref())?;
    slot.recorded_by_provision();
    let r = provision::create(&ctx, kind, body).await?;
    Ok(with_resource_headers(
        scim_json(StatusCode::CREATED, &project(kind, &r, &params)),
        &r,
    ))
}

async fn replace_resource(
    ScimCaller(ctx): ScimCaller,
    Extension(slot): Extension<CallerSlot>,
    Path((resource, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> ApiResult {
    let kind = kind_of(&resource)?;
    let params = read_params(query.as_deref())?;
    slot.recorded_by_provision();
    let r = provision::replace(&ctx, kind, &id, body, if_match(&headers).as_deref()).await?;
    Ok(with_resource_headers(
        scim_json(StatusCode::OK, &project(kind, &r, &params)),
        &r,
    ))
}

async fn patch_resource(
    ScimCaller(ctx): ScimCaller,
    Extension(slot): Extension<CallerSlot>,
    Path((resource, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> ApiResult {
    let kind = kind_of(&resource)?;
    let params = read_params(query.as_deref())?;
    slot.recorded_by_provision();
    let r = provision::patch(&ctx, kind, &id, body, if_match(&headers).as_deref()).await?;
    // Groups answer 204 as Entra expects (their member list can be huge);
    // a client that asks for attributes gets them.
    if kind == ResourceKind::Group && params.attributes.is_empty() {
        let mut resp = StatusCode::NO_CONTENT.into_response();
        if let Ok(v) = HeaderValue::from_str(&r.etag()) {
            resp.headers_mut().insert(header::ETAG, v);
        }
        return Ok(resp);
    }
    let r = if kind == ResourceKind::Group {
        provision::get(
            &ctx,
            kind,
            &id,
            crate::provision::represent::wants("members", &params.attributes, &params.excluded),
        )
        .await?
    } else {
        r
    };
    Ok(with_resource_headers(
        scim_json(StatusCode::OK, &project(kind, &r, &params)),
        &r,
    ))
}

async fn delete_resource(
    ScimCaller(ctx): ScimCaller,
    Extension(slot): Extension<CallerSlot>,
    Path((resource, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let kind = kind_of(&resource)?;
    slot.recorded_by_provision();
    provision::delete(&ctx, kind, &id, if_match(&headers).as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn service_provider_config(State(state): State<AppState>, _caller: ScimCaller) -> ApiResult {
    let cfg = state.config();
    Ok(scim_json(
        StatusCode::OK,
        &schema::service_provider_config_json(
            &state.scim_base(),
            cfg.max_page_size as usize,
            cfg.max_payload_bytes,
        ),
    ))
}

fn list_of(items: Vec<Value>) -> Value {
    json!({
        "schemas": [schema::LIST_RESPONSE],
        "totalResults": items.len(),
        "startIndex": 1,
        "itemsPerPage": items.len(),
        "Resources": items,
    })
}

async fn resource_types(State(state): State<AppState>, _caller: ScimCaller) -> ApiResult {
    let base = state.scim_base();
    let items = [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .map(|k| schema::resource_type_json(k, &base))
        .collect();
    Ok(scim_json(StatusCode::OK, &list_of(items)))
}

async fn resource_type(
    State(state): State<AppState>,
    _caller: ScimCaller,
    Path(id): Path<String>,
) -> ApiResult {
    let kind = ResourceKind::from_name(&id).ok_or_else(|| {
        ScimError::not_found(format!(
            "there is no resource type {id:?}; the types are User and Group"
        ))
    })?;
    Ok(scim_json(
        StatusCode::OK,
        &schema::resource_type_json(kind, &state.scim_base()),
    ))
}

async fn schemas(State(state): State<AppState>, _caller: ScimCaller) -> ApiResult {
    let base = state.scim_base();
    let items = schema::all_schemas()
        .iter()
        .map(|s| schema::schema_json(s, &base))
        .collect();
    Ok(scim_json(StatusCode::OK, &list_of(items)))
}

async fn schema_by_id(
    State(state): State<AppState>,
    _caller: ScimCaller,
    Path(id): Path<String>,
) -> ApiResult {
    let s = schema::all_schemas()
        .into_iter()
        .find(|s| s.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| {
            ScimError::not_found(format!(
                "there is no schema {id:?}; see {SCIM_PREFIX}/Schemas"
            ))
        })?;
    Ok(scim_json(
        StatusCode::OK,
        &schema::schema_json(s, &state.scim_base()),
    ))
}

/// Canonical names of the SCIM path segments, so that routes are
/// case-insensitive (`/scim/v2/users`, `/SCIM/V2/Users/`).
const SEGMENTS: &[&str] = &[
    "Users",
    "Groups",
    "Schemas",
    "ResourceTypes",
    "ServiceProviderConfig",
    ".search",
    "Bulk",
    "Me",
];

/// Rewrites a request's path before routing: the SCIM prefix and resource
/// type segments to their canonical case, and any trailing slash removed.
/// Resource ids are left as they are.
pub fn normalize_path<B>(mut req: Request<B>) -> Request<B> {
    let uri = req.uri();
    let path = uri.path();
    let Some(head) = path.get(..SCIM_PREFIX.len()) else {
        return req;
    };
    if !head.eq_ignore_ascii_case(SCIM_PREFIX) {
        return req;
    }
    let rest = &path[SCIM_PREFIX.len()..];
    if !(rest.is_empty() || rest.starts_with('/')) {
        return req;
    }
    let mut out = String::from(SCIM_PREFIX);
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    for (i, seg) in segments.iter().enumerate() {
        out.push('/');
        // Only the type segment and a trailing `.search` are names; the
        // segment after a type is an id and keeps its case.
        let canonical = if i == 0 || (i == 1 && seg.eq_ignore_ascii_case(".search")) {
            SEGMENTS
                .iter()
                .find(|c| c.eq_ignore_ascii_case(seg))
                .copied()
                .or_else(|| {
                    seg.eq_ignore_ascii_case("ServiceProviderConfigs")
                        .then_some("ServiceProviderConfig")
                })
        } else {
            None
        };
        out.push_str(canonical.unwrap_or(seg));
    }
    if out == path {
        return req;
    }
    let new = match uri.query() {
        Some(q) => format!("{out}?{q}"),
        None => out,
    };
    if let Ok(new_uri) = new.parse::<Uri>() {
        *req.uri_mut() = new_uri;
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> String {
        let req = Request::builder().uri(p).body(()).unwrap();
        normalize_path(req).uri().to_string()
    }

    #[test]
    fn scim_paths_are_case_insensitive_and_tolerate_trailing_slashes() {
        assert_eq!(norm("/scim/v2/users"), "/scim/v2/Users");
        assert_eq!(norm("/SCIM/V2/Users/"), "/scim/v2/Users");
        assert_eq!(norm("/scim/v2/groups/AbC/"), "/scim/v2/Groups/AbC");
        assert_eq!(norm("/scim/v2/users/.SEARCH"), "/scim/v2/Users/.search");
        assert_eq!(
            norm("/scim/v2/serviceproviderconfig?x=1"),
            "/scim/v2/ServiceProviderConfig?x=1"
        );
        assert_eq!(
            norm("/scim/v2/ServiceProviderConfigs"),
            "/scim/v2/ServiceProviderConfig"
        );
        assert_eq!(norm("/scim/v2/Users?filter=a"), "/scim/v2/Users?filter=a");
        assert_eq!(norm("/other/Users"), "/other/Users");
        assert_eq!(norm("/scim/v2x/users"), "/scim/v2x/users");
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn read_params_names_are_case_insensitive_and_validated() {
        let p = read_params(Some(
            "FILTER=userName+eq+%22a%22&StartIndex=0&COUNT=5&aadOptscim062020",
        ))
        .unwrap();
        assert_eq!(p.filter.as_deref(), Some("userName eq \"a\""));
        assert_eq!(p.start_index, 0);
        assert_eq!(p.count, Some(5));
        let e = read_params(Some("count=abc")).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.detail.contains("count"));
    }

    #[test]
    fn nul_characters_are_found_with_their_path() {
        assert_eq!(
            nul_at(&json!({"userName": "a", "emails": [{"value": "b"}]}), ""),
            None
        );
        assert_eq!(
            nul_at(
                &json!({"emails": [{"type": "work"}, {"value": "b\u{0}"}]}),
                ""
            )
            .as_deref(),
            Some("emails[1].value")
        );
        assert_eq!(
            nul_at(&json!({"a\u{0}": 1}), "").as_deref(),
            Some("the attribute name \"a\\0\"")
        );
        assert_eq!(nul_at(&json!("\u{0}"), "").as_deref(), Some("the body"));
    }
}
