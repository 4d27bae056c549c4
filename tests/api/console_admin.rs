//! The console's Connect Entra and Connections pages over real HTTP: what
//! they show, secrets shown once and stored only as hashes, revocations that
//! take effect at once on the SCIM API and the token endpoint, CSRF on every
//! action, and tenant isolation.

use std::time::{Duration, Instant};

use reqwest::Method;
use scimgate::store::activity;
use scimgate::store::admins::Admin;
use scimgate::store::grants::{self, KIND_AUTHORIZATION_CODE};
use scimgate::store::{clients, tokens};
use scraper::{Html, Selector};
use sqlx::Row as _;

use crate::browser::{
    Browser, create_admin, create_entra_client, entra_code, expect_html, form, location, main_text,
};
use crate::helpers::{Reply, TestApp};
use crate::oauth_token::form_post;
use crate::on_both_databases;

pub const ADMIN_EMAIL: &str = "it-admin@acme.example";
const ENTRA_REDIRECT: &str = "https://portal.azure.com/TokenAuthorize";

/// A browser signed in as an admin of the app's tenant.
pub async fn signed_in(app: &TestApp) -> (Browser, Admin) {
    let admin = create_admin(app, Some(&app.tenant.id), ADMIN_EMAIL).await;
    let browser = Browser::of(app);
    browser.sign_in(ADMIN_EMAIL, crate::browser::PASSWORD).await;
    (browser, admin)
}

/// The `value` of the element with this id, if it has one.
pub fn value_of(html: &str, id: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(&format!("#{id}")).unwrap();
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr("value").map(str::to_string))
}

/// The text of the element with this id, whitespace collapsed.
pub fn text_of(html: &str, id: &str) -> String {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(&format!("#{id}")).unwrap();
    doc.select(&sel)
        .flat_map(|e| e.text())
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// (operation, actor kind, actor label) of the tenant's log, newest first.
pub async fn log_of(app: &TestApp, tenant_id: &str) -> Vec<(String, String, String)> {
    activity::recent(&app.db, tenant_id, 500)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.operation, e.actor_kind, e.actor_label.unwrap_or_default()))
        .collect()
}

#[track_caller]
pub fn assert_logged(log: &[(String, String, String)], operation: &str, by: &str) {
    assert!(
        log.iter()
            .any(|(op, kind, label)| op == operation && kind == "admin" && label == by),
        "no {operation} by admin {by} in the log: {log:?}"
    );
}

/// Every text column of a table, concatenated: where a leaked secret would be.
pub async fn table_text(app: &TestApp, table: &str) -> String {
    let rows = sqlx::query(&format!("SELECT * FROM {table}"))
        .fetch_all(app.db.reader())
        .await
        .unwrap();
    let mut out = String::new();
    for row in rows {
        for i in 0..row.len() {
            if let Ok(Some(v)) = row.try_get::<Option<String>, _>(i) {
                out.push_str(&v);
                out.push('\n');
            }
        }
    }
    out
}

pub async fn scalar(app: &TestApp, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(app.db.reader())
        .await
        .unwrap()
        .try_get::<i64, _>(0)
        .unwrap()
}

/// Entra's Test Connection request with a bearer token.
async fn test_connection(app: &TestApp, token: &str) -> Reply {
    app.scim_as(
        token,
        Method::GET,
        "/Users?filter=userName+eq+%22probe%40acme.example%22",
        None,
    )
    .await
}

async fn client_credentials(app: &TestApp, id: &str, secret: &str) -> Reply {
    form_post(
        app,
        "/oauth/token",
        &[("grant_type", "client_credentials")],
        Some((id, secret)),
    )
    .await
}

/// Polls the status panel until it contains `needle` (the read log is
/// written in batches a fraction of a second after the request).
async fn status_with(browser: &Browser, path: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = browser.get(path).await;
        r.expect(200);
        if r.text.contains(needle) || Instant::now() > deadline {
            return r.text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn connect_with_oauth_shows_every_field_once_and_watches_entra_arrive(app: TestApp) {
    let (browser, _) = signed_in(&app).await;
    let page = browser.get("/connect").await;
    page.expect(200);
    expect_html(&page);
    assert!(main_text(&page.text).contains("Choose how Entra signs in"));
    assert_eq!(
        page.header("content-security-policy").unwrap_or_default()[..18].to_string(),
        "default-src 'self'"
    );

    let mut f = form(&page.text, "/connect/client");
    f.set("name", "Entra production");
    let created = browser.submit(&f).await;
    created.expect(200);
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let base = &app.base;
    assert_eq!(
        value_of(&created.text, "tenant-url").as_deref(),
        Some(format!("{base}/scim/v2").as_str())
    );
    assert_eq!(
        value_of(&created.text, "authorization-url").as_deref(),
        Some(format!("{base}/oauth/authorize").as_str())
    );
    assert_eq!(
        value_of(&created.text, "token-url").as_deref(),
        Some(format!("{base}/oauth/token").as_str())
    );
    let client_id = value_of(&created.text, "client-id").expect("client id shown");
    let secret = value_of(&created.text, "client-secret").expect("secret shown once");
    assert!(client_id.starts_with("sgc_") && secret.starts_with("sgcs_"));
    let steps = main_text(&created.text);
    for step in [
        "Provisioning",
        "Admin Credentials",
        "OAuth2 Authorization Code Grant",
        "Authorize",
        "Test Connection",
    ] {
        assert!(steps.contains(step), "step {step:?} missing: {steps}");
    }

    // The client is Entra-ready and the secret is stored only as a hash.
    let client = clients::by_id(&app.db, &client_id).await.unwrap().unwrap();
    assert_eq!(client.tenant_id, app.tenant.id);
    assert_eq!(client.name, "Entra production");
    assert_eq!(client.redirect_uris, clients::ENTRA_REDIRECT_URIS.to_vec());
    let stored = table_text(&app, "oauth_client_secrets").await;
    assert!(!stored.contains(&secret), "the secret itself is stored");
    assert!(stored.contains(&scimgate::secret::hash(&secret)));
    assert!(!table_text(&app, "sessions").await.contains(&secret));
    assert_logged(
        &log_of(&app, &app.tenant.id).await,
        "client.create",
        ADMIN_EMAIL,
    );

    // The status panel polls with the vendored htmx, and links to a refresh.
    let status_path = format!("/connect/status?client={client_id}");
    assert!(created.text.contains(&format!("hx-get=\"{status_path}\"")));
    assert!(created.text.contains("hx-trigger=\"every 3s\""));
    assert!(
        created
            .text
            .contains(&format!("href=\"/connect?client={client_id}\">Refresh</a>"))
    );
    let status = text_of(&created.text, "connect-status");
    assert!(
        status.contains("Authorize: consent approved waiting"),
        "{status}"
    );
    let doc = Html::parse_document(&created.text);
    let script = doc
        .select(&Selector::parse("head script[src]").unwrap())
        .next()
        .expect("the htmx script")
        .value()
        .attr("src")
        .unwrap()
        .to_string();
    assert!(script.starts_with("/static/htmx.min.js?v="));
    assert!(
        doc.select(&Selector::parse("script:not([src])").unwrap())
            .next()
            .is_none(),
        "no inline script (the CSP refuses them)"
    );
    let js = browser.get(&script).await;
    js.expect(200);
    assert!(
        js.header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.text.contains("htmx"));

    // Reloading shows everything but the secret.
    let again = browser.get(&format!("/connect?client={client_id}")).await;
    again.expect(200);
    assert!(!again.text.contains(&secret));
    assert_eq!(
        value_of(&again.text, "client-id").as_deref(),
        Some(client_id.as_str())
    );
    assert_eq!(value_of(&again.text, "client-secret"), None);
    assert!(text_of(&again.text, "client-secret").contains("Shown only once"));

    // Entra's Authorize: consent, then the code exchange.
    let code = entra_code(&browser, &client_id, ADMIN_EMAIL).await;
    let status = status_with(&browser, &status_path, "Approved by").await;
    assert!(
        status.contains(&format!("Approved by {ADMIN_EMAIL}")),
        "{status}"
    );
    assert!(status.contains("Waiting for Entra to exchange"), "{status}");
    let tokens = form_post(
        &app,
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT),
        ],
        Some((&client_id, &secret)),
    )
    .await;
    tokens.expect(200);
    let access = tokens.body["access_token"].as_str().unwrap().to_string();
    let status = browser.get(&status_path).await;
    assert!(
        status.text.contains("Entra received an access token"),
        "{}",
        status.text
    );
    assert!(text_of(&status.text, "connect-status").contains("Waiting for Entra's first request"));
    assert!(status.text.contains("hx-get"), "still polling");

    // Test Connection: the first SCIM request with the client's token.
    test_connection(&app, &access).await.expect(200);
    let status = status_with(&browser, &status_path, "First request").await;
    let text = text_of(&status, "connect-status");
    assert!(
        text.contains("First request: GET /scim/v2/Users?filter=userName+eq+%22probe%40acme.example%22 answered 200"),
        "{text}"
    );
    assert!(text.contains("Entra is connected"), "{text}");
    assert!(!status.contains("hx-get"), "polling stops once connected");
    // The whole page (the no-script refresh) shows the same.
    let page = browser.get(&format!("/connect?client={client_id}")).await;
    assert!(text_of(&page.text, "connect-status").contains("Entra is connected"));
}

async fn connect_with_a_secret_token_shows_it_once_and_sees_test_connection(app: TestApp) {
    let (browser, _) = signed_in(&app).await;
    let page = browser.get("/connect").await;
    let mut f = form(&page.text, "/connect/token");
    f.set("name", "Entra (token)").set("expires_in_days", "30");
    let created = browser.submit(&f).await;
    created.expect(200);
    assert_eq!(created.header("cache-control"), Some("no-store"));
    assert_eq!(
        value_of(&created.text, "tenant-url"),
        Some(format!("{}/scim/v2", app.base))
    );
    let token = value_of(&created.text, "secret-token").expect("token shown once");
    assert!(token.starts_with("sgst_"));
    assert!(main_text(&created.text).contains("Bearer Authentication"));
    let info = tokens::list(&app.db, &app.tenant.id)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.name == "Entra (token)")
        .expect("token stored");
    let days = chrono::DateTime::parse_from_rfc3339(info.expires_at.as_deref().unwrap())
        .unwrap()
        .signed_duration_since(chrono::Utc::now())
        .num_days();
    assert!((29..=30).contains(&days), "expires in {days} days");
    assert!(!table_text(&app, "api_tokens").await.contains(&token));
    assert_logged(
        &log_of(&app, &app.tenant.id).await,
        "token.create",
        ADMIN_EMAIL,
    );

    let status_path = format!("/connect/status?token={}", info.id);
    let before = browser.get(&status_path).await;
    assert!(before.text.contains("Waiting for Entra"));
    test_connection(&app, &token).await.expect(200);
    let after = status_with(&browser, &status_path, "First request").await;
    assert!(text_of(&after, "connect-status").contains("Entra is connected"));

    let reload = browser.get(&format!("/connect?token={}", info.id)).await;
    reload.expect(200);
    assert!(!reload.text.contains(&token));
    assert_eq!(value_of(&reload.text, "secret-token"), None);

    // A bad expiry is refused with the form kept.
    let mut bad = form(&browser.get("/connect").await.text, "/connect/token");
    bad.set("expires_in_days", "0");
    let refused = browser.submit(&bad).await;
    refused.expect(422);
    assert!(main_text(&refused.text).contains("whole number of days"));
}

async fn connections_manage_secrets_grants_and_tokens_with_immediate_effect(app: TestApp) {
    let (browser, admin) = signed_in(&app).await;
    let page = browser.get("/connections").await;
    page.expect(200);

    // Create a client: its secret is shown once, then only its hint.
    let mut f = form(&page.text, "/connections/clients");
    f.set("name", "Entra staging")
        .set("redirect_uris", &clients::ENTRA_REDIRECT_URIS.join("\n"));
    let created = browser.submit(&f).await;
    created.expect(200);
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let first_secret = value_of(&created.text, "shown-secret").unwrap();
    let client = clients::list(&app.db, &app.tenant.id)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name == "Entra staging")
        .unwrap();
    assert!(created.text.contains(&client.id));
    client_credentials(&app, &client.id, &first_secret)
        .await
        .expect(200);

    let page = browser.get("/connections").await;
    let text = main_text(&page.text);
    assert!(!page.text.contains(&first_secret));
    let secrets = clients::secrets(&app.db, &client.id).await.unwrap();
    assert_eq!(secrets.len(), 1);
    assert!(text.contains(&secrets[0].hint), "{text}");
    assert!(text.contains("Entra staging"));

    // Add a second secret (rotation): both work until one is revoked.
    let added = browser
        .submit(&form(
            &page.text,
            &format!("/connections/clients/{}/secrets", client.id),
        ))
        .await;
    added.expect(200);
    let second_secret = value_of(&added.text, "shown-secret").unwrap();
    assert_ne!(first_secret, second_secret);
    client_credentials(&app, &client.id, &second_secret)
        .await
        .expect(200);
    let stored = table_text(&app, "oauth_client_secrets").await;
    assert!(!stored.contains(&first_secret) && !stored.contains(&second_secret));

    let page = browser.get("/connections").await;
    let first_id = &secrets[0].id;
    let revoked = browser
        .submit(&form(
            &page.text,
            &format!(
                "/connections/clients/{}/secrets/{first_id}/revoke",
                client.id
            ),
        ))
        .await;
    assert_eq!(location(&revoked), "/connections");
    let r = client_credentials(&app, &client.id, &first_secret).await;
    assert_eq!(r.status.as_u16(), 401, "{}", r.text);
    assert_eq!(r.body["error"], "invalid_client");
    client_credentials(&app, &client.id, &second_secret)
        .await
        .expect(200);
    let page = browser.get("/connections").await;
    let text = main_text(&page.text);
    assert!(
        text.contains("revoked: the token endpoint refuses it"),
        "{text}"
    );
    assert!(
        !page.text.contains(&format!("/secrets/{first_id}/revoke")),
        "a revoked secret offers no revoke button"
    );

    // A connection approved through Authorize, then revoked: its tokens die.
    let (entra, entra_secret) = create_entra_client(&app, &app.tenant.id, "Entra").await;
    let code = entra_code(&browser, &entra.id, ADMIN_EMAIL).await;
    let issued = form_post(
        &app,
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT),
        ],
        Some((&entra.id, &entra_secret)),
    )
    .await;
    issued.expect(200);
    let access = issued.body["access_token"].as_str().unwrap().to_string();
    let refresh = issued.body["refresh_token"].as_str().unwrap().to_string();
    test_connection(&app, &access).await.expect(200);
    let grant = grants::list(&app.db, &app.tenant.id)
        .await
        .unwrap()
        .into_iter()
        .find(|g| g.client_id == entra.id && g.kind == KIND_AUTHORIZATION_CODE)
        .unwrap();
    let page = browser.get("/connections").await;
    let text = main_text(&page.text);
    assert!(
        text.contains(&format!("Entra Authorize button {ADMIN_EMAIL}")),
        "the grant row names the client, its kind and who approved: {text}"
    );
    let revoked = browser
        .submit(&form(
            &page.text,
            &format!("/connections/grants/{}/revoke", grant.id),
        ))
        .await;
    assert_eq!(location(&revoked), "/connections");
    test_connection(&app, &access).await.expect(401);
    let r = form_post(
        &app,
        "/oauth/token",
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        Some((&entra.id, &entra_secret)),
    )
    .await;
    assert_eq!(r.status.as_u16(), 400, "{}", r.text);
    assert_eq!(r.body["error"], "invalid_grant");
    let grant = grants::grant(&app.db, &grant.id).await.unwrap().unwrap();
    assert!(grant.revoked_at.is_some());
    assert!(
        grant
            .revoked_reason
            .as_deref()
            .unwrap()
            .contains(ADMIN_EMAIL)
    );
    let page = browser.get("/connections").await;
    assert!(main_text(&page.text).contains("Connection revoked"));
    assert!(
        !page
            .text
            .contains(&format!("/connections/grants/{}/revoke", grant.id))
    );

    // A client-credentials connection, revoked: its token dies and its
    // client gets no new one (it would otherwise open a new connection).
    let issued = client_credentials(&app, &client.id, &second_secret).await;
    issued.expect(200);
    let cc_access = issued.body["access_token"].as_str().unwrap().to_string();
    test_connection(&app, &cc_access).await.expect(200);
    let cc_grant = grants::list(&app.db, &app.tenant.id)
        .await
        .unwrap()
        .into_iter()
        .find(|g| g.client_id == client.id && g.revoked_at.is_none())
        .unwrap();
    let revoked = browser
        .submit(&form(
            &page.text,
            &format!("/connections/grants/{}/revoke", cc_grant.id),
        ))
        .await;
    assert_eq!(location(&revoked), "/connections");
    test_connection(&app, &cc_access).await.expect(401);
    let r = client_credentials(&app, &client.id, &second_secret).await;
    assert_eq!(r.status.as_u16(), 401, "{}", r.text);
    assert_eq!(r.body["error"], "invalid_client");
    let page = browser.get("/connections").await;
    let text = main_text(&page.text);
    assert!(text.contains("its client was revoked"), "{text}");
    assert!(text.contains("Entra staging revoked"), "{text}");

    // Secret tokens: created with an expiry, shown once, revoked at once.
    let mut f = form(&page.text, "/connections/tokens");
    f.set("name", "Provisioning").set("expires_in_days", "7");
    let created = browser.submit(&f).await;
    created.expect(200);
    let token = value_of(&created.text, "shown-secret").unwrap();
    assert!(main_text(&created.text).contains(&format!("{}/scim/v2", app.base)));
    test_connection(&app, &token).await.expect(200);
    let info = tokens::list(&app.db, &app.tenant.id)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.name == "Provisioning")
        .unwrap();
    assert!(info.expires_at.is_some());
    let page = browser.get("/connections").await;
    assert!(!page.text.contains(&token));
    let text = main_text(&page.text);
    assert!(text.contains(&info.hint));
    let revoked = browser
        .submit(&form(
            &page.text,
            &format!("/connections/tokens/{}/revoke", info.id),
        ))
        .await;
    assert_eq!(location(&revoked), "/connections");
    test_connection(&app, &token).await.expect(401);
    assert!(
        tokens::by_id(&app.db, &info.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    // The app's own token is untouched.
    test_connection(&app, &app.token).await.expect(200);

    // Every action is in the log, attributed to the admin.
    let log = log_of(&app, &app.tenant.id).await;
    for op in [
        "client.create",
        "client.secret.create",
        "client.secret.revoke",
        "oauth.grant.revoke",
        "token.create",
        "token.revoke",
    ] {
        assert_logged(&log, op, &admin.email);
    }
}

async fn invalid_client_forms_are_refused_with_the_reason(app: TestApp) {
    let (browser, _) = signed_in(&app).await;
    let page = browser.get("/connections").await;
    let mut f = form(&page.text, "/connections/clients");
    f.set("name", "Bad")
        .set("redirect_uris", "http://evil.example/cb");
    let r = browser.submit(&f).await;
    r.expect(422);
    assert!(main_text(&r.text).contains("must use https"), "{}", r.text);
    let mut f = form(&page.text, "/connections/clients");
    f.set("name", "  ")
        .set("redirect_uris", clients::ENTRA_REDIRECT_URIS[0]);
    let r = browser.submit(&f).await;
    r.expect(422);
    assert!(main_text(&r.text).contains("Give the client a name"));
    assert_eq!(
        clients::list(&app.db, &app.tenant.id).await.unwrap().len(),
        0
    );
}

/// Every POST of these pages with a wrong CSRF token: refused, no effect.
async fn every_action_needs_the_csrf_token(app: TestApp) {
    let (browser, admin) = signed_in(&app).await;
    let (client, _) = create_entra_client(&app, &app.tenant.id, "Entra").await;
    let secret_id = clients::secrets(&app.db, &client.id).await.unwrap()[0]
        .id
        .clone();
    let mut tx = app.db.begin().await.unwrap();
    let grant = grants::create_grant(
        &mut tx,
        &app.tenant.id,
        &client.id,
        Some(&admin.id),
        KIND_AUTHORIZATION_CODE,
        "scim",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let token_id = tokens::list(&app.db, &app.tenant.id).await.unwrap()[0]
        .id
        .clone();
    let other = create_admin(&app, Some(&app.tenant.id), "second@acme.example").await;
    let before = log_of(&app, &app.tenant.id).await.len();

    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/connect/client".into(), vec![("name", "X")]),
        ("/connect/token".into(), vec![("name", "X")]),
        (
            "/connections/clients".into(),
            vec![("name", "X"), ("redirect_uris", ENTRA_REDIRECT)],
        ),
        (
            format!("/connections/clients/{}/secrets", client.id),
            vec![],
        ),
        (
            format!(
                "/connections/clients/{}/secrets/{secret_id}/revoke",
                client.id
            ),
            vec![],
        ),
        (format!("/connections/grants/{}/revoke", grant.id), vec![]),
        ("/connections/tokens".into(), vec![("name", "X")]),
        (format!("/connections/tokens/{token_id}/revoke"), vec![]),
        (
            "/admins".into(),
            vec![("email", "new@acme.example"), ("password", "")],
        ),
        (format!("/admins/{}/remove", other.id), vec![]),
        (format!("/admins/{}/reset-password", other.id), vec![]),
    ];
    for (action, fields) in &posts {
        for csrf in [Some("forged"), None] {
            let mut pairs: Vec<(String, String)> = fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            if let Some(c) = csrf {
                pairs.push(("csrf".into(), c.into()));
            }
            let r = browser.post_form(action, &pairs).await;
            assert_eq!(
                r.status.as_u16(),
                403,
                "{action} with csrf {csrf:?}: {}",
                r.text
            );
            assert!(main_text(&r.text).contains("This form has expired"));
        }
    }
    // Nothing happened.
    assert_eq!(log_of(&app, &app.tenant.id).await.len(), before);
    assert_eq!(
        clients::list(&app.db, &app.tenant.id).await.unwrap().len(),
        1
    );
    assert_eq!(
        clients::secrets(&app.db, &client.id).await.unwrap().len(),
        1
    );
    assert!(
        clients::secrets(&app.db, &client.id).await.unwrap()[0]
            .revoked_at
            .is_none()
    );
    assert!(
        grants::grant(&app.db, &grant.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    assert_eq!(
        tokens::list(&app.db, &app.tenant.id).await.unwrap().len(),
        1
    );
    test_connection(&app, &app.token).await.expect(200);
    assert_eq!(
        scimgate::store::admins::list(&app.db, Some(&app.tenant.id))
            .await
            .unwrap()
            .len(),
        2
    );
    let other_now = scimgate::store::admins::by_id(&app.db, &other.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other_now.password_changed_at, other.password_changed_at);
}

/// Ids of another tenant's clients, secrets, grants, tokens and admins are
/// 404 everywhere, and nothing of that tenant changes.
async fn another_tenants_ids_are_not_found(app: TestApp) {
    let (browser, _) = signed_in(&app).await;
    let (globex, globex_token) = app.other_tenant("globex").await;
    let globex_admin = create_admin(&app, Some(&globex.id), "admin@globex.example").await;
    create_admin(&app, Some(&globex.id), "second@globex.example").await;
    let (client, client_secret) = create_entra_client(&app, &globex.id, "Globex Entra").await;
    let secret_id = clients::secrets(&app.db, &client.id).await.unwrap()[0]
        .id
        .clone();
    let mut tx = app.db.begin().await.unwrap();
    let grant = grants::create_grant(
        &mut tx,
        &globex.id,
        &client.id,
        Some(&globex_admin.id),
        KIND_AUTHORIZATION_CODE,
        "scim",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let token_id = tokens::list(&app.db, &globex.id).await.unwrap()[0]
        .id
        .clone();

    for path in [
        format!("/connect?client={}", client.id),
        format!("/connect/status?client={}", client.id),
        format!("/connect?token={token_id}"),
        format!("/connect/status?token={token_id}"),
        // An access token id is not a secret token, even in one's tenant.
        "/connect?token=nonexistent".to_string(),
    ] {
        let r = browser.get(&path).await;
        assert_eq!(r.status.as_u16(), 404, "{path}: {}", r.text);
        expect_html(&r);
    }
    let csrf = form(
        &browser.get("/connections").await.text,
        "/connections/tokens",
    )
    .get("csrf")
    .unwrap()
    .to_string();
    for action in [
        format!("/connections/clients/{}/secrets", client.id),
        format!(
            "/connections/clients/{}/secrets/{secret_id}/revoke",
            client.id
        ),
        format!("/connections/grants/{}/revoke", grant.id),
        format!("/connections/tokens/{token_id}/revoke"),
        format!("/admins/{}/remove", globex_admin.id),
        format!("/admins/{}/reset-password", globex_admin.id),
    ] {
        let r = browser
            .post_form(&action, &[("csrf".to_string(), csrf.clone())])
            .await;
        assert_eq!(r.status.as_u16(), 404, "{action}: {}", r.text);
        assert!(main_text(&r.text).contains("No such"), "{}", r.text);
    }
    // Globex is untouched.
    test_connection(&app, &globex_token).await.expect(200);
    client_credentials(&app, &client.id, &client_secret)
        .await
        .expect(200);
    assert_eq!(
        clients::secrets(&app.db, &client.id).await.unwrap().len(),
        1
    );
    assert!(
        grants::grant(&app.db, &grant.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    let still = scimgate::store::admins::by_id(&app.db, &globex_admin.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.password_changed_at, globex_admin.password_changed_at);
    assert!(
        log_of(&app, &globex.id)
            .await
            .iter()
            .all(|(_, kind, _)| kind != "admin")
    );
    // Acme's pages list nothing of Globex.
    let page = browser.get("/connections").await;
    assert!(!page.text.contains(&client.id) && !page.text.contains("Globex"));
    let connect = browser.get("/connect").await;
    assert!(!connect.text.contains(&client.id));
}

on_both_databases!(
    connect_with_oauth_shows_every_field_once_and_watches_entra_arrive,
    connect_with_a_secret_token_shows_it_once_and_sees_test_connection,
    connections_manage_secrets_grants_and_tokens_with_immediate_effect,
    invalid_client_forms_are_refused_with_the_reason,
    every_action_needs_the_csrf_token,
    another_tenants_ids_are_not_found,
);
