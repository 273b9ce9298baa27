//! Kafka plumbing shared by the connectors: client settings ([`client`]), the contiguous
//! offset watermark behind at-least-once commits ([`offsets`]), and a consumer context that
//! commits what was written before a partition is revoked and publishes consumer lag
//! ([`context`]).

pub mod client;
pub mod context;
pub mod offsets;

pub use client::{consumer_config, producer_config, KafkaSettings, DEFAULT_BROKERS};
pub use context::{TrackedConsumer, TrackingContext};
pub use offsets::{OffsetTracker, TopicPartition};
