//! The window engine against a naive reference computation (group, bucket, aggregate the raw
//! record list), plus the at-least-once offset rule, late records, WHERE, and the talk's
//! statement.

use kcql_runtime::connectors::window_processor::window::{
    InputRecord, RecordOutcome, WindowEngine, WindowOutput, WindowSettings,
};
use proptest::prelude::*;
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};

const TOPIC: &str = "sensor_data";

fn engine(kcql: &str) -> WindowEngine {
    let plan = kcql::compile_processor(kcql).unwrap_or_else(|d| panic!("{d}"));
    WindowEngine::new(&plan, WindowSettings::default()).unwrap()
}

/// One generated reading.
#[derive(Debug, Clone)]
struct Reading {
    device: u8,
    event_ms: i64,
    v: i64,
    f: f64,
    opt: Option<i64>,
    partition: i32,
}

impl Reading {
    fn payload(&self) -> String {
        let opt = self.opt.map_or("null".to_string(), |o| o.to_string());
        format!(
            r#"{{"id":"dev{}","ts":{},"v":{},"f":{:?},"opt":{opt}}}"#,
            self.device, self.event_ms, self.v, self.f
        )
    }
}

/// Feeds `readings` in the given (arrival) order with per-partition offsets; returns each
/// reading's offset, its outcome, and every output (taking closed windows every few records).
fn run(
    e: &mut WindowEngine,
    readings: &[Reading],
) -> (Vec<i64>, Vec<RecordOutcome>, Vec<WindowOutput>) {
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    let mut offsets = Vec::new();
    let mut outcomes = Vec::new();
    let mut outputs = Vec::new();
    for (i, r) in readings.iter().enumerate() {
        let off = next.entry(r.partition).or_insert(0);
        let payload = r.payload();
        outcomes.push(e.on_record(InputRecord::new(
            TOPIC,
            r.partition,
            *off,
            payload.as_bytes(),
        )));
        offsets.push(*off);
        *off += 1;
        if i % 7 == 0 {
            outputs.extend(e.take_closed());
        }
    }
    e.close_all();
    outputs.extend(e.take_closed());
    (offsets, outcomes, outputs)
}

/// The window starts containing `t` (epoch-aligned).
fn starts(t: i64, size: i64, advance: i64) -> Vec<i64> {
    let newest = t - t.rem_euclid(advance);
    (0..)
        .map(|k| newest - k * advance)
        .take_while(|s| *s > t - size)
        .collect()
}

/// Reference aggregates per (device, window start) over `(arrival, reading)` pairs.
fn reference(
    readings: &[(usize, &Reading)],
    size: i64,
    advance: i64,
) -> BTreeMap<(String, i64), Json> {
    let mut buckets: BTreeMap<(String, i64), Vec<(usize, &Reading)>> = BTreeMap::new();
    for (arrival, r) in readings {
        for s in starts(r.event_ms, size, advance) {
            buckets
                .entry((format!("dev{}", r.device), s))
                .or_default()
                .push((*arrival, r));
        }
    }
    buckets
        .into_iter()
        .map(|((id, start), rs)| {
            let vs: Vec<i64> = rs.iter().map(|(_, r)| r.v).collect();
            let fs: Vec<f64> = rs.iter().map(|(_, r)| r.f).collect();
            let first = rs
                .iter()
                .min_by_key(|(a, r)| (r.event_ms, *a))
                .map(|(_, r)| r.v);
            let last = rs
                .iter()
                .max_by_key(|(a, r)| (r.event_ms, *a))
                .map(|(_, r)| r.v);
            let value = json!({
                "id": id,
                "window_start": start,
                "window_end": start + size,
                "mn": vs.iter().min(),
                "mx": vs.iter().max(),
                "s": vs.iter().sum::<i64>(),
                "n": rs.len(),
                "n_opt": rs.iter().filter(|(_, r)| r.opt.is_some()).count(),
                "a": fs.iter().sum::<f64>() / fs.len() as f64,
                "fst": first,
                "lst": last,
            });
            ((id, start), value)
        })
        .collect()
}

fn by_group(outputs: &[WindowOutput]) -> BTreeMap<(String, i64), Json> {
    let mut m = BTreeMap::new();
    for o in outputs {
        let v: Json = serde_json::from_slice(&o.value).unwrap();
        let id = v["id"].as_str().unwrap().to_string();
        assert_eq!(o.key.as_deref(), Some(id.as_bytes()));
        assert_eq!(o.timestamp_ms, o.window_end);
        let prev = m.insert((id, o.window_start), v);
        assert!(prev.is_none(), "window emitted twice: {o:?}");
    }
    m
}

/// Equal except `a`, compared within 1e-9.
fn assert_matches(got: &BTreeMap<(String, i64), Json>, want: &BTreeMap<(String, i64), Json>) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, w) in want {
        let g = &got[k];
        let (ga, wa) = (g["a"].as_f64().unwrap(), w["a"].as_f64().unwrap());
        assert!(
            (ga - wa).abs() <= 1e-9 * wa.abs().max(1.0),
            "{k:?}: avg {ga} vs {wa}"
        );
        let strip = |v: &Json| {
            let mut v = v.clone();
            v.as_object_mut().unwrap().remove("a");
            v
        };
        assert_eq!(strip(g), strip(w), "{k:?}");
    }
}

fn statement(window: &str, grace_ms: i64) -> String {
    format!(
        "INSERT INTO out SELECT id, min(v) AS mn, max(v) AS mx, sum(v) AS s, count(*) AS n, \
         count(opt) AS n_opt, avg(f) AS a, first(v) AS fst, last(v) AS lst FROM {TOPIC} \
         WITHTIMESTAMP ts GROUP BY id WINDOW {window} GRACE {grace_ms}ms"
    )
}

/// Readings plus an arrival order in which no record is more than `grace` behind an earlier
/// one (sorted by event time + a jitter in [0, grace]).
fn readings_within(grace: i64) -> impl Strategy<Value = Vec<Reading>> {
    prop::collection::vec(
        (
            0u8..5,
            (0i64..3000).prop_map(|t| t * 10),
            -1000i64..1000,
            -50.0f64..50.0,
            prop::option::of(0i64..10),
            0i32..3,
            0..=grace,
        ),
        1..200,
    )
    .prop_map(|raw| {
        let mut keyed: Vec<(i64, Reading)> = raw
            .into_iter()
            .map(|(device, event_ms, v, f, opt, partition, jitter)| {
                (
                    event_ms + jitter,
                    Reading {
                        device,
                        event_ms,
                        v,
                        f,
                        opt,
                        partition,
                    },
                )
            })
            .collect();
        keyed.sort_by_key(|(k, _)| *k);
        keyed.into_iter().map(|(_, r)| r).collect()
    })
}

/// Readings in 3 partitions, each partition in an order within `grace` (as
/// [`readings_within`]), the partitions interleaved arbitrarily: one partition may run far
/// ahead of another.
fn partitions_skewed(grace: i64) -> impl Strategy<Value = Vec<Reading>> {
    (
        readings_within(grace),
        prop::collection::vec(0usize..3, 0..400),
    )
        .prop_map(|(rs, picks)| {
            let mut queues: Vec<std::collections::VecDeque<Reading>> = vec![Default::default(); 3];
            for r in rs {
                queues[r.partition as usize].push_back(r);
            }
            let mut out = Vec::new();
            let mut picks = picks.into_iter();
            while queues.iter().any(|q| !q.is_empty()) {
                let live: Vec<usize> = (0..3).filter(|i| !queues[*i].is_empty()).collect();
                let pick = live[picks.next().unwrap_or(0) % live.len()];
                // Take a run from one partition so partitions drift apart.
                for _ in 0..5 {
                    if let Some(r) = queues[pick].pop_front() {
                        out.push(r);
                    }
                }
            }
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn tumbling_windows_equal_the_reference(readings in readings_within(1500)) {
        let mut e = engine(&statement("TUMBLING(2s)", 1500));
        let (_, outcomes, outputs) = run(&mut e, &readings);
        prop_assert!(outcomes.iter().all(|o| o.windows() == 1), "no record may be late");
        let arrived: Vec<(usize, &Reading)> = readings.iter().enumerate().collect();
        assert_matches(&by_group(&outputs), &reference(&arrived, 2000, 2000));
        prop_assert_eq!(e.open_windows(), 0);
        prop_assert_eq!(e.groups(), 0);
    }

    /// The watermark is the minimum over the assigned partitions, so a partition running
    /// behind the others never has its on-time records declared late.
    #[test]
    fn a_lagging_partition_is_not_late(readings in partitions_skewed(1000)) {
        let mut e = engine(&statement("TUMBLING(2s)", 1000));
        for p in 0..3 {
            e.assign_partition(TOPIC, p);
        }
        let (_, outcomes, outputs) = run(&mut e, &readings);
        prop_assert!(outcomes.iter().all(|o| o.windows() == 1), "no record may be late");
        let arrived: Vec<(usize, &Reading)> = readings.iter().enumerate().collect();
        assert_matches(&by_group(&outputs), &reference(&arrived, 2000, 2000));
    }

    #[test]
    fn hopping_windows_equal_the_reference(readings in readings_within(800)) {
        let mut e = engine(&statement("HOPPING(3s, 1s)", 800));
        let (_, outcomes, outputs) = run(&mut e, &readings);
        prop_assert!(outcomes.iter().all(|o| o.windows() == 3));
        let arrived: Vec<(usize, &Reading)> = readings.iter().enumerate().collect();
        assert_matches(&by_group(&outputs), &reference(&arrived, 3000, 1000));
    }

    /// With more disorder than the grace, some records are late: they are counted, and the
    /// results equal the reference over the other records.
    #[test]
    fn late_records_are_counted_and_left_out(readings in readings_within(6000)) {
        let mut e = engine(&statement("TUMBLING(2s)", 500));
        let mut kept = Vec::new();
        let mut late = 0;
        let mut outputs = Vec::new();
        for (i, r) in readings.iter().enumerate() {
            let before = e.watermark(0);
            let payload = r.payload();
            // One partition, so the watermark is simply the largest event time seen.
            let o = e.on_record(InputRecord::new(TOPIC, 0, i as i64, payload.as_bytes()));
            let window_end = r.event_ms - r.event_ms.rem_euclid(2000) + 2000;
            let closed = before.is_some_and(|w| window_end <= w - 500);
            prop_assert_eq!(o.is_late(), closed, "record {:?} with watermark {:?}", r, before);
            if o.is_late() { late += 1 } else { kept.push((i, r)) }
            outputs.extend(e.take_closed());
        }
        e.close_all();
        outputs.extend(e.take_closed());
        prop_assert_eq!(e.metrics().late, late);
        assert_matches(&by_group(&outputs), &reference(&kept, 2000, 2000));
    }

    /// After every record, the committable offset of each partition is at most the offset of
    /// every record still held by a window not yet emitted; at the end everything is
    /// committable.
    #[test]
    fn committable_offsets_never_pass_a_held_record(readings in readings_within(3000), hopping in any::<bool>()) {
        let (window, size, advance) = if hopping { ("HOPPING(2s, 1s)", 2000, 1000) } else { ("TUMBLING(2s)", 2000, 2000) };
        let mut e = engine(&statement(window, 1000));
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        // (partition, offset, group, window starts that took it)
        let mut held: Vec<(i32, i64, String, Vec<i64>)> = Vec::new();
        let mut emitted: BTreeSet<(String, i64)> = BTreeSet::new();
        for r in &readings {
            let off = next.entry(r.partition).or_insert(0);
            let payload = r.payload();
            let o = e.on_record(InputRecord::new(TOPIC, r.partition, *off, payload.as_bytes()));
            // The windows that took it are the newest ones (closing goes oldest first).
            let took: Vec<i64> = starts(r.event_ms, size, advance).into_iter().take(o.windows()).collect();
            held.push((r.partition, *off, format!("dev{}", r.device), took));
            *off += 1;
            if r.event_ms % 3 == 0 {
                for out in e.take_closed() {
                    let v: Json = serde_json::from_slice(&out.value).unwrap();
                    emitted.insert((v["id"].as_str().unwrap().to_string(), out.window_start));
                }
            }
            held.retain(|(_, _, g, ws)| ws.iter().any(|s| !emitted.contains(&(g.clone(), *s))));
            let committable = e.committable_offsets();
            for (p, off, _, _) in &held {
                let c = committable[&(TOPIC.to_string(), *p)];
                prop_assert!(c <= *off, "partition {} commits {} past held offset {}", p, c, off);
            }
        }
        e.close_all();
        e.take_closed();
        let committable = e.committable_offsets();
        for (p, n) in next {
            prop_assert_eq!(committable[&(TOPIC.to_string(), p)], n);
        }
    }
}

#[test]
fn where_filters_before_aggregation() {
    let mut e = engine(
        "INSERT INTO hot SELECT id, count(*) AS n, min(temperature) AS lo FROM sensor_data \
         WHERE temperature > 20 AND id LIKE 'SB%' GROUP BY id WINDOW TUMBLING(2s)",
    );
    let readings = [
        ("SB01", 25.5),
        ("SB01", 19.0),
        ("SB01", 21.0),
        ("XX01", 30.0),
        ("SB02", 20.0),
    ];
    for (i, (id, t)) in readings.iter().enumerate() {
        let p = format!(r#"{{"id":"{id}","temperature":{t:?}}}"#);
        e.on_record(InputRecord::new(TOPIC, 0, i as i64, p.as_bytes()).with_timestamp(100));
    }
    e.close_all();
    let out: Vec<Json> = e
        .take_closed()
        .iter()
        .map(|o| serde_json::from_slice(&o.value).unwrap())
        .collect();
    // Reference: keep the readings the WHERE accepts, then aggregate per id.
    let kept: Vec<&(&str, f64)> = readings
        .iter()
        .filter(|(id, t)| *t > 20.0 && id.starts_with("SB"))
        .collect();
    let ids: BTreeSet<&str> = kept.iter().map(|(id, _)| *id).collect();
    let want: Vec<Json> = ids
        .iter()
        .map(|id| {
            let ts: Vec<f64> = kept
                .iter()
                .filter(|(i, _)| i == id)
                .map(|(_, t)| *t)
                .collect();
            json!({"id": id, "window_start": 0, "window_end": 2000, "n": ts.len(),
                   "lo": ts.iter().cloned().fold(f64::INFINITY, f64::min)})
        })
        .collect();
    assert_eq!(out, want);
    assert_eq!(e.metrics().filtered, 3);
}

#[test]
fn the_talks_statement() {
    let q = "INSERT INTO sensor_avg SELECT id, MIN(temperature) AS min_temp, \
             MAX(temperature) AS max_temp, AVG(temperature) AS avg_temp, COUNT(*) AS n \
             FROM sensor_data GROUP BY id WINDOW TUMBLING(2s)";
    let mut e = engine(q);
    // Two devices reporting every 500 ms for 5 s (Kafka timestamps), a temperature ramp each.
    let mut readings = Vec::new();
    for step in 0..10i64 {
        for (d, base) in [("SB01", 20.0), ("SB02", 30.0)] {
            readings.push((d, step * 500, base + step as f64 * 0.25));
        }
    }
    let mut outputs = Vec::new();
    for (i, (id, ts, t)) in readings.iter().enumerate() {
        let p = format!(r#"{{"id":"{id}","temperature":{t:?}}}"#);
        let o = e.on_record(InputRecord::new(TOPIC, 0, i as i64, p.as_bytes()).with_timestamp(*ts));
        assert_eq!(o.windows(), 1);
        outputs.extend(e.take_closed());
    }
    // [0, 2000) and [2000, 4000) closed by the readings at 2000 and 4000; [4000, 6000) is open.
    assert_eq!(e.open_windows(), 1);
    assert_eq!(outputs.len(), 4);
    for o in &outputs {
        let v: Json = serde_json::from_slice(&o.value).unwrap();
        let id = v["id"].as_str().unwrap();
        let ts: Vec<f64> = readings
            .iter()
            .filter(|(i, ts, _)| i == &id && (o.window_start..o.window_end).contains(ts))
            .map(|(_, _, t)| *t)
            .collect();
        assert_eq!(o.topic, "sensor_avg");
        assert_eq!(o.key.as_deref(), Some(id.as_bytes()));
        assert_eq!(
            v,
            json!({
                "id": id, "window_start": o.window_start, "window_end": o.window_end,
                "min_temp": ts.iter().cloned().fold(f64::INFINITY, f64::min),
                "max_temp": ts.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                "avg_temp": ts.iter().sum::<f64>() / ts.len() as f64,
                "n": ts.len(),
            })
        );
    }
    // Everything before the open window's first record (offset 16) may be committed.
    let point = e.commit_point();
    assert_eq!(point.offsets[&(TOPIC.to_string(), 0)], 16);
    assert_eq!(point.after_sequence, Some(3));
}
