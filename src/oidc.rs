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
    /// Which addresses scimgate may connect to for this provider.
    pub reach: Reach,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("reach", &self.reach)
            .finish()
    }
}

/// Which addresses scimgate connects to when it talks to a provider.
///
/// A tenant's admin chooses their provider's URL, and the discovery document
/// there chooses the token, keys and userinfo URLs: without a guard, a
/// tenant admin could make scimgate request loopback services, the private
/// network or a cloud metadata endpoint. [`Reach::PublicOnly`] resolves
/// every host itself and connects only to public addresses — on every
/// connection, so a name that changes its answer (DNS rebinding) gains
/// nothing, and no redirect is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reach {
    /// The operator's own provider, or tenants' when the operator allows
    /// private issuers (`--allow-private-sso-issuers`).
    Any,
    /// Tenants' providers by default.
    PublicOnly,
}

/// Whether `ip` is an address on the public internet: not loopback,
/// private, shared (CGNAT), link-local (where cloud metadata services
/// live), unique-local, multicast, broadcast, unspecified or reserved for
/// documentation. IPv4 addresses mapped or translated into IPv6 are judged
/// as IPv4.
pub fn is_public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                // Shared address space (RFC 6598) and IETF protocol
                // assignments (RFC 6890), reserved (240/4).
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
            if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
                let o = v6.octets();
                return is_public(IpAddr::V4(std::net::Ipv4Addr::new(
                    o[12], o[13], o[14], o[15],
                )));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                // Documentation (2001:db8::/32) and the deprecated site-local
                // range (fec0::/10).
                || (seg[0] == 0x2001 && seg[1] == 0x0db8)
                || (seg[0] & 0xffc0) == 0xfec0
                // IPv4-compatible (::a.b.c.d, deprecated): never public.
                || seg[..6] == [0, 0, 0, 0, 0, 0])
        }
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

/// The most a provider's answer may hold (discovery documents and key sets
/// are a few KiB).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// The HTTP clients for providers: no redirects followed (a redirect from a
/// discovery or token endpoint is refused rather than chased), and bounded
/// time. The public-only one resolves names itself, keeps only public
/// addresses, and ignores proxy settings (a proxy would connect on its own
/// terms).
fn http_client(reach: Reach) -> &'static reqwest::Client {
    fn builder() -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
    }
    static ANY: LazyLock<reqwest::Client> =
        LazyLock::new(|| builder().build().unwrap_or_else(|_| reqwest::Client::new()));
    static PUBLIC_ONLY: LazyLock<reqwest::Client> = LazyLock::new(|| {
        builder()
            .no_proxy()
            .dns_resolver(std::sync::Arc::new(PublicResolver))
            .build()
            .expect("an HTTP client with a resolver")
    });
    match reach {
        Reach::Any => &ANY,
        Reach::PublicOnly => &PUBLIC_ONLY,
    }
}

/// Resolves with the system resolver and keeps only public addresses.
struct PublicResolver;

#[derive(Debug, thiserror::Error)]
#[error("resolves only to internal addresses")]
struct InternalOnly;

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let public: Vec<std::net::SocketAddr> = found.filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(InternalOnly) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Why a request to a provider failed, in words that reveal nothing about
/// what answered (no ports, no bodies): the full cause goes to the log.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "its address is internal (loopback, private, link-local or a metadata service), which scimgate does not contact"
    )]
    Internal,
    #[error("it could not be reached (name, connection or TLS failure)")]
    Unreachable,
    #[error("it did not answer within 10 seconds")]
    Timeout,
    #[error("its answer is larger than 1 MiB")]
    TooLarge,
}

fn classify(e: &reqwest::Error) -> FetchError {
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<InternalOnly>().is_some() {
            return FetchError::Internal;
        }
        cause = c.source();
    }
    if e.is_timeout() {
        FetchError::Timeout
    } else {
        FetchError::Unreachable
    }
}

/// One request to a provider, under `reach`: the client for openidconnect.
async fn fetch(
    reach: Reach,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, FetchError> {
    let url = request.uri().to_string();
    // An address literal is not resolved, so it is checked here.
    if reach == Reach::PublicOnly
        && let Some(host) = request.uri().host()
        && let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
        && !is_public(ip)
    {
        tracing::warn!(%url, "single sign-on: refused to contact an internal address");
        return Err(FetchError::Internal);
    }
    let failed = |e: reqwest::Error| {
        let kind = classify(&e);
        tracing::warn!(%url, error = %error_chain(&e), "single sign-on: request to the provider failed");
        kind
    };
    let request = reqwest::Request::try_from(request).map_err(failed)?;
    let mut response = http_client(reach).execute(request).await.map_err(failed)?;
    let mut builder = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            tracing::warn!(%url, "single sign-on: the provider's answer exceeds 1 MiB");
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    builder.body(body).map_err(|_| FetchError::Unreachable)
}

/// What the person reads about a failed step: the fetch failure's own
/// words, or the error's first line (openidconnect's messages name the
/// HTTP status, never the body).
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(f) = c.downcast_ref::<FetchError>() {
            return f.to_string();
        }
        cause = c.source();
    }
    e.to_string()
}

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

/// Discovery documents (with their keys) read in the last few minutes, by
/// issuer and reach: sign-ins and callbacks, which anyone can start, cost
/// the provider at most one discovery per issuer per [`DISCOVERY_TTL`].
static DISCOVERED: LazyLock<std::sync::Mutex<DiscoveryCache>> =
    LazyLock::new(|| std::sync::Mutex::new(DiscoveryCache::default()));
const DISCOVERY_TTL: Duration = Duration::from_secs(300);
/// At most this many issuers are kept (oldest dropped first).
const DISCOVERY_CACHE_MAX: usize = 1000;

#[derive(Default)]
struct DiscoveryCache {
    entries: std::collections::HashMap<(String, Reach), (std::time::Instant, CoreProviderMetadata)>,
}

impl DiscoveryCache {
    fn get(&self, key: &(String, Reach)) -> Option<CoreProviderMetadata> {
        self.entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < DISCOVERY_TTL)
            .map(|(_, m)| m.clone())
    }

    fn put(&mut self, key: (String, Reach), metadata: CoreProviderMetadata) {
        self.entries
            .retain(|_, (at, _)| at.elapsed() < DISCOVERY_TTL);
        while self.entries.len() >= DISCOVERY_CACHE_MAX {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.entries.remove(&oldest);
        }
        self.entries
            .insert(key, (std::time::Instant::now(), metadata));
    }
}

async fn metadata(provider: &Provider, fresh: bool) -> Result<CoreProviderMetadata, OidcError> {
    let key = (provider.issuer.clone(), provider.reach);
    if !fresh && let Some(m) = DISCOVERED.lock().ok().and_then(|c| c.get(&key)) {
        return Ok(m);
    }
    let issuer = IssuerUrl::new(provider.issuer.clone())
        .map_err(|e| OidcError::Config(format!("invalid issuer URL: {e}")))?;
    let reach = provider.reach;
    let http = move |request| fetch(reach, request);
    let metadata = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .map_err(|e| OidcError::Discovery(provider.issuer.clone(), describe(&e)))?;
    if let Ok(mut cache) = DISCOVERED.lock() {
        cache.put(key, metadata.clone());
    }
    Ok(metadata)
}

async fn client(provider: &Provider, redirect_uri: &str) -> Result<Client, OidcError> {
    client_with(provider, redirect_uri, false).await
}

async fn client_with(
    provider: &Provider,
    redirect_uri: &str,
    fresh: bool,
) -> Result<Client, OidcError> {
    let metadata = metadata(provider, fresh).await?;
    let redirect = RedirectUrl::new(redirect_uri.to_string())
        .map_err(|e| OidcError::Config(format!("invalid redirect URI: {e}")))?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(provider.client_secret.clone())),
    )
    .set_redirect_uri(redirect))
}

/// Reads the provider's discovery document (and keys), never from the
/// cache: a check that the settings point at a working provider.
pub async fn discover(provider: &Provider, redirect_uri: &str) -> Result<(), OidcError> {
    client_with(provider, redirect_uri, true).await.map(|_| ())
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
    let reach = provider.reach;
    let http = move |request| fetch(reach, request);
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| OidcError::Config(format!("the provider has no token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier.clone()))
        .request_async(&http)
        .await
        .map_err(|e| OidcError::Exchange(describe(&e)))?;
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
                .request_async(&http)
                .await
                .map_err(|e| OidcError::UserInfo(describe(&e)))?,
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
    fn only_public_addresses_are_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "::10.0.0.1",
        ] {
            assert!(!is_public(internal.parse().unwrap()), "{internal}");
        }
        for public in [
            "20.190.128.1",
            "8.8.8.8",
            "2606:4700::1111",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

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
