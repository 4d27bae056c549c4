//! The parameters of a SCIM read: the resource type segment, query
//! parameters and SearchRequest bodies.

use scim::filter::AttrPath;
use scim::{ResourceKind, ScimError};
use serde_json::Value;

use super::response::ApiError;
use crate::provision::list::ListParams;

pub(super) fn kind_of(segment: &str) -> Result<ResourceKind, ApiError> {
    match segment {
        "Users" => Ok(ResourceKind::User),
        "Groups" => Ok(ResourceKind::Group),
        other => Err(ScimError::not_found(format!(
            "there is no resource type {other:?}; this server serves /Users and /Groups"
        ))
        .into()),
    }
}

/// Query parameters of a read, names case-insensitive.
pub(super) fn read_params(query: Option<&str>) -> Result<ListParams, ScimError> {
    let mut p = ListParams {
        start_index: 1,
        ..Default::default()
    };
    let Some(query) = query else { return Ok(p) };
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.to_ascii_lowercase().as_str() {
            "filter" => p.filter = Some(v.into_owned()),
            "startindex" => p.start_index = parse_int("startIndex", &v)?,
            "count" => p.count = Some(parse_int("count", &v)?.max(0)),
            "sortby" => p.sort_by = Some(v.into_owned()),
            "sortorder" => p.descending = parse_sort_order(&v)?,
            "attributes" => p.attributes = scim::resource::parse_attribute_list(&v)?,
            "excludedattributes" => p.excluded = scim::resource::parse_attribute_list(&v)?,
            // Entra's aadOptscim062020 flag and anything else: harmless.
            _ => {}
        }
    }
    Ok(p)
}

fn parse_int(name: &str, v: &str) -> Result<i64, ScimError> {
    v.trim()
        .parse::<i64>()
        .map_err(|_| ScimError::invalid_value(format!("{name} must be a whole number, got {v:?}")))
}

fn parse_sort_order(v: &str) -> Result<bool, ScimError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "ascending" | "" => Ok(false),
        "descending" => Ok(true),
        _ => Err(ScimError::invalid_value(format!(
            "sortOrder must be \"ascending\" or \"descending\", got {v:?}"
        ))),
    }
}

/// A SearchRequest body (RFC 7644 §3.4.3), member names case-insensitive.
pub(super) fn search_params(body: &Value) -> Result<ListParams, ScimError> {
    let Value::Object(map) = body else {
        return Err(ScimError::invalid_syntax(
            "a search request must be a JSON object",
        ));
    };
    let mut p = ListParams {
        start_index: 1,
        ..Default::default()
    };
    let text = |k: &str, v: &Value| -> Result<String, ScimError> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| ScimError::invalid_value(format!("{k} must be a string")))
    };
    let list = |k: &str, v: &Value| -> Result<Vec<AttrPath>, ScimError> {
        match v {
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    out.extend(scim::resource::parse_attribute_list(&text(k, item)?)?);
                }
                Ok(out)
            }
            Value::String(s) => scim::resource::parse_attribute_list(s),
            _ => Err(ScimError::invalid_value(format!(
                "{k} must be an array of attribute names"
            ))),
        }
    };
    let int = |k: &str, v: &Value| -> Result<i64, ScimError> {
        match v {
            Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| ScimError::invalid_value(format!("{k} must be a whole number"))),
            Value::String(s) => parse_int(k, s),
            _ => Err(ScimError::invalid_value(format!(
                "{k} must be a whole number"
            ))),
        }
    };
    for (k, v) in map {
        if v.is_null() {
            continue;
        }
        match k.to_ascii_lowercase().as_str() {
            "filter" => p.filter = Some(text(k, v)?),
            "startindex" => p.start_index = int(k, v)?,
            "count" => p.count = Some(int(k, v)?.max(0)),
            "sortby" => p.sort_by = Some(text(k, v)?),
            "sortorder" => p.descending = parse_sort_order(&text(k, v)?)?,
            "attributes" => p.attributes = list(k, v)?,
            "excludedattributes" => p.excluded = list(k, v)?,
            _ => {}
        }
    }
    Ok(p)
}

/// Whether `attributes` or `excludedAttributes` names a sub-attribute of
/// `members` (then the group is built whole, to project each member).
pub(super) fn names_member_sub_attributes(params: &ListParams) -> bool {
    params
        .attributes
        .iter()
        .chain(&params.excluded)
        .any(|a| a.name.eq_ignore_ascii_case("members") && a.sub.is_some())
}
