//! The SCIM filter language (RFC 7644 §3.4.2.2): parsing, evaluation against a
//! resource, sorting keys for `sortBy`, and PATCH attribute paths
//! (RFC 7644 §3.5.2), which share its grammar.

pub mod ast;
mod display;
pub mod eval;
pub mod parse;
#[cfg(test)]
mod proptests;
pub mod sort;

pub use ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
pub use eval::{compare_value, matches, matches_element};
pub use parse::{
    FilterError, MAX_DEPTH, MAX_INPUT_BYTES, parse_attr_path, parse_filter, parse_path,
};
pub use sort::{SortKey, compare_sort_keys, sort_key};
