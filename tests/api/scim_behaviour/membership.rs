//! Group membership as Entra drives it: many members per PATCH, removal of
//! only the listed members, all-or-nothing PATCHes, and the inverse
//! `groups` attribute of users.

use std::collections::BTreeSet;

use serde_json::json;

use super::{member_ids, patch_body, read};
use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    other_membership_forms,
    members_are_added_and_removed_exactly_as_listed,
    a_patch_with_an_unknown_member_changes_nothing,
    deleting_a_member_leaves_every_group,
    nested_groups_and_projections
);

async fn members_are_added_and_removed_exactly_as_listed(app: TestApp) {
    let group = app.create_group("Everyone").await;
    let mut users = Vec::new();
    for i in 0..30 {
        users.push(app.create_user(&format!("member{i:02}@example.com")).await);
    }
    let value: Vec<_> = users.iter().map(|u| json!({"value": u})).collect();
    app.patch(
        &format!("/Groups/{group}"),
        &patch_body(json!([{"op": "Add", "path": "members", "value": value}])),
    )
    .await
    .expect(204);
    let all: BTreeSet<String> = users.iter().cloned().collect();
    assert_eq!(member_ids(&app, &group).await, all);

    // Adding someone already there again is harmless.
    app.patch(
        &format!("/Groups/{group}"),
        &patch_body(json!([{"op": "add", "path": "members", "value": [{"value": users[0]}]}])),
    )
    .await
    .expect(204);
    assert_eq!(member_ids(&app, &group).await.len(), 30);

    // Entra's remove: the value lists who leaves; everyone else stays.
    app.patch(
        &format!("/Groups/{group}"),
        &patch_body(json!([{"op": "Remove", "path": "members",
                            "value": [{"$ref": null, "value": users[3]}, {"value": users[7]}]}])),
    )
    .await
    .expect(204);
    let mut expected = all.clone();
    expected.remove(&users[3]);
    expected.remove(&users[7]);
    assert_eq!(member_ids(&app, &group).await, expected);

    // The filtered-path form.
    app.patch(
        &format!("/Groups/{group}"),
        &patch_body(
            json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", users[11])}]),
        ),
    )
    .await
    .expect(204);
    expected.remove(&users[11]);
    assert_eq!(member_ids(&app, &group).await, expected);

    // A user lists the groups it is in.
    let u = read(&app, &format!("/Users/{}", users[0])).await;
    assert_eq!(u["groups"][0]["value"], group.as_str(), "{u}");
    assert_eq!(u["groups"][0]["display"], "Everyone");
    let gone = read(&app, &format!("/Users/{}", users[3])).await;
    assert!(gone.get("groups").is_none_or(|g| g == &json!([])), "{gone}");

    // Remove with no value: everyone leaves.
    app.patch(
        &format!("/Groups/{group}"),
        &patch_body(json!([{"op": "remove", "path": "members"}])),
    )
    .await
    .expect(204);
    assert!(member_ids(&app, &group).await.is_empty());
    // The users themselves are untouched.
    assert_eq!(read(&app, "/Users?count=0").await["totalResults"], 30);
}

async fn a_patch_with_an_unknown_member_changes_nothing(app: TestApp) {
    let group = app.create_group("Stable").await;
    let a = app.create_user("a@example.com").await;
    let b = app.create_user("b@example.com").await;
    app.patch(
        &format!("/Groups/{group}"),
        &patch_body(json!([{"op": "add", "path": "members", "value": [{"value": a}]}])),
    )
    .await
    .expect(204);
    let path = format!("/Groups/{group}");
    let before = read(&app, &path).await;

    let unknown = "ffffffffffffffffffffffffffffffff";
    let r = app
        .patch(
            &path,
            &patch_body(json!([
                {"op": "replace", "path": "displayName", "value": "Renamed"},
                {"op": "remove", "path": "members", "value": [{"value": a}]},
                {"op": "add", "path": "members", "value": [{"value": b}, {"value": unknown}]}
            ])),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
    assert!(
        r.body["detail"].as_str().unwrap().contains(unknown),
        "the error names the unknown member: {}",
        r.text
    );
    assert_eq!(
        read(&app, &path).await,
        before,
        "nothing of the PATCH applied"
    );
    assert_eq!(
        read(&app, "/Groups?filter=displayName+eq+%22Renamed%22").await["totalResults"],
        0
    );

    // A group cannot contain itself.
    app.patch(
        &path,
        &patch_body(json!([{"op": "add", "path": "members", "value": [{"value": group}]}])),
    )
    .await
    .expect_error(400, Some("invalidValue"));
    assert_eq!(read(&app, &path).await, before);
}

async fn deleting_a_member_leaves_every_group(app: TestApp) {
    let leaver = app.create_user("leaver@example.com").await;
    let stayer = app.create_user("stayer@example.com").await;
    let mut groups = Vec::new();
    for name in ["One", "Two", "Three"] {
        let g = app.create_group(name).await;
        app.patch(
            &format!("/Groups/{g}"),
            &patch_body(json!([{"op": "add", "path": "members",
                                "value": [{"value": leaver}, {"value": stayer}]}])),
        )
        .await
        .expect(204);
        groups.push(g);
    }
    assert_eq!(
        read(&app, &format!("/Users/{leaver}")).await["groups"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    app.delete(&format!("/Users/{leaver}")).await.expect(204);
    for g in &groups {
        assert_eq!(member_ids(&app, g).await, BTreeSet::from([stayer.clone()]));
    }
    // Deleting a group leaves its members' `groups`.
    app.delete(&format!("/Groups/{}", groups[0]))
        .await
        .expect(204);
    let s = read(&app, &format!("/Users/{stayer}")).await;
    let in_groups: BTreeSet<String> = s["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        in_groups,
        BTreeSet::from([groups[1].clone(), groups[2].clone()])
    );
}

async fn nested_groups_and_projections(app: TestApp) {
    let outer = app.create_group("Outer").await;
    let inner = app.create_group("Inner").await;
    let user = app.create_user("nested@example.com").await;
    app.patch(
        &format!("/Groups/{outer}"),
        &patch_body(json!([{"op": "add", "path": "members",
                            "value": [{"value": inner}, {"value": user}]}])),
    )
    .await
    .expect(204);
    let o = read(&app, &format!("/Groups/{outer}")).await;
    let members = o["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    let inner_m = members
        .iter()
        .find(|m| m["value"] == inner.as_str())
        .unwrap();
    assert_eq!(inner_m["type"], "Group");
    assert_eq!(inner_m["display"], "Inner");
    assert!(
        inner_m["$ref"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/Groups/{inner}"))
    );
    let user_m = members
        .iter()
        .find(|m| m["value"] == user.as_str())
        .unwrap();
    assert_eq!(user_m["type"], "User");
    assert!(
        user_m["$ref"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/Users/{user}"))
    );

    // Groups created with members, and PUT replacing them.
    let r = app
        .post(
            "/Groups",
            &json!({"displayName": "Created Full", "members": [{"value": user}]}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["members"][0]["value"], user.as_str());
    let full = r.body["id"].as_str().unwrap().to_string();
    app.put(
        &format!("/Groups/{full}"),
        &json!({"displayName": "Created Full", "members": [{"value": inner}]}),
    )
    .await
    .expect(200);
    assert_eq!(
        member_ids(&app, &full).await,
        BTreeSet::from([inner.clone()])
    );

    // excludedAttributes=members, on a read and on a list.
    let r = read(&app, &format!("/Groups/{outer}?excludedAttributes=members")).await;
    assert!(r.get("members").is_none(), "{r}");
    assert_eq!(r["displayName"], "Outer");
    let l = read(&app, "/Groups?excludedAttributes=members").await;
    assert_eq!(l["totalResults"], 3);
    for g in l["Resources"].as_array().unwrap() {
        assert!(g.get("members").is_none(), "{g}");
        assert!(g.get("displayName").is_some());
    }
    // attributes=members still shows them.
    let r = read(&app, &format!("/Groups/{outer}?attributes=members")).await;
    assert_eq!(r["members"].as_array().unwrap().len(), 2);
    assert!(r.get("displayName").is_none());
    assert_eq!(r["id"], outer.as_str());
    // The user's groups.
    let u = read(&app, &format!("/Users/{user}")).await;
    let gs: BTreeSet<String> = u["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(gs, BTreeSet::from([outer.clone()]));
    let u = read(&app, &format!("/Users/{user}?excludedAttributes=groups")).await;
    assert!(u.get("groups").is_none());
}

async fn other_membership_forms(app: TestApp) {
    let g = app.create_group("Forms").await;
    let path = format!("/Groups/{g}");
    let a = app.create_user("a@example.com").await;
    let b = app.create_user("b@example.com").await;
    let c = app
        .post(
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "c@example.com", "displayName": "Charlie"}),
        )
        .await;
    c.expect(201);
    let c = c.body["id"].as_str().unwrap().to_string();

    // Pathless add with a members list, and a single member object.
    app.patch(
        &path,
        &patch_body(json!([{"op": "add", "value": {"members": [{"value": a}]}}])),
    )
    .await
    .expect(204);
    app.patch(
        &path,
        &patch_body(json!([{"op": "add", "path": "members", "value": {"value": b}}])),
    )
    .await
    .expect(204);
    assert_eq!(
        member_ids(&app, &g).await,
        BTreeSet::from([a.clone(), b.clone()])
    );

    // Replace sets the list exactly.
    app.patch(
        &path,
        &patch_body(json!([{"op": "replace", "path": "members",
                            "value": [{"value": b}, {"value": c}]}])),
    )
    .await
    .expect(204);
    assert_eq!(
        member_ids(&app, &g).await,
        BTreeSet::from([b.clone(), c.clone()])
    );

    // Filters on other member attributes, and with or.
    app.patch(
        &path,
        &patch_body(json!([{"op": "remove", "path": "members[display eq \"Charlie\"]"}])),
    )
    .await
    .expect(204);
    assert_eq!(member_ids(&app, &g).await, BTreeSet::from([b.clone()]));
    app.patch(
        &path,
        &patch_body(
            json!([{"op": "add", "path": "members", "value": [{"value": a}, {"value": c}]}]),
        ),
    )
    .await
    .expect(204);
    app.patch(
        &path,
        &patch_body(json!([{"op": "remove",
                            "path": format!("members[value eq \"{a}\" or value eq \"{c}\"]")}])),
    )
    .await
    .expect(204);
    assert_eq!(member_ids(&app, &g).await, BTreeSet::from([b.clone()]));

    // Pathless replace carrying the group's own id (Entra echoes it).
    app.patch(
        &path,
        &patch_body(json!([{"op": "Replace", "value": {"id": g, "displayName": "Forms Renamed"}}])),
    )
    .await
    .expect(204);
    let r = read(&app, &path).await;
    assert_eq!(r["displayName"], "Forms Renamed");
    assert_eq!(r["id"], g.as_str());
    // Removing someone who is not a member is not an error.
    app.patch(
        &path,
        &patch_body(json!([{"op": "remove", "path": "members", "value": [{"value": a}]}])),
    )
    .await
    .expect(204);
    assert_eq!(member_ids(&app, &g).await, BTreeSet::from([b.clone()]));
}
