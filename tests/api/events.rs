//! The product's side: the event log written with each change, the
//! `/api/v1` feed and read API, and app keys. The proof that matters: a
//! consumer that applies every event to its own copy rebuilds exactly the
//! directory SCIM holds — from the feed alone, and from a snapshot of the
//! read API followed by the feed — after the simulator's cycles, and never
//! misses an event when two instances write to one PostgreSQL database.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use scimgate::store::activity::Actor;
use scimgate::store::{app_keys, tokens};
use scimgate_tools::sim::{self, AuthMode, Dialect, Options};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, send};
use crate::on_both_databases;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A key that sees every tenant.
async fn app_key(app: &TestApp) -> String {
    app_keys::create(&app.db, None, "tests").await.unwrap().1
}

async fn api(app: &TestApp, key: &str, path: &str) -> Reply {
    api_at(&app.client, &app.base, key, path).await
}

async fn api_at(client: &reqwest::Client, base: &str, key: &str, path: &str) -> Reply {
    send(client.get(format!("{base}/api/v1{path}")).bearer_auth(key)).await
}

/// Every event after `after`, following `next_after` until `has_more` is
/// false; returns them and the cursor to go on from.
async fn drain(app: &TestApp, key: &str, query: &str, mut after: String) -> (Vec<Value>, String) {
    let mut out = Vec::new();
    loop {
        let r = api(
            app,
            key,
            &format!("/events?after={after}&limit=1000{query}"),
        )
        .await;
        r.expect(200);
        let data = r.body["data"].as_array().expect("data").clone();
        let mut last = after.clone();
        for e in &data {
            let id = e["id"].as_str().unwrap().to_string();
            assert!(id > last, "event ids must increase: {id} after {last}");
            last = id;
        }
        out.extend(data);
        after = r.body["next_after"]
            .as_str()
            .expect("next_after")
            .to_string();
        assert!(after >= last);
        if r.body["has_more"] == json!(false) {
            return (out, after);
        }
    }
}

/// A copy rebuilt from the whole feed of any server, read with `key`.
pub async fn replica_from_feed(client: &reqwest::Client, base: &str, key: &str) -> Replica {
    let mut copy = Replica::default();
    let mut after = "evt_0".to_string();
    loop {
        let r = api_at(
            client,
            base,
            key,
            &format!("/events?after={after}&limit=1000"),
        )
        .await;
        r.expect(200);
        for e in r.body["data"].as_array().expect("data") {
            copy.apply(e);
        }
        after = r.body["next_after"]
            .as_str()
            .expect("next_after")
            .to_string();
        if r.body["has_more"] == json!(false) {
            return copy;
        }
    }
}

fn types_of(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_SCHEMA], "Operations": ops})
}

/// Every change writes its event, with the resource as GET returns it and
/// the old values of what changed; a failed request and a PATCH that
/// changes nothing write none.
async fn each_change_writes_its_event(app: TestApp) {
    let key = app_key(&app).await;
    // Connection events of the test app's own token come first.
    let (before, start) = drain(&app, &key, "", "evt_0".into()).await;
    assert_eq!(types_of(&before), ["connection.authorized"]);
    assert_eq!(before[0]["tenant"], "acme");
    assert_eq!(before[0]["data"]["kind"], "secret_token");

    let created = app
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": "ada@acme.example",
                    "title": "Engineer", "active": true, "externalId": "ext-ada"}),
        )
        .await;
    created.expect(201);
    let uid = created.body["id"].as_str().unwrap().to_string();
    let after_create = app.get(&format!("/Users/{uid}")).await.body;

    app.patch(
        &format!("/Users/{uid}"),
        &patch(json!([{"op": "Replace", "path": "title", "value": "Manager"}])),
    )
    .await
    .expect(200);
    let after_title = app.get(&format!("/Users/{uid}")).await.body;
    // Entra's deactivation, in its own dialect.
    app.patch(
        &format!("/Users/{uid}"),
        &patch(json!([{"op": "Replace", "path": "active", "value": "False"}])),
    )
    .await
    .expect(200);
    app.patch(
        &format!("/Users/{uid}"),
        &patch(json!([{"op": "replace", "value": {"active": true}}])),
    )
    .await
    .expect(200);
    // Changes nothing: no event.
    app.patch(
        &format!("/Users/{uid}"),
        &patch(json!([{"op": "replace", "path": "title", "value": "Manager"}])),
    )
    .await
    .expect(200);
    // Fails: no event.
    app.post(
        "/Users",
        &json!({"schemas": [USER_SCHEMA], "userName": "ADA@acme.example"}),
    )
    .await
    .expect_error(409, Some("uniqueness"));
    app.patch(
        "/Users/no-such-user",
        &patch(json!([{"op": "replace", "path": "title", "value": "x"}])),
    )
    .await
    .expect(404);

    let gid = app.create_group("Engineering").await;
    app.patch(
        &format!("/Groups/{gid}"),
        &patch(json!([{"op": "add", "path": "members", "value": [{"value": uid}]}])),
    )
    .await
    .expect(204);
    app.patch(
        &format!("/Groups/{gid}"),
        &patch(json!([{"op": "replace", "path": "displayName", "value": "Engineers"}])),
    )
    .await
    .expect(204);
    app.delete(&format!("/Users/{uid}")).await.expect(204);
    app.delete(&format!("/Groups/{gid}")).await.expect(204);

    let (events, _) = drain(&app, &key, "", start).await;
    assert_eq!(
        types_of(&events),
        [
            "user.created",
            "user.updated",
            "user.deactivated",
            "user.reactivated",
            "group.created",
            "group.user_added",
            "group.updated",
            "group.user_removed",
            "user.deleted",
            "group.deleted",
        ]
    );
    for e in &events {
        assert_eq!(e["tenant"], "acme");
        assert!(e["occurred_at"].as_str().unwrap().ends_with('Z'));
        assert!(e["id"].as_str().unwrap().starts_with("evt_"));
    }
    assert_eq!(events[0]["data"], after_create);
    assert!(events[0].get("previous_attributes").is_none());
    assert_eq!(events[1]["data"], after_title);
    assert_eq!(
        events[1]["previous_attributes"],
        json!({"title": "Engineer"})
    );
    assert_eq!(events[2]["data"]["active"], false);
    assert_eq!(events[2]["previous_attributes"], json!({"active": true}));
    assert_eq!(events[3]["previous_attributes"], json!({"active": false}));
    assert!(events[4]["data"].get("members").is_none());
    assert_eq!(
        events[5]["data"],
        json!({"group": {"id": gid, "displayName": "Engineering", "externalId": null},
               "user": {"id": uid, "userName": "ada@acme.example", "externalId": "ext-ada"}})
    );
    assert_eq!(
        events[6]["previous_attributes"],
        json!({"displayName": "Engineering"})
    );
    // Deleting a user ends its memberships first, then carries its last
    // representation (its groups included, as GET showed them).
    assert_eq!(events[7]["data"]["user"]["id"], uid.as_str());
    assert_eq!(events[7]["data"]["group"]["displayName"], "Engineers");
    assert_eq!(events[8]["data"]["id"], uid.as_str());
    assert_eq!(events[8]["data"]["groups"][0]["value"], gid.as_str());
    assert_eq!(events[9]["data"]["displayName"], "Engineers");
}

/// One event per member, whatever form the PATCH takes, net of the
/// request's own reversals.
async fn membership_events_one_per_member(app: TestApp) {
    let key = app_key(&app).await;
    let users: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..5 {
            v.push(app.create_user(&format!("m{i}@acme.example")).await);
        }
        v
    };
    let gid = app.create_group("Everyone").await;
    let (_, start) = drain(&app, &key, "", "evt_0".into()).await;
    let members = |ids: &[&String]| -> Value {
        Value::Array(ids.iter().map(|id| json!({"value": id})).collect())
    };
    let path = format!("/Groups/{gid}");
    // Add three, one of them twice in the request.
    app.patch(
        &path,
        &patch(json!([{"op": "Add", "path": "members",
                       "value": members(&[&users[0], &users[1], &users[2], &users[0]])}])),
    )
    .await
    .expect(204);
    // Adding an existing member again changes nothing.
    app.patch(
        &path,
        &patch(json!([{"op": "add", "path": "members", "value": members(&[&users[1]])}])),
    )
    .await
    .expect(204);
    // Entra's remove-by-value form, and the filter form.
    app.patch(
        &path,
        &patch(json!([{"op": "Remove", "path": "members", "value": members(&[&users[0]])}])),
    )
    .await
    .expect(204);
    app.patch(
        &path,
        &patch(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", users[1])}])),
    )
    .await
    .expect(204);
    // Removed and added back in one request: nothing.
    app.patch(
        &path,
        &patch(json!([
            {"op": "remove", "path": "members", "value": members(&[&users[2]])},
            {"op": "add", "path": "members", "value": members(&[&users[2]])},
        ])),
    )
    .await
    .expect(204);
    // PUT replaces the members: +3, +4, −2.
    app.put(
        &path,
        &json!({"schemas": [GROUP_SCHEMA], "displayName": "Everyone",
                "members": members(&[&users[3], &users[4]])}),
    )
    .await
    .expect(200);
    // Remove all.
    app.patch(&path, &patch(json!([{"op": "remove", "path": "members"}])))
        .await
        .expect(204);

    let (events, _) = drain(&app, &key, "", start).await;
    let summary: Vec<(String, &str)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["data"]["user"]["id"].as_str().unwrap(),
            )
        })
        .collect();
    // Per request, in order; within one request sorted by member id.
    let mut expect: Vec<(String, &str)> = Vec::new();
    for (type_, who) in [
        ("group.user_added", vec![0, 1, 2]),
        ("group.user_removed", vec![0]),
        ("group.user_removed", vec![1]),
        // The PUT: its removals, then its additions.
        ("group.user_removed", vec![2]),
        ("group.user_added", vec![3, 4]),
        ("group.user_removed", vec![3, 4]),
    ] {
        let mut ids: Vec<&str> = who.iter().map(|&n| users[n].as_str()).collect();
        ids.sort();
        expect.extend(ids.into_iter().map(|id| (type_.to_string(), id)));
    }
    assert_eq!(summary, expect);
}

/// Secret tokens, OAuth clients and grants: authorized and revoked.
async fn connections_write_events(app: TestApp) {
    let key = app_key(&app).await;
    let (_, start) = drain(&app, &key, "", "evt_0".into()).await;
    let (info, _) =
        tokens::create_secret_token(&app.db, &app.tenant.id, "Okta", None, &Actor::operator())
            .await
            .unwrap();
    assert!(
        tokens::revoke(&app.db, &info.id, &Actor::operator())
            .await
            .unwrap()
    );
    // Revoking again changes nothing and writes nothing.
    assert!(
        tokens::revoke(&app.db, &info.id, &Actor::operator())
            .await
            .unwrap()
    );
    let (events, _) = drain(
        &app,
        &key,
        "&types=connection.authorized,connection.revoked",
        start,
    )
    .await;
    assert_eq!(
        types_of(&events),
        ["connection.authorized", "connection.revoked"]
    );
    for e in &events {
        assert_eq!(e["data"]["id"], info.id.as_str());
        assert_eq!(e["data"]["name"], "Okta");
    }
}

/// App keys: required, checked at once, limited to their tenant; bad
/// parameters are a 400 that says what to send.
async fn app_keys_authenticate_and_scope(app: TestApp) {
    let all = app_key(&app).await;
    let (other, other_token) = app.other_tenant("globex").await;
    let (scoped_key, scoped) = app_keys::create(&app.db, Some(&other.id), "globex product")
        .await
        .unwrap();
    app.create_user("a@acme.example").await;
    let r = app
        .scim_as(
            &other_token,
            reqwest::Method::POST,
            "/Users",
            Some(&json!({"schemas": [USER_SCHEMA], "userName": "g@globex.example"})),
        )
        .await;
    r.expect(201);

    for bad in ["", "sgak_nope", app.token.as_str()] {
        let r = api(&app, bad, "/events").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad}: {}", r.text);
        assert_eq!(r.body["error"], "unauthorized");
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    }
    let r = send(app.client.get(format!("{}/api/v1/events", app.base))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body["message"].as_str().unwrap().contains("app-key"));

    // The scoped key sees only its tenant's events and data.
    let (events, _) = drain(&app, &scoped, "", "evt_0".into()).await;
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["tenant"] == "globex"));
    let (events, _) = drain(&app, &all, "", "evt_0".into()).await;
    assert!(events.iter().any(|e| e["tenant"] == "acme"));
    assert!(events.iter().any(|e| e["tenant"] == "globex"));
    let (events, _) = drain(&app, &all, "&tenant=acme", "evt_0".into()).await;
    assert!(events.iter().all(|e| e["tenant"] == "acme"));
    for path in [
        "/events?tenant=acme",
        "/tenants/acme/users",
        "/tenants/acme/groups",
    ] {
        let r = api(&app, &scoped, path).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.text);
        assert_eq!(r.body["error"], "forbidden");
    }
    let r = api(&app, &scoped, "/tenants").await;
    r.expect(200);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["data"][0]["slug"], "globex");
    let r = api(&app, &scoped, "/tenants/globex/users").await;
    r.expect(200);
    assert_eq!(r.body["data"][0]["userName"], "g@globex.example");

    for (path, says) in [
        ("/events?limit=0", "limit"),
        ("/events?limit=1001", "limit"),
        ("/events?limit=ten", "limit"),
        ("/events?after=yesterday", "after"),
        ("/events?types=user.exploded", "user.created"),
        ("/events?tenant=nobody", "nobody"),
        ("/events?colour=red", "colour"),
        ("/events?limit=1&limit=2", "twice"),
        ("/tenants/acme/users?cursor=%%%", "cursor"),
    ] {
        let r = api(&app, &all, path).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text);
        assert_eq!(r.body["error"], "invalid_request");
        assert!(
            r.body["message"].as_str().unwrap().contains(says),
            "{path}: {}",
            r.text
        );
    }
    let r = api(&app, &all, "/tenants/nobody/users").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = api(&app, &all, "/nothing/here").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["error"], "not_found");

    // Revoked: refused from the next request on.
    assert!(app_keys::revoke(&app.db, &scoped_key.id).await.unwrap());
    let r = api(&app, &scoped, "/events").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// Events past retention are pruned from the oldest, and a cursor older
/// than what is kept gets 410 and a message saying to resync.
async fn pruned_cursor_is_gone(app: TestApp) {
    let key = app_key(&app).await;
    for i in 0..5 {
        app.create_user(&format!("p{i}@acme.example")).await;
    }
    let (events, _) = drain(&app, &key, "", "evt_0".into()).await;
    assert_eq!(events.len(), 6);
    // The first four happened long ago.
    let fourth = events[3]["id"].as_str().unwrap().to_string();
    let pos = |id: &str| id.trim_start_matches("evt_").parse::<i64>().unwrap();
    let column = match app.backend {
        crate::helpers::Backend::Sqlite => "seq",
        crate::helpers::Backend::Postgres => "position",
    };
    sqlx::query(&format!(
        "UPDATE events SET occurred_at = '2020-01-01T00:00:00.000Z' WHERE {column} <= $1"
    ))
    .bind(pos(&fourth))
    .execute(app.db.writer())
    .await
    .unwrap();
    let pruned = scimgate::events::prune_all(&app.db, 30).await.unwrap();
    assert_eq!(pruned, 4);
    let (kept, _) = drain(&app, &key, "", "evt_0".into()).await;
    assert_eq!(kept, events[4..].to_vec());
    let r = api(
        &app,
        &key,
        &format!("/events?after={}", events[1]["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(r.status, StatusCode::GONE, "{}", r.text);
    assert_eq!(r.body["error"], "resync_required");
    assert!(r.body["message"].as_str().unwrap().contains("events_after"));
    // The last pruned id is still a valid cursor: nothing after it is gone.
    let r = api(&app, &key, &format!("/events?after={fourth}")).await;
    r.expect(200);
    assert_eq!(r.body["data"], json!(events[4..].to_vec()));
}

/// A filter by type looks through a bounded window per request and says
/// where to go on.
async fn type_filter_pages_through_windows(app: TestApp) {
    let key = app_key(&app).await;
    let uid = app.create_user("w@acme.example").await;
    app.delete(&format!("/Users/{uid}")).await.expect(204);
    let (events, _) = drain(&app, &key, "&types=user.deleted", "evt_0".into()).await;
    assert_eq!(types_of(&events), ["user.deleted"]);
    let (events, _) = drain(&app, &key, "&types=group.deleted", "evt_0".into()).await;
    assert!(events.is_empty());
}

/// What a product keeps: users and groups by id (without `meta`, and
/// without `groups`/`members`, which memberships carry) and memberships.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Replica {
    pub users: BTreeMap<String, Value>,
    pub groups: BTreeMap<String, Value>,
    pub members: BTreeSet<(String, String)>,
}

fn strip(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        for k in ["meta", "groups", "members"] {
            o.remove(k);
        }
    }
    v
}

impl Replica {
    pub fn apply(&mut self, e: &Value) {
        let data = &e["data"];
        let id = || data["id"].as_str().unwrap().to_string();
        let pair = |member: &str| {
            (
                data["group"]["id"].as_str().unwrap().to_string(),
                data[member]["id"].as_str().unwrap().to_string(),
            )
        };
        match e["type"].as_str().unwrap() {
            "user.created" | "user.updated" | "user.deactivated" | "user.reactivated" => {
                self.users.insert(id(), strip(data));
            }
            "user.deleted" => {
                self.users.remove(&id());
            }
            "group.created" | "group.updated" => {
                self.groups.insert(id(), strip(data));
            }
            "group.deleted" => {
                let gid = id();
                self.groups.remove(&gid);
                self.members.retain(|(g, _)| *g != gid);
            }
            "group.user_added" => {
                self.members.insert(pair("user"));
            }
            "group.user_removed" => {
                self.members.remove(&pair("user"));
            }
            "group.group_added" => {
                self.members.insert(pair("member_group"));
            }
            "group.group_removed" => {
                self.members.remove(&pair("member_group"));
            }
            "connection.authorized" | "connection.revoked" => {}
            other => panic!("unknown event type {other}"),
        }
    }
}

/// What SCIM holds, read through SCIM.
pub async fn scim_state(app: &TestApp) -> Replica {
    scim_state_at(&app.client, &app.scim_url(""), &app.token).await
}

/// The same for any server: its SCIM base URL and a token.
pub async fn scim_state_at(client: &reqwest::Client, scim_base: &str, token: &str) -> Replica {
    let mut out = Replica::default();
    for (path, users) in [("/Users", true), ("/Groups", false)] {
        let mut start = 1;
        loop {
            let r = send(
                client
                    .get(format!("{scim_base}{path}?startIndex={start}&count=200"))
                    .bearer_auth(token),
            )
            .await;
            r.expect(200);
            let page = r.body["Resources"].as_array().cloned().unwrap_or_default();
            for res in &page {
                let id = res["id"].as_str().unwrap().to_string();
                if users {
                    out.users.insert(id, strip(res));
                } else {
                    for m in res["members"].as_array().into_iter().flatten() {
                        out.members
                            .insert((id.clone(), m["value"].as_str().unwrap().to_string()));
                    }
                    out.groups.insert(id, strip(res));
                }
            }
            if page.is_empty()
                || start + page.len() as u64 > r.body["totalResults"].as_u64().unwrap()
            {
                break;
            }
            start += page.len() as u64;
        }
    }
    out
}

/// The initial sync through the read API: every page of users, groups and
/// members; returns the copy and the `events_after` of its first page.
async fn snapshot(app: &TestApp, key: &str) -> (Replica, String) {
    let mut out = Replica::default();
    let (users, events_after) = pages(app, key, "/tenants/acme/users").await;
    for u in users {
        out.users
            .insert(u["id"].as_str().unwrap().to_string(), strip(&u));
    }
    // Later listings start later: following from the first is enough.
    let (groups, later) = pages(app, key, "/tenants/acme/groups").await;
    assert!(later >= events_after);
    for g in groups {
        let gid = g["id"].as_str().unwrap().to_string();
        let (members, _) = pages(app, key, &format!("/tenants/acme/groups/{gid}/members")).await;
        for m in members {
            out.members
                .insert((gid.clone(), m["id"].as_str().unwrap().to_string()));
        }
        out.groups.insert(gid, strip(&g));
    }
    (out, events_after)
}

/// Every page of one listing (small pages, to cross several), and the
/// `events_after` that each of its pages repeats.
async fn pages(app: &TestApp, key: &str, path: &str) -> (Vec<Value>, String) {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    let mut events_after: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("{path}?limit=7&cursor={c}"),
            None => format!("{path}?limit=7"),
        };
        let r = api(app, key, &q).await;
        r.expect(200);
        let ea = r.body["events_after"].as_str().unwrap().to_string();
        assert_eq!(events_after.get_or_insert(ea.clone()), &ea);
        all.extend(r.body["data"].as_array().unwrap().iter().cloned());
        if r.body["has_more"] == json!(false) {
            assert!(r.body["next_cursor"].is_null());
            return (all, ea);
        }
        cursor = Some(r.body["next_cursor"].as_str().unwrap().to_string());
    }
}

pub fn sim_options(app: &TestApp, fraction: f64) -> Options {
    let mut o = Options::new(
        app.scim_url(""),
        AuthMode::SecretToken {
            token: app.token.clone(),
        },
    );
    o.dialect = Dialect::Default;
    o.users = 60;
    o.groups = 6;
    o.seed = 7;
    o.concurrency = 4;
    o.incremental_fraction = fraction;
    o.member_batch = 15;
    o
}

/// The product's two ways in, after the simulator's initial and
/// incremental cycles: the feed from the start, and a snapshot taken
/// between the cycles followed by the feed. Both equal what SCIM holds.
async fn consumers_rebuild_the_directory(app: TestApp) {
    let key = app_key(&app).await;
    let first = sim::run(sim_options(&app, 0.0)).await.unwrap();
    assert!(first.ok(), "{}", first.human());
    let (mut copy, events_after) = snapshot(&app, &key).await;
    assert_eq!(
        copy,
        scim_state(&app).await,
        "the snapshot is what SCIM holds"
    );

    let second = sim::run(sim_options(&app, 0.3)).await.unwrap();
    assert!(second.ok(), "{}", second.human());
    let expected = scim_state(&app).await;
    assert!(expected.users.len() > 10 && !expected.members.is_empty());

    let (events, _) = drain(&app, &key, "", events_after).await;
    assert!(
        types_of(&events).contains(&"user.deleted"),
        "the cycle deletes users"
    );
    for e in &events {
        copy.apply(e);
    }
    assert_eq!(copy, expected, "snapshot + feed");

    let mut from_feed = Replica::default();
    let (events, _) = drain(&app, &key, "", "evt_0".into()).await;
    for e in &events {
        from_feed.apply(e);
    }
    assert_eq!(from_feed, expected, "the feed from its start");
}

/// A mapping recompute tells the product of each user whose role changed.
async fn mapping_recompute_writes_updates(app: TestApp) {
    use scimgate::provision::mapping::Rules;
    use scimgate::provision::recompute;
    let key = app_key(&app).await;
    for (name, title) in [
        ("x@acme.example", "Sales Manager"),
        ("y@acme.example", "Cook"),
    ] {
        app.post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": name, "title": title}),
        )
        .await
        .expect(201);
    }
    let (_, start) = drain(&app, &key, "", "evt_0".into()).await;
    let rules = Rules {
        roles: vec![("Sales Manager".into(), "manager".into())],
        ..Rules::default()
    };
    let saved = recompute::save(
        &app.db,
        &app.tenant.id,
        &rules,
        &Actor::operator(),
        &app.scim_url(""),
    )
    .await
    .unwrap();
    assert_eq!(saved.changed, 1);
    let (events, _) = drain(&app, &key, "", start).await;
    assert_eq!(types_of(&events), ["user.updated"]);
    let ext = "urn:scimgate:params:scim:schemas:extension:mapping:2.0:User";
    assert_eq!(events[0]["data"]["userName"], "x@acme.example");
    assert_eq!(events[0]["data"][ext]["role"], "manager");
    let id = events[0]["data"]["id"].as_str().unwrap();
    assert_eq!(
        events[0]["data"],
        app.get(&format!("/Users/{id}")).await.body
    );
    assert!(events[0]["previous_attributes"].get(ext).is_some());
}

/// Activity entries past their retention are pruned, oldest first; newer
/// ones stay.
async fn activity_past_retention_is_pruned(app: TestApp) {
    for i in 0..5 {
        app.create_user(&format!("a{i}@acme.example")).await;
    }
    let count = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            use sqlx::Row as _;
            sqlx::query("SELECT COUNT(*) AS n FROM activity")
                .fetch_one(db.reader())
                .await
                .unwrap()
                .get::<i64, _>("n")
        }
    };
    let before = count(&app).await;
    assert!(before >= 5);
    // The three oldest entries happened long ago.
    sqlx::query(
        "UPDATE activity SET at = '2020-01-01T00:00:00.000Z'
         WHERE id IN (SELECT id FROM activity ORDER BY id LIMIT 3)",
    )
    .execute(app.db.writer())
    .await
    .unwrap();
    let pruned = scimgate::housekeeping::prune_activity(&app.db, 90)
        .await
        .unwrap();
    assert_eq!(pruned, 3);
    assert_eq!(count(&app).await, before - 3);
    assert_eq!(
        scimgate::housekeeping::prune_activity(&app.db, 90)
            .await
            .unwrap(),
        0
    );
}

on_both_databases!(
    activity_past_retention_is_pruned,
    each_change_writes_its_event,
    membership_events_one_per_member,
    connections_write_events,
    app_keys_authenticate_and_scope,
    pruned_cursor_is_gone,
    type_filter_pages_through_windows,
    consumers_rebuild_the_directory,
    mapping_recompute_writes_updates,
);

/// Two instances write to one PostgreSQL database at once while a consumer
/// follows the feed through both: it sees every committed event once, in
/// increasing order, including those whose transaction committed after a
/// later one had been read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_never_skip_an_event() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    let second = app.spawn_second_instance().await;
    let key = app_key(&app).await;
    let (_, start) = drain(&app, &key, "", "evt_0".into()).await;
    const WRITERS: usize = 6;
    const EACH: usize = 40;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let base = if w % 2 == 0 {
            app.base.clone()
        } else {
            second.base.clone()
        };
        let token = app.token.clone();
        let client = app.client.clone();
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..EACH {
                let r = send(
                    client
                        .post(format!("{base}/scim/v2/Users"))
                        .bearer_auth(&token)
                        .json(&json!({"schemas": [USER_SCHEMA], "userName": format!("w{w}-{i}@acme.example")})),
                )
                .await;
                r.expect(201);
                ids.push(r.body["id"].as_str().unwrap().to_string());
            }
            ids
        }));
    }
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let consumer = {
        let (client, bases, key, done) = (
            app.client.clone(),
            [app.base.clone(), second.base.clone()],
            key.clone(),
            done.clone(),
        );
        tokio::spawn(async move {
            let mut seen: Vec<(String, String)> = Vec::new();
            let mut after = start;
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut turn = 0;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let r = api_at(
                    &client,
                    &bases[turn % 2],
                    &key,
                    &format!("/events?after={after}&limit=50"),
                )
                .await;
                turn += 1;
                r.expect(200);
                for e in r.body["data"].as_array().unwrap() {
                    let id = e["id"].as_str().unwrap().to_string();
                    assert!(id > after, "{id} after {after}");
                    after = id.clone();
                    seen.push((id, e["data"]["id"].as_str().unwrap().to_string()));
                }
                if finished && r.body["has_more"] == json!(false) {
                    return seen;
                }
                assert!(Instant::now() < deadline, "the consumer did not finish");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let mut created = HashSet::new();
    for w in writers {
        created.extend(w.await.unwrap());
    }
    // Every write was acknowledged; one more poll after this sees them all.
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = consumer.await.unwrap();
    let seen_ids: Vec<&String> = seen.iter().map(|(_, u)| u).collect();
    let unique: HashSet<&String> = seen_ids.iter().copied().collect();
    assert_eq!(unique.len(), seen_ids.len(), "an event was seen twice");
    assert_eq!(
        unique,
        created.iter().collect::<HashSet<_>>(),
        "the consumer saw exactly the users created"
    );
    assert_eq!(seen.len(), WRITERS * EACH);
}
