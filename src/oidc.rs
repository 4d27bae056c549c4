//! scimgate as an OpenID Connect relying party, for single sign-on to the
//! console: discovery from the issuer, the authorization code flow with PKCE,
//! state and nonce, and verification of what the provider answers (the ID
//! token's signature, issuer, audience, expiry and nonce; the access token
//! hash; the e-mail and whether the provider verified it).
//!
//! This module speaks to providers only; which admin an identity is, and the
//! pages, are `crate::console::sso`'s.

use std::sync::LazyLock;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, LoginHint, Nonce, OAuth2TokenResponse as _,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _,
};
use serde::{Deserialize, Serialize};

/// Where providers send the browser back to, under the public URL.
pub const CALLBACK_PATH: &str = "/signin/oidc/callback";

/// How long a started sign-in may take at the provider.
pub const FLOW_SECS: i64 = 10 * 60;

/// A provider's coordinates: from the operator's configuration or a tenant's
/// settings. The secret is redacted from `Debug`.
#[derive(Clone)]
pub struct Provider {
    /// The issuer URL; discovery reads `ISSUER/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The HTTP client for providers: no redirects followed (a redirect from a
/// discovery or token endpoint is refused rather than chased), and bounded
/// time.
static HTTP: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
});

/// Why talking to a provider failed. The text is for the person signing in
/// or configuring: it says which step failed, not internal details.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error(
        "the provider's discovery document at {0}/.well-known/openid-configuration could not be read or is not valid: {1}"
    )]
    Discovery(String, String),
    #[error("the provider did not accept the sign-in code: {0}")]
    Exchange(String),
    #[error("the provider's ID token could not be verified: {0}")]
    IdToken(String),
    #[error("the provider's user information could not be read: {0}")]
    UserInfo(String),
    #[error("{0}")]
    Config(String),
}

/// Checks an issuer URL: absolute `https://` (plain `http://` only on this
/// machine, for local providers), no query or fragment. Kept as typed
/// otherwise, because the ID token's `iss` must equal it exactly.
pub fn check_issuer(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let url = url::Url::parse(raw).map_err(|e| {
        format!("{raw:?} is not a URL ({e}); give the issuer, like https://login.example.com")
    })?;
    let loopback = matches!(
        url.host(),
        Some(url::Host::Domain("localhost"))
            | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
            | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
    );
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(format!(
                "the issuer must be an https:// URL (plain http only for a provider on this machine), got {raw:?}"
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "the issuer must not have a query or fragment: {raw:?}"
        ));
    }
    Ok(raw.to_string())
}

async fn client(provider: &Provider, redirect_uri: &str) -> Result<Client, OidcError> {
    let issuer = IssuerUrl::new(provider.issuer.clone())
        .map_err(|e| OidcError::Config(format!("invalid issuer URL: {e}")))?;
    let metadata = CoreProviderMetadata::discover_async(issuer, &*HTTP)
        .await
        .map_err(|e| OidcError::Discovery(provider.issuer.clone(), error_chain(&e)))?;
    let redirect = RedirectUrl::new(redirect_uri.to_string())
        .map_err(|e| OidcError::Config(format!("invalid redirect URI: {e}")))?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(provider.client_secret.clone())),
    )
    .set_redirect_uri(redirect))
}

/// Reads the provider's discovery document (and keys): a check that the
/// settings point at a working provider.
pub async fn discover(provider: &Provider, redirect_uri: &str) -> Result<(), OidcError> {
    client(provider, redirect_uri).await.map(|_| ())
}

/// A sign-in under way, kept in the browser's server-side session between
/// the redirect to the provider and the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flow {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Unix seconds.
    pub started_at: i64,
}

/// The provider's authorization URL for a new sign-in, and the flow to keep.
pub async fn start(
    provider: &Provider,
    redirect_uri: &str,
    login_hint: Option<&str>,
) -> Result<(String, Flow), OidcError> {
    let client = client(provider, redirect_uri).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".to_string()))
        .set_pkce_challenge(challenge);
    if let Some(hint) = login_hint.filter(|h| !h.is_empty()) {
        request = request.set_login_hint(LoginHint::new(hint.to_string()));
    }
    let (url, state, nonce) = request.url();
    Ok((
        url.to_string(),
        Flow {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            started_at: time::OffsetDateTime::now_utc().unix_timestamp(),
        },
    ))
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct Identity {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
}

/// Exchanges the code (with the PKCE verifier), verifies the ID token
/// (signature, `iss`, `aud`, `exp`, nonce, access token hash), and reads the
/// e-mail from it — or from the userinfo endpoint when the ID token does not
/// carry both `email` and `email_verified`.
pub async fn finish(
    provider: &Provider,
    redirect_uri: &str,
    flow: &Flow,
    code: &str,
) -> Result<Identity, OidcError> {
    let client = client(provider, redirect_uri).await?;
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| OidcError::Config(format!("the provider has no token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier.clone()))
        .request_async(&*HTTP)
        .await
        .map_err(|e| OidcError::Exchange(error_chain(&e)))?;
    let id_token = token
        .id_token()
        .ok_or_else(|| OidcError::IdToken("the token response has no ID token".to_string()))?;
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &Nonce::new(flow.nonce.clone()))
        .map_err(|e| OidcError::IdToken(error_chain(&e)))?;
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token
            .signing_alg()
            .map_err(|e| OidcError::IdToken(error_chain(&e)))?;
        let key = id_token
            .signing_key(&verifier)
            .map_err(|e| OidcError::IdToken(error_chain(&e)))?;
        let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
            .map_err(|e| OidcError::IdToken(error_chain(&e)))?;
        if actual != *expected {
            return Err(OidcError::IdToken(
                "the access token does not match the ID token's at_hash".to_string(),
            ));
        }
    }
    let subject = claims.subject().clone();
    if let (Some(email), Some(verified)) = (claims.email(), claims.email_verified()) {
        return Ok(Identity {
            subject: subject.to_string(),
            email: Some(email.to_string()),
            email_verified: verified,
        });
    }
    let info: CoreUserInfoClaims =
        match client.user_info(token.access_token().clone(), Some(subject.clone())) {
            Ok(request) => request
                .request_async(&*HTTP)
                .await
                .map_err(|e| OidcError::UserInfo(error_chain(&e)))?,
            // No userinfo endpoint: only what the ID token said.
            Err(_) => {
                return Ok(Identity {
                    subject: subject.to_string(),
                    email: claims.email().map(|e| e.to_string()),
                    email_verified: claims.email_verified().unwrap_or(false),
                });
            }
        };
    Ok(Identity {
        subject: subject.to_string(),
        email: info.email().or(claims.email()).map(|e| e.to_string()),
        email_verified: info.email_verified().unwrap_or(false),
    })
}

/// An error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_must_be_https_except_on_this_machine() {
        assert_eq!(
            check_issuer(" https://login.example.com/tenant/v2.0 ").unwrap(),
            "https://login.example.com/tenant/v2.0"
        );
        assert!(check_issuer("http://127.0.0.1:9000").is_ok());
        assert!(check_issuer("http://localhost:9000/").is_ok());
        assert!(check_issuer("http://login.example.com").is_err());
        assert!(check_issuer("https://login.example.com/?x=1").is_err());
        assert!(check_issuer("login.example.com").is_err());
        assert!(check_issuer("").is_err());
    }
}
