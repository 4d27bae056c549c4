//! Signing in and out through the real form, with the mouse and with the
//! keyboard alone.

use fantoccini::key::Key;

use super::{ADMIN, Ui};
use crate::browser::{PASSWORD, create_admin};
use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_and_the_right_one_lands_on_the_overview() {
    let app = TestApp::spawn_sqlite().await;
    let Some(ui) = Ui::open(&app).await else {
        return;
    };
    create_admin(&app, Some(&app.tenant.id), ADMIN).await;

    // A signed-out visitor of the console is sent to the sign-in page.
    ui.goto("/users").await;
    ui.wait_for_path("the sign-in page", |p| p.starts_with("/signin"))
        .await;
    assert_eq!(ui.h1().await, "Sign in");

    ui.fill("#email", ADMIN).await;
    ui.fill("#password", "not the password").await;
    ui.press("form[action='/signin']", "Sign in").await;
    let alert = ui.text("[role=alert]").await;
    assert_eq!(alert, "E-mail or password is wrong.");
    assert_eq!(ui.value("#email").await, ADMIN, "the e-mail is kept");
    assert_eq!(ui.value("#password").await, "", "the password is not");

    ui.fill("#password", PASSWORD).await;
    ui.press("form[action='/signin']", "Sign in").await;
    // Back to the page first asked for.
    ui.wait_for_path("the users page", |p| p == "/users").await;
    assert_eq!(ui.h1().await, "Users");
    ui.click_link("Overview").await;
    ui.wait_for_path("the Overview", |p| p == "/").await;
    assert_eq!(ui.h1().await, "Acme Corp");
    assert_eq!(
        ui.text("nav.site-nav a[aria-current=page]").await,
        "Overview"
    );
    assert!(ui.text(".account-email").await.contains(ADMIN));

    ui.press(".account-signout", "Sign out").await;
    ui.wait_for_path("the sign-in page", |p| p.starts_with("/signin"))
        .await;
    // Signed out for real: the console asks to sign in again.
    ui.goto("/").await;
    ui.wait_for_path("the sign-in page", |p| p.starts_with("/signin"))
        .await;
    assert_eq!(ui.h1().await, "Sign in");
    ui.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_form_works_with_the_keyboard_alone() {
    let app = TestApp::spawn_sqlite().await;
    let Some(ui) = Ui::open(&app).await else {
        return;
    };
    create_admin(&app, Some(&app.tenant.id), ADMIN).await;
    ui.goto("/signin").await;

    // The e-mail field has the focus on arrival.
    assert_eq!(ui.focused().await, "email");
    ui.type_text(ADMIN).await;
    ui.press_key(&[], Key::Tab).await;
    assert_eq!(ui.focused().await, "password");
    ui.type_text(PASSWORD).await;
    ui.press_key(&[], Key::Tab).await;
    assert_eq!(ui.focused().await, "Sign in", "Tab reaches the button next");
    ui.press_key(&[Key::Shift], Key::Tab).await;
    assert_eq!(ui.focused().await, "password");
    // Enter in the password field submits the form.
    ui.press_key(&[], Key::Enter).await;
    ui.wait_for_path("the Overview", |p| p == "/").await;
    assert_eq!(ui.h1().await, "Acme Corp");

    // The skip link is the first stop on a page and leads to the content.
    ui.press_key(&[], Key::Tab).await;
    assert_eq!(ui.focused().await, "Skip to content");
    ui.press_key(&[], Key::Enter).await;
    ui.wait_for_path("the content", |p| p == "/").await;
    assert_eq!(ui.js("return location.hash").await, "#main");
    // The next Tab lands inside the page's content, past the navigation.
    ui.press_key(&[], Key::Tab).await;
    assert_eq!(
        ui.js("return document.activeElement.closest('main') !== null")
            .await,
        true
    );
    ui.close().await;
}
