//! Regressions found by the scim2-tester conformance run
//! (scripts/conformance.sh, docs/conformance.md).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    discovery_endpoints_answer_other_methods_with_405,
    resource_endpoints_answer_other_methods_with_405_and_change_nothing,
    group_member_added_without_display_reads_back_with_it
);

/// RFC 7644 §4 defines only GET on the discovery endpoints; any other method
/// is 405 with `Allow` (RFC 9110 §15.5.6), never 404, which would claim the
/// endpoint is missing.
async fn discovery_endpoints_answer_other_methods_with_405(app: TestApp) {
    let config_before = app.get("/ServiceProviderConfig").await;
    config_before.expect(200);
    for path in [
        "/ServiceProviderConfig",
        "/ResourceTypes",
        "/ResourceTypes/User",
        "/Schemas",
        "/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group",
        "/schemas/",
    ] {
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let r = app.scim(method.clone(), path, None).await;
            r.expect_error(405, None);
            assert_eq!(r.header("allow"), Some("GET, HEAD"), "{method} {path}");
            assert_eq!(
                r.header("content-type"),
                Some("application/scim+json"),
                "{method} {path}"
            );
            let detail = r.body["detail"].as_str().unwrap();
            assert!(
                detail.contains(method.as_str()) && detail.contains("GET"),
                "the error names the method and what is accepted: {detail}"
            );
        }
    }
    let config_after = app.get("/ServiceProviderConfig").await;
    config_after.expect(200);
    assert_eq!(config_before.body, config_after.body);
    app.get("/Schemas").await.expect(200);
}

/// Resource routes answer a method they lack with 405 and the methods they
/// have; an unknown resource type stays a 404.
async fn resource_endpoints_answer_other_methods_with_405_and_change_nothing(app: TestApp) {
    let id = app.create_user("kept@example.com").await;
    let before = app.get(&format!("/Users/{id}")).await;
    before.expect(200);

    let r = app.delete("/Users").await;
    r.expect_error(405, None);
    assert_eq!(r.header("allow"), Some("GET, HEAD, POST"));

    let r = app
        .post(&format!("/Users/{id}"), &json!({"userName": "changed"}))
        .await;
    r.expect_error(405, None);
    assert_eq!(r.header("allow"), Some("GET, HEAD, PUT, PATCH, DELETE"));

    let r = app.get("/Users/.search").await;
    r.expect_error(405, None);
    assert_eq!(r.header("allow"), Some("POST"));

    let r = app.delete("/Widgets").await;
    r.expect_error(404, None);
    assert!(r.body["detail"].as_str().unwrap().contains("Widgets"));

    let after = app.get(&format!("/Users/{id}")).await;
    after.expect(200);
    assert_eq!(after.body["userName"], "kept@example.com");
    assert_eq!(
        after.body["meta"]["version"],
        before.body["meta"]["version"]
    );
    let list = app.get("/Users").await;
    list.expect(200);
    assert_eq!(list.body["totalResults"], 1);
}

/// `display` of a member is READ-ONLY (RFC 7643 §2.4): a member added with
/// only `value`, `$ref` and `type`, as scim2-tester sends it, reads back with
/// the server-supplied display name and the rest unchanged. The conformance
/// run waives scim2-tester's strict comparison on exactly this.
async fn group_member_added_without_display_reads_back_with_it(app: TestApp) {
    let user = app
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "babs@example.com",
                "displayName": "Babs Jensen",
            }),
        )
        .await;
    user.expect(201);
    let user_id = user.body["id"].as_str().unwrap().to_string();
    let user_ref = app.scim_url(&format!("/Users/{user_id}"));
    let group = app.create_group("Tour Guides").await;

    let patched = app
        .patch(
            &format!("/Groups/{group}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{
                    "op": "add",
                    "path": "members",
                    "value": [{"value": user_id, "$ref": user_ref, "type": "User"}],
                }],
            }),
        )
        .await;
    assert!(
        patched.status == 200 || patched.status == 204,
        "PATCH answered {}: {}",
        patched.status,
        patched.text
    );

    let read = app.get(&format!("/Groups/{group}")).await;
    read.expect(200);
    let members = read.body["members"].as_array().expect("members array");
    assert_eq!(members.len(), 1, "{}", read.text);
    let m = &members[0];
    assert_eq!(m["value"], Value::String(user_id.clone()));
    assert_eq!(m["$ref"], Value::String(user_ref));
    assert_eq!(m["type"], "User");
    assert_eq!(m["display"], "Babs Jensen");
}
