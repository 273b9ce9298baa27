//! `kcql explain`: a plan as readable text, or as a topology graph (sources → routes → targets)
//! in Graphviz DOT or Mermaid. (JSON is the plan's serde form.)

use super::field::{LikePattern, PlanExpr};
use super::influx::{Measurement, TagPlan, TimestampPlan};
use super::mqtt::{KafkaTarget, MessageKey};
use super::{distinct, Plan, ProjectionItem};
use crate::ast::{Literal, UnaryOp};
use std::fmt::{self, Display, Write};

/// How to render a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplainFormat {
    /// Readable text.
    Text,
    /// Graphviz DOT.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

impl Display for PlanExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanExpr::Field { field } => field.fmt(f),
            PlanExpr::Literal {
                value: Literal::Int(n),
            } => write!(f, "{n}"),
            PlanExpr::Literal { value } => value.fmt(f),
            PlanExpr::String { value } => write!(f, "'{value}'"),
            PlanExpr::Call { function, args } => {
                write!(f, "{}({})", function.name(), comma_separated(args))
            }
            PlanExpr::Aggregate { index } => write!(f, "aggregate#{}", index + 1),
            PlanExpr::Unary {
                op: UnaryOp::Neg,
                expr,
            } => write!(f, "-({expr})"),
            PlanExpr::Unary {
                op: UnaryOp::Not,
                expr,
            } => write!(f, "NOT ({expr})"),
            PlanExpr::Binary { op, left, right } => write!(f, "({left} {} {right})", op.symbol()),
            PlanExpr::IsNull { expr, negated } => {
                write!(f, "{expr} IS {}NULL", if *negated { "NOT " } else { "" })
            }
            PlanExpr::InList {
                expr,
                list,
                negated,
            } => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{expr} {not}IN ({})", comma_separated(list))
            }
            PlanExpr::Like {
                expr,
                pattern: LikePattern { source, .. },
                negated,
            } => write!(
                f,
                "{expr} {}LIKE '{source}'",
                if *negated { "NOT " } else { "" }
            ),
            PlanExpr::Cast { expr, to } => write!(f, "CAST({expr} AS {})", to.name()),
        }
    }
}

/// `items`, each displayed, separated by `, `.
fn comma_separated<T: Display>(items: impl IntoIterator<Item = T>) -> String {
    let mut out = String::new();
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{item}");
    }
    out
}

/// Where a route's time comes from: the record's, the processing time, or a field (with its
/// unit).
fn time_text(time: &TimestampPlan) -> String {
    match time {
        TimestampPlan::RecordTimestamp => "Kafka record timestamp".to_string(),
        TimestampPlan::ProcessingTime => "processing time".to_string(),
        TimestampPlan::Field { field, unit } => {
            format!("{field} ({})", unit.name().to_lowercase())
        }
    }
}

/// A projection as a select list: `*`, `a.* except b`, `name = expr` …
fn projection_text(items: &[ProjectionItem]) -> String {
    comma_separated(items.iter().map(|p| match p {
        ProjectionItem::Expand { from, exclude } => {
            let root = if from.path.is_empty() && from.part == super::RecordPart::Value {
                "*".to_string()
            } else {
                format!("{from}.*")
            };
            if exclude.is_empty() {
                root
            } else {
                format!("{root} except {}", exclude.join(", "))
            }
        }
        ProjectionItem::Field { name, value } => match value {
            PlanExpr::Field { field } if field.last_name() == *name => field.to_string(),
            v => format!("{name} = {v}"),
        },
    }))
}

/// One route, for the topology graph and the text form.
struct RouteView {
    source: String,
    target: String,
    /// Short description for graph nodes.
    summary: String,
    /// `(label, value)` lines for the text form.
    details: Vec<(&'static str, String)>,
}

fn views(plan: &Plan) -> Vec<RouteView> {
    match plan {
        Plan::Influx(p) => p
            .routes
            .iter()
            .map(|r| {
                let target = match &r.measurement {
                    Measurement::Static { name } => format!("influx: {name}"),
                    Measurement::Field { field, fallback } => {
                        format!("influx: ${{{field}}} or {fallback}")
                    }
                };
                let tags: Vec<String> = r
                    .tags
                    .iter()
                    .map(|t| match t {
                        TagPlan::Field { key, field } if *key == field.to_string() => key.clone(),
                        TagPlan::Field { key, field } => format!("{key} = {field}"),
                        TagPlan::Constant { key, value } => format!("{key} = '{value}'"),
                    })
                    .collect();
                // The record's and the processing time are written in these precisions.
                let precision = match &r.timestamp {
                    TimestampPlan::RecordTimestamp => " (ms)",
                    TimestampPlan::ProcessingTime => " (ns)",
                    TimestampPlan::Field { .. } => "",
                };
                let time = format!("{}{precision}", time_text(&r.timestamp));
                let mut details = vec![
                    ("fields", projection_text(&r.fields)),
                    (
                        "tags",
                        if tags.is_empty() {
                            "none".into()
                        } else {
                            tags.join(", ")
                        },
                    ),
                    ("time", time),
                ];
                if let Some(w) = &r.filter {
                    details.push(("where", w.to_string()));
                }
                if let Some(ret) = &r.retention {
                    let create = ret
                        .create_with_duration
                        .map(|d| format!(" (created with duration {d})"))
                        .unwrap_or_default();
                    details.push(("retention", format!("{}{create}", ret.policy)));
                }
                if r.autocreate {
                    details.push(("autocreate", "database".into()));
                }
                RouteView {
                    source: format!("kafka: {}", r.topic),
                    target,
                    summary: format!(
                        "statement {}: {}",
                        r.statement + 1,
                        if tags.is_empty() {
                            "no tags".to_string()
                        } else {
                            format!("tags {}", tags.join(", "))
                        }
                    ),
                    details,
                }
            })
            .collect(),
        Plan::Mqtt(p) => p
            .routes
            .iter()
            .map(|r| {
                let target = match &r.target {
                    KafkaTarget::Static(t) => format!("kafka: {t}"),
                    KafkaTarget::FromMqttTopic(t) => format!("kafka: {t} ($ = MQTT topic)"),
                };
                let key = match &r.key {
                    MessageKey::MqttTopic => "the MQTT topic".to_string(),
                    MessageKey::Fields { fields, delimiter } => {
                        format!("{} joined by '{delimiter}'", comma_separated(fields))
                    }
                };
                let mut details = vec![
                    ("converter", format!("{:?}", r.converter).to_lowercase()),
                    ("key", key),
                    (
                        "payload",
                        r.projection
                            .as_deref()
                            .map_or("passed through".to_string(), projection_text),
                    ),
                ];
                if let Some(g) = &r.filter.share_group {
                    details.push(("shared", format!("group {g}")));
                }
                if let Some(re) = &r.regex {
                    details.push(("regex", re.clone()));
                }
                if let Some(w) = &r.filter_expr {
                    details.push(("where", w.to_string()));
                }
                RouteView {
                    source: format!("mqtt: {}", r.filter),
                    target,
                    summary: format!(
                        "statement {}: {}, key {}",
                        r.statement + 1,
                        format!("{:?}", r.converter).to_lowercase(),
                        match &r.key {
                            MessageKey::MqttTopic => "MQTT topic".to_string(),
                            MessageKey::Fields { fields, .. } => comma_separated(fields),
                        }
                    ),
                    details,
                }
            })
            .collect(),
        Plan::Processor(p) => p
            .routes
            .iter()
            .map(|r| {
                let group = if r.group_by.is_empty() {
                    "everything (one group)".to_string()
                } else {
                    comma_separated(r.group_by.iter().map(|g| &g.field))
                };
                let aggregates: Vec<String> = r
                    .aggregates
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        let arg = a.arg.as_ref().map_or("*".to_string(), |e| e.to_string());
                        format!("#{} {}({arg})", i + 1, a.function.name())
                    })
                    .collect();
                let grace = r.window.grace.map_or("0s".to_string(), |g| g.to_string());
                let mut details = vec![
                    ("group by", group),
                    ("window", format!("{} grace {grace}", r.window.kind_text())),
                    ("aggregates", aggregates.join(", ")),
                    (
                        "output",
                        format!("{}, window_start, window_end", projection_text(&r.outputs)),
                    ),
                    ("event time", time_text(&r.event_time)),
                ];
                if let Some(w) = &r.filter {
                    details.push(("where", w.to_string()));
                }
                RouteView {
                    source: format!("kafka: {}", r.source),
                    target: format!("kafka: {}", r.target),
                    summary: format!(
                        "statement {}: {} by {}, {} aggregate{}",
                        r.statement + 1,
                        r.window.kind_text(),
                        if r.group_by.is_empty() {
                            "all".to_string()
                        } else {
                            comma_separated(r.group_by.iter().map(|g| &g.name))
                        },
                        r.aggregates.len(),
                        if r.aggregates.len() == 1 { "" } else { "s" }
                    ),
                    details,
                }
            })
            .collect(),
    }
}

impl crate::ast::Window {
    /// `TUMBLING(2s)` / `HOPPING(10s, 2s)`.
    fn kind_text(&self) -> String {
        match self.kind {
            crate::ast::WindowKind::Tumbling { size } => format!("TUMBLING({size})"),
            crate::ast::WindowKind::Hopping { size, advance } => {
                format!("HOPPING({size}, {advance})")
            }
        }
    }
}

/// Distinct node labels in first-use order, with their ids.
fn nodes<'a>(labels: impl Iterator<Item = &'a str>, prefix: &str) -> Vec<(String, &'a str)> {
    distinct(labels)
        .into_iter()
        .enumerate()
        .map(|(i, l)| (format!("{prefix}{i}"), l))
        .collect()
}

/// The id of the node labelled `label` (empty when there is none).
fn id_of<'a>(nodes: &'a [(String, &str)], label: &str) -> &'a str {
    nodes
        .iter()
        .find(|(_, l)| *l == label)
        .map_or("", |(id, _)| id.as_str())
}

/// Each route's index with the ids of its source and target nodes.
fn edges<'a>(
    topics: &'a [(String, &str)],
    routes: &'a [RouteView],
) -> impl Iterator<Item = (usize, &'a str, &'a str)> {
    routes
        .iter()
        .enumerate()
        .map(|(i, r)| (i, id_of(topics, &r.source), id_of(topics, &r.target)))
}

/// Renders `plan` in `format`.
pub fn explain(plan: &Plan, format: ExplainFormat) -> String {
    let routes = views(plan);
    match format {
        ExplainFormat::Text => {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "{} plan: {} route{}",
                plan.connector(),
                routes.len(),
                if routes.len() == 1 { "" } else { "s" }
            );
            for (i, r) in routes.iter().enumerate() {
                let _ = writeln!(out, "\nroute {}: {} → {}", i + 1, r.source, r.target);
                for (label, value) in &r.details {
                    let _ = writeln!(out, "  {:<11} {value}", format!("{label}:"));
                }
            }
            out
        }
        ExplainFormat::Dot | ExplainFormat::Mermaid => graph(&routes, format),
    }
}

/// One topology graph for several plans (a whole pipeline): a topic written by one connector
/// and read by another is one node. Text format renders each plan in turn.
pub fn explain_pipeline(plans: &[Plan], format: ExplainFormat) -> String {
    match format {
        ExplainFormat::Text => plans
            .iter()
            .map(|p| explain(p, format))
            .collect::<Vec<_>>()
            .join("\n"),
        ExplainFormat::Dot | ExplainFormat::Mermaid => {
            let routes: Vec<RouteView> = plans
                .iter()
                .flat_map(|p| {
                    let connector = p.connector();
                    views(p).into_iter().map(move |mut r| {
                        r.summary = format!("{connector} {}", r.summary);
                        r
                    })
                })
                .collect();
            graph(&routes, format)
        }
    }
}

/// Sources and targets are nodes keyed by label (so a topic is one node), routes are nodes.
fn graph(routes: &[RouteView], format: ExplainFormat) -> String {
    let mut out = String::new();
    let topics = nodes(
        routes
            .iter()
            .flat_map(|r| [r.source.as_str(), r.target.as_str()]),
        "n",
    );
    match format {
        ExplainFormat::Dot => {
            let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
            out.push_str("digraph kcql {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
            for (id, label) in &topics {
                let _ = writeln!(out, "  {id} [shape=cylinder, label=\"{}\"];", esc(label));
            }
            for (i, r) in routes.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "  r{i} [shape=box, style=rounded, label=\"{}\"];",
                    esc(&r.summary)
                );
            }
            for (i, from, to) in edges(&topics, routes) {
                let _ = writeln!(out, "  {from} -> r{i} -> {to};");
            }
            out.push_str("}\n");
        }
        _ => {
            let esc = |s: &str| s.replace('"', "#quot;");
            out.push_str("flowchart LR\n");
            for (id, label) in &topics {
                let _ = writeln!(out, "  {id}[(\"{}\")]", esc(label));
            }
            for (i, r) in routes.iter().enumerate() {
                let _ = writeln!(out, "  r{i}[\"{}\"]", esc(&r.summary));
            }
            for (i, from, to) in edges(&topics, routes) {
                let _ = writeln!(out, "  {from} --> r{i} --> {to}");
            }
        }
    }
    out
}
