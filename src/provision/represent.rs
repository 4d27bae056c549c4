//! Stored rows → the full SCIM representation served to clients.

use std::collections::HashMap;

use scim::ResourceKind;
use scim::filter::AttrPath;
use scim::schema::MAPPING_USER;
use serde_json::{Map, Value, json};

use super::mapping::Derived;
use crate::store::members::{Member, Membership};
use crate::store::resources::{Indexed, Row};

/// A resource as served: its full representation and its version (ETag).
#[derive(Debug, Clone)]
pub struct Resource {
    pub id: String,
    pub json: Value,
    pub version: i64,
}

impl Resource {
    /// Weak ETag: the representation is rebuilt from the document, so
    /// byte-for-byte equality is not promised, only semantic equality.
    pub fn etag(&self) -> String {
        etag(self.version)
    }
}

pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The URL of a resource.
pub fn location(base_url: &str, kind: ResourceKind, id: &str) -> String {
    format!("{base_url}{}/{id}", kind.endpoint())
}

/// One value of a group's `members`.
pub fn member_value(base_url: &str, m: &Member) -> Value {
    let member_kind = if m.kind == "Group" {
        ResourceKind::Group
    } else {
        ResourceKind::User
    };
    let mut v = json!({
        "value": m.id,
        "$ref": location(base_url, member_kind, &m.id),
        "type": m.kind,
    });
    if let Some(d) = &m.display {
        v["display"] = Value::String(d.clone());
    }
    v
}

/// Builds the full representation: document + `id` + `meta`, and for groups
/// `members`, for users `groups` (each only when given).
pub fn full(
    kind: ResourceKind,
    base_url: &str,
    row: &Row,
    doc: Value,
    members: Option<&[Member]>,
    groups: Option<&[Membership]>,
) -> Resource {
    let mut out = Map::new();
    // Stored documents are always objects; anything else shows as empty
    // rather than failing the whole listing.
    let mut doc = match doc {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    // `schemas` first, then `id`, as in the RFC's examples; the rest keeps
    // its stored order (`shift_remove`: `remove` would move the last member
    // into the hole).
    if let Some(s) = doc.shift_remove("schemas") {
        out.insert("schemas".into(), s);
    }
    out.insert("id".into(), Value::String(row.id.clone()));
    // Core attributes first, extension objects (keyed by their URN) after.
    let mut extensions = Vec::new();
    for (k, v) in doc {
        if k.starts_with("urn:") {
            extensions.push((k, v));
        } else {
            out.insert(k, v);
        }
    }
    for (k, v) in extensions {
        out.insert(k, v);
    }
    if let Some(members) = members {
        let list: Vec<Value> = members.iter().map(|m| member_value(base_url, m)).collect();
        out.insert("members".into(), Value::Array(list));
    }
    if kind == ResourceKind::User {
        add_mapping(&mut out, row);
    }
    if let Some(groups) = groups
        && !groups.is_empty()
    {
        let list: Vec<Value> = groups
            .iter()
            .map(|g| {
                json!({
                    "value": g.group_id,
                    "$ref": location(base_url, ResourceKind::Group, &g.group_id),
                    "display": g.group_display,
                    "type": "direct",
                })
            })
            .collect();
        out.insert("groups".into(), Value::Array(list));
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": kind.name(),
            "created": row.created_at,
            "lastModified": row.updated_at,
            "location": location(base_url, kind, &row.id),
            "version": etag(row.version),
        }),
    );
    Resource {
        id: row.id.clone(),
        json: Value::Object(out),
        version: row.version,
    }
}

/// The role and employee groups the mapping rules derived, as scimgate's
/// read-only extension, listed in `schemas`; absent when there are none.
fn add_mapping(out: &mut Map<String, Value>, row: &Row) {
    let derived = Derived::from_stored(row.derived_role.as_deref(), row.derived_groups.as_deref());
    if derived.is_empty() {
        return;
    }
    let mut ext = Map::new();
    if let Some(role) = derived.role {
        ext.insert("role".into(), Value::String(role));
    }
    if !derived.groups.is_empty() {
        ext.insert("groups".into(), Value::from(derived.groups));
    }
    out.insert(MAPPING_USER.into(), Value::Object(ext));
    match out.get_mut("schemas") {
        Some(Value::Array(list)) => list.push(Value::String(MAPPING_USER.into())),
        _ => {
            out.insert(
                "schemas".into(),
                json!([ResourceKind::User.core_schema().id, MAPPING_USER]),
            );
        }
    }
}

/// The columns the database indexes, taken from a canonical document.
pub fn indexed(kind: ResourceKind, doc: &Value) -> Indexed {
    let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
    match kind {
        ResourceKind::User => Indexed {
            name: text("userName").unwrap_or_default(),
            external_id: text("externalId"),
            display_name: text("displayName"),
            active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
            emails: doc
                .get("emails")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|e| {
                            let value = e.get("value")?.as_str()?;
                            Some((
                                value.to_lowercase(),
                                e.get("type").and_then(Value::as_str).map(str::to_string),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        },
        ResourceKind::Group => Indexed {
            name: text("displayName").unwrap_or_default(),
            external_id: text("externalId"),
            display_name: text("displayName"),
            active: true,
            emails: Vec::new(),
        },
    }
}

/// Whether a read that asked for `attributes` / `excludedAttributes` will
/// show the top-level attribute `name` (so the store need not load it).
pub fn wants(name: &str, attributes: &[AttrPath], excluded: &[AttrPath]) -> bool {
    let named = |list: &[AttrPath]| {
        list.iter()
            .any(|p| p.urn.is_none() && p.name.eq_ignore_ascii_case(name))
    };
    if !attributes.is_empty() {
        return named(attributes);
    }
    !excluded
        .iter()
        .any(|p| p.urn.is_none() && p.sub.is_none() && p.name.eq_ignore_ascii_case(name))
}

/// Groups every membership by member, for building many users at once.
pub fn by_member(list: Vec<Membership>) -> HashMap<String, Vec<Membership>> {
    let mut map: HashMap<String, Vec<Membership>> = HashMap::new();
    for m in list {
        map.entry(m.member_id.clone()).or_default().push(m);
    }
    map
}
