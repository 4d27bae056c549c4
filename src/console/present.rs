//! Presentation helpers shared by the console's read pages: times for
//! people, paging links, the log's quirks and field-level changes in plain
//! words, and a last guard that keeps anything token-shaped off the pages.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::secret::{ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX, SECRET_TOKEN_PREFIX};
use crate::store::activity::Recorded;
use crate::store::listings::Cursor;

/// How every console page writes an exact time: `2026-11-23 10:04:05 UTC`.
/// Year first, so that times read and sort the same in every locale.
const EXACT: &str = "%Y-%m-%d %H:%M:%S UTC";

/// A time as the console writes it exactly (see [`EXACT`]).
pub fn exact(t: DateTime<Utc>) -> String {
    t.format(EXACT).to_string()
}

/// A stored RFC 3339 time as the console writes it exactly
/// ("2026-11-02 10:04:30 UTC"); the stored text when it does not parse.
pub fn when(stored: &str) -> String {
    match DateTime::parse_from_rfc3339(stored) {
        Ok(t) => exact(t.with_timezone(&Utc)),
        Err(_) => stored.to_string(),
    }
}

/// [`when`] of an optional time, or `none`.
pub fn when_or(stored: Option<&str>, none: &str) -> String {
    stored.map(when).unwrap_or_else(|| none.to_string())
}

/// A stored time as a page shows it: exact (for `datetime` and the tooltip)
/// and relative ("5 minutes ago").
#[derive(Debug, Clone, Default)]
pub struct When {
    /// The stored RFC 3339 value.
    pub iso: String,
    /// `2026-11-23 10:04:05 UTC`.
    pub full: String,
    /// `5 minutes ago`, `in 3 days`.
    pub relative: String,
}

impl When {
    pub fn new(stored: &str, now: DateTime<Utc>) -> When {
        match DateTime::parse_from_rfc3339(stored) {
            Ok(t) => {
                let t = t.with_timezone(&Utc);
                When {
                    iso: stored.to_string(),
                    full: exact(t),
                    relative: relative(t, now),
                }
            }
            Err(_) => When {
                iso: stored.to_string(),
                full: stored.to_string(),
                relative: stored.to_string(),
            },
        }
    }

    pub fn opt(stored: Option<&str>, now: DateTime<Utc>) -> Option<When> {
        stored.map(|s| When::new(s, now))
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// "just now", "5 minutes ago", "in 3 days"…
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    let future = secs < 0;
    let s = secs.abs();
    if s < 45 {
        return "just now".to_string();
    }
    let span = if s < 90 * 60 {
        plural((s + 30) / 60, "minute")
    } else if s < 36 * 3600 {
        plural((s + 1800) / 3600, "hour")
    } else if s < 60 * 86400 {
        plural((s + 43200) / 86400, "day")
    } else if s < 730 * 86400 {
        plural(s / (30 * 86400), "month")
    } else {
        plural(s / (365 * 86400), "year")
    };
    if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A list cursor in a URL: the sort key and id of a row, as unpadded
/// base64url JSON (keys are arbitrary text: user names may hold anything).
pub fn encode_cursor(key: &str, id: &str) -> String {
    let json = Value::Array(vec![key.into(), id.into()]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

pub fn decode_cursor(value: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim())
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let key = v.get(0)?.as_str()?.to_string();
    let id = v.get(1)?.as_str()?.to_string();
    // PostgreSQL cannot compare text holding NUL; no stored key has one.
    if key.contains('\0') || id.contains('\0') {
        return None;
    }
    Some((key, id))
}

/// The cursor a list page was asked for: `after=`, `before=` or `last=1`.
/// A cursor that cannot be read starts from the first page.
pub fn cursor_from(after: Option<&str>, before: Option<&str>, last: bool) -> Cursor {
    if let Some((k, id)) = after.and_then(decode_cursor) {
        Cursor::After(k, id)
    } else if let Some((k, id)) = before.and_then(decode_cursor) {
        Cursor::Before(k, id)
    } else if last {
        Cursor::Last
    } else {
        Cursor::First
    }
}

/// `?a=1&b=x` from the non-empty pairs (form-encoded), or "" when none.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in pairs {
        if !v.is_empty() {
            ser.append_pair(k, v);
            any = true;
        }
    }
    if any {
        format!("?{}", ser.finish())
    } else {
        String::new()
    }
}

/// Links to the first, previous, next and last pages of a list (None when
/// that page is this one or does not exist).
#[derive(Debug, Clone, Default)]
pub struct Pager {
    pub first: Option<String>,
    pub previous: Option<String>,
    pub next: Option<String>,
    pub last: Option<String>,
}

impl Pager {
    pub fn is_empty(&self) -> bool {
        self.previous.is_none() && self.next.is_none()
    }
}

/// Hides anything shaped like one of scimgate's bearer secrets. The log
/// never stores secrets; this keeps a client that sent one where it does
/// not belong (in a filter, a path or a user attribute) from having it shown
/// back on a page.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let found = [
            SECRET_TOKEN_PREFIX,
            ACCESS_TOKEN_PREFIX,
            REFRESH_TOKEN_PREFIX,
        ]
        .iter()
        .filter_map(|p| rest.find(p).map(|i| (i, p.len())))
        .min();
        let Some((i, plen)) = found else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..i]);
        let after = &rest[i + plen..];
        let body = after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
            .count();
        if body >= 8 {
            out.push_str(&rest[i..i + plen]);
            out.push_str("[hidden]");
        } else {
            out.push_str(&rest[i..i + plen + body]);
        }
        rest = &after[body..];
    }
}

/// A JSON value in a sentence: strings without quotes, "(not set)" for null.
pub fn value_text(v: &Value) -> String {
    let s = match v {
        Value::Null => "(not set)".to_string(),
        Value::String(s) if s.is_empty() => "(empty)".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    redact(&s)
}

/// One field-level change of a log entry.
#[derive(Debug, Clone)]
pub struct ChangeView {
    pub path: String,
    pub before: String,
    pub after: String,
    /// `added`, `removed` or `changed`.
    pub kind: &'static str,
}

/// The `changes` column (`[{"path","before","after"}]`) for a page.
pub fn changes(stored: Option<&str>) -> Vec<ChangeView> {
    let Some(list) = stored
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|v| v.as_array().cloned())
    else {
        return Vec::new();
    };
    list.iter()
        .map(|c| {
            let before = c.get("before").cloned().unwrap_or(Value::Null);
            let after = c.get("after").cloned().unwrap_or(Value::Null);
            let kind = match (before.is_null(), after.is_null()) {
                (true, false) => "added",
                (false, true) => "removed",
                _ => "changed",
            };
            ChangeView {
                path: redact(
                    c.get("path")
                        .and_then(Value::as_str)
                        .unwrap_or("(resource)"),
                ),
                before: value_text(&before),
                after: value_text(&after),
                kind,
            }
        })
        .collect()
}

/// What a quirk (`crates/scim/src/dialect.rs`) means, for people.
pub fn quirk_text(name: &str) -> &'static str {
    match name {
        "op-case" => "PATCH operation names in capitals (\"Add\", \"Replace\")",
        "boolean-string" => "booleans sent as the strings \"True\"/\"False\"",
        "dotted-key" => "PATCH values with dotted keys (\"name.givenName\")",
        "urn-key" => "PATCH value keys prefixed with a schema URN",
        "legacy-urn-dot" => "extension attribute written with a dot after the URN",
        "manager-form" => "manager sent as a bare string or a list",
        "role-json-string" => "a role whose value is JSON text",
        "attribute-case" => "attribute names in another case",
        "unquoted-filter-value" => "an unquoted value in a filter",
        "null-attribute" => "attributes sent as null (ignored)",
        "unknown-schema" => "a schema scimgate does not know (ignored)",
        "read-only-ignored" => "read-only attributes sent (ignored)",
        "replace-created-element" => "a replace that created a missing list element",
        "empty-operations" => "a PATCH with no operations",
        "empty-value-remove" => "an empty value meaning \"remove\"",
        "remove-with-value" => "a member remove with a value list",
        "malformed-schema-urn" => "a misspelt schema URN",
        "filter-value-path-sub" => "a filter comparing a sub-attribute after a value filter",
        _ => "another deviation from the SCIM standard",
    }
}

/// A normalised quirk of a log entry.
#[derive(Debug, Clone)]
pub struct QuirkView {
    pub name: String,
    pub count: i64,
    pub meaning: &'static str,
}

/// The `quirks` column (`{"op-case": 2, …}`) for a page.
pub fn quirks(stored: Option<&str>) -> Vec<QuirkView> {
    let Some(Value::Object(map)) = stored.and_then(|s| serde_json::from_str::<Value>(s).ok())
    else {
        return Vec::new();
    };
    map.iter()
        .map(|(name, n)| QuirkView {
            name: name.clone(),
            count: n.as_i64().unwrap_or(1),
            meaning: quirk_text(name),
        })
        .collect()
}

/// The `ignored_attributes` column (a JSON array of strings) for a page.
pub fn ignored(stored: Option<&str>) -> Vec<String> {
    stored
        .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
        .unwrap_or_default()
        .iter()
        .map(|s| redact(s))
        .collect()
}

/// Who made a logged request, for people.
pub fn actor_text(e: &Recorded) -> String {
    let kind = match e.actor_kind.as_str() {
        "token" => "connection",
        "client" => "OAuth client",
        "admin" => "admin",
        "operator" => "operator",
        "system" => "scimgate",
        "sso" => "single sign-on",
        other => other,
    };
    match e.actor_label.as_deref().filter(|l| !l.is_empty()) {
        Some(label) => format!("{} ({kind})", redact(label)),
        None => kind.to_string(),
    }
}

/// The console page of a logged resource, when it has one.
pub fn resource_href(e: &Recorded) -> Option<String> {
    let id = e.resource_id.as_deref()?;
    let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    match e.resource_type.as_deref()? {
        "User" => Some(format!("/users/{id}")),
        "Group" => Some(format!("/groups/{id}")),
        _ => None,
    }
}

/// A failure's reason in plain words, from the stored detail and status.
pub fn failure_reason(e: &Recorded) -> Option<String> {
    if e.outcome != "failure" {
        return None;
    }
    let explained = match e.status {
        400 => "The request was not valid SCIM",
        401 => "The connection's credential was refused",
        403 => "The connection may not do this",
        404 => "The resource does not exist in this tenant",
        409 => "It conflicts with an existing resource",
        412 => "The resource changed since the client read it",
        413 => "The request was too large",
        429 => "Too many requests at once",
        s if s >= 500 => "scimgate failed to handle it",
        _ => "The request was refused",
    };
    Some(match e.detail.as_deref() {
        Some(d) if !d.is_empty() => format!("{explained}: {}", redact(d)),
        _ => format!("{explained} (HTTP {}).", e.status),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shaped_text_is_hidden() {
        let t = crate::secret::generate(SECRET_TOKEN_PREFIX);
        let shown = redact(&format!("filter: userName eq \"{t}\" and x"));
        assert!(!shown.contains(&t[6..]), "{shown}");
        assert_eq!(shown, "filter: userName eq \"sgst_[hidden]\" and x");
        assert_eq!(redact("sgat_ab"), "sgat_ab", "too short to be a token");
        assert_eq!(
            redact("a sgrt_abcdefghijk b sgat_0123456789"),
            "a sgrt_[hidden] b sgat_[hidden]"
        );
        assert_eq!(redact("émile sgst_"), "émile sgst_");
    }

    #[test]
    fn cursors_round_trip_any_text() {
        for key in [
            "",
            "alice@example.com",
            "é\"x,y",
            "2026-11-23T10:00:00.000Z",
        ] {
            let c = encode_cursor(key, "id-1");
            assert_eq!(
                decode_cursor(&c),
                Some((key.to_string(), "id-1".to_string()))
            );
        }
        assert_eq!(decode_cursor("not base64!"), None);
        assert_eq!(decode_cursor(&encode_cursor("a\0", "b")), None);
        assert_eq!(cursor_from(Some("%%"), None, true), Cursor::Last);
    }

    #[test]
    fn times_read_for_people() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let w = When::new("2026-11-23T09:55:00.000Z", now);
        assert_eq!(w.relative, "5 minutes ago");
        assert_eq!(w.full, "2026-11-23 09:55:00 UTC");
        assert_eq!(
            When::new("2026-11-26T10:00:00.000Z", now).relative,
            "in 3 days"
        );
        assert_eq!(When::new("garbage", now).full, "garbage");
        assert_eq!(thousands(100000), "100,000");
        assert_eq!(thousands(-1234), "-1,234");
        assert_eq!(thousands(12), "12");
    }

    #[test]
    fn changes_are_listed_with_their_kind() {
        let c = changes(Some(
            r#"[{"path":"active","before":true,"after":false},{"path":"title","before":null,"after":"CEO"},{"path":"nickName","before":"Bo","after":null}]"#,
        ));
        let kinds: Vec<_> = c
            .iter()
            .map(|c| (c.path.as_str(), c.kind, c.before.as_str(), c.after.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("active", "changed", "true", "false"),
                ("title", "added", "(not set)", "CEO"),
                ("nickName", "removed", "Bo", "(not set)"),
            ]
        );
        assert!(changes(Some("not json")).is_empty());
    }
}
