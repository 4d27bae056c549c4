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
}

pub async fn run(
    database_url: &str,
    public_url: Option<String>,
    args: ServeArgs,
) -> anyhow::Result<()> {
    let mut config = Config::new(database_url, args.bind);
    config.public_url = public_url;
    config.max_payload_bytes = args.max_payload_bytes;
    config.oauth.access_token_secs = args.access_token_minutes * 60;
    let server = Server::bind(config).await?;
    tracing::info!(
        address = %server.local_addr(),
        scim = %format!("{}{}", server.public_url(), crate::http::scim::PREFIX),
        "scimgate is listening"
    );
    server.announce_setup_link();
    server.run().await
}
