//! The mapping rules applied to a whole tenant: a dry run that shows what
//! new rules would do, and saving rules, which recomputes every user.
//!
//! Saving commits the rules at once; from then on every user write derives
//! with them. The users already stored are then recomputed in steps of
//! [`BATCH`] users by primary key, each step its own short transaction that
//! writes the changed users, their `user.updated` events and where the
//! recompute stands (`mapping_rules.recompute_state`). Between steps other
//! writes — other tenants' above all, on SQLite's single writer — get the
//! database, so a save over 100,000 users never makes them wait more than
//! a step. A recompute cut short by a restart is resumed by the background
//! task ([`resume_all`]); a newer save starts it over with its rules. The
//! `mapping.save` activity entry is written by the step that finishes,
//! with the rules before and after and the counts. Memory stays flat
//! whatever the tenant's size; only users whose result changes are written.
//! On PostgreSQL a step locks the rules row and its users: user writes wait
//! for at most one step.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::diff;
use super::mapping::{self, Derived, Outcome, Rules};
use crate::events;
use crate::store::Tx;
use crate::store::activity::{self, Actor, Entry};
use crate::store::events::{self as event_log, NewEvent};
use crate::store::mapping::{self as store, DerivedRow, StoredRules, UserDoc};
use crate::store::members::{self, Named};
use crate::store::resources::Row;
use crate::store::{Db, SqlError, now};
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
pub async fn current_in_tx(tx: &mut Tx, tenant_id: &str) -> Result<Rules, SqlError> {
    let stored = store::rules_locked(tx, tenant_id, store::Lock::Share).await?;
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

/// A recompute under way, as `mapping_rules.recompute_state` keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    /// Users with ids up to this one are done.
    after: String,
    users: u64,
    changed: u64,
    /// The rules before and after (the activity entry's changes).
    changes: Option<String>,
    actor_kind: String,
    actor_id: Option<String>,
    actor_label: String,
    /// Where the events' representations say the users live.
    base_url: String,
    /// When the save happened (RFC 3339).
    started_at: String,
}

impl Pending {
    fn actor(&self) -> Actor {
        let kind = match self.actor_kind.as_str() {
            "token" => "token",
            "admin" => "admin",
            "operator" => "operator",
            "client" => "client",
            "sso" => "sso",
            _ => "system",
        };
        Actor {
            kind,
            id: self.actor_id.clone(),
            label: self.actor_label.clone(),
        }
    }
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Users read and changed so far; more steps to go.
    Progress { users: u64, changed: u64 },
    /// The last step: the totals.
    Done { users: u64, changed: u64 },
    /// No recompute was under way.
    Idle,
}

/// Saves the rules (committed at once, with the start of their recompute),
/// then recomputes every user of the tenant step by step (see the module
/// documentation). Returns when the recompute is done.
///
/// Every user whose role or groups change gets a `user.updated` event, in
/// the step that changes it; `base_url` (`…/scim/v2`) is where the events'
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
    // wait for the commit (and then derive with the new rules).
    let stored = store::rules_locked(&mut tx, tenant_id, store::Lock::Update).await?;
    let before = rules_of(stored.as_ref());
    store::save_rules(
        &mut tx,
        tenant_id,
        &stored_form(rules, &at, Some(&actor.label)),
    )
    .await?;
    let changes = diff::diff(&mapping::rules_json(&before), &mapping::rules_json(rules));
    let pending = Pending {
        after: String::new(),
        users: 0,
        changed: 0,
        changes: (!changes.is_empty()).then(|| diff::to_json(&changes).to_string()),
        actor_kind: actor.kind.to_string(),
        actor_id: actor.id.clone(),
        actor_label: actor.label.clone(),
        base_url: base_url.to_string(),
        started_at: at,
    };
    let state = serde_json::to_string(&pending).map_err(SqlError::encode)?;
    store::set_recompute_state(&mut tx, tenant_id, Some(&state)).await?;
    tx.commit().await?;
    let (mut users, mut changed) = (0, 0);
    loop {
        match step(db, tenant_id).await? {
            Step::Progress {
                users: u,
                changed: c,
            } => (users, changed) = (u, c),
            Step::Done {
                users: u,
                changed: c,
            } => {
                (users, changed) = (u, c);
                break;
            }
            // Finished by another instance's (or the background task's)
            // step: the counts seen last.
            Step::Idle => break,
        }
    }
    Ok(Saved {
        users,
        changed,
        elapsed: started.elapsed(),
    })
}

/// Recomputes the next [`BATCH`] users of the tenant's recompute under way,
/// in one transaction.
pub async fn step(db: &Db, tenant_id: &str) -> Result<Step, SqlError> {
    let mut tx = db.begin().await?;
    let stored = store::rules_locked(&mut tx, tenant_id, store::Lock::Update).await?;
    let Some(state) = store::recompute_state(&mut tx, tenant_id).await? else {
        tx.rollback().await?;
        return Ok(Step::Idle);
    };
    let mut p: Pending = match serde_json::from_str(&state) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(tenant = %tenant_id, error = %e, "an unreadable mapping recompute state was dropped");
            store::set_recompute_state(&mut tx, tenant_id, None).await?;
            tx.commit().await?;
            return Ok(Step::Idle);
        }
    };
    let rules = rules_of(stored.as_ref());
    let at = now();
    let batch = store::users_after_for_update(&mut tx, tenant_id, &p.after, BATCH).await?;
    let mut writes: Vec<DerivedRow> = Vec::new();
    let mut changed_users = Vec::new();
    for u in &batch {
        let derived = mapping::derive(&rules, &parse(&u.doc)).derived;
        if derived == stored_of(u) {
            continue;
        }
        let groups = derived.groups_json();
        writes.push((u.id.clone(), derived.role, groups));
        changed_users.push(u);
    }
    p.users += batch.len() as u64;
    p.changed += writes.len() as u64;
    if !writes.is_empty() {
        store::update_derived(&mut tx, tenant_id, &writes, &at).await?;
        let evs = update_events(
            &mut tx,
            tenant_id,
            &p.base_url,
            &changed_users,
            &writes,
            &at,
        )
        .await?;
        event_log::insert(&mut tx, &at, &evs).await?;
    }
    if (batch.len() as i64) < BATCH {
        let mut entry = Entry::new(tenant_id, &p.actor(), "mapping.save", 200).detail(format!(
            "mapping rules saved; {} of {} users got a new role or groups",
            p.changed, p.users
        ));
        entry.changes = p.changes.clone();
        entry.latency_ms = chrono::DateTime::parse_from_rfc3339(&p.started_at)
            .ok()
            .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_milliseconds());
        activity::record(&mut tx, &entry).await?;
        store::set_recompute_state(&mut tx, tenant_id, None).await?;
        tx.commit().await?;
        return Ok(Step::Done {
            users: p.users,
            changed: p.changed,
        });
    }
    if let Some(last) = batch.last() {
        p.after = last.id.clone();
    }
    let state = serde_json::to_string(&p).map_err(SqlError::encode)?;
    store::set_recompute_state(&mut tx, tenant_id, Some(&state)).await?;
    tx.commit().await?;
    Ok(Step::Progress {
        users: p.users,
        changed: p.changed,
    })
}

/// Finishes every recompute under way — after a restart, those that were
/// cut short. Returns how many it finished.
pub async fn resume_all(db: &Db) -> Result<u64, SqlError> {
    let mut finished = 0;
    for tenant_id in store::recomputing(db).await? {
        loop {
            match step(db, &tenant_id).await? {
                Step::Progress { .. } => {}
                Step::Done { .. } => {
                    finished += 1;
                    break;
                }
                Step::Idle => break,
            }
        }
    }
    Ok(finished)
}
