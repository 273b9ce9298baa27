//! The size of a Kafka record as Kafka limits it.
//!
//! librdkafka refuses, at produce time, a record whose key, value and headers plus its
//! worst-case per-record overhead exceed the producer's `message.max.bytes`; the broker then
//! refuses a record batch bigger than the topic's `max.message.bytes`. [`framed_size`] counts
//! a little more than librdkafka does (every length as its longest varint), so a record under
//! a limit by this count is never refused by librdkafka itself.

/// Per-record overhead in a Kafka record batch (v2), worst case: length, attributes,
/// timestamp delta, offset delta, key length, value length and header count, each as its
/// longest varint.
pub const RECORD_OVERHEAD: usize = 5 + 1 + 10 + 5 + 5 + 5 + 5;
/// Per-header overhead: the name and value lengths as their longest varints.
pub const HEADER_OVERHEAD: usize = 5 + 5;

/// The size of a record with a `key_len`-byte key, `headers` as (name length, value length)
/// and a `value_len`-byte value.
pub fn framed_size(
    key_len: usize,
    headers: impl IntoIterator<Item = (usize, usize)>,
    value_len: usize,
) -> usize {
    RECORD_OVERHEAD
        + key_len
        + value_len
        + headers
            .into_iter()
            .map(|(name, value)| HEADER_OVERHEAD + name + value)
            .sum::<usize>()
}
