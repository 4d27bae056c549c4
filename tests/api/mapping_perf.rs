//! Saving mapping rules for a tenant of 100,000 users: the recompute and a
//! dry run, timed and printed (never asserted; correctness is). Ignored by
//! default (seeding takes a while):
//!
//! `cargo test --test api mapping_perf -- --ignored --nocapture`

use std::time::Instant;

use scimgate::provision::mapping::Rules;
use scimgate::provision::recompute;
use scimgate::store::activity::Actor;
use serde_json::json;

use crate::console_admin::scalar;
use crate::helpers::{Backend, TestApp};
use crate::pages::USER;
use crate::seed::seed_users;

// As `on_both_databases!`, but ignored unless asked for.
mod recompute_at_100k_users {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "seeds 100,000 users; run with --ignored to measure"]
    async fn sqlite() {
        super::recompute_at_100k_users(TestApp::spawn(Backend::Sqlite).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "seeds 100,000 users; run with --ignored to measure"]
    async fn postgres() {
        if let Some(app) = TestApp::spawn_postgres().await {
            super::recompute_at_100k_users(app).await;
        }
    }
}

const USERS: usize = 100_000;
const TITLES: [&str; 4] = ["Sales Manager", "Engineer", "Intern", "Director"];

async fn recompute_at_100k_users(app: TestApp) {
    seed_users(&app, &app.tenant.id, USERS, |i| {
        json!({
            "schemas": [USER],
            "userName": format!("user{i:06}@acme.example"),
            "title": TITLES[i % TITLES.len()],
            "userType": if i % 2 == 0 { "Sales-North" } else { "Support-South" },
            "active": true,
        })
    })
    .await;
    let rules = Rules {
        roles: vec![
            ("Sales Manager".into(), "manager".into()),
            ("Engineer".into(), "member".into()),
            ("Director".into(), "admin".into()),
        ],
        groups: vec![
            ("Sales".into(), "Sales team".into()),
            ("North".into(), "Region North".into()),
            ("Support".into(), "Support team".into()),
        ],
        ..Rules::default()
    };

    let started = Instant::now();
    let dry = recompute::dry_run(&app.db, &app.tenant.id, &rules)
        .await
        .unwrap();
    let dry_time = started.elapsed();
    assert_eq!(dry.users, USERS as u64);
    assert_eq!(dry.changed, USERS as u64);

    // Another tenant creates users one after another while the save runs:
    // the longest any of them took is how long the save held it up.
    let (_, token) = app.other_tenant("globex").await;
    let (db, tenant_id, base, r) = (
        app.db.clone(),
        app.tenant.id.clone(),
        app.scim_url(""),
        rules.clone(),
    );
    let save = tokio::spawn(async move {
        recompute::save(&db, &tenant_id, &r, &Actor::operator(), &base).await
    });
    let (mut creates, mut longest) = (0, std::time::Duration::ZERO);
    while !save.is_finished() {
        let began = Instant::now();
        let body = json!({"schemas": [USER], "userName": format!("other{creates}@globex.example")});
        app.scim_as(&token, reqwest::Method::POST, "/Users", Some(&body))
            .await
            .expect(201);
        longest = longest.max(began.elapsed());
        creates += 1;
    }
    let saved = save.await.unwrap().unwrap();
    println!(
        "{:?}: another tenant's {creates} creates during the save, the longest {:.2} s",
        app.backend,
        longest.as_secs_f64()
    );
    assert_eq!((saved.users, saved.changed), (USERS as u64, USERS as u64));
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM scim_users WHERE derived_groups IS NOT NULL"
        )
        .await,
        USERS as i64
    );
    // Saving the same rules again reads everyone and writes no one.
    let again = recompute::save(
        &app.db,
        &app.tenant.id,
        &rules,
        &Actor::operator(),
        &app.scim_url(""),
    )
    .await
    .unwrap();
    assert_eq!(again.changed, 0);
    println!(
        "{:?}, {USERS} users: dry run {:.2} s, save and recompute (all changed) {:.2} s, save again (none changed) {:.2} s",
        app.backend,
        dry_time.as_secs_f64(),
        saved.elapsed.as_secs_f64(),
        again.elapsed.as_secs_f64(),
    );
}
