//! Paging as Microsoft's validator checks it, sorting, and attribute
//! selection on reads, lists and searches.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{LIST_RESPONSE, USER_SCHEMA, create_user_with, read};
use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    pages_cover_every_user_once,
    sorting_orders_pages,
    attributes_select_what_is_returned
);

fn user_names(page: &Value) -> Vec<String> {
    page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap().to_string())
        .collect()
}

async fn seed(app: &TestApp, n: usize) {
    for i in 0..n {
        // Names in an order different from creation order.
        let name = format!("user{:02}@example.com", (i * 7) % n);
        create_user_with(
            app,
            json!({"schemas": [USER_SCHEMA], "userName": name,
                   "displayName": format!("Person {}", (i * 5) % n),
                   "name": {"familyName": format!("F{:02}", (i * 3) % n)}}),
        )
        .await;
    }
}

async fn pages_cover_every_user_once(app: TestApp) {
    seed(&app, 12).await;
    let mut seen = BTreeSet::new();
    for start in [1, 6, 11] {
        let p = read(&app, &format!("/Users?startIndex={start}&count=5")).await;
        assert_eq!(p["schemas"], json!([LIST_RESPONSE]));
        assert_eq!(p["totalResults"], 12);
        assert_eq!(p["startIndex"], start);
        let names = user_names(&p);
        assert_eq!(p["itemsPerPage"], names.len());
        assert_eq!(names.len(), if start == 11 { 2 } else { 5 });
        for n in names {
            assert!(seen.insert(n.clone()), "{n} on two pages");
        }
    }
    assert_eq!(seen.len(), 12);

    // Beyond the end: an empty page, still counting everyone.
    let p = read(&app, "/Users?startIndex=40&count=5").await;
    assert_eq!(p["totalResults"], 12);
    assert_eq!(p["Resources"], json!([]));
    assert_eq!(p["itemsPerPage"], 0);
    assert_eq!(p["startIndex"], 40);

    // startIndex below 1 counts as 1; names are case-insensitive.
    for q in [
        "startIndex=0&count=5",
        "startIndex=-3&count=5",
        "STARTINDEX=-1&Count=5",
    ] {
        let p = read(&app, &format!("/Users?{q}")).await;
        assert_eq!(p["startIndex"], 1, "{q}");
        assert_eq!(user_names(&p).len(), 5, "{q}");
    }
    // count=0: only the total.
    let p = read(&app, "/Users?count=0").await;
    assert_eq!(p["totalResults"], 12);
    assert_eq!(p["Resources"], json!([]));
    assert_eq!(p["itemsPerPage"], 0);
    // A negative count is treated as 0.
    let p = read(&app, "/Users?count=-5").await;
    assert_eq!(p["Resources"], json!([]));
    assert_eq!(p["totalResults"], 12);
    // Filtered paging, in memory (a filter the database cannot answer).
    let p = read(
        &app,
        "/Users?filter=displayName+co+%22Person%22&startIndex=4&count=5",
    )
    .await;
    assert_eq!(p["totalResults"], 12);
    assert_eq!(user_names(&p).len(), 5);
    // Not-a-number parameters are errors that name the parameter.
    let r = app.get("/Users?count=five").await;
    r.expect_error(400, Some("invalidValue"));
    assert!(r.body["detail"].as_str().unwrap().contains("count"));

    // The same through .search.
    let p = app
        .post("/Users/.search", &json!({"startIndex": 11, "count": 5}))
        .await;
    p.expect(200);
    assert_eq!(p.body["totalResults"], 12);
    assert_eq!(user_names(&p.body).len(), 2);
}

async fn sorting_orders_pages(app: TestApp) {
    seed(&app, 11).await;
    let mut expected: Vec<String> = (0..11).map(|i| format!("user{i:02}@example.com")).collect();
    let asc = read(&app, "/Users?sortBy=userName&count=100").await;
    assert_eq!(user_names(&asc), expected);
    let asc = read(
        &app,
        "/Users?sortBy=USERNAME&sortOrder=ascending&startIndex=3&count=4",
    )
    .await;
    assert_eq!(user_names(&asc), expected[2..6]);
    expected.reverse();
    let desc = read(
        &app,
        "/Users?sortBy=userName&sortOrder=descending&count=100",
    )
    .await;
    assert_eq!(user_names(&desc), expected);

    // Sorting by attributes the database does not index.
    let by_family = read(&app, "/Users?sortBy=name.familyName&count=100").await;
    let families: Vec<&str> = by_family["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"]["familyName"].as_str().unwrap())
        .collect();
    let mut sorted = families.clone();
    sorted.sort();
    assert_eq!(families, sorted);
    let p = app
        .post(
            "/Users/.search",
            &json!({"sortBy": "displayName", "sortOrder": "descending", "count": 3}),
        )
        .await;
    p.expect(200);
    let shown: Vec<&str> = p.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(shown, ["Person 9", "Person 8", "Person 7"]);
    app.get("/Users?sortBy=userName&sortOrder=sideways")
        .await
        .expect_error(400, Some("invalidValue"));
}

async fn attributes_select_what_is_returned(app: TestApp) {
    let id = create_user_with(
        &app,
        json!({"schemas": [USER_SCHEMA], "userName": "sel@example.com", "displayName": "Sel",
               "emails": [{"type": "work", "value": "sel@example.com"}],
               "name": {"givenName": "Se", "familyName": "L"}}),
    )
    .await;
    let r = read(
        &app,
        &format!("/Users/{id}?attributes=userName,name.givenName"),
    )
    .await;
    assert_eq!(r["id"], id.as_str(), "id is always returned");
    assert_eq!(r["userName"], "sel@example.com");
    assert_eq!(r["name"], json!({"givenName": "Se"}));
    assert!(
        r.get("emails").is_none() && r.get("displayName").is_none(),
        "{r}"
    );

    let r = read(
        &app,
        &format!("/Users/{id}?excludedAttributes=emails,name.familyName"),
    )
    .await;
    assert!(r.get("emails").is_none(), "{r}");
    assert_eq!(r["name"], json!({"givenName": "Se"}));
    assert_eq!(r["displayName"], "Sel");
    assert_eq!(r["id"], id.as_str());
    // `id` cannot be excluded (returned "always").
    let r = read(&app, &format!("/Users/{id}?excludedAttributes=id,userName")).await;
    assert_eq!(r["id"], id.as_str());
    assert!(r.get("userName").is_none(), "{r}");

    let l = read(&app, "/Users?attributes=displayName").await;
    let item = &l["Resources"][0];
    assert_eq!(item["displayName"], "Sel");
    assert_eq!(item["id"], id.as_str());
    assert!(
        item.get("userName").is_none() && item.get("emails").is_none(),
        "{item}"
    );

    let s = app
        .post(
            "/Users/.search",
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                    "filter": "userName eq \"sel@example.com\"",
                    "excludedAttributes": ["emails", "displayName"]}),
        )
        .await;
    s.expect(200);
    let item = &s.body["Resources"][0];
    assert_eq!(item["userName"], "sel@example.com");
    assert!(
        item.get("emails").is_none() && item.get("displayName").is_none(),
        "{item}"
    );
    let s = app
        .post(
            "/.search",
            &json!({"attributes": ["userName"], "filter": "userName pr"}),
        )
        .await;
    s.expect(200);
    assert_eq!(s.body["totalResults"], 1);
    assert_eq!(s.body["Resources"][0]["userName"], "sel@example.com");
    assert!(s.body["Resources"][0].get("emails").is_none());

    // Attribute names in the parameters are case-insensitive.
    let r = read(&app, &format!("/Users/{id}?ATTRIBUTES=DISPLAYNAME")).await;
    assert_eq!(r["displayName"], "Sel");
    assert!(r.get("userName").is_none());
}
