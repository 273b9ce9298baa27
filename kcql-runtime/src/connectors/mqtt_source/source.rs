//! The connector: [`MqttSource`] runs one worker per statement group (`tasks.max`); each worker
//! is one MQTT client, one idempotent Kafka producer, and a window of messages in flight.
//!
//! A message enters the window when it arrives, its records are produced, and it leaves the
//! window, in arrival order, once Kafka confirmed every record made of it (or the error policy
//! skipped it, or a `WHERE` dropped it). Leaving the window acknowledges it to the broker
//! (QoS 1 and 2). The window is bounded (`connect.mqtt.max.inflight`): when it is full the
//! worker stops reading, and the broker keeps the rest queued for the session.
//!
//! Acknowledgements go through rumqttc's request channel, which its event loop only drains
//! once it has handed over the messages it already read. A broker that sends without limit
//! (Mosquitto's `max_inflight_messages 0`, or a big backlog on reconnect) can fill that
//! channel, so an acknowledgement that does not fit waits in the worker's own queue and is
//! sent as soon as there is room; the worker keeps reading meanwhile, which is what lets the
//! event loop make room.
//!
//! # Records too large for Kafka
//!
//! A record over `max_message_bytes` (default: the producer's `message.max.bytes`), or one
//! the topic refuses as too large, can never be written, so it is a poison message for the
//! error policy. The broker refuses a whole record batch when it is too large for the topic,
//! so a record refused that way is first sent again alone (by a second producer that sends
//! one record per batch, made when first needed); only when it is refused alone is it too
//! large itself, and its batch-mates go through. Then:
//!
//! * `NOOP`: the message is skipped (counted in `kcql_records_skipped_total`,
//!   `kcql_records_too_large_total` and `kcql_errors_total`), its record is copied to the
//!   dead-letter topic with the value cut to fit (and the header
//!   `__kcql.truncated.original.size`), and it is acknowledged.
//! * `THROW`, and `RETRY` (at once for a record over `max_message_bytes`, which retrying
//!   cannot shrink; after its attempts for one the topic refuses, as the topic's limit may be
//!   raised meanwhile): the same copy is written, then
//!   the message is **acknowledged** and the source stops with
//!   [`MqttSourceError::TooLarge`] naming the MQTT topic, the Kafka topic and the size. Not
//!   acknowledging it, as THROW does with other poison messages, would be a crash loop: the
//!   broker redelivers an unacknowledged message to the persistent session on every start, and
//!   it would stop the source again, every time. What is kept of it is the dead-letter copy
//!   (when `dlq_topic` is set) and the error.
//!
//! A dead-letter copy Kafka refuses for good is not retried: the error is logged and the
//! message acknowledged as decided.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::backoff::Backoff;
use crate::component::{Component, ComponentContext};
use crate::config::ErrorPolicy;
use crate::connectors::mqtt_source::config::MqttSourceSettings;
use crate::connectors::mqtt_source::error::MqttSourceError;
use crate::connectors::mqtt_source::producer::{
    is_too_large, is_transient, Delivery, KafkaProducer, ProducerSetup,
};
use crate::connectors::mqtt_source::route::{
    headers_of, KafkaRecord, MqttMessage, PoisonError, Routed, Router, HEADER_TOPIC,
};
use crate::connectors::mqtt_source::session::{
    self, AckToken, Incoming, SessionConfig, SessionEvent,
};
use crate::connectors::mqtt_source::size::{record_size, truncate_to_fit};
use crate::connectors::mqtt_source::stats::MqttSourceStats;
use crate::connectors::mqtt_source::tasks::{worker_plans, WorkerPlan};
use crate::dead_letter::{error_headers, Origin};
use crate::shutdown::Shutdown;

/// The connector name in dead-letter headers when the `name` key is not set.
pub const DEFAULT_NAME: &str = "kcql-mqtt-source";
/// Error class in dead-letter headers of records Kafka refused (error policy NOOP).
pub const CLASS_REJECTED_BY_KAFKA: &str = "rejected_by_kafka";
/// Error class in dead-letter headers of records too large for Kafka.
pub const CLASS_TOO_LARGE: &str = "record_too_large";
/// How long a graceful shutdown waits for Kafka to confirm the records in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How soon acknowledgements that did not fit in rumqttc's request channel are tried again.
const ACK_RETRY: Duration = Duration::from_millis(2);

/// An MQTT → Kafka source connector, ready to run.
pub struct MqttSource {
    settings: MqttSourceSettings,
    workers: Vec<(WorkerPlan, Arc<Router>)>,
    tls: Option<Arc<rumqttc::tokio_rustls::rustls::ClientConfig>>,
    stats: Arc<MqttSourceStats>,
}

impl std::fmt::Debug for MqttSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttSource")
            .field("client_id", &self.settings.client_id)
            .field("workers", &self.workers.len())
            .finish()
    }
}

impl MqttSource {
    /// Checks what the settings alone cannot (WITHREGEX compiles, every Avro route has a
    /// schema, TLS files load) and splits the statements over the workers. Connects nothing.
    pub fn new(settings: MqttSourceSettings) -> Result<Self, MqttSourceError> {
        Router::new(&settings.plan, &settings.avro_schemas).map_err(MqttSourceError::Config)?;
        let tls = settings.tls.as_ref().map(session::tls_config).transpose()?;
        if tls.is_none() && settings.brokers.iter().any(|b| b.tls) {
            return Err(MqttSourceError::Setting(
                "an ssl:// host needs connect.mqtt.ssl.ca.cert (the CA that signed the broker's certificate)".into(),
            ));
        }
        if tls.is_some() && !settings.brokers.iter().any(|b| b.tls) {
            return Err(MqttSourceError::Setting(
                "connect.mqtt.ssl.* is set but no host uses ssl:// (or mqtts://)".into(),
            ));
        }
        if settings.brokers.is_empty() {
            return Err(MqttSourceError::Setting(
                "connect.mqtt.hosts names no broker".into(),
            ));
        }
        let mut workers = Vec::new();
        for w in worker_plans(
            &settings.plan,
            settings.tasks,
            settings.share_replicate,
            &settings.client_id,
        ) {
            let router = Router::new(&w.plan, &settings.avro_schemas)
                .map_err(MqttSourceError::Config)?
                .with_output(settings.output.clone());
            workers.push((w, Arc::new(router)));
        }
        Ok(MqttSource {
            settings,
            workers,
            tls,
            stats: Arc::new(MqttSourceStats::default()),
        })
    }

    /// The live counters (shared with the running workers).
    pub fn stats(&self) -> Arc<MqttSourceStats> {
        self.stats.clone()
    }

    /// The workers' client ids, in order.
    pub fn client_ids(&self) -> Vec<String> {
        self.workers
            .iter()
            .map(|(w, _)| w.client_id.clone())
            .collect()
    }

    /// Runs until `shutdown` becomes true (or its sender is dropped), then stops reading,
    /// waits for Kafka to confirm what is in flight, acknowledges it, disconnects and returns
    /// `Ok`. Returns an error when a worker has to stop (THROW policy, refused credentials);
    /// the other workers are then stopped gracefully too.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), MqttSourceError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop_tx = Arc::new(stop_tx);
        let forward = {
            let stop_tx = stop_tx.clone();
            tokio::spawn(async move {
                loop {
                    if *shutdown.borrow_and_update() {
                        break;
                    }
                    if shutdown.changed().await.is_err() {
                        break;
                    }
                }
                let _ = stop_tx.send(true);
            })
        };
        let mut handles = Vec::new();
        for (plan, router) in self.workers {
            let filters: Vec<String> = plan
                .plan
                .subscriptions()
                .into_iter()
                .map(str::to_string)
                .collect();
            let cfg = SessionConfig::new(
                &self.settings,
                plan.client_id.clone(),
                filters,
                self.tls.clone(),
            );
            let worker = Worker::new(&self.settings, cfg, router, self.stats.clone())?;
            let stop = stop_rx.clone();
            let stop_all = stop_tx.clone();
            handles.push(tokio::spawn(async move {
                let r = worker.run(stop).await;
                if r.is_err() {
                    let _ = stop_all.send(true);
                }
                r
            }));
        }
        let mut first_error = None;
        for h in handles {
            let r = match h.await {
                Ok(r) => r,
                Err(e) => Err(MqttSourceError::Worker(e.to_string())),
            };
            if let Err(e) = r {
                first_error.get_or_insert(e);
            }
        }
        forward.abort();
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// One message in the window.
struct Slot {
    ack: Option<AckToken>,
    epoch: u64,
    /// Records not yet confirmed (or skipped).
    outstanding: usize,
    /// The records, kept until confirmed so they can be resent.
    records: Vec<Option<KafkaRecord>>,
    attempts: Vec<u32>,
    /// Per record: it goes through the producer that sends one record per batch.
    alone: Vec<bool>,
    /// Never completes: the message stopped the worker (THROW).
    blocked: bool,
}

/// Tag = sequence number << 16 | record index within the message.
const TAG_BITS: u32 = 16;

struct Worker {
    client_id: String,
    router: Arc<Router>,
    stats: Arc<MqttSourceStats>,
    producer: KafkaProducer,
    /// Sends one record per batch (see the module doc); made when first needed.
    alone: Option<KafkaProducer>,
    producer_setup: ProducerSetup,
    deliveries: mpsc::UnboundedReceiver<Delivery>,
    cfg: SessionConfig,
    /// `connect.mqtt.error.policy`: failed Kafka writes.
    policy: ErrorPolicy,
    /// Poison messages (`errors.tolerance` may override the policy).
    poison_policy: ErrorPolicy,
    retry_interval: Duration,
    max_retries: Option<u32>,
    dlq_topic: Option<String>,
    /// The connector's name, for dead-letter headers.
    connector: String,
    log_message: bool,
    progress: bool,
    max_inflight: usize,
    /// The largest record written (`max_message_bytes`).
    max_message_bytes: usize,
    window: VecDeque<Slot>,
    /// Sequence number of the window's front.
    base: u64,
    retries: Vec<(Instant, u64, usize)>,
    /// Acknowledgements (with their connection epoch) that did not fit in rumqttc's request
    /// channel yet, oldest first.
    pending_acks: VecDeque<(u64, AckToken)>,
    failure: Option<MqttSourceError>,
    last_warning: Option<Instant>,
}

impl Worker {
    fn new(
        s: &MqttSourceSettings,
        cfg: SessionConfig,
        router: Arc<Router>,
        stats: Arc<MqttSourceStats>,
    ) -> Result<Worker, MqttSourceError> {
        let (producer_setup, deliveries) =
            ProducerSetup::new(s.bootstrap_servers(), &s.kafka, &cfg.client_id);
        let producer = KafkaProducer::new(&producer_setup, false)?;
        Ok(Worker {
            client_id: cfg.client_id.clone(),
            router,
            stats,
            producer,
            alone: None,
            producer_setup,
            deliveries,
            policy: s.error_policy,
            poison_policy: s.poison_policy,
            retry_interval: s.retry_interval,
            max_retries: s.max_retries,
            dlq_topic: s.dlq_topic.clone(),
            connector: s.name.clone().unwrap_or_else(|| DEFAULT_NAME.to_string()),
            log_message: s.log_message,
            progress: s.progress_enabled,
            max_inflight: s.max_inflight,
            max_message_bytes: s.max_message_bytes,
            cfg,
            window: VecDeque::new(),
            base: 0,
            retries: Vec::new(),
            pending_acks: VecDeque::new(),
            failure: None,
            last_warning: None,
        })
    }

    async fn run(mut self, mut stop: watch::Receiver<bool>) -> Result<(), MqttSourceError> {
        let mut session = session::start(self.cfg.clone(), self.stats.clone());
        let mut progress = tokio::time::interval(Duration::from_secs(10));
        progress.tick().await;
        let fatal = self.producer_setup.fatal.clone();
        loop {
            if self.failure.is_some() || *stop.borrow_and_update() {
                break;
            }
            let can_read = self.window.len() < self.max_inflight;
            let next_retry = self.retries.iter().map(|r| r.0).min();
            let acks_waiting = !self.pending_acks.is_empty();
            tokio::select! {
                biased;
                changed = stop.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                // Wrong credentials or an untrusted broker: librdkafka would retry forever.
                refused = fatal.wait() => {
                    self.failure = Some(MqttSourceError::KafkaRefused(refused));
                }
                _ = tokio::time::sleep(ACK_RETRY), if acks_waiting => {
                    self.flush_acks(&session);
                }
                Some(d) = self.deliveries.recv() => {
                    self.on_delivery(d);
                    self.advance(&session);
                }
                _ = sleep_until_opt(next_retry), if next_retry.is_some() => {
                    self.resend_due();
                    self.advance(&session);
                }
                ev = session.events.recv(), if can_read => match ev {
                    Some(SessionEvent::Message(m)) => {
                        // Confluent Avro: the output schemas first (waits while the registry is down).
                        match self.router.prepare(&m.topic, &stop, &self.client_id).await {
                            None => break,
                            Some(Err(e)) => self.failure = Some(e.into()),
                            Some(Ok(())) => self.on_message(m),
                        }
                        self.advance(&session);
                    }
                    Some(SessionEvent::Connected { session_present }) => {
                        debug!(client_id = %self.client_id, session_present, "connected");
                    }
                    Some(SessionEvent::Fatal(reason)) => {
                        self.failure = Some(MqttSourceError::Refused(reason));
                    }
                    None => {
                        self.failure = Some(MqttSourceError::Worker("the MQTT session task ended".into()));
                    }
                },
                _ = progress.tick(), if self.progress => {
                    info!(client_id = %self.client_id, stats = ?self.stats.snapshot(), "MQTT source progress");
                }
            }
        }
        self.drain(&mut session).await;
        match self.failure.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Stops reading, waits (bounded) until every record in flight is confirmed, acknowledges
    /// what can be, and disconnects.
    async fn drain(&mut self, session: &mut session::Session) {
        session.events.close();
        // Kafka refused the producer: nothing in flight will be confirmed.
        let refused = matches!(self.failure, Some(MqttSourceError::KafkaRefused(_)));
        let deadline = Instant::now()
            + if refused {
                Duration::ZERO
            } else {
                DRAIN_TIMEOUT
            };
        while self.window.iter().any(|s| s.outstanding > 0 && !s.blocked) {
            let next_retry = self.retries.iter().map(|r| r.0).min();
            tokio::select! {
                Some(d) = self.deliveries.recv() => {
                    self.on_delivery(d);
                    self.advance(session);
                }
                _ = sleep_until_opt(next_retry), if next_retry.is_some() => {
                    self.resend_due();
                    self.advance(session);
                }
                _ = tokio::time::sleep_until(deadline) => {
                    warn!(client_id = %self.client_id, in_flight = self.window.len(), "shutdown: Kafka did not confirm every record in time; the broker redelivers the unacknowledged messages");
                    break;
                }
            }
        }
        self.advance(session);
        while !self.pending_acks.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(ACK_RETRY).await;
            self.flush_acks(session);
        }
        let unacked = self.window.len() + self.pending_acks.len();
        self.stats.in_flight.add(-(unacked as i64));
        self.window.clear();
        session.client.disconnect();
        if tokio::time::timeout(Duration::from_secs(5), &mut session.task)
            .await
            .is_err()
        {
            session.task.abort();
        }
        self.producer.flush(Duration::from_secs(1));
        if let Some(alone) = &self.alone {
            alone.flush(Duration::from_secs(1));
        }
        info!(client_id = %self.client_id, unacked, "MQTT source worker stopped");
    }

    fn on_message(&mut self, m: Incoming) {
        self.stats.received.inc();
        if self.log_message {
            debug!(topic = %m.topic, qos = m.qos, dup = m.dup, retain = m.retain, bytes = m.payload.len(), "MQTT message");
        }
        let seq = self.base + self.window.len() as u64;
        let msg = MqttMessage {
            topic: &m.topic,
            payload: &m.payload,
            qos: m.qos,
            retain: m.retain,
            dup: m.dup,
            pkid: m.pkid,
            user_properties: &m.user_properties,
        };
        let mut slot = Slot {
            ack: (m.qos > 0).then_some(AckToken {
                qos: m.qos,
                pkid: m.pkid,
            }),
            epoch: m.epoch,
            outstanding: 0,
            records: Vec::new(),
            attempts: Vec::new(),
            alone: Vec::new(),
            blocked: false,
        };
        // Records over max_message_bytes: (index, size).
        let mut oversize: Vec<(usize, usize)> = Vec::new();
        let mut matched = false;
        for i in self.router.matching(&m.topic) {
            matched = true;
            match self.router.apply(i, &msg) {
                Ok(Routed::Record(r)) => {
                    let size = record_size(&r);
                    if size > self.max_message_bytes {
                        oversize.push((slot.records.len(), size));
                    }
                    slot.records.push(Some(r));
                }
                Ok(Routed::Filtered) => {
                    self.stats.filtered.inc();
                }
                Err(e) => {
                    self.stats.errors.inc();
                    let statement = self.router.route_at(i).statement + 1;
                    match self.poison_policy {
                        ErrorPolicy::Noop => {
                            self.stats.skipped.inc();
                            warn!(topic = %m.topic, statement, "skipping poison message (error policy NOOP): {e}");
                            if let Some(dlq) = &self.dlq_topic {
                                slot.records.push(Some(dead_letter(
                                    dlq,
                                    &self.connector,
                                    &msg,
                                    statement,
                                    &e,
                                    self.max_message_bytes,
                                )));
                            }
                        }
                        ErrorPolicy::Throw | ErrorPolicy::Retry => {
                            error!(topic = %m.topic, statement, "poison message stops the source (error policy {}): {e}", self.poison_policy);
                            slot.blocked = true;
                            self.failure.get_or_insert(MqttSourceError::Poison {
                                topic: m.topic.clone(),
                                statement,
                                error: e,
                            });
                        }
                    }
                }
            }
        }
        if !matched {
            self.stats.unmatched.inc();
            debug!(topic = %m.topic, "no statement takes this topic; acknowledged without writing");
        }
        slot.outstanding = slot.records.len();
        slot.attempts = vec![0; slot.records.len()];
        slot.alone = vec![false; slot.records.len()];
        let blocked = slot.blocked;
        let n = slot.records.len();
        self.window.push_back(slot);
        self.stats.in_flight.add(1);
        if !blocked {
            for idx in 0..n {
                match oversize.iter().find(|(i, _)| *i == idx) {
                    Some(&(_, size)) => {
                        self.stats.errors.inc();
                        let limit = format!("over max_message_bytes ({})", self.max_message_bytes);
                        self.refuse_too_large(seq, idx, size, limit);
                    }
                    None => self.send(seq, idx),
                }
            }
        }
    }

    fn slot_mut(&mut self, seq: u64) -> Option<&mut Slot> {
        slot_at(&mut self.window, self.base, seq)
    }

    fn send(&mut self, seq: u64, idx: usize) {
        let tag = ((seq as usize) << TAG_BITS) | idx;
        let alone = slot_at(&mut self.window, self.base, seq).is_some_and(|s| s.alone[idx]);
        if alone && self.alone.is_none() {
            match KafkaProducer::new(&self.producer_setup, true) {
                Ok(p) => self.alone = Some(p),
                Err(e) => {
                    // The record stays unconfirmed, so its message is not acknowledged.
                    self.failure.get_or_insert(e);
                    return;
                }
            }
        }
        let producer = if alone {
            self.alone.as_ref()
        } else {
            Some(&self.producer)
        };
        let record =
            slot_at(&mut self.window, self.base, seq).and_then(|s| s.records[idx].as_ref());
        let result = match (producer, record) {
            (Some(producer), Some(record)) => producer.send(record, tag),
            _ => return,
        };
        match result {
            Ok(()) => {}
            Err(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)) => {
                self.retries
                    .push((Instant::now() + Duration::from_millis(5), seq, idx));
            }
            Err(e) => self.on_failure(seq, idx, e, true),
        }
    }

    fn on_delivery(&mut self, (tag, result): Delivery) {
        let seq = (tag >> TAG_BITS) as u64;
        let idx = tag & ((1 << TAG_BITS) - 1);
        match result {
            Ok(()) => {
                if let Some(slot) = self.slot_mut(seq) {
                    if slot.records[idx].take().is_some() {
                        slot.outstanding -= 1;
                    }
                }
                self.stats.produced.inc();
            }
            Err(e) => self.on_failure(seq, idx, e, false),
        }
    }

    fn warn_limited(&mut self, msg: impl FnOnce() -> String) {
        let now = Instant::now();
        if self
            .last_warning
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(5))
        {
            self.last_warning = Some(now);
            warn!(client_id = %self.client_id, "{}", msg());
        }
    }

    /// A record Kafka did not take: refused by librdkafka when sent (`at_send`), or in its
    /// delivery report.
    fn on_failure(&mut self, seq: u64, idx: usize, e: KafkaError, at_send: bool) {
        self.stats.errors.inc();
        let (policy, retry_interval, max_retries) =
            (self.policy, self.retry_interval, self.max_retries);
        let stats = self.stats.clone();
        let Some(slot) = slot_at(&mut self.window, self.base, seq) else {
            return;
        };
        let Some((topic, size)) = slot.records[idx]
            .as_ref()
            .map(|r| (r.topic.clone(), record_size(r)))
        else {
            return;
        };
        slot.attempts[idx] += 1;
        let attempts = slot.attempts[idx];
        if is_transient(&e) {
            let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10))
                .at_attempt(attempts.min(7))
                .next_delay();
            self.retries.push((Instant::now() + backoff, seq, idx));
            stats.retries.inc();
            self.warn_limited(|| {
                format!("Kafka write to `{topic}` failed ({e}); retrying in {backoff:?}")
            });
            return;
        }
        let too_large = is_too_large(&e);
        if too_large && !at_send && !slot.alone[idx] {
            // The broker refused its batch, which may hold a bigger record: alone it may pass.
            slot.alone[idx] = true;
            stats.retries.inc();
            debug!(
                topic,
                size, "batch refused as too large; sending the record alone"
            );
            self.send(seq, idx);
            return;
        }
        if self.dlq_topic.as_deref() == Some(topic.as_str()) {
            error!(
                topic,
                size, "Kafka refused a dead-letter copy; the message is not kept: {e}"
            );
            slot.records[idx] = None;
            slot.outstanding -= 1;
            return;
        }
        let retrying = policy == ErrorPolicy::Retry && max_retries.is_none_or(|m| attempts <= m);
        if too_large && !retrying {
            let limit = format!("refused by Kafka as too large ({e})");
            self.refuse_too_large(seq, idx, size, limit);
            return;
        }
        match policy {
            ErrorPolicy::Noop => {
                error!(
                    topic,
                    "Kafka refused a record (error policy NOOP, skipped): {e}"
                );
                stats.skipped.inc();
                let record = slot.records[idx].take();
                match (&self.dlq_topic, record) {
                    (Some(dlq), Some(r)) => {
                        slot.records[idx] = Some(dead_letter_copy(
                            r,
                            dlq,
                            &self.connector,
                            CLASS_REJECTED_BY_KAFKA,
                            &e.to_string(),
                            self.max_message_bytes,
                        ));
                        slot.alone[idx] = false;
                        self.send(seq, idx);
                    }
                    _ => slot.outstanding -= 1,
                }
            }
            ErrorPolicy::Retry if retrying => {
                stats.retries.inc();
                warn!(
                    topic,
                    attempts, "Kafka refused a record (error policy RETRY): {e}"
                );
                self.retries
                    .push((Instant::now() + retry_interval, seq, idx));
            }
            ErrorPolicy::Retry | ErrorPolicy::Throw => {
                error!(
                    topic,
                    "Kafka refused a record; stopping (error policy {policy}): {e}"
                );
                slot.blocked = true;
                self.failure.get_or_insert(MqttSourceError::KafkaWrite {
                    topic,
                    error: e.to_string(),
                });
            }
        }
    }

    /// Applies the error policy to record `idx` of message `seq`, too large for Kafka
    /// (`size` bytes, `limit` says which limit): counted, copied to the dead-letter topic cut
    /// to fit, and its message acknowledged under every policy; under THROW (and RETRY) the
    /// source then stops (see the module doc).
    fn refuse_too_large(&mut self, seq: u64, idx: usize, size: usize, limit: String) {
        self.stats.too_large.inc();
        let Some(slot) = slot_at(&mut self.window, self.base, seq) else {
            return;
        };
        let Some(record) = slot.records[idx].take() else {
            return;
        };
        let mqtt_topic = mqtt_topic_of(&record);
        let topic = record.topic.clone();
        let message = format!("the record is {size} bytes, {limit}");
        let copy = self.dlq_topic.as_deref().map(|dlq| {
            dead_letter_copy(
                record,
                dlq,
                &self.connector,
                CLASS_TOO_LARGE,
                &message,
                self.max_message_bytes,
            )
        });
        let kept = match &self.dlq_topic {
            Some(dlq) => format!("a copy cut to fit went to the dead-letter topic `{dlq}`"),
            None => "it is not kept: no dead-letter topic is configured".to_string(),
        };
        match self.poison_policy {
            ErrorPolicy::Noop => {
                self.stats.skipped.inc();
                warn!(%mqtt_topic, topic, size, "skipping a message too large for Kafka (error policy NOOP; {kept}): {message}");
            }
            ErrorPolicy::Throw | ErrorPolicy::Retry => {
                error!(%mqtt_topic, topic, size, "a message too large for Kafka stops the source (error policy {}); it is acknowledged so that it is not redelivered ({kept}): {message}", self.poison_policy);
                self.failure.get_or_insert(MqttSourceError::TooLarge {
                    mqtt_topic,
                    topic,
                    size,
                    limit,
                    kept,
                });
            }
        }
        match copy {
            Some(d) => {
                slot.records[idx] = Some(d);
                slot.alone[idx] = false;
                self.send(seq, idx);
            }
            None => slot.outstanding -= 1,
        }
    }

    fn resend_due(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) =
            self.retries.drain(..).partition(|(at, _, _)| *at <= now);
        self.retries = later;
        for (_, seq, idx) in due {
            self.send(seq, idx);
        }
    }

    /// Acknowledges and removes the completed messages at the front of the window.
    fn advance(&mut self, session: &session::Session) {
        let epoch = session.epoch.load(Ordering::SeqCst);
        let mut popped = 0i64;
        while let Some(front) = self.window.front() {
            if front.blocked || front.outstanding > 0 {
                break;
            }
            let slot = self.window.pop_front().expect("front exists");
            self.base += 1;
            popped += 1;
            if let Some(token) = slot.ack {
                if slot.epoch == epoch {
                    self.pending_acks.push_back((slot.epoch, token));
                }
            }
        }
        if popped > 0 {
            self.stats.in_flight.add(-popped);
        }
        self.flush_acks(session);
    }

    /// Sends the queued acknowledgements, oldest first, until rumqttc's request channel is
    /// full. One from an earlier connection is dropped: the broker redelivers that message and
    /// its packet id may already be reused.
    fn flush_acks(&mut self, session: &session::Session) {
        let epoch = session.epoch.load(Ordering::SeqCst);
        while let Some(&(ack_epoch, token)) = self.pending_acks.front() {
            if ack_epoch == epoch && !session.client.ack(token) {
                return;
            }
            self.pending_acks.pop_front();
            if ack_epoch == epoch {
                self.stats.acked.inc();
            }
        }
    }
}

fn slot_at(window: &mut VecDeque<Slot>, base: u64, seq: u64) -> Option<&mut Slot> {
    let pos = seq.checked_sub(base)?;
    window.get_mut(usize::try_from(pos).ok()?)
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// The MQTT topic a record was made from (its `mqtt.topic` header).
fn mqtt_topic_of(record: &KafkaRecord) -> String {
    String::from_utf8_lossy(record.header(HEADER_TOPIC).unwrap_or_default()).into_owned()
}

/// `record` (made of an MQTT message) redirected to the dead-letter topic `dlq`, with the
/// `__connect.errors.*` headers, its value cut to fit `limit`.
fn dead_letter_copy(
    mut record: KafkaRecord,
    dlq: &str,
    connector: &str,
    class: &str,
    message: &str,
    limit: usize,
) -> KafkaRecord {
    let mqtt_topic = mqtt_topic_of(&record);
    record.topic = dlq.to_string();
    push_error_headers(
        &mut record.headers,
        Origin::mqtt(&mqtt_topic),
        connector,
        class,
        message,
    );
    truncate_to_fit(&mut record, limit);
    record
}

/// Appends the `__connect.errors.*` headers ([`error_headers`]) to a record's headers.
fn push_error_headers(
    headers: &mut Vec<(std::borrow::Cow<'static, str>, Vec<u8>)>,
    origin: Origin<'_>,
    connector: &str,
    class: &str,
    message: &str,
) {
    headers.extend(
        error_headers(origin, connector, class, message)
            .into_iter()
            .map(|(k, v)| (k.into(), v.into_bytes())),
    );
}

/// The dead-letter record of a skipped poison message: the original payload (cut to fit
/// `limit`), keyed by the MQTT topic, with the MQTT headers and the `__connect.errors.*`
/// headers (the MQTT topic as the topic, no partition or offset, the error's
/// [`PoisonError::class`], and `statement <n>: <error>` as the message).
fn dead_letter(
    dlq: &str,
    connector: &str,
    msg: &MqttMessage<'_>,
    statement: usize,
    e: &PoisonError,
    limit: usize,
) -> KafkaRecord {
    let record = KafkaRecord {
        topic: String::new(),
        key: msg.topic.as_bytes().to_vec(),
        value: msg.payload.to_vec(),
        headers: headers_of(msg),
    };
    let message = format!("statement {statement}: {e}");
    dead_letter_copy(record, dlq, connector, e.class(), &message, limit)
}

impl Component for MqttSource {
    type Error = MqttSourceError;

    fn name(&self) -> &str {
        self.settings.name.as_deref().unwrap_or(DEFAULT_NAME)
    }

    /// Runs with its counters in `ctx`'s registry; reports `running` once connected.
    async fn run(
        mut self,
        ctx: ComponentContext,
        shutdown: Shutdown,
    ) -> Result<(), MqttSourceError> {
        self.stats = Arc::new(MqttSourceStats::for_component(&ctx));
        MqttSource::run(self, shutdown.receiver()).await
    }
}
