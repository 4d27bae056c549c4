//! SCIM PATCH (RFC 7644 §3.5.2) with every Entra dialect of
//! `entra-contract.md` §4.
//!
//! [`parse_patch`] turns a request body into a [`PatchRequest`];
//! [`apply_patch`] applies it to a stored document (canonical attribute names,
//! extension attributes under their schema URN key) all or nothing. Group
//! membership lives in its own table, so operations on a group's `members`
//! never touch the document: they come back as [`MemberChange`]s, in order.

mod apply;
mod parse;

#[cfg(test)]
mod tests;

use serde_json::Value;

use crate::filter::{Filter, PatchPath};

pub use apply::apply_patch;
pub use parse::{MAX_OPERATIONS, parse_patch};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

impl OpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Add => "add",
            OpKind::Remove => "remove",
            OpKind::Replace => "replace",
        }
    }
}

/// One PATCH operation. `value` is `None` when the client sent no `value`
/// member and `Some(Value::Null)` when it sent `"value": null`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PatchRequest {
    pub ops: Vec<PatchOp>,
}

/// A change to a group's membership, to be applied to the membership table in
/// the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberChange {
    /// Add these member ids (already a member: no change).
    Add(Vec<String>),
    /// Remove these member ids (not a member: no change).
    Remove(Vec<String>),
    /// Remove every member.
    RemoveAll,
    /// Remove the members matching this filter, evaluated against each member
    /// element (`{"value", "$ref", "display", "type"}`).
    RemoveWhere(Filter),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PatchOutcome {
    /// Membership changes of a group, in request order.
    pub member_changes: Vec<MemberChange>,
    /// Attribute names, as the client sent them, that are not part of the
    /// resource's schemas and were therefore ignored.
    pub ignored: Vec<String>,
}
