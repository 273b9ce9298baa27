//! Kafka helpers against the Apache Kafka broker started by `scripts/services.sh up`
//! (KRaft, single node, PLAINTEXT on `127.0.0.1:9092`), or any Kafka named by
//! `$KCQL_TEST_BROKERS` ([`brokers`]).
//!
//! # Rules for tests on the shared broker
//!
//! * **Create topics explicitly.** The broker runs with `auto.create.topics.enable=false`, as
//!   most production clusters do: producing to or subscribing to a missing topic fails or
//!   waits. Use a fresh name per test ([`unique_topic`]) and [`create_topic`];
//!   [`delete_topic`] removes it again when a test makes big ones.
//! * Consumer groups are cheap. Use a unique group per test ([`unique_group`]).
//! * A test that kills or restarts Kafka uses its own broker,
//!   [`PrivateKafka`](crate::private::PrivateKafka); every helper here has an `_at` form that
//!   takes its bootstrap servers.
//!
//! # Client settings
//!
//! The bundled librdkafka works with Kafka 4 on its defaults. [`client_config`] is the base
//! configuration for every client made here:
//!
//! | key | value | why |
//! |---|---|---|
//! | `bootstrap.servers` | [`brokers()`] | `127.0.0.1:9092` or `$KCQL_TEST_BROKERS` |
//! | `client.id` | `kcql-testkit` | names the client in broker logs |
//! | `socket.timeout.ms` | `30000` | librdkafka default (60 s) halved so failures surface in a test |
//!
//! [`producer_config`] adds `acks=all` and `message.timeout.ms=30000`.
//! [`consumer_config`] adds `group.id`, `auto.offset.reset=earliest`,
//! `enable.auto.commit=false` and `enable.partition.eof=false`.
//!
//! librdkafka's own log lines (warning and worse) and client errors go to stderr (see
//! [`TestContext`]). The test harness captures them and shows them only when a test fails.

mod security;

pub use security::{
    as_pairs, ca_file, sasl_ssl_properties, ssl_properties, tls_dir, tls_file, SASL_SSL_BROKERS,
    SCRAM_MECHANISM, SCRAM_PASSWORD, SCRAM_USER, SSL_BROKERS,
};

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

mod consume;
use consume::consume_inner;

/// Default bootstrap address of the Kafka broker started by `scripts/services.sh up`.
/// Override with the environment variable `KCQL_TEST_BROKERS` (see [`brokers`]).
pub const BROKERS: &str = "127.0.0.1:9092";

/// Environment variable that overrides [`BROKERS`].
pub const BROKERS_ENV: &str = "KCQL_TEST_BROKERS";

/// How long the helpers wait for metadata, commits and offset fetches.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The bootstrap servers to use: `$KCQL_TEST_BROKERS` if set and not empty, else [`BROKERS`].
pub fn brokers() -> String {
    match std::env::var(BROKERS_ENV) {
        Ok(v) if !v.trim().is_empty() => v.trim().to_string(),
        _ => BROKERS.to_string(),
    }
}

/// The process id of the broker `scripts/services.sh up kafka` started (from its pid file),
/// while that process runs; for benchmarks that report the broker's CPU beside their own.
pub fn shared_broker_pid() -> Option<u32> {
    let pid_file = crate::private::services_root()
        .join("kafka")
        .join("kafka.pid");
    let pid: u32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    String::from_utf8_lossy(&cmdline)
        .contains("kafka.Kafka")
        .then_some(pid)
}

/// A unique topic name for one test (`<prefix>_<pid>_<millis>_<n>`). The topic is not created.
/// Call [`create_topic`] next.
pub fn unique_topic(prefix: &str) -> String {
    crate::names::unique(prefix)
}

/// A unique consumer group id for one test.
pub fn unique_group(prefix: &str) -> String {
    crate::names::unique(&format!("{prefix}_group"))
}

/// Panics unless a TCP connection to every address in [`brokers()`] succeeds within 5 s.
///
/// The panic message is `Kafka broker at <addr> is not reachable: run scripts/services.sh up`,
/// followed by the connect error. Every async helper in this module calls this first, so a
/// missing broker is a clear failure rather than a 30 s librdkafka timeout.
pub fn wait_reachable() {
    wait_reachable_at(&brokers());
}

/// [`wait_reachable`] for the brokers `brokers` (e.g. a
/// [`PrivateKafka`](crate::private::PrivateKafka)'s).
pub fn wait_reachable_at(brokers: &str) {
    for addr in brokers.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        if let Err(err) = crate::reach::wait_connectable(addr) {
            panic!("Kafka broker at {addr} is not reachable: run scripts/services.sh up ({err})");
        }
    }
}

/// The rdkafka client context used by every client in this module. It prints librdkafka log
/// lines at warning level or worse, and global client errors, to stderr with a `[rdkafka]`
/// prefix. The test harness captures them and shows them only for failing tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct TestContext;

impl ClientContext for TestContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        if (level as i32) <= (RDKafkaLogLevel::Warning as i32) {
            eprintln!("[rdkafka] {level:?} {fac}: {log_message}");
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        eprintln!("[rdkafka] error: {error}: {reason}");
    }
}

impl ConsumerContext for TestContext {}

/// The base configuration for any client talking to the test broker (see the module docs for
/// what is set and why). The producer and consumer helpers start from this.
pub fn client_config() -> ClientConfig {
    client_config_at(&brokers())
}

/// [`client_config`] for the brokers `brokers`.
pub fn client_config_at(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "kcql-testkit")
        .set("socket.timeout.ms", "30000")
        .set_log_level(RDKafkaLogLevel::Warning);
    config
}

/// Producer configuration: [`client_config`] plus `acks=all` and `message.timeout.ms=30000`,
/// then `extra` (key, value) pairs applied last (e.g. `("enable.idempotence", "true")`).
pub fn producer_config(extra: &[(&str, &str)]) -> ClientConfig {
    producer_config_at(&brokers(), extra)
}

/// [`producer_config`] for the brokers `brokers`.
pub fn producer_config_at(brokers: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = client_config_at(brokers);
    config.set("acks", "all").set("message.timeout.ms", "30000");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config
}

/// Consumer configuration for `group`: [`client_config`] plus `auto.offset.reset=earliest`
/// and `enable.auto.commit=false`.
pub fn consumer_config(group: &str) -> ClientConfig {
    consumer_config_at(&brokers(), group)
}

/// [`consumer_config`] for the brokers `brokers`.
pub fn consumer_config_at(brokers: &str, group: &str) -> ClientConfig {
    let mut config = client_config_at(brokers);
    config
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    config
}

/// Runs a blocking rdkafka call off the async worker threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("blocking rdkafka task panicked")
}

/// Creates `name` with `partitions` partitions (replication factor 1) and waits until the
/// broker's metadata lists every partition with a leader. "Topic already exists" counts as
/// success. The partition count is not checked in that case, but the metadata wait still
/// requires at least `partitions` partitions. Panics on any other error or after 30 s.
///
/// Use a unique name ([`unique_topic`]).
pub async fn create_topic(name: &str, partitions: i32) {
    create_topic_at(&brokers(), name, partitions).await
}

/// [`create_topic`] on the brokers `brokers`.
pub async fn create_topic_at(brokers: &str, name: &str, partitions: i32) {
    create_topic_with_config_at(brokers, name, partitions, &[]).await
}

/// [`create_topic`] with topic configuration entries (`max.message.bytes`, `retention.ms` …).
pub async fn create_topic_with_config(name: &str, partitions: i32, config: &[(&str, &str)]) {
    create_topic_with_config_at(&brokers(), name, partitions, config).await
}

/// [`create_topic_with_config`] on the brokers `brokers`.
pub async fn create_topic_with_config_at(
    brokers: &str,
    name: &str,
    partitions: i32,
    config: &[(&str, &str)],
) {
    assert!(
        partitions > 0,
        "create_topic({name}): partitions must be > 0"
    );
    wait_reachable_at(brokers);
    let admin: AdminClient<TestContext> = client_config_at(brokers)
        .create_with_context(TestContext)
        .unwrap_or_else(|e| panic!("create_topic({name}): cannot create admin client: {e}"));
    let topic = config.iter().fold(
        NewTopic::new(name, partitions, TopicReplication::Fixed(1)),
        |t, (k, v)| t.set(k, v),
    );
    let options = AdminOptions::new()
        .operation_timeout(Some(REQUEST_TIMEOUT))
        .request_timeout(Some(REQUEST_TIMEOUT));
    let results = admin
        .create_topics([&topic], &options)
        .await
        .unwrap_or_else(|e| panic!("create_topic({name}) failed at {brokers}: {e}"));
    for result in results {
        match result {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => panic!("create_topic({topic}) rejected by broker: {code}"),
        }
    }
    wait_for_partitions_at(brokers, name, partitions).await;
}

/// Sets topic configuration entries of `name` (a full `AlterConfigs`: dynamic entries not
/// named go back to their defaults). Panics on failure.
pub async fn alter_topic_config(name: &str, config: &[(&str, &str)]) {
    let admin: AdminClient<TestContext> = client_config()
        .create_with_context(TestContext)
        .unwrap_or_else(|e| panic!("alter_topic_config({name}): cannot create admin client: {e}"));
    let alter = config.iter().fold(
        AlterConfig::new(ResourceSpecifier::Topic(name)),
        |a, (k, v)| a.set(k, v),
    );
    let options = AdminOptions::new().request_timeout(Some(REQUEST_TIMEOUT));
    let results = admin
        .alter_configs([&alter], &options)
        .await
        .unwrap_or_else(|e| panic!("alter_topic_config({name}) failed: {e}"));
    for result in results {
        if let Err((resource, code)) = result {
            panic!("alter_topic_config({name}): {resource:?} rejected: {code}");
        }
    }
}

/// Deletes `name` and waits until the broker's metadata no longer lists it. An unknown topic
/// counts as deleted. Panics on any other error or after 30 s.
pub async fn delete_topic(name: &str) {
    delete_topic_at(&brokers(), name).await
}

/// [`delete_topic`] on the brokers `brokers`.
pub async fn delete_topic_at(brokers: &str, name: &str) {
    wait_reachable_at(brokers);
    let admin: AdminClient<TestContext> = client_config_at(brokers)
        .create_with_context(TestContext)
        .unwrap_or_else(|e| panic!("delete_topic({name}): cannot create admin client: {e}"));
    let options = AdminOptions::new()
        .operation_timeout(Some(REQUEST_TIMEOUT))
        .request_timeout(Some(REQUEST_TIMEOUT));
    let results = admin
        .delete_topics(&[name], &options)
        .await
        .unwrap_or_else(|e| panic!("delete_topic({name}) failed at {brokers}: {e}"));
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((topic, code)) => panic!("delete_topic({topic}) rejected by broker: {code}"),
        }
    }
    let consumer: BaseConsumer<TestContext> = client_config_at(brokers)
        .create_with_context(TestContext)
        .unwrap_or_else(|e| panic!("cannot create metadata client: {e}"));
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    loop {
        let listed = consumer
            .fetch_metadata(None, Duration::from_secs(5))
            .map(|md| md.topics().iter().any(|t| t.name() == name));
        if let Ok(false) = listed {
            return;
        }
        if Instant::now() >= deadline {
            panic!("topic {name} still listed {REQUEST_TIMEOUT:?} after its deletion: {listed:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits up to 30 s until metadata for `topic` shows at least `partitions` partitions, each
/// with a leader. Panics with the last seen state otherwise.
pub async fn wait_for_partitions(topic: &str, partitions: i32) {
    wait_for_partitions_at(&brokers(), topic, partitions).await
}

/// [`wait_for_partitions`] on the brokers `brokers`.
pub async fn wait_for_partitions_at(brokers: &str, topic: &str, partitions: i32) {
    let consumer: BaseConsumer<TestContext> = client_config_at(brokers)
        .create_with_context(TestContext)
        .unwrap_or_else(|e| panic!("cannot create metadata client: {e}"));
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    loop {
        let state = match consumer
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .map_err(|e| e.to_string())
        {
            Ok(md) => match md.topics().iter().find(|t| t.name() == topic) {
                None => "topic not in metadata".to_string(),
                Some(t) if t.error().is_some() => format!("topic error {:?}", t.error()),
                Some(t) => {
                    let led = t
                        .partitions()
                        .iter()
                        .filter(|p| p.leader() >= 0 && p.error().is_none())
                        .count();
                    if led >= partitions as usize && t.partitions().len() >= partitions as usize {
                        return;
                    }
                    format!(
                        "{} partitions, {led} with a leader (want {partitions})",
                        t.partitions().len()
                    )
                }
            },
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            panic!("topic {topic} not ready after {REQUEST_TIMEOUT:?}: {state}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The end offset (high watermark: one past the last record) of every partition of `topic`
/// on `brokers`, as the broker reports it now. Panics if the topic is unknown.
pub async fn end_offsets_at(brokers: &str, topic: &str) -> BTreeMap<i32, i64> {
    let partitions = partitions_of_at(brokers, topic).await;
    let (brokers, topic) = (brokers.to_string(), topic.to_string());
    blocking(move || {
        let consumer: BaseConsumer<TestContext> = client_config_at(&brokers)
            .create_with_context(TestContext)
            .unwrap_or_else(|e| panic!("cannot create watermark client: {e}"));
        partitions
            .into_iter()
            .map(|p| {
                let (_, high) = consumer
                    .fetch_watermarks(&topic, p, REQUEST_TIMEOUT)
                    .unwrap_or_else(|e| panic!("watermarks of {topic}[{p}]: {e}"));
                (p, high)
            })
            .collect()
    })
    .await
}

/// The partition ids of `topic` from the broker's metadata, sorted. Panics if the topic is
/// unknown.
pub async fn partitions_of(topic: &str) -> Vec<i32> {
    partitions_of_at(&brokers(), topic).await
}

/// [`partitions_of`] on the brokers `brokers`.
pub async fn partitions_of_at(brokers: &str, topic: &str) -> Vec<i32> {
    wait_reachable_at(brokers);
    let (brokers, topic) = (brokers.to_string(), topic.to_string());
    blocking(move || {
        let consumer: BaseConsumer<TestContext> = client_config_at(&brokers)
            .create_with_context(TestContext)
            .unwrap_or_else(|e| panic!("cannot create metadata client: {e}"));
        let md = consumer
            .fetch_metadata(Some(&topic), REQUEST_TIMEOUT)
            .unwrap_or_else(|e| panic!("metadata for {topic} failed: {e}"));
        let t = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .unwrap_or_else(|| panic!("topic {topic} not in metadata"));
        if let Some(err) = t.error() {
            panic!("topic {topic}: metadata error {err:?} (was it created?)");
        }
        let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
        ids.sort_unstable();
        ids
    })
    .await
}

/// One record to produce. Build it with [`ProduceRecord::new`] and the builder methods, or
/// convert a `(key, payload, partition, timestamp_ms, headers)` tuple with `.into()`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProduceRecord {
    /// The record key (`None`: no key).
    pub key: Option<Vec<u8>>,
    /// The record value.
    pub payload: Vec<u8>,
    /// An explicit partition (`None`: librdkafka's partitioner picks one from the key).
    pub partition: Option<i32>,
    /// The record timestamp in milliseconds since the epoch (`None`: the producer's clock).
    pub timestamp: Option<i64>,
    /// Headers in order. Duplicate names are allowed.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl ProduceRecord {
    /// A record with this payload and nothing else.
    pub fn new(payload: impl Into<Vec<u8>>) -> Self {
        ProduceRecord {
            payload: payload.into(),
            ..Default::default()
        }
    }

    /// Sets the key.
    pub fn key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets an explicit partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the timestamp (milliseconds since the epoch).
    pub fn timestamp(mut self, millis: i64) -> Self {
        self.timestamp = Some(millis);
        self
    }

    /// Appends a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl<K, P, H, N, V> From<(Option<K>, P, Option<i32>, Option<i64>, H)> for ProduceRecord
where
    K: Into<Vec<u8>>,
    P: Into<Vec<u8>>,
    H: IntoIterator<Item = (N, V)>,
    N: Into<String>,
    V: Into<Vec<u8>>,
{
    fn from(
        (key, payload, partition, timestamp, headers): (Option<K>, P, Option<i32>, Option<i64>, H),
    ) -> Self {
        ProduceRecord {
            key: key.map(Into::into),
            payload: payload.into(),
            partition,
            timestamp,
            headers: headers
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        }
    }
}

/// Produces `records` to `topic` and waits for every delivery report. Returns the
/// `(partition, offset)` of each record in input order. Panics on any delivery failure,
/// naming the record index and the error.
///
/// Uses [`producer_config`] with no extras (`acks=all`, not idempotent).
pub async fn produce<R>(topic: &str, records: impl IntoIterator<Item = R>) -> Vec<(i32, i64)>
where
    R: Into<ProduceRecord>,
{
    produce_with(&[], topic, records).await
}

/// Like [`produce`], with `extra` producer settings applied on top of [`producer_config`],
/// e.g. `&[("enable.idempotence", "true")]`.
pub async fn produce_with<R>(
    extra: &[(&str, &str)],
    topic: &str,
    records: impl IntoIterator<Item = R>,
) -> Vec<(i32, i64)>
where
    R: Into<ProduceRecord>,
{
    produce_at(&brokers(), extra, topic, records).await
}

/// [`produce_with`] to the brokers `brokers`.
pub async fn produce_at<R>(
    brokers: &str,
    extra: &[(&str, &str)],
    topic: &str,
    records: impl IntoIterator<Item = R>,
) -> Vec<(i32, i64)>
where
    R: Into<ProduceRecord>,
{
    wait_reachable_at(brokers);
    let producer: FutureProducer<TestContext> = producer_config_at(brokers, extra)
        .create_with_context(TestContext)
        .unwrap_or_else(|e| panic!("cannot create producer ({extra:?}): {e}"));
    let mut pending = Vec::new();
    for (index, record) in records.into_iter().map(Into::into).enumerate() {
        let record: ProduceRecord = record;
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (name, value) in &record.headers {
            headers = headers.insert(Header {
                key: name,
                value: Some(value),
            });
        }
        let mut future_record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
            .payload(&record.payload[..])
            .headers(headers);
        if let Some(key) = &record.key {
            future_record = future_record.key(&key[..]);
        }
        if let Some(partition) = record.partition {
            future_record = future_record.partition(partition);
        }
        if let Some(ts) = record.timestamp {
            future_record = future_record.timestamp(ts);
        }
        let started = Instant::now();
        loop {
            match producer.send_result(future_record) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    if started.elapsed() > REQUEST_TIMEOUT {
                        panic!(
                            "produce to {topic}: local queue stayed full for {REQUEST_TIMEOUT:?}"
                        );
                    }
                    future_record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => panic!("produce to {topic}: record #{index} not enqueued: {e}"),
            }
        }
    }
    let mut out = Vec::with_capacity(pending.len());
    for (index, delivery) in pending.into_iter().enumerate() {
        match delivery.await {
            Ok(Ok(d)) => out.push((d.partition, d.offset)),
            Ok(Err((e, _))) => {
                panic!("produce to {topic}: record #{index} failed ({extra:?}): {e}")
            }
            Err(_) => panic!("produce to {topic}: record #{index}: delivery report lost"),
        }
    }
    out
}

/// Produces each value as a JSON payload (no key, no headers, partitioner's choice) and waits
/// for all delivery reports. Returns `(partition, offset)` per value in order.
pub async fn produce_json<T: serde::Serialize>(
    topic: &str,
    values: impl IntoIterator<Item = T>,
) -> Vec<(i32, i64)> {
    let records: Vec<ProduceRecord> = values
        .into_iter()
        .map(|v| {
            ProduceRecord::new(
                serde_json::to_vec(&v).unwrap_or_else(|e| panic!("produce_json: {e}")),
            )
        })
        .collect();
    produce(topic, records).await
}

/// A record read back from Kafka.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// The partition it was read from.
    pub partition: i32,
    /// Its offset within the partition.
    pub offset: i64,
    /// The key (`None`: no key).
    pub key: Option<Vec<u8>>,
    /// The value (`None`: a null value / tombstone).
    pub payload: Option<Vec<u8>>,
    /// Headers in order (`None` value: a null header value).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// The record timestamp in milliseconds (create or log-append time), if any.
    pub timestamp: Option<i64>,
}

impl ConsumedRecord {
    /// The key as UTF-8 (panics if it isn't). `None` if there is no key.
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .map(|k| std::str::from_utf8(k).expect("key is not UTF-8"))
    }

    /// The payload as UTF-8. Panics if it is null or not UTF-8.
    pub fn payload_str(&self) -> &str {
        std::str::from_utf8(self.payload.as_deref().expect("null payload"))
            .expect("payload is not UTF-8")
    }

    /// The payload parsed as JSON. Panics if it is null or not JSON.
    pub fn payload_json(&self) -> serde_json::Value {
        serde_json::from_slice(self.payload.as_deref().expect("null payload"))
            .unwrap_or_else(|e| panic!("payload is not JSON ({e}): {:?}", self.payload))
    }

    /// The value of the first header called `name`. A null value is an empty slice.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref().unwrap_or_default())
    }
}

fn to_consumed<M: Message>(m: &M) -> ConsumedRecord {
    let headers = m
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default();
    ConsumedRecord {
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(<[u8]>::to_vec),
        payload: m.payload().map(<[u8]>::to_vec),
        headers,
        timestamp: m.timestamp().to_millis(),
    }
}

/// Reads `topic` from the beginning, every partition assigned directly (no consumer-group
/// membership, no commits), until `expected` records have
/// arrived, and returns them in arrival order. Order is kept within a partition, not across
/// partitions. Panics after `timeout` saying how many arrived, and with any consumer errors.
///
/// Stops as soon as `expected` records arrived. It does not notice extra records; use
/// [`consume_exactly`] for that.
pub async fn consume_all(topic: &str, expected: usize, timeout: Duration) -> Vec<ConsumedRecord> {
    consume_inner(&brokers(), topic, expected, timeout, None).await
}

/// [`consume_all`] from the brokers `brokers`.
pub async fn consume_all_at(
    brokers: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<ConsumedRecord> {
    consume_inner(brokers, topic, expected, timeout, None).await
}

/// Like [`consume_all`], then keeps reading for `settle`. Panics if any record beyond
/// `expected` arrives, so duplicates are caught.
pub async fn consume_exactly(
    topic: &str,
    expected: usize,
    timeout: Duration,
    settle: Duration,
) -> Vec<ConsumedRecord> {
    consume_inner(&brokers(), topic, expected, timeout, Some(settle)).await
}

/// [`consume_exactly`] from the brokers `brokers`.
pub async fn consume_exactly_at(
    brokers: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
    settle: Duration,
) -> Vec<ConsumedRecord> {
    consume_inner(brokers, topic, expected, timeout, Some(settle)).await
}

/// Commits `offsets` (partition → next offset to read, Kafka convention) for `group` on
/// `topic`, synchronously, without joining the group (a "simple" commit, as an external tool
/// would). Panics on failure.
pub async fn commit_offsets(group: &str, topic: &str, offsets: &BTreeMap<i32, i64>) {
    commit_offsets_at(&brokers(), group, topic, offsets).await
}

/// [`commit_offsets`] on the brokers `brokers`.
pub async fn commit_offsets_at(
    brokers: &str,
    group: &str,
    topic: &str,
    offsets: &BTreeMap<i32, i64>,
) {
    commit_offsets_with_metadata_at(brokers, group, topic, offsets, "").await
}

/// [`commit_offsets`] with `metadata` stored beside each offset (as a consumer's own commit
/// would store it), on the brokers `brokers`.
pub async fn commit_offsets_with_metadata_at(
    brokers: &str,
    group: &str,
    topic: &str,
    offsets: &BTreeMap<i32, i64>,
    metadata: &str,
) {
    wait_reachable_at(brokers);
    let metadata = metadata.to_string();
    let (brokers, group, topic, offsets) = (
        brokers.to_string(),
        group.to_string(),
        topic.to_string(),
        offsets.clone(),
    );
    blocking(move || {
        let consumer: BaseConsumer<TestContext> = consumer_config_at(&brokers, &group)
            .create_with_context(TestContext)
            .unwrap_or_else(|e| panic!("cannot create consumer: {e}"));
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &offsets {
            tpl.add_partition_offset(&topic, *p, Offset::Offset(*o))
                .unwrap_or_else(|e| panic!("bad offset {p}:{o}: {e}"));
            if let Some(mut element) = tpl.find_partition(&topic, *p) {
                element.set_metadata(metadata.as_str());
            }
        }
        retry_coordinator(
            &format!("commit {offsets:?} for {group} on {topic}"),
            || consumer.commit(&tpl, CommitMode::Sync),
        )
    })
    .await
}

/// Whether `error` is one a group request answers while the group coordinator moves or loads
/// (a fresh broker creating its offsets topic, a restarted one reading it back): retried.
fn coordinator_busy(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::NotCoordinator
                | RDKafkaErrorCode::CoordinatorLoadInProgress
                | RDKafkaErrorCode::CoordinatorNotAvailable
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::OperationTimedOut
        )
    )
}

/// Runs a blocking group request, retrying while the coordinator is busy, for up to 30 s.
/// Panics with `what` and the last error otherwise.
fn retry_coordinator<T>(what: &str, mut request: impl FnMut() -> KafkaResult<T>) -> T {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    loop {
        match request() {
            Ok(value) => return value,
            Err(e) if coordinator_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("{what} failed: {e}"),
        }
    }
}

/// The offsets `group` has committed on `topic`: partition → committed offset (the next offset
/// to read). Partitions without a commit are left out, so a group that never committed gives
/// an empty map. Panics if the topic is unknown or the fetch fails.
pub async fn committed_offsets(group: &str, topic: &str) -> BTreeMap<i32, i64> {
    committed_offsets_at(&brokers(), group, topic).await
}

/// [`committed_offsets`] on the brokers `brokers`.
pub async fn committed_offsets_at(brokers: &str, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    let partitions = partitions_of_at(brokers, topic).await;
    let (brokers, group, topic) = (brokers.to_string(), group.to_string(), topic.to_string());
    blocking(move || {
        let consumer: BaseConsumer<TestContext> = consumer_config_at(&brokers, &group)
            .create_with_context(TestContext)
            .unwrap_or_else(|e| panic!("cannot create consumer: {e}"));
        let mut tpl = TopicPartitionList::new();
        for p in &partitions {
            tpl.add_partition(&topic, *p);
        }
        let committed =
            retry_coordinator(&format!("committed offsets of {group} on {topic}"), || {
                consumer.committed_offsets(tpl.clone(), REQUEST_TIMEOUT)
            });
        committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect()
    })
    .await
}
