//! Sort keys for `sortBy` (RFC 7644 §3.4.2.3), so that resources can be sorted
//! in memory.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::ast::AttrPath;
use super::eval::{fold, parse_instant};
use crate::schema::{self, AttrDef, AttrType, ResourceKind};

/// The value a resource sorts by. Keys of one `sortBy` attribute all have the
/// same variant, except where stored data does not fit the attribute type;
/// such keys order by variant (booleans, numbers, instants, text).
#[derive(Debug, Clone)]
pub enum SortKey {
    Bool(bool),
    /// Any number, compared as `f64` (total order, so NaN cannot break sorting).
    Number(f64),
    Instant(DateTime<Utc>),
    /// Text, already case-folded when the attribute is not `caseExact`.
    Text(String),
}

impl SortKey {
    fn rank(&self) -> u8 {
        match self {
            SortKey::Bool(_) => 0,
            SortKey::Number(_) => 1,
            SortKey::Instant(_) => 2,
            SortKey::Text(_) => 3,
        }
    }
}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (SortKey::Bool(a), SortKey::Bool(b)) => a.cmp(b),
            (SortKey::Number(a), SortKey::Number(b)) => a.total_cmp(b),
            (SortKey::Instant(a), SortKey::Instant(b)) => a.cmp(b),
            (SortKey::Text(a), SortKey::Text(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SortKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SortKey {}

/// The key `resource` sorts by for `path`, or `None` when the attribute is
/// unknown, absent, null or empty.
///
/// Strings are case-folded unless the attribute is `caseExact`; `dateTime`
/// values sort as instants. For a multi-valued attribute the key is that of
/// the element with `"primary": true`, else of the first element
/// (RFC 7644 §3.4.2.3); a complex attribute without a sub-attribute sorts by
/// its `value` sub-attribute.
///
/// Resources without a key (`None`) sort last in ascending order; use
/// [`compare_sort_keys`], which also places them first in descending order
/// (the exact reverse of ascending).
pub fn sort_key(kind: ResourceKind, resource: &Value, path: &AttrPath) -> Option<SortKey> {
    let resolved = schema::resolve(kind, path.urn.as_deref(), &path.name)?;
    let obj = resource.as_object()?;
    let container = match resolved.extension {
        Some(urn) => get_ci(obj, urn)?.as_object()?,
        None => obj,
    };
    let attr = resolved.attr;
    let raw = get_ci(container, attr.name)?;
    let chosen = choose_element(raw)?;

    let (def, value) = match &path.sub {
        Some(sub) => {
            let def = schema::sub_attr(attr, sub)?;
            (def, get_ci(chosen.as_object()?, def.name)?)
        }
        None if attr.is_complex() => {
            let def = schema::sub_attr(attr, "value")?;
            (def, get_ci(chosen.as_object()?, def.name)?)
        }
        None => (attr, chosen),
    };
    // A multi-valued sub-attribute inside the element: same primary/first rule.
    let value = choose_element(value)?;
    key_of(def, value)
}

/// Compares two sort keys for `sortOrder`: ascending puts missing keys last;
/// descending is the exact reverse, so missing keys come first.
pub fn compare_sort_keys(a: &Option<SortKey>, b: &Option<SortKey>, descending: bool) -> Ordering {
    let ascending = match (a, b) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    if descending {
        ascending.reverse()
    } else {
        ascending
    }
}

fn get_ci<'a>(obj: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The primary element of an array, else its first non-null element; a
/// non-array value is returned as is.
fn choose_element(v: &Value) -> Option<&Value> {
    match v {
        Value::Array(items) => items
            .iter()
            .find(|e| {
                e.as_object()
                    .and_then(|o| get_ci(o, "primary"))
                    .is_some_and(|p| p == &Value::Bool(true))
            })
            .or_else(|| items.iter().find(|e| !e.is_null())),
        Value::Null => None,
        other => Some(other),
    }
}

fn key_of(def: &AttrDef, v: &Value) -> Option<SortKey> {
    match v {
        Value::Null | Value::Array(_) | Value::Object(_) => None,
        Value::Bool(b) => Some(SortKey::Bool(*b)),
        Value::Number(n) => n.as_f64().map(SortKey::Number),
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => {
            if def.ty == AttrType::DateTime
                && let Some(t) = parse_instant(s)
            {
                return Some(SortKey::Instant(t.with_timezone(&Utc)));
            }
            Some(SortKey::Text(if def.case_exact {
                s.clone()
            } else {
                fold(s)
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::filter::parse::parse_attr_path;

    fn key(r: &Value, path: &str) -> Option<SortKey> {
        sort_key(ResourceKind::User, r, &parse_attr_path(path).unwrap())
    }

    fn text(s: &str) -> Option<SortKey> {
        Some(SortKey::Text(s.into()))
    }

    #[test]
    fn strings_fold_unless_case_exact() {
        let r = json!({"userName": "Bob", "externalId": "AbC", "name": {"familyName": "ÉMILE"}});
        assert_eq!(key(&r, "userName"), text("bob"));
        assert_eq!(key(&r, "USERNAME"), text("bob"));
        assert_eq!(key(&r, "externalId"), text("AbC"));
        assert_eq!(key(&r, "name.familyName"), text("émile"));
        assert_eq!(key(&r, "title"), None);
        assert_eq!(key(&r, "shoeSize"), None);
        assert_eq!(key(&json!({"title": ""}), "title"), None);
        assert_eq!(key(&json!({"title": null}), "title"), None);
    }

    #[test]
    fn multi_valued_uses_primary_then_first() {
        let r = json!({"emails": [
            {"value": "Zed@x", "type": "home"},
            {"value": "amy@x", "type": "work", "primary": true}
        ]});
        assert_eq!(key(&r, "emails"), text("amy@x"));
        assert_eq!(key(&r, "emails.value"), text("amy@x"));
        assert_eq!(key(&r, "emails.type"), text("work"));
        let r = json!({"emails": [{"value": "Zed@x"}, {"value": "amy@x"}]});
        assert_eq!(key(&r, "emails.value"), text("zed@x"));
        assert_eq!(key(&json!({"emails": []}), "emails.value"), None);
    }

    #[test]
    fn typed_keys() {
        let r = json!({
            "active": false,
            "meta": {"lastModified": "2011-05-13T06:42:34+02:00", "created": "not a date"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "0042"}
        });
        assert_eq!(key(&r, "active"), Some(SortKey::Bool(false)));
        let t = DateTime::parse_from_rfc3339("2011-05-13T04:42:34Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(key(&r, "meta.lastModified"), Some(SortKey::Instant(t)));
        assert_eq!(key(&r, "meta.created"), text("not a date"));
        assert_eq!(key(&r, "employeeNumber"), text("0042"));
        assert_eq!(
            key(
                &r,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
            ),
            text("0042")
        );
        assert!(SortKey::Number(-1.0) < SortKey::Number(2.5));
        assert!(SortKey::Bool(true) < SortKey::Text(String::new()));
    }

    #[test]
    fn sorting_resources() {
        let people = [
            json!({"userName": "carol"}),
            json!({"displayName": "no user name"}),
            json!({"userName": "Alice"}),
            json!({"userName": "bob"}),
        ];
        let path = parse_attr_path("userName").unwrap();
        let order = |descending: bool| {
            let mut keyed: Vec<_> = people
                .iter()
                .map(|p| (sort_key(ResourceKind::User, p, &path), p))
                .collect();
            keyed.sort_by(|a, b| compare_sort_keys(&a.0, &b.0, descending));
            keyed
                .iter()
                .map(|(_, p)| p["userName"].as_str().unwrap_or("-").to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(order(false), ["Alice", "bob", "carol", "-"]);
        assert_eq!(order(true), ["-", "carol", "bob", "Alice"]);
    }
}
