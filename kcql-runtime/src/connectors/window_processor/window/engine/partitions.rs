//! The partition table: ids for `(topic, partition)`, assignment, idleness and revocation,
//! and how they move the routes' watermarks.

use smallvec::SmallVec;

use super::WindowEngine;

/// Partition table index.
pub(super) type Pid = usize;

/// What the engine knows about one input partition.
#[derive(Debug)]
pub(super) struct PartitionState {
    /// Its topic.
    pub(super) topic: String,
    /// Its partition number.
    pub(super) partition: i32,
    /// Last offset seen + 1 (`None`: nothing seen since assignment).
    pub(super) next_offset: Option<i64>,
    /// Excluded from the watermark (idle or revoked) until it delivers again.
    pub(super) idle: bool,
    /// Assigned by the caller: until it has delivered an event time, the watermark of the
    /// routes reading it waits for it.
    pub(super) assigned: bool,
    /// The routes reading its topic.
    pub(super) routes: SmallVec<[usize; 2]>,
    /// Per route: windows ending at or before this were emitted before a restart.
    pub(super) resume: Option<Vec<Option<i64>>>,
}

impl WindowEngine {
    /// The id of `topic`/`partition`, registering it when new.
    pub(super) fn pid(&mut self, topic: &str, partition: i32) -> Pid {
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

    /// [`pid`](Self::pid) by table lookup, registering a new partition with every route.
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
            r.catch_up.push(None);
        }
        id
    }

    /// The id of `topic`/`partition` if the engine has seen it.
    fn existing_pid(&self, topic: &str, partition: i32) -> Option<Pid> {
        self.partition_ids.get(topic)?.get(&partition).copied()
    }

    /// Marks a partition that reached its end (partition EOF) as idle: it stops holding the
    /// watermark of its routes, but only at [`release_idle`](Self::release_idle), which the
    /// caller calls once it made sure the partition still has nothing more (its end offset did
    /// not move since). Until then it holds the watermark at its last event time, so a burst
    /// that reaches the consumer one partition at a time cannot make the other partitions'
    /// records late. It joins again with its next record; its records older than the
    /// watermark then are late.
    pub fn mark_idle(&mut self, topic: &str, partition: i32) {
        if let Some(pid) = self.existing_pid(topic, partition) {
            self.partitions[pid].idle = true;
        }
    }

    /// Undoes [`mark_idle`](Self::mark_idle) for a partition found to have records not yet
    /// delivered (its end moved since it went idle).
    pub fn mark_busy(&mut self, topic: &str, partition: i32) {
        if let Some(pid) = self.existing_pid(topic, partition) {
            let p = &mut self.partitions[pid];
            if p.assigned || p.next_offset.is_some() {
                p.idle = false;
            }
        }
    }

    /// The partitions marked idle, when releasing them would close a held window:
    /// the caller checks that they still have no records, [`mark_busy`](Self::mark_busy)s
    /// those that do, then calls [`release_idle`](Self::release_idle). Empty when releasing
    /// would change nothing.
    pub fn idle_holding(&self) -> Vec<(String, i32)> {
        let pending = self
            .routes
            .iter()
            .enumerate()
            .any(|(i, r)| r.idle_would_close(i, &self.partitions));
        if !pending {
            return Vec::new();
        }
        self.partitions
            .iter()
            .filter(|p| p.idle && (p.assigned || p.next_offset.is_some()))
            .map(|p| (p.topic.clone(), p.partition))
            .collect()
    }

    /// Stops the partitions marked idle from holding the watermark: every route's watermark
    /// moves to the minimum over its other partitions, closing what it passes.
    pub fn release_idle(&mut self) {
        for (i, r) in self.routes.iter_mut().enumerate() {
            r.release_idle(i, &self.partitions);
        }
    }

    /// Recomputes every route's watermark.
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
        for r in &mut self.routes {
            if let Some(slot) = r.catch_up.get_mut(pid) {
                *slot = r.closed_through;
            }
        }
    }

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
