//! MQTT source conformance: runs every case of a corpus in the format of
//! `tests/conformance/mqtt_cases.json` (reference spec, section 11) through our real code:
//!
//! * `kafka_topic`, `converter`: the case's KCQL (or one built from the converter inputs) is
//!   compiled for the MQTT source and the message goes through [`Router`] → Kafka topic, key,
//!   value, headers.
//! * `settings`: the properties go through [`MqttSourceSettings::from_properties`].
//! * `should_replicate`, `task_configs`: our statement split over workers.
//! * `integration`: messages are published to the real Mosquitto, our [`MqttSource`] runs into
//!   Kafka, and the records are consumed and compared. MQTT topics, Kafka topics and client ids
//!   get a unique prefix per run (`<u>/…` on MQTT, `<u>_…` on Kafka); expectations are adjusted
//!   by the same rule. A broker restart is simulated with a TCP proxy that drops every
//!   connection (the reference's test did the same).
//!
//! The corpus path comes from `$MQTT_CONFORMANCE` (default: the in-repo copy). Prints
//! `CONFORMANCE mqtt: N passed, M failed`, each failure, and a `DIFFERENCE` line wherever we
//! deliberately differ from the reference by a documented rule (decided from the case's
//! content, never its id). Fails if M > 0.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kcql::ast::Head;
use kcql::plan::{Converter, MqttPlan};
use kcql_runtime::config::{ErrorPolicy, MqttSourceSettings};
use kcql_runtime::connectors::mqtt_source::config::compile_kcql;
use kcql_runtime::connectors::mqtt_source::route::{HEADER_MESSAGE_ID, HEADER_TOPIC};
use kcql_runtime::connectors::mqtt_source::tasks::{should_replicate, worker_plans};
use kcql_runtime::connectors::mqtt_source::{KafkaRecord, MqttMessage, MqttSource, Routed, Router};
use kcql_runtime::decode::{json, AvroSchema};
use kcql_runtime::value::Value;
use kcql_testkit::{kafka, mqtt, names};
use serde_json::Value as J;
use tokio::sync::watch;

type Outcome = Result<Vec<String>, String>;

fn corpus_path() -> String {
    std::env::var("MQTT_CONFORMANCE").unwrap_or_else(|_| {
        format!(
            "{}/tests/conformance/mqtt_cases.json",
            env!("CARGO_MANIFEST_DIR")
        )
    })
}

const MSGKEY_DIFFERENCE: &str = "Kafka key is the MQTT topic (the reference's MsgKey{topic, packet id} collides: packet ids are reused); the packet id is in header mqtt.message.id";
const SCHEMA_DIFFERENCE: &str = "records carry bytes, not Connect schemas: no key/value schema is attached (JSON stays JSON text, Avro stays the Avro datum)";

// ---------------------------------------------------------------------------------------------
// Avro test data from the cases' descriptions

/// `Name{f:type, g:type}` → an Avro record schema (JSON).
fn record_schema_from(desc: &str) -> Option<String> {
    let open = desc.find('{')?;
    let close = desc.rfind('}')?;
    let name = desc[..open].rsplit([' ', '<']).next()?.trim();
    let fields: Vec<String> = desc[open + 1..close]
        .split(',')
        .map(|f| {
            let (n, t) = f.split_once(':').unwrap_or((f, "string"));
            format!(r#"{{"name":"{}","type":"{}"}}"#, n.trim(), t.trim())
        })
        .collect();
    Some(format!(
        r#"{{"type":"record","name":"{name}","fields":[{}]}}"#,
        fields.join(",")
    ))
}

/// The schema described after `=` in an `avro.schemas` entry: `<file with schema "string">`
/// or `<… of Name{f:type, …}>`.
fn schema_text(desc: &str) -> Result<String, String> {
    if let Some(i) = desc.find("schema \"") {
        let rest = &desc[i + 8..];
        let end = rest.find('"').ok_or("unterminated schema name")?;
        return Ok(format!("\"{}\"", &rest[..end]));
    }
    record_schema_from(desc).ok_or_else(|| format!("cannot read the schema description {desc:?}"))
}

fn zigzag(n: i64, out: &mut Vec<u8>) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    loop {
        let b = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Encodes `values` (JSON) as an Avro datum of the record `schema` (primitive fields only).
fn avro_encode(schema: &J, values: &[J]) -> Result<Vec<u8>, String> {
    let fields = schema["fields"].as_array().ok_or("not a record schema")?;
    if fields.len() != values.len() {
        return Err(format!(
            "{} values for {} fields",
            values.len(),
            fields.len()
        ));
    }
    let mut out = Vec::new();
    for (f, v) in fields.iter().zip(values) {
        match f["type"].as_str().unwrap_or("") {
            "string" => {
                let s = v.as_str().ok_or("string expected")?;
                zigzag(s.len() as i64, &mut out);
                out.extend_from_slice(s.as_bytes());
            }
            "int" | "long" => zigzag(v.as_i64().ok_or("integer expected")?, &mut out),
            "double" => out.extend_from_slice(&v.as_f64().ok_or("number expected")?.to_le_bytes()),
            "float" => {
                out.extend_from_slice(&(v.as_f64().ok_or("number expected")? as f32).to_le_bytes())
            }
            "boolean" => out.push(u8::from(v.as_bool().ok_or("boolean expected")?)),
            other => return Err(format!("cannot encode Avro type {other}")),
        }
    }
    Ok(out)
}

/// `… of Name('test', 2354.99, now)` → the values (`now` = current epoch ms).
fn values_from(desc: &str) -> Result<Vec<J>, String> {
    let open = desc.rfind('(').ok_or("no value list")?;
    let close = desc.rfind(')').ok_or("no value list")?;
    desc[open + 1..close]
        .split(',')
        .map(|v| {
            let v = v.trim();
            if let Some(s) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                Ok(J::String(s.into()))
            } else if v == "now" {
                Ok(J::from(now_ms()))
            } else if let Ok(n) = v.parse::<i64>() {
                Ok(J::from(n))
            } else {
                v.parse::<f64>()
                    .map(J::from)
                    .map_err(|_| format!("cannot read value {v:?}"))
            }
        })
        .collect()
}

/// The payload of a converter case: `(bytes, was_null)`.
fn converter_payload(input: &J, schema_json: Option<&J>) -> Result<(Vec<u8>, bool), String> {
    if let Some(t) = input["payload_utf8"].as_str() {
        return Ok((t.as_bytes().to_vec(), false));
    }
    if let Some(b) = input["payload_bytes"].as_array() {
        return Ok((
            b.iter().map(|x| x.as_u64().unwrap_or(0) as u8).collect(),
            false,
        ));
    }
    match &input["payload"] {
        J::Null => Ok((Vec::new(), true)),
        J::String(desc) => {
            let schema = schema_json.ok_or("an Avro payload without a schema")?;
            let source = if desc.contains(" of ") {
                desc.clone()
            } else {
                // "… replaced by …" describes a corrupted copy of the case's record.
                "of Transaction('test', 2354.99, now)".to_string()
            };
            let mut bytes = avro_encode(schema, &values_from(&source)?)?;
            if desc.contains("(b+1)%255") {
                for b in &mut bytes {
                    *b = ((u16::from(*b) + 1) % 255) as u8;
                }
            }
            Ok((bytes, false))
        }
        other => Err(format!("unknown payload {other}")),
    }
}

// ---------------------------------------------------------------------------------------------
// Comparing values

fn json_type_of(v: &Value<'_>) -> &'static str {
    match v {
        Value::Str(_) => "STRING",
        Value::Int(_) | Value::UInt(_) => "INT",
        Value::Float(_) => "FLOAT",
        Value::Bool(_) => "BOOLEAN",
        Value::Null => "NULL",
        Value::Array(_) => "ARRAY",
        Value::Object(_) => "STRUCT",
        Value::Bytes(_) => "BYTES",
    }
}

/// Connect type name → the [`Value`] kind our decoders give.
fn connect_kind(t: &str) -> &'static str {
    match t.strip_prefix("OPTIONAL_").unwrap_or(t) {
        "STRING" => "STRING",
        "INT8" | "INT16" | "INT32" | "INT64" => "INT",
        "FLOAT32" | "FLOAT64" => "FLOAT",
        "BOOLEAN" => "BOOLEAN",
        "BYTES" => "BYTES",
        "STRUCT" => "STRUCT",
        "ARRAY" => "ARRAY",
        _ => "?",
    }
}

fn same_value(ours: &Value<'_>, want: &J) -> bool {
    match (ours, want) {
        (Value::Null, J::Null) => true,
        (Value::Bool(a), J::Bool(b)) => a == b,
        (Value::Str(a), J::String(b)) => a == b,
        (Value::Int(_) | Value::UInt(_) | Value::Float(_), J::Number(n)) => {
            let a = match ours {
                Value::Int(i) => *i as f64,
                Value::UInt(u) => *u as f64,
                Value::Float(f) => *f,
                _ => unreachable!(),
            };
            n.as_f64()
                .is_some_and(|b| (a - b).abs() <= 1e-9 * b.abs().max(1.0))
        }
        (Value::Object(members), J::Object(m)) => {
            members.len() == m.len()
                && m.iter()
                    .all(|(k, v)| ours.get(k).is_some_and(|o| same_value(o, v)))
        }
        (Value::Array(items), J::Array(w)) => {
            items.len() == w.len() && items.iter().zip(w).all(|(a, b)| same_value(a, b))
        }
        _ => false,
    }
}

/// Checks a decoded value's fields (order and kind) against `[[name, type], …]`.
fn check_fields(v: &Value<'_>, fields: &J, errs: &mut Vec<String>) {
    let Value::Object(members) = v else {
        errs.push(format!("value is a {}, not an object", v.type_name()));
        return;
    };
    let want: Vec<(&str, &str)> = fields
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| Some((f[0].as_str()?, f[1].as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    let got: Vec<(&str, &str)> = members
        .iter()
        .map(|(k, v)| (k.as_ref(), json_type_of(v)))
        .collect();
    let want_kinds: Vec<(&str, &str)> = want.iter().map(|(n, t)| (*n, connect_kind(t))).collect();
    if got != want_kinds {
        errs.push(format!("fields: expected {want_kinds:?}, got {got:?}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Routing one message

fn router_for(plan: &MqttPlan, schemas: &BTreeMap<String, AvroSchema>) -> Result<Router, String> {
    Router::new(plan, schemas).map_err(|e| format!("{e:?}"))
}

fn route_one(
    router: &Router,
    topic: &str,
    payload: &[u8],
    pkid: u16,
) -> Result<Vec<Result<Routed, String>>, String> {
    let msg = MqttMessage {
        topic,
        payload,
        qos: 1,
        retain: false,
        dup: false,
        pkid,
        user_properties: &[],
    };
    let idx: Vec<usize> = router.matching(topic).collect();
    if idx.is_empty() {
        return Err(format!("no route matches MQTT topic {topic}"));
    }
    Ok(idx
        .into_iter()
        .map(|i| router.apply(i, &msg).map_err(|e| e.to_string()))
        .collect())
}

fn kafka_topic_case(case: &J) -> Outcome {
    let kcql = case["kcql"].as_str().ok_or("no kcql")?;
    let (_, plan) = compile_kcql(kcql)?;
    let router = router_for(&plan, &BTreeMap::new())?;
    let topic = case["input"]["mqtt_topic"]
        .as_str()
        .ok_or("no mqtt_topic")?;
    let want = case["expect"]["kafka_topic"]
        .as_str()
        .ok_or("no expect.kafka_topic")?;
    match route_one(&router, topic, b"x", 1)?.remove(0) {
        Ok(Routed::Record(r)) if r.topic == want => Ok(vec![]),
        Ok(Routed::Record(r)) => Err(format!("kafka topic: expected {want}, got {}", r.topic)),
        other => Err(format!("expected a record, got {other:?}")),
    }
}

// ---------------------------------------------------------------------------------------------
// converter

fn quote(s: &str) -> String {
    format!("`{s}`")
}

fn converter_case(case: &J) -> Outcome {
    let input = &case["input"];
    let class = input["converter"].as_str().ok_or("no converter")?;
    let source = input["source_topic"].as_str().ok_or("no source_topic")?;
    let target = input["kafka_topic"].as_str().unwrap_or("t");
    let pkid: u16 = input["message_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or("no message_id")?;
    let mut kcql = format!(
        "INSERT INTO {} SELECT * FROM {} WITHCONVERTER={}",
        quote(target),
        quote(source),
        quote(class)
    );
    if let Some(keys) = input["keys"].as_array() {
        let keys: Vec<String> = keys.iter().filter_map(|k| k.as_str()).map(quote).collect();
        kcql.push_str(&format!(" WITHKEY({})", keys.join(", ")));
        // `.` is the default and, by the grammar, cannot be written explicitly.
        if let Some(d) = input["key_delimiter"].as_str().filter(|d| *d != ".") {
            kcql.push_str(&format!(" KEYDELIMITER='{d}'"));
        }
    }
    let mut diffs = Vec::new();
    let plan = match compile_kcql(&kcql) {
        Ok((_, plan)) => plan,
        Err(e) => {
            // A source with a wildcard character inside a level is not a topic a broker
            // delivers (MQTT: topic names contain no wildcards), so we reject the filter.
            if source
                .split('/')
                .any(|l| l.len() > 1 && l.contains(['+', '#']))
                && e.contains("filter")
            {
                diffs.push(format!("`{source}` is not a valid MQTT topic filter (a wildcard must fill its level); our compiler rejects it: {}", e.lines().next().unwrap_or("")));
                return Ok(diffs);
            }
            return Err(format!("KCQL {kcql:?} does not compile: {e}"));
        }
    };
    let mut schemas = BTreeMap::new();
    let mut schema_json = None;
    if let Some(entry) = input["avro.schemas"].as_str() {
        let (src, desc) = entry.split_once('=').ok_or("avro.schemas without =")?;
        let text = schema_text(desc)?;
        schema_json = serde_json::from_str::<J>(&text).ok();
        schemas.insert(
            src.trim().to_ascii_lowercase(),
            AvroSchema::parse(&text).map_err(|e| e.to_string())?,
        );
    }
    let router = router_for(&plan, &schemas)?;
    let (payload, was_null) = converter_payload(input, schema_json.as_ref())?;
    let result = route_one(&router, source, &payload, pkid)?.remove(0);

    if was_null {
        diffs.push(
            "MQTT has no null payload: a null-payload case is sent as an empty payload".into(),
        );
    }
    if case.get("expect_error").is_some() {
        return match result {
            Err(_) => Ok(diffs),
            Ok(r) => Err(format!("expected an error, got {r:?}")),
        };
    }
    let expect = &case["expect"];
    let record = match result {
        Ok(Routed::Record(r)) => r,
        Ok(Routed::Filtered) => return Err("filtered".into()),
        Err(e)
            if was_null
                && matches!(
                    router.route_at(0).converter,
                    Converter::Avro | Converter::Json
                ) =>
        {
            // The reference gives a null record for a null Avro payload; an empty payload is
            // not a valid datum, so the error policy decides (poison).
            diffs.push(format!("an empty payload is not a valid {:?} datum; it is a poison message for the error policy ({e})", router.route_at(0).converter));
            return Ok(diffs);
        }
        Err(e) => return Err(format!("conversion failed: {e}")),
    };
    let mut errs = Vec::new();
    check_record(
        &record, expect, source, pkid, &router, &schemas, &payload, was_null, &mut errs, &mut diffs,
    );
    if errs.is_empty() {
        Ok(diffs)
    } else {
        Err(errs.join("; "))
    }
}

/// Compares one of our records with a converter case's `expect`.
#[allow(clippy::too_many_arguments)]
fn check_record(
    record: &KafkaRecord,
    expect: &J,
    source: &str,
    pkid: u16,
    router: &Router,
    schemas: &BTreeMap<String, AvroSchema>,
    payload: &[u8],
    was_null: bool,
    errs: &mut Vec<String>,
    diffs: &mut Vec<String>,
) {
    let obj = expect.as_object().cloned().unwrap_or_default();
    let route = router.route_at(0);
    for (k, want) in &obj {
        match k.as_str() {
            "key_schema" | "value_schema" if want.is_null() => {}
            "key_schema" => diffs.push(SCHEMA_DIFFERENCE.into()),
            "key" | "key.topic" | "key.id" => {
                let msgkey = want.get("MsgKey").is_some() || k != "key";
                if msgkey {
                    let topic = want["MsgKey"]["topic"].as_str().or(if k == "key.topic" { want.as_str() } else { None });
                    let id = want["MsgKey"]["id"].as_str().or(if k == "key.id" { want.as_str() } else { None });
                    if record.key != source.as_bytes() {
                        errs.push(format!("key: expected the MQTT topic {source}, got {:?}", String::from_utf8_lossy(&record.key)));
                    }
                    if let Some(t) = topic {
                        if record.header(HEADER_TOPIC) != Some(t.as_bytes()) {
                            errs.push(format!("header {HEADER_TOPIC}: expected {t}"));
                        }
                    }
                    if let Some(i) = id {
                        if record.header(HEADER_MESSAGE_ID) != Some(i.as_bytes()) {
                            errs.push(format!("header {HEADER_MESSAGE_ID}: expected {i}"));
                        }
                    }
                    diffs.push(MSGKEY_DIFFERENCE.into());
                } else if let Some(text) = want.as_str() {
                    let keyed = matches!(route.key, kcql::plan::MessageKey::Fields { .. });
                    if keyed {
                        if record.key != text.as_bytes() {
                            errs.push(format!("key: expected {text}, got {:?}", String::from_utf8_lossy(&record.key)));
                        }
                    } else {
                        if record.key != source.as_bytes() {
                            errs.push(format!("key: expected the MQTT topic {source}"));
                        }
                        if record.header(HEADER_MESSAGE_ID) != Some(pkid.to_string().as_bytes()) {
                            errs.push("message id header missing".into());
                        }
                        diffs.push(format!("default key is the MQTT topic `{source}`, not `{text}` (topic + delimiter + packet id collides)"));
                    }
                } else if want.is_null() {
                    errs.push("expected a null key".into());
                }
            }
            "value_schema" => match want {
                J::String(s) if s == "BYTES" => {
                    if record.value != payload {
                        errs.push("BYTES value is not the payload".into());
                    }
                }
                J::String(_) | J::Object(_) => {
                    diffs.push(SCHEMA_DIFFERENCE.into());
                    if let Some(fields) = want.get("fields") {
                        match json::parse(&record.value) {
                            Ok(v) => check_fields(&v, fields, errs),
                            Err(e) => errs.push(format!("value is not JSON: {e}")),
                        }
                    }
                }
                other => errs.push(format!("unknown value_schema {other}")),
            },
            "value" => match want {
                J::Null if was_null => {
                    if !record.value.is_empty() {
                        errs.push("empty payload should give an empty value".into());
                    }
                    diffs.push("an empty MQTT payload is written as an empty value, not a null one".into());
                }
                J::String(s) if s.starts_with("AvroData.toConnectData") => {
                    // Our value is the Avro datum itself: it must decode with the schema.
                    let schema = schemas.values().next();
                    match schema.map(|s| s.decode(&record.value)) {
                        Some(Ok(Value::Object(m))) if !m.is_empty() => {}
                        other => errs.push(format!("Avro value does not decode to a record: {other:?}")),
                    }
                    if record.value != payload {
                        errs.push("Avro value is not the datum as published".into());
                    }
                }
                J::String(s) => {
                    if record.value != s.as_bytes() {
                        errs.push(format!("value: expected {s}, got {}", String::from_utf8_lossy(&record.value)));
                    }
                }
                other => match json::parse(&record.value) {
                    Ok(v) if same_value(&v, other) => {}
                    Ok(v) => errs.push(format!("value: expected {other}, got {v:?}")),
                    Err(e) => errs.push(format!("value is not JSON: {e}")),
                },
            },
            "value_bytes" => {
                let want: Vec<u8> = want
                    .as_array()
                    .map(|a| a.iter().map(|x| x.as_u64().unwrap_or(0) as u8).collect())
                    .unwrap_or_default();
                if record.value != want {
                    errs.push("value bytes differ".into());
                }
            }
            "source_partition" | "source_offset" => diffs.push(
                "no Connect source partition/offset: a message is acknowledged to the broker after Kafka confirms it".into(),
            ),
            other => errs.push(format!("unhandled expectation {other}")),
        }
    }
    diffs.sort();
    diffs.dedup();
}

// ---------------------------------------------------------------------------------------------
// settings

fn props_of(config: &J) -> Vec<(String, String)> {
    config
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn settings_case(case: &J) -> Outcome {
    let props = props_of(&case["config"]);
    let result = MqttSourceSettings::from_properties(&props);
    if let Some(msg) = case["expect_error"].as_str() {
        return match result {
            Ok(_) => Err(format!("expected an error ({msg}), got settings")),
            Err(errs) => {
                let named = msg
                    .split_whitespace()
                    .next()
                    .filter(|w| w.starts_with("connect."));
                match named {
                    Some(key) if !errs.iter().any(|e| e.key() == key) => {
                        Err(format!("expected an error about {key}, got {errs:?}"))
                    }
                    _ => Ok(vec![]),
                }
            }
        };
    }
    let s = result.map_err(|e| format!("settings rejected: {e:?}"))?;
    let mut errs = Vec::new();
    let mut diffs = Vec::new();
    for (k, want) in case["expect"].as_object().cloned().unwrap_or_default() {
        let ok = match k.as_str() {
            "mqttQualityOfService" => Some(u64::from(s.qos)) == want.as_u64(),
            "sourcesToConverters" => want.as_object().is_some_and(|m| {
                m.iter().all(|(src, class)| {
                    let conv = class.as_str().and_then(Converter::from_name);
                    s.plan
                        .routes
                        .iter()
                        .any(|r| r.filter.subscription == *src && Some(r.converter) == conv)
                })
            }),
            "throwOnConversion" => Some(s.error_policy == ErrorPolicy::Throw) == want.as_bool(),
            "cleanSession" => Some(s.clean) == want.as_bool(),
            "clientId" => Some(s.client_id.as_str()) == want.as_str(),
            "password" => s.password.as_ref().map(|p| p.expose()) == want.as_str(),
            "user" => s.username.as_deref() == want.as_str(),
            "keepAliveInterval" | "connectionTimeout" => {
                let d = if k == "keepAliveInterval" {
                    s.keep_alive
                } else {
                    s.connect_timeout
                };
                diffs.push(format!("{k}: the number is read as milliseconds (the reference handed it to Paho, which reads seconds)"));
                Some(d.as_millis() as u64) == want.as_u64()
            }
            "pollingTimeout" => Some(s.polling_timeout.as_millis() as u64) == want.as_u64(),
            "connection" => Some(s.hosts.as_str()) == want.as_str(),
            other => {
                errs.push(format!("unhandled expectation {other}"));
                true
            }
        };
        if !ok {
            errs.push(format!("{k}: expected {want}"));
        }
    }
    if errs.is_empty() {
        Ok(diffs)
    } else {
        Err(errs.join("; "))
    }
}

// ---------------------------------------------------------------------------------------------
// tasks

fn should_replicate_case(case: &J) -> Outcome {
    let kcqls = case["input"]["kcql"].as_array().ok_or("no kcql list")?;
    let want = case["expect"]["should_replicate"]
        .as_array()
        .ok_or("no expectation")?;
    for (k, w) in kcqls.iter().zip(want) {
        let (_, plan) = compile_kcql(k.as_str().ok_or("kcql not a string")?)?;
        let got = should_replicate(&plan.routes[0]);
        if Some(got) != w.as_bool() {
            return Err(format!("{k}: expected {w}, got {got}"));
        }
    }
    Ok(vec![])
}

fn task_configs_case(case: &J) -> Outcome {
    let s = MqttSourceSettings::from_properties(&props_of(&case["config"]))
        .map_err(|e| format!("settings rejected: {e:?}"))?;
    let tasks = case["input"]["max_tasks"].as_u64().ok_or("no max_tasks")? as usize;
    let workers = worker_plans(&s.plan, tasks, s.share_replicate, &s.client_id);
    let sizes: Vec<usize> = workers.iter().map(|w| w.plan.routes.len()).collect();
    let expect = &case["expect"];
    let mut errs = Vec::new();
    let mut diffs = Vec::new();
    if let Some(total) = expect["total_kcql_across_tasks"].as_u64() {
        if sizes.iter().sum::<usize>() as u64 != total {
            errs.push(format!("total: expected {total}, got {sizes:?}"));
        }
    }
    if let Some(min) = expect["each_task_at_least"].as_u64() {
        if sizes.iter().any(|&n| (n as u64) < min) {
            errs.push(format!("each task at least {min}: got {sizes:?}"));
        }
    }
    // Every statement runs somewhere; non-shared (or all, without replication) exactly once.
    let mut count = vec![0usize; s.statements.len()];
    for w in &workers {
        for r in &w.plan.routes {
            count[r.statement] += 1;
        }
    }
    for (i, r) in s.plan.routes.iter().enumerate() {
        let want = if s.share_replicate && should_replicate(r) {
            workers.len()
        } else {
            1
        };
        if count[i] != want {
            errs.push(format!(
                "statement {} runs {} times, expected {want}",
                i + 1,
                count[i]
            ));
        }
    }
    let ids: std::collections::BTreeSet<&str> =
        workers.iter().map(|w| w.client_id.as_str()).collect();
    if ids.len() != workers.len() {
        errs.push("workers share a client id".into());
    }
    if let Some(split) = expect["derived_split"].as_array() {
        let want: Vec<usize> = split
            .iter()
            .filter_map(|x| x.as_u64())
            .map(|x| x as usize)
            .collect();
        if want != sizes {
            diffs.push(format!("split {sizes:?}, not the reference's {want:?}: statements are dealt in balanced chunks (the reference sized chunks from the total count)"));
        }
    }
    if errs.is_empty() {
        Ok(diffs)
    } else {
        Err(errs.join("; "))
    }
}

// ---------------------------------------------------------------------------------------------
// integration

/// A TCP proxy in front of Mosquitto; `cut()` drops every connection (a broker restart as the
/// client sees it).
struct Proxy {
    port: u16,
    cut: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, cut_rx) = watch::channel(0u64);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let mut cut_rx = cut_rx.clone();
                cut_rx.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut outbound) =
                        tokio::net::TcpStream::connect((mqtt::host(), mqtt::port())).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        Proxy { port, cut, task }
    }

    fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

struct Run {
    stop: watch::Sender<bool>,
    handle:
        tokio::task::JoinHandle<Result<(), kcql_runtime::connectors::mqtt_source::MqttSourceError>>,
    stats: std::sync::Arc<kcql_runtime::connectors::mqtt_source::MqttSourceStats>,
}

impl Run {
    async fn start(props: &[(String, String)]) -> Result<Run, String> {
        let s = MqttSourceSettings::from_properties(props).map_err(|e| format!("{e:?}"))?;
        let source = MqttSource::new(s).map_err(|e| e.to_string())?;
        let stats = source.stats();
        let (stop, rx) = watch::channel(false);
        let handle = tokio::spawn(source.run(rx));
        let run = Run {
            stop,
            handle,
            stats,
        };
        run.wait_connects(1).await?;
        Ok(run)
    }

    async fn wait_connects(&self, n: u64) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.stats.connects.get() < n {
            if self.handle.is_finished() || Instant::now() > deadline {
                return Err(format!(
                    "source not connected ({:?})",
                    self.stats.snapshot()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        Ok(())
    }

    async fn stop(self) -> Result<(), String> {
        let _ = self.stop.send(true);
        match tokio::time::timeout(Duration::from_secs(60), self.handle).await {
            Ok(Ok(Ok(()))) => Ok(()),
            other => Err(format!("source did not stop cleanly: {other:?}")),
        }
    }
}

fn qos_of(n: u64) -> rumqttc::QoS {
    match n {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

fn mqtt_name(u: &str, t: &str) -> String {
    if t.starts_with('/') {
        format!("{u}{t}")
    } else {
        format!("{u}/{t}")
    }
}

/// The case's statements with unique MQTT sources and Kafka targets, plus per-source
/// converters from the case config.
fn integration_kcql(case: &J, u: &str) -> Result<String, String> {
    let texts: Vec<String> = match &case["kcql"] {
        J::String(s) => vec![s.clone()],
        J::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => return Err("no kcql".into()),
    };
    let config = &case["config"];
    let mut out = Vec::new();
    for t in texts {
        for mut st in kcql::parse_many(&t).map_err(|d| d.to_string())? {
            let original_source = st.source.clone();
            st.source = match original_source.strip_prefix("$share/") {
                Some(rest) => {
                    let (g, f) = rest.split_once('/').ok_or("bad $share")?;
                    format!("$share/{g}/{}", mqtt_name(u, f))
                }
                None => mqtt_name(u, &original_source),
            };
            if let Head::Insert { target, .. } = &mut st.head {
                if !target.contains('$') {
                    *target = format!("{u}_{target}");
                }
            }
            if st.converter.is_none() {
                let conv = config["converters"][&original_source]
                    .as_str()
                    .or(config["converter"].as_str());
                st.converter = conv.map(str::to_string);
            }
            out.push(st.to_string());
        }
    }
    Ok(out.join(";\n"))
}

async fn integration_case(case: &J, ordered_case: &Value<'_>) -> Outcome {
    mqtt::wait_reachable();
    kafka::wait_reachable();
    let u = names::unique("mc");
    let config = &case["config"];
    let input = &case["input"];
    let expect = &case["expect"];
    let mut diffs = vec![];
    let kcql = integration_kcql(case, &u)?;
    let get = |short: &str, long: &str| -> Option<String> {
        let v = if config[short].is_null() {
            &config[long]
        } else {
            &config[short]
        };
        match v {
            J::Null => None,
            J::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    };
    let clean = get("clean", "connect.mqtt.clean").unwrap_or_else(|| "true".into());
    let qos = get("qos", "connect.mqtt.service.quality").unwrap_or_else(|| "1".into());
    let throw = get("throw.on.error", "connect.mqtt.converter.throw.on.error");
    let proxy = if input["steps"].as_array().is_some_and(|s| {
        s.iter()
            .any(|x| x.as_str().is_some_and(|t| t.contains("broker stops")))
    }) {
        Some(Proxy::start().await)
    } else {
        None
    };
    let host_port = match &proxy {
        Some(p) => format!("tcp://127.0.0.1:{}", p.port),
        None => format!("tcp://{}:{}", mqtt::host(), mqtt::port()),
    };
    let mut props: Vec<(String, String)> = vec![
        ("connect.mqtt.hosts".into(), host_port),
        ("connect.mqtt.kcql".into(), kcql.clone()),
        ("connect.mqtt.service.quality".into(), qos),
        ("connect.mqtt.clean".into(), clean),
        ("connect.mqtt.client.id".into(), format!("{u}_client")),
        ("connect.mqtt.keep.alive".into(), "1000".into()),
        ("connect.mqtt.timeout".into(), "1000".into()),
        ("kafka.bootstrap.servers".into(), kafka::brokers()),
    ];
    if let Some(t) = throw {
        props.push(("connect.mqtt.converter.throw.on.error".into(), t));
    }
    // Avro schema files.
    let tmp = std::env::temp_dir().join(&u);
    let mut avro_schema_json = BTreeMap::new();
    if let Some(entry) = config["avro.schemas"].as_str() {
        std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
        let mut entries = Vec::new();
        for (i, e) in entry.split(';').enumerate() {
            let (src, desc) = e.split_once('=').ok_or("avro.schemas without =")?;
            let text = schema_text(desc)?;
            let path = tmp.join(format!("s{i}.avsc"));
            std::fs::write(&path, &text).map_err(|e| e.to_string())?;
            entries.push(format!("{}={}", mqtt_name(&u, src.trim()), path.display()));
            avro_schema_json.insert(
                src.trim().to_string(),
                serde_json::from_str::<J>(&text).map_err(|e| e.to_string())?,
            );
        }
        props.push((
            "connect.source.converter.avro.schemas".into(),
            entries.join(";"),
        ));
    }

    // Kafka topics the case expects.
    let records = expect["records"]
        .as_array()
        .or(expect["records_unordered"].as_array())
        .ok_or("no expected records")?;
    let ordered = expect["records"].is_array();
    let mut kafka_topics: Vec<String> = records
        .iter()
        .filter_map(|r| r["topic"].as_str())
        .map(|t| format!("{u}_{t}"))
        .collect();
    kafka_topics.sort();
    kafka_topics.dedup();
    for t in &kafka_topics {
        kafka::create_topic(t, 1).await;
    }

    // Messages to publish: (topic, payload, qos, separate).
    let mut publish: Vec<(String, Vec<u8>, u64, bool)> = Vec::new();
    let ordered_publish: Vec<&Value<'_>> = match ordered_case.get_path(&["input", "publish"]) {
        Some(Value::Array(items)) => items.iter().collect(),
        _ => Vec::new(),
    };
    for (pi, p) in input["publish"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let (topic, separate) = match (p["topic"].as_str(), p["then_topic"].as_str()) {
            (Some(t), _) => (t, false),
            (None, Some(t)) => (t, true),
            _ => return Err("publish without topic".into()),
        };
        let payload = if let Some(t) = p["payload_utf8"].as_str() {
            t.as_bytes().to_vec()
        } else if !p["payload_json"].is_null() {
            // Members in the corpus's order (serde_json's map would sort them).
            let v = ordered_publish
                .get(pi)
                .and_then(|o| o.get("payload_json"))
                .ok_or("payload_json not found in order")?;
            kcql_runtime::connectors::mqtt_source::route::to_json(v)
        } else if let Some(obj) = p["payload_avro_binary_of"].as_object() {
            let schema = avro_schema_json
                .get(topic)
                .ok_or("no schema for the Avro payload")?;
            let values: Vec<J> = schema["fields"]
                .as_array()
                .ok_or("not a record schema")?
                .iter()
                .map(|f| {
                    obj.get(f["name"].as_str().unwrap_or(""))
                        .cloned()
                        .unwrap_or(J::Null)
                })
                .collect();
            avro_encode(schema, &values)?
        } else {
            return Err("publish without payload".into());
        };
        publish.push((
            topic.to_string(),
            payload,
            p["qos"].as_u64().unwrap_or(1),
            separate,
        ));
    }
    let steps: Vec<&str> = input["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str())
        .collect();
    for step in &steps {
        if let Some(msg) = step
            .strip_prefix("publish '")
            .and_then(|s| s.split_once('\''))
        {
            let (payload, rest) = msg;
            let qos = if rest.contains("QoS 2") { 2 } else { 1 };
            let topic = case["kcql"]
                .as_str()
                .and_then(|k| {
                    k.split_whitespace()
                        .skip_while(|w| !w.eq_ignore_ascii_case("FROM"))
                        .nth(1)
                })
                .ok_or("no FROM")?;
            publish.push((topic.to_string(), payload.as_bytes().to_vec(), qos, false));
        }
    }

    // A message published to a literal `$share/…` topic: brokers with shared subscriptions
    // (Mosquitto 2) deliver a share group's messages under their real topic names.
    let literal_share = publish.iter().any(|(t, ..)| t.starts_with("$share/"));

    let run = Run::start(&props).await?;
    let mut run = Some(run);
    if steps.iter().any(|s| s.contains("disconnect")) {
        run.take().expect("running").stop().await?;
        for (t, p, q, _) in &publish {
            mqtt::publish(&mqtt_name(&u, t), [p.clone()], qos_of(*q)).await;
        }
        run = Some(Run::start(&props).await?);
    } else if let Some(proxy) = &proxy {
        proxy.cut();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let r = run.as_ref().expect("running");
        r.wait_connects(2).await?;
        for (t, p, q, _) in &publish {
            mqtt::publish(&mqtt_name(&u, t), [p.clone()], qos_of(*q)).await;
        }
    } else if literal_share {
        // Publish to the share's real topic instead.
        for (t, p, q, _) in &publish {
            let rest = t
                .strip_prefix("$share/")
                .and_then(|r| r.split_once('/'))
                .map(|(_, f)| f)
                .unwrap_or(t);
            mqtt::publish(&mqtt_name(&u, rest), [p.clone()], qos_of(*q)).await;
        }
    } else {
        for (t, p, q, separate) in &publish {
            if *separate {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            mqtt::publish(&mqtt_name(&u, t), [p.clone()], qos_of(*q)).await;
        }
    }
    let run = run.expect("running");

    let mut errs = Vec::new();
    if literal_share {
        let deadline = Instant::now() + Duration::from_secs(10);
        while run.stats.received.get() < publish.len() as u64 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let s = run.stats.snapshot();
        if s.received != publish.len() as u64
            || s.unmatched != publish.len() as u64
            || s.produced != 0
        {
            errs.push(format!(
                "expected every message received and matched by no route, got {s:?}"
            ));
        }
        diffs.push("Mosquitto 2 implements shared subscriptions: the group's messages arrive under their real topic, which the WITHREGEX on `$share/…` does not match, so the route takes nothing (the reference's broker treated `$share/…` as a literal topic)".into());
        run.stop().await?;
        return if errs.is_empty() {
            Ok(diffs)
        } else {
            Err(errs.join("; "))
        };
    }

    // Consume and compare, per Kafka topic.
    let mut by_topic: BTreeMap<String, Vec<&J>> = BTreeMap::new();
    for r in records {
        by_topic
            .entry(format!("{u}_{}", r["topic"].as_str().unwrap_or("")))
            .or_default()
            .push(r);
    }
    for (topic, wants) in &by_topic {
        let got = kafka::consume_exactly(
            topic,
            wants.len(),
            Duration::from_secs(30),
            Duration::from_secs(1),
        )
        .await;
        for (i, want) in wants.iter().enumerate() {
            let candidates: Vec<&kafka::ConsumedRecord> = if ordered {
                vec![&got[i]]
            } else {
                got.iter().collect()
            };
            let mut last_err = String::new();
            let ok = candidates.iter().any(|rec| {
                match compare_consumed(rec, want, &u, &avro_schema_json, &mut diffs) {
                    Ok(()) => true,
                    Err(e) => {
                        last_err = e;
                        false
                    }
                }
            });
            if !ok {
                errs.push(format!("{topic} record {i}: {last_err}"));
            }
        }
    }
    run.stop().await?;
    if let Some(p) = proxy {
        p.task.abort();
    }
    let _ = std::fs::remove_dir_all(&tmp);
    diffs.sort();
    diffs.dedup();
    if errs.is_empty() {
        Ok(diffs)
    } else {
        Err(errs.join("; "))
    }
}

fn compare_consumed(
    rec: &kafka::ConsumedRecord,
    want: &J,
    u: &str,
    schemas: &BTreeMap<String, J>,
    diffs: &mut Vec<String>,
) -> Result<(), String> {
    let value = rec.payload.clone().unwrap_or_default();
    let mqtt_topic = rec
        .header(HEADER_TOPIC)
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .unwrap_or_default();
    for (k, w) in want.as_object().cloned().unwrap_or_default() {
        match k.as_str() {
            "topic" | "separate_poll" => {}
            "value_utf8" => {
                if value != w.as_str().unwrap_or("").as_bytes() {
                    return Err(format!(
                        "value: expected {w}, got {:?}",
                        String::from_utf8_lossy(&value)
                    ));
                }
            }
            "value_schema" if w == "BYTES" => {}
            "key_schema" => diffs.push(SCHEMA_DIFFERENCE.into()),
            "key.topic" => {
                let want_topic = mqtt_name(u, w.as_str().unwrap_or(""));
                if rec.key.as_deref() != Some(want_topic.as_bytes()) || mqtt_topic != want_topic {
                    return Err(format!("key: expected the MQTT topic {want_topic}"));
                }
                diffs.push(MSGKEY_DIFFERENCE.into());
            }
            "value_schema_fields_in_order" => {
                diffs.push(SCHEMA_DIFFERENCE.into());
                let original = mqtt_topic.strip_prefix(u).unwrap_or(&mqtt_topic);
                let decoded = match schemas.get(original) {
                    Some(schema) => {
                        let s =
                            AvroSchema::parse(&schema.to_string()).map_err(|e| e.to_string())?;
                        s.decode(&value)
                            .map(Value::into_owned)
                            .map_err(|e| e.to_string())?
                    }
                    None => json::parse(&value)
                        .map(Value::into_owned)
                        .map_err(|e| e.to_string())?,
                };
                let mut errs = Vec::new();
                check_fields(&decoded, &w, &mut errs);
                if let Some(v) = want.get("value") {
                    if !same_value(&decoded, v) {
                        errs.push(format!("value: expected {v}, got {decoded:?}"));
                    }
                }
                if !errs.is_empty() {
                    return Err(errs.join("; "));
                }
            }
            "value" => {}
            other => return Err(format!("unhandled expectation {other}")),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------

async fn run_case(case: &J, ordered_case: &Value<'_>) -> Outcome {
    match case["level"].as_str().unwrap_or("") {
        "kafka_topic" => kafka_topic_case(case),
        "converter" => converter_case(case),
        "settings" => settings_case(case),
        "should_replicate" => should_replicate_case(case),
        "task_configs" => task_configs_case(case),
        "integration" => integration_case(case, ordered_case).await,
        other => Err(format!("unknown level {other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_conformance() {
    let path = corpus_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let cases: Vec<J> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    // The same corpus through our order-preserving JSON decoder, for payloads whose member
    // order matters.
    let ordered = json::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{path}: {e}"));
    let Value::Array(ordered_cases) = &ordered else {
        panic!("{path}: not a JSON array")
    };
    let (mut passed, mut failed) = (0, 0);
    let mut failures = Vec::new();
    for (case, ordered_case) in cases.iter().zip(ordered_cases) {
        let id = case["id"].as_str().unwrap_or("<no id>");
        match run_case(case, ordered_case).await {
            Ok(diffs) => {
                passed += 1;
                for d in diffs {
                    println!("DIFFERENCE {id}: {d}");
                }
            }
            Err(reason) => {
                failed += 1;
                failures.push(format!("FAILED {id}: {reason}"));
            }
        }
    }
    for f in &failures {
        println!("{f}");
    }
    println!("CONFORMANCE mqtt: {passed} passed, {failed} failed");
    assert_eq!(failed, 0, "{failed} conformance case(s) failed");
}
