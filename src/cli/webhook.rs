use clap::Subcommand;
use serde::Serialize;

use super::{print, tenant_by_slug};
use crate::store::Db;
use crate::store::events::types;
use crate::store::webhooks::{self as store, Delivery, Webhook};
use crate::webhooks::{self, Settings};

/// How long the replaced secret keeps signing after a rotation.
const ROTATION_HOURS: i64 = 24;

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Register an endpoint of the product; it receives the events
    /// committed from now on (the signing secret is printed once).
    Create {
        /// Where to POST the events (http:// or https://).
        #[arg(long)]
        url: String,
        /// Only this tenant's events (default: every tenant's).
        #[arg(long)]
        tenant: Option<String>,
        /// Only these event types, comma-separated (default: all).
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
    },
    /// List the endpoints and their health.
    List,
    /// Delete an endpoint and its delivery record.
    Delete { id: String },
    /// A new signing secret; for 24 hours both the new and the old sign.
    RotateSecret { id: String },
    /// Turn on again an endpoint that was disabled after failing for the
    /// whole retry window; delivery resumes where it stopped.
    Enable { id: String },
    /// Send a `webhook.test` message now and show the answer.
    Test { id: String },
    /// The latest delivery attempts of an endpoint, newest first.
    Deliveries {
        id: String,
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
    },
    /// Send the event of an earlier attempt again, now.
    Redeliver { delivery_id: String },
}

#[derive(Serialize)]
struct Created<'a> {
    id: &'a str,
    secret: &'a str,
    url: &'a str,
    tenant: Option<&'a str>,
    events: Option<&'a [String]>,
}

fn check_url(url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("--url {url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        anyhow::bail!("--url must be an http:// or https:// URL, not {url:?}");
    }
    Ok(())
}

fn health(h: &Webhook) -> String {
    match (&h.disabled_at, &h.failing_since) {
        (Some(at), _) => format!("disabled since {at}"),
        (None, Some(since)) => format!("failing since {since}"),
        (None, None) => "healthy".to_string(),
    }
}

fn delivery_line(d: &Delivery) -> String {
    format!(
        "{:<36} {:<24} {:<21} {:<16} {:>3} {:>6} {:>7} {}",
        d.id,
        d.at,
        crate::events::event_id(d.event_position),
        d.event_type,
        d.attempt,
        d.status.map_or("-".to_string(), |s| s.to_string()),
        d.latency_ms.map_or("-".to_string(), |l| format!("{l}ms")),
        match &d.error {
            Some(e) => format!("{} {e}", d.outcome),
            None => d.outcome.clone(),
        }
    )
}

async fn existing(db: &Db, id: &str) -> anyhow::Result<Webhook> {
    store::get(db, id).await?.ok_or_else(|| {
        anyhow::anyhow!("no webhook with the id {id:?}; `scimgate webhook list` shows the ids")
    })
}

pub async fn run(db: &Db, cmd: WebhookCommand, json: bool) -> anyhow::Result<()> {
    let settings = Settings::default();
    match cmd {
        WebhookCommand::Create {
            url,
            tenant,
            events,
        } => {
            check_url(&url)?;
            for t in &events {
                if !types::ALL.contains(&t.as_str()) {
                    anyhow::bail!(
                        "unknown event type {t:?}; the types are {}",
                        types::ALL.join(", ")
                    );
                }
            }
            let tenant = match tenant {
                Some(slug) => Some(tenant_by_slug(db, &slug).await?),
                None => None,
            };
            let secret = webhooks::new_secret();
            let types = (!events.is_empty()).then_some(events.as_slice());
            let hook = store::create(
                db,
                tenant.as_ref().map(|t| t.id.as_str()),
                &url,
                types,
                &secret,
            )
            .await?;
            let slug = tenant.as_ref().map(|t| t.slug.as_str());
            print(
                json,
                &Created {
                    id: &hook.id,
                    secret: &secret,
                    url: &hook.url,
                    tenant: slug,
                    events: types,
                },
                || {
                    format!(
                        "created webhook {} for {} ({})\n\n  signing secret: {secret}\n\nThis is the only time the secret is shown: the endpoint verifies each delivery's webhook-signature with it (Standard Webhooks).",
                        hook.id,
                        slug.map_or("every tenant".to_string(), |s| format!("tenant {s}")),
                        types.map_or("every event type".to_string(), |t| t.join(", ")),
                    )
                },
            )
        }
        WebhookCommand::List => {
            let hooks = store::list(db).await?;
            let mut rows = Vec::new();
            for h in &hooks {
                let backlog = store::backlog(db, &h.id, 100_000).await?;
                rows.push(serde_json::json!({
                    "webhook": h, "health": health(h), "backlog": backlog,
                }));
            }
            print(json, &rows, || {
                if hooks.is_empty() {
                    return "there are no webhooks; `scimgate webhook create --url URL` registers one"
                        .to_string();
                }
                let mut out = String::new();
                for (h, r) in hooks.iter().zip(&rows) {
                    out.push_str(&format!(
                        "{}  {}\n  tenant: {}  events: {}  {}  backlog: {}{}\n",
                        h.id,
                        h.url,
                        h.tenant_id.as_deref().unwrap_or("(all)"),
                        h.event_types
                            .as_ref()
                            .map_or("all".to_string(), |t| t.join(",")),
                        health(h),
                        r["backlog"],
                        h.disabled_reason
                            .as_ref()
                            .map_or(String::new(), |r| format!("\n  disabled: {r}")),
                    ));
                }
                out.trim_end().to_string()
            })
        }
        WebhookCommand::Delete { id } => {
            if !store::delete(db, &id).await? {
                anyhow::bail!(
                    "no webhook with the id {id:?}; `scimgate webhook list` shows the ids"
                );
            }
            print(
                json,
                &serde_json::json!({"id": id, "deleted": true}),
                || format!("deleted webhook {id}"),
            )
        }
        WebhookCommand::RotateSecret { id } => {
            existing(db, &id).await?;
            let secret = webhooks::new_secret();
            let until = crate::store::format_time(
                chrono::Utc::now() + chrono::Duration::hours(ROTATION_HOURS),
            );
            store::rotate_secret(db, &id, &secret, &until).await?;
            print(
                json,
                &serde_json::json!({"id": id, "secret": secret, "previous_secret_until": until}),
                || {
                    format!(
                        "new signing secret for {id}:\n\n  {secret}\n\nUntil {until} every delivery carries two signatures, one with each secret; update the endpoint before then."
                    )
                },
            )
        }
        WebhookCommand::Enable { id } => {
            existing(db, &id).await?;
            store::enable(db, &id).await?;
            print(
                json,
                &serde_json::json!({"id": id, "enabled": true}),
                || format!("webhook {id} is enabled; delivery resumes where it stopped"),
            )
        }
        WebhookCommand::Test { id } => {
            let hook = existing(db, &id).await?;
            let d = webhooks::send_test(db, &hook, &settings).await?;
            let ok = d.status.is_some_and(|s| (200..300).contains(&s));
            print(json, &d, || delivery_line(&d))?;
            if !ok {
                anyhow::bail!("the endpoint did not acknowledge the test message");
            }
            Ok(())
        }
        WebhookCommand::Deliveries { id, limit } => {
            existing(db, &id).await?;
            let list = store::deliveries(db, &id, limit).await?;
            print(json, &list, || {
                if list.is_empty() {
                    return format!("no delivery to {id} yet");
                }
                let mut out = format!(
                    "{:<36} {:<24} {:<21} {:<16} {:>3} {:>6} {:>7} {}\n",
                    "ID", "AT", "EVENT", "TYPE", "TRY", "STATUS", "TIME", "OUTCOME"
                );
                for d in &list {
                    out.push_str(&delivery_line(d));
                    out.push('\n');
                }
                out.trim_end().to_string()
            })
        }
        WebhookCommand::Redeliver { delivery_id } => {
            let earlier = store::delivery(db, &delivery_id).await?.ok_or_else(|| {
                anyhow::anyhow!(
                    "no delivery with the id {delivery_id:?}; `scimgate webhook deliveries ID` shows them"
                )
            })?;
            let Some(d) = webhooks::redeliver(db, &earlier, &settings).await? else {
                anyhow::bail!(
                    "the event of {delivery_id} is no longer kept (pruned, or a test message)"
                );
            };
            print(json, &d, || delivery_line(&d))
        }
    }
}
