//! Parsing of filters (RFC 7644 §3.4.2.2, figure 1), PATCH paths (§3.5.2) and
//! `sortBy` attribute paths.
//!
//! Error positions are 0-based character (not byte) offsets into the input, so
//! that they can be shown under the filter a person typed.

use serde_json::Number;

use super::ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
use crate::dialect::{Quirks, quirk};
use crate::error::ScimError;
use crate::schema::{CORE_GROUP, CORE_USER, ENTERPRISE_USER};

/// Longest filter or path accepted, in bytes. Real filters are a few hundred
/// bytes; the limit bounds parsing time and the size of the tree.
pub const MAX_INPUT_BYTES: usize = 8 * 1024;

/// Deepest nesting of parentheses, `not (…)` and `[…]` accepted. The parser
/// recurses once per level, so this bounds its stack use.
pub const MAX_DEPTH: usize = 64;

const COMPARISON_OPERATORS: &str = "eq, ne, co, sw, ew, gt, ge, lt, le, pr";

/// A filter or path that could not be parsed: what was expected and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at position {position}")]
pub struct FilterError {
    pub message: String,
    /// 0-based character offset of the problem in the input.
    pub position: usize,
}

impl FilterError {
    fn new(message: impl Into<String>, position: usize) -> Self {
        FilterError {
            message: message.into(),
            position,
        }
    }

    /// The error for a bad PATCH `path` (400 `invalidPath`).
    pub fn into_path_error(self) -> ScimError {
        ScimError::invalid_path(format!("Invalid PATCH path: {self}."))
    }
}

impl From<FilterError> for ScimError {
    fn from(e: FilterError) -> Self {
        ScimError::invalid_filter(format!("Invalid filter: {e}."))
    }
}

impl CompareOp {
    /// The operator as written in a filter (lower case).
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// Case-insensitive lookup of a comparison operator (not `pr`).
    pub fn from_keyword(word: &str) -> Option<CompareOp> {
        const ALL: [CompareOp; 9] = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ];
        ALL.into_iter()
            .find(|op| word.eq_ignore_ascii_case(op.as_str()))
    }
}

/// Parses a `filter` query parameter or `SearchRequest` filter.
///
/// Besides RFC 7644 this accepts an unquoted single-token string value
/// (`externalId eq jyoung`, quirk `unquoted-filter-value`), the legacy
/// `urn:…:User.manager` separator (quirk `legacy-urn-dot`), and Entra's
/// `emails[type eq "work"].value eq "x"`, which is read as
/// `emails[type eq "work" and value eq "x"]` (quirk `filter-value-path-sub`).
pub fn parse_filter(input: &str, quirks: &mut Quirks) -> Result<Filter, FilterError> {
    check_length(input, "filter")?;
    let tokens = lex(input)?;
    if tokens.len() == 1 {
        return Err(FilterError::new(
            "the filter is empty; write for example userName eq \"alice\"",
            0,
        ));
    }
    let mut p = Parser {
        tokens,
        at: 0,
        depth: 0,
        quirks,
    };
    let filter = p.parse_or(false)?;
    p.expect_end_of_filter()?;
    Ok(filter)
}

/// Parses a PATCH operation `path`: `attrPath`, `valuePath` or
/// `valuePath.subAttr` (`emails[type eq "work"].value`).
pub fn parse_path(input: &str, quirks: &mut Quirks) -> Result<PatchPath, FilterError> {
    check_length(input, "path")?;
    let tokens = lex(input)?;
    let mut p = Parser {
        tokens,
        at: 0,
        depth: 0,
        quirks,
    };
    let attr = match p.next() {
        Token {
            kind: Tok::Word(w),
            pos,
        } => parse_attr_path_word(&w, pos, p.quirks)?,
        t => {
            return Err(FilterError::new(
                format!(
                    "expected an attribute name (such as name.givenName or emails[type eq \"work\"].value), found {}",
                    describe(&t.kind)
                ),
                t.pos,
            ));
        }
    };
    let mut path = PatchPath {
        attr,
        filter: None,
        sub: None,
    };
    if p.peek().kind == Tok::LBracket {
        let open = p.next().pos;
        if let Some(sub) = &path.attr.sub {
            return Err(FilterError::new(
                format!(
                    "a value filter \"[…]\" must follow a multi-valued attribute, not the sub-attribute \"{sub}\""
                ),
                open,
            ));
        }
        p.depth = 1;
        let inner = p.parse_or(true)?;
        p.expect_close_bracket(open)?;
        path.filter = Some(inner);
        if let Tok::Word(w) = &p.peek().kind {
            let (w, wpos) = (w.clone(), p.peek().pos);
            match w.strip_prefix('.') {
                Some(sub) => {
                    p.next();
                    check_name(sub, wpos + 1)?;
                    path.sub = Some(sub.to_string());
                }
                None => {
                    return Err(FilterError::new(
                        format!(
                            "expected \".subAttribute\" or the end of the path after \"]\", found \"{w}\""
                        ),
                        wpos,
                    ));
                }
            }
        }
    }
    let end = p.next();
    if end.kind != Tok::End {
        return Err(FilterError::new(
            format!(
                "unexpected {} after the attribute path {}; a path is attribute, attribute.subAttribute or attribute[filter].subAttribute",
                describe(&end.kind),
                show_path_prefix(&path)
            ),
            end.pos,
        ));
    }
    Ok(path)
}

/// Parses an attribute path such as a `sortBy` value: `userName`,
/// `name.familyName`, `urn:…:enterprise:2.0:User:employeeNumber`.
pub fn parse_attr_path(input: &str) -> Result<AttrPath, FilterError> {
    check_length(input, "attribute path")?;
    let tokens = lex(input)?;
    let mut quirks = Quirks::new();
    match tokens.as_slice() {
        [
            Token {
                kind: Tok::Word(w),
                pos,
            },
            Token { kind: Tok::End, .. },
        ] => parse_attr_path_word(w, *pos, &mut quirks),
        [Token { kind: Tok::End, .. }] => Err(FilterError::new(
            "the attribute path is empty; write for example name.familyName",
            0,
        )),
        [first, rest @ ..] => {
            let bad = match first.kind {
                Tok::Word(_) => rest.first().unwrap_or(first),
                _ => first,
            };
            Err(FilterError::new(
                format!(
                    "unexpected {} in the attribute path; write attribute or attribute.subAttribute",
                    describe(&bad.kind)
                ),
                bad.pos,
            ))
        }
        [] => Err(FilterError::new("the attribute path is empty", 0)),
    }
}

fn check_length(input: &str, what: &str) -> Result<(), FilterError> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(FilterError::new(
            format!(
                "the {what} is {} bytes long; the limit is {MAX_INPUT_BYTES} bytes",
                input.len()
            ),
            0,
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A JSON string literal, unescaped.
    Str(String),
    /// Any other run of characters up to whitespace, a bracket or a quote:
    /// attribute paths, keywords, numbers, unquoted values.
    Word(String),
    End,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Tok,
    pos: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::LParen => "\"(\"".to_string(),
        Tok::RParen => "\")\"".to_string(),
        Tok::LBracket => "\"[\"".to_string(),
        Tok::RBracket => "\"]\"".to_string(),
        Tok::Str(s) => format!("the string {}", quote(s)),
        Tok::Word(w) => format!("\"{w}\""),
        Tok::End => "the end of the input".to_string(),
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"')
}

fn lex(input: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().enumerate().peekable();
    while let Some(&(pos, c)) = chars.peek() {
        let kind = match c {
            c if c.is_whitespace() => {
                chars.next();
                continue;
            }
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            '"' => {
                chars.next();
                tokens.push(Token {
                    kind: Tok::Str(lex_string(&mut chars, pos)?),
                    pos,
                });
                continue;
            }
            _ => {
                let mut word = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if is_delimiter(c) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token {
                    kind: Tok::Word(word),
                    pos,
                });
                continue;
            }
        };
        chars.next();
        tokens.push(Token { kind, pos });
    }
    tokens.push(Token {
        kind: Tok::End,
        pos: input.chars().count(),
    });
    Ok(tokens)
}

type CharIter<'a> = std::iter::Peekable<std::iter::Enumerate<std::str::Chars<'a>>>;

/// Reads a JSON string body after its opening quote (at `start`).
fn lex_string(chars: &mut CharIter<'_>, start: usize) -> Result<String, FilterError> {
    let mut out = String::new();
    loop {
        let Some((pos, c)) = chars.next() else {
            return Err(FilterError::new(
                "unterminated string: add the closing '\"' of the string that starts here",
                start,
            ));
        };
        match c {
            '"' => return Ok(out),
            '\\' => {
                let Some((_, e)) = chars.next() else {
                    return Err(FilterError::new(
                        "the string ends with a lone '\\'; write \\\\ for a backslash",
                        pos,
                    ));
                };
                match e {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    '/' => out.push('/'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'u' => {
                        let hi = read_hex4(chars, pos)?;
                        let code = if (0xD800..0xDC00).contains(&hi) {
                            let low = match (chars.next(), chars.next()) {
                                (Some((_, '\\')), Some((_, 'u'))) => read_hex4(chars, pos)?,
                                _ => {
                                    return Err(FilterError::new(
                                        "a \\u high surrogate must be followed by a \\u low surrogate (\\uDC00-\\uDFFF)",
                                        pos,
                                    ));
                                }
                            };
                            if !(0xDC00..0xE000).contains(&low) {
                                return Err(FilterError::new(
                                    "a \\u high surrogate must be followed by a \\u low surrogate (\\uDC00-\\uDFFF)",
                                    pos,
                                ));
                            }
                            0x10000 + ((hi - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            hi
                        };
                        match char::from_u32(code) {
                            Some(ch) => out.push(ch),
                            None => {
                                return Err(FilterError::new(
                                    "a \\u low surrogate must follow a high surrogate",
                                    pos,
                                ));
                            }
                        }
                    }
                    other => {
                        return Err(FilterError::new(
                            format!(
                                "invalid escape \"\\{other}\" in a string; the valid escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX"
                            ),
                            pos,
                        ));
                    }
                }
            }
            c if (c as u32) < 0x20 => {
                return Err(FilterError::new(
                    format!(
                        "control character U+{:04X} in a string; escape it (for example \\n or \\u{:04X})",
                        c as u32, c as u32
                    ),
                    pos,
                ));
            }
            c => out.push(c),
        }
    }
}

fn read_hex4(chars: &mut CharIter<'_>, escape_pos: usize) -> Result<u32, FilterError> {
    let mut v = 0u32;
    for _ in 0..4 {
        match chars.next().and_then(|(_, c)| c.to_digit(16)) {
            Some(d) => v = v * 16 + d,
            None => {
                return Err(FilterError::new(
                    "\\u must be followed by exactly four hexadecimal digits",
                    escape_pos,
                ));
            }
        }
    }
    Ok(v)
}

struct Parser<'q> {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
    quirks: &'q mut Quirks,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        // The token list always ends with `End`, which is never consumed past.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        t
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(&self.peek().kind, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn enter(&mut self, pos: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::new(
                format!(
                    "the filter nests more than {MAX_DEPTH} levels of parentheses, \"not\" or \"[…]\"; simplify it"
                ),
                pos,
            ));
        }
        Ok(())
    }

    fn parse_or(&mut self, in_value_filter: bool) -> Result<Filter, FilterError> {
        let mut left = self.parse_and(in_value_filter)?;
        while self.peek_keyword("or") {
            self.next();
            let right = self.parse_and(in_value_filter)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self, in_value_filter: bool) -> Result<Filter, FilterError> {
        let mut left = self.parse_unary(in_value_filter)?;
        while self.peek_keyword("and") {
            self.next();
            let right = self.parse_unary(in_value_filter)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_unary(&mut self, in_value_filter: bool) -> Result<Filter, FilterError> {
        let t = self.peek().clone();
        match &t.kind {
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => {
                self.next();
                if self.peek().kind != Tok::LParen {
                    let found = self.peek().clone();
                    return Err(FilterError::new(
                        format!(
                            "expected \"(\" after \"not\", found {}; write not (expression)",
                            describe(&found.kind)
                        ),
                        found.pos,
                    ));
                }
                let open = self.next().pos;
                self.enter(open)?;
                let inner = self.parse_or(in_value_filter)?;
                self.expect_close_paren(open)?;
                self.depth -= 1;
                Ok(Filter::Not(Box::new(inner)))
            }
            Tok::LParen => {
                self.next();
                self.enter(t.pos)?;
                let inner = self.parse_or(in_value_filter)?;
                self.expect_close_paren(t.pos)?;
                self.depth -= 1;
                Ok(inner)
            }
            _ => self.parse_attr_exp(in_value_filter),
        }
    }

    fn expect_close_paren(&mut self, open: usize) -> Result<(), FilterError> {
        let t = self.next();
        match t.kind {
            Tok::RParen => Ok(()),
            Tok::Word(ref w) if !is_logical(w) => Err(FilterError::new(
                format!(
                    "expected \"and\", \"or\" or \")\", found {}",
                    describe(&t.kind)
                ),
                t.pos,
            )),
            _ => Err(FilterError::new(
                format!(
                    "expected \")\" to close the \"(\" at position {open}, found {}",
                    describe(&t.kind)
                ),
                t.pos,
            )),
        }
    }

    fn expect_close_bracket(&mut self, open: usize) -> Result<(), FilterError> {
        let t = self.next();
        match t.kind {
            Tok::RBracket => Ok(()),
            Tok::Word(ref w) if !is_logical(w) => Err(FilterError::new(
                format!(
                    "expected \"and\", \"or\" or \"]\", found {}",
                    describe(&t.kind)
                ),
                t.pos,
            )),
            _ => Err(FilterError::new(
                format!(
                    "expected \"]\" to close the \"[\" at position {open}, found {}",
                    describe(&t.kind)
                ),
                t.pos,
            )),
        }
    }

    fn expect_end_of_filter(&mut self) -> Result<(), FilterError> {
        let t = self.next();
        match t.kind {
            Tok::End => Ok(()),
            Tok::RParen => Err(FilterError::new(
                "unexpected \")\" without a matching \"(\"",
                t.pos,
            )),
            Tok::RBracket => Err(FilterError::new(
                "unexpected \"]\" without a matching \"[\"",
                t.pos,
            )),
            _ => Err(FilterError::new(
                format!(
                    "expected \"and\", \"or\" or the end of the filter, found {}",
                    describe(&t.kind)
                ),
                t.pos,
            )),
        }
    }

    fn parse_attr_exp(&mut self, in_value_filter: bool) -> Result<Filter, FilterError> {
        let t = self.next();
        let (word, pos) = match t.kind {
            Tok::Word(w) if !is_logical(&w) => (w, t.pos),
            other => {
                let hint = match other {
                    Tok::Str(_) => {
                        "; a quoted value goes after an operator, as in userName eq \"alice\""
                    }
                    _ => "",
                };
                return Err(FilterError::new(
                    format!(
                        "expected an attribute name, \"(\" or \"not\", found {}{hint}",
                        describe(&other)
                    ),
                    t.pos,
                ));
            }
        };
        let path = parse_attr_path_word(&word, pos, self.quirks)?;

        if self.peek().kind == Tok::LBracket {
            let open = self.next().pos;
            if in_value_filter {
                return Err(FilterError::new(
                    "value filters \"[…]\" cannot be nested inside another value filter",
                    open,
                ));
            }
            if let Some(sub) = &path.sub {
                return Err(FilterError::new(
                    format!(
                        "a value filter \"[…]\" must follow a multi-valued attribute, not the sub-attribute \"{sub}\""
                    ),
                    open,
                ));
            }
            self.enter(open)?;
            let inner = self.parse_or(true)?;
            self.expect_close_bracket(open)?;
            self.depth -= 1;

            // Entra: `emails[type eq "work"].value eq "x"`.
            let sub_word = match &self.peek().kind {
                Tok::Word(w) if w.starts_with('.') => Some((w.clone(), self.peek().pos)),
                _ => None,
            };
            let filter = match sub_word {
                Some((w, wpos)) => {
                    self.next();
                    let sub = &w[1..];
                    check_name(sub, wpos + 1)?;
                    let sub_path = AttrPath {
                        urn: None,
                        name: sub.to_string(),
                        sub: None,
                    };
                    let cmp = self.parse_operator_and_value(sub_path, &w)?;
                    self.quirks.note(quirk::FILTER_VALUE_PATH_SUB);
                    Filter::And(Box::new(inner), Box::new(cmp))
                }
                None => inner,
            };
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(filter),
            });
        }
        self.parse_operator_and_value(path, &word)
    }

    fn parse_operator_and_value(
        &mut self,
        path: AttrPath,
        written: &str,
    ) -> Result<Filter, FilterError> {
        let t = self.next();
        let op = match &t.kind {
            Tok::Word(w) if w.eq_ignore_ascii_case("pr") => return Ok(Filter::Present(path)),
            Tok::Word(w) => CompareOp::from_keyword(w),
            _ => None,
        };
        let Some(op) = op else {
            return Err(FilterError::new(
                format!(
                    "expected a comparison operator ({COMPARISON_OPERATORS}) after \"{written}\", found {}",
                    describe(&t.kind)
                ),
                t.pos,
            ));
        };
        let v = self.next();
        let value = match v.kind {
            Tok::Str(s) => CompValue::Str(s),
            Tok::Word(w) => self.word_value(&w, v.pos, op)?,
            other => {
                return Err(FilterError::new(
                    format!(
                        "expected a value (a \"quoted string\", a number, true, false or null) after \"{}\", found {}",
                        op.as_str(),
                        describe(&other)
                    ),
                    v.pos,
                ));
            }
        };
        Ok(Filter::Compare { path, op, value })
    }

    fn word_value(&mut self, w: &str, pos: usize, op: CompareOp) -> Result<CompValue, FilterError> {
        if w.eq_ignore_ascii_case("true") {
            return Ok(CompValue::Bool(true));
        }
        if w.eq_ignore_ascii_case("false") {
            return Ok(CompValue::Bool(false));
        }
        if w.eq_ignore_ascii_case("null") {
            return Ok(CompValue::Null);
        }
        if is_json_number(w) {
            return parse_number(w).map(CompValue::Num).ok_or_else(|| {
                FilterError::new(
                    format!(
                        "the number {w} is out of range; quote it (\"{w}\") if it is meant as a string"
                    ),
                    pos,
                )
            });
        }
        if is_logical(w) {
            return Err(FilterError::new(
                format!(
                    "expected a value after \"{}\", found \"{w}\"; quote the value if \"{w}\" is meant literally",
                    op.as_str()
                ),
                pos,
            ));
        }
        self.quirks.note(quirk::UNQUOTED_FILTER_VALUE);
        Ok(CompValue::Str(w.to_string()))
    }
}

fn is_logical(w: &str) -> bool {
    w.eq_ignore_ascii_case("and") || w.eq_ignore_ascii_case("or") || w.eq_ignore_ascii_case("not")
}

/// A JSON number: exact for integers that fit 64 bits, otherwise the
/// correctly rounded `f64` (serde_json's default float parsing may be off by
/// one unit in the last place, which would break printing and re-parsing).
fn parse_number(w: &str) -> Option<Number> {
    if let Ok(i) = w.parse::<i64>() {
        return Some(i.into());
    }
    if let Ok(u) = w.parse::<u64>() {
        return Some(u.into());
    }
    w.parse::<f64>().ok().and_then(Number::from_f64)
}

/// The JSON number grammar (RFC 8259 §6): `-? int frac? exp?`.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while matches!(b.get(i), Some(b'0'..=b'9')) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while matches!(b.get(i), Some(b'0'..=b'9')) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == b.len()
}

/// `ATTRNAME = ALPHA *(ALPHA / DIGIT / "-" / "_")` (RFC 7643 §2.1), plus
/// `$ref`, the one reserved name with a leading `$`.
fn check_name(name: &str, pos: usize) -> Result<(), FilterError> {
    let mut chars = name.chars();
    let valid = name == "$ref"
        || (chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    if valid {
        return Ok(());
    }
    if name.is_empty() {
        return Err(FilterError::new("expected an attribute name", pos));
    }
    Err(FilterError::new(
        format!(
            "invalid attribute name \"{name}\": names start with a letter and contain only letters, digits, \"-\" and \"_\""
        ),
        pos,
    ))
}

fn is_known_schema(urn: &str) -> bool {
    [CORE_USER, CORE_GROUP, ENTERPRISE_USER]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(urn))
}

/// Splits `[urn ":"] name ["." sub]` written as one word starting at character
/// `pos` of the input.
fn parse_attr_path_word(
    word: &str,
    pos: usize,
    quirks: &mut Quirks,
) -> Result<AttrPath, FilterError> {
    let char_offset = |byte: usize| pos + word[..byte].chars().count();
    let is_urn = word
        .get(..4)
        .is_some_and(|head| head.eq_ignore_ascii_case("urn:"));
    if !is_urn {
        if let Some(i) = word.find(':') {
            return Err(FilterError::new(
                format!(
                    "\":\" in \"{word}\" is only allowed after a schema URN, as in urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
                ),
                char_offset(i),
            ));
        }
        return split_name_sub(word, pos, None);
    }

    if is_known_schema(word) {
        return Err(FilterError::new(
            format!(
                "\"{word}\" is a schema URN, not an attribute; add the attribute name after a \":\", as in {word}:employeeNumber"
            ),
            pos,
        ));
    }
    // The URN is everything up to the last ':' (URN segments may contain
    // dots, as in "2.0", but attribute names cannot contain ':').
    let colon = word.rfind(':').unwrap_or(0);
    let prefix = &word[..colon];
    let tail = &word[colon + 1..];
    let tail_pos = char_offset(colon + 1);
    if tail.is_empty() {
        return Err(FilterError::new(
            format!("expected an attribute name after the schema URN \"{prefix}\""),
            tail_pos,
        ));
    }
    let segments: Vec<&str> = tail.split('.').collect();
    let legacy = match segments.len() {
        1 => false,
        2 => is_known_schema(&format!("{prefix}:{}", segments[0])),
        3 => true,
        _ => {
            return Err(FilterError::new(
                format!(
                    "too many \".\" in \"{tail}\"; an attribute path is urn:attribute or urn:attribute.subAttribute"
                ),
                tail_pos,
            ));
        }
    };
    if legacy {
        // `urn:…:2.0:User.manager`: the first dotted segment ends the URN.
        let dot = colon + 1 + segments[0].len();
        let urn = &word[..dot];
        quirks.note(quirk::LEGACY_URN_DOT);
        return split_name_sub(&word[dot + 1..], char_offset(dot + 1), Some(urn));
    }
    split_name_sub(tail, tail_pos, Some(prefix))
}

fn split_name_sub(text: &str, pos: usize, urn: Option<&str>) -> Result<AttrPath, FilterError> {
    let (name, sub) = match text.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (text, None),
    };
    check_name(name, pos)?;
    if let Some(s) = sub {
        let sub_pos = pos + name.chars().count() + 1;
        if s.contains('.') {
            return Err(FilterError::new(
                format!(
                    "too many \".\" in \"{text}\"; an attribute path is attribute or attribute.subAttribute"
                ),
                sub_pos,
            ));
        }
        check_name(s, sub_pos)?;
    }
    Ok(AttrPath {
        urn: urn.map(str::to_string),
        name: name.to_string(),
        sub: sub.map(str::to_string),
    })
}

fn show_path_prefix(p: &PatchPath) -> String {
    let mut s = p.attr.to_string();
    if let Some(f) = &p.filter {
        s.push_str(&format!("[{f}]"));
    }
    if let Some(sub) = &p.sub {
        s.push('.');
        s.push_str(sub);
    }
    format!("\"{s}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn p(s: &str) -> Filter {
        let mut q = Quirks::new();
        parse_filter(s, &mut q).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn err(s: &str) -> FilterError {
        let mut q = Quirks::new();
        match parse_filter(s, &mut q) {
            Ok(f) => panic!("{s:?} parsed as {f:?}"),
            Err(e) => e,
        }
    }

    fn path(name: &str) -> AttrPath {
        AttrPath {
            urn: None,
            name: name.into(),
            sub: None,
        }
    }

    fn sub(name: &str, s: &str) -> AttrPath {
        AttrPath {
            urn: None,
            name: name.into(),
            sub: Some(s.into()),
        }
    }

    fn cmp(p: AttrPath, op: CompareOp, v: CompValue) -> Filter {
        Filter::Compare {
            path: p,
            op,
            value: v,
        }
    }

    fn s(v: &str) -> CompValue {
        CompValue::Str(v.into())
    }

    fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    fn not(a: Filter) -> Filter {
        Filter::Not(Box::new(a))
    }

    #[test]
    fn simple_comparison() {
        assert_eq!(
            p("userName eq \"bjensen\""),
            cmp(path("userName"), CompareOp::Eq, s("bjensen"))
        );
    }

    #[test]
    fn every_operator_case_insensitive() {
        for (w, op) in [
            ("eq", CompareOp::Eq),
            ("NE", CompareOp::Ne),
            ("Co", CompareOp::Co),
            ("sW", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("GT", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("Lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ] {
            assert_eq!(
                p(&format!("title {w} \"x\"")),
                cmp(path("title"), op, s("x"))
            );
        }
        assert_eq!(p("title PR"), Filter::Present(path("title")));
    }

    #[test]
    fn literals() {
        assert_eq!(
            p("active eq TRUE"),
            cmp(path("active"), CompareOp::Eq, CompValue::Bool(true))
        );
        assert_eq!(
            p("active eq false"),
            cmp(path("active"), CompareOp::Eq, CompValue::Bool(false))
        );
        assert_eq!(
            p("title eq Null"),
            cmp(path("title"), CompareOp::Eq, CompValue::Null)
        );
        for (text, n) in [
            ("42", Number::from(42)),
            ("-7", Number::from(-7)),
            ("0", Number::from(0)),
            ("18446744073709551615", Number::from(u64::MAX)),
        ] {
            assert_eq!(
                p(&format!("x gt {text}")),
                cmp(path("x"), CompareOp::Gt, CompValue::Num(n))
            );
        }
        for (text, f) in [
            ("1.5", 1.5),
            ("-2.5e3", -2500.0),
            ("1E-2", 0.01),
            ("0.0", 0.0),
        ] {
            match p(&format!("x lt {text}")) {
                Filter::Compare {
                    value: CompValue::Num(n),
                    ..
                } => assert_eq!(n.as_f64(), Some(f), "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn string_escapes() {
        assert_eq!(
            p(r#"title eq "a\"b\\c\/d\b\f\n\r\t""#),
            cmp(path("title"), CompareOp::Eq, s("a\"b\\c/d\u{8}\u{c}\n\r\t"))
        );
        assert_eq!(
            p(r#"title eq "\u00e9\u00C9""#),
            cmp(path("title"), CompareOp::Eq, s("éÉ"))
        );
        assert_eq!(
            p(r#"title eq "\ud83d\ude00""#),
            cmp(path("title"), CompareOp::Eq, s("😀"))
        );
        assert_eq!(
            p("title eq \"naïve 😀 (x) [y] and or\""),
            cmp(path("title"), CompareOp::Eq, s("naïve 😀 (x) [y] and or"))
        );
        assert_eq!(p("title eq \"\""), cmp(path("title"), CompareOp::Eq, s("")));
    }

    #[test]
    fn string_errors() {
        assert_eq!(err("title eq \"abc").position, 9);
        assert!(err("title eq \"abc").message.contains("unterminated"));
        let e = err(r#"title eq "a\x""#);
        assert!(e.message.contains("invalid escape \"\\x\""), "{e}");
        assert_eq!(e.position, 11);
        assert!(
            err(r#"title eq "\u12""#)
                .message
                .contains("four hexadecimal")
        );
        assert!(
            err(r#"title eq "\ud83d""#)
                .message
                .contains("low surrogate")
        );
        assert!(
            err(r#"title eq "\ud83dx""#)
                .message
                .contains("low surrogate")
        );
        assert!(
            err(r#"title eq "\ude00""#)
                .message
                .contains("low surrogate")
        );
        assert!(
            err("title eq \"a\nb\"")
                .message
                .contains("control character")
        );
        assert!(err("title eq \"a\\").message.contains("lone"));
    }

    #[test]
    fn precedence_and_associativity() {
        let a = || cmp(path("a"), CompareOp::Eq, s("1"));
        let b = || cmp(path("b"), CompareOp::Eq, s("2"));
        let c = || cmp(path("c"), CompareOp::Eq, s("3"));
        assert_eq!(
            p(r#"a eq "1" or b eq "2" and c eq "3""#),
            or(a(), and(b(), c()))
        );
        assert_eq!(
            p(r#"a eq "1" and b eq "2" or c eq "3""#),
            or(and(a(), b()), c())
        );
        assert_eq!(
            p(r#"(a eq "1" or b eq "2") and c eq "3""#),
            and(or(a(), b()), c())
        );
        assert_eq!(
            p(r#"a eq "1" AND b eq "2" And c eq "3""#),
            and(and(a(), b()), c())
        );
        assert_eq!(
            p(r#"a eq "1" OR b eq "2" or c eq "3""#),
            or(or(a(), b()), c())
        );
        assert_eq!(p(r#"not (a eq "1") and b eq "2""#), and(not(a()), b()));
        assert_eq!(p(r#"NOT(a eq "1" or b eq "2")"#), not(or(a(), b())));
        assert_eq!(p(r#"((a eq "1"))"#), a());
        assert_eq!(p("not (not (a eq \"1\"))"), not(not(a())));
    }

    #[test]
    fn whitespace_is_flexible() {
        let expected = and(
            cmp(path("a"), CompareOp::Eq, s("1")),
            Filter::Present(path("b")),
        );
        assert_eq!(p("  a \t eq\t\"1\"   and   b pr  "), expected);
        assert_eq!(p("(a eq\"1\")and(b pr)"), expected);
    }

    #[test]
    fn attribute_paths() {
        assert_eq!(
            p("name.familyName co \"O'Malley\""),
            cmp(sub("name", "familyName"), CompareOp::Co, s("O'Malley"))
        );
        assert_eq!(
            p("meta.lastModified gt \"2011-05-13T04:42:34Z\""),
            cmp(
                sub("meta", "lastModified"),
                CompareOp::Gt,
                s("2011-05-13T04:42:34Z")
            )
        );
        assert_eq!(
            p("members.$ref pr"),
            Filter::Present(sub("members", "$ref"))
        );
        assert_eq!(
            p(&format!("{ENT}:employeeNumber eq \"701984\"")),
            cmp(
                AttrPath {
                    urn: Some(ENT.into()),
                    name: "employeeNumber".into(),
                    sub: None
                },
                CompareOp::Eq,
                s("701984")
            )
        );
        assert_eq!(
            p(&format!("{ENT}:manager.value eq \"x\"")),
            cmp(
                AttrPath {
                    urn: Some(ENT.into()),
                    name: "manager".into(),
                    sub: Some("value".into())
                },
                CompareOp::Eq,
                s("x")
            )
        );
        assert_eq!(
            p("urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"J\""),
            cmp(
                AttrPath {
                    urn: Some("urn:ietf:params:scim:schemas:core:2.0:User".into()),
                    name: "userName".into(),
                    sub: None
                },
                CompareOp::Sw,
                s("J")
            )
        );
        // An unknown URN is kept as written; resolution decides.
        assert_eq!(
            p("urn:example:custom:1.0:Thing:color eq \"red\""),
            cmp(
                AttrPath {
                    urn: Some("urn:example:custom:1.0:Thing".into()),
                    name: "color".into(),
                    sub: None
                },
                CompareOp::Eq,
                s("red")
            )
        );
    }

    #[test]
    fn legacy_urn_dot() {
        let mut q = Quirks::new();
        let f = parse_filter(&format!("{ENT}.manager eq \"m\""), &mut q).unwrap();
        assert_eq!(
            f,
            cmp(
                AttrPath {
                    urn: Some(ENT.into()),
                    name: "manager".into(),
                    sub: None
                },
                CompareOp::Eq,
                s("m")
            )
        );
        assert_eq!(q.count(quirk::LEGACY_URN_DOT), 1);
        let f = parse_filter(&format!("{ENT}.manager.value eq \"m\""), &mut q).unwrap();
        assert_eq!(
            f,
            cmp(
                AttrPath {
                    urn: Some(ENT.into()),
                    name: "manager".into(),
                    sub: Some("value".into())
                },
                CompareOp::Eq,
                s("m")
            )
        );
        assert_eq!(q.count(quirk::LEGACY_URN_DOT), 2);
    }

    #[test]
    fn value_paths() {
        let inner = and(
            cmp(path("type"), CompareOp::Eq, s("work")),
            cmp(path("value"), CompareOp::Co, s("@example.com")),
        );
        assert_eq!(
            p(r#"emails[type eq "work" and value co "@example.com"]"#),
            Filter::ValuePath {
                path: path("emails"),
                filter: Box::new(inner.clone())
            }
        );
        assert_eq!(
            p(r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#),
            and(
                cmp(path("userType"), CompareOp::Eq, s("Employee")),
                Filter::ValuePath {
                    path: path("emails"),
                    filter: Box::new(inner.clone())
                }
            )
        );
        assert_eq!(
            p(r#"not (emails[type eq "work" and value co "@example.com"]) or x pr"#),
            or(
                not(Filter::ValuePath {
                    path: path("emails"),
                    filter: Box::new(inner)
                }),
                Filter::Present(path("x"))
            )
        );
        assert_eq!(
            p(r#"emails[not (type eq "work") or (primary eq true)]"#),
            Filter::ValuePath {
                path: path("emails"),
                filter: Box::new(or(
                    not(cmp(path("type"), CompareOp::Eq, s("work"))),
                    cmp(path("primary"), CompareOp::Eq, CompValue::Bool(true))
                ))
            }
        );
    }

    #[test]
    fn entra_value_path_sub_comparison() {
        let mut q = Quirks::new();
        let f = parse_filter(
            r#"emails[type eq "work"].value eq "user@contoso.com""#,
            &mut q,
        )
        .unwrap();
        assert_eq!(
            f,
            Filter::ValuePath {
                path: path("emails"),
                filter: Box::new(and(
                    cmp(path("type"), CompareOp::Eq, s("work")),
                    cmp(path("value"), CompareOp::Eq, s("user@contoso.com"))
                ))
            }
        );
        assert_eq!(q.count(quirk::FILTER_VALUE_PATH_SUB), 1);
        // It reads back as the RFC form.
        assert_eq!(
            f.to_string(),
            r#"emails[type eq "work" and value eq "user@contoso.com"]"#
        );
        assert_eq!(
            p(r#"emails[type eq "work"].value pr and active eq true"#),
            and(
                Filter::ValuePath {
                    path: path("emails"),
                    filter: Box::new(and(
                        cmp(path("type"), CompareOp::Eq, s("work")),
                        Filter::Present(path("value"))
                    ))
                },
                cmp(path("active"), CompareOp::Eq, CompValue::Bool(true))
            )
        );
        let e = err(r#"emails[type eq "work"].value"#);
        assert!(e.message.contains("comparison operator"), "{e}");
        assert!(e.message.contains("after \".value\""), "{e}");
    }

    #[test]
    fn entra_contract_filters() {
        let mut q = Quirks::new();
        for f in [
            r#"userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee""#,
            r#"userName eq "non-existent user""#,
            r#"externalId eq "x""#,
            r#"displayName eq "displayName""#,
            r#"id eq "x""#,
        ] {
            parse_filter(f, &mut q).unwrap();
        }
        assert!(q.is_empty());
        assert_eq!(
            parse_filter("externalId eq jyoung", &mut q).unwrap(),
            cmp(path("externalId"), CompareOp::Eq, s("jyoung"))
        );
        assert_eq!(q.count(quirk::UNQUOTED_FILTER_VALUE), 1);
        assert_eq!(
            parse_filter(
                "id eq 54D382A4-2050-4C03-94D1-E769F1D15682 and manager eq 2819c223-7f76-453a-919d-413861904646",
                &mut q
            )
            .unwrap(),
            and(
                cmp(
                    path("id"),
                    CompareOp::Eq,
                    s("54D382A4-2050-4C03-94D1-E769F1D15682")
                ),
                cmp(
                    path("manager"),
                    CompareOp::Eq,
                    s("2819c223-7f76-453a-919d-413861904646")
                )
            )
        );
        assert_eq!(q.count(quirk::UNQUOTED_FILTER_VALUE), 3);
    }

    #[test]
    fn unquoted_values() {
        assert_eq!(
            p("userName eq alice@example.com"),
            cmp(path("userName"), CompareOp::Eq, s("alice@example.com"))
        );
        // `+` is ordinary text here: the HTTP layer decodes query strings.
        assert_eq!(
            p("phoneNumbers.value eq +15551234"),
            cmp(sub("phoneNumbers", "value"), CompareOp::Eq, s("+15551234"))
        );
        // Not JSON numbers, so strings.
        assert_eq!(
            p("externalId eq 0123"),
            cmp(path("externalId"), CompareOp::Eq, s("0123"))
        );
        assert_eq!(
            p("externalId eq 12ab"),
            cmp(path("externalId"), CompareOp::Eq, s("12ab"))
        );
        assert_eq!(
            p("(externalId eq jyoung)"),
            cmp(path("externalId"), CompareOp::Eq, s("jyoung"))
        );
        let e = err("userName eq and title pr");
        assert!(e.message.contains("expected a value after \"eq\""), "{e}");
        assert_eq!(e.position, 12);
        let e = err("x eq 1e400");
        assert!(e.message.contains("out of range"), "{e}");
    }

    #[test]
    fn error_positions_and_messages() {
        let e = err("userName foo \"x\"");
        assert_eq!(e.position, 9);
        assert_eq!(
            e.to_string(),
            "expected a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after \"userName\", found \"foo\" at position 9"
        );
        let e = err("userName");
        assert_eq!(e.position, 8);
        assert!(e.message.contains("found the end of the input"), "{e}");
        let e = err("userName eq");
        assert_eq!(e.position, 11);
        assert!(e.message.starts_with("expected a value"), "{e}");
        let e = err("userName eq \"a\" title pr");
        assert_eq!(e.position, 16);
        assert!(e.message.contains("\"and\", \"or\""), "{e}");
        let e = err("(userName eq \"a\"");
        assert_eq!(e.position, 16);
        assert!(e.message.contains("close the \"(\" at position 0"), "{e}");
        let e = err("userName eq \"a\")");
        assert_eq!(e.position, 15);
        assert!(e.message.contains("without a matching"), "{e}");
        let e = err("emails[type eq \"work\"");
        assert!(e.message.contains("close the \"[\" at position 6"), "{e}");
        let e = err("not userName eq \"a\"");
        assert_eq!(e.position, 4);
        assert!(e.message.contains("after \"not\""), "{e}");
        let e = err("\"bjensen\" eq userName");
        assert_eq!(e.position, 0);
        assert!(e.message.contains("expected an attribute name"), "{e}");
        let e = err("userName eq \"a\" and");
        assert_eq!(e.position, 19);
        let e = err("emails[type eq \"work\" and x[y pr]]");
        assert!(e.message.contains("cannot be nested"), "{e}");
        let e = err("name.givenName[value pr]");
        assert!(e.message.contains("sub-attribute"), "{e}");
        let e = err("1abc eq \"x\"");
        assert!(e.message.contains("invalid attribute name \"1abc\""), "{e}");
        let e = err("a.b.c eq \"x\"");
        assert!(e.message.contains("too many"), "{e}");
        let e = err("foo:bar eq \"x\"");
        assert_eq!(e.position, 3);
        let e = err(&format!("{ENT} pr"));
        assert!(e.message.contains("is a schema URN"), "{e}");
        let e = err("urn:x:y: pr");
        assert_eq!(e.position, 8);
        assert!(err("").message.contains("empty"));
        assert!(err("   ").message.contains("empty"));
        // Positions count characters, not bytes.
        let e = err("title eq \"ééé\" bogus");
        assert_eq!(e.position, 15);
    }

    #[test]
    fn error_converts_to_scim_error() {
        let e: ScimError = err("userName foo").into();
        assert_eq!(e.status, 400);
        assert_eq!(e.scim_type, Some(crate::error::ScimType::InvalidFilter));
        assert!(e.detail.contains("at position 9"), "{}", e.detail);
        let e = err("userName foo").into_path_error();
        assert_eq!(e.scim_type, Some(crate::error::ScimType::InvalidPath));
    }

    #[test]
    fn limits() {
        let long = format!("title eq \"{}\"", "a".repeat(MAX_INPUT_BYTES));
        assert!(err(&long).message.contains("limit"));
        let deep_ok = format!("{}a pr{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(p(&deep_ok), Filter::Present(path("a")));
        let too_deep = format!(
            "{}a pr{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        let e = err(&too_deep);
        assert!(e.message.contains("nests more than"), "{e}");
        assert_eq!(e.position, MAX_DEPTH);
        let deep_not = format!("{}a pr{}", "not (".repeat(1000), ")".repeat(1000));
        assert!(err(&deep_not).message.contains("nests more than"));
        // Long flat chains are loops, not recursion.
        let chain = vec!["a pr"; 800].join(" and ");
        assert!(matches!(p(&chain), Filter::And(..)));
        // The longest chain the length limit allows still prints, re-parses
        // and evaluates without exhausting a test thread's stack.
        let chain = vec!["(a pr)"; MAX_INPUT_BYTES / 10].join(" or ");
        assert!(chain.len() <= MAX_INPUT_BYTES);
        let f = p(&chain);
        assert_eq!(p(&f.to_string()), f);
        let user = serde_json::json!({"userName": "x"});
        assert!(!crate::filter::matches(
            &f,
            crate::schema::ResourceKind::User,
            &user
        ));
    }

    #[test]
    fn patch_paths() {
        let mut q = Quirks::new();
        let pp = |s: &str, q: &mut Quirks| parse_path(s, q).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(
            pp("name.givenName", &mut q),
            PatchPath {
                attr: sub("name", "givenName"),
                filter: None,
                sub: None
            }
        );
        assert_eq!(
            pp("members", &mut q),
            PatchPath {
                attr: path("members"),
                filter: None,
                sub: None
            }
        );
        assert_eq!(
            pp(r#"emails[type eq "work"].value"#, &mut q),
            PatchPath {
                attr: path("emails"),
                filter: Some(cmp(path("type"), CompareOp::Eq, s("work"))),
                sub: Some("value".into())
            }
        );
        assert_eq!(
            pp(r#"members[value eq "2819c223"]"#, &mut q),
            PatchPath {
                attr: path("members"),
                filter: Some(cmp(path("value"), CompareOp::Eq, s("2819c223"))),
                sub: None
            }
        );
        assert_eq!(
            pp(r#"addresses[type eq "work"].postalCode"#, &mut q),
            PatchPath {
                attr: path("addresses"),
                filter: Some(cmp(path("type"), CompareOp::Eq, s("work"))),
                sub: Some("postalCode".into())
            }
        );
        assert_eq!(
            pp(r#"roles[primary eq "True"].value"#, &mut q),
            PatchPath {
                attr: path("roles"),
                filter: Some(cmp(path("primary"), CompareOp::Eq, s("True"))),
                sub: Some("value".into())
            }
        );
        let ent_manager = PatchPath {
            attr: AttrPath {
                urn: Some(ENT.into()),
                name: "manager".into(),
                sub: None,
            },
            filter: None,
            sub: None,
        };
        assert_eq!(pp(&format!("{ENT}:manager"), &mut q), ent_manager);
        assert!(q.is_empty());
        assert_eq!(pp(&format!("{ENT}.manager"), &mut q), ent_manager);
        assert_eq!(q.count(quirk::LEGACY_URN_DOT), 1);
        assert_eq!(
            pp(r#"emails[type eq "work" and value ew "@x.com"]"#, &mut q).to_string(),
            r#"emails[type eq "work" and value ew "@x.com"]"#
        );
    }

    #[test]
    fn patch_path_errors() {
        let perr = |s: &str| {
            let mut q = Quirks::new();
            parse_path(s, &mut q).expect_err(s)
        };
        assert!(perr("").message.contains("expected an attribute name"));
        let e = perr(r#"emails[type eq "work"]value"#);
        assert!(e.message.contains("\".subAttribute\""), "{e}");
        let e = perr(r#"emails[type eq "work"].value.x"#);
        assert!(e.message.contains("invalid attribute name"), "{e}");
        let e = perr("name givenName");
        assert_eq!(e.position, 5);
        let e = perr(r#"name.givenName[type eq "x"]"#);
        assert!(e.message.contains("sub-attribute"), "{e}");
        let e = perr(r#"emails[type eq "work"].value eq "x""#);
        assert!(e.message.contains("unexpected \"eq\""), "{e}");
        let e = perr(r#"emails[type eq "work""#);
        assert!(e.message.contains("close the \"[\""), "{e}");
        let e = perr(r#"emails[type eq "work"] and x pr"#);
        assert!(e.message.contains("expected \".subAttribute\""), "{e}");
        let se = perr("a b").into_path_error();
        assert_eq!(se.status, 400);
        assert!(se.detail.contains("at position 2"), "{}", se.detail);
    }

    #[test]
    fn attr_paths_for_sorting() {
        assert_eq!(parse_attr_path("userName").unwrap(), path("userName"));
        assert_eq!(
            parse_attr_path(" name.familyName ").unwrap(),
            sub("name", "familyName")
        );
        assert_eq!(
            parse_attr_path(&format!("{ENT}:employeeNumber")).unwrap(),
            AttrPath {
                urn: Some(ENT.into()),
                name: "employeeNumber".into(),
                sub: None
            }
        );
        assert!(parse_attr_path("").is_err());
        assert_eq!(parse_attr_path("a b").unwrap_err().position, 2);
        assert_eq!(
            parse_attr_path("emails[type eq \"x\"]")
                .unwrap_err()
                .position,
            6
        );
        assert_eq!(parse_attr_path("(a)").unwrap_err().position, 0);
    }

    #[test]
    fn json_number_grammar() {
        for ok in ["0", "-0", "1", "10", "-12.5", "1e5", "1E+5", "1.0e-5"] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in [
            "", "-", "01", "1.", ".5", "1e", "1e+", "+1", "0x10", "1.2.3", "NaN",
        ] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }
}
