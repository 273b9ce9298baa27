//! The consumed record the I/O layer hands to
//! [`WindowEngine::on_record`](super::WindowEngine::on_record).

use crate::record::Schemas;

/// A consumed Kafka record, borrowed from the consumer's message.
#[derive(Debug, Clone, Copy)]
pub struct InputRecord<'a> {
    /// Source topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The Kafka timestamp (epoch ms), when the broker gave one.
    pub timestamp_ms: Option<i64>,
    /// Key bytes (`None`: null key).
    pub key: Option<&'a [u8]>,
    /// Value bytes (`None`: tombstone).
    pub payload: Option<&'a [u8]>,
    /// Headers, in order.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// Processing time (epoch ms): the event time of `WITHTIMESTAMP sys_time()` routes and
    /// what `now()` gives.
    pub processing_time_ms: i64,
    /// For the `confluent_avro` formats: the writer schemas the caller resolved for this
    /// record ([`RecordDecoder::resolve`](crate::record::RecordDecoder::resolve) of
    /// [`WindowEngine::decoder`](super::WindowEngine::decoder)).
    pub schemas: &'a Schemas,
}

impl<'a> InputRecord<'a> {
    /// A record with a value only (no key, headers or Kafka timestamp; processing time 0).
    pub fn new(topic: &'a str, partition: i32, offset: i64, payload: &'a [u8]) -> Self {
        InputRecord {
            topic,
            partition,
            offset,
            timestamp_ms: None,
            key: None,
            payload: Some(payload),
            headers: &[],
            processing_time_ms: 0,
            schemas: Schemas::none(),
        }
    }

    /// The same record with a Kafka timestamp.
    pub fn with_timestamp(mut self, ms: i64) -> Self {
        self.timestamp_ms = Some(ms);
        self
    }

    /// The same record with a key.
    pub fn with_key(mut self, key: &'a [u8]) -> Self {
        self.key = Some(key);
        self
    }
}
