//! The console's browser session: who is signed in, the CSRF token every
//! form carries, and the hourly deletion of expired sessions.
//!
//! Session keys:
//! - [`ADMIN_ID`]: the signed-in account's id;
//! - [`PASSWORD_CHANGED_AT`]: the account's `password_changed_at` at sign-in.
//!   A session whose value differs from the account's current one is signed
//!   out, so changing a password ends every session opened before;
//! - [`TOUCHED_AT`]: when the session was last rewritten (Unix seconds), so
//!   that inactivity expiry is extended without a write on every request;
//! - [`CSRF`]: the token compared with every form's hidden `csrf` field;
//! - [`SIGNED_IN_AT`]: when the session was signed in (Unix seconds): it
//!   ends [`ABSOLUTE`] after that, however active it stays.
//!
//! The forms shown before sign-in store nothing on the server: their CSRF
//! token travels in a cookie of its own ([`SigninCsrf`]).

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq as _;
use tower_sessions::Session;

use crate::console::{ConsoleError, SignedIn};
use crate::http::AppState;
use crate::store::Db;
use crate::store::admins::{self, Admin};
use crate::store::sessions::DbSessionStore;

pub const ADMIN_ID: &str = "admin_id";
pub const PASSWORD_CHANGED_AT: &str = "password_changed_at";
pub const TOUCHED_AT: &str = "touched_at";
pub const CSRF: &str = "csrf";
pub const SIGNED_IN_AT: &str = "signed_in_at";

/// Sessions end after this long without a request.
pub const INACTIVITY: time::Duration = time::Duration::hours(8);
/// ... and this long after sign-in, whatever the activity (Keycloak's
/// "SSO Session Max" default): a stolen session cookie stays useful for
/// at most a working day.
pub const ABSOLUTE: time::Duration = time::Duration::hours(10);

/// The cookie of the sign-in forms' CSRF token.
pub const SIGNIN_COOKIE: &str = "scimgate_signin";

/// CSRF protection for the forms shown before sign-in (password sign-in and
/// the e-mail-first single sign-on step), without a server-side record: an
/// anonymous flood of `GET /signin` must not fill the sessions table. The
/// token is a random value kept in a `SameSite=Strict`, `HttpOnly` cookie
/// scoped to `/signin` and repeated in the form; a submission must present
/// both, equal (the double-submit pattern). Another site can neither read
/// the cookie nor make the browser send it.
#[derive(Debug, Clone)]
pub struct SigninCsrf {
    pub token: String,
    /// Whether the browser does not hold it yet (the answer sets it).
    fresh: bool,
}

fn cookie_value<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A token as [`crate::secret::generate`] makes them: 43 base64url bytes.
fn plausible_token(t: &str) -> bool {
    t.len() == 43
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl SigninCsrf {
    /// The browser's token, or a new one.
    pub fn of(headers: &axum::http::HeaderMap) -> Self {
        match cookie_value(headers, SIGNIN_COOKIE).filter(|t| plausible_token(t)) {
            Some(t) => SigninCsrf {
                token: t.to_string(),
                fresh: false,
            },
            None => SigninCsrf {
                token: crate::secret::generate(""),
                fresh: true,
            },
        }
    }

    /// Refuses a submission whose form token is missing or is not the
    /// cookie's (constant time).
    pub fn require(
        headers: &axum::http::HeaderMap,
        presented: Option<&str>,
    ) -> Result<(), ConsoleError> {
        let cookie = cookie_value(headers, SIGNIN_COOKIE).filter(|t| plausible_token(t));
        match (cookie, presented) {
            (Some(c), Some(p)) if bool::from(c.as_bytes().ct_eq(p.as_bytes())) => Ok(()),
            _ => Err(ConsoleError::form_expired()),
        }
    }

    /// `response` with the cookie set when the browser did not have it.
    pub fn attach(&self, mut response: Response, secure: bool) -> Response {
        if self.fresh {
            let cookie = format!(
                "{SIGNIN_COOKIE}={}; Path=/signin; HttpOnly; SameSite=Strict{}",
                self.token,
                if secure { "; Secure" } else { "" }
            );
            if let Ok(v) = axum::http::HeaderValue::from_str(&cookie) {
                response
                    .headers_mut()
                    .append(axum::http::header::SET_COOKIE, v);
            }
        }
        response
    }
}
/// A signed-in session is rewritten (extending its expiry) at most this often.
const TOUCH_EVERY_SECS: i64 = 15 * 60;

/// The session the session layer put in a request's extensions.
pub(super) fn session_from(extensions: &axum::http::Extensions) -> Result<Session, ConsoleError> {
    extensions.get::<Session>().cloned().ok_or_else(|| {
        ConsoleError::internal("a console route is served without the session layer")
    })
}

/// The session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String, ConsoleError> {
    if let Some(token) = session.get::<String>(CSRF).await? {
        return Ok(token);
    }
    let token = crate::secret::generate("");
    session.insert(CSRF, &token).await?;
    Ok(token)
}

/// Whether a submitted form's token is the session's (constant time).
pub async fn csrf_valid(session: &Session, presented: Option<&str>) -> Result<bool, ConsoleError> {
    let Some(presented) = presented.filter(|p| !p.is_empty()) else {
        return Ok(false);
    };
    let Some(expected) = session.get::<String>(CSRF).await? else {
        return Ok(false);
    };
    Ok(expected.as_bytes().ct_eq(presented.as_bytes()).into())
}

/// Refuses a form whose CSRF token is missing or wrong.
pub async fn require_csrf(session: &Session, presented: Option<&str>) -> Result<(), ConsoleError> {
    if csrf_valid(session, presented).await? {
        Ok(())
    } else {
        Err(ConsoleError::form_expired())
    }
}

/// Starts a signed-in session: a new session id (so an id planted before
/// sign-in is worthless), a new CSRF token, and the account's identity.
pub async fn sign_in(session: &Session, admin: &Admin) -> Result<(), ConsoleError> {
    session.cycle_id().await?;
    session.insert(CSRF, crate::secret::generate("")).await?;
    session.insert(ADMIN_ID, &admin.id).await?;
    session
        .insert(
            SIGNED_IN_AT,
            time::OffsetDateTime::now_utc().unix_timestamp(),
        )
        .await?;
    session
        .insert(PASSWORD_CHANGED_AT, &admin.password_changed_at)
        .await?;
    session
        .insert(TOUCHED_AT, time::OffsetDateTime::now_utc().unix_timestamp())
        .await?;
    Ok(())
}

/// Ends the session: its record is deleted and the cookie removed.
pub async fn sign_out(session: &Session) -> Result<(), ConsoleError> {
    session.flush().await?;
    Ok(())
}

/// The signed-in account of this session, if any and still valid.
pub async fn signed_in_admin(
    state: &AppState,
    session: &Session,
) -> Result<Option<Admin>, ConsoleError> {
    let Some(id) = session.get::<String>(ADMIN_ID).await? else {
        return Ok(None);
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signed_in_at = session.get::<i64>(SIGNED_IN_AT).await?.unwrap_or(0);
    if now - signed_in_at >= ABSOLUTE.whole_seconds() {
        // Past the absolute lifetime: sign in again.
        session.flush().await?;
        return Ok(None);
    }
    let stamp = session.get::<String>(PASSWORD_CHANGED_AT).await?;
    let admin = admins::by_id(state.db(), &id).await?;
    match admin {
        Some(admin) if stamp.as_deref() == Some(admin.password_changed_at.as_str()) => {
            let touched = session.get::<i64>(TOUCHED_AT).await?.unwrap_or(0);
            if now - touched >= TOUCH_EVERY_SECS {
                session.insert(TOUCHED_AT, now).await?;
            }
            Ok(Some(admin))
        }
        // Deleted account or password changed since sign-in: this session
        // no longer identifies anyone.
        _ => {
            session.remove_value(ADMIN_ID).await?;
            session.remove_value(PASSWORD_CHANGED_AT).await?;
            Ok(None)
        }
    }
}

/// A signed-in admin. Extracting it from a request without one redirects the
/// browser to the sign-in page, which brings it back here afterwards.
pub struct CurrentAdmin {
    pub admin: Admin,
    pub session: Session,
}

impl CurrentAdmin {
    /// What a page needs to offer a sign-out button.
    pub async fn signed_in(&self) -> Result<SignedIn, ConsoleError> {
        Ok(SignedIn {
            email: self.admin.email.clone(),
            csrf: csrf_token(&self.session).await?,
        })
    }
}

/// `/signin?next=<path and query>`.
pub fn signin_url(path_and_query: &str) -> String {
    let next: String = url::form_urlencoded::byte_serialize(path_and_query.as_bytes()).collect();
    format!("{}?next={next}", crate::paths::SIGNIN_PATH)
}

impl FromRequestParts<AppState> for CurrentAdmin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = session_from(&parts.extensions).map_err(IntoResponse::into_response)?;
        match signed_in_admin(state, &session).await {
            Ok(Some(admin)) => Ok(CurrentAdmin { admin, session }),
            Ok(None) => {
                let back = parts
                    .uri
                    .path_and_query()
                    .map(|pq| pq.as_str())
                    .unwrap_or("/");
                Err(crate::console::see_other(&signin_url(back)))
            }
            Err(e) => Err(e.into_response()),
        }
    }
}

/// Deletes expired sessions once an hour (and once at start), until aborted.
pub fn spawn_session_cleanup(db: Db) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let store = DbSessionStore::new(db);
        let mut every = tokio::time::interval(Duration::from_secs(60 * 60));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match store.delete_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(deleted = n, "expired sessions deleted"),
                Err(e) => tracing::warn!(error = %e, "deleting expired sessions failed"),
            }
        }
    })
}
