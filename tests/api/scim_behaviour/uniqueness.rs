//! userName (users) and displayName (groups) are unique per tenant, compared
//! case-insensitively, also under concurrent creates and on renames.

use futures_util::future::join_all;
use serde_json::json;

use super::{GROUP_SCHEMA, USER_SCHEMA, names, patch_body, read, set};
use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    duplicate_names_conflict_case_insensitively,
    concurrent_creates_of_one_name_store_one,
    renaming_into_a_taken_name_conflicts_and_changes_nothing
);

async fn duplicate_names_conflict_case_insensitively(app: TestApp) {
    let id = app.create_user("Dup@Example.com").await;
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": "dup@EXAMPLE.com", "externalId": "other"}),
        )
        .await;
    r.expect_error(409, Some("uniqueness"));
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("dup@EXAMPLE.com")
    );
    assert_eq!(
        names(&app, "Users", "userName pr").await,
        set(&["Dup@Example.com"])
    );
    let stored = read(&app, &format!("/Users/{id}")).await;
    assert!(stored.get("externalId").is_none());

    app.create_group("Engineering").await;
    app.post(
        "/Groups",
        &json!({"schemas": [GROUP_SCHEMA], "displayName": "ENGINEERING"}),
    )
    .await
    .expect_error(409, Some("uniqueness"));
    assert_eq!(
        names(&app, "Groups", "displayName pr").await,
        set(&["Engineering"])
    );
}

async fn concurrent_creates_of_one_name_store_one(app: TestApp) {
    // Half of them in another case: still the same name.
    let spellings = ["race@example.com", "RACE@example.com"];
    let user_body = |i: usize| {
        json!({"schemas": [USER_SCHEMA], "userName": spellings[i % spellings.len()],
               "externalId": format!("attempt-{i}")})
    };
    let bodies: Vec<_> = (0..10).map(user_body).collect();
    let replies = join_all(bodies.iter().map(|b| app.post("/Users", b))).await;
    let mut created = 0;
    for r in &replies {
        match r.status.as_u16() {
            201 => created += 1,
            _ => {
                r.expect_error(409, Some("uniqueness"));
            }
        }
    }
    assert_eq!(created, 1, "exactly one create wins");
    let list = read(&app, "/Users?filter=userName+eq+%22race@example.com%22").await;
    assert_eq!(list["totalResults"], 1);
    assert_eq!(read(&app, "/Users").await["totalResults"], 1);

    let group_bodies: Vec<_> = (0..10)
        .map(|i| json!({"schemas": [GROUP_SCHEMA], "displayName": "Racers", "externalId": format!("g{i}")}))
        .collect();
    let replies = join_all(group_bodies.iter().map(|b| app.post("/Groups", b))).await;
    let created = replies.iter().filter(|r| r.status.as_u16() == 201).count();
    for r in replies.iter().filter(|r| r.status.as_u16() != 201) {
        r.expect_error(409, Some("uniqueness"));
    }
    assert_eq!(created, 1);
    assert_eq!(
        names(&app, "Groups", "displayName pr").await,
        set(&["Racers"])
    );
}

async fn renaming_into_a_taken_name_conflicts_and_changes_nothing(app: TestApp) {
    app.create_user("taken@example.com").await;
    let mover = app.create_user("mover@example.com").await;
    let path = format!("/Users/{mover}");
    let before = read(&app, &path).await;

    app.put(
        &path,
        &json!({"schemas": [USER_SCHEMA], "userName": "TAKEN@example.com", "displayName": "Changed"}),
    )
    .await
    .expect_error(409, Some("uniqueness"));
    assert_eq!(read(&app, &path).await, before);

    app.patch(
        &path,
        &patch_body(json!([
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "replace", "path": "userName", "value": "Taken@Example.com"}
        ])),
    )
    .await
    .expect_error(409, Some("uniqueness"));
    assert_eq!(read(&app, &path).await, before);

    // Renaming to itself in another case is not a conflict.
    let r = app
        .patch(
            &path,
            &patch_body(
                json!([{"op": "replace", "path": "userName", "value": "MOVER@example.com"}]),
            ),
        )
        .await;
    r.expect(200);
    assert_eq!(read(&app, &path).await["userName"], "MOVER@example.com");

    app.create_group("Alpha").await;
    let beta = app.create_group("Beta").await;
    let gpath = format!("/Groups/{beta}");
    let gbefore = read(&app, &gpath).await;
    app.patch(
        &gpath,
        &patch_body(json!([{"op": "Replace", "path": "displayName", "value": "alpha"}])),
    )
    .await
    .expect_error(409, Some("uniqueness"));
    app.put(
        &gpath,
        &json!({"schemas": [GROUP_SCHEMA], "displayName": "ALPHA"}),
    )
    .await
    .expect_error(409, Some("uniqueness"));
    assert_eq!(read(&app, &gpath).await, gbefore);
}
