//! Browser sessions in the database, so that any instance can serve any
//! request of a signed-in admin.

use sqlx::Row as _;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use super::tx::args;
use super::{Db, SqlError};

#[derive(Debug, Clone)]
pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        DbSessionStore { db }
    }

    /// Stores `record`; `on_conflict` says what an existing id gets.
    /// Returns the rows written.
    async fn write(&self, record: &Record, on_conflict: &str) -> session_store::Result<u64> {
        let data = serde_json::to_string(record).map_err(backend)?;
        self.db
            .execute(
                &format!(
                    "INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3)
                     ON CONFLICT {on_conflict}"
                ),
                args![
                    &record.id.to_string(),
                    &data,
                    record.expiry_date.unix_timestamp()
                ],
            )
            .await
            .map_err(backend)
    }

    /// Deletes expired sessions; returns how many.
    pub async fn delete_expired(&self) -> Result<u64, SqlError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.db
            .execute("DELETE FROM sessions WHERE expires_at < $1", args![now])
            .await
    }
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

#[async_trait::async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // Ids are 128 random bits; a collision is retried with a new id.
        while self.write(record, "DO NOTHING").await? != 1 {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.write(
            record,
            "(id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
        )
        .await?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let row = sqlx::query("SELECT data FROM sessions WHERE id = $1 AND expires_at > $2")
            .bind(id.to_string())
            .bind(now)
            .fetch_optional(self.db.reader())
            .await
            .map_err(backend)?;
        match row {
            Some(r) => {
                let data: String = r.try_get("data").map_err(backend)?;
                Ok(Some(serde_json::from_str(&data).map_err(backend)?))
            }
            None => Ok(None),
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.db
            .execute("DELETE FROM sessions WHERE id = $1", args![&id.to_string()])
            .await
            .map_err(backend)?;
        Ok(())
    }
}
