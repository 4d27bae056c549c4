//! Every SCIM endpoint, discovery included, refuses a missing, unknown,
//! revoked or expired token with 401, a Bearer challenge and a SCIM error
//! that says nothing about tenants.

use reqwest::Method;
use scimgate::store::activity::Actor;
use scimgate::store::tokens;
use serde_json::{Value, json};

use super::{USER_SCHEMA, patch_body};
use crate::helpers::{Reply, TestApp, send};
use crate::on_both_databases;

on_both_databases!(
    every_endpoint_refuses_bad_credentials,
    revoked_and_expired_tokens_stop_working
);

/// Every (method, path, body) the SCIM API serves.
fn endpoints(user: &str, group: &str) -> Vec<(Method, String, Option<Value>)> {
    let user_body = json!({"schemas": [USER_SCHEMA], "userName": "intruder@example.com"});
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]});
    let patch = patch_body(json!([{"op": "replace", "path": "displayName", "value": "x"}]));
    vec![
        (Method::GET, "/ServiceProviderConfig".into(), None),
        (Method::GET, "/ResourceTypes".into(), None),
        (Method::GET, "/ResourceTypes/User".into(), None),
        (Method::GET, "/Schemas".into(), None),
        (Method::GET, format!("/Schemas/{USER_SCHEMA}"), None),
        (Method::GET, "/Users".into(), None),
        (
            Method::GET,
            "/Users?filter=userName+eq+%22a%22".into(),
            None,
        ),
        (Method::GET, format!("/Users/{user}"), None),
        (Method::POST, "/Users".into(), Some(user_body.clone())),
        (Method::PUT, format!("/Users/{user}"), Some(user_body)),
        (Method::PATCH, format!("/Users/{user}"), Some(patch.clone())),
        (Method::DELETE, format!("/Users/{user}"), None),
        (Method::GET, "/Groups".into(), None),
        (Method::GET, format!("/Groups/{group}"), None),
        (
            Method::POST,
            "/Groups".into(),
            Some(json!({"displayName": "intruders"})),
        ),
        (Method::PATCH, format!("/Groups/{group}"), Some(patch)),
        (Method::DELETE, format!("/Groups/{group}"), None),
        (Method::POST, "/.search".into(), Some(search.clone())),
        (Method::POST, "/Users/.search".into(), Some(search.clone())),
        (Method::POST, "/Groups/.search".into(), Some(search)),
    ]
}

async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Reply {
    let mut req = app.client.request(method, app.scim_url(path));
    if let Some(t) = token {
        req = req.header("authorization", t);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    send(req).await
}

#[track_caller]
fn assert_refused(app: &TestApp, r: &Reply, what: &str) {
    r.expect_error(401, None);
    let challenge = r.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer"),
        "{what}: WWW-Authenticate must be a Bearer challenge, got {challenge:?}"
    );
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    let lower = r.text.to_lowercase();
    for secret in [&app.tenant.id, &app.tenant.slug, &app.tenant.name] {
        assert!(
            !lower.contains(&secret.to_lowercase()),
            "{what}: the error must not name the tenant: {}",
            r.text
        );
    }
    assert!(!lower.contains("tenant_id"), "{what}: {}", r.text);
}

async fn every_endpoint_refuses_bad_credentials(app: TestApp) {
    let user = app.create_user("victim@example.com").await;
    let group = app.create_group("victims").await;
    let before_user = app.get(&format!("/Users/{user}")).await.body;
    let before_group = app.get(&format!("/Groups/{group}")).await.body;

    let unknown = format!("Bearer {}", "scimgate_".to_string() + &"x".repeat(40));
    let credentials: [(&str, Option<&str>); 4] = [
        ("no token", None),
        ("unknown token", Some(&unknown)),
        ("basic credentials", Some("Basic dXNlcjpwYXNz")),
        ("empty bearer", Some("Bearer ")),
    ];
    for (what, token) in credentials {
        for (method, path, body) in endpoints(&user, &group) {
            let r = call(&app, token, method.clone(), &path, body.as_ref()).await;
            assert_refused(&app, &r, &format!("{what} {method} {path}"));
        }
    }
    // The no-token challenge carries no error code (RFC 6750 §3.1); a bad
    // token's does.
    let r = call(&app, None, Method::GET, "/Users", None).await;
    assert!(
        !r.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    let r = call(&app, Some(&unknown), Method::GET, "/Users", None).await;
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );

    // Nothing any of those requests carried landed.
    assert_eq!(app.get(&format!("/Users/{user}")).await.body, before_user);
    assert_eq!(
        app.get(&format!("/Groups/{group}")).await.body,
        before_group
    );
    let all = app.get("/Users").await;
    assert_eq!(all.body["totalResults"], 1, "{}", all.text);
    assert_eq!(app.get("/Groups").await.body["totalResults"], 1);
}

async fn revoked_and_expired_tokens_stop_working(app: TestApp) {
    let user = app.create_user("victim@example.com").await;
    let group = app.create_group("victims").await;

    let (revoked, revoked_secret) = tokens::create_secret_token(
        &app.db,
        &app.tenant.id,
        "to revoke",
        None,
        &Actor::operator(),
    )
    .await
    .unwrap();
    let (expiring, expiring_secret) = tokens::create_secret_token(
        &app.db,
        &app.tenant.id,
        "to expire",
        Some(30),
        &Actor::operator(),
    )
    .await
    .unwrap();
    // Both work before.
    for secret in [&revoked_secret, &expiring_secret] {
        app.scim_as(secret, Method::GET, "/Users", None)
            .await
            .expect(200);
    }

    assert!(
        tokens::revoke(&app.db, &revoked.id, &Actor::operator())
            .await
            .unwrap()
    );
    // Expiry is in the past: move it there.
    sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE id = $2")
        .bind("2020-01-01T00:00:00.000Z")
        .bind(&expiring.id)
        .execute(app.db.writer())
        .await
        .unwrap();

    for (what, secret) in [("revoked", &revoked_secret), ("expired", &expiring_secret)] {
        let bearer = format!("Bearer {secret}");
        for (method, path, body) in endpoints(&user, &group) {
            let r = call(&app, Some(&bearer), method.clone(), &path, body.as_ref()).await;
            assert_refused(&app, &r, &format!("{what} {method} {path}"));
            assert!(
                r.header("www-authenticate")
                    .unwrap()
                    .contains("invalid_token"),
                "{what}"
            );
        }
    }
    // The tenant's valid token is unaffected, and nothing was changed.
    let r = app.get(&format!("/Users/{user}")).await;
    r.expect(200);
    assert_eq!(r.body["meta"]["version"], "W/\"1\"");
    assert_eq!(app.get("/Users").await.body["totalResults"], 1);
}
