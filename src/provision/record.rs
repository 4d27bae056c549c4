//! The activity entry of a write: what was done, to what, by whom, how
//! long it took, and what the client sent that scimgate set aside.

use std::time::Instant;

use scim::{Quirks, ResourceKind, ScimError};
use serde_json::Value;

use super::{Ctx, diff};
use crate::store::activity::{self, Entry};

fn op_name(kind: ResourceKind, verb: &str) -> String {
    format!("{}.{verb}", kind.name().to_lowercase())
}

pub(super) fn label_of(kind: ResourceKind, doc: &Value) -> String {
    let key = match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    };
    doc.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub(super) struct Audit<'a> {
    ctx: &'a Ctx,
    kind: ResourceKind,
    verb: &'static str,
    started: Instant,
}

impl<'a> Audit<'a> {
    pub(super) fn new(ctx: &'a Ctx, kind: ResourceKind, verb: &'static str) -> Self {
        Audit {
            ctx,
            kind,
            verb,
            started: Instant::now(),
        }
    }

    pub(super) fn entry(
        &self,
        status: u16,
        id: Option<&str>,
        label: &str,
        quirks: &Quirks,
        ignored: &[String],
    ) -> Entry {
        let mut e = Entry::new(
            &self.ctx.tenant_id,
            &self.ctx.actor,
            &op_name(self.kind, self.verb),
            status,
        );
        if let Some(id) = id {
            e = e.resource(self.kind.name(), id, label);
        } else if !label.is_empty() {
            e.resource_type = Some(self.kind.name().to_string());
            e.resource_label = Some(label.to_string());
        }
        if !quirks.is_empty() {
            e.quirks = Some(quirks.to_json().to_string());
        }
        if !ignored.is_empty() {
            e.ignored_attributes = Some(Value::from(ignored.to_vec()).to_string());
        }
        e.request_id = self.ctx.request_id.clone();
        e.method = self.ctx.method.clone();
        e.path = self.ctx.path.clone();
        e.latency_ms = Some(self.started.elapsed().as_millis() as i64);
        e
    }

    /// Records a rejected write on its own (the change's transaction, if
    /// any, was rolled back) and passes the error on.
    pub(super) async fn failed(
        &self,
        err: ScimError,
        id: Option<&str>,
        label: &str,
        quirks: &Quirks,
    ) -> ScimError {
        let entry = self
            .entry(err.status, id, label, quirks, &[])
            .detail(&err.detail);
        if err.status == 503 {
            // The database is busy: the client is told to come back at
            // once, and the entry is written when the writer is free.
            let db = self.ctx.db.clone();
            tokio::spawn(async move {
                if let Err(e) = activity::record_alone(&db, &entry).await {
                    tracing::error!(error = %e, "could not record a failed request in the activity log");
                }
            });
        } else if let Err(e) = activity::record_alone(&self.ctx.db, &entry).await {
            tracing::error!(error = %e, "could not record a failed request in the activity log");
        }
        err
    }
}

/// The `changes` column: None when nothing changed.
pub(super) fn changes_json(changes: &[diff::Change]) -> Option<String> {
    (!changes.is_empty()).then(|| diff::to_json(changes).to_string())
}

/// Up to 100 member ids for the log (a PATCH may carry thousands).
pub(super) fn sample(ids: &[String]) -> Value {
    const MAX: usize = 100;
    let mut v: Vec<Value> = ids
        .iter()
        .take(MAX)
        .map(|i| Value::String(i.clone()))
        .collect();
    if ids.len() > MAX {
        v.push(Value::String(format!("… and {} more", ids.len() - MAX)));
    }
    Value::Array(v)
}
