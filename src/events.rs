//! What the vendor's product learns of changes: the events `provision`
//! writes in each change's transaction (see `store::events`), their
//! envelope, publishing their positions on PostgreSQL, and pruning them
//! past retention (which [`crate::housekeeping`] runs).
//!
//! An envelope:
//!
//! ```json
//! {"id": "evt_0000000000000042", "type": "user.updated", "tenant": "acme",
//!  "occurred_at": "2026-12-06T12:00:00.123Z",
//!  "data": {…the user as GET /scim/v2/Users/{id} returns it…},
//!  "previous_attributes": {"title": "Engineer"}}
//! ```

use std::collections::HashMap;
use std::time::Duration;

use scim::ResourceKind;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::store::events::{self as store, NewEvent, Stored, types};
use crate::store::members::{Changed, Named};
use crate::store::{Db, SqlError};

/// `evt_` and the position, zero-padded so that ids sort as text in the
/// order consumers must apply them.
pub fn event_id(position: i64) -> String {
    format!("evt_{position:016}")
}

/// The position an event id stands for; `None` for anything not made by
/// [`event_id`] (a plain number is accepted too).
pub fn parse_event_id(id: &str) -> Option<i64> {
    let digits = id.strip_prefix("evt_").unwrap_or(id);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[derive(Serialize)]
struct Envelope<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'a str,
    tenant: &'a str,
    occurred_at: &'a str,
    data: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_attributes: Option<&'a RawValue>,
}

/// The envelope of a stored event, as JSON text. The stored parts are JSON
/// that scimgate wrote; they are copied, not parsed into values.
pub fn envelope(e: &Stored) -> Result<String, serde_json::Error> {
    let data: &RawValue = serde_json::from_str(&e.data)?;
    let previous: Option<&RawValue> = match &e.previous {
        Some(p) => Some(serde_json::from_str(p)?),
        None => None,
    };
    serde_json::to_string(&Envelope {
        id: event_id(e.position),
        kind: &e.kind,
        tenant: &e.tenant_slug,
        occurred_at: &e.occurred_at,
        data,
        previous_attributes: previous,
    })
}

/// Top-level attributes that differ between two representations of one
/// resource, with their old values (`null` for one that was absent). `meta`
/// always changes and is left out, and so are `groups` and `members`, whose
/// changes are membership events.
pub fn previous_attributes(before: &Value, after: &Value) -> Map<String, Value> {
    const SKIP: [&str; 3] = ["meta", "groups", "members"];
    let empty = Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut out = Map::new();
    for (k, old) in b {
        if !SKIP.contains(&k.as_str()) && a.get(k) != Some(old) {
            out.insert(k.clone(), old.clone());
        }
    }
    for k in a.keys() {
        if !SKIP.contains(&k.as_str()) && !b.contains_key(k) {
            out.insert(k.clone(), Value::Null);
        }
    }
    out
}

/// The event of a changed resource, or `None` when its representation did
/// not change (a PUT or PATCH that changes nothing writes nothing).
pub fn updated(
    tenant_id: &str,
    kind: ResourceKind,
    before: &Value,
    after: Value,
) -> Option<NewEvent> {
    let previous = previous_attributes(before, &after);
    if previous.is_empty() {
        return None;
    }
    let active = |v: &Value| v.get("active").and_then(Value::as_bool).unwrap_or(true);
    let type_ = match kind {
        ResourceKind::Group => types::GROUP_UPDATED,
        ResourceKind::User => match (active(before), active(&after)) {
            (true, false) => types::USER_DEACTIVATED,
            (false, true) => types::USER_REACTIVATED,
            _ => types::USER_UPDATED,
        },
    };
    Some(NewEvent {
        tenant_id: tenant_id.to_string(),
        kind: type_,
        data: after.to_string(),
        previous: Some(Value::Object(previous).to_string()),
    })
}

/// `user.created` / `group.created` with the new representation.
pub fn created(tenant_id: &str, kind: ResourceKind, data: &Value) -> NewEvent {
    NewEvent {
        tenant_id: tenant_id.to_string(),
        kind: match kind {
            ResourceKind::User => types::USER_CREATED,
            ResourceKind::Group => types::GROUP_CREATED,
        },
        data: data.to_string(),
        previous: None,
    }
}

/// `user.deleted` / `group.deleted` with the last representation.
pub fn deleted(tenant_id: &str, kind: ResourceKind, last: &Value) -> NewEvent {
    NewEvent {
        tenant_id: tenant_id.to_string(),
        kind: match kind {
            ResourceKind::User => types::USER_DELETED,
            ResourceKind::Group => types::GROUP_DELETED,
        },
        data: last.to_string(),
        previous: None,
    }
}

fn group_ref(g: &Named) -> Value {
    json!({"id": g.id, "displayName": g.name, "externalId": g.external_id})
}

/// One membership event: `group.user_added` / `group.user_removed`, or for
/// a member that is itself a group, `group.group_added` /
/// `group.group_removed` (with `member_group` in place of `user`).
pub fn membership(
    tenant_id: &str,
    group: &Named,
    member_kind: &str,
    member: &Named,
    added: bool,
) -> NewEvent {
    let (type_, data) = if member_kind == "Group" {
        (
            if added {
                types::GROUP_GROUP_ADDED
            } else {
                types::GROUP_GROUP_REMOVED
            },
            json!({"group": group_ref(group), "member_group": group_ref(member)}),
        )
    } else {
        (
            if added {
                types::GROUP_USER_ADDED
            } else {
                types::GROUP_USER_REMOVED
            },
            json!({
                "group": group_ref(group),
                "user": {"id": member.id, "userName": member.name, "externalId": member.external_id},
            }),
        )
    };
    NewEvent {
        tenant_id: tenant_id.to_string(),
        kind: type_,
        data: data.to_string(),
        previous: None,
    }
}

/// The net membership change of one write, whatever the order and form of
/// its operations: a member removed and added back again is no change.
#[derive(Debug, Default)]
pub struct MemberDelta {
    order: Vec<String>,
    /// id → (kind, was a member before the write, is a member now)
    state: HashMap<String, (String, bool, bool)>,
}

impl MemberDelta {
    /// Members that the database says were inserted.
    pub fn added(&mut self, changed: Vec<Changed>) {
        for (id, kind) in changed {
            self.entry(id, kind, false).2 = true;
        }
    }

    /// Members that the database says were deleted.
    pub fn removed(&mut self, changed: Vec<Changed>) {
        for (id, kind) in changed {
            self.entry(id, kind, true).2 = false;
        }
    }

    fn entry(&mut self, id: String, kind: String, before: bool) -> &mut (String, bool, bool) {
        if !self.state.contains_key(&id) {
            self.order.push(id.clone());
        }
        self.state.entry(id).or_insert((kind, before, before))
    }

    /// (added, removed), each as (id, kind), sorted by id: the members of
    /// one write come back from the database in no set order, and events
    /// should not differ from run to run.
    pub fn net(mut self) -> (Vec<Changed>, Vec<Changed>) {
        let (mut added, mut removed) = (Vec::new(), Vec::new());
        for id in self.order {
            if let Some((kind, before, now)) = self.state.remove(&id) {
                match (before, now) {
                    (false, true) => added.push((id, kind)),
                    (true, false) => removed.push((id, kind)),
                    _ => {}
                }
            }
        }
        added.sort();
        removed.sort();
        (added, removed)
    }
}

/// How long events are kept, and how the background work runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub retention_days: u32,
    /// How long the tenants' activity log keeps its entries (pruned by the
    /// same background work).
    pub activity_retention_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            retention_days: 30,
            activity_retention_days: 90,
        }
    }
}

/// How often PostgreSQL's publisher looks for new events.
const PUBLISH_EVERY: Duration = Duration::from_millis(50);
/// Events deleted per pruning transaction: short, so provisioning never
/// waits long for the writer.
const PRUNE_BATCH: i64 = 500;

/// On PostgreSQL, starts the publisher, which gives committed events their
/// positions until the task is aborted; SQLite needs none (its single
/// writer numbers events as they commit).
pub fn spawn_publisher(db: Db) -> Option<tokio::task::JoinHandle<()>> {
    store::needs_publisher(&db).then(|| tokio::spawn(publisher(db)))
}

/// Gives committed events their positions, every [`PUBLISH_EVERY`].
async fn publisher(db: Db) {
    let mut publish = tokio::time::interval(PUBLISH_EVERY);
    publish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        publish.tick().await;
        if let Err(e) = store::publish_committed(&db).await {
            tracing::warn!(error = %e, "publishing events failed; retrying");
        }
    }
}

/// Deletes events older than the retention, a small batch at a time.
pub async fn prune_all(db: &Db, retention_days: u32) -> Result<u64, SqlError> {
    let cutoff = crate::store::format_time(
        chrono::Utc::now() - chrono::Duration::days(i64::from(retention_days)),
    );
    let mut total = 0;
    loop {
        let n = store::prune(db, &cutoff, PRUNE_BATCH).await?;
        let attempts = crate::store::webhooks::prune_deliveries(db, &cutoff, PRUNE_BATCH).await?;
        total += n;
        if n == 0 && attempts == 0 {
            return Ok(total);
        }
        // Let waiting writes have the database between batches.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_as_positions_and_parse_back() {
        assert_eq!(event_id(42), "evt_0000000000000042");
        assert!(event_id(9) < event_id(10));
        assert!(event_id(999_999) < event_id(1_000_000));
        assert_eq!(parse_event_id("evt_0000000000000042"), Some(42));
        assert_eq!(parse_event_id("42"), Some(42));
        for bad in [
            "",
            "evt_",
            "evt_-1",
            "evt_1a",
            "evt_99999999999999999999",
            "x",
        ] {
            assert_eq!(parse_event_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn previous_attributes_name_what_changed() {
        let before = json!({"schemas": ["s"], "id": "1", "userName": "a", "title": "Engineer",
                            "active": true, "meta": {"version": "W/\"1\""}, "groups": [1]});
        let after = json!({"schemas": ["s"], "id": "1", "userName": "a", "active": false,
                           "nickName": "n", "meta": {"version": "W/\"2\""}});
        let p = previous_attributes(&before, &after);
        assert_eq!(
            Value::Object(p),
            json!({"title": "Engineer", "active": true, "nickName": null})
        );
        assert!(previous_attributes(&before, &before).is_empty());
    }

    #[test]
    fn updates_are_typed_by_active() {
        let t = |b: Value, a: Value| updated("t", ResourceKind::User, &b, a).map(|e| e.kind);
        assert_eq!(
            t(json!({"active": true}), json!({"active": false})),
            Some(types::USER_DEACTIVATED)
        );
        assert_eq!(
            t(json!({"active": false}), json!({"active": true})),
            Some(types::USER_REACTIVATED)
        );
        assert_eq!(
            t(json!({"x": 1}), json!({"x": 2})),
            Some(types::USER_UPDATED)
        );
        assert_eq!(t(json!({"x": 1}), json!({"x": 1})), None);
    }

    #[test]
    fn member_delta_is_the_net_change() {
        let c = |id: &str| vec![(id.to_string(), "User".to_string())];
        let mut d = MemberDelta::default();
        d.added(c("a")); // new
        d.removed(c("b")); // was there
        d.removed(c("a")); // added then removed: nothing
        d.added(c("b")); // removed then added back: nothing
        d.removed(c("c"));
        let (added, removed) = d.net();
        assert!(added.is_empty());
        assert_eq!(removed, c("c"));
    }
}
