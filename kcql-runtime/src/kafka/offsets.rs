//! The contiguous offset watermark.
//!
//! A partition's offset may be committed only up to the first record that is not finished
//! (written, or deliberately skipped): records finish out of order (several targets, retries),
//! but the committed offset never passes an unfinished one. [`OffsetTracker`] keeps, per
//! partition, the offsets read and not yet finished, in read order.
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

#[derive(Debug, Default)]
struct Partition {
    /// Offsets read and their "finished" flag, ascending.
    open: VecDeque<(i64, bool)>,
    /// One past the highest offset read.
    next: Option<i64>,
    /// The offset last reported by [`OffsetTracker::take_changed`].
    reported: Option<i64>,
}

impl Partition {
    fn committable(&self) -> Option<i64> {
        match self.open.front() {
            Some((o, _)) => Some(*o),
            None => self.next,
        }
    }
}

/// Per partition: which offsets were read and which of them are finished.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    parts: HashMap<TopicPartition, Partition>,
}

impl OffsetTracker {
    /// Records that `offset` was read (offsets of a partition are begun in ascending order;
    /// one lower than the last is treated as a re-read after a seek and resets the partition).
    pub fn begin(&mut self, tp: &TopicPartition, offset: i64) {
        let part = match self.parts.get_mut(tp) {
            Some(p) => p,
            None => self.parts.entry(tp.clone()).or_default(),
        };
        if part.next.is_some_and(|n| offset < n) {
            part.open.clear();
        }
        part.open.push_back((offset, false));
        part.next = Some(offset + 1);
    }

    /// Records that `offset` is finished (written or deliberately skipped). Unknown offsets
    /// (e.g. of a partition forgotten at revocation) are ignored.
    pub fn finish(&mut self, tp: &TopicPartition, offset: i64) {
        let Some(part) = self.parts.get_mut(tp) else {
            return;
        };
        if let Ok(i) = part.open.binary_search_by_key(&offset, |(o, _)| *o) {
            part.open[i].1 = true;
        }
        while part.open.front().is_some_and(|(_, done)| *done) {
            part.open.pop_front();
        }
    }

    /// The offset to commit for `tp` (the next record to read after a restart): the first
    /// unfinished offset, else one past the last read. `None` when nothing was read.
    pub fn committable(&self, tp: &TopicPartition) -> Option<i64> {
        self.parts.get(tp).and_then(Partition::committable)
    }

    /// How many offsets of `tp` are read and not finished.
    pub fn open(&self, tp: &TopicPartition) -> usize {
        self.parts.get(tp).map_or(0, |p| p.open.len())
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
