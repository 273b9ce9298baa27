//! The window processor against a real Apache Kafka broker: per-device windows are emitted
//! exactly as a reference computation says, once; a crash (the task aborted: no flush, no
//! commit) followed by a restart never emits a window with only part of its records; and the
//! broker itself SIGKILLed and restarted while the processor holds open windows loses nothing
//! (a private broker, `kcql_testkit::private::PrivateKafka`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kcql_runtime::config::Pipeline;
use kcql_runtime::run::{run_pipeline, Observability};
use kcql_runtime::shutdown::Shutdown;
use kcql_testkit::kafka::{self, ProduceRecord};
use kcql_testkit::names::unique;

const DEVICES: usize = 6;
const PER_DEVICE: usize = 100;
/// Event time of the first record; records of a device are 200 ms apart (20 s in all).
const BASE: i64 = 1_733_011_200_000;

#[derive(Debug, Clone, PartialEq)]
struct Expected {
    min: f64,
    max: f64,
    sum: f64,
    n: u64,
}

/// The readings: device `d`'s `i`-th temperature at BASE + 200·i ms.
fn readings() -> Vec<(String, i64, f64)> {
    let mut out = Vec::new();
    for i in 0..PER_DEVICE {
        for d in 0..DEVICES {
            let t = 15.0 + ((i * 7 + d * 13) % 29) as f64 * 0.37;
            out.push((format!("dev-{d}"), BASE + 200 * i as i64, t));
        }
    }
    out
}

/// (device, window start) → aggregates, for 2-second tumbling windows.
fn expected() -> BTreeMap<(String, i64), Expected> {
    let mut m: BTreeMap<(String, i64), Expected> = BTreeMap::new();
    for (id, ts, t) in readings() {
        let start = ts - ts.rem_euclid(2000);
        let e = m.entry((id, start)).or_insert(Expected {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
            n: 0,
        });
        e.min = e.min.min(t);
        e.max = e.max.max(t);
        e.sum += t;
        e.n += 1;
    }
    m
}

async fn produce_input(topic: &str) {
    produce_readings(&kafka::brokers(), topic, readings()).await;
    push_watermarks(&kafka::brokers(), topic).await;
}

/// Produces `readings`, keyed by device, to `topic` on `brokers`.
async fn produce_readings(brokers: &str, topic: &str, readings: Vec<(String, i64, f64)>) {
    let records: Vec<ProduceRecord> = readings
        .into_iter()
        .map(|(id, ts, t)| {
            ProduceRecord::new(
                serde_json::json!({"id": id, "temperature": t, "ts": ts}).to_string(),
            )
            .key(id)
        })
        .collect();
    kafka::produce_at(brokers, &[], topic, records).await;
}

/// One record per partition far ahead in event time: every partition's watermark passes the
/// data's last window.
async fn push_watermarks(brokers: &str, topic: &str) {
    let partitions = kafka::partitions_of_at(brokers, topic).await;
    let pushers: Vec<ProduceRecord> = partitions
        .into_iter()
        .map(|p| {
            ProduceRecord::new(
                serde_json::json!({"id": format!("pusher-{p}"), "temperature": 0.0, "ts": BASE + 60_000})
                    .to_string(),
            )
            .partition(p)
        })
        .collect();
    kafka::produce_at(brokers, &[], topic, pushers).await;
}

fn pipeline(input: &str, output: &str, name: &str) -> Pipeline {
    pipeline_at(&kafka::brokers(), input, output, name)
}

fn pipeline_at(brokers: &str, input: &str, output: &str, name: &str) -> Pipeline {
    pipeline_with(brokers, input, output, name, "")
}

/// The processor pipeline with `settings` (TOML lines) added to its `[[processor.window]]`.
fn pipeline_with(brokers: &str, input: &str, output: &str, name: &str, settings: &str) -> Pipeline {
    let text = format!(
        r#"
[runtime]
metrics = "off"
[kafka]
brokers = "{brokers}"
[[processor.window]]
name = "{name}"
{settings}
kcql = "INSERT INTO {output} SELECT id, MIN(temperature) AS min_temp, MAX(temperature) AS max_temp, AVG(temperature) AS avg_temp, COUNT(*) AS n FROM {input} GROUP BY id WINDOW TUMBLING(2s) WITHTIMESTAMP ts"
"#
    );
    Pipeline::from_toml_str(&text, "test.toml").unwrap_or_else(|e| panic!("{e:?}"))
}

/// Runs `pipeline` until `output` holds exactly `n` records, then stops it cleanly.
async fn run_until_output(
    pipeline: Pipeline,
    observability: Observability,
    output: &str,
    n: usize,
) -> Vec<kafka::ConsumedRecord> {
    let shutdown = Shutdown::new();
    let task = tokio::spawn(run_pipeline(
        pipeline,
        shutdown.clone(),
        observability,
        |_| {},
    ));
    let got =
        kafka::consume_exactly(output, n, Duration::from_secs(90), Duration::from_secs(3)).await;
    shutdown.trigger();
    task.await.unwrap().unwrap();
    got
}

fn check(
    record: &serde_json::Value,
    expected: &BTreeMap<(String, i64), Expected>,
) -> (String, i64) {
    let id = record["id"].as_str().expect("id").to_string();
    let start = record["window_start"].as_i64().expect("window_start");
    assert_eq!(
        record["window_end"].as_i64(),
        Some(start + 2000),
        "{record}"
    );
    let e = expected
        .get(&(id.clone(), start))
        .unwrap_or_else(|| panic!("unexpected window {record}"));
    assert_eq!(
        record["n"].as_u64(),
        Some(e.n),
        "partial or wrong window {record}"
    );
    assert_eq!(record["min_temp"].as_f64(), Some(e.min), "{record}");
    assert_eq!(record["max_temp"].as_f64(), Some(e.max), "{record}");
    let avg = record["avg_temp"].as_f64().expect("avg");
    assert!((avg - e.sum / e.n as f64).abs() < 1e-9, "{record}");
    (id, start)
}

#[tokio::test(flavor = "multi_thread")]
async fn windows_match_a_reference_computation_exactly_once() {
    let input = kafka::unique_topic("wp_in");
    let output = kafka::unique_topic("wp_out");
    kafka::create_topic(&input, 2).await;
    kafka::create_topic(&output, 1).await;
    produce_input(&input).await;
    let expected = expected();

    let observability = Observability::default();
    let registry = Arc::clone(&observability.registry);
    let name = unique("wp");
    let pipeline = pipeline(&input, &output, &name);
    let got = run_until_output(pipeline, observability, &output, expected.len()).await;

    let mut seen = std::collections::BTreeSet::new();
    for r in &got {
        let v = r.payload_json();
        let (id, start) = check(&v, &expected);
        assert_eq!(r.key_str(), Some(id.as_str()), "keyed by the group");
        assert!(seen.insert((id, start)), "emitted twice: {v}");
    }
    assert_eq!(seen.len(), expected.len());
    let text = registry.render();
    assert!(
        text.contains(&format!(
            "kcql_window_outputs_total{{component=\"{name}\"}} {}",
            expected.len()
        )),
        "{text}"
    );
    // Everything before the pushers is committed (the pushers' windows are still open).
    let committed = kafka::committed_offsets(&format!("kcql-{name}"), &input).await;
    assert_eq!(
        committed.values().sum::<i64>(),
        (DEVICES * PER_DEVICE) as i64,
        "{committed:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_and_restart_never_emits_a_partial_window() {
    let input = kafka::unique_topic("wp_crash_in");
    let output = kafka::unique_topic("wp_crash_out");
    kafka::create_topic(&input, 2).await;
    kafka::create_topic(&output, 1).await;
    produce_input(&input).await;
    let expected = expected();
    let name = unique("wp-crash");

    // First run: aborted as soon as some windows were delivered (no flush, no final commit).
    let first = tokio::spawn(run_pipeline(
        pipeline(&input, &output, &name),
        Shutdown::new(),
        Observability::default(),
        |_| {},
    ));
    kafka::consume_all(&output, expected.len() / 3, Duration::from_secs(90)).await;
    first.abort();
    let _ = first.await;

    // Restart with the same group: it resumes from the committed offsets.
    let shutdown = Shutdown::new();
    let second = tokio::spawn(run_pipeline(
        pipeline(&input, &output, &name),
        shutdown.clone(),
        Observability::default(),
        |_| {},
    ));
    // Done when everything before the pushers is committed: then every window was delivered.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let committed = kafka::committed_offsets(&format!("kcql-{name}"), &input).await;
        if committed.values().sum::<i64>() >= (DEVICES * PER_DEVICE) as i64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all committed: {committed:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    shutdown.trigger();
    second.await.unwrap().unwrap();

    // Every record is a complete, correct window (duplicates of complete windows are allowed),
    // and every window is there.
    let got = consume_available(&kafka::brokers(), &output).await;
    let mut seen = std::collections::BTreeSet::new();
    for v in &got {
        seen.insert(check(v, &expected));
    }
    assert_eq!(seen.len(), expected.len(), "{} outputs", got.len());
}

/// The processor is running and every input partition is idle (at its end) when all the data
/// arrives at once: the consumer reads the burst one partition at a time, and the first
/// partition's readings must not move the watermark past the others' (they would be dropped
/// as late). Every window is exact.
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_into_idle_partitions_is_not_late() {
    let input = kafka::unique_topic("wp_burst_in");
    let output = kafka::unique_topic("wp_burst_out");
    kafka::create_topic(&input, 4).await;
    kafka::create_topic(&output, 1).await;
    let expected = expected();
    let name = unique("wp-burst");
    let observability = Observability::default();
    let registry = Arc::clone(&observability.registry);
    let shutdown = Shutdown::new();
    let task = tokio::spawn(run_pipeline(
        pipeline(&input, &output, &name),
        shutdown.clone(),
        observability,
        |_| {},
    ));
    // Assigned, read to the end of the empty partitions: idle.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !registry
        .render()
        .contains(&format!("kcql_window_open{{component=\"{name}\"}}"))
    {
        assert!(tokio::time::Instant::now() < deadline, "processor not up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    produce_input(&input).await;
    let got = kafka::consume_exactly(
        &output,
        expected.len(),
        Duration::from_secs(90),
        Duration::from_secs(2),
    )
    .await;
    shutdown.trigger();
    task.await.unwrap().unwrap();
    let text = registry.render();
    assert!(
        text.contains(&format!(
            "kcql_window_late_records_total{{component=\"{name}\"}} 0"
        )),
        "{text}"
    );
    let mut seen = std::collections::BTreeSet::new();
    for r in &got {
        seen.insert(check(&r.payload_json(), &expected));
    }
    assert_eq!(seen.len(), expected.len());
}

/// Every record of `topic` on `brokers` up to its end offsets now, as JSON values (read by
/// assignment: no group join, no waiting for silence).
async fn consume_available(brokers: &str, topic: &str) -> Vec<serde_json::Value> {
    let total: i64 = kafka::end_offsets_at(brokers, topic).await.values().sum();
    kafka::consume_all_at(brokers, topic, total as usize, Duration::from_secs(60))
        .await
        .iter()
        .map(|r| r.payload_json())
        .collect()
}

/// The broker is SIGKILLed while the processor holds open windows and uncommitted offsets, and
/// restarted 8 s later; the rest of the data arrives after. The processor rides the outage out
/// (it does not stop), resumes, and every window is emitted complete and correct.
#[tokio::test(flavor = "multi_thread")]
async fn the_broker_killed_and_restarted_under_the_processor_loses_no_window() {
    // The processor's log, shown when the test fails.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("info")
        .try_init();
    let mut broker = kcql_testkit::private::PrivateKafka::start()
        .await
        .expect("private kafka starts");
    let brokers = broker.brokers();
    let input = kafka::unique_topic("wp_kafka_kill_in");
    let output = kafka::unique_topic("wp_kafka_kill_out");
    // Two input partitions: both drain before the kill and are idle (partition EOF) when the
    // burst that follows the restart arrives one partition at a time (see
    // `a_burst_into_idle_partitions_is_not_late`).
    broker.create_topic(&input, 2).await;
    broker.create_topic(&output, 1).await;
    let expected = expected();
    let name = unique("wp-kafka-kill");
    // The first half of every device's readings (event time < BASE + 10 s).
    let (first, second): (Vec<_>, Vec<_>) = readings()
        .into_iter()
        .partition(|(_, ts, _)| *ts < BASE + 10_000);
    produce_readings(&brokers, &input, first).await;

    let shutdown = Shutdown::new();
    let observability = Observability::default();
    let registry = Arc::clone(&observability.registry);
    let task = tokio::spawn(run_pipeline(
        pipeline_at(&brokers, &input, &output, &name),
        shutdown.clone(),
        observability,
        |_| {},
    ));
    // Windows up to 10 s close (partition watermarks are at ~9.8 s): about 4 per device.
    kafka::consume_all_at(&brokers, &output, DEVICES * 3, Duration::from_secs(90)).await;
    broker.kill().await.expect("SIGKILL kafka");
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(
        !task.is_finished(),
        "the processor stopped during the outage"
    );
    broker.restart().await.expect("restart kafka");
    produce_readings(&brokers, &input, second).await;
    push_watermarks(&brokers, &input).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let committed =
            kafka::committed_offsets_at(&brokers, &format!("kcql-{name}"), &input).await;
        if committed.values().sum::<i64>() >= (DEVICES * PER_DEVICE) as i64 {
            break;
        }
        assert!(!task.is_finished(), "the processor stopped: {committed:?}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all committed: {committed:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    shutdown.trigger();
    task.await.unwrap().unwrap();

    let got = consume_available(&brokers, &output).await;
    let mut seen: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for v in &got {
        *seen.entry(check(v, &expected)).or_insert(0) += 1;
    }
    // Duplicates are complete windows emitted again after a re-read from the last commit
    // (one outage: at most once more each).
    let most = seen.values().copied().max().unwrap_or(0);
    assert!(most <= 2, "a window emitted {most} times after one outage");
    let missing: Vec<_> = expected.keys().filter(|k| !seen.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} windows missing after the outage ({} outputs): {missing:?}\n{}",
        missing.len(),
        expected.len(),
        got.len(),
        registry.render()
    );
    eprintln!(
        "broker outage under the processor: {} windows, {} outputs ({} repeated)",
        expected.len(),
        got.len(),
        got.len() - expected.len()
    );
}

/// Confluent Avro input (schema id in each record, the schema from a registry — a stand-in on
/// loopback that is down for its first two requests): the processor resolves the schema
/// through `schema_registry_url`, waits the registry out, and emits the same exact windows as
/// for JSON.
#[tokio::test(flavor = "multi_thread")]
async fn confluent_avro_input_resolves_its_schema_through_the_registry() {
    use apache_avro::types::Value as Avro;
    const SCHEMA: &str = r#"{"type":"record","name":"Reading","fields":[
        {"name":"id","type":"string"},{"name":"temperature","type":"double"},
        {"name":"ts","type":"long"}]}"#;
    let registry = kcql_testkit::registry::StubRegistry::start(&[(42, SCHEMA)], 2).await;
    let schema = apache_avro::Schema::parse_str(SCHEMA).expect("schema");
    let encode = |id: &str, ts: i64, t: f64| {
        let record = Avro::Record(vec![
            ("id".into(), Avro::String(id.to_string())),
            ("temperature".into(), Avro::Double(t)),
            ("ts".into(), Avro::Long(ts)),
        ]);
        let datum = apache_avro::to_avro_datum(&schema, record).expect("datum");
        kcql_testkit::registry::confluent_payload(42, &datum)
    };

    let input = kafka::unique_topic("wp_avro_in");
    let output = kafka::unique_topic("wp_avro_out");
    kafka::create_topic(&input, 1).await;
    kafka::create_topic(&output, 1).await;
    let mut records: Vec<ProduceRecord> = readings()
        .into_iter()
        .map(|(id, ts, t)| ProduceRecord::new(encode(&id, ts, t)).key(id))
        .collect();
    records.push(ProduceRecord::new(encode("pusher", BASE + 60_000, 0.0)));
    kafka::produce_at(&kafka::brokers(), &[], &input, records).await;
    let expected = expected();

    let name = unique("wp_avro");
    let settings = format!(
        "value_format = \"confluent_avro\"\nschema_registry_url = \"{}\"",
        registry.url()
    );
    let pipeline = pipeline_with(&kafka::brokers(), &input, &output, &name, &settings);
    let got = run_until_output(pipeline, Observability::default(), &output, expected.len()).await;

    let mut seen = std::collections::BTreeSet::new();
    for r in &got {
        assert!(seen.insert(check(&r.payload_json(), &expected)));
    }
    assert_eq!(seen.len(), expected.len());
    // Two 503s, then the one schema id, fetched once.
    assert_eq!(registry.requests(), 3, "registry requests");
}
