//! The InfluxDB sink's plan: Kafka topic → measurement, fields, tags, time.

use super::field::{resolve, resolve_scalar, FieldRef, PlanExpr};
use super::{
    distinct, missing_target, no_aggregates, projection, time_source, unsupported_clauses,
    unsupported_properties, Connector, ProjectionItem,
};
use crate::ast::{Duration, Head, Retention, Statement, TagKind, TimeUnit, WriteMode};
use crate::diag::{ErrorKind, Failure};
use crate::keyword::ClauseKind;
use serde::{Deserialize, Serialize};

/// Routes from Kafka topics to InfluxDB measurements. A topic may feed several routes (one
/// point per route per record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfluxPlan {
    /// The routes, in statement order.
    pub routes: Vec<InfluxRoute>,
}

impl InfluxPlan {
    /// The distinct source topics, in first-use order.
    pub fn topics(&self) -> Vec<&str> {
        distinct(self.routes.iter().map(|r| r.topic.as_str()))
    }

    /// The routes fed by `topic`.
    pub fn routes_for<'a>(&'a self, topic: &'a str) -> impl Iterator<Item = &'a InfluxRoute> + 'a {
        self.routes.iter().filter(move |r| r.topic == topic)
    }
}

/// One statement's route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfluxRoute {
    /// Index of the statement it came from.
    pub statement: usize,
    /// The Kafka topic read.
    pub topic: String,
    /// The measurement written.
    pub measurement: Measurement,
    /// The point's fields.
    pub fields: Vec<ProjectionItem>,
    /// The point's tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagPlan>,
    /// The point's time.
    pub timestamp: TimestampPlan,
    /// `WHERE`: records for which it is not true are skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<PlanExpr>,
    /// `WITHRETENTION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionPlan>,
    /// `AUTOCREATE`: create the database (and the retention policy) when missing.
    pub autocreate: bool,
}

impl InfluxRoute {
    /// Whether a point of this route depends on the processing time: `WITHTIMESTAMP
    /// sys_time()`, or `now()` in the `WHERE` condition or a projected field. Otherwise the
    /// route's points are the same whatever the clock says.
    pub fn uses_processing_time(&self) -> bool {
        let now = crate::functions::Function::Now;
        self.timestamp == TimestampPlan::ProcessingTime
            || self.filter.as_ref().is_some_and(|f| f.calls(now))
            || self.fields.iter().any(|item| match item {
                ProjectionItem::Field { value, .. } => value.calls(now),
                ProjectionItem::Expand { .. } => false,
            })
    }
}

/// Where the measurement name comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Measurement {
    /// `INSERT INTO m`.
    Static {
        /// The name.
        name: String,
    },
    /// `WITHTARGET = a.b`: the value at `field`, or `fallback` when it is absent or null.
    Field {
        /// Where the name is read.
        field: FieldRef,
        /// The `INSERT INTO` name.
        fallback: String,
    },
}

/// One tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TagPlan {
    /// `WITHTAG(f)` / `WITHTAG(f AS t)`: the string form of a field; omitted when absent or null.
    Field {
        /// The tag key.
        key: String,
        /// Where the value is read.
        field: FieldRef,
    },
    /// `WITHTAG(k = v)`.
    Constant {
        /// The tag key.
        key: String,
        /// The value.
        value: String,
    },
}

/// Where a point's time comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimestampPlan {
    /// No `WITHTIMESTAMP`: the Kafka record's timestamp (milliseconds). This is the default
    /// because it makes replays harmless: a re-delivered record gets the same time and
    /// overwrites its point instead of adding a duplicate (the reference used the wall clock).
    RecordTimestamp,
    /// `WITHTIMESTAMP sys_time()`: the wall clock when the record is processed (nanoseconds).
    ProcessingTime,
    /// `WITHTIMESTAMP f`: the field's value (integers in `unit`, ISO-8601 strings, or floats in
    /// `unit`).
    Field {
        /// Where the time is read.
        field: FieldRef,
        /// `TIMESTAMPUNIT` (default milliseconds).
        unit: TimeUnit,
    },
}

/// `WITHRETENTION`: which retention policy (InfluxDB 1.x) or bucket (v2) points go to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPlan {
    /// The policy name (for `WITHRETENTION = 30d`, the name `30d`).
    pub policy: String,
    /// With `AUTOCREATE` and a duration form: create the policy with this duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_with_duration: Option<Duration>,
}

const ALLOWED: &[ClauseKind] = &[
    ClauseKind::Ignore,
    ClauseKind::WithTarget,
    ClauseKind::WithTimestamp,
    ClauseKind::TimestampUnit,
    ClauseKind::WithTag,
    ClauseKind::Where,
    ClauseKind::WithRetention,
    ClauseKind::Autocreate,
    ClauseKind::Properties,
];

fn hint(c: ClauseKind) -> Option<&'static str> {
    Some(match c {
        ClauseKind::Pk => "did you mean WITHTAG? InfluxDB has no primary keys: a series is identified by its measurement and tags",
        ClauseKind::GroupBy | ClauseKind::Window => "aggregations run in the window processor (--connector processor); sink its output topic",
        ClauseKind::WithKey | ClauseKind::KeyDelimiter => "WITHKEY sets the Kafka key in the MQTT source; for InfluxDB use WITHTAG",
        ClauseKind::Batch => "set the batch size in the connector configuration (connect.influx.batch.size)",
        ClauseKind::WithFormat | ClauseKind::WithConverter => "the payload format is set in the connector configuration",
        ClauseKind::PartitionBy | ClauseKind::NoPartition => "InfluxDB partitions by measurement and tags; did you mean WITHTAG?",
        _ => return None,
    })
}

pub(super) fn compile(index: usize, s: &Statement) -> Result<InfluxRoute, Vec<Failure>> {
    let connector = Connector::InfluxSink;
    let mut errors = Vec::new();
    let measurement = match &s.head {
        Head::Insert {
            mode: WriteMode::Insert | WriteMode::Upsert,
            target,
        } => target.clone(),
        Head::Insert {
            mode: WriteMode::LegacyUpsertPk(_),
            target,
        } => {
            errors.push(
                Failure::new(
                    ErrorKind::UnsupportedWriteMode {
                        mode: "UPSERT PK … INTO",
                        connector: connector.name(),
                    },
                    s.spans.statement,
                )
                .help("write INSERT INTO <measurement>; InfluxDB identifies points by measurement, tags and time"),
            );
            target.clone()
        }
        Head::Select => {
            errors.push(
                missing_target(s, connector).help("write INSERT INTO <measurement> SELECT …"),
            );
            String::new()
        }
    };
    unsupported_clauses(s, connector, ALLOWED, hint, &mut errors);
    unsupported_properties(s, connector, &[], &mut errors);
    no_aggregates(s, connector, &mut errors);
    let fields = projection(s, &mut errors);
    let measurement = match &s.dynamic_target {
        Some(path) => Measurement::Field {
            field: resolve(path),
            fallback: measurement,
        },
        None => Measurement::Static { name: measurement },
    };
    let tags = s
        .tags
        .iter()
        .flatten()
        .map(|t| match &t.kind {
            TagKind::Field => TagPlan::Field {
                key: t.key.dotted(),
                field: resolve(&t.key),
            },
            TagKind::Alias(name) => TagPlan::Field {
                key: crate::parse::unescape(name).to_string(),
                field: resolve(&t.key),
            },
            TagKind::Constant(v) => TagPlan::Constant {
                key: t.key.dotted(),
                value: crate::parse::unescape(v).to_string(),
            },
        })
        .collect();
    let timestamp = time_source(s);
    let retention = s.retention.as_ref().map(|r| match r {
        Retention::Policy(p) => RetentionPlan {
            policy: p.clone(),
            create_with_duration: None,
        },
        Retention::Duration(d) => RetentionPlan {
            policy: d.to_string(),
            create_with_duration: s.autocreate.then_some(*d),
        },
    });
    if errors.is_empty() {
        Ok(InfluxRoute {
            statement: index,
            topic: s.source.clone(),
            measurement,
            fields,
            tags,
            timestamp,
            filter: s.where_clause.as_ref().map(resolve_scalar),
            retention,
            autocreate: s.autocreate,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_using_the_processing_time_are_recognised() {
        let uses =
            |kcql: &str| crate::compile_influx(kcql).unwrap().routes[0].uses_processing_time();
        assert!(!uses(
            "INSERT INTO m SELECT * FROM t WITHTIMESTAMP ts WITHTAG(id)"
        ));
        assert!(!uses("INSERT INTO m SELECT a FROM t WHERE b > 1"));
        assert!(uses(
            "INSERT INTO m SELECT * FROM t WITHTIMESTAMP sys_time()"
        ));
        assert!(uses(
            "INSERT INTO m SELECT a FROM t WHERE ts > now() - 1000"
        ));
        assert!(uses("INSERT INTO m SELECT a, now() AS seen FROM t"));
        assert!(uses(
            "INSERT INTO m SELECT a FROM t WHERE CAST(now() AS STRING) IN ('x', 'y')"
        ));
    }

    /// Tag keys and WITHTARGET paths as written in glued runs: dots outside backticks separate
    /// segments, backticks are removed, a leading dot gives an empty first segment.
    #[test]
    fn glued_paths_become_tag_keys_and_fields() {
        let plan = crate::compile_influx(
            "INSERT INTO m SELECT * FROM t WITHTARGET = `a.b`.c \
             WITHTAG (`x.y`.z, .lead, `q`r = 1, _key.k AS `kk`)",
        )
        .unwrap();
        let route = &plan.routes[0];
        assert_eq!(
            route.measurement,
            Measurement::Field {
                field: FieldRef::value(["a.b", "c"]),
                fallback: "m".into(),
            }
        );
        assert_eq!(
            route.tags,
            [
                TagPlan::Field {
                    key: "x.y.z".into(),
                    field: FieldRef::value(["x.y", "z"]),
                },
                TagPlan::Field {
                    key: ".lead".into(),
                    field: FieldRef::value(["", "lead"]),
                },
                TagPlan::Constant {
                    key: "qr".into(),
                    value: "1".into(),
                },
                TagPlan::Field {
                    key: "kk".into(),
                    field: resolve(&crate::ast::ColumnPath::new(["_key", "k"])),
                },
            ]
        );
    }
}
