//! Evaluation of a filter against a resource's full representation
//! (RFC 7644 §3.4.2.2).
//!
//! Attribute names resolve case-insensitively through the schemas; an
//! attribute the schemas do not know matches nothing (so `ne` on it is false
//! too, while `not (…)` of it is true). String comparisons honour `caseExact`,
//! `dateTime` attributes compare as instants, numbers numerically, and
//! booleans accept the strings `"True"` / `"False"` that Entra sends.
//!
//! A comparison on a multi-valued attribute is true when any value satisfies
//! it; `ne` is the negation of `eq` over all values, so it is true for an
//! absent attribute. A comparison on a complex attribute without a
//! sub-attribute (`emails eq "a@x"`, `manager eq "id"`) compares its `value`
//! sub-attribute. `eq null` means "not present", `ne null` means "present".

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Number, Value};

use super::ast::{AttrPath, CompValue, CompareOp, Filter};
use crate::schema::{self, AttrDef, AttrType, ResourceKind};

/// Whether `resource` (a full representation) satisfies `filter`.
pub fn matches(filter: &Filter, kind: ResourceKind, resource: &Value) -> bool {
    match filter {
        Filter::And(l, r) => matches(l, kind, resource) && matches(r, kind, resource),
        Filter::Or(l, r) => matches(l, kind, resource) || matches(r, kind, resource),
        Filter::Not(inner) => !matches(inner, kind, resource),
        Filter::Present(path) => match top_level(kind, resource, path) {
            Some(target) => target.values.iter().any(|v| is_present(v)),
            None => false,
        },
        Filter::Compare { path, op, value } => match top_level(kind, resource, path) {
            Some(target) => compare_all(target.def, &target.values, *op, value),
            None => false,
        },
        Filter::ValuePath { path, filter } => {
            let Some(resolved) = schema::resolve(kind, path.urn.as_deref(), &path.name) else {
                return false;
            };
            if path.sub.is_some() {
                return false;
            }
            let Some(v) = attribute_value(resource, resolved.extension, resolved.attr.name) else {
                return false;
            };
            elements(v).any(|e| eval_element(filter, resolved.attr, e))
        }
    }
}

/// Whether one element of the multi-valued attribute `parent` satisfies a
/// value-path filter whose paths are relative to the element (PATCH
/// `emails[type eq "work"]`). An unknown `parent` matches nothing.
pub fn matches_element(
    filter: &Filter,
    kind: ResourceKind,
    parent: &AttrPath,
    element: &Value,
) -> bool {
    let Some(resolved) = schema::resolve(kind, parent.urn.as_deref(), &parent.name) else {
        return false;
    };
    let def = match &parent.sub {
        Some(sub) => match schema::sub_attr(resolved.attr, sub) {
            Some(d) => d,
            None => return false,
        },
        None => resolved.attr,
    };
    eval_element(filter, def, element)
}

/// The values a path designates in a resource, with the definition that
/// governs how they compare.
struct Target<'a> {
    def: &'static AttrDef,
    values: Vec<&'a Value>,
}

fn top_level<'a>(kind: ResourceKind, resource: &'a Value, path: &AttrPath) -> Option<Target<'a>> {
    let resolved = schema::resolve(kind, path.urn.as_deref(), &path.name)?;
    let attr = resolved.attr;
    let raw = attribute_value(resource, resolved.extension, attr.name);
    match &path.sub {
        Some(sub) => {
            let def = schema::sub_attr(attr, sub)?;
            let values = raw
                .into_iter()
                .flat_map(elements)
                .filter_map(|e| e.as_object().and_then(|o| get_ci(o, def.name)))
                .flat_map(elements)
                .collect();
            Some(Target { def, values })
        }
        None => Some(Target {
            def: attr,
            values: raw.into_iter().flat_map(elements).collect(),
        }),
    }
}

/// The attribute's value in the document: at the top level, or under its
/// extension URN key.
fn attribute_value<'a>(
    resource: &'a Value,
    extension: Option<&str>,
    name: &str,
) -> Option<&'a Value> {
    let obj = resource.as_object()?;
    let container = match extension {
        Some(urn) => get_ci(obj, urn)?.as_object()?,
        None => obj,
    };
    get_ci(container, name)
}

/// Key lookup, exact first, then ignoring ASCII case (attribute names and
/// schema URNs are case-insensitive, RFC 7643 §2.1).
fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The elements of a multi-valued value, or the value itself.
fn elements(v: &Value) -> Box<dyn Iterator<Item = &Value> + '_> {
    match v {
        Value::Array(items) => Box::new(items.iter()),
        other => Box::new(std::iter::once(other)),
    }
}

/// RFC 7644 `pr`: present and not null, an empty string, an empty array or
/// an object without any present value.
pub(crate) fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(is_present),
        Value::Object(map) => map.values().any(is_present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn eval_element(filter: &Filter, parent: &'static AttrDef, element: &Value) -> bool {
    match filter {
        Filter::And(l, r) => eval_element(l, parent, element) && eval_element(r, parent, element),
        Filter::Or(l, r) => eval_element(l, parent, element) || eval_element(r, parent, element),
        Filter::Not(inner) => !eval_element(inner, parent, element),
        Filter::Present(path) => match element_target(parent, element, path) {
            Some(target) => target.values.iter().any(|v| is_present(v)),
            None => false,
        },
        Filter::Compare { path, op, value } => match element_target(parent, element, path) {
            Some(target) => compare_all(target.def, &target.values, *op, value),
            None => false,
        },
        // The parser rejects nested value filters; a tree built by hand with
        // one matches nothing.
        Filter::ValuePath { .. } => false,
    }
}

/// Resolves a path inside a value filter against the parent's
/// sub-attributes. A simple multi-valued parent has no sub-attributes, so
/// `value` designates the element itself.
fn element_target<'a>(
    parent: &'static AttrDef,
    element: &'a Value,
    path: &AttrPath,
) -> Option<Target<'a>> {
    if path.urn.is_some() || path.sub.is_some() {
        return None;
    }
    if !parent.is_complex() {
        return path.name.eq_ignore_ascii_case("value").then(|| Target {
            def: parent,
            values: vec![element],
        });
    }
    let def = schema::sub_attr(parent, &path.name)?;
    let values = element
        .as_object()
        .and_then(|o| get_ci(o, def.name))
        .into_iter()
        .flat_map(elements)
        .collect();
    Some(Target { def, values })
}

/// Applies one comparison to the values of an attribute.
fn compare_all(
    def: &'static AttrDef,
    values: &[&Value],
    op: CompareOp,
    expected: &CompValue,
) -> bool {
    if *expected == CompValue::Null {
        let present = values.iter().any(|v| is_present(v));
        return match op {
            CompareOp::Eq => !present,
            CompareOp::Ne => present,
            _ => false,
        };
    }
    // A complex attribute compared without a sub-attribute compares its
    // `value` sub-attribute (`emails eq "a@x"`, `manager eq "id"`).
    let (def, owned): (&'static AttrDef, Vec<&Value>) = if def.is_complex() {
        match schema::sub_attr(def, "value") {
            Some(value_def) => (
                value_def,
                values
                    .iter()
                    .filter_map(|v| v.as_object().and_then(|o| get_ci(o, value_def.name)))
                    .collect(),
            ),
            None => return op == CompareOp::Ne,
        }
    } else {
        (def, values.to_vec())
    };
    match op {
        CompareOp::Ne => !owned
            .iter()
            .any(|v| compare_value(def.ty, def.case_exact, v, CompareOp::Eq, expected)),
        _ => owned
            .iter()
            .any(|v| compare_value(def.ty, def.case_exact, v, op, expected)),
    }
}

/// Compares one stored value with a filter literal according to the
/// attribute type. `ne` is the negation of `eq`. Mismatched types (a number
/// against a boolean attribute, text that is not a date against a `dateTime`)
/// are never equal and never ordered.
pub fn compare_value(
    ty: AttrType,
    case_exact: bool,
    actual: &Value,
    op: CompareOp,
    expected: &CompValue,
) -> bool {
    if op == CompareOp::Ne {
        return !compare_value(ty, case_exact, actual, CompareOp::Eq, expected);
    }
    if actual.is_null() || *expected == CompValue::Null {
        return false;
    }
    match ty {
        AttrType::Boolean => {
            op == CompareOp::Eq
                && matches!((as_bool(actual), literal_bool(expected)), (Some(a), Some(b)) if a == b)
        }
        AttrType::Integer | AttrType::Decimal => {
            let (Some(a), Some(b)) = (as_number(actual), literal_number(expected)) else {
                return false;
            };
            match number_cmp(&a, &b) {
                Some(ord) => ordering_satisfies(op, ord),
                None => false,
            }
        }
        AttrType::DateTime => {
            let (Some(a), Some(b)) = (scalar_text(actual), literal_text(expected)) else {
                return false;
            };
            if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                return string_op(case_exact, &a, op, &b);
            }
            match (parse_instant(&a), parse_instant(&b)) {
                (Some(x), Some(y)) => ordering_satisfies(op, x.cmp(&y)),
                _ => false,
            }
        }
        AttrType::String | AttrType::Reference | AttrType::Binary => {
            let (Some(a), Some(b)) = (scalar_text(actual), literal_text(expected)) else {
                return false;
            };
            string_op(case_exact, &a, op, &b)
        }
        AttrType::Complex => false,
    }
}

fn ordering_satisfies(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn string_op(case_exact: bool, a: &str, op: CompareOp, b: &str) -> bool {
    let (a, b) = if case_exact {
        (a.to_string(), b.to_string())
    } else {
        (fold(a), fold(b))
    };
    match op {
        CompareOp::Co => a.contains(&b),
        CompareOp::Sw => a.starts_with(&b),
        CompareOp::Ew => a.ends_with(&b),
        other => ordering_satisfies(other, a.cmp(&b)),
    }
}

/// Case folding for case-insensitive comparison and sorting.
pub(crate) fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// The text of a stored scalar. Numbers and booleans stored in a string
/// attribute compare by their JSON text.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The text of a literal compared with a string attribute. An unquoted
/// number (`externalId eq 12345`) compares as its digits.
fn literal_text(v: &CompValue) -> Option<String> {
    match v {
        CompValue::Str(s) => Some(s.clone()),
        CompValue::Num(n) => Some(n.to_string()),
        CompValue::Bool(b) => Some(b.to_string()),
        CompValue::Null => None,
    }
}

fn parse_bool_text(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => parse_bool_text(s),
        _ => None,
    }
}

fn literal_bool(v: &CompValue) -> Option<bool> {
    match v {
        CompValue::Bool(b) => Some(*b),
        CompValue::Str(s) => parse_bool_text(s),
        _ => None,
    }
}

fn as_number(v: &Value) -> Option<Number> {
    match v {
        Value::Number(n) => Some(n.clone()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn literal_number(v: &CompValue) -> Option<Number> {
    match v {
        CompValue::Num(n) => Some(n.clone()),
        CompValue::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Numeric order: exact for integers (including mixed signed/unsigned),
/// `f64` otherwise.
pub(crate) fn number_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    fn int(n: &Number) -> Option<i128> {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    }
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// An RFC 3339 instant (`2011-05-13T04:42:34Z`, with optional fraction and
/// offset). Comparison of `DateTime` values is by instant, whatever the
/// offset.
pub(crate) fn parse_instant(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s.trim()).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::dialect::Quirks;
    use crate::filter::parse::parse_filter;

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn user() -> Value {
        json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                ENT
            ],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "Bjensen-EXT",
            "userName": "Bjensen@Example.com",
            "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
            "displayName": "Babs Jensen",
            "nickName": "",
            "profileUrl": "https://login.example.com/bjensen",
            "title": "Tour Guide",
            "userType": "Employee",
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
            "roles": [{"value": "Admin", "primary": "True"}, {"value": "Reader", "primary": false}],
            "groups": [{"value": "e9e30dba", "display": "Tour Guides", "$ref": "https://example.com/v2/Groups/e9e30dba"}],
            ENT: {
                "employeeNumber": "701984",
                "department": "Tour Operations",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
            },
            "meta": {
                "resourceType": "User",
                "created": "2010-01-23T04:56:22Z",
                "lastModified": "2011-05-13T04:42:34Z",
                "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
                "version": "W/\"3694e05e9dff591\""
            }
        })
    }

    fn group() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "e9e30dba",
            "displayName": "Tour Guides",
            "members": [
                {"value": "2819c223", "$ref": "https://example.com/v2/Users/2819c223", "display": "Babs", "type": "User"}
            ],
            "meta": {"resourceType": "Group", "created": "2010-01-23T04:56:22Z", "lastModified": "2010-01-23T04:56:22Z"}
        })
    }

    fn m(filter: &str) -> bool {
        mk(filter, ResourceKind::User, &user())
    }

    fn mk(filter: &str, kind: ResourceKind, r: &Value) -> bool {
        let mut q = Quirks::new();
        let f = parse_filter(filter, &mut q).unwrap_or_else(|e| panic!("{filter}: {e}"));
        matches(&f, kind, r)
    }

    #[test]
    fn case_insensitive_strings() {
        assert!(m(r#"userName eq "bjensen@example.com""#));
        assert!(m(r#"USERNAME EQ "BJENSEN@EXAMPLE.COM""#));
        assert!(!m(r#"userName ne "bjensen@example.com""#));
        assert!(m(r#"userName ne "other""#));
        assert!(m(r#"userName co "JENSEN@""#));
        assert!(m(r#"userName sw "bj""#));
        assert!(m(r#"userName ew ".COM""#));
        assert!(!m(r#"userName sw "Jensen""#));
        assert!(m(r#"userName gt "Aaron""#));
        assert!(m(r#"userName ge "bjensen@example.com""#));
        assert!(m(r#"userName le "BJENSEN@EXAMPLE.COM""#));
        assert!(m(r#"userName lt "c""#));
        assert!(!m(r#"userName lt "B""#));
        assert!(m(r#"title co "our g""#));
    }

    #[test]
    fn unicode_case_folding() {
        let r = json!({"displayName": "ÉLODIE Straße"});
        assert!(mk(
            r#"displayName eq "élodie straße""#,
            ResourceKind::User,
            &r
        ));
        assert!(mk(r#"displayName sw "éLO""#, ResourceKind::User, &r));
    }

    #[test]
    fn case_exact_strings() {
        // id and externalId are caseExact.
        assert!(m(r#"externalId eq "Bjensen-EXT""#));
        assert!(!m(r#"externalId eq "bjensen-ext""#));
        assert!(m(r#"externalId ne "bjensen-ext""#));
        assert!(m(r#"externalId sw "Bj""#));
        assert!(!m(r#"externalId sw "bj""#));
        assert!(!m(r#"externalId co "ext""#));
        assert!(m(r#"externalId ew "EXT""#));
        // Case-exact ordering: upper case sorts before lower case.
        assert!(m(r#"externalId lt "bjensen""#));
        assert!(m(r#"externalId gt "BJENSEN""#));
        assert!(m(r#"id eq "2819c223-7f76-453a-919d-413861904646""#));
        assert!(!m(r#"id eq "2819C223-7F76-453A-919D-413861904646""#));
    }

    #[test]
    fn references() {
        assert!(m(r#"profileUrl sw "https://login.example.com""#));
        assert!(m(r#"profileUrl eq "HTTPS://LOGIN.EXAMPLE.COM/bjensen""#));
        assert!(m(r#"groups.$ref co "/Groups/e9e30dba""#));
        // meta.location is caseExact.
        assert!(!m(r#"meta.location sw "HTTPS://""#));
        assert!(m(r#"meta.location sw "https://""#));
    }

    #[test]
    fn booleans() {
        assert!(m("active eq true"));
        assert!(!m("active eq false"));
        assert!(m("active ne false"));
        assert!(m(r#"active eq "True""#));
        assert!(m(r#"active eq "TRUE""#));
        assert!(!m(r#"active eq "yes""#));
        assert!(!m("active eq 1"));
        for op in ["gt", "ge", "lt", "le", "co", "sw", "ew"] {
            assert!(!m(&format!("active {op} true")), "{op}");
        }
        assert!(m("active pr"));
        // Stored "True" strings (Entra roles) compare as booleans.
        assert!(m(r#"roles[primary eq "True" and value eq "admin"]"#));
        assert!(m("roles[primary eq true and value eq \"Admin\"]"));
        assert!(!m("roles[primary eq true and value eq \"Reader\"]"));
        assert!(m("roles[primary eq false and value eq \"Reader\"]"));
    }

    #[test]
    fn date_times() {
        assert!(m(r#"meta.lastModified gt "2011-05-13T04:42:33Z""#));
        assert!(!m(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#));
        assert!(m(r#"meta.lastModified ge "2011-05-13T04:42:34Z""#));
        assert!(m(r#"meta.lastModified eq "2011-05-13T04:42:34.000Z""#));
        // Same instant, different offset.
        assert!(m(r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#));
        assert!(m(r#"meta.lastModified lt "2011-05-13T06:42:35+02:00""#));
        assert!(m(r#"meta.created le "2010-01-23T04:56:22Z""#));
        assert!(!m(r#"meta.created lt "2010-01-23T04:56:22Z""#));
        assert!(m(r#"meta.created ne "2010-01-23T04:56:23Z""#));
        assert!(m(r#"meta.created sw "2010-01""#));
        // Not a date: never equal, never ordered.
        assert!(!m(r#"meta.created gt "yesterday""#));
        assert!(!m(r#"meta.created eq "yesterday""#));
        assert!(m(r#"meta.created ne "yesterday""#));
    }

    #[test]
    fn numbers_via_value_comparison() {
        let n = |v: Value, op: CompareOp, lit: &str| {
            compare_value(
                AttrType::Integer,
                false,
                &v,
                op,
                &CompValue::Num(lit.parse().unwrap()),
            )
        };
        assert!(n(json!(5), CompareOp::Eq, "5"));
        assert!(n(json!(5), CompareOp::Eq, "5.0"));
        assert!(n(json!(5), CompareOp::Ne, "6"));
        assert!(n(json!(5), CompareOp::Gt, "4"));
        assert!(n(json!(5), CompareOp::Ge, "5"));
        assert!(n(json!(-5), CompareOp::Lt, "4"));
        assert!(n(json!(u64::MAX), CompareOp::Gt, "-1"));
        assert!(n(json!(u64::MAX), CompareOp::Gt, "18446744073709551614"));
        assert!(n(json!(5), CompareOp::Le, "5.5"));
        assert!(!n(json!(5), CompareOp::Co, "5"));
        assert!(!n(json!("abc"), CompareOp::Eq, "5"));
        let d = |v: Value, op: CompareOp, lit: CompValue| {
            compare_value(AttrType::Decimal, false, &v, op, &lit)
        };
        assert!(d(
            json!(1.5),
            CompareOp::Gt,
            CompValue::Num("1.25".parse().unwrap())
        ));
        assert!(d(json!(1.5), CompareOp::Eq, CompValue::Str("1.5".into())));
        assert!(!d(json!(1.5), CompareOp::Eq, CompValue::Bool(true)));
        assert!(!d(json!(1.5), CompareOp::Eq, CompValue::Null));
        // A number literal against a string attribute compares as text.
        assert!(compare_value(
            AttrType::String,
            true,
            &json!("12345"),
            CompareOp::Eq,
            &CompValue::Num(12345.into())
        ));
        assert!(!compare_value(
            AttrType::Complex,
            false,
            &json!({}),
            CompareOp::Eq,
            &CompValue::Str("x".into())
        ));
    }

    #[test]
    fn presence() {
        assert!(m("title pr"));
        assert!(!m("nickName pr"), "empty string is not present");
        assert!(!m("locale pr"));
        assert!(m("emails pr"));
        assert!(m("name pr"));
        assert!(m("name.givenName pr"));
        assert!(!m("name.middleName pr"));
        assert!(m("emails.type pr"));
        assert!(!m("emails.display pr"));
        assert!(m("meta.version pr"));
        let r = json!({"emails": [], "name": {}, "title": null, "addresses": [{"type": null}]});
        for f in [
            "emails pr",
            "name pr",
            "title pr",
            "addresses pr",
            "addresses.type pr",
        ] {
            assert!(!mk(f, ResourceKind::User, &r), "{f}");
        }
    }

    #[test]
    fn absent_attributes() {
        assert!(m(r#"locale ne "en""#), "ne on an absent attribute is true");
        assert!(!m(r#"locale eq "en""#));
        assert!(m("locale eq null"));
        assert!(!m("title eq null"));
        assert!(m("title ne null"));
        assert!(!m("locale gt null"));
        // Unknown attributes match nothing, even with ne.
        assert!(!m(r#"shoeSize eq "9""#));
        assert!(!m(r#"shoeSize ne "9""#));
        assert!(!m("shoeSize pr"));
        assert!(m(r#"not (shoeSize eq "9")"#));
        assert!(!m(r#"name.shoeSize eq "9""#));
        assert!(!m(r#"urn:example:unknown:Thing:title eq "Tour Guide""#));
        // Group attributes do not exist on users.
        assert!(!m("members pr"));
    }

    #[test]
    fn multi_valued() {
        assert!(
            m(r#"emails eq "babs@jensen.org""#),
            "compares value of any element"
        );
        assert!(m(r#"emails co "@example.com""#));
        assert!(!m(r#"emails eq "nobody@x.org""#));
        assert!(m(r#"emails ne "nobody@x.org""#));
        assert!(!m(r#"emails ne "babs@jensen.org""#));
        assert!(m(r#"emails.value eq "BABS@jensen.org""#));
        assert!(m(r#"emails.type eq "home""#));
        assert!(m(r#"emails.primary eq true"#));
        assert!(m(r#"groups.display sw "tour""#));
        assert!(m(r#"groups eq "e9e30dba""#));
        assert!(!m(r#"name eq "Jensen""#), "name has no value sub-attribute");
    }

    #[test]
    fn value_paths() {
        assert!(m(r#"emails[type eq "work" and value co "@example.com"]"#));
        assert!(!m(r#"emails[type eq "home" and value co "@example.com"]"#));
        assert!(m(r#"emails[type eq "home" or value co "@example.com"]"#));
        assert!(m(r#"emails[not (type eq "work")]"#));
        assert!(m(r#"emails[TYPE eq "WORK"] and userType eq "Employee""#));
        assert!(!m(r#"emails[type eq "other"] or userType eq "Intern""#));
        assert!(m(r#"phoneNumbers[type eq "work"]"#));
        assert!(!m(r#"addresses[type eq "work"]"#));
        assert!(!m(r#"emails[shoeSize eq "9"]"#));
        assert!(!m(r#"userName[value eq "x"]"#));
        assert!(!m(r#"shoeSize[value eq "x"]"#));
        assert!(!m(r#"emails[type.x eq "work"]"#));
    }

    #[test]
    fn extension_attributes() {
        assert!(m(&format!(r#"{ENT}:employeeNumber eq "701984""#)));
        assert!(m(r#"employeeNumber eq "701984""#), "found without the URN");
        assert!(m(r#"Department co "operations""#));
        assert!(m(&format!(
            r#"{ENT}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#
        )));
        assert!(
            m(&format!(r#"{ENT}.manager.value sw "26118915""#)),
            "legacy dot"
        );
        assert!(m(r#"manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#));
        assert!(m(r#"manager.displayName eq "john smith""#));
        assert!(
            !m(&format!(r#"{ENT}:userName pr"#)),
            "core attribute under an extension URN"
        );
        assert!(m(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName pr"#
        ));
        let lower = json!({ENT.to_lowercase(): {"employeeNumber": "1"}});
        assert!(mk(r#"employeeNumber eq "1""#, ResourceKind::User, &lower));
    }

    #[test]
    fn common_attributes_and_groups() {
        let g = group();
        assert!(mk(
            r#"displayName eq "tour guides""#,
            ResourceKind::Group,
            &g
        ));
        assert!(mk(r#"id eq "e9e30dba""#, ResourceKind::Group, &g));
        assert!(mk(
            r#"members[value eq "2819c223"]"#,
            ResourceKind::Group,
            &g
        ));
        assert!(
            !mk(r#"members[value eq "2819C223"]"#, ResourceKind::Group, &g),
            "member value is caseExact"
        );
        assert!(mk(r#"members.type eq "user""#, ResourceKind::Group, &g));
        assert!(mk(
            r#"meta.resourceType eq "Group""#,
            ResourceKind::Group,
            &g
        ));
        assert!(
            !mk(r#"meta.resourceType eq "group""#, ResourceKind::Group, &g),
            "resourceType is caseExact"
        );
        assert!(!mk(r#"userName pr"#, ResourceKind::Group, &g));
        assert!(!mk(r#"employeeNumber pr"#, ResourceKind::Group, &g));
    }

    #[test]
    fn logic() {
        assert!(m(r#"title pr and userType eq "Employee""#));
        assert!(m(r#"title pr or userType eq "Intern""#));
        assert!(!m(r#"title pr and userType eq "Intern""#));
        assert!(m(
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#
        ));
        // a or b and c  ==  a or (b and c)
        assert!(m(r#"title pr or locale pr and nickName pr"#));
        assert!(!m(r#"(title pr or locale pr) and nickName pr"#));
        assert!(!m(r#"not (title pr)"#));
        assert!(m(r#"not (not (title pr))"#));
    }

    #[test]
    fn entra_contract_filters() {
        assert!(m(r#"userName eq "bjensen@example.com""#));
        assert!(m(r#"externalId eq "Bjensen-EXT""#));
        assert!(m("externalId eq Bjensen-EXT"));
        assert!(m(
            r#"emails[type eq "work"].value eq "bjensen@example.com""#
        ));
        assert!(!m(r#"emails[type eq "work"].value eq "babs@jensen.org""#));
        assert!(m(r#"displayName eq "babs jensen""#));
        assert!(m(r#"id eq "2819c223-7f76-453a-919d-413861904646""#));
        assert!(m(
            "id eq 2819c223-7f76-453a-919d-413861904646 and manager eq 26118915-6090-4610-87e4-49d8ca9f808d"
        ));
        assert!(!m(r#"userName eq "00aa00aa-bb11-cc22-dd33-44ee44ee44ee""#));
    }

    #[test]
    fn element_matching_for_patch() {
        let mut q = Quirks::new();
        let f = parse_filter(r#"type eq "work" and primary eq "True""#, &mut q).unwrap();
        let emails = AttrPath {
            urn: None,
            name: "EMAILS".into(),
            sub: None,
        };
        assert!(matches_element(
            &f,
            ResourceKind::User,
            &emails,
            &json!({"type": "Work", "primary": true, "value": "a@x"})
        ));
        assert!(!matches_element(
            &f,
            ResourceKind::User,
            &emails,
            &json!({"type": "home", "primary": true})
        ));
        let members = AttrPath {
            urn: None,
            name: "members".into(),
            sub: None,
        };
        let f = parse_filter(r#"value eq "2819c223""#, &mut q).unwrap();
        assert!(matches_element(
            &f,
            ResourceKind::Group,
            &members,
            &json!({"value": "2819c223"})
        ));
        assert!(!matches_element(
            &f,
            ResourceKind::User,
            &members,
            &json!({"value": "2819c223"})
        ));
        let manager = AttrPath {
            urn: Some(ENT.into()),
            name: "manager".into(),
            sub: None,
        };
        assert!(matches_element(
            &f,
            ResourceKind::User,
            &manager,
            &json!({"value": "2819c223"})
        ));
        let unknown = AttrPath {
            urn: None,
            name: "shoes".into(),
            sub: None,
        };
        assert!(!matches_element(
            &f,
            ResourceKind::User,
            &unknown,
            &json!({"value": "2819c223"})
        ));
        // A simple attribute's elements are their own `value`.
        let title = AttrPath {
            urn: None,
            name: "title".into(),
            sub: None,
        };
        let f = parse_filter(r#"value sw "tour""#, &mut q).unwrap();
        assert!(matches_element(
            &f,
            ResourceKind::User,
            &title,
            &json!("Tour Guide")
        ));
    }

    #[test]
    fn non_object_resources_match_nothing() {
        for r in [
            json!(null),
            json!([1, 2]),
            json!("x"),
            json!({"emails": "not-an-array"}),
        ] {
            assert!(!mk(r#"userName eq "x""#, ResourceKind::User, &r));
            assert!(!mk(r#"emails[type eq "work"]"#, ResourceKind::User, &r));
            assert!(!mk(r#"emails.value pr"#, ResourceKind::User, &r));
        }
    }
}
