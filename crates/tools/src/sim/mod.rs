//! A simulator of Microsoft Entra ID's provisioning service: it connects to a
//! SCIM endpoint the way Entra does (secret token, client credentials, or the
//! **Authorize** flow through the server's own sign-in and consent pages),
//! runs Test Connection, provisions a synthetic directory in an initial and
//! an incremental cycle in either of Entra's request dialects, reads
//! everything back and reports what failed, what differs and how fast it was.
//!
//! It talks only HTTP to its target, so it works against any SCIM server.

pub mod client;
pub mod cycle;
pub mod dialect;
pub mod directory;
pub mod report;
pub mod verify;

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Serialize;

pub use dialect::Dialect;
pub use report::{Difference, Failure, Kind, Report};

use client::Client;
use directory::Directory;
use report::PhaseReport;

/// How the simulator authenticates, as configured in Entra's UI.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// A long-lived bearer token.
    SecretToken { token: String },
    /// `grant_type=client_credentials` at the token URL.
    ClientCredentials {
        client_id: String,
        client_secret: String,
        token_url: String,
    },
    /// The admin clicks **Authorize**: sign in and consent at the
    /// authorization URL, code exchanged with HTTP Basic client
    /// authentication, refreshed when expired at the start of a cycle.
    Authorize {
        client_id: String,
        client_secret: String,
        authorize_url: String,
        token_url: String,
        /// Where the server sends the browser back (Entra's TokenAuthorize).
        redirect_uri: String,
        email: String,
        password: String,
    },
}

impl AuthMode {
    pub fn name(&self) -> &'static str {
        match self {
            AuthMode::SecretToken { .. } => "secret-token",
            AuthMode::ClientCredentials { .. } => "client-credentials",
            AuthMode::Authorize { .. } => "authorize",
        }
    }
}

/// The attribute Entra matches existing users on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MatchAttribute {
    UserName,
    ExternalId,
}

impl MatchAttribute {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchAttribute::UserName => "userName",
            MatchAttribute::ExternalId => "externalId",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// SCIM base URLs (Entra's Tenant URL); requests go round-robin.
    pub base_urls: Vec<String>,
    pub auth: AuthMode,
    pub dialect: Dialect,
    pub match_attribute: MatchAttribute,
    pub users: usize,
    pub groups: usize,
    pub seed: u64,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Share of the directory changed by the incremental cycle; 0 skips it.
    pub incremental_fraction: f64,
    /// Members per add/remove PATCH.
    pub member_batch: usize,
    /// Skip the cycles: only test the connection and compare the target with
    /// the directory a full run with these options leaves behind.
    pub verify_only: bool,
    /// Get a new access token at every cycle start, expired or not.
    pub refresh_every_cycle: bool,
    /// Show progress bars (only when stderr is a terminal).
    pub progress: bool,
    /// Entra fails any request that takes longer than 60 s.
    pub request_timeout: Duration,
}

impl Options {
    /// Defaults: Entra's default dialect, userName matching, 100 users,
    /// 10 groups, seed 1, 8 requests in flight, a 10 % incremental cycle.
    pub fn new(base_url: impl Into<String>, auth: AuthMode) -> Options {
        Options {
            base_urls: vec![base_url.into()],
            auth,
            dialect: Dialect::Default,
            match_attribute: MatchAttribute::UserName,
            users: 100,
            groups: 10,
            seed: 1,
            concurrency: 8,
            incremental_fraction: 0.1,
            member_batch: 100,
            verify_only: false,
            refresh_every_cycle: false,
            progress: false,
            request_timeout: Duration::from_secs(60),
        }
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.concurrency == 0 || self.concurrency > 1024 {
            bail!(
                "concurrency must be between 1 and 1024, got {}",
                self.concurrency
            );
        }
        if !(0.0..=1.0).contains(&self.incremental_fraction) {
            bail!(
                "the incremental fraction must be between 0 and 1, got {}",
                self.incremental_fraction
            );
        }
        if self.member_batch == 0 || self.member_batch > 10_000 {
            bail!(
                "the member batch must be between 1 and 10000, got {}",
                self.member_batch
            );
        }
        Ok(())
    }
}

/// Progress display for one phase: a bar on stderr when it is a terminal,
/// nothing otherwise.
pub(crate) fn progress(opts: &Options, name: &str, len: usize) -> indicatif::ProgressBar {
    if !opts.progress || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{prefix:>24} [{bar:30}] {pos}/{len} {per_sec} {elapsed}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(name.to_string());
    bar
}

/// The wall time and requests of each phase of a run.
pub struct Phases {
    list: Vec<PhaseReport>,
}

impl Phases {
    /// Runs `f` as the phase `name`, recording its wall time and requests.
    pub async fn run<T>(&mut self, client: &Client, name: &str, f: impl Future<Output = T>) -> T {
        let before = client.rec.total();
        let started = Instant::now();
        let out = f.await;
        let wall = started.elapsed().as_secs_f64();
        let requests = client.rec.total() - before;
        self.list.push(PhaseReport {
            name: name.to_string(),
            wall_ms: wall * 1000.0,
            requests,
            requests_per_second: if wall > 0.0 {
                requests as f64 / wall
            } else {
                0.0
            },
        });
        out
    }
}

/// Runs the whole simulation. Errors are for runs that could not start or
/// could not go on (bad options, refused credentials, a failed Test
/// Connection); everything else ends up in the report.
pub async fn run(opts: Options) -> anyhow::Result<Report> {
    opts.check()?;
    let started = Instant::now();
    let initial = Directory::generate(opts.seed, opts.users, opts.groups);
    let mut after = initial.clone();
    let changes = if opts.incremental_fraction > 0.0 {
        after.incremental(opts.seed, opts.incremental_fraction)
    } else {
        Vec::new()
    };
    let mut phases = Phases { list: Vec::new() };
    let client = phases.run_connect(&opts).await?;
    phases
        .run(
            &client,
            "test connection",
            cycle::test_connection(&client, &opts),
        )
        .await?;
    let mut cycle_secs = 0.0;
    let mut cycle_requests = 0;
    if !opts.verify_only {
        let before = client.rec.total();
        let t = Instant::now();
        let state = cycle::initial(&client, &opts, &initial, &mut phases).await?;
        if !changes.is_empty() {
            cycle::incremental(&client, &opts, &after, &changes, &state, &mut phases).await?;
        }
        cycle_secs = t.elapsed().as_secs_f64();
        cycle_requests = client.rec.total() - before;
    }
    let differences = phases
        .run(&client, "verify", verify::verify(&client, &opts, &after))
        .await?;
    Ok(Report {
        targets: opts.base_urls.clone(),
        auth: opts.auth.name().to_string(),
        dialect: opts.dialect,
        match_attribute: opts.match_attribute,
        seed: opts.seed,
        users: opts.users,
        groups: opts.groups,
        concurrency: opts.concurrency,
        phases: phases.list,
        requests: client.rec.kinds(),
        total_requests: client.rec.total(),
        failed_requests: client.rec.failed(),
        requests_per_second: if cycle_secs > 0.0 {
            cycle_requests as f64 / cycle_secs
        } else {
            0.0
        },
        cycle_ms: cycle_secs * 1000.0,
        wall_ms: started.elapsed().as_secs_f64() * 1000.0,
        failures: client.rec.failures(),
        differences,
    })
}

impl Phases {
    /// Connecting (and, in the OAuth modes, getting the first token) is a
    /// phase of its own, measured before the client exists.
    async fn run_connect(&mut self, opts: &Options) -> anyhow::Result<Client> {
        let started = Instant::now();
        let client = Client::connect(opts).await?;
        let wall = started.elapsed().as_secs_f64();
        let requests = client.rec.total();
        self.list.push(PhaseReport {
            name: format!("connect ({})", opts.auth.name()),
            wall_ms: wall * 1000.0,
            requests,
            requests_per_second: if wall > 0.0 {
                requests as f64 / wall
            } else {
                0.0
            },
        });
        Ok(client)
    }
}
