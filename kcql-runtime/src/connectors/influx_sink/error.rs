//! Why the sink stopped.

use thiserror::Error;

use crate::connectors::influx_sink::influx::{ConfigError, EnsureError, WriteError};
use crate::dead_letter::DeadLetterError;

/// The reason an InfluxDB sink stopped with an error.
#[derive(Debug, Error)]
pub enum SinkError {
    /// The schema registry refuses the sink (bad credentials, an untrusted certificate):
    /// nothing after the record that met it was committed.
    #[error("schema registry: {0}")]
    Registry(crate::decode::RegistryError),
    /// The Kafka consumer could not be created or subscribed.
    #[error("Kafka consumer for group `{group}`: {source}")]
    Kafka {
        /// The consumer group.
        group: String,
        /// librdkafka's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The key or value format cannot work (checked when the settings are read, so only a
    /// hand-built [`InfluxSinkSettings`](super::InfluxSinkSettings) gets here).
    #[error("record format: {0}")]
    Format(#[from] crate::record::RecordFormatError),
    /// The InfluxDB writer could not be built.
    #[error("InfluxDB writer: {0}")]
    Writer(#[from] ConfigError),
    /// Creating the database or retention policy (`AUTOCREATE`) failed.
    #[error("cannot prepare InfluxDB: {0}")]
    Prepare(#[from] EnsureError),
    /// The database (bucket) does not exist and no statement says `AUTOCREATE`.
    #[error("InfluxDB database `{database}` does not exist: create it (`CREATE DATABASE \"{database}\"`) or add AUTOCREATE to the KCQL statement")]
    DatabaseMissing {
        /// The database or bucket.
        database: String,
    },
    /// The retention policy does not exist.
    #[error("InfluxDB retention policy `{policy}` does not exist: create it, or write `WITHRETENTION = <duration>` with AUTOCREATE")]
    RetentionPolicyMissing {
        /// The policy.
        policy: String,
    },
    /// Retrying cannot help (authentication, wrong URL or API, …).
    #[error("InfluxDB refused the write and retrying cannot help: {0}")]
    Fatal(WriteError),
    /// A poison record under the `THROW` (or `RETRY`) error policy. Offsets were committed up
    /// to, not including, this record: a restart resumes at it.
    #[error("record {topic}[{partition}]@{offset} cannot be written ({reason}); error policy {policy} stops the connector")]
    Poison {
        /// The record's topic.
        topic: String,
        /// Its partition.
        partition: i32,
        /// Its offset.
        offset: i64,
        /// Why.
        reason: String,
        /// The policy in force.
        policy: &'static str,
    },
    /// Transient failures outlasted the policy's retries.
    #[error(
        "InfluxDB still failing after {attempts} attempt(s) under error policy {policy}: {last}"
    )]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The policy in force.
        policy: &'static str,
        /// The last failure.
        last: WriteError,
    },
    /// A skipped record could not be dead-lettered (it is not skipped: it will be read again).
    #[error(transparent)]
    DeadLetter(DeadLetterError),
    /// The consumer failed in a way waiting cannot fix; what was read before was written and
    /// committed, nothing after it.
    #[error("Kafka consumer for group `{group}` failed: {source}")]
    Consume {
        /// The consumer group.
        group: String,
        /// librdkafka's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The broker refused the consumer (wrong credentials, an untrusted certificate):
    /// retrying cannot help. Nothing read after the last commit is committed.
    #[error("Kafka consumer for group `{group}`: {source}")]
    Refused {
        /// The consumer group.
        group: String,
        /// librdkafka's code and reason.
        #[source]
        source: crate::kafka::FatalClientError,
    },
    /// A worker task panicked.
    #[error("sink worker panicked: {0}")]
    WorkerPanicked(String),
}
