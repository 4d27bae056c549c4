//! The database: SQLite (the embedded default) or PostgreSQL (chosen by the
//! URL scheme), each with its own migrations (`migrations/sqlite`,
//! `migrations/postgres`; a test checks they make the same schema).
//!
//! Most queries are written once over `sqlx::Any` and run on both. They use
//! `$1` placeholders, which both drivers accept, except in multi-row inserts,
//! which use `?` on SQLite ([`sql::value_rows`]), and bind only text,
//! integers and bytes, which `Any` carries on both.
//!
//! SQLite allows one writer at a time. On a SQLite file every write of
//! the service runs on one plain connection, held by one task at a time
//! ([`writer`]): transactions run their statements on the request's own
//! thread ([`tx`]) and commit in groups. Reads go through a wider sqlx
//! pool, and the reads every SCIM request makes (the token check and
//! Entra's hot lookup) through plain read-only connections, also on the
//! request's own thread ([`direct`]). On PostgreSQL (and on an in-memory
//! SQLite database) one sqlx pool serves reads and writes.

pub mod activity;
pub mod admins;
pub mod app_keys;
pub mod backup;
pub mod bulk;
pub mod clients;
pub mod direct;
pub mod events;
pub mod grants;
pub mod listings;
pub mod lookup;
pub mod mapping;
pub mod members;
mod migrations;
pub mod resources;
pub mod sessions;
pub mod setup;
pub mod sql;
pub mod sso;
pub mod tenants;
pub mod throttle;
pub mod tokens;
pub mod tx;
pub mod webhooks;
pub mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor as _};

use direct::DirectReader;
pub use tx::Tx;

/// A failure of the database (or of what the store read from it). The
/// store's functions return it; each face turns it into its own answer
/// through a `From` impl, so callers write `?` (a busy database, see
/// [`SqlError::is_busy`], is a 503 with `Retry-After` on every face that
/// writes).
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// From a plain SQLite connection (see [`direct`], [`tx`]).
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// `From<sqlx::Error>` for a store error type that already converts from
/// [`SqlError`], so that `?` works on statements inside its functions.
macro_rules! from_sqlx {
    ($($t:ty),+) => {$(
        impl From<sqlx::Error> for $t {
            fn from(e: sqlx::Error) -> Self {
                Self::from($crate::store::SqlError::from(e))
            }
        }
    )+};
}
pub(crate) use from_sqlx;

impl SqlError {
    /// Something read or about to be written is not what the store expects.
    pub fn invalid(message: impl Into<String>) -> SqlError {
        SqlError::Sqlx(sqlx::Error::Protocol(message.into()))
    }

    /// A value could not be encoded for storing.
    pub fn encode(e: impl std::error::Error + Send + Sync + 'static) -> SqlError {
        SqlError::Sqlx(sqlx::Error::Encode(Box::new(e)))
    }

    /// A stored value could not be decoded.
    pub fn decode(e: impl std::error::Error + Send + Sync + 'static) -> SqlError {
        SqlError::Sqlx(sqlx::Error::Decode(Box::new(e)))
    }

    /// Whether this means "busy, try again": a write that waited too long
    /// for the database (the pool, SQLite's lock) or a lock or statement
    /// timeout on PostgreSQL. Answered 503 with `Retry-After`, not 500.
    pub fn is_busy(&self) -> bool {
        match self {
            SqlError::Sqlx(sqlx::Error::PoolTimedOut) => true,
            SqlError::Sqlx(sqlx::Error::Database(d)) => {
                let code = d.code();
                let code = code.as_deref().unwrap_or_default();
                // SQLite: SQLITE_BUSY (5) and its extended codes; PostgreSQL:
                // lock_not_available, query_canceled (statement_timeout).
                matches!(code, "5" | "261" | "517" | "773" | "55P03" | "57014")
                    || d.message().contains("database is locked")
            }
            SqlError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            SqlError::Sqlx(_) => false,
        }
    }

    /// Whether this is the violation of a unique constraint.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            SqlError::Sqlx(sqlx::Error::Database(db)) => db.is_unique_violation(),
            SqlError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ),
            SqlError::Sqlx(_) | SqlError::Sqlite(_) => false,
        }
    }
}

/// A row as the type it maps to (see [`tx::row_struct`]).
pub(crate) fn decode<T: tx::FromCells>(row: &sqlx::any::AnyRow) -> Result<T, SqlError> {
    T::from_cells(&tx::Cells::Sqlx(row))
}

/// Which database engine a URL selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> anyhow::Result<Backend> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            anyhow::bail!(
                "unsupported database URL {url:?}: use sqlite://PATH (for example sqlite://scimgate.db) or postgres://USER@HOST/DB"
            )
        }
    }

    /// Row locking for read-modify-write transactions. SQLite needs none: its
    /// single writer connection already serialises them.
    pub fn for_update(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }
}

#[derive(Clone)]
pub struct Db {
    read: AnyPool,
    write: AnyPool,
    backend: Backend,
    /// SQLite only: the reads every SCIM request makes, without a thread hop.
    direct: Option<Arc<DirectReader>>,
    /// SQLite only: the one writer of every write (see [`writer`]).
    sqlite_writer: Option<Arc<writer::Writer>>,
    /// This server's metrics (transactions record how long they waited).
    metrics: Arc<crate::metrics::Metrics>,
    /// How long a write waits to begin (milliseconds) before it is given
    /// up as busy (see [`Db::begin`]).
    write_wait_ms: Arc<std::sync::atomic::AtomicU64>,
}

/// How long a write waits for the database by default: on SQLite, for the
/// one writer that another tenant's long write may hold.
pub const WRITE_WAIT: Duration = Duration::from_secs(10);

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish()
    }
}

/// The SQLite URL used when none is configured: a file in the working
/// directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://scimgate.db";

impl Db {
    /// Connects and runs the embedded migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let db = match backend {
            Backend::Sqlite => {
                let url = sqlite_url_with_create(url);
                let options = AnyConnectOptions::from_str(&url)
                    .with_context(|| format!("invalid SQLite URL {url:?}"))?;
                let write = sqlite_pool(1, WRITER_PRAGMAS)
                    .connect_with(options.clone())
                    .await
                    .with_context(|| format!("cannot open the SQLite database {url:?}"))?;
                // WAL lets readers run beside the one writer; it is a property
                // of the file, so set it before the read pool opens.
                write.execute("PRAGMA journal_mode = WAL").await?;
                let read = sqlite_pool(sqlite_readers(), READER_PRAGMAS)
                    .connect_with(options)
                    .await?;
                let (direct, sqlite_writer) = match direct::sqlite_file(&url) {
                    Some(path) => (
                        Some(Arc::new(DirectReader::open(&path)?)),
                        Some(Arc::new(writer::Writer::new(
                            &path,
                            metrics.db_write_groups.clone(),
                        ))),
                    ),
                    None => (None, None),
                };
                Db {
                    read,
                    write,
                    backend,
                    direct,
                    sqlite_writer,
                    metrics,
                    write_wait_ms: Arc::new((WRITE_WAIT.as_millis() as u64).into()),
                }
            }
            Backend::Postgres => {
                let options = AnyConnectOptions::from_str(url)
                    .with_context(|| "invalid PostgreSQL URL".to_string())?;
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .context("cannot connect to PostgreSQL")?;
                Db {
                    read: pool.clone(),
                    write: pool,
                    backend,
                    direct: None,
                    sqlite_writer: None,
                    metrics,
                    write_wait_ms: Arc::new((WRITE_WAIT.as_millis() as u64).into()),
                }
            }
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        self.migrator()
            .run(&self.write)
            .await
            .context("running database migrations")?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Refreshes PostgreSQL's planner statistics (after a bulk load, so
    /// that the next queries use the indexes); SQLite needs nothing.
    pub async fn analyze(&self) -> Result<(), SqlError> {
        if self.backend == Backend::Postgres {
            sqlx::query("ANALYZE").execute(&self.write).await?;
        }
        Ok(())
    }

    /// SQLite's inline reader (see [`direct`]); `None` on PostgreSQL.
    pub fn direct(&self) -> Option<&DirectReader> {
        self.direct.as_deref()
    }

    /// SQLite's plain writer (see [`writer`]); `None` on PostgreSQL.
    pub fn sqlite_writer(&self) -> Option<&Arc<writer::Writer>> {
        self.sqlite_writer.as_ref()
    }

    /// The pool for reads.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// sqlx's pool for writes (on SQLite, a single connection). The
    /// service writes through [`Db::begin`] and [`Db::execute`], which on
    /// a SQLite file use the plain writer instead; statements run here
    /// still see SQLite's lock, and wait on it.
    pub fn writer(&self) -> &AnyPool {
        &self.write
    }

    /// Starts a write transaction (on SQLite, waiting for the one writer).
    /// A write that cannot begin within the write wait fails as
    /// a timeout, which [`SqlError::is_busy`] recognises.
    pub async fn begin(&self) -> Result<Tx, SqlError> {
        let started = std::time::Instant::now();
        let wait = self.write_wait();
        let tx = match &self.sqlite_writer {
            Some(writer) => {
                let state = writer.lock(wait).await;
                self.metrics.db_waited(started.elapsed());
                Tx::sqlite(writer::SqliteTx::begin(writer.clone(), state?)?)
            }
            None => {
                let tx = match tokio::time::timeout(wait, self.write.begin()).await {
                    Ok(tx) => tx,
                    Err(_) => Err(sqlx::Error::PoolTimedOut),
                };
                self.metrics.db_waited(started.elapsed());
                Tx::sqlx(tx?, self.backend)
            }
        };
        Ok(tx)
    }

    /// Runs one writing statement on its own (it is its own transaction);
    /// returns how many rows it changed. Waits for the writer as
    /// [`Db::begin`] does.
    pub(crate) async fn execute(&self, sql: &str, args: &[tx::Arg<'_>]) -> Result<u64, SqlError> {
        match &self.sqlite_writer {
            Some(writer) => {
                let mut state = self.wait_for(writer).await?;
                state.flush()?;
                tx::sqlite_execute(state.conn(), sql, args)
            }
            None => Ok(tx::bind_all(sqlx::query(sql), args)
                .execute(&self.write)
                .await?
                .rows_affected()),
        }
    }

    async fn wait_for(&self, writer: &writer::Writer) -> Result<writer::WriterGuard, SqlError> {
        let started = std::time::Instant::now();
        let conn = writer.lock(self.write_wait()).await;
        self.metrics.db_waited(started.elapsed());
        conn
    }

    fn write_wait(&self) -> Duration {
        Duration::from_millis(
            self.write_wait_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Sets how long writes wait to begin (every clone of this handle).
    pub fn set_write_wait(&self, wait: Duration) {
        self.write_wait_ms.store(
            wait.as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// Connections of the pools by state, for metrics: (`idle`, `in_use`).
    pub fn pool_connections(&self) -> [(&'static str, i64); 2] {
        let pools: &[&AnyPool] = match self.backend {
            Backend::Sqlite => &[&self.read, &self.write],
            Backend::Postgres => &[&self.write],
        };
        let (mut idle, mut size) = (0i64, 0i64);
        for p in pools {
            idle += p.num_idle() as i64;
            size += i64::from(p.size());
        }
        [("idle", idle), ("in_use", (size - idle).max(0))]
    }

    /// Whether the database answers and holds every migration this binary
    /// has; the reason when not.
    pub async fn readiness(&self) -> Result<(), String> {
        let expected = self.migrator().iter().map(|m| m.version).max().unwrap_or(0);
        let row = sqlx::query("SELECT MAX(version) AS v FROM _sqlx_migrations")
            .fetch_one(&self.read)
            .await
            .map_err(|e| format!("the database does not answer: {e}"))?;
        let applied: Option<i64> = sqlx::Row::try_get(&row, "v").map_err(|e| e.to_string())?;
        match applied {
            Some(v) if v >= expected => Ok(()),
            other => Err(format!(
                "the database's migrations are at {}, this scimgate needs {expected}: restart it to migrate",
                other.unwrap_or(0)
            )),
        }
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => &migrations::SQLITE,
            Backend::Postgres => &migrations::POSTGRES,
        }
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Connections of the SQLite read pool. Each is a thread of its own that
/// requests hand their queries to; more of them than cores only adds
/// wake-ups. `SCIMGATE_SQLITE_READERS` overrides the default.
fn sqlite_readers() -> u32 {
    std::env::var("SCIMGATE_SQLITE_READERS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| (1..=64).contains(n))
        .unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
            (cores * 2).clamp(2, 8)
        })
}

/// Settings of every SQLite connection (they are per connection):
/// - `synchronous = NORMAL`: in WAL mode a commit survives the process being
///   killed; the WAL is synced at checkpoints;
/// - `temp_store = MEMORY`: the statement journal a multi-row statement
///   keeps (to undo just that statement) stays in memory instead of a
///   temporary file created and deleted per transaction;
/// - `mmap_size`: pages are read from the operating system's page cache
///   through a mapping rather than copied by a system call each.
pub(crate) const SQLITE_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
     PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;";

/// How much of the SQLite file every connection maps for reading (256 MiB).
pub const SQLITE_MMAP_BYTES: i64 = 256 * 1024 * 1024;

/// The writer also keeps a larger page cache (8 MiB: the index pages a
/// provisioning cycle touches stay in memory; the file itself is mapped, so
/// more would only hold copies of pages the mapping already has, counted as
/// the process's own memory) and checkpoints the WAL into
/// the database every 8,192 pages (32 MiB) rather than 1,000: a page changed
/// by many transactions is then copied back once, and the sync that comes
/// with each checkpoint happens an eighth as often.
pub(crate) const WRITER_PRAGMAS: &str =
    "PRAGMA cache_size = -8192; PRAGMA wal_autocheckpoint = 8192;";
const READER_PRAGMAS: &str = "";

fn sqlite_pool(max: u32, extra: &'static str) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        // A connection to a local file does not go away while idle;
        // testing it would be one more round trip to its thread per use.
        .test_before_acquire(false)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                conn.execute(
                    format!("{SQLITE_PRAGMAS} PRAGMA mmap_size = {SQLITE_MMAP_BYTES}; {extra}")
                        .as_str(),
                )
                .await?;
                Ok(())
            })
        })
}

/// `sqlite://file.db` opens read-write but does not create the file; the
/// service should create its database on first start.
fn sqlite_url_with_create(url: &str) -> String {
    if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Creates an empty PostgreSQL database `name` through the server at
/// `admin_url` (the benchmarks' scratch databases). `name` must be a plain
/// identifier: it is not quoted.
pub async fn create_postgres_database(admin_url: &str, name: &str) -> Result<(), SqlError> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    Ok(())
}

/// Drops the PostgreSQL database `name` if it exists, closing its
/// connections; failures are ignored (it is a scratch database).
pub async fn drop_postgres_database(admin_url: &str, name: &str) {
    use sqlx::Connection as _;
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin_url).await {
        let _ = conn
            .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await;
    }
}

/// The current time as stored: UTC RFC 3339 with milliseconds.
pub fn now() -> String {
    format_time(chrono::Utc::now())
}

pub fn format_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
