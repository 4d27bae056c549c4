use std::net::SocketAddr;

use clap::Args;

use crate::Server;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SCIMGATE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Lifetime of OAuth access tokens in minutes (Entra accepts 60 to 360).
    #[arg(long, env = "SCIMGATE_ACCESS_TOKEN_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(i64).range(60..=360))]
    pub access_token_minutes: i64,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "SCIMGATE_MAX_PAYLOAD_BYTES", default_value_t = 1024 * 1024)]
    pub max_payload_bytes: usize,

    /// Issuer URL of the operator's OpenID Connect provider for single
    /// sign-on to the console (any account whose e-mail it has verified).
    #[arg(long, env = "SCIMGATE_OIDC_ISSUER", requires_all = ["oidc_client_id", "oidc_client_secret"])]
    pub oidc_issuer: Option<String>,

    /// scimgate's client id at that provider.
    #[arg(long, env = "SCIMGATE_OIDC_CLIENT_ID", requires = "oidc_issuer")]
    pub oidc_client_id: Option<String>,

    /// scimgate's client secret at that provider (prefer the environment
    /// variable: command lines are visible to other users of the machine).
    #[arg(
        long,
        env = "SCIMGATE_OIDC_CLIENT_SECRET",
        hide_env_values = true,
        requires = "oidc_issuer"
    )]
    pub oidc_client_secret: Option<String>,

    /// How many days the event log (`/api/v1/events`) keeps events; older
    /// ones are pruned in the background.
    #[arg(long, env = "SCIMGATE_EVENT_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub event_retention_days: u32,

    /// How many days the tenants' activity log keeps its entries; older
    /// ones are pruned in the background.
    #[arg(long, env = "SCIMGATE_ACTIVITY_RETENTION_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub activity_retention_days: u32,

    /// Address of the management listener, which serves `/healthz`,
    /// `/readyz` and `/metrics` (metrics only there). Off by default.
    #[arg(long, env = "SCIMGATE_MANAGEMENT_BIND")]
    pub management_bind: Option<SocketAddr>,

    /// After SIGTERM or Ctrl-C, how long requests in flight may take to
    /// finish before their connections are closed.
    #[arg(long, env = "SCIMGATE_SHUTDOWN_GRACE_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_grace_seconds: u64,

    /// How long a client may take to send a request's headers, and how long
    /// an idle keep-alive connection stays open; a slower client's
    /// connection is closed.
    #[arg(long, env = "SCIMGATE_HEADER_READ_TIMEOUT_SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout_seconds: u64,

    /// How long a whole request may take, body included: a body still
    /// arriving then gets 408, a request scimgate has not answered 503.
    #[arg(long, env = "SCIMGATE_REQUEST_TIMEOUT_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_seconds: u64,

    /// Connections served at once; further clients wait to be accepted.
    #[arg(long, env = "SCIMGATE_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,

    /// Largest request line and headers, in bytes (larger: 431).
    #[arg(long, env = "SCIMGATE_MAX_HEADER_BYTES", default_value_t = 16 * 1024, value_parser = clap::value_parser!(u64).range(1024..=1024 * 1024))]
    pub max_header_bytes: u64,

    /// Most headers in one request (more: 431).
    #[arg(long, env = "SCIMGATE_MAX_HEADERS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(8..=10_000))]
    pub max_headers: u64,

    /// SCIM requests per second a tenant may send to this instance, with a
    /// burst of twice as many; over it, 429 with Retry-After. 0 turns the
    /// limit off.
    #[arg(long, env = "SCIMGATE_TENANT_RATE_LIMIT", default_value_t = 100)]
    pub tenant_rate_limit: u32,

    /// Requests per second one client address may send to the endpoints
    /// that need no credential (sign-in, setup, single sign-on, the OAuth
    /// token endpoint), with a burst of twice as many. 0 turns it off.
    #[arg(long, env = "SCIMGATE_CLIENT_RATE_LIMIT", default_value_t = 20)]
    pub client_rate_limit: u32,

    /// How long a write may wait for the database (on SQLite, for the one
    /// writer another write holds) before it is answered 503 with
    /// Retry-After.
    #[arg(long, env = "SCIMGATE_WRITE_WAIT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub write_wait_seconds: u64,

    /// Networks of the reverse proxies or load balancers in front of
    /// scimgate, comma-separated CIDRs (`10.0.0.0/8,192.168.1.10/32`): from
    /// them, the client's address is read from X-Forwarded-For (for
    /// sign-in throttling, rate limits and the activity log). None by
    /// default: the socket's peer is the client.
    #[arg(long, env = "SCIMGATE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Let tenants' single sign-on providers be on internal addresses
    /// (loopback, private, link-local). Off by default: a tenant admin's
    /// issuer URL cannot make scimgate reach internal services. For
    /// on-premises providers and tests. The operator's own provider
    /// (--oidc-issuer) is never restricted.
    #[arg(long, env = "SCIMGATE_ALLOW_PRIVATE_SSO_ISSUERS")]
    pub allow_private_sso_issuers: bool,
}

pub async fn run(
    database_url: &str,
    public_url: Option<String>,
    args: ServeArgs,
    log_format: super::LogFormat,
) -> anyhow::Result<()> {
    let mut config = Config::new(database_url, args.bind);
    config.public_url = public_url;
    config.max_payload_bytes = args.max_payload_bytes;
    config.oauth.access_token_secs = args.access_token_minutes * 60;
    config.events.retention_days = args.event_retention_days;
    config.events.activity_retention_days = args.activity_retention_days;
    config.management_bind = args.management_bind;
    config.shutdown_grace = std::time::Duration::from_secs(args.shutdown_grace_seconds);
    config.limits = crate::config::Limits {
        header_read_timeout: std::time::Duration::from_secs(args.header_read_timeout_seconds),
        request_timeout: std::time::Duration::from_secs(args.request_timeout_seconds),
        max_connections: args.max_connections as usize,
        max_header_bytes: args.max_header_bytes as usize,
        max_headers: args.max_headers as usize,
    };
    config.write_wait = std::time::Duration::from_secs(args.write_wait_seconds);
    config.trusted_proxies = args.trusted_proxies;
    config.allow_private_sso_issuers = args.allow_private_sso_issuers;
    config.rates = crate::config::Rates {
        tenant: args.tenant_rate_limit,
        client: args.client_rate_limit,
    };
    if let (Some(issuer), Some(client_id), Some(client_secret)) = (
        args.oidc_issuer,
        args.oidc_client_id,
        args.oidc_client_secret,
    ) {
        config.oidc = Some(crate::config::OidcProvider {
            issuer: crate::oidc::check_issuer(&issuer)
                .map_err(|e| anyhow::anyhow!("--oidc-issuer: {e}"))?,
            client_id,
            client_secret,
            reach: crate::oidc::Reach::Any,
        });
    }
    let server = Server::bind(config).await?;
    tracing::info!(
        address = %server.local_addr(),
        scim = %format!("{}{}", server.public_url(), crate::paths::SCIM_PREFIX),
        "scimgate is listening"
    );
    if let Some(addr) = server.management_addr() {
        tracing::info!(address = %addr, "management listener: /healthz, /readyz, /metrics");
    }
    // JSON logs are one object per line: the link is in the log's entry.
    server.announce_setup_link(log_format == super::LogFormat::Text);
    server.run().await
}
