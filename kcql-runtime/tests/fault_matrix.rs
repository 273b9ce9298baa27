//! The fault matrix (issue 14): each component × each fault, against the real services. In
//! every cell nothing acknowledged is lost (a committed offset / an MQTT acknowledgement only
//! ever covers what reached its destination), duplicates are counted and bounded, and the
//! component ends Running, or stopped with a message naming the record.
//!
//! | cell | test (file in `kcql-runtime/tests/` unless a path is given) |
//! |---|---|
//! | sink × SIGKILL | `influx_sink_process.rs::kcql_run_sigkilled_mid_stream_and_restarted_loses_nothing` (one point per record: a rewrite is the same point); `influx_sink_process.rs::three_processes_one_sigkilled_mid_stream_every_record_written` (each writer tags its points: duplicates counted exactly, bounded by what was uncommitted at the kill) |
//! | sink × Kafka killed and restarted | `influx_sink_faults.rs::kafka_broker_killed_and_restarted_mid_stream_loses_nothing` |
//! | sink × InfluxDB killed | `influx_sink_faults.rs::influxdb_outage_of_ten_seconds_loses_nothing` (SIGKILL, restart 10 s later) |
//! | sink × InfluxDB slow | [`sink_influxdb_slow_past_the_request_timeout_loses_nothing`] |
//! | sink × Mosquitto restarted | n/a: the sink has no MQTT connection |
//! | sink × poison at 1 % | [`sink_poison_at_one_percent_noop_dead_letters_each_once_and_writes_the_rest`], [`sink_poison_at_one_percent_throw_stops_naming_a_poison_record`]; per kind of poison: `influx_sink.rs::noop_writes_good_records_and_dead_letters_poison`, `influx_sink.rs::throw_stops_at_the_first_poison_record_and_noop_resumes_there` |
//! | sink × far-future timestamp | [`sink_far_future_timestamps_are_written_or_poison_as_influxdb_accepts_them`] |
//! | sink × 10 MB payload | [`sink_ten_megabyte_records_are_written_or_dead_lettered`] |
//! | processor × SIGKILL | [`processor_sigkilled_as_a_process_and_restarted_windows_exact_duplicates_bounded`]; the whole pipeline: `tests/iot_pipeline_e2e.rs::devices_to_influx_with_the_processor_killed_and_restarted` |
//! | processor × Kafka killed and restarted | `window_processor.rs::the_broker_killed_and_restarted_under_the_processor_loses_no_window` (each window complete, at most twice) |
//! | processor × InfluxDB killed | n/a: the processor reads and writes Kafka only |
//! | processor × InfluxDB slow | n/a: the processor reads and writes Kafka only |
//! | processor × Mosquitto restarted | n/a: the processor has no MQTT connection |
//! | processor × poison at 1 % | [`processor_poison_at_one_percent_noop_windows_exact_each_poison_dead_lettered_once`] (NOOP); `window_processor_faults.rs::a_poison_record_under_throw_is_never_committed_past` (THROW: stops naming it, again after a restart) |
//! | processor × far-future timestamp | `window_processor_faults.rs::a_far_future_event_time_is_poison_and_closes_no_window` |
//! | processor × 10 MB payload | [`processor_ten_megabyte_records_are_aggregated_or_dead_lettered`] |
//! | source × SIGKILL | `mqtt_source.rs::killed_connector_restarts_without_loss` (the connector's process SIGKILLed; duplicates ≤ the broker's DUP-flagged redeliveries) |
//! | source × Kafka killed and restarted | `mqtt_source.rs::kafka_stopped_for_ten_seconds_while_devices_publish_loses_nothing` |
//! | source × InfluxDB killed | n/a: the source writes Kafka only |
//! | source × InfluxDB slow | n/a: the source writes Kafka only |
//! | source × Mosquitto restarted | `mqtt_source.rs::mosquitto_restarted_the_source_reconnects_resubscribes_and_continues` (SIGKILL, restart) |
//! | source × poison at 1 % | [`source_poison_at_one_percent_noop_dead_letters_each_once_and_passes_the_rest`] (NOOP); `mqtt_source.rs::bad_json_throw_stops_without_ack_and_the_next_run_gets_it_again` (THROW: stops naming its MQTT topic, unacknowledged, delivered again) |
//! | source × far-future timestamp | [`source_poison_at_one_percent_noop_dead_letters_each_once_and_passes_the_rest`]: the source reads no time from a payload (its Kafka record time is its own clock), so a far-future time is data, passed on unchanged |
//! | source × 10 MB payload | see `mqtt_source.rs` (issue 14 item 7, another branch) |
//!
//! How each cell's duplicates are bounded: the sink's rewrites are the same point (same series
//! and time), so InfluxDB holds one point per record and the tests count points; the
//! processor's are complete windows emitted again after a re-read from the last commit (each
//! at most twice after one fault); the source's are messages the broker delivered again (DUP
//! flag) or Kafka writes it retried.
//!
//! The tests in this file use the shared services with unique names (InfluxDB's slowness is a
//! delaying proxy in front of it); those above that kill or restart a broker or a database use
//! private instances (`kcql_testkit::private`).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kcql_runtime::component::ComponentState;
use kcql_runtime::config::Pipeline;
use kcql_runtime::connectors::influx_sink::SinkError;
use kcql_runtime::dead_letter::{
    HEADER_CLASS, HEADER_MESSAGE, HEADER_OFFSET, HEADER_PARTITION, HEADER_TRUNCATED_ORIGINAL_SIZE,
};
use kcql_runtime::run::{run_pipeline, Observability, RunError};
use kcql_runtime::shutdown::Shutdown;
use kcql_testkit::influx::{influx_url, influxql, require_influx, select_all};
use kcql_testkit::kafka::{
    self, committed_offsets_at, create_topic_at, create_topic_with_config_at, produce_at,
    unique_group, unique_topic, ConsumedRecord, ProduceRecord,
};
use kcql_testkit::names::unique;
use kcql_testkit::private::ChildProcess;
use kcql_testkit::proxy::DelayProxy;
use serde_json::json;
use support::poison::{poison_record, Kind, POISON_KCQL};
use support::windows::{fleet_readings, processor_toml, pushers, reading_record, Tally, BASE_MS};
use support::{
    count_of, end_offsets, metric_sum, now_ns, settings, v1_props, wait_committed_unless, wait_for,
    Producing, RunningSink, KCQL,
};

const WAIT: Duration = Duration::from_secs(90);
/// Kafka's limit for the topics of the 10 MB records (the broker's default is 1 MB).
const BIG_TOPIC: &[(&str, &str)] = &[("max.message.bytes", "16777216")];
/// A producer that may send them.
const BIG_PRODUCER: &[(&str, &str)] = &[("message.max.bytes", "16777216")];
/// The size of a "10 MB" record's filler.
const TEN_MB: usize = 10 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// InfluxDB sink

/// The point times of `db`.`measurement` on the shared InfluxDB.
async fn point_times(db: &str, measurement: &str) -> BTreeSet<i64> {
    select_all(db, measurement)
        .await
        .iter()
        .filter_map(|r| r["time"].as_i64())
        .collect()
}

/// Waits until the points of `db`.`m` are exactly `want` (by time), failing early if the sink
/// stopped.
async fn wait_points(db: &str, want: &BTreeSet<i64>, sink: &RunningSink) {
    wait_for("every good record as a point", WAIT, || async {
        let got = point_times(db, "m").await;
        if &got == want {
            return Ok(());
        }
        assert!(
            !sink.task.is_finished(),
            "the sink stopped: {:?}",
            sink.state()
        );
        Err(format!(
            "{} points of {}, missing e.g. {:?}, unexpected e.g. {:?}",
            got.len(),
            want.len(),
            want.difference(&got).take(5).collect::<Vec<_>>(),
            got.difference(want).take(5).collect::<Vec<_>>()
        ))
    })
    .await
}

/// Sink `name` writing `kcql` into `db` (shared InfluxDB) as consumer group `group`, under
/// NOOP with the dead-letter topic `dlq`, once it has committed `ends` of `topic` (failing at
/// once if it stops).
async fn noop_sink_through(
    name: &str,
    kcql: &str,
    db: &str,
    group: &str,
    dlq: &str,
    topic: &str,
    ends: &BTreeMap<i32, i64>,
) -> RunningSink {
    let (url, brokers) = (influx_url(), kafka::brokers());
    let mut props = v1_props(name, &url, db, group, kcql, &brokers);
    props.push(("connect.influx.error.policy", "NOOP"));
    props.push(("connect.influx.dlq.topic", dlq));
    let sink = RunningSink::start(settings(&props));
    wait_committed_unless(&brokers, group, topic, ends, || sink.failure()).await;
    sink
}

/// The value of a dead letter's header `name` as text.
fn header_text(letter: &ConsumedRecord, name: &str) -> String {
    String::from_utf8_lossy(letter.header(name).unwrap_or_default()).into_owned()
}

/// Where a dead letter's record was read: `(partition, offset)`, by its headers.
fn origin_of(letter: &ConsumedRecord) -> (i32, i64) {
    (
        header_text(letter, HEADER_PARTITION).parse().unwrap_or(-1),
        header_text(letter, HEADER_OFFSET).parse().unwrap_or(-1),
    )
}

/// Each dead letter's origin and error class.
fn letters_by_origin(letters: &[ConsumedRecord]) -> BTreeMap<(i32, i64), String> {
    letters
        .iter()
        .map(|l| (origin_of(l), header_text(l, HEADER_CLASS)))
        .collect()
}

/// `letter` is the dead-letter copy of a record `original` too large for the dead-letter
/// producer: its value is the record's first bytes (at most Kafka's default 1 MB), and a header
/// gives the original size.
fn assert_truncated_copy(letter: &ConsumedRecord, original: &[u8]) {
    let value = letter.payload.as_deref().unwrap_or_default();
    assert!(
        !value.is_empty() && value.len() < 1_000_000 && original.starts_with(value),
        "the copy is the record's first bytes: {} of {} bytes",
        value.len(),
        original.len()
    );
    assert_eq!(
        letter.header(HEADER_TRUNCATED_ORIGINAL_SIZE),
        Some(original.len().to_string().as_bytes()),
        "the copy says it was cut, and from what size"
    );
}

/// InfluxDB answers late, past the sink's request timeout (10 s), for 15 s while records keep
/// coming: the writes land (only their answers are late), the sink times out, counts each
/// timeout as a retry, rewrites the same points (idempotent: same series and time), commits
/// nothing it has not seen accepted, and once InfluxDB is fast again every record is exactly
/// one point and the sink is Running.
#[tokio::test(flavor = "multi_thread")]
async fn sink_influxdb_slow_past_the_request_timeout_loses_nothing() {
    require_influx().await;
    let brokers = kafka::brokers();
    let upstream = influx_url();
    let proxy = DelayProxy::start(upstream.trim_start_matches("http://")).await;
    let db = support::shared_db("fm_sink_slow").await;
    let topic = unique_topic("fm_sink_slow");
    let group = unique_group("fm_sink_slow");
    create_topic_at(&brokers, &topic, 2).await;
    let kcql = KCQL.replace("{topic}", &topic);
    let url = proxy.url();
    let sink = RunningSink::start(settings(&v1_props(
        "fm-sink-slow",
        &url,
        &db,
        &group,
        &kcql,
        &brokers,
    )));
    let producing = Producing::start(&brokers, &topic, 2, 20);
    let produced = Arc::clone(&producing.produced);
    let count = || async { count_of(&influxql(Some(&db), "SELECT count(v) FROM m").await) };
    wait_for("100 points before InfluxDB slows down", WAIT, || async {
        match count().await {
            n if n >= 100 => Ok(()),
            n => Err(format!("{n} points")),
        }
    })
    .await;

    proxy.set_response_delay(Duration::from_secs(12));
    let slow = Instant::now();
    let mut degraded = false;
    while slow.elapsed() < Duration::from_secs(15) {
        degraded |= matches!(sink.state(), Some(ComponentState::Degraded(_)));
        // Whatever is committed is in InfluxDB (commits first: points only grow).
        let committed = committed_offsets_at(&brokers, &group, &topic).await;
        let present = point_times(&db, "m").await;
        support::assert_committed_written(&produced, &committed, &present);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    proxy.set_response_delay(Duration::ZERO);
    producing.stop().await;
    let want: BTreeSet<i64> = produced.lock().unwrap().values().copied().collect();
    wait_points(&db, &want, &sink).await;
    wait_for("Running once InfluxDB is fast again", WAIT, || async {
        match sink.state() {
            Some(ComponentState::Running) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let timeouts = proxy.delayed_responses();
    let retries = sink.metric("kcql_write_retries_total");
    assert!(degraded, "never Degraded while InfluxDB was slow");
    assert!(timeouts > 0, "no response was held back");
    assert!(
        retries >= timeouts as f64,
        "{timeouts} writes timed out but {retries} retries counted"
    );
    assert_eq!(sink.metric("kcql_records_skipped_total"), 0.0);
    assert_eq!(count().await, want.len() as u64, "one point per record");
    sink.stop().await.expect("the sink stops cleanly");
    let positions: Vec<(i32, i64)> = produced.lock().unwrap().keys().copied().collect();
    assert_eq!(
        committed_offsets_at(&brokers, &group, &topic).await,
        end_offsets(&positions)
    );
    eprintln!(
        "slow InfluxDB: {} records, {timeouts} timed-out writes, {retries} retries",
        want.len()
    );
}

/// 1 % poison among 2 000 records on 4 partitions: record `i` is poison when `i % 100` is
/// `37 + (i / 100) % 4` (so every partition gets some), of the three kinds in turn.
fn one_percent(i: i64) -> Kind {
    if i % 100 != 37 + (i / 100) % 4 {
        return Kind::Good;
    }
    match (i / 100) % 3 {
        0 => Kind::BadJson,
        1 => Kind::MissingTime,
        _ => Kind::TypeConflict,
    }
}

/// The 1 % poison topic: (topic, positions of the records, point time base).
async fn one_percent_topic(brokers: &str, label: &str) -> (String, Vec<(i32, i64)>, i64) {
    let topic = unique_topic(label);
    create_topic_at(brokers, &topic, 4).await;
    let base = now_ns() - 60_000_000_000;
    let records: Vec<ProduceRecord> = (0..2_000)
        .map(|i| poison_record(base, i, one_percent(i)).partition((i % 4) as i32))
        .collect();
    let positions = produce_at(brokers, &[], &topic, records).await;
    (topic, positions, base)
}

/// Sink × 1 % poison, NOOP with a dead-letter topic: every good record is exactly one point,
/// every poison record is skipped, counted by its class and dead-lettered exactly once (with
/// its partition and offset), the offsets reach every partition's end, and the sink is
/// Running throughout.
#[tokio::test(flavor = "multi_thread")]
async fn sink_poison_at_one_percent_noop_dead_letters_each_once_and_writes_the_rest() {
    require_influx().await;
    let brokers = kafka::brokers();
    let (topic, positions, base) = one_percent_topic(&brokers, "fm_sink_poison").await;
    let dlq = unique_topic("fm_sink_poison_dlq");
    create_topic_at(&brokers, &dlq, 1).await;
    let db = support::shared_db("fm_sink_poison").await;
    let group = unique_group("fm_sink_poison");
    let kcql = POISON_KCQL.replace("{topic}", &topic);
    let ends = end_offsets(&positions);
    let sink = noop_sink_through("fm-sink-poison", &kcql, &db, &group, &dlq, &topic, &ends).await;
    let good: BTreeSet<i64> = (0..2_000)
        .filter(|&i| one_percent(i) == Kind::Good)
        .map(|i| base + i)
        .collect();
    wait_points(&db, &good, &sink).await;
    assert_eq!(sink.state(), Some(ComponentState::Running));
    let poison: BTreeMap<(i32, i64), Kind> = (0..2_000)
        .filter(|&i| one_percent(i) != Kind::Good)
        .map(|i| (positions[i as usize], one_percent(i)))
        .collect();
    assert_eq!(poison.len(), 20, "1 % of 2 000");
    let metrics = sink.registry.render();
    assert_eq!(sink.metric("kcql_records_skipped_total"), 20.0, "{metrics}");
    assert_eq!(
        sink.metric("kcql_records_dead_lettered_total"),
        20.0,
        "{metrics}"
    );
    for kind in [Kind::BadJson, Kind::MissingTime, Kind::TypeConflict] {
        let n = poison.values().filter(|&&k| k == kind).count();
        let series = format!(
            "kcql_records_skipped_total{{component=\"fm-sink-poison\",reason=\"{}\"}} {n}",
            kind.class()
        );
        assert!(metrics.contains(&series), "{series}: {metrics}");
    }
    sink.stop().await.expect("the NOOP sink stops cleanly");
    let letters = kafka::consume_exactly_at(&brokers, &dlq, 20, WAIT, Duration::from_secs(2)).await;
    let lettered = letters_by_origin(&letters);
    let want: BTreeMap<(i32, i64), String> = poison
        .iter()
        .map(|(&at, kind)| (at, kind.class().to_string()))
        .collect();
    assert_eq!(lettered, want, "each poison record dead-lettered once");
}

/// Sink × 1 % poison, THROW: the sink stops with an error naming a poison record, and on no
/// partition is anything committed past the first poison record; every good record below the
/// commits is a point. Started again it stops again (it never skips a poison record).
#[tokio::test(flavor = "multi_thread")]
async fn sink_poison_at_one_percent_throw_stops_naming_a_poison_record() {
    require_influx().await;
    let brokers = kafka::brokers();
    let (topic, positions, base) = one_percent_topic(&brokers, "fm_sink_throw").await;
    let db = support::shared_db("fm_sink_throw").await;
    let group = unique_group("fm_sink_throw");
    let kcql = POISON_KCQL.replace("{topic}", &topic);
    let url = influx_url();
    let mut first_poison: BTreeMap<i32, i64> = BTreeMap::new();
    for i in (0..2_000).filter(|&i| one_percent(i) != Kind::Good) {
        let (p, o) = positions[i as usize];
        first_poison.entry(p).or_insert(o);
    }
    for run in ["first run", "restart"] {
        let props = v1_props("fm-sink-throw", &url, &db, &group, &kcql, &brokers);
        let result = RunningSink::start(settings(&props)).join().await;
        match &result {
            Err(SinkError::Poison {
                topic: t,
                partition,
                offset,
                policy: "THROW",
                ..
            }) if *t == topic => {
                let i = positions
                    .iter()
                    .position(|&at| at == (*partition, *offset))
                    .unwrap_or_else(|| panic!("{run}: no record at [{partition}]@{offset}"));
                assert_ne!(
                    one_percent(i as i64),
                    Kind::Good,
                    "{run}: names a good record"
                );
                let text = result.as_ref().map_err(ToString::to_string).unwrap_err();
                assert!(
                    text.contains(&format!("{topic}[{partition}]@{offset}")),
                    "{run}: the message names the record: {text}"
                );
            }
            other => panic!("{run}: expected a poison error, got {other:?}"),
        }
        let committed = committed_offsets_at(&brokers, &group, &topic).await;
        for (p, c) in &committed {
            let limit = first_poison.get(p).copied().unwrap_or(i64::MAX);
            assert!(
                *c <= limit,
                "{run}: [{p}] committed up to {c}, past its first poison record at {limit}"
            );
        }
        let present = point_times(&db, "m").await;
        for (i, &(p, o)) in positions.iter().enumerate() {
            if committed.get(&p).is_some_and(|&c| o < c) {
                assert!(
                    present.contains(&(base + i as i64)),
                    "{run}: [{p}]@{o} committed but not written"
                );
            }
        }
    }
}

/// Sink × far-future timestamps. InfluxDB 1.x stores times up to 2262-04-11 (its range is
/// ±(2⁶³ − 2) ns) and refuses a line beyond it ("time outside range", a partial write), and a
/// time that does not fit in 64-bit nanoseconds cannot even be written as a line. So a point in
/// 2200 is written as any other; one at 2⁶³ − 1 ns is poison rejected by InfluxDB; one in 2300
/// (an ISO-8601 string) is poison before any write. Under THROW the sink stops at the first of
/// them, naming it, and commits nothing past it — started again it stops there again; under
/// NOOP it dead-letters both and writes the rest.
#[tokio::test(flavor = "multi_thread")]
async fn sink_far_future_timestamps_are_written_or_poison_as_influxdb_accepts_them() {
    require_influx().await;
    let brokers = kafka::brokers();
    let topic = unique_topic("fm_sink_future");
    let dlq = unique_topic("fm_sink_future_dlq");
    create_topic_at(&brokers, &topic, 1).await;
    create_topic_at(&brokers, &dlq, 1).await;
    let db = support::shared_db("fm_sink_future").await;
    let group = unique_group("fm_sink_future");
    let base = now_ns() - 60_000_000_000;
    // 2200-01-01T00:00:00Z, the largest time InfluxDB refuses, and a year-2300 string.
    let (in_range, out_of_range) = (7_258_118_400_000_000_000i64, i64::MAX);
    let (at_2200, at_max, at_2300) = (10i64, 15i64, 20i64);
    let records: Vec<ProduceRecord> = (0..30i64)
        .map(|i| {
            let ts = match i {
                _ if i == at_2200 => json!(in_range),
                _ if i == at_max => json!(out_of_range),
                _ if i == at_2300 => json!("2300-01-01T00:00:00Z"),
                _ => json!(base + i),
            };
            ProduceRecord::new(json!({"id": "a", "v": i as f64 + 0.5, "ts": ts}).to_string())
        })
        .collect();
    produce_at(&brokers, &[], &topic, records).await;
    let kcql = POISON_KCQL.replace("{topic}", &topic);
    let url = influx_url();

    for run in ["THROW", "THROW again"] {
        let props = v1_props("fm-sink-future", &url, &db, &group, &kcql, &brokers);
        let result = RunningSink::start(settings(&props)).join().await;
        match &result {
            Err(SinkError::Poison { offset, reason, .. }) if *offset == at_max => {
                assert!(reason.contains("time outside range"), "{run}: {reason}");
            }
            other => panic!("{run}: expected a poison error at offset {at_max}, got {other:?}"),
        }
        assert_eq!(
            committed_offsets_at(&brokers, &group, &topic).await,
            BTreeMap::from([(0, at_max)]),
            "{run}: committed up to the record InfluxDB refused"
        );
    }

    let ends = BTreeMap::from([(0, 30)]);
    let sink = noop_sink_through("fm-sink-future", &kcql, &db, &group, &dlq, &topic, &ends).await;
    let want: BTreeSet<i64> = (0..30)
        .filter(|&i| i != at_max && i != at_2300)
        .map(|i| if i == at_2200 { in_range } else { base + i })
        .collect();
    wait_points(&db, &want, &sink).await;
    assert_eq!(sink.state(), Some(ComponentState::Running));
    sink.stop().await.expect("the NOOP sink stops cleanly");
    let letters = kafka::consume_exactly_at(&brokers, &dlq, 2, WAIT, Duration::from_secs(2)).await;
    assert_eq!(
        letters_by_origin(&letters),
        BTreeMap::from([
            ((0, at_max), "rejected_by_influxdb".to_string()),
            ((0, at_2300), "bad_time".to_string())
        ])
    );
}

/// Sink × 10 MB records (the topic allows 16 MB), under NOOP with a dead-letter topic (the
/// dead-letter producer and topic keep Kafka's 1 MB defaults):
/// * a valid 10 MB JSON record becomes its points, its 10 MB string field whole in InfluxDB;
/// * a 10 MB record that is not JSON is poison;
/// * a valid 10 MB record with a time InfluxDB refuses is poison too, and InfluxDB's error
///   quotes the whole 10 MB line.
///
/// Each poison record is dead-lettered once, as its first bytes with a header giving the
/// original size (and the error message clipped); the records around them are written, the
/// offsets reach the end, and the sink is Running.
#[tokio::test(flavor = "multi_thread")]
async fn sink_ten_megabyte_records_are_written_or_dead_lettered() {
    require_influx().await;
    let brokers = kafka::brokers();
    let topic = unique_topic("fm_sink_big");
    let dlq = unique_topic("fm_sink_big_dlq");
    create_topic_with_config_at(&brokers, &topic, 2, BIG_TOPIC).await;
    create_topic_at(&brokers, &dlq, 1).await;
    let db = support::shared_db("fm_sink_big").await;
    let group = unique_group("fm_sink_big");
    let base = now_ns() - 60_000_000_000;
    let blob = "x".repeat(TEN_MB);
    let big = |ts: i64| json!({"id": "big", "v": 0.5, "ts": ts, "blob": blob}).to_string();
    let (valid, not_json, refused) = (25usize, 31usize, 44usize);
    let payloads: Vec<String> = (0..60)
        .map(|i| match i {
            _ if i == valid => big(base + i as i64),
            _ if i == not_json => format!("{{\"id\": \"bad\", \"blob\": \"{blob}"),
            _ if i == refused => big(i64::MAX),
            _ => json!({"id": "a", "v": i as f64, "ts": base + i as i64}).to_string(),
        })
        .collect();
    let records = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| ProduceRecord::new(p.as_str()).partition((i % 2) as i32));
    let positions = produce_at(&brokers, BIG_PRODUCER, &topic, records).await;
    // The blob's statement first: its 10 MB line is the one InfluxDB reports.
    let kcql = format!(
        "INSERT INTO blobs SELECT blob FROM {topic} WHERE id = 'big' WITHTIMESTAMP ts TIMESTAMPUNIT = NANOSECONDS;\
         INSERT INTO m SELECT v FROM {topic} WITHTIMESTAMP ts TIMESTAMPUNIT = NANOSECONDS WITHTAG(id)"
    );
    let ends = end_offsets(&positions);
    let sink = noop_sink_through("fm-sink-big", &kcql, &db, &group, &dlq, &topic, &ends).await;
    let want: BTreeSet<i64> = (0..60)
        .filter(|&i| i != not_json && i != refused)
        .map(|i| base + i as i64)
        .collect();
    wait_points(&db, &want, &sink).await;
    assert_eq!(sink.state(), Some(ComponentState::Running));
    assert_eq!(sink.metric("kcql_records_skipped_total"), 2.0);
    sink.stop().await.expect("the sink stops cleanly");
    let stored = select_all(&db, "blobs").await;
    assert_eq!(stored.len(), 1, "one blob point");
    assert_eq!(
        stored[0]["blob"].as_str().map(str::len),
        Some(TEN_MB),
        "the 10 MB field is stored whole"
    );
    let letters = kafka::consume_exactly_at(&brokers, &dlq, 2, WAIT, Duration::from_secs(2)).await;
    for letter in &letters {
        let at = origin_of(letter);
        let i = positions
            .iter()
            .position(|&p| p == at)
            .unwrap_or_else(|| panic!("a dead letter for no record: {at:?}"));
        assert!(i == not_json || i == refused, "record {i} dead-lettered");
        assert_truncated_copy(letter, payloads[i].as_bytes());
        let class = letter.header(HEADER_CLASS).unwrap_or_default();
        let message = letter.header(HEADER_MESSAGE).unwrap_or_default();
        if i == refused {
            assert_eq!(class, b"rejected_by_influxdb");
            assert!(message.len() < 10_000, "clipped: {} bytes", message.len());
        } else {
            assert_eq!(class, b"decode_error");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Window processor

/// A pipeline file running in this process (one component: a window processor, an MQTT
/// source).
struct RunningPipeline {
    name: String,
    shutdown: Shutdown,
    observability: Observability,
    task: tokio::task::JoinHandle<Result<(), RunError>>,
}

impl RunningPipeline {
    /// Starts the pipeline file `toml`, whose component is `name`.
    fn start(toml: &str, name: &str) -> RunningPipeline {
        let pipeline =
            Pipeline::from_toml_str(toml, "fault.toml").unwrap_or_else(|e| panic!("{e:?}"));
        let shutdown = Shutdown::new();
        let observability = Observability::default();
        let task = tokio::spawn(run_pipeline(
            pipeline,
            shutdown.clone(),
            observability.clone(),
            |_| {},
        ));
        RunningPipeline {
            name: name.to_string(),
            shutdown,
            observability,
            task,
        }
    }

    fn state(&self) -> Option<ComponentState> {
        self.observability.health.get(&self.name)
    }

    /// The first `n` records of `topic` (≤ [`WAIT`]); fails at once when the component stops.
    async fn read(&self, brokers: &str, topic: &str, n: usize) -> Vec<ConsumedRecord> {
        let stopped = async {
            loop {
                if let Some(ComponentState::Failed(why)) = self.state() {
                    return why;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        tokio::select! {
            got = kafka::consume_all_at(brokers, topic, n, WAIT) => got,
            why = stopped => panic!("reading {topic}: `{}` stopped: {why}", self.name),
        }
    }

    fn metric(&self, metric: &str) -> f64 {
        metric_sum(&self.observability.registry.render(), metric)
    }

    /// Stops it and requires a clean stop.
    async fn stop(self) {
        self.shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("the pipeline stops within 60 s")
            .expect("pipeline task")
            .expect("the pipeline stops cleanly");
    }
}

/// A window processor (the talk's statement, named after `label`) from `input` to `output`
/// under NOOP with the dead-letter topic `dlq`, running in this process.
fn noop_processor(label: &str, input: &str, output: &str, dlq: &str) -> RunningPipeline {
    let name = unique(label);
    let settings = format!("error_policy = \"NOOP\"\ndlq_topic = \"{dlq}\"");
    let toml = processor_toml(&kafka::brokers(), &name, input, output, &settings);
    RunningPipeline::start(&toml, &name)
}

/// Every record of `topic` up to its end offsets now.
async fn read_all(brokers: &str, topic: &str) -> Vec<ConsumedRecord> {
    let total: i64 = kafka::end_offsets_at(brokers, topic).await.values().sum();
    kafka::consume_all_at(brokers, topic, total as usize, WAIT).await
}

/// `records` with each of `extra` inserted after the record at its index, then one pusher per
/// partition in `partitions` (event time a minute after the readings' start); and where the
/// inserted records are in the result.
fn with_inserted(
    records: Vec<ProduceRecord>,
    extra: Vec<(usize, ProduceRecord)>,
    partitions: &[i32],
) -> (Vec<ProduceRecord>, Vec<usize>) {
    let mut extra = extra.into_iter().peekable();
    let mut out = Vec::with_capacity(records.len() + partitions.len());
    let mut inserted = Vec::new();
    for (i, record) in records.into_iter().enumerate() {
        out.push(record);
        while let Some((_, record)) = extra.next_if(|(after, _)| *after == i) {
            inserted.push(out.len());
            out.push(record);
        }
    }
    out.extend(pushers(partitions, BASE_MS + 60_000));
    (out, inserted)
}

/// Processor × 1 % poison, NOOP with a dead-letter topic: 6 poison records (not JSON, no event
/// time, a temperature that is text) among 600 readings on 2 partitions. The windows are
/// exactly those of the good readings, each once; each poison record is counted and
/// dead-lettered once; the processor is Running.
#[tokio::test(flavor = "multi_thread")]
async fn processor_poison_at_one_percent_noop_windows_exact_each_poison_dead_lettered_once() {
    let brokers = kafka::brokers();
    let input = unique_topic("fm_wp_poison_in");
    let output = unique_topic("fm_wp_poison_out");
    let dlq = unique_topic("fm_wp_poison_dlq");
    create_topic_at(&brokers, &input, 2).await;
    create_topic_at(&brokers, &output, 1).await;
    create_topic_at(&brokers, &dlq, 1).await;
    let (readings, expected) = fleet_readings(4, 30, 5);
    assert_eq!(readings.len(), 600);
    let poison: Vec<(usize, ProduceRecord)> = (0..6)
        .map(|k| {
            let after = 50 + 100 * k;
            let id = &readings[after].id;
            let payload = match k % 3 {
                0 => format!("{{\"id\": \"{id}\", \"temperature\": "),
                1 => json!({"id": id, "temperature": 20.0}).to_string(),
                _ => json!({"id": id, "temperature": "hot", "ts": readings[after].ts}).to_string(),
            };
            (after, ProduceRecord::new(payload).key(id.as_str()))
        })
        .collect();
    let (records, inserted) = with_inserted(
        readings.iter().map(reading_record).collect(),
        poison,
        &[0, 1],
    );
    let positions = produce_at(&brokers, &[], &input, records).await;
    let poison_at: BTreeSet<(i32, i64)> = inserted.iter().map(|&i| positions[i]).collect();

    let processor = noop_processor("fm-wp-poison", &input, &output, &dlq);
    let outputs = processor.read(&brokers, &output, expected.len()).await;
    let letters = processor.read(&brokers, &dlq, 6).await;
    assert_eq!(processor.state(), Some(ComponentState::Running));
    assert_eq!(processor.metric("kcql_window_poison_records_total"), 6.0);
    assert_eq!(processor.metric("kcql_records_dead_lettered_total"), 6.0);
    processor.stop().await;
    let outputs_now = read_all(&brokers, &output).await;
    assert_eq!(outputs_now.len(), outputs.len(), "no window emitted twice");
    Tally::of(&outputs_now, &expected).assert_exact(&expected, 1);
    let letters_now = read_all(&brokers, &dlq).await;
    assert_eq!(
        letters_now.len(),
        letters.len(),
        "no poison record dead-lettered twice"
    );
    let lettered: BTreeSet<(i32, i64)> = letters_by_origin(&letters_now).into_keys().collect();
    assert_eq!(lettered, poison_at, "each poison record dead-lettered");
}

/// Processor × 10 MB records (the input topic allows 16 MB): a reading padded to 10 MB (a valid
/// JSON record with a 10 MB extra field) counts in its window like any other; a 10 MB record
/// that is not JSON is poison, dead-lettered as its first bytes with a header giving the
/// original size (the dead-letter topic keeps Kafka's 1 MB default); the readings after both
/// are processed, every window is exact, and the processor is Running.
#[tokio::test(flavor = "multi_thread")]
async fn processor_ten_megabyte_records_are_aggregated_or_dead_lettered() {
    let brokers = kafka::brokers();
    let input = unique_topic("fm_wp_big_in");
    let output = unique_topic("fm_wp_big_out");
    let dlq = unique_topic("fm_wp_big_dlq");
    create_topic_with_config_at(&brokers, &input, 1, BIG_TOPIC).await;
    create_topic_at(&brokers, &output, 1).await;
    create_topic_at(&brokers, &dlq, 1).await;
    let (readings, expected) = fleet_readings(3, 10, 5);
    let blob = "x".repeat(TEN_MB);
    let not_json = format!("{{\"id\": \"dev-0\", \"blob\": \"{blob}");
    let padded = 40;
    let records: Vec<ProduceRecord> = readings
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if i != padded {
                return reading_record(r);
            }
            let mut value: serde_json::Value =
                serde_json::from_str(&r.to_json()).expect("a reading is JSON");
            value["blob"] = json!(blob);
            ProduceRecord::new(value.to_string()).key(r.id.as_str())
        })
        .collect();
    let poison = ProduceRecord::new(not_json.clone()).key("dev-0");
    let (records, inserted) = with_inserted(records, vec![(padded + 1, poison)], &[0]);
    let positions = produce_at(&brokers, BIG_PRODUCER, &input, records).await;

    let processor = noop_processor("fm-wp-big", &input, &output, &dlq);
    let outputs = processor.read(&brokers, &output, expected.len()).await;
    let letters = processor.read(&brokers, &dlq, 1).await;
    assert_eq!(processor.state(), Some(ComponentState::Running));
    assert_eq!(processor.metric("kcql_window_poison_records_total"), 1.0);
    processor.stop().await;
    Tally::of(&outputs, &expected).assert_exact(&expected, 1);
    assert_truncated_copy(&letters[0], not_json.as_bytes());
    assert_eq!(origin_of(&letters[0]), positions[inserted[0]]);
}

/// `kcql run FILE` (this package's binary), once it runs.
async fn kcql_run(file: &std::path::Path) -> ChildProcess {
    kcql_testkit::bin::kcql_run(env!("CARGO_BIN_EXE_kcql"), [file]).await
}

/// A pipeline file in a fresh temporary directory.
fn pipeline_file(label: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(label));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("pipeline.toml");
    std::fs::write(&file, text).expect("write the pipeline file");
    file
}

/// Produces `records` to `topic` in batches of `per_batch`, one batch every 100 ms, each
/// delivered before the next starts.
async fn feed(brokers: String, topic: String, records: Vec<ProduceRecord>, per_batch: usize) {
    for batch in records.chunks(per_batch) {
        produce_at(&brokers, &[], &topic, batch.to_vec()).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The number of records in `topic` once it stopped growing for 500 ms (what a dead producer
/// had in flight has landed).
async fn settled_size(brokers: &str, topic: &str) -> i64 {
    let mut last = -1;
    loop {
        let now: i64 = kafka::end_offsets_at(brokers, topic).await.values().sum();
        if now == last {
            return now;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Processor × SIGKILL: `kcql run` with the window processor is SIGKILLed (no flush, no
/// commit) mid-stream — readings arriving, windows open, offsets possibly uncommitted. The
/// rest of the readings arrive while it is down, and it is started again at once (the dead
/// member still holds its session; Kafka hands the partitions over when it expires). In the
/// end every window is in the output topic, complete and exact. Duplicates are complete
/// windows the first process emitted after its last commit, emitted again: counted, each
/// window at most twice, and no more than the first process emitted.
#[tokio::test(flavor = "multi_thread")]
async fn processor_sigkilled_as_a_process_and_restarted_windows_exact_duplicates_bounded() {
    let brokers = kafka::brokers();
    let input = unique_topic("fm_wp_kill_in");
    let output = unique_topic("fm_wp_kill_out");
    create_topic_at(&brokers, &input, 2).await;
    create_topic_at(&brokers, &output, 1).await;
    let (readings, expected) = fleet_readings(6, 40, 10);
    let name = unique("fm-wp-kill");
    let file = pipeline_file(
        "fm-wp-kill",
        &processor_toml(&brokers, &name, &input, &output, ""),
    );

    let mut processor = kcql_run(&file).await;
    // One second of event time (60 readings) every 100 ms.
    let feeder = tokio::spawn(feed(
        brokers.clone(),
        input.clone(),
        readings.iter().map(reading_record).collect(),
        60,
    ));
    processor
        .wait_until("three windows per device", WAIT, || async {
            match kafka::end_offsets_at(&brokers, &output)
                .await
                .values()
                .sum::<i64>()
            {
                n if n >= 3 * 6 => Ok(()),
                n => Err(format!("{n} windows")),
            }
        })
        .await;
    processor.sigkill().expect("SIGKILL kcql run");
    let read_at_kill: i64 = committed_offsets_at(&brokers, &format!("kcql-{name}"), &input)
        .await
        .values()
        .sum();
    feeder.await.expect("feeder");
    let emitted_before = settled_size(&brokers, &output).await;
    let mut processor = kcql_run(&file).await;
    produce_at(&brokers, &[], &input, pushers(&[0, 1], BASE_MS + 60_000)).await;

    // Done when every reading is committed (only the pushers' windows stay open).
    let group = format!("kcql-{name}");
    processor
        .wait_until("every reading committed", WAIT, || async {
            let committed = committed_offsets_at(&brokers, &group, &input).await;
            match committed.values().sum::<i64>() {
                n if n >= readings.len() as i64 => Ok(()),
                n => Err(format!("{n} of {} committed", readings.len())),
            }
        })
        .await;
    processor.sigterm().expect("SIGTERM kcql run");
    let status = processor
        .wait_with_timeout(Duration::from_secs(30))
        .await
        .expect("wait for kcql run")
        .expect("kcql run exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", processor.log_tail(40));

    let tally = Tally::of(&read_all(&brokers, &output).await, &expected);
    tally.assert_exact(&expected, 2);
    let duplicates = tally.duplicates();
    assert!(
        duplicates as i64 <= emitted_before,
        "{duplicates} windows emitted twice, but the killed process emitted only {emitted_before}"
    );
    eprintln!(
        "processor SIGKILLed with {read_at_kill} of {} readings committed and {emitted_before} \
         windows emitted: all {} windows exact, {duplicates} emitted twice",
        readings.len(),
        expected.len()
    );
}

// ---------------------------------------------------------------------------------------------
// MQTT source

/// The message `i` of the source's 1 % poison test: `{"id","seq","ts"}` on the device topic
/// `<prefix>/dev-<i % 8>`; every 100th one (at `i % 100 == 37`) is not JSON or has no `id`
/// (the `WITHKEY` field) in turn; every 250th good one carries a far-future time (year 2300 as
/// text, or the largest 64-bit number).
fn source_message(prefix: &str, i: usize) -> (String, String, Option<&'static str>) {
    let topic = format!("{prefix}/dev-{}", i % 8);
    let id = format!("dev-{}", i % 8);
    if i % 100 == 37 {
        return match (i / 100) % 2 {
            0 => (
                topic,
                format!("{{\"id\": \"{id}\", \"seq\": "),
                Some("decode_error"),
            ),
            _ => (
                topic,
                json!({"seq": i}).to_string(),
                Some("missing_key_field"),
            ),
        };
    }
    let ts = match i % 250 {
        0 => json!("2300-01-01T00:00:00Z"),
        125 => json!(i64::MAX),
        _ => json!(BASE_MS + i as i64),
    };
    (
        topic,
        json!({"id": id, "seq": i, "ts": ts}).to_string(),
        None,
    )
}

/// Source × 1 % poison (and far-future times), NOOP with a dead-letter topic: 2 000 QoS 1
/// messages (each acknowledged by Mosquitto before the test goes on) on 8 device topics. Every
/// good message is in Kafka exactly once, keyed by its device and unchanged — far-future
/// times included: the source reads no time from payloads, a time is data to it. Every poison
/// message is dead-lettered exactly once with its class; every message is acknowledged to
/// the broker; the source is Running.
#[tokio::test(flavor = "multi_thread")]
async fn source_poison_at_one_percent_noop_dead_letters_each_once_and_passes_the_rest() {
    kcql_testkit::mqtt::wait_reachable();
    let brokers = kafka::brokers();
    let prefix = unique("fm_src_poison");
    let topic = unique_topic("fm_src_poison");
    let dlq = unique_topic("fm_src_poison_dlq");
    create_topic_at(&brokers, &topic, 4).await;
    create_topic_at(&brokers, &dlq, 1).await;
    let name = unique("fm-src-poison");
    let toml = format!(
        r#"
[runtime]
metrics = "off"
[kafka]
brokers = "{brokers}"
[[source.mqtt]]
name = "{name}"
hosts = ["tcp://{host}:{port}"]
kcql = "INSERT INTO {topic} SELECT * FROM {prefix}/+ WITHKEY(id)"
service_quality = 1
client_id = "{name}"
error_policy = "NOOP"
dlq_topic = "{dlq}"
"#,
        host = kcql_testkit::mqtt::host(),
        port = kcql_testkit::mqtt::port(),
    );
    let source = RunningPipeline::start(&toml, &name);
    wait_for("the source connected", WAIT, || async {
        match source.state() {
            Some(ComponentState::Running) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // Running means connected; the SUBSCRIBE needs its round trip.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let messages: Vec<_> = (0..2_000).map(|i| source_message(&prefix, i)).collect();
    kcql_testkit::mqtt::publish_messages(
        messages.iter().map(|(t, p, _)| (t.clone(), p.clone())),
        rumqttc::QoS::AtLeastOnce,
    )
    .await;
    let good: Vec<&(String, String, Option<&str>)> =
        messages.iter().filter(|(_, _, c)| c.is_none()).collect();
    let records = source.read(&brokers, &topic, good.len()).await;
    let letters = source.read(&brokers, &dlq, 20).await;
    wait_for("every message acknowledged", WAIT, || async {
        match source.metric("kcql_mqtt_acked_total") {
            n if n >= 2_000.0 => Ok(()),
            n => Err(format!("{n} acknowledged")),
        }
    })
    .await;
    assert_eq!(source.state(), Some(ComponentState::Running));
    assert_eq!(source.metric("kcql_records_skipped_total"), 20.0);
    source.stop().await;

    let as_json = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).ok();
    let want: BTreeSet<String> = good.iter().map(|(_, p, _)| p.clone()).collect();
    let all = read_all(&brokers, &topic).await;
    assert_eq!(all.len(), records.len(), "each good message once");
    let got: BTreeSet<String> = all
        .iter()
        .map(|r| {
            let v = as_json(r.payload.as_deref().unwrap_or_default()).expect("JSON");
            assert_eq!(r.key_str(), v["id"].as_str(), "keyed by the device");
            v.to_string()
        })
        .collect();
    let want: BTreeSet<String> = want
        .iter()
        .map(|p| as_json(p.as_bytes()).expect("JSON").to_string())
        .collect();
    assert_eq!(got, want, "every good message, unchanged");
    let all_letters = read_all(&brokers, &dlq).await;
    assert_eq!(all_letters.len(), letters.len(), "each poison message once");
    let lettered: BTreeSet<(String, String)> = all_letters
        .iter()
        .map(|l| {
            let payload = String::from_utf8_lossy(l.payload.as_deref().unwrap_or_default());
            (payload.into_owned(), header_text(l, HEADER_CLASS))
        })
        .collect();
    let poison: BTreeSet<(String, String)> = messages
        .iter()
        .filter_map(|(_, p, c)| Some((p.clone(), (*c)?.to_string())))
        .collect();
    assert_eq!(
        lettered, poison,
        "each poison message dead-lettered with its class"
    );
}
