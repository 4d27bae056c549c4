//! Turning what a client sends (POST/PUT bodies, or a document after
//! PATCH) into the canonical stored form (see the module above).

use serde_json::{Map, Value};

use crate::dialect::{Quirks, quirk};
use crate::error::ScimError;
use crate::schema::{self, AttrDef, AttrType, Mutability, ResourceKind, Schema};

/// Deeper documents are rejected: no SCIM resource needs more than a handful of
/// levels, and the limit keeps every recursive walk here bounded.
pub const MAX_DEPTH: usize = 32;

/// The misspelt enterprise URN of an old Microsoft documentation example.
const MALFORMED_ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0User";

/// The outcome of [`normalize`].
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// The canonical document, without `id`, `meta`, read-only attributes or
    /// (for groups) `members`.
    pub doc: Value,
    /// Attributes no schema defines, named as the client sent them; they were
    /// dropped.
    pub ignored: Vec<String>,
    /// For groups: the member ids of the body's `members`, in order, without
    /// duplicates. `None` when the body had no `members` attribute.
    pub members: Option<Vec<String>>,
}

/// Whether `v` nests deeper than `limit` levels. Stops descending at the limit,
/// so the recursion itself is bounded.
fn deeper_than(v: &Value, limit: usize) -> bool {
    match v {
        Value::Array(a) => limit == 0 || a.iter().any(|x| deeper_than(x, limit - 1)),
        Value::Object(o) => limit == 0 || o.values().any(|x| deeper_than(x, limit - 1)),
        _ => false,
    }
}

fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn expected_name(ty: AttrType) -> &'static str {
    match ty {
        AttrType::String => "a string",
        AttrType::Boolean => "a boolean (true or false)",
        AttrType::Decimal => "a number",
        AttrType::Integer => "an integer",
        AttrType::DateTime => "an RFC 3339 date-time string such as \"2024-01-31T12:00:00Z\"",
        AttrType::Binary => "a base64-encoded string",
        AttrType::Reference => "a URI string",
        AttrType::Complex => "an object",
    }
}

fn wrong_type(path: &str, ty: AttrType, got: &Value) -> ScimError {
    ScimError::invalid_value(format!(
        "Attribute '{path}' must be {}, but {} was sent. Send the value as {}.",
        expected_name(ty),
        json_type_name(got),
        expected_name(ty),
    ))
}

/// Normalises one simple (non-complex) value. `Ok(None)` means the value is
/// dropped: null, or the empty string that clients send to clear an attribute.
fn coerce_simple(
    def: &'static AttrDef,
    path: &str,
    value: Value,
    quirks: &mut Quirks,
) -> Result<Option<Value>, ScimError> {
    match value {
        Value::Null => {
            quirks.note(quirk::NULL_ATTRIBUTE);
            return Ok(None);
        }
        Value::String(ref s) if s.is_empty() => return Ok(None),
        _ => {}
    }
    match def.ty {
        AttrType::String | AttrType::Binary | AttrType::Reference => match value {
            Value::String(_) => Ok(Some(value)),
            other => Err(wrong_type(path, def.ty, &other)),
        },
        AttrType::Boolean => match value {
            Value::Bool(_) => Ok(Some(value)),
            Value::String(ref s) if s.eq_ignore_ascii_case("true") => {
                quirks.note(quirk::BOOLEAN_STRING);
                Ok(Some(Value::Bool(true)))
            }
            Value::String(ref s) if s.eq_ignore_ascii_case("false") => {
                quirks.note(quirk::BOOLEAN_STRING);
                Ok(Some(Value::Bool(false)))
            }
            other => Err(wrong_type(path, def.ty, &other)),
        },
        AttrType::Integer => match value {
            Value::Number(ref n) if n.is_i64() || n.is_u64() => Ok(Some(value)),
            other => Err(wrong_type(path, def.ty, &other)),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => Ok(Some(value)),
            other => Err(wrong_type(path, def.ty, &other)),
        },
        AttrType::DateTime => match value {
            Value::String(ref s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => {
                Ok(Some(value))
            }
            other => Err(wrong_type(path, def.ty, &other)),
        },
        AttrType::Complex => coerce_complex(def, path, value, quirks, &mut Vec::new()),
    }
}

/// Normalises one complex value (an object of sub-attributes). Unknown
/// sub-attributes are dropped and listed in `ignored`; an object left empty is
/// dropped.
fn coerce_complex(
    def: &'static AttrDef,
    path: &str,
    value: Value,
    quirks: &mut Quirks,
    ignored: &mut Vec<String>,
) -> Result<Option<Value>, ScimError> {
    let obj = match value {
        Value::Null => {
            quirks.note(quirk::NULL_ATTRIBUTE);
            return Ok(None);
        }
        Value::Object(o) => o,
        other => return Err(wrong_type(path, AttrType::Complex, &other)),
    };
    let mut out = Map::new();
    for (key, v) in obj {
        let Some(sub) = schema::sub_attr(def, &key) else {
            ignored.push(format!("{path}.{key}"));
            continue;
        };
        if sub.name != key {
            quirks.note(quirk::ATTRIBUTE_CASE);
        }
        let sub_path = format!("{path}.{}", sub.name);
        let coerced = if sub.ty == AttrType::Complex {
            coerce_complex(sub, &sub_path, v, quirks, ignored)?
        } else {
            coerce_simple(sub, &sub_path, v, quirks)?
        };
        match coerced {
            Some(c) => {
                out.insert(sub.name.to_string(), c);
            }
            None => {
                out.remove(sub.name);
            }
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

fn is_json_object_string(s: &str) -> bool {
    let t = s.trim_start();
    t.starts_with('{') && matches!(serde_json::from_str::<Value>(s), Ok(Value::Object(_)))
}

/// Normalises an attribute's value per its definition. `Ok(None)`: drop it.
fn coerce_attr(
    def: &'static AttrDef,
    path: &str,
    value: Value,
    quirks: &mut Quirks,
    ignored: &mut Vec<String>,
) -> Result<Option<Value>, ScimError> {
    if def.name == "manager" {
        return coerce_manager(def, path, value, quirks, ignored);
    }
    if !def.multi_valued {
        return if def.ty == AttrType::Complex {
            coerce_complex(def, path, value, quirks, ignored)
        } else {
            coerce_simple(def, path, value, quirks)
        };
    }
    let items = match value {
        Value::Null => {
            quirks.note(quirk::NULL_ATTRIBUTE);
            return Ok(None);
        }
        Value::Array(a) => a,
        // A single value where an array is expected: treated as a one-element
        // array, as several clients send single e-mails and roles that way.
        other => vec![other],
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let coerced = if def.ty == AttrType::Complex {
            coerce_complex(def, path, item, quirks, ignored)?
        } else {
            coerce_simple(def, path, item, quirks)?
        };
        if let Some(c) = coerced {
            if def.name == "roles"
                && let Some(Value::String(s)) = c.get("value")
                && is_json_object_string(s)
            {
                quirks.note(quirk::ROLE_JSON_STRING);
            }
            out.push(c);
        }
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

/// `manager` arrives as a bare id, as `{"value": …}`, or as an array of such
/// objects (first element); it is stored as `{"value": …}` because Entra fails
/// to read a user whose manager is in any other form. An empty id means no
/// manager.
fn coerce_manager(
    def: &'static AttrDef,
    path: &str,
    value: Value,
    quirks: &mut Quirks,
    ignored: &mut Vec<String>,
) -> Result<Option<Value>, ScimError> {
    let value = match value {
        Value::Null => {
            quirks.note(quirk::NULL_ATTRIBUTE);
            return Ok(None);
        }
        Value::Array(a) => {
            quirks.note(quirk::MANAGER_FORM);
            match a.into_iter().find(|v| !v.is_null()) {
                Some(first) => first,
                None => return Ok(None),
            }
        }
        other => other,
    };
    match value {
        Value::String(s) => {
            quirks.note(quirk::MANAGER_FORM);
            if s.trim().is_empty() {
                Ok(None)
            } else {
                let mut m = Map::new();
                m.insert("value".into(), Value::String(s));
                Ok(Some(Value::Object(m)))
            }
        }
        Value::Object(_) => {
            let Some(Value::Object(m)) = coerce_complex(def, path, value, quirks, ignored)? else {
                return Ok(None);
            };
            // Without an id there is no manager, whatever else was sent.
            match m.get("value") {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(Value::Object(m))),
                _ => Ok(None),
            }
        }
        other => Err(ScimError::invalid_value(format!(
            "Attribute '{path}' must be an object such as {{\"value\": \"<manager id>\"}} \
             (or the manager's id as a string), but {} was sent.",
            json_type_name(&other)
        ))),
    }
}

/// Where one body key belongs.
enum Target {
    /// A resolved attribute, with the sub-attribute of a dotted key.
    Attr {
        res: schema::Resolved,
        sub: Option<String>,
    },
    /// The object of a whole extension (`"urn:…:enterprise:2.0:User": {…}`).
    Extension(&'static Schema),
    Schemas,
    Unknown,
}

fn classify(kind: ResourceKind, key: &str, quirks: &mut Quirks) -> Target {
    if key.eq_ignore_ascii_case("schemas") {
        if key != "schemas" {
            quirks.note(quirk::ATTRIBUTE_CASE);
        }
        return Target::Schemas;
    }
    if let Some(ext) = kind.extension_schema(key) {
        return Target::Extension(ext);
    }
    if kind == ResourceKind::User && key.eq_ignore_ascii_case(MALFORMED_ENTERPRISE) {
        quirks.note(quirk::MALFORMED_SCHEMA_URN);
        return Target::Extension(&schema::ENTERPRISE_USER_SCHEMA);
    }
    let (urn, rest) = schema::split_urn(key);
    if let Some(u) = urn {
        if rest.is_empty() {
            return Target::Unknown;
        }
        quirks.note(quirk::URN_KEY);
        if key.as_bytes().get(u.len()) == Some(&b'.') {
            quirks.note(quirk::LEGACY_URN_DOT);
        }
    }
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    let Some(res) = schema::resolve(kind, urn, name) else {
        return Target::Unknown;
    };
    if res.attr.name != name {
        quirks.note(quirk::ATTRIBUTE_CASE);
    }
    match sub {
        None => Target::Attr { res, sub: None },
        Some(s) => {
            // A dotted key only makes sense for a single-valued complex
            // attribute with that sub-attribute.
            match schema::sub_attr(res.attr, s) {
                Some(sd) if !res.attr.multi_valued && res.attr.is_complex() => {
                    quirks.note(quirk::DOTTED_KEY);
                    if sd.name != s {
                        quirks.note(quirk::ATTRIBUTE_CASE);
                    }
                    Target::Attr {
                        res,
                        sub: Some(sd.name.to_string()),
                    }
                }
                _ => Target::Unknown,
            }
        }
    }
}

/// Notes unknown and malformed schema URIs of a body's `schemas`. The value is
/// recomputed anyway, so nothing here is an error.
fn note_schemas(kind: ResourceKind, value: &Value, quirks: &mut Quirks) {
    let items: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    for item in items {
        let Value::String(s) = item else { continue };
        let known =
            s.eq_ignore_ascii_case(kind.core_schema().id) || kind.extension_schema(s).is_some();
        if known {
            continue;
        }
        if s.eq_ignore_ascii_case(MALFORMED_ENTERPRISE) {
            quirks.note(quirk::MALFORMED_SCHEMA_URN);
        } else {
            quirks.note(quirk::UNKNOWN_SCHEMA);
        }
    }
}

fn member_ids(value: Value, quirks: &mut Quirks) -> Result<Vec<String>, ScimError> {
    let items = match value {
        Value::Null => {
            quirks.note(quirk::NULL_ATTRIBUTE);
            return Ok(Vec::new());
        }
        Value::Array(a) => a,
        other => vec![other],
    };
    let mut ids: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let id = match item {
            Value::Null => {
                quirks.note(quirk::NULL_ATTRIBUTE);
                continue;
            }
            Value::Object(o) => o
                .into_iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("value"))
                .map(|(_, v)| v),
            _ => None,
        };
        match id {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                if !ids.contains(&s) {
                    ids.push(s);
                }
            }
            _ => {
                return Err(ScimError::invalid_value(format!(
                    "members[{i}] needs a non-empty string 'value' holding the member's id, \
                     e.g. {{\"value\": \"<user or group id>\"}}."
                )));
            }
        }
    }
    Ok(ids)
}

/// Inserts or clears `name` (or its sub-attribute `sub`) in `target`.
fn put(target: &mut Map<String, Value>, name: &str, sub: Option<&str>, value: Option<Value>) {
    match (sub, value) {
        (None, Some(v)) => {
            target.insert(name.to_string(), v);
        }
        (None, None) => {
            target.remove(name);
        }
        (Some(s), Some(v)) => {
            let entry = target
                .entry(name.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(o) = entry {
                o.insert(s.to_string(), v);
            }
        }
        (Some(s), None) => {
            if let Some(Value::Object(o)) = target.get_mut(name) {
                o.remove(s);
                if o.is_empty() {
                    target.remove(name);
                }
            }
        }
    }
}

/// Turns a POST/PUT body, or a document after PATCH, into the canonical stored
/// document (see the module documentation).
pub fn normalize(
    kind: ResourceKind,
    body: Value,
    quirks: &mut Quirks,
) -> Result<Normalized, ScimError> {
    if deeper_than(&body, MAX_DEPTH) {
        return Err(ScimError::invalid_syntax(format!(
            "The request body nests JSON more than {MAX_DEPTH} levels deep; a SCIM {} \
             needs only a few levels. Send a flat resource representation.",
            kind.name()
        )));
    }
    let Value::Object(obj) = body else {
        return Err(ScimError::invalid_syntax(format!(
            "The request body must be a JSON object representing a {} resource, \
             but {} was sent.",
            kind.name(),
            json_type_name(&body)
        )));
    };

    let mut core = Map::new();
    // Extension attributes, per extension (in the kind's extension order).
    let exts = kind.extension_schemas();
    let mut ext_maps: Vec<Map<String, Value>> = vec![Map::new(); exts.len()];
    let ext_index = |s: &Schema| exts.iter().position(|e| e.id == s.id);
    let mut ignored = Vec::new();
    let mut members = None;

    for (key, value) in obj {
        match classify(kind, &key, quirks) {
            Target::Schemas => note_schemas(kind, &value, quirks),
            Target::Unknown => {
                if !value.is_null() {
                    ignored.push(key);
                }
            }
            Target::Extension(ext) => {
                let Some(idx) = ext_index(ext) else {
                    ignored.push(key);
                    continue;
                };
                // An extension clients cannot write (scimgate's mapping
                // extension) is ignored whole, whatever its shape: echoing a
                // served representation back must never fail.
                if ext
                    .attributes
                    .iter()
                    .all(|a| a.mutability == Mutability::ReadOnly)
                {
                    if !value.is_null() {
                        quirks.note(quirk::READ_ONLY_IGNORED);
                    }
                    continue;
                }
                let inner = match value {
                    Value::Null => {
                        quirks.note(quirk::NULL_ATTRIBUTE);
                        continue;
                    }
                    Value::Object(o) => o,
                    other => {
                        return Err(ScimError::invalid_value(format!(
                            "'{}' must be an object holding the extension's attributes, \
                             e.g. {{\"employeeNumber\": \"42\"}}, but {} was sent.",
                            ext.id,
                            json_type_name(&other)
                        )));
                    }
                };
                for (k, v) in inner {
                    let (name, sub) = match k.split_once('.') {
                        Some((n, s)) => (n, Some(s)),
                        None => (k.as_str(), None),
                    };
                    let Some(res) = schema::resolve(kind, Some(ext.id), name) else {
                        ignored.push(format!("{}:{k}", ext.id));
                        continue;
                    };
                    if res.attr.mutability == Mutability::ReadOnly {
                        quirks.note(quirk::READ_ONLY_IGNORED);
                        continue;
                    }
                    let sub_def = match sub {
                        None => None,
                        Some(s) => match schema::sub_attr(res.attr, s) {
                            Some(sd) if !res.attr.multi_valued => {
                                quirks.note(quirk::DOTTED_KEY);
                                Some(sd)
                            }
                            _ => {
                                ignored.push(format!("{}:{k}", ext.id));
                                continue;
                            }
                        },
                    };
                    if res.attr.name != name || sub_def.is_some_and(|sd| Some(sd.name) != sub) {
                        quirks.note(quirk::ATTRIBUTE_CASE);
                    }
                    let path = match sub_def {
                        Some(sd) => format!("{}.{}", res.attr.name, sd.name),
                        None => res.attr.name.to_string(),
                    };
                    let coerced = match sub_def {
                        Some(sd) => coerce_attr(sd, &path, v, quirks, &mut ignored)?,
                        None => coerce_attr(res.attr, &path, v, quirks, &mut ignored)?,
                    };
                    put(
                        &mut ext_maps[idx],
                        res.attr.name,
                        sub_def.map(|sd| sd.name),
                        coerced,
                    );
                }
            }
            Target::Attr { res, sub } => {
                let attr = res.attr;
                if kind == ResourceKind::Group && attr.name == "members" && res.schema.is_some() {
                    members = Some(member_ids(value, quirks)?);
                    continue;
                }
                if attr.mutability == Mutability::ReadOnly {
                    quirks.note(quirk::READ_ONLY_IGNORED);
                    continue;
                }
                let coerced = match &sub {
                    Some(s) => match schema::sub_attr(attr, s) {
                        Some(sd) => coerce_attr(
                            sd,
                            &format!("{}.{s}", attr.name),
                            value,
                            quirks,
                            &mut ignored,
                        )?,
                        None => continue,
                    },
                    None => coerce_attr(attr, attr.name, value, quirks, &mut ignored)?,
                };
                let target = match res.extension {
                    Some(urn) => match exts.iter().position(|e| e.id == urn) {
                        Some(i) => &mut ext_maps[i],
                        None => continue,
                    },
                    None => &mut core,
                };
                put(target, attr.name, sub.as_deref(), coerced);
            }
        }
    }

    let required = match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    };
    let present = matches!(core.get(required), Some(Value::String(s)) if !s.trim().is_empty());
    if !present {
        return Err(ScimError::invalid_value(format!(
            "{required} is required; send a non-empty string \"{required}\" in the {} \
             resource.",
            kind.name()
        )));
    }

    for m in &mut ext_maps {
        // A manager assembled from dotted keys (`manager.displayName`) without
        // an id is no manager, exactly as when sent whole.
        let has_id = matches!(
            m.get("manager").and_then(|v| v.get("value")),
            Some(Value::String(s)) if !s.trim().is_empty()
        );
        if !has_id {
            m.remove("manager");
        }
    }

    let mut schemas = vec![Value::String(kind.core_schema().id.to_string())];
    let mut doc = Map::new();
    doc.insert("schemas".into(), Value::Null);
    doc.extend(core);
    for (ext, m) in exts.iter().zip(ext_maps) {
        if !m.is_empty() {
            schemas.push(Value::String(ext.id.to_string()));
            doc.insert(ext.id.to_string(), Value::Object(m));
        }
    }
    doc.insert("schemas".into(), Value::Array(schemas));

    Ok(Normalized {
        doc: Value::Object(doc),
        ignored,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use crate::resource::{parse_attribute_list, project};
    use crate::schema::{CORE_GROUP, CORE_USER, ENTERPRISE_USER, MAPPING_USER, Returned};
    use serde_json::json;

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/entra/request-fixtures.json"
    );

    fn norm(kind: ResourceKind, body: Value) -> (Normalized, Quirks) {
        let mut q = Quirks::new();
        let n = normalize(kind, body, &mut q).expect("normalizes");
        (n, q)
    }

    fn user(body: Value) -> (Normalized, Quirks) {
        norm(ResourceKind::User, body)
    }

    fn err(kind: ResourceKind, body: Value) -> ScimError {
        normalize(kind, body, &mut Quirks::new()).expect_err("rejected")
    }

    fn load_fixtures() -> Option<Vec<Value>> {
        let text = std::fs::read_to_string(FIXTURES).ok()?;
        let v: Value = serde_json::from_str(&text).expect("fixture file is JSON");
        Some(v["fixtures"].as_array().expect("fixtures array").clone())
    }

    fn fixture(id: &str) -> Option<Value> {
        load_fixtures()?
            .into_iter()
            .find(|f| f["id"] == id)
            .map(|f| f["body"].clone())
    }

    #[test]
    fn every_fixture_post_put_body_normalizes() {
        let Some(fixtures) = load_fixtures() else {
            return;
        };
        let mut seen = 0;
        for f in fixtures {
            let method = f["method"].as_str().unwrap_or_default();
            if method != "POST" && method != "PUT" {
                continue;
            }
            let path = f["path"].as_str().unwrap_or_default();
            let kind = if path.starts_with("/Groups") {
                ResourceKind::Group
            } else {
                ResourceKind::User
            };
            let mut q = Quirks::new();
            let n = normalize(kind, f["body"].clone(), &mut q)
                .unwrap_or_else(|e| panic!("fixture {}: {e}", f["id"]));
            assert!(n.ignored.is_empty(), "fixture {}: {:?}", f["id"], n.ignored);
            let again = normalize(kind, n.doc.clone(), &mut Quirks::new()).unwrap();
            assert_eq!(again.doc, n.doc, "fixture {} is not idempotent", f["id"]);
            seen += 1;
        }
        assert!(seen >= 3, "expected the three create fixtures, saw {seen}");
    }

    #[test]
    fn fixture_create_user() {
        let Some(body) = fixture("create-user") else {
            return;
        };
        let (n, q) = user(body);
        assert_eq!(
            n.doc,
            json!({
                "schemas": [CORE_USER],
                "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
                "active": true,
                "emails": [{
                    "primary": true,
                    "type": "work",
                    "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"
                }],
                "name": {
                    "formatted": "givenName familyName",
                    "familyName": "familyName",
                    "givenName": "givenName"
                }
            })
        );
        assert_eq!(n.members, None);
        assert_eq!(q.count(quirk::READ_ONLY_IGNORED), 1);
        assert_eq!(q.total(), 1);
    }

    #[test]
    fn fixture_create_user_legacy() {
        let Some(body) = fixture("create-user-legacy-example") else {
            return;
        };
        let (n, q) = user(body);
        assert_eq!(
            n.doc,
            json!({
                "schemas": [CORE_USER],
                "externalId": "jyoung",
                "userName": "jyoung@testuser.com",
                "active": true,
                "displayName": "Joy Young",
                "emails": [{"type": "work", "value": "jyoung@Contoso.com", "primary": true}],
                "name": {"familyName": "Young", "givenName": "Joy"}
            })
        );
        assert_eq!(q.count(quirk::MALFORMED_SCHEMA_URN), 1);
        assert_eq!(q.count(quirk::NULL_ATTRIBUTE), 6);
        assert_eq!(q.count(quirk::READ_ONLY_IGNORED), 1);
    }

    #[test]
    fn fixture_create_group() {
        let Some(body) = fixture("create-group") else {
            return;
        };
        let (n, q) = norm(ResourceKind::Group, body);
        assert_eq!(
            n.doc,
            json!({
                "schemas": [CORE_GROUP],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "displayName"
            })
        );
        assert_eq!(n.members, None);
        assert_eq!(q.count(quirk::UNKNOWN_SCHEMA), 1);
        assert_eq!(q.count(quirk::READ_ONLY_IGNORED), 1);
    }

    #[test]
    fn rejects_non_objects_and_deep_documents() {
        for body in [json!([]), json!("x"), json!(1), Value::Null] {
            let e = err(ResourceKind::User, body);
            assert_eq!(e.status, 400);
            assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
            assert!(e.detail.contains("JSON object"), "{}", e.detail);
        }
        let mut deep = json!("x");
        for _ in 0..40 {
            deep = json!({ "a": deep });
        }
        let e = err(ResourceKind::User, json!({"userName": "u", "x": deep}));
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        assert!(e.detail.contains("32 levels"));
        // Moderately nested unknown data is only ignored.
        let mut ok = json!(1);
        for _ in 0..10 {
            ok = json!([ok]);
        }
        let (n, _) = user(json!({"userName": "u", "x": ok}));
        assert_eq!(n.ignored, ["x"]);
    }

    #[test]
    fn required_attributes() {
        for body in [
            json!({}),
            json!({"userName": ""}),
            json!({"userName": "   "}),
            json!({"userName": null}),
        ] {
            let e = err(ResourceKind::User, body);
            assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
            assert!(e.detail.starts_with("userName is required"), "{}", e.detail);
        }
        let e = err(ResourceKind::Group, json!({"externalId": "x"}));
        assert!(e.detail.starts_with("displayName is required"));
        let (n, _) = norm(ResourceKind::Group, json!({"DisplayName": "G"}));
        assert_eq!(n.doc["displayName"], "G");
    }

    #[test]
    fn attribute_names_are_canonicalised() {
        let (n, q) = user(json!({
            "USERNAME": "bjensen",
            "Name": {"GIVENNAME": "Barbara", "familyname": "Jensen"},
            "Emails": [{"Value": "b@example.com", "TYPE": "work"}],
            "externalid": "e1",
            "Schemas": [CORE_USER]
        }));
        assert_eq!(
            n.doc,
            json!({
                "schemas": [CORE_USER],
                "userName": "bjensen",
                "name": {"givenName": "Barbara", "familyName": "Jensen"},
                "emails": [{"value": "b@example.com", "type": "work"}],
                "externalId": "e1"
            })
        );
        assert_eq!(q.count(quirk::ATTRIBUTE_CASE), 9);
    }

    #[test]
    fn extension_attributes_in_every_form() {
        let (n, q) = user(json!({
            "userName": "u",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42",
            "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER.costCenter": "cc",
            ENTERPRISE_USER: {"Department": "Tech", "DIVISION": "d"},
            "organization": "org"
        }));
        assert_eq!(
            n.doc,
            json!({
                "schemas": [CORE_USER, ENTERPRISE_USER],
                "userName": "u",
                ENTERPRISE_USER: {
                    "employeeNumber": "42",
                    "costCenter": "cc",
                    "department": "Tech",
                    "division": "d",
                    "organization": "org"
                }
            })
        );
        assert_eq!(q.count(quirk::URN_KEY), 2);
        assert_eq!(q.count(quirk::LEGACY_URN_DOT), 1);
        assert_eq!(q.count(quirk::ATTRIBUTE_CASE), 2);
        // Schemas are recomputed: the extension URN listed with no extension
        // data is not kept; the key under the misspelt URN is accepted.
        let (n, q) = user(json!({
            "schemas": [CORE_USER, ENTERPRISE_USER],
            "userName": "u",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0User": {"department": "x"}
        }));
        assert_eq!(n.doc["schemas"], json!([CORE_USER, ENTERPRISE_USER]));
        assert_eq!(n.doc[ENTERPRISE_USER]["department"], "x");
        assert_eq!(q.count(quirk::MALFORMED_SCHEMA_URN), 1);
        let (n, _) = user(json!({"schemas": [CORE_USER, ENTERPRISE_USER], "userName": "u"}));
        assert_eq!(n.doc["schemas"], json!([CORE_USER]));
        // An extension with only nulls disappears.
        let (n, _) = user(json!({"userName": "u", ENTERPRISE_USER: {"department": null}}));
        assert!(n.doc.get(ENTERPRISE_USER).is_none());
        let e = err(
            ResourceKind::User,
            json!({"userName": "u", ENTERPRISE_USER: "x"}),
        );
        assert!(e.detail.contains(ENTERPRISE_USER));
        // The mapping extension is read-only: dropped in every form and
        // shape, never an error.
        for body in [
            json!({"userName": "u", MAPPING_USER: {"role": "Admin", "groups": ["x"]}}),
            json!({"userName": "u", MAPPING_USER: "not an object"}),
            json!({"userName": "u", format!("{MAPPING_USER}:role"): "Admin"}),
        ] {
            let (n, q) = user(body);
            assert_eq!(n.doc, json!({"schemas": [CORE_USER], "userName": "u"}));
            assert!(n.ignored.is_empty());
            assert_eq!(q.count(quirk::READ_ONLY_IGNORED), 1, "{q:?}");
        }
        // Groups have no extension: the enterprise key is unknown there.
        let (n, _) = norm(
            ResourceKind::Group,
            json!({"displayName": "g", ENTERPRISE_USER: {"department": "x"}}),
        );
        assert_eq!(n.ignored, [ENTERPRISE_USER]);
    }

    #[test]
    fn dotted_keys() {
        let (n, q) = user(json!({
            "userName": "u",
            "name.givenName": "Kkom",
            "name.FamilyName": "Unua",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value": "m1",
            "emails.value": "x@example.com"
        }));
        assert_eq!(
            n.doc["name"],
            json!({"givenName": "Kkom", "familyName": "Unua"})
        );
        assert_eq!(n.doc[ENTERPRISE_USER]["manager"], json!({"value": "m1"}));
        assert_eq!(n.ignored, ["emails.value"]);
        assert_eq!(q.count(quirk::DOTTED_KEY), 3);
        // A manager assembled without an id is no manager.
        let (n, _) = user(json!({"userName": "u", "manager.displayName": "Boss"}));
        assert!(n.doc.get(ENTERPRISE_USER).is_none());
    }

    #[test]
    fn read_only_and_members() {
        let (n, q) = user(json!({
            "id": "abc",
            "meta": {"resourceType": "User"},
            "userName": "u",
            "groups": [{"value": "g1"}],
            "members": [{"value": "x"}]
        }));
        assert_eq!(n.doc, json!({"schemas": [CORE_USER], "userName": "u"}));
        assert_eq!(q.count(quirk::READ_ONLY_IGNORED), 3);
        assert_eq!(n.ignored, ["members"]);
        assert_eq!(n.members, None);

        let (n, _) = norm(
            ResourceKind::Group,
            json!({"displayName": "g", "Members": [
                {"value": "a", "$ref": null, "display": "A"},
                {"VALUE": "b"},
                null,
                {"value": "a"}
            ]}),
        );
        assert_eq!(n.members, Some(vec!["a".to_string(), "b".to_string()]));
        assert!(n.doc.get("members").is_none());
        let (n, _) = norm(
            ResourceKind::Group,
            json!({"displayName": "g", "members": []}),
        );
        assert_eq!(n.members, Some(vec![]));
        let (n, _) = norm(
            ResourceKind::Group,
            json!({"displayName": "g", "members": null}),
        );
        assert_eq!(n.members, Some(vec![]));
        let (n, _) = norm(
            ResourceKind::Group,
            json!({"displayName": "g", "members": {"value": "solo"}}),
        );
        assert_eq!(n.members, Some(vec!["solo".to_string()]));
        for bad in [
            json!([{"display": "no id"}]),
            json!([{"value": 5}]),
            json!([{"value": ""}]),
            json!(["a"]),
        ] {
            let e = err(
                ResourceKind::Group,
                json!({"displayName": "g", "members": bad}),
            );
            assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
            assert!(e.detail.contains("members[0]"), "{}", e.detail);
        }
    }

    #[test]
    fn nulls_and_empty_strings_are_dropped_at_every_level() {
        let (n, q) = user(json!({
            "userName": "u",
            "title": "",
            "nickName": null,
            "name": {"givenName": null, "familyName": ""},
            "emails": [null, {"value": "a@b.c", "type": null, "primary": ""}, {"display": null}],
            "phoneNumbers": [],
            "active": ""
        }));
        assert_eq!(
            n.doc,
            json!({"schemas": [CORE_USER], "userName": "u", "emails": [{"value": "a@b.c"}]})
        );
        assert_eq!(q.count(quirk::NULL_ATTRIBUTE), 5);
    }

    #[test]
    fn type_coercion_and_validation() {
        let (n, q) = user(json!({
            "userName": "u",
            "active": "False",
            "emails": {"value": "one@example.com", "primary": "TRUE"},
            "roles": [{"value": "r", "primary": false}]
        }));
        assert_eq!(n.doc["active"], false);
        assert_eq!(
            n.doc["emails"],
            json!([{"value": "one@example.com", "primary": true}])
        );
        assert_eq!(n.doc["roles"][0]["primary"], false);
        assert_eq!(q.count(quirk::BOOLEAN_STRING), 2);

        let e = err(ResourceKind::User, json!({"userName": "u", "title": 7}));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("'title'") && e.detail.contains("a string"));
        let e = err(ResourceKind::User, json!({"userName": 12}));
        assert!(e.detail.contains("'userName'"), "{}", e.detail);
        let e = err(
            ResourceKind::User,
            json!({"userName": "u", "active": "yes"}),
        );
        assert!(e.detail.contains("'active'") && e.detail.contains("boolean"));
        let e = err(ResourceKind::User, json!({"userName": "u", "active": 1}));
        assert!(e.detail.contains("'active'"));
        let e = err(
            ResourceKind::User,
            json!({"userName": "u", "name": "Barbara"}),
        );
        assert!(e.detail.contains("'name'") && e.detail.contains("an object"));
        let e = err(
            ResourceKind::User,
            json!({"userName": "u", "emails": ["a@b.c"]}),
        );
        assert!(e.detail.contains("'emails'"), "{}", e.detail);
        let e = err(
            ResourceKind::User,
            json!({"userName": "u", "emails": [{"value": ["a"]}]}),
        );
        assert!(e.detail.contains("'emails.value'"), "{}", e.detail);
        let e = err(
            ResourceKind::User,
            json!({"userName": "u", ENTERPRISE_USER: {"employeeNumber": 5}}),
        );
        assert!(e.detail.contains("'employeeNumber'"), "{}", e.detail);
    }

    static WHEN: AttrDef = AttrDef {
        name: "when",
        ty: AttrType::DateTime,
        multi_valued: false,
        description: "test",
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: schema::Uniqueness::None,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
    };
    static COUNT: AttrDef = AttrDef {
        name: "count",
        ty: AttrType::Integer,
        ..WHEN
    };
    static RATIO: AttrDef = AttrDef {
        name: "ratio",
        ty: AttrType::Decimal,
        ..WHEN
    };

    #[test]
    fn simple_types() {
        let mut q = Quirks::new();
        let ok = |d: &'static AttrDef, v: Value| coerce_simple(d, d.name, v, &mut Quirks::new());
        assert_eq!(
            ok(&WHEN, json!("2024-01-31T12:00:00Z")).unwrap(),
            Some(json!("2024-01-31T12:00:00Z"))
        );
        assert_eq!(
            ok(&WHEN, json!("2024-01-31T12:00:00.5+02:00")).unwrap(),
            Some(json!("2024-01-31T12:00:00.5+02:00"))
        );
        let e = ok(&WHEN, json!("yesterday")).unwrap_err();
        assert!(e.detail.contains("RFC 3339"));
        assert!(ok(&WHEN, json!(5)).is_err());
        assert_eq!(ok(&COUNT, json!(5)).unwrap(), Some(json!(5)));
        assert!(ok(&COUNT, json!(5.5)).is_err());
        assert!(ok(&COUNT, json!("5")).is_err());
        assert_eq!(ok(&RATIO, json!(5.5)).unwrap(), Some(json!(5.5)));
        assert!(ok(&RATIO, json!(true)).is_err());
        assert_eq!(
            coerce_simple(&WHEN, "when", Value::Null, &mut q).unwrap(),
            None
        );
        assert_eq!(q.count(quirk::NULL_ATTRIBUTE), 1);
    }

    #[test]
    fn manager_forms() {
        let cases = [
            (json!("m1"), Some(json!({"value": "m1"})), 1),
            (json!({"value": "m1"}), Some(json!({"value": "m1"})), 0),
            (
                json!({"Value": "m1", "$ref": "https://x/Users/m1", "displayName": "Boss"}),
                Some(json!({"value": "m1", "$ref": "https://x/Users/m1", "displayName": "Boss"})),
                0,
            ),
            (
                json!([{"$ref": "http://.../scim/Users/m2", "value": "m2"}]),
                Some(json!({"$ref": "http://.../scim/Users/m2", "value": "m2"})),
                1,
            ),
            (json!(["m3"]), Some(json!({"value": "m3"})), 2),
            (json!(""), None, 1),
            (json!({"value": ""}), None, 0),
            (json!({"value": null}), None, 0),
            (json!({}), None, 0),
            (json!([]), None, 1),
        ];
        for (input, expected, form_quirks) in cases {
            let mut q = Quirks::new();
            let n = normalize(
                ResourceKind::User,
                json!({"userName": "u", ENTERPRISE_USER: {"manager": input.clone()}}),
                &mut q,
            )
            .unwrap();
            let got = n
                .doc
                .get(ENTERPRISE_USER)
                .and_then(|e| e.get("manager"))
                .cloned();
            assert_eq!(got, expected, "input {input}");
            assert_eq!(q.count(quirk::MANAGER_FORM), form_quirks, "input {input}");
        }
        // The legacy top-level forms land in the extension too.
        let (n, _) = user(json!({"userName": "u", "manager": "m9"}));
        assert_eq!(n.doc[ENTERPRISE_USER]["manager"], json!({"value": "m9"}));
        let (n, _) = user(json!({
            "userName": "u",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager": "m8"
        }));
        assert_eq!(n.doc[ENTERPRISE_USER]["manager"], json!({"value": "m8"}));
        let e = err(ResourceKind::User, json!({"userName": "u", "manager": 5}));
        assert!(e.detail.contains("manager"), "{}", e.detail);
        let e = err(
            ResourceKind::User,
            json!({"userName": "u", "manager": {"value": 5}}),
        );
        assert!(e.detail.contains("manager.value"), "{}", e.detail);
    }

    #[test]
    fn role_values_holding_json() {
        let role = "{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"25\",\"displayName\":\"Role1234\"}";
        let (n, q) = user(json!({
            "userName": "u",
            "roles": [{"value": role}, {"value": "{not json"}, {"value": "Admin", "primary": "True"}]
        }));
        assert_eq!(n.doc["roles"][0]["value"], role);
        assert_eq!(n.doc["roles"][1]["value"], "{not json");
        assert_eq!(
            n.doc["roles"][2],
            json!({"value": "Admin", "primary": true})
        );
        assert_eq!(q.count(quirk::ROLE_JSON_STRING), 1);
    }

    #[test]
    fn unknown_attributes_are_listed() {
        let (n, _) = user(json!({
            "userName": "u",
            "favouriteColour": "blue",
            "name": {"givenName": "a", "nick": "b"},
            "emails": [{"value": "x@y.z", "label": "l"}],
            ENTERPRISE_USER: {"badge": "7"},
            "urn:example:custom:1.0:Thing": {"a": 1},
            "nullUnknown": null
        }));
        assert_eq!(
            n.ignored,
            [
                "favouriteColour".to_string(),
                "name.nick".to_string(),
                "emails.label".to_string(),
                format!("{ENTERPRISE_USER}:badge"),
                "urn:example:custom:1.0:Thing".to_string(),
            ]
        );
        assert_eq!(n.doc["name"], json!({"givenName": "a"}));
        assert_eq!(n.doc["emails"], json!([{"value": "x@y.z"}]));
        assert!(n.doc.get(ENTERPRISE_USER).is_none());
    }

    #[test]
    fn password_is_stored_but_never_projected() {
        let (n, _) = user(json!({"userName": "u", "password": "s3cret"}));
        assert_eq!(n.doc["password"], "s3cret");
        let out = project(ResourceKind::User, &n.doc, &[], &[]);
        assert!(out.get("password").is_none());
        let attrs = parse_attribute_list("password,userName").unwrap();
        let out = project(ResourceKind::User, &n.doc, &attrs, &[]);
        assert!(out.get("password").is_none());
        assert_eq!(out["userName"], "u");
    }
}
