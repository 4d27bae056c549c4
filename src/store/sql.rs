//! SQL assembled at run time: the SCIM filters and sorts of a listing (a
//! small tree of conditions over known columns), `IN` lists and multi-row
//! `VALUES` lists. Rendering only ever appends fixed column names,
//! operators and placeholders — every value is a bind parameter. (Other
//! store modules format only fixed pieces into their statements: a sort
//! column chosen from an enum, a `VALUES` list from here.)

use sqlx::any::AnyArguments;
use sqlx::query::Query;

use super::Backend;

/// A column a condition may test or a listing may sort by. Which table it
/// belongs to is decided by the [`Table`] being queried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Id,
    /// `userName`, lower-cased (users).
    UserNameLower,
    ExternalId,
    /// `displayName`, lower-cased (groups).
    DisplayNameLower,
    /// 0 or 1 (users).
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Users,
    Groups,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Users => "scim_users",
            Table::Groups => "scim_groups",
        }
    }

    /// The SQL column, or `None` when this table has no such column.
    pub fn column(self, c: Column) -> Option<&'static str> {
        Some(match (self, c) {
            (_, Column::Id) => "id",
            (_, Column::ExternalId) => "external_id",
            (_, Column::CreatedAt) => "created_at",
            (_, Column::UpdatedAt) => "updated_at",
            (Table::Users, Column::UserNameLower) => "user_name_lower",
            (Table::Users, Column::Active) => "active",
            (Table::Groups, Column::DisplayNameLower) => "display_name_lower",
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(String),
    Int(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn sql(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A condition on the rows of one tenant's table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Cmp(Column, CmpOp, SqlValue),
    /// `LIKE` with a pattern built by [`like_pattern`]; `\` escapes.
    Like(Column, String),
    IsNull(Column),
    NotNull(Column),
    /// Users having an e-mail whose lower-cased value equals this.
    EmailLowerEq(String),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    /// Matches nothing (a comparison with an attribute no column can hold).
    False,
}

/// Escapes `%`, `_` and `\` so that `value` is matched literally.
pub fn like_pattern(prefix_any: bool, value: &str, suffix_any: bool) -> String {
    let mut p = String::with_capacity(value.len() + 2);
    if prefix_any {
        p.push('%');
    }
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    if suffix_any {
        p.push('%');
    }
    p
}

/// SQL text plus its bind values, numbered from `$1`.
#[derive(Debug, Default)]
pub struct Sql {
    pub text: String,
    pub binds: Vec<SqlValue>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            binds: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn bind(&mut self, value: SqlValue) -> &mut Self {
        self.binds.push(value);
        let n = self.binds.len();
        self.text.push('$');
        self.text.push_str(&n.to_string());
        self
    }

    pub fn bind_text(&mut self, value: &str) -> &mut Self {
        self.bind(SqlValue::Text(value.to_string()))
    }

    /// Appends `(…)` for a condition, or `1=0` for one no row can meet.
    pub fn cond(&mut self, table: Table, tenant_bind: usize, cond: &Cond) -> &mut Self {
        match cond {
            Cond::Cmp(col, op, value) => match table.column(*col) {
                Some(name) => {
                    self.push(name).push(" ").push(op.sql()).push(" ");
                    self.bind(value.clone());
                }
                None => {
                    self.push("1=0");
                }
            },
            Cond::Like(col, pattern) => match table.column(*col) {
                Some(name) => {
                    self.push(name).push(" LIKE ");
                    self.bind(SqlValue::Text(pattern.clone()));
                    self.push(" ESCAPE '\\'");
                }
                None => {
                    self.push("1=0");
                }
            },
            Cond::IsNull(col) => match table.column(*col) {
                Some(name) => {
                    self.push(name).push(" IS NULL");
                }
                None => {
                    self.push("1=1");
                }
            },
            Cond::NotNull(col) => match table.column(*col) {
                Some(name) => {
                    self.push(name).push(" IS NOT NULL");
                }
                None => {
                    self.push("1=0");
                }
            },
            Cond::EmailLowerEq(value) => {
                if table == Table::Users {
                    self.push(&format!(
                        "id IN (SELECT user_id FROM scim_user_emails WHERE tenant_id = ${tenant_bind} AND value_lower = "
                    ));
                    self.bind(SqlValue::Text(value.clone()));
                    self.push(")");
                } else {
                    self.push("1=0");
                }
            }
            Cond::And(parts) | Cond::Or(parts) if parts.is_empty() => {
                self.push(if matches!(cond, Cond::And(_)) {
                    "1=1"
                } else {
                    "1=0"
                });
            }
            Cond::And(parts) | Cond::Or(parts) => {
                let joiner = if matches!(cond, Cond::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                self.push("(");
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        self.push(joiner);
                    }
                    self.cond(table, tenant_bind, part);
                }
                self.push(")");
            }
            Cond::False => {
                self.push("1=0");
            }
        }
        self
    }

    /// The query with every value bound, ready to run.
    pub fn query(&self) -> Query<'_, sqlx::Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for b in &self.binds {
            q = match b {
                SqlValue::Text(s) => q.bind(s.as_str()),
                SqlValue::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

/// `(…), (…)`: `rows` rows of `columns` placeholders for a multi-row
/// `INSERT … VALUES`, to be bound row by row in column order.
///
/// On SQLite the placeholders are anonymous `?`: SQLite finds the name of a
/// numbered placeholder (`$7`) by a linear scan of all of them, and the
/// driver asks for every one, so binding n numbered parameters costs O(n²)
/// — for a batch of a thousand binds that was most of the batch's time.
/// PostgreSQL needs the numbers.
pub fn value_rows(backend: Backend, rows: usize, columns: usize) -> String {
    let mut text = String::with_capacity(rows * columns * 5);
    for r in 0..rows {
        text.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns {
            if c > 0 {
                text.push_str(", ");
            }
            match backend {
                Backend::Sqlite => text.push('?'),
                Backend::Postgres => {
                    text.push('$');
                    text.push_str(&(r * columns + c + 1).to_string());
                }
            }
        }
        text.push(')');
    }
    text
}

/// `$a, $b, …` for an `IN` list, binding each value.
pub fn push_in_list(sql: &mut Sql, values: &[String]) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind_text(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_nested_conditions_with_numbered_placeholders() {
        let mut sql = Sql::new("SELECT id FROM scim_users WHERE tenant_id = ");
        sql.bind_text("t1");
        sql.push(" AND ");
        sql.cond(
            Table::Users,
            1,
            &Cond::Or(vec![
                Cond::Cmp(Column::UserNameLower, CmpOp::Eq, SqlValue::Text("a".into())),
                Cond::And(vec![
                    Cond::Like(Column::ExternalId, like_pattern(false, "x%_", true)),
                    Cond::EmailLowerEq("e@x".into()),
                ]),
            ]),
        );
        assert_eq!(
            sql.text,
            "SELECT id FROM scim_users WHERE tenant_id = $1 AND (user_name_lower = $2 OR (external_id LIKE $3 ESCAPE '\\' AND id IN (SELECT user_id FROM scim_user_emails WHERE tenant_id = $1 AND value_lower = $4)))"
        );
        assert_eq!(
            sql.binds,
            vec![
                SqlValue::Text("t1".into()),
                SqlValue::Text("a".into()),
                SqlValue::Text("x\\%\\_%".into()),
                SqlValue::Text("e@x".into()),
            ]
        );
    }

    #[test]
    fn columns_a_table_lacks_match_nothing() {
        let mut sql = Sql::default();
        sql.cond(
            Table::Groups,
            1,
            &Cond::Cmp(Column::UserNameLower, CmpOp::Eq, SqlValue::Text("a".into())),
        );
        assert_eq!(sql.text, "1=0");
        assert!(sql.binds.is_empty());
    }
}
