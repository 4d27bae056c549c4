//! Entra's matching query (`GET /Users?filter=userName eq "…"`) answers
//! every hit with the user's default representation: no `attributes`, no
//! `excludedAttributes`. That one is written here straight from the stored
//! document's text, member by member, instead of parsing the document into
//! a JSON tree, rebuilding it ([`super::represent::full`]), projecting it
//! ([`scim::resource::project`]) and serialising the tree again.
//!
//! The text is the general path's, byte for byte, for every document
//! scimgate stores (compact JSON written by `serde_json`). Whenever a
//! document holds something the general path would reshape — a withheld
//! attribute, a member it sets itself, an extension it does not know, an
//! empty extension, `schemas` not in the lead — this gives way (`None`) and
//! the general path answers.

use std::fmt;

use scim::ResourceKind;
use scim::schema::{self, AttrDef, MAPPING_USER, Returned};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::mapping::Derived;
use super::represent::{etag, location};
use crate::store::members::Membership;
use crate::store::resources::Row;

/// The ListResponse of one user, in its default representation, or `None`
/// when the general path must build it.
pub fn list_of_one(base_url: &str, row: &Row, groups: Option<&[Membership]>) -> Option<String> {
    let mut out = Vec::with_capacity(row.doc.len() + 512);
    out.extend_from_slice(b"{\"schemas\":[");
    string(&mut out, schema::LIST_RESPONSE);
    out.extend_from_slice(
        b"],\"totalResults\":1,\"startIndex\":1,\"itemsPerPage\":1,\"Resources\":[",
    );
    default_user(&mut out, base_url, row, groups)?;
    out.extend_from_slice(b"]}");
    // Only JSON text and valid UTF-8 went in.
    String::from_utf8(out).ok()
}

/// Writes the default representation of the user in `row` to `out`.
fn default_user(
    out: &mut Vec<u8>,
    base_url: &str,
    row: &Row,
    groups: Option<&[Membership]>,
) -> Option<()> {
    let kind = ResourceKind::User;
    let Members(members) = serde_json::from_str(&row.doc).ok()?;
    let (first, rest) = members.split_first()?;
    if first.0 != "schemas" {
        return None;
    }
    let extensions = kind.extension_schemas();
    // Which of `extensions` the representation carries.
    let mut carried = vec![false; extensions.len()];
    for (i, (name, value)) in rest.iter().enumerate() {
        if rest[..i].iter().any(|(other, _)| other == name) || reshaped(kind, name) {
            return None;
        }
        if name.starts_with("urn:") {
            let e = extensions
                .iter()
                .position(|e| e.id == *name && e.id != MAPPING_USER)?;
            if withholds(extensions[e].attributes) || !non_empty_object(value) {
                return None;
            }
            carried[e] = true;
        } else if name
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
        {
            return None;
        }
    }
    let derived = Derived::from_stored(row.derived_role.as_deref(), row.derived_groups.as_deref());
    if !derived.is_empty() {
        let e = extensions.iter().position(|e| e.id == MAPPING_USER)?;
        carried[e] = true;
    }

    out.extend_from_slice(b"{\"schemas\":[");
    string(out, kind.core_schema().id);
    for (e, _) in extensions.iter().zip(&carried).filter(|(_, c)| **c) {
        out.push(b',');
        string(out, e.id);
    }
    out.extend_from_slice(b"],\"id\":");
    string(out, &row.id);
    // Core attributes in stored order, then the extensions.
    let core = rest.iter().filter(|(name, _)| !name.starts_with("urn:"));
    let exts = rest.iter().filter(|(name, _)| name.starts_with("urn:"));
    for (name, value) in core.chain(exts) {
        out.push(b',');
        string(out, name);
        out.push(b':');
        out.extend_from_slice(value.get().as_bytes());
    }
    if !derived.is_empty() {
        out.push(b',');
        string(out, MAPPING_USER);
        out.extend_from_slice(b":{");
        let mut sep = "";
        if let Some(role) = &derived.role {
            out.extend_from_slice(b"\"role\":");
            string(out, role);
            sep = ",";
        }
        if !derived.groups.is_empty() {
            out.extend_from_slice(sep.as_bytes());
            out.extend_from_slice(b"\"groups\":[");
            for (i, g) in derived.groups.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(out, g);
            }
            out.push(b']');
        }
        out.push(b'}');
    }
    if let Some(groups) = groups.filter(|g| !g.is_empty()) {
        out.extend_from_slice(b",\"groups\":[");
        for (i, g) in groups.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"value\":");
            string(out, &g.group_id);
            out.extend_from_slice(b",\"$ref\":");
            string(out, &location(base_url, ResourceKind::Group, &g.group_id));
            out.extend_from_slice(b",\"display\":");
            string(out, &g.group_display);
            out.extend_from_slice(b",\"type\":\"direct\"}");
        }
        out.push(b']');
    }
    out.extend_from_slice(b",\"meta\":{\"resourceType\":");
    string(out, kind.name());
    out.extend_from_slice(b",\"created\":");
    string(out, &row.created_at);
    out.extend_from_slice(b",\"lastModified\":");
    string(out, &row.updated_at);
    out.extend_from_slice(b",\"location\":");
    string(out, &location(base_url, kind, &row.id));
    out.extend_from_slice(b",\"version\":");
    string(out, &etag(row.version));
    out.extend_from_slice(b"}}");
    Some(())
}

/// A member the general path sets, moves or withholds.
fn reshaped(kind: ResourceKind, name: &str) -> bool {
    ["schemas", "id", "meta", "groups", "members"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
        || [kind.core_schema().attributes, schema::COMMON]
            .iter()
            .flat_map(|attrs| attrs.iter())
            .any(|a| withheld(a) && a.name.eq_ignore_ascii_case(name))
}

/// Not returned by default (`returned: never` or `request`).
fn withheld(a: &AttrDef) -> bool {
    matches!(a.returned, Returned::Never | Returned::Request)
}

fn withholds(attrs: &[AttrDef]) -> bool {
    attrs.iter().any(withheld)
}

fn non_empty_object(v: &RawValue) -> bool {
    v.get()
        .trim_start()
        .strip_prefix('{')
        .is_some_and(|inner| !inner.trim_start().starts_with('}'))
}

/// `s` as a JSON string.
fn string(out: &mut Vec<u8>, s: &str) {
    // Writing a string to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// A JSON object's members in document order, unparsed. Names must be
/// written without escapes (borrowed): anything else fails, and the general
/// path answers.
struct Members<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(member) = map.next_entry::<&'de str, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Object)
    }
}

#[cfg(test)]
mod tests {
    use scim::schema::{CORE_USER, ENTERPRISE_USER};
    use serde_json::{Value, json};

    use super::*;
    use crate::provision::list::{ListParams, UniqueUser, unique_user_page};

    const BASE: &str = "https://scim.example/t/acme/scim/v2";

    fn row(doc: &str, role: Option<&str>, groups: Option<&str>) -> Row {
        Row {
            id: "2819c223-7f76-453a-919d-413861904646".into(),
            doc: doc.into(),
            version: 7,
            created_at: "2026-12-01T10:00:00.000Z".into(),
            updated_at: "2026-12-02T11:30:00.123Z".into(),
            derived_role: role.map(str::to_string),
            derived_groups: groups.map(str::to_string),
        }
    }

    fn memberships() -> Vec<Membership> {
        vec![
            Membership {
                member_id: "2819c223-7f76-453a-919d-413861904646".into(),
                group_id: "g-1".into(),
                group_display: "Ventes \"Nord\" & Sud".into(),
            },
            Membership {
                member_id: "2819c223-7f76-453a-919d-413861904646".into(),
                group_id: "g-2".into(),
                group_display: "Zoë's team".into(),
            },
        ]
    }

    /// What the general path answers for the same row.
    fn general(row: &Row, groups: &[Membership], with_groups: bool) -> String {
        let query = UniqueUser {
            by_id: false,
            value: String::new(),
            with_groups,
        };
        let params = ListParams {
            start_index: 1,
            ..Default::default()
        };
        let found = Some((row.clone(), groups.to_vec()));
        unique_user_page(BASE, &query, &params, 100, 1000, found).to_text()
    }

    fn entra_user() -> Value {
        json!({
            "schemas": [CORE_USER, ENTERPRISE_USER],
            "userName": "seán.o'brien@contoso.example",
            "externalId": "0a1b2c",
            "active": true,
            "displayName": "Seán O'Brien",
            "name": {"givenName": "Seán", "familyName": "O'Brien", "formatted": "Seán O'Brien"},
            "emails": [{"value": "sean@contoso.example", "type": "work", "primary": true}],
            "phoneNumbers": [
                {"value": "+353 1 555 0100", "type": "work"},
                {"value": "+353 87 555 0101", "type": "mobile"}
            ],
            "title": "Lead \"Ops\" \\ engineer\nsecond line \u{2028} tab\t",
            "addresses": [{"type": "work", "locality": "Dublin", "country": "IE"}],
            ENTERPRISE_USER: {
                "department": "Sales,Marketing",
                "employeeNumber": "1042",
                "manager": {"value": "b1c2"}
            },
            "x-score": 1.5e3,
            "x-count": 12
        })
    }

    fn same_as_general(doc: &Value, role: Option<&str>, derived_groups: Option<&str>) {
        let row = row(&doc.to_string(), role, derived_groups);
        let groups = memberships();
        for (with_groups, given) in [(true, &groups[..]), (true, &[][..]), (false, &groups[..])] {
            let fast = list_of_one(BASE, &row, with_groups.then_some(given))
                .unwrap_or_else(|| panic!("the fast path gave way for {doc}"));
            assert_eq!(fast, general(&row, given, with_groups), "for {doc}");
            // And it is JSON.
            serde_json::from_str::<Value>(&fast).unwrap();
        }
    }

    #[test]
    fn writes_what_the_general_path_writes() {
        same_as_general(&entra_user(), None, None);
        same_as_general(&entra_user(), Some("admin"), Some(r#"["eng","ops \"x\""]"#));
        same_as_general(&entra_user(), Some("reader"), None);
        same_as_general(&entra_user(), None, Some(r#"["eng"]"#));
        same_as_general(&entra_user(), None, Some("[]"));

        // The extension stored before the core attributes, and `schemas`
        // naming an extension the document does not carry.
        let mut moved = serde_json::Map::new();
        moved.insert("schemas".into(), json!([CORE_USER, ENTERPRISE_USER]));
        moved.insert(ENTERPRISE_USER.into(), json!({"department": "R&D"}));
        moved.insert("userName".into(), json!("a@b.example"));
        same_as_general(&Value::Object(moved), None, None);
        same_as_general(
            &json!({"schemas": [CORE_USER, ENTERPRISE_USER], "userName": "x"}),
            Some("admin"),
            None,
        );
        same_as_general(&json!({"schemas": [CORE_USER]}), None, None);
    }

    #[test]
    fn gives_way_where_the_general_path_reshapes() {
        let reshaped = [
            // Withheld, set by the server, or not in the lead.
            json!({"schemas": [CORE_USER], "userName": "a", "password": "p"}).to_string(),
            json!({"schemas": [CORE_USER], "userName": "a", "PassWord": "p"}).to_string(),
            json!({"schemas": [CORE_USER], "id": "x", "userName": "a"}).to_string(),
            json!({"schemas": [CORE_USER], "meta": {}, "userName": "a"}).to_string(),
            json!({"schemas": [CORE_USER], "groups": [], "userName": "a"}).to_string(),
            json!({"userName": "a", "schemas": [CORE_USER]}).to_string(),
            json!({"userName": "a"}).to_string(),
            // Extensions: empty, unknown, not an object, oddly cased, or
            // scimgate's own read-only one.
            json!({"schemas": [CORE_USER], ENTERPRISE_USER: {}}).to_string(),
            json!({"schemas": [CORE_USER], "urn:example:custom": {"a": 1}}).to_string(),
            json!({"schemas": [CORE_USER], ENTERPRISE_USER: "x"}).to_string(),
            json!({"schemas": [CORE_USER], ENTERPRISE_USER.to_uppercase(): {"a": 1}}).to_string(),
            json!({"schemas": [CORE_USER], MAPPING_USER: {"role": "x"}}).to_string(),
            // Names with escapes, duplicate names, not an object at all.
            r#"{"schemas":[],"user\"Name":"a"}"#.to_string(),
            r#"{"schemas":[],"userName":"a","userName":"b"}"#.to_string(),
            "[1,2]".to_string(),
            "{}".to_string(),
            "not json".to_string(),
        ];
        for doc in reshaped {
            assert_eq!(
                list_of_one(BASE, &row(&doc, None, None), None),
                None,
                "{doc}"
            );
        }
    }
}
