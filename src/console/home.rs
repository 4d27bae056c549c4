//! The signed-in landing page: the overview for a tenant's admins, the
//! tenant list for operators.

use axum::extract::State;
use axum::response::Response;

use super::ConsoleError;
use crate::console::session::CurrentAdmin;
use crate::http::AppState;

/// `GET /`
pub async fn home(
    State(state): State<AppState>,
    current: CurrentAdmin,
) -> Result<Response, ConsoleError> {
    if current.admin.tenant_id.is_none() {
        let CurrentAdmin { admin, session } = current;
        return super::manage::operator::home(&state, super::manage::Operator { admin, session })
            .await;
    }
    super::overview::show(state, current).await
}
