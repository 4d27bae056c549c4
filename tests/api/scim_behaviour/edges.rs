//! Edge cases of the read path: extreme paging numbers, deeply nested
//! filters, SQL wildcard characters in filter values, time zones in date
//! comparisons. None may crash the server or give a wrong answer.

use serde_json::json;

use super::{USER_SCHEMA, create_user_with, enc, names, read, set};
use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    extreme_paging_numbers_are_clamped,
    pathological_filters_are_refused_not_crashed,
    wildcards_in_values_are_literal,
    dates_compare_as_instants
);

async fn extreme_paging_numbers_are_clamped(app: TestApp) {
    app.create_user("one@example.com").await;
    app.create_group("One").await;
    let max = i64::MAX;
    for q in [
        format!("startIndex={max}&count={max}"),
        format!("startIndex={}&count=5", i64::MIN),
        "count=100000".to_string(),
    ] {
        let r = read(&app, &format!("/Users?{q}")).await;
        assert_eq!(r["totalResults"], 1, "{q}");
    }
    let r = read(&app, "/Users?count=100000").await;
    assert_eq!(r["Resources"].as_array().unwrap().len(), 1);
    for body in [
        json!({"startIndex": max, "count": max}),
        json!({"startIndex": max}),
        json!({"count": max}),
        json!({"startIndex": i64::MIN, "count": i64::MIN}),
    ] {
        for path in ["/.search", "/Users/.search", "/Groups/.search"] {
            let r = app.post(path, &body).await;
            r.expect(200);
            assert!(
                r.body["totalResults"].as_u64().unwrap() >= 1,
                "{path} {body}: {}",
                r.text
            );
        }
    }
    let r = app.post("/.search", &json!({"count": max})).await;
    assert_eq!(r.body["totalResults"], 2);
    assert_eq!(r.body["Resources"].as_array().unwrap().len(), 2);
    let r = app
        .post("/.search", &json!({"startIndex": 2, "count": 1}))
        .await;
    assert_eq!(r.body["Resources"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["Resources"][0]["displayName"], "One");
}

async fn pathological_filters_are_refused_not_crashed(app: TestApp) {
    app.create_user("deep@example.com").await;
    let deep_parens = format!("{}userName pr{}", "(".repeat(5000), ")".repeat(5000));
    let deep_not = format!("{}userName pr{}", "not (".repeat(5000), ")".repeat(5000));
    let long_chain = vec!["userName pr"; 3000].join(" and ");
    for filter in [&deep_parens, &deep_not] {
        let r = app.post("/Users/.search", &json!({"filter": filter})).await;
        r.expect_error(400, Some("invalidFilter"));
    }
    // A long flat chain is legitimate.
    let r = app
        .post("/Users/.search", &json!({"filter": long_chain}))
        .await;
    if r.status.as_u16() == 200 {
        assert_eq!(r.body["totalResults"], 1);
    } else {
        r.expect_error(400, Some("invalidFilter"));
    }
    // The server is still there.
    assert_eq!(read(&app, "/Users").await["totalResults"], 1);
}

async fn wildcards_in_values_are_literal(app: TestApp) {
    for (name, ext) in [
        ("a_b@example.com", "x%1"),
        ("axb@example.com", "xy1"),
        ("a%b@example.com", "x_1"),
        ("a\\b@example.com", "X\\1"),
    ] {
        create_user_with(
            &app,
            json!({"schemas": [USER_SCHEMA], "userName": name, "externalId": ext}),
        )
        .await;
    }
    let cases: &[(&str, &[&str])] = &[
        ("userName sw \"a_\"", &["a_b@example.com"]),
        ("userName co \"%\"", &["a%b@example.com"]),
        ("userName co \"_b\"", &["a_b@example.com"]),
        ("userName co \"\\\\\"", &["a\\b@example.com"]),
        ("userName ew \"%b@example.com\"", &["a%b@example.com"]),
        ("externalId sw \"x%\"", &["a_b@example.com"]),
        ("externalId sw \"x_\"", &["a%b@example.com"]),
        (
            "externalId sw \"x\"",
            &["a_b@example.com", "axb@example.com", "a%b@example.com"],
        ),
        ("externalId co \"%\"", &["a_b@example.com"]),
        ("externalId ew \"\\\\1\"", &["a\\b@example.com"]),
    ];
    for (filter, want) in cases {
        assert_eq!(
            names(&app, "Users", filter).await,
            set(want),
            "filter {filter}"
        );
    }
    let r = app
        .get(&format!(
            "/Users?filter={}",
            enc("userName eq \"A_B@EXAMPLE.COM\"")
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1);
}

async fn dates_compare_as_instants(app: TestApp) {
    let id = app.create_user("when@example.com").await;
    let u = read(&app, &format!("/Users/{id}")).await;
    let created =
        chrono::DateTime::parse_from_rfc3339(u["meta"]["created"].as_str().unwrap()).unwrap();
    let earlier = created - chrono::Duration::minutes(30);
    let later = created + chrono::Duration::minutes(30);
    let plus_two = chrono::FixedOffset::east_opt(2 * 3600).unwrap();
    let minus_five = chrono::FixedOffset::west_opt(5 * 3600).unwrap();
    // The same instants written in other time zones.
    for (at, tz) in [(earlier, plus_two), (earlier, minus_five)] {
        let t = at.with_timezone(&tz).to_rfc3339();
        assert_eq!(
            names(&app, "Users", &format!("meta.created gt \"{t}\"")).await,
            set(&["when@example.com"]),
            "created after {t}"
        );
        assert_eq!(
            names(&app, "Users", &format!("meta.created lt \"{t}\"")).await,
            set(&[])
        );
    }
    for (at, tz) in [(later, plus_two), (later, minus_five)] {
        let t = at.with_timezone(&tz).to_rfc3339();
        assert_eq!(
            names(&app, "Users", &format!("meta.lastModified lt \"{t}\"")).await,
            set(&["when@example.com"]),
            "modified before {t}"
        );
        assert_eq!(
            names(&app, "Users", &format!("meta.lastModified ge \"{t}\"")).await,
            set(&[])
        );
    }
    // A value that is not a date is never earlier or later than one: it
    // matches nothing rather than comparing as text.
    let r = app
        .get(&format!(
            "/Users?filter={}",
            enc("meta.created gt \"yesterday\"")
        ))
        .await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(
        names(&app, "Users", "meta.created lt \"zzzz\"").await,
        set(&[])
    );
}
