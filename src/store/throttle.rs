//! Failed sign-in accounting, shared by every instance through the database:
//! an account or a client address that keeps failing is slowed down, then
//! refused for a while.

use sqlx::Row as _;

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

pub async fn check(db: &Db, key: &str, policy: Policy) -> Result<Verdict, SqlError> {
    let row = sqlx::query(
        "SELECT failures, window_start, locked_until FROM signin_throttle WHERE key = $1",
    )
    .bind(key)
    .fetch_optional(db.reader())
    .await?;
    let Some(row) = row else {
        return Ok(Verdict::Allow);
    };
    let at = now();
    let locked: Option<String> = row.try_get("locked_until")?;
    if let Some(until) = locked
        && until > at
    {
        return Ok(Verdict::Locked(until));
    }
    let window_start: String = row.try_get("window_start")?;
    let cutoff = format_time(chrono::Utc::now() - chrono::Duration::seconds(policy.window_secs));
    if window_start < cutoff {
        return Ok(Verdict::Allow);
    }
    let failures: i64 = row.try_get("failures")?;
    if failures >= policy.slow_after {
        let extra = (failures - policy.slow_after + 1).min(5) as u64;
        return Ok(Verdict::Slow(extra * 500));
    }
    Ok(Verdict::Allow)
}

/// Counts a failure; locks the key when it reaches the limit.
pub async fn record_failure(db: &Db, key: &str, policy: Policy) -> Result<(), SqlError> {
    let at = now();
    let cutoff = format_time(chrono::Utc::now() - chrono::Duration::seconds(policy.window_secs));
    let mut tx = db.begin().await?;
    let row = sqlx::query("SELECT failures, window_start FROM signin_throttle WHERE key = $1")
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
    let (failures, window_start) = match row {
        Some(r) => {
            let ws: String = r.try_get("window_start")?;
            let f: i64 = r.try_get("failures")?;
            if ws < cutoff {
                (1, at.clone())
            } else {
                (f + 1, ws)
            }
        }
        None => (1, at.clone()),
    };
    let locked_until = (failures >= policy.lock_after)
        .then(|| format_time(chrono::Utc::now() + chrono::Duration::seconds(policy.lock_secs)));
    // A lock starts a fresh window, so the key is usable again when it ends.
    let (failures, window_start) = if locked_until.is_some() {
        (0, at.clone())
    } else {
        (failures, window_start)
    };
    sqlx::query(
        "INSERT INTO signin_throttle (key, failures, window_start, locked_until) VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start,
             locked_until = excluded.locked_until",
    )
    .bind(key)
    .bind(failures)
    .bind(window_start)
    .bind(locked_until)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Forgets a key's failures (after a successful sign-in).
pub async fn reset(db: &Db, key: &str) -> Result<(), SqlError> {
    sqlx::query("DELETE FROM signin_throttle WHERE key = $1")
        .bind(key)
        .execute(db.writer())
        .await?;
    Ok(())
}
