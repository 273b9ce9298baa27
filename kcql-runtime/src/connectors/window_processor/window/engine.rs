//! The window engine: records in, closed windows out, commit points for at-least-once.
//! See the [module documentation](super) for the watermark, offset and revocation rules.

mod apply;
mod args;
mod commit;
mod emit;
mod error;
mod input;
mod limits;
mod metrics;
mod outcome;
mod partitions;
mod reads_key;
mod route;

use super::assign::WindowShape;
use super::output::OutputPlan;
use super::settings::WindowSettings;
use crate::decode::{schema_registry, Format, SchemaRegistry};
use crate::encode::OutputEncoder;
use crate::record::{RecordDecoder, RecordFormat};
use apply::{apply, RecordContext};
use args::AggregateArgs;
use kcql::plan::ProcessorPlan;
use partitions::{PartitionState, Pid};
use reads_key::route_reads_key;
use route::RouteState;
use smallvec::SmallVec;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub use commit::{CommitPoint, ResumeError, ResumeToken};
pub use emit::WindowOutput;
pub use error::{BuildError, WindowError};
pub use input::InputRecord;
pub use metrics::WindowMetrics;
pub use outcome::{RecordOutcome, RouteOutcome};

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
        for (i, r) in plan.routes.iter().enumerate() {
            let count = r.window.kind.windows_per_record();
            if count > kcql::ast::MAX_WINDOWS_PER_RECORD {
                return Err(BuildError::TooManyWindows {
                    route: i + 1,
                    window: r.window,
                    count,
                });
            }
        }
        let decoder = RecordDecoder::new(&RecordFormat {
            key: Some(settings.key_format),
            value: settings.value_format,
            avro_schema: settings.avro_schema.clone(),
            schema_registry_url: settings.schema_registry_url.clone(),
            json_envelope: Default::default(),
            registry_options: settings.registry_options.clone(),
        })?;
        let out_registry = output_registry(&settings, &decoder)?;
        let mut by_source: HashMap<String, SmallVec<[usize; 2]>> = HashMap::new();
        let mut needs_key = false;
        let routes = plan
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                by_source.entry(r.source.clone()).or_default().push(i);
                needs_key |= route_reads_key(r);
                let output = OutputPlan::new(&r.group_by, &r.outputs);
                let format = settings.value_format_out;
                let schema = match &settings.avro_schema_out {
                    Some(s) => Some(s.clone()),
                    None if format.needs_schema() => {
                        Some(output.avro_schema(&r.aggregates).map_err(|message| {
                            BuildError::OutputSchema {
                                route: i + 1,
                                message,
                            }
                        })?)
                    }
                    None => None,
                };
                let encoder =
                    OutputEncoder::new(format, false, schema.as_deref(), out_registry.clone())?;
                Ok(RouteState {
                    shape: WindowShape::of(&r.window),
                    args: AggregateArgs::of(&r.aggregates),
                    output,
                    encoder,
                    route: r.clone(),
                    closed_through: None,
                    emitted_through: None,
                    max_event: Vec::new(),
                    catch_up: Vec::new(),
                    watermark: None,
                    windows: BTreeMap::new(),
                })
            })
            .collect::<Result<Vec<_>, BuildError>>()?;
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

    /// Each route's target topic and output encoder (clones sharing the engine's cache of
    /// registered schema ids): the caller registers Confluent Avro output schemas with them
    /// ([`OutputEncoder::prepare`]) before records are fed.
    pub fn output_encoders(&self) -> Vec<(String, OutputEncoder)> {
        self.routes
            .iter()
            .map(|r| (r.route.target.clone(), r.encoder.clone()))
            .collect()
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

    /// Processes one consumed record. Offsets of one partition must increase, except after
    /// [`drop_partition`](Self::drop_partition).
    pub fn on_record(&mut self, input: InputRecord<'_>) -> RecordOutcome {
        self.metrics.records_in += 1;
        self.arrival += 1;
        self.now_ms = self.now_ms.max(input.processing_time_ms);
        let raw = input.raw;
        let pid = self.pid(raw.topic, raw.partition);
        {
            let p = &mut self.partitions[pid];
            let next = raw.offset.saturating_add(1);
            p.next_offset = Some(p.next_offset.map_or(next, |n| n.max(next)));
            p.idle = false;
        }
        let route_ids = self.partitions[pid].routes.clone();
        if route_ids.is_empty() {
            return RecordOutcome::Unrouted;
        }
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
                offset: raw.offset,
                arrival: self.arrival,
                now_ms: input.processing_time_ms,
                resume_floor: self.partitions[pid]
                    .resume
                    .as_ref()
                    .and_then(|r| r.get(route).copied().flatten()),
                max_future_ms: self.settings.max_future_ms,
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
                self.routes[route].end_catch_up(pid);
                self.routes[route].advance(route, &self.partitions);
            }
            outcomes.push(outcome);
        }
        self.key_scratch = key_buf;
        self.enforce_limits();
        RecordOutcome::Routed(outcomes)
    }
}

/// The registry client a Confluent Avro output registers with: the decoder's when it has
/// one, else a client for `schema_registry_url`; `None` for the other output formats.
fn output_registry(
    settings: &WindowSettings,
    decoder: &RecordDecoder,
) -> Result<Option<Arc<SchemaRegistry>>, BuildError> {
    if settings.value_format_out != Format::ConfluentAvro {
        return Ok(None);
    }
    if let Some(registry) = decoder.registry() {
        return Ok(Some(Arc::clone(registry)));
    }
    let Some(url) = &settings.schema_registry_url else {
        return Ok(None);
    };
    Ok(Some(Arc::new(SchemaRegistry::with_options(
        url.expose(),
        &settings.registry_options,
        schema_registry::DEFAULT_TIMEOUT,
    )?)))
}

#[cfg(test)]
mod tests;
