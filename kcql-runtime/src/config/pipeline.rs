//! The pipeline file (`kcql run pipeline.toml`) and `.properties` connector files.
//!
//! A pipeline file holds any number of components, each with its own KCQL:
//!
//! ```toml
//! [runtime]
//! metrics = "127.0.0.1:9464"      # /metrics and /health; "off" disables
//!
//! [kafka]                         # shared by every component (a component's own `kafka`
//! brokers = "127.0.0.1:9092"      # table adds to / overrides it)
//! [kafka.properties]
//! "security.protocol" = "plaintext"
//!
//! [[sink.influx]]
//! name = "sensor-sink"
//! kcql = "INSERT INTO sensor SELECT * FROM sensor_avg WITHTIMESTAMP ts WITHTAG(id)"
//! url = "http://127.0.0.1:8086"
//! db = "iot"
//! username = "kcql"
//! ```
//!
//! A component table's keys are its Stream Reactor property names without the connector
//! prefix, with `_` for `.` (`connect.influx.retry.interval` → `retry_interval`,
//! `connect.influx.db` → `db`), plus `name`, `topics`, `tasks` (`tasks.max`), `group_id` (the
//! consumer group) and a `kafka` table of client properties. Each table is turned into those
//! properties and validated by the same code as a `.properties` file, so both formats accept
//! and reject exactly the same settings. Every problem in the file is reported at once.

use std::collections::BTreeMap;
use std::path::Path;

use thiserror::Error;
use toml::{Table, Value};

use super::properties::PropertiesError;
use super::providers::{resolve_toml, Providers};
use super::reader::KeyError;
use super::suggest::closest;
use super::worker::{is_worker_file, WorkerFile};
use crate::connectors::influx_sink::config::{InfluxSinkSettings, SettingsError};
use crate::connectors::mqtt_source::config::{MqttSourceSettings, MqttSourceToml};
use crate::connectors::window_processor::config::{WindowProcessorSettings, WindowProcessorToml};
use crate::kafka::KafkaSettings;
use connector_files::properties_pairs;

/// Default address of the `/metrics` and `/health` endpoint.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";

/// One component of a pipeline, validated.
#[derive(Debug, Clone)]
pub enum ComponentSettings {
    /// A Kafka → InfluxDB sink.
    InfluxSink(Box<InfluxSinkSettings>),
    /// A Kafka → Kafka window processor.
    WindowProcessor(Box<WindowProcessorSettings>),
    /// An MQTT → Kafka source.
    MqttSource(Box<MqttSourceSettings>),
}

impl ComponentSettings {
    /// What to warn about at start and in `kcql run --check` (settings that work but are
    /// risky, e.g. certificate verification off or a password over plain `http://`).
    pub fn warnings(&self) -> Vec<String> {
        match self {
            ComponentSettings::InfluxSink(s) => s.warnings(),
            ComponentSettings::WindowProcessor(_) | ComponentSettings::MqttSource(_) => Vec::new(),
        }
    }

    /// The section it is declared in (`sink.influx`).
    pub fn kind(&self) -> &'static str {
        match self {
            ComponentSettings::InfluxSink(_) => "sink.influx",
            ComponentSettings::WindowProcessor(_) => "processor.window",
            ComponentSettings::MqttSource(_) => "source.mqtt",
        }
    }
}

/// A named component with the Kafka settings it uses.
#[derive(Debug, Clone)]
pub struct Component {
    /// Its name (unique in the pipeline).
    pub name: String,
    /// Its settings.
    pub settings: ComponentSettings,
    /// Kafka client settings: the pipeline's, with the component's own on top.
    pub kafka: KafkaSettings,
}

/// A whole pipeline: components plus process-wide settings.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Where `/metrics` and `/health` are served (`None`: not served).
    pub metrics_addr: Option<String>,
    /// The components, in file order.
    pub components: Vec<Component>,
}

/// One problem in a pipeline or properties file.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML. The source line is not quoted (it may hold a credential).
    #[error("{path}:{line}:{column}: not valid TOML: {message}")]
    Toml {
        /// The file.
        path: String,
        /// The 1-based line of the problem.
        line: usize,
        /// The 1-based column (in characters) of the problem.
        column: usize,
        /// The parser's message, without the source text.
        message: String,
    },
    /// A `.properties` file does not parse.
    #[error("{path}: {error}")]
    Properties {
        /// The file.
        path: String,
        /// The problem.
        error: PropertiesError,
    },
    /// A key (or section) nobody reads.
    #[error("{path}: {at}: unknown key `{key}`{}", .suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownKey {
        /// The file.
        path: String,
        /// Where (`sink.influx[0]`, `runtime`, the top level).
        at: String,
        /// The key.
        key: String,
        /// The closest known key.
        suggestion: Option<String>,
    },
    /// A value of the wrong type or form.
    #[error("{path}: {at}: {}{message}", if key.is_empty() { String::new() } else { format!("`{key}`: ") })]
    Invalid {
        /// The file.
        path: String,
        /// Where.
        at: String,
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A component's settings are invalid.
    #[error("{path}: {at}: {error}{}", .toml_key.as_ref().map(|k| format!(" (`{k}` in the pipeline file)")).unwrap_or_default())]
    Settings {
        /// The file.
        path: String,
        /// The component (`sink.influx[0] "name"`).
        at: String,
        /// The problem.
        error: SettingsError,
        /// The pipeline-file key of the property the problem is about (TOML files only).
        toml_key: Option<String>,
    },
    /// A properties file for a connector this build does not run.
    #[error("{path}: cannot tell which connector this is (expected connect.influx.* or connect.mqtt.* keys{})", .class.as_ref().map(|c| format!("; connector.class = {c}")).unwrap_or_default())]
    UnknownConnector {
        /// The file.
        path: String,
        /// Its `connector.class`, when given.
        class: Option<String>,
    },
    /// Two components share a name (metrics, logs and consumer groups are named after it).
    #[error("component name `{name}` is used twice (in {first} and {second})")]
    DuplicateName {
        /// The name.
        name: String,
        /// Where it appears first.
        first: String,
        /// Where again.
        second: String,
    },
}

const TOP_LEVEL: &[&str] = &["runtime", "kafka", "source", "processor", "sink"];
const SOURCE_KINDS: &[&str] = &["mqtt"];
const PROCESSOR_KINDS: &[&str] = &["window"];
const RUNTIME_KEYS: &[&str] = &["metrics"];
const KAFKA_KEYS: &[&str] = &["brokers", "properties"];
const SINK_KINDS: &[&str] = &["influx"];
/// Keys of a `[[sink.influx]]` table and the property each becomes (`kafka` and
/// `group_id` are handled apart).
const INFLUX_KEYS: &[(&str, &str)] = &[
    ("name", "name"),
    ("kcql", "connect.influx.kcql"),
    ("topics", "topics"),
    ("tasks", "tasks.max"),
    ("url", "connect.influx.url"),
    ("db", "connect.influx.db"),
    ("username", "connect.influx.username"),
    ("password", "connect.influx.password"),
    ("retention_policy", "connect.influx.retention.policy"),
    ("consistency_level", "connect.influx.consistency.level"),
    ("token", "connect.influx.token"),
    ("org", "connect.influx.org"),
    ("bucket", "connect.influx.bucket"),
    ("error_policy", "connect.influx.error.policy"),
    ("max_retries", "connect.influx.max.retries"),
    ("retry_interval", "connect.influx.retry.interval"),
    ("batch_size", "connect.influx.batch.size"),
    ("linger_ms", "connect.influx.linger.ms"),
    ("gzip", "connect.influx.gzip"),
    ("dlq_topic", "connect.influx.dlq.topic"),
    ("key_format", "connect.influx.key.format"),
    ("value_format", "connect.influx.value.format"),
    ("avro_schema", "connect.influx.avro.schema"),
    ("schema_registry_url", "connect.influx.schema.registry.url"),
    (
        "basic_auth_credentials_source",
        "basic.auth.credentials.source",
    ),
    ("basic_auth_user_info", "basic.auth.user.info"),
    (
        "schema_registry_ca_file",
        "schema.registry.ssl.truststore.location",
    ),
    ("progress_enabled", "connect.progress.enabled"),
    ("ssl_ca_cert", "connect.influx.ssl.ca.cert"),
    ("ssl_cert", "connect.influx.ssl.cert"),
    ("ssl_key", "connect.influx.ssl.key"),
    ("ssl_system_roots", "connect.influx.ssl.system.roots"),
    (
        "insecure_skip_verify",
        "connect.influx.insecure.skip.verify",
    ),
];

/// Collects problems while one file is read.
struct Problems<'p> {
    path: &'p str,
    errors: Vec<PipelineError>,
}

impl Problems<'_> {
    fn unknown(&mut self, at: &str, key: &str, known: &[&str]) {
        self.errors.push(PipelineError::UnknownKey {
            path: self.path.to_string(),
            at: at.to_string(),
            key: key.to_string(),
            suggestion: closest(key, known).map(str::to_string),
        });
    }

    fn invalid(&mut self, at: &str, key: &str, message: impl Into<String>) {
        self.errors.push(PipelineError::Invalid {
            path: self.path.to_string(),
            at: at.to_string(),
            key: key.to_string(),
            message: message.into(),
        });
    }
}

impl Pipeline {
    /// Loads `paths`: one `.toml` pipeline file, or any number of `.properties` connector
    /// files (one connector each), with at most one Kafka Connect worker file among them
    /// ([`WorkerFile`], as `connect-standalone.sh` takes it). Every problem of every file is
    /// reported.
    pub fn load(paths: &[impl AsRef<Path>]) -> Result<Pipeline, Vec<PipelineError>> {
        let mut errors = Vec::new();
        let mut pipeline = Pipeline {
            metrics_addr: Some(DEFAULT_METRICS_ADDR.to_string()),
            components: Vec::new(),
        };
        let mut connector_files = Vec::new();
        let mut worker: Option<WorkerFile> = None;
        for path in paths {
            let path = path.as_ref();
            let shown = path.display().to_string();
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(source) => {
                    errors.push(PipelineError::Io {
                        path: shown,
                        source,
                    });
                    continue;
                }
            };
            let loaded = if path.extension().is_some_and(|e| e == "toml") {
                Pipeline::from_toml_str(&text, &shown).map(|p| {
                    pipeline.metrics_addr = p.metrics_addr.clone();
                    p.components
                })
            } else {
                match properties_pairs(&text, &shown) {
                    Ok(pairs) if is_worker_file(&pairs) => {
                        if let Some(first) = &worker {
                            errors.push(PipelineError::Invalid {
                                path: shown.clone(),
                                at: "worker".to_string(),
                                key: String::new(),
                                message: format!("a second Kafka Connect worker file (the first is {}): give one", first.path),
                            });
                        }
                        worker = Some(WorkerFile::from_pairs(&pairs, &shown));
                    }
                    Ok(pairs) => connector_files.push((shown, pairs)),
                    Err(mut e) => errors.append(&mut e),
                }
                continue;
            };
            match loaded {
                Ok(components) => pipeline.components.extend(components),
                Err(mut e) => errors.append(&mut e),
            }
        }
        for (shown, pairs) in connector_files {
            match Pipeline::component_from_pairs(pairs, &shown, worker.as_ref()) {
                Ok(c) => pipeline.components.push(c),
                Err(mut e) => errors.append(&mut e),
            }
        }
        if let (Some(w), true) = (&worker, pipeline.components.is_empty() && errors.is_empty()) {
            errors.push(PipelineError::Invalid {
                path: w.path.clone(),
                at: "worker".to_string(),
                key: String::new(),
                message: "a Kafka Connect worker file runs nothing by itself: give the connector files after it (kcql run worker.properties sink.properties …)".to_string(),
            });
        }
        check_names(&pipeline.components, &mut errors);
        if errors.is_empty() {
            Ok(pipeline)
        } else {
            Err(errors)
        }
    }

    /// Reads a pipeline file's text (`path` is only used in messages).
    pub fn from_toml_str(text: &str, path: &str) -> Result<Pipeline, Vec<PipelineError>> {
        let mut table: Table = match text.parse::<Table>() {
            Ok(t) => t,
            Err(e) => {
                let (line, column) = line_column(text, e.span().map_or(0, |s| s.start));
                return Err(vec![PipelineError::Toml {
                    path: path.to_string(),
                    line,
                    column,
                    message: e.message().trim().to_string(),
                }]);
            }
        };
        let mut p = Problems {
            path,
            errors: Vec::new(),
        };
        // `${env:…}`, `${file:…}` references first: the rest reads resolved values. A value
        // that cannot be resolved is reported alone (validating it as written would only add
        // confusing errors about the reference's text).
        for e in resolve_toml(&mut table, &mut Providers::default()) {
            p.invalid(&e.at, &e.key, e.error.to_string());
        }
        if !p.errors.is_empty() {
            return Err(p.errors);
        }
        for key in table.keys() {
            if !TOP_LEVEL.contains(&key.as_str()) {
                p.unknown("top level", key, TOP_LEVEL);
            }
        }
        let metrics_addr = read_runtime(table.get("runtime"), &mut p);
        let kafka = read_kafka(table.get("kafka"), "kafka", &mut p);
        let mut components = Vec::new();
        if let Some(source) = table.get("source") {
            match source.as_table() {
                None => p.invalid("top level", "source", "must be a table ([[source.mqtt]])"),
                Some(source) => {
                    for key in source.keys() {
                        if !SOURCE_KINDS.contains(&key.as_str()) {
                            p.unknown("source", key, SOURCE_KINDS);
                        }
                    }
                    if let Some(mqtt) = source.get("mqtt") {
                        read_mqtt_sources(mqtt, &kafka, &mut p, &mut components);
                    }
                }
            }
        }
        if let Some(processor) = table.get("processor") {
            match processor.as_table() {
                None => p.invalid(
                    "top level",
                    "processor",
                    "must be a table ([[processor.window]])",
                ),
                Some(processor) => {
                    for key in processor.keys() {
                        if !PROCESSOR_KINDS.contains(&key.as_str()) {
                            p.unknown("processor", key, PROCESSOR_KINDS);
                        }
                    }
                    if let Some(window) = processor.get("window") {
                        read_window_processors(window, &kafka, &mut p, &mut components);
                    }
                }
            }
        }
        if let Some(sink) = table.get("sink") {
            match sink.as_table() {
                None => p.invalid("top level", "sink", "must be a table ([[sink.influx]])"),
                Some(sink) => {
                    for key in sink.keys() {
                        if !SINK_KINDS.contains(&key.as_str()) {
                            p.unknown("sink", key, SINK_KINDS);
                        }
                    }
                    if let Some(influx) = sink.get("influx") {
                        read_influx_sinks(influx, &kafka, &mut p, &mut components);
                    }
                }
            }
        }
        if components.is_empty() && p.errors.is_empty() {
            p.invalid(
                "top level",
                "sink",
                "the pipeline declares no component (add [[source.mqtt]], [[processor.window]] or [[sink.influx]] tables)",
            );
        }
        if p.errors.is_empty() {
            Ok(Pipeline {
                metrics_addr,
                components,
            })
        } else {
            Err(p.errors)
        }
    }
}

fn check_names(components: &[Component], errors: &mut Vec<PipelineError>) {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for c in components {
        if let Some(first) = seen.insert(&c.name, c.settings.kind()) {
            errors.push(PipelineError::DuplicateName {
                name: c.name.clone(),
                first: first.to_string(),
                second: c.settings.kind().to_string(),
            });
        }
    }
}

fn read_runtime(runtime: Option<&Value>, p: &mut Problems<'_>) -> Option<String> {
    let default = Some(DEFAULT_METRICS_ADDR.to_string());
    let Some(runtime) = runtime else {
        return default;
    };
    let Some(t) = runtime.as_table() else {
        p.invalid("top level", "runtime", "must be a table");
        return default;
    };
    for key in t.keys() {
        if !RUNTIME_KEYS.contains(&key.as_str()) {
            p.unknown("runtime", key, RUNTIME_KEYS);
        }
    }
    match t.get("metrics") {
        None => default,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("off") => None,
        Some(Value::Boolean(false)) => None,
        Some(Value::String(s)) => match s.parse::<std::net::SocketAddr>() {
            Ok(_) => Some(s.clone()),
            Err(_) => {
                p.invalid(
                    "runtime",
                    "metrics",
                    format!("`{s}` is not a socket address like 127.0.0.1:9464 (or \"off\")"),
                );
                default
            }
        },
        Some(_) => {
            p.invalid(
                "runtime",
                "metrics",
                "must be an address string like \"127.0.0.1:9464\" or \"off\"",
            );
            default
        }
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

fn read_kafka(kafka: Option<&Value>, at: &str, p: &mut Problems<'_>) -> KafkaSettings {
    let mut out = KafkaSettings::default();
    let Some(kafka) = kafka else {
        return out;
    };
    let Some(t) = kafka.as_table() else {
        p.invalid(at, "kafka", "must be a table");
        return out;
    };
    for (key, value) in t {
        match key.as_str() {
            "brokers" => match value {
                Value::String(s) => out.brokers = Some(s.clone()),
                Value::Array(items) => {
                    let list: Vec<String> = items.iter().filter_map(scalar).collect();
                    out.brokers = Some(list.join(","));
                }
                _ => p.invalid(at, "brokers", "must be \"host:port,…\" or a list"),
            },
            "properties" => match value.as_table() {
                Some(props) => {
                    for (k, v) in props {
                        match scalar(v) {
                            Some(v) => {
                                out.properties.insert(k.clone(), v);
                            }
                            None => p.invalid(
                                &format!("{at}.properties"),
                                k,
                                "must be a string, number or boolean",
                            ),
                        }
                    }
                }
                None => p.invalid(at, "properties", "must be a table of librdkafka properties"),
            },
            other => p.unknown(at, other, KAFKA_KEYS),
        }
    }
    out
}

/// A string, integer, float or boolean as property text.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn read_influx_sinks(
    influx: &Value,
    shared_kafka: &KafkaSettings,
    p: &mut Problems<'_>,
    components: &mut Vec<Component>,
) {
    let Some(list) = influx.as_array() else {
        p.invalid(
            "sink",
            "influx",
            "must be an array of tables: write [[sink.influx]]",
        );
        return;
    };
    let known: Vec<&str> = INFLUX_KEYS
        .iter()
        .map(|(k, _)| *k)
        .chain(["kafka", "group_id"])
        .collect();
    for (i, item) in list.iter().enumerate() {
        let at = format!("sink.influx[{i}]");
        let Some(t) = item.as_table() else {
            p.invalid(&at, "", "must be a table");
            continue;
        };
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut kafka = shared_kafka.clone();
        for (key, value) in t {
            if key == "kafka" {
                let own = read_kafka(Some(value), &format!("{at}.kafka"), p);
                if let Some(b) = own.brokers {
                    kafka.brokers = Some(b);
                }
                kafka.properties.extend(own.properties);
                continue;
            }
            if key == "group_id" {
                match scalar(value) {
                    Some(g) => {
                        kafka.properties.insert("group.id".to_string(), g);
                    }
                    None => p.invalid(&at, key, "must be a string"),
                }
                continue;
            }
            let Some((_, prop)) = INFLUX_KEYS.iter().find(|(k, _)| k == key) else {
                p.unknown(&at, key, &known);
                continue;
            };
            let text = match (key.as_str(), value) {
                ("topics", Value::Array(items)) => Some(
                    items
                        .iter()
                        .filter_map(scalar)
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                (_, v) => scalar(v),
            };
            match text {
                Some(text) => pairs.push((prop.to_string(), text)),
                None => p.invalid(&at, key, "must be a string, number or boolean"),
            }
        }
        match influx_component(&pairs, kafka, p.path, &at) {
            Ok(c) => components.push(c),
            Err(errors) => {
                for mut e in errors {
                    if let PipelineError::Settings {
                        error, toml_key, ..
                    } = &mut e
                    {
                        *toml_key = INFLUX_KEYS
                            .iter()
                            .find(|(_, prop)| {
                                *prop == error.key()
                                    && !matches!(
                                        error,
                                        SettingsError::Key(KeyError::UnknownKey { .. })
                                    )
                            })
                            .map(|(k, _)| k.to_string());
                    }
                    p.errors.push(e);
                }
            }
        }
    }
}

fn read_mqtt_sources(
    mqtt: &Value,
    shared_kafka: &KafkaSettings,
    p: &mut Problems<'_>,
    components: &mut Vec<Component>,
) {
    let Some(list) = mqtt.as_array() else {
        p.invalid(
            "source",
            "mqtt",
            "must be an array of tables: write [[source.mqtt]]",
        );
        return;
    };
    for (i, item) in list.iter().enumerate() {
        let at = format!("source.mqtt[{i}]");
        let parsed: Result<MqttSourceToml, _> = item.clone().try_into();
        let mut table = match parsed {
            Ok(t) => t,
            Err(e) => {
                p.invalid(&at, "", e.to_string().trim().to_string());
                continue;
            }
        };
        // The pipeline's Kafka settings, under the source's own `kafka` table.
        let mut kafka = shared_kafka.clone();
        kafka.properties.extend(std::mem::take(&mut table.kafka));
        table.kafka = kafka.properties.clone();
        table
            .kafka
            .entry("bootstrap.servers".to_string())
            .or_insert_with(|| kafka.bootstrap_servers().to_string());
        match table.into_settings() {
            Ok(settings) => match mqtt_checked(settings, kafka, p.path, &at) {
                Ok(c) => components.push(c),
                Err(errors) => p.errors.extend(errors),
            },
            Err(errors) => {
                for e in errors {
                    p.invalid(&at, "", e.to_string());
                }
            }
        }
    }
}

/// [`mqtt_component`] once the source's Kafka settings (merged from every place they come
/// from) pass [`crate::kafka::resolve`].
fn mqtt_checked(
    mut settings: MqttSourceSettings,
    kafka: KafkaSettings,
    path: &str,
    at: &str,
) -> Result<Component, Vec<PipelineError>> {
    let problems = crate::kafka::resolve(&mut settings.kafka);
    if problems.is_empty() {
        Ok(mqtt_component(settings, kafka))
    } else {
        Err(kafka_problems(path, at, problems))
    }
}

fn mqtt_component(settings: MqttSourceSettings, kafka: KafkaSettings) -> Component {
    Component {
        name: settings
            .name
            .clone()
            .unwrap_or_else(|| "kcql-mqtt-source".to_string()),
        settings: ComponentSettings::MqttSource(Box::new(settings)),
        kafka,
    }
}

fn read_window_processors(
    window: &Value,
    shared_kafka: &KafkaSettings,
    p: &mut Problems<'_>,
    components: &mut Vec<Component>,
) {
    let Some(list) = window.as_array() else {
        p.invalid(
            "processor",
            "window",
            "must be an array of tables: write [[processor.window]]",
        );
        return;
    };
    for (i, item) in list.iter().enumerate() {
        let at = format!("processor.window[{i}]");
        let parsed: Result<WindowProcessorToml, _> = item.clone().try_into();
        let table = match parsed {
            Ok(t) => t,
            Err(e) => {
                p.invalid(&at, "", e.to_string().trim().to_string());
                continue;
            }
        };
        match table.into_settings() {
            Ok((settings, own_kafka)) => {
                let mut kafka = shared_kafka.clone();
                if let Some(own) = own_kafka {
                    if own.brokers.is_some() {
                        kafka.brokers = own.brokers;
                    }
                    kafka.properties.extend(own.properties);
                }
                let problems = crate::kafka::resolve(&mut kafka.properties);
                if !problems.is_empty() {
                    p.errors.extend(kafka_problems(p.path, &at, problems));
                    continue;
                }
                components.push(Component {
                    name: settings.name.clone(),
                    settings: ComponentSettings::WindowProcessor(Box::new(settings)),
                    kafka,
                });
            }
            Err(errors) => {
                for e in errors {
                    p.invalid(&at, "", e);
                }
            }
        }
    }
}

/// A component's Kafka client problems ([`crate::kafka::resolve`]) as pipeline errors.
fn kafka_problems(
    path: &str,
    at: &str,
    problems: Vec<crate::kafka::SettingProblem>,
) -> Vec<PipelineError> {
    problems
        .into_iter()
        .map(|problem| PipelineError::Invalid {
            path: path.to_string(),
            at: format!("{at}.kafka"),
            key: String::new(),
            message: problem.to_string(),
        })
        .collect()
}

fn influx_component(
    pairs: &[(String, String)],
    kafka: KafkaSettings,
    path: &str,
    at: &str,
) -> Result<Component, Vec<PipelineError>> {
    match InfluxSinkSettings::from_properties(pairs) {
        Ok(settings) => {
            let name = settings
                .name
                .clone()
                .unwrap_or_else(|| "kcql-influx-sink".to_string());
            let mut kafka = kafka;
            // `kafka.*` properties of a .properties file.
            for (k, v) in &settings.kafka {
                kafka.properties.insert(k.clone(), v.clone());
            }
            let problems = crate::kafka::resolve(&mut kafka.properties);
            if !problems.is_empty() {
                return Err(kafka_problems(path, at, problems));
            }
            Ok(Component {
                name,
                settings: ComponentSettings::InfluxSink(Box::new(settings)),
                kafka,
            })
        }
        Err(errors) => {
            let named = pairs
                .iter()
                .find(|(k, _)| k == "name")
                .map(|(_, v)| format!("{at} \"{v}\""))
                .unwrap_or_else(|| at.to_string());
            Err(errors
                .into_iter()
                .map(|error| PipelineError::Settings {
                    path: path.to_string(),
                    at: named.clone(),
                    error,
                    toml_key: None,
                })
                .collect())
        }
    }
}

mod connector_files;
#[cfg(test)]
mod tests;
