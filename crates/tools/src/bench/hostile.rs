//! `scimgate bench --hostile`: the requests a careless or hostile client
//! can send that cost the most memory or hold the database longest, against
//! a real `scimgate serve` process, with the process's own memory
//! (`RssAnon`) read before, at its peak during (sampled every 20 ms) and
//! after each case.
//!
//! The cases: eight unindexed filters and sorts at once on a tenant of
//! `users` users; eight `GET /Groups?count=1000` at once over twenty groups
//! of 10,000 members; eight `GET /Groups/{id}` at once of a group of 20,000
//! members; a PATCH adding 40,000 e-mails with another tenant's
//! create sent meanwhile. (A mapping save beside other tenants' writes is
//! measured by `cargo test --test api mapping_perf -- --ignored`, where the
//! save runs in the server's own process.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::{Process, ScratchDatabase, Tenant};

/// One case's outcome.
#[derive(Debug, Serialize)]
pub struct Case {
    pub name: String,
    /// Statuses answered, with how many of each.
    pub statuses: Vec<(u16, usize)>,
    /// The slowest request of the case, in seconds.
    pub slowest_s: f64,
    pub rss_anon_before_mib: Option<f64>,
    pub rss_anon_peak_mib: Option<f64>,
    pub rss_anon_after_mib: Option<f64>,
    /// What else was measured (the other tenant's wait, body sizes).
    pub note: String,
}

impl Case {
    pub fn line(&self) -> String {
        let mib = |v: Option<f64>| v.map_or("?".to_string(), |m| format!("{m:.0}"));
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{n}×{s}"))
            .collect();
        format!(
            "{:<58} {:<12} slowest {:>6.2} s   RssAnon {} → peak {} → {} MiB   {}",
            self.name,
            statuses.join(" "),
            self.slowest_s,
            mib(self.rss_anon_before_mib),
            mib(self.rss_anon_peak_mib),
            mib(self.rss_anon_after_mib),
            self.note
        )
    }
}

#[derive(Debug, Serialize)]
pub struct HostileReport {
    pub users: usize,
    pub cases: Vec<Case>,
}

impl HostileReport {
    pub fn human(&self) -> String {
        let mut out = format!(
            "Hostile and oversized requests, SQLite, a tenant of {} users (server RssAnon, MiB)\n",
            self.users
        );
        for c in &self.cases {
            out.push_str(&c.line());
            out.push('\n');
        }
        out
    }
}

/// Samples the server's `RssAnon` every 20 ms until stopped; the peak.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Option<f64>>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut peak: Option<f64> = None;
            while !flag.load(Ordering::Relaxed) {
                if let Some(m) = rss_anon(pid) {
                    peak = Some(peak.map_or(m, |p: f64| p.max(m)));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        });
        Sampler { stop, task }
    }

    async fn peak(self) -> Option<f64> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.ok().flatten()
    }
}

fn rss_anon(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// A request's status, time and body size.
async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<&Value>,
) -> (u16, Duration, usize, Value) {
    let began = Instant::now();
    let mut req = client.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let bytes = r.bytes().await.unwrap_or_default();
            let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            (status, began.elapsed(), bytes.len(), value)
        }
        Err(_) => (0, began.elapsed(), 0, Value::Null),
    }
}

fn tally(statuses: &[u16]) -> Vec<(u16, usize)> {
    let mut out: Vec<(u16, usize)> = Vec::new();
    for &s in statuses {
        match out.iter_mut().find(|(k, _)| *k == s) {
            Some((_, n)) => *n += 1,
            None => out.push((s, 1)),
        }
    }
    out.sort();
    out
}

/// Eight GETs of `url` at once: the case, and the answers.
async fn eight_at_once(
    client: &reqwest::Client,
    pid: u32,
    name: String,
    url: String,
    token: &str,
) -> (Case, Vec<(u16, Duration, usize, Value)>) {
    let before = rss_anon(pid);
    let sampler = Sampler::start(pid);
    let runs = (0..8).map(|_| send(client, reqwest::Method::GET, url.clone(), token, None));
    let results = futures_util::future::join_all(runs).await;
    let peak = sampler.peak().await;
    let case = Case {
        name,
        statuses: tally(&results.iter().map(|r| r.0).collect::<Vec<_>>()),
        slowest_s: results
            .iter()
            .map(|r| r.1.as_secs_f64())
            .fold(0.0, f64::max),
        rss_anon_before_mib: before,
        rss_anon_peak_mib: peak,
        rss_anon_after_mib: rss_anon(pid),
        note: String::new(),
    };
    (case, results)
}

/// Runs every case on a fresh SQLite database.
pub async fn run<D: ScratchDatabase>(users: usize) -> anyhow::Result<HostileReport> {
    let db = D::create(None, "hostile.db").await?;
    let result = measure_cases(&db, users).await;
    db.remove().await;
    result
}

async fn measure_cases<D: ScratchDatabase>(db: &D, users: usize) -> anyhow::Result<HostileReport> {
    let Tenant { id: tenant, token } = db.tenant("acme", "Acme").await?;
    let Tenant {
        token: other_token, ..
    } = db.tenant("globex", "Globex").await?;
    eprintln!("seeding {users} users…");
    db.seed_users(&tenant, 0, users).await?;
    let server = Process::spawn::<D>(&["serve"], &[("SCIMGATE_DATABASE_URL", db.url())])?;
    let pid = server.child.id();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let scim = |path: &str| format!("{}{path}", server.scim);
    let mut cases = Vec::new();

    // Eight unindexed filters and sorts at once.
    for query in [
        "/Users?filter=title%20eq%20%22x%22",
        "/Users?filter=title%20eq%20%22x%22&sortBy=title",
        "/Users?sortBy=title&count=100",
        "/Users?filter=name.givenName%20sw%20%22B%22&sortBy=name.familyName&startIndex=500&count=100",
    ] {
        let name = format!("8 × GET {}", query.replace("%20", " ").replace("%22", "\""));
        let (case, _) = eight_at_once(&client, pid, name, scim(query), &token).await;
        cases.push(case);
        eprintln!("{}", cases.last().map(Case::line).unwrap_or_default());
    }

    // Twenty groups of 10,000 members, listed eight times at once.
    let ids = db.user_ids(&tenant, 0).await?;
    let members: Vec<Value> = ids.iter().map(|id| json!({ "value": id })).collect();
    for g in 0..20 {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": format!("Everyone {g:02}"),
            "members": members,
        });
        let (status, ..) = send(
            &client,
            reqwest::Method::POST,
            scim("/Groups"),
            &token,
            Some(&body),
        )
        .await;
        anyhow::ensure!(status == 201, "creating a large group answered {status}");
    }
    {
        let name = format!(
            "8 × GET /Groups?count=1000 (20 groups × {} members)",
            ids.len()
        );
        let (mut case, results) =
            eight_at_once(&client, pid, name, scim("/Groups?count=1000"), &token).await;
        let biggest = results.iter().map(|r| r.2).max().unwrap_or(0);
        let per_page = results
            .first()
            .map_or(Value::Null, |r| r.3["itemsPerPage"].clone());
        case.note = format!(
            "itemsPerPage {per_page}, body {:.1} MB",
            biggest as f64 / 1e6
        );
        cases.push(case);
        eprintln!("{}", cases.last().map(Case::line).unwrap_or_default());
    }

    // One group of 20,000 members (the first listed grows by PATCH), read
    // eight times at once: written a page of members at a time.
    {
        let more = db.user_ids(&tenant, 10_000).await?;
        let (_, _, _, listed) = send(
            &client,
            reqwest::Method::GET,
            scim("/Groups?count=1&excludedAttributes=members"),
            &token,
            None,
        )
        .await;
        let gid = listed["Resources"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let patch = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members",
                "value": more.iter().map(|id| json!({ "value": id })).collect::<Vec<_>>()}],
        });
        let (status, ..) = send(
            &client,
            reqwest::Method::PATCH,
            scim(&format!("/Groups/{gid}")),
            &token,
            Some(&patch),
        )
        .await;
        anyhow::ensure!(status == 204, "growing the group answered {status}");
        let name = format!(
            "8 × GET /Groups/{{id}} ({} members)",
            ids.len() + more.len()
        );
        let (mut case, results) =
            eight_at_once(&client, pid, name, scim(&format!("/Groups/{gid}")), &token).await;
        let members = results
            .first()
            .and_then(|r| r.3["members"].as_array().map(Vec::len))
            .unwrap_or(0);
        let biggest = results.iter().map(|r| r.2).max().unwrap_or(0);
        case.note = format!("{members} members, body {:.1} MB", biggest as f64 / 1e6);
        cases.push(case);
        eprintln!("{}", cases.last().map(Case::line).unwrap_or_default());
    }

    // A PATCH adding 40,000 e-mails; another tenant's create meanwhile.
    {
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "many-emails@bench.example",
        });
        let (_, _, _, created) = send(
            &client,
            reqwest::Method::POST,
            scim("/Users"),
            &token,
            Some(&user),
        )
        .await;
        let id = created["id"].as_str().unwrap_or_default().to_string();
        let emails: Vec<Value> = (0..40_000)
            .map(|i| json!({ "value": format!("m{i}@x.io") }))
            .collect();
        let patch = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "emails", "value": emails}],
        });
        let before = rss_anon(pid);
        let sampler = Sampler::start(pid);
        let big = send(
            &client,
            reqwest::Method::PATCH,
            scim(&format!("/Users/{id}")),
            &token,
            Some(&patch),
        );
        let meanwhile = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let body = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "meanwhile@globex.example",
            });
            send(
                &client,
                reqwest::Method::POST,
                scim("/Users"),
                &other_token,
                Some(&body),
            )
            .await
        };
        let (big, other) = tokio::join!(big, meanwhile);
        let peak = sampler.peak().await;
        cases.push(Case {
            name: format!(
                "PATCH adding 40,000 e-mails ({} KiB)",
                patch.to_string().len() / 1024
            ),
            statuses: tally(&[big.0]),
            slowest_s: big.1.as_secs_f64(),
            rss_anon_before_mib: before,
            rss_anon_peak_mib: peak,
            rss_anon_after_mib: rss_anon(pid),
            note: format!(
                "another tenant's create meanwhile: {} in {:.2} s",
                other.0,
                other.1.as_secs_f64()
            ),
        });
        eprintln!("{}", cases.last().map(Case::line).unwrap_or_default());
    }

    drop(server);
    Ok(HostileReport { users, cases })
}
