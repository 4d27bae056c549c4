//! Every authenticated SCIM request reaches the tenant's activity log: reads
//! through the batched writer (off the request path), writes in their own
//! transaction, and nothing twice.

use std::time::{Duration, Instant};

use scimgate::store::activity::{self, Actor, Entry, Recorded};

use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    every_read_is_logged_once_in_batches,
    rejected_bodies_are_logged_as_failures,
    long_paths_and_filters_are_stored_cut,
    a_large_batch_is_stored_whole_and_in_order,
);

/// Polls the log until `pred` holds (bounded: 10 s), since reads are
/// written in the background.
async fn wait_for_log(app: &TestApp, pred: impl Fn(&[Recorded]) -> bool) -> Vec<Recorded> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = activity::recent(&app.db, &app.tenant.id, 1000)
            .await
            .unwrap();
        if pred(&log) || Instant::now() > deadline {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn every_read_is_logged_once_in_batches(app: TestApp) {
    let id = app.create_user("reader@acme.example").await;
    // More than one multi-row INSERT's worth.
    for i in 0..130 {
        app.get(&format!(
            "/Users?filter=userName+eq+%22probe{i}%40acme.example%22"
        ))
        .await
        .expect(200);
    }
    app.get(&format!("/Users/{id}")).await.expect(200);
    app.get("/Users?filter=userName+eq").await.expect(400);
    let log = wait_for_log(&app, |l| {
        l.iter().filter(|e| e.operation == "user.list").count() >= 131
            && l.iter().any(|e| e.operation == "user.get")
    })
    .await;
    let lists: Vec<&Recorded> = log.iter().filter(|e| e.operation == "user.list").collect();
    assert_eq!(lists.len(), 131, "each read exactly once");
    let probe = lists
        .iter()
        .find(|e| e.detail.as_deref() == Some("filter: userName eq \"probe7@acme.example\""))
        .expect("the filter is shown");
    assert_eq!(probe.status, 200);
    assert_eq!(probe.method.as_deref(), Some("GET"));
    assert!(
        probe
            .path
            .as_deref()
            .unwrap()
            .starts_with("/scim/v2/Users?filter=")
    );
    assert!(probe.latency_ms.is_some());
    assert_eq!(probe.actor_kind, "token");
    let bad = lists
        .iter()
        .find(|e| e.status == 400)
        .expect("a failed read is logged");
    assert_eq!(bad.outcome, "failure");
    let get = log.iter().find(|e| e.operation == "user.get").unwrap();
    assert_eq!(get.resource_id.as_deref(), Some(id.as_str()));
    // The create was logged by provision, once, with its changes.
    let creates: Vec<&Recorded> = log
        .iter()
        .filter(|e| e.operation == "user.create")
        .collect();
    assert_eq!(creates.len(), 1);
    assert!(
        creates[0]
            .changes
            .as_deref()
            .unwrap()
            .contains("reader@acme.example")
    );
}

async fn rejected_bodies_are_logged_as_failures(app: TestApp) {
    let r = app.scim(reqwest::Method::POST, "/Users", None).await;
    r.expect(400);
    let log = wait_for_log(&app, |l| l.iter().any(|e| e.operation == "user.create")).await;
    let e = log
        .iter()
        .find(|e| e.operation == "user.create")
        .expect("logged");
    assert_eq!(e.status, 400);
    assert_eq!(e.outcome, "failure");
    assert_eq!(
        log.iter().filter(|e| e.operation == "user.create").count(),
        1
    );
}

/// A client's 8 KB filter is answered, and the log keeps a cut copy of its
/// path and filter (1 KiB each), not the whole.
async fn long_paths_and_filters_are_stored_cut(app: TestApp) {
    let long = "x".repeat(8000);
    app.get(&format!(
        "/Users?filter=userName+eq+%22{long}%40acme.example%22"
    ))
    .await
    .expect(200);
    let log = wait_for_log(&app, |l| l.iter().any(|e| e.operation == "user.list")).await;
    let entry = log.iter().find(|e| e.operation == "user.list").unwrap();
    let path = entry.path.as_deref().unwrap();
    assert!(path.starts_with("/scim/v2/Users?filter=userName"), "{path}");
    assert!(
        path.ends_with('…') && path.len() <= 1024 + 3,
        "{}",
        path.len()
    );
    let detail = entry.detail.as_deref().unwrap();
    assert!(detail.starts_with("filter: userName eq \"xxx"), "{detail}");
    assert!(
        detail.ends_with('…') && detail.len() <= 1100,
        "{}",
        detail.len()
    );
}

/// A batch longer than one multi-row INSERT: two full INSERTs and a
/// remainder written row by row. Every entry is stored once, with its
/// fields, in the order given.
async fn a_large_batch_is_stored_whole_and_in_order(app: TestApp) {
    let actor = Actor::token("tok_batch", "batch");
    let at = scimgate::store::now();
    let entries: Vec<(String, Entry)> = (0..250)
        .map(|i| {
            let mut e = Entry::new(&app.tenant.id, &actor, "user.list", 200)
                .detail(format!("batch entry {i}"));
            e.latency_ms = Some(i);
            (at.clone(), e)
        })
        .collect();
    activity::record_batch(&app.db, entries).await.unwrap();
    let stored: Vec<Recorded> = activity::recent(&app.db, &app.tenant.id, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.actor_id.as_deref() == Some("tok_batch"))
        .collect();
    assert_eq!(stored.len(), 250, "each entry exactly once");
    // Newest first: the last entry given has the highest id.
    for (n, e) in stored.iter().rev().enumerate() {
        assert_eq!(
            e.detail.as_deref(),
            Some(format!("batch entry {n}").as_str())
        );
        assert_eq!(e.latency_ms, Some(n as i64));
        assert_eq!(e.status, 200);
        assert_eq!(e.at, at);
    }
}
