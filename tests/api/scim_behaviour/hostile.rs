//! Input no client should send but anyone can: NUL characters, very long
//! values, odd ids. Each gets a 4xx that says what is wrong, the same on
//! both databases, and never a 500.

use reqwest::Method;
use serde_json::json;

use super::{USER_SCHEMA, enc, patch_body, read};
use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    nul_characters_are_refused_everywhere,
    long_values_and_odd_ids
);

async fn nul_characters_are_refused_everywhere(app: TestApp) {
    let id = app.create_user("plain@example.com").await;
    let path = format!("/Users/{id}");
    let before = read(&app, &path).await;

    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": "nul\u{0}@example.com"}),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
    assert!(
        r.body["detail"].as_str().unwrap().contains("userName"),
        "{}",
        r.text
    );
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": "ok@example.com",
                                "externalId": "x\u{0}y"}),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
    let r = app
        .post("/Groups", &json!({"displayName": "nul\u{0}group"}))
        .await;
    r.expect_error(400, Some("invalidValue"));
    let r = app
        .patch(
            &path,
            &patch_body(json!([{"op": "replace", "path": "userName", "value": "a\u{0}b"}])),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
    let r = app
        .put(
            &path,
            &json!({"schemas": [USER_SCHEMA], "userName": "plain@example.com",
                            "emails": [{"type": "work", "value": "w\u{0}@example.com"}]}),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
    assert_eq!(read(&app, &path).await, before);

    // In reads: filters and ids.
    for filter in [
        "userName eq \"a\u{0}\"",
        "externalId eq \"\u{0}\"",
        "emails.value eq \"\u{0}\"",
        "id eq \"\u{0}\"",
    ] {
        let r = app.get(&format!("/Users?filter={}", enc(filter))).await;
        r.expect_error(400, Some("invalidFilter"));
        assert!(r.body["detail"].as_str().unwrap().contains("NUL"));
    }
    for (method, p) in [
        (Method::GET, "/Users/%00"),
        (Method::DELETE, "/Users/a%00b"),
        (Method::GET, "/Groups/%00"),
    ] {
        let r = app.scim(method.clone(), p, None).await;
        r.expect_error(404, None);
    }
    let r = app
        .patch(
            "/Groups/%00",
            &patch_body(json!([{"op": "add", "path": "members", "value": [{"value": "x"}]}])),
        )
        .await;
    r.expect_error(404, None);
    let g = app.create_group("Members").await;
    let r = app
        .patch(
            &format!("/Groups/{g}"),
            &patch_body(json!([{"op": "add", "path": "members", "value": [{"value": "\u{0}"}]}])),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
    let r = app
        .patch(
            &format!("/Groups/{g}"),
            &patch_body(
                json!([{"op": "remove", "path": "members", "value": [{"value": "\u{0}"}]}]),
            ),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("Operations[0].value[0].value"),
        "{}",
        r.text
    );
    assert_eq!(read(&app, "/Users?count=0").await["totalResults"], 1);
}

async fn long_values_and_odd_ids(app: TestApp) {
    // Long but legitimate values are stored and found on both databases.
    let long_name = format!("{}@example.com", "l".repeat(3000));
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": long_name,
                                "externalId": "e".repeat(3000),
                                "emails": [{"type": "work", "value": long_name}]}),
        )
        .await;
    if r.status.as_u16() == 201 {
        let found = app
            .get(&format!(
                "/Users?filter={}",
                enc(&format!("userName eq \"{long_name}\""))
            ))
            .await;
        assert_eq!(found.body["totalResults"], 1);
    } else {
        r.expect_error(400, Some("invalidValue"));
    }
    let r = app
        .post("/Groups", &json!({"displayName": "g".repeat(3000)}))
        .await;
    if r.status.as_u16() != 201 {
        r.expect_error(400, Some("invalidValue"));
    }
    // Ids that are not ids.
    for p in [
        "/Users/..",
        "/Users/%2F",
        "/Users/'%20OR%201=1",
        &format!("/Users/{}", "x".repeat(5000)),
    ] {
        let r = app.get(p).await;
        assert!(
            [404, 400].contains(&r.status.as_u16()),
            "{}: {} {}",
            &p[..p.len().min(40)],
            r.status,
            r.text
        );
    }
}
