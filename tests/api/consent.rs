//! `/oauth/authorize` as Entra's admin goes through it: validation errors,
//! sign-in on the way, the consent page, approve and deny, tenant checks and
//! CSRF.

use scimgate::store::activity;
use scimgate::store::grants;

use crate::browser::{
    Browser, PASSWORD, create_admin, create_entra_client, entra_code, entra_query, expect_html,
    form, forms, location, main_text,
};
use crate::helpers::TestApp;
use crate::on_both_databases;

const PORTAL: &str = "https://portal.azure.com/TokenAuthorize";

async fn codes(app: &TestApp) -> i64 {
    use sqlx::Row as _;
    sqlx::query("SELECT COUNT(*) AS n FROM oauth_codes")
        .fetch_one(app.db.reader())
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

async fn unknown_clients_and_redirect_uris_get_an_error_page(app: TestApp) {
    let (client, _) = create_entra_client(&app, &app.tenant.id, "Entra provisioning").await;
    let browser = Browser::of(&app);

    let r = browser
        .get(&format!(
            "/oauth/authorize?{}",
            entra_query("sgc_doesnotexist", "abc")
        ))
        .await;
    r.expect(400);
    expect_html(&r);
    assert!(
        r.header("location").is_none(),
        "an unknown client is never redirected to"
    );
    let text = main_text(&r.text);
    assert!(text.contains("Unknown client"), "{text}");
    assert!(text.contains("sgc_doesnotexist"), "{text}");
    let request_id = r
        .header("x-request-id")
        .expect("request id header")
        .to_string();
    assert!(
        text.contains(&format!("Request id: {request_id}")),
        "{text}"
    );

    let r = browser
        .get(&format!(
            "/oauth/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&state=x",
            client.id
        ))
        .await;
    r.expect(400);
    assert!(r.header("location").is_none());
    let text = main_text(&r.text);
    assert!(text.contains("Redirect URI not registered"), "{text}");
    assert!(text.contains("https://evil.example/cb"), "{text}");
    assert!(
        !text.contains("portal.azure.com"),
        "the page does not list the client's registered URIs: {text}"
    );
    assert_eq!(codes(&app).await, 0);
}

async fn unsupported_response_type_is_sent_back_with_the_state(app: TestApp) {
    let (client, _) = create_entra_client(&app, &app.tenant.id, "Entra provisioning").await;
    let browser = Browser::of(&app);
    let r = browser
        .get(&format!(
            "/oauth/authorize?response_type=token&client_id={}&redirect_uri=https%3a%2f%2fportal.azure.com%2fTokenAuthorize&state=s%201",
            client.id
        ))
        .await;
    let back = location(&r);
    assert!(back.starts_with(&format!("{PORTAL}?")), "{back}");
    let url = url::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert!(
        pairs.contains(&("error".into(), "unsupported_response_type".into())),
        "{back}"
    );
    assert!(pairs.contains(&("state".into(), "s 1".into())), "{back}");
    // Error responses name the issuer too (RFC 9207).
    assert!(pairs.contains(&("iss".into(), app.base.clone())), "{back}");
}

async fn entra_flow_signs_in_approves_and_echoes_the_state(app: TestApp) {
    let admin = create_admin(&app, Some(&app.tenant.id), "it-admin@acme.example").await;
    let (client, _) = create_entra_client(&app, &app.tenant.id, "Entra provisioning").await;

    for state in ["", "1"] {
        let browser = Browser::fresh(&app);
        let path = format!("/oauth/authorize?{}", entra_query(&client.id, state));

        // Not signed in: to the sign-in page, which comes back here.
        let first = browser.get(&path).await;
        let to_signin = location(&first);
        let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
        assert_eq!(to_signin, format!("/signin?next={next}"));
        let signin = browser.get(&to_signin).await;
        signin.expect(200);
        let csp = signin.header("content-security-policy").unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let mut f = form(&signin.text, "/signin");
        assert_eq!(f.get("next"), Some(path.as_str()));
        f.set("email", "it-admin@acme.example")
            .set("password", PASSWORD);
        let signed = browser.submit(&f).await;
        assert_eq!(location(&signed), path);

        // The consent page.
        let consent = browser.get(&path).await;
        consent.expect(200);
        expect_html(&consent);
        let csp = consent.header("content-security-policy").unwrap();
        assert_eq!(
            csp,
            "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"
        );
        assert_eq!(consent.header("x-frame-options"), Some("DENY"));
        assert_eq!(consent.header("cache-control"), Some("no-store"));
        let text = main_text(&consent.text);
        for expected in [
            "Entra provisioning",
            "Acme Corp",
            "provision users and groups into Acme Corp: create, update, disable and delete them, and read them back",
            "it-admin@acme.example",
            "portal.azure.com",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from: {text}");
        }
        let decision = form(&consent.text, "/oauth/authorize");
        assert_eq!(decision.method, "post");
        assert!(decision.get("csrf").is_some() && decision.get("request").is_some());
        let values: Vec<&str> = decision.buttons.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(values, ["approve", "deny"]);

        let back = location(&browser.press(&decision, "approve").await);
        let prefix = format!("{PORTAL}?code=");
        assert!(back.starts_with(&prefix), "{back}");
        // State echoed exactly, then the issuer (RFC 9207).
        let issuer: String = url::form_urlencoded::byte_serialize(app.base.as_bytes()).collect();
        let suffix = format!("&state={state}&iss={issuer}");
        assert!(back.ends_with(&suffix), "state echoed exactly: {back}");
        let code = &back[prefix.len()..back.len() - suffix.len()];
        assert!(code.len() >= 40 && !code.contains('&'), "{back}");

        // The code is stored, bound to the client, tenant, admin and URI.
        let mut tx = app.db.begin().await.unwrap();
        let stored = grants::take_code(&mut tx, code)
            .await
            .unwrap()
            .expect("code stored");
        assert_eq!(stored.client_id, client.id);
        assert_eq!(stored.tenant_id, app.tenant.id);
        assert_eq!(stored.admin_id, admin.id);
        assert_eq!(stored.redirect_uri, PORTAL);
        assert!(stored.redirect_uri_sent);
        assert!(stored.used_at.is_none());
        tx.rollback().await.unwrap();

        // The same decision cannot be posted twice.
        let again = browser.press(&decision, "approve").await;
        again.expect(400);
        assert!(
            main_text(&again.text).contains("This approval page has expired"),
            "{}",
            again.text
        );
    }
    assert_eq!(codes(&app).await, 2);
    let log = activity::recent(&app.db, &app.tenant.id, 20).await.unwrap();
    assert_eq!(
        log.iter()
            .filter(|e| e.operation == "oauth.consent.approve")
            .count(),
        2
    );
}

async fn deny_sends_access_denied_with_the_state(app: TestApp) {
    create_admin(&app, Some(&app.tenant.id), "it-admin@acme.example").await;
    let (client, _) = create_entra_client(&app, &app.tenant.id, "Entra provisioning").await;
    let browser = Browser::of(&app);
    let consent = browser
        .authorize_as(
            &entra_query(&client.id, "xyz"),
            "it-admin@acme.example",
            PASSWORD,
        )
        .await;
    let back = browser.decide(&consent, "deny").await;
    assert!(
        back.starts_with(&format!("{PORTAL}?error=access_denied&")),
        "{back}"
    );
    let issuer: String = url::form_urlencoded::byte_serialize(app.base.as_bytes()).collect();
    assert!(
        back.ends_with(&format!("&state=xyz&iss={issuer}")),
        "{back}"
    );
    assert_eq!(codes(&app).await, 0);
    let log = activity::recent(&app.db, &app.tenant.id, 20).await.unwrap();
    assert!(log.iter().any(|e| e.operation == "oauth.consent.deny"));
}

async fn admins_of_another_tenant_cannot_approve(app: TestApp) {
    let (other, _) = app.other_tenant("globex").await;
    create_admin(&app, Some(&other.id), "boss@globex.example").await;
    create_admin(&app, None, "ops@vendor.example").await;
    let (client, _) = create_entra_client(&app, &app.tenant.id, "Entra provisioning").await;

    for email in ["boss@globex.example", "ops@vendor.example"] {
        let browser = Browser::fresh(&app);
        let r = browser
            .authorize_as(&entra_query(&client.id, "1"), email, PASSWORD)
            .await;
        r.expect(403);
        expect_html(&r);
        let text = main_text(&r.text);
        assert!(text.contains(email), "{text}");
        assert!(text.contains("Acme Corp"), "{text}");
        assert!(
            text.contains("only an administrator of Acme Corp can approve it"),
            "{text}"
        );
        assert!(
            forms(&r.text)
                .iter()
                .all(|f| f.action != "/oauth/authorize"),
            "no approval form: {}",
            r.text
        );
        // The page offers to sign out, and that works.
        let signout = form(&r.text, "/signout");
        assert_eq!(location(&browser.submit(&signout).await), "/signin");
        assert_eq!(location(&browser.get("/").await), "/signin?next=%2F");
    }
    assert_eq!(codes(&app).await, 0);
}

async fn decisions_need_the_csrf_token(app: TestApp) {
    create_admin(&app, Some(&app.tenant.id), "it-admin@acme.example").await;
    let (client, _) = create_entra_client(&app, &app.tenant.id, "Entra provisioning").await;
    let browser = Browser::of(&app);
    let consent = browser
        .authorize_as(
            &entra_query(&client.id, "1"),
            "it-admin@acme.example",
            PASSWORD,
        )
        .await;
    consent.expect(200);
    let decision = form(&consent.text, "/oauth/authorize");

    let mut missing = decision.clone();
    missing.remove("csrf");
    let mut wrong = decision.clone();
    wrong.set("csrf", "not-the-token");
    for forged in [&missing, &wrong] {
        let r = browser.press(forged, "approve").await;
        r.expect(403);
        assert!(
            main_text(&r.text).contains("This form has expired"),
            "{}",
            r.text
        );
        assert!(r.header("location").is_none());
    }
    assert_eq!(codes(&app).await, 0);
    // The genuine form still works afterwards.
    let back = browser.decide(&consent, "approve").await;
    assert!(back.starts_with(&format!("{PORTAL}?code=")), "{back}");
    assert_eq!(codes(&app).await, 1);
}

async fn a_client_revoked_while_the_page_is_open_is_refused(app: TestApp) {
    create_admin(&app, Some(&app.tenant.id), "it-admin@acme.example").await;
    let (client, _) = create_entra_client(&app, &app.tenant.id, "Entra provisioning").await;
    let browser = Browser::of(&app);
    let consent = browser
        .authorize_as(
            &entra_query(&client.id, "1"),
            "it-admin@acme.example",
            PASSWORD,
        )
        .await;
    consent.expect(200);
    sqlx::query("UPDATE oauth_clients SET revoked_at = $1 WHERE id = $2")
        .bind(scimgate::store::now())
        .bind(&client.id)
        .execute(app.db.writer())
        .await
        .unwrap();
    let r = browser
        .press(&form(&consent.text, "/oauth/authorize"), "approve")
        .await;
    r.expect(400);
    assert!(r.header("location").is_none());
    assert!(main_text(&r.text).contains("Unknown client"), "{}", r.text);
    assert_eq!(codes(&app).await, 0);
}

async fn signed_in_admins_go_straight_to_consent(app: TestApp) {
    let admin = create_admin(&app, Some(&app.tenant.id), "it-admin@acme.example").await;
    let (client, _) = create_entra_client(&app, &app.tenant.id, "Entra provisioning").await;
    let browser = Browser::of(&app);
    browser.sign_in("it-admin@acme.example", PASSWORD).await;
    let code = entra_code(&browser, &client.id, "it-admin@acme.example").await;
    let mut tx = app.db.begin().await.unwrap();
    let stored = grants::take_code(&mut tx, &code)
        .await
        .unwrap()
        .expect("code stored");
    assert_eq!(stored.admin_id, admin.id);
    tx.rollback().await.unwrap();
}

on_both_databases!(
    unknown_clients_and_redirect_uris_get_an_error_page,
    unsupported_response_type_is_sent_back_with_the_state,
    entra_flow_signs_in_approves_and_echoes_the_state,
    deny_sends_access_denied_with_the_state,
    admins_of_another_tenant_cannot_approve,
    decisions_need_the_csrf_token,
    a_client_revoked_while_the_page_is_open_is_refused,
    signed_in_admins_go_straight_to_consent,
);
