//! A private tansu (Kafka protocol) broker with its own sqlite file and port.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::RDKafkaErrorCode;

use super::service::{Launch, PrivateService, ServiceKind};
use super::PrivateServiceError;
use crate::kafka::TestContext;

const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A private tansu broker on `127.0.0.1:<port>` (listener and advertised listener), storing
/// in its own `data/tansu.db`. Like the shared one it does not auto-create topics
/// ([`create_topic`](Self::create_topic)). Dereferences to [`PrivateService`].
#[derive(Debug)]
pub struct PrivateTansu {
    service: PrivateService,
}

impl PrivateTansu {
    /// Starts `tansu broker` (found in `$CARGO_HOME/bin`, `~/.cargo/bin` or `$PATH`) and waits
    /// until it answers a Kafka metadata request.
    pub async fn start() -> Result<PrivateTansu, PrivateServiceError> {
        Ok(PrivateTansu {
            service: PrivateService::start(ServiceKind::Tansu).await?,
        })
    }

    /// The bootstrap servers, `127.0.0.1:<port>`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    /// An rdkafka client configuration for this broker: `bootstrap.servers`, `client.id` and a
    /// 30 s socket timeout, as [`crate::kafka::client_config`] for the shared broker.
    pub fn client_config(&self) -> ClientConfig {
        client_config(&self.brokers())
    }

    /// Creates `name` with `partitions` partitions (replication 1; "already exists" is fine)
    /// and waits until the metadata shows every partition with a leader.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
    ) -> Result<(), PrivateServiceError> {
        let what = format!("create topic {name}");
        let admin: AdminClient<TestContext> = self
            .client_config()
            .create_with_context(TestContext)
            .map_err(|e| self.request_error(&what, e))?;
        let options = AdminOptions::new()
            .operation_timeout(Some(REQUEST_TIMEOUT))
            .request_timeout(Some(REQUEST_TIMEOUT));
        let results = admin
            .create_topics(
                [&NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
                &options,
            )
            .await
            .map_err(|e| self.request_error(&what, e))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => return Err(self.request_error(&what, code)),
            }
        }
        let (brokers, topic) = (self.brokers(), name.to_string());
        let ready =
            tokio::task::spawn_blocking(move || wait_for_leaders(&brokers, &topic, partitions))
                .await
                .map_err(|e| self.request_error(&what, e))?;
        ready.map_err(|e| self.request_error(&what, e))
    }

    fn request_error(&self, what: &str, detail: impl std::fmt::Display) -> PrivateServiceError {
        PrivateServiceError::Request {
            kind: ServiceKind::Tansu.name(),
            port: self.port(),
            what: what.to_string(),
            detail: detail.to_string(),
        }
    }
}

impl Deref for PrivateTansu {
    type Target = PrivateService;
    fn deref(&self) -> &PrivateService {
        &self.service
    }
}

impl DerefMut for PrivateTansu {
    fn deref_mut(&mut self) -> &mut PrivateService {
        &mut self.service
    }
}

fn client_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "kcql-testkit-private")
        .set("socket.timeout.ms", "30000")
        .set_log_level(RDKafkaLogLevel::Warning);
    config
}

fn wait_for_leaders(brokers: &str, topic: &str, partitions: i32) -> Result<(), String> {
    let consumer: BaseConsumer<TestContext> = client_config(brokers)
        .create_with_context(TestContext)
        .map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + REQUEST_TIMEOUT;
    loop {
        let state = match consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) {
            Ok(md) => match md.topics().iter().find(|t| t.name() == topic) {
                Some(t) if t.error().is_none() => {
                    let led = t
                        .partitions()
                        .iter()
                        .filter(|p| p.leader() >= 0 && p.error().is_none())
                        .count();
                    if led >= partitions as usize {
                        return Ok(());
                    }
                    format!("{led} of {partitions} partitions have a leader")
                }
                Some(t) => format!("topic error {:?}", t.error()),
                None => "topic not in metadata".to_string(),
            },
            Err(e) => e.to_string(),
        };
        if std::time::Instant::now() >= deadline {
            return Err(format!("not ready after {REQUEST_TIMEOUT:?}: {state}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where `tansu` is looked for before `$PATH`: `$CARGO_HOME/bin`, `$HOME/.cargo/bin`.
pub(crate) fn binary_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(home) = std::env::var_os("CARGO_HOME").filter(|h| !h.is_empty()) {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        dirs.push(PathBuf::from(home).join(".cargo").join("bin"));
    }
    dirs
}

/// tansu resolves `sqlite://tansu.db` relative to its working directory, so it runs in
/// `dir/data` (as the shared one runs in its service directory).
pub(crate) fn prepare(dir: &Path, port: u16) -> std::io::Result<Launch> {
    let data = dir.join(super::paths::DATA_DIR);
    std::fs::create_dir_all(&data)?;
    let url = format!("tcp://127.0.0.1:{port}");
    Ok(Launch {
        args: vec![
            "broker".into(),
            "--storage-engine".into(),
            "sqlite://tansu.db".into(),
            "--listener-url".into(),
            url.clone().into(),
            "--advertised-listener-url".into(),
            url.into(),
        ],
        cwd: data,
        // tansu reads its settings from these too; the flags above win, the rest must not
        // leak in from the test's environment.
        env_remove: &[
            "CLUSTER_ID",
            "LISTENER_URL",
            "ADVERTISED_LISTENER_URL",
            "STORAGE_ENGINE",
            "SCHEMA_REGISTRY",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ],
    })
}

/// A TCP connect, then a Kafka metadata request that must list a broker.
pub(crate) async fn probe(port: u16) -> Result<(), String> {
    tokio::time::timeout(
        PROBE_TIMEOUT,
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    .map_err(|_| "TCP connect timed out".to_string())?
    .map_err(|e| format!("TCP connect: {e}"))?;
    let brokers = format!("127.0.0.1:{port}");
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer<TestContext> = client_config(&brokers)
            .create_with_context(TestContext)
            .map_err(|e| e.to_string())?;
        let md = consumer
            .fetch_metadata(None, PROBE_TIMEOUT)
            .map_err(|e| format!("metadata: {e}"))?;
        if md.brokers().is_empty() {
            Err("metadata lists no broker".to_string())
        } else {
            Ok(())
        }
    })
    .await
    .map_err(|e| format!("metadata task: {e}"))?
}
