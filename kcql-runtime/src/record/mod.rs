//! A Kafka record as the runtime sees it: raw parts plus its decoded key and value, and the
//! one [`RecordDecoder`] that turns the first into the second for every component.

pub mod decoder;

pub use decoder::{
    JsonEnvelope, RawRecord, RecordDecodeError, RecordDecoder, RecordFormat, RecordFormatError,
    Schemas,
};

use crate::value::Value;

/// One record, decoded. Everything borrows from the consumed message.
#[derive(Debug, Clone)]
pub struct RecordView<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The record timestamp (epoch milliseconds), when the broker gave one.
    pub timestamp_ms: Option<i64>,
    /// The decoded key ([`Value::Null`] when absent).
    pub key: Value<'a>,
    /// The decoded value ([`Value::Null`] for a tombstone).
    pub value: Value<'a>,
    /// The headers, in order.
    pub headers: &'a [(&'a str, &'a [u8])],
}

impl<'a> RecordView<'a> {
    /// A record with only a value (topic `""`, partition 0, offset 0, no key, no headers).
    pub fn of_value(value: Value<'a>) -> Self {
        RecordView {
            topic: "",
            partition: 0,
            offset: 0,
            timestamp_ms: None,
            key: Value::Null,
            value,
            headers: &[],
        }
    }
}
