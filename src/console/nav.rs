//! The navigation of signed-in pages (`templates/console.html`): the
//! sections, which one is current, and who is signed in (with the CSRF token
//! of the sign-out form in the header).
//!
//! A page template extends `console.html` and has a `nav: Nav` field built
//! by [`Nav::build`].

use crate::console::ConsoleError;
use crate::console::session::{CurrentAdmin, csrf_token};
use crate::http::AppState;
use crate::store::tenants;

/// The console's sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Users,
    Groups,
    Activity,
    ConnectEntra,
    Connections,
    Mapping,
    Admins,
    Settings,
    /// The operator's list of tenants.
    Tenants,
    /// The operator's webhook endpoints.
    Webhooks,
}

/// A tenant admin's sections, in the order the header shows them, with the
/// address of each section's first page.
const TENANT_SECTIONS: [(Section, &str, &str); 9] = [
    (Section::Overview, "Overview", "/"),
    (Section::Users, "Users", "/users"),
    (Section::Groups, "Groups", "/groups"),
    (Section::Activity, "Activity", "/activity"),
    (Section::ConnectEntra, "Connect Entra", "/connect"),
    (Section::Connections, "Connections", "/connections"),
    (Section::Mapping, "Mapping", "/mapping"),
    (Section::Admins, "Admins", "/admins"),
    (Section::Settings, "Settings", "/settings"),
];

/// An operator manages tenants and belongs to none.
const OPERATOR_SECTIONS: [(Section, &str, &str); 2] = [
    (Section::Tenants, "Tenants", "/"),
    (Section::Webhooks, "Webhooks", "/webhooks"),
];

#[derive(Debug, Clone)]
pub struct NavItem {
    pub label: &'static str,
    pub href: &'static str,
    pub current: bool,
}

/// What the header of a signed-in page shows.
#[derive(Debug, Clone)]
pub struct Nav {
    pub items: Vec<NavItem>,
    pub email: String,
    /// The tenant's name, or "Operator".
    pub scope: String,
    /// For the sign-out form.
    pub csrf: String,
}

impl Nav {
    pub async fn build(
        state: &AppState,
        current: &CurrentAdmin,
        section: Section,
    ) -> Result<Nav, ConsoleError> {
        let (sections, scope): (&[(Section, &str, &str)], String) = match &current.admin.tenant_id {
            Some(id) => (
                &TENANT_SECTIONS,
                match tenants::by_id(state.db(), id).await? {
                    Some(t) => t.name,
                    None => id.clone(),
                },
            ),
            None => (&OPERATOR_SECTIONS, "Operator".to_string()),
        };
        Ok(Nav {
            items: sections
                .iter()
                .map(|(s, label, href)| NavItem {
                    label,
                    href,
                    current: *s == section,
                })
                .collect(),
            email: current.admin.email.clone(),
            scope,
            csrf: csrf_token(&current.session).await?,
        })
    }
}

/// The tenant a signed-in admin works in. Operators belong to no tenant, so
/// the tenant pages are not theirs.
pub fn tenant_of(current: &CurrentAdmin) -> Result<&str, ConsoleError> {
    current.admin.tenant_id.as_deref().ok_or_else(|| {
        ConsoleError::forbidden(
            "This page belongs to a tenant",
            "Operators manage tenants and see no tenant's users, groups or activity. Sign in as an admin of the tenant to see them.",
        )
    })
}
