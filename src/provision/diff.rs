//! Field-level differences between two stored documents, for the activity
//! log's "what changed" (the console's timeline shows them).

use serde_json::{Map, Value, json};

/// One changed field: its path (`name.givenName`, `emails`,
/// `urn:…:User:department`) and its values before and after (null when
/// absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub path: String,
    pub before: Value,
    pub after: Value,
}

/// The changes from `before` to `after`. Objects are compared field by
/// field; arrays and scalars as whole values. `schemas` is left out: it
/// follows from the attributes.
pub fn diff(before: &Value, after: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    let empty = Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    walk("", b, a, &mut out);
    out.retain(|c| c.path != "schemas");
    out
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else if is_urn_key(prefix) {
        // Extension attributes read as `urn:…:User:department`.
        format!("{prefix}:{key}")
    } else {
        format!("{prefix}.{key}")
    }
}

/// A top-level extension key: a URN with no attribute after it.
fn is_urn_key(prefix: &str) -> bool {
    prefix.starts_with("urn:") && scim::schema::split_urn(prefix).1.is_empty()
}

fn walk(
    prefix: &str,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    out: &mut Vec<Change>,
) {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let path = join(prefix, key);
        match (before.get(key), after.get(key)) {
            (Some(Value::Object(b)), Some(Value::Object(a))) => walk(&path, b, a, out),
            (Some(Value::Object(b)), None) => walk(&path, b, &Map::new(), out),
            (None, Some(Value::Object(a))) => walk(&path, &Map::new(), a, out),
            (b, a) if b != a => out.push(Change {
                path,
                before: b.cloned().unwrap_or(Value::Null),
                after: a.cloned().unwrap_or(Value::Null),
            }),
            _ => {}
        }
    }
}

/// The JSON stored in the activity log.
pub fn to_json(changes: &[Change]) -> Value {
    Value::Array(
        changes
            .iter()
            .map(|c| json!({"path": c.path, "before": c.before, "after": c.after}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_extension_fields_are_reported_by_path() {
        let before = json!({
            "schemas": ["a"],
            "userName": "a",
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "active": true,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"},
        });
        let after = json!({
            "schemas": ["a", "b"],
            "userName": "a",
            "name": {"givenName": "Anne", "familyName": "Lee"},
            "active": false,
            "title": "CTO",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
        });
        let d = diff(&before, &after);
        let paths: Vec<&str> = d.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "active",
                "name.givenName",
                "title",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
            ]
        );
        assert_eq!(d[0].before, json!(true));
        assert_eq!(d[0].after, json!(false));
        assert_eq!(d[2].before, Value::Null);
        assert_eq!(d[2].after, json!("CTO"));
    }

    #[test]
    fn identical_documents_have_no_changes() {
        let v = json!({"userName": "a", "emails": [{"value": "x"}]});
        assert!(diff(&v, &v).is_empty());
    }
}
