//! `scimgate demo`: a ready-to-explore scimgate in one command. A fresh
//! database, a tenant "demo" with an admin, an OAuth client ready for
//! Entra's Authorize button and a secret token, and a few hundred users and
//! groups provisioned through the SCIM API over HTTP by the Entra simulator,
//! so the console has real data and a real activity log. Then it keeps
//! serving until interrupted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use scimgate_tools::sim::{self, AuthMode, Options};

use crate::Server;
use crate::config::Config;
use crate::store::activity::Actor;
use crate::store::clients::{self, DEFAULT_SECRET_DAYS, ENTRA_REDIRECT_URIS};
use crate::store::{self, Db, admins, tenants, tokens};

/// The demo tenant's slug and its admin's e-mail.
pub const DEMO_SLUG: &str = "demo";
pub const DEMO_ADMIN: &str = "admin@demo.example";

#[derive(Debug, Args)]
#[command(
    about = "Start a ready demo: a fresh database with a tenant, an admin, Entra credentials and a few hundred provisioned users",
    after_help = "Without --database-url the demo uses a new SQLite database in a temporary directory, deleted when the demo stops.\nThe last line printed starts with \"ready:\" once everything is provisioned."
)]
pub struct DemoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Users to provision.
    #[arg(long, default_value_t = 300)]
    pub users: usize,
    /// Groups to provision.
    #[arg(long, default_value_t = 25)]
    pub groups: usize,
    /// Seed of the generated directory.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// A temporary directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!("scimgate-demo-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the demo directory {}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn run(
    database_url: &str,
    public_url: Option<String>,
    args: DemoArgs,
) -> anyhow::Result<()> {
    // The global --database-url always has a value; its default means "none
    // given", and then the demo gets a database of its own.
    let (url, temp) = if database_url == store::DEFAULT_DATABASE_URL {
        let dir = TempDir::new()?;
        let url = format!("sqlite://{}", dir.0.join("scimgate-demo.db").display());
        (url, Some(dir))
    } else {
        (database_url.to_string(), None)
    };
    let db = Db::connect(&url).await?;
    if tenants::by_slug(&db, DEMO_SLUG).await?.is_some() {
        bail!(
            "the database {url} already has a tenant {DEMO_SLUG:?}: run the demo on a fresh database (leave out --database-url to get a temporary one)"
        );
    }

    let mut config = Config::new(&url, args.bind);
    // The demo fills its tenant at full speed through its own SCIM endpoint.
    config.rates.tenant = 0;
    config.public_url = public_url;
    let server = Server::bind_with_db(config, db.clone()).await?;
    let base = server.public_url().to_string();
    let scim_url = format!("{base}{}", crate::paths::SCIM_PREFIX);

    let actor = Actor {
        kind: "system",
        id: None,
        label: "scimgate demo".to_string(),
    };
    let tenant = tenants::create(&db, DEMO_SLUG, "Demo Corp").await?;
    let password = crate::password::generate();
    let hash = crate::password::hash(password.clone()).await?;
    admins::create(&db, Some(&tenant.id), DEMO_ADMIN, &hash, &actor)
        .await
        .with_context(|| format!("creating the demo admin {DEMO_ADMIN}"))?;
    let uris: Vec<String> = ENTRA_REDIRECT_URIS.iter().map(|u| u.to_string()).collect();
    let (client, _, client_secret) = clients::create(
        &db,
        &tenant.id,
        "Microsoft Entra ID",
        &uris,
        DEFAULT_SECRET_DAYS,
        &actor,
    )
    .await?;
    let (_, token) =
        tokens::create_secret_token(&db, &tenant.id, "Demo provisioning", None, &actor).await?;

    let serving = tokio::spawn(server.run());

    println!("scimgate demo");
    match &temp {
        Some(dir) => println!(
            "  database: a new SQLite database in {} (deleted when the demo stops)",
            dir.0.display()
        ),
        None => println!("  database: {url}"),
    }
    println!(
        "  provisioning {} users and {} groups through {scim_url} as Entra would…",
        args.users, args.groups
    );
    let mut opts = Options::new(
        scim_url.clone(),
        AuthMode::SecretToken {
            token: token.clone(),
        },
    );
    opts.users = args.users;
    opts.groups = args.groups;
    opts.seed = args.seed;
    opts.progress = false;
    opts.request_timeout = Duration::from_secs(60);
    let started = Instant::now();
    let report = sim::run(opts)
        .await
        .context("provisioning the demo directory")?;
    println!(
        "  provisioned in {:.1} s: {} requests, {} failed",
        started.elapsed().as_secs_f64(),
        report.total_requests,
        report.failed_requests
    );
    if !report.ok() {
        eprintln!("{}", report.human());
        eprintln!("warning: the demo directory was not provisioned cleanly (see above)");
    }

    println!();
    println!("Console");
    println!("  URL              {base}/");
    println!("  Admin e-mail     {DEMO_ADMIN}");
    println!("  Admin password   {password}");
    println!();
    println!("Entra, Authorize button (Provisioning → Admin Credentials)");
    println!("  Tenant URL         {scim_url}");
    println!("  Authorization URL  {base}/oauth/authorize");
    println!("  Token URL          {base}/oauth/token");
    println!("  Client ID          {}", client.id);
    println!("  Client Secret      {client_secret}");
    println!();
    println!("Entra, secret token");
    println!("  Tenant URL         {scim_url}");
    println!("  Secret Token       {token}");
    println!();
    println!("ready: {base}/ (Ctrl-C stops the demo)");

    let served = serving.await.context("the server task failed")?;
    drop(temp);
    served
}
