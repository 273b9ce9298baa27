//! The size of a Kafka record as Kafka limits it ([`record_size`](crate::kafka::record_size)),
//! and cutting a dead-letter copy down to a limit.

use std::borrow::Cow;

use crate::connectors::mqtt_source::route::KafkaRecord;
use crate::dead_letter::HEADER_TRUNCATED_ORIGINAL_SIZE;
use crate::kafka::record_size::framed_size;
#[cfg(test)]
use crate::kafka::record_size::{HEADER_OVERHEAD, RECORD_OVERHEAD};

/// The size of `record` as Kafka limits it (at least what librdkafka counts).
pub fn record_size(record: &KafkaRecord) -> usize {
    framed_size(
        record.key.len(),
        record.headers.iter().map(|(k, v)| (k.len(), v.len())),
        record.value.len(),
    )
}

/// Cuts `record`'s value so that [`record_size`] is at most `limit`, adding the header
/// [`HEADER_TRUNCATED_ORIGINAL_SIZE`] with the value's original length (decimal bytes). A
/// record that fits is left as it is. Returns the original length when it cut. (When the key
/// and headers alone exceed the limit the value is emptied and the record still does not fit:
/// Kafka then refuses it.)
pub fn truncate_to_fit(record: &mut KafkaRecord, limit: usize) -> Option<usize> {
    if record_size(record) <= limit {
        return None;
    }
    let original = record.value.len();
    record.headers.push((
        Cow::Borrowed(HEADER_TRUNCATED_ORIGINAL_SIZE),
        original.to_string().into_bytes(),
    ));
    let without_value = record_size(record) - original;
    record
        .value
        .truncate(limit.saturating_sub(without_value).min(original));
    Some(original)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, value: usize, headers: &[(&'static str, &str)]) -> KafkaRecord {
        KafkaRecord {
            topic: "t".into(),
            key: key.as_bytes().to_vec(),
            value: vec![b'x'; value],
            headers: headers
                .iter()
                .map(|(k, v)| (Cow::Borrowed(*k), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn size_counts_key_value_headers_and_overhead() {
        assert_eq!(record_size(&record("", 0, &[])), RECORD_OVERHEAD);
        assert_eq!(
            record_size(&record("key", 100, &[("h", "vv")])),
            RECORD_OVERHEAD + 3 + 100 + HEADER_OVERHEAD + 3
        );
    }

    #[test]
    fn a_record_that_fits_is_untouched() {
        let mut r = record("k", 10, &[("h", "v")]);
        let before = r.clone();
        assert_eq!(truncate_to_fit(&mut r, record_size(&before)), None);
        assert_eq!(r, before);
    }

    #[test]
    fn a_big_value_is_cut_to_fit_with_its_original_size_in_a_header() {
        let mut r = record("k", 10_000_000, &[("mqtt.topic", "a/b")]);
        assert_eq!(truncate_to_fit(&mut r, 1_000_000), Some(10_000_000));
        assert_eq!(record_size(&r), 1_000_000, "as big as the limit allows");
        assert_eq!(
            r.header(HEADER_TRUNCATED_ORIGINAL_SIZE),
            Some(&b"10000000"[..])
        );
        assert!(r.value.iter().all(|&b| b == b'x'), "a prefix of the value");
    }

    #[test]
    fn a_limit_below_key_and_headers_empties_the_value() {
        let mut r = record("a-long-key", 100, &[]);
        assert_eq!(truncate_to_fit(&mut r, 10), Some(100));
        assert!(r.value.is_empty());
        assert!(record_size(&r) > 10);
    }
}
