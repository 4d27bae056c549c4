//! Discovery endpoints are complete, free of nulls, shaped as RFC 7643/7644
//! say, reachable in any case and with a trailing slash; everything under
//! the SCIM prefix answers application/scim+json.

use reqwest::Method;
use serde_json::Value;

use super::{ENTERPRISE, GROUP_SCHEMA, LIST_RESPONSE, USER_SCHEMA};
use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    discovery_is_complete,
    routes_are_forgiving_and_unknown_ones_are_scim_404s
);

fn assert_no_nulls(v: &Value, at: &str) {
    match v {
        Value::Null => panic!("null at {at}"),
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                assert_no_nulls(x, &format!("{at}[{i}]"));
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                assert_no_nulls(x, &format!("{at}.{k}"));
            }
        }
        _ => {}
    }
}

fn attribute<'a>(schema: &'a Value, name: &str) -> &'a Value {
    schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("{} has no attribute {name}", schema["id"]))
}

async fn get(app: &TestApp, path: &str) -> Value {
    let r = app.get(path).await;
    r.expect(200);
    assert_eq!(
        r.header("content-type"),
        Some("application/scim+json"),
        "{path}"
    );
    assert_no_nulls(&r.body, path);
    r.body
}

async fn discovery_is_complete(app: TestApp) {
    let spc = get(&app, "/ServiceProviderConfig").await;
    assert_eq!(
        spc["schemas"][0],
        "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
    );
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["filter"]["supported"], true);
    assert!(spc["filter"]["maxResults"].as_u64().unwrap() >= 100);
    assert_eq!(spc["etag"]["supported"], true);
    assert_eq!(spc["sort"]["supported"], true);
    assert!(spc["bulk"]["supported"].is_boolean());
    assert!(spc["changePassword"]["supported"].is_boolean());
    let schemes = spc["authenticationSchemes"].as_array().unwrap();
    assert!(
        schemes.iter().any(|s| s["type"] == "oauthbearertoken"),
        "{spc}"
    );
    assert!(
        spc["meta"]["location"]
            .as_str()
            .unwrap()
            .ends_with("/ServiceProviderConfig")
    );

    let rts = get(&app, "/ResourceTypes").await;
    assert_eq!(rts["schemas"][0], LIST_RESPONSE);
    assert_eq!(rts["totalResults"], 2);
    assert_eq!(rts["itemsPerPage"], 2);
    assert_eq!(rts["startIndex"], 1);
    let user_rt = rts["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "User")
        .expect("User resource type");
    assert_eq!(user_rt["endpoint"], "/Users");
    assert_eq!(user_rt["schema"], USER_SCHEMA);
    assert_eq!(user_rt["schemaExtensions"][0]["schema"], ENTERPRISE);
    assert!(user_rt["schemaExtensions"][0]["required"].is_boolean());
    let one = get(&app, "/ResourceTypes/User").await;
    assert_eq!(&one, user_rt);
    let group_rt = get(&app, "/ResourceTypes/Group").await;
    assert_eq!(group_rt["endpoint"], "/Groups");
    assert_eq!(group_rt["schema"], GROUP_SCHEMA);
    app.get("/ResourceTypes/Widget")
        .await
        .expect_error(404, None);

    let schemas = get(&app, "/Schemas").await;
    assert_eq!(schemas["schemas"][0], LIST_RESPONSE);
    let list = schemas["Resources"].as_array().unwrap();
    assert_eq!(schemas["totalResults"], list.len());
    for id in [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE] {
        let s = list
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("{id} listed"));
        assert_eq!(
            s["schemas"][0],
            "urn:ietf:params:scim:schemas:core:2.0:Schema"
        );
        assert!(s["name"].is_string());
        let by_id = get(&app, &format!("/Schemas/{id}")).await;
        assert_eq!(&by_id, s, "{id}: by id and in the list");
        for a in s["attributes"].as_array().unwrap() {
            for key in [
                "name",
                "type",
                "multiValued",
                "required",
                "mutability",
                "returned",
            ] {
                assert!(a.get(key).is_some(), "{id}.{}: {key} missing", a["name"]);
            }
            let t = a["type"].as_str().unwrap();
            assert!(
                [
                    "string",
                    "boolean",
                    "decimal",
                    "integer",
                    "dateTime",
                    "reference",
                    "complex",
                    "binary"
                ]
                .contains(&t),
                "{id}.{}: type {t} must be camel-cased",
                a["name"]
            );
        }
    }
    let user = list.iter().find(|s| s["id"] == USER_SCHEMA).unwrap();
    let user_name = attribute(user, "userName");
    assert_eq!(user_name["required"], true);
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["caseExact"], false);
    let emails = attribute(user, "emails");
    assert_eq!(emails["multiValued"], true);
    assert!(
        emails["subAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "primary")
    );
    let password = attribute(user, "password");
    assert_eq!(password["returned"], "never");
    assert_eq!(password["mutability"], "writeOnly");
    let group = list.iter().find(|s| s["id"] == GROUP_SCHEMA).unwrap();
    assert_eq!(attribute(group, "members")["multiValued"], true);
    let ent = list.iter().find(|s| s["id"] == ENTERPRISE).unwrap();
    let manager = attribute(ent, "manager");
    assert_eq!(manager["type"], "complex");
    assert!(
        manager["subAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "value")
    );
    app.get("/Schemas/urn:nope").await.expect_error(404, None);
}

async fn routes_are_forgiving_and_unknown_ones_are_scim_404s(app: TestApp) {
    let id = app.create_user("route@example.com").await;
    for path in [
        "/users".to_string(),
        "/USERS/".to_string(),
        format!("/users/{id}/"),
        "/schemas/".to_string(),
        "/resourcetypes/user".to_string(),
        "/serviceproviderconfig/".to_string(),
        "/groups?excludedAttributes=members".to_string(),
    ] {
        let r = app.get(&path).await;
        r.expect(200);
        assert_eq!(
            r.header("content-type"),
            Some("application/scim+json"),
            "{path}"
        );
    }
    let r = app
        .client
        .get(format!("{}/SCIM/V2/Users/{id}", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    for (method, path) in [
        (Method::GET, "/Widgets"),
        (Method::GET, "/Users/x/y/z"),
        (Method::POST, "/Schemas"),
        (Method::DELETE, "/Users"),
        (Method::GET, "/Bulk"),
    ] {
        let r = app.scim(method.clone(), path, None).await;
        assert!(
            [404, 405].contains(&r.status.as_u16()),
            "{method} {path}: {}",
            r.status
        );
        assert_eq!(
            r.header("content-type"),
            Some("application/scim+json"),
            "{method} {path}"
        );
        assert_eq!(
            r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{method} {path}"
        );
        assert_eq!(r.body["status"], r.status.as_u16().to_string());
        assert!(r.body["detail"].as_str().unwrap().len() > 10);
    }
}
