//! `scimgate bench`: measures the service as Entra uses it, on this machine,
//! against a real `scimgate serve` process (so its memory can be read) over
//! loopback HTTP, next to the machine's ceiling measured the same way: a
//! trivial axum handler that checks a bearer header and returns a small
//! fixed JSON body.
//!
//! Numbers are reported, never asserted: see BENCHMARKS.md.
//!
//! What the benchmarks need of the server's code (a database of their own,
//! set up straight in the store) comes through [`ScratchDatabase`], which
//! the command line implements.

pub mod ceiling;
pub mod cycle;
pub mod hostile;
pub mod load;
pub mod webhook;
pub mod wrk;

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use load::{LoadResult, Target};

/// What the benchmarks need of scimgate besides its binary: a database of
/// their own for each run, set up straight in the store (setting up is not
/// what is measured) before `scimgate serve` processes are started on it.
#[async_trait::async_trait]
pub trait ScratchDatabase: Sized + Send + Sync {
    /// Where the server answers SCIM (`/scim/v2`).
    const SCIM_PREFIX: &'static str;

    /// A fresh database, connected: a SQLite file named `file` in a
    /// temporary folder, or a new database on the PostgreSQL server whose
    /// URL is `postgres`.
    async fn create(postgres: Option<&str>, file: &str) -> anyhow::Result<Self>;

    /// The URL the servers are started on.
    fn url(&self) -> &str;

    /// `SQLite` or `PostgreSQL`, for the report.
    fn label(&self) -> &'static str;

    /// A new tenant and a secret token for its SCIM API.
    async fn tenant(&self, slug: &str, name: &str) -> anyhow::Result<Tenant>;

    /// Inserts the tenant's users `from..to`, named by [`user_name`].
    async fn seed_users(&self, tenant_id: &str, from: usize, to: usize) -> anyhow::Result<()>;

    /// Fresh planner statistics on PostgreSQL, as autovacuum would give a
    /// long-running database (it may be off on a test server); nothing on
    /// SQLite.
    async fn analyze(&self) -> anyhow::Result<()>;

    /// Up to 10,000 of the tenant's user ids, in id order, from `offset`.
    async fn user_ids(&self, tenant_id: &str, offset: usize) -> anyhow::Result<Vec<String>>;

    /// A webhook endpoint at `url` for one tenant's events, or every
    /// tenant's.
    async fn create_webhook(&self, tenant_id: Option<&str>, url: &str) -> anyhow::Result<Webhook>;

    async fn delete_webhook(&self, id: &str) -> anyhow::Result<()>;

    /// The position of the latest event in the log.
    async fn latest_event(&self) -> anyhow::Result<i64>;

    /// Closes the connection; the database stays for the servers.
    async fn close(&self);

    /// Closes the connection and removes the database: the PostgreSQL
    /// database is dropped, the SQLite file goes with its folder.
    async fn remove(self);
}

/// A tenant made by [`ScratchDatabase::tenant`].
pub struct Tenant {
    pub id: String,
    /// A secret token for its SCIM API.
    pub token: String,
}

/// An endpoint made by [`ScratchDatabase::create_webhook`].
pub struct Webhook {
    pub id: String,
    /// The position of the last event before it: it receives those after.
    pub start_after: i64,
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// `sqlite` (a temporary file) or a PostgreSQL server URL on which a
    /// fresh database is created and dropped afterwards.
    pub postgres: Option<String>,
    /// Tenant sizes for the hot path, ascending (e.g. 1000 and 100000).
    pub sizes: Vec<usize>,
    pub concurrency: Vec<usize>,
    /// Upper bounds of each measurement: whichever comes first.
    pub max_requests: u64,
    pub max_duration: Duration,
    /// Skip the write measurements.
    pub skip_writes: bool,
    /// Also run the simulator's initial cycle of (users, groups) without and
    /// with a webhook, for the commit → delivery lag during a cycle.
    pub webhook_cycle: Option<(usize, usize)>,
    /// Runs of each load measurement (the ceiling and the hot path
    /// alternate within a run); medians are reported with the spread.
    pub repeat: usize,
    pub generator: Generator,
}

/// What sends the HTTP load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Generator {
    /// `wrk`, a separate program (see [`wrk`]).
    Wrk,
    /// scimgate's own client, when wrk is not installed: it shares the
    /// runtime and the cores with nothing else of scimgate, but it is
    /// heavier than wrk per request, which lowers the ceiling it measures.
    Builtin,
}

impl Generator {
    /// `wrk` when it can be run, the built-in client otherwise.
    pub fn detect() -> Generator {
        if wrk::available() {
            Generator::Wrk
        } else {
            Generator::Builtin
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub database: String,
    pub generator: Generator,
    pub ceiling: Vec<LoadResult>,
    pub hot_path: Vec<SizedResult>,
    pub writes: Vec<LoadResult>,
    /// Creates with and without a webhook, and the commit → delivery lag.
    pub webhook: Option<webhook::WebhookReport>,
    /// The same during the simulator's initial cycle.
    pub webhook_cycle: Option<webhook::CycleReport>,
    /// Resident memory of the server after the largest run, in MiB.
    pub server_rss_mib: Option<f64>,
    /// The part of it that is the process's own memory (heap, stacks): the
    /// rest is pages of the SQLite file mapped for reading, which belong to
    /// the operating system's page cache and are reclaimable.
    pub server_rss_anon_mib: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct SizedResult {
    pub users: usize,
    #[serde(flatten)]
    pub result: LoadResult,
}

/// A `scimgate` child process.
struct Process {
    child: Child,
    /// Its SCIM base URL, `http://host:port/scim/v2`.
    pub scim: String,
}

impl Process {
    /// Starts `scimgate` with `args` on a free port of the loopback; it
    /// answers SCIM under `D`'s prefix.
    fn spawn<D: ScratchDatabase>(args: &[&str], envs: &[(&str, &str)]) -> anyhow::Result<Process> {
        let addr = free_port()?;
        let exe = std::env::current_exe().context("locating the scimgate binary")?;
        let mut cmd = Command::new(exe);
        cmd.args(args)
            .arg("--bind")
            .arg(addr.to_string())
            .env("RUST_LOG", "warn")
            // The benchmarks measure the server, not its rate limits.
            .env("SCIMGATE_TENANT_RATE_LIMIT", "0")
            .env("SCIMGATE_CLIENT_RATE_LIMIT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().context("starting a server process")?;
        let p = Process {
            child,
            scim: format!("http://{addr}{}", D::SCIM_PREFIX),
        };
        wait_for(addr)?;
        Ok(p)
    }

    /// CPU seconds (user + system) the process has used so far, from
    /// `/proc` (Linux; `None` elsewhere). The kernel reports them in ticks of
    /// USER_HZ, which is 100 on Linux.
    fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the command name (which is in parentheses and may
        // hold spaces): utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) / 100.0)
    }

    /// Runs one hot-path measurement against this process with the chosen
    /// generator, recording the server's CPU time per request.
    async fn measure(
        &self,
        bench: &Bench<'_>,
        users: usize,
        concurrency: usize,
        name: String,
    ) -> anyhow::Result<LoadResult> {
        let opts = bench.opts;
        let before = self.cpu_seconds();
        let mut r = match opts.generator {
            Generator::Wrk => {
                let script = wrk::Script::HotPath {
                    token: bench.token,
                    users,
                };
                wrk::run(
                    &self.scim,
                    &script,
                    concurrency,
                    opts.max_duration,
                    bench.dir,
                )
                .await?
            }
            Generator::Builtin => {
                let target = Arc::new(Target::hot_path(&self.scim, bench.token, users));
                load::run(
                    bench.client,
                    &target,
                    concurrency,
                    opts.max_requests,
                    opts.max_duration,
                )
                .await
            }
        };
        self.attribute_cpu(&mut r, before);
        r.name = name;
        eprintln!("{}", r.line());
        Ok(r)
    }

    /// Sets the server's CPU time per request of `r`, from the process's
    /// CPU time `before` it and now.
    fn attribute_cpu(&self, r: &mut LoadResult, before: Option<f64>) {
        if let (Some(b), Some(a)) = (before, self.cpu_seconds())
            && r.requests > 0
        {
            r.server_cpu_us = Some((a - b) * 1e6 / r.requests as f64);
        }
    }

    fn rss_mib(&self) -> Option<f64> {
        self.status_mib("VmRSS:")
    }

    fn rss_anon_mib(&self) -> Option<f64> {
        self.status_mib("RssAnon:")
    }

    /// A `kB` field of `/proc/PID/status`, in MiB.
    fn status_mib(&self, field: &str) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// Polls until the server accepts connections (bounded: 60 s).
fn wait_for(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    anyhow::bail!("the server at {addr} did not start within 60 s")
}

pub fn user_name(i: usize) -> String {
    format!("user{i:06}@bench.example")
}

/// What every measurement of one run shares.
struct Bench<'a> {
    opts: &'a Options,
    token: &'a str,
    client: &'a reqwest::Client,
    /// Where wrk's scripts are written.
    dir: &'a std::path::Path,
}

/// Runs every measurement.
pub async fn run<D: ScratchDatabase>(opts: &Options) -> anyhow::Result<Report> {
    let db = D::create(opts.postgres.as_deref(), "bench.db").await?;
    let result = run_on(opts, &db).await;
    db.remove().await;
    result
}

async fn run_on<D: ScratchDatabase>(opts: &Options, db: &D) -> anyhow::Result<Report> {
    let url = db.url();
    let Tenant { id: tenant, token } = db.tenant("bench", "Bench").await?;
    let client = load::client(opts.concurrency.iter().copied().max().unwrap_or(1))?;
    let dir = tempfile::tempdir()?;
    let bench = Bench {
        opts,
        token: &token,
        client: &client,
        dir: dir.path(),
    };
    eprintln!(
        "load generator: {}",
        match opts.generator {
            Generator::Wrk => "wrk",
            Generator::Builtin => "scimgate's own client (wrk is not installed)",
        }
    );

    // The ceiling: a handler doing nothing, loaded the same way over the
    // same loopback, alternating with the hot path so that both see the
    // same machine.
    let ceiling_server =
        Process::spawn::<D>(&["bench-ceiling"], &[("SCIMGATE_BENCH_TOKEN", &token)])?;
    let server = Process::spawn::<D>(&["serve"], &[("SCIMGATE_DATABASE_URL", url)])?;
    let mut ceiling = Vec::new();
    let mut hot_path = Vec::new();
    let mut seeded = 0;
    for &size in &opts.sizes {
        eprintln!("seeding {} users…", size - seeded.min(size));
        db.seed_users(&tenant, seeded, size).await?;
        seeded = seeded.max(size);
        db.analyze().await?;
        // One short warm-up so caches and pools are in their steady state.
        let target = Arc::new(Target::hot_path(&server.scim, &token, size));
        load::run(&client, &target, 8, 500, Duration::from_secs(5)).await;
        let mut runs: Vec<(Vec<LoadResult>, Vec<LoadResult>)> = opts
            .concurrency
            .iter()
            .map(|_| Default::default())
            .collect();
        for rep in 1..=opts.repeat.max(1) {
            for (i, &c) in opts.concurrency.iter().enumerate() {
                let name = format!("ceiling c={c}");
                let r = ceiling_server
                    .measure(&bench, 0, c, format!("{name} (run {rep})"))
                    .await?;
                runs[i].0.push(LoadResult { name, ..r });
                let name = format!("hot path {size} users c={c}");
                let r = server
                    .measure(&bench, size, c, format!("{name} (run {rep})"))
                    .await?;
                runs[i].1.push(LoadResult { name, ..r });
            }
        }
        for (c, h) in runs {
            ceiling.extend(LoadResult::median_of(&c));
            if let Some(result) = LoadResult::median_of(&h) {
                hot_path.push(SizedResult {
                    users: size,
                    result,
                });
            }
        }
    }
    drop(ceiling_server);

    let mut writes = Vec::new();
    let mut webhook = None;
    if !opts.skip_writes {
        // The read log of the hot path's requests is still being written
        // (through the one writer) for a few seconds after it: let it drain,
        // so that the writes measured are not queued behind it.
        tokio::time::sleep(Duration::from_secs(5)).await;
        writes = match opts.generator {
            Generator::Wrk => wrk_writes(&bench, &server, seeded).await?,
            Generator::Builtin => {
                load::writes(&client, &server.scim, &token, seeded, opts.max_duration).await?
            }
        };
        for r in &writes {
            eprintln!("{}", r.line());
        }
        // Creates just before the endpoint is registered, as the baseline
        // (with the built-in client: the comparison is with and without a
        // webhook, the same client both times).
        let without = load::creates(
            &client,
            &server.scim,
            &token,
            "create user c=8, no webhook (own client)",
            opts.max_duration,
        )
        .await;
        eprintln!("{}", without.line());
        let w = webhook::measure(
            db,
            &client,
            &server.scim,
            &token,
            &without,
            opts.max_duration,
        )
        .await?;
        writes.push(without);
        webhook = Some(w);
    }
    let webhook_cycle = match opts.webhook_cycle {
        Some((users, groups)) => Some(webhook::cycle(db, &server.scim, users, groups).await?),
        None => None,
    };
    let server_rss_mib = server.rss_mib();
    let server_rss_anon_mib = server.rss_anon_mib();
    drop(server);
    db.close().await;
    Ok(Report {
        database: db.label().to_string(),
        generator: opts.generator,
        ceiling,
        hot_path,
        writes,
        webhook,
        webhook_cycle,
        server_rss_mib,
        server_rss_anon_mib,
    })
}

/// Said when the member measurement cannot run.
pub(crate) const MEMBERS_SKIPPED: &str = "member changes not measured: they need --users 11000 or more \
     (a group of 10,000 members and 1,000 users outside it)";

/// One write measurement from wrk at concurrency 8.
async fn measure_writes(
    bench: &Bench<'_>,
    server: &Process,
    script: wrk::Script<'_>,
    name: &str,
) -> anyhow::Result<LoadResult> {
    let before = server.cpu_seconds();
    let mut r = wrk::run(&server.scim, &script, 8, bench.opts.max_duration, bench.dir).await?;
    server.attribute_cpu(&mut r, before);
    r.name = name.to_string();
    Ok(r)
}

/// Creates, PATCHes and single-member changes of a 10,000-member group
/// (with at least 11,000 users seeded) at concurrency 8, from wrk, with
/// the server's CPU time per request.
async fn wrk_writes(
    bench: &Bench<'_>,
    server: &Process,
    seeded: usize,
) -> anyhow::Result<Vec<LoadResult>> {
    let client = bench.client;
    let scim = &server.scim;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let mut out = Vec::new();
    out.push(
        measure_writes(
            bench,
            server,
            wrk::Script::Creates {
                token: bench.token,
                run_id: &run_id[..8],
            },
            "create user c=8",
        )
        .await?,
    );
    let ids = load::all_user_ids(client, scim, bench.token, 11_000.min(seeded)).await?;
    if !ids.is_empty() {
        let some = &ids[..ids.len().min(1000)];
        out.push(
            measure_writes(
                bench,
                server,
                wrk::Script::Patches {
                    token: bench.token,
                    ids: some,
                },
                "patch user c=8",
            )
            .await?,
        );
    }
    if ids.len() >= 11_000 {
        let gid = load::big_group(client, scim, bench.token, &ids[..10_000], &run_id).await?;
        out.push(
            measure_writes(
                bench,
                server,
                wrk::Script::MemberChanges {
                    token: bench.token,
                    group: &gid,
                    ids: &ids[10_000..],
                },
                "add or remove 1 member, 10k group c=8",
            )
            .await?,
        );
    } else {
        eprintln!("{MEMBERS_SKIPPED}");
    }
    Ok(out)
}

impl Report {
    pub fn human(&self) -> String {
        let mut out = format!(
            "scimgate bench on {}, load from {}\n\n",
            self.database,
            match self.generator {
                Generator::Wrk => "wrk",
                Generator::Builtin => "scimgate's own client",
            }
        );
        out.push_str(&format!(
            "{:<40} {:>10} {:>15} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9}\n",
            "measurement",
            "req/s",
            "range",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "errors",
            "server µs"
        ));
        for r in self
            .ceiling
            .iter()
            .chain(self.hot_path.iter().map(|s| &s.result))
            .chain(self.writes.iter())
        {
            out.push_str(&r.row());
            out.push('\n');
        }
        if let Some(w) = &self.webhook {
            out.push_str(&format!(
                "\nwebhook: creates {:.0}/s with one endpoint, {:.0}/s without ({:.0} %); {} events delivered, commit → delivery p50 {} ms, p99 {} ms, max {} ms; all delivered {} ms after the last create\n",
                w.creates_with,
                w.creates_without,
                w.ratio * 100.0,
                w.delivered,
                w.lag_p50_ms,
                w.lag_p99_ms,
                w.lag_max_ms,
                w.catch_up_ms
            ));
        }
        if let Some(c) = &self.webhook_cycle {
            out.push_str(&format!(
                "initial cycle of {} users and {} groups: {:.1} s ({:.0} req/s) without a webhook, {:.1} s ({:.0} req/s, {:.0} %) with one; {} events delivered, commit → delivery p50 {} ms, p99 {} ms, max {} ms; all delivered {} ms after the cycle\n",
                c.users,
                c.groups,
                c.seconds_without,
                c.requests_per_second_without,
                c.seconds_with,
                c.requests_per_second_with,
                if c.requests_per_second_without > 0.0 {
                    c.requests_per_second_with / c.requests_per_second_without * 100.0
                } else {
                    0.0
                },
                c.delivered,
                c.lag_p50_ms,
                c.lag_p99_ms,
                c.lag_max_ms,
                c.catch_up_ms
            ));
        }
        if let Some(rss) = self.server_rss_mib {
            out.push_str(&format!(
                "\nserver resident memory after the runs: {rss:.1} MiB"
            ));
            if let Some(anon) = self.server_rss_anon_mib {
                out.push_str(&format!(
                    " ({anon:.1} MiB its own; the rest are mapped file pages: the program and, on SQLite, the database)"
                ));
            }
            out.push('\n');
        }
        out.push_str("server µs: CPU time (user + system) the server process spent per request\n");
        out.push_str(
            "req/s and latencies: medians of the runs; range: the lowest and highest req/s\n",
        );
        // The ceiling was measured beside each hot-path row, in the same
        // order (per tenant size, per concurrency).
        for (h, c) in self.hot_path.iter().zip(&self.ceiling) {
            out.push_str(&format!(
                "{}: {:.2} of the ceiling measured beside it\n",
                h.result.name,
                h.result.requests_per_second / c.requests_per_second.max(1.0)
            ));
        }
        out
    }
}
