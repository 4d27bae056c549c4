use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::dialect::{Quirks, quirk};
use crate::error::{ScimError, ScimType};
use crate::schema::{CORE_GROUP, CORE_USER, ENTERPRISE_USER, PATCH_OP, ResourceKind};

const MANAGER_PATH: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";

fn user_doc() -> Value {
    json!({
        "schemas": [CORE_USER, ENTERPRISE_USER],
        "userName": "bjensen@example.com",
        "externalId": "bjensen",
        "active": true,
        "displayName": "Barbara Jensen",
        "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
        "title": "Tour Guide",
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "phoneNumbers": [{"value": "555-555-5555", "type": "work"}],
        "roles": [{"value": "Reader", "type": "WindowsAzureActiveDirectoryRole", "primary": true}],
        ENTERPRISE_USER: {
            "employeeNumber": "701984",
            "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
        }
    })
}

/// A user as Entra creates it before any e-mail, phone or extension is set.
fn bare_user() -> Value {
    json!({
        "schemas": [CORE_USER],
        "userName": "ryoung@example.com",
        "externalId": "ryoung",
        "active": true
    })
}

fn group_doc() -> Value {
    json!({"schemas": [CORE_GROUP], "displayName": "Tour Guides", "externalId": "tg"})
}

fn body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// Parses and applies `body` to a copy of `doc`.
fn run(
    kind: ResourceKind,
    doc: &Value,
    body: &Value,
) -> Result<(Value, PatchOutcome, Quirks), ScimError> {
    let mut quirks = Quirks::new();
    let req = parse_patch(body, &mut quirks)?;
    let mut out = doc.clone();
    let outcome = apply_patch(kind, &mut out, &req, &mut quirks)?;
    Ok((out, outcome, quirks))
}

fn ok(kind: ResourceKind, doc: &Value, ops: Value) -> (Value, PatchOutcome, Quirks) {
    match run(kind, doc, &body(ops)) {
        Ok(r) => r,
        Err(e) => panic!("PATCH failed: {e}"),
    }
}

fn err(kind: ResourceKind, doc: &Value, ops: Value) -> ScimError {
    match run(kind, doc, &body(ops)) {
        Ok((d, ..)) => panic!("PATCH unexpectedly succeeded: {d}"),
        Err(e) => e,
    }
}

fn ent(doc: &Value) -> &Value {
    &doc[ENTERPRISE_USER]
}

fn schemas_of(doc: &Value) -> Vec<&str> {
    doc["schemas"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

// ---- Entra fixtures ----------------------------------------------------------

fn fixtures() -> Option<Vec<Value>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/entra/request-fixtures.json"
    );
    let text = std::fs::read_to_string(path).ok()?;
    let all: Value = serde_json::from_str(&text).expect("fixture file is JSON");
    Some(
        all["fixtures"]
            .as_array()
            .expect("fixtures array")
            .iter()
            .filter(|f| f["method"] == "PATCH")
            .cloned()
            .collect(),
    )
}

#[test]
fn every_entra_patch_fixture_has_its_effect() {
    let Some(fixtures) = fixtures() else {
        eprintln!("request-fixtures.json not found; skipping");
        return;
    };
    assert!(
        fixtures.len() >= 19,
        "expected the PATCH fixtures, found {}",
        fixtures.len()
    );
    for f in &fixtures {
        let id = f["id"].as_str().expect("fixture id");
        let is_group = f["path"].as_str().is_some_and(|p| p.starts_with("/Groups"));
        let (kind, base) = if is_group {
            (ResourceKind::Group, group_doc())
        } else {
            (ResourceKind::User, user_doc())
        };
        let (doc, outcome, quirks) = match run(kind, &base, &f["body"]) {
            Ok(r) => r,
            Err(e) => panic!("fixture {id} failed: {e}"),
        };
        if kind == ResourceKind::User {
            assert!(outcome.member_changes.is_empty(), "{id}");
        }
        assert!(
            outcome.ignored.is_empty(),
            "{id}: ignored {:?}",
            outcome.ignored
        );
        assert!(doc.get("id").is_none() && doc.get("meta").is_none(), "{id}");
        match id {
            "patch-user-multi" => {
                assert_eq!(
                    doc["emails"],
                    json!([
                        {"value": "updatedEmail@microsoft.com", "type": "work", "primary": true},
                        {"value": "babs@jensen.org", "type": "home"}
                    ])
                );
                assert_eq!(
                    doc["name"],
                    json!({"formatted": "Ms. Barbara J Jensen III", "familyName": "updatedFamilyName", "givenName": "Barbara"})
                );
                assert_eq!(quirks.count(quirk::OP_CASE), 2);
                // On a user without a work e-mail the replace creates it.
                let (bare, _, q) = run(kind, &bare_user(), &f["body"]).unwrap();
                assert_eq!(
                    bare["emails"],
                    json!([{"type": "work", "value": "updatedEmail@microsoft.com"}])
                );
                assert_eq!(bare["name"], json!({"familyName": "updatedFamilyName"}));
                assert_eq!(q.count(quirk::REPLACE_CREATED), 1);
            }
            "patch-user-single" => {
                assert_eq!(
                    doc["userName"],
                    "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
                );
                let mut expected = user_doc();
                expected["userName"] = doc["userName"].clone();
                assert_eq!(doc, expected);
            }
            "disable-user-doc" | "disable-user-aadOptscim062020" => {
                assert_eq!(doc["active"], json!(false));
                let expect_case = u32::from(id == "disable-user-doc");
                assert_eq!(quirks.count(quirk::OP_CASE), expect_case);
            }
            "disable-user-default-no-flag" => {
                // Stored as sent; resource::normalize turns "False" into false.
                assert_eq!(doc["active"], json!("False"));
                assert_eq!(quirks.count(quirk::OP_CASE), 1);
            }
            "add-single-value-default" | "add-single-value-flag" => {
                assert_eq!(doc["nickName"], "Babs");
                let mut expected = user_doc();
                expected["nickName"] = json!("Babs");
                assert_eq!(doc, expected);
            }
            "replace-multi-default" => {
                assert_eq!(doc["displayName"], "Pvlo");
                assert_eq!(doc["emails"][0]["value"], "TestBcwqnm@test.microsoft.com");
                assert_eq!(doc["emails"][1]["value"], "babs@jensen.org");
                assert_eq!(doc["name"]["givenName"], "Gtfd");
                assert_eq!(doc["name"]["familyName"], "Pkqf");
                assert_eq!(doc["name"]["formatted"], "Ms. Barbara J Jensen III");
                assert_eq!(doc["externalId"], "Eqpj");
                assert_eq!(ent(&doc)["employeeNumber"], "Eqpj");
                assert_eq!(ent(&doc)["department"], "Tour Operations");
            }
            "replace-multi-flag-pathless" => {
                assert_eq!(doc["emails"][0]["value"], "TestMhvaes@test.microsoft.com");
                assert_eq!(doc["displayName"], "Bjfe");
                assert_eq!(doc["name"]["givenName"], "Kkom");
                assert_eq!(doc["name"]["familyName"], "Unua");
                assert_eq!(ent(&doc)["employeeNumber"], "Aklq");
                let obj = doc.as_object().unwrap();
                assert!(obj.keys().all(|k| !k.contains('.') || k == ENTERPRISE_USER));
                assert!(!obj.contains_key(&format!("{ENTERPRISE_USER}:employeeNumber")));
                assert_eq!(quirks.count(quirk::DOTTED_KEY), 2);
                assert_eq!(quirks.count(quirk::URN_KEY), 1);
                // Without the extension yet: created, and listed in schemas.
                let (bare, ..) = run(kind, &bare_user(), &f["body"]).unwrap();
                assert_eq!(bare[ENTERPRISE_USER], json!({"employeeNumber": "Aklq"}));
                assert_eq!(schemas_of(&bare), vec![CORE_USER, ENTERPRISE_USER]);
                assert_eq!(
                    bare["name"],
                    json!({"givenName": "Kkom", "familyName": "Unua"})
                );
            }
            "flag-2020-examples" => {
                assert_eq!(
                    doc["emails"],
                    json!([
                        {"value": "someone@contoso.com", "type": "work", "primary": true},
                        {"value": "babs@jensen.org", "type": "home"}
                    ])
                );
                assert_eq!(doc["active"], json!(false));
                assert_eq!(doc["userName"], "someone");
                let (bare, ..) = run(kind, &bare_user(), &f["body"]).unwrap();
                assert_eq!(
                    bare["emails"],
                    json!([{"type": "work", "value": "someone@contoso.com", "primary": true}])
                );
            }
            "flag-2020-add-extension" => {
                assert_eq!(ent(&doc)["department"], "Tech Infrastructure");
                assert_eq!(ent(&doc)["employeeNumber"], "701984");
            }
            "manager-add-observed" => {
                assert_eq!(ent(&doc)["manager"], "2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2");
                assert!(doc.get("manager").is_none());
            }
            "manager-add-legacy-doc" => {
                assert_eq!(
                    ent(&doc)["manager"],
                    json!([{
                        "$ref": "http://.../scim/Users/00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
                        "value": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee"
                    }])
                );
                assert!(doc.get("manager").is_none());
            }
            "manager-dot-notation" => {
                assert_eq!(ent(&doc)["manager"], "<managerId>");
                assert_eq!(quirks.count(quirk::LEGACY_URN_DOT), 1);
            }
            "roles-add-singleapprole" => {
                let added = &f["body"]["Operations"][0]["value"][0];
                assert_eq!(doc["roles"].as_array().unwrap().len(), 2);
                assert_eq!(&doc["roles"][1], added);
                // Sent again (Entra retries): no duplicate.
                let (again, ..) = run(kind, &doc, &f["body"]).unwrap();
                assert_eq!(again, doc);
            }
            "roles-replace-assertive" => {
                assert_eq!(doc["roles"], f["body"]["Operations"][0]["value"]);
            }
            "patch-group-displayName" => {
                assert_eq!(
                    doc["displayName"],
                    "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
                );
                assert!(outcome.member_changes.is_empty());
            }
            "patch-group-add-members" => {
                assert_eq!(doc, group_doc());
                assert_eq!(
                    outcome.member_changes,
                    vec![MemberChange::Add(vec!["f648f8d5ea4e4cd38e9c".into()])]
                );
            }
            "patch-group-remove-members-default" => {
                assert_eq!(doc, group_doc());
                assert_eq!(
                    outcome.member_changes,
                    vec![MemberChange::Remove(vec!["f648f8d5ea4e4cd38e9c".into()])]
                );
                assert_eq!(quirks.count(quirk::REMOVE_WITH_VALUE), 1);
            }
            "patch-group-remove-member-flag" => {
                assert_eq!(doc, group_doc());
                assert_eq!(
                    outcome.member_changes,
                    vec![MemberChange::Remove(vec![
                        "7f4bc1a3-285e-48ae-8202-5accb43efb0e".into()
                    ])]
                );
            }
            other => panic!("PATCH fixture {other} has no asserted effect; add one here"),
        }
    }
}

#[test]
fn entra_fixtures_survive_normalize() {
    let Some(fixtures) = fixtures() else {
        return;
    };
    for f in &fixtures {
        let id = f["id"].as_str().unwrap_or("?");
        let is_group = f["path"].as_str().is_some_and(|p| p.starts_with("/Groups"));
        let (kind, bases) = if is_group {
            (ResourceKind::Group, vec![group_doc()])
        } else {
            (ResourceKind::User, vec![user_doc(), bare_user()])
        };
        for base in bases {
            let (doc, _, mut quirks) = run(kind, &base, &f["body"]).unwrap();
            let n = match crate::resource::normalize(kind, doc, &mut quirks) {
                Ok(n) => n,
                Err(e) => panic!("fixture {id}: normalize rejected the patched document: {e}"),
            };
            let doc = n.doc;
            match id {
                "disable-user-default-no-flag" => assert_eq!(doc["active"], json!(false)),
                "manager-add-observed" => assert_eq!(
                    doc[ENTERPRISE_USER]["manager"]["value"],
                    "2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2"
                ),
                "manager-add-legacy-doc" => assert_eq!(
                    doc[ENTERPRISE_USER]["manager"]["value"],
                    "00aa00aa-bb11-cc22-dd33-44ee44ee44ee"
                ),
                "manager-dot-notation" => {
                    assert_eq!(doc[ENTERPRISE_USER]["manager"]["value"], "<managerId>")
                }
                "flag-2020-examples" => {
                    assert_eq!(doc["emails"][0]["primary"], json!(true));
                    assert_eq!(doc["active"], json!(false));
                }
                _ => {}
            }
        }
    }
}

#[test]
fn created_role_from_boolean_string_filter_normalizes() {
    let (doc, _, mut quirks) = ok(
        ResourceKind::User,
        &bare_user(),
        json!([{"op": "Replace", "path": "roles[primary eq \"True\"].value", "value": "Admin"}]),
    );
    let n = crate::resource::normalize(ResourceKind::User, doc, &mut quirks).unwrap();
    assert_eq!(n.doc["roles"], json!([{"primary": true, "value": "Admin"}]));
}

// ---- RFC 7644 §3.5.2 examples ------------------------------------------------

#[test]
fn rfc_add_members() {
    let (doc, out, _) = ok(
        ResourceKind::Group,
        &group_doc(),
        json!([{"op": "add", "path": "members", "value": [
            {"display": "Babs Jensen", "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646", "value": "2819c223-7f76-453a-919d-413861904646"}
        ]}]),
    );
    assert_eq!(doc, group_doc());
    assert_eq!(
        out.member_changes,
        vec![MemberChange::Add(vec![
            "2819c223-7f76-453a-919d-413861904646".into()
        ])]
    );
}

#[test]
fn rfc_add_without_path() {
    let (doc, _, quirks) = ok(
        ResourceKind::User,
        &user_doc(),
        json!([{"op": "add", "value": {
            "emails": [{"value": "babs@example.org", "type": "other"}],
            "nickname": "Babs"
        }}]),
    );
    assert_eq!(doc["emails"].as_array().unwrap().len(), 3);
    assert_eq!(
        doc["emails"][2],
        json!({"value": "babs@example.org", "type": "other"})
    );
    assert_eq!(doc["nickName"], "Babs");
    assert!(doc.get("nickname").is_none());
    assert_eq!(quirks.count(quirk::ATTRIBUTE_CASE), 1);
}

#[test]
fn rfc_remove_members() {
    let g = group_doc();
    let (_, out, _) = ok(
        ResourceKind::Group,
        &g,
        json!([{"op": "remove", "path": "members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"}]),
    );
    assert_eq!(
        out.member_changes,
        vec![MemberChange::Remove(vec![
            "2819c223-7f76-453a-919d-413861904646".into()
        ])]
    );
    let (_, out, _) = ok(
        ResourceKind::Group,
        &g,
        json!([{"op": "remove", "path": "members"}]),
    );
    assert_eq!(out.member_changes, vec![MemberChange::RemoveAll]);

    let (_, out, _) = ok(
        ResourceKind::Group,
        &g,
        json!([{"op": "remove", "path": "members[value eq \"a\" or value eq \"b\"]"}]),
    );
    assert_eq!(
        out.member_changes,
        vec![MemberChange::Remove(vec!["a".into(), "b".into()])]
    );

    let (_, out, _) = ok(
        ResourceKind::Group,
        &g,
        json!([{"op": "remove", "path": "members[type eq \"Group\"]"}]),
    );
    assert!(matches!(
        out.member_changes.as_slice(),
        [MemberChange::RemoveWhere(_)]
    ));
}

#[test]
fn rfc_replace_members_and_pathless_members() {
    let (doc, out, _) = ok(
        ResourceKind::Group,
        &group_doc(),
        json!([{"op": "replace", "path": "members", "value": [
            {"display": "Babs Jensen", "value": "2819c223"},
            {"display": "James Smith", "value": "08e1d05d"}
        ]}]),
    );
    assert_eq!(doc, group_doc());
    assert_eq!(
        out.member_changes,
        vec![
            MemberChange::RemoveAll,
            MemberChange::Add(vec!["2819c223".into(), "08e1d05d".into()])
        ]
    );

    let (doc, out, _) = ok(
        ResourceKind::Group,
        &group_doc(),
        json!([
            {"op": "Replace", "value": {"displayName": "Guides", "members": [{"value": "u1"}]}},
            {"op": "Add", "value": {"members": [{"value": "u2"}]}},
            {"op": "add", "path": "members", "value": {"value": "u3"}}
        ]),
    );
    assert_eq!(doc["displayName"], "Guides");
    assert!(doc.get("members").is_none());
    assert_eq!(
        out.member_changes,
        vec![
            MemberChange::RemoveAll,
            MemberChange::Add(vec!["u1".into()]),
            MemberChange::Add(vec!["u2".into()]),
            MemberChange::Add(vec!["u3".into()])
        ]
    );
}

#[test]
fn member_values_must_be_objects_with_string_value() {
    for bad in [
        json!([{"value": 5}]),
        json!(["u1"]),
        json!("u1"),
        json!([{"display": "x"}]),
    ] {
        let e = err(
            ResourceKind::Group,
            &group_doc(),
            json!([{"op": "add", "path": "members", "value": bad}]),
        );
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{e}");
        assert!(e.detail.contains("\"value\""), "{e}");
    }
}

#[test]
fn rfc_remove_filtered_email() {
    let (doc, ..) = ok(
        ResourceKind::User,
        &user_doc(),
        json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]),
    );
    assert_eq!(
        doc["emails"],
        json!([{"value": "babs@jensen.org", "type": "home"}])
    );
}

#[test]
fn rfc_replace_filtered_address_and_sub_attribute() {
    let mut user = user_doc();
    user["addresses"] = json!([
        {"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "primary": true},
        {"type": "home", "streetAddress": "456 Hollywood Blvd"}
    ]);
    let (doc, ..) = ok(
        ResourceKind::User,
        &user,
        json!([
            {"op": "replace", "path": "addresses[type eq \"work\"]", "value": {
                "type": "work", "streetAddress": "911 Universal City Plaza", "postalCode": "91608"
            }},
            {"op": "replace", "path": "addresses[type eq \"home\"].streetAddress", "value": "1010 Broadway Ave"}
        ]),
    );
    assert_eq!(
        doc["addresses"],
        json!([
            {"type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood", "primary": true, "postalCode": "91608"},
            {"type": "home", "streetAddress": "1010 Broadway Ave"}
        ])
    );
}

#[test]
fn rfc_replace_without_path_replaces_multi_valued_and_merges_complex() {
    let (doc, ..) = ok(
        ResourceKind::User,
        &user_doc(),
        json!([{"op": "replace", "value": {
            "emails": [{"value": "bjensen@example.com", "type": "work"}],
            "nickName": "Babs",
            "name": {"givenName": "Babs"}
        }}]),
    );
    assert_eq!(
        doc["emails"],
        json!([{"value": "bjensen@example.com", "type": "work"}])
    );
    assert_eq!(doc["nickName"], "Babs");
    assert_eq!(
        doc["name"],
        json!({"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Babs"})
    );
}

// ---- Entra dialects ------------------------------------------------------------

#[test]
fn filtered_replace_creates_missing_elements() {
    let (doc, _, quirks) = ok(
        ResourceKind::User,
        &bare_user(),
        json!([
            {"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"},
            {"op": "Replace", "path": "addresses[type eq \"work\"].postalCode", "value": "98052"},
            {"op": "Replace", "path": "roles[primary eq \"True\"].value", "value": "Admin"}
        ]),
    );
    assert_eq!(
        doc["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555 0100"}])
    );
    assert_eq!(
        doc["addresses"],
        json!([{"type": "work", "postalCode": "98052"}])
    );
    assert_eq!(doc["roles"], json!([{"primary": "True", "value": "Admin"}]));
    assert_eq!(quirks.count(quirk::REPLACE_CREATED), 3);
}

#[test]
fn filtered_replace_on_boolean_string_matches_existing() {
    let (doc, _, quirks) = ok(
        ResourceKind::User,
        &user_doc(),
        json!([{"op": "Replace", "path": "roles[primary eq \"True\"].value", "value": "Writer"}]),
    );
    assert_eq!(
        doc["roles"],
        json!([{"value": "Writer", "type": "WindowsAzureActiveDirectoryRole", "primary": true}])
    );
    assert_eq!(quirks.count(quirk::REPLACE_CREATED), 0);
}

#[test]
fn filtered_replace_without_equality_and_no_match_is_no_target() {
    let e = err(
        ResourceKind::User,
        &user_doc(),
        json!([{"op": "replace", "path": "emails[value co \"nowhere\"].value", "value": "x@y.z"}]),
    );
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
}

#[test]
fn primary_moves_to_the_newly_primary_value() {
    let (doc, ..) = ok(
        ResourceKind::User,
        &user_doc(),
        json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
    );
    assert_eq!(doc["emails"][0]["primary"], json!(false));
    assert_eq!(doc["emails"][1]["primary"], json!(true));

    let (doc, ..) = ok(
        ResourceKind::User,
        &user_doc(),
        json!([{"op": "add", "path": "emails", "value": [{"value": "new@example.com", "type": "other", "primary": "True"}]}]),
    );
    assert_eq!(doc["emails"][0]["primary"], json!(false));
    assert_eq!(doc["emails"][2]["primary"], "True");
}

#[test]
fn remove_with_value_list_removes_only_listed_elements() {
    let (doc, _, quirks) = ok(
        ResourceKind::User,
        &user_doc(),
        json!([{"op": "Remove", "path": "emails", "value": [{"value": "BABS@jensen.org"}]}]),
    );
    assert_eq!(
        doc["emails"],
        json!([{"value": "bjensen@example.com", "type": "work", "primary": true}])
    );
    assert_eq!(quirks.count(quirk::REMOVE_WITH_VALUE), 1);

    // An empty list removes nothing (never everyone).
    let (_, out, _) = ok(
        ResourceKind::Group,
        &group_doc(),
        json!([{"op": "Remove", "path": "members", "value": []}]),
    );
    assert!(out.member_changes.is_empty());
}

#[test]
fn manager_empty_forms_remove_it() {
    for value in [
        json!(""),
        json!({"value": ""}),
        json!(null),
        json!({}),
        json!([]),
    ] {
        let (doc, _, quirks) = ok(
            ResourceKind::User,
            &user_doc(),
            json!([{"op": "Replace", "path": MANAGER_PATH, "value": value}]),
        );
        assert!(ent(&doc).get("manager").is_none(), "value {value}");
        assert_eq!(ent(&doc)["employeeNumber"], "701984");
        let expect = u32::from(!value.is_null());
        assert_eq!(
            quirks.count(quirk::EMPTY_VALUE_REMOVE),
            expect,
            "value {value}"
        );
    }
    // Without any value member.
    let (doc, ..) = ok(
        ResourceKind::User,
        &user_doc(),
        json!([{"op": "replace", "path": MANAGER_PATH}]),
    );
    assert!(ent(&doc).get("manager").is_none());
}

#[test]
fn removing_the_last_extension_attribute_drops_the_extension() {
    let mut user = bare_user();
    user["schemas"] = json!([CORE_USER, ENTERPRISE_USER]);
    user[ENTERPRISE_USER] = json!({"manager": {"value": "m1"}});
    let (doc, ..) = ok(
        ResourceKind::User,
        &user,
        json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager", "value": {"value": ""}}]),
    );
    assert_eq!(doc, bare_user());
}

#[test]
fn manager_bare_string_and_object_are_stored_under_the_extension() {
    let (doc, ..) = ok(
        ResourceKind::User,
        &bare_user(),
        json!([{"op": "add", "path": "manager", "value": {"Value": "m2"}}]),
    );
    assert_eq!(doc[ENTERPRISE_USER], json!({"manager": {"value": "m2"}}));
    assert_eq!(schemas_of(&doc), vec![CORE_USER, ENTERPRISE_USER]);
}

#[test]
fn empty_and_null_clear_optional_attributes() {
    let (doc, ..) = ok(
        ResourceKind::User,
        &user_doc(),
        json!([
            {"op": "replace", "path": "title", "value": ""},
            {"op": "replace", "path": "displayName", "value": null},
            {"op": "replace", "value": {"name.givenName": "", "externalId": null}}
        ]),
    );
    assert!(doc.get("title").is_none());
    assert!(doc.get("displayName").is_none());
    assert!(doc.get("externalId").is_none());
    assert_eq!(
        doc["name"],
        json!({"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen"})
    );
}

#[test]
fn removing_an_absent_attribute_is_fine() {
    let (doc, ..) = ok(
        ResourceKind::User,
        &bare_user(),
        json!([
            {"op": "remove", "path": "nickName"},
            {"op": "remove", "path": "emails[type eq \"work\"]"},
            {"op": "remove", "path": "name.givenName"},
            {"op": "remove", "path": MANAGER_PATH}
        ]),
    );
    assert_eq!(doc, bare_user());
}

#[test]
fn removing_a_value_sub_attribute_drops_the_element() {
    let (doc, ..) = ok(
        ResourceKind::User,
        &user_doc(),
        json!([{"op": "remove", "path": "emails[type eq \"work\"].value"}]),
    );
    assert_eq!(
        doc["emails"],
        json!([{"value": "babs@jensen.org", "type": "home"}])
    );
    let (doc, ..) = ok(
        ResourceKind::User,
        &user_doc(),
        json!([{"op": "remove", "path": "emails[type eq \"work\"].primary"}]),
    );
    assert_eq!(
        doc["emails"][0],
        json!({"value": "bjensen@example.com", "type": "work"})
    );
}

#[test]
fn names_are_case_insensitive_and_written_canonically() {
    let (doc, _, quirks) = ok(
        ResourceKind::User,
        &user_doc(),
        json!([
            {"op": "replace", "path": "NAME.GIVENNAME", "value": "B"},
            {"op": "replace", "path": "Emails[Type eq \"work\"].VALUE", "value": "b@example.com"},
            {"op": "add", "path": "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:COSTCENTER", "value": "4130"}
        ]),
    );
    assert_eq!(doc["name"]["givenName"], "B");
    assert_eq!(doc["emails"][0]["value"], "b@example.com");
    assert_eq!(ent(&doc)["costCenter"], "4130");
    assert!(doc["name"].get("GIVENNAME").is_none());
    assert!(quirks.count(quirk::ATTRIBUTE_CASE) >= 4);
}

#[test]
fn nested_extension_object_and_extension_urn_path() {
    let (doc, _, quirks) = ok(
        ResourceKind::User,
        &bare_user(),
        json!([
            {"op": "add", "value": {ENTERPRISE_USER: {"department": "Sales", "Manager": {"value": "m3"}}}},
            {"op": "add", "path": ENTERPRISE_USER, "value": {"costCenter": "4130"}}
        ]),
    );
    assert_eq!(
        doc[ENTERPRISE_USER],
        json!({"department": "Sales", "manager": {"value": "m3"}, "costCenter": "4130"})
    );
    assert_eq!(quirks.count(quirk::URN_KEY), 0);

    let (doc, ..) = ok(
        ResourceKind::User,
        &doc,
        json!([{"op": "remove", "path": ENTERPRISE_USER}]),
    );
    assert_eq!(doc, bare_user());
}

#[test]
fn core_urn_keys_and_legacy_dot_keys_in_pathless_values() {
    let (doc, _, quirks) = ok(
        ResourceKind::User,
        &bare_user(),
        json!([{"op": "replace", "value": {
            CORE_USER: {"displayName": "Rachel"},
            "urn:ietf:params:scim:schemas:core:2.0:User:title": "Ms",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department": "Ops"
        }}]),
    );
    assert_eq!(doc["displayName"], "Rachel");
    assert_eq!(doc["title"], "Ms");
    assert_eq!(doc[ENTERPRISE_USER], json!({"department": "Ops"}));
    assert_eq!(quirks.count(quirk::LEGACY_URN_DOT), 1);
}

#[test]
fn read_only_attributes_are_skipped() {
    let (doc, out, quirks) = ok(
        ResourceKind::User,
        &user_doc(),
        json!([
            {"op": "replace", "path": "id", "value": "x"},
            {"op": "add", "path": "groups", "value": [{"value": "g"}]},
            {"op": "replace", "path": "meta.lastModified", "value": "2020-01-01T00:00:00Z"},
            {"op": "replace", "value": {"id": "y", "meta": {"version": "1"}, "displayName": "B", "schemas": [CORE_USER]}}
        ]),
    );
    let mut expected = user_doc();
    expected["displayName"] = json!("B");
    assert_eq!(doc, expected);
    assert_eq!(quirks.count(quirk::READ_ONLY_IGNORED), 5);
    assert!(out.ignored.is_empty());
}

#[test]
fn unknown_attributes_are_ignored_and_reported() {
    let (doc, out, quirks) = ok(
        ResourceKind::User,
        &user_doc(),
        json!([
            {"op": "add", "path": "favoriteColor", "value": "blue"},
            {"op": "replace", "value": {"shoeSize": 9, "urn:acme:params:scim:schemas:extension:badge:1.0:User:badge": "b1"}},
            {"op": "add", "path": "emails", "value": {"value": "x@example.com", "label": "x"}}
        ]),
    );
    assert_eq!(
        out.ignored,
        vec![
            "favoriteColor".to_string(),
            "shoeSize".to_string(),
            "urn:acme:params:scim:schemas:extension:badge:1.0:User:badge".to_string(),
            "emails.label".to_string()
        ]
    );
    assert_eq!(doc["emails"][2], json!({"value": "x@example.com"}));
    assert!(doc.get("favoriteColor").is_none());
    assert_eq!(quirks.count(quirk::UNKNOWN_SCHEMA), 1);
}

#[test]
fn bad_paths_are_invalid_path() {
    for path in [
        "name.nickname",
        "emails[type eq \"work\"].label",
        "name[givenName eq \"x\"]",
        "userName.first",
        "emails[type eq ",
    ] {
        let e = err(
            ResourceKind::User,
            &user_doc(),
            json!([{"op": "replace", "path": path, "value": "x"}]),
        );
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{path}: {e}");
        assert_eq!(e.status, 400);
        assert!(e.detail.contains("Operations[0]"), "{e}");
    }
}

#[test]
fn atomic_on_failure() {
    let user = user_doc();
    let req = parse_patch(
        &body(json!([
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "add", "path": "emails", "value": [{"value": "z@example.com"}]},
            {"op": "replace", "path": "name.shoeSize", "value": "x"}
        ])),
        &mut Quirks::new(),
    )
    .unwrap();
    let mut doc = user.clone();
    let e = apply_patch(ResourceKind::User, &mut doc, &req, &mut Quirks::new()).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    assert_eq!(doc, user);

    let g = group_doc();
    let req = parse_patch(
        &body(json!([
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "add", "path": "members", "value": [{"value": 7}]}
        ])),
        &mut Quirks::new(),
    )
    .unwrap();
    let mut doc = g.clone();
    assert!(apply_patch(ResourceKind::Group, &mut doc, &req, &mut Quirks::new()).is_err());
    assert_eq!(doc, g);
}

#[test]
fn non_object_document_is_an_internal_error() {
    let req = PatchRequest::default();
    let mut doc = json!([1]);
    let e = apply_patch(ResourceKind::User, &mut doc, &req, &mut Quirks::new()).unwrap_err();
    assert_eq!(e.status, 500);
}

// ---- parsing -------------------------------------------------------------------

#[test]
fn parse_accepts_op_case_and_lenient_envelope() {
    let mut q = Quirks::new();
    let req = parse_patch(
        &json!({"operations": [
            {"Op": "ADD", "Path": "nickName", "Value": "B"},
            {"op": "Remove", "path": "title"},
            {"op": "replace", "value": {"active": false}}
        ]}),
        &mut q,
    )
    .unwrap();
    assert_eq!(
        req.ops.iter().map(|o| o.op).collect::<Vec<_>>(),
        vec![OpKind::Add, OpKind::Remove, OpKind::Replace]
    );
    assert_eq!(q.count(quirk::OP_CASE), 2);
    assert_eq!(req.ops[0].value, Some(json!("B")));
    assert!(req.ops[2].path.is_none());
}

#[test]
fn parse_empty_operations_is_a_no_op() {
    let mut q = Quirks::new();
    let req = parse_patch(&json!({"schemas": [PATCH_OP], "Operations": []}), &mut q).unwrap();
    assert!(req.ops.is_empty());
    assert_eq!(q.count(quirk::EMPTY_OPERATIONS), 1);
    let (doc, out, _) = ok(ResourceKind::User, &user_doc(), json!([]));
    assert_eq!(doc, user_doc());
    assert_eq!(out, PatchOutcome::default());
}

#[test]
fn parse_errors() {
    let cases: Vec<(Value, ScimType, &str)> = vec![
        (json!([]), ScimType::InvalidSyntax, "JSON object"),
        (
            json!({"schemas": [PATCH_OP]}),
            ScimType::InvalidSyntax,
            "Operations",
        ),
        (
            json!({"Operations": {"op": "add"}}),
            ScimType::InvalidSyntax,
            "array",
        ),
        (
            body(json!(["add"])),
            ScimType::InvalidSyntax,
            "Operations[0]",
        ),
        (
            body(json!([{"op": "merge", "path": "x"}])),
            ScimType::InvalidSyntax,
            "\"merge\"",
        ),
        (
            body(json!([{"op": "merge"}])),
            ScimType::InvalidSyntax,
            "\"add\", \"remove\" or \"replace\"",
        ),
        (
            body(json!([{"path": "x"}])),
            ScimType::InvalidSyntax,
            "no \"op\"",
        ),
        (
            body(json!([{"op": "add", "path": "nickName"}])),
            ScimType::InvalidSyntax,
            "value",
        ),
        (
            body(json!([{"op": "add", "value": "x"}])),
            ScimType::InvalidValue,
            "object",
        ),
        (
            body(json!([{"op": "replace"}])),
            ScimType::InvalidSyntax,
            "neither",
        ),
        (body(json!([{"op": "remove"}])), ScimType::NoTarget, "path"),
        (
            body(json!([{"op": "remove", "path": 5}])),
            ScimType::InvalidPath,
            "string",
        ),
        (
            body(json!([{"op": "add", "path": "emails[", "value": 1}])),
            ScimType::InvalidPath,
            "Operations[0].path",
        ),
    ];
    for (b, ty, needle) in cases {
        let e = parse_patch(&b, &mut Quirks::new()).unwrap_err();
        assert_eq!(e.scim_type, Some(ty), "{b}: {e}");
        assert_eq!(e.status, 400);
        assert!(e.detail.contains(needle), "{b}: {e}");
    }
}

#[test]
fn parse_limits_the_number_of_operations() {
    let ops: Vec<Value> = (0..=MAX_OPERATIONS)
        .map(|_| json!({"op": "add", "path": "nickName", "value": "x"}))
        .collect();
    let e = parse_patch(&body(Value::Array(ops)), &mut Quirks::new()).unwrap_err();
    assert_eq!(e.status, 400);
    assert!(e.detail.contains("1000"), "{e}");
}

// ---- properties ----------------------------------------------------------------

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z\\.\\[\\] \"$:]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "work",
            "True",
            "",
            "value",
            "members",
            "u1",
            MANAGER_PATH,
            ENTERPRISE_USER,
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "value",
            "type",
            "primary",
            "displayName",
            "name.givenName",
            "emails",
            "members",
            "manager",
            "id",
            "meta",
            "schemas",
            "roles",
            "active",
            "name",
            ENTERPRISE_USER,
            MANAGER_PATH,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department",
        ])
        .prop_map(String::from),
        "[a-zA-Z\\.:$]{1,10}",
    ]
}

fn arb_path() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "displayName",
            "name.givenName",
            "name",
            "emails",
            "emails[type eq \"work\"].value",
            "emails[type eq \"work\"]",
            "emails[value co \"x\"].primary",
            "members",
            "members[value eq \"u1\"]",
            "members[type eq \"User\"].display",
            "roles[primary eq \"True\"].value",
            "addresses[type eq \"work\"].postalCode",
            MANAGER_PATH,
            ENTERPRISE_USER,
            "manager.value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager",
            "groups",
            "id",
            "meta.version",
            "phoneNumbers",
            "x509Certificates",
            "name[givenName eq \"x\"]",
            "",
        ])
        .prop_map(Value::from),
        "[a-zA-Z\\.\\[\\] \"=]{0,16}".prop_map(Value::String),
        Just(Value::Null),
    ]
}

fn arb_op() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            "add", "Add", "remove", "Remove", "replace", "REPLACE", "copy",
        ]),
        prop::option::of(arb_path()),
        prop::option::of(arb_json()),
    )
        .prop_map(|(op, path, value)| {
            let mut m = serde_json::Map::new();
            m.insert("op".into(), Value::from(op));
            if let Some(p) = path {
                m.insert("path".into(), p);
            }
            if let Some(v) = value {
                m.insert("value".into(), v);
            }
            Value::Object(m)
        })
}

fn arb_body() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::collection::vec(arb_op(), 0..6).prop_map(|ops| body(Value::Array(ops))),
        1 => arb_json(),
    ]
}

fn check_no_panic(body: &Value) {
    let mut q = Quirks::new();
    let Ok(req) = parse_patch(body, &mut q) else {
        return;
    };
    for (kind, base) in [
        (ResourceKind::User, user_doc()),
        (ResourceKind::User, bare_user()),
        (ResourceKind::Group, group_doc()),
    ] {
        let mut doc = base.clone();
        match apply_patch(kind, &mut doc, &req, &mut q) {
            Ok(_) => {
                assert!(doc.is_object());
                assert!(doc.get("id").is_none() && doc.get("meta").is_none());
                if kind == ResourceKind::Group {
                    assert!(doc.get("members").is_none());
                }
            }
            Err(e) => {
                assert_eq!(doc, base, "a failed PATCH changed the document");
                assert!(e.status == 400, "{e}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(768))]

    #[test]
    fn never_panics_on_arbitrary_bodies(b in arb_body()) {
        check_no_panic(&b);
    }

    #[test]
    fn add_then_remove_restores_the_document(
        case in 0usize..8,
        text in "[a-zA-Z0-9 @.]{1,20}",
        base_has_extension in any::<bool>(),
    ) {
        let base = if base_has_extension { user_doc() } else { bare_user() };
        let (add_path, remove_path, value) = match case {
            0 => ("nickName", "nickName", json!(text)),
            1 => ("NICKNAME", "nickname", json!(text)),
            2 => ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter",
                  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:COSTCENTER", json!(text)),
            3 => ("ims", "ims", json!([{"value": text, "type": "aim"}])),
            4 => ("profileUrl", "PROFILEURL", json!(text)),
            5 => ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.division",
                  "division", json!(text)),
            6 => ("entitlements", "entitlements", json!({"value": text})),
            _ => ("name.middleName", "name.middleName", json!(text)),
        };
        let (added, ..) = ok(ResourceKind::User, &base,
            json!([{"op": "add", "path": add_path, "value": value}]));
        prop_assert_ne!(&added, &base);
        let (restored, ..) = ok(ResourceKind::User, &added,
            json!([{"op": "remove", "path": remove_path}]));
        prop_assert_eq!(restored, base);
    }

    #[test]
    fn pathless_add_then_remove_restores_the_document(text in "[a-zA-Z0-9]{1,12}") {
        let base = bare_user();
        let (added, ..) = ok(ResourceKind::User, &base, json!([{"op": "Add", "value": {
            "title": text,
            "name.givenName": text,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": text
        }}]));
        prop_assert_eq!(&added[ENTERPRISE_USER]["department"], &json!(text));
        let (restored, ..) = ok(ResourceKind::User, &added, json!([
            {"op": "remove", "path": "title"},
            {"op": "remove", "path": "name.givenName"},
            {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}
        ]));
        prop_assert_eq!(restored, base);
    }
}
