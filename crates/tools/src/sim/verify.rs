//! Verification: read every user and group back through the SCIM API and
//! compare them with the directory. Entra never does this; it is how the
//! simulator proves that the target holds what was sent.

use std::collections::{BTreeMap, HashMap};

use reqwest::Method;
use serde_json::Value;

use super::Options;
use super::client::Client;
use super::cycle::encode_segment;
use super::dialect::{Attr, get};
use super::directory::Directory;
use super::report::{Difference, Kind};

const USER_PAGE: usize = 100;
const GROUP_PAGE: usize = 50;

/// Every resource of an endpoint, page by page; None when a page failed
/// (the failure is recorded).
async fn list_all(client: &Client, kind: Kind, path: &str, count: usize) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    let mut start = 1usize;
    loop {
        let (s, c) = (start.to_string(), count.to_string());
        let reply = client
            .scim(
                kind,
                Method::GET,
                path,
                &[("startIndex", &s), ("count", &c)],
                None,
                &[],
            )
            .await;
        if !reply.success() {
            return None;
        }
        let Some(page) = reply.body["Resources"].as_array() else {
            client
                .rec
                .failure("a list answer without a Resources array", &reply.record);
            return None;
        };
        let total = reply.body["totalResults"].as_u64();
        out.extend(page.iter().cloned());
        let done = page.is_empty()
            || total.is_some_and(|t| out.len() as u64 >= t)
            || (total.is_none() && page.len() < count);
        if done {
            return Some(out);
        }
        start += page.len();
    }
}

fn id(r: &Value) -> Option<String> {
    get(r, "id").and_then(Value::as_str).map(str::to_string)
}

fn text(r: &Value, name: &str) -> Option<String> {
    get(r, name).and_then(Value::as_str).map(str::to_string)
}

fn opt(v: Option<Value>) -> Value {
    v.unwrap_or(Value::Null)
}

/// Compares the target with `dir` (the directory after every cycle).
pub async fn verify(
    client: &Client,
    _opts: &Options,
    dir: &Directory,
) -> anyhow::Result<Vec<Difference>> {
    client.cycle_start(false).await?;
    let Some(users) = list_all(client, Kind::ListUsers, "/Users", USER_PAGE).await else {
        return Ok(Vec::new());
    };
    let Some(groups) = list_all(client, Kind::ListGroups, "/Groups", GROUP_PAGE).await else {
        return Ok(Vec::new());
    };
    let mut by_name: HashMap<String, &Value> = HashMap::new();
    let mut by_external: HashMap<String, &Value> = HashMap::new();
    let mut names: HashMap<String, String> = HashMap::new();
    for u in &users {
        if let Some(n) = text(u, "userName") {
            by_name.insert(n.to_lowercase(), u);
            if let Some(i) = id(u) {
                names.insert(i, n);
            }
        }
        if let Some(e) = text(u, "externalId") {
            by_external.insert(e, u);
        }
    }
    let name_of = |id: &str| {
        names
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("{id} (not a user of the target)"))
    };
    let mut diffs = Vec::new();
    for u in &dir.users {
        let found = by_name
            .get(&u.user_name.to_lowercase())
            .or_else(|| by_external.get(&u.external_id))
            .copied();
        let alias_id = client.rec.alias(&format!("User:{}", u.user_name));
        if u.deleted {
            if let Some(r) = found {
                let rid = id(r);
                diffs.push(Difference {
                    resource: "User",
                    name: u.user_name.clone(),
                    cause: rid
                        .as_deref()
                        .or(alias_id.as_deref())
                        .and_then(|i| client.rec.last_write(i, Some("exists"))),
                    id: rid,
                    attribute: "exists".into(),
                    expected: Value::Bool(false),
                    actual: Value::Bool(true),
                });
            }
            continue;
        }
        let Some(r) = found else {
            diffs.push(Difference {
                resource: "User",
                name: u.user_name.clone(),
                cause: alias_id
                    .as_deref()
                    .and_then(|i| client.rec.last_write(i, None)),
                id: alias_id,
                attribute: "exists".into(),
                expected: Value::Bool(true),
                actual: Value::Bool(false),
            });
            continue;
        };
        let rid = id(r).unwrap_or_default();
        for a in Attr::WITHOUT_MANAGER {
            let (want, have) = (a.wanted(u), a.read(r));
            if want != have {
                diffs.push(Difference {
                    resource: "User",
                    name: u.user_name.clone(),
                    id: Some(rid.clone()),
                    attribute: a.path().into(),
                    expected: opt(want),
                    actual: opt(have),
                    cause: client.rec.last_write(&rid, Some(a.path())),
                });
            }
        }
        let want = u
            .manager
            .map(|m| &dir.users[m])
            .filter(|m| !m.deleted)
            .map(|m| m.user_name.clone());
        let have = Attr::Manager.read(r).and_then(|v| v.as_str().map(&name_of));
        let same = match (&want, &have) {
            (Some(w), Some(h)) => w.eq_ignore_ascii_case(h),
            (None, None) => true,
            _ => false,
        };
        if !same {
            diffs.push(Difference {
                resource: "User",
                name: u.user_name.clone(),
                id: Some(rid.clone()),
                attribute: "manager".into(),
                expected: want.map_or(Value::Null, Value::String),
                actual: have.map_or(Value::Null, Value::String),
                cause: client.rec.last_write(&rid, Some(Attr::Manager.path())),
            });
        }
    }

    let mut groups_by_name: HashMap<String, &Value> = HashMap::new();
    for g in &groups {
        if let Some(n) = text(g, "displayName") {
            groups_by_name.insert(n, g);
        }
    }
    for g in &dir.groups {
        let alias_id = client.rec.alias(&format!("Group:{}", g.display_name));
        let Some(r) = groups_by_name.get(&g.display_name).copied() else {
            diffs.push(Difference {
                resource: "Group",
                name: g.display_name.clone(),
                cause: alias_id
                    .as_deref()
                    .and_then(|i| client.rec.last_write(i, Some("displayName"))),
                id: alias_id,
                attribute: "exists".into(),
                expected: Value::Bool(true),
                actual: Value::Bool(false),
            });
            continue;
        };
        let gid = id(r).unwrap_or_default();
        // Lower-cased userName (userName is case-insensitive) → as written.
        let expected: BTreeMap<String, String> = g
            .members
            .iter()
            .map(|m| &dir.users[*m])
            .filter(|m| !m.deleted)
            .map(|m| (m.user_name.to_lowercase(), m.user_name.clone()))
            .collect();
        let listed = get(r, "members").and_then(Value::as_array).cloned();
        let members = match listed {
            Some(m) => m,
            // Servers may leave members out of list answers: read the group.
            None if !expected.is_empty() => {
                let reply = client
                    .scim(
                        Kind::GetGroup,
                        Method::GET,
                        &format!("/Groups/{}", encode_segment(&gid)),
                        &[],
                        None,
                        &[],
                    )
                    .await;
                get(&reply.body, "members")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            }
            None => Vec::new(),
        };
        let actual: HashMap<String, String> = members
            .iter()
            .filter_map(|m| text(m, "value"))
            .map(|mid| (name_of(&mid).to_lowercase(), mid))
            .collect();
        let user_id = |name: &str| by_name.get(name).and_then(|r| id(r));
        for (key, name) in &expected {
            if !actual.contains_key(key) {
                let uid = user_id(key).unwrap_or_default();
                diffs.push(Difference {
                    resource: "Group",
                    name: g.display_name.clone(),
                    id: Some(gid.clone()),
                    attribute: "members".into(),
                    expected: Value::String(name.clone()),
                    actual: Value::Null,
                    cause: client.rec.last_write(&gid, Some(&format!("member:{uid}"))),
                });
            }
        }
        for (name, mid) in &actual {
            if !expected.contains_key(name) {
                diffs.push(Difference {
                    resource: "Group",
                    name: g.display_name.clone(),
                    id: Some(gid.clone()),
                    attribute: "members".into(),
                    expected: Value::Null,
                    actual: Value::String(name.clone()),
                    cause: client
                        .rec
                        .last_write(&gid, Some(&format!("member:{mid}")))
                        .or_else(|| client.rec.last_write(mid, Some("exists"))),
                });
            }
        }
    }
    Ok(diffs)
}
