//! `scimgate admin …`: console accounts.

use std::io::Read as _;

use clap::Subcommand;
use serde::Serialize;

use super::{print, tenant_by_slug};
use crate::password;
use crate::store::Db;
use crate::store::activity::Actor;
use crate::store::admins::{self, AdminError};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a console account: an admin of one tenant, or an operator.
    Create {
        /// Slug of the tenant the admin manages.
        #[arg(
            long,
            required_unless_present = "operator",
            conflicts_with = "operator"
        )]
        tenant: Option<String>,
        /// The account's e-mail address (used to sign in).
        #[arg(long)]
        email: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        /// Create an operator: manages scimgate itself and belongs to no tenant.
        #[arg(long)]
        operator: bool,
    },
}

#[derive(Debug, Serialize)]
struct Created {
    id: String,
    email: String,
    /// The tenant's slug; null for an operator.
    tenant: Option<String>,
    /// Only when generated: it is shown this once and stored only as a hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

/// Standard input without its trailing line break.
fn password_from_stdin() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| anyhow::anyhow!("cannot read the password from standard input: {e}"))?;
    let password = input
        .strip_suffix('\n')
        .map(|p| p.strip_suffix('\r').unwrap_or(p))
        .unwrap_or(&input);
    Ok(password.to_string())
}

pub async fn run(db: &Db, cmd: AdminCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::Create {
            tenant,
            email,
            password_stdin,
            operator,
        } => {
            let tenant = match (&tenant, operator) {
                (Some(slug), false) => Some(tenant_by_slug(db, slug).await?),
                (None, true) => None,
                // clap enforces exactly one of --tenant and --operator.
                _ => anyhow::bail!("give either --tenant SLUG or --operator"),
            };
            let (plain, generated) = if password_stdin {
                let p = password_from_stdin()?;
                password::check_policy(&p).map_err(|e| anyhow::anyhow!("password refused: {e}"))?;
                (p, false)
            } else {
                (password::generate(), true)
            };
            let hash = password::hash(plain.clone()).await?;
            let admin = match admins::create(
                db,
                tenant.as_ref().map(|t| t.id.as_str()),
                &email,
                &hash,
                &Actor::operator(),
            )
            .await
            {
                Ok(a) => a,
                Err(AdminError::EmailTaken(e)) => anyhow::bail!(
                    "an account with the e-mail {e:?} already exists; e-mail addresses are unique across all tenants"
                ),
                Err(e) => return Err(e.into()),
            };
            let out = Created {
                id: admin.id.clone(),
                email: admin.email.clone(),
                tenant: tenant.as_ref().map(|t| t.slug.clone()),
                password: generated.then(|| plain.clone()),
            };
            print(json, &out, || {
                let whose = match &tenant {
                    Some(t) => format!("admin of tenant {} ({})", t.slug, t.name),
                    None => "operator".to_string(),
                };
                let mut text = format!("created {whose} {} with id {}", admin.email, admin.id);
                if generated {
                    text.push_str(&format!(
                        "\npassword: {plain}\nThis password is shown only now; pass it to its owner over a safe channel."
                    ));
                }
                text
            })
        }
    }
}
