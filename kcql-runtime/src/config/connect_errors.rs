//! Kafka Connect's error-handling settings (KIP-298), as Stream Reactor files carry them
//! beside the connector's own `connect.*.error.policy`:
//!
//! * `errors.tolerance`: `none` (default) fails the task on a record it cannot convert;
//!   `all` skips such records. Here it decides what happens to *poison records* (records
//!   that cannot be decoded or turned into a point); failed writes keep following the
//!   connector's error policy, as in Kafka Connect, where the tolerance covers conversion
//!   and transformation only.
//! * `errors.deadletterqueue.topic.name`: where skipped records are copied (sinks).
//! * `errors.deadletterqueue.context.headers.enable`: whether the copies carry the
//!   `__connect.errors.*` headers (Kafka Connect's default: false).
//! * `errors.deadletterqueue.topic.replication.factor`, `errors.log.enable`,
//!   `errors.log.include.messages`, `errors.retry.timeout`, `errors.retry.delay.max.ms`:
//!   accepted and checked, without effect: skipped records are always logged (without their
//!   content), the dead-letter topic is created by the broker's auto-creation or by you, and
//!   conversion is not retried (a record that does not decode will not decode later).

use super::common::ErrorPolicy;
use super::reader::{KeyError, Reader};

/// `errors.tolerance`.
pub const TOLERANCE: &str = "errors.tolerance";
/// `errors.deadletterqueue.topic.name`.
pub const DLQ_TOPIC_NAME: &str = "errors.deadletterqueue.topic.name";
/// `errors.deadletterqueue.context.headers.enable`.
pub const DLQ_CONTEXT_HEADERS: &str = "errors.deadletterqueue.context.headers.enable";
/// `errors.deadletterqueue.topic.replication.factor`.
pub const DLQ_REPLICATION_FACTOR: &str = "errors.deadletterqueue.topic.replication.factor";
/// `errors.log.enable`.
pub const LOG_ENABLE: &str = "errors.log.enable";
/// `errors.log.include.messages`.
pub const LOG_INCLUDE_MESSAGES: &str = "errors.log.include.messages";
/// `errors.retry.timeout`.
pub const RETRY_TIMEOUT: &str = "errors.retry.timeout";
/// `errors.retry.delay.max.ms`.
pub const RETRY_DELAY_MAX_MS: &str = "errors.retry.delay.max.ms";

/// The keys a sink accepts.
pub const SINK_KEYS: [&str; 8] = [
    TOLERANCE,
    DLQ_TOPIC_NAME,
    DLQ_CONTEXT_HEADERS,
    DLQ_REPLICATION_FACTOR,
    LOG_ENABLE,
    LOG_INCLUDE_MESSAGES,
    RETRY_TIMEOUT,
    RETRY_DELAY_MAX_MS,
];

/// The keys a source accepts (Kafka Connect has no dead-letter queue for sources).
pub const SOURCE_KEYS: [&str; 5] = [
    TOLERANCE,
    LOG_ENABLE,
    LOG_INCLUDE_MESSAGES,
    RETRY_TIMEOUT,
    RETRY_DELAY_MAX_MS,
];

/// `errors.tolerance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tolerance {
    /// `none`: a poison record fails the task.
    None,
    /// `all`: poison records are skipped (logged, counted, dead-lettered when a topic is set).
    All,
}

/// What a connector's properties say in Kafka Connect's error-handling keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectErrors {
    /// `errors.tolerance`, when given.
    pub tolerance: Option<Tolerance>,
    /// `errors.deadletterqueue.topic.name`, when given.
    pub dlq_topic: Option<String>,
    /// `errors.deadletterqueue.context.headers.enable`, when given.
    pub context_headers: Option<bool>,
}

impl ConnectErrors {
    /// Reads the keys; every bad value is reported to `r`.
    pub fn read<E: From<KeyError>>(r: &mut Reader<'_, E>) -> ConnectErrors {
        let tolerance = match r.get(TOLERANCE).map(str::trim) {
            None => None,
            Some(v) if v.eq_ignore_ascii_case("none") => Some(Tolerance::None),
            Some(v) if v.eq_ignore_ascii_case("all") => Some(Tolerance::All),
            Some(v) => {
                r.invalid(
                    TOLERANCE,
                    format!("{TOLERANCE} must be none or all, got `{v}`"),
                );
                None
            }
        };
        let dlq_topic = r.optional(DLQ_TOPIC_NAME);
        let context_headers = r.boolean(DLQ_CONTEXT_HEADERS);
        let _ = r.boolean(LOG_ENABLE);
        let _ = r.boolean(LOG_INCLUDE_MESSAGES);
        let _ = r.number::<i16>(
            DLQ_REPLICATION_FACTOR,
            "a replication factor (-1 = the broker's default)",
        );
        let _ = r.number::<i64>(RETRY_TIMEOUT, "a number of milliseconds (-1 = forever)");
        let _ = r.duration(RETRY_DELAY_MAX_MS);
        ConnectErrors {
            tolerance,
            dlq_topic,
            context_headers,
        }
    }

    /// The policy for poison records: `errors.tolerance = all` skips them (NOOP), `none`
    /// fails the task (THROW, or the connector's RETRY); absent, the connector's `policy`
    /// decides alone.
    pub fn poison_policy(&self, policy: ErrorPolicy) -> ErrorPolicy {
        match self.tolerance {
            Some(Tolerance::All) => ErrorPolicy::Noop,
            Some(Tolerance::None) if policy == ErrorPolicy::Noop => ErrorPolicy::Throw,
            _ => policy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::reader::KnownKeys;

    fn read(pairs: &[(&str, &str)]) -> (ConnectErrors, Vec<KeyError>) {
        let owned = crate::config::properties::owned_pairs(pairs);
        let (mut r, _) = Reader::<KeyError>::new(
            &owned,
            KnownKeys {
                keys: &SINK_KEYS,
                open_prefixes: &[],
                kafka_prefix: "kafka.",
                suggest_within: 2,
            },
        );
        let e = ConnectErrors::read(&mut r);
        (e, r.errors)
    }

    #[test]
    fn tolerance_all_skips_poison_records_and_none_fails_on_them() {
        let (all, errors) = read(&[
            ("errors.tolerance", "ALL"),
            ("errors.deadletterqueue.topic.name", "dlq"),
            ("errors.deadletterqueue.context.headers.enable", "true"),
            ("errors.log.enable", "true"),
            ("errors.deadletterqueue.topic.replication.factor", "1"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(all.tolerance, Some(Tolerance::All));
        assert_eq!(all.dlq_topic.as_deref(), Some("dlq"));
        assert_eq!(all.context_headers, Some(true));
        assert_eq!(all.poison_policy(ErrorPolicy::Throw), ErrorPolicy::Noop);
        let (none, _) = read(&[("errors.tolerance", "none")]);
        assert_eq!(none.poison_policy(ErrorPolicy::Noop), ErrorPolicy::Throw);
        assert_eq!(none.poison_policy(ErrorPolicy::Retry), ErrorPolicy::Retry);
        let (absent, _) = read(&[]);
        assert_eq!(absent.poison_policy(ErrorPolicy::Noop), ErrorPolicy::Noop);
    }

    #[test]
    fn bad_values_name_their_key() {
        let (_, errors) = read(&[
            ("errors.tolerance", "some"),
            ("errors.deadletterqueue.context.headers.enable", "yes"),
            ("errors.retry.timeout", "soon"),
        ]);
        let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert_eq!(shown[0], "errors.tolerance must be none or all, got `some`");
        assert!(
            shown[1]
                .contains("errors.deadletterqueue.context.headers.enable must be true or false"),
            "{shown:?}"
        );
        assert!(
            shown[2].contains("errors.retry.timeout must be a number of milliseconds"),
            "{shown:?}"
        );
    }
}
