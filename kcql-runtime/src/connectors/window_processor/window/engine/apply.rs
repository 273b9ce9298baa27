//! Applying one decoded record to one route: `WHERE`, event time, the windows still open, the
//! group and its aggregates.

use smallvec::SmallVec;
use std::borrow::Cow;

use crate::encode::json::write_json;
use crate::eval::is_true;
use crate::record::RecordView;
use crate::time::time_ns;
use crate::value::Value;

use kcql::plan::AggregatePlan;

use super::super::aggregate::{check, Accumulator, AggregateError};
use super::args::{AggregateArgs, ArgValues};
use super::partitions::Pid;
use super::route::{GroupState, RouteState};
use super::{RouteOutcome, WindowError};

/// What a route needs to know about the record beyond its view.
pub(super) struct RecordContext<'r, 'a> {
    pub(super) rec: &'r RecordView<'a>,
    pub(super) pid: Pid,
    pub(super) offset: i64,
    pub(super) arrival: u64,
    pub(super) now_ms: i64,
    pub(super) resume_floor: Option<i64>,
    /// How far ahead of the partition's time and the clock an event time may be
    /// ([`WindowSettings::max_future_ms`](super::super::WindowSettings::max_future_ms)).
    pub(super) max_future_ms: u64,
}

impl RecordContext<'_, '_> {
    /// The latest event time accepted now for partition `pid` of a route whose partitions'
    /// largest event times are `max_event`.
    fn future_limit(&self, max_event: &[Option<i64>]) -> i64 {
        let partition_time = max_event.get(self.pid).copied().flatten();
        let reference = partition_time.map_or(self.now_ms, |t| t.max(self.now_ms));
        reference.saturating_add(i64::try_from(self.max_future_ms).unwrap_or(i64::MAX))
    }
}

/// Runs one route on one decoded record.
pub(super) fn apply(
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
            // A filtered record still shows how far its partition's time has come, unless
            // its time is too far ahead to be believed.
            if let Ok(t) = event_time() {
                if t <= ctx.future_limit(&r.max_event) {
                    see_event(&mut r.max_event, ctx.pid, t);
                }
            }
            return RouteOutcome::Filtered { route };
        }
    }
    let event_ms = match event_time() {
        Ok(ms) => ms,
        Err(e) => return poison(WindowError::EventTime(e)),
    };
    let limit_ms = ctx.future_limit(&r.max_event);
    if event_ms > limit_ms {
        return poison(WindowError::FarFuture {
            event_ms,
            limit_ms,
            max_future_ms: ctx.max_future_ms,
        });
    }
    let Some(starts) = r.shape.starts(event_ms) else {
        return poison(WindowError::EventTimeOutOfRange(event_ms));
    };
    let mut open: SmallVec<[i64; 4]> = SmallVec::new();
    let mut replayed = false;
    for s in starts {
        let end = r.shape.end(s);
        if ctx.resume_floor.is_some_and(|f| end <= f) {
            replayed = true;
        } else if !r.is_closed(end) || r.catching_up(ctx.pid, end) {
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
    let values = r.args.eval(ctx.rec, ctx.now_ms);
    let aggregates = &r.route.aggregates;
    // Check every aggregate against every window's state before changing any. With one window
    // (tumbling), the check is done on the group found for the update: one lookup.
    let single = open.len() == 1;
    if !single {
        for s in &open {
            let group = r
                .windows
                .get(s)
                .and_then(|w| w.groups.get(key_buf.as_slice()));
            if let Err(e) = check_group(aggregates, &r.args, &values, group) {
                return poison(e.into());
            }
        }
    }
    for s in &open {
        let w = match r.windows.get_mut(s) {
            Some(w) => w,
            None => {
                if single {
                    if let Err(e) = check_group(aggregates, &r.args, &values, None) {
                        return poison(e.into());
                    }
                }
                *open_windows += 1;
                r.windows.entry(*s).or_default()
            }
        };
        let g = match w.groups.get_mut(key_buf.as_slice()) {
            Some(g) => {
                if single {
                    if let Err(e) = check_group(aggregates, &r.args, &values, Some(g)) {
                        return poison(e.into());
                    }
                }
                g
            }
            None => {
                if single {
                    if let Err(e) = check_group(aggregates, &r.args, &values, None) {
                        return poison(e.into());
                    }
                }
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
        match w.held.iter_mut().find(|(p, _)| *p == ctx.pid) {
            Some((_, off)) => *off = (*off).min(ctx.offset),
            None => w.held.push((ctx.pid, ctx.offset)),
        }
        let accs = match g.parts.iter().position(|(p, _)| *p == ctx.pid) {
            Some(i) => &mut g.parts[i].1,
            None => {
                g.parts.push((
                    ctx.pid,
                    aggregates
                        .iter()
                        .map(|a| Accumulator::new(a.function))
                        .collect(),
                ));
                let last = g.parts.len() - 1;
                &mut g.parts[last].1
            }
        };
        for (i, acc) in accs.iter_mut().enumerate() {
            acc.update(r.args.get(&values, i), event_ms, ctx.arrival);
        }
    }
    see_event(&mut r.max_event, ctx.pid, event_ms);
    RouteOutcome::Aggregated {
        route,
        windows: open.len(),
    }
}

/// Checks every aggregate's argument (`values` by `args`) against `group`'s accumulators
/// (`None`: a new group), in aggregate order.
fn check_group(
    aggregates: &[AggregatePlan],
    args: &AggregateArgs,
    values: &ArgValues<'_, '_>,
    group: Option<&GroupState>,
) -> Result<(), AggregateError> {
    for (i, a) in aggregates.iter().enumerate() {
        let held = group
            .into_iter()
            .flat_map(|g| g.parts.iter().filter_map(move |(_, accs)| accs.get(i)));
        check(a.function, args.get(values, i), held)?;
    }
    Ok(())
}

/// Raises partition `pid`'s largest event time to `t`.
fn see_event(max_event: &mut [Option<i64>], pid: Pid, t: i64) {
    if let Some(m) = max_event.get_mut(pid) {
        if m.is_none_or(|x| t > x) {
            *m = Some(t);
        }
    }
}
