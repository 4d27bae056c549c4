//! The SCIM 2.0 API at `/scim/v2`: its routes and the path normalisation
//! that makes them case-insensitive. The rest by concern: [`caller`] (the
//! bearer token and the request context), [`body`] and [`params`] (what a
//! request sends), [`resources`] and [`discovery`] (the handlers) and
//! [`response`] (what goes back).

mod body;
mod caller;
mod discovery;
mod params;
mod resources;
mod response;

use axum::Router;
use axum::http::{HeaderValue, Method, Request, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use scim::ScimError;

use super::AppState;
use crate::paths::{SCIM_PREFIX, scim_path};

use discovery::{resource_type, resource_types, schema_by_id, schemas, service_provider_config};
use params::kind_of;
use resources::{
    create_resource, delete_resource, get_resource, list_resources, patch_resource,
    replace_resource, search_resources, search_root,
};
use response::ApiError;
pub use response::scim_json;

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
    use axum::http::HeaderMap;
    use serde_json::json;

    use super::body::nul_at;
    use super::caller::bearer;
    use super::params::read_params;
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
