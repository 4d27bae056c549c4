//! The users page at 100,000 users: the first page, a page in the middle
//! (keyset), the last page, a search, and the CSV export, with their
//! response times printed. Ignored by default (seeding takes a while):
//!
//! `cargo test --test api console_views_perf -- --ignored --nocapture`
//!
//! Timings are printed, never asserted; correctness is.

use std::time::{Duration, Instant};

use scimgate::console::present::encode_cursor;
use serde_json::json;
use sqlx::Row as _;

use crate::helpers::{Backend, TestApp};
use crate::pages::{USER, admin_browser, page, pager_link, texts};
use crate::seed::seed_users;

// As `on_both_databases!`, but ignored unless asked for.
mod users_page_at_100k_users {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "seeds 100,000 users; run with --ignored to measure"]
    async fn sqlite() {
        super::users_page_at_100k_users(TestApp::spawn(Backend::Sqlite).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "seeds 100,000 users; run with --ignored to measure"]
    async fn postgres() {
        if let Some(app) = TestApp::spawn_postgres().await {
            super::users_page_at_100k_users(app).await;
        }
    }
}

const USERS: usize = 100_000;
const RUNS: usize = 15;

fn name(i: usize) -> String {
    format!("user{i:06}@acme.example")
}

/// Median and worst of `RUNS` timed GETs, after one warm-up.
async fn time_get(browser: &crate::browser::Browser, path: &str) -> (Duration, Duration) {
    browser.get(path).await.expect(200);
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        browser.get(path).await.expect(200);
        times.push(started.elapsed());
    }
    times.sort();
    (times[RUNS / 2], times[RUNS - 1])
}

async fn users_page_at_100k_users(app: TestApp) {
    let started = Instant::now();
    seed_users(&app, &app.tenant.id, USERS, |i| {
        json!({
            "schemas": [USER],
            "userName": name(i),
            "displayName": format!("Person {i:06}"),
            "active": i % 10 != 0,
            "emails": [{"value": format!("mail{i:06}@corp.example"), "type": "work", "primary": true}],
        })
    })
    .await;
    let seeded = started.elapsed();
    if app.backend == Backend::Postgres {
        // What autovacuum does to a table that just took 100,000 rows: the
        // statistics and the visibility map that index-only scans rely on.
        sqlx::query("VACUUM ANALYZE")
            .execute(app.db.writer())
            .await
            .unwrap();
    }
    let browser = admin_browser(&app).await;
    let user_names = |doc: &scraper::Html| texts(doc, "table.users tbody tr td:first-child a");

    // First page.
    let doc = page(browser.get("/users").await);
    assert_eq!(user_names(&doc), (0..50).map(name).collect::<Vec<_>>());
    assert!(texts(&doc, ".page-head .lead")[0].contains("100,000 users provisioned."));
    let first = time_get(&browser, "/users").await;

    // A page in the middle: after the 50,000th user name.
    let row = sqlx::query(
        "SELECT user_name_lower, id FROM scim_users WHERE tenant_id = $1 AND user_name_lower = $2",
    )
    .bind(&app.tenant.id)
    .bind(name(49_999))
    .fetch_one(app.db.reader())
    .await
    .unwrap();
    let cursor = encode_cursor(
        &row.try_get::<String, _>("user_name_lower").unwrap(),
        &row.try_get::<String, _>("id").unwrap(),
    );
    let middle_path = format!("/users?after={cursor}");
    let doc = page(browser.get(&middle_path).await);
    assert_eq!(
        user_names(&doc),
        (50_000..50_050).map(name).collect::<Vec<_>>()
    );
    let next = pager_link(&doc, "Next").unwrap();
    assert_eq!(
        user_names(&page(browser.get(&next).await)),
        (50_050..50_100).map(name).collect::<Vec<_>>()
    );
    let middle = time_get(&browser, &middle_path).await;

    // The last page, read backwards from the end of the index.
    let doc = page(browser.get("/users?last=1").await);
    assert_eq!(
        user_names(&doc),
        (99_950..100_000).map(name).collect::<Vec<_>>()
    );
    let last = time_get(&browser, "/users?last=1").await;

    // A middle page of another sort and of a filter.
    let doc = page(browser.get("/users?sort=displayName&dir=desc").await);
    assert_eq!(user_names(&doc)[0], name(99_999));
    let sorted = time_get(&browser, "/users?sort=updated&dir=desc").await;
    let doc = page(browser.get("/users?status=inactive").await);
    assert_eq!(user_names(&doc)[..2], [name(0), name(10)]);
    assert!(texts(&doc, ".page-head .lead")[0].contains("10,000 of 100,000 users match."));
    let inactive = time_get(&browser, "/users?status=inactive").await;

    // Searches: user name, e-mail, display name (LIKE over every row).
    let doc = page(browser.get("/users?q=user04999").await);
    assert_eq!(
        user_names(&doc),
        (49_990..50_000).map(name).collect::<Vec<_>>()
    );
    assert!(texts(&doc, ".page-head .lead")[0].contains("10 of 100,000 users match."));
    let doc = page(browser.get("/users?q=MAIL077777").await);
    assert_eq!(user_names(&doc), vec![name(77_777)]);
    let search = time_get(&browser, "/users?q=user04999").await;
    let email_search = time_get(&browser, "/users?q=mail077777").await;

    // The whole export.
    let started = Instant::now();
    let csv = browser.get("/users.csv").await;
    let export = started.elapsed();
    csv.expect(200);
    assert_eq!(
        csv::Reader::from_reader(csv.text.as_bytes())
            .records()
            .count(),
        USERS
    );

    eprintln!(
        "users page at {USERS} users ({:?}, debug build; median / worst of {RUNS}):\n  \
         seed {seeded:.1?}\n  first page {:?} / {:?}\n  middle page (keyset) {:?} / {:?}\n  \
         last page {:?} / {:?}\n  sorted by updated, desc {:?} / {:?}\n  inactive filter {:?} / {:?}\n  \
         search by user name {:?} / {:?}\n  search by e-mail {:?} / {:?}\n  CSV export of all {export:.1?}",
        app.backend,
        first.0,
        first.1,
        middle.0,
        middle.1,
        last.0,
        last.1,
        sorted.0,
        sorted.1,
        inactive.0,
        inactive.1,
        search.0,
        search.1,
        email_search.0,
        email_search.1,
    );
}
