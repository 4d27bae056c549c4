//! Creating, replacing, patching and deleting users and groups: each
//! write in one transaction with its events, its activity entry and the
//! role and group mapping of the tenant.

use scim::patch::{MemberChange, PatchOutcome};
use scim::resource::Normalized;
use scim::{Quirks, ResourceKind, ScimError};
use serde_json::Value;

use super::read::{build, not_found, resolve_members};
use super::record::{Audit, changes_json, label_of, sample};
use super::represent::Resource;
use super::{Ctx, diff, mapping, parse_doc, recompute, represent, table};
use crate::events::{self, MemberDelta};
use crate::store::Tx;
use crate::store::activity;
use crate::store::events::{self as event_log, NewEvent};
use crate::store::members::{Membership, Named};
use crate::store::resources::{self, Row};
use crate::store::{SqlError, new_id, now};
use crate::store::{mapping as mapping_store, members};

fn check_if_match(if_match: Option<&str>, version: i64) -> Result<(), ScimError> {
    let Some(header) = if_match else {
        return Ok(());
    };
    let current = represent::etag(version);
    let strong = format!("\"{version}\"");
    let ok = header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == current || t == strong);
    if ok {
        Ok(())
    } else {
        Err(ScimError::precondition_failed(format!(
            "the resource has changed: its version is now {current}, not {header}. Read it again and retry with the new ETag."
        )))
    }
}

/// How a failed write of a resource named `label` is answered: a clash with
/// another resource's name (caught by the unique index, at the write or at
/// the commit) is the client's 409; anything else is the database's.
fn taken_or_internal(kind: ResourceKind, label: &str) -> impl Fn(SqlError) -> ScimError + '_ {
    move |e| {
        if !e.is_unique_violation() {
            return e.into();
        }
        match kind {
            ResourceKind::User => ScimError::uniqueness(format!(
                "userName {label:?} is already used by another user of this tenant (user names are compared case-insensitively)"
            )),
            ResourceKind::Group => ScimError::uniqueness(format!(
                "displayName {label:?} is already used by another group of this tenant (group names are compared case-insensitively)"
            )),
        }
    }
}

/// User passwords are write-only in SCIM and scimgate authenticates nobody
/// with them, so they are never stored, not even hashed: the attribute is
/// dropped and named in the activity entry.
fn drop_password(n: &mut Normalized) {
    if let Some(obj) = n.doc.as_object_mut()
        && obj.remove("password").is_some()
    {
        n.ignored
            .push("password (scimgate does not store passwords)".to_string());
    }
}

/// Derives a user's role and employee groups from its new document with the
/// tenant's committed rules, in the write's transaction, and stores them
/// when they differ from the row's. Returns the changes for the log.
async fn apply_mapping(
    tx: &mut Tx,
    ctx: &Ctx,
    row: &mut Row,
    doc: &Value,
) -> Result<Vec<diff::Change>, ScimError> {
    let rules = recompute::current_in_tx(tx, &ctx.tenant_id).await?;
    let derived = mapping::derive(&rules, doc).derived;
    let before =
        mapping::Derived::from_stored(row.derived_role.as_deref(), row.derived_groups.as_deref());
    if derived == before {
        return Ok(Vec::new());
    }
    let groups = derived.groups_json();
    mapping_store::set_derived(
        tx,
        &ctx.tenant_id,
        &row.id,
        derived.role.as_deref(),
        groups.as_deref(),
    )
    .await?;
    let ext = |name: &str| format!("{}:{name}", scim::schema::MAPPING_USER);
    let mut changes = Vec::new();
    if derived.role != before.role {
        changes.push(diff::Change {
            path: ext("role"),
            before: before.role.map_or(Value::Null, Value::String),
            after: derived.role.clone().map_or(Value::Null, Value::String),
        });
    }
    if derived.groups != before.groups {
        let list = |g: Vec<String>| {
            if g.is_empty() {
                Value::Null
            } else {
                Value::from(g)
            }
        };
        changes.push(diff::Change {
            path: ext("groups"),
            before: list(before.groups),
            after: list(derived.groups.clone()),
        });
    }
    row.derived_role = derived.role;
    row.derived_groups = groups;
    Ok(changes)
}

/// The representation an event carries: as `GET` returns it, except that a
/// group's members are not listed (they are membership events, one per
/// member, so a group of 100,000 members never makes one huge event).
pub(super) fn event_repr(
    base_url: &str,
    kind: ResourceKind,
    row: &Row,
    doc: Value,
    groups: &[Named],
) -> Value {
    let groups = memberships(row, groups);
    let groups = (kind == ResourceKind::User).then_some(groups.as_slice());
    represent::full(kind, base_url, row, doc, None, groups).json
}

fn memberships(row: &Row, groups: &[Named]) -> Vec<Membership> {
    groups
        .iter()
        .map(|g| Membership {
            member_id: row.id.clone(),
            group_id: g.id.clone(),
            group_display: g.name.clone(),
        })
        .collect()
}

/// What a write of a user answers: the user as `GET` returns it, with the
/// groups its transaction read (no read after the commit).
fn user_resource(ctx: &Ctx, row: &Row, doc: Value, groups: &[Named]) -> Resource {
    let groups = memberships(row, groups);
    represent::full(
        ResourceKind::User,
        &ctx.base_url,
        row,
        doc,
        None,
        Some(&groups),
    )
}

/// How events name a user or group: id, `userName`/`displayName`, `externalId`.
fn named(kind: ResourceKind, id: &str, doc: &Value) -> Named {
    let ix = represent::indexed(kind, doc);
    Named {
        id: id.to_string(),
        name: ix.name,
        external_id: ix.external_id,
    }
}

/// The groups a user belongs to, for its representation in an event.
async fn groups_in_tx(
    tx: &mut Tx,
    ctx: &Ctx,
    kind: ResourceKind,
    id: &str,
) -> Result<Vec<Named>, ScimError> {
    if kind != ResourceKind::User {
        return Ok(Vec::new());
    }
    let found = members::groups_of_in_tx(tx, &ctx.tenant_id, &[id.to_string()]).await?;
    Ok(found.into_iter().map(|(_, g)| g).collect())
}

/// One membership event per member a write added to or removed from
/// `group`, net of the write's own reversals. Returns (added, removed).
async fn membership_events(
    tx: &mut Tx,
    ctx: &Ctx,
    group: &Named,
    delta: MemberDelta,
    out: &mut Vec<NewEvent>,
) -> Result<(usize, usize), ScimError> {
    let (added, removed) = delta.net();
    let counts = (added.len(), removed.len());
    let mut names: std::collections::HashMap<String, Named> = std::collections::HashMap::new();
    for kind in ["User", "Group"] {
        let ids: Vec<String> = added
            .iter()
            .chain(&removed)
            .filter(|(_, k)| k == kind)
            .map(|(id, _)| id.clone())
            .collect();
        if ids.is_empty() {
            continue;
        }
        for n in members::describe(tx, &ctx.tenant_id, kind, &ids).await? {
            names.insert(n.id.clone(), n);
        }
    }
    for (list, is_add) in [(removed, false), (added, true)] {
        for (id, kind) in list {
            // A member is always a user or group of the tenant (checked
            // before the write); one missing here was deleted in this write.
            let member = names.remove(&id).unwrap_or(Named {
                id,
                name: String::new(),
                external_id: None,
            });
            out.push(events::membership(
                &ctx.tenant_id,
                group,
                &kind,
                &member,
                is_add,
            ));
        }
    }
    Ok(counts)
}

/// `POST /Users`, `POST /Groups`.
pub async fn create(ctx: &Ctx, kind: ResourceKind, body: Value) -> Result<Resource, ScimError> {
    let audit = Audit::new(ctx, kind, "create");
    let mut quirks = Quirks::new();
    let label = label_of(kind, &body);
    let mut n = match scim::resource::normalize(kind, body, &mut quirks) {
        Ok(n) => n,
        Err(e) => return Err(audit.failed(e, None, &label, &quirks).await),
    };
    drop_password(&mut n);
    let label = label_of(kind, &n.doc);
    match create_tx(ctx, kind, &n, &quirks, &audit).await {
        Ok(r) => Ok(r),
        Err(e) => Err(audit.failed(e, None, &label, &quirks).await),
    }
}

async fn create_tx(
    ctx: &Ctx,
    kind: ResourceKind,
    n: &Normalized,
    quirks: &Quirks,
    audit: &Audit<'_>,
) -> Result<Resource, ScimError> {
    let ix = represent::indexed(kind, &n.doc);
    let at = now();
    let mut row = Row {
        id: new_id(),
        doc: n.doc.to_string(),
        version: 1,
        created_at: at.clone(),
        updated_at: at.clone(),
        derived_role: None,
        derived_groups: None,
    };
    let mut tx = ctx.db.begin().await?;
    resources::insert(&mut tx, table(kind), &ctx.tenant_id, &row, &ix)
        .await
        .map_err(taken_or_internal(kind, &ix.name))?;
    let mapped = if kind == ResourceKind::User {
        apply_mapping(&mut tx, ctx, &mut row, &n.doc).await?
    } else {
        Vec::new()
    };
    let mut detail = format!("created {} {:?}", kind.name().to_lowercase(), ix.name);
    let mut evs = vec![events::created(
        &ctx.tenant_id,
        kind,
        &event_repr(&ctx.base_url, kind, &row, n.doc.clone(), &[]),
    )];
    if let Some(ids) = &n.members
        && !ids.is_empty()
    {
        let found = resolve_members(&mut tx, ctx, &row.id, ids).await?;
        let mut delta = MemberDelta::default();
        delta.added(members::add(&mut tx, &ctx.tenant_id, &row.id, &found, &at).await?);
        let group = named(kind, &row.id, &n.doc);
        let (added, _) = membership_events(&mut tx, ctx, &group, delta, &mut evs).await?;
        detail.push_str(&format!(" with {added} members"));
    }
    event_log::insert(&mut tx, &at, &evs).await?;
    let mut entry = audit
        .entry(201, Some(&row.id), &ix.name, quirks, &n.ignored)
        .detail(detail);
    let mut changes = diff::diff(&Value::Object(Default::default()), &n.doc);
    changes.extend(mapped);
    entry.changes = changes_json(&changes);
    activity::record(&mut tx, &entry).await?;
    tx.commit()
        .await
        .map_err(taken_or_internal(kind, &ix.name))?;
    let related = kind == ResourceKind::Group;
    build(ctx, kind, &row, related).await
}

/// `PUT /Users/{id}`, `PUT /Groups/{id}`: replaces every writable attribute.
/// A group's members are replaced only when the body lists `members`.
pub async fn replace(
    ctx: &Ctx,
    kind: ResourceKind,
    id: &str,
    body: Value,
    if_match: Option<&str>,
) -> Result<Resource, ScimError> {
    let audit = Audit::new(ctx, kind, "replace");
    let mut quirks = Quirks::new();
    let label = label_of(kind, &body);
    let mut n = match scim::resource::normalize(kind, body, &mut quirks) {
        Ok(n) => n,
        Err(e) => return Err(audit.failed(e, Some(id), &label, &quirks).await),
    };
    drop_password(&mut n);
    match replace_tx(ctx, kind, id, &n, if_match, &quirks, &audit).await {
        Ok(r) => Ok(r),
        Err(e) => Err(audit.failed(e, Some(id), &label, &quirks).await),
    }
}

async fn replace_tx(
    ctx: &Ctx,
    kind: ResourceKind,
    id: &str,
    n: &Normalized,
    if_match: Option<&str>,
    quirks: &Quirks,
    audit: &Audit<'_>,
) -> Result<Resource, ScimError> {
    let mut tx = ctx.db.begin().await?;
    let mut row = resources::get_for_update(&mut tx, table(kind), &ctx.tenant_id, id)
        .await?
        .ok_or_else(|| not_found(kind, id))?;
    check_if_match(if_match, row.version)?;
    let before = parse_doc(&row);
    let old_row = row.clone();
    let ix = represent::indexed(kind, &n.doc);
    let at = now();
    row.doc = n.doc.to_string();
    row.version += 1;
    row.updated_at = at.clone();
    resources::update(&mut tx, table(kind), &ctx.tenant_id, &row, &ix)
        .await
        .map_err(taken_or_internal(kind, &ix.name))?;
    let mapped = if kind == ResourceKind::User {
        apply_mapping(&mut tx, ctx, &mut row, &n.doc).await?
    } else {
        Vec::new()
    };
    let mut detail = format!("replaced {} {:?}", kind.name().to_lowercase(), ix.name);
    let groups = groups_in_tx(&mut tx, ctx, kind, id).await?;
    let mut evs: Vec<NewEvent> = events::updated(
        &ctx.tenant_id,
        kind,
        &event_repr(&ctx.base_url, kind, &old_row, before.clone(), &groups),
        event_repr(&ctx.base_url, kind, &row, n.doc.clone(), &groups),
    )
    .into_iter()
    .collect();
    if let Some(ids) = &n.members {
        let found = resolve_members(&mut tx, ctx, id, ids).await?;
        let mut delta = MemberDelta::default();
        delta.removed(members::remove_all(&mut tx, &ctx.tenant_id, id).await?);
        let added = members::add(&mut tx, &ctx.tenant_id, id, &found, &at).await?;
        let count = added.len();
        delta.added(added);
        let group = named(kind, id, &n.doc);
        membership_events(&mut tx, ctx, &group, delta, &mut evs).await?;
        detail.push_str(&format!("; members set to {count}"));
    }
    event_log::insert(&mut tx, &at, &evs).await?;
    let mut entry = audit
        .entry(200, Some(id), &ix.name, quirks, &n.ignored)
        .detail(detail);
    let mut changes = diff::diff(&before, &n.doc);
    changes.extend(mapped);
    entry.changes = changes_json(&changes);
    activity::record(&mut tx, &entry).await?;
    tx.commit().await?;
    match kind {
        ResourceKind::User => Ok(user_resource(ctx, &row, n.doc.clone(), &groups)),
        ResourceKind::Group => build(ctx, kind, &row, true).await,
    }
}

/// `PATCH`. Returns the resource after the change.
pub async fn patch(
    ctx: &Ctx,
    kind: ResourceKind,
    id: &str,
    body: Value,
    if_match: Option<&str>,
) -> Result<Resource, ScimError> {
    let audit = Audit::new(ctx, kind, "patch");
    let mut quirks = Quirks::new();
    let req = match scim::patch::parse_patch(&body, &mut quirks) {
        Ok(r) => r,
        Err(e) => return Err(audit.failed(e, Some(id), "", &quirks).await),
    };
    match patch_tx(ctx, kind, id, &req, if_match, &mut quirks, &audit).await {
        Ok(r) => Ok(r),
        Err(e) => Err(audit.failed(e, Some(id), "", &quirks).await),
    }
}

async fn patch_tx(
    ctx: &Ctx,
    kind: ResourceKind,
    id: &str,
    req: &scim::patch::PatchRequest,
    if_match: Option<&str>,
    quirks: &mut Quirks,
    audit: &Audit<'_>,
) -> Result<Resource, ScimError> {
    let mut tx = ctx.db.begin().await?;
    let mut row = resources::get_for_update(&mut tx, table(kind), &ctx.tenant_id, id)
        .await?
        .ok_or_else(|| not_found(kind, id))?;
    check_if_match(if_match, row.version)?;
    let before = parse_doc(&row);
    let old_row = row.clone();
    let mut doc = before.clone();
    let PatchOutcome {
        member_changes,
        ignored,
    } = scim::patch::apply_patch(kind, &mut doc, req, quirks)?;
    let mut n = scim::resource::normalize(kind, doc, quirks)?;
    drop_password(&mut n);
    let mut ignored = ignored;
    ignored.extend(n.ignored.iter().cloned());
    let at = now();

    let (mut added, mut removed) = (0u64, 0u64);
    let mut cleared = false;
    let (mut added_ids, mut removed_ids): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let mut delta = MemberDelta::default();
    for change in &member_changes {
        match change {
            MemberChange::Add(ids) => {
                let found = resolve_members(&mut tx, ctx, id, ids).await?;
                let new = members::add(&mut tx, &ctx.tenant_id, id, &found, &at).await?;
                added += new.len() as u64;
                delta.added(new);
                added_ids.extend(found.into_iter().map(|(m, _)| m));
            }
            MemberChange::Remove(ids) => {
                let gone = members::remove(&mut tx, &ctx.tenant_id, id, ids).await?;
                removed += gone.len() as u64;
                delta.removed(gone);
                removed_ids.extend(ids.iter().cloned());
            }
            MemberChange::RemoveAll => {
                let gone = members::remove_all(&mut tx, &ctx.tenant_id, id).await?;
                removed += gone.len() as u64;
                delta.removed(gone);
                cleared = true;
            }
            MemberChange::RemoveWhere(filter) => {
                let current = members::list_in_tx(&mut tx, &ctx.tenant_id, id).await?;
                let parent = scim::filter::AttrPath {
                    urn: None,
                    name: "members".to_string(),
                    sub: None,
                };
                let ids: Vec<String> = current
                    .iter()
                    .filter(|m| {
                        let element = serde_json::json!({
                            "value": m.id,
                            "type": m.kind,
                            "display": m.display,
                        });
                        scim::filter::matches_element(filter, kind, &parent, &element)
                    })
                    .map(|m| m.id.clone())
                    .collect();
                let gone = members::remove(&mut tx, &ctx.tenant_id, id, &ids).await?;
                removed += gone.len() as u64;
                delta.removed(gone);
                removed_ids.extend(ids);
            }
        }
    }

    let doc_changed = n.doc != before;
    let mut mapped = Vec::new();
    let label = label_of(kind, &n.doc);
    let mut detail = format!(
        "{} operation{}",
        req.ops.len(),
        if req.ops.len() == 1 { "" } else { "s" }
    );
    if doc_changed || added > 0 || removed > 0 {
        row.version += 1;
        row.updated_at = at.clone();
        if doc_changed {
            row.doc = n.doc.to_string();
            let ix = represent::indexed(kind, &n.doc);
            resources::update(&mut tx, table(kind), &ctx.tenant_id, &row, &ix)
                .await
                .map_err(taken_or_internal(kind, &ix.name))?;
            if kind == ResourceKind::User {
                mapped = apply_mapping(&mut tx, ctx, &mut row, &n.doc).await?;
            }
            detail.push_str("; attributes changed");
        } else {
            resources::touch(&mut tx, table(kind), &ctx.tenant_id, id, row.version, &at).await?;
        }
        if added > 0 || removed > 0 || cleared {
            detail.push_str(&format!("; members +{added} −{removed}"));
        }
    } else {
        detail.push_str("; no change");
    }
    let mut entry = audit
        .entry(200, Some(id), &label, quirks, &ignored)
        .detail(detail);
    let mut changes = diff::diff(&before, &n.doc);
    changes.extend(mapped);
    if !added_ids.is_empty() || !removed_ids.is_empty() || cleared {
        changes.push(diff::Change {
            path: "members".to_string(),
            before: if cleared {
                Value::String("all members removed".into())
            } else {
                sample(&removed_ids)
            },
            after: sample(&added_ids),
        });
    }
    entry.changes = changes_json(&changes);
    activity::record(&mut tx, &entry).await?;
    let mut evs = Vec::new();
    let groups = groups_in_tx(&mut tx, ctx, kind, id).await?;
    if doc_changed {
        evs.extend(events::updated(
            &ctx.tenant_id,
            kind,
            &event_repr(&ctx.base_url, kind, &old_row, before.clone(), &groups),
            event_repr(&ctx.base_url, kind, &row, n.doc.clone(), &groups),
        ));
    }
    if added > 0 || removed > 0 {
        let group = named(kind, id, &n.doc);
        membership_events(&mut tx, ctx, &group, delta, &mut evs).await?;
    }
    event_log::insert(&mut tx, &at, &evs).await?;
    tx.commit().await?;
    match kind {
        ResourceKind::User => Ok(user_resource(ctx, &row, n.doc, &groups)),
        ResourceKind::Group => build(ctx, kind, &row, false).await,
    }
}

/// `DELETE`.
pub async fn delete(
    ctx: &Ctx,
    kind: ResourceKind,
    id: &str,
    if_match: Option<&str>,
) -> Result<(), ScimError> {
    let audit = Audit::new(ctx, kind, "delete");
    let quirks = Quirks::new();
    match delete_tx(ctx, kind, id, if_match, &audit).await {
        Ok(()) => Ok(()),
        Err(e) => Err(audit.failed(e, Some(id), "", &quirks).await),
    }
}

async fn delete_tx(
    ctx: &Ctx,
    kind: ResourceKind,
    id: &str,
    if_match: Option<&str>,
    audit: &Audit<'_>,
) -> Result<(), ScimError> {
    let mut tx = ctx.db.begin().await?;
    let row = resources::get_for_update(&mut tx, table(kind), &ctx.tenant_id, id)
        .await?
        .ok_or_else(|| not_found(kind, id))?;
    check_if_match(if_match, row.version)?;
    let doc = parse_doc(&row);
    let label = label_of(kind, &doc);
    // The groups it leaves, each a membership event, then its last
    // representation.
    let parents: Vec<Named> = members::groups_of_in_tx(&mut tx, &ctx.tenant_id, &[id.to_string()])
        .await?
        .into_iter()
        .map(|(_, g)| g)
        .collect();
    let me = named(kind, id, &doc);
    let mut evs: Vec<NewEvent> = parents
        .iter()
        .map(|g| events::membership(&ctx.tenant_id, g, kind.name(), &me, false))
        .collect();
    let user_groups: &[Named] = if kind == ResourceKind::User {
        &parents
    } else {
        &[]
    };
    evs.push(events::deleted(
        &ctx.tenant_id,
        kind,
        &event_repr(&ctx.base_url, kind, &row, doc, user_groups),
    ));
    resources::delete(&mut tx, table(kind), &ctx.tenant_id, id).await?;
    event_log::insert(&mut tx, &now(), &evs).await?;
    let entry = audit
        .entry(204, Some(id), &label, &Quirks::new(), &[])
        .detail(format!("deleted {} {label:?}", kind.name().to_lowercase()));
    activity::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(())
}
