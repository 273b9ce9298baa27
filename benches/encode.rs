//! JSON record → decode → evaluate an InfluxDB route → line protocol into a reused buffer, per
//! record on one core; beside the cost of `serde_json::from_slice::<serde_json::Value>` on the
//! same bytes (the floor: just building a generic JSON tree). See BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kcql_runtime::connectors::influx_sink::line_protocol::Precision;
use kcql_runtime::connectors::influx_sink::point::write_route;
use kcql_runtime::decode::json;
use kcql_runtime::record::RecordView;
use std::hint::black_box;

fn route(kcql: &str) -> kcql::plan::InfluxRoute {
    let mut plan = kcql::compile_influx(kcql).unwrap_or_else(|d| panic!("{d}"));
    plan.routes.remove(0)
}

fn records(n: usize, fields: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut s = format!(
                r#"{{"id":"SB{:02}","temperature":{}.{},"humidity":{},"ts":{}"#,
                i % 16,
                20 + i % 10,
                i % 10,
                30 + i % 50,
                1_700_000_000_000u64 + i as u64
            );
            for f in 4..fields {
                match f % 3 {
                    0 => s.push_str(&format!(r#","f{f}":{}"#, i * f)),
                    1 => s.push_str(&format!(r#","f{f}":{}.5"#, i + f)),
                    _ => s.push_str(&format!(r#","f{f}":"v{}""#, i % 7)),
                }
            }
            s.push('}');
            s.into_bytes()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let sink = route(
        "INSERT INTO sensor SELECT * FROM sensor_avg WITHTIMESTAMP ts WITHTAG(id, poweredBy=kcql)",
    );
    let mut group = c.benchmark_group("encode");
    for (name, fields) in [("sensor_4_fields", 4), ("record_30_fields", 30)] {
        let recs = records(1024, fields);
        let mut buf = Vec::with_capacity(1 << 20);
        group.throughput(Throughput::Elements(recs.len() as u64));
        group.bench_function(format!("{name}/json_to_line_protocol"), |b| {
            b.iter(|| {
                buf.clear();
                for r in &recs {
                    let value = json::parse(black_box(r)).expect("valid JSON");
                    let rec = RecordView::of_value(value);
                    write_route(&sink, &rec, 0, Precision::Ns, &mut buf).expect("point");
                }
                black_box(buf.len())
            })
        });
        group.bench_function(format!("{name}/decode_only"), |b| {
            b.iter(|| {
                for r in &recs {
                    black_box(json::parse(black_box(r)).expect("valid JSON"));
                }
            })
        });
        group.bench_function(format!("{name}/floor_serde_json_value"), |b| {
            b.iter(|| {
                for r in &recs {
                    black_box(
                        serde_json::from_slice::<serde_json::Value>(black_box(r))
                            .expect("valid JSON"),
                    );
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
