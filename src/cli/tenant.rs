use clap::Subcommand;

use super::print;
use crate::store::Db;
use crate::store::tenants;

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Short identifier: lower-case letters, digits and hyphens.
        slug: String,
        /// Display name (default: the slug).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the tenants.
    List,
}

pub async fn run(db: &Db, cmd: TenantCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        TenantCommand::Create { slug, name } => {
            let name = name.unwrap_or_else(|| slug.clone());
            let t = tenants::create(db, &slug, &name).await?;
            print(json, &t, || {
                format!("created tenant {} ({}) with id {}", t.slug, t.name, t.id)
            })
        }
        TenantCommand::List => {
            let list = tenants::list(db).await?;
            print(json, &list, || {
                if list.is_empty() {
                    return "no tenants yet; create one with `scimgate tenant create SLUG`"
                        .to_string();
                }
                let mut out = format!("{:<24} {:<32} {:<36} {}\n", "SLUG", "NAME", "ID", "CREATED");
                for t in &list {
                    out.push_str(&format!(
                        "{:<24} {:<32} {:<36} {}\n",
                        t.slug, t.name, t.id, t.created_at
                    ));
                }
                out.trim_end().to_string()
            })
        }
    }
}
