//! The SCIM service's contract, area by area, each test on SQLite and on
//! PostgreSQL, over real HTTP.

mod activity;
mod auth;
mod concurrency;
mod cross_database;
mod dialects;
mod discovery;
mod edges;
mod errors;
mod filters;
mod hostile;
mod isolation;
mod membership;
mod paging;
mod preconditions;
mod related;
mod uniqueness;

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, send};

pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// A PatchOp body with these operations.
pub fn patch_body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// `filter` as a query value, spaces as `+` and quotes percent-encoded.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Creates a user from a full body and returns its id.
pub async fn create_user_with(app: &TestApp, body: Value) -> String {
    let r = app.post("/Users", &body).await;
    r.expect(201);
    r.body["id"].as_str().unwrap().to_string()
}

/// The `userName`s (users) or `displayName`s (groups) a filter returns.
pub async fn names(app: &TestApp, resource: &str, filter: &str) -> BTreeSet<String> {
    let r = app
        .get(&format!("/{resource}?count=1000&filter={}", enc(filter)))
        .await;
    r.expect(200);
    let key = if resource == "Users" {
        "userName"
    } else {
        "displayName"
    };
    let list = r.body["Resources"].as_array().expect("Resources");
    assert_eq!(
        r.body["totalResults"].as_u64(),
        Some(list.len() as u64),
        "{filter}: {}",
        r.text
    );
    list.iter()
        .map(|x| x[key].as_str().unwrap().to_string())
        .collect()
}

pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The ids of a group's members, read back.
pub async fn member_ids(app: &TestApp, group: &str) -> BTreeSet<String> {
    let r = app.get(&format!("/Groups/{group}")).await;
    r.expect(200);
    r.body["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_string())
        .collect()
}

/// A request with a raw body and content type, authenticated.
pub async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut req = app
        .client
        .request(method, app.scim_url(path))
        .bearer_auth(&app.token)
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    send(req).await
}

/// The stored representation, read back over HTTP.
pub async fn read(app: &TestApp, path: &str) -> Value {
    let r = app.get(path).await;
    r.expect(200);
    r.body
}
