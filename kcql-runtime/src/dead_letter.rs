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
//! | `__connect.errors.exception.message` | the error, as text (its first 8 KiB: InfluxDB's errors may quote a whole line) |
//! | `__kcql.truncated.original.size` | only on a copy whose value was cut to fit Kafka's record size limit: the value's original length in bytes (decimal); the copy holds the value's first bytes |
//!
//! An MQTT message never was in Kafka, so it has no partition or offset: like Kafka Connect's
//! own reporter when there is no consumer record, those two headers are left out rather than
//! filled with a made-up value.
//!
//! A record too large for the dead-letter producer (its `message.max.bytes`, 1 MB by default:
//! a 10 MB record read from a topic that allows it) would be refused, and the component would
//! stop on it again after every restart. [`DeadLetter::send`] cuts such a copy's value to what
//! fits and says so in the header [`HEADER_TRUNCATED_ORIGINAL_SIZE`] (the original size); the rest of the
//! copy is unchanged.

use std::time::Duration;

use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use thiserror::Error;

use crate::kafka::record_size::{framed_size, HEADER_OVERHEAD};
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
    headers.push((HEADER_MESSAGE, clip(message, MAX_MESSAGE_BYTES)));
    headers
}

/// The most of an error message a dead letter carries.
const MAX_MESSAGE_BYTES: usize = 8 * 1024;

/// `text`, or its first `max` bytes or fewer (at a character boundary) followed by `…`.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
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

/// librdkafka's default `message.max.bytes`.
const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_000_000;

/// How many bytes of a `value_len`-byte value fit in a record of at most `max_record` bytes
/// (as librdkafka counts them) beside a key of `key_len` bytes and `headers` (name, value
/// length) — `None` when the whole value fits. A cut value leaves room for
/// [`HEADER_TRUNCATED_ORIGINAL_SIZE`] too.
pub fn value_room(
    max_record: usize,
    key_len: usize,
    headers: impl IntoIterator<Item = (usize, usize)>,
    value_len: usize,
) -> Option<usize> {
    let fixed = framed_size(key_len, headers, 0);
    if fixed + value_len <= max_record {
        return None;
    }
    // The size header's value is at most 20 digits.
    let with_size_header = fixed + HEADER_OVERHEAD + HEADER_TRUNCATED_ORIGINAL_SIZE.len() + 20;
    Some(max_record.saturating_sub(with_size_header))
}

/// A producer for one dead-letter topic.
pub struct DeadLetter {
    producer: FutureProducer,
    topic: String,
    connector: String,
    /// The producer's `message.max.bytes`: larger copies are cut.
    max_record: usize,
    /// Whether copies carry the `__connect.errors.*` headers.
    context_headers: bool,
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
        let config = producer_config(kafka);
        let max_record = config
            .get("message.max.bytes")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_MAX_MESSAGE_BYTES);
        let producer: FutureProducer = config.create().map_err(DeadLetterError::Create)?;
        Ok(DeadLetter {
            producer,
            topic: topic.to_string(),
            connector: connector.to_string(),
            max_record,
            context_headers: true,
        })
    }

    /// Whether copies carry the `__connect.errors.*` headers ([`error_headers`]; on by
    /// default). Kafka Connect's `errors.deadletterqueue.context.headers.enable`.
    pub fn with_context_headers(mut self, enabled: bool) -> Self {
        self.context_headers = enabled;
        self
    }

    /// The topic written to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Sends `msg` (its original key, value, timestamp and headers) with the error headers;
    /// a value too large for the producer is cut to its first bytes, with
    /// [`HEADER_TRUNCATED_ORIGINAL_SIZE`].
    pub fn send<M: Message>(&self, msg: &M, class: &str, message: &str) -> PendingDeadLetter {
        let origin = Origin::kafka(msg.topic(), msg.partition(), msg.offset());
        let errors = if self.context_headers {
            error_headers(origin, &self.connector, class, message)
        } else {
            Vec::new()
        };
        let original = msg.headers();
        let original_sizes = original.iter().flat_map(|h| {
            h.iter()
                .map(|h| (h.key.len(), h.value.map_or(0, <[u8]>::len)))
        });
        let error_sizes = errors.iter().map(|(k, v)| (k.len(), v.len()));
        let value = msg.payload().unwrap_or_default();
        let room = value_room(
            self.max_record,
            msg.key().map_or(0, <[u8]>::len),
            original_sizes.chain(error_sizes),
            value.len(),
        );
        let mut headers = OwnedHeaders::new();
        for header in original.iter().flat_map(|h| h.iter()) {
            headers = headers.insert(header);
        }
        for (k, v) in &errors {
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_str()),
            });
        }
        let original_size = value.len().to_string();
        if let Some(room) = room {
            tracing::warn!(connector = %self.connector, topic = msg.topic(), partition = msg.partition(),
                offset = msg.offset(), size = value.len(), kept = room, max = self.max_record,
                "dead-letter copy too large for message.max.bytes: its value is cut");
            headers = headers.insert(Header {
                key: HEADER_TRUNCATED_ORIGINAL_SIZE,
                value: Some(original_size.as_str()),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.topic).headers(headers);
        if let Some(k) = msg.key() {
            record = record.key(k);
        }
        if let Some(p) = msg.payload() {
            record = record.payload(&p[..room.unwrap_or(p.len()).min(p.len())]);
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
    fn long_error_messages_are_clipped() {
        let h = error_headers(Origin::mqtt("t"), "c", "k", &"é".repeat(5_000));
        let message = &h.last().expect("message header").1;
        assert!(message.ends_with('…') && message.len() <= MAX_MESSAGE_BYTES + 3);
        assert!(message.starts_with("éé"));
        assert_eq!(clip("short", 10), "short");
    }

    #[test]
    fn values_too_large_for_the_producer_are_cut_to_fit() {
        // Fits: 36 + key 3 + header (10 + 4 + 6) + value 100 = 159.
        assert_eq!(value_room(159, 3, [(4, 6)], 100), None);
        // One byte more does not: the value keeps what is left beside the size header.
        let room = value_room(158, 3, [(4, 6)], 100).expect("cut");
        let size_header = HEADER_OVERHEAD + HEADER_TRUNCATED_ORIGINAL_SIZE.len() + 20;
        assert_eq!(room, 158 - 36 - 3 - 20 - size_header);
        // 10 MB against the 1 MB default.
        let room = value_room(DEFAULT_MAX_MESSAGE_BYTES, 0, [], 10 << 20).expect("cut");
        assert!(room > 999_000 && room < DEFAULT_MAX_MESSAGE_BYTES, "{room}");
        // Headers alone over the limit: nothing of the value.
        assert_eq!(value_room(100, 0, [(50, 100)], 1), Some(0));
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
