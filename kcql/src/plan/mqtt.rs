//! The MQTT source's plan: MQTT topic filter → Kafka topic, key and payload handling.

use super::field::{resolve, resolve_scalar, FieldRef, PlanExpr};
use super::topic_filter::{sanitize_topic, TopicFilter};
use super::{
    distinct, is_select_star, kafka_topic, missing_target, no_aggregates, projection,
    unsupported_clauses, unsupported_properties, Connector, ProjectionItem,
};
use crate::ast::{ColumnPath, Head, Statement};
use crate::diag::{ErrorKind, Failure};
use crate::keyword::ClauseKind;
use serde::{Deserialize, Serialize};

/// Routes from MQTT topic filters to Kafka topics. A message is handled by every route whose
/// filter (or `WITHREGEX`) matches its topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MqttPlan {
    /// The routes, in statement order.
    pub routes: Vec<MqttRoute>,
}

impl MqttPlan {
    /// The distinct subscriptions (filters as written, `$share/…` included), in first-use order.
    pub fn subscriptions(&self) -> Vec<&str> {
        distinct(self.routes.iter().map(|r| r.filter.subscription.as_str()))
    }
}

/// One statement's route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MqttRoute {
    /// Index of the statement it came from.
    pub statement: usize,
    /// The subscription and matcher.
    pub filter: TopicFilter,
    /// `WITHREGEX`: when set, a message's topic must match this regular expression (whole
    /// topic) instead of the filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// The Kafka topic written.
    pub target: KafkaTarget,
    /// How the payload is decoded.
    pub converter: Converter,
    /// The Kafka record key.
    pub key: MessageKey,
    /// `WHERE` on JSON payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_expr: Option<PlanExpr>,
    /// The projection of JSON payloads; `None` passes the payload through unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection: Option<Vec<ProjectionItem>>,
}

/// The Kafka topic of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "topic", rename_all = "snake_case")]
pub enum KafkaTarget {
    /// A fixed topic.
    Static(String),
    /// A name containing `$`, replaced by the sanitised MQTT topic (`$` alone: `/a/b` → `a_b`).
    FromMqttTopic(String),
}

impl KafkaTarget {
    /// The Kafka topic for a message on `mqtt_topic`.
    pub fn topic_for(&self, mqtt_topic: &str) -> String {
        match self {
            KafkaTarget::Static(t) => t.clone(),
            KafkaTarget::FromMqttTopic(template) => {
                template.replace('$', &sanitize_topic(mqtt_topic))
            }
        }
    }
}

/// How MQTT payloads are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Converter {
    /// Pass the bytes through (the default when the statement reads no fields).
    Bytes,
    /// Validate as JSON (bad JSON is handled by the error policy); enables WITHKEY, WHERE and
    /// projections, and is the default when the statement uses them.
    Json,
    /// Avro with a schema configured per source.
    Avro,
}

impl Converter {
    const KNOWN: &'static str = "bytes, json, avro (or Stream Reactor's BytesConverter, JsonSimpleConverter, JsonOptNullConverter, JsonPassThroughConverter, JsonConverterWithSchemaEvolution, AvroConverter)";

    /// The converter for a `WITHCONVERTER` value: a short name or a Stream Reactor class name.
    pub fn from_name(name: &str) -> Option<Converter> {
        let simple = name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase();
        Some(match simple.as_str() {
            "bytes" | "bytesconverter" => Converter::Bytes,
            "json"
            | "jsonsimpleconverter"
            | "jsonoptnullconverter"
            | "jsonpassthroughconverter"
            | "jsonconverterwithschemaevolution" => Converter::Json,
            "avro" | "avroconverter" => Converter::Avro,
            _ => return None,
        })
    }
}

/// The Kafka key of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MessageKey {
    /// No WITHKEY: the MQTT topic, so each device's messages stay in one partition, in order.
    /// (The reference keyed by packet id, which collides.)
    MqttTopic,
    /// `WITHKEY(a, b.c) KEYDELIMITER = '|'`: the fields' string forms joined (nulls skipped).
    Fields {
        /// The fields.
        fields: Vec<FieldRef>,
        /// The separator (default `.`).
        delimiter: String,
    },
}

const ALLOWED: &[ClauseKind] = &[
    ClauseKind::WithConverter,
    ClauseKind::WithKey,
    ClauseKind::KeyDelimiter,
    ClauseKind::WithRegex,
    ClauseKind::Where,
    ClauseKind::Ignore,
    ClauseKind::Properties,
];

fn hint(c: ClauseKind) -> Option<&'static str> {
    Some(match c {
        ClauseKind::WithTag
        | ClauseKind::WithTimestamp
        | ClauseKind::TimestampUnit
        | ClauseKind::WithRetention => {
            "this clause belongs to the InfluxDB sink (--connector influx)"
        }
        ClauseKind::GroupBy | ClauseKind::Window => {
            "aggregations run in the window processor (--connector processor)"
        }
        ClauseKind::Pk => "the Kafka key comes from WITHKEY(…)",
        ClauseKind::WithFormat => "did you mean WITHCONVERTER = `json`?",
        _ => return None,
    })
}

pub(super) fn compile(index: usize, s: &Statement) -> Result<MqttRoute, Vec<Failure>> {
    let connector = Connector::MqttSource;
    let mut errors = Vec::new();
    let target = match &s.head {
        Head::Insert { target, .. } if target.contains('$') => {
            KafkaTarget::FromMqttTopic(target.clone())
        }
        Head::Insert { target, .. } => {
            kafka_topic(target, s.spans.target, &mut errors);
            KafkaTarget::Static(target.clone())
        }
        Head::Select => {
            errors.push(
                missing_target(s, connector)
                    .help("write INSERT INTO <kafka_topic> SELECT * FROM <mqtt_filter>; INTO `$` names the topic after the MQTT topic"),
            );
            KafkaTarget::Static(String::new())
        }
    };
    let filter = match TopicFilter::parse(&s.source) {
        Ok(f) => Some(f),
        Err(e) => {
            errors.push(Failure::new(
                ErrorKind::InvalidTopicFilter {
                    filter: s.source.clone(),
                    reason: e.to_string(),
                },
                s.spans.source,
            ));
            None
        }
    };
    unsupported_clauses(s, connector, ALLOWED, hint, &mut errors);
    unsupported_properties(s, connector, &[], &mut errors);
    no_aggregates(s, connector, &mut errors);
    // Without WITHCONVERTER, payloads pass through as bytes, unless the statement reads fields
    // (WITHKEY, WHERE, a projection): then they are JSON, which is what the pipeline's
    // `SELECT * FROM /sensors/+ WITHKEY(id)` means.
    let reads_fields = s.with_key.is_some() || s.where_clause.is_some() || !is_select_star(s);
    let converter = match &s.converter {
        None if reads_fields => Converter::Json,
        None => Converter::Bytes,
        Some(name) => Converter::from_name(name).unwrap_or_else(|| {
            errors.push(Failure::new(
                ErrorKind::UnknownConverter {
                    name: name.clone(),
                    known: Converter::KNOWN,
                },
                s.spans
                    .clause(ClauseKind::WithConverter)
                    .unwrap_or_default(),
            ));
            Converter::Bytes
        }),
    };
    let key = match &s.with_key {
        None => MessageKey::MqttTopic,
        Some(keys) => MessageKey::Fields {
            // The reference splits a backticked `a.b` into a path.
            fields: keys
                .iter()
                .map(|k| {
                    resolve(&ColumnPath::new(
                        k.segments.iter().flat_map(|seg| seg.split('.')),
                    ))
                })
                .collect(),
            delimiter: s.key_delimiter_or_default().to_string(),
        },
    };
    if s.key_delimiter.is_some() && s.with_key.is_none() {
        errors.push(Failure::new(
            ErrorKind::MissingDependency {
                clause: "KEYDELIMITER",
                needs: "WITHKEY(…)",
            },
            s.spans.clause(ClauseKind::KeyDelimiter).unwrap_or_default(),
        ));
    }
    let projection = (!is_select_star(s)).then(|| projection(s, &mut errors));
    let filter_expr = s.where_clause.as_ref().map(resolve_scalar);
    let needs_structure = [
        (ClauseKind::WithKey, s.with_key.is_some()),
        (ClauseKind::Where, filter_expr.is_some()),
    ];
    if converter == Converter::Bytes {
        for (clause, used) in needs_structure {
            if used {
                errors.push(
                    Failure::new(
                        ErrorKind::MissingDependency {
                            clause: clause.keyword(),
                            needs: "a structured payload (WITHCONVERTER = `json` or `avro`)",
                        },
                        s.spans.clause(clause).unwrap_or_default(),
                    )
                    .help("add WITHCONVERTER = `json`"),
                );
            }
        }
        if projection.is_some() {
            errors.push(
                Failure::new(
                    ErrorKind::MissingDependency {
                        clause: "a projection",
                        needs: "a structured payload (WITHCONVERTER = `json` or `avro`)",
                    },
                    s.select.first().map(|i| i.span).unwrap_or_default(),
                )
                .help("add WITHCONVERTER = `json`, or SELECT * to pass payloads through"),
            );
        }
    }
    match (errors.is_empty(), filter) {
        (true, Some(filter)) => Ok(MqttRoute {
            statement: index,
            filter,
            regex: s.regex.clone(),
            target,
            converter,
            key,
            filter_expr,
            projection,
        }),
        _ => Err(errors),
    }
}
