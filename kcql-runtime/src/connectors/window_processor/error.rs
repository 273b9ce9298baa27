//! Why the window processor stops with an error.

use rdkafka::error::KafkaError;
use thiserror::Error;

use crate::dead_letter::DeadLetterError;
use crate::kafka::FatalClientError;

use super::window::BuildError;

/// Why the processor stopped with an error.
#[derive(Debug, Error)]
pub enum ProcessorError {
    /// The engine could not be built from the plan and settings.
    #[error("window engine: {0}")]
    Engine(#[from] BuildError),
    /// A Kafka client could not be created or subscribed.
    #[error("Kafka client of window processor `{name}`: {source}")]
    Kafka {
        /// The processor.
        name: String,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
    /// A poison record under `THROW`; nothing at or after it was committed.
    #[error("record {topic}[{partition}]@{offset} cannot be processed ({reason}); error policy THROW stops the processor")]
    Poison {
        /// Its topic.
        topic: String,
        /// Its partition.
        partition: i32,
        /// Its offset.
        offset: i64,
        /// Why.
        reason: String,
    },
    /// A window result could not be delivered to Kafka (its inputs are not committed).
    #[error("window result for `{topic}` not delivered: {error}")]
    Delivery {
        /// The target topic.
        topic: String,
        /// Kafka's error.
        error: String,
    },
    /// A window result does not fit the output's Avro schema under `THROW` (its inputs are
    /// not committed).
    #[error("window result for `{topic}` (window start {window_start}) cannot be written: {reason}; error policy THROW stops the processor")]
    Unencodable {
        /// The target topic.
        topic: String,
        /// The window's start (epoch ms).
        window_start: i64,
        /// Why.
        reason: String,
    },
    /// The schema registry refused the processor: an output schema it would not register, or
    /// bad credentials or an untrusted certificate (not a registry that is down: that is
    /// waited out).
    #[error("window processor `{name}`: schema registry: {source}")]
    Registry {
        /// The processor.
        name: String,
        /// The registry's answer.
        #[source]
        source: crate::decode::RegistryError,
    },
    /// A dead-letter or late-topic copy failed (the record is not committed).
    #[error(transparent)]
    DeadLetter(#[from] DeadLetterError),
    /// The consumer failed in a way waiting cannot fix (nothing after the last confirmed
    /// commit point was committed).
    #[error("Kafka consumer of window processor `{name}` failed: {source}")]
    Consume {
        /// The processor.
        name: String,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
    /// The broker refused a client of the processor (wrong credentials, an untrusted
    /// certificate): retrying cannot help. Nothing after the last commit point was committed.
    #[error("Kafka client of window processor `{name}`: {source}")]
    Refused {
        /// The processor.
        name: String,
        /// librdkafka's code and reason.
        #[source]
        source: FatalClientError,
    },
    /// A partition's committed resume token cannot be read or does not fit the plan: going on
    /// would re-emit windows with only part of their records.
    #[error("cannot resume {topic}[{partition}] of consumer group `{group}`: {reason}")]
    Resume {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The consumer group.
        group: String,
        /// Why, and what to do.
        reason: String,
    },
}
