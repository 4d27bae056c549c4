//! Two tenants on one server: nothing of one is visible to, or changeable
//! by, the other, and an id of the other tenant is indistinguishable from an
//! id that does not exist.

use reqwest::Method;
use serde_json::{Value, json};

use super::{GROUP_SCHEMA, USER_SCHEMA, enc, patch_body, read};
use crate::helpers::{Reply, TestApp};
use crate::on_both_databases;

on_both_databases!(tenants_see_and_touch_only_their_own_resources);

/// The error of a reply with the id in it replaced, to compare two errors.
fn shape(r: &Reply, id: &str) -> (u16, Value) {
    let mut body = r.body.clone();
    if let Some(d) = body["detail"].as_str() {
        body["detail"] = Value::String(d.replace(id, "<id>"));
    }
    (r.status.as_u16(), body)
}

async fn tenants_see_and_touch_only_their_own_resources(app: TestApp) {
    let user = app.create_user("shared@example.com").await;
    let group = app.create_group("Shared Group").await;
    app.patch(
        &format!("/Groups/{group}"),
        &patch_body(json!([{"op": "add", "path": "members", "value": [{"value": user}]}])),
    )
    .await
    .expect(204);
    let user_before = read(&app, &format!("/Users/{user}")).await;
    let group_before = read(&app, &format!("/Groups/{group}")).await;

    let (_, b) = app.other_tenant("beta").await;
    let missing = "0f0e0d0c0b0a09080706050403020100";

    for (resource, id) in [("Users", &user), ("Groups", &group)] {
        let body = if resource == "Users" {
            json!({"schemas": [USER_SCHEMA], "userName": "taken-over@example.com"})
        } else {
            json!({"schemas": [GROUP_SCHEMA], "displayName": "taken over"})
        };
        let patch = patch_body(json!([{"op": "replace", "path": "externalId", "value": "x"}]));
        let requests: [(Method, Option<&Value>); 4] = [
            (Method::GET, None),
            (Method::PUT, Some(&body)),
            (Method::PATCH, Some(&patch)),
            (Method::DELETE, None),
        ];
        for (method, body) in requests {
            let theirs = app
                .scim_as(&b, method.clone(), &format!("/{resource}/{id}"), body)
                .await;
            theirs.expect_error(404, None);
            let nobody = app
                .scim_as(&b, method.clone(), &format!("/{resource}/{missing}"), body)
                .await;
            assert_eq!(
                shape(&theirs, id),
                shape(&nobody, missing),
                "{method} {resource}: another tenant's id must look like no id at all"
            );
        }
        // Listing, filtering and searching find nothing.
        let list = app
            .scim_as(&b, Method::GET, &format!("/{resource}"), None)
            .await;
        list.expect(200);
        assert_eq!(list.body["totalResults"], 0, "{}", list.text);
        assert_eq!(list.body["Resources"], json!([]));
        let by_name = if resource == "Users" {
            "userName eq \"shared@example.com\""
        } else {
            "displayName eq \"Shared Group\""
        };
        for filter in [
            format!("id eq \"{id}\""),
            by_name.to_string(),
            format!("{by_name} or id pr"),
        ] {
            let r = app
                .scim_as(
                    &b,
                    Method::GET,
                    &format!("/{resource}?filter={}", enc(&filter)),
                    None,
                )
                .await;
            r.expect(200);
            assert_eq!(r.body["totalResults"], 0, "{filter}: {}", r.text);
            let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                "filter": filter});
            for path in [format!("/{resource}/.search"), "/.search".to_string()] {
                let r = app.scim_as(&b, Method::POST, &path, Some(&search)).await;
                r.expect(200);
                assert_eq!(r.body["totalResults"], 0, "{path} {filter}: {}", r.text);
            }
        }
    }

    // Tenant B cannot pull A's user into its own group, in a create, a PUT
    // or a PATCH.
    let bg = app
        .scim_as(
            &b,
            Method::POST,
            "/Groups",
            Some(&json!({"displayName": "Beta Group"})),
        )
        .await;
    bg.expect(201);
    let bg = bg.body["id"].as_str().unwrap().to_string();
    let add = patch_body(json!([{"op": "add", "path": "members", "value": [{"value": user}]}]));
    app.scim_as(&b, Method::PATCH, &format!("/Groups/{bg}"), Some(&add))
        .await
        .expect_error(400, Some("invalidValue"));
    app.scim_as(
        &b,
        Method::PUT,
        &format!("/Groups/{bg}"),
        Some(&json!({"displayName": "Beta Group", "members": [{"value": group}]})),
    )
    .await
    .expect_error(400, Some("invalidValue"));
    app.scim_as(
        &b,
        Method::POST,
        "/Groups",
        Some(&json!({"displayName": "Beta Two", "members": [{"value": user}]})),
    )
    .await
    .expect_error(400, Some("invalidValue"));
    let bgroup = app
        .scim_as(&b, Method::GET, &format!("/Groups/{bg}"), None)
        .await;
    assert_eq!(bgroup.body["members"], json!([]));

    // The same userName and group name may exist in both tenants.
    let twin = app
        .scim_as(
            &b,
            Method::POST,
            "/Users",
            Some(&json!({"schemas": [USER_SCHEMA], "userName": "SHARED@example.com"})),
        )
        .await;
    twin.expect(201);
    assert_ne!(twin.body["id"], user.as_str());
    app.scim_as(
        &b,
        Method::POST,
        "/Groups",
        Some(&json!({"displayName": "shared group"})),
    )
    .await
    .expect(201);
    let mine = app
        .scim_as(
            &b,
            Method::GET,
            &format!(
                "/Users?filter={}",
                enc("userName eq \"shared@example.com\"")
            ),
            None,
        )
        .await;
    assert_eq!(mine.body["totalResults"], 1);
    assert_eq!(mine.body["Resources"][0]["id"], twin.body["id"]);

    // A's resources are exactly as they were.
    assert_eq!(read(&app, &format!("/Users/{user}")).await, user_before);
    assert_eq!(read(&app, &format!("/Groups/{group}")).await, group_before);
    assert_eq!(read(&app, "/Users").await["totalResults"], 1);
    assert_eq!(read(&app, "/Groups").await["totalResults"], 1);
}
