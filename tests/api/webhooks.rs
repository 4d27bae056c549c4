//! Webhooks against a real receiver on loopback: signed deliveries that an
//! independent Standard Webhooks implementation verifies (the npm
//! `standardwebhooks` package), in order per tenant, retried through
//! failures and hangs, and a receiver that applies them rebuilding exactly
//! the directory SCIM holds after the simulator's cycles.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use scimgate::config::Config;
use scimgate::store::webhooks as store;
use scimgate::webhooks::{self, Settings};
use scimgate_tools::sim;
use serde_json::{Value, json};

use crate::events::{Replica, scim_state, sim_options};
use crate::helpers::{Backend, TestApp};

/// The longest a test waits for deliveries to catch up.
const PATIENCE: Duration = Duration::from_secs(90);

/// Deliveries fast enough for tests: short timeouts, retries in
/// milliseconds, a short lease.
pub fn fast() -> Settings {
    Settings {
        attempt_timeout: Duration::from_millis(800),
        retry_delays: [50, 100, 200, 400]
            .into_iter()
            .map(Duration::from_millis)
            .collect(),
        lease: Duration::from_secs(5),
        poll: Duration::from_millis(20),
    }
}

async fn spawn(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |c: &mut Config| c.webhooks = fast()).await
}

/// What the receiver answers, in order, before it answers 200 to all.
#[derive(Debug, Clone)]
pub enum Answer {
    Status(u16),
    /// 503 with `Retry-After: N` seconds.
    RetryAfter(u64),
    /// No answer for this long, then 500.
    Hang(Duration),
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Captured {
    pub headers: HashMap<String, String>,
    pub body: String,
    pub at: Instant,
    pub answered: u16,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Answer>,
    captured: Vec<Captured>,
    replica: Replica,
    /// webhook-ids applied (acknowledged with a 2xx).
    applied: HashSet<String>,
    /// The last id applied per tenant, to check the order.
    last: HashMap<String, String>,
    out_of_order: Vec<String>,
    /// Commit → delivery lag of each first delivery, in milliseconds.
    lag_ms: Vec<i64>,
}

/// A product endpoint on loopback that applies what it acknowledges.
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut map = HashMap::new();
    for (k, v) in &headers {
        map.insert(
            k.as_str().to_string(),
            v.to_str().unwrap_or_default().to_string(),
        );
    }
    let answer = inner.lock().unwrap().script.pop_front();
    let code = match &answer {
        // Recorded as it arrives (0: no answer in time); the sender gives up
        // waiting and drops the connection, which ends this handler.
        Some(Answer::Hang(d)) => {
            inner.lock().unwrap().captured.push(Captured {
                headers: map,
                body: text,
                at: Instant::now(),
                answered: 0,
            });
            tokio::time::sleep(*d).await;
            return (StatusCode::INTERNAL_SERVER_ERROR, "late").into_response();
        }
        Some(Answer::Status(s)) => *s,
        Some(Answer::RetryAfter(_)) => 503,
        None => 200,
    };
    let mut s = inner.lock().unwrap();
    s.captured.push(Captured {
        headers: map.clone(),
        body: text.clone(),
        at: Instant::now(),
        answered: code,
    });
    if (200..300).contains(&code) {
        let id = map.get("webhook-id").cloned().unwrap_or_default();
        if s.applied.insert(id.clone()) {
            let event: Value = serde_json::from_str(&text).expect("a JSON envelope");
            if event["type"] != "webhook.test" {
                let tenant = event["tenant"].as_str().unwrap_or_default().to_string();
                if let Some(prev) = s.last.get(&tenant).cloned()
                    && prev >= id
                {
                    s.out_of_order.push(format!("{id} after {prev}"));
                }
                s.last.insert(tenant, id);
                if let Some(at) = event["occurred_at"].as_str()
                    && let Ok(t) = chrono::DateTime::parse_from_rfc3339(at)
                {
                    let lag = chrono::Utc::now() - t.with_timezone(&chrono::Utc);
                    s.lag_ms.push(lag.num_milliseconds());
                }
                s.replica.apply(&event);
            }
        }
    }
    let mut resp = (StatusCode::from_u16(code).unwrap(), "ok").into_response();
    if let Some(Answer::RetryAfter(secs)) = answer {
        resp.headers_mut()
            .insert("retry-after", secs.to_string().parse().unwrap());
    }
    resp
}

impl Receiver {
    pub async fn start(script: Vec<Answer>) -> Receiver {
        let inner = Arc::new(Mutex::new(Inner {
            script: script.into(),
            ..Inner::default()
        }));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { url, inner, task }
    }

    pub fn captured(&self) -> Vec<Captured> {
        self.inner.lock().unwrap().captured.clone()
    }

    pub fn replica(&self) -> Replica {
        self.inner.lock().unwrap().replica.clone()
    }

    pub fn out_of_order(&self) -> Vec<String> {
        self.inner.lock().unwrap().out_of_order.clone()
    }

    pub fn lags_ms(&self) -> Vec<i64> {
        self.inner.lock().unwrap().lag_ms.clone()
    }

    /// Polls (bounded) until the receiver's copy equals `expected`.
    pub async fn wait_for(&self, expected: &Replica) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if self.replica() == *expected {
                return;
            }
            if Instant::now() > deadline {
                assert_eq!(
                    self.replica(),
                    *expected,
                    "the webhook receiver's copy did not catch up within {PATIENCE:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn verifier_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/webhooks")
}

/// Whether the `standardwebhooks` package is installed (installing it when
/// missing). Without it the independent check is skipped with a notice,
/// and fails under CI.
async fn verifier_ready() -> bool {
    let ready = verifier_dir()
        .join("node_modules/standardwebhooks")
        .is_dir()
        || tokio::process::Command::new("npm")
            .args([
                "ci",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
            ])
            .arg(verifier_dir())
            .stdout(std::process::Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success());
    if !ready {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "the webhook signature check needs Node.js and `npm ci --prefix tests/webhooks`"
        );
        eprintln!(
            "\n!!! SKIPPED the independent signature check: install Node.js and run `npm ci --prefix tests/webhooks`.\n"
        );
    }
    ready
}

/// Runs `tests/webhooks/verify.mjs` on deliveries, each with its secret.
async fn run_verifier(deliveries: &[(&str, &Captured)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deliveries.jsonl");
    let mut text = String::new();
    for (secret, c) in deliveries {
        text.push_str(&json!({"secret": secret, "headers": c.headers, "body": c.body}).to_string());
        text.push('\n');
    }
    std::fs::write(&file, text).unwrap();
    tokio::process::Command::new("node")
        .arg(verifier_dir().join("verify.mjs"))
        .arg(&file)
        .output()
        .await
        .expect("run node")
}

/// Checks every captured delivery's signature with the `standardwebhooks`
/// npm package, each with the secret given for it.
pub async fn verify_independently(deliveries: &[(&str, &Captured)]) {
    if !verifier_ready().await {
        return;
    }
    let out = run_verifier(deliveries).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "standardwebhooks rejected a delivery: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), format!("verified {}", deliveries.len()));
}

/// The independent check refuses a delivery with the wrong secret.
async fn verify_rejects(secret: &str, c: &Captured) {
    if !verifier_ready().await {
        return;
    }
    let out = run_verifier(&[(secret, c)]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not verify"));
}

pub async fn register(db: &scimgate::store::Db, url: &str) -> (String, String) {
    let secret = webhooks::new_secret();
    let hook = store::create(db, None, url, None, &secret).await.unwrap();
    (hook.id, secret)
}

/// Through 500s and a hang (retried), the simulator's initial and
/// incremental cycles reach the receiver signed, in order, and complete.
async fn deliveries_rebuild_the_directory(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let rx = Receiver::start(vec![
        Answer::Status(500),
        Answer::Status(500),
        Answer::Hang(Duration::from_millis(1500)),
        Answer::Status(502),
    ])
    .await;
    let (id, secret) = register(&app.db, &rx.url).await;
    let report = sim::run(sim_options(&app, 0.3)).await.unwrap();
    assert!(report.ok(), "{}", report.human());
    let expected = scim_state(&app).await;
    rx.wait_for(&expected).await;
    assert!(rx.out_of_order().is_empty(), "{:?}", rx.out_of_order());

    let captured = rx.captured();
    // The first event failed four times (a hang among them) and was sent
    // again each time with the same id.
    let failed: Vec<&Captured> = captured.iter().filter(|c| c.answered != 200).collect();
    assert_eq!(failed.len(), 4);
    assert!(
        failed
            .iter()
            .all(|c| c.headers["webhook-id"] == captured[0].headers["webhook-id"])
    );
    for c in &captured {
        assert_eq!(c.headers["content-type"], "application/json");
        let body: Value = serde_json::from_str(&c.body).unwrap();
        assert_eq!(body["id"].as_str().unwrap(), c.headers["webhook-id"]);
    }
    let signed: Vec<(&str, &Captured)> = captured.iter().map(|c| (secret.as_str(), c)).collect();
    let lags = rx.lags_ms();
    assert!(!lags.is_empty() && lags.iter().all(|l| *l >= 0));
    verify_independently(&signed).await;

    // The record shows the failures and the deliveries.
    let record = store::deliveries(&app.db, &id, 10_000).await.unwrap();
    assert!(
        record
            .iter()
            .any(|d| d.outcome == "failed" && d.status == Some(500))
    );
    assert!(record.iter().any(|d| d.outcome == "failed"
        && d.status.is_none()
        && d.error.as_deref().is_some_and(|e| e.contains("timeout"))));
    assert!(record.iter().filter(|d| d.outcome == "delivered").count() >= expected.users.len());
    let hook = store::get(&app.db, &id).await.unwrap().unwrap();
    assert!(hook.failing_since.is_none() && hook.disabled_at.is_none());
}

/// During a rotation both secrets sign, and each verifies alone.
async fn rotation_signs_with_both_secrets(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let rx = Receiver::start(Vec::new()).await;
    let (id, old) = register(&app.db, &rx.url).await;
    let new = webhooks::new_secret();
    let until = scimgate::store::format_time(chrono::Utc::now() + chrono::Duration::hours(24));
    assert!(
        store::rotate_secret(&app.db, &id, &new, &until)
            .await
            .unwrap()
    );
    app.create_user("rotated@acme.example").await;
    let deadline = Instant::now() + PATIENCE;
    while rx.captured().is_empty() {
        assert!(Instant::now() < deadline, "nothing was delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c = &rx.captured()[0];
    let sigs: Vec<&str> = c.headers["webhook-signature"].split(' ').collect();
    assert_eq!(sigs.len(), 2, "{sigs:?}");
    assert!(sigs.iter().all(|s| s.starts_with("v1,")));
    verify_independently(&[(old.as_str(), c), (new.as_str(), c)]).await;
    // The check can fail: a secret that is neither does not verify.
    verify_rejects(&webhooks::new_secret(), c).await;
}

/// `Retry-After` is honoured; an event is given up after every retry, and
/// an endpoint that failed for the whole window is disabled.
async fn retries_give_up_and_disable(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut script = vec![Answer::RetryAfter(1)];
    script.extend(std::iter::repeat_n(Answer::Status(500), 4));
    let rx = Receiver::start(script).await;
    let (id, _) = register(&app.db, &rx.url).await;
    app.create_user("a@acme.example").await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let hook = store::get(&app.db, &id).await.unwrap().unwrap();
        if hook.disabled_at.is_some() {
            assert!(hook.disabled_reason.unwrap().contains("retry window"));
            break;
        }
        assert!(Instant::now() < deadline, "the endpoint was never disabled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let captured = rx.captured();
    // 1 + 4 retries, the first retry a second after the 503.
    assert_eq!(captured.len(), 5);
    let gap = captured[1].at - captured[0].at;
    assert!(gap >= Duration::from_millis(950), "{gap:?}");
    let record = store::deliveries(&app.db, &id, 100).await.unwrap();
    assert_eq!(record[0].outcome, "gave_up");
    assert_eq!(record[0].attempt, 5);
    // Disabled: nothing more is sent, whatever changes.
    app.create_user("b@acme.example").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.captured().len(), 5);
    // Enabled again, it resumes with the next event.
    assert!(store::enable(&app.db, &id).await.unwrap());
    let deadline = Instant::now() + PATIENCE;
    while rx.captured().len() < 6 {
        assert!(Instant::now() < deadline, "delivery did not resume");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last: Value = serde_json::from_str(&rx.captured()[5].body).unwrap();
    assert_eq!(last["data"]["userName"], "b@acme.example");
}

/// A test message, a redelivery, and an endpoint limited to a tenant and
/// to some event types.
async fn test_redeliver_and_filters(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let rx = Receiver::start(Vec::new()).await;
    let (other, other_token) = app.other_tenant("globex").await;
    let secret = webhooks::new_secret();
    let types = vec!["user.deleted".to_string()];
    let hook = store::create(&app.db, Some(&other.id), &rx.url, Some(&types), &secret)
        .await
        .unwrap();
    let d = webhooks::send_test(&app.db, &hook, &fast()).await.unwrap();
    assert_eq!((d.outcome.as_str(), d.status), ("test", Some(200)));
    // acme's changes and globex's creates are not for this endpoint.
    let acme_user = app.create_user("a@acme.example").await;
    app.delete(&format!("/Users/{acme_user}")).await.expect(204);
    let r = app
        .scim_as(
            &other_token,
            reqwest::Method::POST,
            "/Users",
            Some(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "g@globex.example"})),
        )
        .await;
    r.expect(201);
    let gid = r.body["id"].as_str().unwrap().to_string();
    app.scim_as(
        &other_token,
        reqwest::Method::DELETE,
        &format!("/Users/{gid}"),
        None,
    )
    .await
    .expect(204);
    let deadline = Instant::now() + PATIENCE;
    while rx.captured().len() < 2 {
        assert!(Instant::now() < deadline, "the deletion was not delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let captured = rx.captured();
    assert_eq!(captured.len(), 2, "only the test and globex's deletion");
    let test: Value = serde_json::from_str(&captured[0].body).unwrap();
    assert_eq!(test["type"], "webhook.test");
    let deleted: Value = serde_json::from_str(&captured[1].body).unwrap();
    assert_eq!(
        (deleted["type"].as_str(), deleted["tenant"].as_str()),
        (Some("user.deleted"), Some("globex"))
    );
    let record = store::deliveries(&app.db, &hook.id, 10).await.unwrap();
    let first = record.iter().find(|d| d.outcome == "delivered").unwrap();
    let again = webhooks::redeliver(&app.db, first, &fast())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.outcome, "redelivered");
    assert_eq!(again.status, Some(200));
    let captured = rx.captured();
    assert_eq!(captured.len(), 3);
    assert_eq!(
        captured[2].headers["webhook-id"],
        captured[1].headers["webhook-id"]
    );
    assert_eq!(captured[2].body, captured[1].body);
    let all: Vec<(&str, &Captured)> = captured.iter().map(|c| (secret.as_str(), c)).collect();
    verify_independently(&all).await;
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(crate::helpers::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(crate::helpers::Backend::Postgres).await;
                }
            }
        )*
    };
}

on_both!(
    deliveries_rebuild_the_directory,
    rotation_signs_with_both_secrets,
    retries_give_up_and_disable,
    test_redeliver_and_filters,
);

/// Two instances on one PostgreSQL database: every event reaches the
/// receiver once, in order, whichever instance sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deliver_each_event_once() {
    let Some(app) = spawn(Backend::Postgres).await else {
        return;
    };
    let second = app.spawn_second_instance().await;
    let rx = Receiver::start(Vec::new()).await;
    register(&app.db, &rx.url).await;
    let mut o = sim_options(&app, 0.3);
    o.base_urls.push(format!("{}/scim/v2", second.base));
    let report = sim::run(o).await.unwrap();
    assert!(report.ok(), "{}", report.human());
    let expected = scim_state(&app).await;
    rx.wait_for(&expected).await;
    assert!(rx.out_of_order().is_empty(), "{:?}", rx.out_of_order());
    let captured = rx.captured();
    let ids: Vec<&String> = captured.iter().map(|c| &c.headers["webhook-id"]).collect();
    let unique: HashSet<&&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "an event was delivered twice");
}

/// The operator's Webhooks page: health, latest deliveries, and its test,
/// redeliver and enable buttons (CSRF-protected); tenant admins get none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_console_page() {
    use crate::browser::{Browser, PASSWORD, create_admin, form, location, main_text};
    let app = spawn(Backend::Sqlite).await.unwrap();
    let rx = Receiver::start(vec![Answer::Status(500)]).await;
    let (id, _) = register(&app.db, &rx.url).await;
    app.create_user("ada@acme.example").await;
    let deadline = Instant::now() + PATIENCE;
    while rx.captured().len() < 2 {
        assert!(Instant::now() < deadline, "nothing was delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let operator = create_admin(&app, None, "ops@scimgate.example").await;
    let ops = Browser::fresh(&app);
    ops.sign_in(&operator.email, PASSWORD).await;
    let r = ops.get("/webhooks").await;
    r.expect(200);
    let text = main_text(&r.text);
    assert!(text.contains(&rx.url) && text.contains("Healthy"), "{text}");
    assert!(
        text.contains("delivered (200)") && text.contains("failed (500)"),
        "{text}"
    );

    // Send a test message.
    let test = form(&r.text, &format!("/webhooks/{id}/test"));
    let done = ops.submit(&test).await;
    assert_eq!(location(&done), "/webhooks");
    let r = ops.get("/webhooks").await;
    assert!(main_text(&r.text).contains("answered 200"), "{}", r.text);
    assert_eq!(rx.captured().len(), 3);

    // Redeliver the user's creation.
    let record = store::deliveries(&app.db, &id, 10).await.unwrap();
    let delivered = record.iter().find(|d| d.outcome == "delivered").unwrap();
    let again = form(
        &r.text,
        &format!("/webhooks/deliveries/{}/redeliver", delivered.id),
    );
    ops.submit(&again).await;
    let r = ops.get("/webhooks").await;
    assert!(
        main_text(&r.text).contains("sent again: answered 200"),
        "{}",
        r.text
    );
    assert_eq!(rx.captured().len(), 4);

    // Without the CSRF token nothing is sent.
    let mut forged = form(&r.text, &format!("/webhooks/{id}/test"));
    forged.set("csrf", "forged");
    let refused = ops.submit(&forged).await;
    assert_eq!(refused.status.as_u16(), 403);
    assert_eq!(rx.captured().len(), 4);

    // A disabled endpoint is flagged, with its Enable button.
    store::disable(&app.db, &id, "every delivery failed")
        .await
        .unwrap();
    let r = ops.get("/webhooks").await;
    let text = main_text(&r.text);
    assert!(
        text.contains("Disabled since") && text.contains("need"),
        "{text}"
    );
    let enable = form(&r.text, &format!("/webhooks/{id}/enable"));
    ops.submit(&enable).await;
    assert!(
        store::get(&app.db, &id)
            .await
            .unwrap()
            .unwrap()
            .disabled_at
            .is_none()
    );

    // Tenant admins do not see it.
    let admin = create_admin(&app, Some(&app.tenant.id), "it@acme.example").await;
    let tenant = Browser::fresh(&app);
    tenant.sign_in(&admin.email, PASSWORD).await;
    assert_eq!(tenant.get("/webhooks").await.status.as_u16(), 403);
}
