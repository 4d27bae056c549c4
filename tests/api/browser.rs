//! Driving the console like a browser: a cookie-keeping client that does
//! not follow redirects, HTML forms parsed from the real pages (so tests
//! send exactly the fields, tokens and actions a browser would), and
//! helpers for accounts, OAuth clients and the sign-in and consent steps.

use reqwest::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use scimgate::store::activity::Actor;
use scimgate::store::admins::{self, Admin};
use scimgate::store::clients::{self, Client};
use scraper::{Html, Selector};

use crate::helpers::{Reply, TestApp, send};

/// Name of the console's session cookie.
pub const SESSION_COOKIE: &str = "scimgate_session";
/// Name of the sign-in forms' CSRF cookie.
pub const SIGNIN_COOKIE: &str = "scimgate_signin";

/// The password every test account gets from [`create_admin`].
pub const PASSWORD: &str = "correct horse battery staple";

/// One browser: its own cookie jar, never following redirects.
#[derive(Clone)]
pub struct Browser {
    pub client: reqwest::Client,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

/// An HTML form as a browser would submit it.
#[derive(Debug, Clone)]
pub struct Form {
    /// The `action` attribute as written (a path on this site).
    pub action: String,
    pub method: String,
    /// Named `input` fields with their values, in document order (submit
    /// buttons excluded: see `buttons`).
    pub fields: Vec<(String, String)>,
    /// Named submit buttons: (name, value).
    pub buttons: Vec<(String, String)>,
}

impl Form {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets a field (added when the form has none of that name).
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        match self.fields.iter_mut().find(|(k, _)| k == name) {
            Some(field) => field.1 = value.to_string(),
            None => self.fields.push((name.to_string(), value.to_string())),
        }
        self
    }

    /// Drops a field, as a forged request without it would.
    pub fn remove(&mut self, name: &str) -> &mut Self {
        self.fields.retain(|(k, _)| k != name);
        self
    }

    /// The fields plus the named submit button, as the browser encodes them
    /// when that button is pressed.
    pub fn pressing(&self, button: &str) -> Vec<(String, String)> {
        let mut pairs = self.fields.clone();
        let pressed = self
            .buttons
            .iter()
            .find(|(_, value)| value == button)
            .unwrap_or_else(|| panic!("no submit button with the value {button:?} in {self:?}"));
        pairs.push(pressed.clone());
        pairs
    }
}

/// Every form of a page.
pub fn forms(html: &str) -> Vec<Form> {
    let doc = Html::parse_document(html);
    let form_sel = Selector::parse("form").unwrap();
    let input_sel = Selector::parse("input[name], button[name], textarea[name]").unwrap();
    doc.select(&form_sel)
        .map(|f| {
            let mut fields = Vec::new();
            let mut buttons = Vec::new();
            for el in f.select(&input_sel) {
                let name = el.value().attr("name").unwrap_or_default().to_string();
                let value = if el.value().name() == "textarea" {
                    // A textarea's value is its text; browsers drop one
                    // leading newline.
                    let text: String = el.text().collect();
                    text.strip_prefix('\n').unwrap_or(&text).to_string()
                } else {
                    el.value().attr("value").unwrap_or_default().to_string()
                };
                let kind = el.value().attr("type").unwrap_or_default();
                if el.value().name() == "button" || kind == "submit" {
                    buttons.push((name, value));
                } else {
                    fields.push((name, value));
                }
            }
            Form {
                action: f.value().attr("action").unwrap_or_default().to_string(),
                method: f.value().attr("method").unwrap_or("get").to_lowercase(),
                fields,
                buttons,
            }
        })
        .collect()
}

/// The page's form posting to `action`; panics (showing the page) if none.
#[track_caller]
pub fn form(html: &str, action: &str) -> Form {
    forms(html)
        .into_iter()
        .find(|f| f.action == action)
        .unwrap_or_else(|| panic!("no form posting to {action:?} in the page:\n{html}"))
}

/// The visible text of the page's `<main>`, whitespace collapsed.
pub fn main_text(html: &str) -> String {
    let doc = Html::parse_document(html);
    let sel = Selector::parse("main").unwrap();
    doc.select(&sel)
        .flat_map(|m| m.text())
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `Location` of a redirect; panics unless the reply is a 303.
#[track_caller]
pub fn location(reply: &Reply) -> String {
    assert_eq!(
        reply.status.as_u16(),
        303,
        "expected a 303 redirect; body: {}",
        reply.text
    );
    reply
        .headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("a redirect has a Location")
        .to_string()
}

/// The full `Set-Cookie` line that sets `name`, if the reply sets it.
pub fn set_cookie<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|line| line.starts_with(&format!("{name}=")))
}

/// The value of the session cookie set by the reply, if any.
pub fn session_cookie(reply: &Reply) -> Option<String> {
    set_cookie(reply, SESSION_COOKIE).map(|line| {
        line[SESSION_COOKIE.len() + 1..]
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string()
    })
}

/// Asserts the reply is an HTML page.
#[track_caller]
pub fn expect_html(reply: &Reply) {
    let ct = reply
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        ct.starts_with("text/html"),
        "expected an HTML page, got {ct:?}: {}",
        reply.text
    );
}

impl Browser {
    /// A browser sharing the test app's cookie jar (`app.client`).
    pub fn of(app: &TestApp) -> Browser {
        Browser {
            client: app.client.clone(),
            base: app.base.clone(),
        }
    }

    /// A second, independent browser (its own cookies).
    pub fn fresh(app: &TestApp) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .build()
                .unwrap(),
            base: app.base.clone(),
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// `GET path` (a path on the server, or an absolute URL).
    pub async fn get(&self, path: &str) -> Reply {
        send(self.client.get(self.url(path))).await
    }

    /// POSTs form-encoded pairs to `action`.
    pub async fn post_form(&self, action: &str, pairs: &[(String, String)]) -> Reply {
        send(self.client.post(self.url(action)).form(pairs)).await
    }

    /// Submits a form as it is (no button pressed).
    pub async fn submit(&self, form: &Form) -> Reply {
        assert_eq!(
            form.method, "post",
            "only POST forms are submitted by tests"
        );
        self.post_form(&form.action, &form.fields).await
    }

    /// Submits a form by pressing the submit button with this value.
    pub async fn press(&self, form: &Form, button: &str) -> Reply {
        self.post_form(&form.action, &form.pressing(button)).await
    }

    /// Opens `/signin?next=…` (or the given sign-in URL), fills in the form
    /// and submits it. Returns the reply to the POST.
    pub async fn sign_in_at(&self, signin_path: &str, email: &str, password: &str) -> Reply {
        let page = self.get(signin_path).await;
        page.expect(200);
        let mut f = form(&page.text, "/signin");
        f.set("email", email).set("password", password);
        self.submit(&f).await
    }

    /// Signs in from `/signin`; asserts success (303 to `/`).
    pub async fn sign_in(&self, email: &str, password: &str) {
        let r = self.sign_in_at("/signin", email, password).await;
        assert_eq!(location(&r), "/", "sign-in failed: {}", r.text);
    }

    /// Signs out with the form of the home page; asserts the redirect.
    pub async fn sign_out(&self) {
        let home = self.get("/").await;
        home.expect(200);
        let r = self.submit(&form(&home.text, "/signout")).await;
        assert_eq!(location(&r), "/signin");
    }

    /// Walks `GET /oauth/authorize?<query>` through sign-in (when needed) to
    /// the consent page, and returns that page's reply (200 when shown).
    pub async fn authorize_as(&self, query: &str, email: &str, password: &str) -> Reply {
        let path = format!("/oauth/authorize?{query}");
        let first = self.get(&path).await;
        if first.status.as_u16() != 303 {
            return first;
        }
        let to_signin = location(&first);
        if !to_signin.starts_with("/signin") {
            return first;
        }
        let signed = self.sign_in_at(&to_signin, email, password).await;
        let back = location(&signed);
        assert_eq!(
            back, path,
            "sign-in must return to the authorization request"
        );
        self.get(&back).await
    }

    /// Presses Approve or Deny (`decision` = "approve" | "deny") on a consent
    /// page and returns the `Location` the browser is sent to.
    pub async fn decide(&self, consent_page: &Reply, decision: &str) -> String {
        consent_page.expect(200);
        let f = form(&consent_page.text, "/oauth/authorize");
        location(&self.press(&f, decision).await)
    }
}

/// Creates a console account with [`PASSWORD`]: an admin of `tenant_id`, or
/// an operator when None.
pub async fn create_admin(app: &TestApp, tenant_id: Option<&str>, email: &str) -> Admin {
    let hash = scimgate::password::hash(PASSWORD.to_string())
        .await
        .expect("hash");
    admins::create(&app.db, tenant_id, email, &hash, &Actor::operator())
        .await
        .expect("create admin")
}

/// Registers an OAuth client of `tenant_id` with Entra's redirect URIs;
/// returns it with its secret.
pub async fn create_entra_client(app: &TestApp, tenant_id: &str, name: &str) -> (Client, String) {
    let uris: Vec<String> = clients::ENTRA_REDIRECT_URIS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (client, _, secret) =
        clients::create(&app.db, tenant_id, name, &uris, 730, &Actor::operator())
            .await
            .expect("create client");
    (client, secret)
}

/// The query Entra sends to `/oauth/authorize`: `redirect_uri` percent-
/// encoded with lower-case escapes, and `state` as given (may be empty).
pub fn entra_query(client_id: &str, state: &str) -> String {
    format!(
        "response_type=code&client_id={client_id}&redirect_uri=https%3a%2f%2fportal.azure.com%2fTokenAuthorize&state={state}"
    )
}

/// Signs in (if needed) and approves `client_id` for Entra; returns the code
/// sent back to `https://portal.azure.com/TokenAuthorize`.
pub async fn entra_code(browser: &Browser, client_id: &str, email: &str) -> String {
    let consent = browser
        .authorize_as(&entra_query(client_id, "1"), email, PASSWORD)
        .await;
    let back = browser.decide(&consent, "approve").await;
    let url = url::Url::parse(&back).expect("absolute redirect");
    url.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {back}"))
}
