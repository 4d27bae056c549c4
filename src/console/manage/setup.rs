//! `/setup?token=…`: the first-start page that creates the first operator
//! (see [`crate::store::setup`]). A dead link (used, expired, or an operator
//! already exists) gets a page saying so and how to get an account instead.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tower_sessions::Session;

use super::no_store;
use crate::console::session::{self, csrf_token};
use crate::console::{ConsoleError, CsrfForm, render, see_other};
use crate::http::AppState;
use crate::store::admins::AdminError;
use crate::store::setup::{self, RedeemError};

#[derive(Template)]
#[template(path = "manage/setup.html")]
pub struct SetupPage {
    pub csrf: String,
    pub token: String,
    pub email: String,
    pub error: Option<String>,
    pub min_password: usize,
}

fn dead() -> ConsoleError {
    ConsoleError::new(
        StatusCode::NOT_FOUND,
        "This setup link is not valid",
        "A setup link works once, for 24 hours, and only until the first operator account exists. If you already created it, sign in. Otherwise restart scimgate on a database without accounts to get a new link, or create an operator with `scimgate admin create --operator --email …`.",
    )
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `GET /setup?token=…`
pub async fn form(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<TokenQuery>,
) -> Result<Response, ConsoleError> {
    let token = q.token.unwrap_or_default();
    if !setup::is_live(state.db(), &token).await? {
        return Err(dead());
    }
    let page = SetupPage {
        csrf: csrf_token(&session).await?,
        token,
        email: String::new(),
        error: None,
        min_password: crate::password::MIN_LEN,
    };
    Ok(no_store(render(StatusCode::OK, &page)))
}

#[derive(Debug, Deserialize)]
pub struct SetupForm {
    token: Option<String>,
    email: Option<String>,
    password: Option<String>,
    password_again: Option<String>,
}

/// `POST /setup`: creates the first operator, signs them in, and retires
/// the link.
pub async fn submit(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<SetupForm>,
) -> Result<Response, ConsoleError> {
    let token = form.token.unwrap_or_default();
    if !setup::is_live(state.db(), &token).await? {
        return Err(dead());
    }
    let email = form.email.unwrap_or_default().trim().to_string();
    let password = form.password.unwrap_or_default();
    let again = |error: String| async {
        let page = SetupPage {
            csrf: csrf_token(&session).await?,
            token: token.clone(),
            email: email.clone(),
            error: Some(error),
            min_password: crate::password::MIN_LEN,
        };
        Ok::<_, ConsoleError>(no_store(render(StatusCode::UNPROCESSABLE_ENTITY, &page)))
    };
    if !crate::store::admins::plausible_email(&email) {
        return again(format!("{email:?} is not an e-mail address.")).await;
    }
    if let Err(e) = crate::password::check_policy(&password) {
        return again(format!("Password refused: {e}.")).await;
    }
    if form.password_again.as_deref() != Some(password.as_str()) {
        return again("The two passwords differ. Type the same password twice.".to_string()).await;
    }
    let hash = crate::password::hash(password)
        .await
        .map_err(ConsoleError::internal)?;
    let admin = match setup::redeem(state.db(), &token, &email, &hash).await {
        Ok(a) => a,
        Err(RedeemError::Dead) => return Err(dead()),
        Err(RedeemError::Admin(AdminError::Db(e))) => return Err(e.into()),
        Err(RedeemError::Admin(e)) => return again(format!("{e}.")).await,
    };
    tracing::info!(operator = %admin.id, "first operator created with the setup link");
    session::sign_in(&session, &admin).await?;
    Ok(see_other("/"))
}
