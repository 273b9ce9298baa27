//! Parsing speed: every statement of the KCQL conformance corpus that must parse (`ok: true`,
//! not a `quirk`), parsed and validated. Reports time per pass over the corpus; divide by the
//! statement count printed at start for the per-statement figure (see BENCHMARKS.md).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

fn corpus() -> Vec<String> {
    let path = std::env::var("KCQL_CONFORMANCE").unwrap_or_else(|_| {
        format!(
            "{}/kcql/tests/conformance/kcql_cases.json",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    let text = std::fs::read_to_string(&path).expect("read conformance corpus");
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).expect("corpus JSON");
    cases
        .iter()
        .filter(|c| c["ok"] == true && c.get("quirk").is_none())
        .filter_map(|c| c["kcql"].as_str().map(str::to_string))
        .collect()
}

fn bench_parse(c: &mut Criterion) {
    let statements = corpus();
    for s in &statements {
        kcql::parse(s).unwrap_or_else(|d| panic!("corpus statement does not parse: {s}\n{d}"));
    }
    eprintln!("parse bench: {} statements per iteration", statements.len());
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(statements.len() as u64));
    group.bench_function("conformance_corpus", |b| {
        b.iter(|| {
            for s in &statements {
                black_box(kcql::parse(black_box(s)).is_ok());
            }
        })
    });
    let pipeline = [
        "INSERT INTO sensor_data SELECT * FROM /sensors/+ WITHKEY(id)",
        "INSERT INTO sensor SELECT * FROM sensor_avg WITHTIMESTAMP ts WITHTAG(id, poweredBy=kcql)",
    ];
    group.throughput(Throughput::Elements(pipeline.len() as u64));
    group.bench_function("seed_pipeline", |b| {
        b.iter(|| {
            for s in &pipeline {
                black_box(kcql::parse(black_box(s)).is_ok());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
