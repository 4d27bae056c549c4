//! The token, revocation and introspection endpoints, driven over HTTP as
//! Entra's provisioning service drives them. Authorization codes are issued
//! through the authorization server's own approval function (the browser
//! flow in front of it is tested in `consent`).

use reqwest::{Method, StatusCode};
use scimgate::oauth::{self, authorize};
use scimgate::store::activity::{self, Actor};
use scimgate::store::clients::{self, ENTRA_REDIRECT_URIS};
use scimgate::store::{admins, tenants};
use serde_json::Value;

use crate::helpers::{Backend, Reply, TestApp, send};
use crate::on_both_databases;

pub struct OAuthClient {
    pub id: String,
    pub secret: String,
    pub admin_id: String,
}

/// An Entra client of the app's tenant and an admin who can approve it.
pub async fn entra_client(app: &TestApp) -> OAuthClient {
    let uris: Vec<String> = ENTRA_REDIRECT_URIS.iter().map(|s| s.to_string()).collect();
    oauth_client(app, &app.tenant.id, &uris, "admin@acme.example").await
}

pub async fn oauth_client(
    app: &TestApp,
    tenant_id: &str,
    uris: &[String],
    admin_email: &str,
) -> OAuthClient {
    let (client, _, secret) =
        clients::create(&app.db, tenant_id, "Entra", uris, 730, &Actor::operator())
            .await
            .unwrap();
    let hash = scimgate::password::hash("a long enough password".into())
        .await
        .unwrap();
    let admin = admins::create(
        &app.db,
        Some(tenant_id),
        admin_email,
        &hash,
        &Actor::operator(),
    )
    .await
    .unwrap();
    OAuthClient {
        id: client.id,
        secret,
        admin_id: admin.id,
    }
}

/// Approves an authorization request with the given extra parameters and
/// returns the code from the redirect.
pub async fn code_for(app: &TestApp, c: &OAuthClient, extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("response_type".to_string(), "code".to_string()),
        ("client_id".to_string(), c.id.clone()),
        (
            "redirect_uri".to_string(),
            ENTRA_REDIRECT_URIS[0].to_string(),
        ),
        ("state".to_string(), "1".to_string()),
    ];
    params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let req = authorize::validate(&app.db, &app.base, &params)
        .await
        .expect("valid request");
    let url = authorize::approve(
        &app.db,
        &req,
        &c.admin_id,
        "admin@acme.example",
        &app_settings(),
    )
    .await
    .unwrap();
    let url = url::Url::parse(&url).unwrap();
    assert!(url.as_str().starts_with(ENTRA_REDIRECT_URIS[0]));
    assert_eq!(
        url.query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned()),
        Some("1".to_string())
    );
    url.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code in redirect")
}

fn app_settings() -> oauth::Settings {
    oauth::Settings::default()
}

/// POSTs a form to the token endpoint (or another OAuth endpoint).
pub async fn form_post(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Reply {
    let mut req = app.client.post(format!("{}{path}", app.base)).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    send(req).await
}

async fn token(app: &TestApp, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Reply {
    form_post(app, "/oauth/token", form, basic).await
}

#[track_caller]
fn oauth_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "body: {}", r.text);
    assert_eq!(r.body["error"], code, "body: {}", r.text);
    assert!(
        r.body["error_description"]
            .as_str()
            .is_some_and(|d| d.len() > 10)
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

fn access_token(r: &Reply) -> String {
    r.body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

fn refresh_token(r: &Reply) -> String {
    r.body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_string()
}

/// Entra's Test Connection with a token: 200 and an empty list.
async fn test_connection(app: &TestApp, token: &str) -> StatusCode {
    let r = app
        .scim_as(
            token,
            Method::GET,
            "/Users?filter=userName+eq+%22f3c3e3a0-0000-4000-8000-000000000000%22",
            None,
        )
        .await;
    if r.status == StatusCode::OK {
        assert_eq!(r.body["totalResults"], 0);
        assert_eq!(r.body["Resources"], serde_json::json!([]));
    }
    r.status
}

on_both_databases!(
    code_exchange_with_basic_and_with_form_fields,
    refresh_rotates_and_old_access_token_keeps_working,
    refresh_retry_within_grace_window_is_not_reuse,
    code_reuse_revokes_what_the_first_use_issued,
    racing_exchanges_of_one_code_issue_once_and_revoke_it,
    code_is_bound_to_client_redirect_uri_and_pkce,
    client_credentials_tokens_and_secret_rotation,
    revocation_and_introspection,
    tokens_never_cross_tenants,
    malformed_token_requests_get_rfc_errors,
    metadata_documents_describe_the_server,
);

async fn code_exchange_with_basic_and_with_form_fields(app: TestApp) {
    let c = entra_client(&app).await;
    // HTTP Basic, as Entra does.
    let code = code_for(&app, &c, &[]).await;
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    r.expect(200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3600);
    assert!(access_token(&r).starts_with("sgat_"));
    assert!(refresh_token(&r).starts_with("sgrt_"));
    assert_eq!(
        test_connection(&app, &access_token(&r)).await,
        StatusCode::OK
    );

    // Form fields.
    let code = code_for(&app, &c, &[]).await;
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
            ("client_id", &c.id),
            ("client_secret", &c.secret),
        ],
        None,
    )
    .await;
    r.expect(200);
    let at = access_token(&r);
    // The token provisions users into the client's tenant.
    let created = app
        .scim_as(
            &at,
            Method::POST,
            "/Users",
            Some(&serde_json::json!({"userName": "jdoe@acme.example", "active": true})),
        )
        .await;
    created.expect(201);
    let listed = app
        .get("/Users?filter=userName+eq+%22jdoe@acme.example%22")
        .await;
    assert_eq!(listed.body["totalResults"], 1);

    // Issue and consent are in the tenant's activity log.
    let log = activity::recent(&app.db, &app.tenant.id, 50).await.unwrap();
    assert!(log.iter().any(|e| e.operation == "oauth.consent.approve"));
    assert_eq!(
        log.iter()
            .filter(|e| e.operation == "oauth.token.issue")
            .count(),
        2
    );
}

async fn refresh_rotates_and_old_access_token_keeps_working(app: TestApp) {
    let c = entra_client(&app).await;
    let code = code_for(&app, &c, &[]).await;
    let first = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    first.expect(200);
    let second = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token(&first)),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    second.expect(200);
    assert_ne!(refresh_token(&first), refresh_token(&second));
    assert_ne!(access_token(&first), access_token(&second));
    // The access token issued before the refresh works until it expires.
    assert_eq!(
        test_connection(&app, &access_token(&first)).await,
        StatusCode::OK
    );
    assert_eq!(
        test_connection(&app, &access_token(&second)).await,
        StatusCode::OK
    );
    // And the new refresh token rotates in turn.
    let third = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token(&second)),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    third.expect(200);
    let log = activity::recent(&app.db, &app.tenant.id, 50).await.unwrap();
    assert_eq!(
        log.iter()
            .filter(|e| e.operation == "oauth.token.refresh")
            .count(),
        2
    );
}

async fn refresh_retry_within_grace_window_is_not_reuse(app: TestApp) {
    let c = entra_client(&app).await;
    let code = code_for(&app, &c, &[]).await;
    let first = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    let r0 = refresh_token(&first);
    let lost = token(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &r0)],
        Some((&c.id, &c.secret)),
    )
    .await;
    lost.expect(200);
    // The response was "lost": Entra retries with the same token.
    let retry = token(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &r0)],
        Some((&c.id, &c.secret)),
    )
    .await;
    retry.expect(200);
    assert_eq!(
        test_connection(&app, &access_token(&retry)).await,
        StatusCode::OK
    );
    // The successor nobody received no longer works; the retried one does.
    let stale = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token(&lost)),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    oauth_error(&stale, 400, "invalid_grant");
    let next = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token(&retry)),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    next.expect(200);

    // Past the grace window, presenting a replaced token is reuse: the whole
    // connection is revoked, including access tokens already issued.
    let Some(strict) =
        TestApp::spawn_with(app.backend, |cfg| cfg.oauth.refresh_grace_secs = 0).await
    else {
        return;
    };
    let c = entra_client(&strict).await;
    let code = code_for(&strict, &c, &[]).await;
    let first = token(
        &strict,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    let second = token(
        &strict,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token(&first)),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    second.expect(200);
    let reuse = token(
        &strict,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token(&first)),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    oauth_error(&reuse, 400, "invalid_grant");
    assert!(
        reuse.body["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    assert_eq!(
        test_connection(&strict, &access_token(&second)).await,
        StatusCode::UNAUTHORIZED
    );
    let after = token(
        &strict,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token(&second)),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    oauth_error(&after, 400, "invalid_grant");
    let log = activity::recent(&strict.db, &strict.tenant.id, 50)
        .await
        .unwrap();
    assert!(log.iter().any(|e| e.operation == "oauth.refresh.reuse"));
}

/// Exchanges of one code sent together (a replayed request racing the
/// real one): one is answered with tokens, the others are refused, and the
/// refusals revoke what the first issued, whichever order the database
/// ran them in. On PostgreSQL the losers wait for the winner's row lock and
/// must then find the grant it committed.
async fn racing_exchanges_of_one_code_issue_once_and_revoke_it(app: TestApp) {
    let c = entra_client(&app).await;
    for _round in 0..3 {
        let code = code_for(&app, &c, &[]).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
        ];
        let replies = futures_util::future::join_all(
            (0..6).map(|_| token(&app, &form, Some((&c.id, &c.secret)))),
        )
        .await;
        let issued: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
        assert_eq!(issued.len(), 1, "exactly one exchange succeeds");
        for r in replies.iter().filter(|r| r.status != 200) {
            oauth_error(r, 400, "invalid_grant");
        }
        assert_eq!(
            test_connection(&app, &access_token(issued[0])).await,
            StatusCode::UNAUTHORIZED,
            "a reused code revokes the access token its first use issued"
        );
        let refresh = token(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token(issued[0])),
            ],
            Some((&c.id, &c.secret)),
        )
        .await;
        oauth_error(&refresh, 400, "invalid_grant");
    }
}

async fn code_reuse_revokes_what_the_first_use_issued(app: TestApp) {
    let c = entra_client(&app).await;
    let code = code_for(&app, &c, &[]).await;
    let first = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    first.expect(200);
    assert_eq!(
        test_connection(&app, &access_token(&first)).await,
        StatusCode::OK
    );
    // Another client holding the used code cannot cut the connection.
    let other = oauth_client(
        &app,
        &app.tenant.id,
        &[ENTRA_REDIRECT_URIS[0].to_string()],
        "intruder@acme.example",
    )
    .await;
    let stolen = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
        ],
        Some((&other.id, &other.secret)),
    )
    .await;
    oauth_error(&stolen, 400, "invalid_grant");
    assert!(
        stolen.body["error_description"]
            .as_str()
            .unwrap()
            .contains("another client")
    );
    assert_eq!(
        test_connection(&app, &access_token(&first)).await,
        StatusCode::OK,
        "a used code presented by another client leaves the connection alone"
    );
    let second = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    oauth_error(&second, 400, "invalid_grant");
    assert_eq!(
        test_connection(&app, &access_token(&first)).await,
        StatusCode::UNAUTHORIZED
    );
    let refresh = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token(&first)),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    oauth_error(&refresh, 400, "invalid_grant");
    let unknown = token(
        &app,
        &[("grant_type", "authorization_code"), ("code", "nope")],
        Some((&c.id, &c.secret)),
    )
    .await;
    oauth_error(&unknown, 400, "invalid_grant");
}

async fn code_is_bound_to_client_redirect_uri_and_pkce(app: TestApp) {
    let c = entra_client(&app).await;
    let other = oauth_client(
        &app,
        &app.tenant.id,
        &[ENTRA_REDIRECT_URIS[0].to_string()],
        "second@acme.example",
    )
    .await;
    // Another client of the same tenant cannot redeem it (and burns it).
    let code = code_for(&app, &c, &[]).await;
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
        ],
        Some((&other.id, &other.secret)),
    )
    .await;
    oauth_error(&r, 400, "invalid_grant");
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    oauth_error(&r, 400, "invalid_grant");

    // redirect_uri, when sent in the authorization request, must be
    // repeated (RFC 6749 §4.1.3) ...
    let code = code_for(&app, &c, &[]).await;
    let r = token(
        &app,
        &[("grant_type", "authorization_code"), ("code", &code)],
        Some((&c.id, &c.secret)),
    )
    .await;
    oauth_error(&r, 400, "invalid_grant");
    assert!(
        r.body["error_description"]
            .as_str()
            .unwrap()
            .contains("redirect_uri is required")
    );
    // ... and match.
    let code = code_for(&app, &c, &[]).await;
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[1]),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    oauth_error(&r, 400, "invalid_grant");

    // PKCE S256 is verified whenever a challenge was sent.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let pkce = [
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    let code = code_for(&app, &c, &pkce).await;
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    oauth_error(&r, 400, "invalid_grant");
    let code = code_for(&app, &c, &pkce).await;
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
            (
                "code_verifier",
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx",
            ),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    oauth_error(&r, 400, "invalid_grant");
    let code = code_for(&app, &c, &pkce).await;
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
            ("code_verifier", verifier),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    r.expect(200);
    // A verifier without a challenge is refused too.
    let code = code_for(&app, &c, &[]).await;
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
            ("code_verifier", verifier),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    oauth_error(&r, 400, "invalid_grant");

    // Codes expire.
    let Some(quick) = TestApp::spawn_with(app.backend, |cfg| cfg.oauth.code_secs = 0).await else {
        return;
    };
    let c = entra_client(&quick).await;
    let params = vec![
        ("response_type".to_string(), "code".to_string()),
        ("client_id".to_string(), c.id.clone()),
    ];
    // Entra's client registers three URIs, so the request must name one.
    assert!(
        authorize::validate(&quick.db, &quick.base, &params)
            .await
            .is_err()
    );
    let mut settings = app_settings();
    settings.code_secs = 0;
    let mut params = params;
    params.push(("redirect_uri".into(), ENTRA_REDIRECT_URIS[2].into()));
    let req = authorize::validate(&quick.db, &quick.base, &params)
        .await
        .unwrap();
    let url = authorize::approve(&quick.db, &req, &c.admin_id, "a@b.example", &settings)
        .await
        .unwrap();
    let code = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let r = token(
        &quick,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[2]),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    oauth_error(&r, 400, "invalid_grant");
    assert!(
        r.body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

async fn client_credentials_tokens_and_secret_rotation(app: TestApp) {
    let c = oauth_client(&app, &app.tenant.id, &[], "cc@acme.example").await;
    let r = token(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&c.id, &c.secret)),
    )
    .await;
    r.expect(200);
    assert!(r.body.get("refresh_token").is_none());
    assert_eq!(r.body["expires_in"], 3600);
    assert_eq!(
        test_connection(&app, &access_token(&r)).await,
        StatusCode::OK
    );

    // A second secret works beside the first; revoking the first ends it.
    let client = clients::by_id(&app.db, &c.id).await.unwrap().unwrap();
    let (_, second) = clients::add_secret(&app.db, &client, 365, &Actor::operator())
        .await
        .unwrap();
    token(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&c.id, &second)),
    )
    .await
    .expect(200);
    token(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&c.id, &c.secret)),
    )
    .await
    .expect(200);
    let first_id = clients::secrets(&app.db, &c.id).await.unwrap()[0]
        .id
        .clone();
    assert!(
        clients::revoke_secret(&app.db, &client, &first_id, &Actor::operator())
            .await
            .unwrap()
    );
    let r = token(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&c.id, &c.secret)),
    )
    .await;
    oauth_error(&r, 401, "invalid_client");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"scimgate\"")
    );
    token(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&c.id, &second)),
    )
    .await
    .expect(200);

    // Access tokens last as configured (one to six hours).
    let Some(long) =
        TestApp::spawn_with(app.backend, |cfg| cfg.oauth.access_token_secs = 6 * 3600).await
    else {
        return;
    };
    let c = oauth_client(&long, &long.tenant.id, &[], "cc@acme.example").await;
    let r = token(
        &long,
        &[("grant_type", "client_credentials")],
        Some((&c.id, &c.secret)),
    )
    .await;
    assert_eq!(r.body["expires_in"], 21600);
}

async fn revocation_and_introspection(app: TestApp) {
    let c = entra_client(&app).await;
    let code = code_for(&app, &c, &[]).await;
    let t = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    let (at, rt) = (access_token(&t), refresh_token(&t));

    let i = form_post(
        &app,
        "/oauth/introspect",
        &[("token", &at)],
        Some((&c.id, &c.secret)),
    )
    .await;
    i.expect(200);
    assert_eq!(i.body["active"], true);
    assert_eq!(i.body["client_id"], c.id.as_str());
    assert!(i.body["exp"].as_i64().unwrap() > i.body["iat"].as_i64().unwrap());
    let i = form_post(
        &app,
        "/oauth/introspect",
        &[("token", &rt)],
        Some((&c.id, &c.secret)),
    )
    .await;
    assert_eq!(i.body["active"], true);
    assert_eq!(i.body["token_type"], "refresh_token");
    let i = form_post(
        &app,
        "/oauth/introspect",
        &[("token", "sgat_unknown")],
        Some((&c.id, &c.secret)),
    )
    .await;
    assert_eq!(i.body, serde_json::json!({"active": false}));
    let i = form_post(&app, "/oauth/introspect", &[("token", &at)], None).await;
    oauth_error(&i, 401, "invalid_client");

    // Revoking the refresh token ends the whole connection at once.
    let r = form_post(
        &app,
        "/oauth/revoke",
        &[("token", &rt), ("token_type_hint", "refresh_token")],
        Some((&c.id, &c.secret)),
    )
    .await;
    r.expect(200);
    assert_eq!(test_connection(&app, &at).await, StatusCode::UNAUTHORIZED);
    let i = form_post(
        &app,
        "/oauth/introspect",
        &[("token", &at)],
        Some((&c.id, &c.secret)),
    )
    .await;
    assert_eq!(i.body["active"], false);
    // Revoking an unknown or already revoked token is still 200.
    form_post(
        &app,
        "/oauth/revoke",
        &[("token", &rt)],
        Some((&c.id, &c.secret)),
    )
    .await
    .expect(200);
    form_post(
        &app,
        "/oauth/revoke",
        &[("token", "whatever")],
        Some((&c.id, &c.secret)),
    )
    .await
    .expect(200);

    // Revoking one access token leaves the others.
    let cc = oauth_client(&app, &app.tenant.id, &[], "cc2@acme.example").await;
    let a = access_token(
        &token(
            &app,
            &[("grant_type", "client_credentials")],
            Some((&cc.id, &cc.secret)),
        )
        .await,
    );
    let b = access_token(
        &token(
            &app,
            &[("grant_type", "client_credentials")],
            Some((&cc.id, &cc.secret)),
        )
        .await,
    );
    form_post(
        &app,
        "/oauth/revoke",
        &[("token", &a)],
        Some((&cc.id, &cc.secret)),
    )
    .await
    .expect(200);
    assert_eq!(test_connection(&app, &a).await, StatusCode::UNAUTHORIZED);
    assert_eq!(test_connection(&app, &b).await, StatusCode::OK);
    let log = activity::recent(&app.db, &app.tenant.id, 100)
        .await
        .unwrap();
    assert_eq!(
        log.iter()
            .filter(|e| e.operation == "oauth.token.revoke")
            .count(),
        2
    );
}

async fn tokens_never_cross_tenants(app: TestApp) {
    let a = entra_client(&app).await;
    let (other, _) = app.other_tenant("globex").await;
    let b = oauth_client(
        &app,
        &other.id,
        &[ENTRA_REDIRECT_URIS[0].to_string()],
        "admin@globex.example",
    )
    .await;
    app.create_user("only-in-acme@acme.example").await;

    let tb = token(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&b.id, &b.secret)),
    )
    .await;
    let tb = access_token(&tb);
    let listed = app.scim_as(&tb, Method::GET, "/Users", None).await;
    listed.expect(200);
    assert_eq!(listed.body["totalResults"], 0);

    // B's client cannot redeem A's code, introspect or revoke A's tokens.
    let code = code_for(&app, &a, &[]).await;
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
        ],
        Some((&b.id, &b.secret)),
    )
    .await;
    oauth_error(&r, 400, "invalid_grant");
    let code = code_for(&app, &a, &[]).await;
    let ta = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ENTRA_REDIRECT_URIS[0]),
        ],
        Some((&a.id, &a.secret)),
    )
    .await;
    let (at, rt) = (access_token(&ta), refresh_token(&ta));
    let i = form_post(
        &app,
        "/oauth/introspect",
        &[("token", &at)],
        Some((&b.id, &b.secret)),
    )
    .await;
    assert_eq!(i.body, serde_json::json!({"active": false}));
    form_post(
        &app,
        "/oauth/revoke",
        &[("token", &rt)],
        Some((&b.id, &b.secret)),
    )
    .await
    .expect(200);
    assert_eq!(test_connection(&app, &at).await, StatusCode::OK);
    let r = token(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        Some((&b.id, &b.secret)),
    )
    .await;
    oauth_error(&r, 400, "invalid_grant");
    // …and A's refresh token still works for A.
    token(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        Some((&a.id, &a.secret)),
    )
    .await
    .expect(200);
    let tenants = tenants::list(&app.db).await.unwrap();
    assert_eq!(tenants.len(), 2);
}

async fn malformed_token_requests_get_rfc_errors(app: TestApp) {
    let c = entra_client(&app).await;
    let r = token(
        &app,
        &[("grant_type", "password"), ("username", "x")],
        Some((&c.id, &c.secret)),
    )
    .await;
    oauth_error(&r, 400, "unsupported_grant_type");
    let r = token(
        &app,
        &[("grant_type", "authorization_code")],
        Some((&c.id, &c.secret)),
    )
    .await;
    oauth_error(&r, 400, "invalid_request");
    let r = token(&app, &[("code", "x")], Some((&c.id, &c.secret))).await;
    oauth_error(&r, 400, "invalid_request");
    let r = token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &c.id),
            ("client_secret", &c.secret),
        ],
        Some((&c.id, &c.secret)),
    )
    .await;
    oauth_error(&r, 400, "invalid_request");
    let r = token(&app, &[("grant_type", "client_credentials")], None).await;
    oauth_error(&r, 401, "invalid_client");
    let r = token(
        &app,
        &[("grant_type", "client_credentials")],
        Some(("sgc_unknown", "x")),
    )
    .await;
    oauth_error(&r, 401, "invalid_client");
    // JSON is not a token request.
    let r = send(
        app.client
            .post(format!("{}/oauth/token", app.base))
            .basic_auth(&c.id, Some(&c.secret))
            .json(&serde_json::json!({"grant_type": "client_credentials"})),
    )
    .await;
    oauth_error(&r, 400, "invalid_request");
    // A cookie or a bearer token is never client authentication.
    let r = send(
        app.client
            .post(format!("{}/oauth/token", app.base))
            .bearer_auth(&app.token)
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    oauth_error(&r, 401, "invalid_client");
}

async fn metadata_documents_describe_the_server(app: TestApp) {
    let r = send(app.client.get(format!(
        "{}/.well-known/oauth-authorization-server",
        app.base
    )))
    .await;
    r.expect(200);
    assert_eq!(r.body["issuer"], app.base.as_str());
    assert_eq!(
        r.body["token_endpoint"],
        format!("{}/oauth/token", app.base)
    );
    assert_eq!(
        r.body["authorization_endpoint"],
        format!("{}/oauth/authorize", app.base)
    );
    assert_eq!(
        r.body["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        r.body["authorization_response_iss_parameter_supported"],
        true
    );
    let grants: Vec<&str> = r.body["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        grants,
        ["authorization_code", "refresh_token", "client_credentials"]
    );
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/scim/v2",
    ] {
        let r = send(app.client.get(format!("{}{path}", app.base))).await;
        r.expect(200);
        assert_eq!(r.body["resource"], app.scim_url(""));
        assert_eq!(r.body["authorization_servers"][0], app.base.as_str());
    }
    // The SCIM API's challenge points at that document.
    let r = send(app.client.get(app.scim_url("/Users"))).await;
    r.expect(401);
    assert!(r.header("www-authenticate").unwrap().contains(&format!(
        "resource_metadata=\"{}/.well-known/oauth-protected-resource/scim/v2\"",
        app.base
    )));
}

/// The whole flow with a third-party OAuth client library, so the server is
/// proven against code it did not write.
#[tokio::test]
async fn third_party_oauth2_client_completes_every_grant() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn_with(backend, |_| {}).await else {
            continue;
        };
        oauth2_library_flow(&app).await;
    }
}

async fn oauth2_library_flow(app: &TestApp) {
    use oauth2::basic::BasicClient;
    use oauth2::{
        AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
        RedirectUrl, RefreshToken, TokenResponse as _, TokenUrl,
    };

    let c = entra_client(app).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client = BasicClient::new(ClientId::new(c.id.clone()))
        .set_client_secret(ClientSecret::new(c.secret.clone()))
        .set_auth_uri(AuthUrl::new(format!("{}/oauth/authorize", app.base)).unwrap())
        .set_token_uri(TokenUrl::new(format!("{}/oauth/token", app.base)).unwrap())
        .set_redirect_uri(RedirectUrl::new(ENTRA_REDIRECT_URIS[0].to_string()).unwrap());

    // The library builds the authorization URL (with PKCE); the server
    // validates exactly what it produced.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .url();
    let params: Vec<(String, String)> = auth_url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let req = authorize::validate(&app.db, &app.base, &params)
        .await
        .expect("library's request is valid");
    let redirect = authorize::approve(
        &app.db,
        &req,
        &c.admin_id,
        "admin@acme.example",
        &app_settings(),
    )
    .await
    .unwrap();
    let redirect = url::Url::parse(&redirect).unwrap();
    let state = redirect
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(&state, csrf.secret());
    let code = redirect
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange through the oauth2 crate");
    let at = tokens.access_token().secret().clone();
    assert_eq!(test_connection(app, &at).await, StatusCode::OK);
    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().expect("refresh token"))
        .request_async(&http)
        .await
        .expect("refresh through the oauth2 crate");
    assert_ne!(refreshed.access_token().secret(), &at);
    let bad = client
        .exchange_refresh_token(&RefreshToken::new("sgrt_not-a-token".into()))
        .request_async(&http)
        .await;
    assert!(bad.is_err());

    let cc = client
        .exchange_client_credentials()
        .request_async(&http)
        .await
        .expect("client credentials through the oauth2 crate");
    assert_eq!(
        test_connection(app, cc.access_token().secret()).await,
        StatusCode::OK
    );
}
