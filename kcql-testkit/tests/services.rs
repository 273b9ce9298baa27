//! Smoke tests for the Kafka, MQTT and InfluxDB helpers against the REAL services
//! (`scripts/services.sh up`). A missing service is a panic that says how to start it, never a
//! skip.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kcql_testkit::kafka::{self, ProduceRecord};
use kcql_testkit::mqtt::{self, Subscriber};
use kcql_testkit::names::unique;
use rumqttc::QoS;

const TIMEOUT: Duration = Duration::from_secs(60);

fn keyed_records(n: usize, partitions: i32) -> Vec<ProduceRecord> {
    (0..n)
        .map(|i| {
            ProduceRecord::new(format!(r#"{{"i":{i}}}"#))
                .key(format!("key-{i}"))
                .partition(i as i32 % partitions)
                .timestamp(1_700_000_000_000 + i as i64)
                .header("idx", i.to_string())
                .header("source", "testkit")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_create_produce_consume_roundtrip() {
    let t0 = Instant::now();
    let topic = kafka::unique_topic("testkit_roundtrip");
    kafka::create_topic(&topic, 4).await;
    assert_eq!(kafka::partitions_of(&topic).await, vec![0, 1, 2, 3]);
    // Creating it again is fine ("already exists" is ok).
    kafka::create_topic(&topic, 4).await;
    let t_create = t0.elapsed();

    let delivered = kafka::produce(&topic, keyed_records(100, 4)).await;
    assert_eq!(delivered.len(), 100);
    for (i, (p, _)) in delivered.iter().enumerate() {
        assert_eq!(*p, i as i32 % 4, "record {i} landed on the wrong partition");
    }
    // Offsets per partition are 0..25 in produce order.
    let mut per_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (p, o) in &delivered {
        per_partition.entry(*p).or_default().push(*o);
    }
    for (p, offsets) in &per_partition {
        assert_eq!(
            offsets,
            &(0..25).collect::<Vec<i64>>(),
            "offsets of partition {p}"
        );
    }
    let t_produce = t0.elapsed();

    let records = kafka::consume_exactly(&topic, 100, TIMEOUT, Duration::from_millis(500)).await;
    let t_consume = t0.elapsed();
    assert_eq!(records.len(), 100);
    let mut seen = BTreeSet::new();
    let mut last_offset: BTreeMap<i32, i64> = BTreeMap::new();
    for r in &records {
        let i: usize = std::str::from_utf8(r.header("idx").expect("idx header"))
            .unwrap()
            .parse()
            .unwrap();
        assert!(seen.insert(i), "record {i} read twice");
        assert_eq!(r.key_str(), Some(format!("key-{i}").as_str()));
        assert_eq!(r.payload_str(), format!(r#"{{"i":{i}}}"#));
        assert_eq!(r.payload_json()["i"], i);
        assert_eq!(r.partition, i as i32 % 4);
        assert_eq!((r.partition, r.offset), delivered[i]);
        assert_eq!(
            r.headers,
            vec![
                ("idx".to_string(), Some(i.to_string().into_bytes())),
                ("source".to_string(), Some(b"testkit".to_vec())),
            ]
        );
        assert_eq!(r.timestamp, Some(1_700_000_000_000 + i as i64));
        // Order within a partition is kept.
        if let Some(prev) = last_offset.insert(r.partition, r.offset) {
            assert!(r.offset > prev, "partition {} went backwards", r.partition);
        }
    }
    eprintln!(
        "timings: create {t_create:?}, produce 100 {:?}, consume 100 {:?}",
        t_produce - t_create,
        t_consume - t_produce
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_tuple_records_and_json() {
    let topic = kafka::unique_topic("testkit_tuple");
    kafka::create_topic(&topic, 1).await;
    let delivered = kafka::produce(
        &topic,
        [
            (Some("k1"), "v1", Some(0), Some(1_000), vec![("h", "x")]),
            (None, "v2", None, None, vec![]),
        ],
    )
    .await;
    assert_eq!(delivered, vec![(0, 0), (0, 1)]);
    let json = kafka::produce_json(&topic, [serde_json::json!({"a": 1})]).await;
    assert_eq!(json, vec![(0, 2)]);

    let records = kafka::consume_all(&topic, 3, TIMEOUT).await;
    assert_eq!(records[0].key_str(), Some("k1"));
    assert_eq!(records[0].header("h"), Some(&b"x"[..]));
    assert_eq!(records[0].timestamp, Some(1_000));
    assert_eq!(records[1].key, None);
    assert_eq!(records[1].payload_str(), "v2");
    assert!(records[1].headers.is_empty());
    assert_eq!(records[2].payload_json(), serde_json::json!({"a": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_committed_offsets_roundtrip() {
    let t0 = Instant::now();
    let topic = kafka::unique_topic("testkit_commit");
    kafka::create_topic(&topic, 4).await;
    kafka::produce(&topic, keyed_records(20, 4)).await;

    let group = kafka::unique_group("testkit_commit");
    assert!(
        kafka::committed_offsets(&group, &topic).await.is_empty(),
        "a fresh group has no commits"
    );
    let offsets: BTreeMap<i32, i64> = [(0, 5), (1, 3), (3, 1)].into_iter().collect();
    kafka::commit_offsets(&group, &topic, &offsets).await;
    assert_eq!(kafka::committed_offsets(&group, &topic).await, offsets);

    // A later commit moves the offsets; other groups are unaffected.
    let later: BTreeMap<i32, i64> = [(0, 5), (1, 5), (2, 5), (3, 5)].into_iter().collect();
    kafka::commit_offsets(&group, &topic, &later).await;
    assert_eq!(kafka::committed_offsets(&group, &topic).await, later);
    let other = kafka::unique_group("testkit_commit_other");
    assert!(kafka::committed_offsets(&other, &topic).await.is_empty());
    eprintln!("timings: commit roundtrip {:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_idempotent_producer_is_accepted() {
    let t0 = Instant::now();
    let topic = kafka::unique_topic("testkit_idempotent");
    kafka::create_topic(&topic, 2).await;
    let records: Vec<ProduceRecord> = (0..200)
        .map(|i| ProduceRecord::new(format!("m{i}")).key(format!("k{}", i % 7)))
        .collect();
    let delivered = kafka::produce_with(&[("enable.idempotence", "true")], &topic, records).await;
    assert_eq!(delivered.len(), 200);
    let read = kafka::consume_exactly(&topic, 200, TIMEOUT, Duration::from_millis(500)).await;
    let payloads: BTreeSet<String> = read.iter().map(|r| r.payload_str().to_string()).collect();
    assert_eq!(payloads.len(), 200, "no duplicates, nothing lost");
    // Per key (same partition) the produce order is kept.
    let mut last: BTreeMap<String, usize> = BTreeMap::new();
    for r in &read {
        let i: usize = r.payload_str()[1..].parse().unwrap();
        if let Some(prev) = last.insert(r.key_str().unwrap().to_string(), i) {
            assert!(i > prev, "key {:?} out of order", r.key_str());
        }
    }
    eprintln!("timings: idempotent produce+consume 200 {:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_1000_qos1_messages_on_4_topics_keep_order() {
    let t0 = Instant::now();
    let base = unique("testkit");
    let sub = Subscriber::new(&format!("{base}/+/#"), QoS::AtLeastOnce).await;
    let topics: Vec<String> = (0..4).map(|t| format!("{base}/dev{t}/data")).collect();
    let messages: Vec<(String, String)> = (0..1000)
        .map(|i| (topics[i % 4].clone(), format!("{i}")))
        .collect();
    mqtt::publish_messages(messages, QoS::AtLeastOnce).await;
    let t_publish = t0.elapsed();

    let got = sub
        .collect_exactly(1000, TIMEOUT, Duration::from_millis(300))
        .await;
    let t_receive = t0.elapsed();
    let mut per_topic: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for m in &got {
        assert_eq!(m.qos, QoS::AtLeastOnce);
        assert!(!m.retain);
        per_topic
            .entry(m.topic.as_str())
            .or_default()
            .push(m.payload_str().parse().unwrap());
    }
    assert_eq!(per_topic.len(), 4);
    for (t, (topic, seq)) in topics.iter().zip(per_topic.values()).enumerate() {
        let want: Vec<usize> = (0..1000).filter(|i| i % 4 == t).collect();
        assert_eq!(seq, &want, "order on {topic}");
    }
    sub.close().await;
    eprintln!(
        "timings: mqtt publish 1000 QoS1 {t_publish:?}, all received {:?}",
        t_receive - t_publish
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_publish_qos0_qos2_retained_and_subscribe_collect() {
    let base = unique("testkit_q");
    // QoS 2 end to end.
    let sub = Subscriber::new(&format!("{base}/q2"), QoS::ExactlyOnce).await;
    mqtt::publish(&format!("{base}/q2"), ["a", "b", "c"], QoS::ExactlyOnce).await;
    let got = sub
        .collect_exactly(3, TIMEOUT, Duration::from_millis(200))
        .await;
    let payloads: Vec<&str> = got.iter().map(|m| m.payload_str()).collect();
    assert_eq!(payloads, ["a", "b", "c"]);
    assert!(got.iter().all(|m| m.qos == QoS::ExactlyOnce && !m.dup));
    sub.close().await;

    // QoS 0: the publisher flushes and disconnects cleanly, so loopback delivers everything.
    let sub = Subscriber::new(&format!("{base}/q0"), QoS::AtMostOnce).await;
    mqtt::publish(
        &format!("{base}/q0"),
        (0..50).map(|i| format!("{i}")),
        QoS::AtMostOnce,
    )
    .await;
    assert_eq!(sub.collect(50, TIMEOUT).await.len(), 50);
    drop(sub);

    // A retained message arrives at a later subscribe_collect, flagged retained; the
    // delivered QoS is the minimum of publish and subscription QoS.
    let retained = format!("{base}/retained");
    mqtt::publish_retained(&retained, "r1", QoS::AtLeastOnce).await;
    let got = mqtt::subscribe_collect(&retained, QoS::ExactlyOnce, 1, TIMEOUT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload_str(), "r1");
    assert!(got[0].retain);
    assert_eq!(got[0].qos, QoS::AtLeastOnce);
    // Clear it so the broker does not keep it forever.
    mqtt::publish_retained(&retained, "", QoS::AtLeastOnce).await;
}

/// The shared broker is Apache Kafka in KRaft mode (broker and controller in one node), as
/// `scripts/services.sh` runs it, not some other Kafka-protocol server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_broker_is_a_kraft_apache_kafka() {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    kafka::wait_reachable();
    let admin: AdminClient<kafka::TestContext> = kafka::client_config()
        .create_with_context(kafka::TestContext)
        .expect("admin client");
    let configs = admin
        .describe_configs(&[ResourceSpecifier::Broker(1)], &AdminOptions::new())
        .await
        .expect("describe broker 1");
    let config = configs
        .into_iter()
        .next()
        .expect("one answer")
        .expect("broker 1 described");
    let value = |name: &str| {
        config
            .get(name)
            .and_then(|entry| entry.value.clone())
            .unwrap_or_else(|| panic!("broker config {name} missing"))
    };
    assert_eq!(value("process.roles"), "broker,controller");
    assert_eq!(value("auto.create.topics.enable"), "false");
}

/// Deleting a topic removes that topic and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_deleting_one_topic_keeps_the_others() {
    let (gone, kept) = (
        kafka::unique_topic("testkit_delete_gone"),
        kafka::unique_topic("testkit_delete_kept"),
    );
    kafka::create_topic(&gone, 1).await;
    kafka::create_topic(&kept, 1).await;
    kafka::produce(&kept, [ProduceRecord::new("still here")]).await;
    kafka::delete_topic(&gone).await;
    let read = kafka::consume_exactly(&kept, 1, TIMEOUT, Duration::from_millis(200)).await;
    assert_eq!(read[0].payload_str(), "still here");
    assert_eq!(kafka::partitions_of(&kept).await, vec![0]);
}

/// Whether `name` is gone within 10 s (InfluxDB may still list a database for a moment after
/// answering its DROP).
async fn dropped_soon(name: &str) -> bool {
    for _ in 0..50 {
        if !kcql_testkit::influx::db_exists(name).await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    false
}

/// The guard drops its database at the end of an async test, i.e. inside the test's runtime
/// (where a blocking request would panic), with a name that needs quoting and URL-encoding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_database_drops_it_from_inside_a_runtime() {
    use kcql_testkit::influx::{create_db, db_exists, require_influx, unique_db, DropDatabase};
    require_influx().await;
    let name = format!("{} x&y", unique_db("testkit_drop"));
    let guard = DropDatabase::new(name.clone());
    create_db(&name).await;
    assert!(db_exists(&name).await);
    drop(guard);
    assert!(dropped_soon(&name).await, "{name:?} still exists");
}

#[tokio::test]
async fn drop_database_drops_it_from_a_current_thread_runtime() {
    use kcql_testkit::influx::{create_db, require_influx, unique_db, DropDatabase};
    require_influx().await;
    let name = unique_db("testkit_drop_ct");
    let guard = DropDatabase::new(name.clone());
    create_db(&name).await;
    drop(guard);
    assert!(dropped_soon(&name).await, "{name:?} still exists");
}

#[test]
fn services_are_reachable() {
    kafka::wait_reachable();
    mqtt::wait_reachable();
}

/// Runs one of the `probe_*` tests below in a child process with `env` set and returns its
/// combined output. The child is expected to fail.
fn run_probe(name: &str, env: &[(&str, &str)]) -> String {
    let exe = std::env::current_exe().expect("test binary path");
    let out = std::process::Command::new(exe)
        .args(["--ignored", "--exact", name, "--test-threads=1"])
        .envs(env.iter().copied())
        .output()
        .expect("run probe");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "probe {name} should fail:\n{text}");
    text
}

#[test]
fn unreachable_services_panic_with_instructions() {
    // Both probes retry for 5 s before panicking; run them side by side.
    let kafka = std::thread::spawn(|| {
        run_probe(
            "probe_unreachable_kafka",
            &[("KCQL_TEST_BROKERS", "127.0.0.1:1")],
        )
    });
    let mqtt = run_probe("probe_unreachable_mqtt", &[("KCQL_TEST_MQTT_PORT", "1")]);
    let kafka = kafka.join().expect("kafka probe thread");
    assert!(
        kafka.contains("Kafka broker at 127.0.0.1:1 is not reachable: run scripts/services.sh up"),
        "{kafka}"
    );
    assert!(
        mqtt.contains("MQTT broker at 127.0.0.1:1 is not reachable: run scripts/services.sh up"),
        "{mqtt}"
    );
}

#[tokio::test]
#[ignore = "probe: run in a child process by unreachable_services_panic_with_instructions"]
async fn probe_unreachable_kafka() {
    kafka::create_topic(&kafka::unique_topic("never"), 1).await;
}

#[tokio::test]
#[ignore = "probe: run in a child process by unreachable_services_panic_with_instructions"]
async fn probe_unreachable_mqtt() {
    mqtt::publish("never", ["x"], QoS::AtLeastOnce).await;
}
