//! The Entra simulator (`scimgate_tools::sim`) against a real scimgate: every
//! authentication mode, both request dialects, an initial and an incremental
//! cycle, and verification that catches what it should.

use scimgate::store::activity::Actor;
use scimgate::store::admins;
use scimgate::store::clients::{self, DEFAULT_SECRET_DAYS, ENTRA_REDIRECT_URIS};
use scimgate_tools::sim::directory::{Change, Directory};
use scimgate_tools::sim::{self, AuthMode, Dialect, Kind, MatchAttribute, Options, Report};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::on_both_databases;

const USERS: usize = 40;
const GROUPS: usize = 6;
const SEED: u64 = 42;
const FRACTION: f64 = 0.25;

fn options(app: &TestApp, auth: AuthMode, dialect: Dialect) -> Options {
    let mut o = Options::new(app.scim_url(""), auth);
    o.dialect = dialect;
    o.users = USERS;
    o.groups = GROUPS;
    o.seed = SEED;
    o.concurrency = 4;
    o.incremental_fraction = FRACTION;
    // Small batches so that the large groups take several requests.
    o.member_batch = 15;
    o
}

fn secret_token(app: &TestApp) -> AuthMode {
    AuthMode::SecretToken {
        token: app.token.clone(),
    }
}

/// The directory after both cycles and the incremental changes.
fn expected() -> (Directory, Vec<Change>) {
    let mut dir = Directory::generate(SEED, USERS, GROUPS);
    let changes = dir.incremental(SEED, FRACTION);
    (dir, changes)
}

#[track_caller]
fn assert_clean(report: &Report) {
    assert!(
        report.ok(),
        "the simulation found problems:\n{}",
        report.human()
    );
    assert_eq!(report.failed_requests, 0);
    assert!(report.failures.is_empty() && report.differences.is_empty());
}

/// Counts that follow from the directory: every user and group created once,
/// every delete sent, the managers set.
#[track_caller]
fn assert_counts(report: &Report) {
    let (dir, changes) = expected();
    let initial = Directory::generate(SEED, USERS, GROUPS);
    assert_eq!(report.count(Kind::TestConnection), 1);
    assert_eq!(report.count(Kind::MatchUser), USERS as u64);
    assert_eq!(report.count(Kind::CreateUser), USERS as u64);
    assert_eq!(
        report.count(Kind::UpdateUser) > 0,
        changes.iter().any(|c| matches!(c, Change::UpdateUser(_)))
    );
    let managed = initial.users.iter().filter(|u| u.manager.is_some()).count() as u64;
    assert!(
        report.count(Kind::SetManager) >= managed,
        "{}",
        report.human()
    );
    assert_eq!(report.count(Kind::MatchGroup), GROUPS as u64);
    assert_eq!(report.count(Kind::CreateGroup), GROUPS as u64);
    // The all-staff group alone needs ceil(40 / 15) = 3 batches.
    assert!(report.count(Kind::AddMembers) >= 3 + GROUPS as u64 - 1);
    let deletes = changes
        .iter()
        .filter(|c| matches!(c, Change::DeleteUser(_)))
        .count() as u64;
    assert_eq!(report.count(Kind::DeleteUser), deletes);
    assert!(deletes > 0, "the seed must exercise deletes");
    let removes = changes
        .iter()
        .filter(|c| matches!(c, Change::RemoveMembers(..)))
        .count() as u64;
    assert_eq!(report.count(Kind::RemoveMembers), removes);
    assert!(report.count(Kind::ListUsers) >= 1 && report.count(Kind::ListGroups) >= 1);
    assert!(report.requests_per_second > 0.0);
    for k in &report.requests {
        assert!(k.p50_ms <= k.p90_ms && k.p90_ms <= k.p99_ms && k.p99_ms <= k.max_ms);
    }
    assert_eq!(
        dir.users.iter().filter(|u| u.deleted).count() as u64,
        deletes
    );
}

/// What the server stores, read back directly: the live users, a user with
/// an apostrophe and accents, and the all-staff group's members.
async fn assert_stored(app: &TestApp) {
    let (dir, _) = expected();
    let live = dir.users.iter().filter(|u| !u.deleted).count();
    let r = app.get("/Users?count=1000").await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], live as u64);
    let u = dir
        .users
        .iter()
        .find(|u| !u.deleted && u.family_name.contains('\''))
        .expect("the directory has an apostrophe in a name");
    let filter: String =
        url::form_urlencoded::byte_serialize(format!("userName eq \"{}\"", u.user_name).as_bytes())
            .collect();
    let r = app.get(&format!("/Users?filter={filter}")).await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    let stored = &r.body["Resources"][0];
    assert_eq!(stored["name"]["familyName"], u.family_name.as_str());
    assert_eq!(stored["active"], json!(u.active));
    let all = &dir.groups[0];
    let filter: String = url::form_urlencoded::byte_serialize(
        format!("displayName eq \"{}\"", all.display_name).as_bytes(),
    )
    .collect();
    let r = app.get(&format!("/Groups?filter={filter}")).await;
    r.expect(200);
    let members = r.body["Resources"][0]["members"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(members.len(), all.members.len(), "{}", r.text);
}

async fn secret_token_default_dialect(app: TestApp) {
    let report = sim::run(options(&app, secret_token(&app), Dialect::Default))
        .await
        .unwrap();
    assert_clean(&report);
    assert_counts(&report);
    assert_eq!(report.auth, "secret-token");
    assert_stored(&app).await;
}

async fn secret_token_flag_dialect_matching_external_id(app: TestApp) {
    let mut o = options(&app, secret_token(&app), Dialect::AadOptScim062020);
    o.match_attribute = MatchAttribute::ExternalId;
    let report = sim::run(o).await.unwrap();
    assert_clean(&report);
    assert_counts(&report);
    assert_stored(&app).await;
}

async fn client_credentials_both_dialects(app: TestApp) {
    let (client, _, secret) = clients::create(
        &app.db,
        &app.tenant.id,
        "Entra",
        &[],
        DEFAULT_SECRET_DAYS,
        &Actor::operator(),
    )
    .await
    .unwrap();
    let auth = AuthMode::ClientCredentials {
        client_id: client.id.clone(),
        client_secret: secret,
        token_url: format!("{}/oauth/token", app.base),
    };
    // First the initial cycle alone, in the flag dialect.
    let mut o = options(&app, auth.clone(), Dialect::AadOptScim062020);
    o.incremental_fraction = 0.0;
    let first = sim::run(o).await.unwrap();
    assert_clean(&first);
    assert_eq!(first.auth, "client-credentials");
    assert_eq!(first.count(Kind::TokenClientCredentials), 1);
    assert_eq!(first.count(Kind::CreateUser), USERS as u64);
    assert_eq!(first.count(Kind::CreateGroup), GROUPS as u64);
    // Then a full run in the default dialect: every user and group is found
    // by matching, nothing the first run stored differs from what this run
    // would send, and the incremental cycle applies on top.
    let mut o = options(&app, auth, Dialect::Default);
    o.refresh_every_cycle = true;
    let second = sim::run(o).await.unwrap();
    assert_clean(&second);
    let (_, changes) = expected();
    let count = |f: fn(&Change) -> bool| changes.iter().filter(|c| f(c)).count() as u64;
    assert_eq!(second.count(Kind::MatchUser), USERS as u64);
    assert_eq!(second.count(Kind::CreateUser), 0, "{}", second.human());
    assert_eq!(second.count(Kind::CreateGroup), 0);
    assert_eq!(second.count(Kind::MatchGroup), GROUPS as u64);
    assert!(second.count(Kind::UpdateUser) <= count(|c| matches!(c, Change::UpdateUser(_))));
    assert_eq!(
        second.count(Kind::DeleteUser),
        count(|c| matches!(c, Change::DeleteUser(_)))
    );
    // A new token at the start of the incremental cycle.
    assert_eq!(second.count(Kind::TokenClientCredentials), 2);
    assert_stored(&app).await;
}

async fn authorize_flow_with_refresh(app: TestApp) {
    let password = "correct horse battery staple".to_string();
    let hash = scimgate::password::hash(password.clone()).await.unwrap();
    admins::create(
        &app.db,
        Some(&app.tenant.id),
        "admin@acme.example",
        &hash,
        &Actor::operator(),
    )
    .await
    .unwrap();
    let uris: Vec<String> = ENTRA_REDIRECT_URIS.iter().map(|s| s.to_string()).collect();
    let (client, _, secret) = clients::create(
        &app.db,
        &app.tenant.id,
        "Entra",
        &uris,
        DEFAULT_SECRET_DAYS,
        &Actor::operator(),
    )
    .await
    .unwrap();
    let auth = AuthMode::Authorize {
        client_id: client.id.clone(),
        client_secret: secret,
        authorize_url: format!("{}/oauth/authorize", app.base),
        token_url: format!("{}/oauth/token", app.base),
        redirect_uri: ENTRA_REDIRECT_URIS[0].to_string(),
        email: "admin@acme.example".into(),
        password,
    };
    let mut o = options(&app, auth.clone(), Dialect::Default);
    o.refresh_every_cycle = true;
    let report = sim::run(o).await.unwrap();
    assert_clean(&report);
    assert_counts(&report);
    assert_eq!(report.auth, "authorize");
    assert_eq!(report.count(Kind::TokenCode), 1);
    // The incremental cycle starts with a refresh.
    assert_eq!(report.count(Kind::TokenRefresh), 1);
    // The authorization page, sign-in, the consent page and its approval.
    assert!(report.count(Kind::AuthorizePage) >= 3, "{}", report.human());
    assert_stored(&app).await;

    // A wrong password stops the run with the sign-in page's message.
    let AuthMode::Authorize {
        client_id,
        client_secret,
        ..
    } = auth
    else {
        unreachable!()
    };
    let wrong = AuthMode::Authorize {
        client_id,
        client_secret,
        authorize_url: format!("{}/oauth/authorize", app.base),
        token_url: format!("{}/oauth/token", app.base),
        redirect_uri: ENTRA_REDIRECT_URIS[0].to_string(),
        email: "admin@acme.example".into(),
        password: "not the password at all".into(),
    };
    let err = sim::run(options(&app, wrong, Dialect::Default))
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("signing in as admin@acme.example failed"),
        "{err:#}"
    );
}

async fn verification_reports_a_change_behind_its_back(app: TestApp) {
    let report = sim::run(options(&app, secret_token(&app), Dialect::Default))
        .await
        .unwrap();
    assert_clean(&report);
    let (dir, _) = expected();
    let u = dir
        .users
        .iter()
        .find(|u| !u.deleted && u.title.is_some())
        .unwrap();
    let filter: String =
        url::form_urlencoded::byte_serialize(format!("userName eq \"{}\"", u.user_name).as_bytes())
            .collect();
    let r = app.get(&format!("/Users?filter={filter}")).await;
    r.expect(200);
    let id = r.body["Resources"][0]["id"].as_str().unwrap().to_string();
    app.patch(
        &format!("/Users/{id}"),
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "title", "value": "Changed behind Entra's back"}],
        }),
    )
    .await
    .expect(200);

    let mut o = options(&app, secret_token(&app), Dialect::Default);
    o.verify_only = true;
    let report = sim::run(o.clone()).await.unwrap();
    assert_eq!(report.failed_requests, 0, "{}", report.human());
    assert_eq!(report.count(Kind::CreateUser), 0);
    assert_eq!(report.differences.len(), 1, "{}", report.human());
    let d = &report.differences[0];
    assert_eq!(
        (d.resource, d.name.as_str(), d.attribute.as_str()),
        ("User", u.user_name.as_str(), "title")
    );
    assert_eq!(d.id.as_deref(), Some(id.as_str()));
    assert_eq!(d.expected, Value::String(u.title.clone().unwrap()));
    assert_eq!(d.actual, json!("Changed behind Entra's back"));
    assert!(!report.ok());
    assert!(report.human().contains("DIFFERENCES: 1"));

    // The same user taken out of the all-staff group is one more difference.
    let all = &dir.groups[0];
    let filter: String = url::form_urlencoded::byte_serialize(
        format!("displayName eq \"{}\"", all.display_name).as_bytes(),
    )
    .collect();
    let r = app.get(&format!("/Groups?filter={filter}")).await;
    r.expect(200);
    let gid = r.body["Resources"][0]["id"].as_str().unwrap().to_string();
    app.patch(
        &format!("/Groups/{gid}"),
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "remove", "path": format!("members[value eq \"{id}\"]")}],
        }),
    )
    .await
    .expect(204);
    let report = sim::run(o).await.unwrap();
    assert_eq!(report.differences.len(), 2, "{}", report.human());
    let m = report
        .differences
        .iter()
        .find(|d| d.attribute == "members")
        .expect("a membership difference");
    assert_eq!(
        (m.resource, m.name.as_str()),
        ("Group", all.display_name.as_str())
    );
    assert_eq!(m.id.as_deref(), Some(gid.as_str()));
    assert_eq!(m.expected, json!(u.user_name));
    assert_eq!(m.actual, Value::Null);
}

async fn a_failed_test_connection_stops_the_run(app: TestApp) {
    let auth = AuthMode::SecretToken {
        token: "not-a-token".into(),
    };
    let err = sim::run(options(&app, auth, Dialect::Default))
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("Test Connection failed") && msg.contains("401"),
        "{msg}"
    );
    // Nothing was provisioned.
    let r = app.get("/Users").await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 0);
}

on_both_databases!(
    secret_token_default_dialect,
    secret_token_flag_dialect_matching_external_id,
    client_credentials_both_dialects,
    authorize_flow_with_refresh,
    verification_reports_a_change_behind_its_back,
    a_failed_test_connection_stops_the_run,
);
