//! The two request dialects of Entra's provisioning service, and the request
//! bodies it sends in each.
//!
//! Default: PATCH `op` values capitalised (`Add`, `Replace`, `Remove`),
//! booleans in PATCH values as the strings `"True"`/`"False"`, one operation
//! per attribute with a `path`, members removed with a value list.
//! `aadOptscim062020` (a flag the admin appends to the Tenant URL): lower-case
//! ops, JSON booleans, several attributes in one path-less `replace` whose
//! value object has dotted and URN-prefixed keys, members removed with a
//! `members[value eq "…"]` path.

use serde_json::{Map, Value, json};

use super::directory::{Group, User};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The extra schema URI Entra lists on groups.
pub const MS_GROUP_SCHEMA: &str =
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    Default,
    AadOptScim062020,
}

impl Dialect {
    /// The query flag Entra keeps on every request in this dialect.
    pub fn url_flag(self) -> Option<&'static str> {
        match self {
            Dialect::Default => None,
            Dialect::AadOptScim062020 => Some("aadOptscim062020"),
        }
    }

    fn op(self, op: Op) -> &'static str {
        match (self, op) {
            (Dialect::Default, Op::Add) => "Add",
            (Dialect::Default, Op::Replace) => "Replace",
            (Dialect::Default, Op::Remove) => "Remove",
            (Dialect::AadOptScim062020, Op::Add) => "add",
            (Dialect::AadOptScim062020, Op::Replace) => "replace",
            (Dialect::AadOptScim062020, Op::Remove) => "remove",
        }
    }

    fn boolean(self, b: bool) -> Value {
        match self {
            Dialect::Default => Value::String(if b { "True" } else { "False" }.into()),
            Dialect::AadOptScim062020 => Value::Bool(b),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// The user attributes the simulator provisions (Entra's default mapping),
/// each with its PATCH path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Attr {
    UserName,
    Active,
    DisplayName,
    GivenName,
    FamilyName,
    Formatted,
    Email,
    Title,
    WorkPhone,
    MobilePhone,
    ExternalId,
    Department,
    EmployeeNumber,
    Manager,
}

impl Attr {
    /// Every attribute except the manager, which is set in a later pass
    /// once every user has an id.
    pub const WITHOUT_MANAGER: [Attr; 13] = [
        Attr::UserName,
        Attr::Active,
        Attr::DisplayName,
        Attr::GivenName,
        Attr::FamilyName,
        Attr::Formatted,
        Attr::Email,
        Attr::Title,
        Attr::WorkPhone,
        Attr::MobilePhone,
        Attr::ExternalId,
        Attr::Department,
        Attr::EmployeeNumber,
    ];

    /// The PATCH path, and the name differences are reported under.
    pub fn path(self) -> &'static str {
        match self {
            Attr::UserName => "userName",
            Attr::Active => "active",
            Attr::DisplayName => "displayName",
            Attr::GivenName => "name.givenName",
            Attr::FamilyName => "name.familyName",
            Attr::Formatted => "name.formatted",
            Attr::Email => "emails[type eq \"work\"].value",
            Attr::Title => "title",
            Attr::WorkPhone => "phoneNumbers[type eq \"work\"].value",
            Attr::MobilePhone => "phoneNumbers[type eq \"mobile\"].value",
            Attr::ExternalId => "externalId",
            Attr::Department => {
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
            }
            Attr::EmployeeNumber => {
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
            }
            Attr::Manager => "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        }
    }

    /// Paths with a value filter cannot go into a path-less value object.
    fn filtered(self) -> bool {
        self.path().contains('[')
    }

    /// The value the directory holds for this user (the manager as the
    /// manager's index is not an attribute value; see [`Attr::Manager`]).
    pub fn wanted(self, u: &User) -> Option<Value> {
        let s = |v: &str| Some(Value::String(v.to_string()));
        match self {
            Attr::UserName => s(&u.user_name),
            Attr::Active => Some(Value::Bool(u.active)),
            Attr::DisplayName => s(&u.display_name),
            Attr::GivenName => s(&u.given_name),
            Attr::FamilyName => s(&u.family_name),
            Attr::Formatted => s(&u.display_name),
            Attr::Email => s(&u.email),
            Attr::Title => u.title.as_deref().and_then(s),
            Attr::WorkPhone => u.work_phone.as_deref().and_then(s),
            Attr::MobilePhone => u.mobile_phone.as_deref().and_then(s),
            Attr::ExternalId => s(&u.external_id),
            Attr::Department => u.department.as_deref().and_then(s),
            Attr::EmployeeNumber => s(&u.employee_number),
            Attr::Manager => None,
        }
    }

    /// The value a SCIM resource holds for this attribute (attribute names
    /// compared case-insensitively, as RFC 7643 §2.1 requires), with
    /// booleans sent as strings read as booleans.
    pub fn read(self, r: &Value) -> Option<Value> {
        let ent = || get(r, ENTERPRISE);
        let typed = |list: &str, ty: &str| {
            get(r, list)?
                .as_array()?
                .iter()
                .find(|e| {
                    get(e, "type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.eq_ignore_ascii_case(ty))
                })
                .and_then(|e| get(e, "value"))
                .cloned()
        };
        let v = match self {
            Attr::UserName => get(r, "userName").cloned(),
            Attr::Active => get(r, "active").map(|v| match v {
                Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
                v => v.clone(),
            }),
            Attr::DisplayName => get(r, "displayName").cloned(),
            Attr::GivenName => get(r, "name").and_then(|n| get(n, "givenName")).cloned(),
            Attr::FamilyName => get(r, "name").and_then(|n| get(n, "familyName")).cloned(),
            Attr::Formatted => get(r, "name").and_then(|n| get(n, "formatted")).cloned(),
            Attr::Email => typed("emails", "work"),
            Attr::Title => get(r, "title").cloned(),
            Attr::WorkPhone => typed("phoneNumbers", "work"),
            Attr::MobilePhone => typed("phoneNumbers", "mobile"),
            Attr::ExternalId => get(r, "externalId").cloned(),
            Attr::Department => ent().and_then(|e| get(e, "department")).cloned(),
            Attr::EmployeeNumber => ent().and_then(|e| get(e, "employeeNumber")).cloned(),
            Attr::Manager => ent().and_then(|e| get(e, "manager")).and_then(|m| match m {
                Value::Object(_) => get(m, "value").cloned(),
                Value::String(_) => Some(m.clone()),
                _ => None,
            }),
        };
        v.filter(|v| !v.is_null() && v.as_str() != Some(""))
    }
}

/// A member of a JSON object by case-insensitive name.
pub fn get<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// `POST /Users` as Entra sends it: core and enterprise schemas, JSON
/// booleans (both dialects), `roles: []`.
pub fn create_user(u: &User) -> Value {
    let mut phones = Vec::new();
    if let Some(p) = &u.work_phone {
        phones.push(json!({"type": "work", "value": p}));
    }
    if let Some(p) = &u.mobile_phone {
        phones.push(json!({"type": "mobile", "value": p}));
    }
    let mut enterprise = Map::new();
    enterprise.insert("employeeNumber".into(), json!(u.employee_number));
    if let Some(d) = &u.department {
        enterprise.insert("department".into(), json!(d));
    }
    let mut body = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": u.external_id,
        "userName": u.user_name,
        "active": u.active,
        "displayName": u.display_name,
        "emails": [{"primary": true, "type": "work", "value": u.email}],
        "meta": {"resourceType": "User"},
        "name": {
            "formatted": u.display_name,
            "familyName": u.family_name,
            "givenName": u.given_name,
        },
        "roles": [],
        ENTERPRISE: enterprise,
    });
    if let Some(t) = &u.title {
        body["title"] = json!(t);
    }
    if !phones.is_empty() {
        body["phoneNumbers"] = Value::Array(phones);
    }
    body
}

/// One attribute change of a user: a new value, or removal.
#[derive(Debug, Clone)]
pub struct Edit {
    pub attr: Attr,
    pub value: Option<Value>,
}

/// `PATCH /Users/{id}` carrying these edits.
pub fn patch_user(d: Dialect, edits: &[Edit]) -> Value {
    let mut ops = Vec::new();
    let mut pathless = Map::new();
    for e in edits {
        match &e.value {
            None => ops.push(json!({"op": d.op(Op::Remove), "path": e.attr.path()})),
            Some(v) => {
                let v = match v {
                    Value::Bool(b) => d.boolean(*b),
                    v => v.clone(),
                };
                if d == Dialect::AadOptScim062020 && !e.attr.filtered() {
                    pathless.insert(e.attr.path().to_string(), v);
                } else {
                    ops.push(json!({"op": d.op(Op::Replace), "path": e.attr.path(), "value": v}));
                }
            }
        }
    }
    // A single attribute goes with its path (as in Entra's disable request),
    // several in one path-less value object.
    if pathless.len() == 1 {
        if let Some((path, value)) = pathless.into_iter().next() {
            ops.push(json!({"op": d.op(Op::Replace), "path": path, "value": value}));
        }
    } else if !pathless.is_empty() {
        ops.push(json!({"op": d.op(Op::Replace), "value": pathless}));
    }
    patch(ops)
}

/// Sets a user's manager: `add` with the extension path and the manager's
/// id as a bare string, as captured from Entra.
pub fn set_manager(d: Dialect, manager_id: Option<&str>) -> Value {
    match manager_id {
        Some(id) => patch(vec![
            json!({"op": d.op(Op::Add), "path": Attr::Manager.path(), "value": id}),
        ]),
        None => patch(vec![
            json!({"op": d.op(Op::Remove), "path": Attr::Manager.path()}),
        ]),
    }
}

/// `POST /Groups`: no members, with Microsoft's extra schema URI.
pub fn create_group(g: &Group) -> Value {
    json!({
        "schemas": [GROUP_SCHEMA, MS_GROUP_SCHEMA],
        "externalId": g.external_id,
        "displayName": g.display_name,
        "meta": {"resourceType": "Group"},
    })
}

pub fn rename_group(d: Dialect, name: &str) -> Value {
    patch(vec![
        json!({"op": d.op(Op::Replace), "path": "displayName", "value": name}),
    ])
}

/// Adds members: one operation listing them all.
pub fn add_members(d: Dialect, ids: &[String]) -> Value {
    let value: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    patch(vec![
        json!({"op": d.op(Op::Add), "path": "members", "value": value}),
    ])
}

/// Removes exactly these members.
pub fn remove_members(d: Dialect, ids: &[String]) -> Value {
    match d {
        Dialect::Default => {
            let value: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
            patch(vec![
                json!({"op": d.op(Op::Remove), "path": "members", "value": value}),
            ])
        }
        Dialect::AadOptScim062020 => patch(
            ids.iter()
                .map(|id| {
                    json!({
                        "op": d.op(Op::Remove),
                        "path": format!("members[value eq {}]", quote(id)),
                    })
                })
                .collect(),
        ),
    }
}

fn patch(ops: Vec<Value>) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// A filter string literal: `"` and `\` escaped (RFC 7644 §3.4.2.2 uses JSON
/// string syntax).
pub fn quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edits() -> Vec<Edit> {
        vec![
            Edit {
                attr: Attr::Active,
                value: Some(Value::Bool(false)),
            },
            Edit {
                attr: Attr::Email,
                value: Some(json!("a@b.example")),
            },
            Edit {
                attr: Attr::GivenName,
                value: Some(json!("Zoë")),
            },
            Edit {
                attr: Attr::Title,
                value: None,
            },
        ]
    }

    #[test]
    fn default_dialect_uses_capitalised_ops_and_string_booleans() {
        let p = patch_user(Dialect::Default, &edits());
        let ops = p["Operations"].as_array().unwrap();
        assert_eq!(
            ops[0],
            json!({"op": "Replace", "path": "active", "value": "False"})
        );
        assert_eq!(
            ops[1],
            json!({"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "a@b.example"})
        );
        assert_eq!(ops[3], json!({"op": "Remove", "path": "title"}));
        assert_eq!(
            remove_members(Dialect::Default, &["x".into()])["Operations"][0],
            json!({"op": "Remove", "path": "members", "value": [{"value": "x"}]})
        );
    }

    #[test]
    fn flag_dialect_uses_pathless_replace_and_json_booleans() {
        let p = patch_user(Dialect::AadOptScim062020, &edits());
        let ops = p["Operations"].as_array().unwrap();
        assert_eq!(ops[0]["op"], "replace");
        assert_eq!(ops[0]["path"], "emails[type eq \"work\"].value");
        assert_eq!(ops[1], json!({"op": "remove", "path": "title"}));
        assert_eq!(
            ops[2],
            json!({"op": "replace", "value": {"active": false, "name.givenName": "Zoë"}})
        );
        assert_eq!(
            remove_members(Dialect::AadOptScim062020, &["x\"y".into()])["Operations"][0],
            json!({"op": "remove", "path": "members[value eq \"x\\\"y\"]"})
        );
    }

    #[test]
    fn reads_are_case_insensitive_and_normalise_booleans() {
        let r = json!({
            "UserName": "a", "active": "False",
            "phoneNumbers": [{"type": "Mobile", "value": "1"}],
            ENTERPRISE: {"manager": {"value": "m1"}},
        });
        assert_eq!(Attr::UserName.read(&r), Some(json!("a")));
        assert_eq!(Attr::Active.read(&r), Some(json!(false)));
        assert_eq!(Attr::MobilePhone.read(&r), Some(json!("1")));
        assert_eq!(Attr::Manager.read(&r), Some(json!("m1")));
        assert_eq!(Attr::Title.read(&r), None);
    }
}
