//! Every write leaves an activity entry that names the operation, the
//! resource, the outcome and the Entra quirks normalised; rejected writes
//! are recorded and change nothing. Also: disabled users stay visible, and
//! passwords are never stored or returned.

use scimgate::store::activity::{self, Recorded};
use scimgate::store::resources;
use scimgate::store::sql::Table;
use serde_json::{Value, json};

use super::{USER_SCHEMA, names, patch_body, read, set};
use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    writes_are_recorded_with_their_quirks,
    disabled_users_stay_readable_and_filterable,
    passwords_are_never_stored_or_returned
);

/// The latest write's entry. Reads are logged too, but by a background
/// writer that may flush a read after a later write: they are skipped.
async fn latest(app: &TestApp) -> Recorded {
    activity::recent(&app.db, &app.tenant.id, 50)
        .await
        .unwrap()
        .into_iter()
        .find(|e| {
            !e.operation.ends_with(".get")
                && !e.operation.ends_with(".list")
                && !e.operation.ends_with(".search")
        })
        .expect("an activity entry of a write")
}

fn quirks(e: &Recorded) -> Value {
    e.quirks
        .as_deref()
        .map(|q| serde_json::from_str(q).unwrap())
        .unwrap_or(json!({}))
}

async fn writes_are_recorded_with_their_quirks(app: TestApp) {
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA, "urn:example:unknown:1.0"], "userName": "act@example.com",
                    "active": "True", "favouriteColour": "teal", "title": null}),
        )
        .await;
    r.expect(201);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(r.body.get("favouriteColour").is_none());
    let e = latest(&app).await;
    assert_eq!(e.operation, "user.create");
    assert_eq!(e.status, 201);
    assert_eq!(e.outcome, "success");
    assert_eq!(e.resource_type.as_deref(), Some("User"));
    assert_eq!(e.resource_id.as_deref(), Some(id.as_str()));
    assert_eq!(e.resource_label.as_deref(), Some("act@example.com"));
    assert_eq!(e.actor_kind, "token");
    assert_eq!(quirks(&e)["boolean-string"], 1, "{:?}", e.quirks);
    let ignored = e.ignored_attributes.clone().unwrap_or_default();
    assert!(ignored.contains("favouriteColour"), "ignored: {ignored}");

    let r = app
        .patch(
            &format!("/Users/{id}"),
            &patch_body(json!([
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Add", "path": "title", "value": "Lead"}
            ])),
        )
        .await;
    r.expect(200);
    let e = latest(&app).await;
    assert_eq!(e.operation, "user.patch");
    assert_eq!(e.status, 200);
    assert_eq!(e.resource_id.as_deref(), Some(id.as_str()));
    let q = quirks(&e);
    assert_eq!(q["op-case"], 2, "{q}");
    assert_eq!(q["boolean-string"], 1, "{q}");

    // A rejected write: recorded as a failure, nothing changed.
    let before = read(&app, &format!("/Users/{id}")).await;
    app.post(
        "/Users",
        &json!({"schemas": [USER_SCHEMA], "userName": "ACT@example.com"}),
    )
    .await
    .expect_error(409, Some("uniqueness"));
    let e = latest(&app).await;
    assert_eq!(e.operation, "user.create");
    assert_eq!(e.status, 409);
    assert_eq!(e.outcome, "failure");
    assert!(
        e.detail.as_deref().unwrap_or_default().contains("already"),
        "{:?}",
        e.detail
    );
    app.patch(
        &format!("/Users/{id}"),
        &patch_body(json!([{"op": "replace", "path": "active", "value": "sometimes"}])),
    )
    .await
    .expect_error(400, Some("invalidValue"));
    let e = latest(&app).await;
    assert_eq!(e.operation, "user.patch");
    assert_eq!(e.status, 400);
    assert_eq!(e.outcome, "failure");
    assert_eq!(e.resource_id.as_deref(), Some(id.as_str()));
    assert_eq!(read(&app, &format!("/Users/{id}")).await, before);
    assert_eq!(read(&app, "/Users?count=0").await["totalResults"], 1);

    // Attributes outside the schema are ignored and named.
    app.patch(
        &format!("/Users/{id}"),
        &patch_body(json!([{"op": "replace", "path": "shoeSize", "value": 44}])),
    )
    .await
    .expect(200);
    let e = latest(&app).await;
    assert_eq!((e.operation.as_str(), e.status), ("user.patch", 200));
    let ignored = e.ignored_attributes.clone().unwrap_or_default();
    assert!(ignored.contains("shoeSize"), "ignored: {ignored}");
    assert_eq!(read(&app, &format!("/Users/{id}")).await, before);

    // Group writes, PUT and DELETE.
    let g = app.create_group("Audited").await;
    assert_eq!(latest(&app).await.operation, "group.create");
    app.patch(
        &format!("/Groups/{g}"),
        &patch_body(json!([{"op": "add", "path": "members", "value": [{"value": id}]}])),
    )
    .await
    .expect(204);
    let e = latest(&app).await;
    assert_eq!(e.operation, "group.patch");
    assert!(
        e.detail.as_deref().unwrap().contains("+1"),
        "{:?}",
        e.detail
    );
    app.put(
        &format!("/Users/{id}"),
        &json!({"schemas": [USER_SCHEMA], "userName": "act@example.com"}),
    )
    .await
    .expect(200);
    assert_eq!(latest(&app).await.operation, "user.replace");
    app.delete(&format!("/Groups/{g}")).await.expect(204);
    let e = latest(&app).await;
    assert_eq!(e.operation, "group.delete");
    assert_eq!(e.status, 204);
    assert_eq!(e.resource_label.as_deref(), Some("Audited"));
    app.delete(&format!("/Groups/{g}"))
        .await
        .expect_error(404, None);
    let e = latest(&app).await;
    assert_eq!((e.operation.as_str(), e.status), ("group.delete", 404));
}

async fn disabled_users_stay_readable_and_filterable(app: TestApp) {
    let id = app.create_user("sleeper@example.com").await;
    app.create_user("awake@example.com").await;
    let path = format!("/Users/{id}");
    let r = app
        .patch(
            &path,
            &patch_body(json!([{"op": "Replace", "path": "active", "value": false}])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["active"], false);
    let u = read(&app, &path).await;
    assert_eq!(u["active"], false);
    assert_eq!(u["userName"], "sleeper@example.com");
    assert_eq!(
        names(&app, "Users", "active eq false").await,
        set(&["sleeper@example.com"])
    );
    assert_eq!(
        names(&app, "Users", "userName eq \"sleeper@example.com\"").await,
        set(&["sleeper@example.com"])
    );
    assert_eq!(read(&app, "/Users").await["totalResults"], 2);

    let r = app
        .patch(
            &path,
            &patch_body(json!([{"op": "replace", "path": "active", "value": "true"}])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["active"], true);
    assert_eq!(names(&app, "Users", "active eq false").await, set(&[]));
    assert_eq!(
        names(&app, "Users", "active eq true").await,
        set(&["sleeper@example.com", "awake@example.com"])
    );
    // The pathless form disables too.
    app.patch(
        &path,
        &patch_body(json!([{"op": "replace", "value": {"active": "False"}}])),
    )
    .await
    .expect(200);
    assert_eq!(read(&app, &path).await["active"], false);
}

async fn stored_doc(app: &TestApp, id: &str) -> String {
    resources::get(&app.db, Table::Users, &app.tenant.id, id)
        .await
        .unwrap()
        .expect("stored row")
        .doc
}

async fn passwords_are_never_stored_or_returned(app: TestApp) {
    let secret = "Tr0ub4dor&3-horse";
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": "pw@example.com", "password": secret}),
        )
        .await;
    r.expect(201);
    assert!(
        !r.text.contains(secret) && r.body.get("password").is_none(),
        "{}",
        r.text
    );
    let id = r.body["id"].as_str().unwrap().to_string();
    let doc = stored_doc(&app, &id).await;
    assert!(!doc.contains(secret), "stored: {doc}");
    assert!(!doc.to_lowercase().contains("password"), "stored: {doc}");
    assert!(
        app.get(&format!("/Users/{id}"))
            .await
            .body
            .get("password")
            .is_none()
    );

    let r = app
        .put(
            &format!("/Users/{id}"),
            &json!({"schemas": [USER_SCHEMA], "userName": "pw@example.com", "password": secret}),
        )
        .await;
    r.expect(200);
    assert!(!r.text.contains(secret));
    let r = app
        .patch(
            &format!("/Users/{id}"),
            &patch_body(
                json!([{"op": "replace", "path": "password", "value": secret},
                               {"op": "replace", "value": {"password": secret}}]),
            ),
        )
        .await;
    r.expect(200);
    assert!(!r.text.contains(secret));
    let doc = stored_doc(&app, &id).await;
    assert!(
        !doc.contains(secret) && !doc.to_lowercase().contains("password"),
        "stored: {doc}"
    );
    // Not in the activity log either.
    for e in activity::recent(&app.db, &app.tenant.id, 10).await.unwrap() {
        let all = format!("{e:?}");
        assert!(!all.contains(secret), "activity: {all}");
    }
    // Nor findable by filter.
    let r = app
        .get(&format!(
            "/Users?filter={}",
            super::enc(&format!("password eq \"{secret}\""))
        ))
        .await;
    if r.status.as_u16() == 200 {
        assert_eq!(r.body["totalResults"], 0);
    } else {
        r.expect_error(400, Some("invalidFilter"));
    }
}
