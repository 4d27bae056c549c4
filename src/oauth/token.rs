//! The token endpoint's grants (RFC 6749 §4.1.3, §4.4, §6): authorization
//! code exchange, refresh with rotation and reuse detection, and client
//! credentials. Every issue, refresh, reuse and revocation is written to the
//! tenant's activity log in the transaction that makes it.

use serde::Serialize;

use super::{ErrorCode, OAuthError, SCOPE, Settings, pkce};
use crate::store::Tx;
use crate::store::activity::{self, Actor, Entry};
use crate::store::clients::Client;
use crate::store::grants::{self, Grant};
use crate::store::{Db, format_time, now};

/// A token request, by `grant_type`.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenRequest {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
    },
    ClientCredentials,
}

/// Client credentials as presented.
#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
    /// Sent with HTTP Basic (then a failure is answered with a Basic challenge).
    pub basic: bool,
}

/// The successful answer (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: &'static str,
}

/// Parses the form of a token request. Parameters may not repeat
/// (RFC 6749 §3.2); credentials come from `basic` (the decoded Authorization
/// header) or from the form, never both.
pub fn parse(
    form: &[(String, String)],
    basic: Option<(String, String)>,
) -> Result<(TokenRequest, Credentials), OAuthError> {
    let get = |name: &str| -> Result<Option<String>, OAuthError> {
        let mut it = form.iter().filter(|(k, _)| k == name);
        let first = it.next().map(|(_, v)| v.clone());
        if it.next().is_some() {
            return Err(OAuthError::invalid_request(format!(
                "{name} was sent more than once; send each parameter once"
            )));
        }
        Ok(first.filter(|v| !v.is_empty()))
    };
    let form_id = get("client_id")?;
    let form_secret = get("client_secret")?;
    let creds = match (basic, form_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "client credentials were sent both in the Authorization header and in the form; use one method",
            ));
        }
        (Some((id, secret)), None) => {
            if form_id.as_deref().is_some_and(|f| f != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the form differs from the one in the Authorization header",
                ));
            }
            Credentials {
                client_id: id,
                client_secret: secret,
                basic: true,
            }
        }
        (None, Some(secret)) => Credentials {
            client_id: form_id
                .ok_or_else(|| OAuthError::invalid_request("client_id is missing"))?,
            client_secret: secret,
            basic: false,
        },
        (None, None) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidClient,
                "client authentication is required: send the client id and secret with HTTP Basic or as client_id and client_secret",
            ));
        }
    };
    let grant_type =
        get("grant_type")?.ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
    let req = match grant_type.as_str() {
        "authorization_code" => TokenRequest::AuthorizationCode {
            code: get("code")?.ok_or_else(|| OAuthError::invalid_request("code is missing"))?,
            redirect_uri: get("redirect_uri")?,
            code_verifier: get("code_verifier")?,
        },
        "refresh_token" => TokenRequest::RefreshToken {
            refresh_token: get("refresh_token")?
                .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?,
        },
        "client_credentials" => TokenRequest::ClientCredentials,
        other => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!(
                    "grant_type {other:?} is not supported; use authorization_code, refresh_token or client_credentials"
                ),
            ));
        }
    };
    Ok((req, creds))
}

fn client_actor(client: &Client) -> Actor {
    Actor {
        kind: "client",
        id: Some(client.id.clone()),
        label: client.name.clone(),
    }
}

async fn log(
    tx: &mut Tx,
    client: &Client,
    operation: &str,
    status: u16,
    detail: String,
) -> Result<(), OAuthError> {
    activity::record(
        tx,
        &Entry::new(&client.tenant_id, &client_actor(client), operation, status)
            .resource("Client", &client.id, &client.name)
            .detail(detail),
    )
    .await?;
    Ok(())
}

/// Runs a token request for an authenticated client.
pub async fn exchange(
    db: &Db,
    settings: &Settings,
    client: &Client,
    req: TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    match req {
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => authorization_code(db, settings, client, &code, redirect_uri, code_verifier).await,
        TokenRequest::RefreshToken { refresh_token } => {
            refresh(db, settings, client, &refresh_token).await
        }
        TokenRequest::ClientCredentials => client_credentials(db, settings, client).await,
    }
}

async fn issue_pair(
    tx: &mut Tx,
    settings: &Settings,
    client: &Client,
    grant: &Grant,
) -> Result<TokenResponse, OAuthError> {
    let access =
        grants::issue_access_token(tx, grant, &client.name, settings.access_token_secs).await?;
    let (_, refresh) =
        grants::issue_refresh_token(tx, &grant.id, settings.refresh_token_secs).await?;
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: settings.access_token_secs,
        refresh_token: Some(refresh),
        scope: SCOPE,
    })
}

async fn authorization_code(
    db: &Db,
    settings: &Settings,
    client: &Client,
    value: &str,
    redirect_uri: Option<String>,
    verifier: Option<String>,
) -> Result<TokenResponse, OAuthError> {
    let mut tx = db.begin().await?;
    let Some(code) = grants::take_code(&mut tx, value).await? else {
        return Err(OAuthError::invalid_grant(
            "the authorization code is unknown; codes are single-use and short-lived, so authorize again",
        ));
    };
    if code.used_at.is_some() {
        // RFC 6749 §4.1.2: a second use revokes what the first issued — but
        // only when the client it was issued to presents it again: another
        // client holding a leaked code must not be able to cut the
        // connection.
        if code.client_id != client.id {
            tx.commit().await?;
            return Err(OAuthError::invalid_grant(
                "the authorization code was issued to another client",
            ));
        }
        if let Some(gid) = &code.grant_id {
            grants::revoke_grant(&mut tx, gid, "authorization code used twice").await?;
        }
        log(
            &mut tx,
            client,
            "oauth.code.reuse",
            400,
            "an authorization code was presented a second time; the tokens issued for it were revoked".into(),
        )
        .await?;
        tx.commit().await?;
        return Err(OAuthError::invalid_grant(
            "the authorization code was already used; the tokens issued for it have been revoked. Authorize again",
        ));
    }
    // The code is burnt from here on, whatever else is wrong.
    let failure = if code.client_id != client.id {
        Some("the authorization code was issued to another client")
    } else if code.expires_at.as_str() <= now().as_str() {
        Some("the authorization code has expired; authorize again")
    } else if redirect_uri.is_none() && code.redirect_uri_sent {
        // RFC 6749 §4.1.3: required when the authorization request had one.
        Some(
            "redirect_uri is required: the authorization request named one, so the token request must repeat it",
        )
    } else if redirect_uri
        .as_deref()
        .is_some_and(|r| r != code.redirect_uri)
    {
        Some("redirect_uri differs from the one the code was issued for")
    } else {
        match (&code.code_challenge, &verifier) {
            (Some(challenge), Some(v)) if pkce::verify(v, challenge) => None,
            (Some(_), Some(_)) => Some("code_verifier does not match the code_challenge"),
            (Some(_), None) => {
                Some("code_verifier is required: the authorization request sent a code_challenge")
            }
            (None, Some(_)) => {
                Some("code_verifier was sent but the authorization request had no code_challenge")
            }
            (None, None) => None,
        }
    };
    if let Some(reason) = failure {
        tx.commit().await?;
        return Err(OAuthError::invalid_grant(reason));
    }
    let grant = grants::create_grant(
        &mut tx,
        &code.tenant_id,
        &client.id,
        Some(&code.admin_id),
        grants::KIND_AUTHORIZATION_CODE,
        &code.scope,
    )
    .await?;
    grants::set_code_grant(&mut tx, value, &grant.id).await?;
    let resp = issue_pair(&mut tx, settings, client, &grant).await?;
    log(
        &mut tx,
        client,
        "oauth.token.issue",
        200,
        format!(
            "authorization code exchanged; connection {} opened",
            grant.id
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(resp)
}

async fn refresh(
    db: &Db,
    settings: &Settings,
    client: &Client,
    value: &str,
) -> Result<TokenResponse, OAuthError> {
    let unknown = || {
        OAuthError::invalid_grant(
            "the refresh token is unknown, expired or revoked; authorize again",
        )
    };
    let mut tx = db.begin().await?;
    let Some(rt) = grants::refresh_by_value(&mut tx, value).await? else {
        return Err(unknown());
    };
    let Some(grant) = grants::grant_in_tx(&mut tx, &rt.grant_id).await? else {
        return Err(unknown());
    };
    if grant.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if grant.revoked_at.is_some()
        || rt.revoked_at.is_some()
        || rt.expires_at.as_str() <= now().as_str()
    {
        return Err(unknown());
    }
    if rt.used_at.is_none() {
        let (new_id, new_value) =
            grants::issue_refresh_token(&mut tx, &grant.id, settings.refresh_token_secs).await?;
        if grants::mark_refresh_used(&mut tx, &rt.id, &new_id).await? {
            let access = grants::issue_access_token(
                &mut tx,
                &grant,
                &client.name,
                settings.access_token_secs,
            )
            .await?;
            grants::touch_grant(&mut tx, &grant.id).await?;
            log(
                &mut tx,
                client,
                "oauth.token.refresh",
                200,
                format!("connection {} refreshed", grant.id),
            )
            .await?;
            tx.commit().await?;
            return Ok(TokenResponse {
                access_token: access,
                token_type: "Bearer",
                expires_in: settings.access_token_secs,
                refresh_token: Some(new_value),
                scope: SCOPE,
            });
        }
        // Another request used it between our read and our write: reuse.
    }
    let grace_cutoff =
        format_time(chrono::Utc::now() - chrono::Duration::seconds(settings.refresh_grace_secs));
    let used_at = rt.used_at.clone().unwrap_or_else(now);
    let successor = match &rt.replaced_by {
        Some(id) => grants::refresh_by_id(&mut tx, id).await?,
        None => None,
    };
    let retry_within_grace = used_at > grace_cutoff
        && successor
            .as_ref()
            .is_some_and(|s| s.used_at.is_none() && s.revoked_at.is_none());
    if retry_within_grace {
        // The client never saw the successor (its response was lost): replace
        // it with a fresh pair rather than cut the connection.
        if let Some(s) = &successor {
            grants::revoke_refresh(&mut tx, &s.id).await?;
        }
        let (new_id, new_value) =
            grants::issue_refresh_token(&mut tx, &grant.id, settings.refresh_token_secs).await?;
        grants::repoint_refresh(&mut tx, &rt.id, &new_id).await?;
        let access =
            grants::issue_access_token(&mut tx, &grant, &client.name, settings.access_token_secs)
                .await?;
        grants::touch_grant(&mut tx, &grant.id).await?;
        log(
            &mut tx,
            client,
            "oauth.token.refresh",
            200,
            format!(
                "connection {} refreshed again with the previous refresh token within the {} s grace window (a retried request)",
                grant.id, settings.refresh_grace_secs
            ),
        )
        .await?;
        tx.commit().await?;
        return Ok(TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: settings.access_token_secs,
            refresh_token: Some(new_value),
            scope: SCOPE,
        });
    }
    grants::revoke_grant(&mut tx, &grant.id, "refresh token reuse detected").await?;
    log(
        &mut tx,
        client,
        "oauth.refresh.reuse",
        400,
        format!(
            "a refresh token of connection {} was presented after it had been replaced; the connection was revoked",
            grant.id
        ),
    )
    .await?;
    tx.commit().await?;
    Err(OAuthError::invalid_grant(
        "the refresh token was already used; for safety the connection has been revoked. Authorize again",
    ))
}

async fn client_credentials(
    db: &Db,
    settings: &Settings,
    client: &Client,
) -> Result<TokenResponse, OAuthError> {
    let mut tx = db.begin().await?;
    let grant = match grants::client_credentials_grant(&mut tx, &client.id).await? {
        Some(g) => g,
        None => {
            grants::create_grant(
                &mut tx,
                &client.tenant_id,
                &client.id,
                None,
                grants::KIND_CLIENT_CREDENTIALS,
                SCOPE,
            )
            .await?
        }
    };
    let access =
        grants::issue_access_token(&mut tx, &grant, &client.name, settings.access_token_secs)
            .await?;
    grants::touch_grant(&mut tx, &grant.id).await?;
    log(
        &mut tx,
        client,
        "oauth.token.issue",
        200,
        "client credentials exchanged for an access token".into(),
    )
    .await?;
    tx.commit().await?;
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: settings.access_token_secs,
        refresh_token: None,
        scope: SCOPE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_each_grant_with_either_client_authentication() {
        let (req, creds) = parse(
            &form(&[
                ("grant_type", "authorization_code"),
                ("code", "c"),
                ("redirect_uri", "https://x/cb"),
            ]),
            Some(("id".into(), "secret".into())),
        )
        .unwrap();
        assert!(creds.basic);
        assert_eq!(
            req,
            TokenRequest::AuthorizationCode {
                code: "c".into(),
                redirect_uri: Some("https://x/cb".into()),
                code_verifier: None
            }
        );
        let (req, creds) = parse(
            &form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "r"),
                ("client_id", "id"),
                ("client_secret", "s"),
            ]),
            None,
        )
        .unwrap();
        assert!(!creds.basic);
        assert_eq!(creds.client_id, "id");
        assert_eq!(
            req,
            TokenRequest::RefreshToken {
                refresh_token: "r".into()
            }
        );
    }

    #[test]
    fn rejects_ambiguous_and_incomplete_requests() {
        let both = parse(
            &form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "id"),
                ("client_secret", "s"),
            ]),
            Some(("id".into(), "s".into())),
        )
        .unwrap_err();
        assert_eq!(both.code, ErrorCode::InvalidRequest);
        let repeated = parse(
            &form(&[
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
            ]),
            Some(("id".into(), "s".into())),
        )
        .unwrap_err();
        assert_eq!(repeated.code, ErrorCode::InvalidRequest);
        let none = parse(&form(&[("grant_type", "client_credentials")]), None).unwrap_err();
        assert_eq!(none.code, ErrorCode::InvalidClient);
        let unknown = parse(
            &form(&[("grant_type", "password")]),
            Some(("i".into(), "s".into())),
        )
        .unwrap_err();
        assert_eq!(unknown.code, ErrorCode::UnsupportedGrantType);
        let no_code = parse(
            &form(&[("grant_type", "authorization_code")]),
            Some(("i".into(), "s".into())),
        )
        .unwrap_err();
        assert_eq!(no_code.code, ErrorCode::InvalidRequest);
    }
}
