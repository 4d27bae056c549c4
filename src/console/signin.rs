//! Signing in with e-mail and password, and signing out.
//!
//! Failed attempts are counted per account and per client address
//! (`crate::store::throttle`): repeated failures are first slowed down, then
//! refused for a while. A wrong password and an unknown account get the same
//! answer, after the same argon2 work.

use std::time::Duration;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use tower_sessions::Session;

use super::{
    ConsoleError, CsrfForm, CsrfOnly, HtmlForm, query_pairs, render, safe_next, see_other,
};
use crate::console::session::{self, SigninCsrf};
use crate::http::AppState;
use crate::http::client::ClientIp;
use crate::store::activity::{self, Actor, Entry};
use crate::store::admins::{self, Admin};
use crate::store::throttle::{self, Verdict};

/// The one message for every wrong e-mail/password combination.
pub const WRONG_CREDENTIALS: &str = "E-mail or password is wrong.";

#[derive(Template)]
#[template(path = "signin.html")]
pub struct SignInPage {
    pub csrf: String,
    pub email: String,
    pub next: String,
    pub error: Option<String>,
    pub purpose: Option<&'static str>,
    /// Which single sign-on ways the page offers.
    pub sso: super::sso::Choices,
    /// The answer of the e-mail-first step when it leads nowhere.
    pub sso_notice: Option<String>,
    pub sso_email: String,
}

fn purpose_of(next: &str) -> Option<&'static str> {
    next.starts_with(crate::paths::AUTHORIZE_PATH)
        .then_some("Sign in to approve the connection your identity provider asked for.")
}

/// `GET /signin?next=…`
pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ConsoleError> {
    let next = query_pairs(uri.query())
        .into_iter()
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v)
        .unwrap_or_default();
    let csrf = SigninCsrf::of(&headers);
    let page = SignInPage {
        csrf: csrf.token.clone(),
        email: String::new(),
        purpose: purpose_of(&next),
        next,
        error: None,
        sso: super::sso::choices(&state).await?,
        sso_notice: None,
        sso_email: String::new(),
    };
    Ok(csrf.attach(render(StatusCode::OK, &page), state.secure_cookies()))
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    csrf: Option<String>,
    next: Option<String>,
}

pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub fn admin_actor(admin: &Admin) -> Actor {
    Actor {
        kind: "admin",
        id: Some(admin.id.clone()),
        label: admin.email.clone(),
    }
}

/// "10:05" for a lock ending at 10:04:30: the first whole minute at which
/// signing in works again.
fn minute_after(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => (t.with_timezone(&chrono::Utc) + chrono::Duration::seconds(59))
            .format("%H:%M")
            .to_string(),
        Err(_) => "a few minutes".to_string(),
    }
}

/// `POST /signin`
pub async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    session: Session,
    HtmlForm(form): HtmlForm<SignInForm>,
) -> Result<Response, ConsoleError> {
    SigninCsrf::require(&headers, form.csrf.as_deref())?;
    let db = state.db();
    let email = form.email.trim().to_string();
    let next = form.next.unwrap_or_default();
    let account_key = format!("acct:{}", email.to_lowercase());
    let address_key = format!("addr:{ip}");

    let sso = super::sso::choices(&state).await?;
    let csrf = form.csrf.clone().unwrap_or_default();
    let again = |status: StatusCode, error: String| {
        render(
            status,
            &SignInPage {
                csrf: csrf.clone(),
                email: email.clone(),
                purpose: purpose_of(&next),
                next: next.clone(),
                error: Some(error),
                sso,
                sso_notice: None,
                sso_email: String::new(),
            },
        )
    };

    // Each attempt is counted before the password is checked, atomically,
    // so that concurrent guesses cannot slip past the limit together.
    let verdicts = [
        throttle::attempt(db, &account_key, throttle::ACCOUNT).await?,
        throttle::attempt(db, &address_key, throttle::ADDRESS).await?,
    ];
    let locked_until = verdicts
        .iter()
        .filter_map(|v| match v {
            Verdict::Locked(until) => Some(until.clone()),
            _ => None,
        })
        .max();
    if let Some(until) = locked_until {
        state.metrics().auth_failure("throttled");
        tracing::warn!(account = %account_key, address = %address_key, "sign-in refused: too many failures");
        let message = format!(
            "Too many failed sign-ins. For your protection, signing in is paused; try again after {} UTC.",
            minute_after(&until)
        );
        return Ok(again(StatusCode::TOO_MANY_REQUESTS, message));
    }
    let delay = verdicts
        .iter()
        .filter_map(|v| match v {
            Verdict::Slow(ms) => Some(*ms),
            _ => None,
        })
        .max();
    if let Some(ms) = delay {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    let found = admins::by_email(db, &email).await?;
    let (admin, hash) = match found {
        Some((admin, hash)) => (Some(admin), hash),
        None => (None, None),
    };
    // Verified even with no account or no password, against a dummy hash,
    // so both cases take as long as a wrong password.
    let password_ok = crate::password::verify(form.password, hash).await?;

    match admin {
        Some(admin) if password_ok => {
            throttle::reset(db, &account_key).await?;
            throttle::succeeded(db, &address_key).await?;
            let how = format!("{} signed in from {}", admin.email, ip);
            complete(db, &session, &admin, how, &headers).await?;
            Ok(see_other(safe_next(Some(&next))))
        }
        _ => {
            state.metrics().auth_failure("sign_in");
            if let Some(admin) = &admin
                && let Some(tenant) = &admin.tenant_id
            {
                let mut entry =
                    Entry::new(tenant, &admin_actor(admin), "admin.signin.failure", 401)
                        .resource("Admin", &admin.id, &admin.email)
                        .detail(format!("wrong password for {} from {}", admin.email, ip));
                entry.request_id = request_id(&headers);
                activity::record_alone(db, &entry).await?;
            }
            Ok(again(
                StatusCode::UNPROCESSABLE_ENTITY,
                WRONG_CREDENTIALS.to_string(),
            ))
        }
    }
}

/// Opens the signed-in session of `admin` (a new session id) and writes the
/// sign-in to the tenant's activity log, `how` saying how it happened. Every
/// way of signing in ends here.
pub async fn complete(
    db: &crate::store::Db,
    session: &Session,
    admin: &Admin,
    how: String,
    headers: &HeaderMap,
) -> Result<(), ConsoleError> {
    session::sign_in(session, admin).await?;
    if let Some(tenant) = &admin.tenant_id {
        let mut entry = Entry::security(tenant, &admin_actor(admin), "admin.signin")
            .resource("Admin", &admin.id, &admin.email)
            .detail(how);
        entry.request_id = request_id(headers);
        activity::record_alone(db, &entry).await?;
    }
    tracing::info!(admin = %admin.id, "admin signed in");
    Ok(())
}

/// `POST /signout`
pub async fn sign_out(session: Session, _: CsrfForm<CsrfOnly>) -> Result<Response, ConsoleError> {
    session::sign_out(&session).await?;
    Ok(see_other(crate::paths::SIGNIN_PATH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_end_rounds_up_to_the_minute() {
        assert_eq!(minute_after("2026-11-02T10:04:30.000Z"), "10:05");
        assert_eq!(minute_after("2026-11-02T10:04:00.000Z"), "10:04");
        assert_eq!(minute_after("garbage"), "a few minutes");
    }
}
