//! SCIM answers: errors as SCIM error bodies, `application/scim+json`
//! responses, ETags (`If-None-Match`, `If-Match`) and projections.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim::{ResourceKind, ScimError};
use serde_json::Value;

use super::CONTENT_TYPE;
use crate::provision::Resource;
use crate::provision::list::ListParams;

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

pub(super) type ApiResult = Result<Response, ApiError>;

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

pub(super) fn with_resource_headers(mut resp: Response, r: &Resource) -> Response {
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

pub(super) fn if_none_match_hits(headers: &HeaderMap, r: &Resource) -> bool {
    let etag = r.etag();
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').map(str::trim).any(|t| t == "*" || t == etag))
}

pub(super) fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub(super) fn project(kind: ResourceKind, r: &Resource, params: &ListParams) -> Value {
    if params.attributes.is_empty() && params.excluded.is_empty() {
        r.json.clone()
    } else {
        scim::resource::project(kind, &r.json, &params.attributes, &params.excluded)
    }
}

/// A resource as the answer: its JSON, reduced to the attributes asked
/// for, with its ETag and Location.
pub(super) fn resource_response(
    status: StatusCode,
    kind: ResourceKind,
    r: &Resource,
    params: &ListParams,
) -> Response {
    with_resource_headers(scim_json(status, &project(kind, r, params)), r)
}

/// An answer without a body (`304 Not Modified`, `204 No Content`) that
/// carries the resource's ETag.
pub(super) fn bodiless(status: StatusCode, r: &Resource) -> Response {
    let mut resp = status.into_response();
    if let Ok(v) = HeaderValue::from_str(&r.etag()) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}
