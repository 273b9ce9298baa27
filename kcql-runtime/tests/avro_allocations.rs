//! Counts what the Avro decoder allocates, with a counting global allocator: a sensor record
//! costs one allocation (the record's member vector; strings borrow from the payload, field
//! names from the schema), and forged lengths and counts are refused before anything is
//! reserved.

use kcql_runtime::decode::{AvroError, AvroSchema};
use kcql_runtime::value::Value;
use kcql_testkit::alloc_count::{counted, CountingAllocator};
use std::borrow::Cow;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push(z as u8 | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

const SENSOR: &str = r#"{"type": "record", "name": "Sensor", "fields": [
    {"name": "id", "type": "string"},
    {"name": "temperature", "type": "double"},
    {"name": "humidity", "type": "int"},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}"#;

#[test]
fn avro_decoding_allocates_only_member_vectors_and_nothing_for_forged_lengths() {
    let sensor = AvroSchema::parse(SENSOR).unwrap();
    let mut datum = Vec::new();
    long(&mut datum, 4);
    datum.extend_from_slice(b"SB01");
    datum.extend_from_slice(&25.3f64.to_le_bytes());
    long(&mut datum, 40);
    long(&mut datum, 1_700_000_000_000);
    // Warm up.
    sensor.decode(&datum).unwrap();

    let (value, allocs, bytes) = counted(|| sensor.decode(&datum).unwrap());
    assert_eq!(allocs, 1, "only the record's member vector");
    assert!(bytes <= 4 * 64, "{bytes} bytes for four members");
    assert!(matches!(
        value.get("id"),
        Some(Value::Str(Cow::Borrowed("SB01")))
    ));
    drop(value);

    // Forged lengths and counts: refused before any reservation.
    let strings = AvroSchema::parse(r#""string""#).unwrap();
    let longs = AvroSchema::parse(r#"{"type": "array", "items": "long"}"#).unwrap();
    let maps = AvroSchema::parse(r#"{"type": "map", "values": "double"}"#).unwrap();
    let mut cases: Vec<(&AvroSchema, Vec<u8>)> = Vec::new();
    for n in [1i64 << 40, i64::MAX, 1000] {
        let mut d = Vec::new();
        long(&mut d, n);
        d.extend_from_slice(&[2; 16]);
        cases.push((&strings, d.clone()));
        cases.push((&longs, d.clone()));
        cases.push((&maps, d));
    }
    for (schema, d) in &cases {
        let (r, allocs, _) = counted(|| schema.decode(d));
        assert!(
            matches!(r, Err(AvroError::Truncated { .. })),
            "{r:?} for {d:?}"
        );
        assert_eq!(allocs, 0, "a forged length allocated: {d:?}");
    }
}
