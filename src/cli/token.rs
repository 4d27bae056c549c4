use clap::Subcommand;
use serde::Serialize;

use super::{print, tenant_by_slug};
use crate::store::activity::Actor;
use crate::store::tokens::{self, TokenInfo};
use crate::store::{Db, now};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a secret token for a tenant's SCIM API (printed once, stored hashed).
    Create {
        #[arg(long)]
        tenant: String,
        /// A label that says where the token is used, e.g. "Entra production".
        #[arg(long)]
        name: String,
        /// Expire after this many days (default: never; Entra quarantines a
        /// provisioning job whose token expires).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36500))]
        expires_in_days: Option<u32>,
    },
    /// List a tenant's tokens (never their secrets).
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a token by id; it stops working at once.
    Revoke { id: String },
}

#[derive(Serialize)]
struct Created<'a> {
    #[serde(flatten)]
    info: &'a TokenInfo,
    token: &'a str,
}

#[derive(Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    info: &'a TokenInfo,
    status: &'static str,
}

pub async fn run(db: &Db, cmd: TokenCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            tenant,
            name,
            expires_in_days,
        } => {
            let t = tenant_by_slug(db, &tenant).await?;
            let (info, secret) =
                tokens::create_secret_token(db, &t.id, &name, expires_in_days, &Actor::operator())
                    .await?;
            print(
                json,
                &Created {
                    info: &info,
                    token: &secret,
                },
                || {
                    format!(
                        "created token {} ({}) for tenant {}\n\n  {secret}\n\nThis is the only time the token is shown. Paste it into Entra's \"Secret Token\" field.{}",
                        info.id,
                        info.name,
                        t.slug,
                        match &info.expires_at {
                            Some(e) => format!("\nIt expires at {e}."),
                            None =>
                                "\nIt never expires; revoke it with `scimgate token revoke ID`."
                                    .to_string(),
                        }
                    )
                },
            )
        }
        TokenCommand::List { tenant } => {
            let t = tenant_by_slug(db, &tenant).await?;
            let list = tokens::list(db, &t.id).await?;
            let now = now();
            let rows: Vec<Listed> = list
                .iter()
                .map(|info| Listed {
                    info,
                    status: info.status(&now),
                })
                .collect();
            print(json, &rows, || {
                if rows.is_empty() {
                    return format!("tenant {} has no tokens", t.slug);
                }
                let mut out = format!(
                    "{:<36} {:<24} {:<8} {:<18} {:<25} {}\n",
                    "ID", "NAME", "STATUS", "HINT", "EXPIRES", "LAST USED"
                );
                for r in &rows {
                    out.push_str(&format!(
                        "{:<36} {:<24} {:<8} {:<18} {:<25} {}\n",
                        r.info.id,
                        r.info.name,
                        r.status,
                        r.info.hint,
                        r.info.expires_at.as_deref().unwrap_or("never"),
                        r.info.last_used_at.as_deref().unwrap_or("never"),
                    ));
                }
                out.trim_end().to_string()
            })
        }
        TokenCommand::Revoke { id } => {
            if !tokens::revoke(db, &id, &Actor::operator()).await? {
                anyhow::bail!(
                    "no token with the id {id:?}; `scimgate token list --tenant SLUG` shows the ids"
                );
            }
            let info = tokens::by_id(db, &id).await?;
            print(json, &info, || format!("revoked token {id}"))
        }
    }
}
