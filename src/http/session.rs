//! The console's browser session: who is signed in, and the CSRF token
//! every form carries.
//!
//! Session keys:
//! - [`ADMIN_ID`]: the signed-in account's id;
//! - [`PASSWORD_CHANGED_AT`]: the account's `password_changed_at` at sign-in.
//!   A session whose value differs from the account's current one is signed
//!   out, so changing a password ends every session opened before;
//! - [`TOUCHED_AT`]: when the session was last rewritten (Unix seconds), so
//!   that inactivity expiry is extended without a write on every request;
//! - [`CSRF`]: the token compared with every form's hidden `csrf` field.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq as _;
use tower_sessions::Session;

use crate::console::{ConsoleError, SignedIn};
use crate::http::AppState;
use crate::store::admins::{self, Admin};

pub const ADMIN_ID: &str = "admin_id";
pub const PASSWORD_CHANGED_AT: &str = "password_changed_at";
pub const TOUCHED_AT: &str = "touched_at";
pub const CSRF: &str = "csrf";

/// Sessions end after this long without a request.
pub const INACTIVITY: time::Duration = time::Duration::hours(8);
/// A signed-in session is rewritten (extending its expiry) at most this often.
const TOUCH_EVERY_SECS: i64 = 15 * 60;

fn session_from(parts: &Parts) -> Result<Session, ConsoleError> {
    parts.extensions.get::<Session>().cloned().ok_or_else(|| {
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
    let stamp = session.get::<String>(PASSWORD_CHANGED_AT).await?;
    let admin = admins::by_id(state.db(), &id).await?;
    match admin {
        Some(admin) if stamp.as_deref() == Some(admin.password_changed_at.as_str()) => {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
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
    format!("/signin?next={next}")
}

impl FromRequestParts<AppState> for CurrentAdmin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = session_from(parts).map_err(IntoResponse::into_response)?;
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
