//! The window processor's engine (Kafka → Kafka), pure and synchronous: the I/O layer feeds it
//! consumed records, produces what it emits and commits what it allows.
//!
//! ```text
//! INSERT INTO sensor_avg SELECT id, MIN(temperature) AS min_temp, AVG(temperature) AS avg_temp,
//!   COUNT(*) AS n FROM sensor_data GROUP BY id WINDOW TUMBLING(2s)
//! ```
//!
//! # Per record ([`WindowEngine::on_record`])
//!
//! For every route of the [`ProcessorPlan`](kcql::plan::ProcessorPlan) reading the record's
//! topic (several may): decode the value (JSON, text, bytes, Avro with the configured schema,
//! Confluent Avro with the schema the caller resolved) and, only when a route reads `_key…`,
//! the key; apply `WHERE` (the sink's evaluator, [`crate::eval`]); take the event time with the
//! InfluxDB sink's rules ([`crate::time::time_ns`]: `WITHTIMESTAMP` field in
//! `TIMESTAMPUNIT`, ISO-8601 string or float seconds; `sys_time()` = processing time; else the
//! Kafka timestamp); put it into its windows ([`assign`]: tumbling → one, hopping → size/advance,
//! epoch-aligned, `[start, end)`) that are still open, in its group (`GROUP BY` values; missing
//! = NULL, a group of its own); update the aggregates ([`aggregate`]). A decode error, a bad
//! event time or an aggregate type error is a poison outcome and changes nothing; the caller
//! applies its error policy (the record stays in the caller's hands for a dead-letter copy).
//!
//! # Watermark and closing
//!
//! Per route and input partition the engine keeps the largest event time of its records that
//! were aggregated or filtered out by `WHERE` (a filtered record still shows how far its
//! partition's time has come; late and poison records do not count). The route's watermark is
//! the **minimum over its partitions that are not idle**, and never decreases. A partition the
//! caller registered with [`WindowEngine::assign_partition`] (the I/O layer does so on every
//! assignment) holds the watermark until it delivers an event time; an unregistered one joins
//! the minimum with its first record (and cannot move the watermark back: its records behind
//! it are late). So a partition that lags (or whose producers' clocks are behind) cannot make
//! its records late because other partitions are ahead; the price is that a partition that
//! stops delivering stops every window of its routes from closing (and so the commits). The
//! I/O layer therefore calls [`WindowEngine::mark_idle`] when a partition reaches its end
//! (rdkafka's partition EOF). An idle partition still holds the watermark at its last event
//! time until the I/O layer, seeing [`WindowEngine::idle_holding`] name it, has asked the broker
//! whether its end moved ([`WindowEngine::mark_busy`] if it did) and calls
//! [`WindowEngine::release_idle`]: then it leaves the minimum until it delivers again (when
//! every partition is idle, the largest event time read counts), and its records older than the
//! watermark are late. So a burst after a pause, which reaches the consumer one partition at a
//! time, cannot make the other partitions' records late.
//!
//! A partition assigned while windows were already closed (taken over from another process,
//! or read again from its committed offset after a rebalance) is behind: its records reopen
//! the windows they belong to, and those are emitted when its own time passes them; its commit
//! token ([`CommitPoint::partition_resume`]) stops before them.
//!
//! A window closes when `watermark − GRACE >= window end`. A record whose windows have all
//! closed is late: counted, not aggregated, and dropped or copied by the caller to the late
//! topic ([`LatePolicy`]). A hopping record late for its oldest windows still counts in the
//! open ones. [`WindowEngine::close_all`] closes everything (end of input, final flush).
//!
//! # Output ([`WindowEngine::take_closed`])
//!
//! One record per closed window and group, ordered by route, window start, group key: topic =
//! the route's target, key = the group key, value = `{group fields…, "window_start",
//! "window_end", select items…}` in the `value_format_out` (JSON by default; Avro with
//! `avro_schema_out` or a schema derived from the plan), timestamp = window end. A result that
//! does not fit the Avro schema carries its `encode_error` for the caller's error policy.
//! Details in [`output`].
//!
//! # At-least-once protocol
//!
//! A record's offset may be committed only when every window holding it has been emitted and
//! delivered. [`WindowEngine::committable_offsets`] gives per partition the smallest offset
//! still held by a window not yet taken, or the last offset seen + 1 when none is. The I/O
//! layer:
//!
//! 1. after a poll batch, calls `take_closed` and hands every output to the producer;
//! 2. takes a [`CommitPoint`] ([`WindowEngine::commit_point`]): offsets,
//!    `after_sequence` (the largest [`WindowOutput::sequence`] emitted so far) and a
//!    [`ResumeToken`];
//! 3. commits those offsets — with the token's [`ResumeToken::to_metadata`] as the offsets'
//!    metadata — once the producer has confirmed delivery of every output with a sequence up
//!    to `after_sequence` (and of every late/dead-letter copy of records below the offsets).
//!
//! After a crash the consumer re-reads from the committed offsets: every window that was not
//! emitted is rebuilt from scratch (all its records are at or after those offsets). Windows
//! that were emitted may also get some of their records again; to avoid re-emitting them with
//! only those records (which would overwrite a complete result downstream), the I/O layer hands
//! the committed metadata to [`WindowEngine::resume_partition`] before consuming: that
//! partition's records for windows already emitted are dropped as
//! [`RouteOutcome::AlreadyEmitted`]. Without the token the rule still holds for unemitted
//! windows; emitting a window again with all its records is harmless downstream.
//!
//! # Revocation
//!
//! Accumulators are kept per group **and per input partition** and merged at emission, so
//! [`WindowEngine::drop_partition`] removes exactly the revoked partition's contribution (and
//! its offsets and watermark) from every held window; the next owner re-reads it from the
//! committed offset (commit a commit point before giving it up). A window is never emitted
//! with part of one partition's records. With several processes in one consumer group, each
//! window of a group is complete only when all of that group's records are in partitions of one
//! process: key the input by the `GROUP BY` fields (as the MQTT source's `WITHKEY(id)` does).
//!
//! # Memory bound
//!
//! State = Σ over held windows of (groups × (group values + one accumulator per aggregate per
//! contributing partition)) + per window one offset per contributing partition. Each
//! accumulator is fixed-size except `min/max/first/last` of strings, which hold one value.
//! [`WindowSettings::max_open_windows`] and [`WindowSettings::max_groups`] bound the open
//! windows and their groups: when a record takes them over, the oldest open window (smallest
//! end) is closed early and emitted with what it has (metric `forced_closes`), and records for
//! it that come later are late. Closed windows are freed by `take_closed`, which the I/O layer
//! calls after every poll batch. So memory ≤ `max_groups` × (group values + aggregates ×
//! partitions per group) + `max_open_windows` × partitions, plus what was closed since the last
//! `take_closed`.

pub mod aggregate;
pub mod assign;
mod engine;
pub mod output;
pub mod settings;

pub use engine::{
    BuildError, CommitPoint, InputRecord, RecordOutcome, ResumeError, ResumeToken, RouteOutcome,
    WindowEngine, WindowError, WindowMetrics, WindowOutput,
};
pub use settings::{LatePolicy, WindowSettings};
