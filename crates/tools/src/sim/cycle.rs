//! Test Connection and the provisioning cycles, request by request as
//! Entra's provisioning service sends them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use anyhow::bail;
use futures_util::StreamExt as _;
use reqwest::Method;
use serde_json::Value;

use super::client::{Client, Reply};
use super::dialect::{self, Attr, Edit, quote};
use super::directory::{Change, Directory, User};
use super::report::Kind;
use super::{MatchAttribute, Options, Phases, progress};

/// The target's ids of the directory's users and groups (by index), as
/// Entra keeps them after creating or matching.
pub struct State {
    pub user_ids: Vec<Option<String>>,
    pub group_ids: Vec<Option<String>>,
}

/// Test Connection: a filter on the matching attribute for a random GUID must
/// answer 200 with an empty list, or Entra refuses to save the connection.
pub async fn test_connection(client: &Client, opts: &Options) -> anyhow::Result<()> {
    client.cycle_start(false).await?;
    let filter = format!(
        "{} eq {}",
        opts.match_attribute.as_str(),
        quote(&uuid::Uuid::new_v4().to_string())
    );
    let reply = client
        .scim(
            Kind::TestConnection,
            Method::GET,
            "/Users",
            &[("filter", &filter)],
            None,
            &[],
        )
        .await;
    let empty_list = reply.body["totalResults"].as_u64() == Some(0)
        && reply.body["Resources"]
            .as_array()
            .is_some_and(Vec::is_empty);
    if reply.status != 200 || !empty_list {
        if reply.success() {
            client.rec.failure(
                "Test Connection needs 200 with \"totalResults\": 0 and \"Resources\": []",
                &reply.record,
            );
        }
        bail!(
            "Test Connection failed: Entra needs 200 with an empty ListResponse (\"totalResults\": 0, \"Resources\": []); got {}",
            reply.record.one_line()
        );
    }
    Ok(())
}

/// The edits that make the target's `resource` match the directory's user
/// (all attributes but the manager).
fn diff(u: &User, resource: &Value) -> Vec<Edit> {
    Attr::WITHOUT_MANAGER
        .iter()
        .filter(|a| a.wanted(u) != a.read(resource))
        .map(|a| Edit {
            attr: *a,
            value: a.wanted(u),
        })
        .collect()
}

fn attr_names(edits: &[Edit]) -> Vec<String> {
    edits.iter().map(|e| e.attr.path().to_string()).collect()
}

/// A provisioned user's id and the manager id the target had when matched.
type Found = (String, Option<String>);

/// The single resource of a match response; failures are recorded.
fn matched<'a>(client: &Client, reply: &'a Reply) -> Result<Option<&'a Value>, ()> {
    if !reply.success() {
        return Err(());
    }
    let Some(list) = reply.body["Resources"].as_array() else {
        // Entra reads a missing or null Resources as an error.
        if reply.body["totalResults"].as_u64() == Some(0) && reply.body.get("Resources").is_none() {
            client.rec.failure(
                "a query without results must still carry \"Resources\": []",
                &reply.record,
            );
        } else {
            client
                .rec
                .failure("the query answer is not a ListResponse", &reply.record);
        }
        return Err(());
    };
    match list.len() {
        0 => Ok(None),
        1 => Ok(Some(&list[0])),
        n => {
            client.rec.failure(
                format!("{n} resources match an equality filter on a unique attribute"),
                &reply.record,
            );
            Err(())
        }
    }
}

/// The `id` of a created or read resource.
fn id_of(client: &Client, reply: &Reply) -> Option<String> {
    if !reply.success() {
        return None;
    }
    match reply.body["id"].as_str() {
        Some(id) if !id.is_empty() => Some(id.to_string()),
        _ => {
            client
                .rec
                .failure("the response carries no resource id", &reply.record);
            None
        }
    }
}

fn user_path(id: &str) -> String {
    format!("/Users/{}", encode_segment(id))
}

fn group_path(id: &str) -> String {
    format!("/Groups/{}", encode_segment(id))
}

/// Everything but RFC 3986 unreserved characters is escaped in a path segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(crate) fn encode_segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, SEGMENT).to_string()
}

/// PATCHes a user's attributes.
async fn patch_user(client: &Client, opts: &Options, kind: Kind, id: &str, edits: &[Edit]) {
    let body = dialect::patch_user(opts.dialect, edits);
    let reply = client
        .scim(kind, Method::PATCH, &user_path(id), &[], Some(&body), &[])
        .await;
    client.rec.wrote(id, attr_names(edits), &reply.record);
}

async fn set_manager(client: &Client, opts: &Options, id: &str, manager: Option<&str>) {
    let body = dialect::set_manager(opts.dialect, manager);
    let reply = client
        .scim(
            Kind::SetManager,
            Method::PATCH,
            &user_path(id),
            &[],
            Some(&body),
            &[],
        )
        .await;
    client
        .rec
        .wrote(id, vec![Attr::Manager.path().to_string()], &reply.record);
}

/// Adds or removes members, `member_batch` per request.
async fn members(client: &Client, opts: &Options, group_id: &str, ids: &[String], add: bool) {
    for chunk in ids.chunks(opts.member_batch) {
        let (kind, body) = if add {
            (Kind::AddMembers, dialect::add_members(opts.dialect, chunk))
        } else {
            (
                Kind::RemoveMembers,
                dialect::remove_members(opts.dialect, chunk),
            )
        };
        let reply = client
            .scim(
                kind,
                Method::PATCH,
                &group_path(group_id),
                &[],
                Some(&body),
                &[],
            )
            .await;
        client.rec.wrote(
            group_id,
            chunk.iter().map(|id| format!("member:{id}")).collect(),
            &reply.record,
        );
    }
}

/// Match by the configured attribute; create when absent, update what
/// differs when present. Returns the id and the manager the target has.
async fn provision_user(client: &Client, opts: &Options, u: &User) -> Option<Found> {
    let value = match opts.match_attribute {
        MatchAttribute::UserName => &u.user_name,
        MatchAttribute::ExternalId => &u.external_id,
    };
    let filter = format!("{} eq {}", opts.match_attribute.as_str(), quote(value));
    let reply = client
        .scim(
            Kind::MatchUser,
            Method::GET,
            "/Users",
            &[("filter", &filter)],
            None,
            &[],
        )
        .await;
    let found = provision_matched(client, opts, u, &reply).await;
    if let Some((id, _)) = &found {
        client.rec.set_alias(format!("User:{}", u.user_name), id);
    }
    found
}

async fn provision_matched(
    client: &Client,
    opts: &Options,
    u: &User,
    reply: &Reply,
) -> Option<Found> {
    match matched(client, reply).ok()? {
        None => {
            let body = dialect::create_user(u);
            let reply = client
                .scim(
                    Kind::CreateUser,
                    Method::POST,
                    "/Users",
                    &[],
                    Some(&body),
                    &[],
                )
                .await;
            let id = id_of(client, &reply);
            if let Some(id) = &id {
                client.rec.wrote(id, vec!["*".into()], &reply.record);
            }
            id.map(|id| (id, None))
        }
        Some(resource) => {
            let id = id_of(client, &reply_for(reply, resource))?;
            let edits = diff(u, resource);
            let manager = Attr::Manager
                .read(resource)
                .and_then(|m| m.as_str().map(str::to_string));
            if !edits.is_empty() {
                patch_user(client, opts, Kind::UpdateUser, &id, &edits).await;
            }
            Some((id, manager))
        }
    }
}

/// A reply whose body is one resource of a list answer (for [`id_of`]).
fn reply_for(reply: &Reply, resource: &Value) -> Reply {
    Reply {
        status: reply.status,
        body: resource.clone(),
        record: reply.record.clone(),
    }
}

/// The initial cycle: every user, then managers, then every group with its
/// members.
pub async fn initial(
    client: &Client,
    opts: &Options,
    dir: &Directory,
    phases: &mut Phases,
) -> anyhow::Result<State> {
    client.cycle_start(false).await?;
    let n = dir.users.len();
    let found: Mutex<Vec<Option<Found>>> = Mutex::new(vec![None; n]);
    let bar = progress(opts, "initial: users", n);
    phases
        .run(client, "initial: users", async {
            futures_util::stream::iter(dir.users.iter().enumerate())
                .for_each_concurrent(opts.concurrency, |(i, u)| {
                    let (found, bar) = (&found, &bar);
                    async move {
                        let r = provision_user(client, opts, u).await;
                        lock(found)[i] = r;
                        bar.inc(1);
                    }
                })
                .await;
        })
        .await;
    bar.finish_and_clear();
    let found = found.into_inner().unwrap_or_else(|p| p.into_inner());
    let user_ids: Vec<Option<String>> = found
        .iter()
        .map(|f| f.as_ref().map(|(id, _)| id.clone()))
        .collect();

    let bar = progress(opts, "initial: managers", n);
    phases
        .run(client, "initial: managers", async {
            futures_util::stream::iter(dir.users.iter().enumerate())
                .for_each_concurrent(opts.concurrency, |(i, u)| {
                    let (found, user_ids, bar) = (&found, &user_ids, &bar);
                    async move {
                        bar.inc(1);
                        let Some((id, current)) = &found[i] else {
                            return;
                        };
                        let wanted = match u.manager {
                            Some(m) => match &user_ids[m] {
                                Some(mid) => Some(mid.as_str()),
                                // The manager could not be provisioned: that
                                // failure is already reported.
                                None => return,
                            },
                            None => None,
                        };
                        if wanted != current.as_deref() {
                            set_manager(client, opts, id, wanted).await;
                        }
                    }
                })
                .await;
        })
        .await;
    bar.finish_and_clear();

    let group_ids: Mutex<Vec<Option<String>>> = Mutex::new(vec![None; dir.groups.len()]);
    let bar = progress(opts, "initial: groups", dir.groups.len());
    phases
        .run(client, "initial: groups", async {
            futures_util::stream::iter(dir.groups.iter().enumerate())
                .for_each_concurrent(opts.concurrency, |(g, group)| {
                    let (group_ids, user_ids, bar) = (&group_ids, &user_ids, &bar);
                    async move {
                        let filter = format!("displayName eq {}", quote(&group.display_name));
                        let reply = client
                            .scim(
                                Kind::MatchGroup,
                                Method::GET,
                                "/Groups",
                                &[("excludedAttributes", "members"), ("filter", &filter)],
                                None,
                                &[],
                            )
                            .await;
                        let id = match matched(client, &reply) {
                            Err(()) => None,
                            Ok(Some(resource)) => id_of(client, &reply_for(&reply, resource)),
                            Ok(None) => {
                                let body = dialect::create_group(group);
                                let reply = client
                                    .scim(
                                        Kind::CreateGroup,
                                        Method::POST,
                                        "/Groups",
                                        &[],
                                        Some(&body),
                                        &[],
                                    )
                                    .await;
                                let id = id_of(client, &reply);
                                if let Some(id) = &id {
                                    client.rec.wrote(id, vec!["*".into()], &reply.record);
                                }
                                id
                            }
                        };
                        if let Some(id) = &id {
                            // Entra never reads membership back: it adds every
                            // member, which must be harmless for existing ones.
                            let ids: Vec<String> = group
                                .members
                                .iter()
                                .filter_map(|u| user_ids[*u].clone())
                                .collect();
                            members(client, opts, id, &ids, true).await;
                        }
                        if let Some(id) = &id {
                            client
                                .rec
                                .set_alias(format!("Group:{}", group.display_name), id);
                        }
                        lock(group_ids)[g] = id;
                        bar.inc(1);
                    }
                })
                .await;
        })
        .await;
    bar.finish_and_clear();
    Ok(State {
        user_ids,
        group_ids: group_ids.into_inner().unwrap_or_else(|p| p.into_inner()),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The incremental cycle: the changes in `changes`, already applied to
/// `dir`, sent as Entra sends them — user changes first (read the user by
/// id, patch what differs), then deletes, then group renames and membership.
pub async fn incremental(
    client: &Client,
    opts: &Options,
    dir: &Directory,
    changes: &[Change],
    state: &State,
    phases: &mut Phases,
) -> anyhow::Result<()> {
    client.cycle_start(opts.refresh_every_cycle).await?;
    let mut per_user: BTreeMap<usize, Vec<&Change>> = BTreeMap::new();
    let mut deletes = Vec::new();
    let mut per_group: BTreeMap<usize, Vec<&Change>> = BTreeMap::new();
    for c in changes {
        match c {
            Change::UpdateUser(i)
            | Change::RenameUser(i)
            | Change::DisableUser(i)
            | Change::EnableUser(i)
            | Change::SetManager(i) => per_user.entry(*i).or_default().push(c),
            Change::DeleteUser(i) => deletes.push(*i),
            Change::RenameGroup(g) | Change::AddMembers(g, _) | Change::RemoveMembers(g, _) => {
                per_group.entry(*g).or_default().push(c)
            }
        }
    }

    let bar = progress(opts, "incremental: users", per_user.len());
    phases
        .run(client, "incremental: users", async {
            futures_util::stream::iter(per_user.iter())
                .for_each_concurrent(opts.concurrency, |(i, cs)| {
                    let bar = &bar;
                    async move {
                        update_user(client, opts, dir, state, *i, cs).await;
                        bar.inc(1);
                    }
                })
                .await;
        })
        .await;
    bar.finish_and_clear();

    let bar = progress(opts, "incremental: deletes", deletes.len());
    phases
        .run(client, "incremental: deletes", async {
            futures_util::stream::iter(deletes.iter())
                .for_each_concurrent(opts.concurrency, |i| {
                    let bar = &bar;
                    async move {
                        if let Some(id) = &state.user_ids[*i] {
                            let reply = client
                                .scim(
                                    Kind::DeleteUser,
                                    Method::DELETE,
                                    &user_path(id),
                                    &[],
                                    None,
                                    &[],
                                )
                                .await;
                            client.rec.wrote(id, vec!["exists".into()], &reply.record);
                        }
                        bar.inc(1);
                    }
                })
                .await;
        })
        .await;
    bar.finish_and_clear();

    let bar = progress(opts, "incremental: groups", per_group.len());
    phases
        .run(client, "incremental: groups", async {
            futures_util::stream::iter(per_group.iter())
                .for_each_concurrent(opts.concurrency, |(g, cs)| {
                    let bar = &bar;
                    async move {
                        if let Some(gid) = &state.group_ids[*g] {
                            for c in cs {
                                group_change(client, opts, dir, state, gid, c).await;
                            }
                        }
                        bar.inc(1);
                    }
                })
                .await;
        })
        .await;
    bar.finish_and_clear();
    Ok(())
}

async fn update_user(
    client: &Client,
    opts: &Options,
    dir: &Directory,
    state: &State,
    i: usize,
    cs: &[&Change],
) {
    let Some(id) = &state.user_ids[i] else { return };
    let u = &dir.users[i];
    client.rec.set_alias(format!("User:{}", u.user_name), id);
    let has = |f: fn(&Change) -> bool| cs.iter().any(|c| f(c));
    let kind = if has(|c| matches!(c, Change::RenameUser(_))) {
        Some(Kind::RenameUser)
    } else if has(|c| matches!(c, Change::UpdateUser(_))) {
        Some(Kind::UpdateUser)
    } else if has(|c| matches!(c, Change::DisableUser(_))) {
        Some(Kind::DisableUser)
    } else if has(|c| matches!(c, Change::EnableUser(_))) {
        Some(Kind::EnableUser)
    } else {
        None
    };
    if let Some(kind) = kind {
        let reply = client
            .scim(Kind::GetUser, Method::GET, &user_path(id), &[], None, &[])
            .await;
        if !reply.success() {
            return;
        }
        let edits = diff(u, &reply.body);
        if !edits.is_empty() {
            patch_user(client, opts, kind, id, &edits).await;
        }
    }
    if has(|c| matches!(c, Change::SetManager(_))) {
        let wanted = match u.manager {
            Some(m) => match &state.user_ids[m] {
                Some(mid) => Some(mid.as_str()),
                None => return,
            },
            None => None,
        };
        set_manager(client, opts, id, wanted).await;
    }
}

async fn group_change(
    client: &Client,
    opts: &Options,
    dir: &Directory,
    state: &State,
    gid: &str,
    c: &Change,
) {
    let ids = |users: &[usize]| -> Vec<String> {
        users
            .iter()
            .filter_map(|u| state.user_ids[*u].clone())
            .collect()
    };
    match c {
        Change::RenameGroup(g) => {
            let name = &dir.groups[*g].display_name;
            client.rec.set_alias(format!("Group:{name}"), gid);
            let body = dialect::rename_group(opts.dialect, name);
            let reply = client
                .scim(
                    Kind::RenameGroup,
                    Method::PATCH,
                    &group_path(gid),
                    &[],
                    Some(&body),
                    &[],
                )
                .await;
            client
                .rec
                .wrote(gid, vec!["displayName".into()], &reply.record);
        }
        Change::AddMembers(_, users) => members(client, opts, gid, &ids(users), true).await,
        Change::RemoveMembers(_, users) => members(client, opts, gid, &ids(users), false).await,
        _ => {}
    }
}
