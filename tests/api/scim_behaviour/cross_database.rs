//! The same data on SQLite and PostgreSQL answers every filter, sort and
//! page identically: the database only narrows candidates, the protocol
//! core decides.

use serde_json::{Value, json};

use super::{USER_SCHEMA, create_user_with, enc, patch_body};
use crate::helpers::TestApp;

async fn seed(app: &TestApp) {
    let people = [
        (
            "Zoë@Example.com",
            Some("z-1"),
            "Zoë Ångström",
            true,
            "zoe@work.com",
        ),
        (
            "adam@example.com",
            Some("A-2"),
            "Adam Smith",
            true,
            "adam@work.com",
        ),
        (
            "ADA@example.org",
            None,
            "Ada Lovelace",
            false,
            "ada@home.org",
        ),
        (
            "brian_o@example.com",
            Some("b%3"),
            "Brian O'Neil",
            true,
            "brian@work.com",
        ),
        (
            "ömer@example.de",
            Some("ö-4"),
            "Ömer Öz",
            false,
            "omer@work.de",
        ),
        (
            "carl@example.com",
            Some("c-5"),
            "carl smithers",
            true,
            "CARL@WORK.COM",
        ),
    ];
    for (name, ext, display, active, mail) in people {
        let mut body = json!({"schemas": [USER_SCHEMA], "userName": name, "displayName": display,
                              "active": active,
                              "emails": [{"type": "work", "value": mail, "primary": true}],
                              "name": {"familyName": display.split(' ').next_back().unwrap()}});
        if let Some(e) = ext {
            body["externalId"] = json!(e);
        }
        create_user_with(app, body).await;
    }
    for name in ["Admins", "admins-eu", "Ärzte", "Users_All"] {
        app.create_group(name).await;
    }
}

async fn answers(app: &TestApp) -> Vec<(String, Value)> {
    let filters = [
        "userName eq \"zoë@example.com\"",
        "userName eq \"ZOË@EXAMPLE.COM\"",
        "userName sw \"a\"",
        "userName co \"_\"",
        "userName ew \".COM\"",
        "userName gt \"b\"",
        "userName le \"carl@example.com\"",
        "userName ne \"adam@example.com\"",
        "externalId eq \"a-2\"",
        "externalId eq \"A-2\"",
        "externalId sw \"b%\"",
        "externalId co \"-\"",
        "externalId ge \"c\"",
        "not (externalId pr)",
        "displayName co \"SMITH\"",
        "displayName ew \"smith\"",
        "displayName sw \"ö\"",
        "displayName lt \"B\"",
        "emails.value eq \"carl@work.com\"",
        "emails[type eq \"work\"].value eq \"ADAM@work.com\"",
        "emails co \"@work.\" and active eq true",
        "active eq false or displayName ew \"smith\"",
        "(userName sw \"a\" or userName sw \"c\") and not (active eq false)",
        "name.familyName gt \"M\"",
        "meta.created gt \"2000-01-01T00:00:00Z\"",
    ];
    let mut out = Vec::new();
    for f in filters {
        for sort in ["userName", "displayName", "externalId", "name.familyName"] {
            for order in ["ascending", "descending"] {
                let q = format!(
                    "/Users?filter={}&sortBy={sort}&sortOrder={order}&count=4&startIndex=2&attributes=userName",
                    enc(f)
                );
                let r = app.get(&q).await;
                let mut body = r.body.clone();
                // Ids are random per database: compare everything else.
                if let Some(list) = body["Resources"].as_array_mut() {
                    for item in list {
                        item.as_object_mut().unwrap().remove("id");
                    }
                }
                out.push((format!("{} {q}", r.status), body));
            }
        }
    }
    for f in [
        "displayName eq \"admins\"",
        "displayName sw \"ad\"",
        "displayName co \"_\"",
        "displayName gt \"B\"",
    ] {
        let q = format!(
            "/Groups?filter={}&sortBy=displayName&excludedAttributes=members",
            enc(f)
        );
        let r = app.get(&q).await;
        let names: Vec<Value> = r.body["Resources"]
            .as_array()
            .map(|l| l.iter().map(|g| g["displayName"].clone()).collect())
            .unwrap_or_default();
        out.push((
            format!("{} {q}", r.status),
            json!({"total": r.body["totalResults"], "names": names}),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_answer_identically() {
    let Some(pg) = TestApp::spawn_postgres().await else {
        return;
    };
    let lite = TestApp::spawn_sqlite().await;
    seed(&lite).await;
    seed(&pg).await;
    // The same change on both, so that lastModified-sensitive parts agree.
    for app in [&lite, &pg] {
        let r = app
            .get("/Users?filter=userName+eq+%22adam@example.com%22")
            .await;
        let id = r.body["Resources"][0]["id"].as_str().unwrap().to_string();
        app.patch(
            &format!("/Users/{id}"),
            &patch_body(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await
        .expect(200);
    }
    let a = answers(&lite).await;
    let b = answers(&pg).await;
    assert_eq!(a.len(), b.len());
    for ((qa, ba), (qb, bb)) in a.iter().zip(&b) {
        assert_eq!(qa, qb);
        assert!(qa.starts_with("200"), "{qa}: {ba}");
        assert_eq!(ba, bb, "{qa}\nSQLite: {ba}\nPostgreSQL: {bb}");
    }
}

/// Sorted pages follow byte order of the lower-cased value on every
/// database, whatever the PostgreSQL server's locale, and whether the
/// database or the protocol core sorts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorting_ignores_the_database_locale() {
    let mut apps = vec![TestApp::spawn_sqlite().await];
    if let Some(pg) = TestApp::spawn_postgres_linguistic().await {
        apps.push(pg);
    }
    let names = [
        "Zed@x.org",
        "adam@x.org",
        "Ömer@x.org",
        "émile@x.org",
        "_under@x.org",
        "Bob@x.org",
    ];
    let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    expected.sort_by_key(|n| n.to_lowercase());
    for app in &apps {
        for n in names {
            create_user_with(
                app,
                json!({"schemas": [USER_SCHEMA], "userName": n, "displayName": n}),
            )
            .await;
        }
        for (query, what) in [
            ("/Users?sortBy=userName", "database sort"),
            (
                "/Users?sortBy=userName&filter=userName+pr",
                "database sort, filtered",
            ),
            (
                "/Users?sortBy=userName&filter=displayName+pr",
                "in-memory sort",
            ),
        ] {
            let r = app.get(query).await;
            r.expect(200);
            let got: Vec<String> = r.body["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["userName"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(got, expected, "{:?} {what}", app.backend);
            let r = app
                .get(&format!("{query}&sortOrder=descending&count=2"))
                .await;
            let got: Vec<&str> = r.body["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["userName"].as_str().unwrap())
                .collect();
            assert_eq!(
                got,
                [expected[5].as_str(), expected[4].as_str()],
                "{:?} {what} descending",
                app.backend
            );
        }
    }
}
