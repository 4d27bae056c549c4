//! Bad input of every kind gets the right status, scimType and a detail a
//! person can act on, and leaves the stored resource as it was.

use reqwest::Method;
use serde_json::{Value, json};

use super::{USER_SCHEMA, patch_body, raw, read};
use crate::helpers::{Reply, TestApp};
use crate::on_both_databases;

on_both_databases!(
    bad_bodies_are_refused_and_change_nothing,
    bad_patches_are_refused_and_change_nothing
);

#[track_caller]
fn detail_mentions(r: &Reply, words: &[&str]) {
    let d = r.body["detail"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        words.iter().any(|w| d.contains(&w.to_lowercase())),
        "detail should mention one of {words:?}: {}",
        r.text
    );
}

async fn bad_bodies_are_refused_and_change_nothing(app: TestApp) {
    let id = app.create_user("solid@example.com").await;
    let path = format!("/Users/{id}");
    let before = read(&app, &path).await;
    let ct = Some("application/scim+json");

    for (method, target) in [
        (Method::POST, "/Users".to_string()),
        (Method::PUT, path.clone()),
    ] {
        let r = raw(
            &app,
            method.clone(),
            &target,
            ct,
            b"{\"userName\": \"x\",".to_vec(),
        )
        .await;
        r.expect_error(400, Some("invalidSyntax"));
        detail_mentions(&r, &["json"]);

        let r = raw(
            &app,
            method.clone(),
            &target,
            ct,
            b"[{\"userName\": \"x\"}]".to_vec(),
        )
        .await;
        r.expect_error(400, Some("invalidSyntax"));
        detail_mentions(&r, &["object"]);

        let r = raw(&app, method.clone(), &target, ct, Vec::new()).await;
        r.expect_error(400, Some("invalidSyntax"));
        detail_mentions(&r, &["empty"]);

        let body = json!({"schemas": [USER_SCHEMA], "userName": 42});
        let r = raw(
            &app,
            method.clone(),
            &target,
            ct,
            body.to_string().into_bytes(),
        )
        .await;
        r.expect_error(400, Some("invalidValue"));
        detail_mentions(&r, &["userName"]);

        let body =
            json!({"schemas": [USER_SCHEMA], "userName": "ok@example.com", "active": "maybe"});
        let r = raw(
            &app,
            method.clone(),
            &target,
            ct,
            body.to_string().into_bytes(),
        )
        .await;
        r.expect_error(400, Some("invalidValue"));
        detail_mentions(&r, &["active"]);

        let body = json!({"schemas": [USER_SCHEMA], "displayName": "No Name"});
        let r = raw(
            &app,
            method.clone(),
            &target,
            ct,
            body.to_string().into_bytes(),
        )
        .await;
        r.expect_error(400, Some("invalidValue"));
        detail_mentions(&r, &["userName"]);

        // 1.5 MiB, over the 1 MiB limit.
        let big = json!({"schemas": [USER_SCHEMA], "userName": "big@example.com",
                         "displayName": "x".repeat(1536 * 1024)});
        let r = raw(
            &app,
            method.clone(),
            &target,
            ct,
            big.to_string().into_bytes(),
        )
        .await;
        r.expect_error(413, None);
        detail_mentions(&r, &["limit", "larger"]);

        // 200 levels of nesting.
        let deep = format!(
            "{{\"schemas\":[\"{USER_SCHEMA}\"],\"userName\":\"deep@example.com\",\"x\":{}{}}}",
            "[".repeat(200),
            "]".repeat(200)
        );
        let r = raw(&app, method.clone(), &target, ct, deep.into_bytes()).await;
        r.expect_error(400, Some("invalidSyntax"));
        detail_mentions(&r, &["nest", "deep", "depth", "json"]);

        let body = json!({"schemas": [USER_SCHEMA], "userName": "text@example.com"});
        let r = raw(
            &app,
            method.clone(),
            &target,
            Some("text/plain"),
            body.to_string().into_bytes(),
        )
        .await;
        r.expect_error(415, Some("invalidSyntax"));
        detail_mentions(&r, &["content-type", "json"]);
    }
    // application/json and no content type at all are fine.
    let body = json!({"schemas": [USER_SCHEMA], "userName": "plain@example.com"});
    raw(
        &app,
        Method::POST,
        "/Users",
        Some("application/json; charset=utf-8"),
        body.to_string().into_bytes(),
    )
    .await
    .expect(201);
    let body = json!({"schemas": [USER_SCHEMA], "userName": "bare@example.com"});
    raw(
        &app,
        Method::POST,
        "/Users",
        None,
        body.to_string().into_bytes(),
    )
    .await
    .expect(201);

    assert_eq!(read(&app, &path).await, before);
    assert_eq!(read(&app, "/Users?count=0").await["totalResults"], 3);
}

async fn bad_patches_are_refused_and_change_nothing(app: TestApp) {
    let id = app.create_user("patchy@example.com").await;
    let path = format!("/Users/{id}");
    let before = read(&app, &path).await;
    // An unknown op or a missing op or value do not conform to the PatchOp
    // schema (invalidSyntax); a bad path is invalidPath; a value the
    // attribute cannot take, or removing a required one, is invalidValue.
    let cases: Vec<(Value, &str, &[&str])> = vec![
        (
            patch_body(json!([{"op": "frobnicate", "path": "title", "value": "x"}])),
            "invalidSyntax",
            &["frobnicate"],
        ),
        (
            patch_body(json!([{"path": "title", "value": "x"}])),
            "invalidSyntax",
            &["op"],
        ),
        (
            patch_body(json!([{"op": "add", "path": "title"}])),
            "invalidSyntax",
            &["value"],
        ),
        (
            patch_body(json!({"op": "replace"})),
            "invalidSyntax",
            &["Operations"],
        ),
        (
            patch_body(json!([{"op": "replace", "path": "title[", "value": "x"}])),
            "invalidPath",
            &["title["],
        ),
        (
            patch_body(json!([{"op": "replace", "path": "emails[type eq]", "value": "x"}])),
            "invalidPath",
            &["emails"],
        ),
        (
            patch_body(json!([{"op": "replace", "path": "active", "value": "perhaps"}])),
            "invalidValue",
            &["active"],
        ),
        (
            patch_body(json!([{"op": "replace", "path": "userName", "value": 7}])),
            "invalidValue",
            &["userName"],
        ),
        // The first operation is valid: it must not land either.
        (
            patch_body(json!([
                {"op": "replace", "path": "title", "value": "applied?"},
                {"op": "remove", "path": "userName"}
            ])),
            "invalidValue",
            &["userName"],
        ),
    ];
    let mut wrong = Vec::new();
    for (body, scim_type, words) in cases {
        let r = app.patch(&path, &body).await;
        if r.status.as_u16() != 400 || r.body["scimType"] != scim_type {
            wrong.push(format!("{body} -> {} {}", r.status, r.text));
            continue;
        }
        r.expect_error(400, Some(scim_type));
        detail_mentions(&r, words);
        assert_eq!(
            read(&app, &path).await,
            before,
            "{body} must change nothing"
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Entra-tolerant no-ops: attributes outside the schema and read-only
    // ones are ignored (and named in the activity log), not refused.
    for body in [
        patch_body(json!([{"op": "replace", "path": "noSuchAttribute", "value": "x"}])),
        patch_body(json!([{"op": "replace", "path": "id", "value": "mine"}])),
        patch_body(
            json!([{"op": "replace", "path": "meta.created", "value": "2001-01-01T00:00:00Z"}]),
        ),
    ] {
        let r = app.patch(&path, &body).await;
        r.expect(200);
        assert_eq!(
            read(&app, &path).await,
            before,
            "{body} must change nothing"
        );
    }
    // An empty Operations array is a no-op, not an error.
    app.patch(&path, &patch_body(json!([]))).await.expect(200);
    assert_eq!(
        read(&app, &path).await["meta"]["version"],
        before["meta"]["version"]
    );
    // Unknown resource and unknown id.
    app.patch("/Users/nope", &patch_body(json!([])))
        .await
        .expect_error(404, None);
    app.get("/Widgets").await.expect_error(404, None);
}
