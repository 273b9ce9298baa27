//! The window processor's plan: Kafka topic → per-group windowed aggregates → Kafka topic.

use super::field::{has_aggregate, resolve, resolve_expr, resolve_scalar, FieldRef, PlanExpr};
use super::{
    kafka_topic, missing_target, output_name, time_source, unsupported_clauses,
    unsupported_properties, Connector, ProjectionItem,
};
use crate::ast::{Expr, Head, Statement, Window};
use crate::diag::{ErrorKind, Failure};
use crate::functions::Function;
use crate::keyword::ClauseKind;
use serde::{Deserialize, Serialize};

/// Window routes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessorPlan {
    /// The routes, in statement order.
    pub routes: Vec<WindowRoute>,
}

/// One statement's route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowRoute {
    /// Index of the statement it came from.
    pub statement: usize,
    /// The Kafka topic read.
    pub source: String,
    /// The Kafka topic written.
    pub target: String,
    /// What records are grouped by (empty: one group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<GroupKey>,
    /// The window shape and grace.
    pub window: Window,
    /// The aggregates computed per group and window.
    pub aggregates: Vec<AggregatePlan>,
    /// The output fields, in select-list order (group fields and expressions over aggregates);
    /// every output record also has `window_start` and `window_end`.
    pub outputs: Vec<ProjectionItem>,
    /// `WHERE`, applied before aggregation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<PlanExpr>,
    /// Where a record's event time comes from.
    pub event_time: EventTime,
}

/// A grouping key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupKey {
    /// The output name.
    pub name: String,
    /// Where the value is read.
    pub field: FieldRef,
}

/// One aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggregatePlan {
    /// The aggregate function.
    pub function: Function,
    /// Its argument; `None` for `count(*)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arg: Option<PlanExpr>,
}

/// Where a record's event time comes from: the same choices as an InfluxDB point's time
/// (`WITHTIMESTAMP` field, `sys_time()` for processing time, else the Kafka record timestamp).
pub type EventTime = super::influx::TimestampPlan;

const ALLOWED: &[ClauseKind] = &[
    ClauseKind::Where,
    ClauseKind::GroupBy,
    ClauseKind::Window,
    ClauseKind::WithTimestamp,
    ClauseKind::TimestampUnit,
    ClauseKind::Properties,
];

fn hint(c: ClauseKind) -> Option<&'static str> {
    Some(match c {
        ClauseKind::WithTag | ClauseKind::WithRetention => {
            "this clause belongs to the InfluxDB sink (--connector influx)"
        }
        ClauseKind::WithKey | ClauseKind::KeyDelimiter => "the output key is the GROUP BY key",
        ClauseKind::Pk => "did you mean GROUP BY?",
        ClauseKind::Ignore => "name the output fields in the select list instead",
        _ => return None,
    })
}

/// The default output name of an aggregate: `min_temperature`, `count`.
fn aggregate_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Call { name, args } => {
            let f = Function::from_name(name)?;
            match args.first() {
                Some(Expr::Column(p)) if !p.wildcard => {
                    Some(format!("{}_{}", f.name(), resolve(p).last_name()))
                }
                Some(Expr::Column(_)) | None => Some(f.name().to_string()),
                Some(_) => None,
            }
        }
        _ => None,
    }
}

pub(super) fn compile(index: usize, s: &Statement) -> Result<WindowRoute, Vec<Failure>> {
    let connector = Connector::WindowProcessor;
    let mut errors = Vec::new();
    let target = match &s.head {
        Head::Insert { target, .. } => {
            kafka_topic(target, s.spans.target, &mut errors);
            target.clone()
        }
        Head::Select => {
            errors.push(
                missing_target(s, connector)
                    .help("write INSERT INTO <kafka_topic> SELECT … GROUP BY … WINDOW …"),
            );
            String::new()
        }
    };
    kafka_topic(&s.source, s.spans.source, &mut errors);
    unsupported_clauses(s, connector, ALLOWED, hint, &mut errors);
    unsupported_properties(s, connector, &[], &mut errors);
    // Parsed statements passed this check already; statements built in code have not.
    if let Err(f) = crate::validate::check_window(s) {
        errors.push(f);
    }
    let Some(window) = s.window else {
        errors.push(
            Failure::new(ErrorKind::NoAggregates, s.spans.statement)
                .help("e.g. INSERT INTO avg SELECT id, avg(t) AS t FROM readings GROUP BY id WINDOW TUMBLING(2s)"),
        );
        return Err(errors);
    };
    let mut aggregates: Vec<AggregatePlan> = Vec::new();
    let mut outputs = Vec::new();
    for item in &s.select {
        let name = if has_aggregate(&item.expr) && item.alias.is_none() {
            aggregate_name(&item.expr)
        } else {
            output_name(&item.expr, item.alias.as_ref())
        };
        let Some(name) = name else {
            errors.push(Failure::new(ErrorKind::ComputedNeedsAlias, item.span));
            continue;
        };
        let value = resolve_expr(&item.expr, &mut |call| {
            let (function, arg) = match call {
                Expr::Call { name, args } => (
                    Function::from_name(name).unwrap_or(Function::Count),
                    args.first()
                        .filter(|a| !matches!(a, Expr::Column(p) if p.is_star()))
                        .map(resolve_scalar),
                ),
                _ => (Function::Count, None),
            };
            let plan = AggregatePlan { function, arg };
            match aggregates.iter().position(|a| *a == plan) {
                Some(i) => i,
                None => {
                    aggregates.push(plan);
                    aggregates.len() - 1
                }
            }
        });
        outputs.push(ProjectionItem::Field { name, value });
    }
    let group_by = s
        .group_by
        .iter()
        .map(|p| {
            let field = resolve(p);
            GroupKey {
                name: field.last_name(),
                field,
            }
        })
        .collect();
    let event_time = time_source(s);
    if errors.is_empty() {
        Ok(WindowRoute {
            statement: index,
            source: s.source.clone(),
            target,
            group_by,
            window,
            aggregates,
            outputs,
            filter: s.where_clause.as_ref().map(resolve_scalar),
            event_time,
        })
    } else {
        Err(errors)
    }
}
