//! The JSON body of a SCIM write: content type, size limit, nesting and
//! NUL characters checked before any handler sees it.

use axum::body::Body;
use axum::http::{Request, header};
use scim::ScimError;
use serde_json::Value;

use super::response::ApiError;
use crate::http::AppState;

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
pub(super) fn nul_at(v: &Value, at: &str) -> Option<String> {
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
