//! Properties of the parser and the canonical printer:
//! - for generated statements, `parse(print(ast)) == ast` and printing is idempotent;
//! - for random bytes and random token soups, parsing never panics (and rendering its
//!   diagnostic never panics), and whatever does parse round-trips.

use kcql::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

/// Plain identifiers, keywords in odd cases, and names that need backticks.
fn ident() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z][a-zA-Z0-9_]{0,6}",
        1 => "[a-z0-9][a-z0-9_@:+/{}-]{0,5}",
        1 => "[a-z]{1,3}[ .;,()=*'][a-z]{1,3}",
        1 => "[0-9]{1,4}",
        1 => prop::sample::select(vec!["limit", "Select", "FROM", "as", "where", "sys_time", "Group", "PK"])
            .prop_map(String::from),
    ]
    .prop_filter("no `_` metadata paths", |s| !s.starts_with('_'))
}

/// A bare word usable where the grammar wants one word token.
fn word() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,6}".prop_filter("not a keyword", |s| !keyword::is_keyword_like(s))
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z][a-zA-Z0-9_]{0,8}",
        2 => "/?[a-z]{1,5}(/[a-z+#]{1,4}){0,3}",
        1 => "\\$share/[a-z]{1,3}/[a-z]{1,3}/#",
        1 => "[a-z]{1,4}[.:-][A-Z]{1,4}",
        1 => "[a-z]{1,3} [a-z]{1,3}",
        1 => "[0-9]{1,3}",
        1 => prop::sample::select(vec!["limit", "Insert", "select", "a.b.c", "."]).prop_map(String::from),
    ]
}

fn path(wildcard: bool) -> impl Strategy<Value = ColumnPath> {
    (vec(ident(), 1..4), any::<bool>()).prop_map(move |(segments, w)| ColumnPath {
        segments,
        wildcard: wildcard && w,
        span: Span::default(),
    })
}

fn quoted() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 .,;:()=*_-]{0,8}"
}

fn alias() -> impl Strategy<Value = Alias> {
    prop_oneof![
        3 => ident().prop_map(Alias::Name),
        1 => quoted().prop_map(Alias::Quoted),
    ]
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        3 => any::<i64>().prop_map(Literal::Int),
        2 => any::<f64>().prop_filter("finite", |v| v.is_finite()).prop_map(Literal::Float),
        1 => (0u32..10_000).prop_map(|v| Literal::Float(f64::from(v) / 100.0)),
        1 => any::<bool>().prop_map(Literal::Bool),
        1 => Just(Literal::Null),
    ]
}

/// Scalar expressions (extension): every operator, predicate, cast and scalar function.
fn scalar_expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        4 => path(false).prop_map(Expr::Column),
        1 => quoted().prop_map(|value| Expr::String { value }),
        2 => literal().prop_map(|value| Expr::Literal { value }),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        let ops = prop::sample::select(vec![
            BinaryOp::Or, BinaryOp::And, BinaryOp::Eq, BinaryOp::Ne, BinaryOp::Lt, BinaryOp::Le,
            BinaryOp::Gt, BinaryOp::Ge, BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul,
            BinaryOp::Div, BinaryOp::Mod, BinaryOp::Concat,
        ]);
        let scalar = prop::sample::select(
            Function::ALL.iter().copied().filter(|f| !f.is_aggregate()).collect::<Vec<_>>(),
        );
        prop_oneof![
            3 => (ops, inner.clone(), inner.clone()).prop_map(|(op, l, r)| Expr::Binary {
                op, left: Box::new(l), right: Box::new(r)
            }),
            1 => (any::<bool>(), inner.clone()).prop_map(|(not, e)| Expr::Unary {
                op: if not { UnaryOp::Not } else { UnaryOp::Neg }, expr: Box::new(e)
            }),
            1 => (inner.clone(), any::<bool>()).prop_map(|(e, negated)| Expr::IsNull { expr: Box::new(e), negated }),
            1 => (inner.clone(), vec(inner.clone(), 1..3), any::<bool>()).prop_map(|(e, list, negated)| Expr::InList {
                expr: Box::new(e), list, negated
            }),
            1 => (inner.clone(), quoted(), any::<bool>()).prop_map(|(e, pattern, negated)| Expr::Like {
                expr: Box::new(e), pattern, negated
            }),
            1 => (inner.clone(), prop::sample::select(vec![CastType::Int, CastType::Float, CastType::String, CastType::Bool]))
                .prop_map(|(e, to)| Expr::Cast { expr: Box::new(e), to }),
            2 => (scalar, vec(inner, 0..3)).prop_filter_map("arity", |(f, args)| {
                f.arity().accepts(args.len()).then(|| Expr::Call { name: f.name().to_string(), args })
            }),
        ]
    })
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        6 => path(true).prop_map(Expr::Column),
        1 => quoted()
            .prop_filter("'*' selects a field", |v| v != "*")
            .prop_map(|value| Expr::String { value }),
    ];
    prop_oneof![
        5 => leaf,
        2 => scalar_expr(),
    ]
}

fn select_list() -> impl Strategy<Value = Vec<SelectItem>> {
    prop_oneof![
        1 => Just(vec![SelectItem { expr: Expr::Column(ColumnPath::star()), alias: None, span: Span::default() }]),
        4 => vec((expr(), option::of(alias())), 1..5).prop_map(|items| {
            items
                .into_iter()
                .map(|(expr, alias)| SelectItem { expr, alias, span: Span::default() })
                .collect()
        }),
    ]
    .prop_filter("no duplicate fields", |items| {
        let s = Statement::from_parts_for_test(items.clone());
        kcql::parse(&s.to_string()).is_ok()
    })
}

fn partition_entry() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z][a-z0-9_]{0,4}(\\.[a-z][a-z0-9_]{0,4}){0,2}",
        1 => "_header\\.`[a-z]{1,3}\\.[a-z]{1,3}`",
        1 => "[a-z]{1,3}\\.\\*",
        1 => "'[a-z ]{1,5}'",
    ]
    .prop_filter("not a keyword", |s| {
        !keyword::is_reserved(s.split('.').next().unwrap_or(""))
    })
}

fn unique_ci(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&s)) {
            out.push(s);
        }
    }
    out
}

fn unique_pairs(v: Vec<(String, String)>, ci: bool) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, val) in v {
        let dup = out.iter().any(|(o, _)| {
            if ci {
                o.eq_ignore_ascii_case(&k)
            } else {
                *o == k
            }
        });
        if !dup {
            out.push((k, val));
        }
    }
    out
}

/// A path written as a glued run (`WITHTAG` keys, `WITHTARGET`): plain dotted names, segments
/// that need backticks (dots, spaces, keywords, digits), and a leading empty segment (`.a`).
fn glued_path() -> impl Strategy<Value = ColumnPath> {
    prop_oneof![
        3 => "[a-zA-Z][a-zA-Z0-9_]{0,4}(\\.[a-z][a-z0-9]{0,3}){0,2}"
            .prop_map(|k: String| ColumnPath::new(k.split('.'))),
        2 => path(false),
        1 => path(false).prop_map(|mut p| {
            p.segments.insert(0, String::new());
            p
        }),
    ]
}

fn tag() -> impl Strategy<Value = Tag> {
    let value = prop_oneof![3 => word(), 1 => quoted().prop_filter("no dot start", |s| !s.starts_with('.'))];
    (
        glued_path(),
        prop_oneof![Just(0u8), Just(1u8), Just(2u8)],
        value,
    )
        .prop_map(|(key, k, v)| Tag {
            key,
            kind: match k {
                0 => TagKind::Field,
                1 => TagKind::Constant(v),
                _ => TagKind::Alias(v),
            },
        })
}

fn free_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 .,;:()=*'_<>-]{1,10}"
}

fn head() -> impl Strategy<Value = Head> {
    prop_oneof![
        1 => Just(Head::Select),
        3 => (prop_oneof![
            Just(WriteMode::Insert),
            Just(WriteMode::Upsert),
            word().prop_map(WriteMode::LegacyUpsertPk),
        ], name()).prop_map(|(mode, target)| Head::Insert { mode, target }),
    ]
}

prop_compose! {
    fn statement()(
        (head, select, source, ignore, primary_keys) in (
            head(),
            select_list(),
            name(),
            vec((path(true), option::of(alias())).prop_map(|(path, alias)| ColumnItem { path, alias }), 0..3),
            vec(path(true), 0..3),
        ),
        (autocreate, autoevolve, with_structure, with_unwrap, batch_size, limit, ttl) in (
            any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(),
            option::of(1u32..=i32::MAX as u32),
            option::of(1u32..=i32::MAX as u32),
            option::of(1u64..=i64::MAX as u64),
        ),
        (partitioning, timestamp, timestamp_unit, format) in (
            option::of(prop_oneof![
                1 => Just(Partitioning::None),
                3 => vec(partition_entry(), 1..4).prop_map(|v| Partitioning::By(unique_ci(v))),
            ]),
            option::of(prop_oneof![
                Just(TimestampSource::SysTime),
                path(false).prop_map(TimestampSource::Field),
            ]),
            option::of(prop::sample::select(TimeUnit::ALL.to_vec())),
            option::of(prop::sample::select(Format::ALL.to_vec())),
        ),
        (store_as, tags, incremental_mode, with_type, doc_type, index_suffix) in (
            option::of((name().prop_filter("no quote", |s| !s.contains('\'')),
                        vec((word(), prop_oneof![word(), "[0-9]{1,3}"]), 0..3))
                .prop_map(|(type_name, p)| StoreAs { type_name, params: unique_pairs(p, true) })),
            option::of(vec(tag(), 1..4)),
            option::of(prop_oneof![word(), "`[a-z ]{1,5}`"]),
            option::of(word()),
            option::of(ident()),
            option::of(ident()),
        ),
        (converter, jms_selector, regex, with_key, key_delimiter) in (
            option::of(free_text()),
            option::of(free_text()),
            option::of(free_text()),
            option::of(vec(path(false), 1..3)),
            option::of(prop::sample::select(vec!["|", "-", ":", "#", "a", "7", "$", "*"]).prop_map(String::from)),
        ),
        (where_clause, retention) in (
            option::of(scalar_expr()),
            option::of(prop_oneof![
                duration().prop_map(Retention::Duration),
                prop_oneof![word(), ident(), "[0-9]{1,2}[smhd]"].prop_map(Retention::Policy),
            ]),
        ),
        (pipeline, subscription, dynamic_target, properties) in (
            option::of(name().prop_filter("no quote", |s| !s.contains('\''))),
            option::of("[a-zA-Z0-9_@]{1,6}"),
            option::of(glued_path()),
            vec((quoted(), free_text()), 0..3)
                .prop_map(|v| unique_pairs(v, false))
                .prop_filter("no quote-wrapped values", |v| v.iter().all(|(k, v)| {
                    let wrapped = |s: &str| s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'');
                    !wrapped(k) && !wrapped(v)
                })),
        ),
    ) -> Statement {
        Statement {
            head, select, source, ignore, primary_keys,
            autocreate, autoevolve, with_structure, with_unwrap,
            batch_size, partitioning, timestamp, timestamp_unit, format, store_as, tags,
            incremental_mode, with_type, doc_type, index_suffix, ttl, converter, jms_selector,
            with_key, key_delimiter, pipeline, subscription, regex, dynamic_target, limit,
            properties, where_clause, group_by: Vec::new(), window: None, retention,
            spans: Default::default(),
        }
    }
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (1u64..5000).prop_map(|millis| Duration { millis }),
        (1u64..100).prop_map(|n| Duration { millis: n * 60_000 }),
        (1u64..40).prop_map(|n| Duration {
            millis: n * 86_400_000
        }),
    ]
}

fn window() -> impl Strategy<Value = Window> {
    (
        duration(),
        duration(),
        any::<bool>(),
        option::of(prop_oneof![Just(Duration { millis: 0 }), duration()]),
    )
        .prop_map(|(a, b, hopping, grace)| {
            let kind = if hopping {
                // Valid windows only: at most MAX_WINDOWS_PER_RECORD windows per record.
                let size = a.max(b);
                let fewest = size.millis.div_ceil(kcql::ast::MAX_WINDOWS_PER_RECORD);
                WindowKind::Hopping {
                    size,
                    advance: a.min(b).max(Duration { millis: fewest }),
                }
            } else {
                WindowKind::Tumbling { size: a }
            };
            Window { kind, grace }
        })
}

prop_compose! {
    /// Windowed statements: grouped columns, then aggregates over scalar expressions.
    fn windowed()(
        target in name(),
        source in name(),
        groups in vec(path(false), 0..3),
        aggs in vec((prop::sample::select(vec!["min", "MAX", "avg", "sum", "count", "First", "last"]),
                     prop_oneof![3 => scalar_expr(), 1 => Just(Expr::Column(ColumnPath::star()))],
                     ident()), 1..4),
        where_clause in option::of(scalar_expr()),
        window in window(),
    ) -> Statement {
        let mut s = kcql::parse("INSERT INTO t SELECT * FROM s").expect("base statement");
        let mut groups = groups;
        groups.dedup_by(|a, b| a.segments.last() == b.segments.last());
        s.head = Head::Insert { mode: WriteMode::Insert, target };
        s.source = source;
        s.select = groups
            .iter()
            .map(|g| SelectItem { expr: Expr::Column(g.clone()), alias: None, span: Span::default() })
            .chain(aggs.into_iter().map(|(f, arg, alias)| {
                let arg = match arg {
                    Expr::Column(p) if p.is_star() && !f.eq_ignore_ascii_case("count") => Expr::Column(ColumnPath::new(["x"])),
                    a => a,
                };
                SelectItem { expr: Expr::Call { name: f.to_string(), args: vec![arg] }, alias: Some(Alias::Name(alias)), span: Span::default() }
            }))
            .collect();
        s.group_by = groups;
        s.where_clause = where_clause;
        s.window = Some(window);
        s
    }
}

trait ForTest {
    fn from_parts_for_test(select: Vec<SelectItem>) -> Statement;
}

impl ForTest for Statement {
    /// A minimal statement around a select list (used to filter invalid select lists).
    fn from_parts_for_test(select: Vec<SelectItem>) -> Statement {
        let mut s = kcql::parse("SELECT * FROM t").expect("minimal statement");
        s.select = select;
        s
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn print_then_parse_is_identity(stmt in statement()) {
        let printed = stmt.to_string();
        let reparsed = kcql::parse(&printed)
            .unwrap_or_else(|d| panic!("printed statement does not parse:\n{printed}\n{d}"));
        prop_assert_eq!(&reparsed, &stmt, "printed: {}", printed);
        prop_assert_eq!(reparsed.to_string(), printed);
    }

    #[test]
    fn windowed_statements_round_trip(stmt in windowed()) {
        let printed = stmt.to_string();
        let reparsed = kcql::parse(&printed)
            .unwrap_or_else(|d| panic!("printed statement does not parse:\n{printed}\n{d}"));
        prop_assert_eq!(&reparsed, &stmt, "printed: {}", printed);
    }

    #[test]
    fn compiling_never_panics(stmt in prop_oneof![statement(), windowed()]) {
        for c in [Connector::MqttSource, Connector::InfluxSink, Connector::WindowProcessor] {
            match kcql::compile(std::slice::from_ref(&stmt), c) {
                Ok(plan) => prop_assert_eq!(plan.connector(), c),
                Err(d) => prop_assert!(d.iter().all(|x| !x.to_string().is_empty())),
            }
        }
    }

    #[test]
    fn random_text_never_panics(s in "\\PC{0,80}") {
        check_no_panic(&s);
    }

    #[test]
    fn token_soup_never_panics(toks in vec(prop::sample::select(vec![
        "INSERT", "upsert", "INTO", "SELECT", "FROM", "*", ",", ".", "(", ")", "=", ";", "a", "b.c",
        "`x y`", "'s'", "''", "AS", "PK", "WITHTAG", "LIMIT", "5", "0", "_", "_key", "_header",
        "key", "topic", "STOREAS", "PROPERTIES", "BATCH", "KEYDELIMITER", "'|'", "sys_time",
        "WITHTIMESTAMP", "PARTITIONBY", "NOPARTITION", "IGNORE", "WITHKEY", "<", "||", "%", "-",
        "/a/+/#", "$share/g/t", "99999999999999999999", "\n", "é",
    ]), 0..24)) {
        check_no_panic(&toks.join(" "));
        check_no_panic(&toks.concat());
    }
}

fn check_no_panic(s: &str) {
    match kcql::parse(s) {
        Ok(stmt) => {
            let printed = stmt.to_string();
            let again = kcql::parse(&printed).unwrap_or_else(|d| {
                panic!("{s:?} parsed, but its print {printed:?} does not:\n{d}")
            });
            assert_eq!(again, stmt, "{s:?} → {printed:?}");
        }
        Err(d) => {
            let rendered = d.to_string();
            assert!(rendered.starts_with("error: "), "{rendered}");
        }
    }
    if let Err(ds) = kcql::parse_many(s) {
        let _ = ds.to_string();
    }
}

#[test]
fn soups_of_garbage_are_rejected() {
    for s in [
        "",
        ";",
        "SELECT",
        "INSERT INTO",
        "FROM t",
        "* FROM t",
        "SELECT * FROM",
        "SELECT * FROM t LIMIT",
    ] {
        assert!(kcql::parse(s).is_err(), "{s:?} should be rejected");
    }
}
