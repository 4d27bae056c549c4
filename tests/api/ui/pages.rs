//! The pages an admin reads, clicked through: users (search, filter, sort,
//! paging, one user), a group's members, connections (revoking a token)
//! and the activity log (failures and one failure's detail).

use reqwest::Method;

use super::{USERS, Ui, provision, signed_in};
use crate::helpers::TestApp;

/// The names in a group's table of members.
const MEMBERS: &str = "table.members tbody td:nth-child(1)";

/// The user names of the users table, in order.
async fn user_names(ui: &Ui) -> Vec<String> {
    ui.texts("table.users tbody td:nth-child(1)").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_searched_filtered_sorted_paged_and_opened() {
    let app = TestApp::spawn_sqlite().await;
    let dir = provision(&app).await;
    let Some(ui) = signed_in(&app).await else {
        return;
    };
    ui.screenshot("overview").await;
    assert_eq!(
        ui.text(".stat-value").await,
        (USERS - dir.users.iter().filter(|u| !u.3).count()).to_string(),
        "active users on the overview"
    );

    ui.click_link("Users").await;
    ui.wait_for_path("the users page", |p| p == "/users").await;
    assert_eq!(ui.h1().await, "Users");
    assert_eq!(
        ui.text(".page-head .lead").await,
        format!("{USERS} users provisioned.")
    );
    let first_page = user_names(&ui).await;
    assert_eq!(first_page.len(), 50);
    let mut sorted = first_page.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(first_page, sorted, "sorted by user name by default");
    ui.screenshot("users").await;

    // Search by name.
    ui.fill("#f-q", "Siciliani").await;
    ui.press("form.filters", "Apply").await;
    ui.wait_for_path("the search", |p| p.contains("q=Siciliani"))
        .await;
    let displays = ui.texts("table.users tbody td:nth-child(2)").await;
    assert_eq!(displays.len(), 24, "{displays:?}");
    assert!(
        displays.iter().all(|d| d.ends_with(" Siciliani")),
        "{displays:?}"
    );
    assert_eq!(
        ui.text(".page-head .lead").await,
        format!("24 of {USERS} users match.")
    );

    // Only the inactive ones.
    ui.click_link("Clear").await;
    ui.wait_for_path("the cleared list", |p| p == "/users")
        .await;
    ui.choose("#f-status", "Inactive").await;
    ui.press("form.filters", "Apply").await;
    ui.wait_for_path("the filter", |p| p.contains("status=inactive"))
        .await;
    let mut inactive: Vec<String> = dir
        .users
        .iter()
        .filter(|u| !u.3)
        .map(|u| u.1.clone())
        .collect();
    inactive.sort();
    assert_eq!(user_names(&ui).await, inactive);
    let statuses = ui.texts("table.users tbody td:nth-child(4)").await;
    assert!(statuses.iter().all(|s| s == "Inactive"), "{statuses:?}");

    // Sort by display name with the column's header, then reverse it.
    ui.click_link("Clear").await;
    ui.wait_for_path("the cleared list", |p| p == "/users")
        .await;
    ui.click("table.users thead th:nth-child(2) a").await;
    ui.wait_for_path("the sorted list", |p| p.contains("sort=displayName"))
        .await;
    assert_eq!(
        ui.find("table.users thead th:nth-child(2)")
            .await
            .attr("aria-sort")
            .await
            .unwrap()
            .as_deref(),
        Some("ascending")
    );
    let mut all_displays: Vec<String> = dir.users.iter().map(|u| u.2.clone()).collect();
    all_displays.sort();
    let shown = ui.texts("table.users tbody td:nth-child(2)").await;
    assert_eq!(shown, all_displays[..50]);
    ui.click("table.users thead th:nth-child(2) a").await;
    ui.wait_for_path("the reversed list", |p| p.contains("dir=desc"))
        .await;
    let shown = ui.texts("table.users tbody td:nth-child(2)").await;
    let reversed: Vec<String> = all_displays.iter().rev().take(50).cloned().collect();
    assert_eq!(shown, reversed);

    // Page forward through every user, back to the sort by user name.
    ui.click("nav.site-nav a[href='/users']").await;
    ui.wait_for_path("the cleared list", |p| p == "/users")
        .await;
    let mut seen = user_names(&ui).await;
    for expected in [50, USERS - 100] {
        ui.click_link("Next ›").await;
        let before = seen.len();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let page = loop {
            let names = user_names(&ui).await;
            if names.first() != seen.first() || std::time::Instant::now() > deadline {
                break names;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!(page.len(), expected);
        assert!(
            page[0].to_lowercase() > seen[before - 1].to_lowercase(),
            "the next page continues the order"
        );
        seen.extend(page);
    }
    assert!(
        ui.all("nav.pager a[rel=next]").await.is_empty(),
        "last page"
    );
    let mut all: Vec<String> = dir.users.iter().map(|u| u.1.clone()).collect();
    all.sort();
    assert_eq!(seen, all, "every user once, in order");

    // One user: attributes, groups and the change timeline.
    ui.fill("#f-q", "adele.vance").await;
    ui.press("form.filters", "Apply").await;
    ui.wait_for_path("the search", |p| p.contains("q=adele.vance"))
        .await;
    ui.click_link("adele.vance@acme.example").await;
    let adele = &dir.user("adele.vance@acme.example").0;
    ui.wait_for_path("Adele's page", |p| p == format!("/users/{adele}"))
        .await;
    assert_eq!(ui.h1().await, "Adele Vance Active");
    let attributes = ui.text("main").await;
    for shown in ["Principal Engineer", "Platform", "10000", "Vance"] {
        assert!(attributes.contains(shown), "{shown} missing: {attributes}");
    }
    assert_eq!(
        ui.texts("ul.chips li").await,
        vec!["All employees", "Engineering"]
    );
    let operations = ui.texts("ol.timeline .timeline-head code").await;
    assert_eq!(operations, vec!["user.patch", "user.create"]);
    let change = ui
        .texts("ol.timeline li:first-child table.changes tr")
        .await;
    assert!(
        change.iter().any(|r| r.contains("title")
            && r.contains("Engineering Analyst")
            && r.contains("Principal Engineer")),
        "{change:?}"
    );
    assert!(
        ui.text("ol.timeline li:first-child .timeline-head")
            .await
            .contains("by Microsoft Entra ID"),
        "the change names the connection that made it"
    );
    ui.screenshot("user").await;
    ui.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_pages_through_its_members() {
    let app = TestApp::spawn_sqlite().await;
    let dir = provision(&app).await;
    let Some(ui) = signed_in(&app).await else {
        return;
    };
    ui.click_link("Groups").await;
    ui.wait_for_path("the groups page", |p| p == "/groups")
        .await;
    assert_eq!(ui.h1().await, "Groups");
    ui.click_link(&dir.everyone.1).await;
    ui.wait_for_path("the group", |p| p == format!("/groups/{}", dir.everyone.0))
        .await;
    assert_eq!(ui.h1().await, "All employees");
    assert_eq!(
        ui.text(".page-head .lead").await,
        format!("{USERS} members")
    );

    let mut seen = ui.texts(MEMBERS).await;
    assert_eq!(seen.len(), 50);
    for (number, expected) in [(2, 50), (3, USERS - 100)] {
        let first = seen.last().cloned();
        ui.click_link("Next ›").await;
        ui.wait_for_path("the next page of members", |p| {
            p.ends_with(&format!("page={number}"))
        })
        .await;
        let page = ui.texts(MEMBERS).await;
        assert_eq!(page.len(), expected);
        assert_ne!(page.first(), first.as_ref());
        seen.extend(page);
    }
    assert!(
        ui.all("nav.pager a[rel=next]").await.is_empty(),
        "last page"
    );
    let mut all: Vec<String> = dir.users.iter().map(|u| u.2.clone()).collect();
    let mut shown = seen.clone();
    all.sort();
    shown.sort();
    assert_eq!(shown, all, "every member once");

    // Back one page, and into a member.
    ui.click_link("‹ Previous").await;
    ui.wait_for_path("the previous page", |p| p.contains("page=2"))
        .await;
    let name = ui.text("table.members tbody td:nth-child(1) a").await;
    ui.click("table.members tbody td:nth-child(1) a").await;
    ui.wait_for_path("the member", |p| p.starts_with("/users/"))
        .await;
    assert!(ui.h1().await.starts_with(&name));
    ui.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_token_is_revoked_with_its_button() {
    let app = TestApp::spawn_sqlite().await;
    let dir = provision(&app).await;
    let Some(ui) = signed_in(&app).await else {
        return;
    };
    ui.click_link("Connections").await;
    ui.wait_for_path("the connections page", |p| p == "/connections")
        .await;
    assert_eq!(ui.h1().await, "Connections");
    ui.click("button[aria-label='Revoke token Microsoft Entra ID']")
        .await;
    ui.wait_for_path("the connections page", |p| p == "/connections")
        .await;
    let notice = ui.text("[role=status]").await;
    assert!(
        notice.starts_with("Token Microsoft Entra ID (")
            && notice.ends_with("revoked: the SCIM API refuses it from now on."),
        "{notice}"
    );
    let row = ui
        .texts("table tr")
        .await
        .into_iter()
        .find(|r| r.starts_with("Microsoft Entra ID"))
        .expect("the token's row");
    assert!(row.contains("revoked"), "{row}");
    assert!(
        ui.all("button[aria-label='Revoke token Microsoft Entra ID']")
            .await
            .is_empty(),
        "a revoked token has no Revoke button"
    );
    // The other token is untouched.
    assert_eq!(
        ui.all("button[aria-label='Revoke token tests']")
            .await
            .len(),
        1
    );
    // Entra's requests with it are refused from now on.
    app.scim_as(&dir.token, Method::GET, "/Users", None)
        .await
        .expect(401);
    app.get("/Users?count=1").await.expect(200);
    ui.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_shows_the_failures_and_why() {
    let app = TestApp::spawn_sqlite().await;
    provision(&app).await;
    let Some(ui) = signed_in(&app).await else {
        return;
    };
    ui.click_link("Activity").await;
    ui.wait_for_path("the activity page", |p| p == "/activity")
        .await;
    assert_eq!(ui.h1().await, "Activity");
    assert_eq!(ui.all("table.log tbody tr").await.len(), 50);
    ui.screenshot("activity").await;

    ui.choose("#f-outcome", "Failed").await;
    ui.press("form.filters", "Filter").await;
    ui.wait_for_path("the failures", |p| p.contains("outcome=failure"))
        .await;
    let rows = ui.texts("table.log tbody tr").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows[0].contains("user.patch") && rows[0].contains("404 failed"),
        "{rows:?}"
    );
    assert!(
        rows[1].contains("user.create") && rows[1].contains("409 failed"),
        "{rows:?}"
    );
    assert!(
        rows.iter().all(|r| r.contains("Microsoft Entra ID")),
        "{rows:?}"
    );

    // The duplicate: open it from its time link.
    ui.click("table.log tbody tr:nth-child(2) td:first-child a")
        .await;
    ui.wait_for_path("the entry", |p| p.starts_with("/activity/"))
        .await;
    let h1 = ui.h1().await;
    assert!(
        h1.contains("user.create") && h1.contains("409 failed"),
        "{h1}"
    );
    let why = ui.text("[role=note]").await;
    assert!(
        why.starts_with("Why it failed:") && why.contains("userName"),
        "{why}"
    );
    let request = ui.text("section[aria-labelledby=req-h]").await;
    assert!(
        request.contains("POST") && request.contains("/scim/v2/Users"),
        "{request}"
    );
    assert!(
        ui.text("section[aria-labelledby=chg-h]")
            .await
            .contains("a failed request changes nothing")
    );
    ui.close().await;
}
