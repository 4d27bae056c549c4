//! Load from `wrk`, an independent generator written in C: the figures of
//! `scimgate bench` do not depend on scimgate's own HTTP client sharing the
//! cores with the server. `scripts/install-wrk` installs it (Debian's
//! package). Each measurement is a Lua script that builds the requests and,
//! when wrk is done, prints one line of JSON that [`run`] reads.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;

use super::load::LoadResult;

/// Whether `wrk` can be run.
pub fn available() -> bool {
    Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok_and(|o| !o.stdout.is_empty() || !o.stderr.is_empty())
}

/// What each request is; the Lua function `request()` wrk calls for it.
pub enum Script<'a> {
    /// Entra's hot path: `GET /Users?filter=userName eq "…"`, hits
    /// (existing users, spread over the tenant) and misses alternating.
    HotPath { token: &'a str, users: usize },
    /// `POST /Users`, each with a new user name.
    Creates { token: &'a str, run_id: &'a str },
    /// `PATCH /Users/{id}` replacing `title`, over these ids in turn.
    Patches { token: &'a str, ids: &'a [String] },
    /// `PATCH /Groups/{group}` adding one member, each of `ids` in turn,
    /// then removing them in turn, and so on: every request changes the
    /// group, however long the measurement lasts.
    MemberChanges {
        token: &'a str,
        group: &'a str,
        ids: &'a [String],
    },
}

/// A Lua string literal (the values are ids, tokens and hex: no quoting
/// beyond escaping is needed, but escape anyway).
fn lua_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii_graphic() || c == ' ' => out.push(c),
            c => out.push_str(&format!("\\{}", c as u32)),
        }
    }
    out.push('"');
    out
}

fn lua_list(ids: &[String]) -> String {
    let items: Vec<String> = ids.iter().map(|s| lua_str(s)).collect();
    format!("{{{}}}", items.join(","))
}

impl Script<'_> {
    fn token(&self) -> &str {
        match self {
            Script::HotPath { token, .. }
            | Script::Creates { token, .. }
            | Script::Patches { token, .. }
            | Script::MemberChanges { token, .. } => token,
        }
    }

    /// The script's own part: a `request()` that uses `seq` (the number of
    /// this request across all threads, starting at 0: thread `offset`,
    /// then every `stride`-th).
    fn body(&self) -> String {
        match self {
            Script::HotPath { users, .. } => format!(
                r#"
local users = {users}
function make(seq)
  local name
  if math.floor(seq / stride) % 2 == 0 and users > 0 then
    name = string.format("user%06d@bench.example", (seq * 7919) % users)
  else
    name = string.format("m%010d-miss@bench.example", (seq * 2654435761) % 4294967296)
  end
  return wrk.format("GET", wrk.path .. "/Users?filter=userName%20eq%20%22" .. name:gsub("@", "%%40") .. "%22")
end
"#
            ),
            Script::Creates { run_id, .. } => format!(
                r#"
local run = {run}
wrk.headers["Content-Type"] = "application/scim+json"
function make(seq)
  local name = string.format("new%d-%s@bench.example", seq, run)
  local body = '{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name ..
    '","active":true,"emails":[{{"type":"work","value":"' .. name .. '","primary":true}}],' ..
    '"name":{{"givenName":"New","familyName":"User ' .. seq .. '"}}}}'
  return wrk.format("POST", wrk.path .. "/Users", nil, body)
end
"#,
                run = lua_str(run_id)
            ),
            Script::Patches { ids, .. } => format!(
                r#"
local ids = {ids}
wrk.headers["Content-Type"] = "application/scim+json"
function make(seq)
  local id = ids[(seq % #ids) + 1]
  local body = '{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{{"op":"Replace","path":"title","value":"Title ' .. seq .. '"}}]}}'
  return wrk.format("PATCH", wrk.path .. "/Users/" .. id, nil, body)
end
"#,
                ids = lua_list(ids)
            ),
            Script::MemberChanges { group, ids, .. } => format!(
                r#"
local ids = {ids}
local group = {group}
wrk.headers["Content-Type"] = "application/scim+json"
function make(seq)
  local id = ids[(seq % #ids) + 1]
  local op = "Add"
  if math.floor(seq / #ids) % 2 == 1 then
    op = "Remove"
  end
  local body = '{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{{"op":"' .. op .. '","path":"members","value":[{{"value":"' .. id .. '"}}]}}]}}'
  return wrk.format("PATCH", wrk.path .. "/Groups/" .. group, nil, body)
end
"#,
                ids = lua_list(ids),
                group = lua_str(group)
            ),
        }
    }

    /// The whole script: the shared frame around [`Script::body`].
    fn lua(&self, threads: usize) -> String {
        format!(
            r#"-- scimgate bench: one measurement for wrk
wrk.headers["Authorization"] = {auth}
stride = {threads}
{body}
local next_offset = 0
function setup(thread)
  thread:set("offset", next_offset)
  next_offset = next_offset + 1
end
local k = 0
function request()
  local seq = k * stride + offset
  k = k + 1
  return make(seq)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'SCIMGATE-WRK {{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"#,
            auth = lua_str(&format!("Bearer {}", self.token())),
            body = self.body(),
        )
    }
}

#[derive(Deserialize)]
struct Summary {
    requests: u64,
    duration_us: u64,
    connect: u64,
    read: u64,
    write: u64,
    status: u64,
    timeout: u64,
    p50: u64,
    p90: u64,
    p99: u64,
    max: u64,
}

/// Runs wrk against `scim` (`http://host:port/scim/v2`, which the scripts
/// read back as `wrk.path` to build their paths) with `connections` open
/// connections for `duration` and reads its summary. Two wrk threads (one
/// for a single connection): the machine's cores are shared with the
/// server, as with any generator on the same machine.
pub async fn run(
    scim: &str,
    script: &Script<'_>,
    connections: usize,
    duration: Duration,
    dir: &Path,
) -> anyhow::Result<LoadResult> {
    let threads = connections.clamp(1, 2);
    let path = dir.join(format!("bench-{}.lua", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, script.lua(threads)).context("writing the wrk script")?;
    let mut cmd = tokio::process::Command::new("wrk");
    cmd.arg("-t")
        .arg(threads.to_string())
        .arg("-c")
        .arg(connections.to_string())
        .arg("-d")
        .arg(format!("{}s", duration.as_secs().max(1)))
        // A request slower than this counts as an error, not a latency.
        .arg("--timeout")
        .arg("30s")
        .arg("-s")
        .arg(&path)
        .arg(scim)
        .kill_on_drop(true);
    let out = cmd.output().await.context("running wrk")?;
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SCIMGATE-WRK "))
        .with_context(|| {
            format!(
                "wrk printed no summary (exit {}): {}{}",
                out.status,
                stdout,
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let s: Summary = serde_json::from_str(line).context("reading wrk's summary")?;
    let seconds = s.duration_us as f64 / 1e6;
    let ms = |us: u64| us as f64 / 1000.0;
    Ok(LoadResult {
        name: String::new(),
        concurrency: connections,
        requests: s.requests,
        errors: s.connect + s.read + s.write + s.status + s.timeout,
        seconds,
        requests_per_second: if seconds > 0.0 {
            s.requests as f64 / seconds
        } else {
            0.0
        },
        p50_ms: ms(s.p50),
        p90_ms: ms(s.p90),
        p99_ms: ms(s.p99),
        max_ms: ms(s.max),
        server_cpu_us: None,
        spread: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_strings_are_escaped() {
        assert_eq!(lua_str(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(lua_str("x\ny"), r#""x\10y""#);
        assert_eq!(lua_list(&["a".into(), "b".into()]), r#"{"a","b"}"#);
    }
}
