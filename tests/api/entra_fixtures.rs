//! Replays every request shape of `tests/entra-request-fixtures.json` the way
//! Entra's provisioning service sends it, in the order of a real cycle, and
//! checks the answer and the stored effect by reading the resource back.
//!
//! The fixtures name resources by ids of the systems they were captured from
//! (`5171a35d82074e068ce2`, `{id}`, `<managerId>`…); each step says which of
//! those stand for which resource created here. A fixture in the file that no
//! step replays fails the test, so the file cannot grow unnoticed.

use std::collections::{BTreeSet, HashMap};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};
use crate::on_both_databases;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

on_both_databases!(replay_every_entra_fixture);

fn fixtures() -> Vec<Value> {
    let text = include_str!("../entra-request-fixtures.json");
    let file: Value = serde_json::from_str(text).expect("fixture file is JSON");
    file["fixtures"]
        .as_array()
        .expect("fixtures array")
        .to_vec()
}

/// Replaces every occurrence of each `from` by its `to`, in every string.
fn substitute(v: &Value, map: &[(String, String)]) -> Value {
    match v {
        Value::String(s) => Value::String(substitute_str(s, map)),
        Value::Array(items) => Value::Array(items.iter().map(|i| substitute(i, map)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), substitute(v, map)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn substitute_str(s: &str, map: &[(String, String)]) -> String {
    let mut out = s.to_string();
    for (from, to) in map {
        out = out.replace(from.as_str(), to);
    }
    out
}

/// A query string as Entra writes it: `+` for spaces, quotes as `%22`.
fn entra_query(query: &Value) -> String {
    let Some(map) = query.as_object() else {
        return String::new();
    };
    map.iter()
        .map(|(k, v)| {
            let v = v.as_str().expect("query values are strings");
            format!(
                "{k}={}",
                url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// What Entra can read back: no nulls anywhere, booleans as JSON booleans,
/// manager as an object with a `value`.
fn assert_entra_readable(v: &Value, at: &str) {
    match v {
        Value::Null => panic!("null at {at}"),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                assert_entra_readable(item, &format!("{at}[{i}]"));
            }
        }
        Value::Object(m) => {
            for (k, v) in m {
                if matches!(k.as_str(), "active" | "primary") {
                    assert!(v.is_boolean(), "{at}.{k} must be a JSON boolean, got {v}");
                }
                if k == "manager" {
                    assert!(
                        v.get("value").is_some_and(Value::is_string),
                        "{at}.manager must be {{\"value\": …}}, got {v}"
                    );
                }
                assert_entra_readable(v, &format!("{at}.{k}"));
            }
        }
        _ => {}
    }
}

struct Replay<'a> {
    app: &'a TestApp,
    by_id: HashMap<String, Value>,
    replayed: BTreeSet<String>,
}

impl<'a> Replay<'a> {
    fn new(app: &'a TestApp) -> Self {
        let list = fixtures();
        let by_id: HashMap<String, Value> = list
            .into_iter()
            .map(|f| (f["id"].as_str().expect("fixture id").to_string(), f))
            .collect();
        Replay {
            app,
            by_id,
            replayed: BTreeSet::new(),
        }
    }

    /// Sends fixture `id` with `map` applied to its path, query and body,
    /// and checks the status and the body expectations it states.
    async fn send(&mut self, id: &str, map: &[(&str, &str)]) -> Reply {
        let f = self
            .by_id
            .get(id)
            .unwrap_or_else(|| panic!("no fixture {id:?} in the file"))
            .clone();
        let map: Vec<(String, String)> = map
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let method = Method::from_bytes(f["method"].as_str().unwrap().as_bytes()).unwrap();
        let mut path = substitute_str(f["path"].as_str().unwrap(), &map);
        for placeholder in ["{id}", "<id>", "<user-id>", "<managerId>", "<random-guid>"] {
            assert!(
                !path.contains(placeholder),
                "{id}: placeholder {placeholder} left in the path"
            );
        }
        let mut query = entra_query(&substitute(&f["query"], &map));
        // The aadOptscim062020 flag is part of the Tenant URL, so Entra sends
        // it on every request of a job that has it.
        if id.contains("flag") || id.contains("aadOptscim062020") {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str("aadOptscim062020");
        }
        if !query.is_empty() {
            path = format!("{path}?{query}");
        }
        let body = f.get("body").map(|b| substitute(b, &map));
        let reply = self.app.scim(method, &path, body.as_ref()).await;
        self.check(id, &f["expect"], &reply);
        self.replayed.insert(id.to_string());
        reply
    }

    fn check(&self, id: &str, expect: &Value, reply: &Reply) {
        let status = reply.status.as_u16();
        let allowed: Vec<u64> = match &expect["status"] {
            Value::Array(list) => list.iter().filter_map(Value::as_u64).collect(),
            v => vec![v.as_u64().expect("status")],
        };
        assert!(
            allowed.contains(&u64::from(status)),
            "{id}: status {status}, expected one of {allowed:?}; body: {}",
            reply.text
        );
        if status != 204 && status != 304 {
            assert_eq!(
                reply.header("content-type"),
                Some("application/scim+json"),
                "{id}: content type"
            );
            assert_entra_readable(&reply.body, id);
        }
        if let Some(body) = expect.get("body").and_then(Value::as_object) {
            let is_error = body["schemas"][0] == ERROR;
            for (k, want) in body {
                match k.as_str() {
                    // Error wording is the server's own ("Only the status is
                    // required"); it must exist and say something.
                    "detail" if is_error => assert!(
                        reply.body["detail"].as_str().is_some_and(|d| d.len() > 10),
                        "{id}: error detail: {}",
                        reply.text
                    ),
                    // RFC 7644 §3.4.2: the number of resources returned on
                    // this page (the docs' 20 was that server's page size).
                    "itemsPerPage" => assert_eq!(
                        reply.body["itemsPerPage"].as_u64(),
                        reply.body["Resources"].as_array().map(|r| r.len() as u64),
                        "{id}: itemsPerPage"
                    ),
                    _ => assert_eq!(&reply.body[k], want, "{id}: {k}; body: {}", reply.text),
                }
            }
        }
        for key in expect["body_must_include"].as_array().into_iter().flatten() {
            let key = key.as_str().unwrap();
            assert!(
                reply.body.get(key).is_some(),
                "{id}: body must include {key}: {}",
                reply.text
            );
        }
        for key in expect["body_must_not_include"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let key = key.as_str().unwrap();
            assert!(
                reply.body.get(key).is_none(),
                "{id}: body must not include {key}: {}",
                reply.text
            );
        }
        if let Some(shape) = expect["body_shape"].as_str() {
            if shape.starts_with("ListResponse") {
                assert_eq!(reply.body["schemas"], json!([LIST_RESPONSE]), "{id}");
                assert!(reply.body["Resources"].is_array(), "{id}: Resources");
                assert!(reply.body["totalResults"].is_u64(), "{id}: totalResults");
            }
            if let Some(n) = shape.split("totalResults=").nth(1) {
                let n: u64 = n.trim().parse().expect("totalResults in body_shape");
                assert_eq!(reply.body["totalResults"], n, "{id}: {}", reply.text);
            }
            if let Some(urn) = shape
                .split(" of ")
                .nth(1)
                .and_then(|s| s.strip_suffix(" resources"))
            {
                for r in reply.body["Resources"].as_array().unwrap() {
                    assert!(
                        r["schemas"].as_array().unwrap().iter().any(|s| s == urn),
                        "{id}: every resource must be a {urn}: {r}"
                    );
                }
            }
        }
    }

    fn all_replayed(&self) {
        let missing: Vec<&String> = self
            .by_id
            .keys()
            .filter(|k| !self.replayed.contains(*k))
            .collect();
        assert!(
            missing.is_empty(),
            "fixtures in tests/entra-request-fixtures.json that this test does not replay: {missing:?}"
        );
    }
}

async fn read(app: &TestApp, path: &str) -> Value {
    let r = app.get(path).await;
    r.expect(200);
    assert_entra_readable(&r.body, path);
    r.body
}

async fn total(app: &TestApp, resource: &str, filter: &str) -> u64 {
    let q: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    let r = app.get(&format!("/{resource}?filter={q}")).await;
    r.expect(200);
    r.body["totalResults"].as_u64().unwrap()
}

fn work_email(user: &Value) -> Option<&Value> {
    user["emails"]
        .as_array()?
        .iter()
        .find(|e| e["type"] == "work")
}

fn member_ids(group: &Value) -> BTreeSet<String> {
    group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|x| x["value"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn replay_every_entra_fixture(app: TestApp) {
    let mut r = Replay::new(&app);
    let handled: BTreeSet<&str> = HANDLED.iter().copied().collect();
    let unknown: Vec<&String> = r
        .by_id
        .keys()
        .filter(|k| !handled.contains(k.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "new Entra fixtures this test does not know how to replay: {unknown:?}; add a step for each"
    );

    // Test Connection: a random GUID that matches nobody.
    let guid = uuid::Uuid::new_v4().to_string();
    r.send("test-connection-user-query", &[("<random-guid>", &guid)])
        .await;
    r.send("get-schemas", &[]).await;

    // Users.
    let created = r.send("create-user", &[]).await;
    let user = created.body["id"].as_str().unwrap().to_string();
    let u = read(&app, &format!("/Users/{user}")).await;
    assert_eq!(
        u["userName"],
        "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"
    );
    assert_eq!(u["externalId"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
    assert_eq!(u["active"], true);
    assert_eq!(u["name"]["givenName"], "givenName");
    assert_eq!(
        work_email(&u).unwrap()["value"],
        "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"
    );
    assert_eq!(work_email(&u).unwrap()["primary"], true);
    assert_eq!(u["meta"]["resourceType"], "User");

    let legacy = r.send("create-user-legacy-example", &[]).await;
    let jyoung = legacy.body["id"].as_str().unwrap().to_string();
    let j = read(&app, &format!("/Users/{jyoung}")).await;
    assert_eq!(j["displayName"], "Joy Young");
    assert_eq!(j["name"]["familyName"], "Young");
    for absent in ["addresses", "phoneNumbers", "preferredLanguage", "title"] {
        assert!(
            j.get(absent).is_none(),
            "null {absent} must be ignored: {j}"
        );
    }
    assert!(
        j.get(ENTERPRISE).is_none_or(|e| e.get("manager").is_none()),
        "a null manager is no manager: {j}"
    );

    let got = r.send("get-user", &[("5d48a0a8e9f04aa38008", &user)]).await;
    assert_eq!(got.body["id"], user.as_str());
    assert_eq!(got.body["userName"], u["userName"]);

    // The fixture's id was never created here: 404 like any unknown id.
    let nf = r.send("get-user-not-found", &[]).await;
    assert_eq!(nf.body["schemas"], json!([ERROR]));

    let by_name = r.send("query-user-by-userName", &[]).await;
    assert_eq!(by_name.body["Resources"][0]["id"], user.as_str());
    r.send("query-user-zero-results", &[]).await;
    let by_ext = r.send("query-user-by-externalId-unquoted", &[]).await;
    assert_eq!(by_ext.body["totalResults"], 1);
    assert_eq!(by_ext.body["Resources"][0]["id"], jyoung.as_str());

    // The work e-mail Entra matches on, on a user created for it.
    let contoso = app
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "contoso-user",
                "emails": [
                    {"type": "home", "value": "home@example.org"},
                    {"type": "work", "value": "User@Contoso.com", "primary": true}
                ],
            }),
        )
        .await;
    contoso.expect(201);
    let by_mail = r.send("query-user-by-work-email", &[]).await;
    assert_eq!(by_mail.body["totalResults"], 1, "{}", by_mail.text);
    assert_eq!(by_mail.body["Resources"][0]["id"], contoso.body["id"]);

    // Managers: three users standing for the fixtures' manager ids.
    let boss = app.create_user("boss@example.com").await;
    let boss2 = app.create_user("boss2@example.com").await;
    let boss3 = app.create_user("boss3@example.com").await;
    r.send(
        "manager-add-observed",
        &[
            ("{id}", &user),
            ("2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2", &boss),
        ],
    )
    .await;
    let u = read(&app, &format!("/Users/{user}")).await;
    assert_eq!(u[ENTERPRISE]["manager"]["value"], boss.as_str(), "{u}");

    let q = r
        .send(
            "query-manager-reference-legacy",
            &[
                ("54D382A4-2050-4C03-94D1-E769F1D15682", &user),
                ("2819c223-7f76-453a-919d-413861904646", &boss),
            ],
        )
        .await;
    assert_eq!(q.body["totalResults"], 1, "{}", q.text);
    assert_eq!(q.body["Resources"][0]["id"], user.as_str());
    assert!(
        q.body["Resources"][0].get("userName").is_none(),
        "attributes=id returns only id: {}",
        q.text
    );

    r.send(
        "manager-add-legacy-doc",
        &[
            ("{id}", &user),
            ("00aa00aa-bb11-cc22-dd33-44ee44ee44ee", &boss2),
        ],
    )
    .await;
    let u = read(&app, &format!("/Users/{user}")).await;
    assert_eq!(u[ENTERPRISE]["manager"]["value"], boss2.as_str(), "{u}");

    r.send(
        "manager-dot-notation",
        &[("{id}", &user), ("<managerId>", &boss3)],
    )
    .await;
    let u = read(&app, &format!("/Users/{user}")).await;
    assert_eq!(u[ENTERPRISE]["manager"]["value"], boss3.as_str(), "{u}");

    r.send("patch-user-multi", &[("6764549bef60420686bc", &user)])
        .await;
    let u = read(&app, &format!("/Users/{user}")).await;
    assert_eq!(
        work_email(&u).unwrap()["value"],
        "updatedEmail@microsoft.com"
    );
    assert_eq!(u["emails"].as_array().unwrap().len(), 1, "{u}");
    assert_eq!(u["name"]["familyName"], "updatedFamilyName");
    assert_eq!(u["name"]["givenName"], "givenName");

    r.send("add-single-value-default", &[("{id}", &user)]).await;
    assert_eq!(
        read(&app, &format!("/Users/{user}")).await["nickName"],
        "Babs"
    );
    app.patch(
        &format!("/Users/{user}"),
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "remove", "path": "nickName"}]}),
    )
    .await
    .expect(200);
    r.send("add-single-value-flag", &[("{id}", &user)]).await;
    assert_eq!(
        read(&app, &format!("/Users/{user}")).await["nickName"],
        "Babs"
    );

    r.send("replace-multi-default", &[("{id}", &user)]).await;
    let u = read(&app, &format!("/Users/{user}")).await;
    assert_eq!(u["displayName"], "Pvlo");
    assert_eq!(
        work_email(&u).unwrap()["value"],
        "TestBcwqnm@test.microsoft.com"
    );
    assert_eq!(u["name"]["givenName"], "Gtfd");
    assert_eq!(u["name"]["familyName"], "Pkqf");
    assert_eq!(u["externalId"], "Eqpj");
    assert_eq!(u[ENTERPRISE]["employeeNumber"], "Eqpj");
    assert_eq!(u[ENTERPRISE]["manager"]["value"], boss3.as_str());

    r.send("replace-multi-flag-pathless", &[("{id}", &user)])
        .await;
    let u = read(&app, &format!("/Users/{user}")).await;
    assert_eq!(u["displayName"], "Bjfe");
    assert_eq!(
        work_email(&u).unwrap()["value"],
        "TestMhvaes@test.microsoft.com"
    );
    assert_eq!(u["name"]["givenName"], "Kkom");
    assert_eq!(u["name"]["familyName"], "Unua");
    assert_eq!(u[ENTERPRISE]["employeeNumber"], "Aklq");
    assert!(
        u.get("name.givenName").is_none(),
        "dotted keys are paths: {u}"
    );

    r.send("flag-2020-add-extension", &[("{id}", &user)]).await;
    let u = read(&app, &format!("/Users/{user}")).await;
    assert_eq!(u[ENTERPRISE]["department"], "Tech Infrastructure");

    r.send("roles-add-singleapprole", &[("{id}", &user)]).await;
    let u = read(&app, &format!("/Users/{user}")).await;
    let roles = u["roles"].as_array().expect("roles");
    assert_eq!(roles.len(), 1, "{u}");
    assert!(
        roles[0]["value"]
            .as_str()
            .is_some_and(|v| v.contains("06b07648-ecfe-589f-9d2f-6325724a46ee")),
        "{u}"
    );

    r.send("roles-replace-assertive", &[("{id}", &user)]).await;
    let u = read(&app, &format!("/Users/{user}")).await;
    let values: Vec<&str> = u["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["User", "Test"], "{u}");
    assert_eq!(u["roles"][0]["primary"], false);

    // Disable and re-enable: three shapes of the same change.
    let target = jyoung.as_str();
    for (fixture, map) in [
        ("disable-user-doc", ("5171a35d82074e068ce2", target)),
        ("disable-user-default-no-flag", ("{id}", target)),
        ("disable-user-aadOptscim062020", ("{id}", target)),
    ] {
        r.send(fixture, &[map]).await;
        let j = read(&app, &format!("/Users/{target}")).await;
        assert_eq!(j["active"], false, "{fixture}: {j}");
        assert_eq!(j["userName"], "jyoung@testuser.com");
        assert_eq!(
            total(&app, "Users", "active eq false").await,
            1,
            "{fixture}"
        );
        assert_eq!(
            total(
                &app,
                "Users",
                "userName eq \"jyoung@testuser.com\" and active eq false"
            )
            .await,
            1
        );
        app.patch(
            &format!("/Users/{target}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "Replace", "path": "active", "value": "True"}]}),
        )
        .await
        .expect(200);
        assert_eq!(
            read(&app, &format!("/Users/{target}")).await["active"],
            true
        );
        assert_eq!(total(&app, "Users", "active eq false").await, 0);
    }

    r.send("patch-user-single", &[("5171a35d82074e068ce2", target)])
        .await;
    let j = read(&app, &format!("/Users/{target}")).await;
    assert_eq!(
        j["userName"],
        "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    );
    assert_eq!(
        total(
            &app,
            "Users",
            "userName eq \"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com\""
        )
        .await,
        1
    );
    assert_eq!(
        total(&app, "Users", "userName eq \"jyoung@testuser.com\"").await,
        0
    );

    r.send("flag-2020-examples", &[("{id}", target)]).await;
    let j = read(&app, &format!("/Users/{target}")).await;
    assert_eq!(j["userName"], "someone");
    assert_eq!(j["active"], false);
    assert_eq!(work_email(&j).unwrap()["value"], "someone@contoso.com");
    assert_eq!(work_email(&j).unwrap()["primary"], true);
    assert_eq!(total(&app, "Users", "active eq false").await, 1);

    // Groups.
    let g = r.send("create-group", &[]).await;
    let group = g.body["id"].as_str().unwrap().to_string();
    assert_eq!(g.body["members"], json!([]));
    assert_eq!(g.body["displayName"], "displayName");
    let read_group = read(&app, &format!("/Groups/{group}")).await;
    assert_eq!(
        read_group["externalId"],
        "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    );

    r.send(
        "get-group-exclude-members",
        &[("40734ae655284ad3abcc", &group)],
    )
    .await;
    let q = r.send("query-group-by-displayName", &[]).await;
    assert_eq!(q.body["totalResults"], 1, "{}", q.text);
    assert_eq!(q.body["Resources"][0]["id"], group.as_str());
    assert!(
        q.body["Resources"][0].get("members").is_none(),
        "{}",
        q.text
    );

    r.send(
        "patch-group-displayName",
        &[("fa2ce26709934589afc5", &group)],
    )
    .await;
    let gr = read(&app, &format!("/Groups/{group}")).await;
    assert_eq!(
        gr["displayName"],
        "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    );

    // Two members already there, so that removing one shows the others stay.
    let (a, b, c) = (user.clone(), boss.clone(), boss2.clone());
    app.patch(
        &format!("/Groups/{group}"),
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Add", "path": "members",
                                "value": [{"value": b}, {"value": c}]}]}),
    )
    .await
    .expect(204);
    r.send(
        "patch-group-add-members",
        &[
            ("a99962b9f99d4c4fac67", &group),
            ("f648f8d5ea4e4cd38e9c", &a),
        ],
    )
    .await;
    let gr = read(&app, &format!("/Groups/{group}")).await;
    assert_eq!(
        member_ids(&gr),
        BTreeSet::from([a.clone(), b.clone(), c.clone()])
    );
    let ua = read(&app, &format!("/Users/{a}")).await;
    assert_eq!(ua["groups"][0]["value"], group.as_str(), "{ua}");

    r.send(
        "patch-group-remove-members-default",
        &[
            ("a99962b9f99d4c4fac67", &group),
            ("f648f8d5ea4e4cd38e9c", &a),
        ],
    )
    .await;
    let gr = read(&app, &format!("/Groups/{group}")).await;
    assert_eq!(member_ids(&gr), BTreeSet::from([b.clone(), c.clone()]));

    r.send(
        "patch-group-remove-member-flag",
        &[
            ("{id}", &group),
            ("7f4bc1a3-285e-48ae-8202-5accb43efb0e", &b),
        ],
    )
    .await;
    let gr = read(&app, &format!("/Groups/{group}")).await;
    assert_eq!(member_ids(&gr), BTreeSet::from([c.clone()]));

    r.send("delete-group", &[("cdb1ce18f65944079d37", &group)])
        .await;
    app.get(&format!("/Groups/{group}"))
        .await
        .expect_error(404, None);
    assert!(
        read(&app, &format!("/Users/{c}"))
            .await
            .get("groups")
            .is_none(),
        "a deleted group is no one's group"
    );

    r.send("delete-user", &[("5171a35d82074e068ce2", target)])
        .await;
    app.get(&format!("/Users/{target}"))
        .await
        .expect_error(404, None);
    assert_eq!(total(&app, "Users", "userName eq \"someone\"").await, 0);
    assert_eq!(total(&app, "Users", "active eq false").await, 0);

    r.all_replayed();
}

/// Every fixture the replay above sends.
const HANDLED: &[&str] = &[
    "test-connection-user-query",
    "create-user",
    "create-user-legacy-example",
    "get-user",
    "get-user-not-found",
    "query-user-by-userName",
    "query-user-zero-results",
    "query-user-by-externalId-unquoted",
    "query-user-by-work-email",
    "query-manager-reference-legacy",
    "patch-user-multi",
    "patch-user-single",
    "disable-user-doc",
    "disable-user-default-no-flag",
    "disable-user-aadOptscim062020",
    "add-single-value-default",
    "add-single-value-flag",
    "replace-multi-default",
    "replace-multi-flag-pathless",
    "flag-2020-examples",
    "flag-2020-add-extension",
    "manager-add-observed",
    "manager-add-legacy-doc",
    "manager-dot-notation",
    "roles-add-singleapprole",
    "roles-replace-assertive",
    "delete-user",
    "create-group",
    "get-group-exclude-members",
    "query-group-by-displayName",
    "patch-group-displayName",
    "patch-group-add-members",
    "patch-group-remove-members-default",
    "patch-group-remove-member-flag",
    "delete-group",
    "get-schemas",
];
