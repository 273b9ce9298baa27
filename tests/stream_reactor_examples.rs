//! The Stream Reactor connector files of `examples/stream-reactor/` run unchanged with
//! `kcql run`, against the real services: Mosquitto, Apache Kafka's SASL_SSL (SCRAM) and
//! mutual-TLS listeners, InfluxDB 1.6.7 over HTTP and over HTTPS with a private CA. The
//! Schema Registry is the testkit's stand-in (the documented Confluent REST subset, basic
//! auth required): no Confluent-compatible registry installs from this machine's package
//! registries.
//!
//! Everything the files leave to the deployment comes from the environment, through their
//! `${env:…}` references: addresses, passwords, CA and key store paths.
//!
//! One `kcql run` process runs the three files: the MQTT source writes Confluent Avro to
//! `sr_example_readings`; the HTTP sink and the HTTPS sink each write every reading to their
//! database. The test publishes known readings (and one that does not fit the Avro schema)
//! and requires exactly the expected points in both databases, the misfit in the source's
//! dead-letter topic, the schema registered with the registry's password, and a clean exit
//! on SIGTERM.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kcql_testkit::bin::{kcql_binary, RUNNING};
use kcql_testkit::influx::{self, quote};
use kcql_testkit::kafka;
use kcql_testkit::kafka as security;
use kcql_testkit::mqtt;
use kcql_testkit::private::ChildProcess;
use kcql_testkit::registry::{basic_auth_header, StubOptions, StubRegistry};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rumqttc::QoS;
use serde_json::Value;

const TOPIC: &str = "sr_example_readings";
const SINK_DLQ: &str = "sr_example_dlq";
const SOURCE_DLQ: &str = "sr_example_mqtt_dlq";
const DB: &str = "sr_example";
const DB_HTTPS: &str = "sr_example_https";
const GROUPS: [&str; 2] = [
    "connect-sr-example-influxdb-sink",
    "connect-sr-example-influxdb-sink-https",
];
const DEVICES: usize = 4;
const READINGS: usize = 25;
/// 2025-01-01T00:00:00Z: fixed event times, so the expected points are fixed too.
const BASE_MS: i64 = 1_735_689_600_000;
const REGISTRY_USER: &str = "connect";
const REGISTRY_PASSWORD: &str = "registry-secret";
const INFLUX_PASSWORD: &str = "influx-secret";
const WAIT: Duration = Duration::from_secs(90);

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/stream-reactor")
        .join(name)
}

/// One reading: `(id, ts, temperature, humidity)`.
type Reading = (String, i64, f64, f64);

fn readings() -> Vec<Reading> {
    (0..READINGS)
        .flat_map(|i| {
            (0..DEVICES).map(move |d| {
                (
                    format!("dev-{d}"),
                    BASE_MS + i as i64 * 1_000 + d as i64,
                    18.0 + d as f64 + i as f64 / 8.0,
                    40.0 + i as f64 / 4.0,
                )
            })
        })
        .collect()
}

/// A clean slate for the files' fixed names: topics and consumer groups deleted (and the
/// topics made again), databases dropped and made again.
async fn reset() {
    for topic in [TOPIC, SINK_DLQ, SOURCE_DLQ] {
        kafka::delete_topic(topic).await;
    }
    let admin: AdminClient<DefaultClientContext> = kafka::client_config()
        .create()
        .unwrap_or_else(|e| panic!("cannot create an admin client: {e}"));
    // Unknown groups are fine: the first run has none.
    let _ = admin
        .delete_groups(&GROUPS, &AdminOptions::new())
        .await
        .unwrap_or_else(|e| panic!("cannot delete the consumer groups: {e}"));
    kafka::create_topic(TOPIC, 3).await;
    kafka::create_topic(SINK_DLQ, 1).await;
    kafka::create_topic(SOURCE_DLQ, 1).await;
    forget_mqtt_session().await;
    influx::influxql_ok(None, &format!("DROP DATABASE {}", quote(DB))).await;
    influx::influxql_ok(None, &format!("CREATE DATABASE {}", quote(DB))).await;
    influx::influxql_tls(None, &format!("DROP DATABASE {}", quote(DB_HTTPS))).await;
    influx::influxql_tls(None, &format!("CREATE DATABASE {}", quote(DB_HTTPS))).await;
}

/// Ends the source's persistent MQTT session (a clean-session connection with its client id),
/// so every run starts as the first one did: with no subscription at the broker.
async fn forget_mqtt_session() {
    let (client, mut events) =
        rumqttc::AsyncClient::new(mqtt::options("sr-example-mqtt-source"), 10);
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.poll()).await {
            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_)))) => break,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("cannot reach Mosquitto to end the example's session: {e}"),
            Err(_) => panic!("Mosquitto did not answer within 10 s"),
        }
    }
    let _ = client.disconnect().await;
    while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_secs(2), events.poll()).await {
        if matches!(
            event,
            rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)
        ) {
            break;
        }
    }
}

/// The client certificate and key in one PEM file, as a PEM key store holds them.
fn client_keystore(dir: &Path) -> PathBuf {
    let cert = std::fs::read_to_string(security::tls_file("client.pem")).unwrap();
    let key = std::fs::read_to_string(security::tls_file("client.key")).unwrap();
    let path = dir.join("client-keystore.pem");
    std::fs::write(&path, format!("{cert}{key}")).unwrap();
    path
}

/// The rows of `SELECT * FROM sensor` by `(id, time in ms)`.
fn by_point(answer: &Value) -> BTreeMap<(String, i64), serde_json::Map<String, Value>> {
    influx::rows(answer)
        .into_iter()
        .map(|row| {
            let id = row["id"].as_str().unwrap_or_default().to_string();
            let ms = row["time"].as_i64().unwrap_or_default() / 1_000_000;
            ((id, ms), row)
        })
        .collect()
}

async fn wait_points(db: &str, https: bool, n: usize, kcql: &ChildProcess) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let statement = "SELECT * FROM sensor";
        let answer = if https {
            influx::influxql_tls(Some(db), statement).await
        } else {
            influx::influxql(Some(db), statement).await
        };
        let got = influx::rows(&answer).len();
        if got >= n {
            return answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{db}: {got} of {n} points within {WAIT:?}: {answer}\nkcql run's log:\n{}",
            kcql.log_tail(80)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_reactor_example_files_run_unchanged() {
    influx::require_influx().await;
    influx::require_influx_tls().await;
    mqtt::wait_reachable();
    kafka::wait_reachable_at(security::SASL_SSL_BROKERS);
    kafka::wait_reachable_at(security::SSL_BROKERS);
    reset().await;
    let registry = StubRegistry::start_with(StubOptions {
        basic_auth: Some((REGISTRY_USER.into(), REGISTRY_PASSWORD.into())),
        ..StubOptions::default()
    })
    .await;
    let scratch = std::env::temp_dir().join(format!("kcql-sr-examples-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let keystore = client_keystore(&scratch);

    let env: Vec<(&str, String)> = vec![
        ("RUST_LOG", "info,rdkafka=warn".into()),
        (
            "MQTT_URL",
            format!("tcp://{}:{}", mqtt::host(), mqtt::port()),
        ),
        ("KAFKA_SASL_BOOTSTRAP", security::SASL_SSL_BROKERS.into()),
        ("KAFKA_SSL_BOOTSTRAP", security::SSL_BROKERS.into()),
        ("KAFKA_SASL_PASSWORD", security::SCRAM_PASSWORD.into()),
        ("KAFKA_CA_PEM", security::ca_file()),
        ("KAFKA_CLIENT_KEYSTORE_PEM", keystore.display().to_string()),
        ("SCHEMA_REGISTRY_URL", registry.url().to_string()),
        (
            "SCHEMA_REGISTRY_USER_INFO",
            format!("{REGISTRY_USER}:{REGISTRY_PASSWORD}"),
        ),
        ("INFLUX_URL", influx::influx_url()),
        ("INFLUX_HTTPS_URL", influx::influx_tls_url()),
        (
            "INFLUX_CA_PEM",
            influx::influx_tls_ca().display().to_string(),
        ),
        ("INFLUX_PASSWORD", INFLUX_PASSWORD.into()),
    ];
    let files = [
        "mqtt-source.properties",
        "influxdb-sink.properties",
        "influxdb-sink-https.properties",
    ];
    let mut args: Vec<std::ffi::OsString> = vec!["run".into(), "--metrics".into(), "off".into()];
    args.extend(files.iter().map(|f| example(f).into_os_string()));
    let mut kcql = ChildProcess::spawn(kcql_binary(), &args, env.clone())
        .unwrap_or_else(|e| panic!("cannot spawn kcql run: {e}"));
    assert!(
        kcql.wait_for_output(RUNNING, Duration::from_secs(60)).await,
        "kcql run did not start:\n{}",
        kcql.log_tail(60)
    );

    // The persistent session keeps messages only for a subscription the broker has granted.
    assert!(
        kcql.wait_for_output("MQTT subscribed", Duration::from_secs(30))
            .await,
        "the source did not subscribe:\n{}",
        kcql.log_tail(60)
    );
    let readings = readings();
    let mut messages: Vec<(String, String)> = readings
        .iter()
        .map(|(id, ts, t, h)| {
            (
                format!("sr-example/sensors/{id}"),
                serde_json::json!({"id": id, "ts": ts, "temperature": t, "humidity": h})
                    .to_string(),
            )
        })
        .collect();
    // A reading whose temperature is text: it does not fit the Avro schema.
    let misfit = r#"{"id":"dev-0","ts":1735689600500,"temperature":"warm","humidity":1.0}"#;
    messages.insert(7, ("sr-example/sensors/dev-0".into(), misfit.into()));
    mqtt::publish_messages(messages, QoS::AtLeastOnce).await;

    let plain = by_point(&wait_points(DB, false, readings.len(), &kcql).await);
    let secure = by_point(&wait_points(DB_HTTPS, true, readings.len(), &kcql).await);
    assert_eq!(plain.len(), readings.len());
    assert_eq!(secure.len(), readings.len());
    for (id, ts, t, h) in &readings {
        let key = (id.clone(), *ts);
        let row = plain
            .get(&key)
            .unwrap_or_else(|| panic!("{key:?} missing in {DB}"));
        assert_eq!(row["temperature"].as_f64(), Some(*t), "{row:?}");
        assert_eq!(row["humidity"].as_f64(), Some(*h), "{row:?}");
        let row = secure
            .get(&key)
            .unwrap_or_else(|| panic!("{key:?} missing in {DB_HTTPS}"));
        assert_eq!(row["temperature"].as_f64(), Some(*t), "{row:?}");
        assert_eq!(row["site"].as_str(), Some("lab"), "{row:?}");
        assert!(
            row.get("humidity").is_none_or(Value::is_null),
            "IGNORE humidity: {row:?}"
        );
    }

    let dead = kafka::consume_all(SOURCE_DLQ, 1, WAIT).await;
    assert_eq!(dead[0].payload_str(), misfit);
    let subjects: Vec<String> = registry
        .registered()
        .into_iter()
        .map(|(subject, _, _)| subject)
        .collect();
    assert!(
        subjects.iter().any(|s| s == &format!("{TOPIC}-value")),
        "{subjects:?}"
    );
    let expected = basic_auth_header(REGISTRY_USER, REGISTRY_PASSWORD);
    assert!(
        registry
            .authorizations()
            .iter()
            .all(|a| a.as_deref() == Some(expected.as_str())),
        "every registry request carries the password"
    );
    let log = kcql.output();
    for secret in [security::SCRAM_PASSWORD, REGISTRY_PASSWORD, INFLUX_PASSWORD] {
        assert!(!log.contains(secret), "a secret in the log:\n{log}");
    }

    kcql.sigterm().expect("SIGTERM");
    let status = kcql
        .wait_with_timeout(Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("kcql run did not stop: {e:?}\n{}", kcql.log_tail(40)));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        kcql.log_tail(40)
    );
    let _ = std::fs::remove_dir_all(scratch);
}
