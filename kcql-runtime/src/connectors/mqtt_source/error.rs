//! Why an MQTT source cannot start or had to stop.

use thiserror::Error;

use crate::connectors::mqtt_source::route::{PoisonError, RouterError};

/// A failure of the MQTT source as a whole (per-message problems the error policy skips are
/// only counted and logged).
#[derive(Debug, Error)]
pub enum MqttSourceError {
    /// The plan cannot run as configured (bad WITHREGEX, missing Avro schema, …).
    #[error("invalid MQTT source configuration:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Config(Vec<RouterError>),
    /// A setting that only shows up when the connector is built.
    #[error("invalid MQTT source configuration: {0}")]
    Setting(String),
    /// TLS material that cannot be used.
    #[error("TLS file `{path}`: {reason}")]
    Tls {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The Kafka producer could not be created.
    #[error("cannot create the Kafka producer: {0}")]
    Producer(#[source] rdkafka::error::KafkaError),
    /// The broker refused the Kafka producer (wrong credentials, an untrusted certificate):
    /// retrying cannot help. Messages in flight were not acknowledged.
    #[error("Kafka producer: {0}")]
    KafkaRefused(#[source] crate::kafka::FatalClientError),
    /// A poison message under the THROW (or RETRY) policy. It was not acknowledged, so the
    /// broker redelivers it to the next session.
    #[error(
        "message on MQTT topic `{topic}` (statement {statement}) cannot be converted: {error}"
    )]
    Poison {
        /// The MQTT topic.
        topic: String,
        /// The 1-based statement.
        statement: usize,
        /// Why.
        error: PoisonError,
    },
    /// Kafka refused a record permanently (THROW, or RETRY out of attempts). The message was
    /// not acknowledged.
    #[error("Kafka refused a record for topic `{topic}`: {error}")]
    KafkaWrite {
        /// The Kafka topic.
        topic: String,
        /// The producer's error.
        error: String,
    },
    /// A message made a Kafka record too large to write (over `max_message_bytes`, or
    /// refused by the topic as too large), under THROW (or RETRY out of attempts). Unlike
    /// other poison messages it **was acknowledged** (after its truncated dead-letter copy was
    /// written, when a dead-letter topic is configured): the broker would redeliver it to every
    /// later session and it would stop the source again, forever.
    #[error("message on MQTT topic `{mqtt_topic}` makes a record of {size} bytes for Kafka topic `{topic}`: {limit}; it was acknowledged so that it is not redelivered ({kept})")]
    TooLarge {
        /// The MQTT topic.
        mqtt_topic: String,
        /// The Kafka topic.
        topic: String,
        /// The record's size, as [`record_size`](super::size::record_size) counts it.
        size: usize,
        /// Which limit it broke.
        limit: String,
        /// What became of it: where its truncated copy went, or that it was not kept.
        kept: String,
    },
    /// The broker refused the connection for a reason retrying cannot fix.
    #[error("MQTT broker refused the connection: {0}")]
    Refused(String),
    /// A worker task ended abnormally.
    #[error("MQTT source worker failed: {0}")]
    Worker(String),
    /// The schema registry refused to register an output schema (a registry that is down is
    /// waited out instead; the message stays unacknowledged).
    #[error("cannot register the output schema: {0}")]
    OutputSchema(#[from] crate::decode::RegistryError),
}
