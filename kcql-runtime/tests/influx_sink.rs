//! The Kafka → InfluxDB sink against the real services: Apache Kafka (127.0.0.1:9092), InfluxDB 1.x
//! (127.0.0.1:8086) and, for the 2.x write API, VictoriaMetrics (127.0.0.1:8428). Each test
//! runs the connector in-process (`InfluxSink::run`) with settings read by the real
//! properties loader, on unique topics, groups and databases, and stops it with a `Shutdown`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kcql_runtime::connectors::influx_sink::SinkError;
use kcql_runtime::dead_letter::{
    HEADER_CLASS, HEADER_CONNECTOR, HEADER_MESSAGE, HEADER_OFFSET, HEADER_PARTITION, HEADER_TOPIC,
};
use kcql_testkit::influx::{
    influxql, influxql_ok, quote, require_influx, rows, select_all, unique_db, DropDatabase,
};
use kcql_testkit::kafka::{
    committed_offsets_at, consume_all_at, create_topic_at, produce_at, unique_group, unique_topic,
    ProduceRecord,
};
use serde_json::{json, Value};
use support::poison::{poison_record, Kind, POISON_KCQL};
use support::{
    count_of, end_offsets, now_ns, settings, v1_props, wait_committed, wait_for, RunningSink,
};

const WAIT: Duration = Duration::from_secs(60);

/// Waits until `SELECT count(field) FROM m` in `db` (shared InfluxDB) reaches `n`.
async fn wait_count(db: &str, from: &str, field: &str, n: u64) {
    wait_for(&format!("{n} points in {db}.{from}"), WAIT, || async move {
        let answer = influxql(
            Some(db),
            &format!("SELECT count({}) FROM {from}", quote(field)),
        )
        .await;
        let c = count_of(&answer);
        if c >= n {
            Ok(())
        } else {
            Err(format!("{c} points: {answer}"))
        }
    })
    .await
}

/// A value as text: strings unquoted, numbers as an integer when they are one, else as f64
/// (InfluxDB answers a float field holding 21.0 with `21`).
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_i64().map_or_else(
            || n.as_f64().unwrap_or(f64::NAN).to_string(),
            |i| i.to_string(),
        ),
        other => other.to_string(),
    }
}

/// Asserts two sets are equal, showing only the differences.
fn assert_same(got: &BTreeSet<String>, want: &BTreeSet<String>, what: &str) {
    let missing: Vec<_> = want.difference(got).take(10).collect();
    let extra: Vec<_> = got.difference(want).take(10).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} rows, want {}; missing {missing:?}; unexpected {extra:?}",
        got.len(),
        want.len()
    );
}

/// (tags…, time, value) rows of a measurement, as comparable strings.
fn row_keys(rows: &[serde_json::Map<String, Value>], columns: &[&str]) -> BTreeSet<String> {
    rows.iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| r.get(*c).map_or("∅".to_string(), plain))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// Scenario 1: JSON on 4 partitions → exact points; two statements fan one topic into two
/// measurements; WITHTARGET picks the measurement from the data; WITHRETENTION with AUTOCREATE
/// creates the policy and writes into it; after shutdown the committed offsets are the ends.
#[tokio::test(flavor = "multi_thread")]
async fn json_records_become_exact_points_in_every_statement_target() {
    require_influx().await;
    let brokers = kcql_testkit::kafka::brokers();
    let topic = unique_topic("sink_exact");
    let group = unique_group("sink_exact");
    let db = unique_db("sink_exact");
    let _drop = DropDatabase::new(&db);
    create_topic_at(&brokers, &topic, 4).await;

    let base = now_ns() - 3_600_000_000_000; // an hour ago: inside the 30d policy
    let n = 200i64;
    let records: Vec<ProduceRecord> = (0..n)
        .map(|i| {
            let doc = json!({
                "id": format!("dev-{}", i % 7),
                "site": if i % 2 == 0 { "north" } else { "south" },
                "temp": 20.5 + i as f64 / 4.0,
                "hum": 40 + i,
                "kind": if i % 3 == 0 { "alpha" } else { "beta" },
                "ts": base + i * 1_000_003,
            });
            ProduceRecord::new(serde_json::to_vec(&doc).unwrap()).partition((i % 4) as i32)
        })
        .collect();
    let produced = produce_at(&brokers, &[], &topic, records).await;

    let kcql = format!(
        "INSERT INTO temps SELECT temp FROM {topic} WITHTIMESTAMP ts TIMESTAMPUNIT = NANOSECONDS WITHTAG(id, site);\
         INSERT INTO hums SELECT hum, id AS device FROM {topic} WITHTIMESTAMP ts TIMESTAMPUNIT = NANOSECONDS;\
         INSERT INTO unused SELECT temp FROM {topic} WITHTARGET = kind WITHTIMESTAMP ts TIMESTAMPUNIT = NANOSECONDS WITHTAG(id);\
         INSERT INTO kept SELECT temp FROM {topic} AUTOCREATE WITHRETENTION = 30d WITHTIMESTAMP ts TIMESTAMPUNIT = NANOSECONDS WITHTAG(id)"
    );
    let url = kcql_testkit::influx::influx_url();
    let props = v1_props("sink-exact", &url, &db, &group, &kcql, &brokers);
    let started = std::time::Instant::now();
    let sink = RunningSink::start(settings(&props));

    wait_count(&db, "temps", "temp", n as u64).await;
    wait_count(&db, "hums", "hum", n as u64).await;
    wait_count(&db, "alpha", "temp", 67).await;
    wait_count(&db, "beta", "temp", 133).await;
    wait_count(&db, &format!("{}.kept", quote("30d")), "temp", n as u64).await;
    eprintln!("all points visible after {:?}", started.elapsed());
    sink.stop().await.expect("sink stops cleanly");

    let ends = end_offsets(&produced);
    assert_eq!(ends.len(), 4, "records on 4 partitions: {ends:?}");
    assert_eq!(committed_offsets_at(&brokers, &group, &topic).await, ends);

    // temps: value, tags id+site, exact ns time.
    let expected_temps: BTreeSet<String> = (0..n)
        .map(|i| {
            let id = format!("dev-{}", i % 7);
            let site = if i % 2 == 0 { "north" } else { "south" };
            format!(
                "{}|{}|{}|{}",
                base + i * 1_000_003,
                id,
                site,
                20.5 + i as f64 / 4.0
            )
        })
        .collect();
    let temps = select_all(&db, "temps").await;
    assert_eq!(temps.len(), n as usize);
    assert_same(
        &row_keys(&temps, &["time", "id", "site", "temp"]),
        &expected_temps,
        "temps",
    );

    // hums: an integer field and a string field (no tags).
    let hums = select_all(&db, "hums").await;
    let expected_hums: BTreeSet<String> = (0..n)
        .map(|i| format!("{}|{}|dev-{}", base + i * 1_000_003, 40 + i, i % 7))
        .collect();
    assert_same(
        &row_keys(&hums, &["time", "hum", "device"]),
        &expected_hums,
        "hums",
    );
    let field_types = rows(&influxql_ok(Some(&db), "SHOW FIELD KEYS FROM hums").await);
    let types: BTreeMap<String, String> = field_types
        .iter()
        .map(|r| {
            (
                r["fieldKey"].as_str().unwrap().to_string(),
                r["fieldType"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(types["hum"], "integer");
    assert_eq!(types["device"], "string");

    // WITHTARGET: the measurement named by `kind`; nothing under the INSERT INTO name.
    for (kind, modulo) in [("alpha", true), ("beta", false)] {
        let got = select_all(&db, kind).await;
        let want: BTreeSet<String> = (0..n)
            .filter(|i| (i % 3 == 0) == modulo)
            .map(|i| {
                format!(
                    "{}|dev-{}|{}",
                    base + i * 1_000_003,
                    i % 7,
                    20.5 + i as f64 / 4.0
                )
            })
            .collect();
        assert_same(&row_keys(&got, &["time", "id", "temp"]), &want, kind);
    }
    assert!(select_all(&db, "unused").await.is_empty());

    // WITHRETENTION = 30d + AUTOCREATE: the policy exists with that duration and holds the
    // points; the default policy does not.
    let policies =
        rows(&influxql_ok(None, &format!("SHOW RETENTION POLICIES ON {}", quote(&db))).await);
    let policy = policies
        .iter()
        .find(|r| r["name"] == "30d")
        .unwrap_or_else(|| panic!("no 30d policy: {policies:?}"));
    assert_eq!(policy["duration"], "720h0m0s");
    let kept = rows(&influxql_ok(Some(&db), &format!("SELECT * FROM {}.kept", quote("30d"))).await);
    assert_eq!(kept.len(), n as usize);
    let autogen_kept = rows(&influxql_ok(Some(&db), "SELECT * FROM autogen.kept").await);
    assert!(
        autogen_kept.is_empty(),
        "kept also in autogen: {autogen_kept:?}"
    );
    eprintln!("scenario 1 done in {:?}", started.elapsed());
}

/// The times of the points in `db`.`m`.
async fn point_times(db: &str) -> BTreeSet<i64> {
    select_all(db, "m")
        .await
        .iter()
        .map(|r| r["time"].as_i64().unwrap())
        .collect()
}

/// Scenario 3, NOOP: every good record is written, every poison one (bad JSON, missing time
/// field, field type conflict reported by InfluxDB) is skipped, counted and dead-lettered with
/// its original bytes and the `__connect.errors.*` headers; the offsets reach the end.
#[tokio::test(flavor = "multi_thread")]
async fn noop_writes_good_records_and_dead_letters_poison() {
    require_influx().await;
    let brokers = kcql_testkit::kafka::brokers();
    let topic = unique_topic("sink_noop");
    let dlq = unique_topic("sink_noop_dlq");
    let group = unique_group("sink_noop");
    let db = unique_db("sink_noop");
    let _drop = DropDatabase::new(&db);
    create_topic_at(&brokers, &topic, 1).await;
    create_topic_at(&brokers, &dlq, 1).await;
    influxql_ok(None, &format!("CREATE DATABASE {}", quote(&db))).await;

    let base = now_ns() - 60_000_000_000;
    let n = 60i64;
    let kind = |i: i64| match i % 10 {
        3 => Kind::BadJson,
        6 => Kind::MissingTime,
        9 => Kind::TypeConflict,
        _ => Kind::Good,
    };
    let records: Vec<ProduceRecord> = (0..n).map(|i| poison_record(base, i, kind(i))).collect();
    let payloads: Vec<Vec<u8>> = records.iter().map(|r| r.payload.clone()).collect();
    let produced = produce_at(&brokers, &[], &topic, records).await;

    let kcql = POISON_KCQL.replace("{topic}", &topic);
    let url = kcql_testkit::influx::influx_url();
    let mut props = v1_props("sink-noop", &url, &db, &group, &kcql, &brokers);
    props.push(("connect.influx.error.policy", "NOOP"));
    props.push(("connect.influx.dlq.topic", &dlq));
    let started = std::time::Instant::now();
    let sink = RunningSink::start(settings(&props));
    let ends = end_offsets(&produced);
    wait_committed(&brokers, &group, &topic, &ends).await;
    let skipped = sink.metric("kcql_records_skipped_total");
    let dead_lettered = sink.metric("kcql_records_dead_lettered_total");
    let metrics = sink.registry.render();
    sink.stop().await.expect("NOOP sink stops cleanly");

    let good: BTreeSet<i64> = (0..n)
        .filter(|&i| kind(i) == Kind::Good)
        .map(|i| base + i)
        .collect();
    assert_eq!(point_times(&db).await, good);
    let bad: Vec<i64> = (0..n).filter(|&i| kind(i) != Kind::Good).collect();
    assert_eq!(skipped, bad.len() as f64, "{metrics}");
    assert_eq!(dead_lettered, bad.len() as f64, "{metrics}");
    for class in ["decode_error", "missing_time", "rejected_by_influxdb"] {
        assert!(
            metrics.contains(&format!(
                "kcql_records_skipped_total{{component=\"sink-noop\",reason=\"{class}\"}} 6"
            )),
            "{class}: {metrics}"
        );
    }

    let letters = consume_all_at(&brokers, &dlq, bad.len(), WAIT).await;
    let mut seen = BTreeSet::new();
    for l in &letters {
        let header = |h: &str| {
            String::from_utf8(
                l.header(h)
                    .unwrap_or_else(|| panic!("{h} missing: {l:?}"))
                    .to_vec(),
            )
            .unwrap()
        };
        let offset: i64 = header(HEADER_OFFSET).parse().unwrap();
        let i = offset; // one partition, offsets from 0
        assert_eq!(
            l.payload.as_deref(),
            Some(&payloads[i as usize][..]),
            "original bytes"
        );
        assert_eq!(l.key_str(), Some(format!("k{i}").as_str()));
        assert_eq!(l.header("origin"), Some(format!("rec-{i}").as_bytes()));
        assert_eq!(header(HEADER_TOPIC), topic);
        assert_eq!(header(HEADER_PARTITION), "0");
        assert_eq!(header(HEADER_CONNECTOR), "sink-noop");
        assert_eq!(header(HEADER_CLASS), kind(i).class(), "record {i}");
        assert!(!header(HEADER_MESSAGE).is_empty());
        seen.insert(i);
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), bad);
    eprintln!("NOOP scenario done in {:?}", started.elapsed());
}

/// Scenario 3, THROW: for each kind of poison, the connector stops at the first poison record
/// with `SinkError::Poison` naming its offset, commits exactly up to it, and a restart under
/// NOOP resumes at it and writes the rest.
#[tokio::test(flavor = "multi_thread")]
async fn throw_stops_at_the_first_poison_record_and_noop_resumes_there() {
    require_influx().await;
    let brokers = kcql_testkit::kafka::brokers();
    let url = kcql_testkit::influx::influx_url();
    for poison in [Kind::BadJson, Kind::MissingTime, Kind::TypeConflict] {
        let started = std::time::Instant::now();
        let topic = unique_topic("sink_throw");
        let group = unique_group("sink_throw");
        let db = unique_db("sink_throw");
        let _drop = DropDatabase::new(&db);
        create_topic_at(&brokers, &topic, 1).await;
        influxql_ok(None, &format!("CREATE DATABASE {}", quote(&db))).await;
        let base = now_ns() - 60_000_000_000;
        let n = 30i64;
        let first_bad = 7i64;
        let kind = |i: i64| match i {
            _ if i == first_bad => poison,
            17 => Kind::BadJson,
            23 => Kind::TypeConflict,
            _ => Kind::Good,
        };
        let records: Vec<ProduceRecord> = (0..n).map(|i| poison_record(base, i, kind(i))).collect();
        produce_at(&brokers, &[], &topic, records).await;
        let kcql = POISON_KCQL.replace("{topic}", &topic);

        let props = v1_props("sink-throw", &url, &db, &group, &kcql, &brokers);
        let sink = RunningSink::start(settings(&props));
        let result = sink.join().await;
        match &result {
            Err(SinkError::Poison {
                topic: t,
                partition: 0,
                offset,
                policy: "THROW",
                ..
            }) if *t == topic && *offset == first_bad => {}
            other => panic!("{poison:?}: expected Poison at offset {first_bad}, got {other:?}"),
        }
        assert_eq!(
            committed_offsets_at(&brokers, &group, &topic).await,
            BTreeMap::from([(0, first_bad)]),
            "{poison:?}: committed up to, not including, the poison record"
        );
        let before: BTreeSet<i64> = (0..first_bad).map(|i| base + i).collect();
        let times = point_times(&db).await;
        assert!(before.is_subset(&times), "{poison:?}: {times:?}");

        let mut props = v1_props("sink-throw", &url, &db, &group, &kcql, &brokers);
        props.push(("connect.influx.error.policy", "NOOP"));
        let sink = RunningSink::start(settings(&props));
        wait_committed(&brokers, &group, &topic, &BTreeMap::from([(0, n)])).await;
        let skipped = sink.metric("kcql_records_skipped_total");
        sink.stop().await.expect("NOOP restart stops cleanly");
        let good: BTreeSet<i64> = (0..n)
            .filter(|&i| kind(i) == Kind::Good)
            .map(|i| base + i)
            .collect();
        assert_eq!(point_times(&db).await, good, "{poison:?}");
        assert_eq!(
            skipped, 3.0,
            "{poison:?}: the restart skipped the 3 poison records"
        );
        eprintln!("THROW {poison:?} done in {:?}", started.elapsed());
    }
}

/// What [`sink_once`] saw: records written, points overwritten, the rows of `m`, the
/// rendered metrics, and the database (dropped with it).
type SinkOnce = (
    (f64, f64),
    Vec<serde_json::Map<String, Value>>,
    String,
    DropDatabase,
);

/// Runs a sink named `label` with `kcql` over the `produced` records of `topic` into a fresh
/// database, in one write, until it committed them all.
async fn sink_once(label: &str, kcql: &str, topic: &str, produced: &[(i32, i64)]) -> SinkOnce {
    let brokers = kcql_testkit::kafka::brokers();
    let url = kcql_testkit::influx::influx_url();
    let db = unique_db(label);
    let drop = DropDatabase::new(&db);
    influxql_ok(None, &format!("CREATE DATABASE {}", quote(&db))).await;
    let group = unique_group(label);
    let mut props = v1_props(label, &url, &db, &group, kcql, &brokers);
    // All the records in one write.
    props.push(("connect.influx.linger.ms", "2000"));
    let sink = RunningSink::start(settings(&props));
    wait_committed(&brokers, &group, topic, &end_offsets(produced)).await;
    let counts = (
        sink.metric("kcql_records_written_total"),
        sink.metric("kcql_points_overwritten_total"),
    );
    let metrics = sink.registry.render();
    sink.stop().await.expect("sink stops cleanly");
    let points = select_all(&db, "m").await;
    (counts, points, metrics, drop)
}

/// Two records of one series with the same Kafka timestamp (the default point time, in
/// milliseconds) are one point in InfluxDB: the sink counts the overwrite in
/// `kcql_points_overwritten_total`, and the count tells the truth (records written minus
/// overwrites = points stored). Records of another series or another millisecond are not
/// counted. The same records timed by a microsecond field (`TIMESTAMPUNIT = MICROSECONDS`)
/// are four points and no overwrite.
#[tokio::test(flavor = "multi_thread")]
async fn points_of_one_series_in_the_same_millisecond_are_counted_as_overwritten() {
    require_influx().await;
    let brokers = kcql_testkit::kafka::brokers();
    let topic = unique_topic("sink_overwrite");
    create_topic_at(&brokers, &topic, 1).await;
    let ms = now_ns() / 1_000_000 - 60_000;
    let us = ms * 1_000;
    let records: Vec<ProduceRecord> = [
        ("a", 1.5, ms, us),
        ("a", 2.5, ms, us + 1), // same series, same millisecond: overwrites the first
        ("b", 3.5, ms, us + 2), // another series
        ("a", 4.5, ms + 1, us + 1_000), // another millisecond
    ]
    .into_iter()
    .map(|(id, v, ts, t)| {
        ProduceRecord::new(json!({"id": id, "v": v, "t": t}).to_string())
            .partition(0)
            .timestamp(ts)
    })
    .collect();
    let produced = produce_at(&brokers, &[], &topic, records).await;

    let kcql = format!("INSERT INTO m SELECT v FROM {topic} WITHTAG(id)");
    let ((written, overwritten), points, metrics, _db) =
        sink_once("sink_overwrite_ms", &kcql, &topic, &produced).await;
    assert_eq!(written, 4.0, "{metrics}");
    assert_eq!(overwritten, 1.0, "one point overwritten: {metrics}");
    assert!(
        metrics.contains(
            "kcql_points_overwritten_total{component=\"sink_overwrite_ms\",measurement=\"m\"} 1"
        ),
        "{metrics}"
    );
    assert_eq!(
        points.len() as f64,
        written - overwritten,
        "InfluxDB holds one point per record not overwritten: {points:?}"
    );
    let kept = row_keys(&points, &["id", "time", "v"]);
    let want: BTreeSet<String> = [
        format!("a|{}|2.5", ms * 1_000_000),
        format!("b|{}|3.5", ms * 1_000_000),
        format!("a|{}|4.5", (ms + 1) * 1_000_000),
    ]
    .into();
    assert_same(&kept, &want, "the later values win");

    let kcql =
        format!("INSERT INTO m SELECT v FROM {topic} WITHTIMESTAMP t TIMESTAMPUNIT = MICROSECONDS WITHTAG(id)");
    let ((written, overwritten), points, metrics, _db) =
        sink_once("sink_overwrite_us", &kcql, &topic, &produced).await;
    assert_eq!((written, overwritten), (4.0, 0.0), "{metrics}");
    assert_eq!(points.len(), 4, "{points:?}");
}

/// Scenario 4: the 2.x write API (`connect.influx.org/bucket/token`) to VictoriaMetrics.
#[tokio::test(flavor = "multi_thread")]
async fn v2_api_writes_every_record_to_victoria_metrics() {
    kcql_testkit::influx::require_vm().await;
    let brokers = kcql_testkit::kafka::brokers();
    let topic = unique_topic("sink_v2");
    let group = unique_group("sink_v2");
    let measurement = unique_db("sinkv2");
    create_topic_at(&brokers, &topic, 2).await;
    let base_ms = now_ns() / 1_000_000 - 10_000;
    let n = 40i64;
    let records: Vec<ProduceRecord> = (0..n)
        .map(|i| {
            let doc = json!({"dev": format!("d{}", i % 2), "v": i * 10, "t": 0.25 * i as f64, "ts": base_ms + i});
            ProduceRecord::new(doc.to_string()).partition((i % 2) as i32)
        })
        .collect();
    let produced = produce_at(&brokers, &[], &topic, records).await;
    let kcql =
        format!("INSERT INTO {measurement} SELECT v, t FROM {topic} WITHTIMESTAMP ts WITHTAG(dev)");
    let vm = kcql_testkit::influx::vm_url();
    let props = [
        ("name", "sink-v2"),
        ("connect.influx.url", vm.as_str()),
        ("connect.influx.org", "kcql-org"),
        ("connect.influx.bucket", "kcql-bucket"),
        ("connect.influx.token", "secret-token"),
        ("connect.influx.kcql", kcql.as_str()),
        ("connect.influx.linger.ms", "100"),
        ("kafka.bootstrap.servers", brokers.as_str()),
        ("kafka.group.id", group.as_str()),
    ];
    let started = std::time::Instant::now();
    let sink = RunningSink::start(settings(&props));
    let series = kcql_testkit::influx::vm_wait_series(
        &format!("{{__name__=~\"{measurement}_.*\"}}"),
        4,
        2 * n as usize,
        WAIT,
    )
    .await;
    wait_committed(&brokers, &group, &topic, &end_offsets(&produced)).await;
    sink.stop().await.expect("v2 sink stops cleanly");
    let mut got: BTreeSet<String> = BTreeSet::new();
    for s in &series {
        let name = s["metric"]["__name__"].as_str().unwrap();
        let dev = s["metric"]["dev"].as_str().unwrap();
        for (v, t) in s["values"]
            .as_array()
            .unwrap()
            .iter()
            .zip(s["timestamps"].as_array().unwrap())
        {
            got.insert(format!("{name}|{dev}|{}|{}", plain(v), t));
        }
    }
    let want: BTreeSet<String> = (0..n)
        .flat_map(|i| {
            let dev = format!("d{}", i % 2);
            [
                format!("{measurement}_v|{dev}|{}|{}", i * 10, base_ms + i),
                format!("{measurement}_t|{dev}|{}|{}", 0.25 * i as f64, base_ms + i),
            ]
        })
        .collect();
    assert_same(&got, &want, "VictoriaMetrics series");
    eprintln!("v2 scenario done in {:?}", started.elapsed());
}

/// Kafka Connect's error keys beside `connect.influx.error.policy = THROW`:
/// `errors.tolerance = all` skips poison records (good ones are written) and
/// `errors.deadletterqueue.topic.name` receives their original bytes, without the
/// `__connect.errors.*` headers unless `…context.headers.enable = true` (Kafka Connect's
/// default is false).
#[tokio::test(flavor = "multi_thread")]
async fn kafka_connect_errors_tolerance_all_skips_poison_into_its_dead_letter_queue() {
    require_influx().await;
    let brokers = kcql_testkit::kafka::brokers();
    for context_headers in [false, true] {
        let name = format!("sink_tolerance_{context_headers}");
        let topic = unique_topic(&name);
        let dlq = unique_topic(&format!("{name}_dlq"));
        let group = unique_group(&name);
        let db = unique_db(&name);
        let _drop = DropDatabase::new(&db);
        create_topic_at(&brokers, &topic, 1).await;
        create_topic_at(&brokers, &dlq, 1).await;
        influxql_ok(None, &format!("CREATE DATABASE {}", quote(&db))).await;
        let base = now_ns() - 60_000_000_000;
        let kind = |i: i64| {
            if i % 5 == 2 {
                Kind::BadJson
            } else {
                Kind::Good
            }
        };
        let records: Vec<ProduceRecord> =
            (0..20).map(|i| poison_record(base, i, kind(i))).collect();
        let produced = produce_at(&brokers, &[], &topic, records).await;
        let kcql = POISON_KCQL.replace("{topic}", &topic);
        let url = kcql_testkit::influx::influx_url();
        let mut props = v1_props(&name, &url, &db, &group, &kcql, &brokers);
        let headers_flag = context_headers.to_string();
        props.push(("connect.influx.error.policy", "THROW"));
        props.push(("errors.tolerance", "all"));
        props.push(("errors.deadletterqueue.topic.name", &dlq));
        props.push(("errors.log.enable", "true"));
        if context_headers {
            props.push((
                "errors.deadletterqueue.context.headers.enable",
                &headers_flag,
            ));
        }
        let sink = RunningSink::start(settings(&props));
        wait_committed(&brokers, &group, &topic, &end_offsets(&produced)).await;
        let skipped = sink.metric("kcql_records_skipped_total");
        sink.stop().await.expect("the sink stops cleanly");

        let good: BTreeSet<i64> = (0..20)
            .filter(|&i| kind(i) == Kind::Good)
            .map(|i| base + i)
            .collect();
        assert_eq!(point_times(&db).await, good);
        assert_eq!(skipped, 4.0);
        let letters = consume_all_at(&brokers, &dlq, 4, WAIT).await;
        assert_eq!(letters.len(), 4);
        for l in &letters {
            assert_eq!(
                l.header(HEADER_TOPIC).is_some(),
                context_headers,
                "context headers {context_headers}: {l:?}"
            );
            assert!(l.key_str().is_some_and(|k| {
                let i: i64 = k[1..].parse().unwrap();
                kind(i) == Kind::BadJson
            }));
        }
    }
}
