//! A Kafka Connect worker file, as `connect-standalone.sh worker.properties
//! connector.properties …` takes it: `kcql run worker.properties sink.properties …` reads
//! the Kafka settings and default converters the worker gives its connectors from it.
//!
//! What a worker file gives the connectors:
//!
//! * `bootstrap.servers`;
//! * Kafka client settings: `consumer.*` for sink consumers, `producer.*` for source
//!   producers (Kafka Connect's prefixes for the clients of connectors), on top of the
//!   unprefixed `security.protocol`, `sasl.*` and `ssl.*` (which Kafka Connect gives only its
//!   own internal clients, so real worker files repeat them with both prefixes; taking them as
//!   the base does no harm and spares a file that forgot to);
//! * default converters: `key.converter`, `value.converter` and their `key.converter.*`,
//!   `value.converter.*` settings, for connector files that name no converter of their own
//!   (a connector's converter replaces the worker's with all its settings, as in Kafka
//!   Connect).
//!
//! Every other worker key (`group.id`, `plugin.path`, `offset.*`, `config.storage.*`,
//! `rest.*`, `listeners`, `admin.*` …) configures Kafka Connect itself and is accepted
//! without effect.

use crate::kafka::{KafkaProperties, KafkaSettings};

/// Keys only a worker file holds: a `.properties` file with one of them (and no connector
/// key) is a worker file.
const WORKER_MARKERS: &[&str] = &[
    "bootstrap.servers",
    "plugin.path",
    "offset.storage.file.filename",
    "offset.storage.topic",
    "config.storage.topic",
    "status.storage.topic",
    "offset.flush.interval.ms",
    "rest.port",
    "listeners",
];

/// Unprefixed client settings taken as the base of every connector's clients.
fn is_client_security_key(key: &str) -> bool {
    key == "security.protocol" || key.starts_with("sasl.") || key.starts_with("ssl.")
}

/// True when `pairs` are a worker file's: a worker key, and no connector key
/// (`connector.class`, `connect.*`).
pub fn is_worker_file(pairs: &[(String, String)]) -> bool {
    let connector = pairs
        .iter()
        .any(|(k, _)| k == "connector.class" || k.starts_with("connect."));
    !connector
        && pairs
            .iter()
            .any(|(k, _)| WORKER_MARKERS.contains(&k.as_str()))
}

/// What a worker file gives its connectors.
#[derive(Debug, Clone, Default)]
pub struct WorkerFile {
    /// The path it was read from (for messages).
    pub path: String,
    /// Kafka settings of the connectors' consumers (sinks).
    pub consumer: KafkaSettings,
    /// Kafka settings of the connectors' producers (sources).
    pub producer: KafkaSettings,
    /// `key.converter` and `value.converter` with their settings, in file order.
    pub converters: Vec<(String, String)>,
}

impl WorkerFile {
    /// Reads a worker file's pairs (see the module documentation).
    pub fn from_pairs(pairs: &[(String, String)], path: &str) -> WorkerFile {
        let mut base = KafkaProperties::new();
        let mut consumer = KafkaProperties::new();
        let mut producer = KafkaProperties::new();
        let mut converters = Vec::new();
        let mut brokers = None;
        for (k, v) in pairs {
            if k == "bootstrap.servers" {
                brokers = Some(v.trim().to_string());
            } else if is_client_security_key(k) {
                base.insert(k.clone(), v.clone());
            } else if let Some(rest) = k.strip_prefix("consumer.") {
                consumer.insert(rest.to_string(), v.clone());
            } else if let Some(rest) = k.strip_prefix("producer.") {
                producer.insert(rest.to_string(), v.clone());
            } else if is_converter_key(k, "key") || is_converter_key(k, "value") {
                converters.push((k.clone(), v.clone()));
            }
        }
        let role = |own: KafkaProperties| {
            let mut properties = base.clone();
            properties.extend(own);
            KafkaSettings {
                brokers: brokers.clone(),
                properties,
            }
        };
        WorkerFile {
            path: path.to_string(),
            consumer: role(consumer),
            producer: role(producer),
            converters,
        }
    }

    /// `connector`'s pairs with the worker's converters for each part (`key`, `value`) the
    /// connector names no converter for; the connector's own pairs come after them.
    pub fn with_default_converters(&self, connector: &[(String, String)]) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(connector.len() + self.converters.len());
        for part in ["key", "value"] {
            let class = format!("{part}.converter");
            if connector.iter().any(|(k, _)| *k == class) {
                continue;
            }
            out.extend(
                self.converters
                    .iter()
                    .filter(|(k, _)| is_converter_key(k, part))
                    .filter(|(k, _)| !connector.iter().any(|(c, _)| c == k))
                    .cloned(),
            );
        }
        out.extend(connector.iter().cloned());
        out
    }
}

/// `key.converter` / `key.converter.*` (for `part` = `key`), likewise for `value`.
fn is_converter_key(key: &str, part: &str) -> bool {
    key.strip_prefix(part)
        .and_then(|r| r.strip_prefix(".converter"))
        .is_some_and(|r| r.is_empty() || r.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::owned_pairs;

    const WORKER: &[(&str, &str)] = &[
        ("bootstrap.servers", "kafka-1:9094,kafka-2:9094"),
        ("group.id", "connect-cluster"),
        ("plugin.path", "/opt/connectors"),
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("consumer.security.protocol", "SASL_SSL"),
        ("consumer.sasl.password", "from-consumer"),
        ("producer.linger.ms", "20"),
        (
            "key.converter",
            "org.apache.kafka.connect.storage.StringConverter",
        ),
        ("value.converter", "io.confluent.connect.avro.AvroConverter"),
        ("value.converter.schema.registry.url", "http://sr:8081"),
        ("header.converter", "x"),
    ];

    #[test]
    fn worker_files_are_told_from_connector_files() {
        assert!(is_worker_file(&owned_pairs(WORKER)));
        assert!(!is_worker_file(&owned_pairs(&[
            ("connector.class", "x"),
            ("bootstrap.servers", "k:9092")
        ])));
        assert!(!is_worker_file(&owned_pairs(&[("topics", "t")])));
    }

    #[test]
    fn consumers_and_producers_get_their_prefixed_settings_over_the_security_base() {
        let w = WorkerFile::from_pairs(&owned_pairs(WORKER), "worker.properties");
        assert_eq!(w.consumer.bootstrap_servers(), "kafka-1:9094,kafka-2:9094");
        let get = |s: &KafkaSettings, k: &str| s.properties.get(k).cloned();
        assert_eq!(
            get(&w.consumer, "sasl.mechanism").as_deref(),
            Some("SCRAM-SHA-512")
        );
        assert_eq!(
            get(&w.consumer, "sasl.password").as_deref(),
            Some("from-consumer")
        );
        assert_eq!(get(&w.producer, "sasl.password"), None);
        assert_eq!(get(&w.producer, "linger.ms").as_deref(), Some("20"));
        assert_eq!(get(&w.consumer, "linger.ms"), None);
        assert_eq!(get(&w.consumer, "group.id"), None, "the worker's own group");
        assert_eq!(get(&w.consumer, "plugin.path"), None);
    }

    #[test]
    fn the_workers_converters_are_defaults_a_connector_replaces_whole() {
        let w = WorkerFile::from_pairs(&owned_pairs(WORKER), "worker.properties");
        let plain = w.with_default_converters(&owned_pairs(&[("topics", "t")]));
        let keys: Vec<&str> = plain.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "key.converter",
                "value.converter",
                "value.converter.schema.registry.url",
                "topics"
            ]
        );
        let own = w.with_default_converters(&owned_pairs(&[(
            "value.converter",
            "org.apache.kafka.connect.json.JsonConverter",
        )]));
        let keys: Vec<&str> = own.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["key.converter", "value.converter"]);
        assert_eq!(own[1].1, "org.apache.kafka.connect.json.JsonConverter");
    }
}
