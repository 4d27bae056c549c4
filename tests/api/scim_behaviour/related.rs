//! The relation between users and groups seen from the user's side:
//! `groups` is read-only, computed, filterable, and survives a PUT.

use serde_json::json;

use super::{USER_SCHEMA, enc, member_ids, names, patch_body, read, set};
use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(user_groups_are_computed_and_filterable);

async fn user_groups_are_computed_and_filterable(app: TestApp) {
    let u = app.create_user("rel@example.com").await;
    app.create_user("other@example.com").await;
    let g = app.create_group("Rel Group").await;
    app.patch(
        &format!("/Groups/{g}"),
        &patch_body(json!([{"op": "add", "path": "members", "value": [{"value": u}]}])),
    )
    .await
    .expect(204);

    assert_eq!(
        names(&app, "Users", &format!("groups.value eq \"{g}\"")).await,
        set(&["rel@example.com"])
    );
    assert_eq!(
        names(&app, "Users", &format!("groups[value eq \"{g}\"]")).await,
        set(&["rel@example.com"])
    );
    assert_eq!(
        names(&app, "Users", "groups pr").await,
        set(&["rel@example.com"])
    );
    // The filter works also when the listing leaves groups out.
    let r = read(
        &app,
        &format!(
            "/Users?excludedAttributes=groups&filter={}",
            enc(&format!("groups.value eq \"{g}\""))
        ),
    )
    .await;
    assert_eq!(r["totalResults"], 1);
    assert!(r["Resources"][0].get("groups").is_none());

    // A PUT of the user (which cannot carry its groups) keeps them; groups
    // sent by the client are ignored.
    let r = app
        .put(
            &format!("/Users/{u}"),
            &json!({"schemas": [USER_SCHEMA], "userName": "rel@example.com",
                    "groups": [{"value": "someone-else"}]}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["groups"][0]["value"], g.as_str(), "{}", r.text);
    assert_eq!(r.body["groups"].as_array().unwrap().len(), 1);
    assert_eq!(member_ids(&app, &g).await.len(), 1);
    // PATCH of groups on a user does not change membership.
    let r = app
        .patch(
            &format!("/Users/{u}"),
            &patch_body(json!([{"op": "remove", "path": "groups"}])),
        )
        .await;
    // Read-only: ignored like the other read-only attributes Entra echoes.
    r.expect(200);
    assert_eq!(r.body["groups"][0]["value"], g.as_str(), "{}", r.text);
    assert_eq!(member_ids(&app, &g).await.len(), 1);
    // A PUT of the group that omits members keeps them; one that lists
    // them replaces them.
    app.put(
        &format!("/Groups/{g}"),
        &json!({"displayName": "Rel Group"}),
    )
    .await
    .expect(200);
    assert_eq!(member_ids(&app, &g).await.len(), 1);
    app.put(
        &format!("/Groups/{g}"),
        &json!({"displayName": "Rel Group", "members": []}),
    )
    .await
    .expect(200);
    assert!(member_ids(&app, &g).await.is_empty());
    assert!(
        read(&app, &format!("/Users/{u}"))
            .await
            .get("groups")
            .is_none()
    );

    // Writes answer with the attributes asked for.
    let r = app
        .post(
            "/Users?attributes=userName",
            &json!({"schemas": [USER_SCHEMA], "userName": "few@example.com", "title": "T"}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["userName"], "few@example.com");
    assert!(r.body.get("title").is_none(), "{}", r.text);
    assert!(r.body["id"].is_string());
}
