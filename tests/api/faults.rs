//! Surviving faults and scale-out: two instances on one PostgreSQL database
//! behind a round-robin "balancer", a server process killed with SIGKILL in
//! the middle of an initial cycle and restarted, and SIGTERM letting the
//! requests in flight finish before the process exits.
//!
//! The process tests run the real binary on a loopback port. Every wait is a
//! bounded poll; nothing sleeps in the hope that a server is ready.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use reqwest::StatusCode;
use scimgate::store::activity::Actor;
use scimgate::store::clients::{self, DEFAULT_SECRET_DAYS, ENTRA_REDIRECT_URIS};
use scimgate::store::{Db, tenants, tokens};
use scimgate_tools::sim::directory::Directory;
use scimgate_tools::sim::{self, AuthMode, Kind, Options, Report, dialect};
use serde_json::{Value, json};
use sqlx::Executor as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::browser::{
    Browser, PASSWORD, create_admin, create_entra_client, entra_query, expect_html, location,
};
use crate::helpers::{self, Backend, Reply, SecondInstance, TestApp, send};

/// The longest any single wait of these tests may take before it fails.
const PATIENCE: Duration = Duration::from_secs(60);
/// Pause between two polls of something that is not ready yet.
const POLL: Duration = Duration::from_millis(25);

fn scim_base(base: &str) -> String {
    format!("{base}/scim/v2")
}

async fn get_as(client: &reqwest::Client, base: &str, token: &str, path: &str) -> Reply {
    send(
        client
            .get(format!("{}{path}", scim_base(base)))
            .bearer_auth(token),
    )
    .await
}

/// The ids of every resource at `path` (`/Users` or `/Groups`), sorted.
async fn list_ids(client: &reqwest::Client, base: &str, token: &str, path: &str) -> Vec<String> {
    let r = get_as(client, base, token, &format!("{path}?count=1000")).await;
    r.expect(200);
    let mut ids: Vec<String> = r.body["Resources"]
        .as_array()
        .expect("a ListResponse")
        .iter()
        .map(|res| res["id"].as_str().expect("an id").to_string())
        .collect();
    assert_eq!(r.body["totalResults"], ids.len() as u64, "{}", r.text);
    ids.sort();
    ids
}

#[track_caller]
fn assert_clean(report: &Report) {
    assert!(
        report.ok(),
        "the simulation found problems:\n{}",
        report.human()
    );
    assert!(report.failures.is_empty() && report.differences.is_empty());
}

// ---------------------------------------------------------------------------
// Two instances on one PostgreSQL database
// ---------------------------------------------------------------------------

const SCALE_USERS: usize = 40;
const SCALE_GROUPS: usize = 5;
const SCALE_SEED: u64 = 7;
const SCALE_FRACTION: f64 = 0.25;

/// Simulator options sending requests alternately to both instances.
fn both(a: &str, b: &str, auth: AuthMode) -> Options {
    let mut o = Options::new(scim_base(a), auth);
    o.base_urls = vec![scim_base(a), scim_base(b)];
    o.users = SCALE_USERS;
    o.groups = SCALE_GROUPS;
    o.seed = SCALE_SEED;
    o.concurrency = 4;
    o.incremental_fraction = SCALE_FRACTION;
    o.member_batch = 15;
    o.refresh_every_cycle = true;
    o
}

/// Live users and groups the directory ends with.
fn scale_expected() -> (usize, usize) {
    let mut dir = Directory::generate(SCALE_SEED, SCALE_USERS, SCALE_GROUPS);
    dir.incremental(SCALE_SEED, SCALE_FRACTION);
    (
        dir.users.iter().filter(|u| !u.deleted).count(),
        dir.groups.len(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_postgres_database() {
    // Several instances need a database server; SQLite is one process's.
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    let b = app.spawn_second_instance().await;
    let a_base = app.base.clone();

    // Client credentials: tokens from B, requests alternating A, B, A, …
    let (cc, _, secret) = clients::create(
        &app.db,
        &app.tenant.id,
        "Entra",
        &[],
        DEFAULT_SECRET_DAYS,
        &Actor::operator(),
    )
    .await
    .unwrap();
    let auth = AuthMode::ClientCredentials {
        client_id: cc.id.clone(),
        client_secret: secret,
        token_url: format!("{}/oauth/token", b.base),
    };
    let report = sim::run(both(&a_base, &b.base, auth)).await.unwrap();
    assert_clean(&report);
    assert_eq!(report.targets.len(), 2);
    assert_eq!(report.count(Kind::CreateUser), SCALE_USERS as u64);
    assert_eq!(report.count(Kind::CreateGroup), SCALE_GROUPS as u64);
    assert_eq!(report.count(Kind::TokenClientCredentials), 2);
    assert!(report.count(Kind::DeleteUser) > 0, "{}", report.human());
    let (live_users, groups) = scale_expected();
    let users_a = list_ids(&app.client, &a_base, &app.token, "/Users").await;
    let users_b = list_ids(&app.client, &b.base, &app.token, "/Users").await;
    assert_eq!(users_a.len(), live_users);
    assert_eq!(users_a, users_b, "both instances must see the same users");
    let groups_a = list_ids(&app.client, &a_base, &app.token, "/Groups").await;
    let groups_b = list_ids(&app.client, &b.base, &app.token, "/Groups").await;
    assert_eq!(groups_a.len(), groups);
    assert_eq!(groups_a, groups_b);

    // Authorize, in a second tenant: the simulator's browser signs in and
    // consents on A, exchanges and refreshes at B, provisions through both.
    let (globex, globex_token) = app.other_tenant("globex").await;
    create_admin(&app, Some(&globex.id), "admin@globex.example").await;
    let (client, client_secret) = create_entra_client(&app, &globex.id, "Entra").await;
    let authorize = AuthMode::Authorize {
        client_id: client.id.clone(),
        client_secret: client_secret.clone(),
        authorize_url: format!("{a_base}/oauth/authorize"),
        token_url: format!("{}/oauth/token", b.base),
        redirect_uri: ENTRA_REDIRECT_URIS[0].to_string(),
        email: "admin@globex.example".into(),
        password: PASSWORD.into(),
    };
    let report = sim::run(both(&b.base, &a_base, authorize)).await.unwrap();
    assert_clean(&report);
    assert_eq!(report.auth, "authorize");
    assert_eq!(report.count(Kind::TokenCode), 1);
    assert_eq!(report.count(Kind::TokenRefresh), 1);
    assert_eq!(report.count(Kind::CreateUser), SCALE_USERS as u64);
    assert_eq!(
        list_ids(&app.client, &b.base, &globex_token, "/Users")
            .await
            .len(),
        live_users
    );

    // The same flow by hand, one browser (one cookie jar) switching
    // instances at every step: sign-in on A, consent on B, code exchanged
    // at A, refresh at B.
    let jar = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let on_a = Browser {
        client: jar.clone(),
        base: a_base.clone(),
    };
    let on_b = Browser {
        client: jar.clone(),
        base: b.base.clone(),
    };
    let path = format!("/oauth/authorize?{}", entra_query(&client.id, "xyz"));
    let to_signin = location(&on_a.get(&path).await);
    assert!(to_signin.starts_with("/signin"), "{to_signin}");
    let signed = on_a
        .sign_in_at(&to_signin, "admin@globex.example", PASSWORD)
        .await;
    assert_eq!(location(&signed), path, "sign-in on A: {}", signed.text);
    let consent = on_b.get(&path).await;
    consent.expect(200);
    expect_html(&consent);
    let back = url::Url::parse(&on_b.decide(&consent, "approve").await).unwrap();
    assert!(back.as_str().starts_with(ENTRA_REDIRECT_URIS[0]), "{back}");
    let query = |name: &str| {
        back.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(query("state").as_deref(), Some("xyz"));
    let code = query("code").expect("a code in the redirect");
    let token_at = |base: &str, form: &[(&str, &str)]| {
        send(
            jar.post(format!("{base}/oauth/token"))
                .basic_auth(&client.id, Some(&client_secret))
                .form(form),
        )
    };
    let t = token_at(
        &a_base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
        ],
    )
    .await;
    t.expect(200);
    let refresh = t.body["refresh_token"].as_str().unwrap().to_string();
    let t = token_at(
        &b.base,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    t.expect(200);
    let access = t.body["access_token"].as_str().unwrap().to_string();
    let refresh = t.body["refresh_token"].as_str().unwrap().to_string();
    // Reading everything back through both instances with that token finds
    // exactly what the authorize run provisioned.
    let mut verify = both(
        &a_base,
        &b.base,
        AuthMode::SecretToken {
            token: access.clone(),
        },
    );
    verify.verify_only = true;
    let report = sim::run(verify).await.unwrap();
    assert_clean(&report);
    assert_eq!(report.count(Kind::CreateUser), 0);
    assert_eq!(report.count(Kind::TestConnection), 1);
    assert!(report.count(Kind::ListUsers) >= 1 && report.count(Kind::ListGroups) >= 1);

    // A grant revoked at A is refused by B at once.
    get_as(&jar, &b.base, &access, "/Users?count=1")
        .await
        .expect(200);
    let r = send(
        jar.post(format!("{a_base}/oauth/revoke"))
            .basic_auth(&client.id, Some(&client_secret))
            .form(&[
                ("token", refresh.as_str()),
                ("token_type_hint", "refresh_token"),
            ]),
    )
    .await;
    r.expect(200);
    let refused = get_as(&jar, &b.base, &access, "/Users?count=1").await;
    refused.expect(401);
    let r = token_at(
        &b.base,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(r.status.as_u16(), 400, "{}", r.text);
    assert_eq!(r.body["error"], "invalid_grant", "{}", r.text);

    // A secret token revoked through B's database pool is refused by A at
    // once, and the tenant's other token keeps working there.
    let (info, second) =
        tokens::create_secret_token(&app.db, &app.tenant.id, "second", None, &Actor::operator())
            .await
            .unwrap();
    get_as(&jar, &a_base, &second, "/Users?count=1")
        .await
        .expect(200);
    assert!(
        tokens::revoke(&b.db, &info.id, &Actor::operator())
            .await
            .unwrap()
    );
    get_as(&jar, &a_base, &second, "/Users?count=1")
        .await
        .expect(401);
    get_as(&jar, &b.base, &second, "/Users?count=1")
        .await
        .expect(401);
    get_as(&jar, &a_base, &app.token, "/Users?count=1")
        .await
        .expect(200);
}

// ---------------------------------------------------------------------------
// A real server process
// ---------------------------------------------------------------------------

/// A database for a server process: a SQLite file in a temporary directory
/// (which also keeps the server logs), or a new PostgreSQL database that is
/// dropped at the end even when the test fails. It has one tenant with a
/// secret token.
struct ProcessDb {
    url: String,
    dir: tempfile::TempDir,
    pg: Option<(String, String)>,
    token: String,
}

impl ProcessDb {
    /// None (with a note) for PostgreSQL when no server is configured.
    async fn create(backend: Backend) -> Option<ProcessDb> {
        helpers::init();
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, pg) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("scimgate.db").display()),
                None,
            ),
            Backend::Postgres => {
                let Ok(admin_url) = std::env::var("SCIMGATE_TEST_POSTGRES_URL") else {
                    eprintln!("PostgreSQL test skipped: SCIMGATE_TEST_POSTGRES_URL is not set");
                    return None;
                };
                let name = format!("scimgate_t_{}", uuid::Uuid::new_v4().simple());
                helpers::admin_connection(&admin_url)
                    .await
                    .execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create test database");
                (
                    helpers::database_url(&admin_url, &name),
                    Some((admin_url, name)),
                )
            }
        };
        // From here on the guard exists, so the database goes on any failure.
        let mut this = ProcessDb {
            url,
            dir,
            pg,
            token: String::new(),
        };
        let db = Db::connect(&this.url).await.expect("connect test database");
        let tenant = tenants::create(&db, "acme", "Acme Corp")
            .await
            .expect("tenant");
        let (_, token) =
            tokens::create_secret_token(&db, &tenant.id, "tests", None, &Actor::operator())
                .await
                .expect("token");
        db.close().await;
        this.token = token;
        Some(this)
    }
}

impl Drop for ProcessDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let mut admin = helpers::admin_connection(&admin_url).await;
                    let _ = admin
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                });
            })
            .join();
        }
    }
}

/// `scimgate serve` as a child process on a loopback port; killed when
/// dropped, its log shown when the test failed.
struct ServerProcess {
    child: tokio::process::Child,
    pid: u32,
    addr: SocketAddr,
    base: String,
    log: PathBuf,
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl ServerProcess {
    /// Starts the binary on `db` and waits (bounded) until it answers with
    /// the database's token. A port taken between choosing and binding it
    /// is retried with another.
    async fn start(db: &ProcessDb) -> ServerProcess {
        Self::start_with(db, &[]).await
    }

    /// The same with more arguments to `serve`.
    async fn start_with(db: &ProcessDb, extra: &[&str]) -> ServerProcess {
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
            let log = db.dir.path().join(format!("server-{}.log", addr.port()));
            let out = std::fs::File::create(&log).expect("server log file");
            let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimgate"))
                .args(["serve", "--bind", &addr.to_string()])
                .args(extra)
                .env("SCIMGATE_DATABASE_URL", &db.url)
                .env_remove("SCIMGATE_PUBLIC_URL")
                .env("RUST_LOG", "info,sqlx=warn")
                // These tests write far faster than an identity provider.
                .env("SCIMGATE_TENANT_RATE_LIMIT", "0")
                .stdin(std::process::Stdio::null())
                .stdout(out.try_clone().expect("log file handle"))
                .stderr(out)
                .kill_on_drop(true)
                .spawn()
                .expect("start the scimgate binary");
            let pid = child.id().expect("a running child has a pid");
            let mut server = ServerProcess {
                child,
                pid,
                addr,
                base: format!("http://{addr}"),
                log,
            };
            match server.wait_until_answering().await {
                Ok(()) => {
                    let r = get_as(
                        &reqwest::Client::new(),
                        &server.base,
                        &db.token,
                        "/Users?count=1",
                    )
                    .await;
                    assert_eq!(
                        r.status,
                        StatusCode::OK,
                        "the server on {addr} does not accept this test's token: {}",
                        r.text
                    );
                    return server;
                }
                Err(status) => {
                    let log = server.log_text();
                    if attempt < ATTEMPTS && log.contains("cannot listen") {
                        continue;
                    }
                    panic!("the server exited at start ({status}); its log:\n{log}");
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Polls until the port accepts connections; the exit status when the
    /// process ended first.
    async fn wait_until_answering(&mut self) -> Result<(), std::process::ExitStatus> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the child") {
                return Err(status);
            }
            if TcpStream::connect(self.addr).await.is_ok() {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "the server did not answer on {} within {PATIENCE:?}; its log:\n{}",
                self.addr,
                self.log_text()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, and reap the process.
    async fn sigkill(&mut self) {
        self.child.kill().await.expect("SIGKILL the server");
    }

    fn sigterm(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {} failed", self.pid);
    }

    /// Polls until a new connection is refused.
    async fn wait_until_refusing(&self) {
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(self.addr).await.is_ok() {
            assert!(
                Instant::now() < deadline,
                "the server still accepts connections {PATIENCE:?} after SIGTERM; its log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            eprintln!(
                "--- log of the server on {} ---\n{}",
                self.addr,
                self.log_text()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// SIGKILL in the middle of an initial cycle
// ---------------------------------------------------------------------------

const KILL_USERS: usize = 300;
const KILL_GROUPS: usize = 4;
const KILL_SEED: u64 = 11;
/// Creates answered with success before the server is killed.
const KILL_AFTER: usize = 100;
const KILL_CONCURRENCY: usize = 8;

async fn sigkill_in_the_middle_of_an_initial_cycle(backend: Backend) {
    let Some(db) = ProcessDb::create(backend).await else {
        return;
    };
    // The product follows by webhook and by the feed throughout.
    let receiver = crate::webhooks::Receiver::start(Vec::new()).await;
    let app_key = {
        let conn = Db::connect(&db.url).await.expect("connect");
        crate::webhooks::register(&conn, &receiver.url).await;
        let key = scimgate::store::app_keys::create(&conn, None, "product")
            .await
            .expect("app key")
            .1;
        conn.close().await;
        key
    };
    let mut server = ServerProcess::start(&db).await;
    let dir = Directory::generate(KILL_SEED, KILL_USERS, KILL_GROUPS);

    // The user creates of Entra's initial cycle (the simulator's own request
    // bodies), eight in flight; each success is remembered. None starts once
    // enough have succeeded, so the kill always lands mid-cycle, with the
    // requests then in flight cut off or answered.
    let http = reqwest::Client::new();
    let created: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let unexpected: Arc<Mutex<Vec<String>>> = Arc::default();
    let successes = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    let writer = {
        let (created, unexpected, successes, enough) = (
            created.clone(),
            unexpected.clone(),
            successes.clone(),
            enough.clone(),
        );
        let http = http.clone();
        let url = format!("{}/Users", scim_base(&server.base));
        let token = db.token.clone();
        let bodies: Vec<(String, Value)> = dir
            .users
            .iter()
            .map(|u| (u.user_name.clone(), dialect::create_user(u)))
            .collect();
        tokio::spawn(async move {
            futures_util::stream::iter(bodies)
                .for_each_concurrent(KILL_CONCURRENCY, |(user_name, body)| {
                    let (http, url, token) = (&http, &url, &token);
                    let (created, unexpected, successes, enough) =
                        (&created, &unexpected, &successes, &enough);
                    async move {
                        if successes.load(Ordering::SeqCst) >= KILL_AFTER {
                            return;
                        }
                        let sent = http
                            .post(url)
                            .bearer_auth(token)
                            .header("content-type", "application/scim+json")
                            .body(body.to_string())
                            .timeout(PATIENCE)
                            .send()
                            .await;
                        let Ok(resp) = sent else { return };
                        let status = resp.status();
                        // A body cut off by the kill is no answer.
                        let Ok(text) = resp.text().await else { return };
                        if status != StatusCode::CREATED {
                            lock(unexpected).push(format!("{user_name}: {status} {text}"));
                            return;
                        }
                        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        let id = v["id"].as_str().unwrap_or_default().to_string();
                        lock(created).push((user_name, id));
                        if successes.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                            enough.notify_one();
                        }
                    }
                })
                .await;
        })
    };
    tokio::time::timeout(PATIENCE, enough.notified())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{KILL_AFTER} creates did not succeed within {PATIENCE:?}; unexpected answers: {:?}",
                lock(&unexpected)
            )
        });
    server.sigkill().await;
    tokio::time::timeout(PATIENCE, writer)
        .await
        .expect("the requests end once the server is gone")
        .expect("the request task");
    assert!(
        lock(&unexpected).is_empty(),
        "creates answered with something else than 201 before the kill: {:?}",
        lock(&unexpected)
    );
    let created = lock(&created).clone();
    assert!((KILL_AFTER..KILL_AFTER + KILL_CONCURRENCY).contains(&created.len()));
    assert!(created.iter().all(|(_, id)| !id.is_empty()));

    // Restarted on the same database: every create answered 201 is there
    // under the id it was answered with; at most the requests in flight at
    // the kill may have been stored without an answer.
    let server = ServerProcess::start(&db).await;
    let r = get_as(&http, &server.base, &db.token, "/Users?count=1000").await;
    r.expect(200);
    let stored: std::collections::HashMap<&str, &str> = r.body["Resources"]
        .as_array()
        .expect("a ListResponse")
        .iter()
        .map(|u| {
            (
                u["id"].as_str().unwrap_or_default(),
                u["userName"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    for (user_name, id) in &created {
        assert_eq!(
            stored.get(id.as_str()).copied(),
            Some(user_name.as_str()),
            "user {user_name} (id {id}) was answered 201 before the kill but is not stored"
        );
    }
    let before = stored.len();
    assert!(
        before <= created.len() + KILL_CONCURRENCY,
        "{before} users stored, {} answered",
        created.len()
    );

    // The simulator's next cycle with the same seed resumes: it finds the
    // stored users by matching, creates the rest and reads everything back
    // without a difference.
    let mut o = Options::new(
        scim_base(&server.base),
        AuthMode::SecretToken {
            token: db.token.clone(),
        },
    );
    o.users = KILL_USERS;
    o.groups = KILL_GROUPS;
    o.seed = KILL_SEED;
    o.concurrency = 4;
    o.incremental_fraction = 0.0;
    o.member_batch = 100;
    let report = sim::run(o).await.unwrap();
    assert_clean(&report);
    assert_eq!(report.count(Kind::MatchUser), KILL_USERS as u64);
    assert_eq!(
        report.count(Kind::CreateUser),
        (KILL_USERS - before) as u64,
        "{}",
        report.human()
    );
    // The users stored before the kill are complete: nothing to update.
    assert_eq!(report.count(Kind::UpdateUser), 0, "{}", report.human());
    assert_eq!(report.count(Kind::CreateGroup), KILL_GROUPS as u64);
    let users = list_ids(&http, &server.base, &db.token, "/Users").await;
    assert_eq!(users.len(), KILL_USERS);

    // What the product learnt — by webhook (deliveries the kill cut off are
    // taken over when their lease runs out) and from the feed — is exactly
    // what SCIM holds.
    let expected = crate::events::scim_state_at(&http, &scim_base(&server.base), &db.token).await;
    assert_eq!(
        crate::events::replica_from_feed(&http, &server.base, &app_key).await,
        expected,
        "the copy rebuilt from /api/v1/events"
    );
    receiver.wait_for(&expected).await;
    assert!(
        receiver.out_of_order().is_empty(),
        "{:?}",
        receiver.out_of_order()
    );
}

// ---------------------------------------------------------------------------
// JSON logs, and SIGTERM during a burst of writes
// ---------------------------------------------------------------------------

/// With `--log-format json` every line of the log is a JSON object with
/// its time, level and message, requests carry their id, route and tenant,
/// and no secret a client sent appears anywhere. SIGTERM during a burst of
/// creates: the process exits with status 0, and every create it
/// acknowledged is stored.
async fn json_logs_and_sigterm_during_writes(backend: Backend) {
    let Some(db) = ProcessDb::create(backend).await else {
        return;
    };
    let mut server = ServerProcess::start_with(
        &db,
        &["--log-format", "json", "--shutdown-grace-seconds", "20"],
    )
    .await;
    let http = reqwest::Client::new();
    // A refused token, a request id of the client's, and a writer's burst.
    let wrong = "sgst_this-secret-must-never-be-logged";
    let r = send(
        http.get(format!("{}/Users", scim_base(&server.base)))
            .bearer_auth(wrong)
            .header("x-request-id", "client-request-7"),
    )
    .await;
    r.expect(401);
    assert_eq!(r.header("x-request-id"), Some("client-request-7"));
    let too_long = "x".repeat(500);
    let r = send(
        http.get(format!("{}/healthz", server.base))
            .header("x-request-id", too_long.as_str()),
    )
    .await;
    assert_ne!(r.header("x-request-id"), Some(too_long.as_str()));

    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let writer = {
        let (http, url, token, acknowledged) = (
            http.clone(),
            format!("{}/Users", scim_base(&server.base)),
            db.token.clone(),
            acknowledged.clone(),
        );
        tokio::spawn(async move {
            let bodies = (0..400).map(|i| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("burst{i}@acme.example")}));
            futures_util::stream::iter(bodies)
                .for_each_concurrent(8, |body| {
                    let (http, url, token, acknowledged) = (&http, &url, &token, &acknowledged);
                    async move {
                        let Ok(resp) = http.post(url).bearer_auth(token).json(&body).send().await
                        else {
                            return;
                        };
                        if resp.status() != StatusCode::CREATED {
                            return;
                        }
                        let Ok(v) = resp.json::<Value>().await else {
                            return;
                        };
                        lock(acknowledged).push(v["id"].as_str().unwrap_or_default().to_string());
                    }
                })
                .await;
        })
    };
    let deadline = Instant::now() + PATIENCE;
    while lock(&acknowledged).len() < 50 {
        assert!(Instant::now() < deadline, "the burst did not start");
        tokio::time::sleep(POLL).await;
    }
    server.sigterm();
    let status = tokio::time::timeout(PATIENCE, server.child.wait())
        .await
        .expect("the server exits after SIGTERM")
        .expect("wait for the server");
    assert_eq!(status.code(), Some(0), "log:\n{}", server.log_text());
    writer.await.unwrap();
    let acknowledged = lock(&acknowledged).clone();

    let log = server.log_text();
    assert!(!log.contains(wrong), "a presented token was logged");
    assert!(!log.contains(&db.token), "the tenant's token was logged");
    let mut refused = None;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string() && v["message"].is_string(),
            "{line}"
        );
        if v["message"] == "request refused" && v["span"]["request_id"] == "client-request-7" {
            refused = Some(v);
        }
    }
    let refused = refused.expect("the refused request is logged with the client's request id");
    assert_eq!(refused["status"], 401);
    assert_eq!(refused["span"]["route"], "/scim/v2/:resource");
    assert!(refused["latency_ms"].is_number());
    assert!(log.contains("\"message\":\"scimgate stopped\""), "{log}");

    // Restarted: every acknowledged create is there.
    let server = ServerProcess::start(&db).await;
    let users = list_ids(&http, &server.base, &db.token, "/Users").await;
    let stored: std::collections::HashSet<&String> = users.iter().collect();
    for id in &acknowledged {
        assert!(
            stored.contains(id),
            "user {id} was acknowledged before SIGTERM but is not stored"
        );
    }
}

// ---------------------------------------------------------------------------
// SIGTERM lets the requests in flight finish
// ---------------------------------------------------------------------------

/// A request the server has started handling: its headers are read and the
/// handler has asked for the body (`100 Continue`), which is still to come.
struct InFlight {
    stream: TcpStream,
    body: Vec<u8>,
    what: String,
}

/// Reads up to the end of a response head (bounded in size).
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert!(head.len() < 16 * 1024, "a response head over 16 KiB");
        let n = stream.read(&mut byte).await.expect("read a response head");
        assert!(
            n > 0,
            "the connection closed before a response head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

impl InFlight {
    async fn begin(addr: SocketAddr, token: &str, method: &str, path: &str, body: &Value) -> Self {
        let what = format!("{method} {path}");
        let body = body.to_string().into_bytes();
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "{method} /scim/v2{path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.expect("send head");
        let interim = tokio::time::timeout(PATIENCE, read_head(&mut stream))
            .await
            .unwrap_or_else(|_| panic!("{what}: no 100 Continue within {PATIENCE:?}"));
        assert!(
            interim.starts_with("HTTP/1.1 100"),
            "{what}: expected 100 Continue, got {interim:?}"
        );
        InFlight { stream, body, what }
    }

    /// Sends the body and reads the whole response: status and JSON body.
    async fn finish(mut self) -> (u16, Value) {
        self.stream.write_all(&self.body).await.expect("send body");
        let mut raw = Vec::new();
        tokio::time::timeout(PATIENCE, self.stream.read_to_end(&mut raw))
            .await
            .unwrap_or_else(|_| panic!("{}: no complete response within {PATIENCE:?}", self.what))
            .expect("read the response");
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("{}: not an HTTP response: {text:?}", self.what));
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{}: no status in {head:?}", self.what));
        let chunked = head.lines().any(|l| {
            l.to_ascii_lowercase()
                .starts_with("transfer-encoding: chunked")
        });
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_string()
        };
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
}

/// The payload of a chunked body.
fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

const TERM_MEMBERS: usize = 150;
const TERM_CREATES: usize = 4;

async fn sigterm_lets_requests_in_flight_finish(backend: Backend) {
    let Some(db) = ProcessDb::create(backend).await else {
        return;
    };
    let mut server = ServerProcess::start(&db).await;
    let http = reqwest::Client::new();
    let post = |path: &'static str, body: Value| {
        send(
            http.post(format!("{}{path}", scim_base(&server.base)))
                .bearer_auth(&db.token)
                .header("content-type", "application/scim+json")
                .body(body.to_string()),
        )
    };
    let member_ids: Vec<String> = futures_util::stream::iter(0..TERM_MEMBERS)
        .map(|i| {
            post(
                "/Users",
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("member{i}@acme.example"),
                    "active": true,
                }),
            )
        })
        .buffer_unordered(4)
        .map(|r| {
            r.expect(201);
            r.body["id"].as_str().unwrap().to_string()
        })
        .collect()
        .await;
    let g = post(
        "/Groups",
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Everyone",
        }),
    )
    .await;
    g.expect(201);
    let group_id = g.body["id"].as_str().unwrap().to_string();

    // Requests the server is already handling when SIGTERM arrives: one
    // PATCH adding every member, and several creates.
    let members: Vec<Value> = member_ids.iter().map(|id| json!({"value": id})).collect();
    let mut in_flight = vec![
        InFlight::begin(
            server.addr,
            &db.token,
            "PATCH",
            &format!("/Groups/{group_id}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": members}],
            }),
        )
        .await,
    ];
    for i in 0..TERM_CREATES {
        in_flight.push(
            InFlight::begin(
                server.addr,
                &db.token,
                "POST",
                "/Users",
                &json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("late{i}@acme.example"),
                    "active": true,
                }),
            )
            .await,
        );
    }
    server.sigterm();
    // New connections are refused while the process still runs for the
    // requests in flight.
    server.wait_until_refusing().await;
    assert!(
        server.child.try_wait().expect("poll the child").is_none(),
        "the server exited with requests in flight; its log:\n{}",
        server.log_text()
    );
    let answers = futures_util::future::join_all(in_flight.into_iter().map(InFlight::finish)).await;
    let (patch_status, patch_body) = &answers[0];
    assert!(
        matches!(patch_status, 200 | 204),
        "the member PATCH answered {patch_status}: {patch_body}"
    );
    let mut late = Vec::new();
    for (i, (status, body)) in answers[1..].iter().enumerate() {
        assert_eq!(*status, 201, "create {i} answered {status}: {body}");
        assert_eq!(body["userName"], format!("late{i}@acme.example"));
        late.push(body["id"].as_str().expect("an id").to_string());
    }
    let status = tokio::time::timeout(PATIENCE, server.child.wait())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the server did not exit within {PATIENCE:?} after its last request; its log:\n{}",
                server.log_text()
            )
        })
        .expect("wait for the server");
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status}; log:\n{}",
        server.log_text()
    );
    assert!(
        server
            .log_text()
            .contains("shutting down: finishing in-flight requests")
    );

    // What those requests did is stored.
    let reader = SecondInstance::start(&db.url).await;
    for (i, id) in late.iter().enumerate() {
        let r = get_as(&http, &reader.base, &db.token, &format!("/Users/{id}")).await;
        r.expect(200);
        assert_eq!(r.body["userName"], format!("late{i}@acme.example"));
    }
    let r = get_as(
        &http,
        &reader.base,
        &db.token,
        &format!("/Groups/{group_id}"),
    )
    .await;
    r.expect(200);
    let mut stored: Vec<String> = r.body["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|v| v["value"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    stored.sort();
    let mut wanted = member_ids;
    wanted.sort();
    assert_eq!(stored, wanted, "the group's members after the shutdown");
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `NAME::sqlite` and `NAME::postgres` for a test of a server process.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use crate::helpers::Backend;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(Backend::Postgres).await;
                }
            }
        )*
    };
}

on_both_backends!(
    json_logs_and_sigterm_during_writes,
    sigkill_in_the_middle_of_an_initial_cycle,
    sigterm_lets_requests_in_flight_finish,
);
