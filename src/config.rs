//! Service configuration, from flags and `SCIMGATE_*` environment variables
//! (the command line parses them; see `cli`).

use std::net::SocketAddr;
use std::time::Duration;

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    /// Address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// The external base URL (`https://scim.example.com`). When unset, it is
    /// derived from the address actually bound.
    pub public_url: Option<String>,
    /// Largest request body accepted, in bytes.
    pub max_payload_bytes: usize,
    /// Page size when a list request gives no `count`.
    pub default_page_size: i64,
    /// Largest page a list request may ask for.
    pub max_page_size: i64,
    /// Token lifetimes of the authorization server.
    pub oauth: crate::oauth::Settings,
    /// The operator's single sign-on provider: it may sign in any console
    /// account (operator or tenant admin) whose e-mail it vouches for.
    pub oidc: Option<OidcProvider>,
    /// The event log's retention.
    pub events: crate::events::Settings,
    /// How webhooks are delivered.
    pub webhooks: crate::webhooks::Settings,
    /// Where `/healthz`, `/readyz` and `/metrics` are served for operators
    /// (`/metrics` only there); none by default.
    pub management_bind: Option<SocketAddr>,
    /// How long requests in flight may take to finish after a shutdown
    /// signal before their connections are closed.
    pub shutdown_grace: std::time::Duration,
    /// Timeouts and sizes of the public listener's connections.
    pub limits: Limits,
    /// Request rates per tenant and per client address.
    pub rates: Rates,
    /// How long a write waits for the database before it is answered 503.
    pub write_wait: std::time::Duration,
    /// Proxies whose `X-Forwarded-For` names the client (see
    /// [`crate::http::client::client_address`]); none by default.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Whether tenants' single sign-on providers may be on internal
    /// addresses (see [`crate::oidc::Reach`]); off by default.
    pub allow_private_sso_issuers: bool,
}

/// The operator's single sign-on provider (see [`crate::oidc::Provider`]).
pub use crate::oidc::Provider as OidcProvider;

impl Config {
    /// Which addresses tenants' single sign-on providers may have.
    pub fn tenant_sso_reach(&self) -> crate::oidc::Reach {
        if self.allow_private_sso_issuers {
            crate::oidc::Reach::Any
        } else {
            crate::oidc::Reach::PublicOnly
        }
    }

    pub fn new(database_url: &str, bind: SocketAddr) -> Config {
        Config {
            database_url: database_url.to_string(),
            bind,
            public_url: None,
            max_payload_bytes: 1024 * 1024,
            default_page_size: 100,
            max_page_size: 1000,
            oauth: crate::oauth::Settings::default(),
            oidc: None,
            events: crate::events::Settings::default(),
            webhooks: crate::webhooks::Settings::default(),
            management_bind: None,
            shutdown_grace: std::time::Duration::from_secs(30),
            limits: Limits::default(),
            rates: Rates::default(),
            write_wait: crate::store::WRITE_WAIT,
            trusted_proxies: Vec::new(),
            allow_private_sso_issuers: false,
        }
    }
}

/// Checks and normalises a public URL: absolute http(s), no query or fragment,
/// no trailing slash.
pub fn normalize_public_url(raw: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| anyhow::anyhow!("invalid public URL {raw:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        anyhow::bail!("the public URL must start with http:// or https://, got {raw:?}");
    }
    if url.query().is_some() || url.fragment().is_some() {
        anyhow::bail!("the public URL must not have a query or fragment: {raw:?}");
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The number of headers hyper accepts when not told otherwise.
pub(crate) const HYPER_MAX_HEADERS: usize = 100;

/// Limits of the public listener (see [`crate::http::listen`]).
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_header_bytes: 16 * 1024,
            max_headers: HYPER_MAX_HEADERS,
        }
    }
}

/// The configured rates: requests per second, `0` for no limit.
#[derive(Debug, Clone)]
pub struct Rates {
    /// Per tenant on SCIM. 100/s is four times the 25 requests per second
    /// Microsoft asks SCIM endpoints to sustain for one provisioning job,
    /// and above what Okta sends to one app; a burst of 200 absorbs a
    /// client that sends its queue at once.
    pub tenant: u32,
    /// Per client address on the endpoints without a credential.
    pub client: u32,
}

impl Default for Rates {
    fn default() -> Self {
        Rates {
            tenant: 100,
            client: 20,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_normalised() {
        assert_eq!(
            normalize_public_url("https://scim.example.com/").unwrap(),
            "https://scim.example.com"
        );
        assert_eq!(
            normalize_public_url("https://example.com/prefix/").unwrap(),
            "https://example.com/prefix"
        );
        assert!(normalize_public_url("ftp://x").is_err());
        assert!(normalize_public_url("https://x/?a=1").is_err());
        assert!(normalize_public_url("not a url").is_err());
    }
}
