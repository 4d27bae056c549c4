//! Reading the console's pages in tests: a signed-in tenant admin, a page
//! parsed as HTML, texts and attributes found by CSS selector, pager links,
//! and the SCIM schema URNs the seeded documents name.

use scraper::{ElementRef, Html, Selector};

use crate::browser::{Browser, PASSWORD, create_admin, expect_html};
use crate::helpers::{Reply, TestApp};

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Signs an admin of the app's tenant in; returns the browser.
pub async fn admin_browser(app: &TestApp) -> Browser {
    create_admin(app, Some(&app.tenant.id), "admin@acme.example").await;
    let browser = Browser::fresh(app);
    browser.sign_in("admin@acme.example", PASSWORD).await;
    browser
}

/// GETs a page and asserts it is a 200 HTML page.
#[track_caller]
pub fn page(reply: Reply) -> Html {
    reply.expect(200);
    expect_html(&reply);
    Html::parse_document(&reply.text)
}

pub fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

pub fn text_of(el: ElementRef<'_>) -> String {
    el.text()
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The texts of every element matching `css`.
pub fn texts(doc: &Html, css: &str) -> Vec<String> {
    doc.select(&sel(css)).map(text_of).collect()
}

pub fn attr(doc: &Html, css: &str, name: &str) -> Option<String> {
    doc.select(&sel(css))
        .next()
        .and_then(|e| e.value().attr(name))
        .map(str::to_string)
}

/// The link of a pager button ("Next ›", "‹ Previous", "« First", "Last »").
pub fn pager_link(doc: &Html, label: &str) -> Option<String> {
    doc.select(&sel("nav.pager a"))
        .find(|a| text_of(*a).contains(label))
        .and_then(|a| a.value().attr("href"))
        .map(str::to_string)
}
