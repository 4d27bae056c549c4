//! Projecting the full representation for `attributes=` /
//! `excludedAttributes=` (RFC 7644 §3.4.2.5, §3.9).

use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::filter::AttrPath;
use crate::schema::{self, AttrDef, ResourceKind, Returned};

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
        return kind.extension_schema(urn?).map(|s| Sel::Extension(s.id));
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
    use crate::schema::{CORE_GROUP, CORE_USER, ENTERPRISE_USER};
    use serde_json::json;

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
}
