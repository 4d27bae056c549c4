//! The command line: `serve` and the operator's commands, which all work on
//! the database named by `--database-url` / `SCIMGATE_DATABASE_URL`.

mod admin;
mod app_key;
mod backup;
mod bench;
mod client;
mod demo;
mod serve;
mod simulate;
mod tenant;
mod token;
mod webhook;

use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::store::{self, Db};

#[derive(Debug, Parser)]
#[command(
    name = "scimgate",
    version,
    about = "SCIM 2.0 provisioning endpoint with an OAuth 2.0 authorization server"
)]
pub struct Cli {
    /// Database URL: sqlite://PATH (created if missing) or postgres://USER@HOST/DB.
    #[arg(long, global = true, env = "SCIMGATE_DATABASE_URL", default_value = store::DEFAULT_DATABASE_URL)]
    pub database_url: String,

    /// External base URL of the service (`https://scim.example.com`): used in
    /// every absolute URL the service sends and the URLs commands print.
    #[arg(long, global = true, env = "SCIMGATE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Print results as JSON (for scripts).
    #[arg(long, global = true)]
    pub json: bool,

    /// Log lines as text, or as JSON objects (one per line) for log
    /// shipping.
    #[arg(long, global = true, env = "SCIMGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve(serve::ServeArgs),
    /// Manage tenants (customer organisations).
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Manage secret tokens for the SCIM API.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Manage OAuth clients (one per identity provider connection).
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Measure the hot path, writes and memory against a real server process
    /// (see BENCHMARKS.md).
    Bench(bench::BenchArgs),
    /// The trivial server `bench` measures the machine's ceiling with.
    #[command(hide = true)]
    BenchCeiling(bench::CeilingArgs),
    /// Manage console accounts (tenant admins and operators).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Simulate Entra ID provisioning against a SCIM endpoint (this one or any other).
    Simulate(simulate::SimulateArgs),
    /// Start a ready demo: tenant, admin, Entra credentials and provisioned users.
    Demo(demo::DemoArgs),
    /// Manage the product's keys for the event feed and read API (`/api/v1`).
    #[command(subcommand)]
    AppKey(app_key::AppKeyCommand),
    /// Manage the product's webhook endpoints and their deliveries.
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    /// Copy the SQLite database to a file while scimgate runs, and verify
    /// the copy (PostgreSQL: use pg_dump).
    Backup(backup::BackupArgs),
    /// Put a backup in the place of the SQLite database (stop scimgate first).
    Restore(backup::RestoreArgs),
    /// Write a tenant's users and groups as JSON lines (SCIM representations).
    Export(backup::ExportArgs),
}

/// What commands print as the service's URL when no public URL is set: the
/// default bind address.
const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The levels logged when `RUST_LOG` is not set.
const DEFAULT_LOG: &str = "info,sqlx=warn";

/// Logs to stderr; `RUST_LOG` overrides the default level. Text has colours
/// only on a terminal; JSON is one object per line with the time, level,
/// message, and the request's fields (request id, method, route, tenant,
/// status, latency) flattened in.
pub fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let registry = tracing_subscriber::registry().with(filter);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => registry
            .with(layer.with_ansi(std::io::stderr().is_terminal()))
            .try_init(),
        LogFormat::Json => registry
            .with(
                layer
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
    };
}

/// `RUST_LOG` as levels by target (`info`, `scimgate=debug`,
/// `info,scimgate::http=debug,sqlx=warn`); a value that is not understood
/// is reported and the default used.
fn log_filter(rust_log: Option<&str>) -> tracing_subscriber::filter::Targets {
    let default = || DEFAULT_LOG.parse().expect("the default log filter parses");
    match rust_log.map(str::trim).filter(|v| !v.is_empty()) {
        None => default(),
        Some(value) => value.parse().unwrap_or_else(|e| {
            eprintln!(
                "RUST_LOG={value:?} is not understood ({e}): expected levels by target, \
                 like info,scimgate=debug; logging with {DEFAULT_LOG}"
            );
            default()
        }),
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            serve::run(&cli.database_url, cli.public_url, args, cli.log_format).await
        }
        Command::Tenant(cmd) => {
            let db = Db::connect(&cli.database_url).await?;
            tenant::run(&db, cmd, cli.json).await
        }
        Command::Token(cmd) => {
            let db = Db::connect(&cli.database_url).await?;
            token::run(&db, cmd, cli.json).await
        }
        Command::Bench(args) => bench::run(args, cli.json).await,
        Command::BenchCeiling(args) => bench::ceiling(args).await,
        Command::Client(cmd) => {
            let db = Db::connect(&cli.database_url).await?;
            let public_url = match &cli.public_url {
                Some(u) => crate::config::normalize_public_url(u)?,
                None => DEFAULT_PUBLIC_URL.to_string(),
            };
            client::run(&db, &public_url, cmd, cli.json).await
        }
        Command::Admin(cmd) => {
            let db = Db::connect(&cli.database_url).await?;
            admin::run(&db, cmd, cli.json).await
        }
        Command::Simulate(args) => simulate::run(args, cli.json).await,
        Command::Demo(args) => demo::run(&cli.database_url, cli.public_url, args).await,
        Command::AppKey(cmd) => {
            let db = Db::connect(&cli.database_url).await?;
            app_key::run(&db, cmd, cli.json).await
        }
        Command::Webhook(cmd) => {
            let db = Db::connect(&cli.database_url).await?;
            webhook::run(&db, cmd, cli.json).await
        }
        Command::Backup(args) => backup::backup(&cli.database_url, args, cli.json),
        Command::Restore(args) => backup::restore(&cli.database_url, args, cli.json),
        Command::Export(args) => {
            let db = Db::connect(&cli.database_url).await?;
            let public_url = match &cli.public_url {
                Some(u) => crate::config::normalize_public_url(u)?,
                None => DEFAULT_PUBLIC_URL.to_string(),
            };
            backup::export(&db, &public_url, args).await
        }
    }
}

/// Prints a result: JSON when asked, else the human text.
fn print<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", human());
    }
    Ok(())
}

/// The tenant named by a slug, or a clear error listing how to find one.
async fn tenant_by_slug(db: &Db, slug: &str) -> anyhow::Result<store::tenants::Tenant> {
    store::tenants::by_slug(db, slug).await?.ok_or_else(|| {
        anyhow::anyhow!(
            "no tenant with the slug {slug:?}; `scimgate tenant list` shows the tenants"
        )
    })
}

#[cfg(test)]
mod log_tests {
    use tracing::Level;

    use super::log_filter;

    #[test]
    fn rust_log_sets_levels_by_target_and_a_bad_value_falls_back() {
        let f = log_filter(Some("warn,scimgate::http=debug"));
        assert!(f.would_enable("scimgate::http::observe", &Level::DEBUG));
        assert!(!f.would_enable("scimgate::store", &Level::INFO));
        assert!(f.would_enable("hyper", &Level::WARN));
        let default = log_filter(None);
        assert!(default.would_enable("scimgate", &Level::INFO));
        assert!(!default.would_enable("scimgate", &Level::DEBUG));
        assert!(!default.would_enable("sqlx::query", &Level::INFO));
        let bad = log_filter(Some("scimgate=loud"));
        assert!(bad.would_enable("scimgate", &Level::INFO));
        assert!(!bad.would_enable("scimgate", &Level::DEBUG));
    }
}
