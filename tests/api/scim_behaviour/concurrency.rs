//! Entra sends many requests at once (25/s per tenant and more): concurrent
//! changes to one resource must all land, none lost.

use std::collections::BTreeSet;

use futures_util::future::join_all;
use serde_json::json;

use super::{member_ids, names, patch_body, read, set};
use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(concurrent_patches_of_one_resource_all_land);

async fn concurrent_patches_of_one_resource_all_land(app: TestApp) {
    let group = app.create_group("Busy").await;
    let mut users = Vec::new();
    for i in 0..12 {
        users.push(app.create_user(&format!("busy{i:02}@example.com")).await);
    }
    // Twelve PATCHes adding one member each, all at once.
    let bodies: Vec<_> = users
        .iter()
        .map(|u| patch_body(json!([{"op": "Add", "path": "members", "value": [{"value": u}]}])))
        .collect();
    let gpath = format!("/Groups/{group}");
    for r in join_all(bodies.iter().map(|b| app.patch(&gpath, b))).await {
        r.expect(204);
    }
    let all: BTreeSet<String> = users.iter().cloned().collect();
    assert_eq!(member_ids(&app, &group).await, all);
    assert_eq!(read(&app, &gpath).await["meta"]["version"], "W/\"13\"");

    // Twelve PATCHes of one user, each adding a different phone number.
    let upath = format!("/Users/{}", users[0]);
    let bodies: Vec<_> = (0..12)
        .map(|i| patch_body(json!([{"op": "add", "path": "phoneNumbers",
                                     "value": [{"type": "other", "value": format!("+1 555 01{i:02}")}]}])))
        .collect();
    for r in join_all(bodies.iter().map(|b| app.patch(&upath, b))).await {
        r.expect(200);
    }
    let u = read(&app, &upath).await;
    assert_eq!(u["phoneNumbers"].as_array().unwrap().len(), 12, "{u}");
    assert_eq!(u["meta"]["version"], "W/\"13\"");

    // Removing and renaming concurrently with reads and other writes.
    let half: Vec<_> = users[..6]
        .iter()
        .map(|u| {
            patch_body(json!([{"op": "remove", "path": format!("members[value eq \"{u}\"]")}]))
        })
        .collect();
    let rename = patch_body(json!([{"op": "replace", "path": "displayName", "value": "Busier"}]));
    let (removed, renamed, listed) = tokio::join!(
        join_all(half.iter().map(|b| app.patch(&gpath, b))),
        app.patch(&gpath, &rename),
        join_all((0..6).map(|_| app.get("/Groups?excludedAttributes=members"))),
    );
    for r in removed {
        r.expect(204);
    }
    renamed.expect(204);
    for r in listed {
        r.expect(200);
        assert_eq!(r.body["totalResults"], 1);
    }
    let rest: BTreeSet<String> = users[6..].iter().cloned().collect();
    assert_eq!(member_ids(&app, &group).await, rest);
    assert_eq!(
        names(&app, "Groups", "displayName pr").await,
        set(&["Busier"])
    );
}
