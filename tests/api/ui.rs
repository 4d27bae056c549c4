//! The console in a real browser: headless Chromium driven over WebDriver
//! (`chromedriver`), clicking and typing as a person does, against a real
//! scimgate whose data was provisioned through the SCIM API.
//!
//! Each test starts its own `chromedriver` on a free loopback port (it is
//! ready in a few tens of milliseconds; the browser session itself takes
//! about a second and a half, and would have to be per test anyway) in its
//! own process group, and kills that group when the test ends, passed or
//! failed, so no browser outlives its test. Chromium only reaches loopback:
//! every other host name resolves to nothing.
//!
//! Without `chromium` and `chromedriver` the tests are skipped with a notice,
//! or fail when `CI=true`. With `SCIMGATE_SCREENSHOTS=DIR` they save PNGs of
//! the main pages to DIR.

mod accessibility;
mod connect;
mod pages;
mod signin;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::browser::{PASSWORD, create_admin};
use crate::helpers::TestApp;

/// The console account the browser tests sign in with.
pub const ADMIN: &str = "it-admin@acme.example";

/// How long a page or an element may take to appear.
const PATIENCE: Duration = Duration::from_secs(10);

/// Chromium's window: desktop width, as the screenshots show it.
pub const DESKTOP: (u32, u32) = (1280, 800);
/// A phone's window (an iPhone 12–15 in CSS pixels).
pub const PHONE: (u32, u32) = (390, 844);

/// The two programs, found on `PATH`.
struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The tools, or None after a loud notice; panics when `CI=true`, where a
/// skipped browser test would hide a broken setup.
fn tools() -> Option<Tools> {
    let chromium = on_path("chromium");
    let chromedriver = on_path("chromedriver");
    if let (Some(chromium), Some(chromedriver)) = (chromium.clone(), chromedriver.clone()) {
        return Some(Tools {
            chromium,
            chromedriver,
        });
    }
    let missing: Vec<&str> = [("chromium", &chromium), ("chromedriver", &chromedriver)]
        .into_iter()
        .filter(|(_, p)| p.is_none())
        .map(|(n, _)| n)
        .collect();
    let message = format!(
        "the browser tests need {} on PATH; install them with \
         `apt-get install -y chromium chromium-driver` (scripts/test does so when run as root)",
        missing.join(" and ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!("\n******** BROWSER TEST SKIPPED: {message} ********\n");
    None
}

/// A `chromedriver` in its own process group; the whole group (the driver
/// and every browser it started) is killed when this is dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(tools: &Tools) -> Driver {
        use std::os::unix::process::CommandExt as _;
        for _ in 0..5 {
            // A free port, released just before chromedriver takes it: if
            // another process wins the race, the driver exits and we retry.
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let logs = std::env::var_os("TEST_LOG").is_some();
            let mut child = Command::new(&tools.chromedriver)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdin(Stdio::null())
                .stdout(if logs {
                    Stdio::inherit()
                } else {
                    Stdio::null()
                })
                .stderr(if logs {
                    Stdio::inherit()
                } else {
                    Stdio::null()
                })
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", tools.chromedriver.display()));
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + PATIENCE;
            loop {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Driver {
                        child,
                        url: format!("http://{addr}"),
                    };
                }
                if child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("chromedriver did not start listening on a loopback port");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The process group's id is the driver's pid (`process_group(0)`).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the browser is set up.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub javascript: bool,
    pub window: (u32, u32),
}

impl Default for Options {
    fn default() -> Self {
        Options {
            javascript: true,
            window: DESKTOP,
        }
    }
}

/// One browser session on the test app.
pub struct Ui {
    pub client: Client,
    /// `http://127.0.0.1:PORT` of the app.
    pub base: String,
    // Dropped after the client, in this order: the driver's process group,
    // then the profile directory.
    _driver: Driver,
    _profile: tempfile::TempDir,
}

impl Ui {
    /// A desktop browser with JavaScript, or None when the browser tests
    /// are skipped on this machine.
    pub async fn open(app: &TestApp) -> Option<Ui> {
        Self::open_with(app, Options::default()).await
    }

    pub async fn open_with(app: &TestApp, options: Options) -> Option<Ui> {
        let tools = tools()?;
        let driver = Driver::start(&tools);
        let profile = tempfile::tempdir().expect("profile directory");
        let (w, h) = options.window;
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--no-first-run".to_string(),
            "--disable-sync".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--force-device-scale-factor=1".to_string(),
            "--hide-scrollbars".to_string(),
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={w},{h}"),
            // Only loopback: any other host name does not resolve.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1".to_string(),
        ];
        let mut chrome = json!({
            "binary": tools.chromium,
            "args": args,
        });
        if !options.javascript {
            chrome["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), chrome);
        let client = ClientBuilder::rustls()
            .expect("TLS roots")
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("start a Chromium session through chromedriver");
        let ui = Ui {
            client,
            base: app.base.clone(),
            _driver: driver,
            _profile: profile,
        };
        ui.resize(options.window).await;
        Some(ui)
    }

    /// Ends the browser session (the driver is killed on drop either way).
    pub async fn close(self) {
        let Ui {
            client,
            _driver,
            _profile,
            ..
        } = self;
        let _ = client.close().await;
    }

    /// Sets the viewport (the page's `innerWidth` × `innerHeight`): the
    /// window size, plus whatever the window keeps for itself.
    pub async fn resize(&self, (w, h): (u32, u32)) {
        self.client.set_window_size(w, h).await.expect("resize");
        let inner = self
            .js("return [window.innerWidth, window.innerHeight]")
            .await;
        let extra = |i: usize, want: u32| want.saturating_sub(inner[i].as_u64().unwrap() as u32);
        let (dw, dh) = (extra(0, w), extra(1, h));
        if (dw, dh) != (0, 0) {
            self.client
                .set_window_size(w + dw, h + dh)
                .await
                .expect("resize");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Opens a page of the app by typing its address.
    pub async fn goto(&self, path: &str) {
        self.client.goto(&self.url(path)).await.expect("navigate");
    }

    /// The current address's path and query (`/users?q=x`).
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Waits for an element to appear; panics naming the page if it does not.
    async fn wait_for(&self, locator: Locator<'_>) -> Element {
        match self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(locator)
            .await
        {
            Ok(e) => e,
            Err(e) => panic!("no {locator:?} on {}: {e}", self.path_now().await),
        }
    }

    pub async fn find(&self, css: &str) -> Element {
        self.wait_for(Locator::Css(css)).await
    }

    async fn path_now(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    pub async fn all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("find elements")
    }

    /// The visible text of the first element matching `css`, whitespace
    /// collapsed.
    pub async fn text(&self, css: &str) -> String {
        collapse(&self.find(css).await.text().await.expect("text"))
    }

    /// The visible texts of every element matching `css`.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.all(css).await {
            out.push(collapse(&e.text().await.expect("text")));
        }
        out
    }

    /// The current `value` of a form field.
    pub async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default()
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// Clicks the link whose text is exactly `text`.
    pub async fn click_link(&self, text: &str) {
        let link = self.wait_for(Locator::LinkText(text)).await;
        link.click().await.expect("click link");
    }

    /// Clicks the submit button showing `label` (inside `within`, a CSS
    /// selector of its form or section).
    pub async fn press(&self, within: &str, label: &str) {
        let buttons = self
            .all(&format!("{within} button, {within} input[type=submit]"))
            .await;
        for b in buttons {
            if b.text().await.unwrap_or_default().trim() == label {
                b.click().await.expect("click button");
                return;
            }
        }
        panic!(
            "no button {label:?} in {within:?} on {}",
            self.path_now().await
        );
    }

    /// Clicks into a field, empties it and types `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear field");
        field.send_keys(text).await.expect("type");
    }

    /// Picks an option of a `<select>` by its visible label.
    pub async fn choose(&self, css: &str, label: &str) {
        self.find(css)
            .await
            .select_by_label(label)
            .await
            .unwrap_or_else(|e| panic!("no option {label:?} in {css:?}: {e}"));
    }

    /// Types text on the keyboard, into whatever has the focus.
    pub async fn type_text(&self, text: &str) {
        let mut keys = KeyActions::new("keyboard".to_string());
        for c in text.chars() {
            keys = keys
                .then(KeyAction::Down { value: c })
                .then(KeyAction::Up { value: c });
        }
        self.client.perform_actions(keys).await.expect("type");
    }

    /// Presses a key (Tab, Enter…) while holding `modifiers`.
    pub async fn press_key(&self, modifiers: &[Key], key: Key) {
        let mut keys = KeyActions::new("keyboard".to_string());
        for m in modifiers {
            keys = keys.then(KeyAction::Down { value: (*m).into() });
        }
        keys = keys
            .then(KeyAction::Down { value: key.into() })
            .then(KeyAction::Up { value: key.into() });
        for m in modifiers.iter().rev() {
            keys = keys.then(KeyAction::Up { value: (*m).into() });
        }
        self.client.perform_actions(keys).await.expect("press key");
    }

    /// The focused element's id, or its text when it has none.
    pub async fn focused(&self) -> String {
        self.js("const e = document.activeElement; return e.id || e.textContent.trim()")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Runs a script in the page and returns its result.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until the page's path (and query) satisfies `ok`.
    pub async fn wait_for_path(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let path = self.path().await;
            let ready = self
                .js("return document.readyState")
                .await
                .as_str()
                .is_some_and(|s| s == "complete");
            if ok(&path) && ready {
                return path;
            }
            assert!(
                Instant::now() < deadline,
                "never reached {what}: still at {path}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The page's one `<h1>`, asserting there is exactly one.
    pub async fn h1(&self) -> String {
        let h1s = self.texts("h1").await;
        assert_eq!(
            h1s.len(),
            1,
            "one h1 per page, got {h1s:?} on {}",
            self.path().await
        );
        h1s[0].clone()
    }

    /// Signs in through the sign-in form, typing and clicking; lands on the
    /// Overview.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.goto("/signin").await;
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.press("form[action='/signin']", "Sign in").await;
        self.wait_for_path("the Overview", |p| p == "/").await;
    }

    /// Saves a screenshot of the viewport as DIR/NAME.png when
    /// `SCIMGATE_SCREENSHOTS=DIR` is set.
    pub async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("SCIMGATE_SCREENSHOTS") else {
            return;
        };
        let dir = Path::new(&dir);
        std::fs::create_dir_all(dir).expect("screenshot directory");
        // Let web fonts and the layout settle, and start at the top.
        self.js("window.scrollTo(0, 0); return document.fonts.status")
            .await;
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A signed-in admin of the app's tenant in a desktop browser, or None when
/// the browser tests are skipped.
pub async fn signed_in(app: &TestApp) -> Option<Ui> {
    let ui = Ui::open(app).await?;
    create_admin(app, Some(&app.tenant.id), ADMIN).await;
    ui.sign_in(ADMIN, PASSWORD).await;
    Some(ui)
}

const FIRST_NAMES: [&str; 24] = [
    "Adele",
    "Alex",
    "Allan",
    "Diego",
    "Emily",
    "Enrico",
    "Grady",
    "Henrietta",
    "Irvin",
    "Isaiah",
    "Johanna",
    "Joni",
    "Lee",
    "Lidia",
    "Lynne",
    "Megan",
    "Miriam",
    "Nestor",
    "Patti",
    "Pradeep",
    "Raul",
    "Sanjay",
    "Tomas",
    "Zrinka",
];
const LAST_NAMES: [&str; 5] = ["Vance", "Wilber", "Deyoung", "Siciliani", "Cattermole"];
const DEPARTMENTS: [&str; 5] = ["Engineering", "Sales", "Finance", "Marketing", "Operations"];
const TITLES: [&str; 4] = ["Analyst", "Engineer", "Manager", "Specialist"];

/// How many users [`provision`] creates: more than two pages of 50.
pub const USERS: usize = FIRST_NAMES.len() * LAST_NAMES.len();

/// What [`provision`] created.
pub struct Directory {
    /// The secret token the "identity provider" provisioned with.
    pub token: String,
    /// (id, userName, display name, active), in creation order.
    pub users: Vec<(String, String, String, bool)>,
    /// The group every user is a member of: (id, displayName).
    pub everyone: (String, String),
}

impl Directory {
    pub fn user(&self, user_name: &str) -> &(String, String, String, bool) {
        self.users
            .iter()
            .find(|u| u.1 == user_name)
            .unwrap_or_else(|| panic!("no user {user_name}"))
    }
}

/// Provisions a company through the SCIM API as Entra would, with its own
/// secret token named "Microsoft Entra ID": [`USERS`] users (every ninth
/// inactive), a group of everyone and one per department, Entra's Test
/// Connection, a title change for Adele Vance, and two failed requests.
pub async fn provision(app: &TestApp) -> Directory {
    use reqwest::Method;
    use scimgate::store::activity::Actor;
    use scimgate::store::tokens;

    let (_, token) = tokens::create_secret_token(
        &app.db,
        &app.tenant.id,
        "Microsoft Entra ID",
        None,
        &Actor::operator(),
    )
    .await
    .expect("token");
    let scim = |method: reqwest::Method, path: String, body: Option<Value>| {
        let token = token.clone();
        async move { app.scim_as(&token, method, &path, body.as_ref()).await }
    };

    // Test Connection.
    scim(
        Method::GET,
        "/Users?filter=userName+eq+%22f3a1c7e2-5b9d-4e0a-8c61-2d7e9b4f0a13%22".into(),
        None,
    )
    .await
    .expect(200);

    let mut bodies = Vec::new();
    for (i, (first, last)) in LAST_NAMES
        .iter()
        .flat_map(|l| FIRST_NAMES.iter().map(move |f| (*f, *l)))
        .enumerate()
    {
        let user_name = format!(
            "{}.{}@acme.example",
            first.to_lowercase(),
            last.to_lowercase()
        );
        let department = DEPARTMENTS[i % DEPARTMENTS.len()];
        bodies.push(json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ],
            "externalId": format!("{:08x}-0000-4000-8000-{:012x}", 0x5eed_0000 + i, i),
            "userName": user_name,
            "active": i % 9 != 8,
            "displayName": format!("{first} {last}"),
            "name": {"givenName": first, "familyName": last},
            "title": format!("{department} {}", TITLES[i % TITLES.len()]),
            "emails": [{"type": "work", "primary": true, "value": user_name}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "department": department,
                "employeeNumber": format!("{}", 10_000 + i),
            },
        }));
    }
    let mut users = Vec::new();
    for chunk in bodies.chunks(8) {
        let replies = futures_util::future::join_all(
            chunk
                .iter()
                .map(|b| scim(Method::POST, "/Users".into(), Some(b.clone()))),
        )
        .await;
        for (r, b) in replies.iter().zip(chunk) {
            r.expect(201);
            users.push((
                r.body["id"].as_str().unwrap().to_string(),
                b["userName"].as_str().unwrap().to_string(),
                b["displayName"].as_str().unwrap().to_string(),
                b["active"].as_bool().unwrap(),
            ));
        }
    }

    let mut everyone = None;
    for name in std::iter::once("All employees").chain(DEPARTMENTS) {
        let members: Vec<Value> = users
            .iter()
            .enumerate()
            .filter(|(i, _)| name == "All employees" || DEPARTMENTS[i % DEPARTMENTS.len()] == name)
            .map(|(_, u)| json!({"value": u.0}))
            .collect();
        let r = scim(
            Method::POST,
            "/Groups".into(),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": name,
                "members": members,
            })),
        )
        .await;
        r.expect(201);
        if everyone.is_none() {
            everyone = Some((r.body["id"].as_str().unwrap().to_string(), name.to_string()));
        }
    }

    // An update in Entra's dialect, for Adele Vance's timeline.
    let adele = users[0].0.clone();
    scim(
        Method::PATCH,
        format!("/Users/{adele}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "Replace", "path": "title", "value": "Principal Engineer"},
                {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Platform"},
            ],
        })),
    )
    .await
    .expect(200);

    // Two failures: a duplicate userName, and a PATCH of an unknown user.
    scim(
        Method::POST,
        "/Users".into(),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ADELE.VANCE@acme.example",
        })),
    )
    .await
    .expect(409);
    scim(
        Method::PATCH,
        "/Users/00000000-0000-4000-8000-000000000000".into(),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
        })),
    )
    .await
    .expect(404);

    Directory {
        token,
        users,
        everyone: everyone.unwrap(),
    }
}
