//! Routing plans: what the runtime executes, compiled from statements for one connector.
//!
//! [`compile`] checks every statement against the connector (a clause the connector cannot
//! honour is an error that names clause and connector, with a hint), resolves every field path
//! to a [`FieldRef`], looks up functions, compiles MQTT filters and `LIKE` patterns, and groups
//! the statements into one plan (several statements on one source fan out; an exact repeat of a
//! route is an error). All problems of all statements are reported at once.

mod explain;
mod field;
mod influx;
mod mqtt;
mod processor;
mod topic_filter;

pub use explain::{explain, explain_pipeline, ExplainFormat};
pub use field::{resolve, FieldRef, LikePart, LikePattern, PlanExpr, RecordPart};
pub use influx::{InfluxPlan, InfluxRoute, Measurement, RetentionPlan, TagPlan, TimestampPlan};
pub use mqtt::{Converter, KafkaTarget, MessageKey, MqttPlan, MqttRoute};
pub use processor::{AggregatePlan, EventTime, GroupKey, ProcessorPlan, WindowRoute};
pub use topic_filter::{sanitize_topic, FilterError, Level, TopicFilter};

use crate::ast::{Alias, ColumnPath, Expr, Statement};
use crate::diag::{Diagnostic, Diagnostics, ErrorKind, Failure, StatementRef};
use crate::keyword::ClauseKind;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// The connector a plan is compiled for. New connectors may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Connector {
    /// MQTT → Kafka.
    MqttSource,
    /// Kafka → InfluxDB.
    InfluxSink,
    /// Kafka → windowed aggregation → Kafka.
    WindowProcessor,
}

impl Connector {
    /// The short name used on the command line and in messages.
    pub const fn name(self) -> &'static str {
        match self {
            Connector::MqttSource => "mqtt",
            Connector::InfluxSink => "influx",
            Connector::WindowProcessor => "processor",
        }
    }

    /// The connector named `name` (`mqtt`, `influx`, `processor`).
    pub fn from_name(name: &str) -> Option<Connector> {
        [
            Connector::MqttSource,
            Connector::InfluxSink,
            Connector::WindowProcessor,
        ]
        .into_iter()
        .find(|c| c.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A compiled plan, one variant per [`Connector`] (new connectors may be added).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "connector", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Plan {
    /// MQTT → Kafka routes.
    Mqtt(MqttPlan),
    /// Kafka → InfluxDB routes.
    Influx(InfluxPlan),
    /// Kafka → Kafka window routes.
    Processor(ProcessorPlan),
}

impl Plan {
    /// The connector this plan is for.
    pub fn connector(&self) -> Connector {
        match self {
            Plan::Mqtt(_) => Connector::MqttSource,
            Plan::Influx(_) => Connector::InfluxSink,
            Plan::Processor(_) => Connector::WindowProcessor,
        }
    }
}

/// One item of a projection, applied in order (later fields overwrite earlier ones of the same
/// name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProjectionItem {
    /// `*`, `_key.*` or `a.b.*`: every member of the object at `from`, except the names in
    /// `exclude`.
    Expand {
        /// The object whose members are taken.
        from: FieldRef,
        /// Member names left out (IGNOREd or renamed elsewhere in the select list).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        exclude: Vec<String>,
    },
    /// One named output.
    Field {
        /// The output name.
        name: String,
        /// Its value.
        value: PlanExpr,
    },
}

/// Compiles `statements` for `connector`. Spans in the returned diagnostics point into the text
/// the statements were parsed from, which this function does not have: to render them with the
/// source line and caret, compile from the text ([`compile_str`], [`compile_influx`],
/// [`compile_mqtt`], [`compile_processor`]) or attach it with [`Diagnostics::with_input`].
pub fn compile(statements: &[Statement], connector: Connector) -> Result<Plan, Diagnostics> {
    compile_in("", statements, connector)
}

/// Parses `src` (one or more statements) and compiles them for `connector`; diagnostics carry
/// the text. For a connector known at compile time, [`compile_influx`], [`compile_mqtt`] and
/// [`compile_processor`] return its plan type directly.
pub fn compile_str(src: &str, connector: Connector) -> Result<Plan, Diagnostics> {
    let statements = crate::parse_many(src)?;
    compile_in(src, &statements, connector)
}

/// Parses `src` (one or more statements) and compiles them for the InfluxDB sink; diagnostics
/// carry the text.
pub fn compile_influx(src: &str) -> Result<InfluxPlan, Diagnostics> {
    influx_plan(src, &crate::parse_many(src)?)
}

/// Parses `src` (one or more statements) and compiles them for the MQTT source; diagnostics
/// carry the text.
pub fn compile_mqtt(src: &str) -> Result<MqttPlan, Diagnostics> {
    mqtt_plan(src, &crate::parse_many(src)?)
}

/// Parses `src` (one or more statements) and compiles them for the window processor;
/// diagnostics carry the text.
pub fn compile_processor(src: &str) -> Result<ProcessorPlan, Diagnostics> {
    processor_plan(src, &crate::parse_many(src)?)
}

/// [`compile`] for statements parsed from `src`.
fn compile_in(
    src: &str,
    statements: &[Statement],
    connector: Connector,
) -> Result<Plan, Diagnostics> {
    match connector {
        Connector::InfluxSink => influx_plan(src, statements).map(Plan::Influx),
        Connector::MqttSource => mqtt_plan(src, statements).map(Plan::Mqtt),
        Connector::WindowProcessor => processor_plan(src, statements).map(Plan::Processor),
    }
}

fn influx_plan(src: &str, statements: &[Statement]) -> Result<InfluxPlan, Diagnostics> {
    compile_routes(src, statements, influx::compile).map(|routes| InfluxPlan { routes })
}

fn mqtt_plan(src: &str, statements: &[Statement]) -> Result<MqttPlan, Diagnostics> {
    compile_routes(src, statements, mqtt::compile).map(|routes| MqttPlan { routes })
}

fn processor_plan(src: &str, statements: &[Statement]) -> Result<ProcessorPlan, Diagnostics> {
    compile_routes(src, statements, processor::compile).map(|routes| ProcessorPlan { routes })
}

/// Compiles each of `statements` (parsed from `src`) with `compile_route` (one connector's
/// route compiler), in order: the routes when all compile, or the diagnostics of every failing
/// statement and of every exact repeat of an earlier statement (a conflicting route), in source
/// order.
fn compile_routes<R>(
    src: &str,
    statements: &[Statement],
    compile_route: fn(usize, &Statement) -> Result<R, Vec<Failure>>,
) -> Result<Vec<R>, Diagnostics> {
    let mut routes = Vec::new();
    let mut failures: Vec<(usize, Failure)> = Vec::new();
    for (i, s) in statements.iter().enumerate() {
        match compile_route(i, s) {
            Ok(r) => routes.push(r),
            Err(f) => failures.extend(f.into_iter().map(|f| (i, f))),
        }
    }
    for (i, s) in statements.iter().enumerate() {
        if let Some(j) = statements[..i].iter().position(|e| e == s) {
            failures.push((
                i,
                Failure::new(
                    ErrorKind::DuplicateRoute { other: j + 1 },
                    s.spans.statement,
                )
                .help("remove one of the two statements"),
            ));
        }
    }
    if failures.is_empty() {
        return Ok(routes);
    }
    let text: Arc<str> = Arc::from(src);
    let mut errors: Vec<Diagnostic> = failures
        .into_iter()
        .map(|(i, f)| {
            let mut d = f.into_diagnostic(text.clone());
            if statements.len() > 1 {
                d.statement = Some(StatementRef {
                    index: i + 1,
                    preview: preview(&statements[i]),
                });
            }
            d
        })
        .collect();
    errors.sort_by_key(|d| d.span.start);
    Err(Diagnostics(errors))
}

/// The distinct `items`, in first-use order.
fn distinct<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// The first words of a statement's canonical form.
fn preview(stmt: &Statement) -> String {
    let text = stmt.to_string();
    let words: Vec<&str> = text.split_whitespace().take(5).collect();
    let mut p = words.join(" ");
    if text.split_whitespace().count() > 5 {
        p.push_str(" …");
    }
    p
}

/// Errors for every clause of `stmt` outside `allowed`, with a connector-specific hint.
fn unsupported_clauses(
    stmt: &Statement,
    connector: Connector,
    allowed: &[ClauseKind],
    hint: impl Fn(ClauseKind) -> Option<&'static str>,
    out: &mut Vec<Failure>,
) {
    for clause in ClauseKind::ALL {
        if allowed.contains(&clause) {
            continue;
        }
        if let Some(span) = stmt.spans.clause(clause) {
            let f = Failure::new(
                ErrorKind::UnsupportedClause {
                    clause: clause.keyword(),
                    connector: connector.name(),
                },
                span,
            );
            out.push(match hint(clause) {
                Some(h) => f.help(h),
                None => f.help(format!(
                    "remove it: {} has no meaning for the {} connector",
                    clause.keyword(),
                    connector.name()
                )),
            });
        }
    }
}

/// Errors for every `PROPERTIES` key outside `known`.
fn unsupported_properties(
    stmt: &Statement,
    connector: Connector,
    known: &[&str],
    out: &mut Vec<Failure>,
) {
    let span = stmt
        .spans
        .clause(ClauseKind::Properties)
        .unwrap_or_default();
    for (k, _) in &stmt.properties {
        if !known.contains(&k.as_str()) {
            let f = Failure::new(
                ErrorKind::UnsupportedProperty {
                    key: k.clone(),
                    connector: connector.name(),
                },
                span,
            );
            out.push(if known.is_empty() {
                f.help("this connector takes no KCQL properties")
            } else {
                f.help(format!("known properties: {}", known.join(", ")))
            });
        }
    }
}

/// Errors for aggregates in a connector that does not aggregate.
fn no_aggregates(stmt: &Statement, connector: Connector, out: &mut Vec<Failure>) {
    for item in &stmt.select {
        if field::has_aggregate(&item.expr) {
            out.push(
                Failure::new(
                    ErrorKind::AggregatesNotSupported {
                        connector: connector.name(),
                    },
                    item.span,
                )
                .help("aggregations run in the window processor (--connector processor)"),
            );
        }
    }
}

/// The error for a select-only statement on a connector that needs `INSERT INTO <target>`.
fn missing_target(s: &Statement, connector: Connector) -> Failure {
    Failure::new(
        ErrorKind::MissingTarget {
            connector: connector.name(),
        },
        s.spans.statement,
    )
}

/// Records an error at `span` when `name` is not a valid Kafka topic name.
fn kafka_topic(name: &str, span: crate::span::Span, out: &mut Vec<Failure>) {
    if let Err(reason) = check_kafka_topic(name) {
        out.push(Failure::new(
            ErrorKind::InvalidKafkaTopic {
                name: name.to_string(),
                reason,
            },
            span,
        ));
    }
}

/// Where a record's time comes from, for the InfluxDB sink (point time) and the window
/// processor (event time): `WITHTIMESTAMP` field (with `TIMESTAMPUNIT`), `sys_time()`, or the
/// Kafka record timestamp when absent.
fn time_source(s: &Statement) -> TimestampPlan {
    match &s.timestamp {
        None => TimestampPlan::RecordTimestamp,
        Some(crate::ast::TimestampSource::SysTime) => TimestampPlan::ProcessingTime,
        Some(crate::ast::TimestampSource::Field(p)) => TimestampPlan::Field {
            field: resolve(p),
            unit: s.timestamp_unit_or_default(),
        },
    }
}

/// A Kafka topic name check: 1–249 characters from `[A-Za-z0-9._-]`, not `.` or `..`.
fn check_kafka_topic(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.len() > 249 {
        return Err("it is longer than 249 characters");
    }
    if name == "." || name == ".." {
        return Err("`.` and `..` are not allowed");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err("Kafka topic names may only contain letters, digits, `.`, `_` and `-`");
    }
    Ok(())
}

/// The output name of a select item: its alias (unquoted), or the last path element of a
/// plain column.
fn output_name(expr: &Expr, alias: Option<&Alias>) -> Option<String> {
    if let Some(a) = alias {
        return Some(match a {
            Alias::Name(n) | Alias::Quoted(n) => n.clone(),
        });
    }
    match expr {
        Expr::Column(p) => Some(resolve(p).last_name()),
        _ => None,
    }
}

/// The projection of a select list (shared by the MQTT source and the InfluxDB sink), with the
/// reference's rules: `_key` items first, IGNORE removes explicit items with the same path and,
/// like aliasing a member, removes the last path element from every `*` expansion.
fn projection(stmt: &Statement, out: &mut Vec<Failure>) -> Vec<ProjectionItem> {
    let ignored: Vec<FieldRef> = stmt
        .ignore
        .iter()
        .filter(|c| !c.path.wildcard)
        .map(|c| resolve(&c.path))
        .collect();
    let mut exclude: Vec<String> = ignored
        .iter()
        .filter_map(|f| f.path.last().cloned())
        .collect();
    for item in &stmt.select {
        if let (Expr::Column(p), Some(_)) = (&item.expr, &item.alias) {
            if !p.wildcard {
                if let Some(last) = resolve(p).path.last() {
                    exclude.push(last.clone());
                }
            }
        }
    }
    exclude.sort();
    exclude.dedup();
    let mut keys = Vec::new();
    let mut values = Vec::new();
    for item in &stmt.select {
        let (is_key, projected) = match &item.expr {
            Expr::Column(p) if p.wildcard => {
                let from = resolve(&ColumnPath::new(p.segments.clone()));
                let is_key = from.part == field::RecordPart::Key;
                (
                    is_key,
                    Some(ProjectionItem::Expand {
                        from,
                        exclude: exclude.clone(),
                    }),
                )
            }
            Expr::Column(p) => {
                let field = resolve(p);
                if ignored.contains(&field) {
                    (false, None)
                } else {
                    let is_key = field.part == field::RecordPart::Key;
                    let name = output_name(&item.expr, item.alias.as_ref()).unwrap_or_default();
                    (
                        is_key,
                        Some(ProjectionItem::Field {
                            name,
                            value: PlanExpr::Field { field },
                        }),
                    )
                }
            }
            Expr::String { value } if value == "*" => (
                false,
                Some(ProjectionItem::Expand {
                    from: FieldRef::value(Vec::<String>::new()),
                    exclude: exclude.clone(),
                }),
            ),
            // A string column without a name selects nothing (as in the reference).
            Expr::String { .. } if item.alias.is_none() => (false, None),
            e => match output_name(e, item.alias.as_ref()) {
                Some(name) => (
                    false,
                    Some(ProjectionItem::Field {
                        name,
                        value: field::resolve_scalar(e),
                    }),
                ),
                None => {
                    out.push(Failure::new(ErrorKind::ComputedNeedsAlias, item.span));
                    (false, None)
                }
            },
        };
        if let Some(p) = projected {
            if is_key {
                keys.push(p);
            } else {
                values.push(p);
            }
        }
    }
    keys.extend(values);
    keys
}

/// `true` when the select list is exactly `*`.
fn is_select_star(stmt: &Statement) -> bool {
    stmt.ignore.is_empty()
        && matches!(stmt.select.as_slice(), [item] if item.alias.is_none() && matches!(&item.expr, Expr::Column(p) if p.is_star()))
}
