//! The handlers of `/Users` and `/Groups`: list, search, read (a large
//! group streamed), create, replace, patch and delete.

use axum::body::Body;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim::{ResourceKind, ScimError};
use serde_json::Value;

use super::CONTENT_TYPE;
use super::body::ScimBody;
use super::caller::{ScimCaller, ScimRequest};
use super::params::{kind_of, names_member_sub_attributes, read_params, search_params};
use super::response::{
    ApiError, ApiResult, bodiless, if_match, if_none_match_hits, project, resource_response,
    scim_text, with_resource_headers,
};
use crate::http::AppState;
use crate::http::audit::CallerSlot;
use crate::provision::list::{ListParams, Page};
use crate::provision::{self, Ctx};
use crate::store::lookup;

async fn run_list(
    state: &AppState,
    ctx: &Ctx,
    kind: ResourceKind,
    params: &ListParams,
) -> Result<Page, ScimError> {
    let cfg = state.config();
    provision::list::list(ctx, kind, params, cfg.default_page_size, cfg.max_page_size).await
}

pub(super) async fn list_resources(
    State(state): State<AppState>,
    request: ScimRequest,
    Path(resource): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let kind = kind_of(&resource);
    let params = read_params(query.as_deref());
    let unique = match (&kind, &params) {
        (Ok(kind), Ok(params)) => provision::list::unique_user(*kind, params),
        _ => None,
    };
    let (unique, params) = match (unique, params) {
        (Some(unique), Ok(params)) => (unique, params),
        (_, params) => {
            // Every other listing (and every malformed one, whose error
            // comes after the token check as for any request).
            let ctx = request.authenticate(&state).await?;
            let kind = kind.map_err(IntoResponse::into_response)?;
            let params = params.map_err(|e| ApiError(e).into_response())?;
            let page = run_list(&state, &ctx, kind, &params)
                .await
                .map_err(|e| ApiError(e).into_response())?;
            return Ok(scim_text(StatusCode::OK, page.to_text()));
        }
    };
    let found = lookup::token_and_user(
        state.db(),
        &request.presented,
        unique.key(),
        unique.with_groups,
    )
    .await
    .map_err(|e| ApiError(e.into()).into_response())?;
    let ctx = request.admit(&state, found.auth)?;
    let cfg = state.config();
    let text = provision::list::unique_user_text(
        &ctx.base_url,
        &unique,
        &params,
        cfg.default_page_size,
        cfg.max_page_size,
        found.user,
    );
    Ok(scim_text(StatusCode::OK, text))
}

pub(super) async fn search_resources(
    State(state): State<AppState>,
    ScimCaller(ctx): ScimCaller,
    Path(resource): Path<String>,
    ScimBody(body): ScimBody,
) -> ApiResult {
    let kind = kind_of(&resource)?;
    let params = search_params(&body)?;
    let page = run_list(&state, &ctx, kind, &params).await?;
    Ok(scim_text(StatusCode::OK, page.to_text()))
}

/// `POST /.search` at the root: users then groups, paged together.
pub(super) async fn search_root(
    State(state): State<AppState>,
    ScimCaller(ctx): ScimCaller,
    ScimBody(body): ScimBody,
) -> ApiResult {
    let params = search_params(&body)?;
    let cfg = state.config();
    let start = params.start_index.max(1);
    let count = params
        .count
        .unwrap_or(cfg.default_page_size)
        .clamp(0, cfg.max_page_size);
    // Fetch each type's matches up to the end of the requested page.
    let mut all_params = params.clone();
    all_params.start_index = 1;
    // Saturating: startIndex and count are the client's numbers, up to i64::MAX.
    all_params.count = Some(
        (start - 1)
            .saturating_add(count)
            .min(cfg.max_page_size.saturating_mul(10)),
    );
    let users =
        provision::list::list(&ctx, ResourceKind::User, &all_params, count, i64::MAX).await?;
    let groups =
        provision::list::list(&ctx, ResourceKind::Group, &all_params, count, i64::MAX).await?;
    let total = users.total + groups.total;
    let resources: Vec<Value> = users
        .resources
        .into_iter()
        .chain(groups.resources)
        .skip((start - 1) as usize)
        .take(count as usize)
        .collect();
    let page = Page {
        total,
        start_index: start,
        resources,
        quirks: Default::default(),
    };
    Ok(scim_text(StatusCode::OK, page.to_text()))
}

pub(super) async fn get_resource(
    ScimCaller(ctx): ScimCaller,
    Path((resource, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let kind = kind_of(&resource)?;
    let params = read_params(query.as_deref())?;
    let related = match kind {
        ResourceKind::User => {
            crate::provision::represent::wants("groups", &params.attributes, &params.excluded)
        }
        ResourceKind::Group => {
            crate::provision::represent::wants("members", &params.attributes, &params.excluded)
        }
    };
    if kind == ResourceKind::Group
        && related
        && !names_member_sub_attributes(&params)
        && provision::member_count(&ctx, &id).await? > provision::STREAM_MEMBERS_AFTER
    {
        return stream_group(ctx, id, &params, &headers).await;
    }
    let r = provision::get(&ctx, kind, &id, related).await?;
    if if_none_match_hits(&headers, &r) {
        return Ok(bodiless(StatusCode::NOT_MODIFIED, &r));
    }
    Ok(resource_response(StatusCode::OK, kind, &r, &params))
}

/// A large group, written as it is read: the representation without
/// `members`, then its members a page at a time. Memory holds one page,
/// whatever the group's size.
async fn stream_group(ctx: Ctx, id: String, params: &ListParams, headers: &HeaderMap) -> ApiResult {
    let kind = ResourceKind::Group;
    let r = provision::get(&ctx, kind, &id, false).await?;
    if if_none_match_hits(headers, &r) {
        return Ok(bodiless(StatusCode::NOT_MODIFIED, &r));
    }
    let mut head = project(kind, &r, params).to_string();
    // `{…}` becomes `{…,"members":[`; a projection always keeps `id`.
    head.pop();
    head.push_str(",\"members\":[");
    let pages = provision::MemberPages::new(ctx, id);
    let body =
        futures_util::stream::unfold((Some(head), Some(pages)), |(head, pages)| async move {
            if let Some(h) = head {
                return Some((Ok(axum::body::Bytes::from(h)), (None, pages)));
            }
            let mut pages = pages?;
            match pages.next_page().await {
                Ok(Some(text)) => Some((Ok(axum::body::Bytes::from(text)), (None, Some(pages)))),
                Ok(None) => Some((Ok(axum::body::Bytes::from_static(b"]}")), (None, None))),
                Err(e) => {
                    // The status is sent: all that is left is to cut the
                    // answer short, which the client sees as a broken body.
                    tracing::error!(error = %e.detail, "streaming a group's members failed");
                    Some((
                        Err(std::io::Error::other("reading members failed")),
                        (None, None),
                    ))
                }
            }
        });
    let mut resp = Response::new(Body::from_stream(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(with_resource_headers(resp, &r))
}

pub(super) async fn create_resource(
    ScimCaller(ctx): ScimCaller,
    Extension(slot): Extension<CallerSlot>,
    Path(resource): Path<String>,
    RawQuery(query): RawQuery,
    ScimBody(body): ScimBody,
) -> ApiResult {
    let kind = kind_of(&resource)?;
    let params = read_params(query.as_deref())?;
    slot.recorded_by_provision();
    let r = provision::create(&ctx, kind, body).await?;
    Ok(resource_response(StatusCode::CREATED, kind, &r, &params))
}

pub(super) async fn replace_resource(
    ScimCaller(ctx): ScimCaller,
    Extension(slot): Extension<CallerSlot>,
    Path((resource, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> ApiResult {
    let kind = kind_of(&resource)?;
    let params = read_params(query.as_deref())?;
    slot.recorded_by_provision();
    let r = provision::replace(&ctx, kind, &id, body, if_match(&headers).as_deref()).await?;
    Ok(resource_response(StatusCode::OK, kind, &r, &params))
}

pub(super) async fn patch_resource(
    ScimCaller(ctx): ScimCaller,
    Extension(slot): Extension<CallerSlot>,
    Path((resource, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> ApiResult {
    let kind = kind_of(&resource)?;
    let params = read_params(query.as_deref())?;
    slot.recorded_by_provision();
    let r = provision::patch(&ctx, kind, &id, body, if_match(&headers).as_deref()).await?;
    // Groups answer 204 as Entra expects (their member list can be huge);
    // a client that asks for attributes gets them.
    if kind == ResourceKind::Group && params.attributes.is_empty() {
        return Ok(bodiless(StatusCode::NO_CONTENT, &r));
    }
    let r = if kind == ResourceKind::Group {
        provision::get(
            &ctx,
            kind,
            &id,
            crate::provision::represent::wants("members", &params.attributes, &params.excluded),
        )
        .await?
    } else {
        r
    };
    Ok(resource_response(StatusCode::OK, kind, &r, &params))
}

pub(super) async fn delete_resource(
    ScimCaller(ctx): ScimCaller,
    Extension(slot): Extension<CallerSlot>,
    Path((resource, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let kind = kind_of(&resource)?;
    slot.recorded_by_provision();
    provision::delete(&ctx, kind, &id, if_match(&headers).as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
