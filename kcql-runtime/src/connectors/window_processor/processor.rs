//! The window processor connector (Kafka → [`WindowEngine`] → Kafka).
//!
//! One consumer in the processor's group feeds every record to the engine; after each poll
//! batch (at most every 200 ms, or every 1000 records) it takes the closed windows, produces
//! them (idempotent producer), **waits for their delivery**, and only then commits the
//! engine's [`CommitPoint`](super::window::CommitPoint) with its resume token as the offsets'
//! metadata. So an offset is committed only when every window holding its record was emitted
//! and delivered (at-least-once); after a crash the consumer re-reads from the committed
//! offsets, the engine rebuilds the open windows, and the resume token stops it from
//! re-emitting already-delivered windows with part of their records.
//!
//! Every path commits only a **confirmed** commit point: one taken when every output before it
//! was delivered and every dead-letter or late copy confirmed. A revoke (a rebalance, or the
//! consumer closing when the processor stops, cleanly or on an error) commits the last
//! confirmed point, never the engine's current one: that may be past windows taken but not
//! delivered, copies not confirmed, or a poison record under `THROW`. Records after the
//! confirmed point are read again by the partition's next owner.
//!
//! Rebalances: before partitions are revoked, the confirmed point is committed for them and
//! their contribution dropped from the engine; assigned partitions are registered so they hold
//! the watermark until they deliver. A partition at its end (partition EOF) is marked idle so
//! it does not hold the watermark (for plans reading several topics, every source topic's
//! partition of that number is marked: a busy one rejoins with its next record). It stops
//! holding it only once the broker confirmed that its end offset is still the consumer's
//! position, when that would close a window: after a pause (an outage, a quiet source), the
//! burst that follows reaches the consumer one partition at a time, and the first partition's
//! records must not close windows the others' waiting records belong to.
//!
//! Poison records: `NOOP` skips them (counted, logged, optionally dead-lettered), `THROW` stops
//! the processor without committing past them. Consumer errors: transient ones are waited out
//! at the same position, fatal ones stop the processor
//! ([`consume_error`](crate::kafka::consume_error)). A partition's committed resume token is
//! read before its first record; when it cannot be read, or was written for other targets, the
//! processor stops rather than re-emit windows with part of their records. Late records are counted and dropped, or
//! copied to the late topic (delivered before the commit, like dead letters).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::backoff::Backoff;
use crate::component::{Component, ComponentContext, ComponentState};
use crate::config::ErrorPolicy;
use crate::connectors::window_processor::config::WindowProcessorSettings;
use crate::connectors::window_processor::window::{
    CommitPoint, InputRecord, ResumeToken, WindowEngine, WindowMetrics, WindowOutput,
};
use crate::dead_letter::{DeadLetter, PendingDeadLetter};
use crate::decode::RegistryError;
use crate::kafka::consume_error::ConsumeErrors;
use crate::kafka::context::publish_lag;
use crate::kafka::fatal::{log_error, log_line};
use crate::kafka::{
    consumer_config, producer_config, FatalClientError, FatalErrors, KafkaSettings,
    ReportingContext,
};
use crate::metrics::{Counter, Gauge, Registry};
use crate::record::{RawRecord, RecordDecoder, Schemas};
use crate::shutdown::Shutdown;

pub use super::error::ProcessorError;

/// The engine and what the rebalance callbacks share with the worker. Never locked across
/// an `.await`.
#[derive(Debug)]
struct Shared {
    engine: WindowEngine,
    /// Partitions whose committed resume token was applied since their assignment.
    resumed: HashSet<(String, i32)>,
    /// The last commit point whose outputs were all delivered and copies confirmed: the only
    /// one a revoke may commit.
    confirmed: Option<CommitPoint>,
}

#[derive(Debug)]
struct ProcessorContext {
    shared: Arc<Mutex<Shared>>,
    registry: Arc<Registry>,
    name: String,
    fatal: FatalErrors,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The commit point's offsets of the partitions in `only`, each with its resume token as
/// metadata.
fn commit_list(point: &CommitPoint, only: &HashSet<(String, i32)>) -> TopicPartitionList {
    let common = point.resume.to_metadata();
    let list = crate::kafka::context::commit_list(
        point
            .offsets
            .iter()
            .filter(|(tp, _)| only.contains(*tp))
            .map(|((topic, partition), offset)| (topic.as_str(), *partition, *offset)),
        None,
    );
    for (topic, partition) in point.offsets.keys().filter(|tp| only.contains(*tp)) {
        if let Some(mut element) = list.find_partition(topic, *partition) {
            match point.partition_resume.get(&(topic.clone(), *partition)) {
                Some(own) => element.set_metadata(own.to_metadata()),
                None => element.set_metadata(common.as_str()),
            }
        }
    }
    list
}

impl ClientContext for ProcessorContext {
    fn stats(&self, statistics: Statistics) {
        publish_lag(&self.registry, &self.name, &statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // Partition EOF is how idle partitions are detected (enable.partition.eof), not an error.
        if matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        ) {
            return;
        }
        log_error(&self.fatal, &error, reason);
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, msg: &str) {
        log_line(level, fac, msg);
    }
}

impl ConsumerContext for ProcessorContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let revoked: HashSet<(String, i32)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        let mut shared = lock(&self.shared);
        // Only the confirmed point: the engine's current one may be past windows taken and not
        // delivered, unconfirmed copies, or a poison record the processor stopped on.
        if let Some(point) = shared.confirmed.as_mut() {
            let list = commit_list(point, &revoked);
            if list.count() > 0 {
                if let Err(e) = consumer.commit(&list, CommitMode::Sync) {
                    tracing::warn!(processor = %self.name, error = %e,
                        "cannot commit revoked partitions (their records will be read again)");
                }
            }
            // Not ours any more: a later owner's commits must not be overwritten by this one.
            point.offsets.retain(|tp, _| !revoked.contains(tp));
        }
        for (topic, partition) in &revoked {
            shared.engine.drop_partition(topic, *partition);
            shared.resumed.remove(&(topic.clone(), *partition));
        }
        tracing::info!(processor = %self.name, partitions = ?revoked, "partitions revoked");
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let mut shared = lock(&self.shared);
            for e in tpl.elements() {
                shared.engine.assign_partition(e.topic(), e.partition());
            }
            tracing::info!(processor = %self.name, partitions = tpl.count(), "partitions assigned");
        }
    }
}

type Consumer_ = StreamConsumer<ProcessorContext>;

/// Published counters of the processor (deltas of the engine's counters).
struct Published {
    last: WindowMetrics,
    records: Arc<Counter>,
    filtered: Arc<Counter>,
    late: Arc<Counter>,
    poison: Arc<Counter>,
    windows: Arc<Counter>,
    outputs: Arc<Counter>,
    forced: Arc<Counter>,
    open_windows: Arc<Gauge>,
    groups: Arc<Gauge>,
    dead_lettered: Arc<Counter>,
    unencodable: Arc<Counter>,
}

impl Published {
    fn new(registry: &Registry, name: &str) -> Self {
        let l = [("component", name)];
        Published {
            last: WindowMetrics::default(),
            records: registry.counter(
                "kcql_records_consumed_total",
                "Records read from Kafka.",
                &l,
            ),
            filtered: registry.counter(
                "kcql_records_filtered_total",
                "Records dropped by WHERE on every route.",
                &l,
            ),
            late: registry.counter(
                "kcql_window_late_records_total",
                "Records that arrived after every window they belong to had closed.",
                &l,
            ),
            poison: registry.counter(
                "kcql_window_poison_records_total",
                "Records that could not be aggregated (decode, event time or type errors).",
                &l,
            ),
            windows: registry.counter(
                "kcql_windows_emitted_total",
                "Windows closed and emitted (per route and window).",
                &l,
            ),
            outputs: registry.counter(
                "kcql_window_outputs_total",
                "Window results produced (one per group of an emitted window).",
                &l,
            ),
            forced: registry.counter(
                "kcql_window_forced_closes_total",
                "Windows closed early to respect the memory limits.",
                &l,
            ),
            open_windows: registry.gauge("kcql_window_open", "Windows held in memory.", &l),
            groups: registry.gauge("kcql_window_groups", "Groups held in memory.", &l),
            dead_lettered: registry.counter(
                "kcql_records_dead_lettered_total",
                "Records sent to the dead-letter topic.",
                &l,
            ),
            unencodable: registry.counter(
                "kcql_window_outputs_skipped_total",
                "Window results skipped under NOOP (they do not fit the output's Avro schema).",
                &[("component", name), ("reason", "schema_error")],
            ),
        }
    }

    fn publish(&mut self, engine: &WindowEngine) {
        let m = engine.metrics();
        let d = |now: u64, before: u64| now.saturating_sub(before);
        self.records.add(d(m.records_in, self.last.records_in));
        self.filtered.add(d(m.filtered, self.last.filtered));
        self.late.add(d(m.late, self.last.late));
        self.poison.add(d(m.poison, self.last.poison));
        self.windows
            .add(d(m.windows_emitted, self.last.windows_emitted));
        self.outputs
            .add(d(m.outputs_emitted, self.last.outputs_emitted));
        self.forced.add(d(m.forced_closes, self.last.forced_closes));
        self.open_windows.set(engine.open_windows() as i64);
        self.groups.set(engine.groups() as i64);
        self.last = m;
    }
}

/// One window processor, ready to run.
#[derive(Debug)]
pub struct WindowProcessor {
    settings: Arc<WindowProcessorSettings>,
    kafka: KafkaSettings,
}

/// Records handled between two emissions at most.
const EMIT_EVERY_RECORDS: usize = 1000;
/// Longest time between two emissions.
const EMIT_EVERY: Duration = Duration::from_millis(200);
/// How long the broker may take to say where idle partitions end.
const IDLE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// Retries of a failed committed-offsets fetch before the processor stops.
const RESUME_FETCH_ATTEMPTS: u32 = 8;

impl WindowProcessor {
    /// A processor for `settings`, with Kafka client settings `kafka`.
    pub fn new(settings: WindowProcessorSettings, kafka: KafkaSettings) -> Self {
        WindowProcessor {
            settings: Arc::new(settings),
            kafka,
        }
    }

    async fn run_inner(
        &self,
        component: &ComponentContext,
        shutdown: Shutdown,
    ) -> Result<(), ProcessorError> {
        let s = &self.settings;
        let kafka_error = |source| ProcessorError::Kafka {
            name: s.name.clone(),
            source,
        };
        let engine = WindowEngine::new(&s.plan, s.window.clone())?;
        // Confluent Avro output: the schemas are registered before anything is read, waiting
        // out a registry that is down.
        for (topic, encoder) in engine.output_encoders() {
            match encoder
                .prepare_patiently(&topic, shutdown.receiver(), &s.name)
                .await
            {
                None => return Ok(()),
                Some(Err(source)) => {
                    return Err(ProcessorError::Registry {
                        name: s.name.clone(),
                        source,
                    })
                }
                Some(Ok(())) => {}
            }
        }
        let shared = Arc::new(Mutex::new(Shared {
            engine,
            resumed: HashSet::new(),
            confirmed: None,
        }));
        let fatal = FatalErrors::default();
        let context = ProcessorContext {
            shared: Arc::clone(&shared),
            registry: Arc::clone(component.registry()),
            name: s.name.clone(),
            fatal: fatal.clone(),
        };
        let mut config = consumer_config(&self.kafka, &s.group_id);
        config.set("enable.partition.eof", "true");
        let consumer: Consumer_ = config.create_with_context(context).map_err(kafka_error)?;
        let mut topics: Vec<&str> = s.plan.routes.iter().map(|r| r.source.as_str()).collect();
        topics.sort_unstable();
        topics.dedup();
        consumer.subscribe(&topics).map_err(kafka_error)?;
        let producer: FutureProducer<ReportingContext> = producer_config(&self.kafka)
            .create_with_context(ReportingContext {
                fatal: fatal.clone(),
            })
            .map_err(kafka_error)?;
        let dead_letter = match &s.dlq_topic {
            Some(t) => Some(DeadLetter::new(&self.kafka, t, &s.name)?),
            None => None,
        };
        let late_copy = match s.window.late_topic() {
            Some(t) => Some(DeadLetter::new(&self.kafka, t, &s.name)?),
            None => None,
        };
        tracing::info!(processor = %s.name, group = %s.group_id, ?topics, "window processor started");
        component.set_state(ComponentState::Running);
        let decoder = lock(&shared).engine.decoder().clone();
        let mut worker = Worker {
            settings: s,
            decoder,
            consumer: &consumer,
            shared,
            producer,
            dead_letter,
            late_copy,
            copies: Vec::new(),
            since_emit: 0,
            consume_errors: ConsumeErrors::default(),
            fatal,
            last_commit: None,
            published: Published::new(component.registry(), &s.name),
            topics: topics.iter().map(|t| t.to_string()).collect(),
        };
        let result = worker.run(shutdown).await;
        tracing::info!(processor = %s.name, ok = result.is_ok(), "window processor stopped");
        result
    }
}

struct Worker<'c> {
    settings: &'c WindowProcessorSettings,
    /// The engine's decoder, to resolve Confluent Avro schemas outside the engine's lock.
    decoder: RecordDecoder,
    consumer: &'c Consumer_,
    shared: Arc<Mutex<Shared>>,
    producer: FutureProducer<ReportingContext>,
    dead_letter: Option<DeadLetter>,
    late_copy: Option<DeadLetter>,
    /// Dead-letter and late-topic copies not yet confirmed.
    copies: Vec<PendingDeadLetter>,
    since_emit: usize,
    consume_errors: ConsumeErrors,
    /// Authentication and TLS failures of the consumer and the producer.
    fatal: FatalErrors,
    last_commit: Option<BTreeMap<(String, i32), i64>>,
    published: Published,
    topics: Vec<String>,
}

impl Worker<'_> {
    async fn run(&mut self, shutdown: Shutdown) -> Result<(), ProcessorError> {
        let mut stop = shutdown.clone();
        let consumer = self.consumer;
        let mut tick = tokio::time::interval(EMIT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let fatal = self.fatal.clone();
        loop {
            tokio::select! {
                biased;
                _ = stop.wait() => {
                    // Windows that have not closed are not emitted: they are rebuilt from the
                    // committed offsets after a restart.
                    return self.emit_and_commit(CommitMode::Sync, None).await;
                }
                // Wrong credentials or an untrusted broker: librdkafka would retry forever.
                refused = fatal.wait() => return Err(self.refused(refused)),
                _ = tick.tick() => {
                    self.release_verified_idle();
                    self.emit_and_commit(CommitMode::Async, None).await?;
                }
                received = consumer.recv() => match received {
                    Ok(msg) => {
                        self.consume_errors.reset();
                        self.resume_if_new(msg.topic(), msg.partition(), &shutdown).await?;
                        let headers = crate::kafka::headers_of(&msg);
                        let raw = RawRecord::of_message(&msg, &headers);
                        let schemas = if self.decoder.needs_registry() {
                            match self.decoder.resolve_patiently(&raw, &shutdown, &self.settings.name).await {
                                // Bad credentials or an untrusted certificate: stop before the record.
                                Some(Err(source)) if source.is_fatal() => {
                                    let at = (msg.topic().to_string(), msg.partition(), msg.offset());
                                    self.emit_and_commit(CommitMode::Sync, Some(at)).await?;
                                    return Err(ProcessorError::Registry { name: self.settings.name.clone(), source });
                                }
                                Some(resolved) => resolved,
                                None => return self.emit_and_commit(CommitMode::Sync, None).await,
                            }
                        } else {
                            Ok(Schemas::NONE)
                        };
                        if let Err(error) = self.handle(&msg, raw, schemas) {
                            // Deliver what closed before the record, commit up to it, stop.
                            let at = (msg.topic().to_string(), msg.partition(), msg.offset());
                            self.emit_and_commit(CommitMode::Sync, Some(at)).await?;
                            return Err(error);
                        }
                        self.since_emit += 1;
                        if self.since_emit >= EMIT_EVERY_RECORDS {
                            self.emit_and_commit(CommitMode::Async, None).await?;
                        }
                    }
                    Err(KafkaError::PartitionEOF(partition)) => {
                        {
                            let mut shared = lock(&self.shared);
                            for topic in &self.topics {
                                shared.engine.mark_idle(topic, partition);
                            }
                        }
                        self.release_verified_idle();
                    }
                    Err(e) => {
                        if let Err(source) = self.consume_errors.handle(&self.settings.name, e).await {
                            if let Some(refused) = self.fatal.get() {
                                return Err(self.refused(refused));
                            }
                            return Err(ProcessorError::Consume {
                                name: self.settings.name.clone(),
                                source,
                            });
                        }
                    }
                },
            }
        }
    }

    /// The error for a client the broker refused. Nothing is committed: the windows it held
    /// are rebuilt from the committed offsets after a restart.
    fn refused(&self, source: FatalClientError) -> ProcessorError {
        ProcessorError::Refused {
            name: self.settings.name.clone(),
            source,
        }
    }

    /// When partitions marked idle hold back a window: asks the broker for their end offsets;
    /// those whose end is past the consumer's position (records on their way) hold the
    /// watermark again, the others are released. Nothing is released when the broker cannot
    /// answer (the next partition EOF or tick asks again).
    fn release_verified_idle(&mut self) {
        let holding = lock(&self.shared).engine.idle_holding();
        if holding.is_empty() {
            return;
        }
        let mut ends = TopicPartitionList::new();
        for (topic, partition) in &holding {
            if let Err(e) = ends.add_partition_offset(topic, *partition, Offset::End) {
                tracing::warn!(processor = %self.settings.name, error = %e, "cannot ask for end offsets");
                return;
            }
        }
        let consumer = self.consumer;
        let answer = tokio::task::block_in_place(|| {
            consumer
                .offsets_for_times(ends, IDLE_CHECK_TIMEOUT)
                .and_then(|ends| Ok((ends, consumer.position()?)))
        });
        let (ends, positions) = match answer {
            Ok(both) => both,
            Err(e) => {
                tracing::debug!(processor = %self.settings.name, error = %e,
                    "cannot check idle partitions' end offsets; they keep holding the watermark");
                return;
            }
        };
        let offset_of = |list: &TopicPartitionList, topic: &str, partition: i32| match list
            .find_partition(topic, partition)
            .map(|e| e.offset())
        {
            Some(Offset::Offset(o)) => Some(o),
            _ => None,
        };
        let mut shared = lock(&self.shared);
        for (topic, partition) in &holding {
            let end = offset_of(&ends, topic, *partition);
            let position = offset_of(&positions, topic, *partition);
            let at_end = matches!((end, position), (Some(e), Some(p)) if e <= p);
            if !at_end {
                tracing::debug!(processor = %self.settings.name, topic, partition, ?end, ?position,
                    "idle partition has records on their way: it holds the watermark again");
                shared.engine.mark_busy(topic, *partition);
            }
        }
        shared.engine.release_idle();
    }

    /// Applies the committed resume token of a partition seen for the first time since its
    /// assignment. The committed offsets are fetched patiently (the coordinator may be moving);
    /// a token that cannot be had or does not fit stops the processor.
    async fn resume_if_new(
        &mut self,
        topic: &str,
        partition: i32,
        shutdown: &Shutdown,
    ) -> Result<(), ProcessorError> {
        let key = (topic.to_string(), partition);
        if lock(&self.shared).resumed.contains(&key) {
            return Ok(());
        }
        let fail = |reason: String| ProcessorError::Resume {
            topic: topic.to_string(),
            partition,
            group: self.settings.group_id.clone(),
            reason,
        };
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        let metadata = loop {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(topic, partition);
            let fetched = tokio::task::block_in_place(|| {
                self.consumer
                    .committed_offsets(tpl, Duration::from_secs(10))
            });
            match fetched {
                Ok(list) => {
                    break list
                        .find_partition(topic, partition)
                        .map(|e| e.metadata().to_string())
                        .unwrap_or_default()
                }
                Err(e)
                    if backoff.attempts() < RESUME_FETCH_ATTEMPTS && !shutdown.is_triggered() =>
                {
                    tracing::warn!(processor = %self.settings.name, topic, partition, error = %e,
                        "cannot fetch the committed offset's resume token; retrying");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                Err(e) => {
                    return Err(fail(format!(
                        "fetching its committed offset failed {} times, last: {e}",
                        backoff.attempts() + 1
                    )))
                }
            }
        };
        let token = match ResumeToken::from_metadata(&metadata) {
            Some(token) => Some(token),
            None if metadata.is_empty() => None,
            None => {
                return Err(fail(format!(
                    "the committed offset's metadata `{}` is not a resume token written by kcql; \
                     reset the group's offsets or use another group_id",
                    metadata.chars().take(200).collect::<String>()
                )))
            }
        };
        let mut shared = lock(&self.shared);
        if let Some(token) = token {
            shared
                .engine
                .resume_partition(topic, partition, &token)
                .map_err(|e| {
                    fail(format!(
                        "{e}: the KCQL changed under the same consumer group; use a new \
                         group_id to start over, or reset the group's offsets"
                    ))
                })?;
        }
        shared.resumed.insert(key);
        Ok(())
    }

    /// Feeds one record (`raw`, the parts of `msg`) to the engine. `schemas` are its resolved Confluent Avro schemas, or
    /// why they cannot be had (the record is then poison, with that reason).
    fn handle(
        &mut self,
        msg: &BorrowedMessage<'_>,
        raw: RawRecord<'_>,
        schemas: Result<Schemas, RegistryError>,
    ) -> Result<(), ProcessorError> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let input = InputRecord {
            raw,
            processing_time_ms: now_ms,
            schemas: schemas.as_ref().unwrap_or(Schemas::none()),
        };
        let outcome = lock(&self.shared).engine.on_record(input);
        if outcome.is_late() {
            if let Some(late) = &self.late_copy {
                self.copies
                    .push(late.send(msg, "late_record", "arrived after its windows closed"));
            }
        }
        if let Some(error) = outcome.poison() {
            // A schema that could not be had says more than "needs an Avro schema".
            let reason = match &schemas {
                Err(registry) => format!("cannot decode the record: {registry}"),
                Ok(_) => error.to_string(),
            };
            match self.settings.error_policy {
                ErrorPolicy::Noop => {
                    tracing::warn!(processor = %self.settings.name, topic = msg.topic(),
                        partition = msg.partition(), offset = msg.offset(), error = %reason,
                        "skipping poison record (error policy NOOP)");
                    if let Some(dl) = &self.dead_letter {
                        self.copies.push(dl.send(msg, "poison_record", &reason));
                        self.published.dead_lettered.inc();
                    }
                }
                ErrorPolicy::Throw | ErrorPolicy::Retry => {
                    return Err(ProcessorError::Poison {
                        topic: msg.topic().to_string(),
                        partition: msg.partition(),
                        offset: msg.offset(),
                        reason,
                    });
                }
            }
        }
        Ok(())
    }

    /// A window result that does not fit the output schema: under NOOP counted, logged and
    /// dead-lettered (its JSON text, class `schema_error`); under THROW the processor stops.
    fn skip_unencodable(&mut self, o: &WindowOutput, reason: &str) -> Result<(), ProcessorError> {
        if self.settings.error_policy != ErrorPolicy::Noop {
            return Err(ProcessorError::Unencodable {
                topic: o.topic.clone(),
                window_start: o.window_start,
                reason: reason.to_string(),
            });
        }
        tracing::warn!(processor = %self.settings.name, topic = %o.topic,
            window_start = o.window_start, error = %reason,
            "skipping a window result that does not fit the output schema (error policy NOOP)");
        self.published.unencodable.inc();
        if let Some(dl) = &self.dead_letter {
            let copy = rdkafka::message::OwnedMessage::new(
                Some(o.value.clone()),
                o.key.clone(),
                o.topic.clone(),
                rdkafka::Timestamp::CreateTime(o.timestamp_ms),
                -1,
                -1,
                None,
            );
            self.copies.push(dl.send(&copy, "schema_error", reason));
            self.published.dead_lettered.inc();
        }
        Ok(())
    }

    /// Produces the closed windows, waits for their delivery (and for pending copies), then
    /// commits the commit point taken right after them; with `stop_at` (a record the processor
    /// stops on), at most up to that record.
    async fn emit_and_commit(
        &mut self,
        mode: CommitMode,
        stop_at: Option<(String, i32, i64)>,
    ) -> Result<(), ProcessorError> {
        self.since_emit = 0;
        let (outputs, point): (_, CommitPoint) = {
            let mut shared = lock(&self.shared);
            let outputs = shared.engine.take_closed();
            let mut point = shared.engine.commit_point();
            if let Some((topic, partition, offset)) = stop_at {
                if let Some(committable) = point.offsets.get_mut(&(topic, partition)) {
                    *committable = (*committable).min(offset);
                }
            }
            self.published.publish(&shared.engine);
            (outputs, point)
        };
        let mut deliveries = Vec::with_capacity(outputs.len());
        for o in &outputs {
            if let Some(error) = &o.encode_error {
                self.skip_unencodable(o, &error.to_string())?;
                continue;
            }
            let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&o.topic)
                .payload(o.value.as_slice())
                .timestamp(o.timestamp_ms);
            if let Some(k) = &o.key {
                record = record.key(k);
            }
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push((o.topic.as_str(), delivery));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => {
                        return Err(ProcessorError::Delivery {
                            topic: o.topic.clone(),
                            error: e.to_string(),
                        })
                    }
                }
            }
        }
        for (topic, delivery) in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    return Err(ProcessorError::Delivery {
                        topic: topic.to_string(),
                        error: e.to_string(),
                    })
                }
                Err(_) => {
                    return Err(ProcessorError::Delivery {
                        topic: topic.to_string(),
                        error: "producer dropped".to_string(),
                    })
                }
            }
        }
        for copy in std::mem::take(&mut self.copies) {
            copy.await?;
        }
        // Everything derived from the records before `point` is delivered.
        lock(&self.shared).confirmed = Some(point.clone());
        if self.last_commit.as_ref() == Some(&point.offsets) && outputs.is_empty() {
            return Ok(());
        }
        let assigned: HashSet<(String, i32)> = match self.consumer.assignment() {
            Ok(a) => a
                .elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect(),
            Err(_) => return Ok(()),
        };
        let list = commit_list(&point, &assigned);
        if list.count() > 0 {
            if let Err(e) = self.consumer.commit(&list, mode) {
                tracing::warn!(processor = %self.settings.name, error = %e,
                    "offset commit failed (records will be read again)");
            }
        }
        self.last_commit = Some(point.offsets);
        Ok(())
    }
}

impl Component for WindowProcessor {
    type Error = ProcessorError;

    fn name(&self) -> &str {
        &self.settings.name
    }

    /// Runs until `shutdown` fires (delivers what closed, commits, returns `Ok`) or an error.
    async fn run(self, ctx: ComponentContext, shutdown: Shutdown) -> Result<(), ProcessorError> {
        self.run_inner(&ctx, shutdown).await
    }
}
