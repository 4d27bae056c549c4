//! The signed-in landing page.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{ConsoleError, render};
use crate::http::AppState;
use crate::http::session::{CurrentAdmin, csrf_token};
use crate::store::tenants;

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub email: String,
    /// "tenant Acme Corp (acme)" or "operator".
    pub scope: String,
    pub csrf: String,
}

/// `GET /`
pub async fn home(
    State(state): State<AppState>,
    current: CurrentAdmin,
) -> Result<Response, ConsoleError> {
    let scope = match &current.admin.tenant_id {
        Some(id) => match tenants::by_id(state.db(), id).await? {
            Some(t) => format!("tenant {} ({})", t.name, t.slug),
            None => format!("tenant {id}"),
        },
        None => "operator, across all tenants".to_string(),
    };
    let page = HomePage {
        email: current.admin.email.clone(),
        scope,
        csrf: csrf_token(&current.session).await?,
    };
    Ok(render(StatusCode::OK, &page))
}
