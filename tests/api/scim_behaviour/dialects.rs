//! The Entra dialects of the contract (§4) and Microsoft's gallery
//! validator checks (§5), end to end: what is sent, what is stored, what is
//! read back.

use serde_json::json;

use super::{ENTERPRISE, USER_SCHEMA, create_user_with, patch_body, read};
use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    empty_and_null_values_clear_attributes,
    filtered_paths_create_missing_elements,
    bodies_are_case_insensitive_and_booleans_normalised
);

async fn empty_and_null_values_clear_attributes(app: TestApp) {
    let boss = app.create_user("boss@example.com").await;
    let id = create_user_with(
        &app,
        json!({"schemas": [USER_SCHEMA, ENTERPRISE], "userName": "clear@example.com",
               "title": "Lead", "nickName": "Nick", "displayName": "Clear Me",
               "name": {"givenName": "Cle", "familyName": "Ar"},
               ENTERPRISE: {"department": "Ops", "manager": {"value": boss}}}),
    )
    .await;
    let path = format!("/Users/{id}");
    let r = app
        .patch(
            &path,
            &patch_body(json!([
                {"op": "replace", "path": "title", "value": ""},
                {"op": "replace", "path": "nickName", "value": null},
                {"op": "Replace", "path": "name.givenName", "value": ""},
                {"op": "replace", "value": {"displayName": null}},
                {"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": ""}
            ])),
        )
        .await;
    r.expect(200);
    let u = read(&app, &path).await;
    for gone in ["title", "nickName", "displayName"] {
        assert!(u.get(gone).is_none(), "{gone} must be cleared: {u}");
    }
    assert_eq!(u["name"], json!({"familyName": "Ar"}));
    assert!(u[ENTERPRISE].get("department").is_none(), "{u}");
    assert_eq!(u[ENTERPRISE]["manager"]["value"], boss.as_str());

    // Manager: set, change, remove (as a replace with an empty value).
    let boss2 = app.create_user("boss2@example.com").await;
    app.patch(
        &path,
        &patch_body(
            json!([{"op": "replace", "path": format!("{ENTERPRISE}:manager"),
                            "value": {"value": boss2}}]),
        ),
    )
    .await
    .expect(200);
    assert_eq!(
        read(&app, &path).await[ENTERPRISE]["manager"]["value"],
        boss2.as_str()
    );
    for empty in [json!(""), json!({"value": ""}), json!(null)] {
        app.patch(
            &path,
            &patch_body(
                json!([{"op": "replace", "path": format!("{ENTERPRISE}:manager"),
                                "value": {"value": boss}}]),
            ),
        )
        .await
        .expect(200);
        let r = app
            .patch(
                &path,
                &patch_body(
                    json!([{"op": "Replace", "path": format!("{ENTERPRISE}:manager"),
                                    "value": empty}]),
                ),
            )
            .await;
        r.expect(200);
        let u = read(&app, &path).await;
        assert!(
            u.get(ENTERPRISE).is_none_or(|e| e.get("manager").is_none()),
            "manager replaced with {empty} must be removed: {u}"
        );
    }
    app.patch(
        &path,
        &patch_body(json!([{"op": "add", "path": format!("{ENTERPRISE}:manager"), "value": boss}])),
    )
    .await
    .expect(200);
    app.patch(
        &path,
        &patch_body(json!([{"op": "remove", "path": format!("{ENTERPRISE}:manager")}])),
    )
    .await
    .expect(200);
    let u = read(&app, &path).await;
    assert!(
        u.get(ENTERPRISE).is_none_or(|e| e.get("manager").is_none()),
        "{u}"
    );
}

async fn filtered_paths_create_missing_elements(app: TestApp) {
    let id = app.create_user("paths@example.com").await;
    let path = format!("/Users/{id}");
    app.patch(
        &path,
        &patch_body(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "w@example.com"},
            {"op": "Replace", "path": "emails[type eq \"work\"].primary", "value": "True"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"},
            {"op": "Replace", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555 0199"},
            {"op": "Replace", "path": "addresses[type eq \"work\"].postalCode", "value": "98052"},
            {"op": "Replace", "path": "addresses[type eq \"work\"].locality", "value": "Redmond"}
        ])),
    )
    .await
    .expect(200);
    let u = read(&app, &path).await;
    assert_eq!(
        u["emails"],
        json!([{"type": "work", "value": "w@example.com", "primary": true}]),
        "{u}"
    );
    let phones = u["phoneNumbers"].as_array().unwrap();
    assert_eq!(phones.len(), 2, "{u}");
    assert!(
        phones
            .iter()
            .any(|p| p["type"] == "mobile" && p["value"] == "+1 555 0100")
    );
    assert!(
        phones
            .iter()
            .any(|p| p["type"] == "work" && p["value"] == "+1 555 0199")
    );
    let addresses = u["addresses"].as_array().unwrap();
    assert_eq!(addresses.len(), 1, "{u}");
    assert_eq!(addresses[0]["postalCode"], "98052");
    assert_eq!(addresses[0]["locality"], "Redmond");
    assert_eq!(addresses[0]["type"], "work");
    // Found by the work e-mail Entra matches on.
    let r = read(
        &app,
        "/Users?filter=emails%5Btype+eq+%22work%22%5D.value+eq+%22W%40example.com%22",
    )
    .await;
    assert_eq!(r["totalResults"], 1);
    // Replacing the existing element changes it in place.
    app.patch(
        &path,
        &patch_body(json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "w2@example.com"}])),
    )
    .await
    .expect(200);
    let u = read(&app, &path).await;
    assert_eq!(
        u["emails"],
        json!([{"type": "work", "value": "w2@example.com", "primary": true}])
    );
    let r = read(
        &app,
        "/Users?filter=emails%5Btype+eq+%22work%22%5D.value+eq+%22w%40example.com%22",
    )
    .await;
    assert_eq!(r["totalResults"], 0, "the old address no longer matches");

    // roles[primary eq "True"].value
    app.patch(
        &path,
        &patch_body(json!([{"op": "add", "path": "roles", "value": [{"value": "Reader", "primary": "True"}]}])),
    )
    .await
    .expect(200);
    app.patch(
        &path,
        &patch_body(json!([{"op": "Replace", "path": "roles[primary eq \"True\"].value", "value": "Writer"}])),
    )
    .await
    .expect(200);
    let u = read(&app, &path).await;
    assert_eq!(
        u["roles"],
        json!([{"value": "Writer", "primary": true}]),
        "{u}"
    );
}

async fn bodies_are_case_insensitive_and_booleans_normalised(app: TestApp) {
    let r = app
        .post(
            "/Users",
            &json!({"SCHEMAS": [USER_SCHEMA], "USERNAME": "Case@Example.com", "Active": "FALSE",
                    "Emails": [{"Value": "case@example.com", "TYPE": "work", "Primary": "true"}],
                    "NAME": {"GIVENNAME": "Ca"},
                    "id": "client-chosen", "meta": {"resourceType": "User", "version": "W/\"42\""},
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"EmployeeNumber": "7"}}),
        )
        .await;
    r.expect(201);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_ne!(id, "client-chosen");
    let u = read(&app, &format!("/Users/{id}")).await;
    assert_eq!(u["userName"], "Case@Example.com");
    assert_eq!(u["active"], false);
    assert_eq!(
        u["emails"],
        json!([{"value": "case@example.com", "type": "work", "primary": true}])
    );
    assert_eq!(u["name"], json!({"givenName": "Ca"}));
    assert_eq!(u[ENTERPRISE]["employeeNumber"], "7", "{u}");
    assert_eq!(u["meta"]["version"], "W/\"1\"");
    assert!(
        u["schemas"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == ENTERPRISE),
        "{u}"
    );
    // PUT with string booleans too, and a nested-object pathless PATCH.
    app.put(
        &format!("/Users/{id}"),
        &json!({"schemas": [USER_SCHEMA], "userName": "Case@Example.com", "active": "True"}),
    )
    .await
    .expect(200);
    assert_eq!(read(&app, &format!("/Users/{id}")).await["active"], true);
    app.patch(
        &format!("/Users/{id}"),
        &patch_body(json!([{"op": "Add", "value": {"name": {"familyName": "Se"},
                            ENTERPRISE: {"costCenter": "CC1"}}}])),
    )
    .await
    .expect(200);
    let u = read(&app, &format!("/Users/{id}")).await;
    assert_eq!(u["name"]["familyName"], "Se");
    assert_eq!(u[ENTERPRISE]["costCenter"], "CC1");
    // The unknown Microsoft group schema and members: [] on create.
    let g = app
        .post(
            "/Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                                "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                    "displayName": "Entra Group", "members": []}),
        )
        .await;
    g.expect(201);
    assert_eq!(g.body["members"], json!([]));
    assert_eq!(
        g.body["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:Group"])
    );
}
