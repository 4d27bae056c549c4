//! What the user and group pages share: a SCIM representation laid out for
//! people (core attributes, each extension, multi-valued lists as tables)
//! and a resource's timeline from the activity log.

use chrono::Utc;
use serde_json::{Map, Value};

use super::ConsoleError;
use super::activity::LogRow;
use super::present::value_text;
use crate::http::AppState;
use crate::store::listings::{self, ActivityFilter, LogCursor};

/// Most timeline entries a resource page shows; the rest are in the log.
pub const TIMELINE: i64 = 100;

/// A single-valued attribute (sub-attributes flattened: `name.givenName`).
#[derive(Debug, Clone)]
pub struct AttrRow {
    pub name: String,
    pub value: String,
}

/// A multi-valued attribute as a table: one row per value, one column per
/// sub-attribute any value has.
#[derive(Debug, Clone)]
pub struct AttrList {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// The core attributes, or one extension's.
#[derive(Debug, Clone)]
pub struct AttrSection {
    pub title: String,
    /// The schema URN of an extension.
    pub schema: Option<String>,
    pub rows: Vec<AttrRow>,
    pub lists: Vec<AttrList>,
}

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Shown elsewhere on the page (header, groups, members) or not attributes.
const SKIPPED: [&str; 5] = ["schemas", "id", "meta", "groups", "members"];

fn flatten(prefix: &str, v: &Value, rows: &mut Vec<AttrRow>, lists: &mut Vec<AttrList>) {
    match v {
        Value::Object(map) => {
            for (k, sub) in map {
                flatten(&format!("{prefix}.{k}"), sub, rows, lists);
            }
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            lists.push(list_of(prefix, items));
        }
        Value::Array(items) => rows.push(AttrRow {
            name: prefix.to_string(),
            value: items.iter().map(value_text).collect::<Vec<_>>().join(", "),
        }),
        scalar => rows.push(AttrRow {
            name: prefix.to_string(),
            value: value_text(scalar),
        }),
    }
}

fn list_of(name: &str, items: &[Value]) -> AttrList {
    let mut columns: Vec<String> = Vec::new();
    // `value` first, then the sub-attributes in the order they appear.
    if items.iter().any(|i| i.get("value").is_some()) {
        columns.push("value".to_string());
    }
    for item in items {
        if let Some(map) = item.as_object() {
            for k in map.keys() {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
    }
    let empty = Map::new();
    let rows = items
        .iter()
        .map(|item| {
            let map = item.as_object().unwrap_or(&empty);
            columns
                .iter()
                .map(|c| match map.get(c) {
                    None | Some(Value::Null) => String::new(),
                    Some(v) => value_text(v),
                })
                .collect()
        })
        .collect();
    AttrList {
        name: name.to_string(),
        columns,
        rows,
    }
}

/// The representation's attributes, core first, then each extension.
pub fn sections(json: &Value) -> Vec<AttrSection> {
    let Some(obj) = json.as_object() else {
        return Vec::new();
    };
    let mut core = AttrSection {
        title: "Attributes".to_string(),
        schema: None,
        rows: Vec::new(),
        lists: Vec::new(),
    };
    let mut extensions = Vec::new();
    for (k, v) in obj {
        if SKIPPED.contains(&k.as_str()) {
            continue;
        }
        if k.starts_with("urn:") {
            let mut section = AttrSection {
                title: if k == ENTERPRISE {
                    "Enterprise extension".to_string()
                } else {
                    "Extension".to_string()
                },
                schema: Some(k.clone()),
                rows: Vec::new(),
                lists: Vec::new(),
            };
            match v {
                Value::Object(map) => {
                    for (sk, sv) in map {
                        flatten(sk, sv, &mut section.rows, &mut section.lists);
                    }
                }
                other => flatten("value", other, &mut section.rows, &mut section.lists),
            }
            extensions.push(section);
        } else {
            flatten(k, v, &mut core.rows, &mut core.lists);
        }
    }
    let mut out = vec![core];
    out.extend(extensions);
    out
}

/// The newest changes of a resource (reads left out), and whether older
/// ones exist.
pub async fn timeline(
    state: &AppState,
    tenant_id: &str,
    resource_id: &str,
) -> Result<(Vec<LogRow>, bool), ConsoleError> {
    let filter = ActivityFilter {
        resource: Some(resource_id.to_string()),
        changes_only: true,
        ..ActivityFilter::default()
    };
    let page = listings::activity_page(state.db(), tenant_id, &filter, LogCursor::Newest, TIMELINE)
        .await?;
    let now = Utc::now();
    Ok((
        page.rows.iter().map(|e| LogRow::new(e, now)).collect(),
        page.has_next,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn representation_is_laid_out_by_section() {
        let s = sections(&json!({
            "schemas": ["x"], "id": "1", "userName": "bo@x", "active": false,
            "name": {"givenName": "Bo", "familyName": "Lee"},
            "emails": [{"value": "bo@x", "type": "work", "primary": true}, {"type": "home", "value": "b@h"}],
            "nickNames": ["a", "b"],
            ENTERPRISE: {"department": "Ops", "manager": {"value": "m1", "displayName": "Ann"}},
            "meta": {"created": "t"}
        }));
        assert_eq!(s.len(), 2);
        let core: Vec<_> = s[0]
            .rows
            .iter()
            .map(|r| (r.name.as_str(), r.value.as_str()))
            .collect();
        assert_eq!(
            core,
            vec![
                ("userName", "bo@x"),
                ("active", "false"),
                ("name.givenName", "Bo"),
                ("name.familyName", "Lee"),
                ("nickNames", "a, b"),
            ]
        );
        assert_eq!(s[0].lists[0].name, "emails");
        assert_eq!(s[0].lists[0].columns, vec!["value", "type", "primary"]);
        assert_eq!(s[0].lists[0].rows[1], vec!["b@h", "home", ""]);
        assert_eq!(s[1].title, "Enterprise extension");
        let ext: Vec<_> = s[1]
            .rows
            .iter()
            .map(|r| (r.name.as_str(), r.value.as_str()))
            .collect();
        assert_eq!(
            ext,
            vec![
                ("department", "Ops"),
                ("manager.value", "m1"),
                ("manager.displayName", "Ann")
            ]
        );
    }
}
