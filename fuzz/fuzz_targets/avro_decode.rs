//! The Avro schema parser and datum reader (`kcql_runtime::decode::avro`) on any bytes.
//!
//! First byte below `0xC0`: it picks one of [`SCHEMAS`] and the rest is a datum. The reader
//! never panics and never allocates more than a small multiple of the input (run with
//! `-malloc_limit_mb`: a forged length or block count must be an error, not an allocation);
//! the Confluent framing of the same datum decodes the same; and whatever it accepts,
//! `apache-avro` reads as the same value, consuming the same bytes.
//!
//! First byte `0xC0` or above: the rest is `schema JSON NUL datum`; any schema text is parsed
//! and, when it is a schema, the datum decoded against it (no panic, errors render).
#![no_main]

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use apache_avro::types::Value as A;
use kcql_runtime::decode::avro::{AvroError, CONFLUENT_MAGIC};
use kcql_runtime::decode::AvroSchema;
use kcql_runtime::value::Value;
use libfuzzer_sys::fuzz_target;

/// Writer schemas covering the types and logical types the reader knows.
const SCHEMAS: &[&str] = &[
    // The sensor record of the talk.
    r#"{"type":"record","name":"Sensor","namespace":"iot","fields":[
        {"name":"id","type":"string"},{"name":"temperature","type":"double"},
        {"name":"humidity","type":["null","float"]},{"name":"ts","type":"long"},
        {"name":"ok","type":"boolean"}]}"#,
    // Every primitive.
    r#"{"type":"record","name":"P","fields":[
        {"name":"n","type":"null"},{"name":"b","type":"boolean"},{"name":"i","type":"int"},
        {"name":"l","type":"long"},{"name":"f","type":"float"},{"name":"d","type":"double"},
        {"name":"by","type":"bytes"},{"name":"s","type":"string"}]}"#,
    // Collections, enums, fixed, unions of named types.
    r#"{"type":"record","name":"C","fields":[
        {"name":"a","type":{"type":"array","items":"long"}},
        {"name":"m","type":{"type":"map","values":["null","string",{"type":"array","items":"int"}]}},
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}},
        {"name":"x","type":{"type":"fixed","name":"F4","size":4}},
        {"name":"u","type":["null","E","F4",{"type":"map","values":"boolean"}]}]}"#,
    // Logical types.
    r#"{"type":"record","name":"L","fields":[
        {"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":38,"scale":4}},
        {"name":"decf","type":{"type":"fixed","name":"D8","size":8,"logicalType":"decimal","precision":18,"scale":2}},
        {"name":"uf","type":{"type":"fixed","name":"U16","size":16,"logicalType":"uuid"}},
        {"name":"date","type":{"type":"int","logicalType":"date"}},
        {"name":"tms","type":{"type":"int","logicalType":"time-millis"}},
        {"name":"tus","type":{"type":"long","logicalType":"time-micros"}},
        {"name":"tsm","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"tsu","type":{"type":"long","logicalType":"timestamp-micros"}},
        {"name":"tsn","type":{"type":"long","logicalType":"timestamp-nanos"}},
        {"name":"ltm","type":{"type":"long","logicalType":"local-timestamp-millis"}},
        {"name":"dur","type":{"type":"fixed","name":"Dur","size":12,"logicalType":"duration"}}]}"#,
    // A recursive linked list.
    r#"{"type":"record","name":"Node","fields":[
        {"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}"#,
    // Nested collections of zero-byte items.
    r#"{"type":"array","items":{"type":"map","values":{"type":"array","items":"null"}}}"#,
    // A uuid string and a nested record.
    r#"{"type":"record","name":"Outer","fields":[
        {"name":"id","type":{"type":"string","logicalType":"uuid"}},
        {"name":"inner","type":{"type":"record","name":"Inner","fields":[
            {"name":"z","type":{"type":"fixed","name":"Z","size":0}},
            {"name":"tags","type":{"type":"array","items":"string"}}]}}]}"#,
    // A bare union at the root.
    r#"["null","long","string","bytes","double"]"#,
];

/// `v` with maps as `apache-avro` keeps them: the last of repeated keys wins, keys sorted.
fn collapse<'a>(members: &'a [(Cow<'a, str>, Value<'a>)]) -> BTreeMap<&'a str, &'a Value<'a>> {
    members.iter().map(|(k, v)| (k.as_ref(), v)).collect()
}

/// The same value: `apache-avro` wraps union branches, enums and logical types; this reader
/// gives the plain value (see the table in `kcql_runtime::decode::avro`).
fn same(ours: &Value<'_>, theirs: &A) -> bool {
    match (ours, theirs) {
        (_, A::Union(_, inner)) => same(ours, inner),
        (Value::Null, A::Null) => true,
        (Value::Bool(a), A::Boolean(b)) => a == b,
        (Value::Int(a), A::Int(b) | A::Date(b) | A::TimeMillis(b)) => *a == i64::from(*b),
        (
            Value::Int(a),
            A::Long(b)
            | A::TimeMicros(b)
            | A::TimestampMillis(b)
            | A::TimestampMicros(b)
            | A::TimestampNanos(b)
            | A::LocalTimestampMillis(b)
            | A::LocalTimestampMicros(b)
            | A::LocalTimestampNanos(b),
        ) => a == b,
        (Value::Float(a), A::Float(b)) => a.to_bits() == f64::from(*b).to_bits(),
        (Value::Float(a), A::Double(b)) => a.to_bits() == b.to_bits(),
        // The decimal's arithmetic is the reader's own (lossy by design); check the kind.
        (Value::Float(_), A::Decimal(_)) => true,
        (Value::Bytes(a), A::Bytes(b) | A::Fixed(_, b)) => a.as_ref() == b.as_slice(),
        (Value::Str(a), A::String(b) | A::Enum(_, b)) => a == b,
        // This reader passes a `uuid` string through as written; apache-avro parses it
        // (any case, with or without hyphens, braces or `urn:uuid:`).
        (Value::Str(a), A::Uuid(u)) => {
            let digits = a
                .trim_start_matches("urn:uuid:")
                .trim_matches(['{', '}'])
                .replace('-', "");
            digits.eq_ignore_ascii_case(&u.to_string().replace('-', ""))
        }
        (Value::Str(a), A::Fixed(16, b)) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            a.len() == 36 && a.replace('-', "") == hex
        }
        (Value::Array(a), A::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Object(members), A::Map(b)) => {
            let ours = collapse(members);
            ours.len() == b.len()
                && ours
                    .iter()
                    .all(|(k, v)| b.get(*k).is_some_and(|t| same(v, t)))
        }
        (Value::Object(members), A::Record(b)) => {
            members.len() == b.len()
                && members
                    .iter()
                    .zip(b)
                    .all(|((k, v), (name, t))| k == name && same(v, t))
        }
        (Value::Object(members), A::Duration(d)) => {
            let part = |name: &str, n: u32| {
                members
                    .iter()
                    .any(|(k, v)| k == name && *v == Value::Int(i64::from(n)))
            };
            members.len() == 3
                && part("months", u32::from(d.months()))
                && part("days", u32::from(d.days()))
                && part("millis", u32::from(d.millis()))
        }
        _ => false,
    }
}

/// `apache-avro` 0.21 reads a `uuid` as length-prefixed bytes even on a `fixed`, so it is
/// given a plain `fixed` instead, and its bytes compared with the text this reader makes.
const FIXED_UUID: &str = r#""size":16,"logicalType":"uuid""#;
const FIXED_16: &str = r#""size":16"#;

/// The schema id the fixed schemas are "registered" under, for the Confluent framing.
const REGISTRY_ID: u32 = 7;

/// [`SCHEMAS`] parsed by this reader and by `apache-avro`, once.
fn parsed() -> &'static [(AvroSchema, apache_avro::Schema)] {
    static PARSED: OnceLock<Vec<(AvroSchema, apache_avro::Schema)>> = OnceLock::new();
    PARSED.get_or_init(|| {
        SCHEMAS
            .iter()
            .map(|text| {
                (
                    AvroSchema::parse(text)
                        .expect("the fixed schemas parse")
                        .with_registry_id(REGISTRY_ID),
                    apache_avro::Schema::parse_str(&text.replace(FIXED_UUID, FIXED_16))
                        .expect("apache-avro reads them"),
                )
            })
            .collect()
    })
}

/// A fixed schema and a datum: decode it every way and compare with `apache-avro`.
fn fixed_schema(which: u8, datum: &[u8]) {
    let which = usize::from(which) % SCHEMAS.len();
    let text = SCHEMAS[which];
    let (ours, reference) = &parsed()[which];
    let decoded = ours.decode(datum);

    let mut payload = vec![CONFLUENT_MAGIC];
    payload.extend_from_slice(&REGISTRY_ID.to_be_bytes());
    payload.extend_from_slice(datum);
    let confluent = ours.decode_confluent(&payload);
    match (&decoded, &confluent) {
        // Compared as printed: a NaN is not `==` itself.
        (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (Err(_), Err(_)) => {}
        _ => panic!("plain {decoded:?} vs Confluent {confluent:?}"),
    }
    payload[1..5].copy_from_slice(&(REGISTRY_ID + 1).to_be_bytes());
    assert!(matches!(
        ours.decode_confluent(&payload),
        Err(AvroError::SchemaIdMismatch { .. })
    ));

    let value = match decoded {
        Ok(v) => v,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let uuid_string = text.contains(r#""string","logicalType":"uuid""#);
    let mut reader = datum;
    match apache_avro::from_avro_datum(reference, &mut reader, None) {
        Ok(theirs) => {
            assert!(
                reader.is_empty(),
                "apache-avro left {} byte(s) of a datum this reader consumed whole",
                reader.len()
            );
            assert!(
                same(&value, &theirs),
                "values differ\nschema: {text}\ndatum: {datum:02x?}\nours:   {value:?}\ntheirs: {theirs:?}"
            );
        }
        // apache-avro checks that a `uuid` string is a UUID; this reader passes it through.
        Err(e) if uuid_string && e.to_string().to_ascii_lowercase().contains("uuid") => {}
        Err(e) => panic!(
            "accepted what apache-avro refuses ({e})\nschema: {text}\ndatum: {datum:02x?}\nours: {value:?}"
        ),
    }
}

/// Any schema text and a datum: no panic.
fn any_schema(data: &[u8]) {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let Ok(text) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let datum = data.get(split + 1..).unwrap_or_default();
    match AvroSchema::parse(text) {
        Ok(schema) => {
            match schema.decode(datum) {
                Ok(v) => {
                    let _ = v.to_string();
                }
                Err(e) => {
                    let _ = e.to_string();
                }
            }
            let _ = schema.logical_type(&["a"]);
            let _ = schema.logical_type::<&str>(&[]);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    if first < 0xC0 {
        fixed_schema(first, rest);
    } else {
        any_schema(rest);
    }
});
