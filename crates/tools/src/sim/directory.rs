//! The synthetic source directory: users and groups as Entra would hold them,
//! generated from a seed so that every run with the same seed produces the
//! same directory and the same incremental changes.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom as _;
use rand::{Rng as _, SeedableRng as _};

/// The e-mail domain of every generated user.
pub const DOMAIN: &str = "contoso.example";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable 128-bit identity, Entra's object id (sent as `externalId`).
    pub external_id: String,
    pub user_name: String,
    pub given_name: String,
    pub family_name: String,
    pub display_name: String,
    pub email: String,
    pub title: Option<String>,
    pub department: Option<String>,
    pub employee_number: String,
    pub work_phone: Option<String>,
    pub mobile_phone: Option<String>,
    /// Index of the manager in [`Directory::users`].
    pub manager: Option<usize>,
    pub active: bool,
    /// Hard-deleted in the source: must be gone from the target.
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub external_id: String,
    pub display_name: String,
    /// Indexes into [`Directory::users`].
    pub members: BTreeSet<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
}

/// One change of an incremental cycle, in the order Entra would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Attributes changed (title, department, phones, family name…).
    UpdateUser(usize),
    /// `userName` (and with it the e-mail) changed.
    RenameUser(usize),
    DisableUser(usize),
    EnableUser(usize),
    /// The manager changed (also for the reports of a deleted user).
    SetManager(usize),
    DeleteUser(usize),
    RenameGroup(usize),
    AddMembers(usize, Vec<usize>),
    RemoveMembers(usize, Vec<usize>),
}

const GIVEN: &[&str] = &[
    "José",
    "Zoë",
    "Siobhán",
    "Łukasz",
    "Chloé",
    "Björn",
    "Anaïs",
    "Renée",
    "João",
    "Ingrid",
    "Mohammed",
    "Aoife",
    "Søren",
    "Dvořák",
    "Mei",
    "Priya",
    "Kwame",
    "Olga",
    "Hélène",
    "Mateo",
    "Ana-María",
    "Jean-Luc",
    "Yūki",
    "Fatma",
    "Tomás",
    "Émile",
    "Noémie",
    "Grace",
    "Liam",
    "Amélie",
];

const FAMILY: &[&str] = &[
    "O'Brien",
    "Müller",
    "García",
    "D'Angelo",
    "Nguyễn",
    "Kowalski",
    "Dubois",
    "Ødegaard",
    "Smith",
    "Fernández",
    "O'Neill",
    "Schäfer",
    "Van der Berg",
    "Çelik",
    "Novák",
    "Ó Súilleabháin",
    "Jørgensen",
    "Peña",
    "Zhang",
    "Okafor",
    "MacDonald",
    "Lefèvre",
    "Björklund",
    "Rossi",
    "Tanaka",
];

const TITLES: &[&str] = &[
    "Software Engineer",
    "Senior Software Engineer",
    "Account Executive",
    "Product Manager",
    "Directeur Général Adjoint",
    "Designer",
    "Support Specialist",
    "Data Analyst",
    "Head of Sales",
    "Recruiter",
    "Site Reliability Engineer",
    "Controller",
];

const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Finance",
    "Marketing",
    "Support",
    "Human Resources",
    "Legal",
    "Recherche & Développement",
    "Operations",
];

const SUB_DEPARTMENTS: &[&str] = &["EMEA", "Americas", "APAC", "Platform", "Core", "Nordics"];

const GROUP_NAMES: &[&str] = &[
    "All Staff",
    "Engineering",
    "Équipe Montréal",
    "Sales – EMEA",
    "R&D",
    "Finance \"Core\"",
    "Support Tier 1",
    "Müller's Project",
    "Zürich Office",
    "Leadership",
    "Contractors",
    "São Paulo",
    "On-Call",
    "Design Guild",
];

impl Directory {
    /// A directory of `users` users and `groups` groups, the same for the
    /// same seed.
    pub fn generate(seed: u64, users: usize, groups: usize) -> Directory {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(users);
        for i in 0..users {
            let given = *GIVEN.choose(&mut rng).unwrap_or(&"Alex");
            let family = *FAMILY.choose(&mut rng).unwrap_or(&"Doe");
            let user_name = user_name(given, family, i, 0);
            let department = match rng.random_range(0..10) {
                0 => None,
                // Several source attributes joined by an expression such as
                // Join("-", [department], [division]).
                1..=3 => Some(format!(
                    "{}-{}",
                    DEPARTMENTS.choose(&mut rng).unwrap_or(&"Sales"),
                    SUB_DEPARTMENTS.choose(&mut rng).unwrap_or(&"EMEA")
                )),
                _ => Some(DEPARTMENTS.choose(&mut rng).unwrap_or(&"Sales").to_string()),
            };
            // A random recursive tree: everyone but the first user reports to
            // someone earlier, so the managers form a hierarchy without cycles.
            let manager = if i == 0 || rng.random_bool(0.05) {
                None
            } else {
                Some(rng.random_range(0..i.min(1 + i / 3).max(1)))
            };
            out.push(User {
                external_id: uuid(&mut rng),
                email: user_name.clone(),
                user_name,
                given_name: given.to_string(),
                family_name: family.to_string(),
                display_name: format!("{given} {family}"),
                title: rng
                    .random_bool(0.9)
                    .then(|| TITLES.choose(&mut rng).unwrap_or(&"Engineer").to_string()),
                department,
                employee_number: format!("E{:06}", 100_000 + i),
                work_phone: rng.random_bool(0.8).then(|| phone(&mut rng, "+1 425 555")),
                mobile_phone: rng
                    .random_bool(0.6)
                    .then(|| phone(&mut rng, "+44 7700 900")),
                manager,
                active: !rng.random_bool(0.04),
                deleted: false,
            });
        }
        let mut gs = Vec::with_capacity(groups);
        for g in 0..groups {
            let base = GROUP_NAMES[g % GROUP_NAMES.len()];
            let display_name = if g < GROUP_NAMES.len() {
                base.to_string()
            } else {
                format!("{base} {}", g / GROUP_NAMES.len() + 1)
            };
            let members: BTreeSet<usize> = if users == 0 {
                BTreeSet::new()
            } else if g == 0 {
                // Everyone: the large group that needs many member batches.
                (0..users).collect()
            } else if g % 5 == 1 {
                // A few more large groups, about half the directory.
                (0..users).filter(|_| rng.random_bool(0.5)).collect()
            } else {
                let n = rng.random_range(1..=users.min(25));
                (0..n).map(|_| rng.random_range(0..users)).collect()
            };
            gs.push(Group {
                external_id: uuid(&mut rng),
                display_name,
                members,
            });
        }
        Directory {
            users: out,
            groups: gs,
        }
    }

    /// Picks the changes of an incremental cycle touching about `fraction`
    /// of the users and groups, applies them to this directory and returns
    /// them in sending order. The same directory and seed give the same
    /// changes.
    pub fn incremental(&mut self, seed: u64, fraction: f64) -> Vec<Change> {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_1c4e_0000_0001);
        let fraction = fraction.clamp(0.0, 1.0);
        let n_users = self.users.len();
        let mut changes = Vec::new();
        if n_users == 0 {
            return changes;
        }
        let mut touched = BTreeSet::new();
        let picks = ((n_users as f64) * fraction).round() as usize;
        let mut deletes = Vec::new();
        for _ in 0..picks {
            let i = rng.random_range(0..n_users);
            if !touched.insert(i) || self.users[i].deleted {
                continue;
            }
            // The first user heads the hierarchy; keep it.
            let kind = if i == 0 { 0 } else { rng.random_range(0..10) };
            let u = &mut self.users[i];
            match kind {
                0..=3 => {
                    u.title = match rng.random_range(0..4) {
                        0 => None,
                        _ => Some(TITLES.choose(&mut rng).unwrap_or(&"Engineer").to_string()),
                    };
                    u.department = Some(format!(
                        "{}-{}",
                        DEPARTMENTS.choose(&mut rng).unwrap_or(&"Sales"),
                        SUB_DEPARTMENTS.choose(&mut rng).unwrap_or(&"Core")
                    ));
                    u.mobile_phone = Some(phone(&mut rng, "+33 6 12"));
                    if rng.random_bool(0.3) {
                        u.family_name = FAMILY.choose(&mut rng).unwrap_or(&"Doe").to_string();
                        u.display_name = format!("{} {}", u.given_name, u.family_name);
                    }
                    changes.push(Change::UpdateUser(i));
                }
                4 => {
                    u.family_name = FAMILY.choose(&mut rng).unwrap_or(&"Doe").to_string();
                    u.display_name = format!("{} {}", u.given_name, u.family_name);
                    u.user_name = user_name(&u.given_name, &u.family_name, i, 1);
                    u.email = u.user_name.clone();
                    changes.push(Change::RenameUser(i));
                }
                5 | 6 => {
                    if u.active {
                        u.active = false;
                        changes.push(Change::DisableUser(i));
                    } else {
                        u.active = true;
                        changes.push(Change::EnableUser(i));
                    }
                }
                7 => {
                    let m = rng.random_range(0..i);
                    if !self.users[m].deleted && self.users[i].manager != Some(m) {
                        self.users[i].manager = Some(m);
                        changes.push(Change::SetManager(i));
                    }
                }
                _ => deletes.push(i),
            }
        }
        // Re-enable some users that were disabled from the start.
        for i in 0..n_users {
            let u = &mut self.users[i];
            if !u.active && !u.deleted && !touched.contains(&i) && rng.random_bool(fraction) {
                touched.insert(i);
                u.active = true;
                changes.push(Change::EnableUser(i));
            }
        }
        for &i in &deletes {
            let parent = self.users[i].manager;
            self.users[i].deleted = true;
            // Reports of a deleted manager move up to the deleted user's
            // own manager, as an HR system would reassign them.
            for r in 0..n_users {
                if self.users[r].manager == Some(i) && !self.users[r].deleted {
                    let new = parent.filter(|p| !self.users[*p].deleted);
                    self.users[r].manager = new;
                    changes.push(Change::SetManager(r));
                }
            }
        }
        for &i in &deletes {
            changes.push(Change::DeleteUser(i));
            for g in &mut self.groups {
                g.members.remove(&i);
            }
        }
        let live: Vec<usize> = (0..n_users).filter(|i| !self.users[*i].deleted).collect();
        let group_picks = ((self.groups.len() as f64) * fraction).ceil() as usize;
        let mut touched_groups = BTreeSet::new();
        for _ in 0..group_picks {
            if self.groups.is_empty() {
                break;
            }
            let g = rng.random_range(0..self.groups.len());
            if !touched_groups.insert(g) {
                continue;
            }
            if rng.random_bool(0.3) {
                let group = &mut self.groups[g];
                group.display_name = format!("{} (renamed)", group.display_name);
                changes.push(Change::RenameGroup(g));
            }
            let group = &mut self.groups[g];
            let to_add: BTreeSet<usize> = (0..rng.random_range(1..=5usize))
                .filter_map(|_| live.choose(&mut rng).copied())
                .filter(|u| !group.members.contains(u))
                .collect();
            let current: Vec<usize> = group.members.iter().copied().collect();
            let to_remove: BTreeSet<usize> = (0..rng.random_range(0..=3usize))
                .filter_map(|_| current.choose(&mut rng).copied())
                .collect();
            for u in &to_remove {
                group.members.remove(u);
            }
            for u in &to_add {
                group.members.insert(*u);
            }
            if !to_add.is_empty() {
                changes.push(Change::AddMembers(g, to_add.into_iter().collect()));
            }
            if !to_remove.is_empty() {
                changes.push(Change::RemoveMembers(g, to_remove.into_iter().collect()));
            }
        }
        changes
    }
}

/// `given.family.N@domain`, lower case, accents folded as a UPN would be;
/// apostrophes kept (they are legal and real in e-mail addresses).
fn user_name(given: &str, family: &str, i: usize, generation: u32) -> String {
    let fold = |s: &str| -> String {
        s.chars()
            .filter_map(|c| match c {
                ' ' => None,
                c if c.is_ascii_alphanumeric() || c == '\'' || c == '-' => {
                    Some(c.to_ascii_lowercase())
                }
                c => Some(fold_char(c)),
            })
            .collect()
    };
    let suffix = if generation == 0 {
        format!("{i}")
    } else {
        format!("{i}r{generation}")
    };
    format!("{}.{}.{suffix}@{DOMAIN}", fold(given), fold(family))
}

fn fold_char(c: char) -> char {
    match c.to_lowercase().next().unwrap_or(c) {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' | 'č' => 'c',
        'è' | 'é' | 'ê' | 'ë' | 'ễ' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' => 'u',
        'ł' => 'l',
        'ř' => 'r',
        'ş' => 's',
        'ý' => 'y',
        _ => 'x',
    }
}

fn phone(rng: &mut StdRng, prefix: &str) -> String {
    format!("{prefix} {:04}", rng.random_range(0..10_000))
}

fn uuid(rng: &mut StdRng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_reproducible_and_realistic() {
        let a = Directory::generate(7, 300, 8);
        let b = Directory::generate(7, 300, 8);
        assert_eq!(a, b);
        assert_ne!(a, Directory::generate(8, 300, 8));
        let names: BTreeSet<&str> = a.users.iter().map(|u| u.user_name.as_str()).collect();
        assert_eq!(names.len(), 300, "userNames are unique");
        assert!(a.users.iter().any(|u| u.family_name.contains('\'')));
        assert!(a.users.iter().any(|u| !u.given_name.is_ascii()));
        assert!(a.users.iter().any(|u| !u.active));
        assert!(
            a.users
                .iter()
                .any(|u| u.department.as_deref().is_some_and(|d| d.contains('-')))
        );
        for (i, u) in a.users.iter().enumerate() {
            assert!(u.manager.is_none_or(|m| m < i), "managers form a hierarchy");
        }
        assert_eq!(a.groups[0].members.len(), 300);
    }

    #[test]
    fn incremental_changes_are_reproducible() {
        let mut a = Directory::generate(3, 200, 6);
        let mut b = a.clone();
        let ca = a.incremental(3, 0.2);
        let cb = b.incremental(3, 0.2);
        assert_eq!(ca, cb);
        assert_eq!(a, b);
        assert!(ca.iter().any(|c| matches!(c, Change::DeleteUser(_))));
        assert!(ca.iter().any(|c| matches!(c, Change::RenameUser(_))));
        assert!(ca.iter().any(|c| matches!(c, Change::AddMembers(..))));
        let names: BTreeSet<&str> = a.users.iter().map(|u| u.user_name.as_str()).collect();
        assert_eq!(names.len(), 200, "renames keep userNames unique");
        for u in &a.users {
            if let Some(m) = u.manager {
                // Nobody still in the directory reports to a deleted manager.
                assert!(u.deleted || !a.users[m].deleted);
            }
        }
    }
}
