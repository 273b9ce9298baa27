//! Errors of a Kafka client that retrying cannot fix: the broker refused the credentials
//! (wrong SASL password, unknown user, unsupported mechanism) or TLS failed (a broker
//! certificate the configured CA did not sign). librdkafka reports them through the client
//! context's error callback and then tries again forever; a component watching
//! [`FatalErrors`] stops instead, with librdkafka's reason.

use std::sync::Arc;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use thiserror::Error;
use tokio::sync::watch;

/// The broker refused the client (authentication or TLS): the component stops.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("Kafka refused the connection ({code}): {reason}")]
pub struct FatalClientError {
    /// librdkafka's error code (`Authentication`, `SSL`, …).
    pub code: RDKafkaErrorCode,
    /// librdkafka's reason, with the broker's message when it sent one (never a credential).
    pub reason: String,
}

/// Whether `error` (with librdkafka's `reason`) is an authentication or TLS failure that
/// trying again cannot fix.
pub fn is_fatal_client_error(error: &KafkaError, reason: &str) -> bool {
    use RDKafkaErrorCode as C;
    match error.rdkafka_error_code() {
        Some(C::Authentication | C::SaslAuthenticationFailed | C::SSL) => true,
        // The same failed handshake is also reported as a transport failure on its way out.
        Some(_) => reason.contains("certificate verify failed"),
        None => false,
    }
}

/// The first fatal client error of a component's Kafka clients, shared between their
/// contexts (which [`report`](FatalErrors::report) what librdkafka says) and the component
/// (which [`wait`](FatalErrors::wait)s for it beside its work).
#[derive(Debug, Clone)]
pub struct FatalErrors {
    tx: Arc<watch::Sender<Option<FatalClientError>>>,
}

impl Default for FatalErrors {
    fn default() -> Self {
        FatalErrors {
            tx: Arc::new(watch::channel(None).0),
        }
    }
}

impl FatalErrors {
    /// Records `error` when it is fatal ([`is_fatal_client_error`]); the first one stays.
    /// True when it is fatal.
    pub fn report(&self, error: &KafkaError, reason: &str) -> bool {
        if !is_fatal_client_error(error, reason) {
            return false;
        }
        let Some(code) = error.rdkafka_error_code() else {
            return false;
        };
        self.tx.send_if_modified(|slot| {
            if slot.is_some() {
                return false;
            }
            *slot = Some(FatalClientError {
                code,
                reason: reason.to_string(),
            });
            true
        });
        true
    }

    /// The fatal error, once one was reported.
    pub fn get(&self) -> Option<FatalClientError> {
        self.tx.borrow().clone()
    }

    /// Waits until a fatal error is reported and returns it.
    pub async fn wait(&self) -> FatalClientError {
        let mut rx = self.tx.subscribe();
        let got = match rx.wait_for(Option::is_some).await {
            Ok(v) => v.clone(),
            Err(_) => None,
        };
        match got {
            Some(e) => e,
            // The sender lives in `self`: it cannot be dropped while we wait.
            None => std::future::pending().await,
        }
    }
}

/// A client context for producers: librdkafka's log lines go to `tracing`, its errors are
/// logged and the fatal ones [`report`](FatalErrors::report)ed.
#[derive(Debug, Clone, Default)]
pub struct ReportingContext {
    /// Where fatal errors go.
    pub fatal: FatalErrors,
}

impl ClientContext for ReportingContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        log_line(level, fac, msg);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        log_error(&self.fatal, &error, reason);
    }
}

/// Logs one librdkafka log line at its level.
pub fn log_line(level: RDKafkaLogLevel, fac: &str, msg: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", "{fac}: {msg}"),
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", "{fac}: {msg}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", "{fac}: {msg}")
        }
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", "{fac}: {msg}"),
    }
}

/// What every context does with a client error: reports a fatal one to `fatal` (logged as an
/// error), logs the others as warnings.
pub fn log_error(fatal: &FatalErrors, error: &KafkaError, reason: &str) {
    if fatal.report(error, reason) {
        tracing::error!(target: "librdkafka", %error, reason, "Kafka refused the client; stopping");
    } else {
        tracing::warn!(target: "librdkafka", "{error}: {reason}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SASL: &str = "sasl_ssl://127.0.0.1:9094/bootstrap: SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512 (after 318ms in state AUTH_REQ)";
    const TLS: &str = "ssl://127.0.0.1:9093/bootstrap: error:0A000086:SSL routines::certificate verify failed (after 4ms in state SSL_HANDSHAKE)";

    #[test]
    fn authentication_and_tls_failures_are_fatal_the_rest_not() {
        let global = KafkaError::Global;
        assert!(is_fatal_client_error(
            &global(RDKafkaErrorCode::Authentication),
            SASL
        ));
        assert!(is_fatal_client_error(
            &KafkaError::MessageConsumption(RDKafkaErrorCode::SSL),
            "SSL handshake failed"
        ));
        assert!(is_fatal_client_error(
            &global(RDKafkaErrorCode::BrokerTransportFailure),
            TLS
        ));
        for (code, reason) in [
            (
                RDKafkaErrorCode::BrokerTransportFailure,
                "Connection refused",
            ),
            (RDKafkaErrorCode::AllBrokersDown, "1/1 brokers are down"),
            (
                RDKafkaErrorCode::BrokerTransportFailure,
                "SSL handshake failed: Disconnected: connecting to a PLAINTEXT broker listener?",
            ),
        ] {
            assert!(!is_fatal_client_error(&global(code), reason), "{code:?}");
        }
    }

    #[tokio::test]
    async fn the_first_fatal_error_is_kept_and_wakes_the_waiter() {
        let fatal = FatalErrors::default();
        let waiter = {
            let fatal = fatal.clone();
            tokio::spawn(async move { fatal.wait().await })
        };
        assert!(!fatal.report(
            &KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "down"
        ));
        assert_eq!(fatal.get(), None);
        assert!(fatal.report(&KafkaError::Global(RDKafkaErrorCode::Authentication), SASL));
        assert!(fatal.report(&KafkaError::Global(RDKafkaErrorCode::SSL), TLS));
        let got = waiter.await.unwrap();
        assert_eq!(got.code, RDKafkaErrorCode::Authentication);
        assert_eq!(fatal.get(), Some(got.clone()));
        let shown = got.to_string();
        assert!(
            shown.contains("invalid credentials with SASL mechanism SCRAM-SHA-512"),
            "{shown}"
        );
    }
}
