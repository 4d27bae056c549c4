//! The machine's ceiling for the hot path: an axum handler that does what any
//! SCIM server must at the least (check a bearer header, answer a small JSON
//! list) and nothing else.

use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const BODY: &str = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"startIndex":1,"itemsPerPage":0,"Resources":[]}"#;

/// Serves the ceiling's `GET {scim_prefix}/Users` on `bind` until killed.
pub async fn serve(bind: SocketAddr, token: String, scim_prefix: &str) -> anyhow::Result<()> {
    let expected = format!("Bearer {token}");
    let app = Router::new().route(
        &format!("{scim_prefix}/Users"),
        get(move |headers: HeaderMap| {
            let ok = headers
                .get(header::AUTHORIZATION)
                .is_some_and(|v| v.as_bytes() == expected.as_bytes());
            async move {
                if !ok {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                let mut r: Response = BODY.into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/scim+json"),
                );
                r
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(bind).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
