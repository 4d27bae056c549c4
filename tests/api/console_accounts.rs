//! Console accounts over real HTTP: a tenant's admins (add, reset, remove,
//! last-admin protection), operators and their tenant list kept apart from
//! tenant pages, the first-start setup link, and `scimgate demo`.

use std::time::Duration;

use scimgate::Server;
use scimgate::config::Config;
use scimgate::store::{admins, tenants};
use scraper::{Html, Selector};

use crate::browser::{Browser, PASSWORD, create_admin, form, location, main_text};
use crate::console_admin::{ADMIN_EMAIL, log_of, scalar, signed_in, table_text, value_of};
use crate::helpers::TestApp;
use crate::on_both_databases;

/// Signs in from a fresh browser; returns it and the reply to the POST.
async fn try_sign_in(app: &TestApp, email: &str, password: &str) -> (Browser, u16, String) {
    let b = Browser::fresh(app);
    let r = b.sign_in_at("/signin", email, password).await;
    let to = r.header("location").map(str::to_string).unwrap_or_default();
    (b, r.status.as_u16(), to)
}

#[track_caller]
fn assert_signed_in(outcome: &(Browser, u16, String)) {
    assert_eq!(
        (outcome.1, outcome.2.as_str()),
        (303, "/"),
        "sign-in failed"
    );
}

/// The button forms of the admins page for one account.
fn admin_action(html: &str, id: &str, what: &str) -> crate::browser::Form {
    form(html, &format!("/admins/{id}/{what}"))
}

async fn admins_are_added_reset_and_removed(app: TestApp) {
    let (browser, me) = signed_in(&app).await;
    let page = browser.get("/admins").await;
    page.expect(200);
    let text = main_text(&page.text);
    assert!(text.contains(&format!("{ADMIN_EMAIL} you")), "{text}");
    assert!(text.contains("The only admin of a tenant cannot be removed"));
    assert!(!page.text.contains(&format!("/admins/{}/remove", me.id)));

    // The last admin cannot remove themselves, even with a forged request.
    let csrf = admin_action(&page.text, &me.id, "reset-password")
        .get("csrf")
        .unwrap()
        .to_string();
    let r = browser
        .post_form(
            &format!("/admins/{}/remove", me.id),
            &[("csrf".to_string(), csrf.clone())],
        )
        .await;
    r.expect(409);
    assert!(main_text(&r.text).contains("The last admin cannot be removed"));
    assert!(admins::by_id(&app.db, &me.id).await.unwrap().is_some());

    // Add with a chosen password.
    let mut f = form(&page.text, "/admins");
    f.set("email", "bea@acme.example")
        .set("password", "a chosen password 1");
    assert_eq!(location(&browser.submit(&f).await), "/admins");
    let page = browser.get("/admins").await;
    assert!(main_text(&page.text).contains("bea@acme.example can now sign in"));
    let bea_session = try_sign_in(&app, "bea@acme.example", "a chosen password 1").await;
    assert_signed_in(&bea_session);

    // Add with a generated password: shown once.
    let mut f = form(&page.text, "/admins");
    f.set("email", "cem@acme.example");
    let shown = browser.submit(&f).await;
    shown.expect(200);
    assert_eq!(shown.header("cache-control"), Some("no-store"));
    let cem_password = value_of(&shown.text, "shown-secret").unwrap();
    assert!(cem_password.len() >= 16);
    let cem_session = try_sign_in(&app, "cem@acme.example", &cem_password).await;
    assert_signed_in(&cem_session);
    let page = browser.get("/admins").await;
    assert!(!page.text.contains(&cem_password));
    assert!(!table_text(&app, "admins").await.contains(&cem_password));

    // Refused additions say why.
    for (email, password, reason) in [
        ("not-an-email", "", "is not an e-mail address"),
        ("BEA@acme.example", "", "already exists"),
        ("dan@acme.example", "short", "at least 12 characters"),
    ] {
        let mut f = form(&page.text, "/admins");
        f.set("email", email).set("password", password);
        let r = browser.submit(&f).await;
        r.expect(422);
        assert!(main_text(&r.text).contains(reason), "{email}: {}", r.text);
    }
    assert_eq!(
        admins::count_in_tenant(&app.db, &app.tenant.id)
            .await
            .unwrap(),
        3
    );

    // Reset Bea's password: her session ends, the new password works.
    let bea = admins::by_email(&app.db, "bea@acme.example")
        .await
        .unwrap()
        .unwrap()
        .0;
    let reset = browser
        .submit(&admin_action(&page.text, &bea.id, "reset-password"))
        .await;
    reset.expect(200);
    assert_eq!(reset.header("cache-control"), Some("no-store"));
    let bea_password = value_of(&reset.text, "shown-secret").unwrap();
    let r = bea_session.0.get("/admins").await;
    assert!(
        location(&r).starts_with("/signin"),
        "Bea's old session ended"
    );
    let (_, status, _) = try_sign_in(&app, "bea@acme.example", "a chosen password 1").await;
    assert_eq!(status, 422, "the old password no longer works");
    let bea_session = try_sign_in(&app, "bea@acme.example", &bea_password).await;
    assert_signed_in(&bea_session);

    // Resetting one's own password keeps this session.
    let page = browser.get("/admins").await;
    let own = browser
        .submit(&admin_action(&page.text, &me.id, "reset-password"))
        .await;
    own.expect(200);
    let my_password = value_of(&own.text, "shown-secret").unwrap();
    browser.get("/admins").await.expect(200);
    assert_signed_in(&try_sign_in(&app, ADMIN_EMAIL, &my_password).await);

    // Remove Cem: his session ends and he cannot sign in.
    let cem = admins::by_email(&app.db, "cem@acme.example")
        .await
        .unwrap()
        .unwrap()
        .0;
    let page = browser.get("/admins").await;
    let removed = browser
        .submit(&admin_action(&page.text, &cem.id, "remove"))
        .await;
    assert_eq!(location(&removed), "/admins");
    assert!(admins::by_id(&app.db, &cem.id).await.unwrap().is_none());
    assert!(location(&cem_session.0.get("/admins").await).starts_with("/signin"));
    let (_, status, _) = try_sign_in(&app, "cem@acme.example", &cem_password).await;
    assert_eq!(status, 422);

    // Remove oneself while Bea remains: signed out.
    let page = browser.get("/admins").await;
    let gone = browser
        .submit(&admin_action(&page.text, &me.id, "remove"))
        .await;
    assert_eq!(location(&gone), "/signin");
    assert!(location(&browser.get("/admins").await).starts_with("/signin"));
    assert!(admins::by_id(&app.db, &me.id).await.unwrap().is_none());

    // Bea is the last admin now.
    let page = bea_session.0.get("/admins").await;
    page.expect(200);
    assert!(!page.text.contains(&format!("/admins/{}/remove", bea.id)));
    let csrf = admin_action(&page.text, &bea.id, "reset-password")
        .get("csrf")
        .unwrap()
        .to_string();
    bea_session
        .0
        .post_form(
            &format!("/admins/{}/remove", bea.id),
            &[("csrf".to_string(), csrf)],
        )
        .await
        .expect(409);
    assert_eq!(
        admins::count_in_tenant(&app.db, &app.tenant.id)
            .await
            .unwrap(),
        1
    );

    let log = log_of(&app, &app.tenant.id).await;
    let by_me = |op: &str| {
        log.iter()
            .filter(|(o, kind, label)| o == op && kind == "admin" && label == ADMIN_EMAIL)
            .count()
    };
    assert_eq!(by_me("admin.create"), 2, "{log:?}");
    assert_eq!(by_me("admin.password.reset"), 2, "{log:?}");
    assert_eq!(by_me("admin.delete"), 2, "{log:?}");
}

/// The operator's tenant list rows: (slug, name, users, groups, last SCIM).
fn tenant_rows(html: &str) -> Vec<Vec<String>> {
    let doc = Html::parse_document(html);
    let row = Selector::parse("#tenant-list tbody tr").unwrap();
    let cell = Selector::parse("td").unwrap();
    doc.select(&row)
        .map(|r| {
            r.select(&cell)
                .map(|c| c.text().collect::<String>().trim().to_string())
                .collect()
        })
        .collect()
}

async fn operators_and_tenant_admins_see_only_their_own_pages(app: TestApp) {
    app.create_user("ada@acme.example").await;
    app.create_user("bob@acme.example").await;
    app.create_group("Engineering").await;
    let operator = create_admin(&app, None, "ops@scimgate.example").await;
    let ops = Browser::fresh(&app);
    ops.sign_in(&operator.email, PASSWORD).await;

    let home = ops.get("/").await;
    home.expect(200);
    let rows = tenant_rows(&home.text);
    assert_eq!(rows.len(), 1, "{}", home.text);
    assert_eq!(rows[0][..4], ["acme", "Acme Corp", "2", "1"]);
    assert!(
        rows[0][4].ends_with("UTC"),
        "last SCIM request: {:?}",
        rows[0][4]
    );

    // Operators see no tenant page.
    for path in [
        "/connect",
        "/connections",
        "/admins",
        "/connect/status?token=x",
    ] {
        let r = ops.get(path).await;
        assert_eq!(r.status.as_u16(), 403, "{path}: {}", r.text);
        assert!(main_text(&r.text).contains("an operator account"), "{path}");
    }
    let csrf = form(&home.text, "/tenants")
        .get("csrf")
        .unwrap()
        .to_string();
    let r = ops
        .post_form(
            "/connections/tokens",
            &[
                ("csrf".to_string(), csrf.clone()),
                ("name".into(), "x".into()),
            ],
        )
        .await;
    r.expect(403);

    // Creating a tenant with its first admin, password generated.
    let mut f = form(&home.text, "/tenants");
    f.set("slug", "initech")
        .set("name", "Initech")
        .set("admin_email", "it@initech.example");
    let shown = ops.submit(&f).await;
    shown.expect(200);
    assert_eq!(shown.header("cache-control"), Some("no-store"));
    let password = value_of(&shown.text, "shown-secret").unwrap();
    let initech = tenants::by_slug(&app.db, "initech").await.unwrap().unwrap();
    assert_eq!(initech.name, "Initech");
    let log = log_of(&app, &initech.id).await;
    for op in ["tenant.create", "admin.create"] {
        assert!(
            log.iter().any(|(o, kind, label)| o == op
                && kind == "operator"
                && label == "ops@scimgate.example"),
            "{op}: {log:?}"
        );
    }
    let home = ops.get("/").await;
    assert!(!home.text.contains(&password));
    let rows = tenant_rows(&home.text);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][..5], ["initech", "Initech", "0", "0", "never"]);

    // A chosen password, then refusals that leave nothing behind.
    let mut f = form(&home.text, "/tenants");
    f.set("slug", "umbrella")
        .set("name", "Umbrella")
        .set("admin_email", "it@umbrella.example")
        .set("admin_password", "umbrella password 1");
    assert_eq!(location(&ops.submit(&f).await), "/");
    assert!(main_text(&ops.get("/").await.text).contains("Tenant Umbrella (umbrella) created"));
    for (slug, email, reason) in [
        ("initech", "x@x.example", "already exists"),
        ("Bad Slug!", "x@x.example", "invalid tenant slug"),
        ("hooli", "it@initech.example", "already exists"),
    ] {
        let mut f = form(&home.text, "/tenants");
        f.set("slug", slug)
            .set("name", "N")
            .set("admin_email", email);
        let r = ops.submit(&f).await;
        r.expect(422);
        assert!(main_text(&r.text).contains(reason), "{slug}: {}", r.text);
    }
    assert!(
        tenants::by_slug(&app.db, "hooli").await.unwrap().is_none(),
        "a taken e-mail leaves no tenant behind"
    );
    let mut f = form(&home.text, "/tenants");
    f.set("slug", "forged")
        .set("name", "F")
        .set("admin_email", "f@f.example");
    f.set("csrf", "forged");
    ops.submit(&f).await.expect(403);
    assert!(tenants::by_slug(&app.db, "forged").await.unwrap().is_none());

    // The new tenant's admin signs in to their tenant, not the tenant list.
    let (admin, status, to) = try_sign_in(&app, "it@initech.example", &password).await;
    assert_eq!((status, to.as_str()), (303, "/"));
    let their_home = admin.get("/").await;
    their_home.expect(200);
    assert!(tenant_rows(&their_home.text).is_empty());
    assert!(!their_home.text.contains("action=\"/tenants\""));
    let their_admins = admin.get("/admins").await;
    assert!(main_text(&their_admins.text).contains("it@initech.example you"));
    assert!(!their_admins.text.contains(ADMIN_EMAIL));
    // Tenant admins cannot create tenants.
    let csrf = form(&their_admins.text, "/admins")
        .get("csrf")
        .unwrap()
        .to_string();
    let r = admin
        .post_form(
            "/tenants",
            &[
                ("csrf".to_string(), csrf),
                ("slug".into(), "sneaky".into()),
                ("name".into(), "Sneaky".into()),
                ("admin_email".into(), "s@sneaky.example".into()),
            ],
        )
        .await;
    r.expect(403);
    assert!(main_text(&r.text).contains("This page is for operators"));
    assert!(tenants::by_slug(&app.db, "sneaky").await.unwrap().is_none());
}

async fn setup_link_creates_the_first_operator_once(app: TestApp) {
    assert_eq!(admins::count(&app.db).await.unwrap(), 0);
    // A second instance started on the same empty database prints a link.
    let config = Config::new("unused://", "127.0.0.1:0".parse().unwrap());
    let second = Server::bind_with_db(config, app.db.clone()).await.unwrap();
    let link = second.setup_link().expect("a setup link").to_string();
    let prefix = format!("{}/setup?token=", second.public_url());
    let token = link.strip_prefix(&prefix).expect("link shape").to_string();
    drop(second);
    let stored = table_text(&app, "setup_links").await;
    assert!(!stored.contains(&token));
    assert!(stored.contains(&scimgate::secret::hash(&token)));

    // This instance honours it: the link is in the database.
    let b = Browser::fresh(&app);
    let page = b.get(&format!("/setup?token={token}")).await;
    page.expect(200);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let mut f = form(&page.text, "/setup");
    assert_eq!(f.get("token"), Some(token.as_str()));
    f.set("email", "founder@scimgate.example")
        .set("password", "first operator pw")
        .set("password_again", "first operator px");
    let r = b.submit(&f).await;
    r.expect(422);
    assert!(main_text(&r.text).contains("The two passwords differ"));
    let mut forged = f.clone();
    forged
        .set("csrf", "forged")
        .set("password_again", "first operator pw");
    b.submit(&forged).await.expect(403);
    assert_eq!(admins::count(&app.db).await.unwrap(), 0);

    f.set("password_again", "first operator pw");
    assert_eq!(location(&b.submit(&f).await), "/");
    let (op, _) = admins::by_email(&app.db, "founder@scimgate.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(op.tenant_id, None, "the first account is an operator");
    let home = b.get("/").await;
    home.expect(200);
    assert!(
        home.text.contains("id=\"tenant-list\""),
        "signed in as the operator"
    );

    // The link is dead now, and so is every other outstanding one.
    let again = Browser::fresh(&app);
    let r = again.get(&format!("/setup?token={token}")).await;
    r.expect(404);
    assert!(main_text(&r.text).contains("This setup link is not valid"));
    let r = again
        .post_form(
            "/setup",
            &[
                ("csrf".to_string(), f.get("csrf").unwrap().to_string()),
                ("token".into(), token.clone()),
                ("email".into(), "second@scimgate.example".into()),
                ("password".into(), "first operator pw".into()),
                ("password_again".into(), "first operator pw".into()),
            ],
        )
        .await;
    assert!(matches!(r.status.as_u16(), 403 | 404), "{}", r.text);
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM setup_links WHERE used_at IS NULL"
        )
        .await,
        0
    );
    assert_eq!(admins::count(&app.db).await.unwrap(), 1);
    again.get("/setup?token=sgsu_unknown").await.expect(404);
    // With an account present, no new link is issued.
    let config = Config::new("unused://", "127.0.0.1:0".parse().unwrap());
    let third = Server::bind_with_db(config, app.db.clone()).await.unwrap();
    assert_eq!(third.setup_link(), None);
}

on_both_databases!(
    admins_are_added_reset_and_removed,
    operators_and_tenant_admins_see_only_their_own_pages,
    setup_link_creates_the_first_operator_once,
);

/// `scimgate demo` as a user runs it: the binary, a free port, its printed
/// credentials, the console and the SCIM API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_command_serves_a_provisioned_tenant() {
    use tokio::io::AsyncBufReadExt as _;

    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimgate"))
        .args(["demo", "--bind", &addr, "--users", "150", "--groups", "12"])
        .env_remove("SCIMGATE_DATABASE_URL")
        .env_remove("SCIMGATE_PUBLIC_URL")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start scimgate demo");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let ready = tokio::time::timeout(Duration::from_secs(240), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.starts_with("ready:");
            printed.push(line);
            if done {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        ready,
        Ok(true),
        "no ready line; printed:\n{}",
        printed.join("\n")
    );
    let value = |label: &str| {
        printed
            .iter()
            .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no {label:?} in:\n{}", printed.join("\n")))
    };
    let base = format!("http://{addr}");
    assert_eq!(value("ready:"), format!("{base}/ (Ctrl-C stops the demo)"));
    let email = value("Admin e-mail");
    let password = value("Admin password");
    let token = value("Secret Token");
    let client_id = value("Client ID");
    let client_secret = value("Client Secret");
    assert_eq!(value("Tenant URL"), format!("{base}/scim/v2"));

    // The console: sign in with the printed credentials and see users.
    let browser = Browser {
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap(),
        base: base.clone(),
    };
    browser.sign_in(&email, &password).await;
    let users = browser.get("/users").await;
    users.expect(200);
    assert!(users.text.contains("@"), "the users page lists users");
    let connections = browser.get("/connections").await;
    connections.expect(200);
    assert!(connections.text.contains(&client_id));

    // The SCIM API holds what the simulator provisioned through it.
    let http = reqwest::Client::new();
    let list: serde_json::Value = http
        .get(format!("{base}/scim/v2/Users?count=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let total = list["totalResults"].as_u64().unwrap();
    assert!((100..=150).contains(&total), "{total} users");
    let groups: serde_json::Value = http
        .get(format!("{base}/scim/v2/Groups?count=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(groups["totalResults"].as_u64().unwrap() >= 8);
    // The printed client is Entra-ready.
    let r = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(&client_id, Some(&client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    child.kill().await.expect("stop the demo");
}
