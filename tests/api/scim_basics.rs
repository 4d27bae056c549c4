//! Smoke-level checks of the SCIM API that every other module relies on.

use serde_json::json;

use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    create_read_filter_delete_user,
    test_connection_query_is_empty_list
);

async fn create_read_filter_delete_user(app: TestApp) {
    let created = app
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "Alice@Example.com",
                "active": "True",
                "emails": [{"type": "work", "value": "alice@example.com", "primary": true}],
            }),
        )
        .await;
    created.expect(201);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["active"], true);
    assert_eq!(
        created.header("content-type"),
        Some("application/scim+json")
    );
    assert_eq!(
        created.header("location"),
        Some(app.scim_url(&format!("/Users/{id}")).as_str())
    );

    let read = app.get(&format!("/Users/{id}")).await;
    read.expect(200);
    assert_eq!(read.body["userName"], "Alice@Example.com");
    assert_eq!(read.body["meta"]["resourceType"], "User");

    let found = app
        .get("/Users?filter=userName+eq+%22alice@example.COM%22")
        .await;
    found.expect(200);
    assert_eq!(found.body["totalResults"], 1);
    assert_eq!(found.body["Resources"][0]["id"], id.as_str());

    app.delete(&format!("/Users/{id}")).await.expect(204);
    app.get(&format!("/Users/{id}"))
        .await
        .expect_error(404, None);
}

async fn test_connection_query_is_empty_list(app: TestApp) {
    let r = app
        .get("/Users?filter=userName+eq+%229d7e6c1b-2f7e-4c55-9d8a-0f7c1a2b3c4d%22")
        .await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(r.body["Resources"], json!([]));
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
}
