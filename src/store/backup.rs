//! Backups of the embedded SQLite database: a consistent copy taken while
//! `serve` keeps writing (`VACUUM INTO` reads one snapshot), verified by
//! `PRAGMA integrity_check`, and putting such a copy back. PostgreSQL is
//! backed up with its own tools (`pg_dump`; see the README).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// What a backup holds, for the operator.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub file: PathBuf,
    pub bytes: u64,
    pub tenants: i64,
    pub users: i64,
    pub groups: i64,
    pub events: i64,
    pub integrity: String,
}

/// The database file a SQLite URL names.
pub fn file_of(url: &str) -> anyhow::Result<PathBuf> {
    match super::Backend::from_url(url)? {
        super::Backend::Postgres => anyhow::bail!(
            "scimgate backup copies SQLite databases; back PostgreSQL up with pg_dump (see the README's \"Backups\")"
        ),
        super::Backend::Sqlite => super::direct::sqlite_file(url).ok_or_else(|| {
            anyhow::anyhow!("{url:?} is an in-memory database: there is no file to back up")
        }),
    }
}

/// Checks a database file and counts what it holds.
pub fn verify(file: &Path) -> anyhow::Result<Summary> {
    let conn = rusqlite::Connection::open_with_flags(
        file,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open {}", file.display()))?;
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .context("running PRAGMA integrity_check")?;
    let count = |table: &str| -> anyhow::Result<i64> {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .with_context(|| format!("{} holds no scimgate table {table}", file.display()))
    };
    Ok(Summary {
        file: file.to_path_buf(),
        bytes: std::fs::metadata(file)?.len(),
        tenants: count("tenants")?,
        users: count("scim_users")?,
        groups: count("scim_groups")?,
        events: count("events")?,
        integrity,
    })
}

/// Copies the database at `url` to `out` (which must not exist) while the
/// database stays in use, then verifies the copy.
pub fn backup(url: &str, out: &Path) -> anyhow::Result<Summary> {
    let source = file_of(url)?;
    if !source.exists() {
        anyhow::bail!("there is no database at {}", source.display());
    }
    if out.exists() {
        anyhow::bail!(
            "{} already exists: give a new file name (a backup never overwrites)",
            out.display()
        );
    }
    let conn = rusqlite::Connection::open(&source)
        .with_context(|| format!("cannot open {}", source.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let target = out
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("the backup path must be valid UTF-8"))?;
    conn.execute("VACUUM INTO ?1", [target])
        .with_context(|| format!("copying {} to {}", source.display(), out.display()))?;
    let summary = verify(out)?;
    if summary.integrity != "ok" {
        anyhow::bail!(
            "the copy at {} fails its integrity check: {}",
            out.display(),
            summary.integrity
        );
    }
    Ok(summary)
}

/// Puts a backup in the place of the database at `url`. scimgate must be
/// stopped: a running server keeps the old file open.
pub fn restore(url: &str, from: &Path, force: bool) -> anyhow::Result<Summary> {
    let target = file_of(url)?;
    let summary = verify(from)?;
    if summary.integrity != "ok" {
        anyhow::bail!(
            "{} fails its integrity check ({}); nothing was changed",
            from.display(),
            summary.integrity
        );
    }
    if target.exists() && !force {
        anyhow::bail!(
            "{} exists: stop scimgate, then run again with --force to replace it",
            target.display()
        );
    }
    let partial = target.with_extension("restoring");
    std::fs::copy(from, &partial)
        .with_context(|| format!("copying {} to {}", from.display(), partial.display()))?;
    // The old write-ahead log belongs to the old file.
    for suffix in ["-wal", "-shm"] {
        let mut side = target.clone().into_os_string();
        side.push(suffix);
        let _ = std::fs::remove_file(side);
    }
    std::fs::rename(&partial, &target)
        .with_context(|| format!("moving the restored file to {}", target.display()))?;
    verify(&target)
}
