//! The admin console: server-rendered pages (askama templates in
//! `templates/`), and the HTML error type every page handler returns.
//!
//! Routing, the session layer and the security headers of these pages are
//! wired in [`router()`]; the signed-in admin and CSRF tokens come from
//! [`session`].

pub mod activity;
pub mod consent;
pub mod form;
pub mod groups;
pub mod home;
pub mod manage;
pub mod mapping;
pub mod nav;
pub mod overview;
pub mod present;
pub mod read_pages;
pub mod resource;
pub mod router;
pub mod session;
pub mod signin;
pub mod sso;
pub mod users;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::store::SqlError;

pub use form::{CsrfForm, CsrfOnly, HtmlForm};
pub use router::router;

/// An error shown to a person as an HTML page. The page itself is rendered
/// by the error middleware of [`router()`], which knows the request id;
/// handlers only say what went wrong.
#[derive(Debug, Clone)]
pub struct ConsoleError {
    pub status: StatusCode,
    pub title: String,
    pub message: String,
    /// When set, the page offers a sign-out button (for "signed in as the
    /// wrong account" pages).
    pub signed_in: Option<SignedIn>,
}

/// Who is signed in, with the CSRF token the sign-out form needs.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub email: String,
    pub csrf: String,
}

impl ConsoleError {
    pub fn new(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> Self {
        ConsoleError {
            status,
            title: title.into(),
            message: message.into(),
            signed_in: None,
        }
    }

    pub fn bad_request(title: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, title, message)
    }

    /// The console's one "no such thing in your tenant" page (`what` in
    /// lower case: "user", "secret token"). Ids of other tenants get it
    /// too, so they cannot be told apart from ids that do not exist.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("No such {what}"),
            format!(
                "There is no {what} with this id in your tenant. It may have been removed; go back to the list and reload it."
            ),
        )
    }

    pub fn forbidden(title: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, title, message)
    }

    /// A POST whose CSRF token is missing or wrong: most often a page left
    /// open across a sign-out or a server-side session expiry.
    pub fn form_expired() -> Self {
        Self::forbidden(
            "This form has expired",
            "The page you submitted was too old or came from another window. Reload the page and submit it again.",
        )
    }

    /// Logs the cause; the page only says something went wrong on our side.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "console request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "scimgate could not complete this request. Try again in a moment; if it keeps failing, give the request id below to your operator.",
        )
    }

    pub fn with_sign_out(mut self, signed_in: SignedIn) -> Self {
        self.signed_in = Some(signed_in);
        self
    }
}

impl From<crate::password::Busy> for ConsoleError {
    fn from(_: crate::password::Busy) -> Self {
        tracing::warn!("password checks are all busy: answered 503");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many sign-ins at once",
            "scimgate is checking many passwords right now. Wait a few seconds and sign in again.",
        )
    }
}

impl From<SqlError> for ConsoleError {
    fn from(e: SqlError) -> Self {
        ConsoleError::internal(format!("database: {e}"))
    }
}

impl From<tower_sessions::session::Error> for ConsoleError {
    fn from(e: tower_sessions::session::Error) -> Self {
        ConsoleError::internal(format!("session: {e}"))
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        // No body here: the error middleware renders the page from the
        // extension, adding the request id.
        let mut res = self.status.into_response();
        res.extensions_mut().insert(self);
        res
    }
}

/// The error page (`templates/error.html`).
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub request_id: &'a str,
    pub signed_in: Option<&'a SignedIn>,
}

/// Renders a template, mapping a rendering failure to an error page.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (
            status,
            [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(e) => ConsoleError::internal(format!("rendering a page: {e}")).into_response(),
    }
}

/// A 303 See Other to `location`. Never panics: a location that is not a
/// valid header value (which no caller builds) becomes an error page.
pub fn see_other(location: &str) -> Response {
    match axum::http::HeaderValue::try_from(location) {
        Ok(value) => (
            StatusCode::SEE_OTHER,
            [(axum::http::header::LOCATION, value)],
        )
            .into_response(),
        Err(_) => ConsoleError::internal(format!(
            "redirect location is not a header value: {location:?}"
        ))
        .into_response(),
    }
}

/// `next` when it is a path on this site, else `/`. Only a single leading
/// slash followed by a non-slash, non-backslash is accepted: `//host` and
/// `/\host` are read by browsers as another host, and any scheme is absolute.
/// Control characters and spaces are refused too, since browsers strip tabs
/// and newlines before resolving (`/\t/evil.com` becomes `//evil.com`).
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n
        }
        _ => "/",
    }
}

/// The query string of a URI as ordered key/value pairs (`+` is a space).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next(Some("/")), "/");
        assert_eq!(
            safe_next(Some("/oauth/authorize?client_id=a&state=")),
            "/oauth/authorize?client_id=a&state="
        );
        for bad in [
            "//evil.com",
            "/\\evil.com",
            "https://evil.com",
            "javascript:alert(1)",
            "evil.com",
            "/\t/evil.com",
            "/ok\r\nSet-Cookie: x=1",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?} must not be followed");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn query_pairs_keep_order_duplicates_and_empty_values() {
        let pairs = query_pairs(Some(
            "redirect_uri=https%3a%2f%2fportal.azure.com%2fTokenAuthorize&state=&a=1&a=2&s=x+y",
        ));
        assert_eq!(
            pairs,
            vec![
                (
                    "redirect_uri".to_string(),
                    "https://portal.azure.com/TokenAuthorize".to_string()
                ),
                ("state".to_string(), String::new()),
                ("a".to_string(), "1".to_string()),
                ("a".to_string(), "2".to_string()),
                ("s".to_string(), "x y".to_string()),
            ]
        );
        assert!(query_pairs(None).is_empty());
    }
}
