//! Filters through HTTP: every operator on the attributes Entra and the
//! validators use, logical combinations, value paths, unquoted values, and
//! errors that point at the problem. The same assertions run on both
//! databases, so both answer identically.

use serde_json::json;

use super::{USER_SCHEMA, create_user_with, enc, names, patch_body, read, set};
use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    extension_and_meta_filters,
    user_filters_answer_every_operator,
    group_filters_and_value_paths,
    malformed_filters_are_invalid_filter
);

async fn seed(app: &TestApp) {
    create_user_with(
        app,
        json!({"schemas": [USER_SCHEMA], "userName": "alice@example.com", "externalId": "ext-1",
               "displayName": "Alice Smith", "active": true,
               "emails": [{"type": "work", "value": "alice@work.com", "primary": true}]}),
    )
    .await;
    create_user_with(
        app,
        json!({"schemas": [USER_SCHEMA], "userName": "bob@example.com", "externalId": "ext-2",
               "displayName": "Bob Jones", "active": "False",
               "emails": [{"type": "work", "value": "bob@work.com"},
                          {"type": "home", "value": "bob@home.org"}]}),
    )
    .await;
    create_user_with(
        app,
        json!({"schemas": [USER_SCHEMA], "userName": "carol@sample.org",
               "displayName": "Carol Smith", "active": true}),
    )
    .await;
}

async fn user_filters_answer_every_operator(app: TestApp) {
    seed(&app).await;
    let all = set(&["alice@example.com", "bob@example.com", "carol@sample.org"]);
    let cases: &[(&str, &[&str])] = &[
        // userName: case-insensitive (caseExact false).
        ("userName eq \"ALICE@example.com\"", &["alice@example.com"]),
        (
            "userName ne \"alice@example.com\"",
            &["bob@example.com", "carol@sample.org"],
        ),
        (
            "userName co \"EXAMPLE\"",
            &["alice@example.com", "bob@example.com"],
        ),
        ("userName sw \"b\"", &["bob@example.com"]),
        ("userName ew \".ORG\"", &["carol@sample.org"]),
        (
            "userName pr",
            &["alice@example.com", "bob@example.com", "carol@sample.org"],
        ),
        ("userName gt \"bob@example.com\"", &["carol@sample.org"]),
        (
            "userName ge \"bob@example.com\"",
            &["bob@example.com", "carol@sample.org"],
        ),
        ("userName lt \"bob@example.com\"", &["alice@example.com"]),
        (
            "userName le \"BOB@example.com\"",
            &["alice@example.com", "bob@example.com"],
        ),
        // externalId: case-exact.
        ("externalId eq \"ext-1\"", &["alice@example.com"]),
        ("externalId eq \"EXT-1\"", &[]),
        ("externalId eq ext-2", &["bob@example.com"]),
        (
            "externalId ne \"ext-1\"",
            &["bob@example.com", "carol@sample.org"],
        ),
        (
            "externalId sw \"ext\"",
            &["alice@example.com", "bob@example.com"],
        ),
        ("externalId sw \"EXT\"", &[]),
        ("externalId co \"t-2\"", &["bob@example.com"]),
        ("externalId ew \"-1\"", &["alice@example.com"]),
        ("externalId pr", &["alice@example.com", "bob@example.com"]),
        ("externalId gt \"ext-1\"", &["bob@example.com"]),
        // displayName.
        ("displayName eq \"alice smith\"", &["alice@example.com"]),
        (
            "displayName co \"smith\"",
            &["alice@example.com", "carol@sample.org"],
        ),
        ("displayName sw \"Bob\"", &["bob@example.com"]),
        ("displayName ew \"Jones\"", &["bob@example.com"]),
        // emails.
        ("emails eq \"BOB@home.org\"", &["bob@example.com"]),
        ("emails.value eq \"alice@work.com\"", &["alice@example.com"]),
        (
            "emails co \"work.com\"",
            &["alice@example.com", "bob@example.com"],
        ),
        ("emails.value ew \".org\"", &["bob@example.com"]),
        ("emails.type eq \"home\"", &["bob@example.com"]),
        ("emails pr", &["alice@example.com", "bob@example.com"]),
        (
            "emails[type eq \"work\"].value eq \"bob@work.com\"",
            &["bob@example.com"],
        ),
        ("emails[type eq \"work\"].value eq \"bob@home.org\"", &[]),
        (
            "emails[type eq \"home\" and value co \"bob\"]",
            &["bob@example.com"],
        ),
        ("emails[primary eq true]", &["alice@example.com"]),
        // active, booleans quoted or not.
        ("active eq true", &["alice@example.com", "carol@sample.org"]),
        ("active eq false", &["bob@example.com"]),
        ("active eq \"False\"", &["bob@example.com"]),
        ("active ne true", &["bob@example.com"]),
        // logic.
        (
            "userName sw \"a\" or userName sw \"b\"",
            &["alice@example.com", "bob@example.com"],
        ),
        (
            "displayName co \"Smith\" and active eq true",
            &["alice@example.com", "carol@sample.org"],
        ),
        ("not (displayName co \"Smith\")", &["bob@example.com"]),
        (
            "not(active eq true) or externalId eq \"ext-1\"",
            &["alice@example.com", "bob@example.com"],
        ),
        (
            "(userName sw \"a\" or userName sw \"c\") and not (externalId pr)",
            &["carol@sample.org"],
        ),
        (
            "userName sw \"a\" or userName sw \"b\" and active eq true",
            &["alice@example.com"],
        ),
        // attribute names are case-insensitive; operators too.
        ("USERNAME EQ \"carol@sample.org\"", &["carol@sample.org"]),
        ("name.familyName pr", &[]),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"bob@example.com\"",
            &["bob@example.com"],
        ),
        (
            "id pr",
            &["alice@example.com", "bob@example.com", "carol@sample.org"],
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(
            names(&app, "Users", filter).await,
            set(want),
            "filter {filter}"
        );
    }

    // meta.lastModified: everything before a point, nothing after it.
    let carol = read(&app, "/Users?filter=userName+eq+%22carol@sample.org%22").await;
    let stamp = carol["Resources"][0]["meta"]["lastModified"]
        .as_str()
        .unwrap()
        .to_string();
    let bob = read(&app, "/Users?filter=userName+eq+%22bob@example.com%22").await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let bob_id = bob["Resources"][0]["id"].as_str().unwrap().to_string();
    app.patch(
        &format!("/Users/{bob_id}"),
        &patch_body(json!([{"op": "replace", "path": "title", "value": "Boss"}])),
    )
    .await
    .expect(200);
    assert_eq!(
        names(&app, "Users", &format!("meta.lastModified gt \"{stamp}\"")).await,
        set(&["bob@example.com"])
    );
    assert_eq!(
        names(&app, "Users", &format!("meta.lastModified le \"{stamp}\"")).await,
        set(&["alice@example.com", "carol@sample.org"])
    );
    assert_eq!(
        names(
            &app,
            "Users",
            "meta.lastModified gt \"2000-01-01T00:00:00Z\""
        )
        .await,
        all
    );
    assert_eq!(
        names(
            &app,
            "Users",
            "meta.lastModified lt \"2000-01-01T00:00:00Z\""
        )
        .await,
        set(&[])
    );
    // `+` in the query is a space, `%2B` a plus.
    let r = read(&app, "/Users?filter=userName+sw+%22alice%22").await;
    assert_eq!(r["totalResults"], 1);
}

async fn group_filters_and_value_paths(app: TestApp) {
    let u = app.create_user("someone@example.com").await;
    for name in ["Sales", "Sales EMEA", "Engineering"] {
        app.create_group(name).await;
    }
    let eng = read(&app, "/Groups?filter=displayName+eq+%22engineering%22").await;
    assert_eq!(eng["totalResults"], 1);
    let eng_id = eng["Resources"][0]["id"].as_str().unwrap().to_string();
    app.patch(
        &format!("/Groups/{eng_id}"),
        &patch_body(json!([{"op": "add", "path": "members", "value": [{"value": u}]}])),
    )
    .await
    .expect(204);
    let cases: &[(&str, &[&str])] = &[
        ("displayName eq \"sales\"", &["Sales"]),
        ("displayName sw \"Sales\"", &["Sales", "Sales EMEA"]),
        ("displayName ne \"Sales\"", &["Sales EMEA", "Engineering"]),
        (
            "displayName co \"emea\" or displayName ew \"ING\"",
            &["Sales EMEA", "Engineering"],
        ),
        ("members pr", &["Engineering"]),
        ("not (members pr)", &["Sales", "Sales EMEA"]),
    ];
    for (filter, want) in cases {
        assert_eq!(
            names(&app, "Groups", filter).await,
            set(want),
            "filter {filter}"
        );
    }
    let by_member = format!("members[value eq \"{u}\"]");
    assert_eq!(
        names(&app, "Groups", &by_member).await,
        set(&["Engineering"])
    );
    let by_member = format!("members.value eq \"{u}\"");
    assert_eq!(
        names(&app, "Groups", &by_member).await,
        set(&["Engineering"])
    );
    // excludedAttributes=members does not change what matches.
    let r = read(
        &app,
        &format!(
            "/Groups?excludedAttributes=members&filter={}",
            enc("members pr")
        ),
    )
    .await;
    assert_eq!(r["totalResults"], 1);
    assert!(r["Resources"][0].get("members").is_none());
}

async fn malformed_filters_are_invalid_filter(app: TestApp) {
    seed(&app).await;
    let bad: &[(&str, &str)] = &[
        ("userName eq", "userName"),
        ("userName zz \"a\"", "zz"),
        ("(userName eq \"a\"", "("),
        ("userName eq \"unterminated", "unterminated"),
        ("userName eq \"a\" and", "and"),
        ("emails[type eq \"work\"", "["),
        ("eq \"a\"", "eq"),
    ];
    for (filter, hint) in bad {
        let r = app.get(&format!("/Users?filter={}", enc(filter))).await;
        r.expect_error(400, Some("invalidFilter"));
        let detail = r.body["detail"].as_str().unwrap();
        assert!(
            detail.contains(hint) || detail.contains("position") || detail.contains("column"),
            "{filter}: the detail must point at the problem: {detail}"
        );
        let search = json!({"filter": filter});
        app.post("/Users/.search", &search)
            .await
            .expect_error(400, Some("invalidFilter"));
    }
}

async fn extension_and_meta_filters(app: TestApp) {
    let boss = app.create_user("boss@example.com").await;
    create_user_with(
        &app,
        json!({"schemas": [USER_SCHEMA, super::ENTERPRISE], "userName": "emp@example.com",
               "name": {"givenName": "Emma", "familyName": "Ployee"},
               super::ENTERPRISE: {"employeeNumber": "007", "department": "R&D",
                                   "manager": {"value": boss}}}),
    )
    .await;
    let ent = super::ENTERPRISE;
    let cases: Vec<(String, &[&str])> = vec![
        (
            format!("{ent}:employeeNumber eq \"007\""),
            &["emp@example.com"],
        ),
        (format!("{ent}:department co \"&\""), &["emp@example.com"]),
        (
            format!("{ent}:manager.value eq \"{boss}\""),
            &["emp@example.com"],
        ),
        (format!("{ent}:manager eq \"{boss}\""), &["emp@example.com"]),
        (format!("manager eq \"{boss}\""), &["emp@example.com"]),
        (format!("{ent}:employeeNumber pr"), &["emp@example.com"]),
        (
            "meta.resourceType eq \"User\"".to_string(),
            &["boss@example.com", "emp@example.com"],
        ),
        (
            "name.givenName eq \"emma\"".to_string(),
            &["emp@example.com"],
        ),
        (
            "name.familyName sw \"Plo\" and userName ew \".com\"".to_string(),
            &["emp@example.com"],
        ),
        ("name pr".to_string(), &["emp@example.com"]),
        ("not (name pr)".to_string(), &["boss@example.com"]),
        ("title pr".to_string(), &[]),
    ];
    for (filter, want) in &cases {
        assert_eq!(
            names(&app, "Users", filter).await,
            set(want),
            "filter {filter}"
        );
    }
}
