//! A route's held windows (per group, per contributing partition), its watermark and how far
//! its windows are closed.

use std::collections::{BTreeMap, HashMap};

use kcql::plan::WindowRoute;
use smallvec::SmallVec;

use crate::value::Value;

use super::super::aggregate::Accumulator;
use super::super::assign::WindowShape;
use super::super::output::OutputPlan;
use super::args::AggregateArgs;
use super::partitions::{PartitionState, Pid};

/// One group of one window: its `GROUP BY` values and the aggregates of each partition.
#[derive(Debug)]
pub(super) struct GroupState {
    /// The `GROUP BY` values (missing = NULL).
    pub(super) values: Vec<Value<'static>>,
    /// Per contributing partition, its own accumulators (merged at emission), so a revoked
    /// partition's contribution can be removed exactly.
    pub(super) parts: SmallVec<[(Pid, Vec<Accumulator>); 1]>,
}

/// The group tables' hash: foldhash, randomly seeded (group keys come from input data), about
/// half of SipHash's cost for short keys.
pub(super) type GroupHasher = foldhash::fast::RandomState;

/// One held window: its groups by group key, and the offsets it holds back.
#[derive(Debug, Default)]
pub(super) struct WindowState {
    /// By group key (the `GROUP BY` values as JSON, comma-terminated).
    pub(super) groups: HashMap<Vec<u8>, GroupState, GroupHasher>,
    /// Per contributing partition, the smallest offset aggregated here.
    pub(super) held: SmallVec<[(Pid, i64); 2]>,
}

/// One route of the plan: its held windows, watermark and closing point.
#[derive(Debug)]
pub(super) struct RouteState {
    /// The route as planned.
    pub(super) route: WindowRoute,
    /// Its aggregates' distinct argument expressions.
    pub(super) args: AggregateArgs,
    /// Its window size, advance and grace.
    pub(super) shape: WindowShape,
    /// How its outputs are rendered.
    pub(super) output: OutputPlan,
    /// How its output values are written (the processor's `value_format_out`).
    pub(super) encoder: crate::encode::OutputEncoder,
    /// Windows ending at or before this are closed (watermark − grace, or forced).
    pub(super) closed_through: Option<i64>,
    /// What `closed_through` was at the last `take_closed`.
    pub(super) emitted_through: Option<i64>,
    /// Per partition, the largest event time seen (a record that passed `WHERE`).
    pub(super) max_event: Vec<Option<i64>>,
    /// Per partition assigned while windows were already closed: how far they were closed.
    /// Its records behind that (read again from its committed offset, or taken over from
    /// another process) reopen their windows instead of being late; such windows are emitted
    /// when the partition's own time passes them ([`RouteState::catching_up`]).
    pub(super) catch_up: Vec<Option<i64>>,
    /// min over its partitions of `max_event` (idle ones too, until
    /// [`release_idle`](super::WindowEngine::release_idle)), never decreasing.
    pub(super) watermark: Option<i64>,
    /// Held windows by start (open, or closed and not yet taken).
    pub(super) windows: BTreeMap<i64, WindowState>,
}

impl RouteState {
    /// True when the window ending at `end` is closed.
    pub(super) fn is_closed(&self, end: i64) -> bool {
        self.closed_through.is_some_and(|c| end <= c)
    }

    /// Closes every window ending at or before `t` (never reopens any).
    pub(super) fn close_through(&mut self, t: i64) {
        if self.closed_through.is_none_or(|c| t > c) {
            self.closed_through = Some(t);
        }
    }

    /// Whether partition `pid`, catching up, still needs the window ending at `end` although
    /// the route closed it: the partition's own time has not passed it.
    pub(super) fn catching_up(&self, pid: Pid, end: i64) -> bool {
        let behind = self
            .catch_up
            .get(pid)
            .copied()
            .flatten()
            .is_some_and(|c| end <= c);
        behind
            && self
                .max_event
                .get(pid)
                .copied()
                .flatten()
                .is_none_or(|m| m.saturating_sub(self.shape.grace_ms) < end)
    }

    /// Whether held window `w` ending at `end` waits for a catching-up partition's records.
    pub(super) fn waits_for_catch_up(&self, w: &WindowState, end: i64) -> bool {
        w.held.iter().any(|(pid, _)| self.catching_up(*pid, end))
    }

    /// Partition `pid`'s own time passed how far the route was closed when it was assigned:
    /// it is caught up.
    pub(super) fn end_catch_up(&mut self, pid: Pid) {
        let Some(slot) = self.catch_up.get_mut(pid) else {
            return;
        };
        let own = self.max_event.get(pid).copied().flatten();
        if let (Some(c), Some(m)) = (*slot, own) {
            if m.saturating_sub(self.shape.grace_ms) >= c {
                *slot = None;
            }
        }
    }

    /// Recomputes the watermark (route `index`) from its partitions, idle ones included, and
    /// closes what it passed.
    pub(super) fn advance(&mut self, index: usize, partitions: &[PartitionState]) {
        if let Some(m) = self.low_watermark(index, partitions, false) {
            self.raise(m);
        }
    }

    /// Whether moving the watermark to what it is without the partitions marked idle
    /// ([`release_idle`](super::WindowEngine::release_idle)) would close a held window.
    pub(super) fn idle_would_close(&self, index: usize, partitions: &[PartitionState]) -> bool {
        let Some(m) = self.low_watermark(index, partitions, true) else {
            return false;
        };
        self.oldest_open()
            .is_some_and(|(end, _)| m.saturating_sub(self.shape.grace_ms) >= end)
    }

    /// Moves the watermark to what it is without the partitions marked idle.
    pub(super) fn release_idle(&mut self, index: usize, partitions: &[PartitionState]) {
        if let Some(m) = self.low_watermark(index, partitions, true) {
            self.raise(m);
        }
    }

    /// The smallest largest event time over route `index`'s partitions (`skip_idle`: not
    /// counting those marked idle, and when every partition is idle, the largest of their
    /// event times: all input so far was read); `None` while an assigned partition that counts
    /// has not delivered. Revoked partitions never count.
    fn low_watermark(
        &self,
        index: usize,
        partitions: &[PartitionState],
        skip_idle: bool,
    ) -> Option<i64> {
        let mut min: Option<i64> = None;
        let mut idle_max: Option<i64> = None;
        for (m, p) in self.max_event.iter().zip(partitions) {
            let revoked = p.idle && !p.assigned && m.is_none();
            if !p.routes.contains(&index) || revoked {
                continue;
            }
            if skip_idle && p.idle {
                idle_max = idle_max.max(*m);
                continue;
            }
            match m {
                Some(m) => min = Some(min.map_or(*m, |x| x.min(*m))),
                // An assigned partition that has not delivered yet holds the watermark.
                None if p.assigned => return None,
                None => {}
            }
        }
        min.or(idle_max)
    }

    /// Raises the watermark to `m` (never lowers it) and closes what it passed.
    fn raise(&mut self, m: i64) {
        if self.watermark.is_none_or(|w| m > w) {
            self.watermark = Some(m);
            self.close_through(m.saturating_sub(self.shape.grace_ms));
        }
    }

    /// The oldest window not yet closed: (end, start).
    pub(super) fn oldest_open(&self) -> Option<(i64, i64)> {
        let from = self.closed_through.map_or(i64::MIN, |c| {
            c.saturating_sub(self.shape.size_ms).saturating_add(1)
        });
        self.windows
            .range(from..)
            .map(|(s, _)| (self.shape.end(*s), *s))
            .find(|(end, _)| !self.is_closed(*end))
    }
}
