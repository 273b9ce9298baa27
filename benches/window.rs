//! The window processor's engine on one core: 1 000 000 JSON sensor records from 100 devices
//! (one record per millisecond of event time, Kafka timestamps) through `on_record`, with
//! `take_closed` after every 1 000 records (a poll batch), for the talk's statement (`GROUP BY
//! id WINDOW TUMBLING(2s)`: 500 windows × 100 groups emitted). See BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kcql_runtime::connectors::window_processor::window::{
    InputRecord, WindowEngine, WindowSettings,
};
use std::hint::black_box;

const RECORDS: usize = 1_000_000;
const DEVICES: usize = 100;
const TALK: &str = "INSERT INTO sensor_avg SELECT id, MIN(temperature) AS min_temp, \
    MAX(temperature) AS max_temp, AVG(temperature) AS avg_temp, COUNT(*) AS n \
    FROM sensor_data GROUP BY id WINDOW TUMBLING(2s)";

fn plan() -> kcql::plan::ProcessorPlan {
    kcql::compile_processor(TALK).unwrap_or_else(|d| panic!("{d}"))
}

fn records() -> Vec<Vec<u8>> {
    (0..RECORDS)
        .map(|i| {
            format!(
                r#"{{"id":"SB{:03}","temperature":{}.{},"humidity":{},"poweredBy":"kcql"}}"#,
                i % DEVICES,
                15 + i % 20,
                i % 10,
                30 + i % 50
            )
            .into_bytes()
        })
        .collect()
}

/// Feeds every record; returns the number of outputs.
fn run(plan: &kcql::plan::ProcessorPlan, records: &[Vec<u8>]) -> usize {
    let mut engine = WindowEngine::new(plan, WindowSettings::default()).expect("engine");
    engine.assign_partition("sensor_data", 0);
    let mut outputs = 0;
    for (i, payload) in records.iter().enumerate() {
        let rec = InputRecord::new("sensor_data", 0, i as i64, payload)
            .with_timestamp(1_700_000_000_000 + i as i64);
        black_box(engine.on_record(rec));
        if i % 1000 == 999 {
            outputs += engine.take_closed().len();
        }
    }
    engine.close_all();
    outputs + engine.take_closed().len()
}

fn bench(c: &mut Criterion) {
    let plan = plan();
    let records = records();
    assert_eq!(run(&plan, &records), RECORDS / 2000 * DEVICES);
    let mut g = c.benchmark_group("window");
    g.sample_size(10);
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("tumbling_2s_100_devices_1M_json", |b| {
        b.iter(|| run(&plan, black_box(&records)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
