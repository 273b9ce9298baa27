//! The window engine workload shared by `benches/window.rs` and `examples/window_loop.rs`:
//! JSON sensor records from 100 devices (one record per millisecond of event time, Kafka
//! timestamps) through `on_record`, with `take_closed` after every 1 000 records (a poll
//! batch), for the talk's statement (`GROUP BY id WINDOW TUMBLING(2s)`).

use kcql_runtime::connectors::window_processor::window::{
    InputRecord, WindowEngine, WindowSettings,
};
use std::hint::black_box;

/// Devices (groups per window).
pub const DEVICES: usize = 100;

/// The talk's statement.
pub const TALK: &str = "INSERT INTO sensor_avg SELECT id, MIN(temperature) AS min_temp, \
    MAX(temperature) AS max_temp, AVG(temperature) AS avg_temp, COUNT(*) AS n \
    FROM sensor_data GROUP BY id WINDOW TUMBLING(2s)";

/// The compiled statement.
pub fn plan() -> kcql::plan::ProcessorPlan {
    kcql::compile_processor(TALK).unwrap_or_else(|d| panic!("{d}"))
}

/// `count` JSON sensor records.
pub fn records(count: usize) -> Vec<Vec<u8>> {
    (0..count)
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

/// The outputs [`run`] gives for `count` records: 100 groups per full 2 s window, and the
/// devices seen in the last, partial one.
pub fn expected_outputs(count: usize) -> usize {
    count / 2000 * DEVICES + (count % 2000).min(DEVICES)
}

/// Feeds every record to a new engine; returns the number of outputs.
pub fn run(plan: &kcql::plan::ProcessorPlan, records: &[Vec<u8>]) -> usize {
    let mut engine = WindowEngine::new(plan, WindowSettings::default()).expect("engine");
    engine.assign_partition("sensor_data", 0);
    let mut outputs = 0;
    for (i, payload) in records.iter().enumerate() {
        let ts = 1_700_000_000_000 + i as i64;
        let mut rec = InputRecord::new("sensor_data", 0, i as i64, payload).with_timestamp(ts);
        // Processing time = event time: with the clock at 0 every record would be too far in
        // the future (`max_future_ms`) and poison, and nothing would be aggregated.
        rec.processing_time_ms = ts;
        black_box(engine.on_record(rec));
        if i % 1000 == 999 {
            outputs += engine.take_closed().len();
        }
    }
    engine.close_all();
    outputs + engine.take_closed().len()
}
