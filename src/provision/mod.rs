//! SCIM operations on a tenant's users and groups: the protocol core applied
//! to the store, each write in one transaction with its activity entry.

pub mod diff;
pub mod hit;
pub mod list;
pub mod mapping;
mod read;
pub mod recompute;
mod record;
pub mod represent;
mod write;

use scim::{ResourceKind, ScimError};
use serde_json::Value;

use crate::store::activity::Actor;
use crate::store::resources::Row;
use crate::store::sql::Table;
use crate::store::{Db, SqlError};
pub use read::{MemberPages, STREAM_MEMBERS_AFTER, build, get, member_count, not_found};
pub use represent::Resource;
use write::event_repr;
pub use write::{create, delete, patch, replace};

/// Who is asking, for which tenant, and where the API lives.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub db: Db,
    pub tenant_id: String,
    pub actor: Actor,
    /// `https://host/scim/v2`, no trailing slash.
    pub base_url: String,
    pub request_id: Option<String>,
    /// The HTTP method and path (with query) of the request, for the log.
    pub method: Option<String>,
    pub path: Option<String>,
}

pub fn table(kind: ResourceKind) -> Table {
    match kind {
        ResourceKind::User => Table::Users,
        ResourceKind::Group => Table::Groups,
    }
}

/// Database failures are logged with their cause and answered with a plain
/// 500: the client learns nothing of the internals. A database too busy to
/// take the write in time (another tenant's long write on SQLite's one
/// writer, a lock timeout) is 503 instead, which the HTTP layer sends with
/// `Retry-After`: the client's retry succeeds.
impl From<SqlError> for ScimError {
    fn from(err: SqlError) -> ScimError {
        if err.is_busy() {
            tracing::warn!(error = %err, "the database was busy: answered 503");
            return ScimError::new(
                503,
                None,
                "The database is busy with other writes and could not take this one in time; send it again after the Retry-After seconds.",
            );
        }
        tracing::error!(error = %err, "database error");
        ScimError::internal()
    }
}

fn parse_doc(row: &Row) -> Value {
    serde_json::from_str(&row.doc).unwrap_or_else(|e| {
        tracing::error!(id = %row.id, error = %e, "stored document is not valid JSON");
        Value::Object(Default::default())
    })
}
