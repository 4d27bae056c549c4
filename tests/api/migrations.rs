//! The two migration trees (`migrations/sqlite`, `migrations/postgres`)
//! describe one schema: after both have run, the same tables hold the same
//! columns and the same indexes (by name, table and uniqueness). Types and
//! index expressions are written in each database's own dialect and are not
//! compared.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use scimgate::store::Db;
use sqlx::Row as _;

use crate::helpers::TestApp;

/// Table → (its columns, its indexes created by `CREATE INDEX`, each with
/// "unique" or "plain").
type Schema = BTreeMap<String, (BTreeSet<String>, BTreeMap<String, String>)>;

async fn rows(db: &Db, sql: &str) -> Vec<(String, String, String)> {
    sqlx::query(sql)
        .fetch_all(db.writer())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| {
            (
                r.get::<String, _>(0),
                r.get::<String, _>(1),
                r.get::<String, _>(2),
            )
        })
        .collect()
}

/// The schema as the database reports it, from the statements that list
/// (table, column, '') and (table, index, uniqueness).
async fn schema(db: &Db, columns: &str, indexes: &str) -> Schema {
    let mut out = Schema::new();
    for (table, column, _) in rows(db, columns).await {
        out.entry(table).or_default().0.insert(column);
    }
    for (table, index, kind) in rows(db, indexes).await {
        out.entry(table).or_default().1.insert(index, kind);
    }
    out
}

async fn sqlite_schema(db: &Db) -> Schema {
    schema(
        db,
        "SELECT m.name, p.name, '' FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'",
        // origin 'c': made by CREATE INDEX (not a PRIMARY KEY or UNIQUE
        // constraint, which PostgreSQL names differently).
        "SELECT m.name, il.name, CASE il.\"unique\" WHEN 1 THEN 'unique' ELSE 'plain' END \
         FROM sqlite_master m JOIN pragma_index_list(m.name) il \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%' \
           AND il.origin = 'c'",
    )
    .await
}

async fn postgres_schema(db: &Db) -> Schema {
    schema(
        db,
        "SELECT table_name::text, column_name::text, '' FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%'",
        // Indexes that back a constraint (primary keys, UNIQUE) are left
        // out, as on SQLite.
        "SELECT t.relname::text, i.relname::text, \
                CASE WHEN x.indisunique THEN 'unique' ELSE 'plain' END \
         FROM pg_index x \
         JOIN pg_class i ON i.oid = x.indexrelid \
         JOIN pg_class t ON t.oid = x.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = current_schema() AND t.relname NOT LIKE '\\_sqlx%' \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
    )
    .await
}

/// What only one database has, on purpose.
const INTENDED: &[&str] = &[
    // PostgreSQL commits writers in parallel, so an event's `seq` (taken
    // in its transaction) is not its place in the feed: the publisher
    // gives each committed event a `position`. SQLite has one writer, and
    // `seq` order is commit order.
    "column events.position only on PostgreSQL",
    // The feed is read in `position` order, and the publisher finds the
    // events it has not positioned yet.
    "index events.events_position only on PostgreSQL",
    "index events.events_unpublished only on PostgreSQL",
    // Keyset paging by creation time compares bytewise ("C" collation) on
    // PostgreSQL, so it needs an index of that collation; SQLite's default
    // collation is bytewise and pages by `scim_users_created` of 0001.
    "index scim_users.scim_users_created_order only on PostgreSQL",
];

/// Each table, column or index that is on one side only, or an index that
/// is unique on one side and not the other.
fn differences(lite: &Schema, pg: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    let tables: BTreeSet<&String> = lite.keys().chain(pg.keys()).collect();
    for table in tables {
        let (Some(l), Some(p)) = (lite.get(table), pg.get(table)) else {
            let side = if lite.contains_key(table) {
                "SQLite"
            } else {
                "PostgreSQL"
            };
            out.push(format!("table {table} only on {side}"));
            continue;
        };
        for c in l.0.symmetric_difference(&p.0) {
            let side = if l.0.contains(c) {
                "SQLite"
            } else {
                "PostgreSQL"
            };
            out.push(format!("column {table}.{c} only on {side}"));
        }
        let names: BTreeSet<&String> = l.1.keys().chain(p.1.keys()).collect();
        for name in names {
            match (l.1.get(name), p.1.get(name)) {
                (Some(a), Some(b)) if a != b => out.push(format!(
                    "index {table}.{name} {a} on SQLite, {b} on PostgreSQL"
                )),
                (Some(_), None) => out.push(format!("index {table}.{name} only on SQLite")),
                (None, Some(_)) => out.push(format!("index {table}.{name} only on PostgreSQL")),
                _ => {}
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_migrations_make_the_same_tables_columns_and_indexes() {
    let sqlite = TestApp::spawn_sqlite().await;
    let Some(postgres) = TestApp::spawn_postgres().await else {
        return;
    };
    let lite = sqlite_schema(&sqlite.db).await;
    let pg = postgres_schema(&postgres.db).await;
    // Not vacuous: the core tables are there with their columns.
    for table in ["scim_users", "scim_groups", "events", "activity"] {
        assert!(
            lite.get(table)
                .is_some_and(|(c, _)| c.contains("tenant_id")),
            "SQLite has no table {table}: {:?}",
            lite.keys().collect::<Vec<_>>()
        );
    }
    assert_eq!(differences(&lite, &pg), INTENDED, "the schemas differ");
}
