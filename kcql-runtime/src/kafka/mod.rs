//! Kafka plumbing shared by the connectors: client settings ([`client`]) and their property
//! map ([`properties`], credentials hidden from `Debug`), the contiguous
//! offset watermark behind at-least-once commits ([`offsets`]), and a consumer context that
//! commits what was written before a partition is revoked and publishes consumer lag
//! ([`context`]), Java client names and security checks ([`java_names`], [`security`]), and the authentication and TLS failures that stop a component ([`fatal`]).

pub mod client;
pub mod consume_error;
pub mod context;
pub mod fatal;
pub mod jaas;
pub mod java_names;
pub mod offsets;
pub mod properties;
pub mod record_size;
pub mod security;

pub use client::{consumer_config, producer_config, KafkaSettings, DEFAULT_BROKERS};
pub use context::{TrackedConsumer, TrackingContext};
pub use fatal::{FatalClientError, FatalErrors, ReportingContext};
pub use offsets::{OffsetTracker, TopicPartition};
pub use properties::KafkaProperties;
pub use security::{resolve, SettingProblem};

/// A consumed message's headers as borrowed `(name, value)` pairs, in order (a header without
/// a value reads as empty): the form [`RecordView::headers`](crate::record::RecordView) takes.
pub fn headers_of<'m>(
    msg: &'m rdkafka::message::BorrowedMessage<'_>,
) -> smallvec::SmallVec<[(&'m str, &'m [u8]); 4]> {
    use rdkafka::message::{Headers as _, Message as _};
    match msg.headers() {
        Some(h) => h
            .iter()
            .map(|h| (h.key, h.value.unwrap_or_default()))
            .collect(),
        None => smallvec::SmallVec::new(),
    }
}
