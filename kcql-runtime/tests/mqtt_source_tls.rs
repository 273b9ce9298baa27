//! The MQTT source over TLS against a real Mosquitto: a broker started by this test with a TLS
//! listener that requires a client certificate signed by a test CA and a user name/password
//! (`per_listener_settings`), plus a plain loopback listener for the test's publisher. The
//! certificates are made with the `openssl` command line for each run (`kcql_testkit::tls::make_test_pki`).
//!
//! * CA + client certificate + password: 200 QoS 1 messages reach Kafka (127.0.0.1:9092).
//! * A wrong password: the source stops with `MqttSourceError::Refused` instead of retrying.
//! * A CA file that is not PEM: `MqttSource::new` names the file.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kcql_runtime::config::MqttSourceSettings;
use kcql_runtime::connectors::mqtt_source::{MqttSource, MqttSourceError};
use kcql_testkit::private::{private_root, ChildProcess};
use kcql_testkit::{kafka, mqtt, names, tls};
use rumqttc::{MqttOptions, QoS};
use tokio::sync::watch;

const USER: &str = "device-gateway";
const PASSWORD: &str = "s3cret";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn run(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} not runnable: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mosquitto_binary() -> PathBuf {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("mosquitto is installed (scripts/services.sh up installs it)")
}

/// A Mosquitto with a TLS listener (client certificate and password required) and a plain one.
struct TlsBroker {
    dir: PathBuf,
    tls_port: u16,
    plain_port: u16,
    _process: ChildProcess,
}

impl TlsBroker {
    fn start() -> TlsBroker {
        let dir = private_root().join(names::unique("mosquitto_tls"));
        std::fs::create_dir_all(&dir).expect("broker dir");
        tls::make_test_pki(&dir);
        run(
            &dir,
            "mosquitto_passwd",
            &["-b", "-c", "passwd", USER, PASSWORD],
        );
        let (tls_port, plain_port) = (free_port(), free_port());
        let config = format!(
            "user root
per_listener_settings true
persistence false
log_dest stdout
log_type all
listener {tls_port} 127.0.0.1
cafile {d}/ca.crt
certfile {d}/server.crt
keyfile {d}/server.key
require_certificate true
allow_anonymous false
password_file {d}/passwd
listener {plain_port} 127.0.0.1
allow_anonymous true
",
            d = dir.display()
        );
        std::fs::write(dir.join("mosquitto.conf"), config).expect("write config");
        let process = ChildProcess::spawn(
            mosquitto_binary(),
            ["-c".as_ref(), dir.join("mosquitto.conf").as_os_str()],
            std::iter::empty::<(&str, &str)>(),
        )
        .expect("start mosquitto");
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in [tls_port, plain_port] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "mosquitto (TLS) not listening on {port}:\n{}",
                    process.log_tail(30)
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        TlsBroker {
            dir,
            tls_port,
            plain_port,
            _process: process,
        }
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn props(&self, kcql: &str, password: &str) -> Vec<(String, String)> {
        vec![
            (
                "connect.mqtt.hosts".into(),
                format!("ssl://127.0.0.1:{}", self.tls_port),
            ),
            ("connect.mqtt.kcql".into(), kcql.into()),
            ("connect.mqtt.service.quality".into(), "1".into()),
            ("connect.mqtt.client.id".into(), names::unique("ctls")),
            ("connect.mqtt.username".into(), USER.into()),
            ("connect.mqtt.password".into(), password.into()),
            ("connect.mqtt.ssl.ca.cert".into(), self.file("ca.crt")),
            ("connect.mqtt.ssl.cert".into(), self.file("client.crt")),
            ("connect.mqtt.ssl.key".into(), self.file("client.key")),
            ("kafka.bootstrap.servers".into(), kafka::brokers()),
        ]
    }
}

fn settings(p: &[(String, String)]) -> MqttSourceSettings {
    MqttSourceSettings::from_properties(p).unwrap_or_else(|e| panic!("settings: {e:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificate_and_password_delivers_to_kafka() {
    let broker = TlsBroker::start();
    kafka::wait_reachable();
    let prefix = names::unique("tls");
    let topic = kafka::unique_topic("mqtt_tls");
    kafka::create_topic(&topic, 1).await;
    let kcql = format!("INSERT INTO {topic} SELECT * FROM {prefix}/d/+");
    let source = MqttSource::new(settings(&broker.props(&kcql, PASSWORD))).expect("source builds");
    let stats = source.stats();
    let (stop, rx) = watch::channel(false);
    let handle = tokio::spawn(source.run(rx));
    let deadline = Instant::now() + Duration::from_secs(20);
    while stats.snapshot().connects == 0 {
        assert!(
            !handle.is_finished(),
            "the source stopped before connecting"
        );
        assert!(Instant::now() < deadline, "no TLS connection in 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;

    const TOTAL: usize = 200;
    let messages: Vec<(String, String)> = (0..TOTAL)
        .map(|i| (format!("{prefix}/d/{}", i % 4), format!("m{i}")))
        .collect();
    let publisher = MqttOptions::new(names::unique("pub"), "127.0.0.1", broker.plain_port);
    mqtt::publish_messages_with(publisher, messages, QoS::AtLeastOnce).await;
    let records = kafka::consume_exactly(
        &topic,
        TOTAL,
        Duration::from_secs(300),
        Duration::from_secs(2),
    )
    .await;
    let distinct: std::collections::BTreeSet<String> = records
        .iter()
        .map(|r| r.payload_str().to_string())
        .collect();
    assert_eq!(distinct.len(), TOTAL);
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(60), handle)
        .await
        .expect("graceful stop within 60 s")
        .expect("source task")
        .expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_stops_the_source_with_the_brokers_reason() {
    let broker = TlsBroker::start();
    let kcql = format!("INSERT INTO t SELECT * FROM {}/x", names::unique("tlsbad"));
    let source = MqttSource::new(settings(&broker.props(&kcql, "wrong"))).expect("source builds");
    let (_stop, rx) = watch::channel(false);
    let result = tokio::time::timeout(Duration::from_secs(30), source.run(rx))
        .await
        .expect("a refused login ends the source instead of retrying forever");
    match result {
        Err(MqttSourceError::Refused(reason)) => {
            let reason = reason.to_lowercase();
            assert!(
                reason.contains("password") || reason.contains("authori"),
                "the broker's reason: {reason}"
            );
        }
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_ca_file_without_a_certificate_is_named_in_the_error() {
    let dir = private_root().join(names::unique("tls_files"));
    std::fs::create_dir_all(&dir).expect("dir");
    let ca = dir.join("ca.crt");
    std::fs::write(&ca, "not a certificate\n").expect("write");
    let p: Vec<(String, String)> = vec![
        ("connect.mqtt.hosts".into(), "ssl://127.0.0.1:8883".into()),
        (
            "connect.mqtt.kcql".into(),
            "INSERT INTO t SELECT * FROM a/b".into(),
        ),
        ("connect.mqtt.service.quality".into(), "1".into()),
        ("connect.mqtt.ssl.ca.cert".into(), ca.display().to_string()),
    ];
    match MqttSource::new(settings(&p)) {
        Err(e @ MqttSourceError::Tls { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&ca.display().to_string()), "{text}");
        }
        other => panic!("expected a TLS file error, got {other:?}"),
    }
}
