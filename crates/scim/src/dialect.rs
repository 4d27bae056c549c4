//! Entra ID's (and other clients') deviations from RFC 7643/7644 that scimgate
//! accepts. Every normalisation is counted per request so that the activity log
//! and the console can show what a client sent that was not strictly RFC.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Names of the quirks that are counted. Stable strings: they are stored in the
/// activity log.
pub mod quirk {
    /// `"op": "Add"` / `"Replace"` / `"Remove"` instead of lower case.
    pub const OP_CASE: &str = "op-case";
    /// A boolean sent as the string `"True"` / `"False"`.
    pub const BOOLEAN_STRING: &str = "boolean-string";
    /// PATCH without `path` whose value has dotted keys (`"name.givenName"`).
    pub const DOTTED_KEY: &str = "dotted-key";
    /// PATCH value keys that carry a schema URN prefix.
    pub const URN_KEY: &str = "urn-key";
    /// `urn:…:User.manager` instead of `urn:…:User:manager`.
    pub const LEGACY_URN_DOT: &str = "legacy-urn-dot";
    /// `manager` as a bare string or as an array.
    pub const MANAGER_FORM: &str = "manager-form";
    /// A role whose `value` is itself a JSON-encoded object.
    pub const ROLE_JSON_STRING: &str = "role-json-string";
    /// Attribute name not in its canonical case.
    pub const ATTRIBUTE_CASE: &str = "attribute-case";
    /// Unquoted string value in a filter (`externalId eq jyoung`).
    pub const UNQUOTED_FILTER_VALUE: &str = "unquoted-filter-value";
    /// Attribute sent as JSON null (ignored).
    pub const NULL_ATTRIBUTE: &str = "null-attribute";
    /// A schema URI that scimgate does not know (ignored).
    pub const UNKNOWN_SCHEMA: &str = "unknown-schema";
    /// Client-sent `id`, `meta` or other read-only attribute (ignored).
    pub const READ_ONLY_IGNORED: &str = "read-only-ignored";
    /// A `replace` on a filtered path that matched nothing, creating the element.
    pub const REPLACE_CREATED: &str = "replace-created-element";
    /// A PATCH with an empty `Operations` array.
    pub const EMPTY_OPERATIONS: &str = "empty-operations";
    /// A `replace` of `manager` with an empty value, meaning remove.
    pub const EMPTY_VALUE_REMOVE: &str = "empty-value-remove";
    /// A `remove` of members with a value list (removes only those listed).
    pub const REMOVE_WITH_VALUE: &str = "remove-with-value";
    /// A misspelt or unknown but recognisable schema URN
    /// (`…:enterprise:2.0User`).
    pub const MALFORMED_SCHEMA_URN: &str = "malformed-schema-urn";
    /// `emails[type eq "work"].value eq "x"`: a filter comparing a
    /// sub-attribute after a value filter, read as
    /// `emails[type eq "work" and value eq "x"]`.
    pub const FILTER_VALUE_PATH_SUB: &str = "filter-value-path-sub";
}

/// Counts of quirks normalised while handling one request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Quirks {
    counts: BTreeMap<&'static str, u32>,
}

impl Quirks {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn note(&mut self, quirk: &'static str) {
        *self.counts.entry(quirk).or_insert(0) += 1;
    }

    pub fn merge(&mut self, other: &Quirks) {
        for (k, v) in &other.counts {
            *self.counts.entry(k).or_insert(0) += v;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    pub fn total(&self) -> u32 {
        self.counts.values().sum()
    }

    pub fn count(&self, quirk: &str) -> u32 {
        self.counts.get(quirk).copied().unwrap_or(0)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u32)> + '_ {
        self.counts.iter().map(|(k, v)| (*k, *v))
    }

    /// `{"op-case": 2, …}` for the activity log.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in &self.counts {
            m.insert((*k).to_string(), Value::from(*v));
        }
        Value::Object(m)
    }
}
