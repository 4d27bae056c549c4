//! The mapping rules end to end: the Mapping page (dry run, save and
//! recompute, validation, CSRF), the derived role and groups in SCIM
//! representations (projection, filters, read-only writes ignored) and on
//! the console's user page, and tenant isolation.

use reqwest::Method;
use scimgate::provision::mapping::Rules;
use scimgate::provision::recompute;
use scimgate::store::activity::{self, Actor};
use serde_json::{Value, json};
use sqlx::Row as _;

use crate::browser::{Browser, form, location, main_text};
use crate::console_admin::{ADMIN_EMAIL, scalar, signed_in, text_of};
use crate::helpers::TestApp;
use crate::on_both_databases;

const MAPPING: &str = "urn:scimgate:params:scim:schemas:extension:mapping:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ROLES: &str = "Sales Manager = manager\nEngineer = member\n";
const GROUPS: &str = "Sales = Sales team\nNorth = Region North\nNord = Region North\n";

fn rules() -> Rules {
    Rules {
        roles: vec![
            ("Sales Manager".into(), "manager".into()),
            ("Engineer".into(), "member".into()),
        ],
        groups: vec![
            ("Sales".into(), "Sales team".into()),
            ("North".into(), "Region North".into()),
        ],
        ..Rules::default()
    }
}

async fn save_rules(app: &TestApp, tenant_id: &str, rules: &Rules) {
    recompute::save(
        &app.db,
        tenant_id,
        rules,
        &Actor::operator(),
        &app.scim_url(""),
    )
    .await
    .expect("save rules");
}

fn user(name: &str, title: &str, user_type: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "title": title,
        "userType": user_type,
        "active": true,
    })
}

async fn create(app: &TestApp, body: &Value) -> Value {
    let r = app.post("/Users", body).await;
    r.expect(201);
    r.body.clone()
}

/// (derived_role, derived_groups, version) as stored.
async fn stored(app: &TestApp, id: &str) -> (Option<String>, Option<String>, i64) {
    let row =
        sqlx::query("SELECT derived_role, derived_groups, version FROM scim_users WHERE id = $1")
            .bind(id)
            .fetch_one(app.db.reader())
            .await
            .unwrap();
    (
        row.try_get("derived_role").unwrap(),
        row.try_get("derived_groups").unwrap(),
        row.try_get("version").unwrap(),
    )
}

async fn mapping_page(browser: &Browser) -> String {
    let r = browser.get("/mapping").await;
    r.expect(200);
    r.text
}

/// Fills in and submits the Mapping form by pressing `button`.
async fn submit(browser: &Browser, fields: &[(&str, &str)], button: &str) -> crate::helpers::Reply {
    let page = mapping_page(browser).await;
    let mut f = form(&page, "/mapping");
    for (k, v) in fields {
        f.set(k, v);
    }
    browser.press(&f, button).await
}

async fn provisioning_yields_the_derived_role_and_groups(app: TestApp) {
    save_rules(&app, &app.tenant.id, &rules()).await;
    let body = create(
        &app,
        &user("ann@acme.example", " sales MANAGER ", "Sales-North-Remote"),
    )
    .await;
    let id = body["id"].as_str().unwrap().to_string();
    assert_eq!(body[MAPPING]["role"], "manager");
    assert_eq!(
        body[MAPPING]["groups"],
        json!(["Sales team", "Region North"])
    );
    assert!(
        body["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(MAPPING)),
        "{body}"
    );

    // Read back, projected, and filtered on.
    let r = app.get(&format!("/Users/{id}")).await;
    r.expect(200);
    assert_eq!(r.body[MAPPING]["role"], "manager");
    let r = app.get(&format!("/Users/{id}?attributes=userName")).await;
    assert!(r.body.get(MAPPING).is_none(), "{}", r.text);
    let r = app
        .get(&format!("/Users/{id}?excludedAttributes={MAPPING}"))
        .await;
    assert!(r.body.get(MAPPING).is_none(), "{}", r.text);
    let r = app
        .get(&format!("/Users/{id}?attributes={MAPPING}:role"))
        .await;
    assert_eq!(r.body[MAPPING], json!({"role": "manager"}), "{}", r.text);

    let other = create(&app, &user("bob@acme.example", "Engineer", "")).await;
    assert_eq!(other[MAPPING], json!({"role": "member"}));
    let plain = create(&app, &user("cy@acme.example", "Intern", "Unknown")).await;
    assert!(plain.get(MAPPING).is_none(), "{plain}");
    assert!(
        !plain["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(MAPPING))
    );

    let filter = |f: String| {
        let app = &app;
        async move {
            let r = app
                .scim(
                    Method::POST,
                    "/Users/.search",
                    Some(&json!({
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                        "filter": f,
                    })),
                )
                .await;
            r.expect(200);
            let mut names: Vec<String> = r.body["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["userName"].as_str().unwrap().to_string())
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(
        filter(format!("{MAPPING}:role eq \"Manager\"")).await,
        ["ann@acme.example"]
    );
    assert_eq!(
        filter(format!("{MAPPING}:groups eq \"region north\"")).await,
        ["ann@acme.example"]
    );
    assert_eq!(
        filter(format!("{MAPPING}:role pr")).await,
        ["ann@acme.example", "bob@acme.example"]
    );
    assert_eq!(
        filter(format!("not ({MAPPING}:role pr)")).await,
        ["cy@acme.example"]
    );

    // PATCH and PUT recompute in the same write.
    let r = app
        .patch(
            &format!("/Users/{id}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "path": "title", "value": "Engineer"}],
            }),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body[MAPPING]["role"], "member");
    let r = app
        .put(
            &format!("/Users/{id}"),
            &user("ann@acme.example", "Intern", "North"),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body[MAPPING], json!({"groups": ["Region North"]}));
    assert_eq!(
        stored(&app, &id).await.0,
        None,
        "an unmapped role value gives no role"
    );
    // The change is in the user's activity, beside the attribute's.
    let log = activity::recent(&app.db, &app.tenant.id, 50).await.unwrap();
    let put = log
        .iter()
        .find(|e| e.operation == "user.replace")
        .expect("replace logged");
    let changes = put.changes.as_deref().unwrap_or_default();
    assert!(changes.contains(&format!("{MAPPING}:role")), "{changes}");

    // The console's user page shows the result and what was not mapped.
    let (browser, _) = signed_in(&app).await;
    let r = browser.get(&format!("/users/{id}")).await;
    r.expect(200);
    let section = text_of(&r.text, "user-mapping");
    assert!(section.contains("Role none"), "{section}");
    assert!(
        section.contains("Employee groups Region North"),
        "{section}"
    );
    assert!(section.contains("Unmapped role values Intern"), "{section}");
    let r = browser
        .get(&format!("/users/{}", other["id"].as_str().unwrap()))
        .await;
    let section = text_of(&r.text, "user-mapping");
    assert!(section.contains("Role member"), "{section}");
}

async fn client_writes_to_the_extension_are_ignored(app: TestApp) {
    // No rules saved: the defaults map nothing.
    let mut body = user("dan@acme.example", "Engineer", "Sales");
    body[MAPPING] = json!({"role": "Admin", "groups": ["Everyone"]});
    body[format!("{MAPPING}:role")] = json!("Admin");
    let created = create(&app, &body).await;
    assert!(created.get(MAPPING).is_none(), "{created}");
    let id = created["id"].as_str().unwrap();
    // A served representation sent back whole, and PATCHes of the paths,
    // succeed and change nothing.
    let mut echoed = created.clone();
    echoed[MAPPING] = json!("not even an object");
    app.put(&format!("/Users/{id}"), &echoed).await.expect(200);
    for op in [
        json!({"op": "replace", "path": format!("{MAPPING}:role"), "value": "Admin"}),
        json!({"op": "add", "path": format!("{MAPPING}:groups"), "value": ["x"]}),
        json!({"op": "replace", "value": {MAPPING: {"role": "Admin"}}}),
    ] {
        let r = app
            .patch(
                &format!("/Users/{id}"),
                &json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [op],
                }),
            )
            .await;
        r.expect(200);
        assert!(r.body.get(MAPPING).is_none(), "{}", r.text);
    }
    assert_eq!(stored(&app, id).await.0, None);
    assert!(!app.db_doc_mentions(id, "Admin").await);
}

async fn dry_run_changes_nothing_and_saving_recomputes_every_user(app: TestApp) {
    let mut ids = Vec::new();
    for (name, title, kind) in [
        ("a@acme.example", "Sales Manager", "Sales-North"),
        ("b@acme.example", "engineer", "Nord"),
        ("c@acme.example", "Intern", "Sales-Contractor"),
    ] {
        ids.push(
            create(&app, &user(name, title, kind)).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let versions: Vec<i64> = {
        let mut v = Vec::new();
        for id in &ids {
            v.push(stored(&app, id).await.2);
        }
        v
    };
    let (browser, _) = signed_in(&app).await;
    let page = mapping_page(&browser).await;
    assert!(main_text(&page).contains("No rules saved yet"));
    let defaults = form(&page, "/mapping");
    assert_eq!(defaults.get("role_attribute"), Some("title"));
    assert_eq!(defaults.get("groups_attribute"), Some("userType"));
    assert_eq!(defaults.get("delimiter"), Some("-"));
    assert_eq!(defaults.get("roles"), Some(""));

    let fields = [("roles", ROLES), ("groups", GROUPS)];
    let r = submit(&browser, &fields, "dry-run").await;
    r.expect(200);
    let text = text_of(&r.text, "dry-run");
    assert!(
        text.contains("Of 3 users, 3 would get a different role or groups"),
        "{text}"
    );
    let roles = text_of(&r.text, "dry-roles");
    assert!(roles.contains("manager 1 a@acme.example"), "{roles}");
    assert!(roles.contains("member 1 b@acme.example"), "{roles}");
    assert!(roles.contains("no role 1"), "{roles}");
    let groups = text_of(&r.text, "dry-groups");
    assert!(groups.contains("Region North 2"), "{groups}");
    assert!(groups.contains("Sales team 2"), "{groups}");
    assert!(text_of(&r.text, "dry-unmapped-roles").contains("Intern 1"));
    assert!(text_of(&r.text, "dry-unmapped-groups").contains("Contractor 1"));
    let changes = text_of(&r.text, "dry-changes");
    assert!(
        changes.contains("a@acme.example no role; no groups manager; Sales team, Region North"),
        "{changes}"
    );
    // The typed rules are kept in the form.
    let kept = form(&r.text, "/mapping");
    assert_eq!(kept.get("roles"), Some(ROLES));

    // Nothing was written.
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM mapping_rules").await, 0);
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM scim_users WHERE derived_role IS NOT NULL OR derived_groups IS NOT NULL").await,
        0
    );
    for (id, v) in ids.iter().zip(&versions) {
        assert_eq!(stored(&app, id).await.2, *v);
    }

    // Save and recompute.
    let r = submit(&browser, &fields, "save").await;
    assert_eq!(location(&r), "/mapping");
    let page = mapping_page(&browser).await;
    assert!(
        main_text(&page).contains("Rules saved. 3 of 3 users got a new role or groups."),
        "{}",
        main_text(&page)
    );
    assert!(main_text(&page).contains(&format!("by {ADMIN_EMAIL}")));
    let saved = form(&page, "/mapping");
    assert_eq!(saved.get("roles"), Some(ROLES));
    assert_eq!(saved.get("groups"), Some(GROUPS));

    let (role, groups, version) = stored(&app, &ids[0]).await;
    assert_eq!(role.as_deref(), Some("manager"));
    assert_eq!(groups.as_deref(), Some(r#"["Sales team","Region North"]"#));
    assert_eq!(
        version,
        versions[0] + 1,
        "a changed user gets a new version"
    );
    let (role, groups, _) = stored(&app, &ids[1]).await;
    assert_eq!(
        (role.as_deref(), groups.as_deref()),
        (Some("member"), Some(r#"["Region North"]"#))
    );
    let (role, groups, version) = stored(&app, &ids[2]).await;
    assert_eq!((role, groups.as_deref()), (None, Some(r#"["Sales team"]"#)));
    assert_eq!(version, versions[2] + 1);
    let r = app.get(&format!("/Users/{}", ids[0])).await;
    assert_eq!(r.body[MAPPING]["role"], "manager");
    assert_eq!(
        r.body["meta"]["version"],
        format!("W/\"{}\"", versions[0] + 1)
    );

    // The activity log has the rules before and after.
    let log = activity::recent(&app.db, &app.tenant.id, 20).await.unwrap();
    let e = log
        .iter()
        .find(|e| e.operation == "mapping.save")
        .expect("mapping.save logged");
    assert_eq!(e.actor_label.as_deref(), Some(ADMIN_EMAIL));
    assert!(
        e.detail
            .as_deref()
            .unwrap_or_default()
            .contains("3 of 3 users")
    );
    let changes: Value = serde_json::from_str(e.changes.as_deref().unwrap()).unwrap();
    assert!(
        changes
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"] == "roles.Sales Manager"
                && c["before"].is_null()
                && c["after"] == "manager"),
        "{changes}"
    );

    // Saving the same rules again changes nobody.
    let r = submit(&browser, &[], "save").await;
    assert_eq!(location(&r), "/mapping");
    assert!(main_text(&mapping_page(&browser).await).contains("0 of 3 users"));

    // Switching the groups attribute and delimiter recomputes everyone.
    let r = submit(
        &browser,
        &[
            ("groups_attribute", "title"),
            ("delimiter", ""),
            ("groups", "sales manager = Leads"),
        ],
        "save",
    )
    .await;
    assert_eq!(location(&r), "/mapping");
    assert_eq!(
        stored(&app, &ids[0]).await.1.as_deref(),
        Some(r#"["Leads"]"#)
    );
    assert_eq!(stored(&app, &ids[1]).await.1, None);
}

async fn invalid_rules_are_shown_with_the_input_kept(app: TestApp) {
    let id = create(&app, &user("e@acme.example", "Engineer", "")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (browser, _) = signed_in(&app).await;
    for button in ["dry-run", "save"] {
        let r = submit(
            &browser,
            &[
                ("role_attribute", "nickname.first"),
                ("groups_attribute", "userType"),
                ("roles", "Engineer = member\nno equals sign here\n"),
                ("groups", "A = x\na = y\n"),
            ],
            button,
        )
        .await;
        r.expect(422);
        let errors = text_of(&r.text, "mapping-errors");
        assert!(errors.contains("Nothing was saved"), "{errors}");
        assert!(errors.contains("Role attribute"), "{errors}");
        assert!(errors.contains("line 2"), "{errors}");
        assert!(errors.contains("already mapped"), "{errors}");
        assert!(r.text.contains("aria-invalid=\"true\""));
        let kept = form(&r.text, "/mapping");
        assert_eq!(kept.get("role_attribute"), Some("nickname.first"));
        assert_eq!(
            kept.get("roles"),
            Some("Engineer = member\nno equals sign here\n")
        );
    }
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM mapping_rules").await, 0);
    assert_eq!(stored(&app, &id).await.0, None);
}

async fn changes_need_the_csrf_token(app: TestApp) {
    let (browser, _) = signed_in(&app).await;
    let page = mapping_page(&browser).await;
    let mut f = form(&page, "/mapping");
    f.set("roles", ROLES);
    let mut forged = f.clone();
    forged.remove("csrf");
    browser.press(&forged, "save").await.expect(403);
    forged.set("csrf", "not-the-token");
    browser.press(&forged, "save").await.expect(403);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM mapping_rules").await, 0);
    // Signed out: the sign-in page, not the rules.
    let stranger = Browser::fresh(&app);
    let r = stranger.press(&f, "save").await;
    assert!(location(&r).starts_with("/signin"), "{}", r.text);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM mapping_rules").await, 0);
    // The real form works.
    let r = browser.press(&f, "save").await;
    assert_eq!(location(&r), "/mapping");
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM mapping_rules").await, 1);
}

async fn rules_of_one_tenant_never_touch_another(app: TestApp) {
    let (other, other_token) = app.other_tenant("globex").await;
    let create_theirs = |name: &'static str| {
        let (app, token) = (&app, &other_token);
        async move {
            let r = app
                .scim_as(
                    token,
                    Method::POST,
                    "/Users",
                    Some(&user(name, "Sales Manager", "Sales")),
                )
                .await;
            r.expect(201);
            r.body
        }
    };
    let their_id = create_theirs("ann@globex.example").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    create(&app, &user("ann@acme.example", "Sales Manager", "Sales")).await;

    let (browser, _) = signed_in(&app).await;
    let r = submit(&browser, &[("roles", ROLES), ("groups", GROUPS)], "dry-run").await;
    assert!(
        text_of(&r.text, "dry-run").contains("Of 1 users"),
        "{}",
        text_of(&r.text, "dry-run")
    );
    let r = submit(&browser, &[("roles", ROLES), ("groups", GROUPS)], "save").await;
    assert_eq!(location(&r), "/mapping");
    assert!(main_text(&mapping_page(&browser).await).contains("1 of 1 users"));

    // The other tenant's user is untouched, and its new users use its own
    // (default) rules.
    assert_eq!(stored(&app, &their_id).await.0, None);
    let read_theirs = || async {
        let r = app
            .scim_as(
                &other_token,
                Method::GET,
                &format!("/Users/{their_id}"),
                None,
            )
            .await;
        r.expect(200);
        r.body
    };
    let r = read_theirs().await;
    assert!(r.get(MAPPING).is_none(), "{r}");
    let bob = create_theirs("bob@globex.example").await;
    assert!(bob.get(MAPPING).is_none(), "{bob}");
    assert!(
        activity::recent(&app.db, &other.id, 50)
            .await
            .unwrap()
            .iter()
            .all(|e| e.operation != "mapping.save")
    );
    // The other tenant's rules are its own.
    let mut theirs = rules();
    theirs.roles = vec![("Sales Manager".into(), "owner".into())];
    save_rules(&app, &other.id, &theirs).await;
    let mine = create(&app, &user("cy@acme.example", "Sales Manager", "")).await;
    assert_eq!(mine[MAPPING]["role"], "manager");
    assert_eq!(read_theirs().await[MAPPING]["role"], "owner");
}

async fn writes_during_a_save_end_with_the_new_rules(app: TestApp) {
    crate::seed::seed_users(&app, &app.tenant.id, 3000, |i| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("seed{i:05}@acme.example"),
            "title": "Engineer",
        })
    })
    .await;
    let (db, tenant_id) = (app.db.clone(), app.tenant.id.clone());
    let base = app.scim_url("");
    let save = tokio::spawn(async move {
        recompute::save(&db, &tenant_id, &rules(), &Actor::operator(), &base).await
    });
    for i in 0..20 {
        create(&app, &user(&format!("new{i}@acme.example"), "Engineer", "")).await;
    }
    save.await.unwrap().unwrap();
    // Whichever came first, no user is left with the old rules' result.
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM scim_users WHERE derived_role IS NULL OR derived_role <> 'member'"
        )
        .await,
        0
    );
}

async fn discovery_lists_the_extension(app: TestApp) {
    let r = app.get("/Schemas").await;
    r.expect(200);
    let ids: Vec<&str> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&MAPPING), "{ids:?}");
    let r = app.get(&format!("/Schemas/{MAPPING}")).await;
    r.expect(200);
    let attrs = r.body["attributes"].as_array().unwrap();
    assert_eq!(attrs.len(), 2);
    assert_eq!(attrs[0]["name"], "role");
    assert_eq!(attrs[0]["mutability"], "readOnly");
    assert_eq!(attrs[0]["multiValued"], false);
    assert_eq!(attrs[1]["name"], "groups");
    assert_eq!(attrs[1]["type"], "string");
    assert_eq!(attrs[1]["multiValued"], true);
    assert_eq!(attrs[1]["mutability"], "readOnly");
    let r = app.get("/ResourceTypes/User").await;
    assert_eq!(
        r.body["schemaExtensions"],
        json!([
            {"schema": ENTERPRISE, "required": false},
            {"schema": MAPPING, "required": false}
        ])
    );
}

impl TestApp {
    /// Whether the stored document of a user contains `needle`.
    async fn db_doc_mentions(&self, id: &str, needle: &str) -> bool {
        let doc: String = sqlx::query("SELECT doc FROM scim_users WHERE id = $1")
            .bind(id)
            .fetch_one(self.db.reader())
            .await
            .unwrap()
            .try_get("doc")
            .unwrap();
        doc.contains(needle)
    }
}

/// Seeds `n` engineers and starts saving the rules in the background;
/// returns once the recompute is under way (a step has been taken).
async fn start_a_long_save(
    app: &TestApp,
    n: usize,
) -> tokio::task::JoinHandle<Result<recompute::Saved, scimgate::store::SqlError>> {
    crate::seed::seed_users(app, &app.tenant.id, n, |i| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("eng{i:05}@acme.example"),
            "title": "Engineer",
        })
    })
    .await;
    let (db, tenant_id, base) = (app.db.clone(), app.tenant.id.clone(), app.scim_url(""));
    let save = tokio::spawn(async move {
        recompute::save(&db, &tenant_id, &rules(), &Actor::operator(), &base).await
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while recompute_state(app)
        .await
        .is_none_or(|s| s.contains("\"after\":\"\""))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the recompute never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    save
}

async fn recompute_state(app: &TestApp) -> Option<String> {
    sqlx::query("SELECT recompute_state FROM mapping_rules WHERE tenant_id = $1")
        .bind(&app.tenant.id)
        .fetch_optional(app.db.reader())
        .await
        .unwrap()
        .and_then(|r| r.try_get("recompute_state").unwrap())
}

/// A save over many users recomputes them in steps: another tenant's write
/// sent meanwhile is done while the recompute is still under way, not
/// after it.
async fn a_long_save_lets_other_tenants_write_between_its_steps(app: TestApp) {
    let (_, token) = app.other_tenant("globex").await;
    let save = start_a_long_save(&app, 20_000).await;
    let r = app
        .scim_as(
            &token,
            Method::POST,
            "/Users",
            Some(&user("meanwhile@globex.example", "Engineer", "")),
        )
        .await;
    r.expect(201);
    assert!(
        recompute_state(&app).await.is_some(),
        "the other tenant's create was done while the recompute was under way"
    );
    let saved = save.await.unwrap().unwrap();
    assert_eq!((saved.users, saved.changed), (20_000, 20_000));
    assert_eq!(recompute_state(&app).await, None);
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM scim_users WHERE derived_role = 'member'"
        )
        .await,
        20_000,
        "the other tenant has no rules"
    );
}

/// A recompute cut short (the process stopped between steps) is finished
/// by the background task: every user ends with the new rules' result, and
/// the save is logged once.
async fn a_recompute_cut_short_is_resumed(app: TestApp) {
    let save = start_a_long_save(&app, 5_000).await;
    save.abort();
    let _ = save.await;
    assert!(recompute_state(&app).await.is_some(), "stopped part-way");
    assert_eq!(recompute::resume_all(&app.db).await.unwrap(), 1);
    assert_eq!(recompute_state(&app).await, None);
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM scim_users WHERE derived_role IS NULL OR derived_role <> 'member'"
        )
        .await,
        0
    );
    let log = activity::recent(&app.db, &app.tenant.id, 20).await.unwrap();
    let saves: Vec<_> = log
        .iter()
        .filter(|e| e.operation == "mapping.save")
        .collect();
    assert_eq!(saves.len(), 1);
    assert!(
        saves[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("5000 of 5000 users"),
        "{:?}",
        saves[0].detail
    );
    assert!(saves[0].changes.is_some());
    assert_eq!(recompute::resume_all(&app.db).await.unwrap(), 0);
}

on_both_databases!(
    a_long_save_lets_other_tenants_write_between_its_steps,
    a_recompute_cut_short_is_resumed,
    provisioning_yields_the_derived_role_and_groups,
    client_writes_to_the_extension_are_ignored,
    dry_run_changes_nothing_and_saving_recomputes_every_user,
    invalid_rules_are_shown_with_the_input_kept,
    changes_need_the_csrf_token,
    rules_of_one_tenant_never_touch_another,
    writes_during_a_save_end_with_the_new_rules,
    discovery_lists_the_extension,
);
