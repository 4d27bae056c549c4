//! Connect Entra in the browser: the five values the page shows are the
//! ones that work (Entra's Authorize in a second tab, the token exchange
//! and Test Connection done with them), and the live status panel, which
//! htmx refreshes in place, or the Refresh link without JavaScript.

use std::time::{Duration, Instant};

use fantoccini::wd::WindowHandle;
use serde_json::Value;

use super::{ADMIN, Options, Ui};
use crate::browser::{PASSWORD, create_admin};
use crate::helpers::TestApp;

const ENTRA_REDIRECT: &str = "https://portal.azure.com/TokenAuthorize";

/// What the page says to paste into Entra's Admin Credentials.
struct Credentials {
    tenant_url: String,
    authorization_url: String,
    token_url: String,
    client_id: String,
    client_secret: String,
}

/// Creates an OAuth client on the Connect Entra page and reads the five
/// values, each by its label.
async fn create_client(ui: &Ui) -> Credentials {
    ui.click_link("Connect Entra").await;
    ui.wait_for_path("the Connect Entra page", |p| p == "/connect")
        .await;
    assert_eq!(ui.h1().await, "Connect Microsoft Entra ID");
    ui.fill("#client-name", "Entra production").await;
    ui.press("form[action='/connect/client']", "Create OAuth client")
        .await;
    ui.wait_for_path("the created client", |p| p == "/connect/client")
        .await;
    let mut values = Vec::new();
    for (id, label) in [
        ("tenant-url", "Tenant URL"),
        ("authorization-url", "Authorization URL"),
        ("token-url", "Token URL"),
        ("client-id", "Client Identifier (Client ID)"),
        ("client-secret", "Client Secret"),
    ] {
        assert_eq!(ui.text(&format!("label[for={id}]")).await, label);
        let field = ui.find(&format!("#{id}")).await;
        assert_eq!(
            field.attr("readonly").await.unwrap().as_deref(),
            Some("true"),
            "{label} is read-only"
        );
        values.push(ui.value(&format!("#{id}")).await);
    }
    let [
        tenant_url,
        authorization_url,
        token_url,
        client_id,
        client_secret,
    ] = <[String; 5]>::try_from(values).unwrap();
    Credentials {
        tenant_url,
        authorization_url,
        token_url,
        client_id,
        client_secret,
    }
}

/// Does what Entra's Authorize button does, in a new tab: opens the
/// Authorization URL, approves on the consent page and returns the code
/// the browser was sent back to Entra with. Comes back to the first tab.
async fn authorize(ui: &Ui, c: &Credentials) -> String {
    let first: WindowHandle = ui.client.window().await.unwrap();
    let tab = ui.client.new_window(true).await.unwrap();
    ui.client.switch_to_window(tab.handle).await.unwrap();
    let redirect: String =
        url::form_urlencoded::byte_serialize(ENTRA_REDIRECT.as_bytes()).collect();
    ui.client
        .goto(&format!(
            "{}?response_type=code&client_id={}&redirect_uri={redirect}&state=entra-state",
            c.authorization_url, c.client_id
        ))
        .await
        .unwrap();
    assert_eq!(
        ui.h1().await,
        "Allow Entra production to provision Acme Corp?"
    );
    ui.press("form[action='/oauth/authorize']", "Approve").await;
    // The browser goes back to Entra, which does not resolve here: the
    // address is what matters.
    let deadline = Instant::now() + Duration::from_secs(10);
    let back = loop {
        let url = ui.client.current_url().await.unwrap();
        if url.host_str() == Some("portal.azure.com") {
            break url;
        }
        assert!(Instant::now() < deadline, "never sent back to Entra: {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(back.path(), "/TokenAuthorize");
    let param = |name: &str| {
        back.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("state").as_deref(), Some("entra-state"));
    let code = param("code").expect("a code for Entra");
    ui.client.close_window().await.unwrap();
    ui.client.switch_to_window(first).await.unwrap();
    code
}

/// Entra's side: the code exchanged at the Token URL with the client's id
/// and secret, then Test Connection at the Tenant URL with the token.
async fn exchange_and_test_connection(c: &Credentials, code: &str) {
    let http = reqwest::Client::new();
    let reply = http
        .post(&c.token_url)
        .basic_auth(&c.client_id, Some(&c.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", ENTRA_REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let tokens: Value = reply.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["refresh_token"].as_str().is_some());
    let access = tokens["access_token"].as_str().expect("an access token");

    let reply = http
        .get(format!(
            "{}/Users?filter=userName+eq+%22e5b0c5f4-6a36-4d5e-9a0d-6c1b2f3e4d5a%22",
            c.tenant_url
        ))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let list: Value = reply.json().await.unwrap();
    assert_eq!(list["totalResults"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_values_shown_connect_entra_and_the_status_updates_in_place() {
    let app = TestApp::spawn_sqlite().await;
    let Some(ui) = super::signed_in(&app).await else {
        return;
    };
    let c = create_client(&ui).await;
    assert_eq!(c.tenant_url, format!("{}/scim/v2", app.base));
    assert_eq!(c.authorization_url, format!("{}/oauth/authorize", app.base));
    assert_eq!(c.token_url, format!("{}/oauth/token", app.base));
    assert!(c.client_id.starts_with("sgc_"), "{}", c.client_id);
    assert!(c.client_secret.starts_with("sgcs_"));
    ui.screenshot("connect-entra").await;

    // htmx runs: the status panel polls in place, without reloading the page.
    assert_eq!(ui.js("return typeof htmx").await, "object");
    ui.js("window.stillTheSamePage = true; return null").await;
    let status = ui.text("#connect-status").await.to_lowercase();
    assert!(status.contains("waiting"), "{status}");

    let code = authorize(&ui, &c).await;
    exchange_and_test_connection(&c, &code).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    while ui.all("#connect-status.status-connected").await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the panel never showed the connection: {}",
            ui.text("#connect-status").await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        ui.js("return window.stillTheSamePage === true").await,
        true,
        "updated in place, not by a reload"
    );
    assert_eq!(ui.path().await, "/connect/client");
    let status = ui.text("#connect-status").await;
    assert!(status.contains("Entra is connected."), "{status}");
    assert!(!status.to_lowercase().contains("waiting"), "{status}");
    ui.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_javascript_sign_in_search_and_connect_still_work() {
    let app = TestApp::spawn_sqlite().await;
    super::provision(&app).await;
    let options = Options {
        javascript: false,
        ..Options::default()
    };
    let Some(ui) = Ui::open_with(&app, options).await else {
        return;
    };
    create_admin(&app, Some(&app.tenant.id), ADMIN).await;
    ui.sign_in(ADMIN, PASSWORD).await;
    assert_eq!(ui.h1().await, "Acme Corp");

    ui.click_link("Users").await;
    ui.wait_for_path("the users page", |p| p == "/users").await;
    ui.fill("#f-q", "Cattermole").await;
    ui.press("form.filters", "Apply").await;
    ui.wait_for_path("the search", |p| p.contains("q=Cattermole"))
        .await;
    let displays = ui.texts("table.users tbody td:nth-child(2)").await;
    assert_eq!(displays.len(), 24);
    assert!(displays.iter().all(|d| d.ends_with(" Cattermole")));

    let c = create_client(&ui).await;
    // The page asks for htmx, and the browser does not run it.
    assert_eq!(ui.all("script[src^='/static/htmx.min.js']").await.len(), 1);
    assert_eq!(ui.js("return typeof htmx").await, "undefined");
    let code = authorize(&ui, &c).await;
    exchange_and_test_connection(&c, &code).await;

    // The Refresh link shows the status (the read log is written a moment
    // after the request, so follow it until the panel says so).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        ui.click_link("Refresh").await;
        ui.wait_for_path("the refreshed status", |p| {
            p.starts_with("/connect?client=")
        })
        .await;
        if !ui.all("#connect-status.status-connected").await.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}",
            ui.text("#connect-status").await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        ui.text("#connect-status")
            .await
            .contains("Entra is connected.")
    );
    ui.close().await;
}
