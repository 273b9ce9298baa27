//! The window processor's engine on one core: 1 000 000 JSON sensor records from 100 devices
//! (one record per millisecond of event time, Kafka timestamps) through `on_record`, with
//! `take_closed` after every 1 000 records (a poll batch), for the talk's statement (`GROUP BY
//! id WINDOW TUMBLING(2s)`: 500 windows × 100 groups emitted). See BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

#[path = "support/window_workload.rs"]
mod window_workload;

use window_workload::{expected_outputs, plan, records, run};

const RECORDS: usize = 1_000_000;

fn bench(c: &mut Criterion) {
    let plan = plan();
    let records = records(RECORDS);
    assert_eq!(run(&plan, &records), expected_outputs(RECORDS));
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
