//! Reading a PATCH request body (RFC 7644 §3.5.2) leniently: Entra's `op`
//! casing, a missing `schemas`, an empty `Operations` array.

use serde_json::{Map, Value};

use super::{OpKind, PatchOp, PatchRequest};
use crate::dialect::{Quirks, quirk};
use crate::error::ScimError;
use crate::filter::{AttrPath, PatchPath, parse_path};
use crate::schema;

/// The most operations accepted in one PATCH request. Entra puts many group
/// members into one operation's `value`, so real requests stay far below this.
pub const MAX_OPERATIONS: usize = 1000;

/// Parses a PATCH request body.
///
/// The `schemas` member should list `urn:ietf:params:scim:api:messages:2.0:PatchOp`
/// but its absence is tolerated. Member names (`Operations`, `op`, `path`,
/// `value`) and `op` values are matched case-insensitively.
pub fn parse_patch(body: &Value, quirks: &mut Quirks) -> Result<PatchRequest, ScimError> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax(format!(
            "The PATCH body must be a JSON object such as {{\"schemas\": [\"{}\"], \"Operations\": [{{\"op\": \"replace\", \"path\": \"displayName\", \"value\": \"x\"}}]}}, not {}.",
            crate::schema::PATCH_OP,
            json_kind(body)
        )));
    };

    let Some(operations) = member(obj, "Operations", quirks) else {
        return Err(ScimError::invalid_syntax(
            "The PATCH body has no \"Operations\" array: send the operations as \"Operations\": [{\"op\": \"add\"|\"remove\"|\"replace\", \"path\": …, \"value\": …}].",
        ));
    };
    let Some(operations) = operations.as_array() else {
        return Err(ScimError::invalid_syntax(format!(
            "\"Operations\" must be an array of operations, not {}.",
            json_kind(operations)
        )));
    };
    if operations.is_empty() {
        quirks.note(quirk::EMPTY_OPERATIONS);
        return Ok(PatchRequest::default());
    }
    if operations.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_value(format!(
            "The PATCH has {} operations; at most {MAX_OPERATIONS} are accepted in one request. Split it into several PATCH requests.",
            operations.len()
        )));
    }

    let mut ops = Vec::with_capacity(operations.len());
    for (index, raw) in operations.iter().enumerate() {
        ops.push(parse_op(index, raw, quirks)?);
    }
    Ok(PatchRequest { ops })
}

fn parse_op(index: usize, raw: &Value, quirks: &mut Quirks) -> Result<PatchOp, ScimError> {
    let Some(obj) = raw.as_object() else {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{index}] must be an object with \"op\", \"path\" and \"value\", not {}.",
            json_kind(raw)
        )));
    };

    let op = match member(obj, "op", quirks) {
        Some(Value::String(s)) => parse_op_name(index, s, quirks)?,
        Some(other) => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{index}].op must be one of the strings \"add\", \"remove\" or \"replace\", not {}.",
                json_kind(other)
            )));
        }
        None => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{index}] has no \"op\": each operation needs \"op\": \"add\", \"remove\" or \"replace\"."
            )));
        }
    };

    let path = match member(obj, "path", quirks) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) if is_schema_urn(s.trim()) => {
            // The path names a schema itself: its value is an object of that
            // schema's attributes. Extension URNs are resolved when applied;
            // the core URN is the resource, i.e. no path.
            let urn = s.trim();
            if urn.eq_ignore_ascii_case(schema::CORE_USER)
                || urn.eq_ignore_ascii_case(schema::CORE_GROUP)
            {
                None
            } else {
                Some(PatchPath {
                    attr: AttrPath {
                        urn: None,
                        name: urn.to_string(),
                        sub: None,
                    },
                    filter: None,
                    sub: None,
                })
            }
        }
        Some(Value::String(s)) => match parse_path(s, quirks) {
            Ok(p) => Some(p),
            Err(e) => {
                let mut err = e.into_path_error();
                err.detail = format!(
                    "Operations[{index}].path \"{}\": {}",
                    shorten(s),
                    err.detail
                );
                return Err(err);
            }
        },
        Some(other) => {
            return Err(ScimError::invalid_path(format!(
                "Operations[{index}].path must be a string such as \"displayName\" or \"emails[type eq \\\"work\\\"].value\", not {}.",
                json_kind(other)
            )));
        }
    };

    let value = member(obj, "value", quirks).cloned();

    match op {
        OpKind::Add => match (&path, &value) {
            (_, None) => {
                return Err(ScimError::invalid_syntax(format!(
                    "Operations[{index}] (add) has no \"value\": an add operation needs the value to add."
                )));
            }
            (None, Some(v)) if !v.is_object() => {
                return Err(ScimError::invalid_value(format!(
                    "Operations[{index}] (add) has no \"path\", so its \"value\" must be an object of attributes to add, such as {{\"nickName\": \"Babs\"}}; it is {}.",
                    json_kind(v)
                )));
            }
            _ => {}
        },
        OpKind::Replace => {
            if path.is_none() {
                match &value {
                    Some(Value::Object(_)) => {}
                    Some(v) => {
                        return Err(ScimError::invalid_value(format!(
                            "Operations[{index}] (replace) has no \"path\", so its \"value\" must be an object of attributes to replace, such as {{\"active\": false}}; it is {}.",
                            json_kind(v)
                        )));
                    }
                    None => {
                        return Err(ScimError::invalid_syntax(format!(
                            "Operations[{index}] (replace) has neither \"path\" nor \"value\": give the attribute in \"path\" and the new value in \"value\", or an object of attributes in \"value\"."
                        )));
                    }
                }
            }
        }
        OpKind::Remove => {
            if path.is_none() {
                return Err(ScimError::no_target(format!(
                    "Operations[{index}] (remove) has no \"path\": say which attribute to remove, such as \"path\": \"nickName\" or \"members[value eq \\\"<id>\\\"]\"."
                )));
            }
        }
    }

    Ok(PatchOp { op, path, value })
}

fn parse_op_name(index: usize, s: &str, quirks: &mut Quirks) -> Result<OpKind, ScimError> {
    let kind = if s.eq_ignore_ascii_case("add") {
        OpKind::Add
    } else if s.eq_ignore_ascii_case("remove") {
        OpKind::Remove
    } else if s.eq_ignore_ascii_case("replace") {
        OpKind::Replace
    } else {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{index}].op \"{}\" is not a PATCH operation: use \"add\", \"remove\" or \"replace\".",
            shorten(s)
        )));
    };
    if s != kind.as_str() {
        quirks.note(quirk::OP_CASE);
    }
    Ok(kind)
}

/// Looks a member up by name, case-insensitively, noting a quirk when the case
/// is not the RFC's.
fn member<'a>(obj: &'a Map<String, Value>, name: &str, quirks: &mut Quirks) -> Option<&'a Value> {
    if let Some(v) = obj.get(name) {
        return Some(v);
    }
    let (_, v) = obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))?;
    quirks.note(quirk::ATTRIBUTE_CASE);
    Some(v)
}

fn is_schema_urn(s: &str) -> bool {
    matches!(schema::split_urn(s), (Some(_), ""))
}

pub(super) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Client text echoed in an error detail, cut to a readable length at a
/// character boundary.
pub(super) fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}
