//! Resource documents: turning what a client sends (POST/PUT bodies, or a
//! document after PATCH) into the canonical stored form, and projecting the full
//! representation for `attributes=` / `excludedAttributes=` (RFC 7644 §3.4.2.5,
//! §3.9).
//!
//! The canonical stored form: attribute names in the exact case of their
//! schema definition, core attributes at the top level, extension attributes
//! under their schema URN key, `schemas` listing the core URN plus the
//! extensions present, no nulls, no empty strings, arrays or objects.

mod normalize;
mod project;

pub use normalize::{MAX_DEPTH, Normalized, normalize};
pub use project::{parse_attribute_list, project, project_owned};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::Quirks;
    use crate::schema::{ENTERPRISE_USER, ResourceKind};
    use proptest::prelude::*;
    use serde_json::{Map, Value};

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
