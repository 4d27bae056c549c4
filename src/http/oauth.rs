//! The authorization server's machine endpoints: token (RFC 6749 §3.2),
//! revocation (RFC 7009), introspection (RFC 7662), and the metadata
//! documents (RFC 8414, RFC 9728). None of them accepts a cookie as
//! credentials: clients authenticate with their id and secret.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};

use super::AppState;
use crate::oauth::{ErrorCode, OAuthError, SCOPE, token};
use crate::paths::{
    AS_METADATA_PATH, AUTHORIZE_PATH, INTROSPECT_PATH, RESOURCE_METADATA_PATH, REVOKE_PATH,
    SCIM_PREFIX, TOKEN_PATH,
};
use crate::store::Tx;
use crate::store::clients::{self, Client};
use crate::store::grants;
use crate::store::{activity, now};

/// Largest form accepted by these endpoints.
const MAX_FORM_BYTES: usize = 16 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(TOKEN_PATH, post(token_endpoint))
        .route(REVOKE_PATH, post(revoke_endpoint))
        .route(INTROSPECT_PATH, post(introspect_endpoint))
        .route(AS_METADATA_PATH, get(as_metadata))
        .route(RESOURCE_METADATA_PATH, get(resource_metadata))
        .route(
            &format!("{RESOURCE_METADATA_PATH}{}", SCIM_PREFIX),
            get(resource_metadata),
        )
}

/// An OAuth error response: JSON, never cached, with a Basic challenge for
/// client authentication failures.
struct ApiError(OAuthError);

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        ApiError(e)
    }
}

impl From<crate::store::SqlError> for ApiError {
    fn from(e: crate::store::SqlError) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let mut resp = json_no_store(status, &self.0.to_json());
        if self.0.code == ErrorCode::InvalidClient {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"scimgate\""),
            );
        }
        resp
    }
}

fn json_no_store(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// The form body as name/value pairs. Only `application/x-www-form-urlencoded`
/// is accepted (RFC 6749 §3.2).
fn form(headers: &HeaderMap, body: &Bytes) -> Result<Vec<(String, String)>, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    if body.len() > MAX_FORM_BYTES {
        return Err(OAuthError::invalid_request("the request body is too large"));
    }
    Ok(url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// `Authorization: Basic` credentials, each part form-urlencoded per
/// RFC 6749 §2.3.1. `Ok(None)` when there is no Basic header.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || {
        OAuthError::new(
            ErrorCode::InvalidClient,
            "the Authorization header is not valid HTTP Basic",
        )
    };
    let value = value.to_str().map_err(|_| bad())?.trim();
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::new(
            ErrorCode::InvalidClient,
            "client authentication uses HTTP Basic (or client_id and client_secret in the form), not bearer tokens or cookies",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

async fn authenticate(state: &AppState, creds: &token::Credentials) -> Result<Client, OAuthError> {
    clients::authenticate(state.db(), &creds.client_id, &creds.client_secret)
        .await?
        .ok_or_else(OAuthError::invalid_client)
}

/// Credentials for revocation and introspection: Basic or form fields.
async fn client_from(
    state: &AppState,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<Client, OAuthError> {
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let creds = match basic_credentials(headers)? {
        Some((id, secret)) => token::Credentials {
            client_id: id,
            client_secret: secret,
            basic: true,
        },
        None => match (field("client_id"), field("client_secret")) {
            (Some(id), Some(secret)) => token::Credentials {
                client_id: id,
                client_secret: secret,
                basic: false,
            },
            _ => {
                return Err(OAuthError::new(
                    ErrorCode::InvalidClient,
                    "client authentication is required: HTTP Basic or client_id and client_secret",
                ));
            }
        },
    };
    authenticate(state, &creds).await
}

async fn token_endpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = form(&headers, &body)?;
    let (req, creds) = token::parse(&form, basic_credentials(&headers)?)?;
    let client = authenticate(&state, &creds).await?;
    let resp = token::exchange(state.db(), &state.config().oauth, &client, req).await?;
    Ok(json_no_store(
        StatusCode::OK,
        &serde_json::to_value(&resp).unwrap_or(Value::Null),
    ))
}

async fn revoke_endpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = form(&headers, &body)?;
    let client = client_from(&state, &headers, &form).await?;
    let value = form
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    let db = state.db();
    let mut tx = db.begin().await?;
    // Revoking a refresh token ends its whole grant (RFC 7009 §2.1); an
    // access token ends alone. Tokens of other clients are left alone, and
    // the answer is the same 200 either way, so nothing is learnt.
    if let Some((rt, grant)) = grants::refresh_with_grant(db, value).await? {
        if grant.client_id == client.id
            && grants::revoke_grant(&mut tx, &rt.grant_id, "revoked by the client").await?
        {
            log_revocation(
                &mut tx,
                &client,
                &format!("connection {} revoked by the client", grant.id),
            )
            .await?;
        }
    } else if let Some(at) = grants::access_token_by_value(db, value).await?
        && at.client_id.as_deref() == Some(client.id.as_str())
        && at.revoked_at.is_none()
    {
        grants::revoke_access_token(&mut tx, &at.id).await?;
        log_revocation(
            &mut tx,
            &client,
            "an access token was revoked by the client",
        )
        .await?;
    }
    tx.commit().await?;
    Ok(json_no_store(StatusCode::OK, &json!({})))
}

async fn log_revocation(tx: &mut Tx, client: &Client, detail: &str) -> Result<(), OAuthError> {
    let actor = activity::Actor {
        kind: "client",
        id: Some(client.id.clone()),
        label: client.name.clone(),
    };
    activity::record(
        tx,
        &activity::Entry::security(&client.tenant_id, &actor, "oauth.token.revoke")
            .resource("Client", &client.id, &client.name)
            .detail(detail),
    )
    .await?;
    Ok(())
}

fn unix(rfc3339: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp())
}

async fn introspect_endpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = form(&headers, &body)?;
    let client = client_from(&state, &headers, &form).await?;
    let value = form
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    let db = state.db();
    let at = now();
    let inactive = json!({"active": false});
    // A client learns only about tokens of its own tenant.
    let body = if let Some(t) = grants::access_token_by_value(db, value).await? {
        let live =
            t.revoked_at.is_none() && t.expires_at.as_deref().is_none_or(|e| e > at.as_str());
        if live && t.tenant_id == client.tenant_id {
            let mut b = json!({
                "active": true,
                "scope": SCOPE,
                "token_type": "Bearer",
                "iat": unix(&t.created_at),
                "sub": t.tenant_id,
                "aud": state.scim_base(),
                "iss": state.public_url(),
            });
            if let Some(c) = &t.client_id {
                b["client_id"] = json!(c);
            }
            if let Some(e) = t.expires_at.as_deref().and_then(unix) {
                b["exp"] = json!(e);
            }
            b
        } else {
            inactive
        }
    } else if let Some((rt, grant)) = grants::refresh_with_grant(db, value).await? {
        let live = rt.revoked_at.is_none()
            && rt.used_at.is_none()
            && grant.revoked_at.is_none()
            && rt.expires_at.as_str() > at.as_str();
        if live && grant.tenant_id == client.tenant_id {
            json!({
                "active": true,
                "scope": grant.scope,
                "token_type": "refresh_token",
                "client_id": grant.client_id,
                "exp": unix(&rt.expires_at),
                "sub": grant.tenant_id,
                "iss": state.public_url(),
            })
        } else {
            inactive
        }
    } else {
        inactive
    };
    Ok(json_no_store(StatusCode::OK, &body))
}

async fn as_metadata(State(state): State<AppState>) -> Response {
    let base = state.public_url();
    let body = json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}{AUTHORIZE_PATH}"),
        "token_endpoint": format!("{base}{TOKEN_PATH}"),
        "revocation_endpoint": format!("{base}{REVOKE_PATH}"),
        "introspection_endpoint": format!("{base}{INTROSPECT_PATH}"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": [SCOPE],
        "authorization_response_iss_parameter_supported": true,
    });
    json_public(&body)
}

async fn resource_metadata(State(state): State<AppState>) -> Response {
    let body = json!({
        "resource": state.scim_base(),
        "authorization_servers": [state.public_url()],
        "bearer_methods_supported": ["header"],
        "scopes_supported": [SCOPE],
        "resource_name": "scimgate SCIM 2.0 API",
    });
    json_public(&body)
}

fn json_public(body: &Value) -> Response {
    let mut resp = (StatusCode::OK, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        // "my%20id:se%3Acret" → id "my id", secret "se:cret".
        let encoded = base64::engine::general_purpose::STANDARD.encode("my%20id:se%3Acret");
        let got = basic_credentials(&headers(&format!("Basic {encoded}"))).unwrap();
        assert_eq!(got, Some(("my id".to_string(), "se:cret".to_string())));
        assert!(basic_credentials(&HeaderMap::new()).unwrap().is_none());
        assert_eq!(
            basic_credentials(&headers("Bearer abc")).unwrap_err().code,
            ErrorCode::InvalidClient
        );
        assert!(basic_credentials(&headers("Basic !!!")).is_err());
    }
}
