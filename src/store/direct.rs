//! Reads on SQLite without leaving the request's thread.
//!
//! sqlx runs each SQLite connection on a thread of its own: a query is a
//! message to that thread and a wake-up back, several context switches for
//! a lookup that itself takes a few microseconds. For the reads every SCIM
//! request makes — the bearer token check and Entra's matching query — that
//! hand-off cost more than the query. Here they run on the calling thread,
//! on a connection of a small pool of plain SQLite connections.
//!
//! Running them inline on an async worker is safe because of what they
//! are: one indexed lookup each, on a database in WAL mode, where readers
//! never wait for the writer. The connections are opened `query_only`, so
//! nothing written through them is possible. Other reads (and all of
//! PostgreSQL) go through sqlx; writes on SQLite go through
//! [`super::writer`].

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::SqlError;

/// Idle connections kept; one is in use per thread at a time, so this bounds
/// what stays open after a burst.
const MAX_IDLE: usize = 16;

pub struct DirectReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for DirectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectReader")
            .field("path", &self.path)
            .finish()
    }
}

impl DirectReader {
    /// Opens a reader of the database file at `path` (which must exist).
    pub fn open(path: &Path) -> Result<DirectReader, SqlError> {
        let reader = DirectReader {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        };
        let first = reader.connect()?;
        reader.put_back(first);
        Ok(reader)
    }

    fn connect(&self) -> Result<Connection, SqlError> {
        let conn = open(&self.path).map_err(error)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(error)?;
        conn.pragma_update(None, "query_only", true)
            .map_err(error)?;
        conn.pragma_update(None, "mmap_size", super::SQLITE_MMAP_BYTES)
            .map_err(error)?;
        Ok(conn)
    }

    fn put_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
    }

    /// Runs `read` on a connection of the pool.
    pub fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, SqlError> {
        let conn = match self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let out = read(&conn).map_err(error);
        self.put_back(conn);
        out
    }
}

/// A plain connection to the database file at `path` (which must exist),
/// used by one thread at a time.
pub(super) fn open(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

/// A SQLite error in sqlx's error type, so that callers handle both paths
/// alike.
fn error(e: rusqlite::Error) -> SqlError {
    SqlError::Sqlite(e)
}

/// The database file of a `sqlite:` URL, or `None` for an in-memory one
/// (whose connections would each see a different database).
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let memory = path.is_empty()
        || path == ":memory:"
        || query
            .split('&')
            .any(|kv| kv.eq_ignore_ascii_case("mode=memory"));
    (!memory).then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_of_sqlite_urls() {
        assert_eq!(
            sqlite_file("sqlite://scimgate.db"),
            Some(PathBuf::from("scimgate.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///var/lib/scimgate/db.sqlite?mode=rwc"),
            Some(PathBuf::from("/var/lib/scimgate/db.sqlite"))
        );
        assert_eq!(
            sqlite_file("sqlite:data.db"),
            Some(PathBuf::from("data.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://x.db?mode=memory"), None);
        assert_eq!(sqlite_file("postgres://localhost/db"), None);
    }

    #[test]
    fn reads_without_writing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let setup = Connection::open(&path).unwrap();
        setup
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('a');",
            )
            .unwrap();
        let reader = DirectReader::open(&path).unwrap();
        let v: String = reader
            .read(|c| c.query_row("SELECT v FROM t", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(v, "a");
        let err = reader
            .read(|c| c.execute("INSERT INTO t VALUES ('b')", []))
            .unwrap_err();
        assert!(err.to_string().contains("readonly"), "{err}");
        let n: i64 = setup
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }
}
