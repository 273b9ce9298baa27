//! The Kafka side of a worker: an idempotent librdkafka producer whose delivery reports come
//! back to the worker through a channel, tagged with the message's place in the window.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use tokio::sync::mpsc;
use tracing::warn;

use crate::kafka::fatal::{log_error, log_line, FatalErrors};

use crate::connectors::mqtt_source::error::MqttSourceError;
use crate::connectors::mqtt_source::route::KafkaRecord;

/// A delivery report: the tag given at send time and the outcome.
pub(crate) type Delivery = (usize, Result<(), KafkaError>);

/// Routes delivery reports, librdkafka logs and fatal client errors.
pub(crate) struct DeliveryContext {
    tx: mpsc::UnboundedSender<Delivery>,
    fatal: FatalErrors,
}

impl ClientContext for DeliveryContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        log_line(level, fac, msg);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        log_error(&self.fatal, &error, reason);
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, tag: usize) {
        let outcome = match result {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(e.clone()),
        };
        // The worker may be gone (shutdown): nothing waits for the report then.
        let _ = self.tx.send((tag, outcome));
    }
}

/// What the producers of one worker are made of; their delivery reports all come to one
/// channel.
#[derive(Debug, Clone)]
pub(crate) struct ProducerSetup {
    bootstrap: String,
    overrides: BTreeMap<String, String>,
    client_id: String,
    tx: mpsc::UnboundedSender<Delivery>,
    /// Authentication and TLS failures of the worker's producers.
    pub fatal: FatalErrors,
}

impl ProducerSetup {
    /// Producers for `bootstrap` with the `kafka.*` overrides, and the receiver of their
    /// delivery reports.
    pub fn new(
        bootstrap: &str,
        overrides: &BTreeMap<String, String>,
        client_id: &str,
    ) -> (ProducerSetup, mpsc::UnboundedReceiver<Delivery>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let setup = ProducerSetup {
            bootstrap: bootstrap.to_string(),
            overrides: overrides.clone(),
            client_id: client_id.to_string(),
            tx,
            fatal: FatalErrors::default(),
        };
        (setup, rx)
    }
}

/// The producer of one worker.
pub(crate) struct KafkaProducer {
    inner: ThreadedProducer<DeliveryContext>,
}

impl KafkaProducer {
    /// An idempotent producer (`enable.idempotence=true`, so `acks=all` and ordered retries)
    /// with the setup's bootstrap servers and `kafka.*` overrides. With `one_per_batch` it sends
    /// every record in a batch of its own (`batch.num.messages=1`, `linger.ms=0`): the broker
    /// refuses a whole batch that is too large for the topic, so only a record sent alone is
    /// known to be too large itself.
    pub fn new(
        setup: &ProducerSetup,
        one_per_batch: bool,
    ) -> Result<KafkaProducer, MqttSourceError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &setup.bootstrap)
            .set("client.id", &setup.client_id)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set_log_level(RDKafkaLogLevel::Warning);
        for (k, v) in &setup.overrides {
            if crate::kafka::client::applies_to(k, crate::kafka::client::ClientRole::Producer) {
                config.set(k, v);
            }
        }
        if one_per_batch {
            config
                .set("batch.num.messages", "1")
                .set("linger.ms", "0")
                .set("client.id", format!("{}-alone", setup.client_id));
        } else if config.get("enable.idempotence") != Some("true") {
            warn!("kafka.enable.idempotence is not true: a retried write may duplicate or reorder records");
        }
        let inner = config
            .create_with_context(DeliveryContext {
                tx: setup.tx.clone(),
                fatal: setup.fatal.clone(),
            })
            .map_err(MqttSourceError::Producer)?;
        Ok(KafkaProducer { inner })
    }

    /// Queues `record` with `tag`. `Err(QueueFull)` means: wait for deliveries, then retry.
    pub fn send(&self, record: &KafkaRecord, tag: usize) -> Result<(), KafkaError> {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (k, v) in &record.headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_slice()),
            });
        }
        let base = BaseRecord::with_opaque_to(&record.topic, tag)
            .key(record.key.as_slice())
            .payload(record.value.as_slice())
            .headers(headers);
        self.inner.send(base).map_err(|(e, _)| e)
    }

    /// Waits up to `timeout` for queued records to be delivered.
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.inner.flush(timeout) {
            warn!("Kafka producer flush: {e}");
        }
    }
}

/// True for Kafka's "message too large": librdkafka's own check at send time (the record is
/// over the producer's `message.max.bytes`), or the broker's (the record batch is over the
/// topic's `max.message.bytes`).
pub(crate) fn is_too_large(e: &KafkaError) -> bool {
    matches!(
        e,
        KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)
    )
}

/// True for errors that go away by themselves (broker down, timeouts, leadership moves): the
/// record is retried with backoff, whatever the error policy.
pub(crate) fn is_transient(e: &KafkaError) -> bool {
    let code = match e {
        KafkaError::MessageProduction(c) => *c,
        _ => return false,
    };
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::QueueFull
            | C::MessageTimedOut
            | C::RequestTimedOut
            | C::BrokerTransportFailure
            | C::AllBrokersDown
            | C::NetworkException
            | C::LeaderNotAvailable
            | C::NotLeaderForPartition
            | C::NotEnoughReplicas
            | C::NotEnoughReplicasAfterAppend
            | C::BrokerNotAvailable
            | C::Resolve
            | C::OperationTimedOut
            | C::PurgeQueue
            | C::PurgeInflight
            | C::CoordinatorLoadInProgress
            | C::CoordinatorNotAvailable
    )
}
