//! `scimgate bench` and `scimgate bench-ceiling`: the benchmarks of
//! [`scimgate_tools::bench`], on scratch databases of this crate's store.

mod scratch;

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use scimgate_tools::bench::{self, Options};

use scratch::Scratch;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Run on a fresh database of this PostgreSQL server (created and dropped);
    /// default: a temporary SQLite file.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Tenant sizes for the hot path, comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_value = "1000,100000")]
    pub users: Vec<usize>,
    /// Concurrency levels, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    pub concurrency: Vec<usize>,
    /// Most requests per measurement. High enough that `--seconds` ends a
    /// measurement: windows of a second or two (20,000 requests at the
    /// hot path's rate) move with every hiccup of a shared machine.
    #[arg(long, default_value_t = 1_000_000)]
    pub requests: u64,
    /// Longest time per measurement, in seconds.
    #[arg(long, default_value_t = 15)]
    pub seconds: u64,
    /// Only the read path.
    #[arg(long)]
    pub skip_writes: bool,
    /// Also run the simulator's initial cycle of this many users without
    /// and with a webhook, for the commit → delivery lag during a cycle.
    #[arg(long)]
    pub webhook_cycle_users: Option<usize>,
    /// Groups of that cycle.
    #[arg(long, default_value_t = 200)]
    pub webhook_cycle_groups: usize,
    /// Instead of the rest: the hostile and oversized cases (unindexed
    /// filters and sorts, large groups listed, a 40,000-value PATCH) on a
    /// tenant of the first `--users` size, with the
    /// server's RssAnon before, at its peak and after each.
    #[arg(long)]
    pub hostile: bool,
    /// Instead of the rest: the simulator's initial cycle of this many
    /// users (and `--cycle-groups` groups) against a fresh server, once per
    /// `--cycle-tenants` size, with the time and the server's RssAnon.
    #[arg(long)]
    pub cycle: Option<usize>,
    #[arg(long, default_value_t = 200)]
    pub cycle_groups: usize,
    /// Users already in the tenant before each cycle, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub cycle_tenants: Vec<usize>,
    /// Runs of each load measurement; medians are reported with the range.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// What sends the load: `wrk` (installed by `scripts/install-wrk`),
    /// `builtin` (scimgate's own client) or `auto` (wrk when installed).
    #[arg(long, default_value = "auto", value_parser = ["auto", "wrk", "builtin"])]
    pub generator: String,
}

#[derive(Debug, Args)]
pub struct CeilingArgs {
    #[arg(long)]
    pub bind: SocketAddr,
    #[arg(long, env = "SCIMGATE_BENCH_TOKEN")]
    pub token: String,
}

pub async fn run(args: BenchArgs, json: bool) -> anyhow::Result<()> {
    let opt_level = env!("SCIMGATE_OPT_LEVEL");
    if opt_level != "3" {
        eprintln!(
            "note: this scimgate was built with opt-level {opt_level}; BENCHMARKS.md measures \
             `cargo build --profile dist` (opt-level 3, optimised across crates)"
        );
    }
    let mut sizes = args.users.clone();
    sizes.sort_unstable();
    sizes.dedup();
    if args.concurrency.iter().any(|&c| c == 0 || c > 1024) {
        anyhow::bail!("--concurrency levels must be between 1 and 1024");
    }
    if args.hostile {
        let users = sizes.first().copied().unwrap_or(20_000);
        let report = bench::hostile::run::<Scratch>(users).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!("{}", report.human());
        }
        return Ok(());
    }
    if let Some(users) = args.cycle {
        let report = bench::cycle::run::<Scratch>(
            args.postgres.as_deref(),
            users,
            args.cycle_groups,
            &args.cycle_tenants,
        )
        .await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!("{}", report.human());
        }
        return Ok(());
    }
    let opts = Options {
        postgres: args.postgres,
        sizes,
        concurrency: args.concurrency,
        max_requests: args.requests,
        max_duration: Duration::from_secs(args.seconds.clamp(1, 600)),
        skip_writes: args.skip_writes,
        webhook_cycle: args
            .webhook_cycle_users
            .map(|u| (u, args.webhook_cycle_groups)),
        repeat: args.repeat.clamp(1, 20),
        generator: match args.generator.as_str() {
            "wrk" if !bench::wrk::available() => {
                anyhow::bail!(
                    "wrk is not installed: run scripts/install-wrk, or --generator builtin"
                )
            }
            "wrk" => bench::Generator::Wrk,
            "builtin" => bench::Generator::Builtin,
            _ => bench::Generator::detect(),
        },
    };
    let report = bench::run::<Scratch>(&opts).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report.human());
    }
    Ok(())
}

pub async fn ceiling(args: CeilingArgs) -> anyhow::Result<()> {
    bench::ceiling::serve(args.bind, args.token, crate::paths::SCIM_PREFIX).await
}
