//! The mapping rules: how a user's SCIM attributes give the product's role
//! and employee groups (the "Funnel Leasing" style).
//!
//! One attribute gives the role (default `title`), another the groups
//! (default `userType`), whose value may hold several groups separated by a
//! delimiter (default `-`; empty means the value is one group). Each value is
//! trimmed and looked up, ignoring case, in the tenant's value → role and
//! value → group tables. What the tables do not know is *unmapped*: reported
//! (dry run, user page) but never assigned. So a user whose role value is
//! unmapped has no role, and a user gets only the groups of mapped values,
//! each group once.
//!
//! This module is pure: the rules, reading an attribute from a stored
//! document, and deriving. Storing and recomputing live in
//! [`crate::provision::recompute`].

use scim::ResourceKind;
use scim::schema::{self, AttrDef};
use serde_json::Value;

pub const DEFAULT_ROLE_ATTRIBUTE: &str = "title";
pub const DEFAULT_GROUPS_ATTRIBUTE: &str = "userType";
pub const DEFAULT_DELIMITER: &str = "-";

/// Rows a value table may hold, and the longest value or name.
pub const MAX_TABLE_ROWS: usize = 1000;
pub const MAX_TEXT: usize = 200;
pub const MAX_DELIMITER: usize = 10;

/// A tenant's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub role_attribute: String,
    pub groups_attribute: String,
    pub delimiter: String,
    /// value → role, in the order the admin wrote them.
    pub roles: Vec<(String, String)>,
    /// value → group.
    pub groups: Vec<(String, String)>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            role_attribute: DEFAULT_ROLE_ATTRIBUTE.to_string(),
            groups_attribute: DEFAULT_GROUPS_ATTRIBUTE.to_string(),
            delimiter: DEFAULT_DELIMITER.to_string(),
            roles: Vec::new(),
            groups: Vec::new(),
        }
    }
}

/// What the rules give one user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Derived {
    pub role: Option<String>,
    pub groups: Vec<String>,
}

impl Derived {
    pub fn is_empty(&self) -> bool {
        self.role.is_none() && self.groups.is_empty()
    }

    /// The stored form of the groups: a JSON array, or None when empty.
    pub fn groups_json(&self) -> Option<String> {
        (!self.groups.is_empty()).then(|| Value::from(self.groups.clone()).to_string())
    }

    /// From the stored columns; unreadable group text counts as none.
    pub fn from_stored(role: Option<&str>, groups: Option<&str>) -> Derived {
        Derived {
            role: role.map(str::to_string),
            groups: groups
                .and_then(|g| serde_json::from_str::<Vec<String>>(g).ok())
                .unwrap_or_default(),
        }
    }
}

/// [`Derived`] plus the values the tables did not know.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    pub derived: Derived,
    /// Role attribute values with no row in the role table.
    pub unmapped_roles: Vec<String>,
    /// Group values (after splitting) with no row in the group table.
    pub unmapped_groups: Vec<String>,
}

/// Finds `value` in a table, ignoring case and surrounding spaces.
fn lookup<'a>(table: &'a [(String, String)], value: &str) -> Option<&'a str> {
    let wanted = value.to_lowercase();
    table
        .iter()
        .find(|(k, _)| k.trim().to_lowercase() == wanted)
        .map(|(_, v)| v.as_str())
}

fn push_unique(list: &mut Vec<String>, value: &str) {
    let lower = value.to_lowercase();
    if !list.iter().any(|v| v.to_lowercase() == lower) {
        list.push(value.to_string());
    }
}

/// Applies the rules to one stored user document.
pub fn derive(rules: &Rules, doc: &Value) -> Outcome {
    let mut out = Outcome::default();
    for value in read_attribute(doc, &rules.role_attribute) {
        match lookup(&rules.roles, &value) {
            // The first value that maps decides; a single-valued attribute
            // (the usual case) has only one.
            Some(role) if out.derived.role.is_none() => out.derived.role = Some(role.to_string()),
            Some(_) => {}
            None => push_unique(&mut out.unmapped_roles, &value),
        }
    }
    for raw in read_attribute(doc, &rules.groups_attribute) {
        let parts: Vec<&str> = if rules.delimiter.is_empty() {
            vec![raw.as_str()]
        } else {
            raw.split(rules.delimiter.as_str()).collect()
        };
        for part in parts.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
            match lookup(&rules.groups, part) {
                Some(group) => push_unique(&mut out.derived.groups, group),
                None => push_unique(&mut out.unmapped_groups, part),
            }
        }
    }
    out
}

/// A resolved attribute path: where its values are in a stored document.
struct Located {
    extension: Option<&'static str>,
    attr: &'static AttrDef,
    sub: Option<&'static AttrDef>,
}

/// Attributes that are not in the stored document, or are never values a
/// rule could use.
const NOT_MAPPABLE: [&str; 5] = ["id", "meta", "groups", "password", "schemas"];

/// Resolves a path such as `title`, `name.familyName`, `department` or
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`
/// against the User schemas; the message says what is wrong.
fn locate(path: &str) -> Result<Located, String> {
    let path = path.trim();
    if path.is_empty() {
        return Err("an attribute is needed, for example title".to_string());
    }
    let parsed = scim::filter::parse_attr_path(path)
        .map_err(|_| format!("{path:?} is not an attribute path; write it like title, name.familyName or urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"))?;
    let resolved = schema::resolve(ResourceKind::User, parsed.urn.as_deref(), &parsed.name)
        .ok_or_else(|| format!("{path:?} is not an attribute of SCIM users"))?;
    if resolved.extension == Some(schema::MAPPING_USER)
        || (resolved.extension.is_none() && NOT_MAPPABLE.contains(&resolved.attr.name))
    {
        return Err(format!(
            "{path:?} cannot be mapped: it is not an attribute the identity provider sends"
        ));
    }
    let attr = resolved.attr;
    let sub = match parsed.sub.as_deref() {
        Some(s) => Some(
            schema::sub_attr(attr, s)
                .ok_or_else(|| format!("{path:?}: {} has no sub-attribute {s:?}", attr.name))?,
        ),
        // A multi-valued complex attribute (`roles`, `emails`) gives its
        // elements' `value`s.
        None if attr.is_complex() => Some(schema::sub_attr(attr, "value").ok_or_else(|| {
            format!(
                "{path:?} holds several sub-attributes; name one, like {}.{}",
                attr.name,
                attr.sub_attributes.first().map_or("value", |s| s.name)
            )
        })?),
        None => None,
    };
    if sub.is_some_and(AttrDef::is_complex) {
        return Err(format!("{path:?} is not a simple value"));
    }
    Ok(Located {
        extension: resolved.extension,
        attr,
        sub,
    })
}

/// Checks an attribute path typed by an admin; the error says what is wrong.
pub fn check_path(path: &str) -> Result<(), String> {
    locate(path).map(|_| ())
}

fn text_of(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// The values at `path` in a stored user document (canonical names, an
/// extension's attributes under its URN key), trimmed, empty ones left out.
/// A path that does not resolve reads nothing.
pub fn read_attribute(doc: &Value, path: &str) -> Vec<String> {
    let Ok(at) = locate(path) else {
        return Vec::new();
    };
    let container = match at.extension {
        Some(urn) => doc.get(urn),
        None => Some(doc),
    };
    let Some(value) = container.and_then(|c| c.get(at.attr.name)) else {
        return Vec::new();
    };
    let items: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    items
        .into_iter()
        .filter_map(|item| match at.sub {
            Some(sub) => item.get(sub.name).and_then(text_of),
            None => text_of(item),
        })
        .collect()
}

/// Parses a value table typed as lines of `value = result`. Blank lines and
/// lines starting with `#` are skipped; a value may appear once (ignoring
/// case). Errors name the line.
pub fn parse_table(text: &str, what: &str) -> Result<Vec<(String, String)>, String> {
    let mut rows: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((value, result)) = line.split_once('=') else {
            return Err(format!(
                "line {n} ({line:?}) needs the form value = {what}, for example Sales Manager = manager"
            ));
        };
        let (value, result) = (value.trim(), result.trim());
        if value.is_empty() || result.is_empty() {
            return Err(format!(
                "line {n} ({line:?}) needs both a value and a {what} around the ="
            ));
        }
        if value.chars().count() > MAX_TEXT || result.chars().count() > MAX_TEXT {
            return Err(format!(
                "line {n} is too long: values and {what}s have at most {MAX_TEXT} characters"
            ));
        }
        if value.chars().chain(result.chars()).any(char::is_control) {
            return Err(format!("line {n} contains control characters"));
        }
        if let Some((first, _)) = rows
            .iter()
            .find(|(v, _)| v.to_lowercase() == value.to_lowercase())
        {
            return Err(format!(
                "line {n}: the value {value:?} is already mapped (as {first:?}); values are compared ignoring case, so keep one line for it"
            ));
        }
        rows.push((value.to_string(), result.to_string()));
    }
    if rows.len() > MAX_TABLE_ROWS {
        return Err(format!(
            "{} lines: a table holds at most {MAX_TABLE_ROWS}",
            rows.len()
        ));
    }
    Ok(rows)
}

/// The lines [`parse_table`] reads back into the same table.
pub fn table_text(rows: &[(String, String)]) -> String {
    rows.iter()
        .map(|(v, r)| format!("{v} = {r}\n"))
        .collect::<String>()
}

/// A table as stored: a JSON array of `[value, result]` pairs.
pub fn table_to_json(rows: &[(String, String)]) -> String {
    Value::from(
        rows.iter()
            .map(|(v, r)| Value::from(vec![v.clone(), r.clone()]))
            .collect::<Vec<_>>(),
    )
    .to_string()
}

/// The stored form back; anything unreadable is an empty table.
pub fn table_from_json(text: &str) -> Vec<(String, String)> {
    serde_json::from_str::<Vec<(String, String)>>(text).unwrap_or_default()
}

/// The rules as JSON, for the activity log's before/after.
pub fn rules_json(rules: &Rules) -> Value {
    let table = |rows: &[(String, String)]| {
        Value::Object(
            rows.iter()
                .map(|(v, r)| (v.clone(), Value::String(r.clone())))
                .collect(),
        )
    };
    serde_json::json!({
        "roleAttribute": rules.role_attribute,
        "groupsAttribute": rules.groups_attribute,
        "delimiter": rules.delimiter,
        "roles": table(&rules.roles),
        "groups": table(&rules.groups),
    })
}

/// Validates the rules an admin submitted, all at once: each error is
/// (field, message).
pub fn check(rules: &Rules) -> Vec<(&'static str, String)> {
    let mut errors = Vec::new();
    if let Err(e) = check_path(&rules.role_attribute) {
        errors.push(("role_attribute", format!("Role attribute: {e}.")));
    }
    if let Err(e) = check_path(&rules.groups_attribute) {
        errors.push(("groups_attribute", format!("Groups attribute: {e}.")));
    }
    if rules.delimiter.chars().count() > MAX_DELIMITER
        || rules.delimiter.chars().any(char::is_control)
    {
        errors.push((
            "delimiter",
            format!(
                "Delimiter: at most {MAX_DELIMITER} characters and no control characters (leave it empty to keep each value whole)."
            ),
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn rules() -> Rules {
        Rules {
            roles: vec![
                ("Sales Manager".into(), "manager".into()),
                ("Engineer".into(), "member".into()),
            ],
            groups: vec![
                ("Sales".into(), "Sales team".into()),
                ("North".into(), "Region North".into()),
                ("Nord".into(), "Region North".into()),
            ],
            ..Rules::default()
        }
    }

    fn doc() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "userName": "ann@example.com",
            "title": "  sales MANAGER ",
            "userType": "Sales-North - Nord-Remote-",
            "name": {"familyName": "Lee", "givenName": "Ann"},
            "emails": [{"value": "ann@example.com", "type": "work"}, {"value": "a@home.example"}],
            ENTERPRISE: {"department": "R&D", "employeeNumber": "42", "manager": {"value": "m1"}},
        })
    }

    #[test]
    fn defaults_are_title_user_type_and_dash_with_empty_tables() {
        let r = Rules::default();
        assert_eq!(
            (
                r.role_attribute.as_str(),
                r.groups_attribute.as_str(),
                r.delimiter.as_str()
            ),
            ("title", "userType", "-")
        );
        let out = derive(&r, &doc());
        assert_eq!(out.derived, Derived::default());
        assert_eq!(out.unmapped_roles, ["sales MANAGER"]);
        assert_eq!(out.unmapped_groups, ["Sales", "North", "Nord", "Remote"]);
    }

    #[test]
    fn values_are_trimmed_matched_ignoring_case_split_and_deduplicated() {
        let out = derive(&rules(), &doc());
        assert_eq!(out.derived.role.as_deref(), Some("manager"));
        assert!(out.unmapped_roles.is_empty());
        // North and Nord give the same group once; empty parts are skipped.
        assert_eq!(out.derived.groups, ["Sales team", "Region North"]);
        assert_eq!(out.unmapped_groups, ["Remote"]);
    }

    #[test]
    fn an_unmapped_role_value_gives_no_role() {
        let d = json!({"userName": "u", "title": "Intern"});
        let out = derive(&rules(), &d);
        assert_eq!(out.derived.role, None);
        assert_eq!(out.unmapped_roles, ["Intern"]);
        // No attribute at all: nothing, and nothing unmapped.
        let out = derive(&rules(), &json!({"userName": "u"}));
        assert_eq!(out, Outcome::default());
    }

    #[test]
    fn an_empty_delimiter_keeps_the_value_whole() {
        let mut r = rules();
        r.delimiter = String::new();
        r.groups.push(("Sales-North".into(), "Sales North".into()));
        let d = json!({"userName": "u", "userType": " Sales-North "});
        let out = derive(&r, &d);
        assert_eq!(out.derived.groups, ["Sales North"]);
        // A longer delimiter splits on the whole string.
        r.delimiter = " / ".into();
        let d = json!({"userName": "u", "userType": "Sales / North/x"});
        let out = derive(&r, &d);
        assert_eq!(out.derived.groups, ["Sales team"]);
        assert_eq!(out.unmapped_groups, ["North/x"]);
    }

    #[test]
    fn attributes_are_read_by_core_sub_attribute_and_urn_paths() {
        let d = doc();
        assert_eq!(read_attribute(&d, "title"), ["sales MANAGER"]);
        assert_eq!(read_attribute(&d, "TITLE"), ["sales MANAGER"]);
        assert_eq!(read_attribute(&d, "name.familyName"), ["Lee"]);
        assert_eq!(read_attribute(&d, "department"), ["R&D"]);
        assert_eq!(
            read_attribute(&d, &format!("{ENTERPRISE}:department")),
            ["R&D"]
        );
        assert_eq!(
            read_attribute(&d, &format!("{ENTERPRISE}:manager.value")),
            ["m1"]
        );
        assert_eq!(
            read_attribute(&d, "emails"),
            ["ann@example.com", "a@home.example"]
        );
        assert_eq!(read_attribute(&d, "emails.type"), ["work"]);
        assert!(read_attribute(&d, "nickName").is_empty());
        assert!(read_attribute(&d, "nope").is_empty());

        let mut r = rules();
        r.role_attribute = format!("{ENTERPRISE}:department");
        r.roles = vec![("r&d".into(), "engineering".into())];
        assert_eq!(derive(&r, &d).derived.role.as_deref(), Some("engineering"));
    }

    #[test]
    fn paths_are_checked() {
        for ok in [
            "title",
            "userType",
            "department",
            "name.familyName",
            "emails",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        ] {
            assert_eq!(check_path(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "nope",
            "name",
            "name.nope",
            "groups",
            "password",
            "a b",
            "urn:scimgate:params:scim:schemas:extension:mapping:2.0:User:role",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        let r = Rules {
            role_attribute: "nope".into(),
            delimiter: "\u{7}".into(),
            ..Rules::default()
        };
        let fields: Vec<&str> = check(&r).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["role_attribute", "delimiter"]);
    }

    #[test]
    fn tables_parse_from_lines_and_round_trip() {
        let t = parse_table(
            "# comment\n Sales Manager = manager \n\nEngineer=member\nA = b = c\n",
            "role",
        )
        .unwrap();
        assert_eq!(
            t,
            vec![
                ("Sales Manager".to_string(), "manager".to_string()),
                ("Engineer".to_string(), "member".to_string()),
                ("A".to_string(), "b = c".to_string()),
            ]
        );
        assert_eq!(parse_table(&table_text(&t), "role").unwrap(), t);
        assert_eq!(table_from_json(&table_to_json(&t)), t);
        assert!(parse_table("Sales", "role").unwrap_err().contains("line 1"));
        assert!(parse_table("x =", "role").is_err());
        let dup = parse_table("Sales = a\nSALES = b", "group").unwrap_err();
        assert!(dup.contains("line 2"), "{dup}");
        assert!(table_from_json("not json").is_empty());
    }

    #[test]
    fn derived_values_are_stored_as_json() {
        let d = Derived {
            role: Some("manager".into()),
            groups: vec!["A".into(), "B \"x\"".into()],
        };
        let stored = d.groups_json();
        assert_eq!(
            Derived::from_stored(d.role.as_deref(), stored.as_deref()),
            d
        );
        assert_eq!(Derived::default().groups_json(), None);
        assert_eq!(
            Derived::from_stored(None, Some("garbage")),
            Derived::default()
        );
    }
}
