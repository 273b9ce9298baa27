//! InfluxDB sink conformance: runs every case of a corpus in the format of
//! `tests/conformance/influx_cases.json` (reference spec, section 9a) through the real path:
//! the case's record is built as a [`Value`] (JSON text through our JSON decoder; schemaless
//! maps from their JSON representation; Structs as an AvroConverter topic carries them: an
//! Avro datum of the Struct's schema, decoded by the sink's record decoder with
//! `value.format = avro`), the KCQL is compiled for the InfluxDB
//! sink, `write_route` writes line protocol, and an independent parser
//! (`influxdb-line-protocol`) reads it back for comparison.
//!
//! The corpus path comes from `$INFLUX_CONFORMANCE` (default: the in-repo copy). Prints
//! `CONFORMANCE influx: N passed, M failed`, each failure, and a `DIFFERENCE` line for every case
//! where we deliberately differ from the reference by a documented rule (the rule is checked by
//! code, never by case id). Fails if M > 0.

use influxdb_line_protocol::{parse_lines, FieldValue as Parsed};
use kcql::plan::{InfluxRoute, ProjectionItem, RecordPart, TimestampPlan};
use kcql_runtime::config::{InfluxSinkSettings, InfluxTarget};
use kcql_runtime::connectors::influx_sink::line_protocol::Precision;
use kcql_runtime::connectors::influx_sink::point::{write_route, RecordError};
use kcql_runtime::decode::{json, AvroSchema, Format};
use kcql_runtime::encode::avro::to_avro;
use kcql_runtime::record::RecordView;
use kcql_runtime::record::{RawRecord, RecordDecoder, RecordFormat, Schemas};
use kcql_runtime::value::Value;
use serde_json::{Map, Value as J};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The Kafka timestamp every record gets (epoch ms).
const RECORD_TS_MS: i64 = 1_700_000_000_123;
/// The processing time passed to `write_route` (epoch ns).
const NOW_NS: i64 = 1_800_000_000_000_000_007;

fn corpus_path() -> String {
    std::env::var("INFLUX_CONFORMANCE").unwrap_or_else(|_| {
        format!(
            "{}/tests/conformance/influx_cases.json",
            env!("CARGO_MANIFEST_DIR")
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Building values from the case representations

fn owned_str(s: &str) -> Value<'static> {
    Value::Str(Cow::Owned(s.to_string()))
}

fn from_json_text(text: &str) -> Result<Value<'static>, String> {
    json::parse(text.as_bytes())
        .map(Value::into_owned)
        .map_err(|e| format!("JSON decode: {e}"))
}

fn bytes_of(v: &J) -> Result<Value<'static>, String> {
    let arr = v.as_array().ok_or("bytes are not an array")?;
    let mut out = Vec::with_capacity(arr.len());
    for b in arr {
        let n = b.as_i64().ok_or("byte is not an integer")?;
        out.push(n as u8);
    }
    Ok(Value::Bytes(Cow::Owned(out)))
}

/// A Java value typed by class: `{"Integer": 0}`, `{"HashMap": {...}}`, ….
fn java_value(v: &J) -> Result<Value<'static>, String> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let obj = v
        .as_object()
        .ok_or(format!("java value {v} is not typed"))?;
    let (class, x) = obj.iter().next().ok_or("empty java value")?;
    Ok(match class.as_str() {
        "Integer" | "Long" | "Short" | "Byte" => {
            Value::Int(x.as_i64().ok_or(format!("{class} {x}"))?)
        }
        "Double" | "Float" => Value::Float(x.as_f64().ok_or(format!("{class} {x}"))?),
        "Boolean" => Value::Bool(x.as_bool().ok_or(format!("{class} {x}"))?),
        "String" => owned_str(x.as_str().ok_or(format!("{class} {x}"))?),
        "HashMap" => java_map(x)?,
        "ArrayList" => Value::Array(
            x.as_array()
                .ok_or("ArrayList is not an array")?
                .iter()
                .map(java_value)
                .collect::<Result<_, _>>()?,
        ),
        "byte[]" => bytes_of(x)?,
        other => return Err(format!("unknown java class {other}")),
    })
}

fn java_map(v: &J) -> Result<Value<'static>, String> {
    let obj = v.as_object().ok_or("java_map is not an object")?;
    let mut members = Vec::with_capacity(obj.len());
    for (k, x) in obj {
        members.push((Cow::Owned(k.clone()), java_value(x)?));
    }
    Ok(Value::Object(members))
}

/// A Connect value of `schema` from its JSON representation.
fn connect_value(schema: &J, v: &J) -> Result<Value<'static>, String> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    if let Some(name) = schema.as_str() {
        let base = name.strip_prefix("OPTIONAL_").unwrap_or(name);
        return Ok(match base {
            "STRING" => owned_str(v.as_str().ok_or(format!("{name}: {v}"))?),
            "INT8" | "INT16" | "INT32" | "INT64" => {
                Value::Int(v.as_i64().ok_or(format!("{name}: {v}"))?)
            }
            "FLOAT32" | "FLOAT64" => Value::Float(v.as_f64().ok_or(format!("{name}: {v}"))?),
            "BOOLEAN" => Value::Bool(v.as_bool().ok_or(format!("{name}: {v}"))?),
            "BYTES" => bytes_of(v.get("bytes").unwrap_or(v))?,
            other => return Err(format!("unknown schema {other}")),
        });
    }
    match schema["type"].as_str() {
        Some("struct") => {
            let fields = schema["fields"].as_array().ok_or("struct without fields")?;
            let mut members = Vec::with_capacity(fields.len());
            for f in fields {
                let name = f["name"].as_str().ok_or("field without name")?;
                let x = v.get(name).unwrap_or(&J::Null);
                members.push((
                    Cow::Owned(name.to_string()),
                    connect_value(&f["schema"], x)?,
                ));
            }
            Ok(Value::Object(members))
        }
        Some("array") => Ok(Value::Array(
            v.as_array()
                .ok_or("array value is not an array")?
                .iter()
                .map(|x| connect_value(&schema["value_schema"], x))
                .collect::<Result<_, _>>()?,
        )),
        Some("map") => {
            let obj = v.as_object().ok_or("map value is not an object")?;
            let mut members = Vec::with_capacity(obj.len());
            for (k, x) in obj {
                members.push((
                    Cow::Owned(k.clone()),
                    connect_value(&schema["value_schema"], x)?,
                ));
            }
            Ok(Value::Object(members))
        }
        _ => Err(format!("unknown schema {schema}")),
    }
}

/// How many Struct values went through the sink's Avro decoder.
static THROUGH_AVRO: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The Avro schema Confluent's AvroConverter writes for a Connect schema (`OPTIONAL_*` and
/// optional structs as `["null", T]`); nested records are named `S1`, `S2`, ….
fn connect_to_avro(schema: &J, names: &mut usize) -> Result<J, String> {
    if let Some(name) = schema.as_str() {
        let (optional, base) = match name.strip_prefix("OPTIONAL_") {
            Some(b) => (true, b),
            None => (false, name),
        };
        let t = match base {
            "INT8" | "INT16" | "INT32" => "int",
            "INT64" => "long",
            "FLOAT32" => "float",
            "FLOAT64" => "double",
            "BOOLEAN" => "boolean",
            "STRING" => "string",
            "BYTES" => "bytes",
            other => return Err(format!("unknown schema {other}")),
        };
        return Ok(if optional {
            serde_json::json!(["null", t])
        } else {
            serde_json::json!(t)
        });
    }
    let t = match schema["type"].as_str() {
        Some("struct") => {
            *names += 1;
            let name = format!("S{names}");
            let mut fields = Vec::new();
            for f in schema["fields"].as_array().ok_or("struct without fields")? {
                fields.push(serde_json::json!({
                    "name": f["name"],
                    "type": connect_to_avro(&f["schema"], names)?,
                }));
            }
            serde_json::json!({"type": "record", "name": name, "fields": fields})
        }
        Some("array") => serde_json::json!({"type": "array",
            "items": connect_to_avro(&schema["value_schema"], names)?}),
        Some("map") => serde_json::json!({"type": "map",
            "values": connect_to_avro(&schema["value_schema"], names)?}),
        _ => return Err(format!("unknown schema {schema}")),
    };
    Ok(if schema["optional"].as_bool() == Some(true) {
        serde_json::json!(["null", t])
    } else {
        t
    })
}

/// A Struct value as the sink receives it from an AvroConverter topic: written as an Avro
/// datum with the schema of its Connect schema, then decoded by the sink's own record decoder
/// (`value.format = avro`).
fn through_avro(schema: &J, value: &Value<'static>) -> Result<Value<'static>, String> {
    let avro = connect_to_avro(schema, &mut 0)?.to_string();
    let parsed = AvroSchema::parse(&avro).map_err(|e| format!("Avro schema {avro}: {e}"))?;
    let datum = to_avro(&parsed, value).map_err(|e| format!("Avro encode: {e}"))?;
    let decoder = RecordDecoder::new(&RecordFormat {
        value: Format::Avro,
        avro_schema: Some(avro),
        ..RecordFormat::default()
    })
    .map_err(|e| e.to_string())?;
    let raw = RawRecord {
        topic: "t",
        partition: 0,
        offset: 0,
        timestamp_ms: None,
        key: None,
        value: Some(&datum),
        headers: &[],
    };
    let view = decoder
        .view(&raw, Schemas::none(), false)
        .map_err(|e| format!("Avro decode: {e}"))?;
    THROUGH_AVRO.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Ok(view.value.into_owned())
}

/// A record key or value: `schema` is the case's `*_schema`, `payload` its representation.
fn payload_value(schema: &J, payload: &J) -> Result<Value<'static>, String> {
    if payload.is_null() {
        return Ok(Value::Null);
    }
    if let Some(text) = payload.get("json_text").and_then(J::as_str) {
        return from_json_text(text);
    }
    if let Some(m) = payload.get("java_map") {
        return java_map(m);
    }
    if let Some(s) = payload.get("struct") {
        let schema = if schema.is_object() {
            schema
        } else {
            &payload["struct_schema"]
        };
        return through_avro(schema, &connect_value(schema, s)?);
    }
    if schema.as_str() == Some("STRING") {
        if let Some(text) = payload.as_str() {
            return from_json_text(text);
        }
    }
    Err(format!("unsupported payload {payload}"))
}

fn record_of(r: &J) -> Result<RecordView<'static>, String> {
    let value = payload_value(&r["value_schema"], &r["value"])?;
    let key = payload_value(&r["key_schema"], &r["key"])?;
    let topic: &'static str = Box::leak(
        r["topic"]
            .as_str()
            .unwrap_or("")
            .to_string()
            .into_boxed_str(),
    );
    Ok(RecordView {
        topic,
        partition: r["partition"].as_i64().unwrap_or(0) as i32,
        offset: r["offset"].as_i64().unwrap_or(0),
        timestamp_ms: Some(RECORD_TS_MS),
        key,
        value,
        headers: &[],
    })
}

fn input_record(input: &J) -> Result<RecordView<'static>, String> {
    let value = payload_value(&J::Null, input)?;
    let mut rec = RecordView::of_value(value);
    rec.timestamp_ms = Some(RECORD_TS_MS);
    Ok(rec)
}

// ---------------------------------------------------------------------------------------------
// Running routes and reading the line protocol back

fn routes(kcql: &str) -> Result<Vec<InfluxRoute>, String> {
    kcql::compile_influx(kcql)
        .map(|p| p.routes)
        .map_err(|e| format!("`{kcql}` does not compile: {e:?}"))
}

/// A parsed field value, owned.
#[derive(Debug, Clone, PartialEq)]
enum Field {
    I(i64),
    U(u64),
    F(f64),
    B(bool),
    S(String),
}

#[derive(Debug)]
struct Point {
    measurement: String,
    tags: BTreeMap<String, String>,
    fields: BTreeMap<String, Field>,
    time: Option<i64>,
}

fn parse_points(text: &str) -> Result<Vec<Point>, String> {
    let mut out = Vec::new();
    for line in parse_lines(text) {
        let line = line.map_err(|e| format!("line protocol {text:?} does not parse: {e}"))?;
        let fields = line
            .field_set
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Parsed::I64(n) => Field::I(*n),
                    Parsed::U64(n) => Field::U(*n),
                    Parsed::F64(f) => Field::F(*f),
                    Parsed::Boolean(b) => Field::B(*b),
                    Parsed::String(s) => Field::S(s.to_string()),
                };
                (k.to_string(), v)
            })
            .collect();
        out.push(Point {
            measurement: line.series.measurement.to_string(),
            tags: line
                .series
                .tag_set
                .iter()
                .flatten()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            fields,
            time: line.timestamp,
        });
    }
    Ok(out)
}

/// Runs every route of `kcql` on every record; `Err` when a record fails (the batch fails).
fn run(
    routes: &[InfluxRoute],
    records: &[RecordView<'static>],
    precision: Precision,
) -> Result<Vec<Point>, String> {
    let mut out = Vec::new();
    for rec in records {
        for route in routes
            .iter()
            .filter(|r| r.topic == rec.topic || rec.topic.is_empty())
        {
            write_route(route, rec, NOW_NS, precision, &mut out).map_err(|e| e.to_string())?;
        }
    }
    parse_points(&String::from_utf8(out).map_err(|e| e.to_string())?)
}

/// A typed expected field (`{"s":..}`, `{"i":..}`, `{"f":..}`, `{"b":..}`) against a parsed one.
fn field_matches(expected: &J, got: &Field) -> bool {
    let Some((k, v)) = expected.as_object().and_then(|o| o.iter().next()) else {
        return false;
    };
    match (k.as_str(), got) {
        ("s", Field::S(s)) => v.as_str() == Some(s.as_str()),
        ("i", Field::I(n)) => v.as_i64() == Some(*n),
        ("i", Field::U(n)) => v.as_u64() == Some(*n),
        ("f", Field::F(f)) => v.as_f64() == Some(*f),
        ("b", Field::B(b)) => v.as_bool() == Some(*b),
        _ => false,
    }
}

fn compare_fields(expected: &Map<String, J>, got: &BTreeMap<String, Field>) -> Result<(), String> {
    let mut errs = Vec::new();
    for (name, e) in expected {
        match got.get(name) {
            None => errs.push(format!("field `{name}` missing (expected {e})")),
            Some(g) if !field_matches(e, g) => {
                errs.push(format!("field `{name}`: expected {e}, got {g:?}"))
            }
            Some(_) => {}
        }
    }
    for name in got.keys() {
        if !expected.contains_key(name) {
            errs.push(format!("unexpected field `{name}` = {:?}", got[name]));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

fn precision_of(p: &J) -> Result<Precision, String> {
    Ok(match p.as_str().unwrap_or("ns") {
        "ns" => Precision::Ns,
        "us" => Precision::Us,
        "ms" => Precision::Ms,
        "s" => Precision::S,
        other => return Err(format!("unknown precision {other}")),
    })
}

/// Outcome of one case: passed (with any DIFFERENCE notes) or failed with a reason.
type Outcome = Result<Vec<String>, String>;

fn check_point(
    expected: &J,
    got: &Point,
    route: &InfluxRoute,
    precision: Precision,
    diffs: &mut Vec<String>,
) -> Result<(), String> {
    let mut errs = Vec::new();
    if expected["measurement"].as_str() != Some(got.measurement.as_str()) {
        errs.push(format!(
            "measurement: expected {}, got {:?}",
            expected["measurement"], got.measurement
        ));
    }
    let want_tags: BTreeMap<String, String> = expected["tags"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    if want_tags != got.tags {
        errs.push(format!("tags: expected {want_tags:?}, got {:?}", got.tags));
    }
    let empty = Map::new();
    if let Err(e) = compare_fields(
        expected["fields"].as_object().unwrap_or(&empty),
        &got.fields,
    ) {
        errs.push(e);
    }
    let time = &expected["time"];
    if let Some(t) = time.as_i64() {
        if got.time != Some(t) {
            errs.push(format!(
                "time: expected {t} ({precision:?}), got {:?}",
                got.time
            ));
        }
    } else if time["system_clock_ns"].as_bool() == Some(true) {
        match &route.timestamp {
            TimestampPlan::ProcessingTime => {
                if got.time != Some(precision.from_nanos(NOW_NS)) {
                    errs.push(format!(
                        "time: expected the processing time {NOW_NS}, got {:?}",
                        got.time
                    ));
                }
            }
            // Rule (README, Extensions): without WITHTIMESTAMP the time is the Kafka record's
            // timestamp, not the wall clock.
            TimestampPlan::RecordTimestamp => {
                let want = precision.from_nanos(RECORD_TS_MS * 1_000_000);
                if got.time == Some(want) {
                    diffs.push(format!(
                        "no WITHTIMESTAMP: the point's time is the Kafka record timestamp ({want} {}), not the wall clock",
                        precision.as_str()
                    ));
                } else {
                    errs.push(format!(
                        "time: expected the record timestamp {want}, got {:?}",
                        got.time
                    ));
                }
            }
            TimestampPlan::Field { .. } => errs.push(format!(
                "case expects the clock but the route reads a time field; got {:?}",
                got.time
            )),
        }
    } else {
        errs.push(format!("unknown time expectation {time}"));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

fn point_case(case: &J) -> Outcome {
    let kcql = case["kcql"].as_str().ok_or("no kcql")?;
    let routes = routes(kcql)?;
    let records: Vec<RecordView<'static>> = match case.get("records") {
        Some(rs) => rs
            .as_array()
            .ok_or("records is not a list")?
            .iter()
            .map(record_of)
            .collect::<Result<_, _>>()?,
        None => vec![record_of(&case["record"])?],
    };
    let expect_points = case.get("expect_points").and_then(J::as_array);
    let precision = match expect_points.and_then(|p| p.first()) {
        Some(p) => precision_of(&p["precision"])?,
        None => Precision::Ns,
    };
    let result = run(&routes, &records, precision);
    if case.get("expect_error").is_some() {
        return match result {
            Err(_) => Ok(vec![]),
            Ok(points) => Err(format!(
                "expected an error ({}), got {} point(s): {points:?}",
                case["expect_error"],
                points.len()
            )),
        };
    }
    let expect_points = expect_points.ok_or("neither expect_points nor expect_error")?;
    let points = match result {
        Ok(points) => points,
        Err(e) => {
            return match array_under_star(&routes, &records, precision) {
                Some(d) => Ok(vec![d]),
                None => Err(format!("expected points, got error: {e}")),
            }
        }
    };
    if points.len() != expect_points.len() {
        return Err(format!(
            "expected {} point(s), got {}: {points:?}",
            expect_points.len(),
            points.len()
        ));
    }
    let mut diffs = Vec::new();
    let mut errs = Vec::new();
    for (i, (e, g)) in expect_points.iter().zip(&points).enumerate() {
        if let Err(m) = check_point(e, g, &routes[0], precision, &mut diffs) {
            errs.push(format!("point {i}: {m}"));
        }
    }
    if errs.is_empty() {
        diffs.dedup();
        Ok(diffs)
    } else {
        Err(errs.join(" | "))
    }
}

/// Rule (README, deliberate differences): an array member under `*` fails the record with
/// `UnsupportedField` (the reference flattened Connect Struct arrays into `name0, name1, …` but
/// rejected JSON/Map lists; our `Value` cannot tell them apart, so one rule applies). Returns the
/// DIFFERENCE note when every route selects `*` of the value and every record that fails does so
/// with `UnsupportedField` on an array member, and at least one record fails.
fn array_under_star(
    routes: &[InfluxRoute],
    records: &[RecordView<'static>],
    precision: Precision,
) -> Option<String> {
    let star = routes.iter().all(|r| {
        r.fields.iter().any(|f| {
            matches!(f, ProjectionItem::Expand { from, .. }
                if from.path.is_empty() && from.part == RecordPart::Value)
        })
    });
    if !star {
        return None;
    }
    let mut names = Vec::new();
    for rec in records {
        for route in routes
            .iter()
            .filter(|r| r.topic == rec.topic || rec.topic.is_empty())
        {
            let mut out = Vec::new();
            match write_route(route, rec, NOW_NS, precision, &mut out) {
                Ok(_) => {}
                Err(RecordError::UnsupportedField { name, .. })
                    if matches!(rec.value.get(&name), Some(Value::Array(_))) =>
                {
                    names.push(name)
                }
                Err(_) => return None,
            }
        }
    }
    if names.is_empty() {
        return None;
    }
    names.dedup();
    Some(format!(
        "array member(s) {} under `*` fail the record with UnsupportedField (the reference \
         flattened Struct arrays into name0, name1, …)",
        names.join(", ")
    ))
}

fn quoted(name: &str) -> String {
    format!("`{name}`")
}

fn path_text(path: &J) -> Result<String, String> {
    let segs = path.as_array().ok_or("path is not a list")?;
    let mut parts = Vec::new();
    for s in segs {
        parts.push(quoted(s.as_str().ok_or("path segment is not a string")?));
    }
    Ok(parts.join("."))
}

fn extract_all_case(case: &J) -> Outcome {
    let rec = input_record(&case["input"])?;
    let ignored: Vec<String> = case["ignored"]
        .as_array()
        .map(|a| a.iter().filter_map(J::as_str).map(quoted).collect())
        .unwrap_or_default();
    let mut kcql = "INSERT INTO m SELECT * FROM t".to_string();
    if !ignored.is_empty() {
        kcql.push_str(" IGNORE ");
        kcql.push_str(&ignored.join(", "));
    }
    let result = run(&routes(&kcql)?, std::slice::from_ref(&rec), Precision::Ns);
    if case.get("expect_error").is_some() {
        return match result {
            Err(_) => Ok(vec![]),
            Ok(p) => Err(format!(
                "expected an error ({}), got {p:?}",
                case["expect_error"]
            )),
        };
    }
    let expect = case["expect"]
        .as_object()
        .ok_or("expect is not an object")?;
    let points = result.map_err(|e| format!("expected fields, got error: {e}"))?;
    let [point] = points.as_slice() else {
        return Err(format!("expected one point, got {points:?}"));
    };
    let mut diffs = Vec::new();
    let mut want = Map::new();
    for (name, e) in expect {
        if e.is_null() {
            // Rule (README, influx_point): null members under `*` are skipped, not kept as null.
            let member = rec.value.get(name);
            if member.is_none_or(Value::is_null) && !point.fields.contains_key(name) {
                diffs.push(format!(
                    "null member `{name}` is skipped under `*` (the reference returns it as null)"
                ));
            } else {
                return Err(format!(
                    "member `{name}`: expected null (skipped), got {:?}",
                    point.fields.get(name)
                ));
            }
        } else {
            want.insert(name.clone(), e.clone());
        }
    }
    compare_fields(&want, &point.fields)?;
    Ok(diffs)
}

fn extract_path_case(case: &J) -> Outcome {
    let rec = input_record(&case["input"])?;
    // Outer `Err`: the probe statement does not compile (a runner failure, never a pass).
    let one = |path: &J| -> Result<Result<Vec<Point>, String>, String> {
        let kcql = format!("INSERT INTO m SELECT {} AS v FROM t", path_text(path)?);
        Ok(run(
            &routes(&kcql)?,
            std::slice::from_ref(&rec),
            Precision::Ns,
        ))
    };
    if case.get("expect_error").is_some() {
        return match one(&case["path"])? {
            Err(_) => Ok(vec![]),
            Ok(p) => Err(format!(
                "expected an error ({}), got {p:?}",
                case["expect_error"]
            )),
        };
    }
    let mut errs = Vec::new();
    for e in case["expect"].as_array().ok_or("expect is not a list")? {
        match one(&e["path"])? {
            Ok(points) => match points.as_slice() {
                [p] if p.fields.len() == 1
                    && p.fields
                        .get("v")
                        .is_some_and(|g| field_matches(&e["value"], g)) => {}
                other => errs.push(format!(
                    "path {}: expected {}, got {other:?}",
                    e["path"], e["value"]
                )),
            },
            Err(m) => errs.push(format!("path {}: {m}", e["path"])),
        }
    }
    if errs.is_empty() {
        Ok(vec![])
    } else {
        Err(errs.join("; "))
    }
}

fn coerce_timestamp_case(case: &J) -> Outcome {
    let rec = input_record(&case["input"])?;
    // Outer `Err`: the probe statement does not compile (a runner failure, never a pass).
    let one = |path: &J| -> Result<Result<Option<i64>, String>, String> {
        let kcql = format!(
            "INSERT INTO m SELECT 1 AS probe FROM t WITHTIMESTAMP {}",
            path_text(path)?
        );
        let routes = routes(&kcql)?;
        Ok(
            run(&routes, std::slice::from_ref(&rec), Precision::Ns).and_then(|points| match points
                .as_slice()
            {
                [p] => Ok(p.time),
                other => Err(format!("expected one point, got {other:?}")),
            }),
        )
    };
    if case.get("expect_error").is_some() {
        return match one(&case["path"])? {
            Err(_) => Ok(vec![]),
            Ok(t) => Err(format!(
                "expected an error ({}), got time {t:?}",
                case["expect_error"]
            )),
        };
    }
    let mut errs = Vec::new();
    let mut diffs = Vec::new();
    for e in case["expect"].as_array().ok_or("expect is not a list")? {
        let got = one(&e["path"])?;
        if e.get("error").is_some() {
            if let Ok(t) = got {
                errs.push(format!(
                    "path {}: expected an error ({}), got time {t:?}",
                    e["path"], e["error"]
                ));
            }
            continue;
        }
        let Some(ms) = e["epoch_millis"].as_i64() else {
            errs.push(format!("path {}: no epoch_millis", e["path"]));
            continue;
        };
        let got = match got {
            Ok(t) => t,
            Err(m) => {
                errs.push(format!("path {}: {m}", e["path"]));
                continue;
            }
        };
        if got == Some(ms * 1_000_000) {
            continue;
        }
        // Rule (README): a float time is epoch seconds rounded to the microsecond (the
        // reference truncates to the millisecond).
        let segs: Vec<&str> = e["path"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(J::as_str)
            .collect();
        if let Some(Value::Float(f)) = rec.value.get_path(&segs) {
            let ours = (f * 1e6).round() as i64 * 1_000;
            if got == Some(ours) {
                diffs.push(format!(
                    "float seconds {f} are rounded to the microsecond ({ours} ns), not truncated to {ms} ms"
                ));
                continue;
            }
        }
        errs.push(format!(
            "path {}: expected {} ns ({ms} ms), got {got:?}",
            e["path"],
            ms * 1_000_000
        ));
    }
    if errs.is_empty() {
        Ok(diffs)
    } else {
        Err(errs.join("; "))
    }
}

/// A `settings` case: the case's `props` through the connector's properties loader.
fn settings_case(case: &J) -> Outcome {
    let props: Vec<(String, String)> = case["props"]
        .as_object()
        .ok_or("props is not an object")?
        .iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|v| (k.clone(), v.to_string()))
                .ok_or_else(|| format!("prop `{k}` is not a string"))
        })
        .collect::<Result<_, _>>()?;
    let result = InfluxSinkSettings::from_properties(&props);
    if let Some(want) = case.get("expect_error") {
        return match result {
            Err(errs) => {
                let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
                match want.as_str() {
                    Some(w) if !msgs.iter().any(|m| m.contains(w)) => {
                        Err(format!("expected the error {w:?}, got {msgs:?}"))
                    }
                    _ => Ok(vec![]),
                }
            }
            Ok(s) => Err(format!("expected an error ({want}), got {s:?}")),
        };
    }
    let s = result.map_err(|errs| {
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        format!("expected settings, got errors: {msgs:?}")
    })?;
    let InfluxTarget::V1 {
        database,
        username,
        password,
        consistency,
        ..
    } = &s.target
    else {
        return Err(format!("expected a 1.x target, got {:?}", s.target));
    };
    let timestamp = |r: &InfluxRoute| match &r.timestamp {
        TimestampPlan::RecordTimestamp => J::Null,
        TimestampPlan::ProcessingTime => J::from("sys_time()"),
        TimestampPlan::Field { field, .. } => J::from(field.path.join(".")),
    };
    let mut errs = Vec::new();
    for (key, want) in case["expect"]
        .as_object()
        .ok_or("expect is not an object")?
    {
        let got = match key.as_str() {
            "connectionUrl" => J::from(s.url.as_str()),
            "database" => J::from(database.as_str()),
            "user" => J::from(username.as_str()),
            "password" => password.as_ref().map_or(J::Null, |p| J::from(p.expose())),
            "errorPolicy" => J::from(s.error_policy.as_str()),
            "kcql_count" => J::from(s.statement_count),
            "kcql_has_star" => J::from(s.plan.routes.iter().any(|r| {
                r.fields
                    .iter()
                    .any(|f| matches!(f, ProjectionItem::Expand { .. }))
            })),
            "kcql_timestamp" => s.plan.routes.first().map_or(J::Null, timestamp),
            "consistencyLevel" => J::from(consistency.as_str().to_ascii_uppercase()),
            other => {
                errs.push(format!("unknown expectation `{other}`"));
                continue;
            }
        };
        if &got != want {
            errs.push(format!("{key}: expected {want}, got {got}"));
        }
    }
    if errs.is_empty() {
        Ok(vec![])
    } else {
        Err(errs.join("; "))
    }
}

fn run_case(case: &J) -> Outcome {
    match case["level"].as_str().unwrap_or("") {
        "point" | "batch" => point_case(case),
        "extract_all_fields" => extract_all_case(case),
        "extract_path" => extract_path_case(case),
        "coerce_timestamp" => coerce_timestamp_case(case),
        "settings" => settings_case(case),
        other => Err(format!("unknown level {other:?}")),
    }
}

#[test]
fn influx_conformance() {
    let path = corpus_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let cases: Vec<J> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (mut passed, mut failed) = (0, 0);
    let mut failures = Vec::new();
    for case in &cases {
        let id = case["id"].as_str().unwrap_or("<no id>");
        match run_case(case) {
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
    let avro = THROUGH_AVRO.load(std::sync::atomic::Ordering::SeqCst);
    println!("Struct values decoded through the sink's Avro decoder: {avro}");
    println!("CONFORMANCE influx: {passed} passed, {failed} failed");
    assert!(
        avro > 0 || !text.contains("\"struct\""),
        "the corpus has Struct records, but none went through the Avro decoder"
    );
    assert_eq!(failed, 0, "{failed} conformance case(s) failed");
}
