//! The test application: a real scimgate on 127.0.0.1:0 over a fresh
//! database (a temporary SQLite file, or a new PostgreSQL database when
//! `SCIMGATE_TEST_POSTGRES_URL` is set), and typed helpers to talk to it.

use std::sync::Once;

use reqwest::{Method, StatusCode};
use scimgate::Server;
use scimgate::config::Config;
use scimgate::store::activity::Actor;
use scimgate::store::tenants::Tenant;
use scimgate::store::{Db, tenants, tokens};
use serde_json::Value;
use sqlx::Executor as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(TestApp)` once per database: `NAME::sqlite`
/// always, `NAME::postgres` when `SCIMGATE_TEST_POSTGRES_URL` is set.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await;
                    super::$name(app).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::helpers::TestApp::spawn_postgres().await {
                        super::$name(app).await;
                    }
                }
            }
        )*
    };
}

pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Quiet unless asked: TEST_LOG=1 shows the server's logs.
        if std::env::var_os("TEST_LOG").is_some() {
            scimgate::cli::init_tracing(scimgate::cli::LogFormat::Text);
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

pub struct TestApp {
    pub backend: Backend,
    /// `http://127.0.0.1:PORT`, or the configured public URL.
    pub base: String,
    /// `http://127.0.0.1:PORT` always.
    pub local: String,
    pub db: Db,
    pub client: reqwest::Client,
    pub tenant: Tenant,
    /// A secret token of `tenant`.
    pub token: String,
    /// `http://127.0.0.1:PORT` of the management listener, when configured.
    pub management: Option<String>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

/// The reply of a request: status, headers and the body parsed as JSON
/// (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts a SCIM error with this status and scimType.
    #[track_caller]
    pub fn expect_error(&self, status: u16, scim_type: Option<&str>) -> &Self {
        self.expect(status);
        assert_eq!(
            self.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "not a SCIM error: {}",
            self.text
        );
        assert_eq!(self.body["status"], status.to_string());
        assert_eq!(
            self.body.get("scimType").and_then(Value::as_str),
            scim_type,
            "scimType of {}",
            self.text
        );
        assert!(
            self.body["detail"].as_str().is_some_and(|d| d.len() > 10),
            "an error must say what is wrong: {}",
            self.text
        );
        self
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        match backend {
            Backend::Sqlite => Self::spawn_sqlite().await,
            Backend::Postgres => Self::spawn_postgres()
                .await
                .expect("SCIMGATE_TEST_POSTGRES_URL must be set for PostgreSQL tests"),
        }
    }

    pub async fn spawn_sqlite() -> TestApp {
        Self::spawn_sqlite_with(|_| {}).await
    }

    async fn spawn_sqlite_with(configure: impl FnOnce(&mut Config)) -> TestApp {
        init();
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("scimgate.db").display());
        Self::start(Backend::Sqlite, &url, Some(dir), None, configure).await
    }

    /// As `spawn`, with the configuration changed first (short token
    /// lifetimes, small limits…). None when the backend is not available.
    pub async fn spawn_with(
        backend: Backend,
        configure: impl FnOnce(&mut Config),
    ) -> Option<TestApp> {
        match backend {
            Backend::Sqlite => Some(Self::spawn_sqlite_with(configure).await),
            Backend::Postgres => Self::spawn_postgres_with(configure).await,
        }
    }

    /// A fresh database on the configured PostgreSQL server, or None (with a
    /// note) when none is configured.
    pub async fn spawn_postgres() -> Option<TestApp> {
        Self::spawn_postgres_with(|_| {}).await
    }

    async fn spawn_postgres_with(configure: impl FnOnce(&mut Config)) -> Option<TestApp> {
        init();
        let Ok(admin_url) = std::env::var("SCIMGATE_TEST_POSTGRES_URL") else {
            eprintln!("PostgreSQL test skipped: SCIMGATE_TEST_POSTGRES_URL is not set");
            return None;
        };
        let name = format!("scimgate_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = admin_connection(&admin_url).await;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        let url = database_url(&admin_url, &name);
        Some(
            Self::start(
                Backend::Postgres,
                &url,
                None,
                Some((admin_url, name)),
                configure,
            )
            .await,
        )
    }

    async fn start(
        backend: Backend,
        url: &str,
        dir: Option<tempfile::TempDir>,
        pg: Option<(String, String)>,
        configure: impl FnOnce(&mut Config),
    ) -> TestApp {
        let db = Db::connect(url).await.expect("connect test database");
        let mut config = Config::new(url, "127.0.0.1:0".parse().unwrap());
        // The suite drives the server far faster than any identity provider
        // or person: no rate limits unless a test sets them.
        config.rates = scimgate::config::Rates {
            tenant: 0,
            client: 0,
        };
        configure(&mut config);
        let server = Server::bind_with_db(config, db.clone())
            .await
            .expect("bind");
        let base = server.public_url().to_string();
        let local = format!("http://{}", server.local_addr());
        let management = server.management_addr().map(|a| format!("http://{a}"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server.run_until(async {
            let _ = rx.await;
        }));
        let tenant = tenants::create(&db, "acme", "Acme Corp")
            .await
            .expect("tenant");
        let (_, token) =
            tokens::create_secret_token(&db, &tenant.id, "tests", None, &Actor::operator())
                .await
                .expect("token");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap();
        TestApp {
            backend,
            base,
            local,
            db,
            client,
            tenant,
            token,
            management,
            shutdown: Some(tx),
            server: Some(handle),
            _dir: dir,
            pg,
        }
    }

    /// Sends the server its shutdown signal (as SIGTERM would) and returns
    /// the server task, which ends once the server has stopped.
    pub fn begin_shutdown(&mut self) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.server.take().expect("the server is running")
    }

    /// Another tenant with its own token.
    pub async fn other_tenant(&self, slug: &str) -> (Tenant, String) {
        let t = tenants::create(&self.db, slug, slug).await.expect("tenant");
        let (_, token) =
            tokens::create_secret_token(&self.db, &t.id, "other", None, &Actor::operator())
                .await
                .expect("token");
        (t, token)
    }

    pub fn scim_url(&self, path: &str) -> String {
        format!("{}/scim/v2{path}", self.base)
    }

    /// Sends a SCIM request with this app's token.
    pub async fn scim(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        self.scim_as(&self.token, method, path, body).await
    }

    pub async fn scim_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Reply {
        let mut req = self
            .client
            .request(method, self.scim_url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        send(req).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.scim(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.scim(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.scim(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.scim(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.scim(Method::DELETE, path, None).await
    }

    /// Creates a user and returns its id.
    pub async fn create_user(&self, user_name: &str) -> String {
        let r = self
            .post(
                "/Users",
                &serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                    "active": true,
                }),
            )
            .await;
        r.expect(201);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// Creates a group (no members) and returns its id.
    pub async fn create_group(&self, name: &str) -> String {
        let r = self
            .post(
                "/Groups",
                &serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": name,
                }),
            )
            .await;
        r.expect(201);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// Like [`TestApp::spawn_postgres`], on a database with a linguistic
    /// (ICU English) collation as most production servers have, instead of
    /// the test server's default.
    pub async fn spawn_postgres_linguistic() -> Option<TestApp> {
        init();
        let admin_url = std::env::var("SCIMGATE_TEST_POSTGRES_URL").ok()?;
        let name = format!("scimgate_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = admin_connection(&admin_url).await;
        admin
            .execute(
                format!(
                    "CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en' LOCALE 'C.UTF-8'"
                )
                .as_str(),
            )
            .await
            .expect("create test database with an ICU collation");
        let url = database_url(&admin_url, &name);
        Some(
            Self::start(
                Backend::Postgres,
                &url,
                None,
                Some((admin_url, name)),
                |_| {},
            )
            .await,
        )
    }

    /// The URL of this app's database.
    pub fn db_url(&self) -> String {
        match (&self.pg, &self._dir) {
            (Some((admin_url, name)), _) => database_url(admin_url, name),
            (None, Some(dir)) => format!("sqlite://{}", dir.path().join("scimgate.db").display()),
            (None, None) => {
                unreachable!("every test app has a SQLite file or a PostgreSQL database")
            }
        }
    }

    /// Another scimgate over this app's database, as a second instance
    /// behind a load balancer would be.
    pub async fn spawn_second_instance(&self) -> SecondInstance {
        SecondInstance::start(&self.db_url()).await
    }
}

/// A scimgate on 127.0.0.1:0 with its own connection pools over an existing
/// database; stopped when dropped.
pub struct SecondInstance {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub db: Db,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl SecondInstance {
    pub async fn start(url: &str) -> SecondInstance {
        init();
        let db = Db::connect(url)
            .await
            .expect("connect to the shared database");
        let mut config = Config::new(url, "127.0.0.1:0".parse().unwrap());
        config.rates = scimgate::config::Rates {
            tenant: 0,
            client: 0,
        };
        let server = Server::bind_with_db(config, db.clone())
            .await
            .expect("bind the second instance");
        let base = server.public_url().to_string();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server.run_until(async {
            let _ = rx.await;
        }));
        SecondInstance {
            base,
            db,
            shutdown: Some(tx),
            server: Some(handle),
        }
    }
}

impl Drop for SecondInstance {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.abort();
        }
    }
}

pub async fn send(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.expect("request failed");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

pub async fn admin_connection(admin_url: &str) -> sqlx::PgConnection {
    use sqlx::Connection as _;
    sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to SCIMGATE_TEST_POSTGRES_URL")
}

/// `admin_url` with its database name replaced by `name`.
pub fn database_url(admin_url: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin_url).expect("SCIMGATE_TEST_POSTGRES_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.abort();
        }
        if let Some((admin_url, name)) = self.pg.take() {
            // Drop runs outside async context guarantees: use a thread with its
            // own runtime so the database is removed even after a failure.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let mut admin = admin_connection(&admin_url).await;
                    let _ = admin
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                });
            })
            .join();
        }
    }
}
