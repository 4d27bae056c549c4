//! SQLite's writer: the one plain connection every write of the service
//! goes through, and the group commit of the transactions run on it.
//!
//! SQLite allows one writer at a time, so the connection is held by one
//! task at a time ([`Writer::lock`]); statements run on the holder's own
//! thread (see [`super::tx`]). What a transaction costs beyond its
//! statements is its commit: every page it changed is appended to the WAL.
//! (Copying the WAL back into the database, the checkpoint, is done beside
//! the writer by a thread of its own: [`checkpoint_while`].)
//!
//! A create changes some twenty pages (the users table and its indexes,
//! the e-mail index, the event log, the activity log), most of them the
//! same end-of-index pages as the next create's.
//!
//! So write transactions are committed in groups. Each runs inside a
//! savepoint of one open SQLite transaction, the group's; when it ends and
//! other writes are waiting for the connection, it releases its savepoint,
//! hands the connection on and waits for the group's `COMMIT`, which the
//! last transaction of the group runs (the one that finds nobody waiting,
//! or the group full). Nobody is answered before the commit that holds
//! their write: a failed commit fails every transaction of its group, and
//! a transaction that fails rolls back to its savepoint without touching
//! the others'. A lone write commits at once, as before.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::metrics::histogram::Histogram;
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::SqlError;

/// Most transactions in one group.
const GROUP_MAX: usize = 64;
/// A group older than this commits with its next transaction, however
/// many are waiting: the wait a group adds to a write stays short.
const GROUP_MAX_AGE: Duration = Duration::from_millis(5);
/// How long a transaction waiting for its group's commit waits before it
/// takes the connection and commits the group itself (when the writes it
/// expected to follow were given up while waiting).
const FLUSH_AFTER: Duration = Duration::from_millis(20);
/// How often the checkpointer copies the WAL back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// The WAL length (frames, 64 MiB) at which the checkpointer, having
/// copied the log back, takes the writer for a moment so that the next
/// write starts the log over: a log appended to without a pause is never
/// found fully copied when a write begins, and would grow to the writer's
/// own limit below. Also the size the log file is cut back to.
const RESTART_AT_FRAMES: i64 = 16_384;
/// The WAL size (pages of 4 KiB, 256 MiB) at which the writer checkpoints
/// at its own commit: only when the checkpointer falls behind.
const WRITER_CHECKPOINT_PAGES: u32 = 65_536;
/// Statements the connection keeps prepared: every statement text of the
/// SCIM writes, so that none is compiled again per request.
const STATEMENT_CACHE: usize = 128;

/// The connection and its open group, held by one task at a time.
pub struct State {
    conn: Option<Connection>,
    group: Option<Group>,
    groups_opened: u64,
    /// Transactions per committed group (`scimgate_db_write_group_transactions`).
    group_sizes: Histogram,
}

/// The open SQLite transaction whose savepoints are write transactions.
struct Group {
    id: u64,
    /// Transactions released into it.
    members: usize,
    /// Of those, the ones waiting for the commit.
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
    opened: Instant,
}

/// The writer, held (see [`Writer::lock`]).
pub type WriterGuard = tokio::sync::OwnedMutexGuard<State>;

pub struct Writer {
    path: PathBuf,
    state: Arc<tokio::sync::Mutex<State>>,
    /// Tasks waiting for the connection: a transaction that ends while
    /// some are leaves its group open for them.
    queued: AtomicUsize,
    /// [`GROUP_MAX_AGE`], but for tests.
    group_max_age: Duration,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("path", &self.path).finish()
    }
}

/// Counts a task in [`Writer::queued`] while it waits.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn new(n: &'a AtomicUsize) -> Queued<'a> {
        n.fetch_add(1, Ordering::SeqCst);
        Queued(n)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Writer {
    /// The writer of the database file at `path`; the size of each group it
    /// commits is recorded in `group_sizes`.
    pub fn new(path: &Path, group_sizes: Histogram) -> Writer {
        let state = Arc::new(tokio::sync::Mutex::new(State {
            conn: None,
            group: None,
            groups_opened: 0,
            group_sizes,
        }));
        let (file, watch) = (path.to_path_buf(), Arc::downgrade(&state));
        if let Err(e) = std::thread::Builder::new()
            .name("scimgate-checkpoint".to_string())
            .spawn(move || checkpoint_while(&file, &watch))
        {
            // The writer's own checkpoints still bound the log.
            tracing::warn!(error = %e, "cannot start the WAL checkpointer");
        }
        Writer {
            path: path.to_path_buf(),
            state,
            queued: AtomicUsize::new(0),
            group_max_age: GROUP_MAX_AGE,
        }
    }

    fn open(path: &Path) -> Result<Connection, SqlError> {
        let conn = super::direct::open(path)?;
        conn.execute_batch(&format!(
            "{} PRAGMA mmap_size = {}; {} PRAGMA wal_autocheckpoint = {}; \
             PRAGMA journal_size_limit = {};",
            super::SQLITE_PRAGMAS,
            super::SQLITE_MMAP_BYTES,
            super::WRITER_PRAGMAS,
            WRITER_CHECKPOINT_PAGES,
            RESTART_AT_FRAMES * 4096,
        ))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }

    /// Waits at most `wait` for the connection (opening it on first use).
    /// Holding it is holding SQLite's one write slot in this process.
    pub async fn lock(&self, wait: Duration) -> Result<WriterGuard, SqlError> {
        // Statements run on the caller's thread without awaiting anything,
        // so a loop of writes (a recompute's steps, a prune's batches)
        // would never give its async worker back: every write lets the
        // worker's other tasks run first.
        tokio::task::yield_now().await;
        let queued = Queued::new(&self.queued);
        let held = tokio::time::timeout(wait, self.state.clone().lock_owned()).await;
        drop(queued);
        let Ok(mut state) = held else {
            return Err(sqlx::Error::PoolTimedOut.into());
        };
        if state.conn.is_none() {
            state.conn = Some(Writer::open(&self.path)?);
        }
        Ok(state)
    }

    /// Runs `write` in a transaction of its own (after committing the open
    /// group), committed when it returns `Ok`. Blocks, waiting for the
    /// connection: call it off the async workers.
    pub fn transaction<T>(
        &self,
        write: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, SqlError> {
        let mut state = self.state.blocking_lock();
        if state.conn.is_none() {
            state.conn = Some(Writer::open(&self.path)?);
        }
        state.flush()?;
        let Some(conn) = state.conn.as_mut() else {
            unreachable!("the connection was opened above");
        };
        let tx = conn.transaction()?;
        let out = write(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

/// Copies committed pages from the WAL back into the database every
/// [`CHECKPOINT_EVERY`], on a thread and connection of its own, for as
/// long as the writer (`state`) lives. A checkpoint (copying every page changed since the last
/// one, then syncing the file) took 15 % of the server's time under
/// creates and tens of milliseconds each when the writer ran it at a
/// commit, holding every write behind it; `PASSIVE` runs beside the
/// writer and the readers without waiting for either.
fn checkpoint_while(path: &Path, state: &std::sync::Weak<tokio::sync::Mutex<State>>) {
    let mut conn: Option<Connection> = None;
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        let Some(state) = state.upgrade() else {
            return;
        };
        if conn.is_none() {
            conn = super::direct::open(path).ok();
        }
        let Some(c) = &conn else {
            continue;
        };
        if passive_checkpoint(c) >= RESTART_AT_FRAMES {
            // The rest, with no write under way (a few frames: the pass
            // above copied the others).
            let mut held = state.blocking_lock();
            if held.conn.is_some() {
                let _ = held.flush();
            }
            passive_checkpoint(c);
            drop(held);
        }
    }
}

/// Runs a `PASSIVE` checkpoint; returns the frames in the log.
fn passive_checkpoint(conn: &Connection) -> i64 {
    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
        Ok(frames) => frames,
        Err(e) => {
            tracing::debug!(error = %e, "WAL checkpoint");
            0
        }
    }
}

impl State {
    /// The connection (opened by [`Writer::lock`]).
    pub fn conn(&self) -> &Connection {
        self.conn
            .as_ref()
            .expect("the writer connection is opened before it is handed out")
    }

    /// Commits the open group, if any, and tells its waiting transactions
    /// how it went.
    pub fn flush(&mut self) -> Result<(), SqlError> {
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        let conn = self.conn();
        let done = if group.members == 0 {
            conn.execute_batch("ROLLBACK")
        } else {
            conn.execute_batch("COMMIT")
        };
        if done.is_err() && !conn.is_autocommit() {
            // Whatever kept it from committing, nothing of it stays.
            let _ = conn.execute_batch("ROLLBACK");
        }
        let failed = done.as_ref().err().map(ToString::to_string);
        if failed.is_none() && group.members > 0 {
            self.group_sizes.observe(group.members as f64);
        }
        for waiter in group.waiters {
            let _ = waiter.send(failed.clone().map_or(Ok(()), Err));
        }
        Ok(done?)
    }

    /// Opens a group when none is open.
    fn ensure_group(&mut self) -> Result<(), SqlError> {
        if self.group.is_some() {
            return Ok(());
        }
        let conn = self.conn();
        if !conn.is_autocommit() {
            // Left open by a failure: nothing in it was promised to anyone.
            conn.execute_batch("ROLLBACK")?;
        }
        conn.execute_batch("BEGIN IMMEDIATE")?;
        self.groups_opened += 1;
        self.group = Some(Group {
            id: self.groups_opened,
            members: 0,
            waiters: Vec::new(),
            opened: Instant::now(),
        });
        Ok(())
    }

    /// After SQLite ended the group's transaction on its own (an I/O error
    /// rolls back the whole transaction): its waiting members fail.
    fn lost_group(&mut self) {
        if let Some(group) = self.group.take() {
            for waiter in group.waiters {
                let _ = waiter.send(Err(
                    "the database rolled back the transaction (see the server's log)".to_string(),
                ));
            }
        }
    }
}

/// A write transaction: a savepoint in the writer's open group.
pub(super) struct SqliteTx {
    writer: Arc<Writer>,
    /// `None` once committed.
    state: Option<WriterGuard>,
}

impl SqliteTx {
    pub(super) fn begin(writer: Arc<Writer>, mut state: WriterGuard) -> Result<SqliteTx, SqlError> {
        state.ensure_group()?;
        state.conn().execute_batch("SAVEPOINT w")?;
        Ok(SqliteTx {
            writer,
            state: Some(state),
        })
    }

    pub(super) fn conn(&self) -> &Connection {
        self.state
            .as_ref()
            .expect("a transaction holds the writer until it ends")
            .conn()
    }

    /// Releases the savepoint into the group, then commits the group or,
    /// when other writes wait for the connection, leaves that to the last
    /// of them and waits for it.
    pub(super) async fn commit(mut self) -> Result<(), SqlError> {
        let Some(mut state) = self.state.take() else {
            return Err(SqlError::invalid("the transaction has already ended"));
        };
        if let Err(e) = state.conn().execute_batch("RELEASE w") {
            abandon(&mut state, &self.writer);
            return Err(e.into());
        }
        let queued = self.writer.queued.load(Ordering::SeqCst);
        let Some(group) = state.group.as_mut() else {
            return Err(SqlError::invalid(
                "the writer's group ended under a transaction",
            ));
        };
        group.members += 1;
        if queued == 0
            || group.members >= GROUP_MAX
            || group.opened.elapsed() >= self.writer.group_max_age
        {
            return state.flush();
        }
        let (told, mut outcome) = oneshot::channel();
        group.waiters.push(told);
        let id = group.id;
        drop(state);
        if let Ok(done) = tokio::time::timeout(FLUSH_AFTER, &mut outcome).await {
            return committed(done);
        }
        // The writes this one left the group open for went away: commit it.
        tokio::select! {
            done = &mut outcome => committed(done),
            mut state = self.writer.state.clone().lock_owned() => {
                if state.group.as_ref().is_some_and(|g| g.id == id) {
                    let _ = state.flush();
                }
                drop(state);
                committed(outcome.await)
            }
        }
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if let Some(mut state) = self.state.take() {
            abandon(&mut state, &self.writer);
        }
    }
}

/// Rolls a transaction back to its savepoint; the rest of the group stays,
/// and is committed now when nobody else is waiting to add to it.
fn abandon(state: &mut State, writer: &Writer) {
    let conn = state.conn();
    let _ = conn.execute_batch("ROLLBACK TO w; RELEASE w");
    if conn.is_autocommit() {
        state.lost_group();
        return;
    }
    if writer.queued.load(Ordering::SeqCst) == 0 {
        // A failed commit is reported to the group's waiters.
        let _ = state.flush();
    }
}

fn committed(told: Result<Result<(), String>, oneshot::error::RecvError>) -> Result<(), SqlError> {
    match told {
        Ok(Ok(())) => Ok(()),
        Ok(Err(why)) => Err(SqlError::invalid(format!("the commit failed: {why}"))),
        Err(_) => Err(SqlError::invalid(
            "the writer stopped before committing the transaction",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_commits_whole_transactions_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let setup = Connection::open(&path).unwrap();
        setup
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v TEXT NOT NULL);")
            .unwrap();
        let writer = writer(&path);
        writer
            .transaction(|tx| {
                tx.execute("INSERT INTO t VALUES ('a')", [])?;
                tx.execute("INSERT INTO t VALUES ('b')", [])
            })
            .unwrap();
        // A failing statement leaves none of its transaction behind.
        let err = writer
            .transaction(|tx| {
                tx.execute("INSERT INTO t VALUES ('c')", [])?;
                tx.execute("INSERT INTO t VALUES (NULL)", [])
            })
            .unwrap_err();
        assert!(err.to_string().contains("NOT NULL"), "{err}");
        let seen: Vec<String> = setup
            .prepare("SELECT v FROM t ORDER BY v")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(seen, ["a", "b"]);
    }

    /// A writer of `path` whose group sizes no one reads.
    fn writer(path: &Path) -> Writer {
        Writer::new(path, Histogram::new([1.0]))
    }

    fn table(dir: &tempfile::TempDir) -> PathBuf {
        let path = dir.path().join("w.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v TEXT NOT NULL UNIQUE);")
            .unwrap();
        path
    }

    fn rows(path: &Path) -> Vec<String> {
        Connection::open(path)
            .unwrap()
            .prepare("SELECT v FROM t ORDER BY v")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    const WAIT: Duration = Duration::from_secs(10);

    async fn insert(writer: &Arc<Writer>, v: &str) -> Result<(), SqlError> {
        let state = writer.lock(WAIT).await?;
        let tx = SqliteTx::begin(writer.clone(), state)?;
        tx.conn().execute("INSERT INTO t (v) VALUES (?1)", [v])?;
        tx.commit().await
    }

    async fn until_queued(writer: &Writer, n: usize) {
        while writer.queued.load(Ordering::SeqCst) < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_that_wait_for_the_writer_commit_as_one_group() {
        let dir = tempfile::tempdir().unwrap();
        let path = table(&dir);
        // However slowly this machine runs the writes, they are one group.
        let mut writer = writer(&path);
        writer.group_max_age = WAIT;
        let writer = Arc::new(writer);
        let first = SqliteTx::begin(writer.clone(), writer.lock(WAIT).await.unwrap()).unwrap();
        first
            .conn()
            .execute("INSERT INTO t (v) VALUES ('a')", [])
            .unwrap();
        let mut others = Vec::new();
        for i in 0..20 {
            let w = writer.clone();
            others.push(tokio::spawn(async move {
                insert(&w, &format!("b{i:02}")).await
            }));
        }
        until_queued(&writer, 20).await;
        // One that fails, in the middle of the group, leaves the others be.
        let w = writer.clone();
        let failing = tokio::spawn(async move { insert(&w, "a").await });
        until_queued(&writer, 21).await;
        first.commit().await.unwrap();
        for o in others {
            o.await.unwrap().unwrap();
        }
        let err = failing.await.unwrap().unwrap_err();
        assert!(err.is_unique_violation(), "{err}");
        let seen = rows(&path);
        assert_eq!(seen.len(), 21, "{seen:?}");
        assert_eq!(seen[0], "a");
        // Everything waited for the writer while the first held it, so
        // one SQLite transaction committed all of it.
        assert_eq!(writer.state.lock().await.groups_opened, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_left_open_for_a_write_that_went_away_still_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = table(&dir);
        let writer = Arc::new(writer(&path));
        let first = SqliteTx::begin(writer.clone(), writer.lock(WAIT).await.unwrap()).unwrap();
        first
            .conn()
            .execute("INSERT INTO t (v) VALUES ('kept')", [])
            .unwrap();
        // Someone waits for the writer, so the commit leaves the group
        // open for them; they take the connection and write nothing.
        let w = writer.clone();
        let bystander = tokio::spawn(async move {
            let state = w.lock(WAIT).await.unwrap();
            drop(state);
        });
        until_queued(&writer, 1).await;
        let started = Instant::now();
        first.commit().await.unwrap();
        bystander.await.unwrap();
        assert!(
            started.elapsed() < WAIT,
            "it did not wait for the write wait"
        );
        assert_eq!(rows(&path), ["kept"]);
        // Nothing is left open: the next write commits on its own.
        insert(&writer, "next").await.unwrap();
        assert_eq!(rows(&path), ["kept", "next"]);
    }

    #[tokio::test]
    async fn a_dropped_transaction_leaves_nothing_and_frees_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = table(&dir);
        let writer = Arc::new(writer(&path));
        let tx = SqliteTx::begin(writer.clone(), writer.lock(WAIT).await.unwrap()).unwrap();
        tx.conn()
            .execute("INSERT INTO t (v) VALUES ('dropped')", [])
            .unwrap();
        drop(tx);
        insert(&writer, "kept").await.unwrap();
        assert_eq!(rows(&path), ["kept"]);
        // The read log's blocking transactions see the same writer.
        let w = writer.clone();
        tokio::task::spawn_blocking(move || {
            w.transaction(|tx| tx.execute("INSERT INTO t (v) VALUES ('logged')", []))
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(rows(&path), ["kept", "logged"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_is_copied_back_beside_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = table(&dir);
        let writer = Arc::new(writer(&path));
        let state = writer.lock(WAIT).await.unwrap();
        let tx = SqliteTx::begin(writer.clone(), state).unwrap();
        for i in 0..1000 {
            tx.conn()
                .execute(
                    "INSERT INTO t (v) VALUES (?1)",
                    [format!("{i:04}{}", "x".repeat(1000))],
                )
                .unwrap();
        }
        tx.commit().await.unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        // The writer checkpoints only at 256 MiB of log: the pages reach
        // the database file through the checkpointer.
        let deadline = Instant::now() + WAIT;
        while std::fs::metadata(&path).unwrap().len() < before + 1_000_000 {
            assert!(Instant::now() < deadline, "the log was never checkpointed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(rows(&path).len(), 1000);
    }
}
