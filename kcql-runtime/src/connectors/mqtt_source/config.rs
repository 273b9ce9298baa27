//! Settings of the MQTT source connector (MQTT → Kafka), from Stream Reactor connector
//! properties ([`MqttSourceSettings::from_properties`]) or from a `[[source.mqtt]]` table of a
//! TOML pipeline file ([`MqttSourceToml::into_settings`]).
//!
//! Accepted: Stream Reactor's `connect.mqtt.*` source keys (reference spec, section 2), the
//! error-policy keys its sink shares (`connect.mqtt.error.policy`, `retry.interval`,
//! `max.retries`), the Avro schema keys, the Kafka Connect framework keys (`name`,
//! `connector.class`, `tasks.max`, `key.converter`, `value.converter`), our additions
//! (`connect.mqtt.protocol.version`, `connect.mqtt.max.inflight`, `connect.mqtt.dlq.topic`,
//! `connect.mqtt.max.message.bytes`) and
//! any `kafka.*` key, passed to the Kafka producer (`kafka.bootstrap.servers`, default
//! `localhost:9092`). Every problem is reported at once; unknown keys get a did-you-mean.
//!
//! Deliberate differences from the reference (the reasons are its known defects):
//! * `connect.mqtt.keep.alive` and `connect.mqtt.timeout` are **milliseconds** (the reference
//!   handed them to Paho, which reads seconds: 5000 s keep-alive). MQTT counts keep-alive in
//!   whole seconds, so values are rounded up to at least one second.
//! * `connect.mqtt.clean` defaults to `false` (persistent session), and without
//!   `connect.mqtt.client.id` the client id is derived from the hosts and the KCQL, so it is
//!   the same on every start and the broker keeps unacknowledged messages across restarts.
//! * A poison message (bad JSON, Avro that does not decode, a missing WITHKEY field) is
//!   handled by `connect.mqtt.error.policy`; `connect.mqtt.converter.throw.on.error` is its old
//!   spelling (`true` = THROW, `false` = NOOP). The default is THROW: nothing is skipped unless
//!   asked for, and a skipped message is logged, counted and written to the dead-letter topic
//!   when one is configured.
//! * DUP-flagged messages are always written (`connect.mqtt.process.duplicates` is accepted and
//!   ignored): with QoS 1 a redelivery may be the only copy the client sees.
//! * A Kafka record bigger than `connect.mqtt.max.message.bytes` (default: the producer's
//!   `message.max.bytes`) is a poison message, as is one the topic refuses as too large; see
//!   [`source`](crate::connectors::mqtt_source::source) for how each policy treats it.
//! * `connect.mqtt.ssl.ca.cert` alone is enough for server authentication; the client
//!   certificate and key are optional but go together.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use kcql::plan::MqttPlan;
use serde::Deserialize;
use thiserror::Error;

use crate::config::common::{ErrorPolicy, Secret};
use crate::config::connect_errors::{self, ConnectErrors};
use crate::config::duration::DurationSetting;
use crate::config::reader::keys::{
    CONNECTOR_CLASS, KAFKA_PREFIX, KEY_CONVERTER, NAME, PROGRESS, TASKS_MAX, VALUE_CONVERTER,
};
use crate::config::reader::{KeyError, KnownKeys};
use crate::config::registry;
use crate::decode::AvroSchema;
use crate::kafka::KafkaProperties;
use crate::redact::redact_url;

const HOSTS: &str = "connect.mqtt.hosts";
const KCQL: &str = "connect.mqtt.kcql";
const QOS: &str = "connect.mqtt.service.quality";
const USERNAME: &str = "connect.mqtt.username";
const PASSWORD: &str = "connect.mqtt.password";
const CLIENT_ID: &str = "connect.mqtt.client.id";
const CLEAN: &str = "connect.mqtt.clean";
const TIMEOUT: &str = "connect.mqtt.timeout";
const KEEP_ALIVE: &str = "connect.mqtt.keep.alive";
const POLLING_TIMEOUT: &str = "connect.mqtt.polling.timeout";
const THROW_ON_ERROR: &str = "connect.mqtt.converter.throw.on.error";
const PROCESS_DUPLICATES: &str = "connect.mqtt.process.duplicates";
const LOG_MESSAGE: &str = "connect.mqtt.log.message";
const SHARE_REPLICATE: &str = "connect.mqtt.share.replicate";
const SSL_CA: &str = "connect.mqtt.ssl.ca.cert";
const SSL_CERT: &str = "connect.mqtt.ssl.cert";
const SSL_KEY: &str = "connect.mqtt.ssl.key";
const ERROR_POLICY: &str = "connect.mqtt.error.policy";
const RETRY_INTERVAL: &str = "connect.mqtt.retry.interval";
const MAX_RETRIES: &str = "connect.mqtt.max.retries";
const AVRO_FLAG: &str = "connect.converter.avro.schemas";
const AVRO_SCHEMAS: &str = "connect.source.converter.avro.schemas";
const AVRO_SCHEMAS_SHORT: &str = "avro.schemas";
const PROTOCOL: &str = "connect.mqtt.protocol.version";
const MAX_INFLIGHT: &str = "connect.mqtt.max.inflight";
const DLQ_TOPIC: &str = "connect.mqtt.dlq.topic";
const MAX_MESSAGE_BYTES: &str = "connect.mqtt.max.message.bytes";
const BOOTSTRAP: &str = "kafka.bootstrap.servers";
const PRODUCER_MAX_BYTES: &str = "kafka.message.max.bytes";

/// Every key the source knows (besides `kafka.*`).
pub const KNOWN_KEYS: &[&str] = &[
    HOSTS,
    KCQL,
    QOS,
    USERNAME,
    PASSWORD,
    CLIENT_ID,
    CLEAN,
    TIMEOUT,
    KEEP_ALIVE,
    POLLING_TIMEOUT,
    THROW_ON_ERROR,
    PROCESS_DUPLICATES,
    LOG_MESSAGE,
    SHARE_REPLICATE,
    SSL_CA,
    SSL_CERT,
    SSL_KEY,
    ERROR_POLICY,
    RETRY_INTERVAL,
    MAX_RETRIES,
    AVRO_FLAG,
    AVRO_SCHEMAS,
    AVRO_SCHEMAS_SHORT,
    PROGRESS,
    PROTOCOL,
    MAX_INFLIGHT,
    DLQ_TOPIC,
    MAX_MESSAGE_BYTES,
    NAME,
    CONNECTOR_CLASS,
    TASKS_MAX,
    KEY_CONVERTER,
    VALUE_CONVERTER,
    connect_errors::TOLERANCE,
    connect_errors::LOG_ENABLE,
    connect_errors::LOG_INCLUDE_MESSAGES,
    connect_errors::RETRY_TIMEOUT,
    connect_errors::RETRY_DELAY_MAX_MS,
    output::VALUE_FORMAT_OUT,
    output::KEY_FORMAT_OUT,
    output::AVRO_SCHEMA_OUT,
    output::SCHEMA_REGISTRY_URL,
    registry::SCHEMA_REGISTRY_URL,
    registry::BASIC_AUTH_SOURCE,
    registry::BASIC_AUTH_USER_INFO,
    registry::REGISTRY_CA,
];

/// Default Kafka bootstrap servers when `kafka.bootstrap.servers` is not given.
pub const DEFAULT_BOOTSTRAP: &str = "localhost:9092";
/// Default bound on messages read from MQTT but not yet confirmed by Kafka.
pub const DEFAULT_MAX_INFLIGHT: usize = 10_000;
/// librdkafka's default `message.max.bytes`: the default Kafka record size limit.
pub const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;
/// Default `connect.mqtt.keep.alive` (ms).
pub const DEFAULT_KEEP_ALIVE_MS: u64 = 5_000;
/// Default `connect.mqtt.timeout` (ms).
pub const DEFAULT_TIMEOUT_MS: u64 = 3_000;

/// The MQTT protocol version spoken to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum MqttVersion {
    /// MQTT 3.1.1 (protocol level 4; the default, as Paho in the reference).
    #[default]
    #[serde(rename = "3.1.1")]
    V311,
    /// MQTT 5.
    #[serde(rename = "5")]
    V5,
}

impl MqttVersion {
    fn parse(v: &str) -> Option<MqttVersion> {
        match v.trim() {
            "3.1.1" | "4" | "3" | "311" | "v3.1.1" => Some(MqttVersion::V311),
            "5" | "5.0" | "v5" => Some(MqttVersion::V5),
            _ => None,
        }
    }
}

/// One broker address from `connect.mqtt.hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    /// Host name or IP.
    pub host: String,
    /// TCP port (1883 plain, 8883 TLS when not given).
    pub port: u16,
    /// True for `ssl://`, `tls://`, `mqtts://`.
    pub tls: bool,
}

impl fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "ssl" } else { "tcp" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

impl BrokerAddress {
    /// Parses a Paho-style URI (`tcp://h:1883`, `ssl://h:8883`, `mqtt://…`, `mqtts://…`, or a
    /// bare `host[:port]`). A query string (`?wireFormat.…`, ActiveMQ style) is ignored.
    /// Credentials (`tcp://user:password@h`) are refused: `connect.mqtt.username` and
    /// `connect.mqtt.password` carry them. Errors show the URI without its userinfo.
    pub fn parse(uri: &str) -> Result<BrokerAddress, String> {
        let shown = redact_url(uri.trim());
        let uri = shown.as_ref();
        let (tls, rest) = match uri.split_once("://") {
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "tcp" | "mqtt" => (false, rest),
                "ssl" | "tls" | "mqtts" => (true, rest),
                other => {
                    return Err(format!(
                        "`{uri}`: unsupported scheme `{other}` (use tcp://, mqtt://, ssl:// or mqtts://)"
                    ))
                }
            },
            None => (false, uri),
        };
        let authority = rest
            .split(['/', '?'])
            .next()
            .unwrap_or_default()
            .trim_end_matches('/');
        if let Some((_, host)) = authority.rsplit_once('@') {
            let scheme = uri.split_once("://").map_or("", |(s, _)| s);
            let separator = if scheme.is_empty() { "" } else { "://" };
            return Err(format!(
                "`{scheme}{separator}***@{host}`: credentials in the URI are not used; give them \
                 as {USERNAME} and {PASSWORD}"
            ));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| format!("`{uri}`: `{p}` is not a port number"))?;
                (h.trim_start_matches('[').trim_end_matches(']'), port)
            }
            _ => (authority, if tls { 8883 } else { 1883 }),
        };
        if host.is_empty() {
            return Err(format!("`{uri}` names no host"));
        }
        Ok(BrokerAddress {
            host: host.to_string(),
            port,
            tls,
        })
    }
}

/// TLS material (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificate(s) the broker's certificate must chain to.
    pub ca: PathBuf,
    /// Client certificate and private key (PKCS#8, PKCS#1 or SEC1 PEM), for mutual TLS.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// The validated settings of one MQTT source connector.
#[derive(Debug, Clone)]
pub struct MqttSourceSettings {
    /// `name`, the connector's name.
    pub name: Option<String>,
    /// `connector.class` (accepted, not interpreted).
    pub connector_class: Option<String>,
    /// `tasks.max`: how many MQTT clients share the statements (default 1).
    pub tasks: usize,
    /// `connect.mqtt.hosts` as written.
    pub hosts: String,
    /// The parsed broker addresses, tried in order on (re)connect.
    pub brokers: Vec<BrokerAddress>,
    /// `connect.mqtt.kcql`.
    pub kcql: String,
    /// The statements' canonical text, one per statement (for the task split and logs).
    pub statements: Vec<String>,
    /// The compiled plan.
    pub plan: MqttPlan,
    /// `connect.mqtt.service.quality`: subscription QoS (0, 1 or 2).
    pub qos: u8,
    /// `connect.mqtt.username`.
    pub username: Option<String>,
    /// `connect.mqtt.password`.
    pub password: Option<Secret>,
    /// The MQTT client id: `connect.mqtt.client.id`, or one derived from hosts and KCQL.
    pub client_id: String,
    /// True when `client_id` was given explicitly.
    pub client_id_explicit: bool,
    /// `connect.mqtt.clean` (default false: a persistent session).
    pub clean: bool,
    /// `connect.mqtt.keep.alive` (ms; default 5 s).
    pub keep_alive: Duration,
    /// `connect.mqtt.timeout`: connect timeout (ms; default 3 s).
    pub connect_timeout: Duration,
    /// `connect.mqtt.polling.timeout` (accepted; the connector does not poll).
    pub polling_timeout: Duration,
    /// `connect.mqtt.error.policy`: what happens to a poison message and to failed Kafka
    /// writes.
    pub error_policy: ErrorPolicy,
    /// What happens to a poison message: `error_policy`, unless Kafka Connect's
    /// `errors.tolerance` says otherwise ([`ConnectErrors::poison_policy`]).
    pub poison_policy: ErrorPolicy,
    /// `connect.mqtt.retry.interval` (default 60 s): pause between RETRY attempts.
    pub retry_interval: Duration,
    /// `connect.mqtt.max.retries` (default 20; `None` = unlimited).
    pub max_retries: Option<u32>,
    /// `connect.mqtt.log.message`: debug-log every message.
    pub log_message: bool,
    /// `connect.mqtt.share.replicate`: give every task each `$share/…` statement.
    pub share_replicate: bool,
    /// TLS files, when configured.
    pub tls: Option<TlsFiles>,
    /// Avro schemas by source (`connect.source.converter.avro.schemas` / `avro.schemas`),
    /// keys lower-cased.
    pub avro_schemas: BTreeMap<String, AvroSchema>,
    /// `connect.progress.enabled`.
    pub progress_enabled: bool,
    /// `connect.mqtt.protocol.version` (default 3.1.1).
    pub protocol: MqttVersion,
    /// `connect.mqtt.max.inflight`: messages read but not yet confirmed by Kafka.
    pub max_inflight: usize,
    /// `connect.mqtt.dlq.topic`: where skipped poison messages are written.
    pub dlq_topic: Option<String>,
    /// `connect.mqtt.max.message.bytes`: the largest Kafka record written (key, value,
    /// headers and per-record overhead, as [`record_size`](super::size::record_size) counts);
    /// a bigger one is a poison message. Default: the producer's `message.max.bytes`.
    pub max_message_bytes: usize,
    /// How record keys and values are written ([`output`]).
    pub output: OutputSettings,
    /// The `kafka.*` keys, prefix removed, for the producer.
    pub kafka: KafkaProperties,
}

impl MqttSourceSettings {
    /// The Kafka bootstrap servers (`kafka.bootstrap.servers`, default `localhost:9092`).
    pub fn bootstrap_servers(&self) -> &str {
        self.kafka
            .get("bootstrap.servers")
            .map(String::as_str)
            .unwrap_or(DEFAULT_BOOTSTRAP)
    }
}

/// One problem in the connector settings.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MqttSettingsError {
    /// A key is missing, unknown, or has a value that is not acceptable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// `connect.mqtt.kcql` does not parse or compile for the MQTT source.
    #[error("connect.mqtt.kcql is invalid:\n{rendered}")]
    Kcql {
        /// The rendered diagnostics.
        rendered: String,
    },
}

impl MqttSettingsError {
    /// The key the problem is about.
    pub fn key(&self) -> &str {
        match self {
            MqttSettingsError::Key(e) => e.key(),
            MqttSettingsError::Kcql { .. } => KCQL,
        }
    }
}

/// The keys the source reads (unknown ones get a suggestion within edit distance 3); Kafka
/// Connect's converter settings pass.
const KEYS: KnownKeys = KnownKeys {
    keys: KNOWN_KEYS,
    open_prefixes: &["key.converter.", "value.converter."],
    kafka_prefix: KAFKA_PREFIX,
    suggest_within: 3,
};

type Reader<'a> = crate::config::reader::Reader<'a, MqttSettingsError>;

/// A required key: absent → missing, blank → "is required and cannot be blank".
fn required(r: &mut Reader<'_>, key: &'static str) -> Option<String> {
    r.required(key, &format!("{key} is required and cannot be blank"))
}

/// A client id that is the same on every start of the same connector: `kcql-` and a hash
/// (FNV-1a, 64 bit) of the hosts and the KCQL.
pub fn stable_client_id(hosts: &str, kcql: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in hosts.bytes().chain([0u8]).chain(kcql.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("kcql-{h:016x}")
}

impl MqttSourceSettings {
    /// Validates connector properties (e.g. from
    /// [`parse_properties`](crate::config::properties::parse_properties)). Every problem is reported;
    /// a key given twice keeps its last value.
    pub fn from_properties(props: &[(String, String)]) -> Result<Self, Vec<MqttSettingsError>> {
        let (mut r, kafka) = Reader::new(props, KEYS);

        let hosts = required(&mut r, HOSTS);
        let brokers = hosts.as_deref().map(|h| read_brokers(&mut r, h));
        let (kcql, compiled) = read_kcql(&mut r);

        let qos = match r.get(QOS) {
            None => {
                r.errors.push(KeyError::Missing { key: QOS }.into());
                None
            }
            Some(v) => match v.trim().parse::<u8>() {
                Ok(q @ 0..=2) => Some(q),
                _ => {
                    r.invalid(QOS, format!("{QOS} must be 0, 1 or 2, got `{v}`"));
                    None
                }
            },
        };
        let username = r.optional(USERNAME);
        let password = r.optional(PASSWORD).map(Secret::new);
        let explicit_id = r.optional(CLIENT_ID);
        let clean = r.boolean(CLEAN).unwrap_or(false);
        let keep_alive = r.millis(KEEP_ALIVE, DEFAULT_KEEP_ALIVE_MS);
        let connect_timeout = r.millis(TIMEOUT, DEFAULT_TIMEOUT_MS);
        let polling_timeout = r.millis(POLLING_TIMEOUT, 1_000);
        let throw_on_error = r.boolean(THROW_ON_ERROR);
        let _process_duplicates = r.boolean(PROCESS_DUPLICATES);
        let log_message = r.boolean(LOG_MESSAGE).unwrap_or(false);
        let share_replicate = r.boolean(SHARE_REPLICATE).unwrap_or(false);
        let progress_enabled = r.boolean(PROGRESS).unwrap_or(false);

        let error_policy = read_error_policy(&mut r, throw_on_error);
        let poison_policy = ConnectErrors::read(&mut r).poison_policy(error_policy);
        let retry_interval = r.millis(RETRY_INTERVAL, 60_000);
        let max_retries = match r.number::<i64>(MAX_RETRIES, "an integer (-1 = unlimited)") {
            None => Some(20),
            Some(-1) => None,
            Some(n) => match u32::try_from(n) {
                Ok(n) => Some(n),
                Err(_) => {
                    r.invalid(
                        MAX_RETRIES,
                        format!("{MAX_RETRIES} must be -1 (unlimited) or at least 0, got {n}"),
                    );
                    Some(20)
                }
            },
        };
        let tls = read_tls(&mut r);
        let avro_schemas = read_avro_schemas(&mut r);
        let protocol = match r.get(PROTOCOL) {
            None => MqttVersion::V311,
            Some(v) => MqttVersion::parse(v).unwrap_or_else(|| {
                r.invalid(
                    PROTOCOL,
                    format!("{PROTOCOL} must be 3.1.1 or 5, got `{v}`"),
                );
                MqttVersion::V311
            }),
        };
        let max_inflight = r
            .number::<usize>(MAX_INFLIGHT, "a positive number of messages")
            .unwrap_or(DEFAULT_MAX_INFLIGHT);
        if max_inflight == 0 {
            r.invalid(MAX_INFLIGHT, format!("{MAX_INFLIGHT} must be at least 1"));
        }
        let tasks = r
            .number::<usize>(TASKS_MAX, "a positive integer")
            .unwrap_or(1);
        if tasks == 0 {
            r.invalid(TASKS_MAX, format!("{TASKS_MAX} must be at least 1"));
        }
        if let Some(b) = kafka.get("bootstrap.servers") {
            if b.trim().is_empty() {
                r.invalid(BOOTSTRAP, format!("{BOOTSTRAP} cannot be blank"));
            }
        }
        let name = r.optional(NAME);
        let connector_class = r.optional(CONNECTOR_CLASS);
        let dlq_topic = r.optional(DLQ_TOPIC);
        let max_message_bytes = read_max_message_bytes(&mut r, &kafka);
        let output = output::read_output(&mut r);

        match (hosts, brokers, kcql, compiled, qos) {
            (Some(hosts), Some(brokers), Some(kcql), Some((statements, plan)), Some(qos))
                if r.errors.is_empty() =>
            {
                let client_id_explicit = explicit_id.is_some();
                let client_id = explicit_id.unwrap_or_else(|| stable_client_id(&hosts, &kcql));
                Ok(MqttSourceSettings {
                    name,
                    connector_class,
                    tasks,
                    hosts,
                    brokers,
                    kcql,
                    statements,
                    plan,
                    qos,
                    username,
                    password,
                    client_id,
                    client_id_explicit,
                    clean,
                    keep_alive,
                    connect_timeout,
                    polling_timeout,
                    error_policy,
                    poison_policy,
                    retry_interval,
                    max_retries,
                    log_message,
                    share_replicate,
                    tls,
                    avro_schemas,
                    progress_enabled,
                    protocol,
                    max_inflight,
                    dlq_topic,
                    max_message_bytes,
                    output,
                    kafka,
                })
            }
            _ => Err(r.errors),
        }
    }
}

/// `connect.mqtt.max.message.bytes`: at least 1, at most the producer's `message.max.bytes`
/// (librdkafka refuses bigger records itself), which is also the default.
fn read_max_message_bytes(r: &mut Reader<'_>, kafka: &BTreeMap<String, String>) -> usize {
    let producer = match kafka.get("message.max.bytes").map(|v| v.trim()) {
        None => DEFAULT_MESSAGE_MAX_BYTES,
        Some(v) => v.parse::<usize>().unwrap_or_else(|_| {
            r.invalid(
                PRODUCER_MAX_BYTES,
                format!("{PRODUCER_MAX_BYTES} must be a number of bytes, got `{v}`"),
            );
            DEFAULT_MESSAGE_MAX_BYTES
        }),
    };
    let Some(limit) = r.number::<usize>(MAX_MESSAGE_BYTES, "a positive number of bytes") else {
        return producer;
    };
    if limit == 0 {
        r.invalid(
            MAX_MESSAGE_BYTES,
            format!("{MAX_MESSAGE_BYTES} must be at least 1"),
        );
    } else if limit > producer {
        r.invalid(
            MAX_MESSAGE_BYTES,
            format!(
                "{MAX_MESSAGE_BYTES} ({limit}) is above the Kafka producer's message.max.bytes ({producer}), \
                 which refuses bigger records: raise {PRODUCER_MAX_BYTES} too (and the topic's max.message.bytes)"
            ),
        );
    }
    limit
}

fn read_brokers(r: &mut Reader<'_>, hosts: &str) -> Vec<BrokerAddress> {
    let mut out = Vec::new();
    for uri in hosts.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        match BrokerAddress::parse(uri) {
            Ok(b) => out.push(b),
            Err(e) => r.invalid(HOSTS, format!("{HOSTS}: {e}")),
        }
    }
    out
}

fn read_error_policy(r: &mut Reader<'_>, throw_on_error: Option<bool>) -> ErrorPolicy {
    let explicit = r
        .get(ERROR_POLICY)
        .map(str::trim)
        .map(|v| ErrorPolicy::parse(v).ok_or(v));
    match (explicit, throw_on_error) {
        (Some(Err(v)), _) => {
            r.invalid(
                ERROR_POLICY,
                format!("{ERROR_POLICY} must be NOOP, THROW or RETRY, got `{v}`"),
            );
            ErrorPolicy::Throw
        }
        (Some(Ok(ErrorPolicy::Noop)), Some(true)) => {
            r.invalid(
                THROW_ON_ERROR,
                format!("{THROW_ON_ERROR}=true contradicts {ERROR_POLICY}=NOOP; keep one"),
            );
            ErrorPolicy::Noop
        }
        (Some(Ok(p)), _) => p,
        (None, Some(false)) => ErrorPolicy::Noop,
        (None, _) => ErrorPolicy::Throw,
    }
}

fn read_tls(r: &mut Reader<'_>) -> Option<TlsFiles> {
    let ca = r.optional(SSL_CA);
    let cert = r.optional(SSL_CERT);
    let key = r.optional(SSL_KEY);
    let check = |r: &mut Reader<'_>, key: &'static str, path: &Option<String>| {
        if let Some(p) = path {
            if !std::path::Path::new(p).is_file() {
                r.invalid(key, format!("{key}: file `{p}` does not exist"));
            }
        }
    };
    check(r, SSL_CA, &ca);
    check(r, SSL_CERT, &cert);
    check(r, SSL_KEY, &key);
    let client = match (cert, key) {
        (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
        (None, None) => None,
        (Some(_), None) => {
            r.invalid(
                SSL_KEY,
                format!("{SSL_CERT} is set, so {SSL_KEY} is needed too"),
            );
            None
        }
        (None, Some(_)) => {
            r.invalid(
                SSL_CERT,
                format!("{SSL_KEY} is set, so {SSL_CERT} is needed too"),
            );
            None
        }
    };
    match ca {
        Some(ca) => Some(TlsFiles {
            ca: PathBuf::from(ca),
            client,
        }),
        None if client.is_some() => {
            r.invalid(
                SSL_CA,
                format!("{SSL_CA} is needed with a client certificate"),
            );
            None
        }
        None => None,
    }
}

/// Parses `source=/path/a.avsc;source2=/path/b.avsc` into schemas keyed by lower-cased source.
fn read_avro_schemas(r: &mut Reader<'_>) -> BTreeMap<String, AvroSchema> {
    let mut out = BTreeMap::new();
    for key in [AVRO_SCHEMAS, AVRO_SCHEMAS_SHORT, AVRO_FLAG] {
        let Some(v) = r.optional(key) else { continue };
        for entry in v.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((source, path)) = entry.split_once('=') else {
                r.invalid(
                    key,
                    format!("{key}: `{entry}` is not `<mqtt source>=<schema file>`"),
                );
                continue;
            };
            let (source, path) = (source.trim().to_ascii_lowercase(), path.trim());
            match std::fs::read_to_string(path) {
                Err(e) => r.invalid(key, format!("{key}: cannot read `{path}`: {e}")),
                Ok(text) => match AvroSchema::parse(&text) {
                    Ok(s) => {
                        out.entry(source).or_insert(s);
                    }
                    Err(e) => r.invalid(key, format!("{key}: `{path}` is not an Avro schema: {e}")),
                },
            }
        }
    }
    out
}

/// `connect.mqtt.kcql`: the statements' canonical text and the plan, when it compiles.
fn read_kcql(r: &mut Reader<'_>) -> (Option<String>, Option<(Vec<String>, MqttPlan)>) {
    let Some(src) = r.get(KCQL).map(str::trim).filter(|s| !s.is_empty()) else {
        r.errors.push(KeyError::Missing { key: KCQL }.into());
        return (None, None);
    };
    let src = src.to_string();
    match compile_kcql(&src) {
        Ok(x) => (Some(src), Some(x)),
        Err(rendered) => {
            r.errors.push(MqttSettingsError::Kcql { rendered });
            (Some(src), None)
        }
    }
}

/// Parses and compiles KCQL for the MQTT source: each statement's canonical text and the plan,
/// or the rendered diagnostics.
pub fn compile_kcql(src: &str) -> Result<(Vec<String>, MqttPlan), String> {
    let plan = kcql::compile_mqtt(src).map_err(|d| d.to_string())?;
    // The text compiled, so it parses: this only recovers the statements for their canonical text.
    let statements = kcql::parse_many(src).map_err(|d| d.to_string())?;
    Ok((statements.iter().map(|s| s.to_string()).collect(), plan))
}

/// A `[[source.mqtt]]` table of a TOML pipeline file. As in `kcql run`'s other tables, field
/// names are the property keys without `connect.mqtt.`, with `_` for `.`
/// (`connect.mqtt.keep.alive` → `keep_alive`, `connect.mqtt.service.quality` →
/// `service_quality`), plus `name`, `tasks` (`tasks.max`) and a `kafka` table of producer
/// properties; durations are milliseconds or strings with a unit (`"5s"`); unknown fields are
/// errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSourceToml {
    /// The connector's name.
    pub name: Option<String>,
    /// Broker URIs (`tcp://h:1883`, `ssl://h:8883`), tried in order.
    pub hosts: Vec<String>,
    /// The KCQL statements (one string may hold several, `;`-separated).
    pub kcql: KcqlText,
    /// Subscription QoS (default 1).
    #[serde(default = "default_qos")]
    pub service_quality: u8,
    /// MQTT protocol version, `"3.1.1"` (default) or `"5"`.
    #[serde(default)]
    pub protocol_version: MqttVersion,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Secret>,
    /// Client id (default: derived from hosts and KCQL, stable across restarts).
    pub client_id: Option<String>,
    /// Clean session (default false).
    #[serde(default)]
    pub clean: bool,
    /// Keep-alive: milliseconds or a duration string such as `"5s"` (default 5 s).
    pub keep_alive: Option<DurationSetting>,
    /// Connect timeout: milliseconds or a duration string (default 3 s).
    pub timeout: Option<DurationSetting>,
    /// NOOP, THROW (default) or RETRY.
    pub error_policy: Option<String>,
    /// Pause between RETRY attempts: milliseconds or a duration string (default 60 s).
    pub retry_interval: Option<DurationSetting>,
    /// RETRY attempts (default 20; -1 = unlimited).
    pub max_retries: Option<i64>,
    /// Dead-letter topic for skipped poison messages.
    pub dlq_topic: Option<String>,
    /// The largest Kafka record written, in bytes (default: the producer's
    /// `message.max.bytes`, 1000000 unless set in the `kafka` table).
    pub max_message_bytes: Option<usize>,
    /// How many MQTT clients share the statements (default 1).
    pub tasks: Option<usize>,
    /// Give every task each `$share/…` statement.
    #[serde(default)]
    pub share_replicate: bool,
    /// Messages read but not yet confirmed by Kafka (default 10000).
    pub max_inflight: Option<usize>,
    /// Debug-log every message.
    #[serde(default)]
    pub log_message: bool,
    /// TLS: CA certificate file.
    pub ssl_ca_cert: Option<String>,
    /// TLS: client certificate file.
    pub ssl_cert: Option<String>,
    /// TLS: client key file.
    pub ssl_key: Option<String>,
    /// Avro schema files by MQTT source.
    #[serde(default)]
    pub avro_schemas: BTreeMap<String, String>,
    /// How values are written: json (default), string, bytes, avro, confluent_avro.
    pub value_format_out: Option<String>,
    /// How keys are written: string (default), bytes, json, avro, confluent_avro.
    pub key_format_out: Option<String>,
    /// The values' Avro schema (JSON text or a file path) for the Avro output formats.
    pub avro_schema_out: Option<String>,
    /// The Schema Registry for `confluent_avro`.
    pub schema_registry_url: Option<String>,
    /// `USER_INFO` or `URL`.
    pub basic_auth_credentials_source: Option<String>,
    /// `user:password` for the registry.
    pub basic_auth_user_info: Option<Secret>,
    /// A PEM CA file for an `https` registry.
    pub schema_registry_ca_file: Option<String>,
    /// Kafka producer settings (`bootstrap.servers`, …).
    #[serde(default)]
    pub kafka: KafkaProperties,
}

/// KCQL in TOML: one string or a list of statements.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum KcqlText {
    /// `kcql = "INSERT …; INSERT …"`
    One(String),
    /// `kcql = ["INSERT …", "INSERT …"]`
    Many(Vec<String>),
}

fn default_qos() -> u8 {
    1
}

impl MqttSourceToml {
    /// The equivalent connector properties (so both forms go through one validator).
    pub fn to_properties(&self) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = Vec::new();
        let mut put = |k: &str, v: String| p.push((k.to_string(), v));
        if let Some(n) = &self.name {
            put(NAME, n.clone());
        }
        put(HOSTS, self.hosts.join(","));
        put(
            KCQL,
            match &self.kcql {
                KcqlText::One(s) => s.clone(),
                KcqlText::Many(v) => v.join(";\n"),
            },
        );
        put(QOS, self.service_quality.to_string());
        put(
            PROTOCOL,
            match self.protocol_version {
                MqttVersion::V311 => "3.1.1",
                MqttVersion::V5 => "5",
            }
            .to_string(),
        );
        let opts: [(&str, Option<String>); 25] = [
            (output::VALUE_FORMAT_OUT, self.value_format_out.clone()),
            (output::KEY_FORMAT_OUT, self.key_format_out.clone()),
            (output::AVRO_SCHEMA_OUT, self.avro_schema_out.clone()),
            (
                output::SCHEMA_REGISTRY_URL,
                self.schema_registry_url.clone(),
            ),
            (
                registry::BASIC_AUTH_SOURCE,
                self.basic_auth_credentials_source.clone(),
            ),
            (
                registry::BASIC_AUTH_USER_INFO,
                self.basic_auth_user_info
                    .as_ref()
                    .map(|s| s.expose().to_string()),
            ),
            (registry::REGISTRY_CA, self.schema_registry_ca_file.clone()),
            (USERNAME, self.username.clone()),
            (
                PASSWORD,
                self.password.as_ref().map(|p| p.expose().to_string()),
            ),
            (CLIENT_ID, self.client_id.clone()),
            (CLEAN, Some(self.clean.to_string())),
            (KEEP_ALIVE, self.keep_alive.map(|v| v.to_string())),
            (TIMEOUT, self.timeout.map(|v| v.to_string())),
            (ERROR_POLICY, self.error_policy.clone()),
            (RETRY_INTERVAL, self.retry_interval.map(|v| v.to_string())),
            (MAX_RETRIES, self.max_retries.map(|v| v.to_string())),
            (DLQ_TOPIC, self.dlq_topic.clone()),
            (
                MAX_MESSAGE_BYTES,
                self.max_message_bytes.map(|v| v.to_string()),
            ),
            (TASKS_MAX, self.tasks.map(|v| v.to_string())),
            (SHARE_REPLICATE, Some(self.share_replicate.to_string())),
            (MAX_INFLIGHT, self.max_inflight.map(|v| v.to_string())),
            (LOG_MESSAGE, Some(self.log_message.to_string())),
            (SSL_CA, self.ssl_ca_cert.clone()),
            (SSL_CERT, self.ssl_cert.clone()),
            (SSL_KEY, self.ssl_key.clone()),
        ];
        for (k, v) in opts {
            if let Some(v) = v {
                put(k, v);
            }
        }
        if !self.avro_schemas.is_empty() {
            let joined: Vec<String> = self
                .avro_schemas
                .iter()
                .map(|(s, f)| format!("{s}={f}"))
                .collect();
            put(AVRO_SCHEMAS, joined.join(";"));
        }
        for (k, v) in &self.kafka {
            put(&format!("{KAFKA_PREFIX}{k}"), v.clone());
        }
        p
    }

    /// Validates the table into settings (the same rules as the properties form).
    pub fn into_settings(self) -> Result<MqttSourceSettings, Vec<MqttSettingsError>> {
        MqttSourceSettings::from_properties(&self.to_properties())
    }
}

pub mod output;
pub use output::OutputSettings;

#[cfg(test)]
mod tests;
