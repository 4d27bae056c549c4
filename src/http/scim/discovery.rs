//! The discovery endpoints (RFC 7644 §4): ServiceProviderConfig,
//! ResourceTypes and Schemas.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use scim::{ResourceKind, ScimError, schema};
use serde_json::{Value, json};

use super::caller::ScimCaller;
use super::response::{ApiResult, scim_json};
use crate::http::AppState;
use crate::paths::SCIM_PREFIX;

pub(super) async fn service_provider_config(
    State(state): State<AppState>,
    _caller: ScimCaller,
) -> ApiResult {
    let cfg = state.config();
    Ok(scim_json(
        StatusCode::OK,
        &schema::service_provider_config_json(
            &state.scim_base(),
            cfg.max_page_size as usize,
            cfg.max_payload_bytes,
        ),
    ))
}

fn list_of(items: Vec<Value>) -> Value {
    json!({
        "schemas": [schema::LIST_RESPONSE],
        "totalResults": items.len(),
        "startIndex": 1,
        "itemsPerPage": items.len(),
        "Resources": items,
    })
}

pub(super) async fn resource_types(
    State(state): State<AppState>,
    _caller: ScimCaller,
) -> ApiResult {
    let base = state.scim_base();
    let items = [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .map(|k| schema::resource_type_json(k, &base))
        .collect();
    Ok(scim_json(StatusCode::OK, &list_of(items)))
}

pub(super) async fn resource_type(
    State(state): State<AppState>,
    _caller: ScimCaller,
    Path(id): Path<String>,
) -> ApiResult {
    let kind = ResourceKind::from_name(&id).ok_or_else(|| {
        ScimError::not_found(format!(
            "there is no resource type {id:?}; the types are User and Group"
        ))
    })?;
    Ok(scim_json(
        StatusCode::OK,
        &schema::resource_type_json(kind, &state.scim_base()),
    ))
}

pub(super) async fn schemas(State(state): State<AppState>, _caller: ScimCaller) -> ApiResult {
    let base = state.scim_base();
    let items = schema::all_schemas()
        .iter()
        .map(|s| schema::schema_json(s, &base))
        .collect();
    Ok(scim_json(StatusCode::OK, &list_of(items)))
}

pub(super) async fn schema_by_id(
    State(state): State<AppState>,
    _caller: ScimCaller,
    Path(id): Path<String>,
) -> ApiResult {
    let s = schema::all_schemas()
        .into_iter()
        .find(|s| s.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| {
            ScimError::not_found(format!(
                "there is no schema {id:?}; see {SCIM_PREFIX}/Schemas"
            ))
        })?;
    Ok(scim_json(
        StatusCode::OK,
        &schema::schema_json(s, &state.scim_base()),
    ))
}
