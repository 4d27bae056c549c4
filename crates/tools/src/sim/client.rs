//! HTTP to the target, as Entra's provisioning service does it: the three
//! ways of authenticating, token refresh at cycle start, a bounded number of
//! requests in flight, round-robin over several base URLs, and every request
//! measured and recorded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use reqwest::Method;
use serde_json::Value;
use tokio::sync::{RwLock, Semaphore};

use super::report::{Kind, Recorder, RequestRecord};
use super::{AuthMode, Options};

/// How much of a body a record keeps.
const EXCERPT: usize = 400;
/// Pages and redirects the authorize flow follows before giving up.
const MAX_AUTHORIZE_STEPS: usize = 12;

/// An answered (or failed) request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// 0 when no response arrived.
    pub status: u16,
    pub body: Value,
    pub record: RequestRecord,
}

impl Reply {
    pub fn success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

struct Token {
    access: String,
    refresh: Option<String>,
    expires_at: Option<Instant>,
}

/// A SCIM base URL split so that resource paths go before its query (Entra
/// keeps the Tenant URL's `?aadOptscim062020` on every request).
struct Base {
    path: String,
    query: Option<String>,
}

pub struct Client {
    http: reqwest::Client,
    bases: Vec<Base>,
    next: AtomicUsize,
    limit: Semaphore,
    auth: AuthMode,
    timeout: Duration,
    token: RwLock<Option<Token>>,
    /// After a `429`, Entra holds every request of the job until the
    /// `Retry-After` has passed, then sends the refused one again.
    paused_until: std::sync::Mutex<Option<Instant>>,
    pub rec: Recorder,
}

/// Times one request is sent again after `429` before it counts as failed.
const MAX_THROTTLED: usize = 20;

fn excerpt(s: &str) -> String {
    let s = s.trim();
    if s.len() <= EXCERPT {
        return s.to_string();
    }
    let mut end = EXCERPT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Percent-encodes everything but RFC 3986 unreserved characters, with
/// lower-case hex digits as Entra sends its redirect URI.
fn encode_lower(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

impl Client {
    /// Builds the client and obtains the first access token (running the
    /// browser flow in authorize mode).
    pub async fn connect(opts: &Options) -> anyhow::Result<Client> {
        if opts.base_urls.is_empty() {
            bail!("give at least one SCIM base URL (--base-url https://host/scim/v2)");
        }
        let mut bases = Vec::new();
        for raw in &opts.base_urls {
            let url = url::Url::parse(raw.trim())
                .with_context(|| format!("the base URL {raw:?} is not an absolute URL"))?;
            if !matches!(url.scheme(), "http" | "https") {
                bail!("the base URL {raw:?} must start with http:// or https://");
            }
            let mut path_url = url.clone();
            path_url.set_query(None);
            path_url.set_fragment(None);
            let mut query: Vec<String> = url
                .query()
                .filter(|q| !q.is_empty())
                .map(|q| vec![q.to_string()])
                .unwrap_or_default();
            if let Some(flag) = opts.dialect.url_flag()
                && !url.query_pairs().any(|(k, _)| k.eq_ignore_ascii_case(flag))
            {
                query.push(flag.to_string());
            }
            bases.push(Base {
                path: path_url.as_str().trim_end_matches('/').to_string(),
                query: (!query.is_empty()).then(|| query.join("&")),
            });
        }
        let http = reqwest::Client::builder()
            // Entra does not follow redirects from a SCIM endpoint, and the
            // authorize flow must catch the one to Entra's TokenAuthorize.
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .pool_max_idle_per_host(opts.concurrency.max(1))
            .build()
            .context("building the HTTP client")?;
        let client = Client {
            http,
            bases,
            next: AtomicUsize::new(0),
            limit: Semaphore::new(opts.concurrency.max(1)),
            auth: opts.auth.clone(),
            timeout: opts.request_timeout,
            paused_until: std::sync::Mutex::new(None),
            token: RwLock::new(None),
            rec: Recorder::default(),
        };
        match &client.auth {
            AuthMode::SecretToken { .. } => {}
            AuthMode::ClientCredentials { .. } => client.client_credentials().await?,
            AuthMode::Authorize { .. } => client.authorize().await?,
        }
        Ok(client)
    }

    /// What Entra does at the start of each cycle: get a new access token
    /// when the current one has expired (or always, when `force`).
    pub async fn cycle_start(&self, force: bool) -> anyhow::Result<()> {
        let expired = {
            let t = self.token.read().await;
            t.as_ref()
                .and_then(|t| t.expires_at)
                .is_some_and(|at| Instant::now() >= at)
        };
        if !(expired || force) {
            return Ok(());
        }
        match &self.auth {
            AuthMode::SecretToken { .. } => Ok(()),
            AuthMode::ClientCredentials { .. } => self.client_credentials().await,
            AuthMode::Authorize { .. } => self.refresh().await,
        }
    }

    async fn bearer(&self) -> String {
        match &self.auth {
            AuthMode::SecretToken { token } => token.clone(),
            _ => self
                .token
                .read()
                .await
                .as_ref()
                .map(|t| t.access.clone())
                .unwrap_or_default(),
        }
    }

    /// Sends a SCIM request to the next base URL. `query` is form-encoded the
    /// way Entra encodes it (`+` for spaces). Statuses outside 2xx, other than
    /// those in `allowed`, are recorded as failures.
    pub async fn scim(
        &self,
        kind: Kind,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        allowed: &[u16],
    ) -> Reply {
        let base = &self.bases[self.next.fetch_add(1, Ordering::Relaxed) % self.bases.len()];
        let own_query = form_encode(query);
        let full_query = [
            base.query.clone(),
            (!own_query.is_empty()).then_some(own_query.clone()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("&");
        let url = if full_query.is_empty() {
            format!("{}{path}", base.path)
        } else {
            format!("{}{path}?{full_query}", base.path)
        };
        let shown = if own_query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{own_query}")
        };
        let mut req = self
            .http
            .request(method.clone(), url)
            .bearer_auth(self.bearer().await)
            .timeout(self.timeout);
        let body_text = body.map(Value::to_string);
        if let Some(b) = &body_text {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/scim+json")
                .body(b.clone());
        }
        let mut throttled = 0;
        let reply = loop {
            let pause = *self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(until) = pause {
                tokio::time::sleep_until(until.into()).await;
            }
            let retry = req.try_clone();
            let (reply, retry_after) = {
                let _permit = self.limit.acquire().await;
                self.send(kind, method.clone(), shown.clone(), req, body_text.clone())
                    .await
            };
            match (reply.status, retry) {
                (429, Some(again)) if throttled < MAX_THROTTLED => {
                    throttled += 1;
                    let until = Instant::now() + retry_after.unwrap_or(Duration::from_secs(1));
                    let mut paused = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
                    if paused.is_none_or(|p| p < until) {
                        *paused = Some(until);
                    }
                    req = again;
                }
                _ => break reply,
            }
        };
        if !reply.success() && !allowed.contains(&reply.status) {
            let problem = if reply.status == 0 {
                "no response".to_string()
            } else {
                format!("answered {} where Entra expects success", reply.status)
            };
            self.rec.failure(problem, &reply.record);
        }
        reply
    }

    /// Sends, times and records one request.
    async fn send(
        &self,
        kind: Kind,
        method: Method,
        shown: String,
        req: reqwest::RequestBuilder,
        request_body: Option<String>,
    ) -> (Reply, Option<Duration>) {
        let started = Instant::now();
        let result = async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s.min(60)));
            let text = resp.text().await?;
            Ok::<_, reqwest::Error>((status, retry_after, text))
        }
        .await;
        self.rec.request(kind, started.elapsed());
        let (status, retry_after, text) = match result {
            Ok(r) => r,
            Err(e) => (0, None, format!("{e:#}")),
        };
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        let reply = Reply {
            status,
            body,
            record: RequestRecord {
                kind,
                method: method.to_string(),
                path: shown,
                status: (status != 0).then_some(status),
                request_body: request_body.map(|b| excerpt(&b)),
                response: excerpt(&text),
            },
        };
        (reply, retry_after)
    }

    /// A token request; the response must carry an access token.
    async fn token_request(
        &self,
        kind: Kind,
        token_url: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> anyhow::Result<Token> {
        let mut req = self
            .http
            .post(token_url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form_encode(form))
            .timeout(self.timeout);
        if let Some((id, secret)) = basic {
            // RFC 6749 §2.3.1: each part form-encoded before base64.
            let pair = format!("{}:{}", form_encode_part(id), form_encode_part(secret));
            req = req.header(
                reqwest::header::AUTHORIZATION,
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ),
            );
        }
        let shown_form: Vec<(&str, &str)> = form
            .iter()
            .map(|(k, v)| {
                if matches!(*k, "client_secret" | "code" | "refresh_token") {
                    (*k, "…")
                } else {
                    (*k, *v)
                }
            })
            .collect();
        let (reply, _) = self
            .send(
                kind,
                Method::POST,
                token_url.to_string(),
                req,
                Some(form_encode(&shown_form)),
            )
            .await;
        if reply.status != 200 {
            self.rec
                .failure("the token request was refused", &reply.record);
            bail!(
                "the token endpoint refused the {} request: {}",
                kind.as_str(),
                reply.record.one_line()
            );
        }
        let access = reply.body["access_token"].as_str().unwrap_or_default();
        let token_type = reply.body["token_type"].as_str().unwrap_or_default();
        if access.is_empty() || !token_type.eq_ignore_ascii_case("bearer") {
            self.rec.failure(
                "the token response has no bearer access_token",
                &reply.record,
            );
            bail!(
                "the token response carries no bearer access_token: {}",
                reply.record.one_line()
            );
        }
        Ok(Token {
            access: access.to_string(),
            refresh: reply.body["refresh_token"].as_str().map(str::to_string),
            expires_at: reply.body["expires_in"]
                .as_u64()
                .map(|s| Instant::now() + Duration::from_secs(s)),
        })
    }

    async fn client_credentials(&self) -> anyhow::Result<()> {
        let AuthMode::ClientCredentials {
            client_id,
            client_secret,
            token_url,
        } = &self.auth
        else {
            return Ok(());
        };
        let token = self
            .token_request(
                Kind::TokenClientCredentials,
                token_url,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_secret", client_secret),
                ],
                None,
            )
            .await?;
        *self.token.write().await = Some(token);
        Ok(())
    }

    async fn refresh(&self) -> anyhow::Result<()> {
        let AuthMode::Authorize {
            client_id,
            client_secret,
            token_url,
            ..
        } = &self.auth
        else {
            return Ok(());
        };
        let current = self
            .token
            .read()
            .await
            .as_ref()
            .and_then(|t| t.refresh.clone());
        let Some(refresh) = current else {
            bail!(
                "the access token expired and the token endpoint gave no refresh token; authorize again"
            );
        };
        let mut token = self
            .token_request(
                Kind::TokenRefresh,
                token_url,
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
                Some((client_id, client_secret)),
            )
            .await?;
        // A server that does not rotate refresh tokens keeps the old one valid.
        if token.refresh.is_none() {
            token.refresh = Some(refresh);
        }
        *self.token.write().await = Some(token);
        Ok(())
    }

    /// The admin's part of **Authorize**: open the authorization URL in a
    /// "browser" (cookie jar, no automatic redirects), fill in and submit
    /// whatever sign-in and consent forms the server shows, stop at the
    /// redirect to Entra's TokenAuthorize URL, then exchange the code.
    async fn authorize(&self) -> anyhow::Result<()> {
        let AuthMode::Authorize {
            client_id,
            client_secret,
            authorize_url,
            token_url,
            redirect_uri,
            email,
            password,
        } = &self.auth
        else {
            return Ok(());
        };
        let state = uuid::Uuid::new_v4().simple().to_string();
        let sep = if authorize_url.contains('?') {
            '&'
        } else {
            '?'
        };
        let start = format!(
            "{authorize_url}{sep}response_type=code&client_id={}&redirect_uri={}&state={state}",
            encode_lower(client_id),
            encode_lower(redirect_uri)
        );
        let mut url = url::Url::parse(&start).with_context(|| {
            format!("the authorization URL {authorize_url:?} is not an absolute URL")
        })?;
        let redirect = url::Url::parse(redirect_uri)
            .with_context(|| format!("the redirect URI {redirect_uri:?} is not an absolute URL"))?;
        let mut post: Option<String> = None;
        let mut signed_in = false;
        let mut code = None;
        for _ in 0..MAX_AUTHORIZE_STEPS {
            let method = if post.is_some() {
                Method::POST
            } else {
                Method::GET
            };
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .timeout(self.timeout);
            if let Some(form) = post.take() {
                req = req
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(form);
            }
            let page = self.browse(method, &url, req).await?;
            if (300..400).contains(&page.status) {
                let Some(location) = page.location else {
                    bail!("{url} redirected without a Location header");
                };
                let next = url
                    .join(&location)
                    .with_context(|| format!("the redirect to {location:?} is not a valid URL"))?;
                if same_endpoint(&next, &redirect) {
                    code = Some(take_code(&next, &state)?);
                    break;
                }
                url = next;
                continue;
            }
            if page.status != 200 {
                // A sign-in page shown again (often as 401 or 422) means the
                // credentials were refused: say so with the page's message.
                if signed_in
                    && let Some(form) = forms::pick(&page.text, &url)
                    && form.has_password
                {
                    bail!(
                        "signing in as {email} failed ({}): {}",
                        page.status,
                        form.alert
                            .unwrap_or_else(|| "the sign-in form came back".into())
                    );
                }
                bail!(
                    "the authorize flow stopped: {url} answered {}: {}",
                    page.status,
                    excerpt(&page.text)
                );
            }
            let page = page.text;
            let Some(form) = forms::pick(&page, &url) else {
                bail!(
                    "the page at {url} has no form to sign in or approve with: {}",
                    excerpt(&page)
                );
            };
            if form.has_password {
                if signed_in {
                    bail!(
                        "signing in as {email} failed: {}",
                        form.alert
                            .unwrap_or_else(|| "the sign-in form came back".into())
                    );
                }
                signed_in = true;
            }
            let fields = form.fill(email, password);
            url = form.action;
            if form.method_post {
                post = Some(form_encode(
                    &fields
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect::<Vec<_>>(),
                ));
            } else {
                let q = form_encode(
                    &fields
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect::<Vec<_>>(),
                );
                url.set_query(Some(&q));
            }
        }
        let Some(code) = code else {
            bail!(
                "the authorize flow did not reach {redirect_uri} within {MAX_AUTHORIZE_STEPS} pages"
            );
        };
        let token = self
            .token_request(
                Kind::TokenCode,
                token_url,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", redirect_uri),
                ],
                Some((client_id, client_secret)),
            )
            .await?;
        *self.token.write().await = Some(token);
        Ok(())
    }

    /// One browser request of the authorize flow: status, Location and the
    /// whole page.
    async fn browse(
        &self,
        method: Method,
        url: &url::Url,
        req: reqwest::RequestBuilder,
    ) -> anyhow::Result<Page> {
        let started = Instant::now();
        let result = async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let text = resp.text().await?;
            Ok::<_, reqwest::Error>(Page {
                status,
                location,
                text,
            })
        }
        .await;
        self.rec.request(Kind::AuthorizePage, started.elapsed());
        result.with_context(|| format!("{method} {url} got no response"))
    }
}

struct Page {
    status: u16,
    location: Option<String>,
    text: String,
}

fn form_encode_part(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Same scheme, host, port and path (case-insensitive host and path, as
/// Entra's redirect URIs differ only in case).
fn same_endpoint(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path().eq_ignore_ascii_case(b.path())
}

/// The code from the redirect to Entra, checking that `state` came back.
fn take_code(redirect: &url::Url, state: &str) -> anyhow::Result<String> {
    let get = |name: &str| {
        redirect
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(error) = get("error") {
        bail!(
            "the authorization server answered {error}: {}",
            get("error_description").unwrap_or_default()
        );
    }
    if get("state").as_deref() != Some(state) {
        bail!("the redirect to Entra did not echo the state parameter: {redirect}");
    }
    get("code").ok_or_else(|| anyhow::anyhow!("the redirect to Entra carries no code: {redirect}"))
}

/// Reading HTML forms the way a browser submits them, without knowing the
/// server: any sign-in form (a password field) or consent form (an approve
/// button) will do.
mod forms {
    use scraper::{ElementRef, Html, Selector};

    #[derive(Debug)]
    enum Field {
        Email,
        Password,
        Plain(String),
    }

    #[derive(Debug)]
    pub struct Form {
        pub action: url::Url,
        pub method_post: bool,
        pub has_password: bool,
        /// The page's error message, if it shows one.
        pub alert: Option<String>,
        fields: Vec<(String, Field)>,
        approve: Option<(String, String)>,
    }

    impl Form {
        /// The name/value pairs to submit, with the credentials filled in and
        /// the approve button pressed.
        pub fn fill(&self, email: &str, password: &str) -> Vec<(String, String)> {
            let mut out: Vec<(String, String)> = self
                .fields
                .iter()
                .map(|(name, f)| {
                    let v = match f {
                        Field::Email => email.to_string(),
                        Field::Password => password.to_string(),
                        Field::Plain(v) => v.clone(),
                    };
                    (name.clone(), v)
                })
                .collect();
            if let Some(a) = &self.approve {
                out.push(a.clone());
            }
            out
        }
    }

    fn sel(s: &str) -> Option<Selector> {
        Selector::parse(s).ok()
    }

    fn is_approve(e: &ElementRef) -> bool {
        let v = e.value();
        let value = v.attr("value").unwrap_or_default().to_ascii_lowercase();
        let text = e.text().collect::<String>().trim().to_ascii_lowercase();
        [
            "approve",
            "allow",
            "accept",
            "authorize",
            "authorise",
            "consent",
        ]
        .iter()
        .any(|w| value == *w || (value.is_empty() && text.starts_with(w)))
    }

    /// The form to submit on this page: a sign-in form first, else a form
    /// with an approve button, else the only form.
    pub fn pick(html: &str, page: &url::Url) -> Option<Form> {
        let doc = Html::parse_document(html);
        let form_sel = sel("form")?;
        let input_sel = sel("input, select, textarea")?;
        let button_sel = sel("button, input[type=submit]")?;
        let alert_sel = sel("[role=alert], .alert, .error")?;
        let forms: Vec<ElementRef> = doc.select(&form_sel).collect();
        let has_password = |f: &ElementRef| {
            f.select(&input_sel).any(|i| {
                i.value()
                    .attr("type")
                    .is_some_and(|t| t.eq_ignore_ascii_case("password"))
            })
        };
        let has_approve = |f: &ElementRef| f.select(&button_sel).any(|b| is_approve(&b));
        let chosen = forms
            .iter()
            .find(|f| has_password(f))
            .or_else(|| forms.iter().find(|f| has_approve(f)))
            .or_else(|| (forms.len() == 1).then(|| &forms[0]))?;
        let action = match chosen.value().attr("action").map(str::trim) {
            None | Some("") => page.clone(),
            Some(a) => page.join(a).ok()?,
        };
        let method_post = chosen
            .value()
            .attr("method")
            .is_some_and(|m| m.eq_ignore_ascii_case("post"));
        let mut fields = Vec::new();
        for input in chosen.select(&input_sel) {
            let v = input.value();
            let Some(name) = v.attr("name").filter(|n| !n.is_empty()) else {
                continue;
            };
            if v.attr("disabled").is_some() {
                continue;
            }
            let ty = v.attr("type").unwrap_or("text").to_ascii_lowercase();
            let value = v.attr("value").unwrap_or_default().to_string();
            let lname = name.to_ascii_lowercase();
            let field = match ty.as_str() {
                "submit" | "button" | "image" | "reset" | "file" => continue,
                "checkbox" | "radio" if v.attr("checked").is_none() => continue,
                "password" => Field::Password,
                "email" => Field::Email,
                "text" if ["email", "user", "login"].iter().any(|w| lname.contains(w)) => {
                    Field::Email
                }
                _ => Field::Plain(value),
            };
            fields.push((name.to_string(), field));
        }
        let approve = chosen
            .select(&button_sel)
            .find(|b| is_approve(b))
            .and_then(|b| {
                let v = b.value();
                Some((
                    v.attr("name")?.to_string(),
                    v.attr("value").unwrap_or_default().to_string(),
                ))
            });
        let alert = doc
            .select(&alert_sel)
            .map(|a| {
                a.text()
                    .collect::<String>()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .find(|t| !t.is_empty());
        Some(Form {
            action,
            method_post,
            has_password: has_password(chosen),
            alert,
            fields,
            approve,
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn fills_a_sign_in_form_and_presses_approve() {
            let page = url::Url::parse("http://h/oauth/authorize?x=1").unwrap();
            let signin = r#"<form method="post" action="/signin">
                <input type="hidden" name="csrf" value="c1"><input type="hidden" name="next" value="/n">
                <input name="email" type="email"><input name="password" type="password">
                <button type="submit">Sign in</button></form>"#;
            let f = pick(signin, &page).unwrap();
            assert!(f.has_password && f.method_post);
            assert_eq!(f.action.as_str(), "http://h/signin");
            assert_eq!(
                f.fill("a@b.c", "pw"),
                vec![
                    ("csrf".to_string(), "c1".to_string()),
                    ("next".into(), "/n".into()),
                    ("email".into(), "a@b.c".into()),
                    ("password".into(), "pw".into()),
                ]
            );
            let consent = r#"<form method="post"><input type="hidden" name="csrf" value="c2">
                <button name="decision" value="approve">Approve</button>
                <button name="decision" value="deny">Deny</button></form>"#;
            let f = pick(consent, &page).unwrap();
            assert_eq!(f.action, page);
            assert_eq!(
                f.fill("", ""),
                vec![
                    ("csrf".into(), "c2".into()),
                    ("decision".into(), "approve".into())
                ]
            );
        }
    }
}
