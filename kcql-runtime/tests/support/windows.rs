//! Shared helpers of the window processor's fault tests: the talk's per-device statement as a
//! pipeline file, device readings (`kcql_testkit::devices`) as Kafka records, and a tally of an
//! output topic against the windows computed from the readings themselves.

use std::collections::BTreeMap;

use kcql_testkit::devices::{tumbling_windows, Fleet, Reading, WindowStats};
use kcql_testkit::kafka::{ConsumedRecord, ProduceRecord};
use serde_json::Value;

/// The windows' size.
pub const WINDOW_MS: i64 = 2_000;
/// 2024-12-01T00:00:00Z: the readings' first event time (fixed, so are the windows).
pub const BASE_MS: i64 = 1_733_011_200_000;
/// The device id of the watermark pushers (their windows are not checked).
pub const PUSHER_ID: &str = "zz-watermark";

/// The expected windows: (device id, window start) → aggregates.
pub type Expected = BTreeMap<(String, i64), WindowStats>;

/// `devices` devices × `seconds` of event time × `per_second` readings each, from
/// [`BASE_MS`] (seed fixed), and the tumbling windows they make.
pub fn fleet_readings(devices: usize, seconds: i64, per_second: u32) -> (Vec<Reading>, Expected) {
    let readings = Fleet::new(devices, 14).schedule(BASE_MS, seconds * 1000, per_second);
    let expected = tumbling_windows(&readings, WINDOW_MS);
    (readings, expected)
}

/// A reading as a Kafka record keyed by its device (one device, one partition).
pub fn reading_record(reading: &Reading) -> ProduceRecord {
    ProduceRecord::new(reading.to_json()).key(reading.id.as_str())
}

/// One record per partition in `partitions`, at event time `ts`: every partition's time
/// passes the data's last window, so every window of the data closes (their own stay open).
pub fn pushers(partitions: &[i32], ts: i64) -> Vec<ProduceRecord> {
    let payload = serde_json::json!({"id": PUSHER_ID, "temperature": 0.0, "ts": ts}).to_string();
    partitions
        .iter()
        .map(|&p| {
            ProduceRecord::new(payload.clone())
                .key(PUSHER_ID)
                .partition(p)
        })
        .collect()
}

/// A pipeline file with one window processor `name` running the talk's statement (per-device
/// MIN/MAX/AVG/COUNT of temperature over [`WINDOW_MS`] tumbling windows, event time `ts`) from
/// `input` to `output`; `settings` are more TOML lines of its `[[processor.window]]` table.
/// Metrics are off; a SIGKILLed member's partitions move after a 6 s session timeout.
pub fn processor_toml(
    brokers: &str,
    name: &str,
    input: &str,
    output: &str,
    settings: &str,
) -> String {
    format!(
        r#"
[runtime]
metrics = "off"
[kafka]
brokers = "{brokers}"
[kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"
[[processor.window]]
name = "{name}"
{settings}
kcql = "INSERT INTO {output} SELECT id, MIN(temperature) AS min_temp, MAX(temperature) AS max_temp, AVG(temperature) AS avg_temp, COUNT(*) AS n FROM {input} GROUP BY id WINDOW TUMBLING(2s) WITHTIMESTAMP ts"
"#
    )
}

/// What an output topic holds, window by window.
#[derive(Debug, Default)]
pub struct Tally {
    /// Output records read (pushers' windows left out).
    pub outputs: usize,
    /// How many times each expected window was emitted.
    pub copies: BTreeMap<(String, i64), usize>,
    /// Outputs that are not an expected window exactly (partial, wrong or unknown).
    pub wrong: Vec<String>,
}

impl Tally {
    /// Checks every output record against `expected`: key = device, exact min/max/count,
    /// average within 1e-9, window end = start + [`WINDOW_MS`].
    pub fn of(records: &[ConsumedRecord], expected: &Expected) -> Tally {
        let mut tally = Tally::default();
        for record in records {
            let v = record.payload_json();
            let id = v["id"].as_str().unwrap_or_default().to_string();
            if id == PUSHER_ID {
                continue;
            }
            tally.outputs += 1;
            let start = v["window_start"].as_i64().unwrap_or(i64::MIN);
            match expected.get(&(id.clone(), start)) {
                Some(want) if exact(&v, record.key_str(), want) => {
                    *tally.copies.entry((id, start)).or_insert(0) += 1;
                }
                Some(want) => tally.wrong.push(format!("{v} (expected {want:?})")),
                None => tally.wrong.push(format!("{v} (no such window)")),
            }
        }
        tally
    }

    /// Outputs beyond the first of each window.
    pub fn duplicates(&self) -> usize {
        self.copies.values().map(|n| n - 1).sum()
    }

    /// The expected windows never emitted.
    pub fn missing<'e>(&self, expected: &'e Expected) -> Vec<&'e (String, i64)> {
        expected
            .keys()
            .filter(|k| !self.copies.contains_key(*k))
            .collect()
    }

    /// Panics unless every output is an expected window exactly, every expected window is
    /// there, and none was emitted more than `max_copies` times.
    pub fn assert_exact(&self, expected: &Expected, max_copies: usize) {
        assert!(
            self.wrong.is_empty(),
            "{} outputs are not exact windows, e.g. {:?}",
            self.wrong.len(),
            &self.wrong[..self.wrong.len().min(5)]
        );
        let missing = self.missing(expected);
        assert!(
            missing.is_empty(),
            "{} of {} windows missing, e.g. {:?}",
            missing.len(),
            expected.len(),
            &missing[..missing.len().min(5)]
        );
        let most = self.copies.values().copied().max().unwrap_or(0);
        assert!(
            most <= max_copies,
            "a window was emitted {most} times (at most {max_copies} allowed): {:?}",
            self.copies
                .iter()
                .filter(|(_, &n)| n == most)
                .take(3)
                .collect::<Vec<_>>()
        );
    }
}

/// Whether output `v` (keyed `key`) holds exactly the window `want`.
fn exact(v: &Value, key: Option<&str>, want: &WindowStats) -> bool {
    key == Some(want.id.as_str())
        && v["window_end"].as_i64() == Some(want.window_end)
        && v["n"].as_u64() == Some(want.count)
        && v["min_temp"].as_f64() == Some(want.min)
        && v["max_temp"].as_f64() == Some(want.max)
        && v["avg_temp"]
            .as_f64()
            .is_some_and(|a| (a - want.avg()).abs() <= 1e-9)
}
