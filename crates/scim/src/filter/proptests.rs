//! Property tests: printing and parsing are inverse, the parsers never panic,
//! and evaluation obeys the laws of boolean logic.

use proptest::prelude::*;
use serde_json::{Number, Value, json};

use super::ast::{AttrPath, CompValue, CompareOp, Filter};
use super::eval::matches;
use super::parse::{parse_attr_path, parse_filter, parse_path};
use crate::dialect::Quirks;
use crate::schema::ResourceKind;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn op() -> impl Strategy<Value = CompareOp> {
    prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Ne),
        Just(CompareOp::Co),
        Just(CompareOp::Sw),
        Just(CompareOp::Ew),
        Just(CompareOp::Gt),
        Just(CompareOp::Ge),
        Just(CompareOp::Lt),
        Just(CompareOp::Le),
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}".prop_filter("keyword", |s| {
            !["and", "or", "not"]
                .iter()
                .any(|k| s.eq_ignore_ascii_case(k))
        }),
        Just("$ref".to_string()),
    ]
}

fn attr_path() -> impl Strategy<Value = AttrPath> {
    let urn = prop_oneof![
        4 => Just(None),
        1 => Just(Some(ENT.to_string())),
        1 => Just(Some(CORE.to_string())),
        1 => Just(Some("urn:example:ext:1.0:Thing".to_string())),
    ];
    (urn, name(), proptest::option::of(name())).prop_map(|(urn, name, sub)| AttrPath {
        urn,
        name,
        sub,
    })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        any::<String>().prop_map(CompValue::Str),
        any::<i64>().prop_map(|n| CompValue::Num(n.into())),
        any::<u64>().prop_map(|n| CompValue::Num(n.into())),
        any::<f64>()
            .prop_filter_map("finite", Number::from_f64)
            .prop_map(CompValue::Num),
        any::<bool>().prop_map(CompValue::Bool),
        Just(CompValue::Null),
    ]
}

fn leaf() -> BoxedStrategy<Filter> {
    prop_oneof![
        (attr_path(), op(), comp_value()).prop_map(|(path, op, value)| Filter::Compare {
            path,
            op,
            value
        }),
        attr_path().prop_map(Filter::Present),
    ]
    .boxed()
}

fn logic(inner: BoxedStrategy<Filter>) -> BoxedStrategy<Filter> {
    inner
        .prop_recursive(4, 24, 2, |f| {
            prop_oneof![
                (f.clone(), f.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
                (f.clone(), f.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
                f.prop_map(|a| Filter::Not(Box::new(a))),
            ]
        })
        .boxed()
}

fn filter() -> impl Strategy<Value = Filter> {
    let value_path = (attr_path(), logic(leaf())).prop_map(|(mut path, inner)| {
        path.sub = None;
        Filter::ValuePath {
            path,
            filter: Box::new(inner),
        }
    });
    logic(prop_oneof![3 => leaf(), 1 => value_path].boxed())
}

const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "\"",
    "\"x\"",
    "\"\\u00e9\"",
    "\\",
    "\\u",
    "\\ud83d",
    "and",
    "OR",
    "not",
    "not (",
    "eq",
    "Ne",
    "co",
    "sw",
    "pr",
    "gt",
    "userName",
    "emails",
    "emails[",
    ".value",
    ".",
    ":",
    "urn:",
    ENT,
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager",
    "meta.lastModified",
    "1e5",
    "-",
    "-0.5",
    "1e999",
    "true",
    "Null",
    " ",
    "  ",
    "\t",
    "é",
    "😀",
    "$ref",
    "jyoung",
    "a.b.c",
    "\u{0}",
];

fn token_soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (
            proptest::sample::select(TOKENS),
            prop_oneof![Just(""), Just(" ")],
        ),
        0..24,
    )
    .prop_map(|parts| {
        parts
            .into_iter()
            .map(|(t, sep)| format!("{t}{sep}"))
            .collect()
    })
}

/// A small resource over a handful of attributes of every type.
fn resource() -> impl Strategy<Value = Value> {
    let word = proptest::sample::select(vec!["a", "B", "ab", "Ab", "b@x", ""]);
    let time = proptest::sample::select(vec![
        "2020-01-01T00:00:00Z",
        "2021-06-01T12:00:00+02:00",
        "garbage",
    ]);
    (
        proptest::option::of(word.clone()),
        proptest::option::of(word.clone()),
        proptest::option::of(any::<bool>()),
        proptest::collection::vec((word.clone(), word.clone(), any::<bool>()), 0..3),
        proptest::option::of(time),
        proptest::option::of(word),
    )
        .prop_map(|(user_name, title, active, emails, modified, employee)| {
            let mut r = json!({"schemas": [CORE]});
            if let Some(v) = user_name {
                r["userName"] = json!(v);
            }
            if let Some(v) = title {
                r["title"] = json!(v);
            }
            if let Some(v) = active {
                r["active"] = json!(v);
            }
            if !emails.is_empty() {
                r["emails"] = emails
                    .into_iter()
                    .map(|(value, ty, primary)| json!({"value": value, "type": ty, "primary": primary}))
                    .collect();
            }
            if let Some(v) = modified {
                r["meta"] = json!({"lastModified": v});
            }
            if let Some(v) = employee {
                r[ENT] = json!({"employeeNumber": v});
            }
            r
        })
}

/// Filters over the attributes `resource()` fills in, plus an unknown one.
fn known_leaf() -> BoxedStrategy<Filter> {
    let path = proptest::sample::select(vec![
        "userName",
        "title",
        "active",
        "emails",
        "emails.value",
        "emails.type",
        "emails.primary",
        "meta.lastModified",
        "employeeNumber",
        "shoeSize",
    ])
    .prop_map(|p| parse_attr_path(p).expect("valid path"));
    let value = prop_oneof![
        proptest::sample::select(vec![
            "a",
            "b",
            "AB",
            "@x",
            "",
            "2020-06-01T00:00:00Z",
            "True"
        ])
        .prop_map(|s| CompValue::Str(s.to_string())),
        any::<bool>().prop_map(CompValue::Bool),
        Just(CompValue::Null),
    ];
    let value_path = (
        proptest::sample::select(vec!["value", "type", "primary"]),
        op(),
        proptest::sample::select(vec!["a", "b", "true"]),
    )
        .prop_map(|(sub, op, v)| Filter::ValuePath {
            path: parse_attr_path("emails").expect("valid path"),
            filter: Box::new(Filter::Compare {
                path: parse_attr_path(sub).expect("valid path"),
                op,
                value: CompValue::Str(v.to_string()),
            }),
        });
    prop_oneof![
        4 => (path.clone(), op(), value).prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
        1 => path.prop_map(Filter::Present),
        1 => value_path,
    ]
    .boxed()
}

fn reparse(f: &Filter) -> Filter {
    let text = f.to_string();
    let mut q = Quirks::new();
    parse_filter(&text, &mut q).unwrap_or_else(|e| panic!("{text:?} does not parse: {e}"))
}

fn sample_user() -> Value {
    json!({
        "userName": "bjensen", "active": true,
        "emails": [{"value": "b@x", "type": "work", "primary": true}],
        "meta": {"lastModified": "2011-05-13T04:42:34Z"},
        ENT: {"employeeNumber": "1", "manager": {"value": "m"}}
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn display_then_parse_is_identity(f in filter()) {
        prop_assert_eq!(reparse(&f), f);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,120}") {
        let mut q = Quirks::new();
        if let Ok(f) = parse_filter(&s, &mut q) {
            prop_assert_eq!(reparse(&f), f.clone());
            let _ = matches(&f, ResourceKind::User, &sample_user());
        }
        let _ = parse_path(&s, &mut q);
        let _ = parse_attr_path(&s);
    }

    #[test]
    fn token_soup_never_panics(s in token_soup()) {
        let mut q = Quirks::new();
        if let Ok(f) = parse_filter(&s, &mut q) {
            prop_assert_eq!(reparse(&f), f.clone());
            let _ = matches(&f, ResourceKind::User, &sample_user());
            let _ = matches(&f, ResourceKind::Group, &sample_user());
        }
        if let Ok(p) = parse_path(&s, &mut q) {
            let text = p.to_string();
            prop_assert_eq!(parse_path(&text, &mut q), Ok(p));
        }
        if let Ok(p) = parse_attr_path(&s) {
            prop_assert_eq!(parse_attr_path(&p.to_string()), Ok(p));
        }
    }

    #[test]
    fn boolean_laws_hold(
        a in logic(known_leaf()),
        b in logic(known_leaf()),
        r in resource(),
    ) {
        let kind = ResourceKind::User;
        let not = |f: &Filter| Filter::Not(Box::new(f.clone()));
        let and = |x: Filter, y: Filter| Filter::And(Box::new(x), Box::new(y));
        let or = |x: Filter, y: Filter| Filter::Or(Box::new(x), Box::new(y));
        let m = |f: &Filter| matches(f, kind, &r);

        prop_assert_eq!(m(&not(&not(&a))), m(&a));
        prop_assert_eq!(m(&not(&and(a.clone(), b.clone()))), m(&or(not(&a), not(&b))));
        prop_assert_eq!(m(&not(&or(a.clone(), b.clone()))), m(&and(not(&a), not(&b))));
        prop_assert_eq!(m(&and(a.clone(), b.clone())), m(&and(b.clone(), a.clone())));
        prop_assert_eq!(m(&reparse(&a)), m(&a));
    }

    #[test]
    fn ne_is_not_eq_for_known_attributes(leaf in known_leaf(), r in resource()) {
        if let Filter::Compare { path, value, .. } = leaf
            && path.name != "shoeSize"
        {
            let eq = Filter::Compare { path: path.clone(), op: CompareOp::Eq, value: value.clone() };
            let ne = Filter::Compare { path, op: CompareOp::Ne, value };
            prop_assert_eq!(
                matches(&ne, ResourceKind::User, &r),
                !matches(&eq, ResourceKind::User, &r)
            );
        }
    }
}
