//! The dead-letter topic: where records skipped by the `NOOP` error policy go, with their
//! original key, value and headers and the reason in headers named as Kafka Connect names
//! them (`__connect.errors.*`), so existing DLQ tooling reads them.
//!
//! Every component writes the same headers, built by [`error_headers`] only: the InfluxDB sink
//! and the window processor through [`DeadLetter::send`], the MQTT source on its own producer.
//!
//! | header | value |
//! |---|---|
//! | `__connect.errors.topic` | the source topic: a Kafka topic, or the MQTT topic |
//! | `__connect.errors.partition` | the Kafka partition (decimal); absent for MQTT |
//! | `__connect.errors.offset` | the Kafka offset (decimal); absent for MQTT |
//! | `__connect.errors.connector.name` | the connector's `name` |
//! | `__connect.errors.exception.class.name` | a short, stable class (`decode_error`, …) |
//! | `__connect.errors.exception.message` | the error, as text |
//! | `__kcql.truncated.original.size` | only on a copy whose value was cut to fit Kafka's size limit: the value's original length in bytes (decimal) |
//!
//! An MQTT message never was in Kafka, so it has no partition or offset: like Kafka Connect's
//! own reporter when there is no consumer record, those two headers are left out rather than
//! filled with a made-up value.

use std::time::Duration;

use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use thiserror::Error;

use crate::kafka::{producer_config, KafkaSettings};

/// Header with the source topic.
pub const HEADER_TOPIC: &str = "__connect.errors.topic";
/// Header with the source partition (decimal text).
pub const HEADER_PARTITION: &str = "__connect.errors.partition";
/// Header with the source offset (decimal text).
pub const HEADER_OFFSET: &str = "__connect.errors.offset";
/// Header with the connector's name.
pub const HEADER_CONNECTOR: &str = "__connect.errors.connector.name";
/// Header with the error class (e.g. `missing_field`, `rejected_by_influxdb`).
pub const HEADER_CLASS: &str = "__connect.errors.exception.class.name";
/// Header with the error message.
pub const HEADER_MESSAGE: &str = "__connect.errors.exception.message";
/// Header of a dead-letter copy whose value was cut to fit Kafka's record size limit: the
/// value's original length in bytes (decimal text). The copy holds the value's first bytes.
pub const HEADER_TRUNCATED_ORIGINAL_SIZE: &str = "__kcql.truncated.original.size";

/// Where a dead-lettered record came from: what the topic, partition and offset headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    /// The Kafka topic read, or for the MQTT source the MQTT topic.
    pub topic: &'a str,
    /// Kafka partition and offset; `None` for a record that was never in Kafka (MQTT), and
    /// then [`HEADER_PARTITION`] and [`HEADER_OFFSET`] are not written.
    pub position: Option<(i32, i64)>,
}

impl<'a> Origin<'a> {
    /// A record read from Kafka.
    pub fn kafka(topic: &'a str, partition: i32, offset: i64) -> Self {
        Origin {
            topic,
            position: Some((partition, offset)),
        }
    }

    /// A message received on the MQTT topic `topic`.
    pub fn mqtt(topic: &'a str) -> Self {
        Origin {
            topic,
            position: None,
        }
    }
}

/// The `__connect.errors.*` headers, in order, for a record from `origin` that `connector`
/// skipped with the error `class` (short and stable, e.g. `decode_error`) and `message`.
pub fn error_headers(
    origin: Origin<'_>,
    connector: &str,
    class: &str,
    message: &str,
) -> Vec<(&'static str, String)> {
    let mut headers = vec![(HEADER_TOPIC, origin.topic.to_string())];
    if let Some((partition, offset)) = origin.position {
        headers.push((HEADER_PARTITION, partition.to_string()));
        headers.push((HEADER_OFFSET, offset.to_string()));
    }
    headers.push((HEADER_CONNECTOR, connector.to_string()));
    headers.push((HEADER_CLASS, class.to_string()));
    headers.push((HEADER_MESSAGE, message.to_string()));
    headers
}

/// Sending to the dead-letter topic failed: the record is not skipped.
#[derive(Debug, Error)]
pub enum DeadLetterError {
    /// The producer could not be created.
    #[error("cannot create the dead-letter producer: {0}")]
    Create(#[source] rdkafka::error::KafkaError),
    /// Kafka did not take the record.
    #[error("dead-letter topic `{topic}` did not take the record of {source_topic}[{partition}]@{offset}: {error}")]
    Delivery {
        /// The dead-letter topic.
        topic: String,
        /// Where the record came from.
        source_topic: String,
        /// Its partition.
        partition: i32,
        /// Its offset.
        offset: i64,
        /// Kafka's error.
        error: String,
    },
}

/// A producer for one dead-letter topic.
pub struct DeadLetter {
    producer: FutureProducer,
    topic: String,
    connector: String,
}

impl std::fmt::Debug for DeadLetter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetter")
            .field("topic", &self.topic)
            .finish()
    }
}

/// One record on its way to the dead-letter topic; await it before committing past the record.
pub type PendingDeadLetter =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), DeadLetterError>> + Send>>;

impl DeadLetter {
    /// A dead-letter producer writing to `topic` for `connector`.
    pub fn new(
        kafka: &KafkaSettings,
        topic: &str,
        connector: &str,
    ) -> Result<Self, DeadLetterError> {
        let producer: FutureProducer = producer_config(kafka)
            .create()
            .map_err(DeadLetterError::Create)?;
        Ok(DeadLetter {
            producer,
            topic: topic.to_string(),
            connector: connector.to_string(),
        })
    }

    /// The topic written to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Sends `msg` (its original key, value, timestamp and headers) with the error headers.
    pub fn send<M: Message>(&self, msg: &M, class: &str, message: &str) -> PendingDeadLetter {
        let mut headers = OwnedHeaders::new();
        if let Some(h) = msg.headers() {
            for i in 0..h.count() {
                let header = h.get(i);
                headers = headers.insert(Header {
                    key: header.key,
                    value: header.value,
                });
            }
        }
        let origin = Origin::kafka(msg.topic(), msg.partition(), msg.offset());
        for (k, v) in error_headers(origin, &self.connector, class, message) {
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_str()),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.topic).headers(headers);
        if let Some(k) = msg.key() {
            record = record.key(k);
        }
        if let Some(p) = msg.payload() {
            record = record.payload(p);
        }
        if let Some(ts) = msg.timestamp().to_millis() {
            record = record.timestamp(ts);
        }
        let fail = |error: String| DeadLetterError::Delivery {
            topic: self.topic.clone(),
            source_topic: msg.topic().to_string(),
            partition: msg.partition(),
            offset: msg.offset(),
            error,
        };
        match self.producer.send_result(record) {
            Ok(delivery) => {
                let on_error = fail(String::new());
                Box::pin(async move {
                    match delivery.await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err((e, _))) => Err(with_error(on_error, e.to_string())),
                        Err(_) => Err(with_error(on_error, "producer dropped".into())),
                    }
                })
            }
            Err((e, _)) => {
                let err = fail(e.to_string());
                Box::pin(async move { Err(err) })
            }
        }
    }

    /// Waits up to `timeout` for queued records to be delivered.
    pub fn flush(&self, timeout: Duration) {
        use rdkafka::producer::Producer;
        let _ = self.producer.flush(timeout);
    }
}

fn with_error(mut e: DeadLetterError, text: String) -> DeadLetterError {
    if let DeadLetterError::Delivery { error, .. } = &mut e {
        *error = text;
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_records_carry_topic_partition_and_offset() {
        let h = error_headers(
            Origin::kafka("metrics", 3, 42),
            "sink",
            "missing_field",
            "no `v`",
        );
        assert_eq!(
            h,
            vec![
                (HEADER_TOPIC, "metrics".to_string()),
                (HEADER_PARTITION, "3".to_string()),
                (HEADER_OFFSET, "42".to_string()),
                (HEADER_CONNECTOR, "sink".to_string()),
                (HEADER_CLASS, "missing_field".to_string()),
                (HEADER_MESSAGE, "no `v`".to_string()),
            ]
        );
    }

    #[test]
    fn mqtt_messages_have_no_partition_or_offset() {
        let h = error_headers(Origin::mqtt("sensors/a"), "src", "decode_error", "bad json");
        let keys: Vec<&str> = h.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            vec![HEADER_TOPIC, HEADER_CONNECTOR, HEADER_CLASS, HEADER_MESSAGE]
        );
        assert_eq!(h[0].1, "sensors/a");
    }
}
