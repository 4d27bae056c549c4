//! Many users inserted at once, for seeding large directories (load tests
//! and measurements): one multi-row INSERT per few hundred users instead of
//! three statements per user, inside the caller's transaction.

use super::SqlError;
use super::Tx;
use super::resources::{Indexed, Row};
use super::sql::{Sql, SqlValue};

/// Users per statement: 11 values each stays far below both engines' limits
/// on bind parameters (32,766 on SQLite, 65,535 on PostgreSQL).
const BATCH: usize = 500;

/// Inserts users (rows with their indexed columns) and their e-mails. The
/// caller commits; ids and user names must be new to the tenant.
pub async fn insert_users(
    tx: &mut Tx,
    tenant_id: &str,
    users: &[(Row, Indexed)],
) -> Result<(), SqlError> {
    for chunk in users.chunks(BATCH) {
        let mut sql = Sql::new(
            "INSERT INTO scim_users (tenant_id, id, user_name, user_name_lower, external_id,
                display_name, active, doc, version, created_at, updated_at) VALUES ",
        );
        for (i, (row, ix)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(");
            sql.bind_text(tenant_id).push(", ");
            sql.bind_text(&row.id).push(", ");
            sql.bind_text(&ix.name).push(", ");
            sql.bind_text(&ix.name.to_lowercase()).push(", ");
            // `SqlValue` has no NULL: absent values are written as such.
            match &ix.external_id {
                Some(x) => sql.bind_text(x),
                None => sql.push("NULL"),
            }
            .push(", ");
            match &ix.display_name {
                Some(d) => sql.bind_text(d),
                None => sql.push("NULL"),
            }
            .push(", ");
            sql.bind(SqlValue::Int(i64::from(ix.active))).push(", ");
            sql.bind_text(&row.doc).push(", ");
            sql.bind(SqlValue::Int(row.version)).push(", ");
            sql.bind_text(&row.created_at).push(", ");
            sql.bind_text(&row.updated_at).push(")");
        }
        tx.execute_sql(&sql).await?;

        let emails: Vec<(&str, &str, Option<&str>)> = chunk
            .iter()
            .flat_map(|(row, ix)| {
                ix.emails
                    .iter()
                    .map(move |(v, t)| (row.id.as_str(), v.as_str(), t.as_deref()))
            })
            .collect();
        super::resources::insert_emails(tx, tenant_id, &emails).await?;
    }
    Ok(())
}
