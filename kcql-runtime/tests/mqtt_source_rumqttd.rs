//! The MQTT source against the embedded broker the example uses by default (rumqttd, in this
//! process) and the real Kafka broker (Apache Kafka, 127.0.0.1:9092, `scripts/services.sh
//! up`): 1 000 QoS 1 messages on 8 device topics arrive exactly once, keyed by topic, in order
//! per device, and every one is acknowledged to rumqttd after Kafka confirmed it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kcql_runtime::config::MqttSourceSettings;
use kcql_runtime::connectors::mqtt_source::MqttSource;
use kcql_testkit::{embedded, kafka, mqtt, names};
use rumqttc::{MqttOptions, QoS};
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_qos1_messages_through_embedded_rumqttd_arrive_exactly_once_in_order() {
    let broker = embedded::start_mqtt_broker().expect("rumqttd starts");
    kafka::wait_reachable();
    let prefix = names::unique("rumqttd");
    let topic = kafka::unique_topic("mqtt_rumqttd");
    kafka::create_topic(&topic, 2).await;
    let props: Vec<(String, String)> = vec![
        ("connect.mqtt.hosts".into(), format!("tcp://{broker}")),
        (
            "connect.mqtt.kcql".into(),
            format!("INSERT INTO {topic} SELECT * FROM {prefix}/d/+"),
        ),
        ("connect.mqtt.service.quality".into(), "1".into()),
        ("connect.mqtt.client.id".into(), names::unique("crumqttd")),
        ("kafka.bootstrap.servers".into(), kafka::brokers()),
    ];
    let settings =
        MqttSourceSettings::from_properties(&props).unwrap_or_else(|e| panic!("settings: {e:#?}"));
    let source = MqttSource::new(settings).expect("source builds");
    let stats = source.stats();
    let (stop, rx) = watch::channel(false);
    let handle = tokio::spawn(source.run(rx));
    let deadline = Instant::now() + Duration::from_secs(20);
    while stats.snapshot().connects == 0 {
        assert!(
            Instant::now() < deadline,
            "source did not connect to rumqttd"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;

    const TOTAL: usize = 1000;
    let messages: Vec<(String, String)> = (0..TOTAL)
        .map(|i| (format!("{prefix}/d/{}", i % 8), format!("{}:{i}", i % 8)))
        .collect();
    let mut options =
        MqttOptions::new(names::unique("pub"), broker.ip().to_string(), broker.port());
    options.set_keep_alive(Duration::from_secs(30));
    mqtt::publish_messages_with(options, messages, QoS::AtLeastOnce).await;

    let records = kafka::consume_exactly(
        &topic,
        TOTAL,
        Duration::from_secs(300),
        Duration::from_secs(2),
    )
    .await;
    let mut seen = BTreeSet::new();
    let mut last: BTreeMap<String, (i32, usize)> = BTreeMap::new();
    for r in &records {
        let payload = r.payload_str().to_string();
        assert!(seen.insert(payload.clone()), "duplicate {payload}");
        let (device, seq) = payload.split_once(':').expect("device:seq");
        let seq: usize = seq.parse().expect("seq");
        let key = r.key_str().expect("keyed").to_string();
        assert_eq!(key, format!("{prefix}/d/{device}"), "key is the MQTT topic");
        if let Some((partition, previous)) = last.get(&key) {
            assert_eq!(*partition, r.partition, "{key} spread over partitions");
            assert!(seq > *previous, "{key}: {seq} after {previous}");
        }
        last.insert(key, (r.partition, seq));
    }
    assert_eq!(seen.len(), TOTAL);

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = stats.snapshot();
        if s.acked == TOTAL as u64 && s.in_flight == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "not all acknowledged: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(60), handle)
        .await
        .expect("graceful stop within 60 s")
        .expect("source task")
        .expect("clean stop");
}
