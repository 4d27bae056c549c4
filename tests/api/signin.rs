//! Signing in to the console: sessions, CSRF, open redirects, throttling,
//! sign-out, and sessions ending when the password changes.

use std::time::Instant;

use scimgate::store::activity;
use scimgate::store::{admins, throttle};
use sqlx::Row as _;

use crate::browser::{
    Browser, PASSWORD, SESSION_COOKIE, SIGNIN_COOKIE, create_admin, create_entra_client,
    expect_html, form, location, main_text, session_cookie, set_cookie,
};
use crate::helpers::TestApp;
use crate::on_both_databases;

const WRONG: &str = "E-mail or password is wrong.";

async fn session_rows(app: &TestApp, id: &str) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM sessions WHERE id = $1")
        .bind(id)
        .fetch_one(app.db.reader())
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

async fn all_session_rows(app: &TestApp) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM sessions")
        .fetch_one(app.db.reader())
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

async fn operations(app: &TestApp) -> Vec<String> {
    activity::recent(&app.db, &app.tenant.id, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.operation)
        .collect()
}

async fn sign_in_succeeds_with_a_new_session_id(app: TestApp) {
    let admin = create_admin(&app, Some(&app.tenant.id), "Alice@Acme.example").await;
    let browser = Browser::of(&app);

    let page = browser.get("/signin").await;
    page.expect(200);
    expect_html(&page);
    // The page stores nothing on the server: its CSRF token lives in a
    // cookie of its own, scoped to the sign-in forms.
    assert!(session_cookie(&page).is_none(), "no session before sign-in");
    assert_eq!(all_session_rows(&app).await, 0);
    let line = set_cookie(&page, SIGNIN_COOKIE).expect("the sign-in form's cookie");
    assert!(line.contains("HttpOnly"), "{line}");
    assert!(line.contains("SameSite=Strict"), "{line}");
    assert!(line.contains("Path=/signin"), "{line}");
    assert!(!line.contains("Secure"), "plain-http test server: {line}");
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("form-action"), "{csp}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));

    let mut f = form(&page.text, "/signin");
    assert!(f.get("csrf").is_some_and(|t| t.len() >= 32), "{f:?}");
    // E-mail is case-insensitive.
    f.set("email", "alice@acme.EXAMPLE")
        .set("password", PASSWORD);
    let r = browser.submit(&f).await;
    assert_eq!(location(&r), "/");
    let after = session_cookie(&r).expect("sign-in sets the session cookie");
    let line = set_cookie(&r, SESSION_COOKIE).unwrap();
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Lax"),
        "{line}"
    );
    assert!(!line.contains("Secure"), "plain-http test server: {line}");
    assert_eq!(session_rows(&app, &after).await, 1);
    assert_eq!(all_session_rows(&app).await, 1);

    let home = browser.get("/").await;
    home.expect(200);
    let text = main_text(&home.text);
    assert!(text.contains("Signed in as Alice@Acme.example"), "{text}");
    assert!(text.contains("Acme Corp"), "{text}");

    let log = activity::recent(&app.db, &app.tenant.id, 10).await.unwrap();
    let entry = log
        .iter()
        .find(|e| e.operation == "admin.signin")
        .expect("sign-in logged");
    assert_eq!(entry.actor_id.as_deref(), Some(admin.id.as_str()));
    assert_eq!(entry.outcome, "success");
}

async fn wrong_password_and_unknown_account_read_the_same(app: TestApp) {
    create_admin(&app, Some(&app.tenant.id), "bob@acme.example").await;
    let browser = Browser::of(&app);

    let wrong = browser
        .sign_in_at("/signin", "bob@acme.example", "not the password at all")
        .await;
    let unknown = browser
        .sign_in_at("/signin", "nobody@acme.example", PASSWORD)
        .await;
    for r in [&wrong, &unknown] {
        r.expect(422);
        expect_html(r);
        assert!(main_text(&r.text).contains(WRONG), "{}", r.text);
        assert!(r.header("location").is_none());
    }
    // Same page apart from the e-mail echoed back and the form token.
    let strip = |r: &crate::helpers::Reply, email: &str| main_text(&r.text).replace(email, "EMAIL");
    assert_eq!(
        strip(&wrong, "bob@acme.example"),
        strip(&unknown, "nobody@acme.example")
    );

    let home = browser.get("/").await;
    assert_eq!(location(&home), "/signin?next=%2F");
    // The known account's failure is in its tenant's log; both count.
    assert!(
        operations(&app)
            .await
            .contains(&"admin.signin.failure".to_string())
    );
    for key in ["acct:bob@acme.example", "acct:nobody@acme.example"] {
        let n: i64 = sqlx::query("SELECT failures FROM signin_throttle WHERE key = $1")
            .bind(key)
            .fetch_one(app.db.reader())
            .await
            .unwrap()
            .try_get("failures")
            .unwrap();
        assert_eq!(n, 1, "{key}");
    }
}

async fn forms_without_the_csrf_token_are_refused(app: TestApp) {
    create_admin(&app, Some(&app.tenant.id), "carol@acme.example").await;
    let browser = Browser::of(&app);
    let page = browser.get("/signin").await;
    let mut f = form(&page.text, "/signin");
    f.set("email", "carol@acme.example")
        .set("password", PASSWORD);

    let mut missing = f.clone();
    missing.remove("csrf");
    let mut wrong = f.clone();
    wrong.set("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    for forged in [&missing, &wrong] {
        let r = browser.submit(forged).await;
        r.expect(403);
        expect_html(&r);
        let text = main_text(&r.text);
        assert!(text.contains("This form has expired"), "{text}");
        assert!(text.contains("Reload the page"), "{text}");
        assert!(text.contains("Request id:"), "{text}");
        assert!(session_cookie(&r).is_none(), "no session is started");
    }
    // A browser without the cookie (another site posting) is refused too.
    let other = Browser::fresh(&app);
    other.submit(&f).await.expect(403);
    // So is a browser whose cookie differs from the form's token.
    let third = Browser::fresh(&app);
    third.get("/signin").await.expect(200);
    third.submit(&f).await.expect(403);

    assert_eq!(location(&browser.get("/").await), "/signin?next=%2F");
    assert!(!operations(&app).await.contains(&"admin.signin".to_string()));

    // The untouched form still works.
    let r = browser.submit(&f).await;
    assert_eq!(location(&r), "/");
    browser.get("/").await.expect(200);
}

async fn next_only_follows_local_paths(app: TestApp) {
    create_admin(&app, Some(&app.tenant.id), "dave@acme.example").await;
    for (next, lands) in [
        ("%2F%2Fevil.com", "/"),
        ("https%3A%2F%2Fevil.com", "/"),
        ("%2F%5Cevil.com", "/"),
        ("%2F%09%2Fevil.com", "/"),
        ("javascript%3Aalert(1)", "/"),
        ("%2Fsettings%3Ftab%3D2", "/settings?tab=2"),
    ] {
        let browser = Browser::fresh(&app);
        let page = browser.get(&format!("/signin?next={next}")).await;
        page.expect(200);
        let mut f = form(&page.text, "/signin");
        f.set("email", "dave@acme.example")
            .set("password", PASSWORD);
        let r = browser.submit(&f).await;
        assert_eq!(location(&r), lands, "next={next}");
        // Signed in all the same.
        browser.get("/").await.expect(200);
    }
}

async fn repeated_failures_slow_down_then_lock(app: TestApp) {
    create_admin(&app, Some(&app.tenant.id), "erin@acme.example").await;
    let browser = Browser::of(&app);
    for _ in 0..throttle::ACCOUNT.slow_after {
        let r = browser
            .sign_in_at("/signin", "erin@acme.example", "wrong password 123")
            .await;
        r.expect(422);
    }
    // From here on each answer is delayed.
    let started = Instant::now();
    let r = browser
        .sign_in_at("/signin", "erin@acme.example", "wrong password 123")
        .await;
    r.expect(422);
    assert!(main_text(&r.text).contains(WRONG));
    assert!(
        started.elapsed().as_millis() >= 500,
        "a throttled attempt is slowed: {:?}",
        started.elapsed()
    );

    // Reach the lock without waiting through every delay.
    let counted = throttle::ACCOUNT.slow_after + 1;
    for _ in counted..throttle::ACCOUNT.lock_after {
        throttle::attempt(&app.db, "acct:erin@acme.example", throttle::ACCOUNT)
            .await
            .unwrap();
    }
    // Locked: even the right password is refused, with when to come back.
    let r = browser
        .sign_in_at("/signin", "Erin@acme.example", PASSWORD)
        .await;
    r.expect(429);
    expect_html(&r);
    let text = main_text(&r.text);
    assert!(text.contains("Too many failed sign-ins"), "{text}");
    let tail = text.split("try again after ").nth(1).expect(&text);
    let hhmm = &tail[..5];
    assert!(
        hhmm.as_bytes()[2] == b':' && hhmm.replace(':', "").bytes().all(|b| b.is_ascii_digit()),
        "{text}"
    );
    assert!(tail[5..].starts_with(" UTC"), "{text}");
    assert!(r.header("location").is_none());
    assert_eq!(location(&browser.get("/").await), "/signin?next=%2F");
    let verdict = throttle::attempt(&app.db, "acct:erin@acme.example", throttle::ACCOUNT)
        .await
        .unwrap();
    assert!(
        matches!(verdict, throttle::Verdict::Locked(_)),
        "{verdict:?}"
    );

    // Another account from the same address is not locked out.
    create_admin(&app, Some(&app.tenant.id), "frank@acme.example").await;
    Browser::fresh(&app)
        .sign_in("frank@acme.example", PASSWORD)
        .await;
}

async fn sign_out_ends_the_session(app: TestApp) {
    create_admin(&app, Some(&app.tenant.id), "gina@acme.example").await;
    let browser = Browser::of(&app);
    browser.sign_in("gina@acme.example", PASSWORD).await;
    let home = browser.get("/").await;
    home.expect(200);
    let signout = form(&home.text, "/signout");

    // Without the token, nothing happens.
    let mut forged = signout.clone();
    forged.remove("csrf");
    browser.submit(&forged).await.expect(403);
    browser.get("/").await.expect(200);

    let count_before: i64 = sqlx::query("SELECT COUNT(*) AS n FROM sessions")
        .fetch_one(app.db.reader())
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    let r = browser.submit(&signout).await;
    assert_eq!(location(&r), "/signin");
    let removal = set_cookie(&r, SESSION_COOKIE).expect("the cookie is removed");
    assert!(
        removal.contains("Max-Age=0") || removal.contains("expires="),
        "{removal}"
    );
    let count_after: i64 = sqlx::query("SELECT COUNT(*) AS n FROM sessions")
        .fetch_one(app.db.reader())
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(
        count_after,
        count_before - 1,
        "the session record is deleted"
    );
    assert_eq!(location(&browser.get("/").await), "/signin?next=%2F");
    // Re-posting the old form does nothing: the session and its token are gone.
    browser.submit(&signout).await.expect(403);
}

async fn password_change_signs_out_existing_sessions(app: TestApp) {
    let admin = create_admin(&app, Some(&app.tenant.id), "hank@acme.example").await;
    let laptop = Browser::fresh(&app);
    let phone = Browser::fresh(&app);
    laptop.sign_in("hank@acme.example", PASSWORD).await;
    phone.sign_in("hank@acme.example", PASSWORD).await;
    laptop.get("/").await.expect(200);
    phone.get("/").await.expect(200);

    let new_password = "a brand new passphrase";
    let hash = scimgate::password::hash(new_password.to_string())
        .await
        .unwrap();
    assert!(
        admins::set_password(&app.db, &admin.id, &hash)
            .await
            .unwrap()
    );

    for b in [&laptop, &phone] {
        assert_eq!(location(&b.get("/").await), "/signin?next=%2F");
    }
    // The old password no longer works; the new one does.
    laptop
        .sign_in_at("/signin", "hank@acme.example", PASSWORD)
        .await
        .expect(422);
    laptop.sign_in("hank@acme.example", new_password).await;
    laptop.get("/").await.expect(200);
    assert_eq!(location(&phone.get("/").await), "/signin?next=%2F");
}

async fn operators_sign_in_without_a_tenant(app: TestApp) {
    create_admin(&app, None, "ops@vendor.example").await;
    let browser = Browser::of(&app);
    browser.sign_in("ops@vendor.example", PASSWORD).await;
    let home = browser.get("/").await;
    home.expect(200);
    let text = main_text(&home.text);
    assert!(
        text.contains("Signed in as ops@vendor.example (operator"),
        "{text}"
    );
    let css = browser
        .get(&format!(
            "/static/style.css?v={}",
            home.text
                .split("style.css?v=")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
        ))
        .await;
    css.expect(200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    assert!(
        css.header("cache-control")
            .unwrap()
            .contains("max-age=31536000")
    );
    assert!(css.text.contains(".button"));
    browser.sign_out().await;
    assert_eq!(location(&browser.get("/").await), "/signin?next=%2F");
}

/// Guesses sent at once: each is counted before its password is checked, so
/// no more than the limit are ever checked, however many arrive together.
async fn concurrent_guesses_cannot_pass_the_limit_together(app: TestApp) {
    create_admin(&app, Some(&app.tenant.id), "hal@acme.example").await;
    let browsers: Vec<Browser> = (0..30).map(|_| Browser::fresh(&app)).collect();
    let replies = futures_util::future::join_all(
        browsers
            .iter()
            .map(|b| b.sign_in_at("/signin", "hal@acme.example", "wrong password 123")),
    )
    .await;
    let checked = replies.iter().filter(|r| r.status == 422).count();
    let refused = replies.iter().filter(|r| r.status == 429).count();
    assert_eq!(
        checked + refused,
        30,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(
        checked as i64 <= throttle::ACCOUNT.lock_after,
        "{checked} passwords were checked; the limit is {}",
        throttle::ACCOUNT.lock_after
    );
}

/// A flood of anonymous page views (the sign-in page, an authorization
/// request before sign-in, a wrong sign-in) writes no session.
async fn anonymous_visitors_store_no_session(app: TestApp) {
    create_admin(&app, Some(&app.tenant.id), "erin@acme.example").await;
    let (client, _) = create_entra_client(&app, &app.tenant.id, "Entra").await;
    for _ in 0..25 {
        Browser::fresh(&app).get("/signin").await.expect(200);
    }
    let browser = Browser::fresh(&app);
    let r = browser
        .get(&format!(
            "/oauth/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fportal.azure.com%2FTokenAuthorize&state=1",
            client.id
        ))
        .await;
    assert!(location(&r).starts_with("/signin?next="), "{}", r.text);
    let page = browser.get(&location(&r)).await;
    let mut f = form(&page.text, "/signin");
    f.set("email", "erin@acme.example").set("password", "wrong");
    browser.submit(&f).await.expect(422);
    assert_eq!(all_session_rows(&app).await, 0);
    // The page re-shown after the failure carries the same token, so a
    // second try from it works.
    let again = browser
        .get(&format!(
            "/oauth/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fportal.azure.com%2FTokenAuthorize&state=1",
            client.id
        ))
        .await;
    let page = browser.get(&location(&again)).await;
    let mut f = form(&page.text, "/signin");
    f.set("email", "erin@acme.example")
        .set("password", PASSWORD);
    let r = browser.submit(&f).await;
    assert!(location(&r).starts_with("/oauth/authorize"), "{}", r.text);
    assert_eq!(all_session_rows(&app).await, 1);
}

/// However active, a session ends ten hours after sign-in.
async fn sessions_end_ten_hours_after_sign_in(app: TestApp) {
    create_admin(&app, Some(&app.tenant.id), "frank@acme.example").await;
    let browser = Browser::of(&app);
    browser.sign_in("frank@acme.example", PASSWORD).await;
    browser.get("/").await.expect(200);
    // Nine hours ago: still signed in. Eleven: signed out, record deleted.
    for (hours_ago, signed_in) in [(9, true), (11, false)] {
        let row = sqlx::query("SELECT id, data FROM sessions")
            .fetch_one(app.db.reader())
            .await
            .unwrap();
        let id: String = row.try_get("id").unwrap();
        let data: String = row.try_get("data").unwrap();
        // Edited as text: the record's id is a 128-bit number that a
        // serde_json::Value would round to a float.
        let at = time::OffsetDateTime::now_utc().unix_timestamp() - hours_ago * 3600;
        let key = "\"signed_in_at\":";
        let start = data.find(key).expect("signed_in_at is recorded") + key.len();
        let end = start + data[start..].find(|c: char| !c.is_ascii_digit()).unwrap();
        let edited = format!("{}{at}{}", &data[..start], &data[end..]);
        sqlx::query("UPDATE sessions SET data = $1 WHERE id = $2")
            .bind(edited)
            .bind(&id)
            .execute(app.db.writer())
            .await
            .unwrap();
        let home = browser.get("/").await;
        if signed_in {
            home.expect(200);
        } else {
            assert_eq!(location(&home), "/signin?next=%2F");
            assert_eq!(session_rows(&app, &id).await, 0);
        }
    }
}

/// Sign-in counters past their window (and not locked) and authorization
/// codes a day past their expiry are pruned; live ones stay.
async fn expired_codes_and_counters_are_pruned(app: TestApp) {
    let scalar = |sql: &'static str| {
        let db = app.db.clone();
        async move {
            sqlx::query(sql)
                .fetch_one(db.reader())
                .await
                .unwrap()
                .try_get::<i64, _>(0)
                .unwrap()
        }
    };
    for key in ["acct:old", "acct:locked", "acct:fresh"] {
        throttle::attempt(&app.db, key, throttle::ACCOUNT)
            .await
            .unwrap();
    }
    sqlx::query(
        "UPDATE signin_throttle SET window_start = '2020-01-01T00:00:00.000Z',
             locked_until = CASE WHEN key = 'acct:locked' THEN '2999-01-01T00:00:00.000Z' END
         WHERE key IN ('acct:old', 'acct:locked')",
    )
    .execute(app.db.writer())
    .await
    .unwrap();
    let c = crate::oauth_token::entra_client(&app).await;
    for _ in 0..3 {
        crate::oauth_token::code_for(&app, &c, &[]).await;
    }
    // Two codes expired two days ago (one was used); one is live.
    sqlx::query(
        "UPDATE oauth_codes SET expires_at = '2020-01-01T00:00:00.000Z'
         WHERE code_hash IN (SELECT code_hash FROM oauth_codes ORDER BY code_hash LIMIT 2)",
    )
    .execute(app.db.writer())
    .await
    .unwrap();
    // (The server's own pruner may run meanwhile: what is left is checked.)
    scimgate::housekeeping::prune_expired(&app.db)
        .await
        .unwrap();
    assert_eq!(scalar("SELECT COUNT(*) FROM oauth_codes").await, 1);
    let left: Vec<String> = sqlx::query("SELECT key FROM signin_throttle ORDER BY key")
        .fetch_all(app.db.reader())
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("key").unwrap())
        .collect();
    assert_eq!(left, ["acct:fresh", "acct:locked"]);
    assert_eq!(
        scimgate::housekeeping::prune_expired(&app.db)
            .await
            .unwrap(),
        0
    );
    // A counter pruned between an attempt's two statements is a fresh start.
    assert_eq!(
        throttle::attempt(&app.db, "acct:old", throttle::ACCOUNT)
            .await
            .unwrap(),
        throttle::Verdict::Allow
    );
}

on_both_databases!(
    expired_codes_and_counters_are_pruned,
    anonymous_visitors_store_no_session,
    sessions_end_ten_hours_after_sign_in,
    concurrent_guesses_cannot_pass_the_limit_together,
    sign_in_succeeds_with_a_new_session_id,
    wrong_password_and_unknown_account_read_the_same,
    forms_without_the_csrf_token_are_refused,
    next_only_follows_local_paths,
    repeated_failures_slow_down_then_lock,
    sign_out_ends_the_session,
    password_change_signs_out_existing_sessions,
    operators_sign_in_without_a_tenant,
);
