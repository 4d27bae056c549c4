//! Entra's matching query (`GET /Users?filter=userName eq "…"`, and `id eq`)
//! is answered by one statement that also checks the bearer token: these
//! tests pin that it answers exactly what the general listing answers —
//! tokens refused the same way, tenants kept apart, groups sorted, paging,
//! attribute selection — on both databases.

use reqwest::Method;
use scimgate::store::activity::Actor;
use scimgate::store::tokens;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::on_both_databases;

fn filter_path(filter: &str, extra: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("filter", filter)
        .finish();
    format!("/Users?{q}{extra}")
}

async fn add_member(app: &TestApp, group: &str, user: &str) {
    app.patch(
        &format!("/Groups/{group}"),
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}]
        }),
    )
    .await
    .expect(204);
}

fn names(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap().to_string())
        .collect()
}

async fn matching_query_answers_like_the_general_listing(app: TestApp) {
    let ann = app.create_user("Ann.ONeil@acme.example").await;
    app.create_user("bob@acme.example").await;
    let zeta = app.create_group("Zeta team").await;
    let alpha = app.create_group("alpha team").await;
    add_member(&app, &zeta, &ann).await;
    add_member(&app, &alpha, &ann).await;

    // A hit, case-insensitively, with its groups sorted by display name.
    let hit = app
        .get(&filter_path(r#"userName eq "ann.oneil@ACME.example""#, ""))
        .await;
    hit.expect(200);
    assert_eq!(hit.body["totalResults"], 1);
    assert_eq!(hit.body["itemsPerPage"], 1);
    let user = &hit.body["Resources"][0];
    assert_eq!(user["id"], ann);
    assert_eq!(user["userName"], "Ann.ONeil@acme.example");
    let groups: Vec<&str> = user["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["display"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["alpha team", "Zeta team"]);
    assert_eq!(user["groups"][0]["value"], alpha);
    // The same user read by id has the same representation.
    let by_id = app.get(&format!("/Users/{ann}")).await;
    assert_eq!(by_id.body, *user);
    let by_id_filter = app.get(&filter_path(&format!("id eq \"{ann}\""), "")).await;
    assert_eq!(by_id_filter.body["Resources"][0], *user);

    // A miss (Entra's Test Connection) is an empty list, never null.
    let miss = app
        .get(&filter_path(
            r#"userName eq "6d0b1b5e-0d6c-4f8e-9c39-1f8a3c2b7d11""#,
            "",
        ))
        .await;
    miss.expect(200);
    assert_eq!(miss.body["totalResults"], 0);
    assert_eq!(miss.body["Resources"], json!([]));

    // Paging and attribute selection.
    let second_page = app
        .get(&filter_path(
            r#"userName eq "bob@acme.example""#,
            "&startIndex=2",
        ))
        .await;
    assert_eq!(second_page.body["totalResults"], 1);
    assert_eq!(second_page.body["startIndex"], 2);
    assert_eq!(second_page.body["Resources"], json!([]));
    let counted = app
        .get(&filter_path(
            r#"userName eq "bob@acme.example""#,
            "&count=0",
        ))
        .await;
    assert_eq!(counted.body["totalResults"], 1);
    assert_eq!(counted.body["Resources"], json!([]));
    let slim = app
        .get(&filter_path(
            r#"userName eq "Ann.ONeil@acme.example""#,
            "&attributes=userName",
        ))
        .await;
    let slim_user = slim.body["Resources"][0].as_object().unwrap();
    assert!(slim_user.contains_key("userName") && slim_user.contains_key("id"));
    assert!(!slim_user.contains_key("groups") && !slim_user.contains_key("active"));
    let no_groups = app
        .get(&filter_path(
            r#"userName eq "Ann.ONeil@acme.example""#,
            "&excludedAttributes=groups",
        ))
        .await;
    assert!(no_groups.body["Resources"][0].get("groups").is_none());
    assert_eq!(no_groups.body["Resources"][0]["active"], true);
    assert_eq!(names(&no_groups.body), ["Ann.ONeil@acme.example"]);
}

async fn matching_query_checks_the_token_and_the_tenant(app: TestApp) {
    app.create_user("carol@acme.example").await;
    let path = filter_path(r#"userName eq "carol@acme.example""#, "");

    // Another tenant's token finds nothing of this tenant.
    let (_, other) = app.other_tenant("globex").await;
    let r = app.scim_as(&other, Method::GET, &path, None).await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 0);

    // Unknown, malformed, revoked and expired tokens are 401 invalid_token.
    for token in ["scimgate_sk_unknown0000000000000000000000000000", "x"] {
        let r = app.scim_as(token, Method::GET, &path, None).await;
        r.expect(401);
        assert!(
            r.header("www-authenticate")
                .unwrap()
                .contains("invalid_token")
        );
    }
    let (info, token) = tokens::create_secret_token(
        &app.db,
        &app.tenant.id,
        "soon gone",
        None,
        &Actor::operator(),
    )
    .await
    .unwrap();
    app.scim_as(&token, Method::GET, &path, None)
        .await
        .expect(200);
    tokens::revoke(&app.db, &info.id, &Actor::operator())
        .await
        .unwrap();
    let r = app.scim_as(&token, Method::GET, &path, None).await;
    r.expect(401);
    assert_eq!(r.body["status"], "401");

    let (expiring, token) = tokens::create_secret_token(
        &app.db,
        &app.tenant.id,
        "expired",
        Some(1),
        &Actor::operator(),
    )
    .await
    .unwrap();
    sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE id = $2")
        .bind("2000-01-01T00:00:00.000Z")
        .bind(&expiring.id)
        .execute(app.db.writer())
        .await
        .unwrap();
    app.scim_as(&token, Method::GET, &path, None)
        .await
        .expect(401);

    // No token at all: 401 without invalid_token, before any other check.
    let r = app.client.get(app.scim_url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .get(app.scim_url("/Users?filter=userName%20eq"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // With a valid token the malformed filter is a 400.
    app.get("/Users?filter=userName%20eq")
        .await
        .expect_error(400, Some("invalidFilter"));
}

on_both_databases!(
    matching_query_answers_like_the_general_listing,
    matching_query_checks_the_token_and_the_tenant,
);
