//! The routes of the tenant's read pages: overview (served at `/` by
//! `home`), users, groups and activity. Merged inside the console's session
//! layer by `crate::console::router`.

use axum::Router;
use axum::routing::get;

use super::{activity, groups, users};
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(users::list))
        .route("/users.csv", get(users::export))
        .route("/users/{id}", get(users::show))
        .route("/groups", get(groups::list))
        .route("/groups/{id}", get(groups::show))
        .route("/activity", get(activity::list))
        .route("/activity/{id}", get(activity::show))
}
