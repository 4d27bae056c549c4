//! The mapping rules applied to a whole tenant: a dry run that shows what
//! new rules would do, and saving rules, which recomputes every user.
//!
//! Saving is one transaction: the rules, every changed user and the activity
//! entry commit together or not at all, so a crash or a failure part-way
//! leaves the old rules with the values they derived — never a mix. Users are
//! read in batches of [`BATCH`] by primary key, so memory stays flat whatever
//! the tenant's size; only users whose result changes are written. Reads
//! never wait. On SQLite, whose one writer serialises every write, SCIM
//! writes wait for the transaction (see the README for its duration at
//! 100,000 users); on PostgreSQL, writes of the tenant's users already read
//! (and locked) by it wait for its commit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::diff;
use super::mapping::{self, Derived, Outcome, Rules};
use crate::events;
use crate::store::activity::{self, Actor, Entry};
use crate::store::events::{self as event_log, NewEvent};
use crate::store::mapping::{self as store, DerivedRow, StoredRules, UserDoc};
use crate::store::members::{self, Named};
use crate::store::resources::{Row, Tx};
use crate::store::{Backend, Db, SqlError, now};
use scim::ResourceKind;

/// Users read per query.
pub const BATCH: i64 = 1000;

/// The rules a stored row holds, or the defaults.
pub fn rules_of(stored: Option<&StoredRules>) -> Rules {
    match stored {
        None => Rules::default(),
        Some(s) => Rules {
            role_attribute: s.role_attribute.clone(),
            groups_attribute: s.groups_attribute.clone(),
            delimiter: s.delimiter.clone(),
            roles: mapping::table_from_json(&s.role_values),
            groups: mapping::table_from_json(&s.group_values),
        },
    }
}

/// The tenant's rules (defaults when it saved none) and the saved row.
pub async fn current(db: &Db, tenant_id: &str) -> Result<(Rules, Option<StoredRules>), SqlError> {
    let stored = store::rules(db, tenant_id).await?;
    Ok((rules_of(stored.as_ref()), stored))
}

/// The tenant's committed rules, inside a user write's transaction (see
/// [`store::rules_locked`] for how writes and saves are ordered).
pub async fn current_in_tx(
    tx: &mut Tx,
    backend: Backend,
    tenant_id: &str,
) -> Result<Rules, SqlError> {
    let stored = store::rules_locked(tx, backend, tenant_id, store::Lock::Share).await?;
    Ok(rules_of(stored.as_ref()))
}

fn stored_form(rules: &Rules, at: &str, by: Option<&str>) -> StoredRules {
    StoredRules {
        role_attribute: rules.role_attribute.clone(),
        groups_attribute: rules.groups_attribute.clone(),
        delimiter: rules.delimiter.clone(),
        role_values: mapping::table_to_json(&rules.roles),
        group_values: mapping::table_to_json(&rules.groups),
        updated_at: at.to_string(),
        updated_by: by.map(str::to_string),
    }
}

fn parse(doc: &str) -> Value {
    serde_json::from_str(doc).unwrap_or(Value::Null)
}

fn stored_of(u: &UserDoc) -> Derived {
    Derived::from_stored(u.derived_role.as_deref(), u.derived_groups.as_deref())
}

/// How many users a role or group would have, with a few of them.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub name: String,
    pub users: u64,
    /// Up to [`SAMPLE`] user names.
    pub sample: Vec<String>,
}

/// A user whose role or groups would change.
#[derive(Debug, Clone)]
pub struct UserChange {
    pub id: String,
    pub user_name: String,
    pub before: Derived,
    pub after: Derived,
}

/// What a set of rules would do to the tenant's current users.
#[derive(Debug, Clone, Default)]
pub struct DryRun {
    pub users: u64,
    pub changed: u64,
    /// The first [`CHANGES_SHOWN`] changed users, in id order.
    pub changes: Vec<UserChange>,
    /// Per role, most users first; users without a role are `no_role`.
    pub roles: Vec<Tally>,
    pub no_role: u64,
    pub groups: Vec<Tally>,
    pub no_groups: u64,
    /// Unmapped values with the number of users having each, most first.
    pub unmapped_roles: Vec<(String, u64)>,
    pub unmapped_groups: Vec<(String, u64)>,
}

pub const SAMPLE: usize = 5;
pub const CHANGES_SHOWN: usize = 50;

/// Counts keyed case-insensitively, keeping the first spelling seen.
#[derive(Default)]
struct Counter {
    entries: HashMap<String, Tally>,
}

impl Counter {
    fn add(&mut self, name: &str, user: &str, keep_sample: bool) {
        let t = self
            .entries
            .entry(name.to_lowercase())
            .or_insert_with(|| Tally {
                name: name.to_string(),
                ..Tally::default()
            });
        t.users += 1;
        if keep_sample && t.sample.len() < SAMPLE {
            t.sample.push(user.to_string());
        }
    }

    fn sorted(self) -> Vec<Tally> {
        let mut v: Vec<Tally> = self.entries.into_values().collect();
        v.sort_by(|a, b| b.users.cmp(&a.users).then_with(|| a.name.cmp(&b.name)));
        v
    }
}

/// Applies `rules` to every user of the tenant without writing anything.
pub async fn dry_run(db: &Db, tenant_id: &str, rules: &Rules) -> Result<DryRun, SqlError> {
    let mut out = DryRun::default();
    let (mut roles, mut groups) = (Counter::default(), Counter::default());
    let (mut unmapped_roles, mut unmapped_groups) = (Counter::default(), Counter::default());
    let mut after = String::new();
    loop {
        let batch = store::users_after(db, tenant_id, &after, BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = last.id.clone();
        for u in &batch {
            out.users += 1;
            let Outcome {
                derived,
                unmapped_roles: ur,
                unmapped_groups: ug,
            } = mapping::derive(rules, &parse(&u.doc));
            match &derived.role {
                Some(r) => roles.add(r, &u.user_name, true),
                None => out.no_role += 1,
            }
            if derived.groups.is_empty() {
                out.no_groups += 1;
            }
            for g in &derived.groups {
                groups.add(g, &u.user_name, true);
            }
            for v in &ur {
                unmapped_roles.add(v, &u.user_name, false);
            }
            for v in &ug {
                unmapped_groups.add(v, &u.user_name, false);
            }
            let before = stored_of(u);
            if before != derived {
                out.changed += 1;
                if out.changes.len() < CHANGES_SHOWN {
                    out.changes.push(UserChange {
                        id: u.id.clone(),
                        user_name: u.user_name.clone(),
                        before,
                        after: derived,
                    });
                }
            }
        }
        if (batch.len() as i64) < BATCH {
            break;
        }
    }
    out.roles = roles.sorted();
    out.groups = groups.sorted();
    let counts = |c: Counter| c.sorted().into_iter().map(|t| (t.name, t.users)).collect();
    out.unmapped_roles = counts(unmapped_roles);
    out.unmapped_groups = counts(unmapped_groups);
    Ok(out)
}

/// The `user.updated` event of each recomputed user: its representation
/// before and after the new role and groups.
async fn update_events(
    tx: &mut Tx,
    tenant_id: &str,
    base_url: &str,
    users: &[&UserDoc],
    writes: &[DerivedRow],
    at: &str,
) -> Result<Vec<NewEvent>, SqlError> {
    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let mut groups: HashMap<String, Vec<Named>> = HashMap::new();
    for (member, g) in members::groups_of_in_tx(tx, tenant_id, &ids).await? {
        groups.entry(member).or_default().push(g);
    }
    let mut out = Vec::with_capacity(users.len());
    for (u, (_, role, derived_groups)) in users.iter().zip(writes) {
        let mut row = Row {
            id: u.id.clone(),
            doc: String::new(),
            version: u.version,
            created_at: u.created_at.clone(),
            updated_at: u.updated_at.clone(),
            derived_role: u.derived_role.clone(),
            derived_groups: u.derived_groups.clone(),
        };
        let g = groups.get(&u.id).map_or(&[][..], Vec::as_slice);
        let before = super::event_repr(base_url, ResourceKind::User, &row, parse(&u.doc), g);
        row.version += 1;
        row.updated_at = at.to_string();
        row.derived_role = role.clone();
        row.derived_groups = derived_groups.clone();
        let after = super::event_repr(base_url, ResourceKind::User, &row, parse(&u.doc), g);
        out.extend(events::updated(
            tenant_id,
            ResourceKind::User,
            &before,
            after,
        ));
    }
    Ok(out)
}

/// What saving did.
#[derive(Debug, Clone)]
pub struct Saved {
    pub users: u64,
    pub changed: u64,
    pub elapsed: Duration,
}

/// Saves the rules and recomputes every user of the tenant, in one
/// transaction with its activity entry (the rules before and after).
///
/// Every user whose role or groups change gets a `user.updated` event, in
/// the same transaction; `base_url` (`…/scim/v2`) is where the events'
/// representations say the users live.
pub async fn save(
    db: &Db,
    tenant_id: &str,
    rules: &Rules,
    actor: &Actor,
    base_url: &str,
) -> Result<Saved, SqlError> {
    let started = Instant::now();
    let at = now();
    store::ensure_rules_row(db, tenant_id, &stored_form(&Rules::default(), &at, None)).await?;
    let mut tx = db.begin().await?;
    // Lock the rules row first: in-flight user writes finish, later ones
    // wait for the commit.
    let stored = store::rules_locked(&mut tx, db.backend(), tenant_id, store::Lock::Update).await?;
    let before = rules_of(stored.as_ref());
    store::save_rules(
        &mut tx,
        tenant_id,
        &stored_form(rules, &at, Some(&actor.label)),
    )
    .await?;
    let (mut users, mut changed) = (0u64, 0u64);
    let mut after = String::new();
    let mut writes: Vec<DerivedRow> = Vec::new();
    loop {
        let batch =
            store::users_after_for_update(&mut tx, db.backend(), tenant_id, &after, BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = last.id.clone();
        let mut changed_users = Vec::new();
        for u in &batch {
            users += 1;
            let derived = mapping::derive(rules, &parse(&u.doc)).derived;
            if derived == stored_of(u) {
                continue;
            }
            changed += 1;
            let groups = derived.groups_json();
            writes.push((u.id.clone(), derived.role, groups));
            changed_users.push(u);
        }
        store::update_derived(&mut tx, tenant_id, &writes, &at).await?;
        let evs = update_events(&mut tx, tenant_id, base_url, &changed_users, &writes, &at).await?;
        event_log::insert(&mut tx, db.backend(), &at, &evs).await?;
        writes.clear();
        if (batch.len() as i64) < BATCH {
            break;
        }
    }
    let mut entry = Entry::new(tenant_id, actor, "mapping.save", 200).detail(format!(
        "mapping rules saved; {changed} of {users} users got a new role or groups"
    ));
    let changes = diff::diff(&mapping::rules_json(&before), &mapping::rules_json(rules));
    if !changes.is_empty() {
        entry.changes = Some(diff::to_json(&changes).to_string());
    }
    entry.latency_ms = Some(started.elapsed().as_millis() as i64);
    activity::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Saved {
        users,
        changed,
        elapsed: started.elapsed(),
    })
}
