//! The service's periodic housekeeping, on every instance, once a minute:
//! events and activity past their retention, codes and sign-in
//! counters past their use, and mapping recomputes that a restart cut
//! short. Each step works in small batches with pauses, so provisioning
//! never waits long for the writer. (Console sessions have their own
//! cleanup.)

use std::time::Duration;

use crate::events::{self, Settings};
use crate::provision::recompute;
use crate::store::{self, Db, SqlError};

/// How often the housekeeping runs.
const EVERY: Duration = Duration::from_secs(60);
/// Rows deleted per statement.
const BATCH: i64 = 500;

/// Runs the housekeeping until the task is aborted.
pub fn spawn(db: Db, settings: Settings) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(db, settings))
}

async fn run(db: Db, settings: Settings) {
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match events::prune_all(&db, settings.retention_days).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "pruned events past retention"),
            Err(e) => tracing::warn!(error = %e, "pruning events failed; retrying"),
        }
        match prune_activity(&db, settings.activity_retention_days).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(entries = n, "pruned activity entries past retention"),
            Err(e) => tracing::warn!(error = %e, "pruning the activity log failed; retrying"),
        }
        match prune_expired(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "pruned expired codes and sign-in counters"),
            Err(e) => tracing::warn!(error = %e, "pruning expired rows failed; retrying"),
        }
        match recompute::resume_all(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(tenants = n, "finished mapping recomputes cut short"),
            Err(e) => tracing::warn!(error = %e, "resuming a mapping recompute failed; retrying"),
        }
    }
}

/// Deletes activity entries older than the retention, oldest first, in
/// small batches with pauses between them; returns how many.
pub async fn prune_activity(db: &Db, retention_days: u32) -> Result<u64, SqlError> {
    let cutoff =
        store::format_time(chrono::Utc::now() - chrono::Duration::days(i64::from(retention_days)));
    let mut total = 0;
    loop {
        let n = store::activity::prune(db, &cutoff, BATCH).await?;
        total += n;
        if n < BATCH as u64 {
            return Ok(total);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Deletes what has expired and serves no purpose any more — authorization
/// codes a day past their expiry, sign-in failure counters past their
/// window — in small batches with pauses between them; returns how many.
pub async fn prune_expired(db: &Db) -> Result<u64, SqlError> {
    let mut total = 0;
    loop {
        let codes = store::grants::prune_codes(db, BATCH).await?;
        let counters = store::throttle::prune(db, BATCH).await?;
        total += codes + counters;
        if codes < BATCH as u64 && counters < BATCH as u64 {
            return Ok(total);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
