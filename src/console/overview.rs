//! A tenant admin's landing page (`GET /`): is the identity provider
//! connected and healthy? Its connections and their last use, the last SCIM
//! request, requests and failures per hour over the last day, the directory's
//! size, and warnings before Entra quarantines the job or a credential
//! expires.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Duration, Timelike as _, Utc};

use super::activity::LogRow;
use super::nav::{Nav, Section, tenant_of};
use super::present::{When, thousands};
use super::{ConsoleError, render};
use crate::console::session::CurrentAdmin;
use crate::http::AppState;
use crate::store::{admins, clients, format_time, grants, listings, resources, tenants, tokens};

/// Entra quarantines a provisioning job when more than 40% of its requests
/// fail; the overview warns well before, once there are enough requests for
/// a rate to mean something.
pub const WARN_FAILURE_PERCENT: i64 = 20;
pub const WARN_MIN_REQUESTS: i64 = 20;
/// Credentials expiring within this many days are flagged.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// One way the identity provider can reach the SCIM API.
#[derive(Debug, Clone)]
pub struct ConnectionView {
    /// "Secret token", "OAuth (authorization code)", "OAuth (client credentials)".
    pub kind: &'static str,
    pub name: String,
    /// A secret token's hint, or who approved an OAuth grant.
    pub detail: String,
    pub created: When,
    pub last_used: Option<When>,
    pub expires: Option<When>,
    /// `ok`, `warn` or `bad`, with words for it.
    pub health: &'static str,
    pub health_text: String,
}

#[derive(Debug, Clone)]
pub struct Warning {
    pub title: String,
    pub text: String,
    pub href: &'static str,
    pub link: &'static str,
}

/// One hour of the chart: a bar of successes stacked on one of failures.
#[derive(Debug, Clone)]
pub struct Bar {
    /// `10:00`.
    pub label: String,
    pub x: i64,
    pub ok_y: i64,
    pub ok_height: i64,
    pub fail_y: i64,
    pub fail_height: i64,
    pub requests: i64,
    pub failures: i64,
    /// Whether the hour's label is drawn under the axis.
    pub show_label: bool,
}

/// The chart's geometry, in SVG user units.
pub const CHART_WIDTH: i64 = 480;
pub const CHART_HEIGHT: i64 = 150;
const PLOT_TOP: i64 = 10;
const PLOT_BOTTOM: i64 = 120;
const SLOT: i64 = CHART_WIDTH / 24;
const BAR: i64 = SLOT - 6;

#[derive(Template)]
#[template(path = "overview/index.html")]
pub struct OverviewPage {
    pub nav: Nav,
    pub email: String,
    pub tenant_name: String,
    pub tenant_slug: String,
    pub scim_url: String,
    pub users_total: String,
    pub users_active: String,
    pub users_inactive: String,
    pub groups: String,
    pub connections: Vec<ConnectionView>,
    pub last_request: Option<LogRow>,
    pub requests: String,
    pub failures: String,
    pub failure_rate: String,
    pub bars: Vec<Bar>,
    /// The busiest hour's count, the chart's scale.
    pub peak: i64,
    pub chart_width: i64,
    pub chart_height: i64,
    pub baseline: i64,
    pub warnings: Vec<Warning>,
}

fn days_until(stored: &str, now: DateTime<Utc>) -> Option<i64> {
    DateTime::parse_from_rfc3339(stored)
        .ok()
        // Whole days, rounded up: a credential minted for 10 days still
        // "expires in 10 days" a moment later.
        .map(|t| ((t.with_timezone(&Utc) - now).num_seconds() + 86_399).div_euclid(86_400))
}

/// `ok`/`warn`/`bad` and words for a credential expiring at `expires`.
fn expiry_health(expires: Option<&str>, now: DateTime<Utc>) -> (&'static str, String) {
    match expires.and_then(|e| days_until(e, now).map(|d| (e, d))) {
        None => ("ok", "Active".to_string()),
        Some((e, _)) if e <= format_time(now).as_str() => ("bad", "Expired".to_string()),
        Some((_, d)) if d < EXPIRY_WARNING_DAYS => (
            "warn",
            match d {
                ..=1 => "Expires within a day".to_string(),
                d => format!("Expires in {d} days"),
            },
        ),
        Some(_) => ("ok", "Active".to_string()),
    }
}

/// The 24 hours ending with the current one, oldest first, and the chart's
/// bars for them.
fn chart(hourly: &[(String, i64, i64)], now: DateTime<Utc>) -> (Vec<Bar>, i64) {
    let current = now
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now);
    let hours: Vec<DateTime<Utc>> = (0..24)
        .rev()
        .map(|h| current - Duration::hours(h))
        .collect();
    let counts: Vec<(i64, i64)> = hours
        .iter()
        .map(|h| {
            let key = h.format("%Y-%m-%dT%H").to_string();
            hourly
                .iter()
                .find(|(k, _, _)| *k == key)
                .map(|(_, n, f)| (*n, *f))
                .unwrap_or((0, 0))
        })
        .collect();
    let peak = counts.iter().map(|(n, _)| *n).max().unwrap_or(0);
    let scale = |n: i64| {
        if peak == 0 {
            0
        } else {
            // At least one unit, so a single request still shows.
            ((n * (PLOT_BOTTOM - PLOT_TOP) + peak - 1) / peak).max(i64::from(n > 0))
        }
    };
    let bars = hours
        .iter()
        .zip(counts)
        .enumerate()
        .map(|(i, (h, (n, f)))| {
            let total = scale(n);
            let fail_height = scale(f).min(total);
            let ok_height = total - fail_height;
            let i = i64::try_from(i).unwrap_or(0);
            Bar {
                label: h.format("%H:00").to_string(),
                x: i * SLOT + (SLOT - BAR) / 2,
                fail_y: PLOT_BOTTOM - fail_height,
                fail_height,
                ok_y: PLOT_BOTTOM - total,
                ok_height,
                requests: n,
                failures: f,
                show_label: i % 6 == 0 || i == 23,
            }
        })
        .collect();
    (bars, peak)
}

/// The overview of a tenant admin (`GET /` dispatches here).
pub async fn show(state: AppState, current: CurrentAdmin) -> Result<Response, ConsoleError> {
    let tenant_id = tenant_of(&current)?.to_string();
    let db = state.db();
    let now = Utc::now();
    let tenant = tenants::by_id(db, &tenant_id).await?;
    let (users_total, users_active, groups) = resources::totals(db, &tenant_id).await?;

    let mut warnings = Vec::new();
    let mut connections = Vec::new();
    for t in tokens::list(db, &tenant_id).await? {
        if t.revoked_at.is_some() {
            continue;
        }
        let (health, health_text) = expiry_health(t.expires_at.as_deref(), now);
        if health != "ok" {
            warnings.push(Warning {
                title: format!("Secret token “{}”: {}", t.name, health_text.to_lowercase()),
                text: if health == "bad" {
                    "Requests made with it are refused. Create a new secret token and paste it into Entra's Secret Token field.".to_string()
                } else {
                    "Create a new secret token and paste it into Entra's Secret Token field before then, or provisioning stops.".to_string()
                },
                href: "/connections",
                link: "Manage connections",
            });
        }
        connections.push(ConnectionView {
            kind: "Secret token",
            name: t.name.clone(),
            detail: t.hint.clone(),
            created: When::new(&t.created_at, now),
            last_used: When::opt(t.last_used_at.as_deref(), now),
            expires: When::opt(t.expires_at.as_deref(), now),
            health,
            health_text,
        });
    }

    let all_clients = clients::list(db, &tenant_id).await?;
    let token_use = listings::grant_token_use(db, &tenant_id).await?;
    let mut open_grants = Vec::new();
    for g in grants::list(db, &tenant_id).await? {
        if g.revoked_at.is_some() {
            continue;
        }
        open_grants.push(g.client_id.clone());
        let client = all_clients.iter().find(|c| c.id == g.client_id);
        let last_used = [
            g.last_used_at.clone(),
            token_use
                .iter()
                .find(|(id, _)| *id == g.id)
                .map(|(_, t)| t.clone()),
        ]
        .into_iter()
        .flatten()
        .max();
        let (kind, detail) = if g.kind == grants::KIND_CLIENT_CREDENTIALS {
            (
                "OAuth (client credentials)",
                "client id and secret".to_string(),
            )
        } else {
            let by = match &g.admin_id {
                Some(a) => admins::by_id(db, a).await?.map(|a| a.email),
                None => None,
            };
            (
                "OAuth (authorization code)",
                match by {
                    Some(email) => format!("approved by {email}"),
                    None => "approved in the console".to_string(),
                },
            )
        };
        connections.push(ConnectionView {
            kind,
            name: client
                .map(|c| c.name.clone())
                .unwrap_or_else(|| g.client_id.clone()),
            detail,
            created: When::new(&g.created_at, now),
            last_used: When::opt(last_used.as_deref(), now),
            expires: None,
            health: "ok",
            health_text: "Active".to_string(),
        });
    }

    // A client's secrets rotate: only the one that lasts longest matters.
    for c in all_clients.iter().filter(|c| c.revoked_at.is_none()) {
        let secrets = clients::secrets(db, &c.id).await?;
        let Some(longest) = secrets
            .iter()
            .filter(|s| s.revoked_at.is_none())
            .max_by(|a, b| a.expires_at.cmp(&b.expires_at))
        else {
            continue;
        };
        let (health, health_text) = expiry_health(Some(&longest.expires_at), now);
        // A client no grant was opened for yet is a connection waiting to
        // be used: Entra has its id and secret but got no token.
        if !open_grants.contains(&c.id) {
            connections.push(ConnectionView {
                kind: "OAuth client",
                name: c.name.clone(),
                detail: "no token issued yet".to_string(),
                created: When::new(&c.created_at, now),
                last_used: When::opt(
                    secrets
                        .iter()
                        .filter_map(|s| s.last_used_at.as_deref())
                        .max(),
                    now,
                ),
                expires: Some(When::new(&longest.expires_at, now)),
                health,
                health_text: health_text.clone(),
            });
        }
        if health != "ok" {
            warnings.push(Warning {
                title: format!("Client secret of “{}”: {}", c.name, health_text.to_lowercase()),
                text: if health == "bad" {
                    "Entra can no longer get tokens with it. Add a new client secret and enter it in Entra.".to_string()
                } else {
                    "Add a new client secret and enter it in Entra before then; the old one keeps working until it expires.".to_string()
                },
                href: "/connections",
                link: "Manage connections",
            });
        }
    }

    let since = now
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now)
        - Duration::hours(23);
    let hourly = listings::hourly_requests(db, &tenant_id, &format_time(since)).await?;
    let (bars, peak) = chart(&hourly, now);
    let requests: i64 = bars.iter().map(|b| b.requests).sum();
    let failures: i64 = bars.iter().map(|b| b.failures).sum();
    let failure_rate = if requests == 0 {
        "—".to_string()
    } else {
        format!("{:.1}%", failures as f64 * 100.0 / requests as f64)
    };
    if requests >= WARN_MIN_REQUESTS && failures * 100 > requests * WARN_FAILURE_PERCENT {
        warnings.insert(
            0,
            Warning {
                title: format!("{failure_rate} of requests failed in the last 24 hours"),
                text: format!(
                    "{} of {} requests failed. Microsoft Entra puts a provisioning job in quarantine when more than 40% of its requests fail; look at the failures to see why.",
                    thousands(failures),
                    thousands(requests)
                ),
                href: "/activity?outcome=failure",
                link: "See the failures",
            },
        );
    }
    let last_request = listings::last_scim_request(db, &tenant_id)
        .await?
        .map(|e| LogRow::new(&e, now));

    let (tenant_name, tenant_slug) = match tenant {
        Some(t) => (t.name, t.slug),
        None => (tenant_id.clone(), String::new()),
    };
    let page = OverviewPage {
        nav: Nav::build(&state, &current, Section::Overview).await?,
        email: current.admin.email.clone(),
        tenant_name,
        tenant_slug,
        scim_url: state.scim_base(),
        users_total: thousands(users_total),
        users_active: thousands(users_active),
        users_inactive: thousands(users_total - users_active),
        groups: thousands(groups),
        connections,
        last_request,
        requests: thousands(requests),
        failures: thousands(failures),
        failure_rate,
        bars,
        peak,
        chart_width: CHART_WIDTH,
        chart_height: CHART_HEIGHT,
        baseline: PLOT_BOTTOM,
        warnings,
    };
    Ok(render(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn chart_covers_the_last_24_hours_scaled_to_the_peak() {
        let now = at("2026-11-23T10:30:00Z");
        let (bars, peak) = chart(
            &[
                ("2026-11-23T10".to_string(), 10, 5),
                ("2026-11-22T11".to_string(), 1, 0),
                ("2026-11-22T10".to_string(), 99, 99),
            ],
            now,
        );
        assert_eq!(bars.len(), 24);
        assert_eq!(peak, 10, "the hour 24 hours ago is outside the chart");
        assert_eq!(bars[0].label, "11:00");
        assert_eq!(bars[0].requests, 1);
        assert_eq!(
            bars[0].ok_height, 11,
            "one request of ten is a tenth of the plot"
        );
        assert_eq!(bars[23].label, "10:00");
        assert_eq!(bars[23].fail_height, 55);
        assert_eq!(bars[23].ok_height, 55);
        assert_eq!(bars[23].ok_y, PLOT_TOP);
        assert_eq!(bars[23].fail_y + bars[23].fail_height, PLOT_BOTTOM);
        assert!(
            bars[1..23]
                .iter()
                .all(|b| b.requests == 0 && b.ok_height == 0)
        );
    }

    #[test]
    fn expiry_is_flagged_within_thirty_days() {
        let now = at("2026-11-23T10:00:00Z");
        assert_eq!(expiry_health(None, now).0, "ok");
        assert_eq!(expiry_health(Some("2027-01-23T10:00:00.000Z"), now).0, "ok");
        assert_eq!(
            expiry_health(Some("2026-12-03T11:00:00.000Z"), now),
            ("warn", "Expires in 11 days".to_string())
        );
        assert_eq!(
            expiry_health(Some("2026-11-22T10:00:00.000Z"), now).0,
            "bad"
        );
    }
}
