//! Compile speed: the DESIGN pipeline's three statements (already parsed) compiled for their
//! connectors, and parse + compile from text. See BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion};
use kcql::Connector;
use std::hint::black_box;

const PIPELINE: [(Connector, &str); 3] = [
    (Connector::MqttSource, "INSERT INTO sensor_data SELECT * FROM /sensors/+ WITHKEY(id)"),
    (
        Connector::WindowProcessor,
        "INSERT INTO sensor_avg SELECT id, MIN(temperature), MAX(temperature), AVG(temperature) FROM sensor_data GROUP BY id WINDOW TUMBLING(2s)",
    ),
    (
        Connector::InfluxSink,
        "INSERT INTO sensor SELECT * FROM sensor_avg WITHTIMESTAMP ts WITHTAG(id, poweredBy=kcql)",
    ),
];

fn bench_compile(c: &mut Criterion) {
    let parsed: Vec<(Connector, kcql::Statement)> = PIPELINE
        .iter()
        .map(|(c, s)| (*c, kcql::parse(s).expect("pipeline statement")))
        .collect();
    let mut group = c.benchmark_group("compile");
    group.bench_function("pipeline_3_statements", |b| {
        b.iter(|| {
            for (c, s) in &parsed {
                black_box(kcql::compile(std::slice::from_ref(black_box(s)), *c).is_ok());
            }
        })
    });
    group.bench_function("pipeline_parse_and_compile", |b| {
        b.iter(|| {
            for (c, s) in &PIPELINE {
                black_box(kcql::compile_str(black_box(s), *c).is_ok());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_compile);
criterion_main!(benches);
