//! Running scimgate: health and readiness on both listeners, Prometheus
//! metrics only on the management listener (read with an independent
//! parser), readiness failing while PostgreSQL is away, backups taken
//! during writes, and a tenant's export.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use scimgate::config::Config;
use scimgate::store::backup;
use serde_json::json;
use sqlx::Executor as _;

use crate::helpers::{self, Backend, TestApp, send};

async fn spawn(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |c: &mut Config| {
        c.management_bind = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
}

/// The samples of a scrape, parsed by `prometheus-parse`.
async fn scrape(app: &TestApp) -> prometheus_parse::Scrape {
    let base = app.management.as_ref().expect("a management listener");
    let r = send(app.client.get(format!("{base}/metrics"))).await;
    r.expect(200);
    assert!(
        r.header("content-type")
            .unwrap()
            .contains("openmetrics-text"),
        "{:?}",
        r.headers
    );
    let lines = r.text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).expect("the exposition parses")
}

/// The value of the sample `name` whose labels include `labels`.
fn value(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(ref h) => {
                h.iter().map(|b| b.count).fold(0.0, f64::max)
            }
            prometheus_parse::Value::Summary(_) => f64::NAN,
        })
}

async fn health_readiness_and_metrics(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mgmt = app.management.clone().unwrap();
    for base in [app.base.as_str(), mgmt.as_str()] {
        let r = send(app.client.get(format!("{base}/healthz"))).await;
        r.expect(200);
        assert_eq!(r.body, json!({"status": "ok"}));
        let r = send(app.client.get(format!("{base}/readyz"))).await;
        r.expect(200);
        assert_eq!(r.body["status"], "ready");
    }
    // Metrics are for the management listener only.
    let r = send(app.client.get(format!("{}/metrics", app.base))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let before = scrape(&app).await;
    let id = app.create_user("ada@acme.example").await;
    app.get(&format!("/Users/{id}")).await.expect(200);
    app.get("/Users?filter=userName%20eq%20%22nobody%22")
        .await
        .expect(200);
    app.scim_as("sgst_not-a-token", reqwest::Method::GET, "/Users", None)
        .await
        .expect(401);
    let (revoked, revoked_token) = scimgate::store::tokens::create_secret_token(
        &app.db,
        &app.tenant.id,
        "old",
        None,
        &scimgate::store::activity::Actor::operator(),
    )
    .await
    .unwrap();
    scimgate::store::tokens::revoke(
        &app.db,
        &revoked.id,
        &scimgate::store::activity::Actor::operator(),
    )
    .await
    .unwrap();
    app.scim_as(&revoked_token, reqwest::Method::GET, "/Users", None)
        .await
        .expect(401);
    // Refusals are counted by their reason off the request's path, each
    // by a task of its own, in no particular order: wait for both.
    let deadline = Instant::now() + Duration::from_secs(10);
    let s = loop {
        let s = scrape(&app).await;
        let counted = |kind: &str| {
            value(&s, "scimgate_auth_failures_total", &[("kind", kind)]).unwrap_or(0.0)
                > value(&before, "scimgate_auth_failures_total", &[("kind", kind)]).unwrap_or(0.0)
        };
        if counted("revoked") && counted("bad_token") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the refusals of the unknown and the revoked token were not both counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let grew = |name: &str, labels: &[(&str, &str)]| {
        value(&s, name, labels).unwrap_or(0.0) - value(&before, name, labels).unwrap_or(0.0)
    };
    assert_eq!(
        grew(
            "scimgate_scim_operations_total",
            &[
                ("tenant", "acme"),
                ("resource", "user"),
                ("operation", "create"),
                ("outcome", "success")
            ]
        ),
        1.0
    );
    assert_eq!(
        grew(
            "scimgate_scim_operations_total",
            &[
                ("tenant", "acme"),
                ("resource", "user"),
                ("operation", "list"),
                ("outcome", "success")
            ]
        ),
        1.0
    );
    assert_eq!(
        grew(
            "scimgate_http_requests_total",
            &[("surface", "scim"), ("method", "POST"), ("status", "201")]
        ),
        1.0
    );
    assert_eq!(
        grew(
            "scimgate_http_requests_total",
            &[("surface", "scim"), ("method", "GET"), ("status", "401")]
        ),
        2.0
    );
    assert_eq!(
        grew("scimgate_auth_failures_total", &[("kind", "bad_token")]),
        1.0
    );
    assert_eq!(
        grew("scimgate_auth_failures_total", &[("kind", "revoked")]),
        1.0
    );
    // On a SQLite file, writes commit in groups, and each group is counted.
    if backend == Backend::Sqlite {
        assert!(
            grew("scimgate_db_write_group_transactions", &[]) >= 1.0,
            "the create's commit is counted"
        );
    }
    // Durations by route template, never by raw path.
    let routes: Vec<String> = s
        .samples
        .iter()
        .filter(|x| {
            x.metric
                .starts_with("scimgate_http_request_duration_seconds")
        })
        .filter_map(|x| x.labels.get("route").map(str::to_string))
        .collect();
    assert!(
        routes.iter().any(|r| r == "/scim/v2/:resource/:id"),
        "{routes:?}"
    );
    assert!(
        !s.samples
            .iter()
            .any(|x| x.labels.values().any(|v| v.contains(&id)))
    );
    assert_eq!(
        value(
            &s,
            "scimgate_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    for name in [
        "scimgate_db_pool_connections",
        "scimgate_db_wait_seconds",
        "scimgate_activity_log_queue_bytes",
        "scimgate_events_pending",
    ] {
        assert!(
            s.samples.iter().any(|x| x.metric.starts_with(name)),
            "{name} is missing"
        );
    }
}

/// PostgreSQL refusing connections: `/readyz` says so (503 with a reason)
/// while `/healthz` stays 200, and readiness comes back with the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_database() {
    let Some(app) = spawn(Backend::Postgres).await else {
        return;
    };
    let admin_url = std::env::var("SCIMGATE_TEST_POSTGRES_URL").unwrap();
    let name = url::Url::parse(&app.db_url())
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_string();
    let mgmt = app.management.clone().unwrap();
    let mut admin = helpers::admin_connection(&admin_url).await;
    admin
        .execute(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false").as_str())
        .await
        .unwrap();
    admin
        .execute(
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            )
            .as_str(),
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = send(app.client.get(format!("{mgmt}/readyz"))).await;
        if r.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(r.body["status"], "unavailable");
            assert!(!r.body["reason"].as_str().unwrap().is_empty());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readiness never failed: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    send(app.client.get(format!("{mgmt}/healthz")))
        .await
        .expect(200);
    admin
        .execute(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true").as_str())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = send(app.client.get(format!("{mgmt}/readyz"))).await;
        if r.status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readiness never came back: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A backup taken while users are being created passes the integrity
/// check and holds every create acknowledged before it started; a restore
/// puts it back, and an export lists the tenant's users and groups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_during_writes_restore_and_export() {
    let app = TestApp::spawn_sqlite().await;
    let url = app.db_url();
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (client, base, token, acknowledged, stop) = (
            app.client.clone(),
            app.scim_url(""),
            app.token.clone(),
            acknowledged.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && i < 2000 {
                let r = send(
                    client
                        .post(format!("{base}/Users"))
                        .bearer_auth(&token)
                        .json(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("w{i}@acme.example")})),
                )
                .await;
                r.expect(201);
                acknowledged
                    .lock()
                    .unwrap()
                    .push(r.body["id"].as_str().unwrap().to_string());
                i += 1;
            }
        })
    };
    while acknowledged.lock().unwrap().len() < 50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before: Vec<String> = acknowledged.lock().unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("backup.db");
    let summary = {
        let (url, out) = (url.clone(), out.clone());
        tokio::task::spawn_blocking(move || backup::backup(&url, &out))
            .await
            .unwrap()
            .unwrap()
    };
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.await.unwrap();
    assert_eq!(summary.integrity, "ok");
    let conn = rusqlite::Connection::open(&out).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM scim_users").unwrap();
    let stored: HashSet<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for id in &before {
        assert!(
            stored.contains(id),
            "user {id} was acknowledged before the backup but is not in it"
        );
    }
    assert_eq!(summary.users as usize, stored.len());
    // Never overwrites.
    assert!(
        backup::backup(&url, &out)
            .unwrap_err()
            .to_string()
            .contains("already exists")
    );

    // Restore into another place.
    let restored_url = format!("sqlite://{}", dir.path().join("restored.db").display());
    let r = backup::restore(&restored_url, &out, false).unwrap();
    assert_eq!((r.integrity.as_str(), r.users), ("ok", summary.users));
    assert!(
        backup::restore(&restored_url, &out, false)
            .unwrap_err()
            .to_string()
            .contains("--force")
    );

    // The export, through the binary.
    let gid = app.create_group("Everyone").await;
    app.patch(
        &format!("/Groups/{gid}"),
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": before[0]}]}]}),
    )
    .await
    .expect(204);
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimgate"))
        .args(["export", "--tenant", "acme"])
        .env("SCIMGATE_DATABASE_URL", &url)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let users = lines
        .iter()
        .filter(|l| l["meta"]["resourceType"] == "User")
        .count();
    let all = app.get("/Users?count=1").await.body["totalResults"]
        .as_u64()
        .unwrap();
    assert_eq!(users as u64, all);
    let group = lines
        .iter()
        .find(|l| l["meta"]["resourceType"] == "Group")
        .unwrap();
    assert_eq!(group["members"][0]["value"], before[0].as_str());
    let member = lines
        .iter()
        .find(|l| l["id"] == before[0].as_str())
        .unwrap();
    assert_eq!(member["groups"][0]["value"], gid.as_str());
}

/// Once shutdown begins, `/readyz` on the management listener answers 503
/// "draining" while a request still in flight is let finish; then the
/// server stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_fails_readiness_and_finishes_requests() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut app = spawn(Backend::Sqlite).await.unwrap();
    let mgmt = app.management.clone().unwrap();
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "late@acme.example"}).to_string();
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        app.token,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // `100 Continue`: the handler has started and waits for the body.
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        got.push(byte[0]);
    }
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 100"),
        "{got:?}"
    );
    let server = app.begin_shutdown();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = send(app.client.get(format!("{mgmt}/readyz"))).await;
        if r.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(r.body["status"], "draining");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readiness did not fail: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}

mod health_readiness_and_metrics {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::health_readiness_and_metrics(crate::helpers::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::health_readiness_and_metrics(crate::helpers::Backend::Postgres).await;
    }
}
