//! The console's read pages as a tenant admin sees them: the overview,
//! users (list, search, filters, sort, keyset paging, CSV export, one user),
//! groups (list, one group with its members), and the activity log (filters,
//! paging, one entry). Data is provisioned through the SCIM API as Entra
//! would, then read back through the pages.

use std::time::Duration;

use scimgate::store::activity::{self, Actor};
use scimgate::store::resources::{self};
use scimgate::store::sql::Table;
use scimgate::store::{clients, format_time, tokens};
use scraper::{ElementRef, Html};
use serde_json::{Value, json};

use crate::browser::{Browser, PASSWORD, create_admin, expect_html, location, main_text};
use crate::helpers::TestApp;
use crate::on_both_databases;
use crate::pages::{
    ENTERPRISE, GROUP, USER, admin_browser, attr, page, pager_link, sel, text_of, texts,
};
use crate::seed::seed_users;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

on_both_databases!(
    pages_need_a_signed_in_tenant_admin,
    overview_shows_health_counts_and_the_last_request,
    overview_warns_about_failures_and_expiring_credentials,
    users_are_paged_searched_filtered_and_sorted,
    users_csv_export_escapes_and_defuses_formulas,
    user_page_shows_attributes_groups_and_changes,
    groups_are_listed_and_a_group_shows_its_members,
    activity_is_filtered_paged_and_explained,
    another_tenants_ids_are_not_found,
);

async fn create_full_user(app: &TestApp, user_name: &str, body: Value) -> String {
    let mut b = json!({"schemas": [USER, ENTERPRISE], "userName": user_name, "active": true});
    if let (Some(o), Value::Object(extra)) = (b.as_object_mut(), body) {
        o.extend(extra);
    }
    let r = app.post("/Users", &b).await;
    r.expect(201);
    r.body["id"].as_str().unwrap().to_string()
}

async fn add_members(app: &TestApp, group_id: &str, ids: &[String]) {
    let values: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    app.patch(
        &format!("/Groups/{group_id}"),
        &json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": values}]}),
    )
    .await
    .expect(204);
}

/// Waits (polling) until the tenant's log holds an entry of `operation`:
/// reads are logged in batches shortly after their response.
async fn wait_for_op(app: &TestApp, operation: &str) {
    for _ in 0..100 {
        let log = activity::recent(&app.db, &app.tenant.id, 10_000)
            .await
            .unwrap();
        if log.iter().any(|e| e.operation == operation) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {operation} entry reached the activity log");
}

async fn pages_need_a_signed_in_tenant_admin(app: TestApp) {
    let anonymous = Browser::fresh(&app);
    for path in [
        "/users",
        "/users.csv?q=a",
        "/users/abc",
        "/groups",
        "/groups/abc",
        "/activity?outcome=failure",
        "/activity/1",
    ] {
        let r = anonymous.get(path).await;
        let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
        assert_eq!(location(&r), format!("/signin?next={next}"), "{path}");
    }
    // An operator belongs to no tenant: the tenant pages are not theirs.
    create_admin(&app, None, "ops@vendor.example").await;
    let operator = Browser::fresh(&app);
    operator.sign_in("ops@vendor.example", PASSWORD).await;
    for path in ["/users", "/users.csv", "/groups", "/activity"] {
        let r = operator.get(path).await;
        r.expect(403);
        expect_html(&r);
        assert!(
            main_text(&r.text).contains("Operators manage tenants"),
            "{path}"
        );
    }

    // A tenant admin sees the console's navigation, the current section
    // marked for assistive technology.
    let browser = admin_browser(&app).await;
    let doc = page(browser.get("/users").await);
    let items = texts(&doc, "nav.site-nav li");
    assert_eq!(
        items,
        vec![
            "Overview",
            "Users",
            "Groups",
            "Activity",
            "Connect Entra",
            "Connections",
            "Mapping",
            "Admins",
            "Settings"
        ]
    );
    assert_eq!(
        texts(&doc, "nav.site-nav a[aria-current=page]"),
        vec!["Users"]
    );
    assert_eq!(
        attr(&doc, "nav.site-nav", "aria-label").as_deref(),
        Some("Console")
    );
    let doc = page(browser.get("/").await);
    assert_eq!(
        texts(&doc, "nav.site-nav a[aria-current=page]"),
        vec!["Overview"]
    );
}

/// The figure of a stat tile, by its label.
fn stat(doc: &Html, label: &str) -> String {
    doc.select(&sel(".stat"))
        .find(|s| {
            texts_in(*s, ".stat-label")
                .iter()
                .any(|l| l.contains(label))
        })
        .map(|s| texts_in(s, ".stat-value").join(""))
        .unwrap_or_else(|| panic!("no stat {label:?}"))
}

fn texts_in(el: ElementRef<'_>, css: &str) -> Vec<String> {
    el.select(&sel(css)).map(text_of).collect()
}

async fn overview_shows_health_counts_and_the_last_request(app: TestApp) {
    let browser = admin_browser(&app).await;
    // Before anything was provisioned.
    let doc = page(browser.get("/").await);
    let text = text_of(doc.select(&sel("main")).next().unwrap());
    assert!(
        text.contains("No SCIM request has reached scimgate yet"),
        "{text}"
    );
    assert!(text.contains(&format!("{}/scim/v2", app.base)), "{text}");
    assert_eq!(stat(&doc, "active users"), "0");

    app.create_user("ann@acme.example").await;
    app.create_user("bob@acme.example").await;
    create_full_user(&app, "cy@acme.example", json!({"active": false})).await;
    app.create_group("Sales").await;
    // A duplicate: refused with 409, recorded as a failure.
    app.post(
        "/Users",
        &json!({"schemas": [USER], "userName": "ANN@acme.example"}),
    )
    .await
    .expect(409);
    // The token's last use is written in the background.
    for _ in 0..100 {
        if tokens::list(&app.db, &app.tenant.id).await.unwrap()[0]
            .last_used_at
            .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let doc = page(browser.get("/").await);
    assert_eq!(stat(&doc, "active users"), "2");
    assert_eq!(stat(&doc, "inactive users"), "1");
    assert_eq!(stat(&doc, "groups"), "1");
    assert_eq!(stat(&doc, "requests in 24 h"), "5");
    assert_eq!(stat(&doc, "failed"), "1");
    let failed_label = texts(&doc, ".stat-label");
    assert!(
        failed_label.contains(&"failed (20.0%)".to_string()),
        "{failed_label:?}"
    );

    // The last request: the refused duplicate, with its reason.
    let last = texts(&doc, ".last-request").join(" ");
    assert!(
        last.contains("409 failed") && last.contains("user.create"),
        "{last}"
    );
    let reason = texts(&doc, "section[aria-labelledby=last-h] .reason").join(" ");
    assert!(reason.contains("already used by another user"), "{reason}");

    // The connection that made them, with its last use.
    let rows = texts(&doc, "section[aria-labelledby=conn-h] tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains("tests") && rows[0].contains("Secret token"),
        "{rows:?}"
    );
    assert!(
        rows[0].contains("Active") && !rows[0].contains("never"),
        "{rows:?}"
    );

    // The chart: 24 hours, this hour holding the 5 requests (1 failed);
    // its table says the same for those who cannot see the bars.
    assert_eq!(doc.select(&sel("svg.chart-svg g")).count(), 24);
    assert!(doc.select(&sel("svg.chart-svg rect.bar-fail")).count() >= 1);
    let hours = texts(&doc, ".chart-table tbody tr");
    assert_eq!(hours.len(), 24);
    let total: i64 = doc
        .select(&sel(".chart-table tbody tr td:nth-child(2)"))
        .map(|td| text_of(td).parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, 5);
    // Nothing worrying yet: 5 requests are too few for a failure rate.
    assert!(doc.select(&sel(".alert-warning")).next().is_none());
    // The page never shows the token itself.
    assert!(!browser.get("/").await.text.contains(&app.token));
}

async fn overview_warns_about_failures_and_expiring_credentials(app: TestApp) {
    let browser = admin_browser(&app).await;
    for i in 0..16 {
        app.create_user(&format!("u{i}@acme.example")).await;
    }
    for i in 0..4 {
        app.post(
            "/Users",
            &json!({"schemas": [USER], "userName": format!("u{i}@acme.example")}),
        )
        .await
        .expect(409);
    }
    // 4 of 20 failed: exactly 20%, not above it.
    let doc = page(browser.get("/").await);
    assert!(
        doc.select(&sel(".alert-warning")).next().is_none(),
        "{}",
        doc.html()
    );
    app.get("/Users/no-such-user").await.expect(404);
    wait_for_op(&app, "user.get").await;
    // 5 of 21: above 20%.
    let doc = page(browser.get("/").await);
    let warnings = texts(&doc, ".alert-warning");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("23.8% of requests failed in the last 24 hours"),
        "{warnings:?}"
    );
    assert!(
        warnings[0].contains("5 of 21 requests failed"),
        "{warnings:?}"
    );
    assert!(warnings[0].contains("more than 40%"), "{warnings:?}");
    assert_eq!(
        attr(&doc, ".alert-warning a", "href").as_deref(),
        Some("/activity?outcome=failure")
    );

    // Credentials near or past their expiry.
    tokens::create_secret_token(
        &app.db,
        &app.tenant.id,
        "soon",
        Some(10),
        &Actor::operator(),
    )
    .await
    .unwrap();
    tokens::create_secret_token(
        &app.db,
        &app.tenant.id,
        "later",
        Some(90),
        &Actor::operator(),
    )
    .await
    .unwrap();
    let (expired, _) =
        tokens::create_secret_token(&app.db, &app.tenant.id, "old", Some(1), &Actor::operator())
            .await
            .unwrap();
    sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE id = $2")
        .bind(format_time(chrono::Utc::now() - chrono::Duration::days(2)))
        .bind(&expired.id)
        .execute(app.db.writer())
        .await
        .unwrap();
    let uris = vec!["https://portal.azure.com/TokenAuthorize".to_string()];
    clients::create(
        &app.db,
        &app.tenant.id,
        "Entra app",
        &uris,
        5,
        &Actor::operator(),
    )
    .await
    .unwrap();
    let (rotated, _, _) = clients::create(
        &app.db,
        &app.tenant.id,
        "Rotated app",
        &uris,
        5,
        &Actor::operator(),
    )
    .await
    .unwrap();
    // A second secret that lasts: the expiring one is being rotated out.
    clients::add_secret(&app.db, &rotated, 365, &Actor::operator())
        .await
        .unwrap();

    let doc = page(browser.get("/").await);
    let warnings = texts(&doc, ".alert-warning");
    assert_eq!(warnings.len(), 4, "{warnings:?}");
    assert!(
        warnings[0].contains("requests failed"),
        "failures first: {warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("Secret token “soon”: expires in 10 days")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("Secret token “old”: expired") && w.contains("refused")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("Client secret of “Entra app”: expires in 5 days")),
        "{warnings:?}"
    );
    assert!(
        !warnings
            .iter()
            .any(|w| w.contains("later") || w.contains("Rotated"))
    );
    let rows = texts(&doc, "section[aria-labelledby=conn-h] tbody tr");
    assert_eq!(rows.len(), 6, "{rows:?}");
    assert!(
        rows.iter()
            .any(|r| r.contains("soon") && r.contains("Expires in 10 days"))
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("old") && r.contains("Expired"))
    );
    // OAuth clients Entra has not used yet, with their secrets' expiry.
    assert!(
        rows.iter().any(|r| r.contains("Entra app")
            && r.contains("OAuth client")
            && r.contains("never")
            && r.contains("Expires in 5 days")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("Rotated app") && r.contains("Active")),
        "{rows:?}"
    );
}

/// The user names of the users table, in order.
fn user_names(doc: &Html) -> Vec<String> {
    texts(doc, "table.users tbody tr td:first-child a")
}

async fn seed_directory(app: &TestApp) {
    for i in 0..60 {
        create_full_user(
            app,
            &format!("user{i:03}@acme.example"),
            json!({
                "displayName": format!("Person {i}"),
                "active": i % 4 != 3,
                "emails": [{"value": format!("mail{i:03}@corp.example"), "type": "work", "primary": true}],
            }),
        )
        .await;
        // Creation times are kept to the millisecond: two users created in
        // the same one would tie, and the sorts below check their order.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

async fn users_are_paged_searched_filtered_and_sorted(app: TestApp) {
    seed_directory(&app).await;
    let browser = admin_browser(&app).await;
    let all: Vec<String> = (0..60)
        .map(|i| format!("user{i:03}@acme.example"))
        .collect();

    let doc = page(browser.get("/users").await);
    assert!(main_text(&doc.html()).contains("60 users provisioned."));
    assert_eq!(user_names(&doc), all[..50].to_vec());
    let row = texts(&doc, "table.users tbody tr")[3].clone();
    assert!(
        row.contains("Person 3")
            && row.contains("mail003@corp.example")
            && row.contains("Inactive"),
        "{row}"
    );
    assert_eq!(
        attr(&doc, "table.users tbody tr a", "href"),
        Some(format!(
            "/users/{}",
            resources::query(
                &app.db,
                Table::Users,
                &app.tenant.id,
                None,
                Default::default(),
                0,
                Some(1)
            )
            .await
            .unwrap()[0]
                .id
        ))
    );
    assert!(pager_link(&doc, "Previous").is_none());
    let next = pager_link(&doc, "Next").expect("a next page");
    let second = page(browser.get(&next).await);
    assert_eq!(user_names(&second), all[50..].to_vec());
    assert!(pager_link(&second, "Next").is_none());
    let back = page(browser.get(&pager_link(&second, "Previous").unwrap()).await);
    assert_eq!(user_names(&back), all[..50].to_vec());
    let last = page(browser.get(&pager_link(&doc, "Last").unwrap()).await);
    assert_eq!(
        user_names(&last),
        all[10..].to_vec(),
        "the last page is the last 50"
    );
    let before_last = page(browser.get(&pager_link(&last, "Previous").unwrap()).await);
    assert_eq!(user_names(&before_last), all[..10].to_vec());

    // Search: e-mail, display name (any case), user name.
    let doc = page(browser.get("/users?q=MAIL007").await);
    assert_eq!(user_names(&doc), vec!["user007@acme.example"]);
    assert!(main_text(&doc.html()).contains("1 of 60 users match."));
    let doc = page(browser.get("/users?q=person+1").await);
    let expected: Vec<String> = std::iter::once(1)
        .chain(10..20)
        .map(|i| format!("user{i:03}@acme.example"))
        .collect();
    assert_eq!(user_names(&doc), expected);
    let doc = page(browser.get("/users?q=user05").await);
    assert_eq!(user_names(&doc).len(), 10);
    // LIKE wildcards are searched for literally.
    let doc = page(browser.get("/users?q=%25").await);
    assert!(user_names(&doc).is_empty());
    assert!(main_text(&doc.html()).contains("No user matches"));

    // Active / inactive.
    let doc = page(browser.get("/users?status=inactive").await);
    let inactive: Vec<String> = (0..60)
        .filter(|i| i % 4 == 3)
        .map(|i| format!("user{i:03}@acme.example"))
        .collect();
    assert_eq!(user_names(&doc), inactive);
    assert_eq!(texts(&doc, "table.users .badge"), vec!["Inactive"; 15]);
    let doc = page(browser.get("/users?status=active&q=person+1").await);
    // 1 and 10–19, less the inactive 11, 15 and 19.
    assert_eq!(user_names(&doc).len(), 8);

    // Sorts.
    let doc = page(browser.get("/users?sort=created&dir=desc").await);
    assert_eq!(
        user_names(&doc)[..3],
        all[57..].iter().rev().cloned().collect::<Vec<_>>()[..]
    );
    assert_eq!(
        attr(&doc, "th[aria-sort]", "aria-sort").as_deref(),
        Some("descending")
    );
    let doc = page(browser.get("/users?sort=displayName").await);
    let names = texts(&doc, "table.users tbody tr td:nth-child(2)");
    assert_eq!(
        names[..4],
        ["Person 0", "Person 1", "Person 10", "Person 11"]
    );
    let next = pager_link(&doc, "Next").unwrap();
    assert!(next.contains("sort=displayName"), "{next}");
    let doc = page(browser.get(&next).await);
    assert_eq!(
        texts(&doc, "table.users tbody tr td:nth-child(2)").len(),
        10
    );
    let doc = page(browser.get("/users?sort=userName&dir=desc").await);
    assert_eq!(user_names(&doc)[0], "user059@acme.example");
    // Updated: the user changed last comes first.
    app.patch(
        &format!("/Users/{}", first_id(&app, "user010@acme.example").await),
        &json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "Lead"}]}),
    )
    .await
    .expect(200);
    let doc = page(browser.get("/users?sort=updated&dir=desc").await);
    assert_eq!(user_names(&doc)[0], "user010@acme.example");
    // Unknown settings fall back to the defaults; a broken cursor to page 1.
    let doc = page(browser.get("/users?sort=password&dir=up&after=%%%").await);
    assert_eq!(user_names(&doc), all[..50].to_vec());
}

async fn first_id(app: &TestApp, user_name: &str) -> String {
    let r = app
        .get(&format!("/Users?filter=userName%20eq%20%22{user_name}%22"))
        .await;
    r.expect(200);
    r.body["Resources"][0]["id"].as_str().unwrap().to_string()
}

async fn users_csv_export_escapes_and_defuses_formulas(app: TestApp) {
    let tricky = [
        (
            "a1@acme.example",
            "=HYPERLINK(\"http://evil.example\",\"x\")",
        ),
        ("a2@acme.example", "+1 555 0100"),
        ("a3@acme.example", "-2+3"),
        ("a4@acme.example", "@SUM(A1)"),
        ("a5@acme.example", "Smith, \"Jo\"\nsecond line"),
        ("a6@acme.example", "Plain Name"),
    ];
    for (user_name, display) in tricky {
        create_full_user(
            &app,
            user_name,
            json!({"displayName": display, "name": {"givenName": "G", "familyName": "F"},
                   "emails": [{"value": user_name, "type": "work"}],
                   ENTERPRISE: {"department": "=1+1", "employeeNumber": "42"}}),
        )
        .await;
    }
    let browser = admin_browser(&app).await;
    let doc = page(browser.get("/users?q=a").await);
    assert_eq!(
        attr(&doc, "a[download]", "href").as_deref(),
        Some("/users.csv?q=a")
    );

    let r = browser.get("/users.csv?q=a").await;
    r.expect(200);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(
        r.header("content-disposition")
            .unwrap()
            .starts_with("attachment; filename=\"users-")
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let mut reader = csv::Reader::from_reader(r.text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        header,
        [
            "id",
            "userName",
            "displayName",
            "givenName",
            "familyName",
            "email",
            "active",
            "externalId",
            "title",
            "department",
            "employeeNumber",
            "manager",
            "created",
            "lastModified"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 6);
    let displays: Vec<&str> = rows.iter().map(|r| &r[2]).collect();
    assert_eq!(
        displays,
        [
            "'=HYPERLINK(\"http://evil.example\",\"x\")",
            "'+1 555 0100",
            "'-2+3",
            "'@SUM(A1)",
            "Smith, \"Jo\"\nsecond line",
            "Plain Name",
        ]
    );
    assert_eq!(&rows[0][1], "a1@acme.example");
    assert_eq!(&rows[0][3], "G");
    assert_eq!(&rows[0][5], "a1@acme.example");
    assert_eq!(&rows[0][6], "true");
    assert_eq!(&rows[0][9], "'=1+1");
    assert_eq!(&rows[0][10], "42");
    // Quoting as RFC 4180 says: the raw line doubles the quotes.
    assert!(
        r.text.contains("\"Smith, \"\"Jo\"\"\nsecond line\""),
        "{}",
        r.text
    );

    // Filters apply to the export; a large export streams every chunk.
    seed_users(&app, &app.tenant.id, 2_345, |i| {
        json!({"schemas": [USER], "userName": format!("bulk{i:05}@acme.example"), "active": i % 2 == 0})
    })
    .await;
    let r = browser
        .get("/users.csv?q=bulk&status=inactive&sort=userName&dir=desc")
        .await;
    r.expect(200);
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(r.text.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 1_172);
    assert_eq!(&rows[0][1], "bulk02343@acme.example");
    assert_eq!(&rows[1_171][1], "bulk00001@acme.example");
    assert!(rows.iter().all(|r| &r[6] == "false"));
    let mut names: Vec<&str> = rows.iter().map(|r| &r[1]).collect();
    names.dedup();
    assert_eq!(names.len(), 1_172, "no row twice across chunks");
    let r = browser.get("/users.csv").await;
    let n = csv::Reader::from_reader(r.text.as_bytes())
        .records()
        .count();
    assert_eq!(n, 2_351);
}

async fn user_page_shows_attributes_groups_and_changes(app: TestApp) {
    let manager = app.create_user("boss@acme.example").await;
    let id = create_full_user(
        &app,
        "dana@acme.example",
        json!({
            "externalId": "e-123",
            "displayName": "Dana Scully",
            "name": {"givenName": "Dana", "familyName": "Scully"},
            "emails": [{"value": "dana@acme.example", "type": "work", "primary": true},
                       {"value": "dana@home.example", "type": "home"}],
            "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
            ENTERPRISE: {"department": "X-Files", "employeeNumber": "1013", "manager": {"value": manager}},
        }),
    )
    .await;
    let group = app.create_group("Agents").await;
    add_members(&app, &group, std::slice::from_ref(&id)).await;
    // Entra's PATCH dialect: capitalised ops, a boolean as a string.
    app.patch(
        &format!("/Users/{id}"),
        &json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "Replace", "path": "title", "value": "Special Agent"},
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Replace", "path": "name.givenName", "value": "Katherine"}
        ]}),
    )
    .await
    .expect(200);
    app.get(&format!("/Users/{id}")).await.expect(200);

    let browser = admin_browser(&app).await;
    let doc = page(browser.get(&format!("/users/{id}")).await);
    assert_eq!(texts(&doc, "h1"), vec!["Dana Scully Inactive"]);
    let attrs: Vec<(String, String)> = doc
        .select(&sel("dl.attrs"))
        .flat_map(|dl| {
            let dts = texts_in(dl, "dt");
            let dds = texts_in(dl, "dd");
            dts.into_iter().zip(dds).collect::<Vec<_>>()
        })
        .collect();
    for (k, v) in [
        ("userName", "dana@acme.example"),
        ("name.givenName", "Katherine"),
        ("name.familyName", "Scully"),
        ("title", "Special Agent"),
        ("active", "false"),
        ("externalId", "e-123"),
        ("department", "X-Files"),
        ("employeeNumber", "1013"),
        ("manager.value", manager.as_str()),
    ] {
        assert!(
            attrs.contains(&(k.to_string(), v.to_string())),
            "{k} = {v} missing from {attrs:?}"
        );
    }
    let sections = texts(&doc, "section h2");
    assert!(
        sections.contains(&"Enterprise extension".to_string()),
        "{sections:?}"
    );
    let lists = texts(&doc, "section h3");
    assert_eq!(lists, vec!["emails", "phoneNumbers"]);
    let email_rows = texts(&doc, "table.compact tbody tr");
    assert_eq!(email_rows[0], "dana@acme.example work true");
    assert_eq!(email_rows[1], "dana@home.example home");
    assert_eq!(texts(&doc, "ul.chips a"), vec!["Agents"]);
    assert_eq!(
        attr(&doc, "ul.chips a", "href"),
        Some(format!("/groups/{group}"))
    );

    // The timeline: newest first, reads left out, each with what changed
    // and which connection did it.
    let entries = texts(&doc, ".timeline-entry .timeline-head code");
    assert_eq!(entries, vec!["user.patch", "user.create"]);
    let head = texts(&doc, ".timeline-entry .timeline-head")[0].clone();
    assert!(
        head.contains("by tests (connection)") && head.contains("200"),
        "{head}"
    );
    let first = doc.select(&sel(".timeline-entry")).next().unwrap();
    let changes = texts_in(first, "table.changes tbody tr");
    assert_eq!(
        changes,
        vec![
            "active true false",
            "name.givenName Dana Katherine",
            "title (not set) Special Agent",
        ]
    );
    let normalised = texts_in(first, "p.muted.small").join(" ");
    assert!(
        normalised.contains("PATCH operation names in capitals"),
        "{normalised}"
    );
    assert!(
        normalised.contains("booleans sent as the strings"),
        "{normalised}"
    );
    assert_eq!(
        attr(&doc, ".timeline + p a", "href"),
        Some(format!("/activity?resource={id}"))
    );
    // The stored representation, as served to SCIM clients.
    let raw = texts(&doc, "details.raw pre").join("");
    let json: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(json["id"], id.as_str());
    assert_eq!(json["groups"][0]["value"], group.as_str());

    // A user that does not exist, or an id that is not one.
    browser.get("/users/nope").await.expect(404);
    let r = browser.get("/users/%00").await;
    r.expect(404);
    expect_html(&r);
}

async fn groups_are_listed_and_a_group_shows_its_members(app: TestApp) {
    let mut users = Vec::new();
    for i in 0..53 {
        users.push(app.create_user(&format!("m{i:02}@acme.example")).await);
    }
    let big = app.create_group("Everyone").await;
    let nested = app.create_group("Leads").await;
    app.create_group("Sales EMEA").await;
    app.create_group("sales US").await;
    add_members(&app, &big, &users).await;
    add_members(&app, &big, std::slice::from_ref(&nested)).await;
    add_members(&app, &nested, &users[..2]).await;

    let browser = admin_browser(&app).await;
    let doc = page(browser.get("/groups").await);
    let rows = texts(&doc, "table.groups tbody tr");
    assert_eq!(rows.len(), 4);
    assert!(
        rows[0].starts_with("Everyone") && rows[0].contains("54"),
        "{rows:?}"
    );
    assert!(
        rows[1].starts_with("Leads") && rows[1].contains(" 2 "),
        "{rows:?}"
    );
    let doc = page(browser.get("/groups?q=SALES").await);
    assert_eq!(
        texts(&doc, "table.groups tbody td:first-child a"),
        vec!["Sales EMEA", "sales US"]
    );
    assert!(main_text(&doc.html()).contains("2 of 4 groups match."));

    let doc = page(browser.get(&format!("/groups/{big}")).await);
    assert_eq!(texts(&doc, "h1"), vec!["Everyone"]);
    assert!(texts(&doc, "#members-h")[0].contains("1–50 of 54"));
    let mut seen = texts(&doc, "table.members tbody td:first-child a");
    assert_eq!(seen.len(), 50);
    // Members added by one request are ordered by id.
    let mut by_id = users.clone();
    by_id.sort();
    assert_eq!(
        attr(&doc, "table.members tbody a", "href"),
        Some(format!("/users/{}", by_id[0]))
    );
    let next = pager_link(&doc, "Next").unwrap();
    let doc = page(browser.get(&next).await);
    let rows = texts(&doc, "table.members tbody tr");
    assert_eq!(rows.len(), 4);
    seen.extend(texts(&doc, "table.members tbody td:first-child a"));
    seen.sort();
    let mut expected: Vec<String> = (0..53).map(|i| format!("m{i:02}@acme.example")).collect();
    expected.push("Leads".to_string());
    expected.sort();
    assert_eq!(seen, expected, "every member once across the pages");
    assert!(rows[3].starts_with("Leads Group"), "{rows:?}");
    let links: Vec<String> = doc
        .select(&sel("table.members tbody a"))
        .map(|a| a.value().attr("href").unwrap().to_string())
        .collect();
    assert_eq!(links[3], format!("/groups/{nested}"));
    // A page past the end shows the last one.
    let doc = page(browser.get(&format!("/groups/{big}?page=99")).await);
    assert_eq!(texts(&doc, "table.members tbody tr").len(), 4);

    // Its timeline: the membership changes with the ids added.
    let entries = texts(&doc, ".timeline-entry .timeline-head code");
    assert_eq!(entries, vec!["group.patch", "group.patch", "group.create"]);
    let first = doc.select(&sel(".timeline-entry")).next().unwrap();
    let changes = texts_in(first, "table.changes tbody tr");
    assert_eq!(changes.len(), 1);
    assert!(
        changes[0].starts_with("members") && changes[0].contains(&nested),
        "{changes:?}"
    );

    browser.get("/groups/nope").await.expect(404);
}

async fn activity_is_filtered_paged_and_explained(app: TestApp) {
    let user = app.create_user("eve@acme.example").await;
    app.post(
        "/Users",
        &json!({"schemas": [USER], "userName": "EVE@acme.example"}),
    )
    .await
    .expect(409);
    let group = app.create_group("Ops").await;
    app.get(&format!("/Users/{user}")).await.expect(200);
    wait_for_op(&app, "user.get").await;
    app.patch(
        &format!("/Users/{user}"),
        &json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "displayName", "value": "Eve"}]}),
    )
    .await
    .expect(200);
    // A client that put a token where it does not belong: the page hides it.
    let leaked = scimgate::secret::generate(scimgate::secret::SECRET_TOKEN_PREFIX);
    let filter: String =
        url::form_urlencoded::byte_serialize(format!("userName eq \"{leaked}\"").as_bytes())
            .collect();
    app.get(&format!("/Users?filter={filter}"))
        .await
        .expect(200);
    wait_for_op(&app, "user.list").await;

    let browser = admin_browser(&app).await;
    let doc = page(browser.get("/activity").await);
    let ops = texts(&doc, "table.log tbody td:nth-child(3)");
    // Newest first; the admin's own sign-in is a security event.
    assert_eq!(
        ops,
        vec![
            "admin.signin",
            "admin.create",
            "user.list",
            "user.patch",
            "user.get",
            "group.create",
            "user.create",
            "user.create",
            "token.create"
        ]
    );
    let html = browser.get("/activity").await.text;
    assert!(
        !html.contains(&leaked),
        "a token-shaped value must not be shown"
    );
    assert!(!html.contains(&app.token));
    assert!(
        html.contains("sgst_[hidden]"),
        "the filter is shown with the token hidden"
    );

    let doc = page(browser.get("/activity?outcome=failure").await);
    let rows = texts(&doc, "table.log tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains("user.create") && rows[0].contains("409 failed"),
        "{rows:?}"
    );
    assert!(
        rows[0].contains("It conflicts with an existing resource: userName"),
        "{rows:?}"
    );
    assert!(rows[0].contains("tests (connection)"), "{rows:?}");
    assert_eq!(
        attr(&doc, "#f-outcome option[selected]", "value").as_deref(),
        Some("failure")
    );

    let doc = page(browser.get("/activity?operation=group.").await);
    assert_eq!(
        texts(&doc, "table.log tbody td:nth-child(3)"),
        vec!["group.create"]
    );
    let doc = page(
        browser
            .get("/activity?outcome=success&operation=user.")
            .await,
    );
    assert_eq!(
        texts(&doc, "table.log tbody td:nth-child(3)"),
        vec!["user.list", "user.patch", "user.get", "user.create"]
    );
    let doc = page(browser.get(&format!("/activity?resource={user}")).await);
    assert_eq!(
        texts(&doc, "table.log tbody td:nth-child(3)"),
        vec!["user.patch", "user.get", "user.create"]
    );
    assert_eq!(
        attr(&doc, "table.log tbody td:nth-child(4) a", "href"),
        Some(format!("/users/{user}"))
    );
    let doc = page(browser.get("/activity?resource=group").await);
    let rows = texts(&doc, "table.log tbody tr");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("Ops Group"), "{rows:?}");
    assert_eq!(
        attr(&doc, "table.log tbody td:nth-child(4) a", "href"),
        Some(format!("/groups/{group}"))
    );
    let doc = page(browser.get("/activity?operation=nothing.").await);
    assert!(main_text(&doc.html()).contains("No entries match these filters."));

    // One entry: the request, the diff and the quirks.
    let patch = activity::recent(&app.db, &app.tenant.id, 50)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.operation == "user.patch")
        .unwrap();
    let r = browser.get(&format!("/activity/{}", patch.id)).await;
    let doc = page(r);
    let details: Vec<(String, String)> = doc
        .select(&sel("dl.details"))
        .flat_map(|dl| {
            texts_in(dl, "dt")
                .into_iter()
                .zip(texts_in(dl, "dd"))
                .collect::<Vec<_>>()
        })
        .collect();
    let get = |k: &str| {
        details
            .iter()
            .find(|(dt, _)| dt == k)
            .map(|(_, dd)| dd.clone())
            .unwrap_or_default()
    };
    assert_eq!(get("Method"), "PATCH");
    assert_eq!(get("Path"), format!("/scim/v2/Users/{user}"));
    assert_eq!(get("Request id"), patch.request_id.clone().unwrap());
    assert_eq!(get("Connection"), "tests (connection)");
    assert_eq!(get("Name"), "eve@acme.example");
    assert_eq!(get("Id"), user);
    assert_eq!(
        texts(&doc, "table.changes tbody tr"),
        vec!["displayName (not set) Eve"]
    );
    assert!(texts(&doc, "ul.quirks li")[0].contains("PATCH operation names in capitals"));

    let failed = activity::recent(&app.db, &app.tenant.id, 50)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.outcome == "failure")
        .unwrap();
    let doc = page(browser.get(&format!("/activity/{}", failed.id)).await);
    let alert = texts(&doc, ".alert-error").join(" ");
    assert!(
        alert.contains("Why it failed") && alert.contains("already used"),
        "{alert}"
    );
    assert!(
        texts(&doc, "section")
            .iter()
            .any(|s| s.contains("a failed request changes nothing"))
    );

    // Paging: keyset on the id, newest first.
    for i in 0..55 {
        app.create_user(&format!("p{i:02}@acme.example")).await;
    }
    let doc = page(browser.get("/activity?operation=user.create").await);
    let first: Vec<String> = texts(&doc, "table.log tbody td:nth-child(4)");
    assert_eq!(first.len(), 50);
    assert!(first[0].starts_with("p54@acme.example"), "{first:?}");
    let next = pager_link(&doc, "Next").unwrap();
    assert!(
        next.contains("operation=user.create") && next.contains("older="),
        "{next}"
    );
    let doc = page(browser.get(&next).await);
    let second = texts(&doc, "table.log tbody td:nth-child(4)");
    assert_eq!(second.len(), 7, "{second:?}");
    assert!(second[0].starts_with("p04@acme.example"), "{second:?}");
    assert!(pager_link(&doc, "Next").is_none());
    let doc = page(browser.get(&pager_link(&doc, "Previous").unwrap()).await);
    assert_eq!(texts(&doc, "table.log tbody td:nth-child(4)"), first);

    browser.get("/activity/not-a-number").await.expect(404);
    browser.get("/activity/999999999").await.expect(404);
}

async fn another_tenants_ids_are_not_found(app: TestApp) {
    let (other, token) = app.other_tenant("globex").await;
    let r = app
        .scim_as(
            &token,
            reqwest::Method::POST,
            "/Users",
            Some(&json!({"schemas": [USER], "userName": "spy@globex.example"})),
        )
        .await;
    r.expect(201);
    let their_user = r.body["id"].as_str().unwrap().to_string();
    let r = app
        .scim_as(
            &token,
            reqwest::Method::POST,
            "/Groups",
            Some(&json!({"schemas": [GROUP], "displayName": "Globex staff"})),
        )
        .await;
    r.expect(201);
    let their_group = r.body["id"].as_str().unwrap().to_string();
    let their_entry = activity::recent(&app.db, &other.id, 1).await.unwrap()[0].id;
    app.create_user("mine@acme.example").await;

    let browser = admin_browser(&app).await;
    for path in [
        format!("/users/{their_user}"),
        format!("/groups/{their_group}"),
        format!("/activity/{their_entry}"),
    ] {
        let r = browser.get(&path).await;
        r.expect(404);
        expect_html(&r);
        assert!(
            !r.text.contains("spy@globex.example") && !r.text.contains("Globex staff"),
            "{path}"
        );
    }
    // Lists, searches, exports and the overview hold only this tenant's data.
    let doc = page(browser.get("/users").await);
    assert_eq!(user_names(&doc), vec!["mine@acme.example"]);
    assert!(
        page(browser.get("/users?q=spy").await)
            .select(&sel("table.users"))
            .next()
            .is_none()
    );
    assert!(
        page(browser.get("/groups").await)
            .select(&sel("table.groups"))
            .next()
            .is_none()
    );
    let csv = browser.get("/users.csv").await.text;
    assert!(!csv.contains("spy@globex.example"));
    let log = browser
        .get(&format!("/activity?resource={their_user}"))
        .await
        .text;
    assert!(!log.contains("spy@globex.example") && main_text(&log).contains("No entries match"));
    let doc = page(browser.get("/").await);
    assert_eq!(stat(&doc, "active users"), "1");
    assert_eq!(stat(&doc, "groups"), "0");
}
