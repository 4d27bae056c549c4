//! Reading users and groups: one resource, and a group's members in
//! pages for the large groups that are streamed.

use scim::{ResourceKind, ScimError};

use super::represent::Resource;
use super::{Ctx, parse_doc, represent, table};
use crate::store::Tx;
use crate::store::members;
use crate::store::resources::{self, Row};

/// Reads one resource.
pub async fn get(
    ctx: &Ctx,
    kind: ResourceKind,
    id: &str,
    with_related: bool,
) -> Result<Resource, ScimError> {
    let row = resources::get(&ctx.db, table(kind), &ctx.tenant_id, id)
        .await?
        .ok_or_else(|| not_found(kind, id))?;
    build(ctx, kind, &row, with_related).await
}

/// Groups with more members than this are answered with their members
/// read and written a page at a time ([`MemberPages`]), never all in memory.
pub const STREAM_MEMBERS_AFTER: i64 = 10_000;
/// Members per page of [`MemberPages`].
const MEMBER_PAGE: i64 = 1_000;

/// How many members a group has.
pub async fn member_count(ctx: &Ctx, group_id: &str) -> Result<i64, ScimError> {
    if !resources::storable_id(group_id) {
        return Ok(0);
    }
    members::count(&ctx.db, &ctx.tenant_id, group_id)
        .await
        .map_err(ScimError::from)
}

/// A group's `members` as JSON text, a page at a time, in the order a
/// materialised representation lists them. Pages are separate reads: a
/// member added or removed while the pages are read may or may not be in
/// them, as if the read had happened a moment earlier or later.
pub struct MemberPages {
    ctx: Ctx,
    group_id: String,
    after: Option<(String, String)>,
    done: bool,
}

impl MemberPages {
    pub fn new(ctx: Ctx, group_id: String) -> MemberPages {
        MemberPages {
            ctx,
            group_id,
            after: None,
            done: false,
        }
    }

    /// The next page's member values, comma-separated (with a leading comma
    /// after the first page); None when all were read.
    pub async fn next_page(&mut self) -> Result<Option<String>, ScimError> {
        if self.done {
            return Ok(None);
        }
        let page = members::page_in_order(
            &self.ctx.db,
            &self.ctx.tenant_id,
            &self.group_id,
            self.after.as_ref(),
            MEMBER_PAGE,
        )
        .await?;
        self.done = (page.len() as i64) < MEMBER_PAGE;
        let first = self.after.is_none();
        let mut text = String::with_capacity(page.len() * 160);
        for (i, (m, position)) in page.into_iter().enumerate() {
            if i > 0 || !first {
                text.push(',');
            }
            text.push_str(&represent::member_value(&self.ctx.base_url, &m).to_string());
            self.after = Some(position);
        }
        Ok(Some(text))
    }
}

pub fn not_found(kind: ResourceKind, id: &str) -> ScimError {
    ScimError::not_found(format!("{} {id:?} not found", kind.name()))
}

/// The full representation of one row, with members or groups when asked.
pub async fn build(
    ctx: &Ctx,
    kind: ResourceKind,
    row: &Row,
    with_related: bool,
) -> Result<Resource, ScimError> {
    let doc = parse_doc(row);
    let (members, groups) = if !with_related {
        (None, None)
    } else if kind == ResourceKind::Group {
        let m = members::list(&ctx.db, &ctx.tenant_id, &row.id).await?;
        (Some(m), None)
    } else {
        let g = members::groups_of(&ctx.db, &ctx.tenant_id, std::slice::from_ref(&row.id)).await?;
        (None, Some(g))
    };
    Ok(represent::full(
        kind,
        &ctx.base_url,
        row,
        doc,
        members.as_deref(),
        groups.as_deref(),
    ))
}

/// Resolves member ids for a group; unknown ids fail the whole request.
pub(super) async fn resolve_members(
    tx: &mut Tx,
    ctx: &Ctx,
    group_id: &str,
    ids: &[String],
) -> Result<Vec<(String, &'static str)>, ScimError> {
    if ids.iter().any(|m| m == group_id) {
        return Err(ScimError::invalid_value(
            "a group cannot be a member of itself; remove its own id from the members",
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    let unique: Vec<String> = ids
        .iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect();
    let (found, missing) = members::resolve(tx, &ctx.tenant_id, &unique).await?;
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
        let more = if missing.len() > 5 {
            format!(" and {} more", missing.len() - 5)
        } else {
            String::new()
        };
        return Err(ScimError::invalid_value(format!(
            "members must be ids of users or groups of this tenant; not found: {}{more}. Nothing was changed.",
            shown.join(", ")
        )));
    }
    Ok(found)
}
