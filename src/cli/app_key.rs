use clap::Subcommand;
use serde::Serialize;

use super::{print, tenant_by_slug};
use crate::store::Db;
use crate::store::app_keys::{self, AppKey};

#[derive(Debug, Subcommand)]
pub enum AppKeyCommand {
    /// Create a key for the product's use of `/api/v1` (printed once, stored
    /// hashed).
    Create {
        /// A label that says which product or service uses the key.
        #[arg(long)]
        name: String,
        /// Limit the key to one tenant (default: every tenant).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List the keys (never their secrets).
    List,
    /// Revoke a key by id; every instance refuses it from the next request.
    Revoke { id: String },
}

#[derive(Serialize)]
struct Created<'a> {
    id: &'a str,
    key: &'a str,
    name: &'a str,
    tenant: Option<&'a str>,
    hint: &'a str,
    created_at: &'a str,
}

#[derive(Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    key: &'a AppKey,
    tenant: Option<String>,
    status: &'static str,
}

pub async fn run(db: &Db, cmd: AppKeyCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        AppKeyCommand::Create { name, tenant } => {
            let tenant = match tenant {
                Some(slug) => Some(tenant_by_slug(db, &slug).await?),
                None => None,
            };
            let (key, secret) =
                app_keys::create(db, tenant.as_ref().map(|t| t.id.as_str()), &name).await?;
            let slug = tenant.as_ref().map(|t| t.slug.as_str());
            print(
                json,
                &Created {
                    id: &key.id,
                    key: &secret,
                    name: &key.name,
                    tenant: slug,
                    hint: &key.hint,
                    created_at: &key.created_at,
                },
                || {
                    format!(
                        "created app key {} ({}) for {}\n\n  {secret}\n\nThis is the only time the key is shown. The product sends it as `Authorization: Bearer {}…` to /api/v1.",
                        key.id,
                        key.name,
                        slug.map_or("every tenant".to_string(), |s| format!("tenant {s}")),
                        app_keys::PREFIX,
                    )
                },
            )
        }
        AppKeyCommand::List => {
            let keys = app_keys::list(db).await?;
            let tenants = crate::store::tenants::list(db).await?;
            let slug_of = |id: &Option<String>| {
                id.as_ref().map(|id| {
                    tenants
                        .iter()
                        .find(|t| &t.id == id)
                        .map_or_else(|| id.clone(), |t| t.slug.clone())
                })
            };
            let rows: Vec<Listed> = keys
                .iter()
                .map(|key| Listed {
                    key,
                    tenant: slug_of(&key.tenant_id),
                    status: if key.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    },
                })
                .collect();
            print(json, &rows, || {
                if rows.is_empty() {
                    return "there are no app keys; `scimgate app-key create --name LABEL` makes one"
                        .to_string();
                }
                let mut out = format!(
                    "{:<36} {:<24} {:<8} {:<16} {:<18} {}\n",
                    "ID", "NAME", "STATUS", "TENANT", "HINT", "LAST USED"
                );
                for r in &rows {
                    out.push_str(&format!(
                        "{:<36} {:<24} {:<8} {:<16} {:<18} {}\n",
                        r.key.id,
                        r.key.name,
                        r.status,
                        r.tenant.as_deref().unwrap_or("(all)"),
                        r.key.hint,
                        r.key.last_used_at.as_deref().unwrap_or("never"),
                    ));
                }
                out.trim_end().to_string()
            })
        }
        AppKeyCommand::Revoke { id } => {
            if !app_keys::revoke(db, &id).await? {
                anyhow::bail!(
                    "no app key with the id {id:?}; `scimgate app-key list` shows the ids"
                );
            }
            print(
                json,
                &serde_json::json!({"id": id, "revoked": true}),
                || format!("revoked app key {id}"),
            )
        }
    }
}
