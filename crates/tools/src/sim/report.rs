//! What a simulation measured and found: requests per kind with latency
//! percentiles, wall time per phase, failed requests and differences, each
//! with the request that caused it.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::Value;

/// What a request was for, as Entra's provisioning log would name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    AuthorizePage,
    TokenClientCredentials,
    TokenCode,
    TokenRefresh,
    TestConnection,
    MatchUser,
    CreateUser,
    GetUser,
    UpdateUser,
    RenameUser,
    DisableUser,
    EnableUser,
    SetManager,
    DeleteUser,
    MatchGroup,
    CreateGroup,
    RenameGroup,
    AddMembers,
    RemoveMembers,
    ListUsers,
    ListGroups,
    GetGroup,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AuthorizePage => "authorize-page",
            Kind::TokenClientCredentials => "token-client-credentials",
            Kind::TokenCode => "token-code",
            Kind::TokenRefresh => "token-refresh",
            Kind::TestConnection => "test-connection",
            Kind::MatchUser => "match-user",
            Kind::CreateUser => "create-user",
            Kind::GetUser => "get-user",
            Kind::UpdateUser => "update-user",
            Kind::RenameUser => "rename-user",
            Kind::DisableUser => "disable-user",
            Kind::EnableUser => "enable-user",
            Kind::SetManager => "set-manager",
            Kind::DeleteUser => "delete-user",
            Kind::MatchGroup => "match-group",
            Kind::CreateGroup => "create-group",
            Kind::RenameGroup => "rename-group",
            Kind::AddMembers => "add-members",
            Kind::RemoveMembers => "remove-members",
            Kind::ListUsers => "list-users",
            Kind::ListGroups => "list-groups",
            Kind::GetGroup => "get-group",
        }
    }
}

/// One request as sent and answered, enough to reproduce it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    pub kind: Kind,
    pub method: String,
    /// Path and query, relative to the SCIM base URL (absolute for OAuth).
    pub path: String,
    /// None when no response arrived (connection error, timeout).
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// The start of the response body, or the transport error.
    pub response: String,
}

impl RequestRecord {
    pub fn one_line(&self) -> String {
        let status = self
            .status
            .map_or_else(|| "no response".to_string(), |s| s.to_string());
        let mut out = format!("{} {} → {status}", self.method, self.path);
        if !self.response.is_empty() {
            let _ = write!(out, ": {}", self.response);
        }
        out
    }
}

/// A request Entra would count as failed.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub problem: String,
    pub request: RequestRecord,
}

/// An attribute of the target that does not match the directory.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    /// `User` or `Group`.
    pub resource: &'static str,
    /// userName or displayName in the directory.
    pub name: String,
    /// The target's id, when the resource was found.
    pub id: Option<String>,
    pub attribute: String,
    pub expected: Value,
    pub actual: Value,
    /// The last request that wrote this attribute, when there was one.
    pub cause: Option<RequestRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    pub kind: Kind,
    pub requests: u64,
    pub failures: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    pub name: String,
    pub wall_ms: f64,
    pub requests: u64,
    pub requests_per_second: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub targets: Vec<String>,
    pub auth: String,
    pub dialect: super::Dialect,
    pub match_attribute: super::MatchAttribute,
    pub seed: u64,
    pub users: usize,
    pub groups: usize,
    pub concurrency: usize,
    pub phases: Vec<PhaseReport>,
    pub requests: Vec<KindReport>,
    pub total_requests: u64,
    pub failed_requests: u64,
    /// Requests per second over the provisioning cycles (not verification).
    pub requests_per_second: f64,
    /// How long the provisioning cycles took (not connecting, not
    /// verification).
    pub cycle_ms: f64,
    pub wall_ms: f64,
    /// The failed requests (the first [`MAX_KEPT`]; `failed_requests`
    /// counts all).
    pub failures: Vec<Failure>,
    pub differences: Vec<Difference>,
}

/// How many failures are kept with their requests.
pub const MAX_KEPT: usize = 1000;
/// How many failures and differences the human report lists.
const MAX_SHOWN: usize = 20;

impl Report {
    /// No failed request and no difference.
    pub fn ok(&self) -> bool {
        self.failed_requests == 0 && self.differences.is_empty()
    }

    /// Requests of one kind.
    pub fn count(&self, kind: Kind) -> u64 {
        self.requests
            .iter()
            .find(|k| k.kind == kind)
            .map_or(0, |k| k.requests)
    }

    pub fn human(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "Entra provisioning simulation against {} ({} auth, {} dialect, match on {})",
            self.targets.join(", "),
            self.auth,
            match self.dialect {
                super::Dialect::Default => "default",
                super::Dialect::AadOptScim062020 => "aadOptscim062020",
            },
            self.match_attribute.as_str(),
        );
        let _ = writeln!(
            o,
            "directory: {} users, {} groups, seed {}; concurrency {}\n",
            self.users, self.groups, self.seed, self.concurrency
        );
        let _ = writeln!(
            o,
            "{:<28} {:>10} {:>9} {:>9}",
            "phase", "wall", "requests", "req/s"
        );
        for p in &self.phases {
            let _ = writeln!(
                o,
                "{:<28} {:>9.2}s {:>9} {:>9.1}",
                p.name,
                p.wall_ms / 1000.0,
                p.requests,
                p.requests_per_second
            );
        }
        let _ = writeln!(
            o,
            "\n{:<26} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9}",
            "request kind", "count", "failed", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        for k in &self.requests {
            let _ = writeln!(
                o,
                "{:<26} {:>8} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
                k.kind.as_str(),
                k.requests,
                k.failures,
                k.p50_ms,
                k.p90_ms,
                k.p99_ms,
                k.max_ms
            );
        }
        let _ = writeln!(
            o,
            "\n{} requests in {:.2}s; {:.1} requests/s during the provisioning cycles",
            self.total_requests,
            self.wall_ms / 1000.0,
            self.requests_per_second
        );
        if !self.failures.is_empty() || self.failed_requests > 0 {
            let _ = writeln!(o, "\nFAILED REQUESTS: {}", self.failed_requests);
            for f in self.failures.iter().take(MAX_SHOWN) {
                let _ = writeln!(o, "  - {}\n    {}", f.problem, f.request.one_line());
            }
            if self.failures.len() > MAX_SHOWN {
                let _ = writeln!(
                    o,
                    "  … {} more (--json lists them)",
                    self.failed_requests - MAX_SHOWN as u64
                );
            }
        }
        if !self.differences.is_empty() {
            let _ = writeln!(o, "\nDIFFERENCES: {}", self.differences.len());
            for d in self.differences.iter().take(MAX_SHOWN) {
                let _ = writeln!(
                    o,
                    "  - {} {:?}{}: {} expected {} but is {}",
                    d.resource,
                    d.name,
                    d.id.as_deref()
                        .map(|i| format!(" (id {i})"))
                        .unwrap_or_default(),
                    d.attribute,
                    d.expected,
                    d.actual
                );
                match &d.cause {
                    Some(c) => {
                        let _ = writeln!(o, "    last written by {}", c.one_line());
                    }
                    None => {
                        let _ = writeln!(o, "    no request wrote it");
                    }
                }
            }
            if self.differences.len() > MAX_SHOWN {
                let _ = writeln!(
                    o,
                    "  … {} more (--json lists them)",
                    self.differences.len() - MAX_SHOWN
                );
            }
        }
        let _ = writeln!(
            o,
            "\nresult: {}",
            if self.ok() {
                "OK: every request succeeded and the target matches the directory".to_string()
            } else {
                format!(
                    "FAILED: {} failed request(s), {} difference(s)",
                    self.failed_requests,
                    self.differences.len()
                )
            }
        );
        o
    }
}

struct KindStats {
    requests: u64,
    failures: u64,
    /// Microseconds.
    latency: Histogram<u64>,
}

/// A write, remembered so that a difference can name the request behind it.
struct Write {
    attrs: Vec<String>,
    request: RequestRecord,
}

#[derive(Default)]
struct Inner {
    kinds: BTreeMap<Kind, KindStats>,
    total: u64,
    failed: u64,
    failures: Vec<Failure>,
    writes: HashMap<String, Vec<Write>>,
    /// `User:<userName>` / `Group:<displayName>` → the target's id.
    aliases: HashMap<String, String>,
}

/// Collects measurements from concurrent requests.
#[derive(Default)]
pub struct Recorder {
    inner: Mutex<Inner>,
}

impl Recorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn request(&self, kind: Kind, latency: Duration) {
        let mut inner = self.lock();
        inner.total += 1;
        let stats = inner.kinds.entry(kind).or_insert_with(|| KindStats {
            requests: 0,
            failures: 0,
            // One microsecond to one hour at three significant digits.
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("constant histogram bounds are valid"),
        });
        stats.requests += 1;
        stats.latency.saturating_record(
            u64::try_from(latency.as_micros())
                .unwrap_or(u64::MAX)
                .max(1),
        );
    }

    pub fn failure(&self, problem: impl Into<String>, request: &RequestRecord) {
        let mut inner = self.lock();
        inner.failed += 1;
        if let Some(s) = inner.kinds.get_mut(&request.kind) {
            s.failures += 1;
        }
        if inner.failures.len() < MAX_KEPT {
            inner.failures.push(Failure {
                problem: problem.into(),
                request: request.clone(),
            });
        }
    }

    /// Remembers that `request` wrote these attributes of resource `id`.
    pub fn wrote(&self, id: &str, attrs: Vec<String>, request: &RequestRecord) {
        self.lock()
            .writes
            .entry(id.to_string())
            .or_default()
            .push(Write {
                attrs,
                request: request.clone(),
            });
    }

    /// Remembers the target's id of a resource known by `name`.
    pub fn set_alias(&self, name: String, id: &str) {
        self.lock().aliases.insert(name, id.to_string());
    }

    pub fn alias(&self, name: &str) -> Option<String> {
        self.lock().aliases.get(name).cloned()
    }

    /// The last request that wrote `attr` of resource `id` (`None` for attr:
    /// any write).
    pub fn last_write(&self, id: &str, attr: Option<&str>) -> Option<RequestRecord> {
        let inner = self.lock();
        inner.writes.get(id)?.iter().rev().find_map(|w| {
            let hit = match attr {
                None => true,
                Some(a) => w.attrs.iter().any(|x| x == a || x == "*"),
            };
            hit.then(|| w.request.clone())
        })
    }

    pub fn total(&self) -> u64 {
        self.lock().total
    }

    pub fn failed(&self) -> u64 {
        self.lock().failed
    }

    pub fn failures(&self) -> Vec<Failure> {
        self.lock().failures.clone()
    }

    pub fn kinds(&self) -> Vec<KindReport> {
        let ms = |us: u64| us as f64 / 1000.0;
        self.lock()
            .kinds
            .iter()
            .map(|(kind, s)| KindReport {
                kind: *kind,
                requests: s.requests,
                failures: s.failures,
                p50_ms: ms(s.latency.value_at_quantile(0.50)),
                p90_ms: ms(s.latency.value_at_quantile(0.90)),
                p99_ms: ms(s.latency.value_at_quantile(0.99)),
                max_ms: ms(s.latency.max()),
            })
            .collect()
    }
}
