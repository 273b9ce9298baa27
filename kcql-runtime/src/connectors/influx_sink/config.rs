//! Settings of the InfluxDB sink connector, read from connector properties.
//!
//! Accepts Stream Reactor's `connect.influx.*` keys (reference spec, section 2), the Kafka
//! Connect framework keys (`name`, `connector.class`, `tasks.max`, `topics`), our additions
//! (`connect.influx.token|org|bucket` for the InfluxDB 2.x API, `connect.influx.batch.size`,
//! `connect.influx.linger.ms`, `connect.influx.gzip`, `connect.influx.dlq.topic`) and any
//! `kafka.*` key, passed through to the Kafka client. Validation reports every problem at once.
//! TLS keys for an `https://` URL and the start-up warnings: module [`tls`](self::tls).

use std::collections::BTreeSet;
use std::time::Duration;

use kcql::plan::InfluxPlan;
use thiserror::Error;

use crate::config::common::{ErrorPolicy, Secret};
use crate::config::connect_errors::{self, ConnectErrors};
use crate::config::part_format::{read_part_format, PartFormat};
use crate::config::reader::keys::{
    CONNECTOR_CLASS, KAFKA_PREFIX, KEY_CONVERTER, NAME, PROGRESS, TASKS_MAX, TOPICS,
    VALUE_CONVERTER,
};
use crate::config::reader::{KeyError, KnownKeys};
use crate::config::registry;
use crate::connectors::influx_sink::influx::{check_url, Api, Consistency, InfluxConfig};
use crate::decode::Format;
use crate::http_tls::HttpTls;
use crate::kafka::KafkaProperties;
use crate::record::{JsonEnvelope, RecordDecoder, RecordFormat, RecordFormatError};
use crate::redact::redact_url;

const URL: &str = "connect.influx.url";
const DB: &str = "connect.influx.db";
const USERNAME: &str = "connect.influx.username";
const PASSWORD: &str = "connect.influx.password";
const KCQL: &str = "connect.influx.kcql";
const ERROR_POLICY: &str = "connect.influx.error.policy";
const RETRY_INTERVAL: &str = "connect.influx.retry.interval";
const MAX_RETRIES: &str = "connect.influx.max.retries";
const RETENTION_POLICY: &str = "connect.influx.retention.policy";
const CONSISTENCY: &str = "connect.influx.consistency.level";
const TOKEN: &str = "connect.influx.token";
const ORG: &str = "connect.influx.org";
const BUCKET: &str = "connect.influx.bucket";
const BATCH_SIZE: &str = "connect.influx.batch.size";
const LINGER_MS: &str = "connect.influx.linger.ms";
const GZIP: &str = "connect.influx.gzip";
const DLQ_TOPIC: &str = "connect.influx.dlq.topic";
const KEY_FORMAT: &str = "connect.influx.key.format";
const VALUE_FORMAT: &str = "connect.influx.value.format";
const AVRO_SCHEMA: &str = "connect.influx.avro.schema";
const SCHEMA_REGISTRY_URL: &str = "connect.influx.schema.registry.url";
const KEY_CONVERTER_REGISTRY: &str = "key.converter.schema.registry.url";
const VALUE_CONVERTER_REGISTRY: &str = "value.converter.schema.registry.url";
const KEY_CONVERTER_SCHEMAS: &str = "key.converter.schemas.enable";
const VALUE_CONVERTER_SCHEMAS: &str = "value.converter.schemas.enable";

mod tls;
use tls::{INSECURE_SKIP_VERIFY, SSL_CA, SSL_CERT, SSL_KEY, SSL_SYSTEM_ROOTS};

/// Every key the sink knows (besides `kafka.*`).
pub const KNOWN_KEYS: &[&str] = &[
    URL,
    DB,
    USERNAME,
    PASSWORD,
    KCQL,
    ERROR_POLICY,
    RETRY_INTERVAL,
    MAX_RETRIES,
    RETENTION_POLICY,
    CONSISTENCY,
    PROGRESS,
    TOPICS,
    NAME,
    TASKS_MAX,
    CONNECTOR_CLASS,
    TOKEN,
    ORG,
    BUCKET,
    BATCH_SIZE,
    LINGER_MS,
    GZIP,
    DLQ_TOPIC,
    KEY_FORMAT,
    VALUE_FORMAT,
    AVRO_SCHEMA,
    SCHEMA_REGISTRY_URL,
    KEY_CONVERTER,
    VALUE_CONVERTER,
    KEY_CONVERTER_REGISTRY,
    VALUE_CONVERTER_REGISTRY,
    KEY_CONVERTER_SCHEMAS,
    VALUE_CONVERTER_SCHEMAS,
    connect_errors::TOLERANCE,
    connect_errors::DLQ_TOPIC_NAME,
    connect_errors::DLQ_CONTEXT_HEADERS,
    connect_errors::DLQ_REPLICATION_FACTOR,
    connect_errors::LOG_ENABLE,
    connect_errors::LOG_INCLUDE_MESSAGES,
    connect_errors::RETRY_TIMEOUT,
    connect_errors::RETRY_DELAY_MAX_MS,
    SSL_CA,
    SSL_CERT,
    SSL_KEY,
    SSL_SYSTEM_ROOTS,
    INSECURE_SKIP_VERIFY,
    registry::SCHEMA_REGISTRY_URL,
    registry::BASIC_AUTH_SOURCE,
    registry::BASIC_AUTH_USER_INFO,
    registry::REGISTRY_CA,
    registry::CONVERTER_REGISTRY_KEYS[0],
    registry::CONVERTER_REGISTRY_KEYS[1],
    registry::CONVERTER_REGISTRY_KEYS[2],
    registry::CONVERTER_REGISTRY_KEYS[3],
    registry::CONVERTER_REGISTRY_KEYS[4],
    registry::CONVERTER_REGISTRY_KEYS[5],
];

/// Where points are written: InfluxDB 1.x (database, user) or the 2.x API (org, bucket, token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InfluxTarget {
    /// InfluxDB 1.x: `connect.influx.db`, `connect.influx.username` and friends.
    V1 {
        /// `connect.influx.db`.
        database: String,
        /// `connect.influx.username`.
        username: String,
        /// `connect.influx.password` (`None` when absent or empty).
        password: Option<Secret>,
        /// `connect.influx.retention.policy` (default `autogen`).
        retention_policy: String,
        /// `connect.influx.consistency.level` (default `ALL`).
        consistency: Consistency,
    },
    /// The InfluxDB 2.x API: `connect.influx.org`, `connect.influx.bucket`,
    /// `connect.influx.token`.
    V2 {
        /// `connect.influx.org`.
        org: String,
        /// `connect.influx.bucket`.
        bucket: String,
        /// `connect.influx.token`.
        token: Secret,
    },
}

/// The validated settings of one InfluxDB sink connector.
#[derive(Debug, Clone)]
pub struct InfluxSinkSettings {
    /// `name`, the connector's name.
    pub name: Option<String>,
    /// `connector.class` (accepted, not interpreted).
    pub connector_class: Option<String>,
    /// `tasks.max`.
    pub tasks_max: Option<u32>,
    /// `topics`, when given (it then equals the KCQL sources).
    pub topics: Option<Vec<String>>,
    /// `connect.influx.url`.
    pub url: String,
    /// TLS for an `https://` URL: `connect.influx.ssl.ca.cert`, `connect.influx.ssl.cert`,
    /// `connect.influx.ssl.key`, `connect.influx.ssl.system.roots`,
    /// `connect.influx.insecure.skip.verify`.
    pub tls: HttpTls,
    /// The write target (1.x or 2.x API).
    pub target: InfluxTarget,
    /// `connect.influx.kcql`, as written.
    pub kcql: String,
    /// How many KCQL statements `connect.influx.kcql` holds.
    pub statement_count: usize,
    /// The compiled routes.
    pub plan: InfluxPlan,
    /// `connect.influx.error.policy` (default `THROW`).
    pub error_policy: ErrorPolicy,
    /// `connect.influx.retry.interval` (default 60 s).
    pub retry_interval: Duration,
    /// `connect.influx.max.retries` (default 20; `None` = unlimited, written `-1`).
    pub max_retries: Option<u32>,
    /// `connect.progress.enabled` (default false).
    pub progress_enabled: bool,
    /// `connect.influx.batch.size`: lines per write (writer default when absent).
    pub batch_size: Option<usize>,
    /// `connect.influx.linger.ms`: how long a partial batch waits (writer default when absent).
    pub linger: Option<Duration>,
    /// `connect.influx.gzip` (default false).
    pub gzip: bool,
    /// What happens to a poison record (one that cannot be decoded or become a point):
    /// `connect.influx.error.policy`, unless Kafka Connect's `errors.tolerance` says
    /// otherwise ([`ConnectErrors::poison_policy`]). Failed writes follow `error_policy`.
    pub poison_policy: ErrorPolicy,
    /// `connect.influx.dlq.topic` or `errors.deadletterqueue.topic.name`: where skipped
    /// records are copied.
    pub dlq_topic: Option<String>,
    /// Whether dead-letter copies carry the `__connect.errors.*` headers:
    /// `errors.deadletterqueue.context.headers.enable` when given; otherwise yes for
    /// `connect.influx.dlq.topic` and no for `errors.deadletterqueue.topic.name` (Kafka
    /// Connect's default).
    pub dlq_context_headers: bool,
    /// How record keys and values are decoded: `connect.influx.key.format`,
    /// `connect.influx.value.format` (or Kafka Connect's `key.converter`, `value.converter`),
    /// `connect.influx.avro.schema`, `connect.influx.schema.registry.url` (or
    /// `value.converter.schema.registry.url`). Default: JSON values, sniffed keys.
    pub record_format: RecordFormat,
    /// The `kafka.*` keys, prefix removed, for the Kafka client.
    pub kafka: KafkaProperties,
}

/// One problem in the connector properties.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SettingsError {
    /// A key is missing, unknown, or has a value that is not acceptable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// `connect.influx.kcql` does not parse or compile for the InfluxDB sink.
    #[error("connect.influx.kcql is invalid:\n{rendered}")]
    Kcql {
        /// The rendered diagnostics.
        rendered: String,
    },
    /// `topics` is not the set of topics the KCQL reads.
    #[error("topics does not match the KCQL sources: {}", describe_topics(.not_in_topics, .not_in_kcql))]
    TopicsMismatch {
        /// KCQL sources missing from `topics`.
        not_in_topics: Vec<String>,
        /// `topics` entries no KCQL statement reads.
        not_in_kcql: Vec<String>,
    },
}

fn describe_topics(not_in_topics: &[String], not_in_kcql: &[String]) -> String {
    let mut parts = Vec::new();
    if !not_in_topics.is_empty() {
        parts.push(format!(
            "read by the KCQL but not in topics: {}",
            not_in_topics.join(", ")
        ));
    }
    if !not_in_kcql.is_empty() {
        parts.push(format!(
            "in topics but read by no KCQL statement: {}",
            not_in_kcql.join(", ")
        ));
    }
    parts.join("; ")
}

impl SettingsError {
    /// The key the problem is about.
    pub fn key(&self) -> &str {
        match self {
            SettingsError::Key(e) => e.key(),
            SettingsError::Kcql { .. } => KCQL,
            SettingsError::TopicsMismatch { .. } => TOPICS,
        }
    }
}

/// The keys the sink reads (unknown ones get a suggestion within edit distance 2).
const KEYS: KnownKeys = KnownKeys {
    keys: KNOWN_KEYS,
    open_prefixes: &[],
    kafka_prefix: KAFKA_PREFIX,
    suggest_within: 2,
};

type Reader<'a> = crate::config::reader::Reader<'a, SettingsError>;

impl InfluxSinkSettings {
    /// Validates connector properties (e.g. from
    /// [`parse_properties`](crate::config::properties::parse_properties)). Every problem is reported;
    /// a key given twice keeps its last value.
    pub fn from_properties(props: &[(String, String)]) -> Result<Self, Vec<SettingsError>> {
        let (mut r, kafka) = Reader::new(props, KEYS);

        let url = r.required(URL, "connect.influx.url is not set correctly");
        if let Some(Err(e)) = url.as_deref().map(check_url) {
            r.invalid(URL, format!("{URL}: {e}"));
        }
        let tls = tls::read_tls(&mut r, url.as_deref());
        let target = read_target(&mut r);
        let (kcql, compiled) = read_kcql(&mut r);

        let error_policy = match r.get(ERROR_POLICY).map(str::trim) {
            None => ErrorPolicy::Throw,
            Some(v) => ErrorPolicy::parse(v).unwrap_or_else(|| {
                r.invalid(
                    ERROR_POLICY,
                    format!("{ERROR_POLICY} must be NOOP, THROW or RETRY, got `{v}`"),
                );
                ErrorPolicy::Throw
            }),
        };
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
        let progress_enabled = r.boolean(PROGRESS).unwrap_or(false);
        let gzip = r.boolean(GZIP).unwrap_or(false);
        let tasks_max = r.number::<u32>(TASKS_MAX, "a positive integer");
        if tasks_max == Some(0) {
            r.invalid(TASKS_MAX, format!("{TASKS_MAX} must be at least 1"));
        }
        let batch_size = r.number::<usize>(BATCH_SIZE, "a positive number of lines");
        if batch_size == Some(0) {
            r.invalid(BATCH_SIZE, format!("{BATCH_SIZE} must be at least 1"));
        }
        let linger = r.duration(LINGER_MS);

        let topics = r.get(TOPICS).map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        });
        if let (Some(topics), Some((_, plan))) = (&topics, &compiled) {
            let listed: BTreeSet<&str> = topics.iter().map(String::as_str).collect();
            let read: BTreeSet<&str> = plan.routes.iter().map(|r| r.topic.as_str()).collect();
            let not_in_topics: Vec<String> =
                read.difference(&listed).map(|s| s.to_string()).collect();
            let not_in_kcql: Vec<String> =
                listed.difference(&read).map(|s| s.to_string()).collect();
            if !not_in_topics.is_empty() || !not_in_kcql.is_empty() {
                r.errors.push(SettingsError::TopicsMismatch {
                    not_in_topics,
                    not_in_kcql,
                });
            }
        }

        let name = r.optional(NAME);
        let connector_class = r.optional(CONNECTOR_CLASS);
        let connect_errors = ConnectErrors::read(&mut r);
        let poison_policy = connect_errors.poison_policy(error_policy);
        let (dlq_topic, dlq_context_headers) =
            match (r.optional(DLQ_TOPIC), connect_errors.dlq_topic) {
                (Some(ours), Some(theirs)) if ours != theirs => {
                    r.invalid(
                        connect_errors::DLQ_TOPIC_NAME,
                        format!(
                        "{} = `{theirs}` disagrees with {DLQ_TOPIC} = `{ours}`: give one of them",
                        connect_errors::DLQ_TOPIC_NAME
                    ),
                    );
                    (Some(ours), true)
                }
                (Some(ours), _) => (Some(ours), connect_errors.context_headers.unwrap_or(true)),
                (None, Some(theirs)) => (
                    Some(theirs),
                    connect_errors.context_headers.unwrap_or(false),
                ),
                (None, None) => (None, false),
            };
        let record_format = read_record_format(&mut r);

        match (url, target, kcql, compiled) {
            (Some(url), Some(target), Some(kcql), Some((statement_count, plan)))
                if r.errors.is_empty() =>
            {
                Ok(InfluxSinkSettings {
                    name,
                    connector_class,
                    tasks_max,
                    topics,
                    url,
                    tls,
                    target,
                    kcql,
                    statement_count,
                    plan,
                    error_policy,
                    retry_interval,
                    max_retries,
                    progress_enabled,
                    batch_size,
                    linger,
                    gzip,
                    poison_policy,
                    dlq_topic,
                    dlq_context_headers,
                    record_format,
                    kafka,
                })
            }
            _ => Err(r.errors),
        }
    }

    /// The writer's configuration: URL, API and target, TLS, gzip and batch limits from these
    /// settings; every other writer setting at its default.
    pub fn influx_config(&self) -> InfluxConfig {
        let api = match &self.target {
            InfluxTarget::V1 {
                database,
                username,
                password,
                retention_policy,
                consistency,
            } => Api::V1 {
                database: database.clone(),
                retention_policy: Some(retention_policy.clone()),
                username: Some(username.clone()),
                password: password.clone(),
                consistency: Some(*consistency),
            },
            InfluxTarget::V2 { org, bucket, token } => Api::V2 {
                org: org.clone(),
                bucket: bucket.clone(),
                token: token.clone(),
            },
        };
        let mut config = InfluxConfig::new(self.url.clone(), api);
        config.gzip = self.gzip;
        config.tls = self.tls.clone();
        if let Some(n) = self.batch_size {
            config.batch.max_lines = n;
        }
        if let Some(l) = self.linger {
            config.batch.linger = l;
        }
        config
    }
}

/// The key and value formats, from our keys or from Kafka Connect's converter keys (which
/// must then agree), checked by building the decoder.
fn read_record_format(r: &mut Reader<'_>) -> RecordFormat {
    let (key, key_envelope) = read_format(r, KEY_FORMAT, KEY_CONVERTER, KEY_CONVERTER_SCHEMAS);
    let (value, value_envelope) =
        read_format(r, VALUE_FORMAT, VALUE_CONVERTER, VALUE_CONVERTER_SCHEMAS);
    let mut registry: Option<(&str, String)> = None;
    for key in [
        SCHEMA_REGISTRY_URL,
        registry::SCHEMA_REGISTRY_URL,
        VALUE_CONVERTER_REGISTRY,
        KEY_CONVERTER_REGISTRY,
    ] {
        match (r.optional(key), &registry) {
            (Some(url), Some((first, seen))) if &url != seen => r.invalid(
                key,
                format!(
                    "{key} = `{}` disagrees with {first} = `{}`",
                    redact_url(&url),
                    redact_url(seen)
                ),
            ),
            (Some(url), None) => registry = Some((key, url)),
            _ => {}
        }
    }
    let format = RecordFormat {
        key,
        value: value.unwrap_or_default(),
        avro_schema: r.optional(AVRO_SCHEMA),
        schema_registry_url: registry.map(|(_, url)| url.into()),
        json_envelope: JsonEnvelope {
            key: key_envelope,
            value: value_envelope,
        },
        registry_options: registry::read_registry_options(r),
    };
    if let Err(e) = RecordDecoder::new(&format) {
        let (at, message) = match e {
            RecordFormatError::MissingAvroSchema { part } => (
                AVRO_SCHEMA,
                format!("connect.influx.{part}.format = avro needs {AVRO_SCHEMA} (the writer schema as JSON text)"),
            ),
            RecordFormatError::AvroSchema(e) => (AVRO_SCHEMA, format!("{AVRO_SCHEMA}: {e}")),
            RecordFormatError::MissingRegistry { part } => (
                SCHEMA_REGISTRY_URL,
                format!("connect.influx.{part}.format = confluent_avro needs {SCHEMA_REGISTRY_URL} (or {part}.converter.schema.registry.url)"),
            ),
            // A bad CA file was reported under its own key.
            RecordFormatError::Registry(_) if r.errors.iter().any(|e| e.key() == registry::REGISTRY_CA) => return format,
            RecordFormatError::Registry(e) => (SCHEMA_REGISTRY_URL, format!("{SCHEMA_REGISTRY_URL}: {e}")),
        };
        r.invalid(at, message);
    }
    format
}

/// One part's format: `format_key` (json, string, bytes, avro, confluent_avro) or the Kafka
/// Connect `converter_key` class it stands for; both given must agree. With it, whether a
/// JSON part may come in Kafka Connect's schema envelope: `schemas_key`, whose default is
/// true when the part is read by `JsonConverter` (as in Kafka Connect) and false otherwise.
fn read_format(
    r: &mut Reader<'_>,
    format_key: &'static str,
    converter_key: &'static str,
    schemas_key: &'static str,
) -> (Option<Format>, bool) {
    let PartFormat { format, converter } = read_part_format(r, format_key, converter_key, "reads");
    let envelope = r
        .boolean(schemas_key)
        .unwrap_or(converter == Some(Format::Json));
    (
        format,
        envelope && format.unwrap_or_default() == Format::Json,
    )
}

/// The 1.x or 2.x target. 2.x is chosen when any of token, org or bucket is set.
fn read_target(r: &mut Reader<'_>) -> Option<InfluxTarget> {
    let v2 = [TOKEN, ORG, BUCKET].iter().any(|k| r.get(k).is_some());
    if v2 {
        for key in [DB, USERNAME, PASSWORD, RETENTION_POLICY, CONSISTENCY] {
            if r.get(key).is_some() {
                r.invalid(
                    key,
                    format!(
                        "{key} is an InfluxDB 1.x setting and cannot be combined with \
                         {TOKEN}/{ORG}/{BUCKET} (2.x API)"
                    ),
                );
            }
        }
        let org = r.required(ORG, "connect.influx.org is empty");
        let bucket = r.required(BUCKET, "connect.influx.bucket is empty");
        let token = r.required(TOKEN, "connect.influx.token is empty");
        return Some(InfluxTarget::V2 {
            org: org?,
            bucket: bucket?,
            token: Secret::new(token?),
        });
    }
    let database = r.required(DB, "connect.influx.db is empty");
    let username = r.required(USERNAME, "connect.influx.username is empty");
    let password = r.get(PASSWORD).filter(|p| !p.is_empty()).map(Secret::new);
    let retention_policy = r
        .optional(RETENTION_POLICY)
        .unwrap_or_else(|| "autogen".to_string());
    let consistency = match r.get(CONSISTENCY).map(str::trim) {
        None => Some(Consistency::All),
        Some(v) => match v.to_ascii_uppercase().as_str() {
            "ONE" => Some(Consistency::One),
            "ANY" => Some(Consistency::Any),
            "ALL" => Some(Consistency::All),
            "QUORUM" => Some(Consistency::Quorum),
            _ => {
                r.invalid(
                    CONSISTENCY,
                    format!("{CONSISTENCY} must be ONE, ANY, ALL or QUORUM, got `{v}`"),
                );
                None
            }
        },
    };
    Some(InfluxTarget::V1 {
        database: database?,
        username: username?,
        password,
        retention_policy,
        consistency: consistency?,
    })
}

/// `connect.influx.kcql`, and its statement count and plan when it compiles.
fn read_kcql(r: &mut Reader<'_>) -> (Option<String>, Option<(usize, InfluxPlan)>) {
    let Some(src) = r.required(KCQL, "Missing [connect.influx.kcql]") else {
        return (None, None);
    };
    match kcql::compile_influx(&src) {
        // One route per statement.
        Ok(plan) => (Some(src), Some((plan.routes.len(), plan))),
        Err(d) => {
            r.errors.push(SettingsError::Kcql {
                rendered: d.to_string(),
            });
            (Some(src), None)
        }
    }
}

#[cfg(test)]
mod tests;
