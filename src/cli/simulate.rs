//! `scimgate simulate`: Entra's provisioning service against any SCIM
//! endpoint (see [`scimgate_tools::sim`]).

use std::time::Duration;

use anyhow::bail;
use clap::{Args, ValueEnum};

use crate::store::clients::ENTRA_REDIRECT_URIS;
use scimgate_tools::sim::{self, AuthMode, Dialect, MatchAttribute, Options};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AuthArg {
    /// A long-lived bearer token (`--token`).
    SecretToken,
    /// OAuth 2.0 client credentials (`--client-id`, `--client-secret`, `--token-url`).
    ClientCredentials,
    /// Entra's **Authorize** button: sign in and consent as `--admin-email`,
    /// then exchange the code with `--client-id` / `--client-secret`.
    Authorize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DialectArg {
    /// Entra's default requests ("Replace", booleans as "True"/"False").
    Default,
    /// The `?aadOptscim062020` flag's requests (lower-case ops, JSON booleans).
    AadOptScim062020,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MatchArg {
    #[value(name = "userName")]
    UserName,
    #[value(name = "externalId")]
    ExternalId,
}

#[derive(Debug, Args)]
#[command(
    about = "Simulate Microsoft Entra ID provisioning against a SCIM endpoint and report failures, differences and speed",
    after_help = "Examples:\n  scimgate simulate --base-url https://scim.example.com/scim/v2 --token \"$TOKEN\" --users 2000 --groups 50\n  scimgate simulate --base-url http://127.0.0.1:8080/scim/v2 --client-id sgc_… --client-secret \"$SECRET\"\n  scimgate simulate --auth authorize --base-url http://127.0.0.1:8080/scim/v2 --client-id sgc_… \\\n      --client-secret \"$SECRET\" --admin-email admin@example.com --admin-password \"$PASSWORD\"\n\nExit status: 0 when every request succeeded and the target matches the directory, 1 otherwise."
)]
pub struct SimulateArgs {
    /// SCIM base URL, as typed into Entra's Tenant URL (`https://host/scim/v2`).
    /// Repeat it to spread the requests round-robin over several instances.
    #[arg(long = "base-url", required = true, value_name = "URL")]
    pub base_urls: Vec<String>,
    /// How to authenticate; by default inferred from the credentials given.
    #[arg(long, value_enum)]
    pub auth: Option<AuthArg>,
    /// Secret token (bearer) for secret-token mode.
    #[arg(long, env = "SCIMGATE_SIM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// OAuth client id (client-credentials and authorize modes).
    #[arg(long)]
    pub client_id: Option<String>,
    /// OAuth client secret (client-credentials and authorize modes).
    #[arg(long, env = "SCIMGATE_SIM_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// Token URL; defaults to /oauth/token on the first base URL's host.
    #[arg(long, value_name = "URL")]
    pub token_url: Option<String>,
    /// Authorization URL; defaults to /oauth/authorize on the first base URL's host.
    #[arg(long, value_name = "URL")]
    pub authorize_url: Option<String>,
    /// Where the server sends the browser back after consent (Entra's).
    #[arg(long, value_name = "URL", default_value = ENTRA_REDIRECT_URIS[0])]
    pub redirect_uri: String,
    /// The admin who signs in and approves in authorize mode.
    #[arg(long)]
    pub admin_email: Option<String>,
    #[arg(long, env = "SCIMGATE_SIM_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Which of Entra's request dialects to send.
    #[arg(long, value_enum, default_value = "default")]
    pub dialect: DialectArg,
    /// The attribute Entra matches users on.
    #[arg(long, value_enum, default_value = "userName")]
    pub match_attribute: MatchArg,
    /// Users in the synthetic directory.
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Groups in the synthetic directory.
    #[arg(long, default_value_t = 10)]
    pub groups: usize,
    /// Seed of the directory and of the incremental changes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Share of the directory the incremental cycle changes (0 skips it).
    #[arg(long, default_value_t = 0.1)]
    pub incremental_fraction: f64,
    /// Members per add/remove PATCH.
    #[arg(long, default_value_t = 100)]
    pub member_batch: usize,
    /// Skip the cycles: only test the connection and compare the target with
    /// what a full run with the same options leaves.
    #[arg(long)]
    pub verify_only: bool,
    /// Get a new access token at every cycle start, expired or not.
    #[arg(long)]
    pub refresh_every_cycle: bool,
    /// No progress bars.
    #[arg(long)]
    pub no_progress: bool,
    /// Per-request timeout in seconds (Entra gives up after 60).
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
}

/// `/oauth/<endpoint>` on the host of the base URL.
fn derived(base: &str, path: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(base)
        .map_err(|e| anyhow::anyhow!("the base URL {base:?} is not an absolute URL: {e}"))?;
    Ok(url.join(path)?.to_string())
}

fn need(value: Option<String>, flag: &str, mode: &str) -> anyhow::Result<String> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => bail!("{mode} mode needs {flag}"),
    }
}

impl SimulateArgs {
    pub fn options(self) -> anyhow::Result<Options> {
        let first = self.base_urls.first().cloned().unwrap_or_default();
        let mode = match self.auth {
            Some(m) => m,
            None if self.token.is_some() => AuthArg::SecretToken,
            None if self.admin_email.is_some() => AuthArg::Authorize,
            None if self.client_id.is_some() => AuthArg::ClientCredentials,
            None => bail!(
                "give credentials: --token, or --client-id and --client-secret, or --auth authorize with --admin-email and --admin-password"
            ),
        };
        let token_url = match self.token_url {
            Some(u) => u,
            None => derived(&first, crate::paths::TOKEN_PATH)?,
        };
        let auth = match mode {
            AuthArg::SecretToken => AuthMode::SecretToken {
                token: need(self.token, "--token", "secret-token")?,
            },
            AuthArg::ClientCredentials => AuthMode::ClientCredentials {
                client_id: need(self.client_id, "--client-id", "client-credentials")?,
                client_secret: need(self.client_secret, "--client-secret", "client-credentials")?,
                token_url,
            },
            AuthArg::Authorize => AuthMode::Authorize {
                client_id: need(self.client_id, "--client-id", "authorize")?,
                client_secret: need(self.client_secret, "--client-secret", "authorize")?,
                authorize_url: match self.authorize_url {
                    Some(u) => u,
                    None => derived(&first, crate::paths::AUTHORIZE_PATH)?,
                },
                token_url,
                redirect_uri: self.redirect_uri,
                email: need(self.admin_email, "--admin-email", "authorize")?,
                password: need(self.admin_password, "--admin-password", "authorize")?,
            },
        };
        let mut opts = Options::new(first, auth);
        opts.base_urls = self.base_urls;
        opts.dialect = match self.dialect {
            DialectArg::Default => Dialect::Default,
            DialectArg::AadOptScim062020 => Dialect::AadOptScim062020,
        };
        opts.match_attribute = match self.match_attribute {
            MatchArg::UserName => MatchAttribute::UserName,
            MatchArg::ExternalId => MatchAttribute::ExternalId,
        };
        opts.users = self.users;
        opts.groups = self.groups;
        opts.seed = self.seed;
        opts.concurrency = self.concurrency;
        opts.incremental_fraction = self.incremental_fraction;
        opts.member_batch = self.member_batch;
        opts.verify_only = self.verify_only;
        opts.refresh_every_cycle = self.refresh_every_cycle;
        opts.progress = !self.no_progress;
        opts.request_timeout = Duration::from_secs(self.timeout_secs.max(1));
        Ok(opts)
    }
}

pub async fn run(args: SimulateArgs, json: bool) -> anyhow::Result<()> {
    let report = sim::run(args.options()?).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.human());
    }
    if !report.ok() {
        bail!(
            "the simulation found {} failed request(s) and {} difference(s)",
            report.failed_requests,
            report.differences.len()
        );
    }
    Ok(())
}
