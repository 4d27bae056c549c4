//! `scimgate bench --cycle`: the simulator's initial provisioning cycle
//! (Entra's order: every user looked up and created, every group created and
//! filled) against a fresh `scimgate serve` process, with how long it took,
//! whether any request failed, and the server's own memory (`RssAnon`) at
//! start, right after the cycle and once it has settled.
//!
//! Run on a tenant that is otherwise empty and on one that already holds
//! many users (seeded straight into the store), it shows whether memory
//! after a cycle depends on a tenant's size.

use std::time::Duration;

use serde::Serialize;

use super::{Process, ScratchDatabase, Tenant};
use crate::sim;

#[derive(Debug, Serialize)]
pub struct CycleRun {
    /// Users in the tenant before the cycle.
    pub seeded: usize,
    pub users: usize,
    pub groups: usize,
    pub cycle_seconds: f64,
    pub requests: u64,
    pub requests_per_second: f64,
    pub failed_requests: u64,
    /// Differences the simulator's verification found after the cycle.
    pub differences: usize,
    pub rss_anon_start_mib: Option<f64>,
    pub rss_anon_after_mib: Option<f64>,
    /// Ten seconds after the cycle, the server idle.
    pub rss_anon_settled_mib: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct CycleReport {
    pub database: String,
    pub runs: Vec<CycleRun>,
}

/// One cycle of `users` and `groups` per entry of `seeded`, each on a fresh
/// database and a fresh server process.
pub async fn run<D: ScratchDatabase>(
    postgres: Option<&str>,
    users: usize,
    groups: usize,
    seeded: &[usize],
) -> anyhow::Result<CycleReport> {
    let mut runs = Vec::new();
    for &extra in seeded {
        let db = D::create(postgres, "cycle.db").await?;
        let result = one(&db, users, groups, extra).await;
        db.remove().await;
        runs.push(result?);
    }
    Ok(CycleReport {
        database: if postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
        .to_string(),
        runs,
    })
}

async fn one<D: ScratchDatabase>(
    db: &D,
    users: usize,
    groups: usize,
    extra: usize,
) -> anyhow::Result<CycleRun> {
    let Tenant { id: tenant, token } = db.tenant("cycle", "Cycle").await?;
    if extra > 0 {
        eprintln!("seeding {extra} users…");
        db.seed_users(&tenant, 0, extra).await?;
    }
    db.close().await;
    let server = Process::spawn::<D>(&["serve"], &[("SCIMGATE_DATABASE_URL", db.url())])?;
    let start = server.rss_anon_mib();
    let mut o = sim::Options::new(server.scim.clone(), sim::AuthMode::SecretToken { token });
    o.users = users;
    o.groups = groups;
    o.incremental_fraction = 0.0;
    let report = sim::run(o).await?;
    let after = server.rss_anon_mib();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let settled = server.rss_anon_mib();
    let run = CycleRun {
        seeded: extra,
        users,
        groups,
        cycle_seconds: report.cycle_ms / 1000.0,
        requests: report.total_requests,
        requests_per_second: report.requests_per_second,
        failed_requests: report.failed_requests,
        differences: report.differences.len(),
        rss_anon_start_mib: start,
        rss_anon_after_mib: after,
        rss_anon_settled_mib: settled,
    };
    eprintln!("{}", run.line());
    Ok(run)
}

impl CycleRun {
    pub fn line(&self) -> String {
        let mib = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
        format!(
            "cycle of {} users / {} groups on a tenant of {} users: {:.1} s, {} requests ({:.0}/s), {} failed, {} differences; server RssAnon {} MiB at start, {} after, {} settled",
            self.users,
            self.groups,
            self.seeded,
            self.cycle_seconds,
            self.requests,
            self.requests_per_second,
            self.failed_requests,
            self.differences,
            mib(self.rss_anon_start_mib),
            mib(self.rss_anon_after_mib),
            mib(self.rss_anon_settled_mib),
        )
    }
}

impl CycleReport {
    pub fn human(&self) -> String {
        let mut out = format!("scimgate bench --cycle on {}\n\n", self.database);
        for r in &self.runs {
            out.push_str(&r.line());
            out.push('\n');
        }
        out
    }
}
