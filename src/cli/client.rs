use clap::Subcommand;
use serde::Serialize;

use super::{print, tenant_by_slug};
use crate::paths::{AUTHORIZE_PATH, SCIM_PREFIX, TOKEN_PATH};
use crate::store::activity::Actor;
use crate::store::clients::{self, DEFAULT_SECRET_DAYS, ENTRA_REDIRECT_URIS};
use crate::store::{Db, now};

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register an OAuth client for a tenant and print what to paste into
    /// the identity provider (the secret is shown once).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// Register Microsoft Entra ID's redirect URIs.
        #[arg(long)]
        entra: bool,
        /// A redirect URI to register (repeatable); matched exactly.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Lifetime of the client secret in days (Entra allows one to three years).
        #[arg(long, default_value_t = DEFAULT_SECRET_DAYS, value_parser = clap::value_parser!(u32).range(1..=1095))]
        secret_days: u32,
    },
    /// List a tenant's OAuth clients and their secrets (never the secrets themselves).
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Add a secret to a client, to rotate without downtime.
    AddSecret {
        client_id: String,
        #[arg(long, default_value_t = DEFAULT_SECRET_DAYS, value_parser = clap::value_parser!(u32).range(1..=1095))]
        secret_days: u32,
    },
    /// Revoke one secret of a client.
    RevokeSecret {
        client_id: String,
        secret_id: String,
    },
}

#[derive(Serialize)]
struct Created {
    client_id: String,
    client_secret: String,
    secret_expires_at: String,
    tenant_url: String,
    authorization_url: String,
    token_url: String,
    redirect_uris: Vec<String>,
}

pub async fn run(db: &Db, public_url: &str, cmd: ClientCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        ClientCommand::Create {
            tenant,
            name,
            entra,
            redirect_uris,
            secret_days,
        } => {
            let t = tenant_by_slug(db, &tenant).await?;
            let mut uris: Vec<String> = Vec::new();
            if entra {
                uris.extend(ENTRA_REDIRECT_URIS.iter().map(|s| s.to_string()));
            }
            for u in redirect_uris {
                clients::valid_redirect_uri(&u)
                    .map_err(|e| anyhow::anyhow!("invalid --redirect-uri: {e}"))?;
                if !uris.contains(&u) {
                    uris.push(u);
                }
            }
            let (client, info, secret) =
                clients::create(db, &t.id, &name, &uris, secret_days, &Actor::operator()).await?;
            let out = Created {
                client_id: client.id.clone(),
                client_secret: secret,
                secret_expires_at: info.expires_at.clone(),
                tenant_url: format!("{public_url}{SCIM_PREFIX}"),
                authorization_url: format!("{public_url}{AUTHORIZE_PATH}"),
                token_url: format!("{public_url}{TOKEN_PATH}"),
                redirect_uris: uris,
            };
            print(json, &out, || {
                let mut s = format!(
                    "created OAuth client {:?} for tenant {}\n\nPaste into Entra's Admin Credentials:\n  Tenant URL         {}\n  Authorization URL  {}\n  Token URL          {}\n  Client ID          {}\n  Client Secret      {}\n\nThe secret is shown only now; it expires at {}.",
                    name,
                    t.slug,
                    out.tenant_url,
                    out.authorization_url,
                    out.token_url,
                    out.client_id,
                    out.client_secret,
                    out.secret_expires_at
                );
                if out.redirect_uris.is_empty() {
                    s.push_str("\nNo redirect URI is registered: this client can use client credentials only.");
                }
                s
            })
        }
        ClientCommand::List { tenant } => {
            let t = tenant_by_slug(db, &tenant).await?;
            let mut listed = Vec::new();
            for c in clients::list(db, &t.id).await? {
                let secrets = clients::secrets(db, &c.id).await?;
                listed.push(serde_json::json!({"client": c, "secrets": secrets}));
            }
            let at = now();
            print(json, &listed, || {
                if listed.is_empty() {
                    return format!("tenant {} has no OAuth clients", t.slug);
                }
                let mut out = String::new();
                for item in &listed {
                    let c = &item["client"];
                    out.push_str(&format!(
                        "{}  {}  redirect URIs: {}\n",
                        c["id"].as_str().unwrap_or_default(),
                        c["name"].as_str().unwrap_or_default(),
                        c["redirect_uris"]
                            .as_array()
                            .map(|a| a
                                .iter()
                                .filter_map(|u| u.as_str())
                                .collect::<Vec<_>>()
                                .join(", "))
                            .unwrap_or_default()
                    ));
                    for s in item["secrets"].as_array().into_iter().flatten() {
                        let expires = s["expires_at"].as_str().unwrap_or_default();
                        let status = if s["revoked_at"].is_string() {
                            "revoked"
                        } else if expires <= at.as_str() {
                            "expired"
                        } else {
                            "active"
                        };
                        out.push_str(&format!(
                            "    secret {}  {}  {}  expires {}\n",
                            s["id"].as_str().unwrap_or_default(),
                            s["hint"].as_str().unwrap_or_default(),
                            status,
                            expires
                        ));
                    }
                }
                out.trim_end().to_string()
            })
        }
        ClientCommand::AddSecret {
            client_id,
            secret_days,
        } => {
            let client = clients::by_id(db, &client_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no OAuth client with the id {client_id:?}"))?;
            let (info, secret) =
                clients::add_secret(db, &client, secret_days, &Actor::operator()).await?;
            let out = serde_json::json!({"client_id": client.id, "secret_id": info.id, "client_secret": secret, "expires_at": info.expires_at});
            print(json, &out, || {
                format!(
                    "added a secret to {:?}:\n\n  {secret}\n\nShown only now; it expires at {}. The older secrets keep working until they expire or are revoked.",
                    client.name, info.expires_at
                )
            })
        }
        ClientCommand::RevokeSecret {
            client_id,
            secret_id,
        } => {
            let client = clients::by_id(db, &client_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no OAuth client with the id {client_id:?}"))?;
            if !clients::revoke_secret(db, &client, &secret_id, &Actor::operator()).await? {
                anyhow::bail!("client {client_id} has no active secret with the id {secret_id:?}");
            }
            print(json, &serde_json::json!({"revoked": secret_id}), || {
                format!("revoked secret {secret_id} of client {client_id}")
            })
        }
    }
}
