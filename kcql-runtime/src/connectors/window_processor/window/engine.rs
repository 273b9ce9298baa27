//! The window engine: records in, closed windows out, commit points for at-least-once.
//! See the [module documentation](super) for the watermark, offset and revocation rules.

use super::aggregate::{check, Accumulator, AggregateError};
use super::assign::WindowShape;
use super::output::{group_key_bytes, OutputPlan};
use super::settings::WindowSettings;
use crate::decode::DecodeError;
use crate::encode::json::write_json;
use crate::eval::{eval, is_true};
use crate::record::{
    RawRecord, RecordDecoder, RecordFormat, RecordFormatError, RecordView, Schemas,
};
use crate::time::{time_ns, TimeError};
use crate::value::Value;
use kcql::plan::{FieldRef, PlanExpr, ProcessorPlan, ProjectionItem, RecordPart, WindowRoute};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use thiserror::Error;

/// The engine could not be built.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum BuildError {
    /// The key and value formats cannot work (an Avro format without its schema or
    /// registry, a schema that does not parse).
    #[error(transparent)]
    Format(#[from] RecordFormatError),
    /// A limit of zero.
    #[error("{0} must be at least 1")]
    ZeroLimit(&'static str),
}

/// Why a record is a poison record for a route (or for all of them, when decoding failed).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum WindowError {
    /// The key or value does not decode.
    #[error("cannot decode the record {part}: {error}")]
    Decode {
        /// `key` or `value`.
        part: &'static str,
        /// Why.
        error: DecodeError,
    },
    /// The event time is missing or unusable (same rules as the InfluxDB sink's time).
    #[error("event time: {0}")]
    EventTime(TimeError),
    /// The event time is so far from the epoch that a window boundary overflows.
    #[error("event time {0} ms is out of range for windowing")]
    EventTimeOutOfRange(i64),
    /// An aggregate's argument has the wrong type.
    #[error(transparent)]
    Aggregate(#[from] AggregateError),
}

/// A consumed Kafka record, borrowed from the consumer's message.
#[derive(Debug, Clone, Copy)]
pub struct InputRecord<'a> {
    /// Source topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The Kafka timestamp (epoch ms), when the broker gave one.
    pub timestamp_ms: Option<i64>,
    /// Key bytes (`None`: null key).
    pub key: Option<&'a [u8]>,
    /// Value bytes (`None`: tombstone).
    pub payload: Option<&'a [u8]>,
    /// Headers, in order.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// Processing time (epoch ms): the event time of `WITHTIMESTAMP sys_time()` routes and
    /// what `now()` gives.
    pub processing_time_ms: i64,
    /// For the `confluent_avro` formats: the writer schemas the caller resolved for this
    /// record ([`RecordDecoder::resolve`] of [`WindowEngine::decoder`]).
    pub schemas: &'a Schemas,
}

impl<'a> InputRecord<'a> {
    /// A record with a value only (no key, headers or Kafka timestamp; processing time 0).
    pub fn new(topic: &'a str, partition: i32, offset: i64, payload: &'a [u8]) -> Self {
        InputRecord {
            topic,
            partition,
            offset,
            timestamp_ms: None,
            key: None,
            payload: Some(payload),
            headers: &[],
            processing_time_ms: 0,
            schemas: Schemas::none(),
        }
    }

    /// The same record with a Kafka timestamp.
    pub fn with_timestamp(mut self, ms: i64) -> Self {
        self.timestamp_ms = Some(ms);
        self
    }

    /// The same record with a key.
    pub fn with_key(mut self, key: &'a [u8]) -> Self {
        self.key = Some(key);
        self
    }
}

/// What one route did with a record.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteOutcome {
    /// Aggregated into `windows` windows (a hopping route may also skip closed ones).
    Aggregated {
        /// Route index.
        route: usize,
        /// How many windows took it.
        windows: usize,
    },
    /// `WHERE` was not true.
    Filtered {
        /// Route index.
        route: usize,
    },
    /// Every window it belongs to has closed: counted (`late`) and not aggregated. With
    /// [`LatePolicy::Topic`](super::LatePolicy::Topic) the caller copies the record there.
    Late {
        /// Route index.
        route: usize,
        /// Its event time.
        event_ms: i64,
    },
    /// Every window it belongs to was emitted before a restart ([`WindowEngine::resume_partition`]):
    /// a replayed record, dropped silently (counted as `already_emitted`, not late).
    AlreadyEmitted {
        /// Route index.
        route: usize,
    },
    /// A poison record for this route; no aggregate was changed.
    Poison {
        /// Route index.
        route: usize,
        /// Why.
        error: WindowError,
    },
}

/// What happened to a record.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordOutcome {
    /// No route reads its topic (its offset still advances).
    Unrouted,
    /// Its key or value does not decode: poison for every route reading the topic.
    Poison(WindowError),
    /// One outcome per route reading the topic, in route order.
    Routed(SmallVec<[RouteOutcome; 2]>),
}

impl RecordOutcome {
    /// Windows the record was aggregated into, over all routes.
    pub fn windows(&self) -> usize {
        match self {
            RecordOutcome::Routed(r) => r
                .iter()
                .map(|o| match o {
                    RouteOutcome::Aggregated { windows, .. } => *windows,
                    _ => 0,
                })
                .sum(),
            _ => 0,
        }
    }

    /// True when some route found it late (the caller may dead-letter it to the late topic).
    pub fn is_late(&self) -> bool {
        matches!(self, RecordOutcome::Routed(r) if r.iter().any(|o| matches!(o, RouteOutcome::Late { .. })))
    }

    /// The first poison error (decode or per route), for the caller's error policy.
    pub fn poison(&self) -> Option<&WindowError> {
        match self {
            RecordOutcome::Poison(e) => Some(e),
            RecordOutcome::Routed(r) => r.iter().find_map(|o| match o {
                RouteOutcome::Poison { error, .. } => Some(error),
                _ => None,
            }),
            RecordOutcome::Unrouted => None,
        }
    }
}

/// One closed window's result for one group: a record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowOutput {
    /// Route index.
    pub route: usize,
    /// Target topic (`INSERT INTO`).
    pub topic: String,
    /// Kafka key: the group key (see [`super::output`]); `None` without `GROUP BY`.
    pub key: Option<Vec<u8>>,
    /// JSON value.
    pub value: Vec<u8>,
    /// Kafka timestamp: the window end (epoch ms).
    pub timestamp_ms: i64,
    /// Window start (epoch ms, inclusive).
    pub window_start: i64,
    /// Window end (epoch ms, exclusive).
    pub window_end: i64,
    /// Emission number: 0, 1, 2 … over the engine's life, in emission order.
    pub sequence: u64,
}

/// What may be committed, and when (see the module documentation's protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitPoint {
    /// Per `(topic, partition)`: the next offset to read that is safe to commit.
    pub offsets: BTreeMap<(String, i32), i64>,
    /// Commit only after every output with `sequence <= after_sequence` was delivered
    /// (`None`: nothing was emitted yet).
    pub after_sequence: Option<u64>,
    /// Store with the commit (e.g. as the offset's metadata) and hand back to
    /// [`WindowEngine::resume_partition`] after a restart.
    pub resume: ResumeToken,
}

/// Which windows had been emitted when a commit point was taken: per route (by index and
/// target), every window ending at or before the time had been emitted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResumeToken {
    /// Per route: its target topic and the end time through which all its windows were emitted.
    pub routes: Vec<(String, Option<i64>)>,
}

impl ResumeToken {
    /// Compact JSON text (fits Kafka's offset-commit metadata).
    pub fn to_metadata(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads [`to_metadata`](Self::to_metadata) text; `None` when it is not a token.
    pub fn from_metadata(text: &str) -> Option<ResumeToken> {
        serde_json::from_str(text).ok()
    }
}

/// A resume token that does not fit the engine's plan.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the resume token was written for other routes ({found:?}); expected targets {expected:?}")]
pub struct ResumeError {
    /// The token's targets.
    pub found: Vec<String>,
    /// The plan's targets.
    pub expected: Vec<String>,
}

/// Counters for the metrics endpoint. Route outcomes are counted per route and record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowMetrics {
    /// Records given to [`WindowEngine::on_record`].
    pub records_in: u64,
    /// Route outcomes: aggregated into at least one window.
    pub aggregated: u64,
    /// Route outcomes: `WHERE` not true.
    pub filtered: u64,
    /// Route outcomes: late.
    pub late: u64,
    /// Route outcomes: replayed into windows already emitted before a restart.
    pub already_emitted: u64,
    /// Poison records (a decode failure counts once, a route's failure once per route).
    pub poison: u64,
    /// Windows emitted (one per route and window, whatever its group count).
    pub windows_emitted: u64,
    /// Output records emitted (one per group of an emitted window).
    pub outputs_emitted: u64,
    /// Windows closed before the watermark passed them, to respect the memory limits.
    pub forced_closes: u64,
}

/// Partition table index.
type Pid = usize;

#[derive(Debug)]
struct PartitionState {
    topic: String,
    partition: i32,
    /// Last offset seen + 1 (`None`: nothing seen since assignment).
    next_offset: Option<i64>,
    /// Excluded from the watermark (idle or revoked) until it delivers again.
    idle: bool,
    /// Assigned by the caller: until it has delivered an event time, the watermark of the
    /// routes reading it waits for it.
    assigned: bool,
    /// The routes reading its topic.
    routes: SmallVec<[usize; 2]>,
    /// Per route: windows ending at or before this were emitted before a restart.
    resume: Option<Vec<Option<i64>>>,
}

#[derive(Debug)]
struct GroupState {
    values: Vec<Value<'static>>,
    /// Per contributing partition, its own accumulators (merged at emission), so a revoked
    /// partition's contribution can be removed exactly.
    parts: SmallVec<[(Pid, Vec<Accumulator>); 1]>,
}

#[derive(Debug, Default)]
struct WindowState {
    groups: HashMap<Vec<u8>, GroupState>,
    /// Per contributing partition, the smallest offset aggregated here.
    held: SmallVec<[(Pid, i64); 2]>,
}

#[derive(Debug)]
struct RouteState {
    route: WindowRoute,
    shape: WindowShape,
    output: OutputPlan,
    /// Windows ending at or before this are closed (watermark − grace, or forced).
    closed_through: Option<i64>,
    /// What `closed_through` was at the last `take_closed`.
    emitted_through: Option<i64>,
    /// Per partition, the largest event time seen (a record that passed `WHERE`).
    max_event: Vec<Option<i64>>,
    /// min over active partitions of `max_event`, never decreasing.
    watermark: Option<i64>,
    windows: BTreeMap<i64, WindowState>,
}

impl RouteState {
    fn is_closed(&self, end: i64) -> bool {
        self.closed_through.is_some_and(|c| end <= c)
    }

    fn close_through(&mut self, t: i64) {
        if self.closed_through.is_none_or(|c| t > c) {
            self.closed_through = Some(t);
        }
    }

    /// Recomputes the watermark (route `index`) from the active partitions and closes what it
    /// passed.
    fn advance(&mut self, index: usize, partitions: &[PartitionState]) {
        let mut min: Option<i64> = None;
        for (m, p) in self.max_event.iter().zip(partitions) {
            if p.idle || !p.routes.contains(&index) {
                continue;
            }
            match m {
                Some(m) => min = Some(min.map_or(*m, |x| x.min(*m))),
                // An assigned partition that has not delivered yet holds the watermark.
                None if p.assigned => return,
                None => {}
            }
        }
        if let Some(m) = min {
            if self.watermark.is_none_or(|w| m > w) {
                self.watermark = Some(m);
                self.close_through(m.saturating_sub(self.shape.grace_ms));
            }
        }
    }

    /// The oldest window not yet closed: (end, start).
    fn oldest_open(&self) -> Option<(i64, i64)> {
        let from = self.closed_through.map_or(i64::MIN, |c| {
            c.saturating_sub(self.shape.size_ms).saturating_add(1)
        });
        self.windows
            .range(from..)
            .map(|(s, _)| (self.shape.end(*s), *s))
            .find(|(end, _)| !self.is_closed(*end))
    }
}

/// The window processor's engine for one [`ProcessorPlan`]: pure, no I/O.
#[derive(Debug)]
pub struct WindowEngine {
    settings: WindowSettings,
    decoder: RecordDecoder,
    routes: Vec<RouteState>,
    by_source: HashMap<String, SmallVec<[usize; 2]>>,
    needs_key: bool,
    partitions: Vec<PartitionState>,
    partition_ids: HashMap<String, HashMap<i32, Pid>>,
    arrival: u64,
    next_sequence: u64,
    now_ms: i64,
    open_windows: usize,
    groups: usize,
    metrics: WindowMetrics,
    key_scratch: Vec<u8>,
    last_pid: Pid,
}

impl WindowEngine {
    /// An engine for every route of `plan`.
    pub fn new(plan: &ProcessorPlan, settings: WindowSettings) -> Result<WindowEngine, BuildError> {
        if settings.max_open_windows == 0 {
            return Err(BuildError::ZeroLimit("max_open_windows"));
        }
        if settings.max_groups == 0 {
            return Err(BuildError::ZeroLimit("max_groups"));
        }
        let decoder = RecordDecoder::new(&RecordFormat {
            key: Some(settings.key_format),
            value: settings.value_format,
            avro_schema: settings.avro_schema.clone(),
            schema_registry_url: settings.schema_registry_url.clone(),
        })?;
        let mut by_source: HashMap<String, SmallVec<[usize; 2]>> = HashMap::new();
        let mut needs_key = false;
        let routes = plan
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                by_source.entry(r.source.clone()).or_default().push(i);
                needs_key |= route_reads_key(r);
                RouteState {
                    shape: WindowShape::of(&r.window),
                    output: OutputPlan::new(&r.group_by, &r.outputs),
                    route: r.clone(),
                    closed_through: None,
                    emitted_through: None,
                    max_event: Vec::new(),
                    watermark: None,
                    windows: BTreeMap::new(),
                }
            })
            .collect();
        Ok(WindowEngine {
            settings,
            decoder,
            routes,
            by_source,
            needs_key,
            partitions: Vec::new(),
            partition_ids: HashMap::new(),
            arrival: 0,
            next_sequence: 0,
            now_ms: i64::MIN,
            open_windows: 0,
            groups: 0,
            metrics: WindowMetrics::default(),
            key_scratch: Vec::new(),
            last_pid: 0,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &WindowSettings {
        &self.settings
    }

    /// How this engine decodes records (shared with the caller, which resolves Confluent
    /// Avro schemas with it before [`on_record`](Self::on_record)).
    pub fn decoder(&self) -> &RecordDecoder {
        &self.decoder
    }

    /// The counters.
    pub fn metrics(&self) -> WindowMetrics {
        self.metrics
    }

    /// Windows held (open, or closed and not yet taken), over all routes.
    pub fn open_windows(&self) -> usize {
        self.open_windows
    }

    /// Groups held, summed over the held windows.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// Route `route`'s watermark: the smallest, over its partitions that have delivered data
    /// and are not idle, of their largest event time; it never decreases.
    pub fn watermark(&self, route: usize) -> Option<i64> {
        self.routes.get(route).and_then(|r| r.watermark)
    }

    fn pid(&mut self, topic: &str, partition: i32) -> Pid {
        // Consumers deliver runs of one partition: try the last one first.
        if let Some(p) = self.partitions.get(self.last_pid) {
            if p.partition == partition && p.topic == topic {
                return self.last_pid;
            }
        }
        let id = self.pid_slow(topic, partition);
        self.last_pid = id;
        id
    }

    fn pid_slow(&mut self, topic: &str, partition: i32) -> Pid {
        if let Some(id) = self
            .partition_ids
            .get(topic)
            .and_then(|m| m.get(&partition))
        {
            return *id;
        }
        let id = self.partitions.len();
        self.partitions.push(PartitionState {
            topic: topic.to_string(),
            partition,
            next_offset: None,
            idle: false,
            assigned: false,
            routes: self.by_source.get(topic).cloned().unwrap_or_default(),
            resume: None,
        });
        self.partition_ids
            .entry(topic.to_string())
            .or_default()
            .insert(partition, id);
        for r in &mut self.routes {
            r.max_event.push(None);
        }
        id
    }

    fn existing_pid(&self, topic: &str, partition: i32) -> Option<Pid> {
        self.partition_ids.get(topic)?.get(&partition).copied()
    }

    /// Processes one consumed record. Offsets of one partition must increase, except after
    /// [`drop_partition`](Self::drop_partition).
    pub fn on_record(&mut self, input: InputRecord<'_>) -> RecordOutcome {
        self.metrics.records_in += 1;
        self.arrival += 1;
        self.now_ms = self.now_ms.max(input.processing_time_ms);
        let pid = self.pid(input.topic, input.partition);
        {
            let p = &mut self.partitions[pid];
            let next = input.offset.saturating_add(1);
            p.next_offset = Some(p.next_offset.map_or(next, |n| n.max(next)));
            p.idle = false;
        }
        let route_ids = self.partitions[pid].routes.clone();
        if route_ids.is_empty() {
            return RecordOutcome::Unrouted;
        }
        let raw = RawRecord {
            topic: input.topic,
            partition: input.partition,
            offset: input.offset,
            timestamp_ms: input.timestamp_ms,
            key: input.key,
            value: input.payload,
            headers: input.headers,
        };
        let rec = match self.decoder.view(&raw, input.schemas, self.needs_key) {
            Ok(rec) => rec,
            Err(e) => {
                self.metrics.poison += 1;
                return RecordOutcome::Poison(WindowError::Decode {
                    part: e.part,
                    error: e.error,
                });
            }
        };
        let mut outcomes = SmallVec::new();
        let mut key_buf = std::mem::take(&mut self.key_scratch);
        for route in route_ids {
            let ctx = RecordContext {
                rec: &rec,
                pid,
                offset: input.offset,
                arrival: self.arrival,
                now_ms: input.processing_time_ms,
                resume_floor: self.partitions[pid]
                    .resume
                    .as_ref()
                    .and_then(|r| r.get(route).copied().flatten()),
            };
            let outcome = apply(
                &mut self.routes[route],
                route,
                &ctx,
                &mut key_buf,
                &mut self.open_windows,
                &mut self.groups,
            );
            let m = &mut self.metrics;
            match &outcome {
                RouteOutcome::Aggregated { .. } => m.aggregated += 1,
                RouteOutcome::Filtered { .. } => m.filtered += 1,
                RouteOutcome::Late { .. } => m.late += 1,
                RouteOutcome::AlreadyEmitted { .. } => m.already_emitted += 1,
                RouteOutcome::Poison { .. } => m.poison += 1,
            }
            if matches!(
                outcome,
                RouteOutcome::Aggregated { .. } | RouteOutcome::Filtered { .. }
            ) {
                self.routes[route].advance(route, &self.partitions);
            }
            outcomes.push(outcome);
        }
        self.key_scratch = key_buf;
        self.enforce_limits();
        RecordOutcome::Routed(outcomes)
    }

    /// Closes the oldest open windows while a memory limit is exceeded (counting the windows
    /// not yet closed; closed ones are freed by `take_closed`).
    fn enforce_limits(&mut self) {
        if self.open_windows <= self.settings.max_open_windows
            && self.groups <= self.settings.max_groups
        {
            return;
        }
        while self.over_limit_counting_open_only() {
            let oldest = self
                .routes
                .iter()
                .enumerate()
                .filter_map(|(i, r)| r.oldest_open().map(|(end, _)| (end, i)))
                .min();
            let Some((end, route)) = oldest else {
                break;
            };
            self.routes[route].close_through(end);
            self.metrics.forced_closes += 1;
        }
    }

    /// Whether the windows still open (not closed) exceed the limits.
    fn over_limit_counting_open_only(&self) -> bool {
        let (mut windows, mut groups) = (0, 0);
        for r in &self.routes {
            for (s, w) in &r.windows {
                if !r.is_closed(r.shape.end(*s)) {
                    windows += 1;
                    groups += w.groups.len();
                }
            }
        }
        windows > self.settings.max_open_windows || groups > self.settings.max_groups
    }

    /// Marks a partition idle (e.g. at partition EOF): it no longer holds the watermark back
    /// until it delivers a record again. Its records older than the watermark then are late.
    pub fn mark_idle(&mut self, topic: &str, partition: i32) {
        if let Some(pid) = self.existing_pid(topic, partition) {
            self.partitions[pid].idle = true;
            self.advance_all();
        }
    }

    fn advance_all(&mut self) {
        for (i, r) in self.routes.iter_mut().enumerate() {
            r.advance(i, &self.partitions);
        }
    }

    /// Registers a partition the consumer was assigned (optional, but what the I/O layer should
    /// do on every assignment): until it delivers a record with an event time (or is marked
    /// idle), the watermark of the routes reading it does not move, so its first records
    /// cannot be late because other partitions delivered earlier.
    pub fn assign_partition(&mut self, topic: &str, partition: i32) {
        let pid = self.pid(topic, partition);
        let p = &mut self.partitions[pid];
        p.assigned = true;
        p.idle = false;
    }

    /// End of input (shutdown with a final flush, tests): closes every held window, so the
    /// next [`take_closed`](Self::take_closed) emits them all. Later records for them are late.
    pub fn close_all(&mut self) {
        for r in &mut self.routes {
            if let Some((&start, _)) = r.windows.last_key_value() {
                let end = r.shape.end(start);
                r.close_through(end);
            }
        }
    }

    /// Takes the closed windows' outputs, ordered by route, window start, then group key.
    pub fn take_closed(&mut self) -> Vec<WindowOutput> {
        let mut out = Vec::new();
        let now_ms = self.now_ms.max(0);
        for (index, r) in self.routes.iter_mut().enumerate() {
            r.emitted_through = r.closed_through;
            let Some(closed) = r.closed_through else {
                continue;
            };
            // Windows with end <= closed, i.e. start <= closed - size.
            let keep_from = closed.saturating_sub(r.shape.size_ms).saturating_add(1);
            let open = r.windows.split_off(&keep_from);
            let done = std::mem::replace(&mut r.windows, open);
            for (start, w) in done {
                let end = r.shape.end(start);
                self.open_windows -= 1;
                self.groups -= w.groups.len();
                self.metrics.windows_emitted += 1;
                let mut groups: Vec<(Vec<u8>, GroupState)> = w.groups.into_iter().collect();
                groups.sort_by(|a, b| a.0.cmp(&b.0));
                for (_, g) in groups {
                    let mut parts = g.parts.into_iter();
                    let Some((_, mut accs)) = parts.next() else {
                        continue;
                    };
                    for (_, other) in parts {
                        for (a, b) in accs.iter_mut().zip(&other) {
                            a.merge(b);
                        }
                    }
                    let results: Vec<Value<'static>> =
                        accs.iter().map(Accumulator::result).collect();
                    let mut value = Vec::with_capacity(128);
                    r.output
                        .render(&g.values, &results, (start, end), now_ms, &mut value);
                    out.push(WindowOutput {
                        route: index,
                        topic: r.route.target.clone(),
                        key: group_key_bytes(&g.values),
                        value,
                        timestamp_ms: end,
                        window_start: start,
                        window_end: end,
                        sequence: self.next_sequence,
                    });
                    self.next_sequence += 1;
                    self.metrics.outputs_emitted += 1;
                }
            }
        }
        out
    }

    /// Per `(topic, partition)` seen since assignment: the smallest offset still held by a
    /// window not yet taken, else the last offset seen + 1. Safe to commit once every output
    /// taken so far was delivered.
    pub fn committable_offsets(&self) -> BTreeMap<(String, i32), i64> {
        let mut low: Vec<Option<i64>> = self.partitions.iter().map(|p| p.next_offset).collect();
        for r in &self.routes {
            for w in r.windows.values() {
                for (pid, off) in &w.held {
                    if let Some(slot) = low.get_mut(*pid) {
                        *slot = Some(slot.map_or(*off, |l| l.min(*off)));
                    }
                }
            }
        }
        self.partitions
            .iter()
            .zip(low)
            .filter(|(p, _)| p.next_offset.is_some())
            .filter_map(|(p, l)| Some(((p.topic.clone(), p.partition), l?)))
            .collect()
    }

    /// The commit point now: [`committable_offsets`](Self::committable_offsets), the last
    /// emission sequence that must be delivered first, and the resume token to store with it.
    pub fn commit_point(&self) -> CommitPoint {
        CommitPoint {
            offsets: self.committable_offsets(),
            after_sequence: self.next_sequence.checked_sub(1),
            resume: ResumeToken {
                routes: self
                    .routes
                    .iter()
                    .map(|r| (r.route.target.clone(), r.emitted_through))
                    .collect(),
            },
        }
    }

    /// After a restart, before consuming `topic`/`partition` from its committed offset: the
    /// token committed with that offset tells which windows were already emitted; this
    /// partition's records for them are dropped as [`RouteOutcome::AlreadyEmitted`] instead
    /// of re-opening those windows with only part of their records.
    pub fn resume_partition(
        &mut self,
        topic: &str,
        partition: i32,
        token: &ResumeToken,
    ) -> Result<(), ResumeError> {
        let found: Vec<String> = token.routes.iter().map(|(t, _)| t.clone()).collect();
        let expected: Vec<String> = self.routes.iter().map(|r| r.route.target.clone()).collect();
        if found != expected {
            return Err(ResumeError { found, expected });
        }
        let pid = self.pid(topic, partition);
        self.partitions[pid].resume = Some(token.routes.iter().map(|(_, t)| *t).collect());
        Ok(())
    }

    /// Partition revocation: forgets exactly this partition's contribution to every held
    /// window (its accumulators, offsets and watermark), so no window is later emitted with a
    /// part of its records. Whoever consumes it next re-reads it from the committed offset (the
    /// caller commits [`commit_point`](Self::commit_point) before giving it up).
    pub fn drop_partition(&mut self, topic: &str, partition: i32) {
        let Some(pid) = self.existing_pid(topic, partition) else {
            return;
        };
        for r in &mut self.routes {
            if let Some(m) = r.max_event.get_mut(pid) {
                *m = None;
            }
            r.windows.retain(|_, w| {
                w.held.retain(|(p, _)| *p != pid);
                w.groups.retain(|_, g| {
                    g.parts.retain(|(p, _)| *p != pid);
                    let keep = !g.parts.is_empty();
                    if !keep {
                        self.groups -= 1;
                    }
                    keep
                });
                let keep = !w.groups.is_empty();
                if !keep {
                    self.open_windows -= 1;
                }
                keep
            });
        }
        let p = &mut self.partitions[pid];
        p.next_offset = None;
        p.resume = None;
        p.idle = true;
        p.assigned = false;
        self.advance_all();
    }
}

/// What a route needs to know about the record beyond its view.
struct RecordContext<'r, 'a> {
    rec: &'r RecordView<'a>,
    pid: Pid,
    offset: i64,
    arrival: u64,
    now_ms: i64,
    resume_floor: Option<i64>,
}

/// Runs one route on one decoded record.
fn apply(
    r: &mut RouteState,
    route: usize,
    ctx: &RecordContext<'_, '_>,
    key_buf: &mut Vec<u8>,
    open_windows: &mut usize,
    group_count: &mut usize,
) -> RouteOutcome {
    let poison = |error: WindowError| RouteOutcome::Poison { route, error };
    let event_time = || {
        time_ns(
            &r.route.event_time,
            ctx.rec,
            ctx.now_ms.saturating_mul(1_000_000),
        )
        .map(|ns| ns.div_euclid(1_000_000))
    };
    if let Some(f) = &r.route.filter {
        if !is_true(f, ctx.rec, ctx.now_ms) {
            // A filtered record still shows how far its partition's time has come.
            if let Ok(t) = event_time() {
                see_event(&mut r.max_event, ctx.pid, t);
            }
            return RouteOutcome::Filtered { route };
        }
    }
    let event_ms = match event_time() {
        Ok(ms) => ms,
        Err(e) => return poison(WindowError::EventTime(e)),
    };
    let Some(starts) = r.shape.starts(event_ms) else {
        return poison(WindowError::EventTimeOutOfRange(event_ms));
    };
    let mut open: SmallVec<[i64; 4]> = SmallVec::new();
    let mut replayed = false;
    for s in starts {
        let end = r.shape.end(s);
        if ctx.resume_floor.is_some_and(|f| end <= f) {
            replayed = true;
        } else if !r.is_closed(end) {
            open.push(s);
        }
    }
    if open.is_empty() {
        return if replayed {
            RouteOutcome::AlreadyEmitted { route }
        } else {
            RouteOutcome::Late { route, event_ms }
        };
    }
    // Group key and aggregate inputs.
    let group_values: SmallVec<[Cow<'_, Value<'_>>; 2]> = r
        .route
        .group_by
        .iter()
        .map(|g| crate::eval::lookup(&g.field, ctx.rec).unwrap_or(Cow::Owned(Value::Null)))
        .collect();
    key_buf.clear();
    for v in &group_values {
        write_json(v, key_buf);
        key_buf.push(b',');
    }
    let args: SmallVec<[Option<Cow<'_, Value<'_>>>; 8]> = r
        .route
        .aggregates
        .iter()
        .map(|a| a.arg.as_ref().map(|e| eval(e, ctx.rec, ctx.now_ms)))
        .collect();
    // Check every aggregate against every window's state before changing any.
    for s in &open {
        let group = r
            .windows
            .get(s)
            .and_then(|w| w.groups.get(key_buf.as_slice()));
        for (i, a) in r.route.aggregates.iter().enumerate() {
            let held = group
                .into_iter()
                .flat_map(|g| g.parts.iter().filter_map(move |(_, accs)| accs.get(i)));
            if let Err(e) = check(a.function, args[i].as_deref(), held) {
                return poison(e.into());
            }
        }
    }
    for s in &open {
        let w = r.windows.entry(*s).or_insert_with(|| {
            *open_windows += 1;
            WindowState::default()
        });
        match w.held.iter_mut().find(|(p, _)| *p == ctx.pid) {
            Some((_, off)) => *off = (*off).min(ctx.offset),
            None => w.held.push((ctx.pid, ctx.offset)),
        }
        let g = match w.groups.get_mut(key_buf.as_slice()) {
            Some(g) => g,
            None => {
                *group_count += 1;
                w.groups
                    .entry(key_buf.clone())
                    .or_insert_with(|| GroupState {
                        values: group_values
                            .iter()
                            .map(|v| v.as_ref().clone().into_owned())
                            .collect(),
                        parts: SmallVec::new(),
                    })
            }
        };
        let accs = match g.parts.iter().position(|(p, _)| *p == ctx.pid) {
            Some(i) => &mut g.parts[i].1,
            None => {
                g.parts.push((
                    ctx.pid,
                    r.route
                        .aggregates
                        .iter()
                        .map(|a| Accumulator::new(a.function))
                        .collect(),
                ));
                let last = g.parts.len() - 1;
                &mut g.parts[last].1
            }
        };
        for (acc, arg) in accs.iter_mut().zip(&args) {
            acc.update(arg.as_deref(), event_ms, ctx.arrival);
        }
    }
    see_event(&mut r.max_event, ctx.pid, event_ms);
    RouteOutcome::Aggregated {
        route,
        windows: open.len(),
    }
}

/// Raises partition `pid`'s largest event time to `t`.
fn see_event(max_event: &mut [Option<i64>], pid: Pid, t: i64) {
    if let Some(m) = max_event.get_mut(pid) {
        if m.is_none_or(|x| t > x) {
            *m = Some(t);
        }
    }
}

/// True when any expression of the route reads the record key.
fn route_reads_key(r: &WindowRoute) -> bool {
    fn field(f: &FieldRef) -> bool {
        f.part == RecordPart::Key
    }
    fn expr(e: &PlanExpr) -> bool {
        match e {
            PlanExpr::Field { field: f } => field(f),
            PlanExpr::Literal { .. } | PlanExpr::String { .. } | PlanExpr::Aggregate { .. } => {
                false
            }
            PlanExpr::Call { args, .. } => args.iter().any(expr),
            PlanExpr::Unary { expr: e, .. }
            | PlanExpr::IsNull { expr: e, .. }
            | PlanExpr::Like { expr: e, .. }
            | PlanExpr::Cast { expr: e, .. } => expr(e),
            PlanExpr::Binary { left, right, .. } => expr(left) || expr(right),
            PlanExpr::InList { expr: e, list, .. } => expr(e) || list.iter().any(expr),
        }
    }
    let time_key =
        matches!(&r.event_time, kcql::plan::TimestampPlan::Field { field: f, .. } if field(f));
    time_key
        || r.group_by.iter().any(|g| field(&g.field))
        || r.aggregates
            .iter()
            .any(|a| a.arg.as_ref().is_some_and(expr))
        || r.filter.as_ref().is_some_and(expr)
        || r.outputs.iter().any(|o| match o {
            ProjectionItem::Field { value, .. } => expr(value),
            ProjectionItem::Expand { from, .. } => field(from),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::window_processor::window::LatePolicy;
    use crate::decode::Format;
    use serde_json::{json, Value as Json};

    fn engine(kcql: &str, settings: WindowSettings) -> WindowEngine {
        match kcql::compile_str(kcql, kcql::Connector::WindowProcessor) {
            Ok(kcql::Plan::Processor(p)) => WindowEngine::new(&p, settings).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    const WEBINAR: &str = "INSERT INTO sensor_avg SELECT id, MIN(temperature) AS min_temp, \
        MAX(temperature) AS max_temp, AVG(temperature) AS avg_temp, COUNT(*) AS n \
        FROM sensor_data GROUP BY id WINDOW TUMBLING(2s)";

    fn feed(
        e: &mut WindowEngine,
        partition: i32,
        offset: i64,
        ts: i64,
        payload: &str,
    ) -> RecordOutcome {
        e.on_record(
            InputRecord::new("sensor_data", partition, offset, payload.as_bytes())
                .with_timestamp(ts),
        )
    }

    fn values(outputs: &[WindowOutput]) -> Vec<Json> {
        outputs
            .iter()
            .map(|o| serde_json::from_slice(&o.value).unwrap())
            .collect()
    }

    #[test]
    fn the_webinar_statement_emits_one_record_per_device_and_window() {
        let mut e = engine(WEBINAR, WindowSettings::default());
        let readings = [
            (100, "SB01", 20.0),
            (900, "SB02", 30.5),
            (1500, "SB01", 22.0),
            (1999, "SB01", 24.5),
        ];
        for (i, (ts, id, t)) in readings.iter().enumerate() {
            let o = feed(
                &mut e,
                0,
                i as i64,
                *ts,
                &format!(r#"{{"id":"{id}","temperature":{t:?}}}"#),
            );
            assert_eq!(o.windows(), 1);
        }
        assert!(
            e.take_closed().is_empty(),
            "watermark 1999 has not passed 2000"
        );
        assert_eq!(e.open_windows(), 1);
        assert_eq!(e.groups(), 2);
        feed(&mut e, 0, 4, 2000, r#"{"id":"SB01","temperature":1}"#);
        let out = e.take_closed();
        assert_eq!(out.len(), 2);
        assert_eq!(
            values(&out),
            [
                json!({"id":"SB01","window_start":0,"window_end":2000,"min_temp":20.0,"max_temp":24.5,"avg_temp":(20.0+22.0+24.5)/3.0,"n":3}),
                json!({"id":"SB02","window_start":0,"window_end":2000,"min_temp":30.5,"max_temp":30.5,"avg_temp":30.5,"n":1}),
            ]
        );
        assert_eq!(out[0].key.as_deref(), Some(&b"SB01"[..]));
        assert_eq!(out[0].topic, "sensor_avg");
        assert_eq!(out[0].timestamp_ms, 2000);
        assert_eq!((out[0].sequence, out[1].sequence), (0, 1));
        assert_eq!(e.metrics().windows_emitted, 1);
        assert_eq!(e.metrics().outputs_emitted, 2);
        // Offsets 0..=3 were emitted; 4 is held by the open window [2000, 4000).
        assert_eq!(e.committable_offsets()[&("sensor_data".to_string(), 0)], 4);
        assert_eq!(e.commit_point().after_sequence, Some(1));
    }

    #[test]
    fn late_records_are_counted_and_not_aggregated() {
        let mut e = engine(
            WEBINAR,
            WindowSettings {
                late: LatePolicy::Topic("late".into()),
                ..WindowSettings::default()
            },
        );
        feed(&mut e, 0, 0, 500, r#"{"id":"a","temperature":1}"#);
        feed(&mut e, 0, 1, 4100, r#"{"id":"a","temperature":2}"#);
        let late = feed(&mut e, 0, 2, 1500, r#"{"id":"a","temperature":100}"#);
        assert!(late.is_late());
        assert_eq!(e.settings().late_topic(), Some("late"));
        assert_eq!(e.metrics().late, 1);
        let out = values(&e.take_closed());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["max_temp"], json!(1));
        // The late record is not held: offsets up to it may be committed.
        assert_eq!(e.committable_offsets()[&("sensor_data".to_string(), 0)], 1);
    }

    #[test]
    fn grace_keeps_windows_open_longer() {
        let q = "INSERT INTO o SELECT count(*) AS n FROM s WINDOW TUMBLING(1s) GRACE 500ms";
        let mut e = engine(q, WindowSettings::default());
        let mut at = |off: i64, ts: i64| {
            e.on_record(InputRecord::new("s", 0, off, b"{}").with_timestamp(ts))
        };
        at(0, 100);
        at(1, 1400);
        assert_eq!(at(2, 900).windows(), 1, "within grace");
        at(3, 1500);
        assert!(at(4, 999).is_late());
        let out = values(&e.take_closed());
        assert_eq!(out, [json!({"window_start":0,"window_end":1000,"n":2})]);
    }

    #[test]
    fn hopping_records_go_into_every_window_containing_them() {
        let q = "INSERT INTO o SELECT sum(v) AS s, first(v) AS f, last(v) AS l FROM s \
                 WITHTIMESTAMP t WINDOW HOPPING(10s, 5s)";
        let mut e = engine(q, WindowSettings::default());
        for (i, (t, v)) in [(1000, 1), (6000, 2), (7000, 3), (12000, 4)]
            .iter()
            .enumerate()
        {
            let p = format!(r#"{{"t":{t},"v":{v}}}"#);
            e.on_record(InputRecord::new("s", 0, i as i64, p.as_bytes()));
        }
        e.close_all();
        let out = values(&e.take_closed());
        assert_eq!(
            out,
            [
                json!({"window_start":-5000,"window_end":5000,"s":1,"f":1,"l":1}),
                json!({"window_start":0,"window_end":10000,"s":6,"f":1,"l":3}),
                json!({"window_start":5000,"window_end":15000,"s":9,"f":2,"l":4}),
                json!({"window_start":10000,"window_end":20000,"s":4,"f":4,"l":4}),
            ]
        );
    }

    #[test]
    fn poison_records_leave_every_aggregate_untouched() {
        let q = "INSERT INTO o SELECT count(*) AS n, max(v) AS m, sum(w) AS s FROM s WINDOW TUMBLING(1s)";
        let mut e = engine(q, WindowSettings::default());
        let mut at = |off: i64, p: &str| {
            e.on_record(InputRecord::new("s", 0, off, p.as_bytes()).with_timestamp(10))
        };
        at(0, r#"{"v":1,"w":1}"#);
        let bad = at(1, r#"{"v":2,"w":"x"}"#);
        assert!(matches!(
            bad.poison(),
            Some(WindowError::Aggregate(AggregateError::NotNumeric { .. }))
        ));
        assert!(matches!(
            at(2, r#"{"v":"x","w":1}"#).poison(),
            Some(WindowError::Aggregate(_))
        ));
        assert!(matches!(
            at(3, "{nope").poison(),
            Some(WindowError::Decode { .. })
        ));
        let no_time = e.on_record(InputRecord::new("s", 0, 4, b"{}"));
        assert!(matches!(no_time.poison(), Some(WindowError::EventTime(_))));
        assert_eq!(e.metrics().poison, 4);
        e.close_all();
        assert_eq!(
            values(&e.take_closed()),
            [json!({"window_start":0,"window_end":1000,"n":1,"m":1,"s":1})]
        );
    }

    #[test]
    fn where_runs_before_aggregation_and_filtered_records_advance_time() {
        let q = "INSERT INTO o SELECT id, count(*) AS n FROM s WHERE t > 0 GROUP BY id WINDOW TUMBLING(1s)";
        let mut e = engine(q, WindowSettings::default());
        let mut at = |off: i64, ts: i64, p: &str| {
            e.on_record(InputRecord::new("s", 0, off, p.as_bytes()).with_timestamp(ts))
        };
        at(0, 10, r#"{"id":"a","t":1}"#);
        let f = at(1, 20, r#"{"id":"b","t":-1}"#);
        assert_eq!(
            f,
            RecordOutcome::Routed(smallvec::smallvec![RouteOutcome::Filtered { route: 0 }])
        );
        // A filtered record still advances its partition's time: the window closes without it.
        at(2, 1500, r#"{"id":"b","t":-1}"#);
        assert_eq!(e.watermark(0), Some(1500));
        assert_eq!(e.metrics().filtered, 2);
        assert_eq!(
            values(&e.take_closed()),
            [json!({"id":"a","window_start":0,"window_end":1000,"n":1})]
        );
        assert_eq!(e.committable_offsets()[&("s".to_string(), 0)], 3);
    }

    #[test]
    fn the_slowest_active_partition_holds_the_watermark_until_idle() {
        let q = "INSERT INTO o SELECT count(*) AS n FROM s WINDOW TUMBLING(1s)";
        let mut e = engine(q, WindowSettings::default());
        e.on_record(InputRecord::new("s", 0, 0, b"{}").with_timestamp(100));
        e.on_record(InputRecord::new("s", 1, 0, b"{}").with_timestamp(5000));
        assert_eq!(e.watermark(0), Some(100));
        assert!(e.take_closed().is_empty());
        // Partition 0's record at 900 is on time although partition 1 is far ahead.
        assert_eq!(
            e.on_record(InputRecord::new("s", 0, 1, b"{}").with_timestamp(900))
                .windows(),
            1
        );
        e.mark_idle("s", 0);
        assert_eq!(e.watermark(0), Some(5000));
        let out = values(&e.take_closed());
        assert_eq!(out, [json!({"window_start":0,"window_end":1000,"n":2})]);
        let offsets = e.committable_offsets();
        assert_eq!(offsets[&("s".to_string(), 0)], 2);
        assert_eq!(offsets[&("s".to_string(), 1)], 0);
    }

    #[test]
    fn an_assigned_partition_holds_the_watermark_until_it_delivers() {
        let q = "INSERT INTO o SELECT count(*) AS n FROM s WINDOW TUMBLING(1s)";
        let mut e = engine(q, WindowSettings::default());
        e.assign_partition("s", 0);
        e.assign_partition("s", 1);
        e.assign_partition("other", 0);
        e.on_record(InputRecord::new("s", 0, 0, b"{}").with_timestamp(5000));
        assert_eq!(e.watermark(0), None);
        let first = e.on_record(InputRecord::new("s", 1, 0, b"{}").with_timestamp(100));
        assert_eq!(first.windows(), 1, "not late although partition 0 is ahead");
        assert_eq!(e.watermark(0), Some(100));
        e.mark_idle("s", 1);
        assert_eq!(e.watermark(0), Some(5000));
        assert_eq!(e.take_closed().len(), 1);
    }

    #[test]
    fn dropping_a_partition_removes_exactly_its_contribution() {
        let q = "INSERT INTO o SELECT id, count(*) AS n, sum(v) AS s FROM s GROUP BY id WINDOW TUMBLING(1s)";
        let mut e = engine(q, WindowSettings::default());
        let mut at = |p: i32, off: i64, payload: &str| {
            e.on_record(InputRecord::new("s", p, off, payload.as_bytes()).with_timestamp(10))
        };
        at(0, 0, r#"{"id":"a","v":1}"#);
        at(1, 0, r#"{"id":"a","v":10}"#);
        at(1, 1, r#"{"id":"b","v":100}"#);
        assert_eq!((e.open_windows(), e.groups()), (1, 2));
        e.drop_partition("s", 1);
        assert_eq!((e.open_windows(), e.groups()), (1, 1));
        assert!(!e.committable_offsets().contains_key(&("s".to_string(), 1)));
        e.close_all();
        assert_eq!(
            values(&e.take_closed()),
            [json!({"id":"a","window_start":0,"window_end":1000,"n":1,"s":1})]
        );
        assert_eq!((e.open_windows(), e.groups()), (0, 0));
    }

    #[test]
    fn a_resumed_partition_does_not_reopen_emitted_windows() {
        let q = "INSERT INTO o SELECT count(*) AS n FROM s WINDOW TUMBLING(1s)";
        let mut first = engine(q, WindowSettings::default());
        // offset 0 → [0,1000); offset 1 → [1000,2000) (held); offset 2 at 500 is on time?
        // No: the watermark 1500 closed [0,1000) first, so offset 2 is late.
        first.on_record(InputRecord::new("s", 0, 0, b"{}").with_timestamp(100));
        first.on_record(InputRecord::new("s", 0, 1, b"{}").with_timestamp(1500));
        first.on_record(InputRecord::new("s", 0, 2, b"{}").with_timestamp(1600));
        assert_eq!(first.take_closed().len(), 1);
        let point = first.commit_point();
        assert_eq!(point.offsets[&("s".to_string(), 0)], 1);
        let token = ResumeToken::from_metadata(&point.resume.to_metadata()).unwrap();
        assert_eq!(token, point.resume);

        // Restart: re-read from offset 1. Add an out-of-order record for the emitted window.
        let mut second = engine(q, WindowSettings::default());
        second.resume_partition("s", 0, &token).unwrap();
        second.on_record(InputRecord::new("s", 0, 1, b"{}").with_timestamp(1500));
        let replay = second.on_record(InputRecord::new("s", 0, 2, b"{}").with_timestamp(900));
        assert_eq!(
            replay,
            RecordOutcome::Routed(smallvec::smallvec![RouteOutcome::AlreadyEmitted {
                route: 0
            }])
        );
        second.on_record(InputRecord::new("s", 0, 3, b"{}").with_timestamp(1700));
        second.close_all();
        assert_eq!(
            values(&second.take_closed()),
            [json!({"window_start":1000,"window_end":2000,"n":2})]
        );
        let other = ResumeToken {
            routes: vec![("x".into(), None)],
        };
        assert!(second.resume_partition("s", 0, &other).is_err());
    }

    #[test]
    fn limits_close_the_oldest_window_early() {
        let q = "INSERT INTO o SELECT id, count(*) AS n FROM s GROUP BY id WINDOW TUMBLING(1s) GRACE 1h";
        let mut e = engine(
            q,
            WindowSettings {
                max_open_windows: 2,
                ..WindowSettings::default()
            },
        );
        for (off, ts) in [0, 1000, 2000].iter().enumerate() {
            e.on_record(InputRecord::new("s", 0, off as i64, br#"{"id":"a"}"#).with_timestamp(*ts));
        }
        assert_eq!(e.metrics().forced_closes, 1);
        let out = e.take_closed();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].window_start, 0);
        assert!(e
            .on_record(InputRecord::new("s", 0, 3, br#"{"id":"a"}"#).with_timestamp(10))
            .is_late());
        let mut g = engine(
            q,
            WindowSettings {
                max_groups: 3,
                ..WindowSettings::default()
            },
        );
        for (off, id) in ["a", "b", "c", "d"].iter().enumerate() {
            let p = format!(r#"{{"id":"{id}"}}"#);
            g.on_record(
                InputRecord::new("s", 0, off as i64, p.as_bytes()).with_timestamp(off as i64),
            );
        }
        assert_eq!(g.metrics().forced_closes, 1);
        assert_eq!(g.take_closed().len(), 4);
        assert_eq!(g.groups(), 0);
    }

    #[test]
    fn several_routes_share_a_source_and_keys_decode_only_when_read() {
        let q = "INSERT INTO a SELECT count(*) AS n FROM s WINDOW TUMBLING(1s); \
                 INSERT INTO b SELECT _key AS k, max(v) AS m FROM s GROUP BY _key WINDOW TUMBLING(2s)";
        let mut e = engine(q, WindowSettings::default());
        let o = e.on_record(
            InputRecord::new("s", 0, 0, br#"{"v":3}"#)
                .with_timestamp(5)
                .with_key(b"dev-1"),
        );
        assert_eq!(o.windows(), 2);
        assert_eq!(
            e.on_record(InputRecord::new("other", 0, 0, b"x")),
            RecordOutcome::Unrouted
        );
        e.close_all();
        let out = e.take_closed();
        assert_eq!(
            out.iter().map(|o| o.topic.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(out[1].key.as_deref(), Some(&b"dev-1"[..]));
        assert_eq!(
            values(&out)[1],
            json!({"key":"dev-1","window_start":0,"window_end":2000,"k":"dev-1","m":3})
        );
        assert_eq!(e.committable_offsets()[&("other".to_string(), 0)], 1);
    }

    #[test]
    fn avro_values_decode_with_the_configured_schema() {
        let settings = WindowSettings {
            value_format: Format::Avro,
            avro_schema: Some(
                r#"{"type":"record","name":"r","fields":[{"name":"id","type":"string"},{"name":"t","type":"double"}]}"#
                    .into(),
            ),
            ..WindowSettings::default()
        };
        let mut e = engine(
            "INSERT INTO o SELECT id, avg(t) AS a FROM s GROUP BY id WINDOW TUMBLING(1s)",
            settings,
        );
        for (off, t) in [1.5f64, 2.5].iter().enumerate() {
            // string "a" (zig-zag length 1 = 0x02), then the double little-endian.
            let mut datum = vec![0x02, b'a'];
            datum.extend_from_slice(&t.to_le_bytes());
            let o = e.on_record(InputRecord::new("s", 0, off as i64, &datum).with_timestamp(1));
            assert_eq!(o.windows(), 1, "{o:?}");
        }
        e.close_all();
        assert_eq!(
            values(&e.take_closed()),
            [json!({"id":"a","window_start":0,"window_end":1000,"a":2.0})]
        );
    }

    #[test]
    fn settings_are_checked_when_building() {
        let plan = match kcql::compile_str(WEBINAR, kcql::Connector::WindowProcessor) {
            Ok(kcql::Plan::Processor(p)) => p,
            other => panic!("{other:?}"),
        };
        let avro = WindowSettings {
            value_format: Format::Avro,
            ..WindowSettings::default()
        };
        assert_eq!(
            WindowEngine::new(&plan, avro).unwrap_err(),
            BuildError::Format(RecordFormatError::MissingAvroSchema { part: "value" })
        );
        let zero = WindowSettings {
            max_groups: 0,
            ..WindowSettings::default()
        };
        assert!(matches!(
            WindowEngine::new(&plan, zero),
            Err(BuildError::ZeroLimit("max_groups"))
        ));
    }
}
