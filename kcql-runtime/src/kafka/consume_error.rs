//! What a consumer does with an error `recv()` returns instead of a record: a transient one is
//! waited out with a growing, jittered delay (librdkafka keeps the partition's position, so no record is skipped), a fatal one
//! stops the connector, which then commits nothing past what it processed.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::backoff::Backoff;

/// How a consumer error is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeErrorKind {
    /// The cluster is unreachable or rebalancing, a leader moved, a topic is not there yet:
    /// wait and poll again; librdkafka resumes at the same position.
    Transient,
    /// Retrying cannot help, or a record may have been skipped (an offset reset, a corrupt
    /// record, missing rights, a fatal client error): the connector stops.
    Fatal,
}

/// The kind of `error` (a `recv()` error of a consumer).
pub fn classify(error: &KafkaError) -> ConsumeErrorKind {
    use RDKafkaErrorCode as C;
    match error {
        KafkaError::MessageConsumptionFatal(_) => ConsumeErrorKind::Fatal,
        // Records would be skipped: the position moved (out of range, reset) or a record could
        // not be read.
        KafkaError::MessageConsumption(
            C::AutoOffsetReset | C::OffsetOutOfRange | C::BadMessage | C::InvalidMessage,
        )
        // Rights and protocol problems do not go away by waiting.
        | KafkaError::MessageConsumption(
            C::TopicAuthorizationFailed
            | C::GroupAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::SaslAuthenticationFailed
            | C::Authentication
            | C::SSL
            | C::UnsupportedVersion
            | C::InconsistentGroupProtocol
            | C::InvalidGroupId
            | C::Fatal,
        ) => ConsumeErrorKind::Fatal,
        _ => ConsumeErrorKind::Transient,
    }
}

/// Waits out a run of transient consumer errors with a growing delay (100 ms up to 5 s),
/// logging the first of a run and then every tenth.
#[derive(Debug)]
pub struct ConsumeErrors {
    backoff: Backoff,
}

impl Default for ConsumeErrors {
    fn default() -> Self {
        ConsumeErrors {
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
        }
    }
}

impl ConsumeErrors {
    /// Handles `error` for connector `name`: `Err(error)` when it is fatal, else logs it
    /// (rate-limited) and sleeps before the caller polls again.
    pub async fn handle(&mut self, name: &str, error: KafkaError) -> Result<(), KafkaError> {
        if classify(&error) == ConsumeErrorKind::Fatal {
            tracing::error!(connector = name, %error, "fatal Kafka consumer error");
            return Err(error);
        }
        let run = self.backoff.attempts();
        if run.is_multiple_of(10) {
            tracing::warn!(connector = name, %error, consecutive = run + 1,
                "Kafka consumer error; retrying at the same position");
        }
        tokio::time::sleep(self.backoff.next_delay()).await;
        Ok(())
    }

    /// A record arrived: the run of errors is over.
    pub fn reset(&mut self) {
        if self.backoff.attempts() > 0 {
            self.backoff.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_records_and_missing_rights_are_fatal_the_rest_transient() {
        let consume = |c| KafkaError::MessageConsumption(c);
        for code in [
            RDKafkaErrorCode::AutoOffsetReset,
            RDKafkaErrorCode::OffsetOutOfRange,
            RDKafkaErrorCode::BadMessage,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::GroupAuthorizationFailed,
        ] {
            assert_eq!(
                classify(&consume(code)),
                ConsumeErrorKind::Fatal,
                "{code:?}"
            );
        }
        assert_eq!(
            classify(&KafkaError::MessageConsumptionFatal(
                RDKafkaErrorCode::UnknownTopicOrPartition
            )),
            ConsumeErrorKind::Fatal
        );
        for code in [
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::NotCoordinator,
            RDKafkaErrorCode::LeaderNotAvailable,
        ] {
            assert_eq!(
                classify(&consume(code)),
                ConsumeErrorKind::Transient,
                "{code:?}"
            );
        }
    }

    #[tokio::test]
    async fn transient_errors_back_off_and_fatal_ones_are_returned() {
        let mut errors = ConsumeErrors::default();
        let transient = KafkaError::MessageConsumption(RDKafkaErrorCode::AllBrokersDown);
        for _ in 0..2 {
            errors.handle("c", transient.clone()).await.unwrap();
        }
        assert_eq!(errors.backoff.attempts(), 2, "each error waits longer");
        assert_eq!(errors.backoff.ceiling(), Duration::from_millis(400));
        errors.reset();
        assert_eq!(errors.backoff.attempts(), 0);
        let fatal = KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset);
        assert!(errors.handle("c", fatal).await.is_err());
    }
}
