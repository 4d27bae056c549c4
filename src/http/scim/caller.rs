//! Who is calling: the bearer token checked, the tenant's rate limit
//! applied, and the request context built; 401 with the RFC 6750
//! challenge when refused.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim::ScimError;

use super::response::{ApiError, scim_json};
use crate::http::AppState;
use crate::http::audit::CallerSlot;
use crate::paths::SCIM_PREFIX;
use crate::provision::Ctx;
use crate::store::activity::Actor;
use crate::store::tokens::{self, Authenticated};

/// The authenticated caller of a SCIM request.
pub struct ScimCaller(pub Ctx);

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let request = ScimRequest::from_request_parts(parts, state).await?;
        Ok(ScimCaller(request.authenticate(state).await?))
    }
}

/// A SCIM request before its bearer token is checked: what the check needs
/// and what the request context is built from. Most handlers take
/// [`ScimCaller`]; the Users listing checks the token in the same database
/// statement as its lookup when it can (see [`provision::list::unique_user`]).
pub struct ScimRequest {
    pub(super) presented: String,
    request_id: Option<String>,
    method: String,
    path: Option<String>,
    slot: Option<CallerSlot>,
}

impl FromRequestParts<AppState> for ScimRequest {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(presented) = bearer(&parts.headers) else {
            return Err(unauthorized(
                state,
                "No bearer token: send the header \"Authorization: Bearer <token>\" with a token issued by scimgate",
                false,
            ));
        };
        Ok(ScimRequest {
            presented: presented.to_string(),
            request_id: parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            method: parts.method.to_string(),
            path: parts.uri.path_and_query().map(|pq| pq.as_str().to_string()),
            slot: parts.extensions.get::<CallerSlot>().cloned(),
        })
    }
}

impl ScimRequest {
    /// Checks the token on its own.
    pub(super) async fn authenticate(self, state: &AppState) -> Result<Ctx, Response> {
        let auth = tokens::authenticate(state.db(), &self.presented)
            .await
            .map_err(|e| ApiError(e.into()).into_response())?;
        self.admit(state, auth)
    }

    /// The context of a caller whose token was checked (`None`: refused).
    // The error is the 401 response itself, built once per refused request.
    #[allow(clippy::result_large_err)]
    pub(super) fn admit(
        self,
        state: &AppState,
        auth: Option<Authenticated>,
    ) -> Result<Ctx, Response> {
        let Some(auth) = auth else {
            // Counted by why it was refused, off the request's path.
            let (db, metrics, presented) =
                (state.db().clone(), state.metrics().clone(), self.presented);
            tokio::spawn(async move {
                metrics.auth_failure(tokens::refusal_kind(&db, &presented).await);
            });
            return Err(unauthorized(
                state,
                "The bearer token is not valid: it is unknown, revoked or expired. Ask the tenant's admin for a new token.",
                true,
            ));
        };
        if state.should_touch(&auth.token_id) {
            let db = state.db().clone();
            let id = auth.token_id.clone();
            tokio::spawn(async move {
                if let Err(e) = tokens::touch(&db, &id, &crate::store::now()).await {
                    tracing::warn!(error = %e, "could not record token use");
                }
            });
        }
        if let Err(wait) = state.limiters().tenant(&auth.tenant_id) {
            state.metrics().rate_limited("tenant");
            let mut resp = scim_json(
                StatusCode::TOO_MANY_REQUESTS,
                &ScimError::new(
                    429,
                    None,
                    "This tenant is over its request rate: wait for the Retry-After seconds and send the request again.",
                )
                .to_json(),
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, crate::http::limit::retry_after(wait));
            return Err(resp);
        }
        let actor = Actor::token(&auth.token_id, &auth.token_name);
        if let Some(slot) = &self.slot {
            slot.set(&auth.tenant_id, &actor);
        }
        Ok(Ctx {
            db: state.db().clone(),
            tenant_id: auth.tenant_id,
            actor,
            base_url: state.scim_base(),
            request_id: self.request_id,
            method: Some(self.method),
            path: self.path,
        })
    }
}

/// 401 with a SCIM error body and an RFC 6750 challenge that names the
/// protected resource's metadata (RFC 9728 §5.1), so clients can discover
/// the authorization server.
fn unauthorized(state: &AppState, detail: &str, invalid_token: bool) -> Response {
    if !invalid_token {
        state.metrics().auth_failure("no_token");
    }
    let mut resp = scim_json(
        StatusCode::UNAUTHORIZED,
        &ScimError::unauthorized(detail).to_json(),
    );
    let metadata = format!(
        "{}{}{SCIM_PREFIX}",
        state.public_url(),
        crate::paths::RESOURCE_METADATA_PATH
    );
    let challenge = if invalid_token {
        format!(
            "Bearer realm=\"scimgate\", error=\"invalid_token\", resource_metadata=\"{metadata}\""
        )
    } else {
        format!("Bearer realm=\"scimgate\", resource_metadata=\"{metadata}\"")
    };
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// The credential of `Authorization: Bearer …` (scheme case-insensitive).
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}
