//! The contiguous offset watermark.
//!
//! A partition's offset may be committed only up to the first record that is not finished
//! (written, or deliberately skipped): records finish out of order (several targets, retries),
//! but the committed offset never passes an unfinished one. [`OffsetTracker`] keeps, per
//! partition, the offsets read and not yet finished, in read order, as runs of consecutive
//! offsets (a written batch costs one entry per partition, not one per record).
//!
//! ```
//! use kcql_runtime::kafka::{OffsetTracker, TopicPartition};
//! let tp = TopicPartition::new("t", 0);
//! let mut t = OffsetTracker::default();
//! for o in 10..13 { t.begin(&tp, o); }
//! t.finish(&tp, 11);
//! assert_eq!(t.committable(&tp), Some(10)); // 10 is still open
//! t.finish(&tp, 10);
//! assert_eq!(t.committable(&tp), Some(12)); // 10, 11 done: resume at 12
//! t.finish(&tp, 12);
//! assert_eq!(t.committable(&tp), Some(13));
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;

/// A topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`/`partition`.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.topic, self.partition)
    }
}

/// Consecutive offsets read from one partition, all finished or all not. The run holds
/// every offset read from `first` to `last`; offsets in between that were never delivered
/// (compacted away, transaction markers) are simply not there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    first: i64,
    last: i64,
    done: bool,
}

#[derive(Debug, Default)]
struct Partition {
    /// Runs of offsets read and not yet all committable, ascending and disjoint; the front
    /// one is never finished.
    open: VecDeque<Run>,
    /// One past the highest offset read.
    next: Option<i64>,
    /// The offset last reported by [`OffsetTracker::take_changed`].
    reported: Option<i64>,
}

impl Partition {
    fn committable(&self) -> Option<i64> {
        match self.open.front() {
            Some(run) => Some(run.first),
            None => self.next,
        }
    }

    /// Appends the run `first..=last`, read after every run already here.
    fn read(&mut self, first: i64, last: i64, done: bool) {
        if self.next.is_some_and(|n| first < n) {
            self.open.clear();
        }
        self.next = Some(last + 1);
        match self.open.back_mut() {
            // Finished with nothing open before it: committable at once.
            None if done => {}
            Some(back) if back.done && done => back.last = last,
            _ => self.open.push_back(Run { first, last, done }),
        }
    }

    fn finish(&mut self, offset: i64) {
        let i = self.open.partition_point(|r| r.first <= offset);
        let Some(i) = i.checked_sub(1) else {
            return;
        };
        let run = self.open[i];
        if run.done || offset > run.last {
            return;
        }
        // Split the open run around `offset`.
        let pieces = [
            (run.first < offset).then_some(Run {
                last: offset - 1,
                ..run
            }),
            Some(Run {
                first: offset,
                last: offset,
                done: true,
            }),
            (offset < run.last).then_some(Run {
                first: offset + 1,
                ..run
            }),
        ];
        self.open.remove(i);
        for (k, piece) in pieces.into_iter().flatten().enumerate() {
            self.open.insert(i + k, piece);
        }
        while self.open.front().is_some_and(|r| r.done) {
            self.open.pop_front();
        }
    }
}

/// Per partition: which offsets were read and which of them are finished, kept as runs of
/// consecutive offsets (a batch of finished records of one partition is one entry).
#[derive(Debug, Default)]
pub struct OffsetTracker {
    parts: HashMap<TopicPartition, Partition>,
}

impl OffsetTracker {
    fn part(&mut self, tp: &TopicPartition) -> &mut Partition {
        // `entry` would clone the key on every call.
        if !self.parts.contains_key(tp) {
            self.parts.insert(tp.clone(), Partition::default());
        }
        self.parts.get_mut(tp).expect("inserted above")
    }

    /// Records that `offset` was read (offsets of a partition are begun in ascending order;
    /// one lower than the last is treated as a re-read after a seek and resets the partition).
    pub fn begin(&mut self, tp: &TopicPartition, offset: i64) {
        self.part(tp).read(offset, offset, false);
    }

    /// Records that the records of `tp` from `first` to `last` (inclusive; the offsets in
    /// between that were delivered) were read, in order after those read before, and are all
    /// finished (`done`) or all not: [`begin`](Self::begin) of each, and
    /// [`finish`](Self::finish) of each when `done`, in one step. `first` lower than an
    /// offset read before is a re-read after a seek and resets the partition.
    ///
    /// ```
    /// use kcql_runtime::kafka::{OffsetTracker, TopicPartition};
    /// let tp = TopicPartition::new("t", 0);
    /// let mut t = OffsetTracker::default();
    /// t.read(&tp, 0, 99, true);
    /// t.read(&tp, 100, 100, false); // a poison record
    /// t.read(&tp, 101, 199, true);
    /// assert_eq!(t.committable(&tp), Some(100));
    /// t.finish(&tp, 100);
    /// assert_eq!(t.committable(&tp), Some(200));
    /// ```
    pub fn read(&mut self, tp: &TopicPartition, first: i64, last: i64, done: bool) {
        debug_assert!(first <= last);
        self.part(tp).read(first, last, done);
    }

    /// Records that `offset` is finished (written or deliberately skipped). Unknown offsets
    /// (e.g. of a partition forgotten at revocation) are ignored.
    pub fn finish(&mut self, tp: &TopicPartition, offset: i64) {
        if let Some(part) = self.parts.get_mut(tp) {
            part.finish(offset);
        }
    }

    /// The offset to commit for `tp` (the next record to read after a restart): the first
    /// unfinished offset, else one past the last read. `None` when nothing was read.
    pub fn committable(&self, tp: &TopicPartition) -> Option<i64> {
        self.parts.get(tp).and_then(Partition::committable)
    }

    /// How many offsets of `tp` are read and not finished (counting, within a run read at
    /// once, the offsets never delivered too).
    pub fn open(&self, tp: &TopicPartition) -> usize {
        self.parts.get(tp).map_or(0, |p| {
            p.open
                .iter()
                .filter(|r| !r.done)
                .map(|r| (r.last - r.first + 1) as usize)
                .sum()
        })
    }

    /// The committable offsets that moved since the last call, to be committed now.
    pub fn take_changed(&mut self) -> Vec<(TopicPartition, i64)> {
        let mut out = Vec::new();
        for (tp, part) in &mut self.parts {
            if let Some(c) = part.committable() {
                if part.reported != Some(c) {
                    part.reported = Some(c);
                    out.push((tp.clone(), c));
                }
            }
        }
        out.sort();
        out
    }

    /// Forgets `tp` (revoked: its next owner resumes from the committed offset).
    pub fn forget(&mut self, tp: &TopicPartition) {
        self.parts.remove(tp);
    }

    /// Every partition tracked.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        let mut v: Vec<_> = self.parts.keys().cloned().collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever order records finish in, the committable offset is exactly the first
        /// unfinished one (or one past the last read), so it never passes an unwritten record.
        #[test]
        fn never_passes_an_unfinished_offset(
            n in 1usize..60,
            order in proptest::collection::vec(any::<proptest::sample::Index>(), 0..80),
        ) {
            let tp = TopicPartition::new("t", 3);
            let mut t = OffsetTracker::default();
            let base = 100i64;
            for i in 0..n { t.begin(&tp, base + i as i64); }
            let mut done = vec![false; n];
            for idx in order {
                let i = idx.index(n);
                done[i] = true;
                t.finish(&tp, base + i as i64);
                let expected = done.iter().position(|d| !d).map_or(base + n as i64, |i| base + i as i64);
                prop_assert_eq!(t.committable(&tp), Some(expected));
            }
        }
    }

    proptest! {
        /// Runs read at once (finished or not) and offsets finished later give exactly the
        /// committable offset of per-offset bookkeeping.
        #[test]
        fn runs_match_per_offset_bookkeeping(
            runs in proptest::collection::vec((1i64..20, any::<bool>()), 1..20),
            order in proptest::collection::vec(any::<proptest::sample::Index>(), 0..60),
        ) {
            let tp = TopicPartition::new("t", 0);
            let mut t = OffsetTracker::default();
            let mut done = Vec::new();
            let base = 1000i64;
            for (len, finished) in runs {
                let first = base + done.len() as i64;
                t.read(&tp, first, first + len - 1, finished);
                done.extend(std::iter::repeat_n(finished, len as usize));
            }
            let n = done.len();
            let expected = |done: &[bool]| {
                done.iter().position(|d| !d).map_or(base + n as i64, |i| base + i as i64)
            };
            prop_assert_eq!(t.committable(&tp), Some(expected(&done)));
            for idx in order {
                let i = idx.index(n);
                done[i] = true;
                t.finish(&tp, base + i as i64);
                prop_assert_eq!(t.committable(&tp), Some(expected(&done)));
                prop_assert_eq!(t.open(&tp), done.iter().filter(|d| !**d).count());
            }
        }
    }

    #[test]
    fn take_changed_reports_each_move_once() {
        let a = TopicPartition::new("t", 0);
        let b = TopicPartition::new("t", 1);
        let mut t = OffsetTracker::default();
        t.begin(&a, 0);
        t.begin(&b, 5);
        assert_eq!(t.take_changed(), vec![(a.clone(), 0), (b.clone(), 5)]);
        assert!(t.take_changed().is_empty());
        t.finish(&a, 0);
        assert_eq!(t.take_changed(), vec![(a.clone(), 1)]);
        t.forget(&a);
        t.finish(&a, 1); // ignored
        assert_eq!(t.committable(&a), None);
    }

    #[test]
    fn a_seek_back_resets_the_partition() {
        let tp = TopicPartition::new("t", 0);
        let mut t = OffsetTracker::default();
        t.begin(&tp, 7);
        t.begin(&tp, 8);
        t.begin(&tp, 3);
        assert_eq!(t.open(&tp), 1);
        assert_eq!(t.committable(&tp), Some(3));
    }
}
