//! The MQTT source writing Confluent Avro keys and values, against the real Mosquitto and
//! Apache Kafka and the in-test Confluent Schema Registry (`kcql_testkit::registry`: the
//! documented REST subset; no real registry installs on this machine). The registry requires
//! basic auth and is **down when the messages arrive** (it comes up 3 s later): the messages
//! wait unacknowledged, then every one is written exactly once, and decodes (with
//! `apache-avro`, under the schema the source registered) back to the published values. A
//! message whose value does not fit the schema is poison: NOOP dead-letters it (class
//! `schema_error`) with its payload.

use std::collections::BTreeMap;
use std::time::Duration;

use kcql_runtime::config::MqttSourceSettings;
use kcql_runtime::connectors::mqtt_source::MqttSource;
use kcql_runtime::dead_letter::HEADER_CLASS;
use kcql_testkit::kafka;
use kcql_testkit::registry::{basic_auth_header, free_addr, StubOptions, StubRegistry};
use kcql_testkit::{mqtt, names};
use rumqttc::QoS;
use tokio::sync::watch;

const SCHEMA: &str = r#"{"type":"record","name":"Reading","fields":[
    {"name":"id","type":"string"},
    {"name":"temp","type":"double"},
    {"name":"ts","type":"long"}]}"#;

fn to_json(schema: &str, datum: &[u8]) -> serde_json::Value {
    let schema = apache_avro::Schema::parse_str(schema).expect("schema parses");
    let v = apache_avro::from_avro_datum(&schema, &mut &datum[..], None).expect("decodes");
    serde_json::Value::try_from(v).expect("as JSON")
}

/// The schema id in a Confluent payload's header, and its datum.
fn split(payload: &[u8]) -> (u32, &[u8]) {
    assert_eq!(payload[0], 0, "magic byte");
    let id = u32::from_be_bytes([payload[1], payload[2], payload[3], payload[4]]);
    (id, &payload[5..])
}

#[tokio::test(flavor = "multi_thread")]
async fn confluent_avro_records_decode_back_to_the_payloads() {
    mqtt::wait_reachable();
    kafka::wait_reachable();
    let topic = kafka::unique_topic("mqa");
    let dlq = kafka::unique_topic("mqa_dlq");
    kafka::create_topic(&topic, 1).await;
    kafka::create_topic(&dlq, 1).await;
    let mqtt_root = names::unique("mqa");
    let addr = free_addr();
    let registry_url = format!("http://{addr}");
    let kcql = format!(
        "INSERT INTO {topic} SELECT id, temperature AS temp, ts FROM {mqtt_root}/+ WITHKEY(id)"
    );
    let props: Vec<(String, String)> = [
        (
            "connect.mqtt.hosts",
            format!("tcp://{}:{}", mqtt::host(), mqtt::port()),
        ),
        ("connect.mqtt.kcql", kcql),
        ("connect.mqtt.service.quality", "1".into()),
        ("connect.mqtt.client.id", names::unique("mqa_client")),
        ("kafka.bootstrap.servers", kafka::brokers()),
        ("connect.mqtt.error.policy", "NOOP".into()),
        ("connect.mqtt.dlq.topic", dlq.clone()),
        ("connect.mqtt.value.format.out", "confluent_avro".into()),
        ("connect.mqtt.key.format.out", "confluent_avro".into()),
        ("connect.mqtt.avro.schema.out", SCHEMA.into()),
        ("schema.registry.url", registry_url),
        ("basic.auth.credentials.source", "USER_INFO".into()),
        ("basic.auth.user.info", "src:registry-pass".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let settings = MqttSourceSettings::from_properties(&props).unwrap_or_else(|e| panic!("{e:#?}"));
    let source = MqttSource::new(settings).expect("source builds");
    let stats = source.stats();
    let (stop, rx) = watch::channel(false);
    let handle = tokio::spawn(source.run(rx));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while stats.connects.get() < 1 {
        assert!(tokio::time::Instant::now() < deadline, "not connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;

    let n = 40usize;
    let poison_at = 17usize;
    let mut messages = Vec::new();
    let mut sent: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for i in 0..=n {
        let id = format!("dev-{i}");
        let payload = if i == poison_at {
            serde_json::json!({"id": id, "temperature": "hot", "ts": i})
        } else {
            let v = serde_json::json!({"id": id, "temperature": 20.0 + i as f64 / 8.0, "ts": 1_700_000_000_000i64 + i as i64});
            sent.insert(
                id.clone(),
                serde_json::json!({"id": id, "temp": v["temperature"], "ts": v["ts"]}),
            );
            v
        };
        messages.push((format!("{mqtt_root}/d{}", i % 3), payload.to_string()));
    }
    mqtt::publish_messages(messages, QoS::AtLeastOnce).await;

    // The registry is down: nothing is written yet.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let early = kafka::end_offsets_at(&kafka::brokers(), &topic).await;
    assert_eq!(
        early.values().sum::<i64>(),
        0,
        "written while the registry is down"
    );
    let registry = StubRegistry::start_with(StubOptions {
        basic_auth: Some(("src".into(), "registry-pass".into())),
        addr: Some(addr),
        ..StubOptions::default()
    })
    .await;

    let got =
        kafka::consume_exactly(&topic, n, Duration::from_secs(60), Duration::from_secs(2)).await;
    let letters = kafka::consume_all(&dlq, 1, Duration::from_secs(30)).await;
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(60), handle)
        .await
        .expect("stops in time")
        .expect("joins")
        .expect("stops cleanly");

    let registered = registry.registered();
    let schema_of = |subject: String| {
        registered
            .iter()
            .find(|(s, _, _)| *s == subject)
            .map(|(_, schema, id)| (schema.clone(), *id))
            .unwrap_or_else(|| panic!("{subject} not registered: {registered:?}"))
    };
    let (value_schema, value_id) = schema_of(format!("{topic}-value"));
    let (key_schema, key_id) = schema_of(format!("{topic}-key"));
    assert_eq!(registered.len(), 2, "{registered:?}");
    let mut decoded = BTreeMap::new();
    for r in &got {
        let (id, datum) = split(r.payload.as_deref().expect("value"));
        assert_eq!(id, value_id);
        let value = to_json(&value_schema, datum);
        let (kid, kdatum) = split(r.key.as_deref().expect("key"));
        assert_eq!(kid, key_id);
        let key = to_json(&key_schema, kdatum);
        assert_eq!(key, value["id"], "keyed by id");
        let device = value["id"].as_str().expect("id").to_string();
        assert!(decoded.insert(device, value).is_none(), "written twice");
    }
    assert_eq!(decoded, sent);

    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].header(HEADER_CLASS), Some(&b"schema_error"[..]));
    assert!(
        String::from_utf8_lossy(letters[0].payload.as_deref().unwrap_or_default())
            .contains("\"hot\""),
        "the poison payload itself"
    );
    let header = basic_auth_header("src", "registry-pass");
    assert!(registry
        .authorizations()
        .iter()
        .all(|a| a.as_deref() == Some(header.as_str())));
}
