//! The MQTT source against the real services: Mosquitto (127.0.0.1:1883) and Apache Kafka
//! (127.0.0.1:9092), started by `scripts/services.sh up`. Every test uses its own MQTT topics,
//! Kafka topics and client ids.
//!
//! * 10 000 QoS 1 messages on 16 device topics arrive exactly once, keyed by topic, in order
//!   per device.
//! * Bad JSON: NOOP skips it to the dead-letter topic (with Kafka Connect's
//!   `__connect.errors.*` headers, as the sink writes them) and keeps the good messages; THROW stops
//!   the source without acknowledging it, so the next run (same client id) gets it again.
//! * A connector process killed with SIGKILL mid-stream and restarted with the same client id
//!   loses nothing (duplicates are allowed, counted and bounded: each one is a redelivery the
//!   broker flagged DUP, or a retried Kafka write).
//! * Two connectors on one `$share` group split the messages and together deliver all.
//! * Kafka (a private broker) SIGKILLed for 10 s while devices keep publishing: nothing lost,
//!   and every message read is acknowledged once Kafka has it.
//! * Mosquitto (a private one) SIGKILLed and restarted: the source reconnects, subscribes
//!   again (the broker lost the unsaved session) and carries on.
//! * A 10 MB message among good ones: NOOP dead-letters a copy cut to `max_message_bytes`
//!   (with `__kcql.truncated.original.size`), passes the good ones and keeps running; THROW
//!   stops once, naming topic and size, and is not stopped by it again after a restart.
//! * A record under our limit that the topic (`max.message.bytes` 20000) refuses: it is
//!   dead-lettered, and the records batched with it all reach the topic.
//!
//! The fault tests that kill a broker use private ones (`kcql_testkit::private`), so the other
//! tests never lose theirs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kcql_runtime::config::MqttSourceSettings;
use kcql_runtime::connectors::mqtt_source::route::{HEADER_DUPLICATE, HEADER_QOS, HEADER_TOPIC};
use kcql_runtime::connectors::mqtt_source::{
    MqttSource, MqttSourceError, MqttSourceStats, StatsSnapshot,
};
use kcql_runtime::dead_letter;
use kcql_testkit::kafka::{self, ConsumedRecord};
use kcql_testkit::private::{PrivateKafka, PrivateMosquitto};
use kcql_testkit::{mqtt, names};
use rumqttc::QoS;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const CHILD_PROPS_ENV: &str = "KCQL_MQTT_CHILD_PROPS";
/// How long the large tests wait for their records in Kafka.
const CONSUME_TIMEOUT: Duration = Duration::from_secs(120);

fn props(kcql: &str, client_id: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    props_at(&kafka::brokers(), kcql, client_id, extra)
}

/// [`props`] writing to the Kafka cluster at `brokers`.
fn props_at(
    brokers: &str,
    kcql: &str,
    client_id: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut p = vec![
        (
            "connect.mqtt.hosts".to_string(),
            format!("tcp://{}:{}", mqtt::host(), mqtt::port()),
        ),
        ("connect.mqtt.kcql".into(), kcql.into()),
        ("connect.mqtt.service.quality".into(), "1".into()),
        ("connect.mqtt.client.id".into(), client_id.into()),
        ("kafka.bootstrap.servers".into(), brokers.to_string()),
    ];
    if let Ok(b) = std::env::var("MQTT_TEST_BATCH_SIZE") {
        p.push(("kafka.batch.size".into(), b));
    }
    for (k, v) in extra {
        p.push((k.to_string(), v.to_string()));
    }
    p
}

/// Replaces (or adds) `key` in `p`.
fn set(p: &mut Vec<(String, String)>, key: &str, value: &str) {
    p.retain(|(k, _)| k != key);
    p.push((key.to_string(), value.to_string()));
}

/// Waits until the source has acknowledged every message it read and has none in flight.
async fn all_acknowledged(running: &Running) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = running.stats.snapshot();
        if s.acked == s.received && s.in_flight == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "not all acknowledged: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The distinct payloads among `records` and how many records repeated one.
fn distinct_payloads(records: &[ConsumedRecord]) -> (BTreeSet<String>, usize) {
    let mut distinct = BTreeSet::new();
    let mut duplicates = 0;
    for r in records {
        if !distinct.insert(text(r)) {
            duplicates += 1;
        }
    }
    (distinct, duplicates)
}

/// A unique MQTT topic prefix, and a Kafka topic (with `config`) and a dead-letter topic of
/// one partition each, created; names start with `label`.
async fn fresh_topics(label: &str, config: &[(&str, &str)]) -> (String, String, String) {
    let prefix = names::unique(label);
    let topic = kafka::unique_topic(label);
    let dlq = kafka::unique_topic(&format!("{label}_dlq"));
    kafka::create_topic_with_config_at(&kafka::brokers(), &topic, 1, config).await;
    kafka::create_topic(&dlq, 1).await;
    (prefix, topic, dlq)
}

/// How many of `records` the broker delivered again (MQTT's DUP flag, copied to the
/// `mqtt.duplicate` header).
fn redelivered(records: &[ConsumedRecord]) -> usize {
    records
        .iter()
        .filter(|r| r.header(HEADER_DUPLICATE) == Some(&b"true"[..]))
        .count()
}

/// Duplicates are bounded: each is a message the broker delivered again (DUP flag) or a Kafka
/// write the source retried (`retries`); the source never writes a message twice otherwise.
fn assert_duplicates_bounded(records: &[ConsumedRecord], duplicates: usize, retries: u64) {
    let redelivered = redelivered(records);
    assert!(
        duplicates as u64 <= redelivered as u64 + retries,
        "{duplicates} duplicates, but only {redelivered} redeliveries and {retries} retried writes"
    );
}

fn settings(p: &[(String, String)]) -> MqttSourceSettings {
    MqttSourceSettings::from_properties(p).unwrap_or_else(|e| panic!("settings: {e:#?}"))
}

struct Running {
    stop: watch::Sender<bool>,
    handle: JoinHandle<Result<(), MqttSourceError>>,
    stats: Arc<MqttSourceStats>,
}

impl Running {
    fn start(s: MqttSourceSettings) -> Running {
        // The connector's warnings (RUST_LOG, default warn) in the test output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
        mqtt::wait_reachable();
        kafka::wait_reachable();
        let source = MqttSource::new(s).expect("source builds");
        let stats = source.stats();
        let (stop, rx) = watch::channel(false);
        let handle = tokio::spawn(source.run(rx));
        Running {
            stop,
            handle,
            stats,
        }
    }

    /// Waits until every worker is connected, plus time for the SUBSCRIBE to be processed.
    async fn connected(&self, workers: u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.stats.connects.get() < workers {
            assert!(
                !self.handle.is_finished(),
                "the source stopped before connecting"
            );
            assert!(Instant::now() < deadline, "source did not connect in 20 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }

    /// Stops gracefully, expecting `Ok`, and returns the final counters.
    async fn stop_cleanly(self) -> StatsSnapshot {
        let stats = self.stats.clone();
        self.stop().await.expect("clean stop");
        stats.snapshot()
    }

    async fn stop(self) -> Result<(), MqttSourceError> {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(60), self.handle)
            .await
            .expect("graceful stop within 60 s")
            .expect("source task")
    }
}

fn text(r: &ConsumedRecord) -> String {
    r.payload_str().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_qos1_messages_exactly_once_keyed_and_in_order_per_device() {
    let brokers = kafka::brokers();
    let prefix = names::unique("mq10k");
    let topic = kafka::unique_topic("mqtt_10k");
    let partitions: i32 = std::env::var("MQTT_TEST_PARTITIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    kafka::create_topic(&topic, partitions).await;
    let kcql = format!("INSERT INTO {topic} SELECT * FROM {prefix}/dev/+");
    let p = props_at(&brokers, &kcql, &names::unique("c10k"), &[]);
    let running = Running::start(settings(&p));
    running.connected(1).await;

    const DEVICES: usize = 16;
    const PER_DEVICE: usize = 625;
    let mut messages = Vec::new();
    for seq in 0..PER_DEVICE {
        for d in 0..DEVICES {
            messages.push((format!("{prefix}/dev/{d}"), format!("{d}:{seq}")));
        }
    }
    let started = Instant::now();
    mqtt::publish_messages(messages, QoS::AtLeastOnce).await;
    let records = kafka::consume_exactly_at(
        &brokers,
        &topic,
        DEVICES * PER_DEVICE,
        CONSUME_TIMEOUT,
        Duration::from_secs(2),
    )
    .await;
    eprintln!("10 000 messages MQTT → Kafka in {:?}", started.elapsed());

    let mut seen = BTreeSet::new();
    let mut last_seq: BTreeMap<String, (i32, i64)> = BTreeMap::new();
    for r in &records {
        let payload = text(r);
        assert!(seen.insert(payload.clone()), "duplicate {payload}");
        let (d, seq) = payload.split_once(':').expect("d:seq");
        let key = r.key_str().expect("keyed");
        assert_eq!(key, format!("{prefix}/dev/{d}"), "key is the MQTT topic");
        assert_eq!(r.header(HEADER_TOPIC), Some(key.as_bytes()));
        assert_eq!(r.header(HEADER_QOS), Some(&b"1"[..]));
        let seq: i64 = seq.parse().unwrap();
        // Per device: one partition, increasing sequence.
        if let Some((p, prev)) = last_seq.get(key) {
            assert_eq!(*p, r.partition, "device {d} spread over partitions");
            assert!(seq > *prev, "device {d}: {seq} after {prev}");
        }
        last_seq.insert(key.to_string(), (r.partition, seq));
    }
    assert_eq!(seen.len(), DEVICES * PER_DEVICE);
    assert_eq!(last_seq.len(), DEVICES);
    // Everything read is acknowledged once Kafka confirmed it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while running.stats.acked.get() < (DEVICES * PER_DEVICE) as u64 {
        assert!(Instant::now() < deadline, "{:?}", running.stats.snapshot());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = running.stop_cleanly().await;
    assert_eq!(s.received, (DEVICES * PER_DEVICE) as u64, "{s:?}");
    assert_eq!(s.produced, s.received);
    assert_eq!(s.acked, s.received);
    assert_eq!(s.in_flight, 0);
    assert_eq!(s.errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_json_noop_goes_to_the_dead_letter_topic_and_good_messages_pass() {
    let (prefix, topic, dlq) = fresh_topics("mqtt_json", &[]).await;
    let kcql =
        format!("INSERT INTO {topic} SELECT id, v FROM {prefix}/s/+ WHERE v > 0 WITHKEY(id)");
    let running = Running::start(settings(&props(
        &kcql,
        &names::unique("cbad"),
        &[
            ("connect.mqtt.error.policy", "NOOP"),
            ("connect.mqtt.dlq.topic", &dlq),
            ("name", "mqtt-dlq-test"),
        ],
    )));
    running.connected(1).await;
    let t = format!("{prefix}/s/1");
    mqtt::publish(
        &t,
        [
            r#"{"id":"a","v":1,"x":0}"#,
            r#"{"id":"b","v":"#,
            r#"{"id":"c","v":-1}"#,
            r#"{"id":"d","v":2}"#,
            "not json",
            r#"{"v":3}"#,
            r#"{"id":"e","v":4}"#,
        ],
        QoS::AtLeastOnce,
    )
    .await;
    let good =
        kafka::consume_exactly(&topic, 3, Duration::from_secs(120), Duration::from_secs(1)).await;
    let values: Vec<String> = good.iter().map(text).collect();
    assert_eq!(
        values,
        vec![
            r#"{"id":"a","v":1}"#,
            r#"{"id":"d","v":2}"#,
            r#"{"id":"e","v":4}"#
        ]
    );
    let keys: Vec<&str> = good.iter().map(|r| r.key_str().unwrap()).collect();
    assert_eq!(keys, vec!["a", "d", "e"]);
    let dead =
        kafka::consume_exactly(&dlq, 3, Duration::from_secs(120), Duration::from_secs(1)).await;
    let dead_values: Vec<String> = dead.iter().map(text).collect();
    assert_eq!(
        dead_values,
        vec![r#"{"id":"b","v":"#, "not json", r#"{"v":3}"#]
    );
    let header = |d: &ConsumedRecord, name: &str| -> Option<String> {
        d.header(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let classes: Vec<Option<String>> = dead
        .iter()
        .map(|d| header(d, dead_letter::HEADER_CLASS))
        .collect();
    assert_eq!(
        classes,
        ["decode_error", "decode_error", "missing_key_field"].map(|c| Some(c.to_string()))
    );
    for d in &dead {
        assert_eq!(
            header(d, dead_letter::HEADER_TOPIC).as_deref(),
            Some(t.as_str())
        );
        assert_eq!(header(d, dead_letter::HEADER_PARTITION), None);
        assert_eq!(header(d, dead_letter::HEADER_OFFSET), None);
        assert_eq!(
            header(d, dead_letter::HEADER_CONNECTOR).as_deref(),
            Some("mqtt-dlq-test")
        );
        let why = header(d, dead_letter::HEADER_MESSAGE).expect("error message header");
        assert!(why.starts_with("statement 1: "), "{why}");
        assert_eq!(d.key_str(), Some(t.as_str()));
    }
    let s = running.stop_cleanly().await;
    assert_eq!(
        (s.received, s.filtered, s.skipped, s.acked),
        (7, 1, 3, 7),
        "{s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_json_throw_stops_without_ack_and_the_next_run_gets_it_again() {
    let (prefix, topic, dlq) = fresh_topics("mqtt_throw", &[]).await;
    let kcql = format!("INSERT INTO {topic} SELECT * FROM {prefix}/s WITHCONVERTER=`json`");
    let client_id = names::unique("cthrow");
    let t = format!("{prefix}/s");

    let running = Running::start(settings(&props(&kcql, &client_id, &[])));
    running.connected(1).await;
    mqtt::publish(&t, [r#"{"n":1}"#, "{oops", r#"{"n":2}"#], QoS::AtLeastOnce).await;
    let result = tokio::time::timeout(Duration::from_secs(60), running.handle)
        .await
        .expect("stops by itself")
        .expect("task");
    match result {
        Err(MqttSourceError::Poison { topic: mt, .. }) => assert_eq!(mt, t),
        other => panic!("expected a poison error, got {other:?}"),
    }
    let first = kafka::consume_all(&topic, 1, Duration::from_secs(120)).await;
    assert_eq!(text(&first[0]), r#"{"n":1}"#);

    // Same client id, persistent session: the unacknowledged bad message comes back.
    let again = Running::start(settings(&props(
        &kcql,
        &client_id,
        &[
            ("connect.mqtt.error.policy", "NOOP"),
            ("connect.mqtt.dlq.topic", &dlq),
        ],
    )));
    let dead = kafka::consume_all(&dlq, 1, Duration::from_secs(120)).await;
    assert_eq!(text(&dead[0]), "{oops");
    let all = kafka::consume_all(&topic, 2, Duration::from_secs(120)).await;
    let values: BTreeSet<String> = all.iter().map(text).collect();
    assert!(values.contains(r#"{"n":2}"#), "{values:?}");
    again.stop().await.expect("clean stop");
}

/// Kafka Connect's `errors.tolerance = all` beside `connect.mqtt.error.policy = THROW`: the
/// poison message is skipped (dead-lettered) instead of stopping the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_tolerance_all_skips_poison_messages_under_throw() {
    let (prefix, topic, dlq) = fresh_topics("mqtt_tolerance", &[]).await;
    let kcql = format!("INSERT INTO {topic} SELECT * FROM {prefix}/s WITHCONVERTER=`json`");
    let t = format!("{prefix}/s");
    let running = Running::start(settings(&props(
        &kcql,
        &names::unique("ctolerate"),
        &[
            ("connect.mqtt.error.policy", "THROW"),
            ("errors.tolerance", "all"),
            ("errors.log.enable", "true"),
            ("connect.mqtt.dlq.topic", &dlq),
        ],
    )));
    running.connected(1).await;
    mqtt::publish(&t, [r#"{"n":1}"#, "{oops", r#"{"n":2}"#], QoS::AtLeastOnce).await;
    let good =
        kafka::consume_exactly(&topic, 2, Duration::from_secs(120), Duration::from_secs(1)).await;
    let values: Vec<String> = good.iter().map(text).collect();
    assert_eq!(values, [r#"{"n":1}"#, r#"{"n":2}"#]);
    let dead = kafka::consume_all(&dlq, 1, Duration::from_secs(120)).await;
    assert_eq!(text(&dead[0]), "{oops");
    let s = running.stop_cleanly().await;
    assert_eq!((s.received, s.skipped, s.acked), (3, 1, 3), "{s:?}");
}

/// A payload of `n` bytes: `tag`, then `x`s.
fn big_payload(tag: &str, n: usize) -> Vec<u8> {
    let mut p = tag.as_bytes().to_vec();
    p.resize(n, b'x');
    p
}

/// A dead-letter header as text.
fn dlq_header(d: &ConsumedRecord, name: &str) -> Option<String> {
    d.header(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Issue 14 item 7: a 10 MB QoS 1 message between good ones, under NOOP with a dead-letter
/// topic. The good ones all reach Kafka, the big one is counted, skipped and dead-lettered
/// cut to `max_message_bytes` with its original size in a header, every message is
/// acknowledged once (nothing redelivered), and the source keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_megabyte_message_is_dead_lettered_truncated_and_the_good_ones_pass() {
    let (prefix, topic, dlq) = fresh_topics("mqtt_big", &[]).await;
    let kcql = format!("INSERT INTO {topic} SELECT * FROM {prefix}/s");
    let running = Running::start(settings(&props(
        &kcql,
        &names::unique("cbig"),
        &[
            ("connect.mqtt.error.policy", "NOOP"),
            ("connect.mqtt.dlq.topic", &dlq),
        ],
    )));
    running.connected(1).await;
    let t = format!("{prefix}/s");
    const BIG: usize = 10_000_000;
    let mut payloads: Vec<Vec<u8>> = (0..5).map(|i| format!("good-{i}").into_bytes()).collect();
    payloads.push(big_payload("BIG", BIG));
    payloads.extend((5..10).map(|i| format!("good-{i}").into_bytes()));
    mqtt::publish(&t, payloads, QoS::AtLeastOnce).await;

    let good = kafka::consume_exactly(&topic, 10, CONSUME_TIMEOUT, Duration::from_secs(2)).await;
    let values: Vec<String> = good.iter().map(text).collect();
    let want: Vec<String> = (0..10).map(|i| format!("good-{i}")).collect();
    assert_eq!(values, want);
    let dead = kafka::consume_exactly(&dlq, 1, CONSUME_TIMEOUT, Duration::from_secs(1)).await;
    let d = &dead[0];
    let value = d.payload.as_deref().unwrap_or_default();
    assert!(
        value.starts_with(b"BIGxxx") && value.len() < 1_000_000 && value.len() > 900_000,
        "a prefix of the message, cut to the limit: {} bytes",
        value.len()
    );
    assert_eq!(
        dlq_header(d, dead_letter::HEADER_TRUNCATED_ORIGINAL_SIZE).as_deref(),
        Some("10000000")
    );
    assert_eq!(
        dlq_header(d, dead_letter::HEADER_CLASS).as_deref(),
        Some("record_too_large")
    );
    assert_eq!(
        dlq_header(d, dead_letter::HEADER_TOPIC).as_deref(),
        Some(t.as_str())
    );
    all_acknowledged(&running).await;
    assert!(!running.handle.is_finished(), "the source keeps running");
    let s = running.stop_cleanly().await;
    assert_eq!(
        (
            s.received,
            s.produced,
            s.too_large,
            s.skipped,
            s.errors,
            s.acked
        ),
        (11, 11, 1, 1, 1, 11),
        "received once each (no redelivery), 10 good + 1 dead letter written: {s:?}"
    );
}

/// Issue 14 item 7 under THROW: the 10 MB message stops the source with an error naming the
/// MQTT topic and the size, after its truncated copy reached the dead-letter topic; it was
/// acknowledged, so the next run with the same persistent session does not get it again (no
/// crash loop) and carries on with the messages after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_megabyte_message_under_throw_stops_the_source_once_not_forever() {
    let (prefix, topic, dlq) = fresh_topics("mqtt_big_throw", &[]).await;
    let kcql = format!("INSERT INTO {topic} SELECT * FROM {prefix}/s");
    let client_id = names::unique("cbigthrow");
    let p = props(&kcql, &client_id, &[("connect.mqtt.dlq.topic", &dlq)]);
    let t = format!("{prefix}/s");

    let running = Running::start(settings(&p));
    running.connected(1).await;
    mqtt::publish(
        &t,
        [
            b"before".to_vec(),
            big_payload("BIG", 10_000_000),
            b"after".to_vec(),
        ],
        QoS::AtLeastOnce,
    )
    .await;
    let result = tokio::time::timeout(Duration::from_secs(60), running.handle)
        .await
        .expect("stops by itself")
        .expect("task");
    match &result {
        Err(MqttSourceError::TooLarge {
            mqtt_topic, size, ..
        }) if *mqtt_topic == t && *size > 10_000_000 => {}
        other => panic!("expected TooLarge naming {t}, got {other:?}"),
    }
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains(&t) && message.contains("acknowledged"),
        "{message}"
    );
    let dead = kafka::consume_exactly(&dlq, 1, CONSUME_TIMEOUT, Duration::from_secs(1)).await;
    assert_eq!(
        dlq_header(&dead[0], dead_letter::HEADER_TRUNCATED_ORIGINAL_SIZE).as_deref(),
        Some("10000000")
    );

    // Same client id, persistent session: the big message is not redelivered.
    let again = Running::start(settings(&p));
    again.connected(1).await;
    mqtt::publish(&t, ["later"], QoS::AtLeastOnce).await;
    let all = kafka::consume_all(&topic, 3, CONSUME_TIMEOUT).await;
    let values: BTreeSet<String> = all.iter().map(text).collect();
    assert_eq!(
        values,
        ["before", "after", "later"].map(String::from).into(),
        "the messages around it and after the restart"
    );
    all_acknowledged(&again).await;
    assert!(!again.handle.is_finished(), "the restarted source runs");
    let s = again.stats.snapshot();
    assert_eq!(s.too_large, 0, "not redelivered: {s:?}");
    again.stop().await.expect("clean stop");
}

/// Issue 14 item 7, the broker's limit: the topic takes at most 20 000 bytes per record batch,
/// and one message of 50 000 bytes (under our 1 MB limit) comes among 200 small ones published
/// at once, so it shares a batch with some of them. The broker refuses the whole batch; the
/// source sends its records again one by one, so all 200 small ones reach the topic and only
/// the big one is dead-lettered (whole: it fits our limit), counted and skipped (NOOP).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_topic_refuses_as_too_large_is_dead_lettered_and_its_batch_mates_pass() {
    let (prefix, topic, dlq) =
        fresh_topics("mqtt_topic_max", &[("max.message.bytes", "20000")]).await;
    let kcql = format!("INSERT INTO {topic} SELECT * FROM {prefix}/s");
    let running = Running::start(settings(&props(
        &kcql,
        &names::unique("ctopicmax"),
        &[
            ("connect.mqtt.error.policy", "NOOP"),
            ("connect.mqtt.dlq.topic", &dlq),
        ],
    )));
    running.connected(1).await;
    let t = format!("{prefix}/s");
    let mut payloads: Vec<Vec<u8>> = (0..100).map(|i| format!("good-{i}").into_bytes()).collect();
    payloads.push(big_payload("BIG", 50_000));
    payloads.extend((100..200).map(|i| format!("good-{i}").into_bytes()));
    mqtt::publish(&t, payloads, QoS::AtLeastOnce).await;

    let good = kafka::consume_exactly(&topic, 200, CONSUME_TIMEOUT, Duration::from_secs(2)).await;
    let values: BTreeSet<String> = good.iter().map(text).collect();
    let want: BTreeSet<String> = (0..200).map(|i| format!("good-{i}")).collect();
    assert_eq!(values, want, "every batch-mate of the big record");
    let dead = kafka::consume_exactly(&dlq, 1, CONSUME_TIMEOUT, Duration::from_secs(2)).await;
    let d = &dead[0];
    assert_eq!(d.payload.as_deref().map(<[u8]>::len), Some(50_000), "whole");
    assert_eq!(
        dlq_header(d, dead_letter::HEADER_TRUNCATED_ORIGINAL_SIZE),
        None
    );
    assert_eq!(
        dlq_header(d, dead_letter::HEADER_CLASS).as_deref(),
        Some("record_too_large")
    );
    all_acknowledged(&running).await;
    assert!(!running.handle.is_finished(), "the source keeps running");
    let s = running.stop_cleanly().await;
    eprintln!("topic limit 20000 bytes: {s:?}");
    assert_eq!(
        (s.received, s.too_large, s.skipped, s.acked),
        (201, 1, 1, 201),
        "{s:?}"
    );
}

/// Runs a connector from `$KCQL_MQTT_CHILD_PROPS` until the process is killed. Only started by
/// `killed_connector_restarts_without_loss` as a child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of killed_connector_restarts_without_loss"]
async fn child_connector_until_killed() {
    let raw = std::env::var(CHILD_PROPS_ENV).expect("run by the parent test");
    let p: Vec<(String, String)> = serde_json::from_str(&raw).unwrap();
    let running = Running::start(settings(&p));
    running.connected(1).await;
    println!("CHILD CONNECTED");
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        println!("CHILD RECEIVED {}", running.stats.received.get());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connector_restarts_without_loss() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let brokers = kafka::brokers();
    let prefix = names::unique("mqkill");
    let topic = kafka::unique_topic("mqtt_kill");
    kafka::create_topic(&topic, 2).await;
    let kcql = format!("INSERT INTO {topic} SELECT * FROM {prefix}/d/+");
    let client_id = names::unique("ckill");
    let p = props_at(
        &brokers,
        &kcql,
        &client_id,
        &[("connect.mqtt.max.inflight", "500")],
    );

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_connector_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_PROPS_ENV, serde_json::to_string(&p).unwrap())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child connector");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        while let Some(Ok(l)) = lines.next() {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let wait_for = |rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
                    pred: &dyn Fn(&str) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match rx.try_recv() {
                Ok(l) if pred(&l) => return,
                Ok(_) => {}
                Err(_) => {
                    assert!(Instant::now() < deadline, "child did not get there");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    };
    // The harness prints "test child_connector_until_killed ... " without a newline first.
    wait_for(&mut rx, &|l| l.ends_with("CHILD CONNECTED"));

    const TOTAL: usize = 6_000;
    let messages: Vec<(String, String)> = (0..TOTAL)
        .map(|i| (format!("{prefix}/d/{}", i % 8), format!("m{i}")))
        .collect();
    let publisher = tokio::spawn(mqtt::publish_messages(messages, QoS::AtLeastOnce));
    // Kill it once it has started writing, mid-stream (its window of 500 keeps it from
    // reading far ahead of Kafka).
    wait_for(&mut rx, &|l| {
        l.strip_prefix("CHILD RECEIVED ")
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n >= 300)
    });
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    publisher.await.expect("publisher");

    // Restart in-process with the same client id: the broker kept the session.
    let running = Running::start(settings(&p));
    let mut records = kafka::consume_all_at(&brokers, &topic, TOTAL, CONSUME_TIMEOUT).await;
    let (mut distinct, mut duplicates) = distinct_payloads(&records);
    // consume_all stops at TOTAL records; with duplicates, keep reading until all are there.
    while distinct.len() < TOTAL {
        let expected = records.len() + TOTAL - distinct.len();
        records = kafka::consume_all_at(&brokers, &topic, expected, CONSUME_TIMEOUT).await;
        (distinct, duplicates) = distinct_payloads(&records);
    }
    eprintln!(
        "killed mid-stream: all {TOTAL} messages in Kafka, {duplicates} duplicates, {} DUP-flagged redeliveries; restarted connector: {:?}",
        redelivered(&records),
        running.stats.snapshot()
    );
    assert_eq!(distinct.len(), TOTAL);
    assert_duplicates_bounded(&records, duplicates, running.stats.retries.get());
    // Every message the restarted connector read is acknowledged once Kafka has it, even
    // though the broker floods it with the backlog (Mosquitto's max_inflight_messages 0).
    all_acknowledged(&running).await;
    running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_stopped_for_ten_seconds_while_devices_publish_loses_nothing() {
    let mut broker = PrivateKafka::start().await.expect("private kafka starts");
    let brokers = broker.brokers();
    let prefix = names::unique("mqkdown");
    let topic = kafka::unique_topic("mqtt_kafka_down");
    broker.create_topic(&topic, 2).await;
    let kcql = format!("INSERT INTO {topic} SELECT * FROM {prefix}/d/+");
    let p = props_at(&brokers, &kcql, &names::unique("ckdown"), &[]);
    let running = Running::start(settings(&p));
    running.connected(1).await;

    // 8 devices publish 100 messages a second for 20 s; Kafka is down from 4 s to 14 s.
    const SECONDS: usize = 20;
    const PER_SECOND: usize = 100;
    const TOTAL: usize = SECONDS * PER_SECOND;
    let publisher = tokio::spawn(async move {
        for s in 0..SECONDS {
            let tick = Instant::now();
            let batch: Vec<(String, String)> = (0..PER_SECOND)
                .map(|i| {
                    let n = s * PER_SECOND + i;
                    (format!("{prefix}/d/{}", n % 8), format!("m{n}"))
                })
                .collect();
            mqtt::publish_messages(batch, QoS::AtLeastOnce).await;
            tokio::time::sleep(Duration::from_secs(1).saturating_sub(tick.elapsed())).await;
        }
    });
    tokio::time::sleep(Duration::from_secs(4)).await;
    broker.kill().await.expect("SIGKILL kafka");
    let produced_before = running.stats.snapshot();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let during = running.stats.snapshot();
    // While Kafka is away the window fills and nothing more is acknowledged to the broker.
    assert!(
        during.in_flight > 0,
        "messages wait in flight while Kafka is down: {during:?}"
    );
    broker.restart().await.expect("restart kafka");
    publisher.await.expect("publisher");

    let mut records = kafka::consume_all_at(&brokers, &topic, TOTAL, CONSUME_TIMEOUT).await;
    let (mut distinct, mut duplicates) = distinct_payloads(&records);
    if distinct.len() < TOTAL {
        // Duplicates took the place of some records: read again, expecting them too.
        records =
            kafka::consume_all_at(&brokers, &topic, TOTAL + duplicates, CONSUME_TIMEOUT).await;
        (distinct, duplicates) = distinct_payloads(&records);
    }
    assert_eq!(distinct.len(), TOTAL);
    assert_duplicates_bounded(&records, duplicates, running.stats.retries.get());
    all_acknowledged(&running).await;
    eprintln!(
        "Kafka down 10 s: all {TOTAL} messages in Kafka, {duplicates} duplicates; before the \
         stop {produced_before:?}; at the end of it {during:?}; now {:?}",
        running.stats.snapshot()
    );
    running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_restarted_the_source_reconnects_resubscribes_and_continues() {
    let mut broker = PrivateMosquitto::start()
        .await
        .expect("private mosquitto starts");
    let prefix = names::unique("mqmrestart");
    let topic = kafka::unique_topic("mqtt_mosq_restart");
    kafka::create_topic(&topic, 2).await;
    let kcql = format!("INSERT INTO {topic} SELECT * FROM {prefix}/d/+");
    let mut p = props(&kcql, &names::unique("cmrestart"), &[]);
    let hosts = format!("tcp://{}:{}", broker.host(), broker.port());
    set(&mut p, "connect.mqtt.hosts", &hosts);
    let running = Running::start(settings(&p));
    running.connected(1).await;

    let batch = |from: usize, n: usize| -> Vec<(String, String)> {
        (from..from + n)
            .map(|i| (format!("{prefix}/d/{}", i % 4), format!("m{i}")))
            .collect()
    };
    let publisher = broker.mqtt_options(&names::unique("pub_a"));
    mqtt::publish_messages_with(publisher, batch(0, 500), QoS::AtLeastOnce).await;
    kafka::consume_all(&topic, 500, CONSUME_TIMEOUT).await;

    // SIGKILL: Mosquitto loses the session it had not saved yet, subscription included, so
    // only a connector that subscribes again on reconnect gets the second batch.
    broker.kill().await.expect("kill mosquitto");
    broker.restart().await.expect("restart mosquitto");
    let deadline = Instant::now() + Duration::from_secs(60);
    while running.stats.connects.get() < 2 {
        assert!(
            Instant::now() < deadline,
            "the source did not reconnect within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let publisher = broker.mqtt_options(&names::unique("pub_b"));
    mqtt::publish_messages_with(publisher, batch(500, 500), QoS::AtLeastOnce).await;

    let records = kafka::consume_all(&topic, 1000, CONSUME_TIMEOUT).await;
    let (distinct, duplicates) = distinct_payloads(&records);
    assert_eq!(distinct.len(), 1000, "{duplicates} duplicates");
    assert_duplicates_bounded(&records, duplicates, running.stats.retries.get());
    all_acknowledged(&running).await;
    eprintln!(
        "Mosquitto restarted: 1000 of 1000 in Kafka, {duplicates} duplicates, stats {:?}",
        running.stats.snapshot()
    );
    running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connectors_share_a_subscription_and_deliver_everything() {
    let prefix = names::unique("mqshare");
    let group = names::unique("g");
    let topic = kafka::unique_topic("mqtt_share");
    kafka::create_topic(&topic, 2).await;
    let kcql = format!("INSERT INTO {topic} SELECT * FROM `$share/{group}/{prefix}/s/+`");
    let a = Running::start(settings(&props(&kcql, &names::unique("ca"), &[])));
    let b = Running::start(settings(&props(&kcql, &names::unique("cb"), &[])));
    a.connected(1).await;
    b.connected(1).await;
    const TOTAL: usize = 2_000;
    let messages: Vec<(String, String)> = (0..TOTAL)
        .map(|i| (format!("{prefix}/s/{}", i % 4), format!("m{i}")))
        .collect();
    mqtt::publish_messages(messages, QoS::AtLeastOnce).await;
    let records =
        kafka::consume_exactly(&topic, TOTAL, CONSUME_TIMEOUT, Duration::from_secs(2)).await;
    let distinct: BTreeSet<String> = records.iter().map(text).collect();
    assert_eq!(distinct.len(), TOTAL);
    let (sa, sb) = (a.stats.clone(), b.stats.clone());
    a.stop().await.expect("a stops");
    b.stop().await.expect("b stops");
    let (ra, rb) = (sa.received.get(), sb.received.get());
    eprintln!("shared subscription split: {ra} + {rb}");
    assert!(ra > 0 && rb > 0, "both got a share: {ra} + {rb}");
    assert_eq!(ra + rb, TOTAL as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt5_user_properties_become_headers() {
    let prefix = names::unique("mq5");
    let topic = kafka::unique_topic("mqtt_v5");
    kafka::create_topic(&topic, 1).await;
    let kcql = format!("INSERT INTO `{topic}` SELECT * FROM {prefix}/x");
    let running = Running::start(settings(&props(
        &kcql,
        &names::unique("c5"),
        &[("connect.mqtt.protocol.version", "5")],
    )));
    running.connected(1).await;
    // Publish with MQTT 5 user properties.
    let mut o = rumqttc::v5::MqttOptions::new(names::unique("p5"), mqtt::host(), mqtt::port());
    o.set_keep_alive(Duration::from_secs(10));
    let (client, mut el) = rumqttc::v5::AsyncClient::new(o, 10);
    let props = rumqttc::v5::mqttbytes::v5::PublishProperties {
        user_properties: vec![("site".into(), "north".into())],
        ..Default::default()
    };
    client
        .publish_with_properties(
            format!("{prefix}/x"),
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            false,
            "hello",
            props,
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout(Duration::from_secs(1), el.poll()).await {
            Ok(Ok(rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::PubAck(_)))) => {
                break
            }
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(e)) => panic!("v5 publisher: {e}"),
        }
        assert!(Instant::now() < deadline, "no PUBACK");
    }
    let r = kafka::consume_all(&topic, 1, Duration::from_secs(120)).await;
    assert_eq!(text(&r[0]), "hello");
    assert_eq!(r[0].header("site"), Some(&b"north"[..]));
    running.stop().await.expect("clean stop");
}
