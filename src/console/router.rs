//! The browser-facing routes (sign-in, consent, console pages) and the
//! layers only they get: the session cookie, the content security policy and
//! HTML error pages. [`crate::http::router`] merges this router beside the
//! SCIM and OAuth token endpoints, which stay outside it, so a session
//! cookie is never a credential there.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sha2::{Digest as _, Sha256};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::console::session::INACTIVITY;
use crate::console::{self, ConsoleError, ErrorPage};
use crate::http::AppState;
use crate::paths;
use crate::store::sessions::DbSessionStore;

/// Name of the console's session cookie.
pub const SESSION_COOKIE: &str = "scimgate_session";

/// No `form-action`: the consent form's answer is a redirect to the
/// identity provider, which `form-action 'self'` would block in browsers
/// that apply it to redirects.
const CSP: &str = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLESHEET: &str = include_str!("../../static/style.css");

/// `/static/style.css?v=<hash of its content>`: the stylesheet is cached for
/// a year and a changed one gets a new URL.
pub fn style_href() -> &'static str {
    static HREF: LazyLock<String> = LazyLock::new(|| {
        let digest = hex::encode(Sha256::digest(STYLESHEET.as_bytes()));
        format!("/static/style.css?v={}", &digest[..12])
    });
    HREF.as_str()
}

async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// The browser routes with their session layer. The cookie is `Secure` when
/// the public URL is https (plain http is only for local use and tests).
pub fn router(state: &AppState) -> Router<AppState> {
    let secure = state.secure_cookies();
    let sessions = SessionManagerLayer::new(DbSessionStore::new(state.db().clone()))
        .with_name(SESSION_COOKIE)
        .with_secure(secure)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(INACTIVITY));
    Router::new()
        .route("/", get(console::home::home))
        .route(
            paths::SIGNIN_PATH,
            get(console::signin::form).post(console::signin::submit),
        )
        .route("/signout", post(console::signin::sign_out))
        .route(paths::SIGNIN_SSO_PATH, post(console::sso::start))
        .route(paths::OIDC_CALLBACK_PATH, get(console::sso::callback))
        .route(
            paths::AUTHORIZE_PATH,
            get(console::consent::show).post(console::consent::decide),
        )
        .merge(console::manage::router())
        .merge(console::read_pages::router())
        .merge(console::mapping::router())
        .layer(sessions)
        .route("/static/style.css", get(stylesheet))
        .route("/static/htmx.min.js", get(console::manage::htmx_script))
        .layer(middleware::from_fn(error_pages))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(CSP),
        ))
}

/// Renders [`ConsoleError`]s (and body-less errors of the layers, such as a
/// 405 or a session store failure) as HTML pages showing the request id.
async fn error_pages(req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let mut res = next.run(req).await;
    let error = match res.extensions_mut().remove::<ConsoleError>() {
        Some(e) => e,
        None if (res.status().is_client_error() || res.status().is_server_error())
            && !res.headers().contains_key(CONTENT_TYPE) =>
        {
            generic(res.status())
        }
        None => return res,
    };
    let page = ErrorPage {
        title: &error.title,
        message: &error.message,
        request_id: &request_id,
        signed_in: error.signed_in.as_ref(),
    };
    let mut rendered = console::render(error.status, &page);
    // Keep headers the handler or the layers set (Allow on a 405, cookies).
    for (name, value) in res.headers() {
        if name != CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            rendered.headers_mut().append(name.clone(), value.clone());
        }
    }
    rendered
}

fn generic(status: StatusCode) -> ConsoleError {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => ConsoleError::new(
            status,
            "Not available this way",
            "This page cannot be used with that kind of request. Go back and use the page's links and buttons.",
        ),
        StatusCode::NOT_FOUND => ConsoleError::new(
            status,
            "Page not found",
            "There is no page at this address.",
        ),
        s if s.is_server_error() => ConsoleError::new(
            status,
            "Something went wrong",
            "scimgate could not complete this request. Try again in a moment; if it keeps failing, give the request id below to your operator.",
        ),
        s => ConsoleError::new(
            s,
            s.canonical_reason().unwrap_or("Request refused"),
            "The request could not be handled. Go back and try again.",
        ),
    }
}
