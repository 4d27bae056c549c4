//! Resource documents: turning what a client sends (POST/PUT bodies, or a
//! document after PATCH) into the canonical stored form, and projecting the full
//! representation for `attributes=` / `excludedAttributes=` (RFC 7644 §3.4.2.5,
//! §3.9).
//!
//! The canonical stored form: attribute names in the exact case of their
//! schema definition, core attributes at the top level, extension attributes
//! under their schema URN key, `schemas` listing the core URN plus the
//! extensions present, no nulls, no empty strings, arrays or objects.

use serde_json::{Map, Value};

use crate::dialect::{Quirks, quirk};
use crate::error::ScimError;
use crate::filter::AttrPath;
use crate::schema::{self, AttrDef, AttrType, Mutability, ResourceKind, Returned, Schema};

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

fn extension_by_urn(kind: ResourceKind, urn: &str) -> Option<&'static Schema> {
    kind.extension_schemas()
        .iter()
        .copied()
        .find(|s| s.id.eq_ignore_ascii_case(urn))
}

fn classify(kind: ResourceKind, key: &str, quirks: &mut Quirks) -> Target {
    if key.eq_ignore_ascii_case("schemas") {
        if key != "schemas" {
            quirks.note(quirk::ATTRIBUTE_CASE);
        }
        return Target::Schemas;
    }
    if let Some(ext) = extension_by_urn(kind, key) {
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
            s.eq_ignore_ascii_case(kind.core_schema().id) || extension_by_urn(kind, s).is_some();
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

// ---------------------------------------------------------------------------
// Projection.

fn valid_attr_name(s: &str) -> bool {
    let mut chars = s.chars();
    s == "$ref"
        || (chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
}

/// Parses an `attributes=` or `excludedAttributes=` value: comma-separated
/// `[urn:]name[.sub]` references. A bare schema URN (`urn:…:enterprise:2.0:User`)
/// selects the whole extension and is returned with an empty `name`.
pub fn parse_attribute_list(s: &str) -> Result<Vec<AttrPath>, ScimError> {
    let mut out = Vec::new();
    for raw in s.split(',') {
        let item = raw.trim();
        if item.is_empty() {
            continue;
        }
        let (urn, rest) = match schema::split_urn(item) {
            (Some(u), rest) => (Some(u.to_string()), rest),
            // An unknown schema URN: everything before the last ':' is taken as
            // the URN, so the reference is well-formed and simply matches
            // nothing.
            (None, rest) => match rest.rsplit_once(':') {
                Some((u, n)) if u.get(..4).is_some_and(|h| h.eq_ignore_ascii_case("urn:")) => {
                    (Some(u.to_string()), n)
                }
                _ => (None, rest),
            },
        };
        let (name, sub) = match rest.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        let whole_schema = urn.is_some() && name.is_empty() && sub.is_none();
        let name_ok = whole_schema || valid_attr_name(name);
        if !name_ok || sub.is_some_and(|s| !valid_attr_name(s)) {
            return Err(ScimError::invalid_value(format!(
                "'{item}' is not a valid attribute reference. Use \
                 [schemaURN:]attributeName[.subAttributeName], e.g. userName, \
                 name.givenName or urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager, \
                 separated by commas."
            )));
        }
        out.push(AttrPath {
            urn,
            name: name.to_string(),
            sub: sub.map(str::to_string),
        });
    }
    Ok(out)
}

/// A reference resolved for projection: where the attribute is stored and,
/// optionally, one sub-attribute.
enum Sel {
    /// A whole extension object.
    Extension(&'static str),
    Attr {
        extension: Option<&'static str>,
        attr: &'static AttrDef,
        sub: Option<&'static AttrDef>,
    },
}

fn select(kind: ResourceKind, p: &AttrPath) -> Option<Sel> {
    let urn = p.urn.as_deref();
    if p.name.is_empty() {
        return extension_by_urn(kind, urn?).map(|s| Sel::Extension(s.id));
    }
    let res = schema::resolve(kind, urn, &p.name)?;
    let sub = match &p.sub {
        None => None,
        Some(s) => Some(schema::sub_attr(res.attr, s)?),
    };
    Some(Sel::Attr {
        extension: res.extension,
        attr: res.attr,
        sub,
    })
}

fn get_ci<'a>(m: &'a Map<String, Value>, name: &str) -> Option<(&'a String, &'a Value)> {
    m.get_key_value(name)
        .or_else(|| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
}

/// Removes the attributes that are never returned, and those returned only on
/// request, from a map of attributes defined by `attrs`.
fn strip_unrequested(m: &mut Map<String, Value>, attrs: &[AttrDef], requested: &[&str]) {
    // Few attributes are withheld (a password, say): look for those rather
    // than look up every key of the resource among all the attributes.
    for a in attrs {
        let withheld = match a.returned {
            Returned::Never => true,
            Returned::Request => !requested.iter().any(|r| r.eq_ignore_ascii_case(a.name)),
            _ => false,
        };
        if withheld && m.keys().any(|k| k.eq_ignore_ascii_case(a.name)) {
            m.retain(|k, _| !k.eq_ignore_ascii_case(a.name));
        }
    }
}

/// Keeps only the sub-attributes `subs` (case-insensitively) of a complex
/// value or of each element of a multi-valued one; elements left empty are
/// dropped, and so is a value left empty.
fn keep_subs(v: &Value, subs: &[&str]) -> Option<Value> {
    match v {
        Value::Object(o) => {
            let m: Map<String, Value> = o
                .iter()
                .filter(|(k, _)| subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
                .map(|(k, x)| (k.clone(), x.clone()))
                .collect();
            (!m.is_empty()).then_some(Value::Object(m))
        }
        Value::Array(a) => {
            let items: Vec<Value> = a.iter().filter_map(|x| keep_subs(x, subs)).collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        _ => None,
    }
}

/// What `attributes=` asked for from one attribute: all of it, or some of its
/// sub-attributes.
struct Pick {
    extension: Option<&'static str>,
    attr: &'static str,
    subs: Option<Vec<&'static str>>,
}

fn pick_attributes(
    kind: ResourceKind,
    src: &Map<String, Value>,
    attributes: &[AttrPath],
) -> Map<String, Value> {
    let mut whole_ext: Vec<&'static str> = Vec::new();
    let mut picks: Vec<Pick> = Vec::new();
    for p in attributes {
        match select(kind, p) {
            None => {}
            Some(Sel::Extension(urn)) => whole_ext.push(urn),
            Some(Sel::Attr {
                extension,
                attr,
                sub,
            }) => {
                let existing = picks
                    .iter_mut()
                    .find(|k| k.extension == extension && k.attr == attr.name);
                match (existing, sub) {
                    (Some(k), None) => k.subs = None,
                    (Some(k), Some(sd)) => {
                        if let Some(subs) = &mut k.subs {
                            subs.push(sd.name);
                        }
                    }
                    (None, sub) => picks.push(Pick {
                        extension,
                        attr: attr.name,
                        subs: sub.map(|sd| vec![sd.name]),
                    }),
                }
            }
        }
    }
    let mut out = Map::new();
    for (key, value) in src {
        if let Some(urn) = kind
            .extension_schemas()
            .iter()
            .map(|e| e.id)
            .find(|u| u.eq_ignore_ascii_case(key))
        {
            if whole_ext.contains(&urn) {
                out.insert(key.clone(), value.clone());
                continue;
            }
            let Value::Object(inner) = value else {
                continue;
            };
            let m = pick_from(inner, picks.iter().filter(|p| p.extension == Some(urn)));
            if !m.is_empty() {
                out.insert(key.clone(), Value::Object(m));
            }
            continue;
        }
        let one: Map<String, Value> = [(key.clone(), value.clone())].into_iter().collect();
        out.extend(pick_from(
            &one,
            picks.iter().filter(|p| p.extension.is_none()),
        ));
    }
    out
}

fn pick_from<'a>(
    src: &Map<String, Value>,
    picks: impl Iterator<Item = &'a Pick> + Clone,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in src {
        let Some(p) = picks.clone().find(|p| p.attr.eq_ignore_ascii_case(key)) else {
            continue;
        };
        let part = match &p.subs {
            None => Some(value.clone()),
            Some(subs) => keep_subs(value, subs),
        };
        if let Some(v) = part {
            out.insert(key.clone(), v);
        }
    }
    out
}

fn remove_sub(v: &mut Value, sub: &str) {
    match v {
        Value::Object(o) => o.retain(|k, _| !k.eq_ignore_ascii_case(sub)),
        Value::Array(a) => {
            a.iter_mut().for_each(|x| remove_sub(x, sub));
            a.retain(|x| x.as_object().is_none_or(|o| !o.is_empty()));
        }
        _ => {}
    }
}

fn is_empty_container(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Projects a full resource representation per `attributes=` and
/// `excludedAttributes=` (RFC 7644 §3.4.2.5, §3.9). `id` and `schemas` are
/// always returned; attributes defined `returned: never` never are. References
/// to attributes that do not exist are ignored, as the RFC requires.
pub fn project(
    kind: ResourceKind,
    full: &Value,
    attributes: &[AttrPath],
    excluded: &[AttrPath],
) -> Value {
    project_owned(kind, full.clone(), attributes, excluded)
}

/// [`project`] of a representation the caller no longer needs (no copy).
pub fn project_owned(
    kind: ResourceKind,
    full: Value,
    attributes: &[AttrPath],
    excluded: &[AttrPath],
) -> Value {
    let Value::Object(src) = full else {
        return full;
    };
    let core_attrs = kind.core_schema().attributes;
    let exts = kind.extension_schemas();
    let id = get_ci(&src, "id").map(|(k, v)| (k.clone(), v.clone()));

    let mut out: Map<String, Value> = if attributes.is_empty() {
        src
    } else {
        pick_attributes(kind, &src, attributes)
    };

    for p in excluded {
        let Some(sel) = select(kind, p) else { continue };
        match sel {
            Sel::Extension(urn) => out.retain(|k, _| !k.eq_ignore_ascii_case(urn)),
            Sel::Attr {
                extension,
                attr,
                sub,
            } => {
                let returned = sub.map_or(attr.returned, |s| s.returned);
                if returned == Returned::Always || attr.returned == Returned::Always {
                    continue;
                }
                let container = match extension {
                    Some(urn) => match out
                        .iter_mut()
                        .find(|(k, _)| k.eq_ignore_ascii_case(urn))
                        .map(|(_, v)| v)
                    {
                        Some(Value::Object(o)) => o,
                        _ => continue,
                    },
                    None => &mut out,
                };
                match sub {
                    None => container.retain(|k, _| !k.eq_ignore_ascii_case(attr.name)),
                    Some(sd) => {
                        let key = get_ci(container, attr.name).map(|(k, _)| k.clone());
                        if let Some(key) = key
                            && let Some(v) = container.get_mut(&key)
                        {
                            remove_sub(v, sd.name);
                            if is_empty_container(v) {
                                container.remove(&key);
                            }
                        }
                    }
                }
            }
        }
    }

    // Attributes never returned, or returned only when asked for by name.
    let requested: Vec<&str> = attributes
        .iter()
        .filter(|p| p.sub.is_none())
        .map(|p| p.name.as_str())
        .collect();
    strip_unrequested(&mut out, core_attrs, &requested);
    strip_unrequested(&mut out, schema::COMMON, &requested);
    for ext in exts {
        if let Some(Value::Object(o)) = out
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(ext.id))
            .map(|(_, v)| v)
        {
            strip_unrequested(o, ext.attributes, &requested);
        }
    }
    out.retain(|k, v| {
        !(exts.iter().any(|e| e.id.eq_ignore_ascii_case(k)) && is_empty_container(v))
    });

    // `schemas` and `id` are always returned; `schemas` lists only the
    // extensions still present.
    let mut schemas = vec![Value::String(kind.core_schema().id.to_string())];
    for ext in exts {
        if out.keys().any(|k| k.eq_ignore_ascii_case(ext.id)) {
            schemas.push(Value::String(ext.id.to_string()));
        }
    }
    // Usually `schemas` and `id` already lead (every stored representation
    // is built that way): then only the list is replaced, in place.
    let leading = usize::from(id.is_some()) + 1;
    let in_order = {
        let mut keys = out.keys();
        keys.next().is_some_and(|k| k == "schemas")
            && id
                .as_ref()
                .is_none_or(|(id_key, _)| keys.next() == Some(id_key))
            && out
                .keys()
                .skip(leading)
                .all(|k| !k.eq_ignore_ascii_case("schemas") && !k.eq_ignore_ascii_case("id"))
    };
    if in_order {
        out.insert("schemas".into(), Value::Array(schemas));
        return Value::Object(out);
    }
    let mut result = Map::new();
    result.insert("schemas".into(), Value::Array(schemas));
    if let Some((k, v)) = id {
        result.insert(k, v);
    }
    for (k, v) in out {
        if k.eq_ignore_ascii_case("schemas") || k.eq_ignore_ascii_case("id") {
            continue;
        }
        result.insert(k, v);
    }
    Value::Object(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use crate::schema::{CORE_GROUP, CORE_USER, ENTERPRISE_USER, MAPPING_USER};
    use proptest::prelude::*;
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

    // ---- projection ----

    fn path(urn: Option<&str>, name: &str, sub: Option<&str>) -> AttrPath {
        AttrPath {
            urn: urn.map(str::to_string),
            name: name.to_string(),
            sub: sub.map(str::to_string),
        }
    }

    #[test]
    fn attribute_lists() {
        assert_eq!(
            parse_attribute_list(" userName , name.givenName,emails.VALUE ").unwrap(),
            [
                path(None, "userName", None),
                path(None, "name", Some("givenName")),
                path(None, "emails", Some("VALUE")),
            ]
        );
        assert_eq!(
            parse_attribute_list(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value,\
                 urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department"
            )
            .unwrap(),
            [
                path(Some(ENTERPRISE_USER), "manager", Some("value")),
                path(Some(ENTERPRISE_USER), "department", None),
            ]
        );
        assert_eq!(
            parse_attribute_list(ENTERPRISE_USER).unwrap(),
            [path(Some(ENTERPRISE_USER), "", None)]
        );
        assert_eq!(
            parse_attribute_list("members.$ref").unwrap(),
            [path(None, "members", Some("$ref"))]
        );
        assert_eq!(
            parse_attribute_list("urn:example:x:1.0:Thing:color").unwrap(),
            [path(Some("urn:example:x:1.0:Thing"), "color", None)]
        );
        assert!(parse_attribute_list("").unwrap().is_empty());
        assert!(parse_attribute_list(" , ,").unwrap().is_empty());
        for bad in [
            "user name",
            "1abc",
            "name.",
            "a.b.c",
            "na;me",
            "é:x",
            "aéé:x",
        ] {
            let e = parse_attribute_list(bad).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{bad}");
            assert!(e.detail.contains(bad), "{}", e.detail);
        }
    }

    fn full_user() -> Value {
        json!({
            "schemas": [CORE_USER, ENTERPRISE_USER],
            "id": "2819c223",
            "externalId": "bjensen",
            "userName": "bjensen@example.com",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [
                {"value": "bj@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"},
                {"type": "other"}
            ],
            "active": true,
            ENTERPRISE_USER: {"employeeNumber": "701984", "manager": {"value": "26118915"}},
            "groups": [{"value": "g1", "display": "Admins"}],
            "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z"}
        })
    }

    fn proj(attrs: &str, excluded: &str) -> Value {
        project(
            ResourceKind::User,
            &full_user(),
            &parse_attribute_list(attrs).unwrap(),
            &parse_attribute_list(excluded).unwrap(),
        )
    }

    #[test]
    fn project_default_is_everything() {
        assert_eq!(proj("", ""), full_user());
        assert_eq!(project(ResourceKind::User, &json!(5), &[], &[]), json!(5));
    }

    #[test]
    fn project_attributes() {
        assert_eq!(
            proj("USERNAME", ""),
            json!({"schemas": [CORE_USER], "id": "2819c223", "userName": "bjensen@example.com"})
        );
        assert_eq!(
            proj("name.givenName,emails.value,emails.TYPE", ""),
            json!({
                "schemas": [CORE_USER],
                "id": "2819c223",
                "name": {"givenName": "Barbara"},
                "emails": [
                    {"value": "bj@example.com", "type": "work"},
                    {"value": "babs@jensen.org", "type": "home"},
                    {"type": "other"}
                ]
            })
        );
        assert_eq!(
            proj(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager,id,meta",
                ""
            ),
            json!({
                "schemas": [CORE_USER, ENTERPRISE_USER],
                "id": "2819c223",
                ENTERPRISE_USER: {"manager": {"value": "26118915"}},
                "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z"}
            })
        );
        // A bare extension attribute name finds the extension too.
        assert_eq!(
            proj("employeeNumber", "")[ENTERPRISE_USER],
            json!({"employeeNumber": "701984"})
        );
        assert_eq!(
            proj(ENTERPRISE_USER, "")[ENTERPRISE_USER],
            full_user()[ENTERPRISE_USER]
        );
        // A sub-attribute plus the whole attribute is the whole attribute.
        assert_eq!(proj("name.givenName,name", "")["name"], full_user()["name"]);
        // Unknown names are ignored.
        assert_eq!(
            proj("nonsense,name.nonsense,urn:x:y:Z:q", ""),
            json!({"schemas": [CORE_USER], "id": "2819c223"})
        );
    }

    #[test]
    fn project_excluded_attributes() {
        let out = proj("", "emails,NAME.familyName,groups,id,schemas");
        assert!(out.get("emails").is_none() && out.get("groups").is_none());
        assert_eq!(out["name"], json!({"givenName": "Barbara"}));
        assert_eq!(out["id"], "2819c223");
        assert_eq!(out["schemas"], json!([CORE_USER, ENTERPRISE_USER]));
        let out = proj("", "name.givenName,name.familyName");
        assert!(out.get("name").is_none());
        let out = proj("", "emails.type");
        assert_eq!(
            out["emails"],
            json!([{"value": "bj@example.com", "primary": true}, {"value": "babs@jensen.org"}])
        );
        let out = proj("", ENTERPRISE_USER);
        assert!(out.get(ENTERPRISE_USER).is_none());
        assert_eq!(out["schemas"], json!([CORE_USER]));
        let out = proj(
            "",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        );
        assert_eq!(
            out[ENTERPRISE_USER],
            json!({"manager": {"value": "26118915"}})
        );
        let out = proj("", "manager,employeeNumber");
        assert!(out.get(ENTERPRISE_USER).is_none());
        assert_eq!(out["schemas"], json!([CORE_USER]));
        // Both given: the selection, then the exclusions.
        let out = proj("name,userName", "name.givenName");
        assert_eq!(
            out,
            json!({
                "schemas": [CORE_USER],
                "id": "2819c223",
                "userName": "bjensen@example.com",
                "name": {"familyName": "Jensen"}
            })
        );
    }

    #[test]
    fn project_group_members() {
        let group = json!({
            "schemas": [CORE_GROUP],
            "id": "g1",
            "displayName": "Admins",
            "members": [{"value": "u1", "$ref": "https://x/Users/u1", "display": "A", "type": "User"}],
            "meta": {"resourceType": "Group"}
        });
        let out = project(
            ResourceKind::Group,
            &group,
            &[],
            &parse_attribute_list("members").unwrap(),
        );
        assert!(out.get("members").is_none());
        assert_eq!(out["displayName"], "Admins");
        let out = project(
            ResourceKind::Group,
            &group,
            &parse_attribute_list("members.value,displayName").unwrap(),
            &[],
        );
        assert_eq!(
            out,
            json!({
                "schemas": [CORE_GROUP],
                "id": "g1",
                "displayName": "Admins",
                "members": [{"value": "u1"}]
            })
        );
    }

    // ---- properties ----

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => prop::sample::select(vec![
                "userName", "USERNAME", "displayName", "name", "givenName", "familyName",
                "emails", "value", "type", "primary", "active", "manager", "members",
                "roles", "groups", "id", "meta", "schemas", "externalId", "$ref",
                "displayName", "title", "phoneNumbers", "addresses", "password",
                "name.givenName", "manager.value", "emails.value",
                ENTERPRISE_USER,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.employeeNumber",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0User",
                "urn:ietf:params:scim:schemas:core:2.0:User:userName",
                "employeeNumber", "department",
            ])
            .prop_map(str::to_string),
            1 => "\\PC{0,8}",
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            prop::sample::select(vec![
                "",
                "x",
                "True",
                "false",
                "{\"a\":1}",
                "2024-01-01T00:00:00Z",
                " "
            ])
            .prop_map(|s| Value::String(s.to_string())),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn body() -> impl Strategy<Value = Value> {
        (
            prop::collection::vec((key(), json_value()), 0..8),
            prop::option::of("\\PC{1,10}"),
        )
            .prop_map(|(kv, required)| {
                let mut m: Map<String, Value> = kv.into_iter().collect();
                if let Some(r) = required {
                    m.insert("userName".into(), Value::String(r.clone()));
                    m.insert("displayName".into(), Value::String(r));
                }
                Value::Object(m)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        #[test]
        fn normalize_never_panics_and_is_idempotent(b in body(), group in any::<bool>()) {
            let kind = if group { ResourceKind::Group } else { ResourceKind::User };
            let mut q = Quirks::new();
            if let Ok(n) = normalize(kind, b, &mut q) {
                let mut q2 = Quirks::new();
                let again = normalize(kind, n.doc.clone(), &mut q2)
                    .expect("a normalised document normalises again");
                prop_assert_eq!(&again.doc, &n.doc);
                prop_assert!(again.ignored.is_empty());
                prop_assert_eq!(again.members, None);
                prop_assert!(q2.is_empty(), "canonical doc raised quirks: {:?}", q2);
                // Projection never panics and keeps id/schemas semantics.
                let all = project(kind, &n.doc, &[], &[]);
                prop_assert_eq!(all.get("schemas"), n.doc.get("schemas"));
            }
        }

        #[test]
        fn normalize_arbitrary_json_never_panics(v in json_value(), group in any::<bool>()) {
            let kind = if group { ResourceKind::Group } else { ResourceKind::User };
            let _ = normalize(kind, v, &mut Quirks::new());
        }

        #[test]
        fn attribute_lists_never_panic(s in "\\PC{0,60}", v in json_value()) {
            if let Ok(paths) = parse_attribute_list(&s) {
                let out = project(ResourceKind::User, &v, &paths, &paths);
                if v.is_object() {
                    prop_assert!(out.get("schemas").is_some());
                }
            }
        }
    }
}
