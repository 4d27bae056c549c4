//! The store's side of `scimgate bench` ([`ScratchDatabase`]): a database of
//! the benchmark's own, a SQLite file in a temporary folder or a fresh
//! database on a PostgreSQL server (dropped afterwards), set up straight in
//! the store.

use anyhow::Context as _;
use scimgate_tools::bench::{ScratchDatabase, Tenant, Webhook, user_name};
use serde_json::json;

use crate::store::activity::Actor;
use crate::store::resources::{self, Indexed, Row};
use crate::store::sql::Table;
use crate::store::{Db, events, new_id, now, tenants, tokens, webhooks};

/// The database of one benchmark, connected.
pub struct Scratch {
    db: Db,
    url: String,
    label: &'static str,
    /// The PostgreSQL server's URL and the database made on it.
    pg: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

#[async_trait::async_trait]
impl ScratchDatabase for Scratch {
    const SCIM_PREFIX: &'static str = crate::paths::SCIM_PREFIX;

    async fn create(postgres: Option<&str>, file: &str) -> anyhow::Result<Scratch> {
        let dir = tempfile::tempdir()?;
        let (url, label, pg) = match postgres {
            Some(admin) => {
                let name = format!("scimgate_bench_{}", uuid::Uuid::new_v4().simple());
                crate::store::create_postgres_database(admin, &name)
                    .await
                    .context("creating a scratch database on PostgreSQL")?;
                let mut u = url::Url::parse(admin)?;
                u.set_path(&format!("/{name}"));
                (u.to_string(), "PostgreSQL", Some((admin.to_string(), name)))
            }
            None => (
                format!("sqlite://{}", dir.path().join(file).display()),
                "SQLite",
                None,
            ),
        };
        match Db::connect(&url).await {
            Ok(db) => Ok(Scratch {
                db,
                url,
                label,
                pg,
                _dir: dir,
            }),
            Err(e) => {
                if let Some((admin, name)) = &pg {
                    crate::store::drop_postgres_database(admin, name).await;
                }
                Err(e)
            }
        }
    }

    fn url(&self) -> &str {
        &self.url
    }

    fn label(&self) -> &'static str {
        self.label
    }

    async fn tenant(&self, slug: &str, name: &str) -> anyhow::Result<Tenant> {
        let tenant = tenants::create(&self.db, slug, name).await?;
        let (_, token) =
            tokens::create_secret_token(&self.db, &tenant.id, "bench", None, &Actor::operator())
                .await?;
        Ok(Tenant {
            id: tenant.id,
            token,
        })
    }

    /// 1,000 users per transaction, inserted straight into the store.
    async fn seed_users(&self, tenant_id: &str, from: usize, to: usize) -> anyhow::Result<()> {
        let mut i = from;
        while i < to {
            let end = (i + 1000).min(to);
            let mut tx = self.db.begin().await?;
            for n in i..end {
                let name = user_name(n);
                let doc = json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                    "userName": name,
                    "externalId": format!("ext-{n}"),
                    "active": true,
                    "displayName": format!("Bench User {n}"),
                    "name": {"givenName": "Bench", "familyName": format!("User {n}")},
                    "emails": [{"type": "work", "value": name, "primary": true}],
                    "title": "Engineer",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D", "employeeNumber": n.to_string()},
                });
                let at = now();
                let row = Row {
                    id: new_id(),
                    doc: doc.to_string(),
                    version: 1,
                    created_at: at.clone(),
                    updated_at: at,
                    derived_role: None,
                    derived_groups: None,
                };
                let ix = Indexed {
                    name: name.clone(),
                    external_id: Some(format!("ext-{n}")),
                    display_name: Some(format!("Bench User {n}")),
                    active: true,
                    emails: vec![(name.to_lowercase(), Some("work".into()))],
                };
                resources::insert(&mut tx, Table::Users, tenant_id, &row, &ix).await?;
            }
            tx.commit().await?;
            i = end;
        }
        Ok(())
    }

    async fn analyze(&self) -> anyhow::Result<()> {
        Ok(self.db.analyze().await?)
    }

    async fn user_ids(&self, tenant_id: &str, offset: usize) -> anyhow::Result<Vec<String>> {
        Ok(resources::user_ids(&self.db, tenant_id, offset, 10_000).await?)
    }

    async fn create_webhook(&self, tenant_id: Option<&str>, url: &str) -> anyhow::Result<Webhook> {
        let hook = webhooks::create(
            &self.db,
            tenant_id,
            url,
            None,
            &crate::webhooks::new_secret(),
        )
        .await?;
        Ok(Webhook {
            id: hook.id,
            start_after: hook.start_after,
        })
    }

    async fn delete_webhook(&self, id: &str) -> anyhow::Result<()> {
        webhooks::delete(&self.db, id).await?;
        Ok(())
    }

    async fn latest_event(&self) -> anyhow::Result<i64> {
        Ok(events::latest(&self.db).await?)
    }

    async fn close(&self) {
        self.db.close().await;
    }

    async fn remove(self) {
        self.db.close().await;
        if let Some((admin, name)) = &self.pg {
            crate::store::drop_postgres_database(admin, name).await;
        }
    }
}
