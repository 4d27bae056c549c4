//! Canonical text of filters and paths. The output parses back to an equal
//! tree: `parse_filter(&f.to_string()) == f` for any tree whose names are
//! valid attribute names. Used in logs and in error messages.

use std::fmt;

use super::ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath};

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Str(s) => {
                let quoted = serde_json::to_string(s).map_err(|_| fmt::Error)?;
                f.write_str(&quoted)
            }
            CompValue::Num(n) => write!(f, "{n}"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Null => f.write_str("null"),
        }
    }
}

/// Binding strength: `or` < `and` < everything else.
fn precedence(f: &Filter) -> u8 {
    match f {
        Filter::Or(..) => 0,
        Filter::And(..) => 1,
        _ => 2,
    }
}

/// Writes `f`, parenthesised when it binds less tightly than `min`.
fn write_operand(out: &mut fmt::Formatter<'_>, f: &Filter, min: u8) -> fmt::Result {
    if precedence(f) < min {
        write!(out, "({f})")
    } else {
        write!(out, "{f}")
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(out, "{path} {op} {value}"),
            Filter::Present(path) => write!(out, "{path} pr"),
            // Both operators parse left-associatively, so a right operand of
            // the same operator needs parentheses to keep its shape.
            Filter::Or(l, r) => {
                write_operand(out, l, 0)?;
                out.write_str(" or ")?;
                write_operand(out, r, 1)
            }
            Filter::And(l, r) => {
                write_operand(out, l, 1)?;
                out.write_str(" and ")?;
                write_operand(out, r, 2)
            }
            Filter::Not(inner) => write!(out, "not ({inner})"),
            Filter::ValuePath { path, filter } => write!(out, "{path}[{filter}]"),
        }
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}
