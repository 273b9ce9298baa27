//! Every component against the shared broker's secured listeners (`scripts/services.sh up`):
//! `SSL` with a client certificate (127.0.0.1:9093) and `SASL_SSL` SCRAM-SHA-512
//! (127.0.0.1:9094), with the CA and client certificate the script made
//! (`kcql_testkit::kafka::ssl_properties` / `sasl_ssl_properties`). Topics are created, fed and
//! read back over PLAINTEXT (9092, the same cluster); only the component under test goes
//! through the secured listener.
//!
//! * The InfluxDB sink (Kafka → InfluxDB), the MQTT source (Mosquitto → Kafka) and the window
//!   processor (Kafka → Kafka) each deliver exactly the expected records over both listeners
//!   (the source and the processor producing with `compression.type=zstd`).
//! * A wrong SASL password and a CA that did not sign the broker's certificate stop each
//!   component within 10 s with librdkafka's reason, instead of retrying forever.
//! * The sink reads a topic written with each compression codec (gzip, snappy, lz4, zstd).
//! * Kafka Connect's Java client names under `consumer.override.` (`sasl.jaas.config`, a PEM
//!   trust store, a PEM key store holding the client's certificate and key) reach the broker
//!   the same way.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use kcql_runtime::config::{MqttSourceSettings, Pipeline};
use kcql_runtime::connectors::influx_sink::SinkError;
use kcql_runtime::connectors::mqtt_source::{MqttSource, MqttSourceError};
use kcql_runtime::run::{run_pipeline, Observability, RunError};
use kcql_runtime::shutdown::Shutdown;
use kcql_testkit::influx::{require_influx, select_all, unique_db, DropDatabase};
use kcql_testkit::kafka::{self, ProduceRecord};
use kcql_testkit::{mqtt, names};
use rumqttc::QoS;
use serde_json::{json, Value};
use support::{count_of, end_offsets, now_ns, settings, v1_props, wait_for, RunningSink};
use tokio::sync::watch;

/// How long a refused component may take to stop (the bound).
const STOP_WITHIN: Duration = Duration::from_secs(10);
/// Records per end-to-end run: enough to cover several partitions, small enough to be quick.
const N: usize = 24;

/// The two secured listeners.
#[derive(Debug, Clone, Copy)]
enum Listener {
    /// SASL_SSL, SCRAM-SHA-512.
    Sasl,
    /// SSL with a client certificate.
    Mtls,
}

impl Listener {
    fn properties(self) -> Vec<(String, String)> {
        match self {
            Listener::Sasl => kafka::sasl_ssl_properties(),
            Listener::Mtls => kafka::ssl_properties(),
        }
    }
}

/// How a component's client is misconfigured.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// SASL_SSL with a password the broker does not accept.
    WrongPassword,
    /// SSL whose `ssl.ca.location` is a CA that did not sign the broker's certificate.
    UntrustedCa,
}

impl Refusal {
    fn properties(self) -> Vec<(String, String)> {
        match self {
            Refusal::WrongPassword => replace(
                kafka::sasl_ssl_properties(),
                "sasl.password",
                "not-the-password",
            ),
            Refusal::UntrustedCa => {
                replace(kafka::ssl_properties(), "ssl.ca.location", &untrusted_ca())
            }
        }
    }

    /// What librdkafka's reason says.
    fn reason(self) -> &'static str {
        match self {
            Refusal::WrongPassword => "invalid credentials with SASL mechanism SCRAM-SHA-512",
            Refusal::UntrustedCa => "certificate verify failed",
        }
    }

    /// Panics unless `error` (a component's error, as shown) names the refusal's reason and
    /// leaves the password out, and `took` is under [`STOP_WITHIN`].
    fn assert_stopped(self, error: &str, took: Duration) {
        assert!(error.contains(self.reason()), "{self:?}: {error}");
        assert!(error.contains("Kafka refused the connection"), "{error}");
        assert!(!error.contains("not-the-password"), "{error}");
        assert!(
            took < STOP_WITHIN,
            "{self:?}: stopped after {took:?}: {error}"
        );
        eprintln!("{self:?}: stopped after {took:?}: {error}");
    }
}

/// The components' warnings (`RUST_LOG`, default `warn`) in the test output.
fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

fn replace(mut props: Vec<(String, String)>, key: &str, value: &str) -> Vec<(String, String)> {
    props.retain(|(k, _)| k != key);
    props.push((key.to_string(), value.to_string()));
    props
}

/// A fresh directory under the testkit's private root, named `tls-<pid>-…` so that the
/// testkit prunes it once this test process is gone.
fn scratch_dir(label: &str) -> PathBuf {
    kcql_testkit::private::private_root().join(format!(
        "tls-{}-{}",
        std::process::id(),
        names::unique(label)
    ))
}

/// A fresh self-signed CA (made with the `openssl` command line) that signed nothing the
/// broker has.
fn untrusted_ca() -> String {
    let dir: PathBuf = scratch_dir("untrusted_ca");
    std::fs::create_dir_all(&dir).expect("CA directory");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=a CA the broker never met",
        ])
        .current_dir(&dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("ca.pem").display().to_string()
}

/// `props` as `<prefix><key>` pairs of a connector's `.properties`.
fn prefixed(prefix: &str, props: &[(String, String)]) -> Vec<(String, String)> {
    props
        .iter()
        .map(|(k, v)| (format!("{prefix}{k}"), v.clone()))
        .collect()
}

// ------------------------------------------------------------------ InfluxDB sink

/// `N` JSON records `{"id","v","ts"}` on a fresh 3-partition topic; returns the topic, the
/// expected `time|id|v` rows and the end offsets.
async fn sink_input(label: &str, extra: &[(&str, &str)]) -> (String, BTreeSet<String>, Vec<i64>) {
    let topic = kafka::unique_topic(label);
    kafka::create_topic(&topic, 3).await;
    let base = now_ns() - 600_000_000_000;
    let records: Vec<ProduceRecord> = (0..N)
        .map(|i| {
            let doc = json!({"id": format!("dev-{}", i % 4), "v": i, "ts": base + i as i64});
            ProduceRecord::new(doc.to_string()).partition((i % 3) as i32)
        })
        .collect();
    let produced = kafka::produce_with(extra, &topic, records).await;
    let want = (0..N)
        .map(|i| format!("{}|dev-{}|{i}", base + i as i64, i % 4))
        .collect();
    let ends = end_offsets(&produced).into_values().collect();
    (topic, want, ends)
}

fn sink_kcql(measurement: &str, topic: &str) -> String {
    format!("INSERT INTO {measurement} SELECT v FROM {topic} WITHTIMESTAMP ts TIMESTAMPUNIT = NANOSECONDS WITHTAG(id)")
}

/// Waits until `measurement` in `db` holds exactly `want` (as `time|id|v` rows).
async fn assert_points(db: &str, measurement: &str, want: &BTreeSet<String>) {
    wait_for(
        &format!("{} points in {db}.{measurement}", want.len()),
        Duration::from_secs(60),
        || async move {
            let answer = kcql_testkit::influx::influxql(
                Some(db),
                &format!("SELECT count(v) FROM {measurement}"),
            )
            .await;
            match count_of(&answer) as usize {
                n if n >= want.len() => Ok(()),
                n => Err(format!("{n} points")),
            }
        },
    )
    .await;
    let rows = select_all(db, measurement).await;
    let got: BTreeSet<String> = rows
        .iter()
        .map(|r| {
            let time = r["time"]
                .as_i64()
                .map_or_else(|| r["time"].to_string(), |t| t.to_string());
            let id = r["id"].as_str().unwrap_or("?");
            format!("{time}|{id}|{}", r["v"])
        })
        .collect();
    assert_eq!(rows.len(), want.len(), "{measurement}: {rows:?}");
    assert_eq!(&got, want, "{measurement}");
}

/// The sink over `kafka_props` (already prefixed): the `N` records become exactly their
/// points, and the consumer group commits the ends.
async fn sink_delivers(label: &str, kafka_props: Vec<(String, String)>) {
    init_logs();
    require_influx().await;
    let (topic, want, ends) = sink_input(label, &[]).await;
    let group = kafka::unique_group(label);
    let db = unique_db(label);
    let _drop = DropDatabase::new(&db);
    kcql_testkit::influx::create_db(&db).await;
    let url = kcql_testkit::influx::influx_url();
    let kcql = sink_kcql("m", &topic);
    let mut props: Vec<(String, String)> = v1_props(label, &url, &db, &group, &kcql, "")
        .into_iter()
        .filter(|(k, _)| *k != "kafka.bootstrap.servers")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    props.extend(kafka_props);
    let pairs: Vec<(&str, &str)> = props
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let sink = RunningSink::start(settings(&pairs));
    assert_points(&db, "m", &want).await;
    sink.stop().await.expect("the sink stops cleanly");
    let committed = kafka::committed_offsets(&group, &topic).await;
    assert_eq!(
        committed.into_values().collect::<Vec<_>>(),
        ends,
        "committed offsets"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sink_over_sasl_ssl_writes_exact_points() {
    sink_delivers(
        "sec_sink_sasl",
        prefixed("kafka.", &Listener::Sasl.properties()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sink_over_mtls_writes_exact_points() {
    sink_delivers(
        "sec_sink_mtls",
        prefixed("kafka.", &Listener::Mtls.properties()),
    )
    .await;
}

/// Kafka Connect's spelling: `consumer.override.` keys with a JAAS entry and a PEM trust store.
#[tokio::test(flavor = "multi_thread")]
async fn sink_over_sasl_ssl_with_java_client_names() {
    kafka::wait_reachable_at(kafka::SASL_SSL_BROKERS);
    let jaas = format!(
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{}\" password=\"{}\";",
        kafka::SCRAM_USER,
        kafka::SCRAM_PASSWORD
    );
    let props = [
        ("bootstrap.servers", kafka::SASL_SSL_BROKERS.to_string()),
        ("security.protocol", "SASL_SSL".to_string()),
        ("sasl.mechanism", kafka::SCRAM_MECHANISM.to_string()),
        ("sasl.jaas.config", jaas),
        ("ssl.truststore.type", "PEM".to_string()),
        ("ssl.truststore.location", kafka::ca_file()),
    ]
    .map(|(k, v)| (k.to_string(), v));
    sink_delivers("sec_sink_java", prefixed("consumer.override.", &props)).await;
}

/// A Java PEM key store (the client's certificate and key in one file) over mTLS.
#[tokio::test(flavor = "multi_thread")]
async fn sink_over_mtls_with_a_java_pem_keystore() {
    kafka::wait_reachable_at(kafka::SSL_BROKERS);
    let dir = scratch_dir("pem_keystore");
    std::fs::create_dir_all(&dir).expect("keystore directory");
    let keystore = dir.join("client-keystore.pem");
    let mut pem = std::fs::read(kafka::tls_file("client.pem")).expect("client.pem");
    pem.extend(std::fs::read(kafka::tls_file("client.key")).expect("client.key"));
    std::fs::write(&keystore, pem).expect("keystore");
    let props = [
        ("bootstrap.servers", kafka::SSL_BROKERS.to_string()),
        ("security.protocol", "SSL".to_string()),
        ("ssl.truststore.location", kafka::ca_file()),
        ("ssl.truststore.type", "PEM".to_string()),
        ("ssl.keystore.type", "PEM".to_string()),
        ("ssl.keystore.location", keystore.display().to_string()),
    ]
    .map(|(k, v)| (k.to_string(), v));
    sink_delivers("sec_sink_javatls", prefixed("consumer.override.", &props)).await;
}

/// Runs a sink with `refusal`'s client settings on a topic with records and checks it stops
/// in time with the reason.
async fn sink_is_refused(label: &str, refusal: Refusal) {
    init_logs();
    require_influx().await;
    let (topic, _, _) = sink_input(label, &[]).await;
    let db = unique_db(label);
    let _drop = DropDatabase::new(&db);
    kcql_testkit::influx::create_db(&db).await;
    let url = kcql_testkit::influx::influx_url();
    let kcql = sink_kcql("m", &topic);
    let group = kafka::unique_group(label);
    let mut props: Vec<(String, String)> = v1_props(label, &url, &db, &group, &kcql, "")
        .into_iter()
        .filter(|(k, _)| *k != "kafka.bootstrap.servers")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    props.extend(prefixed("kafka.", &refusal.properties()));
    let pairs: Vec<(&str, &str)> = props
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let started = Instant::now();
    let sink = RunningSink::start(settings(&pairs));
    let result = tokio::time::timeout(STOP_WITHIN * 3, sink.task)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{refusal:?}: the sink still runs after {:?}",
                STOP_WITHIN * 3
            )
        })
        .expect("sink task");
    let took = started.elapsed();
    let error = result.expect_err("the sink must stop with an error");
    assert!(matches!(error, SinkError::Refused { .. }), "{error:?}");
    refusal.assert_stopped(&error.to_string(), took);
}

#[tokio::test(flavor = "multi_thread")]
async fn sink_with_a_wrong_password_stops_with_the_reason() {
    sink_is_refused("sec_sink_pw", Refusal::WrongPassword).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sink_with_an_untrusted_ca_stops_with_the_reason() {
    sink_is_refused("sec_sink_ca", Refusal::UntrustedCa).await;
}

// ------------------------------------------------------------------ MQTT source

fn source_settings(
    prefix: &str,
    topic: &str,
    kafka_props: &[(String, String)],
) -> MqttSourceSettings {
    let mut p = vec![
        (
            "connect.mqtt.hosts".to_string(),
            format!("tcp://{}:{}", mqtt::host(), mqtt::port()),
        ),
        (
            "connect.mqtt.kcql".to_string(),
            format!("INSERT INTO {topic} SELECT * FROM {prefix}/+"),
        ),
        ("connect.mqtt.service.quality".to_string(), "1".to_string()),
        (
            "connect.mqtt.client.id".to_string(),
            names::unique("sec_src"),
        ),
        ("kafka.compression.type".to_string(), "zstd".to_string()),
    ];
    p.extend(prefixed("kafka.", kafka_props));
    MqttSourceSettings::from_properties(&p).unwrap_or_else(|e| panic!("settings: {e:#?}"))
}

async fn source_delivers(label: &str, listener: Listener) {
    init_logs();
    mqtt::wait_reachable();
    let prefix = names::unique(label);
    let topic = kafka::unique_topic(label);
    kafka::create_topic(&topic, 2).await;
    let source = MqttSource::new(source_settings(&prefix, &topic, &listener.properties()))
        .expect("source builds");
    let stats = source.stats();
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(source.run(rx));
    wait_for(
        "the source's MQTT connection",
        Duration::from_secs(20),
        || {
            let stats = stats.clone();
            let finished = task.is_finished();
            async move {
                assert!(!finished, "the source stopped before connecting");
                if stats.connects.get() >= 1 {
                    Ok(())
                } else {
                    Err("not connected".to_string())
                }
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await; // SUBSCRIBE processed
    let messages: Vec<(String, String)> = (0..N)
        .map(|i| {
            (
                format!("{prefix}/d{}", i % 3),
                json!({"seq": i}).to_string(),
            )
        })
        .collect();
    mqtt::publish_messages(messages.clone(), QoS::AtLeastOnce).await;
    let records =
        kafka::consume_exactly(&topic, N, Duration::from_secs(60), Duration::from_secs(2)).await;
    let got: BTreeSet<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r.key_str().unwrap_or("").to_string(),
                r.payload_str().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        messages.into_iter().collect(),
        "records in Kafka (key = MQTT topic)"
    );
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("the source stops")
        .expect("source task")
        .expect("the source stops cleanly");
}

#[tokio::test(flavor = "multi_thread")]
async fn source_over_sasl_ssl_delivers_every_message() {
    source_delivers("sec_src_sasl", Listener::Sasl).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn source_over_mtls_delivers_every_message() {
    source_delivers("sec_src_mtls", Listener::Mtls).await;
}

async fn source_is_refused(label: &str, refusal: Refusal) {
    init_logs();
    mqtt::wait_reachable();
    let prefix = names::unique(label);
    let topic = kafka::unique_topic(label);
    kafka::create_topic(&topic, 1).await;
    let source = MqttSource::new(source_settings(&prefix, &topic, &refusal.properties()))
        .expect("source builds");
    let (_stop, rx) = watch::channel(false);
    let started = Instant::now();
    let result = tokio::time::timeout(STOP_WITHIN * 3, source.run(rx))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{refusal:?}: the source still runs after {:?}",
                STOP_WITHIN * 3
            )
        });
    let took = started.elapsed();
    let error = result.expect_err("the source must stop with an error");
    assert!(
        matches!(error, MqttSourceError::KafkaRefused(_)),
        "{error:?}"
    );
    refusal.assert_stopped(&error.to_string(), took);
}

#[tokio::test(flavor = "multi_thread")]
async fn source_with_a_wrong_password_stops_with_the_reason() {
    source_is_refused("sec_src_pw", Refusal::WrongPassword).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn source_with_an_untrusted_ca_stops_with_the_reason() {
    source_is_refused("sec_src_ca", Refusal::UntrustedCa).await;
}

// ------------------------------------------------------------------ window processor

/// A pipeline file with one window processor over `props` (the shared `[kafka.properties]`).
fn processor_pipeline(
    name: &str,
    input: &str,
    output: &str,
    props: &[(String, String)],
) -> Pipeline {
    let mut text = String::from("[runtime]\nmetrics = \"off\"\n[kafka.properties]\n");
    for (k, v) in props {
        text.push_str(&format!("{} = {}\n", json!(k), json!(v)));
    }
    text.push_str("\"compression.type\" = \"zstd\"\n");
    text.push_str(&format!(
        "[[processor.window]]\nname = \"{name}\"\ngroup_id = \"{}\"\nkcql = \"INSERT INTO {output} SELECT id, COUNT(*) AS n, SUM(v) AS total FROM {input} GROUP BY id WINDOW TUMBLING(10s) WITHTIMESTAMP ts\"\n",
        kafka::unique_group(name)
    ));
    Pipeline::from_toml_str(&text, "security.toml").unwrap_or_else(|e| panic!("{e:#?}"))
}

/// `N` readings of devices a, b (event times 0..N s after a round minute) and one record far
/// ahead that closes their windows; returns the expected `(id, window_start) → (n, total)`.
async fn processor_input(topic: &str) -> BTreeSet<String> {
    let base: i64 = 1_733_011_200_000;
    let mut records: Vec<ProduceRecord> = (0..N)
        .map(|i| {
            let id = if i % 2 == 0 { "a" } else { "b" };
            ProduceRecord::new(json!({"id": id, "v": i, "ts": base + 1000 * i as i64}).to_string())
                .partition(0)
        })
        .collect();
    records.push(
        ProduceRecord::new(json!({"id": "pusher", "v": 0, "ts": base + 600_000}).to_string())
            .partition(0),
    );
    kafka::produce(topic, records).await;
    let mut windows: std::collections::BTreeMap<(String, i64), (i64, i64)> = Default::default();
    for i in 0..N as i64 {
        let id = if i % 2 == 0 { "a" } else { "b" };
        let start = base + (1000 * i / 10_000) * 10_000;
        let w = windows.entry((id.to_string(), start)).or_default();
        w.0 += 1;
        w.1 += i;
    }
    windows
        .into_iter()
        .map(|((id, start), (n, total))| format!("{id}|{start}|{n}|{total}"))
        .collect()
}

async fn processor_delivers(label: &str, listener: Listener) {
    init_logs();
    let input = kafka::unique_topic(&format!("{label}_in"));
    let output = kafka::unique_topic(&format!("{label}_out"));
    kafka::create_topic(&input, 1).await;
    kafka::create_topic(&output, 1).await;
    let want = processor_input(&input).await;
    let pipeline = processor_pipeline(label, &input, &output, &listener.properties());
    let shutdown = Shutdown::new();
    let task = tokio::spawn(run_pipeline(
        pipeline,
        shutdown.clone(),
        Observability::default(),
        |_| {},
    ));
    let records = kafka::consume_exactly(
        &output,
        want.len(),
        Duration::from_secs(60),
        Duration::from_secs(2),
    )
    .await;
    shutdown.trigger();
    task.await
        .expect("pipeline task")
        .expect("the processor stops cleanly");
    let got: BTreeSet<String> = records
        .iter()
        .map(|r| {
            let v: Value = r.payload_json();
            format!(
                "{}|{}|{}|{}",
                v["id"].as_str().unwrap_or("?"),
                v["window_start"],
                v["n"],
                v["total"].as_f64().map_or(-1, |t| t as i64)
            )
        })
        .collect();
    assert_eq!(got, want, "windows");
}

#[tokio::test(flavor = "multi_thread")]
async fn processor_over_sasl_ssl_emits_exact_windows() {
    processor_delivers("sec_proc_sasl", Listener::Sasl).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn processor_over_mtls_emits_exact_windows() {
    processor_delivers("sec_proc_mtls", Listener::Mtls).await;
}

async fn processor_is_refused(label: &str, refusal: Refusal) {
    init_logs();
    let input = kafka::unique_topic(&format!("{label}_in"));
    kafka::create_topic(&input, 1).await;
    let pipeline = processor_pipeline(label, &input, &input, &refusal.properties());
    let started = Instant::now();
    let result = tokio::time::timeout(
        STOP_WITHIN * 3,
        run_pipeline(pipeline, Shutdown::new(), Observability::default(), |_| {}),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{refusal:?}: the processor still runs after {:?}",
            STOP_WITHIN * 3
        )
    });
    let took = started.elapsed();
    let error = result.expect_err("the processor must stop with an error");
    assert!(matches!(error, RunError::Components(_)), "{error:?}");
    refusal.assert_stopped(&error.to_string(), took);
}

#[tokio::test(flavor = "multi_thread")]
async fn processor_with_a_wrong_password_stops_with_the_reason() {
    processor_is_refused("sec_proc_pw", Refusal::WrongPassword).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn processor_with_an_untrusted_ca_stops_with_the_reason() {
    processor_is_refused("sec_proc_ca", Refusal::UntrustedCa).await;
}

// ------------------------------------------------------------------ compression

/// One topic per codec (the producer and the topic both compress with it); one sink with a
/// statement per topic writes every record of each as its exact point.
#[tokio::test(flavor = "multi_thread")]
async fn sink_reads_topics_of_every_compression_codec() {
    require_influx().await;
    let db = unique_db("sec_codecs");
    let _drop = DropDatabase::new(&db);
    kcql_testkit::influx::create_db(&db).await;
    let mut statements = Vec::new();
    let mut expected = Vec::new();
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = kafka::unique_topic(&format!("codec_{codec}"));
        kafka::create_topic_with_config(&topic, 1, &[("compression.type", codec)]).await;
        let base = now_ns() - 600_000_000_000;
        let records: Vec<ProduceRecord> = (0..N)
            .map(|i| {
                let doc = json!({"id": format!("dev-{}", i % 4), "v": i, "ts": base + i as i64});
                ProduceRecord::new(doc.to_string())
            })
            .collect();
        kafka::produce_with(
            &[("compression.type", codec), ("linger.ms", "50")],
            &topic,
            records,
        )
        .await;
        statements.push(sink_kcql(codec, &topic));
        expected.push((
            codec,
            (0..N)
                .map(|i| format!("{}|dev-{}|{i}", base + i as i64, i % 4))
                .collect::<BTreeSet<_>>(),
        ));
    }
    let url = kcql_testkit::influx::influx_url();
    let group = kafka::unique_group("sec_codecs");
    let kcql = statements.join(";");
    let brokers = kafka::brokers();
    let props = v1_props("sec-codecs", &url, &db, &group, &kcql, &brokers);
    let sink = RunningSink::start(settings(&props));
    for (codec, want) in &expected {
        assert_points(&db, codec, want).await;
    }
    sink.stop().await.expect("the sink stops cleanly");
}
