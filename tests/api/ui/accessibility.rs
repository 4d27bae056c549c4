//! Every page as assistive technology and a phone see it: one `<h1>`, a
//! label for every field, and no sideways scrolling at a phone's width.

use serde_json::Value;

use super::{PHONE, Ui, provision, signed_in};
use crate::browser::create_entra_client;
use crate::helpers::TestApp;

/// The fields of the page that have no accessible label: `<input>` (other
/// than hidden ones and buttons), `<select>` and `<textarea>` need a
/// `<label>`, `aria-label` or `aria-labelledby`.
const UNLABELLED: &str = r#"
return Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(e => !['hidden', 'submit', 'button', 'reset'].includes(e.type))
  .filter(e => e.labels.length === 0
    && !(e.getAttribute('aria-label') || '').trim()
    && !(e.getAttribute('aria-labelledby') || '').split(/\s+/)
         .some(id => id && document.getElementById(id)))
  .map(e => e.outerHTML);
"#;

/// How far the page scrolls sideways, and what sticks out of the viewport.
const OVERFLOW: &str = r#"
const width = window.innerWidth;
const wide = Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > width + 1)
  .filter(e => !(e.parentElement && e.parentElement.closest('.table-scroll')))
  .slice(0, 5)
  .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''));
return [document.scrollingElement.scrollWidth, width, wide];
"#;

/// The main pages of a provisioned tenant, as paths.
async fn main_pages(app: &TestApp, ui: &Ui) -> Vec<String> {
    let dir = provision(app).await;
    let (client, _) = create_entra_client(app, &app.tenant.id, "Entra").await;
    ui.goto("/activity?outcome=failure").await;
    let entry = ui
        .find("table.log tbody td:first-child a")
        .await
        .attr("href")
        .await
        .unwrap()
        .expect("a link to the entry");
    vec![
        "/".to_string(),
        "/users".to_string(),
        format!("/users/{}", dir.users[0].0),
        "/groups".to_string(),
        format!("/groups/{}", dir.everyone.0),
        "/activity".to_string(),
        entry,
        "/connect".to_string(),
        format!("/connect?client={}", client.id),
        "/connections".to_string(),
        "/admins".to_string(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_has_one_h1_labelled_fields_and_fits_a_phone() {
    let app = TestApp::spawn_sqlite().await;
    let Some(ui) = signed_in(&app).await else {
        return;
    };
    let pages = main_pages(&app, &ui).await;

    for path in &pages {
        ui.goto(path).await;
        ui.wait_for_path(path, |p| p == path).await;
        let h1s = ui.js("return document.querySelectorAll('h1').length").await;
        assert_eq!(h1s, 1, "{path} must have exactly one h1");
        let unlabelled = ui.js(UNLABELLED).await;
        assert_eq!(
            unlabelled,
            Value::Array(vec![]),
            "unlabelled fields on {path}"
        );
        assert_eq!(ui.js("return document.documentElement.lang").await, "en");
        assert!(
            !ui.js("return document.title")
                .await
                .as_str()
                .unwrap()
                .is_empty(),
            "{path} has a title"
        );
    }

    ui.resize(PHONE).await;
    for path in &pages {
        ui.goto(path).await;
        ui.wait_for_path(path, |p| p == path).await;
        let r = ui.js(OVERFLOW).await;
        assert!(
            r[0].as_u64().unwrap() <= r[1].as_u64().unwrap(),
            "{path} scrolls sideways at {}px: {} px wide; too wide: {}",
            PHONE.0,
            r[0],
            r[2]
        );
    }

    // Signed out, the sign-in page too.
    ui.goto("/").await;
    ui.press(".account-signout", "Sign out").await;
    ui.wait_for_path("the sign-in page", |p| p.starts_with("/signin"))
        .await;
    let r = ui.js(OVERFLOW).await;
    assert!(r[0].as_u64() <= r[1].as_u64(), "sign-in page: {r}");
    ui.resize(super::DESKTOP).await;
    assert_eq!(
        ui.js("return document.querySelectorAll('h1').length").await,
        1
    );
    assert_eq!(ui.js(UNLABELLED).await, Value::Array(vec![]));
    ui.close().await;
}
