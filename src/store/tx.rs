//! Write transactions, and the one way the store runs a statement in one.
//!
//! On PostgreSQL (and on an in-memory SQLite database) a transaction is
//! sqlx's. On a SQLite file it is a savepoint on the plain writer
//! connection ([`super::writer`]), and its statements run on the
//! request's own thread: sqlx runs each SQLite connection on a thread of
//! its own, so every statement of a transaction was a message to that
//! thread and a wake-up back — seven of them for a create, each while the
//! one writer was held by it. Inline, a statement costs what SQLite takes
//! to run it, and the writer is held only as long as the work.
//!
//! The store's functions do not know which of the two they have: they call
//! [`Tx::execute`] and [`Tx::fetch`] with the statement's text and its
//! values ([`Arg`]) and read result rows through [`Cells`].

use rusqlite::Connection;
use sqlx::Row as _;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;

use super::sql::{Sql, SqlValue};
use super::{Backend, SqlError};

/// A value bound to a statement: text, an integer or NULL, the types the
/// store writes on both engines. PostgreSQL types a NULL parameter, so a
/// NULL says which of the two columns it goes into.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Text(&'a str),
    Int(i64),
    Null,
    NullInt,
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(v)
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Int(i64::from(v))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Arg::Null, Arg::Text)
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().into()
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Arg::NullInt, Arg::Int)
    }
}

impl<'a> From<&'a SqlValue> for Arg<'a> {
    fn from(v: &'a SqlValue) -> Self {
        match v {
            SqlValue::Text(s) => Arg::Text(s),
            SqlValue::Int(i) => Arg::Int(*i),
        }
    }
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match *self {
            Arg::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Arg::Int(i) => ToSqlOutput::Owned(Value::Integer(i)),
            Arg::Null | Arg::NullInt => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// `args![a, b, …]`: the values of a statement, each converted to [`Arg`].
macro_rules! args {
    ($($v:expr),* $(,)?) => {
        &[$($crate::store::tx::Arg::from($v)),*][..]
    };
}
pub(crate) use args;

/// Binds `args` in order to an sqlx query.
pub(crate) fn bind_all<'q>(
    mut q: Query<'q, sqlx::Any, AnyArguments<'q>>,
    args: &[Arg<'q>],
) -> Query<'q, sqlx::Any, AnyArguments<'q>> {
    for a in args {
        q = match *a {
            Arg::Text(s) => q.bind(s),
            Arg::Int(i) => q.bind(i),
            Arg::Null => q.bind(Option::<String>::None),
            Arg::NullInt => q.bind(Option::<i64>::None),
        };
    }
    q
}

/// A value the store reads from a result row, on either engine.
pub(crate) trait Cell:
    for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql
{
}

impl<T> Cell for T where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql
{
}

/// A result row of a statement run in a [`Tx`].
pub(crate) enum Cells<'r> {
    Sqlx(&'r AnyRow),
    Sqlite(&'r rusqlite::Row<'r>),
}

impl Cells<'_> {
    /// The value of the column named `column`.
    pub(crate) fn get<T: Cell>(&self, column: &str) -> Result<T, SqlError> {
        match self {
            Cells::Sqlx(r) => Ok(r.try_get(column)?),
            Cells::Sqlite(r) => Ok(r.get(column)?),
        }
    }
}

/// A type read from result rows, each field from the column of its name.
pub(crate) trait FromCells: Sized {
    fn from_cells(r: &Cells<'_>) -> Result<Self, SqlError>;
}

/// Declares a struct together with its [`FromCells`]: each field is read
/// from the column of its name, so one definition maps rows on both
/// engines, in and out of transactions.
macro_rules! row_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$field_meta:meta])* $field_vis:vis $field:ident : $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$field_meta])* $field_vis $field: $ty),*
        }

        impl $crate::store::tx::FromCells for $name {
            fn from_cells(
                r: &$crate::store::tx::Cells<'_>,
            ) -> Result<Self, $crate::store::SqlError> {
                Ok($name {
                    $($field: r.get(stringify!($field))?),*
                })
            }
        }
    };
}
pub(crate) use row_struct;

/// A write transaction. It knows its database's kind, so that the store's
/// functions taking one lock rows where the engine needs it (PostgreSQL's
/// `FOR UPDATE`) without their callers knowing which engine it is. Only
/// the store runs statements on it; dropped without [`Tx::commit`], it
/// rolls back.
pub struct Tx {
    inner: Inner,
    backend: Backend,
}

enum Inner {
    Sqlx(sqlx::Transaction<'static, sqlx::Any>),
    Sqlite(super::writer::SqliteTx),
}

impl Tx {
    pub(super) fn sqlx(inner: sqlx::Transaction<'static, sqlx::Any>, backend: Backend) -> Tx {
        Tx {
            inner: Inner::Sqlx(inner),
            backend,
        }
    }

    pub(super) fn sqlite(inner: super::writer::SqliteTx) -> Tx {
        Tx {
            inner: Inner::Sqlite(inner),
            backend: Backend::Sqlite,
        }
    }

    pub async fn commit(self) -> Result<(), SqlError> {
        match self.inner {
            Inner::Sqlx(t) => Ok(t.commit().await?),
            Inner::Sqlite(t) => t.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), SqlError> {
        match self.inner {
            Inner::Sqlx(t) => Ok(t.rollback().await?),
            // Dropping it rolls back.
            Inner::Sqlite(t) => {
                drop(t);
                Ok(())
            }
        }
    }

    pub(in crate::store) fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs a statement; returns how many rows it changed.
    pub(in crate::store) async fn execute(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<u64, SqlError> {
        match &mut self.inner {
            Inner::Sqlx(t) => Ok(bind_all(sqlx::query(sql), args)
                .execute(&mut **t)
                .await?
                .rows_affected()),
            Inner::Sqlite(t) => sqlite_execute(t.conn(), sql, args),
        }
    }

    /// Runs a statement and maps each row it returns.
    pub(in crate::store) async fn fetch<T>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        map: impl Fn(&Cells<'_>) -> Result<T, SqlError> + Send,
    ) -> Result<Vec<T>, SqlError> {
        match &mut self.inner {
            Inner::Sqlx(t) => {
                let rows = bind_all(sqlx::query(sql), args).fetch_all(&mut **t).await?;
                rows.iter().map(|r| map(&Cells::Sqlx(r))).collect()
            }
            Inner::Sqlite(t) => sqlite_fetch(t.conn(), sql, args, map),
        }
    }

    /// The first row a statement returns, mapped, if any.
    pub(in crate::store) async fn fetch_optional<T>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        map: impl Fn(&Cells<'_>) -> Result<T, SqlError> + Send,
    ) -> Result<Option<T>, SqlError> {
        Ok(self.fetch(sql, args, map).await?.into_iter().next())
    }

    /// [`Tx::execute`] of a statement assembled at run time.
    pub(in crate::store) async fn execute_sql(&mut self, sql: &Sql) -> Result<u64, SqlError> {
        let args: Vec<Arg<'_>> = sql.binds.iter().map(Arg::from).collect();
        self.execute(&sql.text, &args).await
    }

    /// [`Tx::fetch`] of a statement assembled at run time.
    pub(in crate::store) async fn fetch_sql<T>(
        &mut self,
        sql: &Sql,
        map: impl Fn(&Cells<'_>) -> Result<T, SqlError> + Send,
    ) -> Result<Vec<T>, SqlError> {
        let args: Vec<Arg<'_>> = sql.binds.iter().map(Arg::from).collect();
        self.fetch(&sql.text, &args, map).await
    }
}

/// Runs a statement on a plain connection, from its statement cache;
/// returns how many rows it changed.
pub(super) fn sqlite_execute(
    conn: &Connection,
    sql: &str,
    args: &[Arg<'_>],
) -> Result<u64, SqlError> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind_sqlite(&mut stmt, args)?;
    // `raw_execute` refuses statements that return rows (`RETURNING`).
    let mut rows = stmt.raw_query();
    while rows.next()?.is_some() {}
    drop(rows);
    Ok(conn.changes())
}

/// Runs a statement on a plain connection and maps each row it returns.
pub(super) fn sqlite_fetch<T>(
    conn: &Connection,
    sql: &str,
    args: &[Arg<'_>],
    map: impl Fn(&Cells<'_>) -> Result<T, SqlError>,
) -> Result<Vec<T>, SqlError> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind_sqlite(&mut stmt, args)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(&Cells::Sqlite(row))?);
    }
    Ok(out)
}

/// Binds `args` to a prepared statement: `$N` and `?N` take the N-th value,
/// anonymous `?` the next one (SQLite numbers named parameters in order of
/// appearance, so `$3` before `$1` must be looked up by its name).
fn bind_sqlite(stmt: &mut rusqlite::Statement<'_>, args: &[Arg<'_>]) -> Result<(), SqlError> {
    let count = stmt.parameter_count();
    for index in 1..=count {
        let value = match stmt.parameter_name(index) {
            None => args.get(index - 1),
            Some(name) => name[1..]
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|n| args.get(n)),
        };
        let Some(value) = value else {
            return Err(SqlError::invalid(format!(
                "statement parameter {index} has no value ({} given)",
                args.len()
            )));
        };
        stmt.raw_bind_parameter(index, value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    /// A migrated SQLite file database, whose writes take the plain path.
    async fn sqlite_file() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = Db::connect(&url).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        assert!(
            matches!(tx.inner, Inner::Sqlite(_)),
            "a file takes the plain path"
        );
        tx.execute(
            "CREATE TABLE t (a TEXT NOT NULL UNIQUE, b INTEGER, c TEXT)",
            args![],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        (dir, db)
    }

    type Abc = (String, Option<i64>, Option<String>);

    fn abc(r: &Cells<'_>) -> Result<Abc, SqlError> {
        Ok((r.get("a")?, r.get("b")?, r.get("c")?))
    }

    async fn all(db: &Db) -> Vec<Abc> {
        let mut tx = db.begin().await.unwrap();
        tx.fetch("SELECT a, b, c FROM t ORDER BY a", args![], abc)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn numbered_parameters_take_their_values_by_number() {
        let (_dir, db) = sqlite_file().await;
        let mut tx = db.begin().await.unwrap();
        // `$3` comes first: SQLite numbers it 1, the value is still the third.
        let n = tx
            .execute(
                "INSERT INTO t (c, a, b) VALUES ($3, $1, $2)",
                args!["x", 7i64, None::<&str>],
            )
            .await
            .unwrap();
        assert_eq!(n, 1);
        // A number used twice, and anonymous `?` in order.
        tx.execute(
            "INSERT INTO t (a, b, c) VALUES ($1, $2, $1 || '!')",
            args!["y", None::<i64>],
        )
        .await
        .unwrap();
        tx.execute(
            "INSERT INTO t (a, b, c) VALUES (?, ?, ?)",
            args!["z", 1i64, "q"],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            all(&db).await,
            [
                ("x".to_string(), Some(7), None),
                ("y".to_string(), None, Some("y!".to_string())),
                ("z".to_string(), Some(1), Some("q".to_string())),
            ]
        );
        let mut tx = db.begin().await.unwrap();
        let err = tx
            .execute("INSERT INTO t (a, b) VALUES ($1, $2)", args!["w"])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no value"), "{err}");
    }

    #[tokio::test]
    async fn uncommitted_work_is_rolled_back_and_the_writer_is_free_again() {
        let (_dir, db) = sqlite_file().await;
        let mut tx = db.begin().await.unwrap();
        tx.execute("INSERT INTO t (a) VALUES ($1)", args!["dropped"])
            .await
            .unwrap();
        drop(tx);
        let mut tx = db.begin().await.unwrap();
        tx.execute("INSERT INTO t (a) VALUES ($1)", args!["rolled back"])
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        let mut tx = db.begin().await.unwrap();
        tx.execute("INSERT INTO t (a) VALUES ($1)", args!["kept"])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(all(&db).await, [("kept".to_string(), None, None)]);
        // What other connections read sees the commit too.
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(db.reader())
            .await
            .unwrap();
        assert_eq!(n, 1);
    }

    #[tokio::test]
    async fn a_unique_violation_is_recognised_and_the_transaction_can_go_on() {
        let (_dir, db) = sqlite_file().await;
        let mut tx = db.begin().await.unwrap();
        tx.execute("INSERT INTO t (a) VALUES ($1)", args!["same"])
            .await
            .unwrap();
        let err = tx
            .execute("INSERT INTO t (a) VALUES ($1)", args!["same"])
            .await
            .unwrap_err();
        assert!(err.is_unique_violation(), "{err}");
        assert!(!err.is_busy());
        tx.execute("INSERT INTO t (a) VALUES ($1)", args!["other"])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(all(&db).await.len(), 2);
    }

    #[tokio::test]
    async fn returning_rows_are_read_and_counted() {
        let (_dir, db) = sqlite_file().await;
        let mut tx = db.begin().await.unwrap();
        let back = tx
            .fetch(
                "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) RETURNING a, b, c",
                args!["p", 1i64, "q", 2i64],
                abc,
            )
            .await
            .unwrap();
        assert_eq!(back.len(), 2);
        let n = tx
            .execute("DELETE FROM t WHERE b >= $1 RETURNING a", args![1i64])
            .await
            .unwrap();
        assert_eq!(n, 2);
        tx.commit().await.unwrap();
        assert!(all(&db).await.is_empty());
    }
}
