//! Avro decode cost per record on one core: 1024 sensor records
//! `{id: string, temperature: double, humidity: int, ts: long (timestamp-millis)}` decoded into
//! `Value`s, raw and in the Confluent wire format (schema already resolved), beside the same
//! records as JSON through the JSON decoder.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kcql_runtime::decode::{json, AvroSchema};
use std::hint::black_box;

const SENSOR: &str = r#"{"type": "record", "name": "Sensor", "namespace": "iot", "fields": [
    {"name": "id", "type": "string"},
    {"name": "temperature", "type": "double"},
    {"name": "humidity", "type": "int"},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}"#;

fn long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push(z as u8 | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

struct Sensor {
    id: String,
    temperature: f64,
    humidity: i64,
    ts: i64,
}

fn sensors(n: usize) -> Vec<Sensor> {
    (0..n)
        .map(|i| Sensor {
            id: format!("SB{:02}", i % 16),
            temperature: 20.0 + (i % 100) as f64 / 10.0,
            humidity: 30 + (i % 50) as i64,
            ts: 1_700_000_000_000 + i as i64,
        })
        .collect()
}

fn avro(s: &Sensor) -> Vec<u8> {
    let mut out = Vec::new();
    long(&mut out, s.id.len() as i64);
    out.extend_from_slice(s.id.as_bytes());
    out.extend_from_slice(&s.temperature.to_le_bytes());
    long(&mut out, s.humidity);
    long(&mut out, s.ts);
    out
}

fn bench(c: &mut Criterion) {
    let schema = AvroSchema::parse(SENSOR).expect("schema");
    let recs = sensors(1024);
    let raw: Vec<Vec<u8>> = recs.iter().map(avro).collect();
    let confluent: Vec<Vec<u8>> = raw
        .iter()
        .map(|d| [&[0u8, 0, 0, 0, 42][..], d].concat())
        .collect();
    let registered = schema.clone().with_registry_id(42);
    let jsons: Vec<Vec<u8>> = recs
        .iter()
        .map(|s| {
            format!(
                r#"{{"id":"{}","temperature":{},"humidity":{},"ts":{}}}"#,
                s.id, s.temperature, s.humidity, s.ts
            )
            .into_bytes()
        })
        .collect();

    let mut group = c.benchmark_group("avro");
    group.throughput(Throughput::Elements(1024));
    group.bench_function("sensor/avro_raw", |b| {
        b.iter(|| {
            let mut n = 0;
            for d in &raw {
                let v = schema.decode(black_box(d)).expect("datum");
                n += matches!(v, kcql_runtime::value::Value::Object(_)) as usize;
            }
            black_box(n)
        })
    });
    group.bench_function("sensor/avro_confluent", |b| {
        b.iter(|| {
            let mut n = 0;
            for d in &confluent {
                let v = registered.decode_confluent(black_box(d)).expect("payload");
                n += matches!(v, kcql_runtime::value::Value::Object(_)) as usize;
            }
            black_box(n)
        })
    });
    group.bench_function("sensor/json", |b| {
        b.iter(|| {
            let mut n = 0;
            for d in &jsons {
                let v = json::parse(black_box(d)).expect("json");
                n += matches!(v, kcql_runtime::value::Value::Object(_)) as usize;
            }
            black_box(n)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
