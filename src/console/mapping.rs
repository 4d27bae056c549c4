//! `/mapping`: the tenant's mapping rules (which attributes give the role
//! and the employee groups, the delimiter, the value tables), a dry run that
//! shows what rules would do to the current users without saving, and
//! saving, which recomputes every user (see `provision::recompute`).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::manage::{TenantAdmin, set_notice, take_notice, when};
use super::nav::{Nav, Section};
use super::{ConsoleError, CsrfForm, render, see_other};
use crate::http::AppState;
use crate::provision::mapping::{self, Derived, Rules};
use crate::provision::recompute::{self, DryRun};

pub fn router() -> Router<AppState> {
    Router::new().route("/mapping", get(page).post(submit))
}

/// Attribute paths offered as suggestions (any User attribute may be typed).
const ATTRIBUTE_CHOICES: [&str; 10] = [
    "title",
    "userType",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter",
    "roles",
    "entitlements",
    "preferredLanguage",
    "locale",
];

/// One role or group of a dry run.
pub struct TallyRow {
    pub name: String,
    pub users: u64,
    pub sample: String,
}

/// A user whose result would change.
pub struct ChangeRow {
    pub id: String,
    pub user_name: String,
    pub before: String,
    pub after: String,
}

pub struct DryRunView {
    pub users: u64,
    pub changed: u64,
    pub changes: Vec<ChangeRow>,
    /// Changed users not listed.
    pub more_changes: u64,
    pub roles: Vec<TallyRow>,
    pub no_role: u64,
    pub groups: Vec<TallyRow>,
    pub no_groups: u64,
    pub unmapped_roles: Vec<(String, u64)>,
    pub unmapped_groups: Vec<(String, u64)>,
}

/// "Role manager; groups Sales, North" for a change row.
pub fn describe(d: &Derived) -> String {
    let role = d.role.as_deref().unwrap_or("no role");
    if d.groups.is_empty() {
        format!("{role}; no groups")
    } else {
        format!("{role}; {}", d.groups.join(", "))
    }
}

impl From<DryRun> for DryRunView {
    fn from(d: DryRun) -> Self {
        let tallies = |list: Vec<recompute::Tally>| {
            list.into_iter()
                .map(|t| TallyRow {
                    sample: t.sample.join(", "),
                    name: t.name,
                    users: t.users,
                })
                .collect()
        };
        DryRunView {
            users: d.users,
            changed: d.changed,
            more_changes: d.changed.saturating_sub(d.changes.len() as u64),
            changes: d
                .changes
                .into_iter()
                .map(|c| ChangeRow {
                    before: describe(&c.before),
                    after: describe(&c.after),
                    id: c.id,
                    user_name: c.user_name,
                })
                .collect(),
            roles: tallies(d.roles),
            no_role: d.no_role,
            groups: tallies(d.groups),
            no_groups: d.no_groups,
            unmapped_roles: d.unmapped_roles,
            unmapped_groups: d.unmapped_groups,
        }
    }
}

/// The form's fields as typed (kept on errors and after a dry run).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MappingForm {
    #[serde(default)]
    pub role_attribute: String,
    #[serde(default)]
    pub groups_attribute: String,
    #[serde(default)]
    pub delimiter: String,
    #[serde(default)]
    pub roles: String,
    #[serde(default)]
    pub groups: String,
    /// The button pressed: `dry-run` or `save`.
    pub action: Option<String>,
}

impl MappingForm {
    fn of(rules: &Rules) -> MappingForm {
        MappingForm {
            role_attribute: rules.role_attribute.clone(),
            groups_attribute: rules.groups_attribute.clone(),
            delimiter: rules.delimiter.clone(),
            roles: mapping::table_text(&rules.roles),
            groups: mapping::table_text(&rules.groups),
            action: None,
        }
    }

    /// The rules, or every problem found, by field.
    fn rules(&self) -> Result<Rules, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let roles = mapping::parse_table(&self.roles, "role").unwrap_or_else(|e| {
            errors.push(("roles", format!("Value → role table: {e}.")));
            Vec::new()
        });
        let groups = mapping::parse_table(&self.groups, "group").unwrap_or_else(|e| {
            errors.push(("groups", format!("Value → group table: {e}.")));
            Vec::new()
        });
        let rules = Rules {
            role_attribute: self.role_attribute.trim().to_string(),
            groups_attribute: self.groups_attribute.trim().to_string(),
            // Spaces may be part of a delimiter (" / "); only line breaks a
            // browser might add are dropped.
            delimiter: self.delimiter.trim_matches(['\r', '\n']).to_string(),
            roles,
            groups,
        };
        errors.extend(mapping::check(&rules));
        if errors.is_empty() {
            Ok(rules)
        } else {
            errors.sort_by_key(|(field, _)| FIELDS.iter().position(|f| f == field));
            Err(errors)
        }
    }
}

const FIELDS: [&str; 5] = [
    "role_attribute",
    "groups_attribute",
    "delimiter",
    "roles",
    "groups",
];

#[derive(Template)]
#[template(path = "mapping/index.html")]
pub struct MappingPage {
    pub nav: Nav,
    pub csrf: String,
    pub notice: Option<String>,
    pub form: MappingForm,
    pub errors: Vec<(&'static str, String)>,
    pub choices: &'static [&'static str],
    /// "2026-11-02 10:04:30 UTC by it-admin@…", or None for the defaults.
    pub saved: Option<String>,
    pub dry: Option<DryRunView>,
    pub defaults: (&'static str, &'static str, &'static str),
}

impl MappingPage {
    /// The message for a field, if it has one.
    pub fn error_of(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
}

async fn load(
    state: &AppState,
    current: &TenantAdmin,
    form: Option<MappingForm>,
) -> Result<MappingPage, ConsoleError> {
    let (rules, stored) = recompute::current(state.db(), &current.tenant.id).await?;
    Ok(MappingPage {
        nav: current.nav(state, Section::Mapping).await?,
        csrf: current.csrf().await?,
        notice: take_notice(&current.session).await?,
        form: form.unwrap_or_else(|| MappingForm::of(&rules)),
        errors: Vec::new(),
        choices: &ATTRIBUTE_CHOICES,
        // A row without an author holds the defaults (see
        // `store::mapping::ensure_rules_row`): nothing was saved yet.
        saved: stored.and_then(|s| {
            s.updated_by
                .map(|by| format!("{} by {by}", when(&s.updated_at)))
        }),
        dry: None,
        defaults: (
            mapping::DEFAULT_ROLE_ATTRIBUTE,
            mapping::DEFAULT_GROUPS_ATTRIBUTE,
            mapping::DEFAULT_DELIMITER,
        ),
    })
}

/// `GET /mapping`
pub async fn page(
    State(state): State<AppState>,
    current: TenantAdmin,
) -> Result<Response, ConsoleError> {
    Ok(render(StatusCode::OK, &load(&state, &current, None).await?))
}

/// `POST /mapping`: "Dry run" shows what the typed rules would do; "Save
/// and recompute" saves them and recomputes every user.
pub async fn submit(
    State(state): State<AppState>,
    current: TenantAdmin,
    CsrfForm(form): CsrfForm<MappingForm>,
) -> Result<Response, ConsoleError> {
    let save = form.action.as_deref() == Some("save");
    let rules = match form.rules() {
        Ok(r) => r,
        Err(errors) => {
            let mut page = load(&state, &current, Some(form)).await?;
            page.errors = errors;
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    if !save {
        let dry = recompute::dry_run(state.db(), &current.tenant.id, &rules).await?;
        let mut page = load(&state, &current, Some(form)).await?;
        page.dry = Some(dry.into());
        return Ok(render(StatusCode::OK, &page));
    }
    let saved = recompute::save(
        state.db(),
        &current.tenant.id,
        &rules,
        &current.actor(),
        &state.scim_base(),
    )
    .await?;
    tracing::info!(
        tenant = %current.tenant.id,
        by = %current.admin.id,
        users = saved.users,
        changed = saved.changed,
        ms = saved.elapsed.as_millis() as u64,
        "mapping rules saved and users recomputed"
    );
    set_notice(
        &current.session,
        format!(
            "Rules saved. {} of {} users got a new role or groups.",
            saved.changed, saved.users
        ),
    )
    .await?;
    Ok(see_other("/mapping"))
}
