//! A bounded load generator: `concurrency` workers send requests until a
//! request count or a duration is reached, whichever comes first, and record
//! every latency in a histogram.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::json;

/// One measurement's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct LoadResult {
    pub name: String,
    pub concurrency: usize,
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// CPU time the server process spent per request (user + system), in
    /// microseconds: what a request costs, independent of how busy the
    /// machine was with the load generator.
    pub server_cpu_us: Option<f64>,
    /// When this is the median of several runs: how far they spread.
    pub spread: Option<Spread>,
}

/// The range of several runs of one measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Spread {
    pub runs: usize,
    pub requests_per_second_min: f64,
    pub requests_per_second_max: f64,
    pub server_cpu_us_min: Option<f64>,
    pub server_cpu_us_max: Option<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

impl LoadResult {
    /// Several runs of one measurement as one: the median of each figure,
    /// with the range of requests per second and server CPU time.
    pub fn median_of(runs: &[LoadResult]) -> Option<LoadResult> {
        let first = runs.first()?;
        let field = |f: fn(&LoadResult) -> f64| median(runs.iter().map(f).collect());
        let cpu: Vec<f64> = runs.iter().filter_map(|r| r.server_cpu_us).collect();
        let rps = runs.iter().map(|r| r.requests_per_second);
        Some(LoadResult {
            name: first.name.clone(),
            concurrency: first.concurrency,
            requests: runs.iter().map(|r| r.requests).sum(),
            errors: runs.iter().map(|r| r.errors).sum(),
            seconds: runs.iter().map(|r| r.seconds).sum(),
            requests_per_second: field(|r| r.requests_per_second),
            p50_ms: field(|r| r.p50_ms),
            p90_ms: field(|r| r.p90_ms),
            p99_ms: field(|r| r.p99_ms),
            max_ms: runs.iter().map(|r| r.max_ms).fold(0.0, f64::max),
            server_cpu_us: (!cpu.is_empty()).then(|| median(cpu.clone())),
            spread: Some(Spread {
                runs: runs.len(),
                requests_per_second_min: rps.clone().fold(f64::INFINITY, f64::min),
                requests_per_second_max: rps.fold(0.0, f64::max),
                server_cpu_us_min: cpu.iter().copied().reduce(f64::min),
                server_cpu_us_max: cpu.iter().copied().reduce(f64::max),
            }),
        })
    }

    pub fn row(&self) -> String {
        format!(
            "{:<40} {:>10.0} {:>15} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7} {:>9}",
            self.name,
            self.requests_per_second,
            self.spread.as_ref().map_or_else(String::new, |s| format!(
                "{:.0}–{:.0}",
                s.requests_per_second_min, s.requests_per_second_max
            )),
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms,
            self.errors,
            self.server_cpu_us
                .map_or_else(|| "-".to_string(), |us| format!("{us:.0}"))
        )
    }

    pub fn line(&self) -> String {
        format!(
            "{}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            self.name, self.requests_per_second, self.p50_ms, self.p99_ms, self.errors
        )
    }
}

pub fn client(concurrency: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency.max(1))
        .tcp_nodelay(true)
        .build()?)
}

/// What each request is.
pub enum Target {
    /// Entra's hot path: `GET /Users?filter=userName eq "…"`, hits (existing
    /// users) and misses (random names) alternating.
    HotPath {
        /// The SCIM base URL, `http://host:port/scim/v2`.
        scim: String,
        token: String,
        users: usize,
    },
}

impl Target {
    pub fn hot_path(scim: &str, token: &str, users: usize) -> Target {
        Target::HotPath {
            scim: scim.to_string(),
            token: token.to_string(),
            users,
        }
    }

    fn request(&self, client: &reqwest::Client, n: u64) -> reqwest::RequestBuilder {
        match self {
            Target::HotPath { scim, token, users } => {
                let name = if n.is_multiple_of(2) && *users > 0 {
                    // Spread hits over the whole tenant.
                    super::user_name(((n / 2).wrapping_mul(7919) % *users as u64) as usize)
                } else {
                    format!(
                        "{:08x}-miss@bench.example",
                        n.wrapping_mul(2_654_435_761) & 0xffff_ffff
                    )
                };
                let filter = format!("userName eq \"{name}\"");
                let q: String = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("filter", &filter)
                    .finish();
                client.get(format!("{scim}/Users?{q}")).bearer_auth(token)
            }
        }
    }
}

/// Runs `target` with `concurrency` workers; stops at `max_requests` or
/// `max_duration`.
///
/// Each worker is a task of its own, so the client's work (building the
/// requests, reading the answers) spreads over the runtime's threads. Run
/// as futures of one task, it all ran on one thread: measuring the ceiling,
/// that thread was the bottleneck (a whole core's worth of CPU time, the
/// runtime's two threads a fifth of one each), and the ceiling measured
/// the client rather than the machine, moving with however much of a core
/// that one thread got.
pub async fn run(
    client: &reqwest::Client,
    target: &Arc<Target>,
    concurrency: usize,
    max_requests: u64,
    max_duration: Duration,
) -> LoadResult {
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + max_duration;
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (client, target) = (client.clone(), Arc::clone(target));
            let (counter, errors) = (Arc::clone(&counter), Arc::clone(&errors));
            tokio::spawn(async move {
                let mut h = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)
                    .expect("histogram bounds are valid");
                loop {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    if n >= max_requests || Instant::now() >= deadline {
                        break;
                    }
                    let t = Instant::now();
                    if !succeeded(target.request(&client, n).send().await).await {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = h.record(t.elapsed().as_micros().max(1) as u64);
                }
                h
            })
        })
        .collect();
    let mut histograms = Vec::with_capacity(workers.len());
    for worker in workers {
        // A worker that panicked has no histogram; its requests are
        // missing from the count rather than invented.
        if let Ok(h) = worker.await {
            histograms.push(h);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    summarize(
        String::new(),
        concurrency,
        histograms,
        errors.load(Ordering::Relaxed),
        elapsed,
    )
}

/// Whether a request was answered with success (its body read in full).
async fn succeeded(sent: reqwest::Result<reqwest::Response>) -> bool {
    match sent {
        Ok(resp) => {
            let ok = resp.status().is_success();
            let _ = resp.bytes().await;
            ok
        }
        Err(_) => false,
    }
}

fn summarize(
    name: String,
    concurrency: usize,
    histograms: Vec<Histogram<u64>>,
    errors: u64,
    seconds: f64,
) -> LoadResult {
    let mut all =
        Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds are valid");
    for h in &histograms {
        let _ = all.add(h);
    }
    let ms = |q: f64| all.value_at_quantile(q) as f64 / 1000.0;
    LoadResult {
        name,
        concurrency,
        requests: all.len(),
        errors,
        seconds,
        requests_per_second: if seconds > 0.0 {
            all.len() as f64 / seconds
        } else {
            0.0
        },
        p50_ms: ms(0.5),
        p90_ms: ms(0.9),
        p99_ms: ms(0.99),
        max_ms: all.max() as f64 / 1000.0,
        server_cpu_us: None,
        spread: None,
    }
}

/// Up to 2,000 user creates, eight in flight, each with a new user name.
pub async fn creates(
    client: &reqwest::Client,
    scim: &str,
    token: &str,
    name: &str,
    max_duration: Duration,
) -> LoadResult {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let run_id = &run_id[..8];
    run_requests(name, 8, 2000, max_duration, |n| {
        client
            .post(format!("{scim}/Users"))
            .bearer_auth(token)
            .header("content-type", "application/scim+json")
            .body(
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("new{n}-{run_id}@bench.example"),
                    "active": true,
                    "emails": [{"type": "work", "value": format!("new{n}-{run_id}@bench.example"), "primary": true}],
                    "name": {"givenName": "New", "familyName": format!("User {n}")},
                })
                .to_string(),
            )
    })
    .await
}

/// Runs `count` requests built by `make(n)` at `concurrency`, bounded by
/// `max_duration`.
async fn run_requests<F>(
    name: &str,
    concurrency: usize,
    count: u64,
    max_duration: Duration,
    make: F,
) -> LoadResult
where
    F: Fn(u64) -> reqwest::RequestBuilder + Sync,
{
    let counter = AtomicU64::new(0);
    let errors = AtomicU64::new(0);
    let started = Instant::now();
    let deadline = started + max_duration;
    let workers = (0..concurrency).map(|_| async {
        let mut h = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)
            .expect("histogram bounds are valid");
        loop {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            if n >= count || Instant::now() >= deadline {
                break;
            }
            let t = Instant::now();
            if !succeeded(make(n).send().await).await {
                errors.fetch_add(1, Ordering::Relaxed);
            }
            let _ = h.record(t.elapsed().as_micros().max(1) as u64);
        }
        h
    });
    let histograms = futures_util::future::join_all(workers).await;
    let elapsed = started.elapsed().as_secs_f64();
    summarize(
        name.to_string(),
        concurrency,
        histograms,
        errors.load(Ordering::Relaxed),
        elapsed,
    )
}

/// Creates/s, user PATCHes/s, and single-member adds/s into a group that
/// already has 10,000 members. Needs at least 11,000 seeded users for the
/// member measurement (it is skipped with fewer).
pub async fn writes(
    client: &reqwest::Client,
    scim: &str,
    token: &str,
    seeded: usize,
    max_duration: Duration,
) -> anyhow::Result<Vec<LoadResult>> {
    let mut out = Vec::new();
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let run_id = &run_id[..8];

    out.push(creates(client, scim, token, "create user c=8", max_duration).await);

    // PATCH needs ids: a page of seeded users.
    let ids = all_user_ids(client, scim, token, 1000).await?;
    if !ids.is_empty() {
        let patched = run_requests("patch user c=8", 8, 2000, max_duration, |n| {
            let id = &ids[n as usize % ids.len()];
            client
                .patch(format!("{scim}/Users/{id}"))
                .bearer_auth(token)
                .header("content-type", "application/scim+json")
                .body(
                    json!({
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "Replace", "path": "title", "value": format!("Title {n}")}],
                    })
                    .to_string(),
                )
        })
        .await;
        out.push(patched);
    }

    if seeded >= 11_000 {
        let all = all_user_ids(client, scim, token, 11_000).await?;
        let gid = big_group(client, scim, token, &all[..10_000], run_id).await?;
        let extra = &all[10_000..];
        let adds = run_requests("add 1 member to 10k group c=8", 8, extra.len() as u64, max_duration, |n| {
            client
                .patch(format!("{scim}/Groups/{gid}"))
                .bearer_auth(token)
                .header("content-type", "application/scim+json")
                .body(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Add", "path": "members", "value": [{"value": extra[n as usize]}]}]}).to_string())
        })
        .await;
        out.push(adds);
    } else {
        eprintln!("{}", super::MEMBERS_SKIPPED);
    }
    Ok(out)
}

/// A new group with these members, added in Entra-sized batches of 500
/// (not measured); its id.
pub async fn big_group(
    client: &reqwest::Client,
    scim: &str,
    token: &str,
    members: &[String],
    run_id: &str,
) -> anyhow::Result<String> {
    let group: serde_json::Value = client
        .post(format!("{scim}/Groups"))
        .bearer_auth(token)
        .header("content-type", "application/scim+json")
        .body(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("Big group {run_id}")}).to_string())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let gid = group["id"].as_str().unwrap_or_default().to_string();
    for chunk in members.chunks(500) {
        let members: Vec<_> = chunk.iter().map(|id| json!({"value": id})).collect();
        client
            .patch(format!("{scim}/Groups/{gid}"))
            .bearer_auth(token)
            .header("content-type", "application/scim+json")
            .body(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Add", "path": "members", "value": members}]}).to_string())
            .send()
            .await?
            .error_for_status()?;
    }
    Ok(gid)
}

/// The ids of the tenant's first `want` users (fewer when it has fewer),
/// read 1,000 at a time.
pub async fn all_user_ids(
    client: &reqwest::Client,
    scim: &str,
    token: &str,
    want: usize,
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::with_capacity(want);
    let mut start = 1;
    while ids.len() < want {
        let page: serde_json::Value = client
            .get(format!(
                "{scim}/Users?attributes=id&count=1000&startIndex={start}"
            ))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        let got: Vec<String> = page["Resources"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if got.is_empty() {
            break;
        }
        start += got.len();
        ids.extend(got);
    }
    ids.truncate(want);
    Ok(ids)
}
