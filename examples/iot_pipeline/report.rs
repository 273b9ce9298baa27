//! The final report: the last complete window per device, a check of every written window
//! against the readings the devices published, and end-to-end latency percentiles.

use std::collections::BTreeMap;

use kcql_testkit::devices::{tumbling_windows, window_start, Reading};

use super::influx_endpoint::WrittenPoint;
use super::simulator::Published;

/// One row of the table: a window's aggregates as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRow {
    /// Device id.
    pub id: String,
    /// Window start, epoch ms.
    pub window_start: i64,
    /// Window end (the point's time), epoch ms.
    pub window_end: i64,
    /// `min_temp`.
    pub min: f64,
    /// `max_temp`.
    pub max: f64,
    /// `avg_temp`.
    pub avg: f64,
    /// `n`.
    pub n: f64,
}

impl WindowRow {
    /// The row of a written point (`None` when a field is missing).
    pub fn from_point(p: &WrittenPoint) -> Option<WindowRow> {
        Some(WindowRow {
            id: p.tags.get("id")?.clone(),
            window_start: *p.fields.get("window_start")? as i64,
            window_end: p.time_ms,
            min: *p.fields.get("min_temp")?,
            max: *p.fields.get("max_temp")?,
            avg: *p.fields.get("avg_temp")?,
            n: *p.fields.get("n")?,
        })
    }
}

/// Per device, the latest window among `rows`.
pub fn last_per_device(rows: &[WindowRow]) -> BTreeMap<String, WindowRow> {
    let mut out: BTreeMap<String, WindowRow> = BTreeMap::new();
    for r in rows {
        match out.get(&r.id) {
            Some(have) if have.window_end >= r.window_end => {}
            _ => {
                out.insert(r.id.clone(), r.clone());
            }
        }
    }
    out
}

/// Formats epoch ms as `HH:MM:SS.mmm` UTC.
pub fn clock(ms: i64) -> String {
    let day = ms.rem_euclid(86_400_000);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day / 3_600_000,
        day / 60_000 % 60,
        day / 1000 % 60,
        day % 1000
    )
}

/// The table of `rows` (one per device).
pub fn table(rows: &BTreeMap<String, WindowRow>) -> String {
    let mut out = String::new();
    out.push_str("  device    window (UTC)                  min °C   max °C   avg °C       n\n");
    for r in rows.values() {
        out.push_str(&format!(
            "  {:<9} {} – {}  {:>7.2}  {:>7.2}  {:>8.4}  {:>6}\n",
            r.id,
            clock(r.window_start),
            clock(r.window_end),
            r.min,
            r.max,
            r.avg,
            r.n
        ));
    }
    out
}

/// How the written windows compare with the readings published.
#[derive(Debug, Clone, Default)]
pub struct Check {
    /// Windows written whose min/max/n are exact and avg within 1e-9 of the readings'.
    pub matching: usize,
    /// Windows written that differ (device, window start, what was written, what was
    /// expected).
    pub differing: Vec<String>,
    /// Windows of published readings that were not written (still open at the end).
    pub not_written: usize,
}

/// Compares every written window with the aggregates of the published readings.
pub fn check(rows: &[WindowRow], published: &[Published], window_ms: i64) -> Check {
    let readings: Vec<Reading> = published.iter().map(|p| p.reading.clone()).collect();
    let expected = tumbling_windows(&readings, window_ms);
    let mut check = Check::default();
    let mut written = std::collections::BTreeSet::new();
    for r in rows {
        written.insert((r.id.clone(), r.window_start));
        match expected.get(&(r.id.clone(), r.window_start)) {
            Some(e)
                if e.min == r.min
                    && e.max == r.max
                    && e.count as f64 == r.n
                    && (e.avg() - r.avg).abs() <= 1e-9 =>
            {
                check.matching += 1
            }
            Some(e) => check.differing.push(format!(
                "{} {}: written min {} max {} avg {} n {}, readings give min {} max {} avg {} n {}",
                r.id,
                clock(r.window_start),
                r.min,
                r.max,
                r.avg,
                r.n,
                e.min,
                e.max,
                e.avg(),
                e.count
            )),
            None => check.differing.push(format!(
                "{} {}: written, but no reading was published in it",
                r.id,
                clock(r.window_start)
            )),
        }
    }
    check.not_written = expected.keys().filter(|k| !written.contains(*k)).count();
    check
}

/// Nearest-rank percentiles of `values` (sorted in place); `None` when empty.
pub fn percentiles(values: &mut [f64], ps: &[f64]) -> Option<Vec<f64>> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(
        ps.iter()
            .map(|p| {
                let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
                values[rank.clamp(1, values.len()) - 1]
            })
            .collect(),
    )
}

/// The two latency distributions, in milliseconds.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    /// Per reading: its publish call → the acknowledged write of its window's point.
    pub reading_to_point: Vec<f64>,
    /// Per window: its end (event time) → the acknowledged write of its point.
    pub window_end_to_point: Vec<f64>,
    /// Readings whose window was not written (still open at the end).
    pub readings_without_point: usize,
}

/// Computes [`Latencies`] from the publish log and the write log (the first acknowledgement of
/// each window's point counts; a replay would only overwrite it).
pub fn latencies(published: &[Published], points: &[WrittenPoint], window_ms: i64) -> Latencies {
    let mut first_ack: BTreeMap<(String, i64), f64> = BTreeMap::new();
    for p in points {
        let Some(id) = p.tags.get("id") else { continue };
        first_ack
            .entry((id.clone(), p.time_ms))
            .and_modify(|t| *t = t.min(p.acknowledged_ms))
            .or_insert(p.acknowledged_ms);
    }
    let mut out = Latencies::default();
    for ((_, end), ack) in &first_ack {
        out.window_end_to_point.push(ack - *end as f64);
    }
    for p in published {
        let end = window_start(p.reading.ts, window_ms) + window_ms;
        match first_ack.get(&(p.reading.id.clone(), end)) {
            Some(ack) => out.reading_to_point.push(ack - p.published_ms),
            None => out.readings_without_point += 1,
        }
    }
    out
}

/// What the latency figures mean (printed under them; README-ready).
pub const LATENCY_DEFINITION: &str = "\
How latency is measured (all clocks are this machine's wall clock):
  * publish → point: for every reading, from the device's MQTT publish call to the moment
    InfluxDB (or the file endpoint) acknowledged the write of the point of the window holding
    that reading. It includes the wait for the window to close: a reading taken at the start of
    a 2 s window is reported ~2 s later by design.
  * window end → point: for every window, from its end (event time) to the acknowledged write
    of its point: the pipeline's own delay (MQTT → Kafka → window closes once every partition's
    event time has passed the end → Kafka → InfluxDB).
  Writes are observed by the endpoint the sink writes through (a pass-through proxy when a real
  InfluxDB is used), so no polling delay is added.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(
            percentiles(&mut v, &[50.0, 90.0, 99.0]),
            Some(vec![50.0, 90.0, 99.0])
        );
        assert_eq!(percentiles(&mut [], &[50.0]), None);
    }

    #[test]
    fn clock_formats_utc() {
        assert_eq!(clock(1_733_011_202_345), "00:00:02.345");
    }
}
