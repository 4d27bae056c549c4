//! Single sign-on with OpenID Connect against a real provider: the npm
//! package `oidc-provider`, run by `tests/oidc/server.mjs` on loopback and
//! driven through its login page like a browser. Sign-in through a tenant's
//! provider and the operator's, mapping to admins by verified e-mail,
//! refusals (unknown, unverified, another tenant's admin, wrong state,
//! cancelled), and the Settings page.
//!
//! Needs Node.js and `npm ci --prefix tests/oidc` (`scripts/test` runs it).
//! Without `node` these tests fail when `CI=true` and are skipped with a
//! notice otherwise.

use std::path::PathBuf;
use std::process::Stdio;

use scimgate::config::OidcProvider;
use scimgate::oidc::Reach;
use scimgate::store::activity::Actor;
use scimgate::store::sso::{self, SsoChange};
use scimgate::store::tenants;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

use crate::browser::{
    Browser, Form, PASSWORD, create_admin, expect_html, form, forms, location, main_text,
    session_cookie,
};
use crate::console_admin::{log_of, scalar, table_text, value_of};
use crate::helpers::{Backend, Reply, TestApp};

/// The test provider's clients (`tests/oidc/server.mjs`): id, secret.
const GLOBAL: (&str, &str) = ("scimgate-global", "scimgate-global-secret");
const ACME: (&str, &str) = ("scimgate-acme", "scimgate-acme-secret");
const BETA: (&str, &str) = ("scimgate-beta", "scimgate-beta-secret");

fn oidc_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// Fails under CI, else prints a loud notice; returns None (skip).
fn unavailable(why: &str) -> Option<Idp> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("single sign-on tests need the test OpenID Connect provider: {why}");
    }
    eprintln!(
        "\n!!! SKIPPED single sign-on test: {why}.\n!!! Install Node.js 20.19+ and run `npm ci --prefix tests/oidc` (scripts/test does it).\n"
    );
    None
}

/// Installs the provider's packages once per test run when they are missing.
async fn ensure_packages() -> Result<(), String> {
    static DONE: tokio::sync::OnceCell<Result<(), String>> = tokio::sync::OnceCell::const_new();
    DONE.get_or_init(|| async {
        if oidc_dir().join("node_modules/oidc-provider").is_dir() {
            return Ok(());
        }
        let status = tokio::process::Command::new("npm")
            .args([
                "ci",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
            ])
            .arg(oidc_dir())
            .stdout(Stdio::null())
            .status()
            .await
            .map_err(|e| format!("`npm` cannot be run ({e})"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`npm ci --prefix tests/oidc` failed ({status})"))
        }
    })
    .await
    .clone()
}

/// The running test provider.
pub struct Idp {
    /// `http://127.0.0.1:PORT`
    pub issuer: String,
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Idp {
    /// Starts the provider; it waits for [`Idp::register`] before serving.
    async fn start() -> Option<Idp> {
        crate::helpers::init();
        let node = tokio::process::Command::new("node")
            .arg("--version")
            .output()
            .await;
        if !node.is_ok_and(|o| o.status.success()) {
            return unavailable("`node` is not installed");
        }
        if let Err(why) = ensure_packages().await {
            return unavailable(&why);
        }
        let mut child = tokio::process::Command::new("node")
            .arg(oidc_dir().join("server.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true)
            .spawn()
            .expect("start tests/oidc/server.mjs");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines
            .next_line()
            .await
            .expect("read the provider's output")
            .expect("the provider printed nothing: run `npm ci --prefix tests/oidc`");
        let issuer = first
            .strip_prefix("ISSUER ")
            .unwrap_or_else(|| panic!("unexpected first line from the provider: {first}"))
            .to_string();
        Some(Idp {
            issuer,
            child,
            lines,
        })
    }

    /// Registers the clients with the callback of the scimgate at `base`.
    async fn register(&mut self, base: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin
            .write_all(format!("{base}/signin/oidc/callback\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
        let ready = self.lines.next_line().await.unwrap();
        assert_eq!(ready.as_deref(), Some("READY"));
    }

    fn global(&self) -> OidcProvider {
        OidcProvider {
            issuer: self.issuer.clone(),
            client_id: GLOBAL.0.to_string(),
            client_secret: GLOBAL.1.to_string(),
            reach: Reach::Any,
        }
    }

    fn url(&self, location: &str) -> String {
        if location.starts_with('/') {
            format!("{}{location}", self.issuer)
        } else {
            location.to_string()
        }
    }
}

/// Runs each `async fn(TestApp, Idp)` on both databases against a fresh
/// provider, with that provider configured as the operator's.
macro_rules! with_provider {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::*;

                async fn run(backend: Backend) {
                    let Some(mut idp) = Idp::start().await else { return };
                    let global = idp.global();
                    let Some(app) = TestApp::spawn_with(backend, |c| {
                        c.oidc = Some(global);
                        // The provider runs on loopback.
                        c.allow_private_sso_issuers = true;
                    })
                    .await
                    else {
                        return;
                    };
                    idp.register(&app.base).await;
                    super::$name(app, idp).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run(Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    run(Backend::Postgres).await;
                }
            }
        )*
    };
}

/// Turns on a tenant's single sign-on with one of the provider's clients.
async fn enable_for(app: &TestApp, idp: &Idp, tenant_id: &str, (id, secret): (&str, &str)) {
    sso::save(
        &app.db,
        tenant_id,
        &SsoChange {
            issuer: idp.issuer.clone(),
            client_id: id.to_string(),
            client_secret: Some(secret.to_string()),
            enabled: true,
        },
        &Actor::operator(),
    )
    .await
    .unwrap();
}

/// How the sign-in page's single sign-on is used.
enum Via<'a> {
    /// The operator's provider button.
    Button,
    /// The e-mail-first step with this address.
    Email(&'a str),
}

/// The page's single sign-on form: with or without the e-mail field.
fn sso_form(html: &str, with_email: bool) -> Form {
    forms(html)
        .into_iter()
        .find(|f| f.action == "/signin/sso" && f.get("email").is_some() == with_email)
        .unwrap_or_else(|| panic!("no single sign-on form (e-mail: {with_email}) in:\n{html}"))
}

/// The `Location` of a 302 or 303.
#[track_caller]
fn redirect(reply: &Reply) -> String {
    assert!(
        matches!(reply.status.as_u16(), 302 | 303),
        "expected a redirect, got {}: {}",
        reply.status,
        reply.text
    );
    reply.header("location").unwrap().to_string()
}

/// Starts single sign-on from the sign-in page; returns the provider's
/// authorization URL scimgate redirected to.
async fn start(browser: &Browser, via: Via<'_>) -> String {
    let page = browser.get("/signin").await;
    page.expect(200);
    let reply = match via {
        Via::Button => browser.submit(&sso_form(&page.text, false)).await,
        Via::Email(email) => {
            let mut f = sso_form(&page.text, true);
            f.set("email", email);
            browser.submit(&f).await
        }
    };
    location(&reply)
}

/// Signs in at the provider as `login` (or presses Cancel when None) and
/// returns scimgate's callback URL the provider sends the browser to.
async fn at_provider(browser: &Browser, idp: &Idp, authorize: &str, login: Option<&str>) -> String {
    assert!(authorize.starts_with(&idp.issuer), "{authorize}");
    let to_login = browser.get(authorize).await;
    let login_page = browser.get(&idp.url(&redirect(&to_login))).await;
    login_page.expect(200);
    let mut f = forms(&login_page.text).remove(0);
    let done = match login {
        Some(login) => {
            f.set("login", login);
            browser.press(&f, "login").await
        }
        None => browser.press(&f, "cancel").await,
    };
    let resumed = browser.get(&idp.url(&redirect(&done))).await;
    let back = redirect(&resumed);
    assert!(
        back.starts_with(&format!("{}/signin/oidc/callback?", browser.base)),
        "{back}"
    );
    back
}

/// The whole way: sign-in page, provider, callback; returns the callback's reply.
async fn sso_sign_in(browser: &Browser, idp: &Idp, via: Via<'_>, login: &str) -> Reply {
    let authorize = start(browser, via).await;
    let callback = at_provider(browser, idp, &authorize, Some(login)).await;
    browser.get(&callback).await
}

async fn signed_in_home(browser: &Browser) -> bool {
    browser.get("/").await.status.as_u16() == 200
}

fn client_id_of(authorize: &str) -> String {
    url::Url::parse(authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn tenant_sso_signs_in_the_mapped_admin(app: TestApp, idp: Idp) {
    create_admin(&app, Some(&app.tenant.id), "Alice@Acme.example").await;
    enable_for(&app, &idp, &app.tenant.id, ACME).await;
    let browser = Browser::fresh(&app);
    let page = browser.get("/signin").await;
    assert!(
        session_cookie(&page).is_none(),
        "the sign-in page stores nothing"
    );

    // E-mail-first, any case: the tenant's provider, with a login hint and
    // PKCE, state and nonce, kept in a session started here.
    let mut f = sso_form(&page.text, true);
    f.set("email", "alice@ACME.example");
    let started = browser.submit(&f).await;
    let before = session_cookie(&started).expect("single sign-on starts a session for its state");
    let authorize = location(&started);
    assert_eq!(client_id_of(&authorize), ACME.0);
    let query: Vec<(String, String)> = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let has = |k: &str| query.iter().any(|(name, v)| name == k && !v.is_empty());
    for k in ["state", "nonce", "code_challenge", "redirect_uri"] {
        assert!(has(k), "{k} missing from {authorize}");
    }
    assert!(query.contains(&("code_challenge_method".into(), "S256".into())));
    assert!(query.contains(&("login_hint".into(), "alice@ACME.example".into())));
    assert!(
        query
            .iter()
            .any(|(k, v)| k == "scope" && v.contains("email"))
    );

    // The provider's e-mail differs in case from the admin's.
    let callback = at_provider(&browser, &idp, &authorize, Some("ALICE@acme.example")).await;
    let r = browser.get(&callback).await;
    assert_eq!(location(&r), "/");
    let after = session_cookie(&r).expect("sign-in sets the cycled session cookie");
    assert_ne!(before, after, "the session id must change at sign-in");

    let home = browser.get("/").await;
    home.expect(200);
    assert!(
        main_text(&home.text).contains("Alice@Acme.example"),
        "{}",
        home.text
    );
    let users = browser.get("/users").await;
    users.expect(200);

    let log = activity_of(&app, &app.tenant.id).await;
    let signin = log
        .iter()
        .find(|(op, _)| op == "admin.signin")
        .expect("the sign-in is logged");
    assert!(
        signin.1.contains("single sign-on") && signin.1.contains(&idp.issuer),
        "{signin:?}"
    );

    // The code was used once: replaying the callback finds no flow.
    let replay = browser.get(&callback).await;
    replay.expect(400);
    assert!(
        main_text(&replay.text).contains("expired"),
        "{}",
        replay.text
    );
}

/// (operation, detail) of a tenant's log, newest first.
async fn activity_of(app: &TestApp, tenant_id: &str) -> Vec<(String, String)> {
    scimgate::store::activity::recent(&app.db, tenant_id, 200)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.operation, e.detail.unwrap_or_default()))
        .collect()
}

async fn unknown_and_unverified_identities_are_refused_and_logged(app: TestApp, idp: Idp) {
    create_admin(&app, Some(&app.tenant.id), "alice@acme.example").await;
    create_admin(&app, Some(&app.tenant.id), "unverified-bob@acme.example").await;
    enable_for(&app, &idp, &app.tenant.id, ACME).await;
    let admins_before = scalar(&app, "SELECT COUNT(*) FROM admins").await;

    let browser = Browser::fresh(&app);
    let r = sso_sign_in(
        &browser,
        &idp,
        Via::Email("alice@acme.example"),
        "stranger@acme.example",
    )
    .await;
    r.expect(403);
    expect_html(&r);
    let text = main_text(&r.text);
    assert!(
        text.contains("stranger@acme.example is not an admin of Acme Corp in scimgate; ask an admin to add you."),
        "{text}"
    );
    assert!(!signed_in_home(&browser).await);

    let browser = Browser::fresh(&app);
    let r = sso_sign_in(
        &browser,
        &idp,
        Via::Email("unverified-bob@acme.example"),
        "unverified-bob@acme.example",
    )
    .await;
    r.expect(403);
    let text = main_text(&r.text);
    assert!(
        text.contains("has not verified the address unverified-bob@acme.example"),
        "{text}"
    );
    assert!(!signed_in_home(&browser).await);

    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM admins").await,
        admins_before
    );
    let log = activity_of(&app, &app.tenant.id).await;
    let refused: Vec<&String> = log
        .iter()
        .filter(|(op, _)| op == "admin.signin.sso.refused")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(refused.len(), 2, "{log:?}");
    assert!(
        refused
            .iter()
            .any(|d| d.contains("stranger@acme.example") && d.contains("not an admin"))
    );
    assert!(
        refused
            .iter()
            .any(|d| d.contains("unverified-bob@acme.example") && d.contains("not verified"))
    );
    assert!(!log.iter().any(|(op, _)| op == "admin.signin"), "{log:?}");
    let actors = log_of(&app, &app.tenant.id).await;
    assert!(
        actors
            .iter()
            .any(|(op, kind, label)| op == "admin.signin.sso.refused"
                && kind == "sso"
                && label == "stranger@acme.example"),
        "{actors:?}"
    );
}

async fn a_tenant_provider_signs_in_only_its_own_admins(app: TestApp, idp: Idp) {
    create_admin(&app, Some(&app.tenant.id), "alice@acme.example").await;
    let beta = tenants::create(&app.db, "beta", "Beta Inc").await.unwrap();
    create_admin(&app, Some(&beta.id), "bob@beta.example").await;
    enable_for(&app, &idp, &app.tenant.id, ACME).await;

    // Acme's provider vouches for Beta's admin: refused, logged at Acme,
    // and nothing said about Beta.
    let browser = Browser::fresh(&app);
    let r = sso_sign_in(
        &browser,
        &idp,
        Via::Email("alice@acme.example"),
        "bob@beta.example",
    )
    .await;
    r.expect(403);
    let text = main_text(&r.text);
    assert!(
        text.contains("bob@beta.example is not an admin of Acme Corp in scimgate"),
        "{text}"
    );
    assert!(!text.contains("Beta"), "{text}");
    assert!(!signed_in_home(&browser).await);
    assert!(
        activity_of(&app, &app.tenant.id)
            .await
            .iter()
            .any(|(op, d)| op == "admin.signin.sso.refused" && d.contains("bob@beta.example"))
    );
    assert!(
        !activity_of(&app, &beta.id)
            .await
            .iter()
            .any(|(op, _)| op.starts_with("admin.signin"))
    );

    // Beta without its own provider: its admin's e-mail leads to the
    // operator's provider, exactly as an unknown address does.
    let browser = Browser::fresh(&app);
    assert_eq!(
        client_id_of(&start(&browser, Via::Email("bob@beta.example")).await),
        GLOBAL.0
    );
    assert_eq!(
        client_id_of(&start(&browser, Via::Email("nobody@nowhere.example")).await),
        GLOBAL.0
    );

    // With its own provider, Beta's admin signs in through it.
    enable_for(&app, &idp, &beta.id, BETA).await;
    let browser = Browser::fresh(&app);
    let authorize = start(&browser, Via::Email("bob@beta.example")).await;
    assert_eq!(client_id_of(&authorize), BETA.0);
    let callback = at_provider(&browser, &idp, &authorize, Some("bob@beta.example")).await;
    assert_eq!(location(&browser.get(&callback).await), "/");
    assert!(signed_in_home(&browser).await);
}

async fn the_operators_provider_signs_in_operators_and_admins(app: TestApp, idp: Idp) {
    create_admin(&app, None, "ops@vendor.example").await;
    create_admin(&app, Some(&app.tenant.id), "alice@acme.example").await;

    let browser = Browser::fresh(&app);
    let authorize = start(&browser, Via::Button).await;
    assert_eq!(client_id_of(&authorize), GLOBAL.0);
    let callback = at_provider(&browser, &idp, &authorize, Some("ops@vendor.example")).await;
    assert_eq!(location(&browser.get(&callback).await), "/");
    let home = browser.get("/").await;
    home.expect(200);
    // The operator's home is the tenant list.
    assert!(main_text(&home.text).contains("Acme Corp"), "{}", home.text);
    // An operator is refused tenant pages, Settings included.
    browser.get("/settings").await.expect(403);

    let browser = Browser::fresh(&app);
    let r = sso_sign_in(&browser, &idp, Via::Button, "alice@acme.example").await;
    assert_eq!(location(&r), "/");
    assert!(signed_in_home(&browser).await);

    let browser = Browser::fresh(&app);
    let r = sso_sign_in(&browser, &idp, Via::Button, "mallory@evil.example").await;
    r.expect(403);
    assert!(
        main_text(&r.text)
            .contains("mallory@evil.example is not an admin of scimgate; ask an admin to add you."),
        "{}",
        r.text
    );
    assert!(!signed_in_home(&browser).await);
}

async fn wrong_state_cancelled_and_stale_answers_are_refused(app: TestApp, idp: Idp) {
    create_admin(&app, Some(&app.tenant.id), "alice@acme.example").await;

    // An answer with another state is ignored, and ends the flow.
    let browser = Browser::fresh(&app);
    let authorize = start(&browser, Via::Button).await;
    let callback = at_provider(&browser, &idp, &authorize, Some("alice@acme.example")).await;
    let mut forged = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                "forged".to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let r = browser.get(forged.as_str()).await;
    r.expect(400);
    assert!(
        main_text(&r.text).contains("not the one scimgate asked for"),
        "{}",
        r.text
    );
    assert!(!signed_in_home(&browser).await);
    let r = browser.get(&callback).await;
    r.expect(400);
    assert!(
        main_text(&r.text).contains("This sign-in has expired"),
        "{}",
        r.text
    );
    assert!(!signed_in_home(&browser).await);

    // A callback in a browser that started nothing (login CSRF).
    let other = Browser::fresh(&app);
    let r = other.get(&callback).await;
    r.expect(400);
    assert!(!signed_in_home(&other).await);

    // Cancelling at the provider: error=access_denied.
    let browser = Browser::fresh(&app);
    let authorize = start(&browser, Via::Button).await;
    let callback = at_provider(&browser, &idp, &authorize, None).await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    let r = browser.get(&callback).await;
    r.expect(403);
    assert!(
        main_text(&r.text).contains("Single sign-on was cancelled"),
        "{}",
        r.text
    );
    assert!(!signed_in_home(&browser).await);

    // Starting needs the sign-in page's CSRF token.
    let browser = Browser::fresh(&app);
    let page = browser.get("/signin").await;
    let mut f = sso_form(&page.text, false);
    f.set("csrf", "forged");
    browser.submit(&f).await.expect(403);
}

async fn settings_keep_the_secret_write_only(app: TestApp, idp: Idp) {
    let (browser, _) = crate::console_admin::signed_in(&app).await;
    let page = browser.get("/settings").await;
    page.expect(200);
    expect_html(&page);
    assert_eq!(
        value_of(&page.text, "redirect-uri").as_deref(),
        Some(format!("{}/signin/oidc/callback", app.base).as_str())
    );
    let doc = scraper::Html::parse_document(&page.text);
    let current: Vec<String> = doc
        .select(&scraper::Selector::parse("nav.site-nav a[aria-current=page]").unwrap())
        .map(|e| e.text().collect())
        .collect();
    assert_eq!(current, vec!["Settings"]);

    // Without the CSRF token nothing is saved.
    let mut f = form(&page.text, "/settings/sso");
    f.set("issuer", &idp.issuer)
        .set("client_id", ACME.0)
        .set("client_secret", ACME.1)
        .set("enabled", "on");
    let mut forged = f.clone();
    forged.remove("csrf");
    browser.submit(&forged).await.expect(403);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM tenant_sso").await, 0);

    // A first save needs a secret.
    let mut no_secret = f.clone();
    no_secret.set("client_secret", "");
    let r = browser.submit(&no_secret).await;
    r.expect(422);
    assert!(
        main_text(&r.text).contains("Enter the client secret"),
        "{}",
        r.text
    );

    // Saved: the secret is never shown back, only that it is set.
    assert_eq!(location(&browser.submit(&f).await), "/settings");
    let page = browser.get("/settings").await;
    assert!(!page.text.contains(ACME.1), "the secret is shown back");
    let text = main_text(&page.text);
    assert!(
        text.contains("A client secret is set (ends in …cret)"),
        "{text}"
    );
    assert!(
        page.text
            .contains(r#"name="enabled" type="checkbox" value="on" checked"#)
    );
    assert_eq!(
        value_of(&page.text, "sso-issuer").as_deref(),
        Some(idp.issuer.as_str())
    );
    assert_eq!(
        value_of(&page.text, "sso-client-secret").as_deref(),
        Some("")
    );

    // A blank secret keeps the stored one.
    let mut f = form(&page.text, "/settings/sso");
    f.set("enabled", "on");
    assert_eq!(location(&browser.submit(&f).await), "/settings");
    let stored = sso::get(&app.db, &app.tenant.id).await.unwrap().unwrap();
    assert_eq!(stored.client_secret, ACME.1);
    assert!(stored.enabled);

    // Turning on a provider that does not answer is refused, with the
    // stored settings unchanged.
    let mut bad = f.clone();
    bad.set("issuer", "http://127.0.0.1:9/nothing-here");
    let r = browser.submit(&bad).await;
    r.expect(422);
    assert!(
        main_text(&r.text).contains("discovery document"),
        "{}",
        r.text
    );
    assert!(!r.text.contains(ACME.1));
    assert_eq!(
        sso::get(&app.db, &app.tenant.id)
            .await
            .unwrap()
            .unwrap()
            .issuer,
        idp.issuer
    );
    let mut bad = f.clone();
    bad.set("issuer", "http://login.example.com");
    browser.submit(&bad).await.expect(422);

    // Another tenant's admin sees and removes nothing of Acme's.
    let beta = tenants::create(&app.db, "beta", "Beta Inc").await.unwrap();
    create_admin(&app, Some(&beta.id), "bob@beta.example").await;
    let other = Browser::fresh(&app);
    other.sign_in("bob@beta.example", PASSWORD).await;
    let page = other.get("/settings").await;
    page.expect(200);
    assert!(!page.text.contains(&idp.issuer) && !page.text.contains(ACME.0));
    assert!(main_text(&page.text).contains("No client secret is stored yet"));
    assert!(
        forms(&page.text)
            .iter()
            .all(|f| f.action != "/settings/sso/remove")
    );
    let csrf = form(&page.text, "/settings/sso")
        .get("csrf")
        .unwrap()
        .to_string();
    let r = other
        .post_form("/settings/sso/remove", &[("csrf".to_string(), csrf)])
        .await;
    assert_eq!(location(&r), "/settings");
    assert!(sso::get(&app.db, &app.tenant.id).await.unwrap().is_some());

    // Remove clears everything, secret included.
    let page = browser.get("/settings").await;
    let r = browser
        .submit(&form(&page.text, "/settings/sso/remove"))
        .await;
    assert_eq!(location(&r), "/settings");
    assert!(sso::get(&app.db, &app.tenant.id).await.unwrap().is_none());
    assert!(!table_text(&app, "tenant_sso").await.contains(ACME.1));

    let log = log_of(&app, &app.tenant.id).await;
    crate::console_admin::assert_logged(
        &log,
        "sso.settings.update",
        crate::console_admin::ADMIN_EMAIL,
    );
    crate::console_admin::assert_logged(
        &log,
        "sso.settings.remove",
        crate::console_admin::ADMIN_EMAIL,
    );
    assert!(
        log_of(&app, &beta.id)
            .await
            .iter()
            .all(|(op, _, _)| !op.starts_with("sso.")),
    );
}

with_provider!(
    tenant_sso_signs_in_the_mapped_admin,
    unknown_and_unverified_identities_are_refused_and_logged,
    a_tenant_provider_signs_in_only_its_own_admins,
    the_operators_provider_signs_in_operators_and_admins,
    wrong_state_cancelled_and_stale_answers_are_refused,
    settings_keep_the_secret_write_only,
);

/// Without the operator's provider: no single sign-on on the sign-in page
/// until a tenant turns it on, and then the e-mail-first step answers an
/// unknown address and an admin without a tenant provider alike.
async fn the_email_first_step_does_not_reveal_admins(app: TestApp) {
    let browser = Browser::fresh(&app);
    let page = browser.get("/signin").await;
    assert!(forms(&page.text).iter().all(|f| f.action != "/signin/sso"));

    let beta = tenants::create(&app.db, "beta", "Beta Inc").await.unwrap();
    create_admin(&app, Some(&beta.id), "bob@beta.example").await;
    sso::save(
        &app.db,
        &app.tenant.id,
        &SsoChange {
            issuer: "https://login.acme.example".to_string(),
            client_id: ACME.0.to_string(),
            client_secret: Some(ACME.1.to_string()),
            enabled: true,
        },
        &Actor::operator(),
    )
    .await
    .unwrap();
    let page = browser.get("/signin").await;
    assert!(
        forms(&page.text)
            .iter()
            .all(|f| f.get("email").is_some() || f.action != "/signin/sso"),
        "no operator's provider button"
    );

    let mut answers = Vec::new();
    for email in ["bob@beta.example", "nobody@nowhere.example"] {
        let page = browser.get("/signin").await;
        let mut f = sso_form(&page.text, true);
        f.set("email", email);
        let r = browser.submit(&f).await;
        r.expect(200);
        let text = main_text(&r.text);
        assert!(
            text.contains("Single sign-on is not set up for this address"),
            "{text}"
        );
        answers.push(text.replace(email, "EMAIL"));
    }
    assert_eq!(answers[0], answers[1], "the two answers must not differ");
}

/// A tenant's issuer on an internal address is never contacted (by
/// default): not when an admin saves it, not when someone signs in with it
/// (settings stored before the guard), and the message names no port.
async fn internal_issuers_are_not_contacted(app: TestApp) {
    let port = url::Url::parse(&app.base).unwrap().port().unwrap();
    let admin = create_admin(&app, Some(&app.tenant.id), "alice@acme.example").await;
    let browser = Browser::fresh(&app);
    browser.sign_in(&admin.email, PASSWORD).await;
    // A port where nothing listens.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut answers = Vec::new();
    for issuer in [
        // scimgate's own listener and a closed port: a loopback literal
        // and a name resolving to loopback.
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{closed}"),
        format!("http://localhost:{port}"),
        // The cloud metadata address, and a private network's literal in
        // IPv6 form.
        "https://169.254.169.254".to_string(),
        "https://[::ffff:10.0.0.1]".to_string(),
    ] {
        let page = browser.get("/settings").await;
        let mut f = form(&page.text, "/settings/sso");
        f.set("issuer", &issuer)
            .set("client_id", ACME.0)
            .set("client_secret", ACME.1)
            .set("enabled", "on");
        let r = browser.submit(&f).await;
        r.expect(422);
        let text = main_text(&r.text);
        assert!(text.contains("its address is internal"), "{issuer}: {text}");
        answers.push(text.replace(&issuer, "ISSUER"));
    }
    assert_eq!(
        answers[0], answers[1],
        "an open and a closed port read the same"
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM tenant_sso").await,
        0,
        "nothing was saved"
    );

    // Stored without the check (as before the guard existed): signing in
    // does not contact it either.
    sso::save(
        &app.db,
        &app.tenant.id,
        &SsoChange {
            issuer: format!("http://127.0.0.1:{port}"),
            client_id: ACME.0.to_string(),
            client_secret: Some(ACME.1.to_string()),
            enabled: true,
        },
        &Actor::operator(),
    )
    .await
    .unwrap();
    let anonymous = Browser::fresh(&app);
    let page = anonymous.get("/signin").await;
    let mut f = sso_form(&page.text, true);
    f.set("email", "alice@acme.example");
    let r = anonymous.submit(&f).await;
    r.expect(502);
    let text = main_text(&r.text);
    assert!(text.contains("its address is internal"), "{text}");
}

/// Changing the issuer without a new secret keeps nothing: the stored
/// secret is only ever sent to the provider it was given for.
async fn a_new_issuer_needs_a_new_secret(app: TestApp) {
    let change = |issuer: &str, secret: Option<&str>| SsoChange {
        issuer: issuer.to_string(),
        client_id: ACME.0.to_string(),
        client_secret: secret.map(str::to_string),
        enabled: false,
    };
    let save = |c: SsoChange| {
        let db = app.db.clone();
        let tenant = app.tenant.id.clone();
        async move { sso::save(&db, &tenant, &c, &Actor::operator()).await }
    };
    save(change("https://login.acme.example", Some("first-secret")))
        .await
        .unwrap();
    // Same issuer: the secret is kept.
    let kept = save(change("https://login.acme.example", None))
        .await
        .unwrap();
    assert_eq!(kept.client_secret, "first-secret");
    // Another issuer: refused until a secret comes with it.
    let refused = save(change("https://attacker.example", None)).await;
    assert!(
        matches!(refused, Err(sso::SaveError::NewIssuerNeedsSecret)),
        "{refused:?}"
    );
    let stored = sso::get(&app.db, &app.tenant.id).await.unwrap().unwrap();
    assert_eq!(stored.issuer, "https://login.acme.example");
    let moved = save(change("https://login2.acme.example", Some("second-secret")))
        .await
        .unwrap();
    assert_eq!(moved.client_secret, "second-secret");
}

crate::on_both_databases!(
    the_email_first_step_does_not_reveal_admins,
    internal_issuers_are_not_contacted,
    a_new_issuer_needs_a_new_secret,
);
