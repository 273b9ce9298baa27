//! One sink worker: a consumer in the connector's group, its batches, and its commits.

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_core::Stream;
use rdkafka::consumer::{CommitMode, Consumer, MessageStream};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message};
use smallvec::SmallVec;

use crate::backoff::Backoff;
use crate::component::{ComponentContext, ComponentState};
use crate::config::ErrorPolicy;
use crate::connectors::influx_sink::config::InfluxSinkSettings;
use crate::connectors::influx_sink::influx::{Batcher, Lines, Origin, WriteError, WriteReport};
use crate::connectors::influx_sink::line_protocol::escape_measurement;
use crate::connectors::influx_sink::line_protocol::parse::sections;
use crate::connectors::influx_sink::overwrites::{Overwrite, OverwriteDetector, Warn, WarnOnce};
use crate::connectors::influx_sink::point::{write_route, Outcome, RecordError};
use crate::dead_letter::{DeadLetter, PendingDeadLetter};
use crate::decode::RegistryError;
use crate::kafka::consume_error::ConsumeErrors;
use crate::kafka::context::tracked_list;
use crate::kafka::{
    consumer_config, KafkaSettings, OffsetTracker, TopicPartition, TrackedConsumer, TrackingContext,
};
use crate::kafka::{FatalClientError, FatalErrors};
use crate::record::{RawRecord, RecordDecoder, RecordView, Schemas};
use crate::shutdown::Shutdown;
use crate::time::{ProcessingClock, TimeError};

use super::targets::Targets;
use super::{SinkError, SinkMetrics, THROW_TRANSIENT_ATTEMPTS};

/// Everything a worker needs, owned (moved into its task).
pub(super) struct WorkerContext {
    pub id: usize,
    pub name: String,
    pub group_id: String,
    pub settings: Arc<InfluxSinkSettings>,
    pub kafka: KafkaSettings,
    pub targets: Arc<Targets>,
    pub dead_letter: Option<Arc<DeadLetter>>,
    pub decoder: RecordDecoder,
    pub metrics: Arc<SinkMetrics>,
    /// The series already named in an overwrite warning (shared by the workers).
    pub warned: Arc<WarnOnce>,
    /// The sink's component context (its metrics registry and health).
    pub component: ComponentContext,
}

/// Runs one worker until `stop` fires or an error stops it; commits what it finished.
pub(super) async fn run(ctx: WorkerContext, stop: Shutdown) -> Result<(), SinkError> {
    let context = TrackingContext::new(&ctx.name, Arc::clone(ctx.component.registry()));
    let tracker = Arc::clone(&context.tracker);
    let kafka_error = |source| SinkError::Kafka {
        group: ctx.group_id.clone(),
        source,
    };
    let consumer: TrackedConsumer = consumer_config(&ctx.kafka, &ctx.group_id)
        .create_with_context(context)
        .map_err(kafka_error)?;
    let topics = ctx.settings.plan.topics();
    consumer.subscribe(&topics).map_err(kafka_error)?;
    tracing::info!(connector = %ctx.name, worker = ctx.id, group = %ctx.group_id, ?topics, "sink worker started");
    ctx.component.set_state(ComponentState::Running);

    let mut worker = Worker::new(&ctx, &consumer, tracker);
    let result = worker.run(stop).await;
    worker.commit(CommitMode::Sync);
    drop(worker);
    tracing::info!(connector = %ctx.name, worker = ctx.id, ok = result.is_ok(), "sink worker stopped");
    result
}

/// What became of a record read into the current batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Its points (if any) are in the batch.
    Pending,
    /// Skipped by `NOOP` (and dead-lettered): finished once the batch is written.
    Skipped,
    /// Stopped the connector (`THROW`/`RETRY`): never finished, so never committed past.
    Poisoned,
}

struct Held<'c> {
    msg: BorrowedMessage<'c>,
    /// `msg.offset()`, read once when the record arrives (the flush, poison handling and error
    /// messages use this copy).
    offset: i64,
    tp: u32,
    lines: u32,
    state: State,
}

struct Worker<'c> {
    ctx: &'c WorkerContext,
    consumer: &'c TrackedConsumer,
    /// The consumer's messages, one stream for the worker's life (a `recv()` per record
    /// registered and unregistered a waker slot, two mutex round trips, per record).
    messages: MessageStream<'c, TrackingContext>,
    tracker: Arc<Mutex<OffsetTracker>>,
    /// Per topic, its routes, and whether one of them reads the processing time.
    routes: HashMap<String, (Vec<usize>, bool)>,
    /// When the current burst of records arrived: the linger clock of a batch they start
    /// (one clock reading per burst, not per record).
    burst_at: Instant,
    /// Per target, the lines not yet written; a line's [`Origin`] is the `held` index of its
    /// record and its index in `measurements`.
    batches: Vec<Batcher>,
    held: Vec<Held<'c>>,
    /// Read while paused (a partition assigned during an outage): handled after the flush.
    parked: Vec<BorrowedMessage<'c>>,
    dead_letters: Vec<PendingDeadLetter>,
    failure: Option<SinkError>,
    /// The `held` index of the record `failure` names: a poison record read earlier (e.g.
    /// rejected by InfluxDB at the flush) takes its place, so the error names the record the
    /// committed offset stops at.
    failure_at: Option<usize>,
    partitions: Vec<TopicPartition>,
    measurements: Measurements,
    overwrites: OverwriteDetector,
    /// The time of `sys_time()` points: never the same for two records.
    clock: ProcessingClock,
    degraded: bool,
    consume_errors: ConsumeErrors,
}

impl<'c> Worker<'c> {
    fn new(
        ctx: &'c WorkerContext,
        consumer: &'c TrackedConsumer,
        tracker: Arc<Mutex<OffsetTracker>>,
    ) -> Self {
        let mut routes: HashMap<String, (Vec<usize>, bool)> = HashMap::new();
        for (i, r) in ctx.settings.plan.routes.iter().enumerate() {
            let (ids, clock) = routes.entry(r.topic.clone()).or_default();
            ids.push(i);
            *clock |= r.uses_processing_time();
        }
        let batches = ctx
            .targets
            .targets
            .iter()
            .map(|_| Batcher::new(ctx.targets.batch))
            .collect();
        Worker {
            ctx,
            consumer,
            messages: consumer.stream(),
            tracker,
            routes,
            burst_at: Instant::now(),
            batches,
            held: Vec::new(),
            parked: Vec::new(),
            dead_letters: Vec::new(),
            failure: None,
            failure_at: None,
            partitions: Vec::new(),
            measurements: Measurements::default(),
            overwrites: OverwriteDetector::default(),
            clock: ProcessingClock::default(),
            degraded: false,
            consume_errors: ConsumeErrors::default(),
        }
    }

    async fn run(&mut self, stop: Shutdown) -> Result<(), SinkError> {
        let mut stop_wait = stop.clone();
        let consumer = self.consumer;
        // One linger timer for the whole loop, moved only when the batch deadline changes
        // (once per batch): a fresh `sleep_until` per received record registered and cleared
        // a timer entry per record (~5 % of the sink's CPU in a profile).
        let linger = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(linger);
        let mut armed: Option<tokio::time::Instant> = None;
        let fatal = consumer.context().fatal.clone();
        loop {
            if self.failure.is_some() {
                self.flush(&stop).await?;
                return Err(self
                    .failure
                    .take()
                    .unwrap_or_else(|| SinkError::WorkerPanicked("failure vanished".to_string())));
            }
            let deadline = self
                .batches
                .iter()
                .filter_map(Batcher::deadline)
                .min()
                .map(tokio::time::Instant::from_std);
            if deadline != armed {
                if let Some(d) = deadline {
                    linger.as_mut().reset(d);
                }
                armed = deadline;
            }
            tokio::select! {
                biased;
                _ = stop_wait.wait() => {
                    self.flush(&stop).await?;
                    return Ok(());
                }
                _ = &mut linger, if armed.is_some() => {
                    self.flush(&stop).await?;
                }
                // Wrong credentials or an untrusted broker: librdkafka would retry forever.
                refused = fatal.wait() => return Err(self.refused(refused)),
                received = next_message(&mut self.messages) => {
                    // Then whatever librdkafka already holds, up to a full batch: one pass
                    // through this `select!` (its futures, the linger deadline) per burst of
                    // records, not per record.
                    self.burst_at = Instant::now();
                    let mut received = Some(received);
                    while let Some(r) = received.take() {
                        if !self.take_in(r, &stop, &fatal).await? {
                            return Ok(());
                        }
                        if self.failure.is_some() || self.is_full() {
                            break;
                        }
                        received = ready_message(&mut self.messages).await;
                    }
                    if self.is_full() {
                        self.flush(&stop).await?;
                    }
                }
            }
        }
    }

    /// Handles what the consumer gave: a record (admitted into the batch) or an error (a
    /// transient one waited out). `Ok(false)`: `stop` fired while admitting the record; what
    /// was read before is flushed, and the worker stops.
    async fn take_in(
        &mut self,
        received: KafkaResult<BorrowedMessage<'c>>,
        stop: &Shutdown,
        fatal: &FatalErrors,
    ) -> Result<bool, SinkError> {
        match received {
            Ok(msg) => {
                self.consume_errors.reset();
                if !self.admit(msg, stop).await {
                    self.flush(stop).await?;
                    return Ok(false);
                }
                Ok(true)
            }
            Err(e) => {
                if let Err(source) = self.consume_errors.handle(&self.ctx.name, e).await {
                    if let Some(refused) = fatal.get() {
                        return Err(self.refused(refused));
                    }
                    // What was read is written and committed; nothing after it.
                    self.flush(stop).await?;
                    return Err(SinkError::Consume {
                        group: self.ctx.group_id.clone(),
                        source,
                    });
                }
                Ok(true)
            }
        }
    }

    /// The error for a consumer the broker refused. Nothing is flushed: what was read and
    /// not written is read again after a restart.
    fn refused(&self, source: FatalClientError) -> SinkError {
        SinkError::Refused {
            group: self.ctx.group_id.clone(),
            source,
        }
    }

    fn is_full(&self) -> bool {
        self.batches.iter().any(Batcher::is_full)
            || self.held.len() >= self.ctx.targets.batch.max_lines.max(1) * 2
    }

    fn intern(&mut self, topic: &str, partition: i32) -> u32 {
        if let Some(i) = self
            .partitions
            .iter()
            .position(|tp| tp.partition == partition && tp.topic == topic)
        {
            return i as u32;
        }
        self.partitions.push(TopicPartition::new(topic, partition));
        (self.partitions.len() - 1) as u32
    }

    /// Resolves the record's Confluent Avro schemas (if its format has any; waiting out a
    /// registry that is down) and handles it. False when `stop` fired first: the record is
    /// left unhandled, so never committed, and is read again after a restart.
    async fn admit(&mut self, msg: BorrowedMessage<'c>, stop: &Shutdown) -> bool {
        let decoder = &self.ctx.decoder;
        let schemas = if decoder.needs_registry() {
            let headers = crate::kafka::headers_of(&msg);
            let raw = RawRecord::of_message(&msg, &headers);
            match decoder.resolve_patiently(&raw, stop, &self.ctx.name).await {
                // Bad credentials or an untrusted certificate: no record could be decoded.
                // The record stays unhandled (never committed); the sink stops.
                Some(Err(e)) if e.is_fatal() => {
                    self.failure.get_or_insert(SinkError::Registry(e));
                    return true;
                }
                Some(resolved) => resolved,
                None => return false,
            }
        } else {
            Ok(Schemas::NONE)
        };
        self.handle(msg, schemas);
        true
    }

    /// Runs every route of the record's topic, appending its points to the batches.
    /// `schemas` are the record's resolved Confluent Avro schemas, or why they cannot be had.
    fn handle(&mut self, msg: BorrowedMessage<'c>, schemas: Result<Schemas, RegistryError>) {
        self.ctx.metrics.consumed.inc();
        // The topic name is measured and checked (UTF-8) on every `topic()` call: once here.
        let (topic, offset) = (msg.topic(), msg.offset());
        let tp = self.intern(topic, msg.partition());
        let idx = self.held.len() as u32;
        let mut errors: SmallVec<[(&'static str, String); 1]> = SmallVec::new();
        let lines = {
            let headers = crate::kafka::headers_of(&msg);
            let raw = RawRecord::of_message_in(&msg, topic, &headers);
            let ctx = self.ctx;
            match schemas {
                Err(e) => {
                    errors.push(("schema_error", format!("cannot decode the record: {e}")));
                    0
                }
                Ok(schemas) => match ctx.decoder.view(&raw, &schemas, true) {
                    Err(e) => {
                        errors.push(("decode_error", e.to_string()));
                        0
                    }
                    Ok(rec) => self.route(&rec, idx, &mut errors),
                },
            }
        };
        self.held.push(Held {
            msg,
            offset,
            tp,
            lines,
            state: State::Pending,
        });
        for (class, message) in errors {
            self.poison(idx as usize, class, message);
        }
    }

    /// Appends the points of every route of `rec`'s topic to the batches; the number of lines
    /// added. Points that cannot be made go to `errors`.
    fn route(
        &mut self,
        rec: &RecordView<'_>,
        idx: u32,
        errors: &mut SmallVec<[(&'static str, String); 1]>,
    ) -> u32 {
        let mut lines = 0u32;
        let now = self.burst_at;
        let precision = self.ctx.targets.precision;
        let plan = &self.ctx.settings.plan;
        let Some((route_ids, uses_clock)) = self.routes.get(rec.topic) else {
            return 0;
        };
        // Routes that do not read it get a time they ignore: no clock reading per record.
        let now_ns = if *uses_clock { self.clock.now_ns() } else { 0 };
        for &r in route_ids {
            let route = &plan.routes[r];
            let t = self.ctx.targets.route_target[r];
            let measurements = &mut self.measurements;
            let added = self.batches[t].append_with(now, |buf| {
                Ok(match write_route(route, rec, now_ns, precision, buf)? {
                    Outcome::Written(measurement) => Some(Origin {
                        owner: idx,
                        measurement: measurements.id(&measurement),
                    }),
                    Outcome::Filtered => None,
                })
            });
            match added {
                Ok(true) => lines += 1,
                Ok(false) => {}
                Err(e) => errors.push((class_of(&e), e.to_string())),
            }
        }
        lines
    }

    /// Applies the error policy to a poison record.
    fn poison(&mut self, idx: usize, class: &'static str, message: String) {
        let policy = self.ctx.settings.poison_policy;
        let held = &mut self.held[idx];
        let (topic, partition, offset) = (
            held.msg.topic().to_string(),
            held.msg.partition(),
            held.offset,
        );
        match policy {
            ErrorPolicy::Noop => {
                if held.state == State::Skipped {
                    return; // one skip per record, even when several routes fail
                }
                held.state = State::Skipped;
                self.ctx.metrics.skipped(class).inc();
                tracing::warn!(connector = %self.ctx.name, %topic, partition, offset, reason = class, error = %message,
                    "skipping poison record (error policy NOOP)");
                if let Some(dl) = &self.ctx.dead_letter {
                    self.dead_letters.push(dl.send(&held.msg, class, &message));
                    self.ctx.metrics.dead_lettered.inc();
                }
            }
            ErrorPolicy::Throw | ErrorPolicy::Retry => {
                held.state = State::Poisoned;
                tracing::error!(connector = %self.ctx.name, %topic, partition, offset, reason = class, error = %message,
                    "poison record (error policy {policy})");
                if self.failure_at.is_none_or(|first| idx < first) {
                    self.failure_at = Some(idx);
                    self.failure = Some(SinkError::Poison {
                        topic,
                        partition,
                        offset,
                        reason: message,
                        policy: policy.as_str(),
                    });
                }
            }
        }
    }

    /// Writes every batch, applies the policy to rejected lines, waits for dead letters,
    /// and commits what is finished.
    async fn flush(&mut self, stop: &Shutdown) -> Result<(), SinkError> {
        if self.held.is_empty() && self.parked.is_empty() {
            return Ok(());
        }
        let mut abandoned = false;
        for t in 0..self.batches.len() {
            if self.batches[t].is_empty() {
                continue;
            }
            let limits = self.batches[t].limits();
            let mut batcher = std::mem::replace(&mut self.batches[t], Batcher::new(limits));
            let written = self.write_batch(t, &mut batcher, stop).await;
            batcher.clear();
            self.batches[t] = batcher;
            if !written? {
                abandoned = true;
                break;
            }
        }
        if abandoned {
            // Shutting down while the target is unreachable: nothing of this batch counts as
            // written; it is read again after a restart.
            self.dead_letters.clear();
            self.held.clear();
            self.parked.clear();
            for b in &mut self.batches {
                b.clear();
            }
            return Ok(());
        }
        for pending in std::mem::take(&mut self.dead_letters) {
            pending.await.map_err(SinkError::DeadLetter)?;
        }
        self.track_offsets();
        let (mut written, mut filtered) = (0, 0);
        for h in &self.held {
            match (h.state, h.lines) {
                (State::Pending, 0) => filtered += 1,
                (State::Pending, _) => written += 1,
                _ => {}
            }
        }
        self.ctx.metrics.written.add(written);
        self.ctx.metrics.filtered.add(filtered);
        self.held.clear();
        self.commit(CommitMode::Async);
        self.burst_at = Instant::now();
        for msg in std::mem::take(&mut self.parked) {
            if !self.admit(msg, stop).await || self.failure.is_some() {
                break;
            }
        }
        Ok(())
    }

    /// Tells the offset tracker what the held records are: per partition, runs of records
    /// read one after the other, finished (written or skipped) or not (poison under
    /// `THROW`/`RETRY`), one tracker entry per run rather than per record.
    fn track_offsets(&mut self) {
        // Per interned partition, the run being built: (first, last, finished).
        let mut runs: SmallVec<[Option<(i64, i64, bool)>; 8]> =
            smallvec::smallvec![None; self.partitions.len()];
        let mut tracker = self.tracker.lock().unwrap_or_else(PoisonError::into_inner);
        for h in &self.held {
            let offset = h.offset;
            let done = h.state != State::Poisoned;
            let run = &mut runs[h.tp as usize];
            match run {
                Some((_, last, d)) if *d == done && offset > *last => *last = offset,
                _ => {
                    if let Some((first, last, d)) = run.take() {
                        tracker.read(&self.partitions[h.tp as usize], first, last, d);
                    }
                    *run = Some((offset, offset, done));
                }
            }
        }
        for (tp, run) in self.partitions.iter().zip(runs) {
            if let Some((first, last, done)) = run {
                tracker.read(tp, first, last, done);
            }
        }
    }

    /// Writes target `t`'s batch, applies the policy to the records of the lines InfluxDB
    /// rejected, and counts the points written. `Ok(false)`: abandoned because `stop` fired.
    async fn write_batch(
        &mut self,
        t: usize,
        batcher: &mut Batcher,
        stop: &Shutdown,
    ) -> Result<bool, SinkError> {
        let (lines, origins) = batcher.take();
        let Some(report) = self.write_target(t, lines, stop).await? else {
            return Ok(false);
        };
        let mut counts = vec![0u64; self.measurements.len()];
        for o in origins {
            counts[o.measurement as usize] += 1;
        }
        for rejected in &report.rejected {
            if let Some(o) = origins.get(rejected.line) {
                let m = o.measurement as usize;
                counts[m] = counts[m].saturating_sub(1);
                self.poison(
                    o.owner as usize,
                    "rejected_by_influxdb",
                    rejected.message.clone(),
                );
            }
        }
        for (m, n) in counts.into_iter().enumerate() {
            if n > 0 {
                self.ctx.metrics.points(self.measurements.label(m), n);
            }
        }
        let mut refused: Vec<usize> = report.rejected.iter().map(|r| r.line).collect();
        refused.sort_unstable();
        let overwrites = self.overwrites.find(lines, &refused);
        if !overwrites.is_empty() {
            self.report_overwrites(lines, origins, &overwrites);
        }
        Ok(true)
    }

    /// Counts the points that replaced values of another point of the same write, and warns
    /// once per series (naming both records).
    fn report_overwrites(&self, lines: Lines<'_>, origins: &[Origin], overwrites: &[Overwrite]) {
        let mut counts = vec![0u64; self.measurements.len()];
        for o in overwrites {
            let (Some(kept), Some(lost)) = (origins.get(o.line), origins.get(o.replaced)) else {
                continue;
            };
            counts[kept.measurement as usize] += 1;
            match self.ctx.warned.first(o.series) {
                Warn::Quiet => continue,
                Warn::LimitReached => {
                    tracing::warn!(connector = %self.ctx.name,
                        "further series with overwritten points are not named (only counted): the warning limit is reached");
                    continue;
                }
                Warn::Series => {}
            }
            let record = |owner: u32| {
                self.held.get(owner as usize).map_or_else(String::new, |h| {
                    format!("{}[{}]@{}", h.msg.topic(), h.msg.partition(), h.offset)
                })
            };
            let line = lines.line(o.line);
            let (series, time) =
                sections(line).map_or((line, &b""[..]), |s| (s.series, s.timestamp));
            tracing::warn!(connector = %self.ctx.name,
                series = %String::from_utf8_lossy(series), time = %String::from_utf8_lossy(time),
                kept = %record(kept.owner), replaced = %record(lost.owner),
                "two points of one series have the same time: InfluxDB keeps one, the later values replace the earlier ones \
                 (counted in kcql_points_overwritten_total; warned once per series). Give them distinct times \
                 (WITHTIMESTAMP a finer field with TIMESTAMPUNIT, or sys_time()) or distinct tags");
        }
        for (m, n) in counts.into_iter().enumerate() {
            if n > 0 {
                self.ctx.metrics.overwritten(self.measurements.label(m), n);
            }
        }
    }

    /// Writes one target's lines, retrying transient failures per the error policy while the
    /// partitions are paused. `Ok(None)`: abandoned because `stop` fired.
    async fn write_target(
        &mut self,
        t: usize,
        lines: Lines<'_>,
        stop: &Shutdown,
    ) -> Result<Option<WriteReport>, SinkError> {
        let targets = Arc::clone(&self.ctx.targets);
        let target = &targets.targets[t];
        let (base, max) = targets.backoff;
        let mut backoff = Backoff::new(base, max);
        let policy = self.ctx.settings.error_policy;
        let mut attempts = 0u32;
        let mut paused = false;
        let result = loop {
            let started = Instant::now();
            match target.writer.write_isolating(lines).await {
                Ok(report) => {
                    self.ctx
                        .metrics
                        .write_latency
                        .observe(started.elapsed().as_secs_f64());
                    if self.degraded {
                        self.degraded = false;
                        self.ctx.component.set_state(ComponentState::Running);
                        tracing::info!(connector = %self.ctx.name, attempts, "InfluxDB writes succeed again");
                    }
                    break Ok(Some(report));
                }
                Err(WriteError::DatabaseNotFound { database, .. }) => {
                    if target.autocreate && !target.v2 {
                        if let Err(e) = target.writer.ensure_database(&target.database, None).await
                        {
                            break Err(SinkError::Prepare(e));
                        }
                        continue;
                    }
                    break Err(SinkError::DatabaseMissing { database });
                }
                Err(WriteError::RetentionPolicyNotFound { policy, .. }) => {
                    break Err(SinkError::RetentionPolicyMissing { policy });
                }
                Err(e) if e.is_transient() => {
                    attempts += 1;
                    self.ctx.metrics.retries.inc();
                    let exhausted = match policy {
                        ErrorPolicy::Noop => false,
                        ErrorPolicy::Throw => attempts >= THROW_TRANSIENT_ATTEMPTS,
                        ErrorPolicy::Retry => {
                            self.ctx.settings.max_retries.is_some_and(|m| attempts > m)
                        }
                    };
                    if exhausted {
                        break Err(SinkError::RetriesExhausted {
                            attempts,
                            policy: policy.as_str(),
                            last: e,
                        });
                    }
                    // At least half the ceiling ("equal jitter"): with full jitter the
                    // THROW budget of attempts could be spent in a few seconds by bad luck.
                    let floor = backoff.ceiling() / 2;
                    let delay = match (policy, &e) {
                        (ErrorPolicy::Retry, _) => self.ctx.settings.retry_interval,
                        (_, WriteError::Transient { retry_after, .. }) => {
                            backoff.delay_after(*retry_after).max(floor)
                        }
                        _ => backoff.next_delay().max(floor),
                    };
                    if !self.degraded {
                        self.degraded = true;
                        self.ctx
                            .component
                            .set_state(ComponentState::Degraded(format!(
                                "InfluxDB write failing: {e}"
                            )));
                    }
                    tracing::warn!(connector = %self.ctx.name, error = %e, attempt = attempts,
                        delay_ms = delay.as_millis() as u64, "InfluxDB write failed, consumption paused, retrying");
                    if !paused {
                        self.pause(true);
                        paused = true;
                    }
                    if !self.wait_polling(delay, stop).await {
                        break Ok(None);
                    }
                }
                Err(e) => break Err(SinkError::Fatal(e)),
            }
        };
        if paused {
            self.pause(false);
        }
        result
    }

    /// Pauses (or resumes) every assigned partition.
    fn pause(&self, pause: bool) {
        let Ok(assignment) = self.consumer.assignment() else {
            return;
        };
        let result = if pause {
            self.consumer.pause(&assignment)
        } else {
            self.consumer.resume(&assignment)
        };
        if let Err(e) = result {
            tracing::warn!(connector = %self.ctx.name, error = %e, pause, "cannot pause/resume partitions");
        }
    }

    /// Sleeps `delay` while polling the consumer (keeps the group membership, runs rebalance
    /// callbacks). False when `stop` fired.
    async fn wait_polling(&mut self, delay: Duration, stop: &Shutdown) -> bool {
        let until = tokio::time::Instant::now() + delay;
        let mut stop = stop.clone();
        loop {
            tokio::select! {
                biased;
                _ = stop.wait() => return false,
                _ = tokio::time::sleep_until(until) => return true,
                received = next_message(&mut self.messages) => {
                    if let Ok(msg) = received {
                        self.parked.push(msg);
                    }
                    // A partition assigned meanwhile is not paused yet.
                    self.pause(true);
                }
            }
        }
    }

    /// Commits the finished offsets that moved (only of partitions still assigned).
    fn commit(&self, mode: CommitMode) {
        let changed: Vec<(TopicPartition, i64)> = {
            let mut tracker = self.tracker.lock().unwrap_or_else(PoisonError::into_inner);
            tracker.take_changed()
        };
        let context = self.consumer.context();
        let changed: Vec<_> = changed
            .into_iter()
            .filter(|(tp, _)| context.is_assigned(tp))
            .collect();
        if changed.is_empty() {
            return;
        }
        if let Err(e) = self.consumer.commit(&tracked_list(&changed), mode) {
            tracing::warn!(connector = %self.ctx.name, error = %e, "offset commit failed (records will be read again)");
        }
    }
}

/// The next message or error of `messages` (which never ends).
fn next_message<'s, 'c>(
    messages: &'s mut MessageStream<'c, TrackingContext>,
) -> impl Future<Output = KafkaResult<BorrowedMessage<'c>>> + 's {
    poll_fn(move |cx| match Pin::new(&mut *messages).poll_next(cx) {
        Poll::Ready(Some(received)) => Poll::Ready(received),
        Poll::Ready(None) | Poll::Pending => Poll::Pending,
    })
}

/// The next message or error of `messages` if librdkafka already holds one, without waiting.
async fn ready_message<'c>(
    messages: &mut MessageStream<'c, TrackingContext>,
) -> Option<KafkaResult<BorrowedMessage<'c>>> {
    poll_fn(|cx| match Pin::new(&mut *messages).poll_next(cx) {
        Poll::Ready(received) => Poll::Ready(received),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// The measurements a worker wrote to, numbered in the order first seen.
#[derive(Default)]
struct Measurements {
    names: Vec<String>,
    /// Per measurement, its metric label: the name as written in the line (escaped).
    labels: Vec<String>,
}

impl Measurements {
    /// The number of measurement `name`, added when new.
    fn id(&mut self, name: &str) -> u32 {
        if let Some(i) = self.names.iter().position(|m| m == name) {
            return i as u32;
        }
        self.names.push(name.to_string());
        self.labels.push(escape_measurement(name));
        (self.names.len() - 1) as u32
    }

    fn len(&self) -> usize {
        self.names.len()
    }

    fn label(&self, id: usize) -> &str {
        &self.labels[id]
    }
}

fn class_of(e: &RecordError) -> &'static str {
    match e {
        RecordError::MissingField(_) => "missing_field",
        RecordError::UnsupportedField { .. } => "unsupported_field",
        RecordError::NotAnObject(_) => "not_an_object",
        RecordError::Time(TimeError::MissingField(_)) => "missing_time",
        RecordError::Time(TimeError::BadValue { .. }) => "bad_time",
        RecordError::Time(TimeError::NoRecordTimestamp) => "no_record_timestamp",
        RecordError::Point(_) => "invalid_point",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measurements_are_numbered_once_and_labelled_as_written() {
        let mut m = Measurements::default();
        assert_eq!(m.id("cpu"), 0);
        assert_eq!(m.id("my cpu,x"), 1);
        assert_eq!(m.id("cpu"), 0);
        assert_eq!(
            (m.len(), m.label(0), m.label(1)),
            (2, "cpu", "my\\ cpu\\,x")
        );
    }
}
