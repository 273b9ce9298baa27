//! A private Apache Kafka broker (KRaft, broker + controller in one JVM) with its own data
//! directory and ports.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::service::{Launch, PrivateService, ServiceKind};
use super::wrapper::deref_to_service;
use super::PrivateServiceError;

const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Environment variable naming the directory of Kafka's jars (default: the one
/// `scripts/services.sh up kafka` fills, `<services dir>/kafka/libs`).
pub const KAFKA_LIBS_ENV: &str = "KCQL_KAFKA_LIBS";

/// The cluster id every private broker is formatted with (base64 of `kcql-private-kaf`): each
/// broker has its own data directory, so they need not differ.
const CLUSTER_ID: &str = "a2NxbC1wcml2YXRlLWthZg";

/// The JVM options of a private broker: small heap, serial GC and the client compiler, which
/// start fastest and cost least on a 2-core machine running several of them beside the tests.
const JVM_OPTIONS: &[&str] = &[
    "-Xms64m",
    "-Xmx320m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
];

/// A private Apache Kafka 4 broker on `127.0.0.1:<port>` (PLAINTEXT; its KRaft controller on
/// a second port), with the shared broker's settings (`scripts/kafka/broker.properties`): topics are not
/// auto-created ([`create_topic`](Self::create_topic)), one replica for everything, no initial
/// rebalance delay. Its storage is formatted on first start and kept across
/// [`restart`](PrivateService::restart), so a [`kill`](PrivateService::kill) + restart is a
/// real broker crash and recovery. Dereferences to [`PrivateService`].
///
/// It runs `java` with the jars of `scripts/services.sh up kafka` (`$KCQL_KAFKA_LIBS`
/// overrides where they are). A JVM costs ~300 MB and a few seconds to start: use one only in
/// a test that kills or restarts the broker, and the shared broker ([`crate::kafka`]) otherwise.
#[derive(Debug)]
pub struct PrivateKafka {
    service: PrivateService,
}

impl PrivateKafka {
    /// Starts the broker and waits until it answers a Kafka metadata request listing itself.
    pub async fn start() -> Result<PrivateKafka, PrivateServiceError> {
        Ok(PrivateKafka {
            service: PrivateService::start(ServiceKind::Kafka).await?,
        })
    }

    /// The bootstrap servers, `127.0.0.1:<port>`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    /// An rdkafka client configuration for this broker, as [`crate::kafka::client_config`]
    /// for the shared one.
    pub fn client_config(&self) -> ClientConfig {
        crate::kafka::client_config_at(&self.brokers())
    }

    /// Creates `name` with `partitions` partitions (replication 1; "already exists" is fine)
    /// and waits until every partition has a leader. Panics on failure, as
    /// [`crate::kafka::create_topic`].
    pub async fn create_topic(&self, name: &str, partitions: i32) {
        crate::kafka::create_topic_at(&self.brokers(), name, partitions).await
    }
}

deref_to_service!(PrivateKafka);

/// The directory of Kafka's jars: `$KCQL_KAFKA_LIBS`, else `<services dir>/kafka/libs`.
pub(crate) fn libs_dir() -> PathBuf {
    match std::env::var_os(KAFKA_LIBS_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => super::paths::services_root().join("kafka").join("libs"),
    }
}

/// The log4j2 configuration shared with `scripts/services.sh`.
fn log4j_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scripts")
        .join("kafka")
        .join("log4j2.properties")
}

/// The JVM arguments up to the main class: options, log config, class path.
fn jvm_args(libs: &Path) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = JVM_OPTIONS.iter().map(Into::into).collect();
    let mut log4j = std::ffi::OsString::from("-Dlog4j2.configurationFile=");
    log4j.push(log4j_config());
    args.push(log4j);
    args.push("-cp".into());
    args.push(libs.join("*").into());
    args
}

/// Writes `server.properties` for a broker on `port` with its controller on `controller`, and
/// formats the storage the first time (KRaft needs a cluster id and a voter set).
pub(crate) fn prepare(dir: &Path, port: u16, controller: u16) -> std::io::Result<Launch> {
    let libs = libs_dir();
    if !has_kafka_jars(&libs) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "no Kafka jars in {}: run scripts/services.sh up kafka (or set {KAFKA_LIBS_ENV})",
                libs.display()
            ),
        ));
    }
    let data = dir.join(super::paths::DATA_DIR);
    std::fs::create_dir_all(&data)?;
    let config = dir.join("server.properties");
    std::fs::write(&config, server_properties(&data, port, controller))?;
    if !data.join("meta.properties").exists() {
        format_storage(dir, &libs, &config)?;
    }
    let mut args = jvm_args(&libs);
    args.push("kafka.Kafka".into());
    args.push(config.into());
    Ok(Launch {
        args,
        cwd: dir.to_path_buf(),
        env_remove: &["KAFKA_HEAP_OPTS", "KAFKA_OPTS", "JAVA_TOOL_OPTIONS"],
    })
}

fn has_kafka_jars(libs: &Path) -> bool {
    std::fs::read_dir(libs).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with("kafka_2."))
    })
}

/// `kafka.tools.StorageTool format --standalone`, output appended to `format.log`.
fn format_storage(dir: &Path, libs: &Path, config: &Path) -> std::io::Result<()> {
    let log_path = dir.join("format.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;
    let status = std::process::Command::new(super::service::java()?)
        .args(jvm_args(libs))
        .args(["kafka.tools.StorageTool", "format", "--standalone", "-t"])
        .arg(CLUSTER_ID)
        .arg("-c")
        .arg(config)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "kafka.tools.StorageTool format exited with {status}; last lines of {}:\n{}",
            log_path.display(),
            super::process::log_tail(&log_path, 15)
        )))
    }
}

/// The settings every test broker shares, as `scripts/services.sh` uses them.
const SHARED_SETTINGS: &str = include_str!("../../../scripts/kafka/broker.properties");

fn server_properties(data: &Path, port: u16, controller: u16) -> String {
    format!(
        "# Written by kcql-testkit (PrivateKafka): the shared settings, then this broker's own.\n\
         {SHARED_SETTINGS}\n\
         controller.quorum.bootstrap.servers=127.0.0.1:{controller}\n\
         listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
         advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         log.dirs={data}\n\
         # A small broker beside the tests: fewer threads, no log cleaner.\n\
         num.network.threads=2\n\
         num.io.threads=2\n\
         background.threads=2\n\
         log.cleaner.enable=false\n",
        data = data.display()
    )
}

/// A Kafka Metadata request (API key 3, version 4, all topics): `Ok` when the answer carries
/// our correlation id and lists at least one broker (a TCP connect alone also passes while
/// the broker is still recovering its log or electing itself).
pub(crate) async fn probe(port: u16) -> Result<(), String> {
    const CORRELATION: &[u8; 4] = b"kcqq";
    let request = {
        let mut body = Vec::with_capacity(23);
        body.extend_from_slice(&3i16.to_be_bytes()); // Metadata
        body.extend_from_slice(&4i16.to_be_bytes()); // version 4
        body.extend_from_slice(CORRELATION);
        body.extend_from_slice(&4i16.to_be_bytes()); // client id "kcql"
        body.extend_from_slice(b"kcql");
        body.extend_from_slice(&(-1i32).to_be_bytes()); // topics: null = all
        body.push(0); // allow_auto_topic_creation: false
        let mut framed = (body.len() as i32).to_be_bytes().to_vec();
        framed.extend_from_slice(&body);
        framed
    };
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("TCP connect: {e}"))?;
        stream
            .write_all(&request)
            .await
            .map_err(|e| format!("send metadata request: {e}"))?;
        // size (4) | correlation id (4) | throttle ms (4) | broker count (4)
        let mut head = [0u8; 16];
        stream
            .read_exact(&mut head)
            .await
            .map_err(|e| format!("read metadata answer: {e}"))?;
        if &head[4..8] != CORRELATION {
            return Err(format!(
                "metadata answer has a foreign correlation id: {head:02x?}"
            ));
        }
        let brokers = i32::from_be_bytes([head[12], head[13], head[14], head[15]]);
        if brokers < 1 {
            return Err("metadata answer lists no broker".to_string());
        }
        Ok(())
    };
    tokio::time::timeout(PROBE_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no metadata answer within {PROBE_TIMEOUT:?}"))?
}
