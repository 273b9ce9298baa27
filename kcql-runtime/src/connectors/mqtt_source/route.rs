//! Routing one MQTT message through the plan: which routes take it (topic filter or
//! `WITHREGEX`), and for each the Kafka record (topic, key, value, headers) or why it is a
//! poison message. Pure and synchronous, so the conformance runner and the connector share it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use kcql::plan::{Converter, MessageKey, MqttPlan, MqttRoute, PlanExpr, ProjectionItem};
use regex::Regex;
use thiserror::Error;

use crate::decode::{json, AvroSchema, DecodeError};
use crate::encode::json::write_json;
use crate::eval::{eval, is_true, lookup};
use crate::record::RecordView;
use crate::value::Value;

/// Header carrying the MQTT topic the message arrived on.
pub const HEADER_TOPIC: &str = "mqtt.topic";
/// Header carrying the QoS the message was delivered with (`0`, `1`, `2`).
pub const HEADER_QOS: &str = "mqtt.qos";
/// Header carrying the retain flag (`true`/`false`).
pub const HEADER_RETAIN: &str = "mqtt.retain";
/// Header carrying the DUP flag (`true`/`false`).
pub const HEADER_DUPLICATE: &str = "mqtt.duplicate";
/// Header carrying the MQTT packet identifier (`0` for QoS 0; reused by the broker).
pub const HEADER_MESSAGE_ID: &str = "mqtt.message.id";

/// An MQTT message as received.
#[derive(Debug, Clone, Copy)]
pub struct MqttMessage<'a> {
    /// The topic it was published to.
    pub topic: &'a str,
    /// The payload (MQTT has no null payload; it may be empty).
    pub payload: &'a [u8],
    /// Delivery QoS (0, 1, 2).
    pub qos: u8,
    /// Retain flag.
    pub retain: bool,
    /// DUP flag (a redelivery).
    pub dup: bool,
    /// Packet identifier (0 for QoS 0).
    pub pkid: u16,
    /// MQTT 5 user properties, in order.
    pub user_properties: &'a [(String, String)],
}

/// A record for Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaRecord {
    /// The Kafka topic.
    pub topic: String,
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// The headers, in order: the MQTT metadata, then MQTT 5 user properties.
    pub headers: Vec<(Cow<'static, str>, Vec<u8>)>,
}

impl KafkaRecord {
    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// What a route made of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// A record to write.
    Record(KafkaRecord),
    /// The `WHERE` clause was not true: nothing to write.
    Filtered,
}

/// Why a route cannot turn a message into a record (a poison message: retrying will not help).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PoisonError {
    /// The payload is not valid for the route's converter.
    #[error("payload does not decode: {0}")]
    Decode(#[from] DecodeError),
    /// A `WITHKEY` field is absent.
    #[error("key field `{0}` is missing")]
    MissingKeyField(String),
    /// A `WITHKEY` field is an object or array.
    #[error("key field `{field}` is a {kind}, not a scalar")]
    KeyNotScalar {
        /// The field.
        field: String,
        /// Its type.
        kind: &'static str,
    },
    /// A projection expands a field that is not an object.
    #[error("`{0}.*` is not an object")]
    NotAnObject(String),
    /// The Kafka topic derived from the MQTT topic is not a legal Kafka topic name.
    #[error("`{0}` is not a legal Kafka topic name")]
    BadTopic(String),
    /// The key or value cannot be written in the output format (it does not fit the Avro
    /// schema).
    #[error(transparent)]
    Encode(#[from] crate::encode::EncodeError),
}

impl PoisonError {
    /// The short, stable error class written to `__connect.errors.exception.class.name` on
    /// the dead-letter record (the InfluxDB sink names decoding failures the same way).
    pub fn class(&self) -> &'static str {
        match self {
            PoisonError::Decode(_) => "decode_error",
            PoisonError::MissingKeyField(_) => "missing_key_field",
            PoisonError::KeyNotScalar { .. } => "key_not_scalar",
            PoisonError::NotAnObject(_) => "not_an_object",
            PoisonError::BadTopic(_) => "bad_topic",
            PoisonError::Encode(e) => e.class(),
        }
    }
}

/// A plan that cannot be executed as configured.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RouterError {
    /// `WITHREGEX` does not compile.
    #[error(
        "statement {statement}: WITHREGEX `{regex}` is not a valid regular expression: {reason}"
    )]
    BadRegex {
        /// 1-based statement number.
        statement: usize,
        /// The expression.
        regex: String,
        /// The compiler's message.
        reason: String,
    },
    /// An Avro route without a configured schema.
    #[error("statement {statement}: the Avro converter needs a schema for `{filter}` (connect.source.converter.avro.schemas = {filter}=/path/schema.avsc)")]
    MissingAvroSchema {
        /// 1-based statement number.
        statement: usize,
        /// The MQTT source.
        filter: String,
    },
}

struct RouteExec {
    route: MqttRoute,
    regex: Option<Regex>,
    avro: Option<AvroSchema>,
}

mod output;

use super::config::OutputSettings;

/// The executable form of an [`MqttPlan`].
pub struct Router {
    routes: Vec<RouteExec>,
    /// How keys and values are written (default: key text, JSON values).
    output: OutputSettings,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes.len())
            .finish()
    }
}

/// True when `name` is a legal Kafka topic name (1–249 of `[A-Za-z0-9._-]`, not `.`/`..`).
pub fn is_legal_kafka_topic(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Router {
    /// Prepares `plan`: compiles each `WITHREGEX` (matched against the whole topic) and finds
    /// each Avro route's schema in `avro_schemas` (keys lower-cased; looked up by the route's
    /// filter as written, then without its `$share/<group>/` prefix).
    pub fn new(
        plan: &MqttPlan,
        avro_schemas: &BTreeMap<String, AvroSchema>,
    ) -> Result<Router, Vec<RouterError>> {
        let mut errors = Vec::new();
        let mut routes = Vec::with_capacity(plan.routes.len());
        for route in &plan.routes {
            let statement = route.statement + 1;
            let regex = route.regex.as_ref().and_then(|re| {
                Regex::new(&format!("^(?:{re})$"))
                    .map_err(|e| {
                        errors.push(RouterError::BadRegex {
                            statement,
                            regex: re.clone(),
                            reason: e.to_string(),
                        })
                    })
                    .ok()
            });
            let avro = if route.converter == Converter::Avro {
                let sub = route.filter.subscription.to_ascii_lowercase();
                let bare = filter_without_share(&route.filter.subscription).to_ascii_lowercase();
                match avro_schemas.get(&sub).or_else(|| avro_schemas.get(&bare)) {
                    Some(s) => Some(s.clone()),
                    None => {
                        errors.push(RouterError::MissingAvroSchema {
                            statement,
                            filter: route.filter.subscription.clone(),
                        });
                        None
                    }
                }
            } else {
                None
            };
            routes.push(RouteExec {
                route: route.clone(),
                regex,
                avro,
            });
        }
        if errors.is_empty() {
            Ok(Router {
                routes,
                output: OutputSettings::default(),
            })
        } else {
            Err(errors)
        }
    }

    /// The number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when there are no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The route at `index`.
    pub fn route_at(&self, index: usize) -> &MqttRoute {
        &self.routes[index].route
    }

    /// The indices of the routes that take a message on `topic`: those whose `WITHREGEX`
    /// matches the whole topic, or, without one, whose filter matches by MQTT rules.
    pub fn matching<'s>(&'s self, topic: &'s str) -> impl Iterator<Item = usize> + 's {
        self.routes
            .iter()
            .enumerate()
            .filter(move |(_, r)| match &r.regex {
                Some(re) => re.is_match(topic),
                None => r.route.filter.matches(topic),
            })
            .map(|(i, _)| i)
    }

    /// Runs route `index` on `msg`.
    pub fn apply(&self, index: usize, msg: &MqttMessage<'_>) -> Result<Routed, PoisonError> {
        let exec = &self.routes[index];
        let route = &exec.route;
        let topic = route.target.topic_for(msg.topic);
        if !is_legal_kafka_topic(&topic) {
            return Err(PoisonError::BadTopic(topic));
        }
        let decoded: Option<Value<'_>> = match route.converter {
            Converter::Bytes => None,
            Converter::Json => Some(json::parse(msg.payload).map_err(DecodeError::from)?),
            Converter::Avro => {
                let schema = exec
                    .avro
                    .as_ref()
                    .ok_or(DecodeError::SchemaRequired(crate::decode::Format::Avro))?;
                Some(schema.decode(msg.payload).map_err(DecodeError::from)?)
            }
        };
        let (key, value) = match decoded {
            None if self.output.value.is_avro() => {
                let value = Value::Bytes(Cow::Borrowed(msg.payload));
                (
                    msg.topic.as_bytes().to_vec(),
                    self.output.value.encode(&topic, &value)?,
                )
            }
            None => (msg.topic.as_bytes().to_vec(), msg.payload.to_vec()),
            Some(v) => {
                let mut rec = RecordView::of_value(v);
                rec.topic = msg.topic;
                let now_ms = now_ms();
                if let Some(f) = &route.filter_expr {
                    if !is_true(f, &rec, now_ms) {
                        return Ok(Routed::Filtered);
                    }
                }
                let key = key_of(&route.key, &rec, msg.topic)?;
                let out = &self.output.value;
                let value = match &route.projection {
                    None if out.is_avro() => out.encode(&topic, &rec.value)?,
                    None => msg.payload.to_vec(),
                    Some(items) => out.encode(&topic, &project(items, &rec, now_ms)?)?,
                };
                (key, value)
            }
        };
        let key = self.encode_key(&topic, key)?;
        Ok(Routed::Record(KafkaRecord {
            topic,
            key,
            value,
            headers: headers_of(msg),
        }))
    }
}

/// The filter without a `$share/<group>/` prefix.
fn filter_without_share(filter: &str) -> &str {
    filter
        .strip_prefix("$share/")
        .and_then(|r| r.split_once('/'))
        .map_or(filter, |(_, f)| f)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The MQTT metadata headers plus MQTT 5 user properties.
pub fn headers_of(msg: &MqttMessage<'_>) -> Vec<(Cow<'static, str>, Vec<u8>)> {
    let flag = |b: bool| {
        if b {
            b"true".to_vec()
        } else {
            b"false".to_vec()
        }
    };
    let mut h = Vec::with_capacity(5 + msg.user_properties.len());
    h.push((Cow::Borrowed(HEADER_TOPIC), msg.topic.as_bytes().to_vec()));
    h.push((Cow::Borrowed(HEADER_QOS), vec![b'0' + msg.qos.min(2)]));
    h.push((Cow::Borrowed(HEADER_RETAIN), flag(msg.retain)));
    h.push((Cow::Borrowed(HEADER_DUPLICATE), flag(msg.dup)));
    h.push((
        Cow::Borrowed(HEADER_MESSAGE_ID),
        msg.pkid.to_string().into_bytes(),
    ));
    for (k, v) in msg.user_properties {
        h.push((Cow::Owned(k.clone()), v.as_bytes().to_vec()));
    }
    h
}

/// The Kafka key: the WITHKEY fields' text joined by the delimiter (nulls skipped), or the MQTT
/// topic when there is no WITHKEY, when the payload is not an object, or when every key field
/// is null.
fn key_of(key: &MessageKey, rec: &RecordView<'_>, topic: &str) -> Result<Vec<u8>, PoisonError> {
    let MessageKey::Fields { fields, delimiter } = key else {
        return Ok(topic.as_bytes().to_vec());
    };
    if !matches!(rec.value, Value::Object(_)) {
        return Ok(topic.as_bytes().to_vec());
    }
    let mut out = String::new();
    let mut any = false;
    for f in fields {
        let v = lookup(f, rec).ok_or_else(|| PoisonError::MissingKeyField(f.to_string()))?;
        if v.is_null() {
            continue;
        }
        let text = v.to_text().ok_or_else(|| PoisonError::KeyNotScalar {
            field: f.to_string(),
            kind: v.type_name(),
        })?;
        if any {
            out.push_str(delimiter);
        }
        out.push_str(&text);
        any = true;
    }
    Ok(if any {
        out.into_bytes()
    } else {
        topic.as_bytes().to_vec()
    })
}

/// The projected value as a JSON object. Later outputs of the same name replace earlier ones;
/// a missing field is `null`.
fn project<'r>(
    items: &'r [ProjectionItem],
    rec: &'r RecordView<'_>,
    now_ms: i64,
) -> Result<Value<'r>, PoisonError> {
    let mut entries: Vec<(&str, Cow<'_, Value<'_>>)> = Vec::new();
    let mut put = |name, v| match entries.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = v,
        None => entries.push((name, v)),
    };
    for item in items {
        match item {
            ProjectionItem::Expand { from, exclude } => match lookup(from, rec) {
                None => {}
                Some(Cow::Borrowed(Value::Object(members))) => {
                    for (k, v) in members {
                        if !exclude.iter().any(|e| e == k) {
                            put(k.as_ref(), Cow::Borrowed(v));
                        }
                    }
                }
                Some(v) if v.is_null() => {}
                Some(_) => return Err(PoisonError::NotAnObject(from.to_string())),
            },
            ProjectionItem::Field { name, value } => {
                let v = match value {
                    PlanExpr::Field { field } => {
                        lookup(field, rec).unwrap_or(Cow::Owned(Value::Null))
                    }
                    computed => eval(computed, rec, now_ms),
                };
                put(name.as_str(), v);
            }
        }
    }
    Ok(Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (Cow::Borrowed(k), v.into_owned()))
            .collect(),
    ))
}

/// Writes `v` as JSON (for callers that hold a decoded value).
pub fn to_json(v: &Value<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    write_json(v, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(kcql: &str) -> Router {
        let (_, plan) = crate::connectors::mqtt_source::config::compile_kcql(kcql).unwrap();
        Router::new(&plan, &BTreeMap::new()).unwrap()
    }

    fn msg<'a>(topic: &'a str, payload: &'a [u8]) -> MqttMessage<'a> {
        MqttMessage {
            topic,
            payload,
            qos: 1,
            retain: false,
            dup: true,
            pkid: 7,
            user_properties: &[],
        }
    }

    fn record(r: &Router, topic: &str, payload: &str) -> KafkaRecord {
        let m = msg(topic, payload.as_bytes());
        let i = r.matching(topic).next().expect("a route matches");
        match r.apply(i, &m).unwrap() {
            Routed::Record(k) => k,
            Routed::Filtered => panic!("filtered"),
        }
    }

    #[test]
    fn bytes_pass_through_keyed_by_topic_with_headers() {
        let r = router("INSERT INTO k SELECT * FROM /sensors/+");
        let k = record(&r, "/sensors/a", "\u{1}raw");
        assert_eq!(k.topic, "k");
        assert_eq!(k.key, b"/sensors/a");
        assert_eq!(k.value, "\u{1}raw".as_bytes());
        assert_eq!(k.header(HEADER_TOPIC), Some(&b"/sensors/a"[..]));
        assert_eq!(k.header(HEADER_QOS), Some(&b"1"[..]));
        assert_eq!(k.header(HEADER_DUPLICATE), Some(&b"true"[..]));
        assert_eq!(k.header(HEADER_RETAIN), Some(&b"false"[..]));
        assert_eq!(k.header(HEADER_MESSAGE_ID), Some(&b"7"[..]));
        assert_eq!(r.matching("/sensors/a/b").count(), 0);
    }

    #[test]
    fn dynamic_target_regex_and_shared() {
        let r = router("INSERT INTO `$` SELECT * FROM `$share/g/a/#`");
        assert_eq!(record(&r, "a/b/c", "x").topic, "a_b_c");
        assert_eq!(r.matching("a").count(), 1, "a/# matches a");
        let r = router("INSERT INTO k SELECT * FROM `a/+` WITHREGEX=`a/[0-9]+`");
        assert_eq!(r.matching("a/12").count(), 1);
        assert_eq!(r.matching("a/x").count(), 0);
        assert_eq!(r.matching("xa/12").count(), 0, "whole topic");
    }

    #[test]
    fn json_key_where_and_projection() {
        let r = router(
            "INSERT INTO k SELECT id, t * 2 AS t2 FROM /s/+ WHERE t > 1 WITHKEY(id, `loc.room`) KEYDELIMITER='|'",
        );
        let k = record(&r, "/s/1", r#"{"id":"d1","t":2,"loc":{"room":7}}"#);
        assert_eq!(k.key, b"d1|7");
        assert_eq!(k.value, br#"{"id":"d1","t2":4}"#);
        let i = r.matching("/s/1").next().unwrap();
        assert_eq!(
            r.apply(i, &msg("/s/1", br#"{"id":"d1","t":0,"loc":{"room":7}}"#)),
            Ok(Routed::Filtered)
        );
        assert!(matches!(
            r.apply(i, &msg("/s/1", b"{bad")),
            Err(PoisonError::Decode(_))
        ));
        assert_eq!(
            r.apply(i, &msg("/s/1", br#"{"t":5,"loc":{"room":7}}"#)),
            Err(PoisonError::MissingKeyField("id".into()))
        );
    }

    #[test]
    fn json_without_projection_passes_the_text_through() {
        let r = router("INSERT INTO k SELECT * FROM /s WITHCONVERTER=`json`");
        let k = record(&r, "/s", r#"{ "a" : 1.0E-4 }"#);
        assert_eq!(k.value, br#"{ "a" : 1.0E-4 }"#);
        assert_eq!(k.key, b"/s");
    }

    #[test]
    fn illegal_dynamic_topic_is_poison() {
        let r = router("INSERT INTO `$` SELECT * FROM `a/+`");
        let i = r.matching("a/b c").next().unwrap();
        assert_eq!(
            r.apply(i, &msg("a/b c", b"x")),
            Err(PoisonError::BadTopic("a_b c".into()))
        );
    }

    #[test]
    fn avro_needs_a_schema() {
        let (_, plan) = crate::connectors::mqtt_source::config::compile_kcql(
            "INSERT INTO k SELECT * FROM /a WITHCONVERTER=`avro`",
        )
        .unwrap();
        let err = Router::new(&plan, &BTreeMap::new()).unwrap_err();
        assert!(matches!(err[0], RouterError::MissingAvroSchema { .. }));
        let mut schemas = BTreeMap::new();
        schemas.insert("/a".to_string(), AvroSchema::parse(r#""string""#).unwrap());
        let r = Router::new(&plan, &schemas).unwrap();
        assert_eq!(
            r.apply(0, &msg("/a", b"\x04hi")).map(|x| match x {
                Routed::Record(k) => k.value,
                Routed::Filtered => vec![],
            }),
            Ok(b"\x04hi".to_vec())
        );
        assert!(r.apply(0, &msg("/a", b"\x05")).is_err());
    }
}
