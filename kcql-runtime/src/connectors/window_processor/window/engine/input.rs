//! The consumed record the I/O layer hands to
//! [`WindowEngine::on_record`](super::WindowEngine::on_record).

use crate::record::{RawRecord, Schemas};

/// A consumed Kafka record, borrowed from the consumer's message, with what the engine needs
/// besides its raw parts.
#[derive(Debug, Clone, Copy)]
pub struct InputRecord<'a> {
    /// The record's raw parts ([`RawRecord::of_message`]).
    pub raw: RawRecord<'a>,
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
            raw: RawRecord {
                topic,
                partition,
                offset,
                timestamp_ms: None,
                key: None,
                value: Some(payload),
                headers: &[],
            },
            processing_time_ms: 0,
            schemas: Schemas::none(),
        }
    }

    /// The same record with a Kafka timestamp.
    pub fn with_timestamp(mut self, ms: i64) -> Self {
        self.raw.timestamp_ms = Some(ms);
        self
    }

    /// The same record with a key.
    pub fn with_key(mut self, key: &'a [u8]) -> Self {
        self.raw.key = Some(key);
        self
    }
}
