//! The talk's pipeline end to end against the real services (Mosquitto 127.0.0.1:1883, Apache
//! Kafka 127.0.0.1:9092, InfluxDB 1.x 127.0.0.1:8086), with the window processor killed
//! (SIGKILL) and restarted at once in the middle.
//!
//! * A deterministic dataset: 8 simulated devices × 60 s of event time × 10 readings/s
//!   (`kcql_testkit::devices`), published over MQTT with QoS 1 (every PUBACK awaited).
//! * In this process: `run_pipeline` with the MQTT source (`/…/sensors/+` → Kafka, keyed by
//!   `id`) and the InfluxDB sink. As a separate `kcql run` process: the window processor with
//!   the talk's statement.
//! * Phase 1: the first 31 s of readings go in; the processor starts once they are all in Kafka,
//!   and is SIGKILLed as soon as its first window reached InfluxDB — while it still holds the
//!   open windows (the one straddling 30–32 s among them) and possibly uncommitted offsets.
//! * Phase 2: the remaining readings go in while it is down; it is restarted with the same
//!   consumer group as soon as they are in Kafka, before the dead member's session expired (as
//!   a supervisor would): Kafka's rebalance at the session timeout gives it the partitions back.
//! * End of data: the window processor closes a window once every input partition's event time
//!   has passed its end (see `kcql_runtime::window`). Partitions that hold no device would never
//!   say so, and the last windows would stay open, so the test appends one "watermark pusher"
//!   record (device id [`PUSHER_ID`]) straight to every partition, with an event time beyond the
//!   data, after the data (at the phase boundary, and after the end). They close the data's
//!   windows; their own windows (id [`PUSHER_ID`]) are ignored.
//! * The test computes every (device, window) aggregate from the readings itself and requires
//!   InfluxDB to hold exactly those points: exact min/max/count, avg within 1e-9, time = window
//!   end, tag `poweredBy=kcql`, nothing missing and nothing extra.
//!
//! Records are only appended to a partition while the processor is down or after it has read
//! everything before (data first, pushers last), so no reading can arrive after its window
//! closed: a late reading would be the processor's documented behaviour, not a loss.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kcql_runtime::config::Pipeline;
use kcql_runtime::endpoint::ComponentState;
use kcql_runtime::run::{run_pipeline, Observability};
use kcql_runtime::shutdown::Shutdown;
use kcql_testkit::bin::kcql_run;
use kcql_testkit::devices::{tumbling_windows, Fleet, Reading, WindowStats};
use kcql_testkit::influx::{self, DropDatabase};
use kcql_testkit::kafka::{self, ProduceRecord};
use kcql_testkit::mqtt;
use kcql_testkit::names::unique;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rumqttc::QoS;
use serde_json::Value;

const DEVICES: usize = 8;
const SECONDS: i64 = 60;
const RATE: u32 = 10;
const SEED: u64 = 2026;
const WINDOW_MS: i64 = 2_000;
/// 2024-12-01T00:00:00Z: event times are fixed, so the expected points are too.
const BASE_MS: i64 = 1_733_011_200_000;
/// The phase boundary: mid-window, so one window per device straddles the kill.
const SPLIT_MS: i64 = BASE_MS + 31_000;
const PARTITIONS: i32 = 4;
/// The id of the watermark pusher records.
const PUSHER_ID: &str = "zz-watermark";
const MEASUREMENT: &str = "sensor";

/// Records in `topic` (sum of the partitions' high watermarks).
fn records_in(brokers: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer = kafka::client_config_at(brokers)
        .create()
        .expect("metadata consumer");
    (0..PARTITIONS)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .map(|(low, high)| high - low)
                .unwrap_or_else(|e| panic!("watermarks of {topic}/{p}: {e}"))
        })
        .sum()
}

async fn wait_records(brokers: &str, topic: &str, expected: i64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let (brokers, topic_name) = (brokers.to_string(), topic.to_string());
        let n = tokio::task::spawn_blocking(move || records_in(&brokers, &topic_name))
            .await
            .expect("watermark task");
        if n >= expected {
            assert_eq!(n, expected, "{topic} holds more records than published");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{topic}: {n} of {expected} records after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Publishes readings over MQTT (QoS 1, every PUBACK awaited).
async fn publish(prefix: &str, readings: &[Reading]) {
    mqtt::publish_messages(
        readings.iter().map(|r| (r.topic(prefix), r.to_json())),
        QoS::AtLeastOnce,
    )
    .await;
}

/// One pusher record in every partition of `topic`, at event time `ts`.
async fn push_watermark(brokers: &str, topic: &str, ts: i64) {
    let payload =
        serde_json::json!({"id": PUSHER_ID, "temperature": 0.0, "humidity": 0.0, "ts": ts})
            .to_string();
    kafka::produce_at(
        brokers,
        &[],
        topic,
        (0..PARTITIONS).map(|p| {
            ProduceRecord::new(payload.clone())
                .key(PUSHER_ID)
                .partition(p)
                .timestamp(ts)
        }),
    )
    .await;
}

/// One point as InfluxDB holds it.
#[derive(Debug, Clone)]
struct StoredPoint {
    time_ms: i64,
    powered_by: Option<String>,
    window_start: Option<i64>,
    min: Option<f64>,
    max: Option<f64>,
    avg: Option<f64>,
    n: Option<u64>,
}

/// Every point of the measurement, by (device id, window start = time − window).
async fn stored_points(db: &str) -> BTreeMap<(String, i64), Vec<StoredPoint>> {
    let answer = influx::influxql(
        Some(db),
        &format!("SELECT * FROM {} GROUP BY *", influx::quote(MEASUREMENT)),
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
        out.entry((id, time_ms - WINDOW_MS))
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

/// Differences between InfluxDB and the expected windows (empty = exact match), ignoring the
/// pusher's windows.
fn differences(
    stored: &BTreeMap<(String, i64), Vec<StoredPoint>>,
    expected: &BTreeMap<(String, i64), WindowStats>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (key, want) in expected {
        match stored.get(key).map(Vec::as_slice) {
            None | Some([]) => out.push(format!("missing {key:?}")),
            Some([got]) => {
                let ok = got.time_ms == want.window_end
                    && got.window_start == Some(want.window_start)
                    && got.min == Some(want.min)
                    && got.max == Some(want.max)
                    && got.n == Some(want.count)
                    && got.avg.is_some_and(|a| (a - want.avg()).abs() <= 1e-9)
                    && got.powered_by.as_deref() == Some("kcql");
                if !ok {
                    out.push(format!(
                        "{key:?}: stored {got:?}, expected min {} max {} avg {} n {} end {}",
                        want.min,
                        want.max,
                        want.avg(),
                        want.count,
                        want.window_end
                    ));
                }
            }
            Some(many) => out.push(format!(
                "{key:?}: {} points (series differ?): {many:?}",
                many.len()
            )),
        }
    }
    for key in stored.keys() {
        if key.0 != PUSHER_ID && !expected.contains_key(key) {
            out.push(format!("unexpected point {key:?}: {:?}", stored[key]));
        }
    }
    out
}

/// How many expected windows InfluxDB holds (any values).
fn present(
    stored: &BTreeMap<(String, i64), Vec<StoredPoint>>,
    expected: &BTreeMap<(String, i64), WindowStats>,
) -> usize {
    expected.keys().filter(|k| stored.contains_key(*k)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn devices_to_influx_with_the_processor_killed_and_restarted() {
    mqtt::wait_reachable();
    influx::require_influx().await;
    let bin = kcql_testkit::bin::kcql_binary();
    let brokers = kafka::brokers();

    // Names of this run.
    let run = unique("iot");
    let prefix = format!("/{run}/sensors");
    let data_topic = kafka::unique_topic("iot_sensor_data");
    let avg_topic = kafka::unique_topic("iot_sensor_avg");
    for topic in [&data_topic, &avg_topic] {
        kafka::create_topic(topic, PARTITIONS).await;
    }
    let db = DropDatabase::new(influx::unique_db("iot_e2e"));
    influx::create_db(db.name()).await;

    // The dataset and what the windows must hold.
    let readings = Fleet::new(DEVICES, SEED).schedule(BASE_MS, SECONDS * 1000, RATE);
    assert_eq!(readings.len(), DEVICES * (SECONDS as usize) * RATE as usize);
    let expected = tumbling_windows(&readings, WINDOW_MS);
    assert_eq!(expected.len(), DEVICES * (SECONDS / 2) as usize);
    let (first, second): (Vec<Reading>, Vec<Reading>) =
        readings.iter().cloned().partition(|r| r.ts < SPLIT_MS);

    // Source and sink, in this process.
    let edge = format!(
        r#"
        [runtime]
        metrics = "off"
        [kafka]
        brokers = "{brokers}"
        [[source.mqtt]]
        name = "devices"
        hosts = ["tcp://{mqtt_host}:{mqtt_port}"]
        kcql = "INSERT INTO {data_topic} SELECT * FROM {prefix}/+ WITHKEY(id)"
        service_quality = 1
        client_id = "{run}_source"
        clean = true
        [[sink.influx]]
        name = "influx"
        kcql = "INSERT INTO {MEASUREMENT} SELECT * FROM {avg_topic} WITHTIMESTAMP window_end WITHTAG(id, poweredBy=kcql)"
        url = "{influx_url}"
        db = "{db}"
        username = "kcql"
        group_id = "{run}_sink"
        linger_ms = 20
        "#,
        mqtt_host = mqtt::host(),
        mqtt_port = mqtt::port(),
        influx_url = influx::influx_url(),
        db = db.name(),
    );
    let pipeline = Pipeline::from_toml_str(&edge, "edge.toml")
        .unwrap_or_else(|e| panic!("edge pipeline: {e:?}"));
    let observability = Observability::default();
    let health = observability.health.clone();
    let shutdown = Shutdown::new();
    let edge_task = tokio::spawn(run_pipeline(
        pipeline,
        shutdown.clone(),
        observability,
        |_| {},
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(health.get("devices"), Some(ComponentState::Running)) {
        assert!(!edge_task.is_finished(), "the edge pipeline stopped early");
        assert!(
            Instant::now() < deadline,
            "MQTT source not running after 30 s: {:?}",
            health.get("devices")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // `Running` means connected; give the SUBSCRIBE its round trip before publishing.
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The processor, as its own process.
    let dir = std::env::temp_dir().join(&run);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let processor_file = dir.join("processor.toml");
    std::fs::write(
        &processor_file,
        format!(
            r#"
            [runtime]
            metrics = "off"
            [kafka]
            brokers = "{brokers}"
            # A SIGKILLed member holds its partitions until its session times out (librdkafka
            # default 45 s); keep the restart's takeover short.
            [kafka.properties]
            "session.timeout.ms" = "6000"
            [[processor.window]]
            name = "averages"
            kcql = "INSERT INTO {avg_topic} SELECT id, MIN(temperature) AS min_temp, MAX(temperature) AS max_temp, AVG(temperature) AS avg_temp, COUNT(*) AS n FROM {data_topic} GROUP BY id WINDOW TUMBLING(2s) WITHTIMESTAMP ts"
            group_id = "{run}_averages"
            "#,
        ),
    )
    .expect("write processor.toml");

    // Phase 1: the first 31 s, all in Kafka before the processor starts.
    publish(&prefix, &first).await;
    wait_records(
        &brokers,
        &data_topic,
        first.len() as i64,
        Duration::from_secs(60),
    )
    .await;
    push_watermark(&brokers, &data_topic, SPLIT_MS).await;
    let mut processor = kcql_run(&bin, [&processor_file]).await;
    processor
        .wait_until("a window in InfluxDB", Duration::from_secs(60), || async {
            match present(&stored_points(db.name()).await, &expected) {
                0 => Err("none yet".to_string()),
                _ => Ok(()),
            }
        })
        .await;
    let status = processor.sigkill().expect("SIGKILL the processor");
    let killed_at = Instant::now();
    let at_kill = present(&stored_points(db.name()).await, &expected);
    eprintln!("processor killed ({status}) with {at_kill} windows in InfluxDB");

    // Phase 2: the rest while it is down, then restart it.
    publish(&prefix, &second).await;
    wait_records(
        &brokers,
        &data_topic,
        (readings.len() + PARTITIONS as usize) as i64,
        Duration::from_secs(60),
    )
    .await;
    // Restart at once: the dead member still holds its session (6 s); Kafka rebalances when it
    // expires and the new member gets every partition.
    let mut processor = kcql_run(&bin, [&processor_file]).await;
    eprintln!(
        "processor restarted {:?} after the kill",
        killed_at.elapsed()
    );
    push_watermark(&brokers, &data_topic, BASE_MS + SECONDS * 1000 + 10_000).await;

    // Every window, exactly.
    processor
        .wait_until(
            "every window in InfluxDB",
            Duration::from_secs(90),
            || async {
                match present(&stored_points(db.name()).await, &expected) {
                    n if n == expected.len() => Ok(()),
                    n => Err(format!("{n} of {} windows", expected.len())),
                }
            },
        )
        .await;
    // Let any replay land before judging.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stored = stored_points(db.name()).await;
    let diffs = differences(&stored, &expected);
    assert!(
        diffs.is_empty(),
        "{} differences between InfluxDB and the readings:\n{}",
        diffs.len(),
        diffs
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "all {} windows exact ({} readings, killed with {at_kill} windows written)",
        expected.len(),
        readings.len()
    );

    processor.sigterm().expect("SIGTERM the processor");
    let _ = processor.wait_with_timeout(Duration::from_secs(20)).await;
    shutdown.trigger();
    match tokio::time::timeout(Duration::from_secs(30), edge_task).await {
        Ok(Ok(Ok(()))) => {}
        other => panic!("edge pipeline did not stop cleanly: {other:?}"),
    }
}
