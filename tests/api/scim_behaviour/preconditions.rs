//! ETags: `meta.version` and the ETag header agree, If-None-Match saves a
//! read, If-Match guards every write.

use reqwest::Method;
use serde_json::json;

use super::{USER_SCHEMA, patch_body, read};
use crate::helpers::{TestApp, send};
use crate::on_both_databases;

on_both_databases!(etags_guard_reads_and_writes);

async fn with_header(
    app: &TestApp,
    method: Method,
    path: &str,
    header: (&str, &str),
    body: Option<&serde_json::Value>,
) -> crate::helpers::Reply {
    let mut req = app
        .client
        .request(method, app.scim_url(path))
        .bearer_auth(&app.token)
        .header(header.0, header.1);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    send(req).await
}

async fn etags_guard_reads_and_writes(app: TestApp) {
    let id = app.create_user("etag@example.com").await;
    let path = format!("/Users/{id}");
    let r = app.get(&path).await;
    r.expect(200);
    let etag = r.header("etag").unwrap().to_string();
    assert_eq!(r.body["meta"]["version"], etag.as_str());
    assert!(etag.starts_with("W/\""), "{etag}");

    let r = with_header(&app, Method::GET, &path, ("if-none-match", &etag), None).await;
    assert_eq!(r.status.as_u16(), 304);
    assert!(r.text.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = with_header(
        &app,
        Method::GET,
        &path,
        ("if-none-match", "W/\"999\""),
        None,
    )
    .await;
    r.expect(200);

    let before = read(&app, &path).await;
    let stale = "W/\"999\"";
    let put = json!({"schemas": [USER_SCHEMA], "userName": "etag@example.com", "title": "changed"});
    let patch = patch_body(json!([{"op": "replace", "path": "title", "value": "changed"}]));
    for (method, body) in [
        (Method::PUT, Some(&put)),
        (Method::PATCH, Some(&patch)),
        (Method::DELETE, None),
    ] {
        let r = with_header(&app, method.clone(), &path, ("if-match", stale), body).await;
        r.expect_error(412, None);
        assert!(
            r.body["detail"].as_str().unwrap().contains(&etag),
            "{method}: the detail gives the current version: {}",
            r.text
        );
        assert_eq!(
            read(&app, &path).await,
            before,
            "{method} must change nothing"
        );
    }

    // The current ETag lets each write through, and each write moves it on.
    let r = with_header(
        &app,
        Method::PATCH,
        &path,
        ("if-match", &etag),
        Some(&patch),
    )
    .await;
    r.expect(200);
    assert_eq!(r.body["title"], "changed");
    let etag2 = r.header("etag").unwrap().to_string();
    assert_ne!(etag2, etag);
    assert_eq!(r.body["meta"]["version"], etag2.as_str());
    // The old one no longer matches.
    with_header(&app, Method::PUT, &path, ("if-match", &etag), Some(&put))
        .await
        .expect_error(412, None);
    let r = with_header(&app, Method::PUT, &path, ("if-match", &etag2), Some(&put)).await;
    r.expect(200);
    let etag3 = r.header("etag").unwrap().to_string();
    assert_ne!(etag3, etag2);
    with_header(&app, Method::DELETE, &path, ("if-match", &etag3), None)
        .await
        .expect(204);
    app.get(&path).await.expect_error(404, None);

    // A group's ETag moves when its members change.
    let g = app.create_group("Versioned").await;
    let gpath = format!("/Groups/{g}");
    let v1 = read(&app, &gpath).await["meta"]["version"].clone();
    let u = app.create_user("member@example.com").await;
    let r = app
        .patch(
            &gpath,
            &patch_body(json!([{"op": "add", "path": "members", "value": [{"value": u}]}])),
        )
        .await;
    r.expect(204);
    let v2 = read(&app, &gpath).await["meta"]["version"].clone();
    assert_ne!(v1, v2);
    assert_eq!(r.header("etag"), v2.as_str());

    // Deleting the member changes the group's representation: its version
    // and lastModified move too, so a cached copy is not answered with 304.
    let before = read(&app, &gpath).await;
    let old = before["meta"]["version"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.delete(&format!("/Users/{u}")).await.expect(204);
    let r = with_header(&app, Method::GET, &gpath, ("if-none-match", &old), None).await;
    r.expect(200);
    assert_eq!(r.body["members"], json!([]));
    assert_ne!(r.body["meta"]["version"], before["meta"]["version"]);
    assert!(
        r.body["meta"]["lastModified"].as_str() > before["meta"]["lastModified"].as_str(),
        "{}",
        r.text
    );
    with_header(
        &app,
        Method::PATCH,
        &gpath,
        ("if-match", &old),
        Some(&patch_body(json!([]))),
    )
    .await
    .expect_error(412, None);
}
