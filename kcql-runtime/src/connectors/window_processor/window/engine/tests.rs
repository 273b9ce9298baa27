//! Tests of the window engine: windows, watermarks, limits, revocation and resuming.

use super::*;
use crate::connectors::window_processor::window::aggregate::AggregateError;
use crate::connectors::window_processor::window::LatePolicy;
use crate::decode::Format;
use crate::record::RecordFormatError;
use serde_json::{json, Value as Json};

fn engine(kcql: &str, settings: WindowSettings) -> WindowEngine {
    let plan = kcql::compile_processor(kcql).unwrap_or_else(|d| panic!("{d}"));
    WindowEngine::new(&plan, settings).unwrap()
}

const WEBINAR: &str = "INSERT INTO sensor_avg SELECT id, MIN(temperature) AS min_temp, \
    MAX(temperature) AS max_temp, AVG(temperature) AS avg_temp, COUNT(*) AS n \
    FROM sensor_data GROUP BY id WINDOW TUMBLING(2s)";

fn feed(
    e: &mut WindowEngine,
    partition: i32,
    offset: i64,
    ts: i64,
    payload: &str,
) -> RecordOutcome {
    e.on_record(
        InputRecord::new("sensor_data", partition, offset, payload.as_bytes()).with_timestamp(ts),
    )
}

fn values(outputs: &[WindowOutput]) -> Vec<Json> {
    outputs
        .iter()
        .map(|o| serde_json::from_slice(&o.value).unwrap())
        .collect()
}

#[test]
fn the_webinar_statement_emits_one_record_per_device_and_window() {
    let mut e = engine(WEBINAR, WindowSettings::default());
    let readings = [
        (100, "SB01", 20.0),
        (900, "SB02", 30.5),
        (1500, "SB01", 22.0),
        (1999, "SB01", 24.5),
    ];
    for (i, (ts, id, t)) in readings.iter().enumerate() {
        let o = feed(
            &mut e,
            0,
            i as i64,
            *ts,
            &format!(r#"{{"id":"{id}","temperature":{t:?}}}"#),
        );
        assert_eq!(o.windows(), 1);
    }
    assert!(
        e.take_closed().is_empty(),
        "watermark 1999 has not passed 2000"
    );
    assert_eq!(e.open_windows(), 1);
    assert_eq!(e.groups(), 2);
    feed(&mut e, 0, 4, 2000, r#"{"id":"SB01","temperature":1}"#);
    let out = e.take_closed();
    assert_eq!(out.len(), 2);
    assert_eq!(
        values(&out),
        [
            json!({"id":"SB01","window_start":0,"window_end":2000,"min_temp":20.0,"max_temp":24.5,"avg_temp":(20.0+22.0+24.5)/3.0,"n":3}),
            json!({"id":"SB02","window_start":0,"window_end":2000,"min_temp":30.5,"max_temp":30.5,"avg_temp":30.5,"n":1}),
        ]
    );
    assert_eq!(out[0].key.as_deref(), Some(&b"SB01"[..]));
    assert_eq!(out[0].topic, "sensor_avg");
    assert_eq!(out[0].timestamp_ms, 2000);
    assert_eq!((out[0].sequence, out[1].sequence), (0, 1));
    assert_eq!(e.metrics().windows_emitted, 1);
    assert_eq!(e.metrics().outputs_emitted, 2);
    // Offsets 0..=3 were emitted; 4 is held by the open window [2000, 4000).
    assert_eq!(e.committable_offsets()[&("sensor_data".to_string(), 0)], 4);
    assert_eq!(e.commit_point().after_sequence, Some(1));
}

#[test]
fn late_records_are_counted_and_not_aggregated() {
    let mut e = engine(
        WEBINAR,
        WindowSettings {
            late: LatePolicy::Topic("late".into()),
            ..WindowSettings::default()
        },
    );
    feed(&mut e, 0, 0, 500, r#"{"id":"a","temperature":1}"#);
    feed(&mut e, 0, 1, 4100, r#"{"id":"a","temperature":2}"#);
    let late = feed(&mut e, 0, 2, 1500, r#"{"id":"a","temperature":100}"#);
    assert!(late.is_late());
    assert_eq!(e.settings().late_topic(), Some("late"));
    assert_eq!(e.metrics().late, 1);
    let out = values(&e.take_closed());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["max_temp"], json!(1));
    // The late record is not held: offsets up to it may be committed.
    assert_eq!(e.committable_offsets()[&("sensor_data".to_string(), 0)], 1);
}

#[test]
fn grace_keeps_windows_open_longer() {
    let q = "INSERT INTO o SELECT count(*) AS n FROM s WINDOW TUMBLING(1s) GRACE 500ms";
    let mut e = engine(q, WindowSettings::default());
    let mut at =
        |off: i64, ts: i64| e.on_record(InputRecord::new("s", 0, off, b"{}").with_timestamp(ts));
    at(0, 100);
    at(1, 1400);
    assert_eq!(at(2, 900).windows(), 1, "within grace");
    at(3, 1500);
    assert!(at(4, 999).is_late());
    let out = values(&e.take_closed());
    assert_eq!(out, [json!({"window_start":0,"window_end":1000,"n":2})]);
}

#[test]
fn hopping_records_go_into_every_window_containing_them() {
    let q = "INSERT INTO o SELECT sum(v) AS s, first(v) AS f, last(v) AS l FROM s \
             WITHTIMESTAMP t WINDOW HOPPING(10s, 5s)";
    let mut e = engine(q, WindowSettings::default());
    for (i, (t, v)) in [(1000, 1), (6000, 2), (7000, 3), (12000, 4)]
        .iter()
        .enumerate()
    {
        let p = format!(r#"{{"t":{t},"v":{v}}}"#);
        e.on_record(InputRecord::new("s", 0, i as i64, p.as_bytes()));
    }
    e.close_all();
    let out = values(&e.take_closed());
    assert_eq!(
        out,
        [
            json!({"window_start":-5000,"window_end":5000,"s":1,"f":1,"l":1}),
            json!({"window_start":0,"window_end":10000,"s":6,"f":1,"l":3}),
            json!({"window_start":5000,"window_end":15000,"s":9,"f":2,"l":4}),
            json!({"window_start":10000,"window_end":20000,"s":4,"f":4,"l":4}),
        ]
    );
}

#[test]
fn poison_records_leave_every_aggregate_untouched() {
    let q =
        "INSERT INTO o SELECT count(*) AS n, max(v) AS m, sum(w) AS s FROM s WINDOW TUMBLING(1s)";
    let mut e = engine(q, WindowSettings::default());
    let mut at = |off: i64, p: &str| {
        e.on_record(InputRecord::new("s", 0, off, p.as_bytes()).with_timestamp(10))
    };
    at(0, r#"{"v":1,"w":1}"#);
    let bad = at(1, r#"{"v":2,"w":"x"}"#);
    assert!(matches!(
        bad.poison(),
        Some(WindowError::Aggregate(AggregateError::NotNumeric { .. }))
    ));
    assert!(matches!(
        at(2, r#"{"v":"x","w":1}"#).poison(),
        Some(WindowError::Aggregate(_))
    ));
    assert!(matches!(
        at(3, "{nope").poison(),
        Some(WindowError::Decode { .. })
    ));
    let no_time = e.on_record(InputRecord::new("s", 0, 4, b"{}"));
    assert!(matches!(no_time.poison(), Some(WindowError::EventTime(_))));
    assert_eq!(e.metrics().poison, 4);
    e.close_all();
    assert_eq!(
        values(&e.take_closed()),
        [json!({"window_start":0,"window_end":1000,"n":1,"m":1,"s":1})]
    );
}

#[test]
fn where_runs_before_aggregation_and_filtered_records_advance_time() {
    let q =
        "INSERT INTO o SELECT id, count(*) AS n FROM s WHERE t > 0 GROUP BY id WINDOW TUMBLING(1s)";
    let mut e = engine(q, WindowSettings::default());
    let mut at = |off: i64, ts: i64, p: &str| {
        e.on_record(InputRecord::new("s", 0, off, p.as_bytes()).with_timestamp(ts))
    };
    at(0, 10, r#"{"id":"a","t":1}"#);
    let f = at(1, 20, r#"{"id":"b","t":-1}"#);
    assert_eq!(
        f,
        RecordOutcome::Routed(smallvec::smallvec![RouteOutcome::Filtered { route: 0 }])
    );
    // A filtered record still advances its partition's time: the window closes without it.
    at(2, 1500, r#"{"id":"b","t":-1}"#);
    assert_eq!(e.watermark(0), Some(1500));
    assert_eq!(e.metrics().filtered, 2);
    assert_eq!(
        values(&e.take_closed()),
        [json!({"id":"a","window_start":0,"window_end":1000,"n":1})]
    );
    assert_eq!(e.committable_offsets()[&("s".to_string(), 0)], 3);
}

#[test]
fn the_slowest_active_partition_holds_the_watermark_until_idle() {
    let q = "INSERT INTO o SELECT count(*) AS n FROM s WINDOW TUMBLING(1s)";
    let mut e = engine(q, WindowSettings::default());
    e.on_record(InputRecord::new("s", 0, 0, b"{}").with_timestamp(100));
    e.on_record(InputRecord::new("s", 1, 0, b"{}").with_timestamp(5000));
    assert_eq!(e.watermark(0), Some(100));
    assert!(e.take_closed().is_empty());
    // Partition 0's record at 900 is on time although partition 1 is far ahead.
    assert_eq!(
        e.on_record(InputRecord::new("s", 0, 1, b"{}").with_timestamp(900))
            .windows(),
        1
    );
    e.mark_idle("s", 0);
    // Idle partitions hold the watermark until the caller releases them (after making sure
    // they have no records on their way).
    assert_eq!(e.watermark(0), Some(900));
    assert_eq!(e.idle_holding(), [("s".to_string(), 0)]);
    assert!(e.take_closed().is_empty());
    e.release_idle();
    assert_eq!(e.watermark(0), Some(5000));
    assert!(e.idle_holding().is_empty(), "nothing left to release");
    let out = values(&e.take_closed());
    assert_eq!(out, [json!({"window_start":0,"window_end":1000,"n":2})]);
    let offsets = e.committable_offsets();
    assert_eq!(offsets[&("s".to_string(), 0)], 2);
    assert_eq!(offsets[&("s".to_string(), 1)], 0);
}

#[test]
fn an_assigned_partition_holds_the_watermark_until_it_delivers() {
    let q = "INSERT INTO o SELECT count(*) AS n FROM s WINDOW TUMBLING(1s)";
    let mut e = engine(q, WindowSettings::default());
    e.assign_partition("s", 0);
    e.assign_partition("s", 1);
    e.assign_partition("other", 0);
    e.on_record(InputRecord::new("s", 0, 0, b"{}").with_timestamp(5000));
    assert_eq!(e.watermark(0), None);
    let first = e.on_record(InputRecord::new("s", 1, 0, b"{}").with_timestamp(100));
    assert_eq!(first.windows(), 1, "not late although partition 0 is ahead");
    assert_eq!(e.watermark(0), Some(100));
    e.mark_idle("s", 1);
    e.release_idle();
    assert_eq!(e.watermark(0), Some(5000));
    assert_eq!(e.take_closed().len(), 1);
}

#[test]
fn an_idle_partition_found_busy_keeps_holding_the_watermark() {
    let q = "INSERT INTO o SELECT count(*) AS n FROM s WINDOW TUMBLING(1s)";
    let mut e = engine(q, WindowSettings::default());
    e.assign_partition("s", 0);
    e.assign_partition("s", 1);
    e.on_record(InputRecord::new("s", 0, 0, b"{}").with_timestamp(100));
    e.on_record(InputRecord::new("s", 1, 0, b"{}").with_timestamp(200));
    e.mark_idle("s", 0);
    e.mark_idle("s", 1);
    assert!(e.idle_holding().is_empty(), "releasing would close nothing");
    // Partition 1's burst arrives first: partition 0 is found to have records waiting.
    e.on_record(InputRecord::new("s", 1, 1, b"{}").with_timestamp(2500));
    assert_eq!(e.idle_holding(), [("s".to_string(), 0)]);
    e.mark_busy("s", 0);
    e.release_idle();
    assert_eq!(e.watermark(0), Some(100));
    let waiting = e.on_record(InputRecord::new("s", 0, 1, b"{}").with_timestamp(900));
    assert_eq!(waiting.windows(), 1, "not late");
    e.on_record(InputRecord::new("s", 0, 2, b"{}").with_timestamp(2600));
    assert_eq!(
        values(&e.take_closed()),
        [json!({"window_start":0,"window_end":1000,"n":3})]
    );
}

#[test]
fn dropping_a_partition_removes_exactly_its_contribution() {
    let q = "INSERT INTO o SELECT id, count(*) AS n, sum(v) AS s FROM s GROUP BY id WINDOW TUMBLING(1s)";
    let mut e = engine(q, WindowSettings::default());
    let mut at = |p: i32, off: i64, payload: &str| {
        e.on_record(InputRecord::new("s", p, off, payload.as_bytes()).with_timestamp(10))
    };
    at(0, 0, r#"{"id":"a","v":1}"#);
    at(1, 0, r#"{"id":"a","v":10}"#);
    at(1, 1, r#"{"id":"b","v":100}"#);
    assert_eq!((e.open_windows(), e.groups()), (1, 2));
    e.drop_partition("s", 1);
    assert_eq!((e.open_windows(), e.groups()), (1, 1));
    assert!(!e.committable_offsets().contains_key(&("s".to_string(), 1)));
    e.close_all();
    assert_eq!(
        values(&e.take_closed()),
        [json!({"id":"a","window_start":0,"window_end":1000,"n":1,"s":1})]
    );
    assert_eq!((e.open_windows(), e.groups()), (0, 0));
}

#[test]
fn a_resumed_partition_does_not_reopen_emitted_windows() {
    let q = "INSERT INTO o SELECT count(*) AS n FROM s WINDOW TUMBLING(1s)";
    let mut first = engine(q, WindowSettings::default());
    // offset 0 → [0,1000); offset 1 → [1000,2000) (held); offset 2 at 500 is on time?
    // No: the watermark 1500 closed [0,1000) first, so offset 2 is late.
    first.on_record(InputRecord::new("s", 0, 0, b"{}").with_timestamp(100));
    first.on_record(InputRecord::new("s", 0, 1, b"{}").with_timestamp(1500));
    first.on_record(InputRecord::new("s", 0, 2, b"{}").with_timestamp(1600));
    assert_eq!(first.take_closed().len(), 1);
    let point = first.commit_point();
    assert_eq!(point.offsets[&("s".to_string(), 0)], 1);
    let token = ResumeToken::from_metadata(&point.resume.to_metadata()).unwrap();
    assert_eq!(token, point.resume);

    // Restart: re-read from offset 1. Add an out-of-order record for the emitted window.
    let mut second = engine(q, WindowSettings::default());
    second.resume_partition("s", 0, &token).unwrap();
    second.on_record(InputRecord::new("s", 0, 1, b"{}").with_timestamp(1500));
    let replay = second.on_record(InputRecord::new("s", 0, 2, b"{}").with_timestamp(900));
    assert_eq!(
        replay,
        RecordOutcome::Routed(smallvec::smallvec![RouteOutcome::AlreadyEmitted {
            route: 0
        }])
    );
    second.on_record(InputRecord::new("s", 0, 3, b"{}").with_timestamp(1700));
    second.close_all();
    assert_eq!(
        values(&second.take_closed()),
        [json!({"window_start":1000,"window_end":2000,"n":2})]
    );
    let other = ResumeToken {
        routes: vec![("x".into(), None)],
    };
    assert!(second.resume_partition("s", 0, &other).is_err());
}

#[test]
fn limits_close_the_oldest_window_early() {
    let q =
        "INSERT INTO o SELECT id, count(*) AS n FROM s GROUP BY id WINDOW TUMBLING(1s) GRACE 1h";
    let mut e = engine(
        q,
        WindowSettings {
            max_open_windows: 2,
            ..WindowSettings::default()
        },
    );
    for (off, ts) in [0, 1000, 2000].iter().enumerate() {
        e.on_record(InputRecord::new("s", 0, off as i64, br#"{"id":"a"}"#).with_timestamp(*ts));
    }
    assert_eq!(e.metrics().forced_closes, 1);
    let out = e.take_closed();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].window_start, 0);
    assert!(e
        .on_record(InputRecord::new("s", 0, 3, br#"{"id":"a"}"#).with_timestamp(10))
        .is_late());
    let mut g = engine(
        q,
        WindowSettings {
            max_groups: 3,
            ..WindowSettings::default()
        },
    );
    for (off, id) in ["a", "b", "c", "d"].iter().enumerate() {
        let p = format!(r#"{{"id":"{id}"}}"#);
        g.on_record(InputRecord::new("s", 0, off as i64, p.as_bytes()).with_timestamp(off as i64));
    }
    assert_eq!(g.metrics().forced_closes, 1);
    assert_eq!(g.take_closed().len(), 4);
    assert_eq!(g.groups(), 0);
}

#[test]
fn several_routes_share_a_source_and_keys_decode_only_when_read() {
    let q = "INSERT INTO a SELECT count(*) AS n FROM s WINDOW TUMBLING(1s); \
             INSERT INTO b SELECT _key AS k, max(v) AS m FROM s GROUP BY _key WINDOW TUMBLING(2s)";
    let mut e = engine(q, WindowSettings::default());
    let o = e.on_record(
        InputRecord::new("s", 0, 0, br#"{"v":3}"#)
            .with_timestamp(5)
            .with_key(b"dev-1"),
    );
    assert_eq!(o.windows(), 2);
    assert_eq!(
        e.on_record(InputRecord::new("other", 0, 0, b"x")),
        RecordOutcome::Unrouted
    );
    e.close_all();
    let out = e.take_closed();
    assert_eq!(
        out.iter().map(|o| o.topic.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(out[1].key.as_deref(), Some(&b"dev-1"[..]));
    assert_eq!(
        values(&out)[1],
        json!({"key":"dev-1","window_start":0,"window_end":2000,"k":"dev-1","m":3})
    );
    assert_eq!(e.committable_offsets()[&("other".to_string(), 0)], 1);
}

#[test]
fn avro_values_decode_with_the_configured_schema() {
    let settings = WindowSettings {
        value_format: Format::Avro,
        avro_schema: Some(
            r#"{"type":"record","name":"r","fields":[{"name":"id","type":"string"},{"name":"t","type":"double"}]}"#
                .into(),
        ),
        ..WindowSettings::default()
    };
    let mut e = engine(
        "INSERT INTO o SELECT id, avg(t) AS a FROM s GROUP BY id WINDOW TUMBLING(1s)",
        settings,
    );
    for (off, t) in [1.5f64, 2.5].iter().enumerate() {
        // string "a" (zig-zag length 1 = 0x02), then the double little-endian.
        let mut datum = vec![0x02, b'a'];
        datum.extend_from_slice(&t.to_le_bytes());
        let o = e.on_record(InputRecord::new("s", 0, off as i64, &datum).with_timestamp(1));
        assert_eq!(o.windows(), 1, "{o:?}");
    }
    e.close_all();
    assert_eq!(
        values(&e.take_closed()),
        [json!({"id":"a","window_start":0,"window_end":1000,"a":2.0})]
    );
}

/// A plan built in code (or deserialized) skips the compiler's window check; the engine
/// refuses it rather than assign each record to millions of windows.
#[test]
fn a_plan_past_the_windows_per_record_cap_is_refused() {
    let mut plan = kcql::compile_processor(WEBINAR).unwrap_or_else(|d| panic!("{d}"));
    plan.routes[0].window = kcql::ast::Window {
        kind: kcql::ast::WindowKind::Hopping {
            size: kcql::ast::Duration { millis: 86_400_000 },
            advance: kcql::ast::Duration { millis: 1 },
        },
        grace: None,
    };
    let refused = WindowEngine::new(&plan, WindowSettings::default()).map(|_| ());
    let message = refused.map_err(|e| e.to_string());
    assert_eq!(
        message,
        Err(
            "route 1: WINDOW HOPPING(1d, 1ms) puts each record in 86400000 windows; \
             at most 10000 are allowed"
                .to_string()
        )
    );
}

#[test]
fn settings_are_checked_when_building() {
    let plan = kcql::compile_processor(WEBINAR).unwrap_or_else(|d| panic!("{d}"));
    let avro = WindowSettings {
        value_format: Format::Avro,
        ..WindowSettings::default()
    };
    assert_eq!(
        WindowEngine::new(&plan, avro).unwrap_err(),
        BuildError::Format(RecordFormatError::MissingAvroSchema { part: "value" })
    );
    let zero = WindowSettings {
        max_groups: 0,
        ..WindowSettings::default()
    };
    assert!(matches!(
        WindowEngine::new(&plan, zero),
        Err(BuildError::ZeroLimit("max_groups"))
    ));
}

#[test]
fn a_far_future_event_time_is_poison_and_moves_no_time() {
    let q =
        "INSERT INTO o SELECT id, count(*) AS n FROM s WHERE t > 0 GROUP BY id WINDOW TUMBLING(1s)";
    let settings = WindowSettings {
        max_future_ms: 60_000,
        ..WindowSettings::default()
    };
    let mut e = engine(q, settings);
    let clock = 1_000_000;
    let at = |e: &mut WindowEngine, off: i64, ts: i64, p: &str| {
        let mut input = InputRecord::new("s", 0, off, p.as_bytes()).with_timestamp(ts);
        input.processing_time_ms = clock;
        e.on_record(input)
    };
    assert_eq!(
        at(&mut e, 0, clock + 10, r#"{"id":"a","t":1}"#).windows(),
        1
    );
    // A year ahead: poison, whether WHERE keeps it or not, and neither closes the window.
    let year = 365 * 24 * 3_600_000;
    let far = at(&mut e, 1, clock + year, r#"{"id":"a","t":1}"#);
    assert!(
        matches!(far.poison(), Some(WindowError::FarFuture { limit_ms, .. }) if *limit_ms == clock + 10 + 60_000),
        "{far:?}"
    );
    assert!(matches!(
        at(&mut e, 2, clock + year, r#"{"id":"a","t":-1}"#),
        RecordOutcome::Routed(_)
    ));
    assert_eq!(e.watermark(0), Some(clock + 10));
    // The window is still open: a record for it is on time.
    assert_eq!(
        at(&mut e, 3, clock + 20, r#"{"id":"a","t":1}"#).windows(),
        1
    );
    assert!(e.take_closed().is_empty());
    // Within the bound of the partition's time (not the clock) is fine.
    assert_eq!(
        at(&mut e, 4, clock + 50_000, r#"{"id":"a","t":1}"#).windows(),
        1
    );
    assert_eq!(e.metrics().poison, 1);
}

#[test]
fn a_partition_assigned_behind_the_closed_windows_reopens_them_until_it_catches_up() {
    let q = "INSERT INTO o SELECT id, count(*) AS n FROM s GROUP BY id WINDOW TUMBLING(1s)";
    let mut e = engine(q, WindowSettings::default());
    e.assign_partition("s", 0);
    let at = |e: &mut WindowEngine, p: i32, off: i64, ts: i64, id: &str| {
        let payload = format!(r#"{{"id":"{id}"}}"#);
        e.on_record(InputRecord::new("s", p, off, payload.as_bytes()).with_timestamp(ts))
    };
    at(&mut e, 0, 0, 100, "a");
    at(&mut e, 0, 1, 3500, "a");
    assert_eq!(values(&e.take_closed()).len(), 1, "[0, 1000) of a");
    // Partition 1 is taken over from another process: its records are behind the closed
    // windows, and reopen them (not late).
    e.assign_partition("s", 1);
    assert_eq!(at(&mut e, 1, 0, 500, "b").windows(), 1, "not late");
    assert!(
        e.take_closed().is_empty(),
        "partition 1 has not passed [0, 1000)"
    );
    // Until it does, its commit token stops before the first window it still holds.
    let point = e.commit_point();
    assert_eq!(point.offsets[&("s".to_string(), 1)], 0);
    assert_eq!(
        point.partition_resume[&("s".to_string(), 1)].routes,
        [("o".to_string(), Some(999))]
    );
    assert!(!point.partition_resume.contains_key(&("s".to_string(), 0)));
    assert_eq!(at(&mut e, 1, 1, 1500, "b").windows(), 1, "not late");
    assert_eq!(
        values(&e.take_closed()),
        [json!({"id":"b","window_start":0,"window_end":1000,"n":1})]
    );
    at(&mut e, 1, 2, 3600, "b");
    assert_eq!(
        values(&e.take_closed()),
        [json!({"id":"b","window_start":1000,"window_end":2000,"n":1})]
    );
    assert_eq!(e.metrics().late, 0);
    // Caught up: its records behind the watermark are late again.
    assert!(matches!(
        at(&mut e, 1, 3, 2500, "b"),
        RecordOutcome::Routed(ref o) if matches!(o[0], RouteOutcome::Late { .. })
    ));
}

#[test]
fn when_every_partition_is_idle_the_last_read_event_time_closes_windows() {
    let q = "INSERT INTO o SELECT count(*) AS n FROM s WINDOW TUMBLING(1s)";
    let mut e = engine(q, WindowSettings::default());
    e.assign_partition("s", 0);
    e.assign_partition("s", 1);
    e.on_record(InputRecord::new("s", 0, 0, b"{}").with_timestamp(100));
    e.on_record(InputRecord::new("s", 1, 0, b"{}").with_timestamp(5000));
    // Both reach their end before the caller checks: releasing them still closes [0, 1000).
    e.mark_idle("s", 1);
    e.mark_idle("s", 0);
    assert_eq!(e.idle_holding().len(), 2);
    e.release_idle();
    assert_eq!(e.watermark(0), Some(5000));
    assert_eq!(
        values(&e.take_closed()),
        [json!({"window_start":0,"window_end":1000,"n":1})]
    );
}
