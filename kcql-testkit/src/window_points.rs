//! The window results an InfluxDB sink wrote: one point per (device, window), read back for
//! comparison with [`tumbling_windows`](crate::devices::tumbling_windows) of the readings.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::devices::WindowStats;
use crate::influx;

/// One window point as InfluxDB holds it (fields of the talk's statement: `min_temp`,
/// `max_temp`, `avg_temp`, `n`, `window_start`; tag `poweredBy`).
#[derive(Debug, Clone)]
pub struct StoredPoint {
    /// The point's time (the window end), epoch ms.
    pub time_ms: i64,
    /// The `poweredBy` tag.
    pub powered_by: Option<String>,
    /// The `window_start` field.
    pub window_start: Option<i64>,
    /// `min_temp`.
    pub min: Option<f64>,
    /// `max_temp`.
    pub max: Option<f64>,
    /// `avg_temp`.
    pub avg: Option<f64>,
    /// `n`.
    pub n: Option<u64>,
}

/// Every point of `measurement` in `db`, by (tag `id`, window start = time − `window_ms`).
/// A missing database reads as no points.
pub async fn stored_points(
    db: &str,
    measurement: &str,
    window_ms: i64,
) -> BTreeMap<(String, i64), Vec<StoredPoint>> {
    let answer = influx::influxql(
        Some(db),
        &format!("SELECT * FROM {} GROUP BY *", influx::quote(measurement)),
    )
    .await;
    if let Some(e) = influx::statement_error(&answer) {
        if e.contains("database not found") {
            return BTreeMap::new();
        }
        panic!("InfluxDB query failed: {e}");
    }
    let mut out: BTreeMap<(String, i64), Vec<StoredPoint>> = BTreeMap::new();
    for row in influx::rows(&answer) {
        let id = row
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let time_ms = row.get("time").and_then(Value::as_i64).unwrap_or_default() / 1_000_000;
        let f = |k: &str| row.get(k).and_then(Value::as_f64);
        out.entry((id, time_ms - window_ms))
            .or_default()
            .push(StoredPoint {
                time_ms,
                powered_by: row
                    .get("poweredBy")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                window_start: f("window_start").map(|v| v as i64),
                min: f("min_temp"),
                max: f("max_temp"),
                avg: f("avg_temp"),
                n: row.get("n").and_then(Value::as_u64),
            });
    }
    out
}

/// How many of the `expected` windows have a point in `stored` (any values).
pub fn present(
    stored: &BTreeMap<(String, i64), Vec<StoredPoint>>,
    expected: &BTreeMap<(String, i64), WindowStats>,
) -> usize {
    expected.keys().filter(|k| stored.contains_key(*k)).count()
}

/// Polls `db` until every `expected` window has a point, waits 2 s more for replays to land,
/// and returns the points. Before each poll `alive` may fail the test (a process that exited,
/// with its log); after `timeout` it fails with how many windows arrived and `log()`.
pub async fn wait_for_every_window(
    db: &str,
    measurement: &str,
    window_ms: i64,
    expected: &BTreeMap<(String, i64), WindowStats>,
    timeout: Duration,
    mut alive: impl FnMut(),
    log: impl Fn() -> String,
) -> BTreeMap<(String, i64), Vec<StoredPoint>> {
    let deadline = Instant::now() + timeout;
    loop {
        let stored = stored_points(db, measurement, window_ms).await;
        if present(&stored, expected) == expected.len() {
            tokio::time::sleep(Duration::from_secs(2)).await;
            return stored_points(db, measurement, window_ms).await;
        }
        alive();
        assert!(
            Instant::now() < deadline,
            "{} of {} windows in InfluxDB after {timeout:?}; log:\n{}",
            present(&stored, expected),
            expected.len(),
            log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
