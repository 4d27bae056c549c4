//! Failed sign-in accounting, shared by every instance through the database:
//! an account or a client address that keeps failing is slowed down, then
//! refused for a while.

use super::tx::args;
use super::{Db, SqlError, format_time, now};

/// How failures are counted and punished.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures counted within this window (seconds).
    pub window_secs: i64,
    /// From this many failures on, each answer is delayed.
    pub slow_after: i64,
    /// At this many failures the key is locked.
    pub lock_after: i64,
    /// For this long (seconds).
    pub lock_secs: i64,
}

/// Per account: slow after 3, lock after 10 failures in 15 minutes.
pub const ACCOUNT: Policy = Policy {
    window_secs: 15 * 60,
    slow_after: 3,
    lock_after: 10,
    lock_secs: 15 * 60,
};

/// Per client address: more lenient (offices share addresses).
pub const ADDRESS: Policy = Policy {
    window_secs: 15 * 60,
    slow_after: 10,
    lock_after: 50,
    lock_secs: 15 * 60,
};

/// The state of a key before an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Allowed, after waiting this many milliseconds.
    Slow(u64),
    /// Refused until this time (RFC 3339).
    Locked(String),
}

/// Checks a key and counts this attempt in one transaction (the row locked
/// on PostgreSQL; SQLite's one writer serialises it): concurrent attempts
/// cannot all pass a check made before any of them was counted, so a key
/// gets at most `lock_after` attempts per window however many arrive at
/// once. The attempt counts as a failure until [`succeeded`] takes it back.
pub async fn attempt(db: &Db, key: &str, policy: Policy) -> Result<Verdict, SqlError> {
    let at = now();
    let cutoff = format_time(chrono::Utc::now() - chrono::Duration::seconds(policy.window_secs));
    let mut tx = db.begin().await?;
    tx.execute(
        "INSERT INTO signin_throttle (key, failures, window_start, locked_until)
         VALUES ($1, 0, $2, NULL) ON CONFLICT (key) DO NOTHING",
        args![key, &at],
    )
    .await?;
    // None when the pruner removed a stale row between the two statements
    // (on PostgreSQL, DO NOTHING does not lock it): a fresh start.
    let row = tx
        .fetch_optional(
            &format!(
                "SELECT failures, window_start, locked_until FROM signin_throttle WHERE key = $1{}",
                db.backend().for_update()
            ),
            args![key],
            |r| {
                Ok((
                    r.get::<i64>("failures")?,
                    r.get::<String>("window_start")?,
                    r.get::<Option<String>>("locked_until")?,
                ))
            },
        )
        .await?;
    let (failures, window_start) = match row {
        Some((stored_failures, window_start, locked)) => {
            if let Some(until) = locked
                && until > at
            {
                tx.rollback().await?;
                return Ok(Verdict::Locked(until));
            }
            if window_start < cutoff {
                (0, at.clone())
            } else {
                (stored_failures, window_start)
            }
        }
        None => (0, at.clone()),
    };
    let (verdict, failures, window_start, locked_until) = if failures >= policy.lock_after {
        // A lock starts a fresh window, so the key is usable again when it ends.
        let until = format_time(chrono::Utc::now() + chrono::Duration::seconds(policy.lock_secs));
        (Verdict::Locked(until.clone()), 0, at.clone(), Some(until))
    } else if failures >= policy.slow_after {
        let extra = (failures - policy.slow_after + 1).min(5) as u64;
        (Verdict::Slow(extra * 500), failures + 1, window_start, None)
    } else {
        (Verdict::Allow, failures + 1, window_start, None)
    };
    tx.execute(
        "INSERT INTO signin_throttle (key, failures, window_start, locked_until) VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,
             window_start = excluded.window_start, locked_until = excluded.locked_until",
        args![key, failures, &window_start, &locked_until],
    )
    .await?;
    tx.commit().await?;
    Ok(verdict)
}

/// Takes back the failure [`attempt`] counted, for an attempt that
/// succeeded (used for keys shared by many people, such as an address).
pub async fn succeeded(db: &Db, key: &str) -> Result<(), SqlError> {
    db.execute(
        "UPDATE signin_throttle SET failures = failures - 1 WHERE key = $1 AND failures > 0",
        args![key],
    )
    .await?;
    Ok(())
}

/// Forgets a key's failures (after a successful sign-in).
pub async fn reset(db: &Db, key: &str) -> Result<(), SqlError> {
    db.execute("DELETE FROM signin_throttle WHERE key = $1", args![key])
        .await?;
    Ok(())
}

/// Deletes up to `batch` rows that no longer matter: their window has
/// passed and they hold no lock. Returns how many.
pub async fn prune(db: &Db, batch: i64) -> Result<u64, SqlError> {
    let window = ACCOUNT.window_secs.max(ADDRESS.window_secs);
    let stale = format_time(chrono::Utc::now() - chrono::Duration::seconds(window));
    db.execute(
        "DELETE FROM signin_throttle WHERE key IN (
             SELECT key FROM signin_throttle
             WHERE window_start < $1 AND (locked_until IS NULL OR locked_until < $2)
             LIMIT $3)",
        args![&stale, &now(), batch],
    )
    .await
}
