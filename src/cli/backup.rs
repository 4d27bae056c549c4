//! `scimgate backup`, `restore` and `export`.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;
use scim::ResourceKind;
use serde_json::Value;

use super::{print, tenant_by_slug};
use crate::provision::represent;
use crate::store::backup::{self, Summary};
use crate::store::resources::{self, Row};
use crate::store::sql::Table;
use crate::store::{Db, members};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The file to write (it must not exist yet).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file written by `scimgate backup`.
    #[arg(long)]
    pub from: PathBuf,
    /// Replace the existing database (stop scimgate first).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long)]
    pub tenant: String,
    /// Write here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn human(verb: &str, s: &Summary) -> String {
    format!(
        "{verb} {} ({} bytes, integrity {}): {} tenants, {} users, {} groups, {} events",
        s.file.display(),
        s.bytes,
        s.integrity,
        s.tenants,
        s.users,
        s.groups,
        s.events
    )
}

pub fn backup(url: &str, args: BackupArgs, json: bool) -> anyhow::Result<()> {
    let s = backup::backup(url, &args.out)?;
    print(json, &s, || human("backed up to", &s))
}

pub fn restore(url: &str, args: RestoreArgs, json: bool) -> anyhow::Result<()> {
    let s = backup::restore(url, &args.from, args.force)?;
    print(json, &s, || human("restored", &s))
}

/// Resources read per query.
const PAGE: i64 = 500;

fn doc_of(row: &Row) -> Value {
    serde_json::from_str(&row.doc).unwrap_or_else(|_| Value::Object(Default::default()))
}

/// A tenant's users, then its groups (with their members), one SCIM
/// representation per line, read a page at a time.
pub async fn export(db: &Db, base_url: &str, args: ExportArgs) -> anyhow::Result<()> {
    let tenant = tenant_by_slug(db, &args.tenant).await?;
    let scim_base = format!("{base_url}{}", crate::paths::SCIM_PREFIX);
    let mut out: Box<dyn std::io::Write> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create_new(path).map_err(|e| {
                anyhow::anyhow!(
                    "cannot create {} ({e}); an export never overwrites",
                    path.display()
                )
            })?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let (mut users, mut groups) = (0u64, 0u64);
    for (table, kind) in [
        (Table::Users, ResourceKind::User),
        (Table::Groups, ResourceKind::Group),
    ] {
        let mut after = String::new();
        loop {
            let rows = resources::page_after(db, table, &tenant.id, &after, PAGE).await?;
            let Some(last) = rows.last() else { break };
            after = last.id.clone();
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let mut of: HashMap<String, Vec<members::Membership>> = HashMap::new();
            if kind == ResourceKind::User {
                for m in members::groups_of(db, &tenant.id, &ids).await? {
                    of.entry(m.member_id.clone()).or_default().push(m);
                }
            }
            for row in &rows {
                let member_list = if kind == ResourceKind::Group {
                    Some(members::list(db, &tenant.id, &row.id).await?)
                } else {
                    None
                };
                let g = of.get(&row.id).map(Vec::as_slice);
                let r = represent::full(
                    kind,
                    &scim_base,
                    row,
                    doc_of(row),
                    member_list.as_deref(),
                    g,
                );
                serde_json::to_writer(&mut out, &r.json)?;
                out.write_all(b"\n")?;
                match kind {
                    ResourceKind::User => users += 1,
                    ResourceKind::Group => groups += 1,
                }
            }
            if (rows.len() as i64) < PAGE {
                break;
            }
        }
    }
    out.flush()?;
    eprintln!(
        "exported {users} users and {groups} groups of tenant {}",
        tenant.slug
    );
    Ok(())
}
