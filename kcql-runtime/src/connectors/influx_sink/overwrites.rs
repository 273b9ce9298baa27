//! Points of one write that overwrite each other.
//!
//! InfluxDB identifies a point by its series (measurement and tag set) and its time: a second
//! point with both equal is not added but merged into the first, field by field, the later
//! value winning, and the write still succeeds. With the sink's default time (the Kafka
//! record timestamp, in milliseconds) two records of one series in the same millisecond thus
//! become one point, and the first record's values are gone without a trace.
//!
//! [`OverwriteDetector`] finds, among the lines of one write, every line that replaces a field
//! value set by an earlier line of the same series and time. Not counted, because nothing is
//! lost: a line that only adds fields the earlier ones lack (two statements writing different
//! fields of one point merge into it), and a field set again to the same value (a duplicated
//! record). Cost: one hash of the series key and the timestamp per line; lines are parsed only
//! when that hash was already seen in the write, so a write without collisions pays nothing
//! more.
//!
//! Limit: only one write is seen. A point written over one of an earlier write (another batch,
//! worker or process) is not detected, since InfluxDB gives no sign of it; this is also what
//! makes a replayed record harmless (it overwrites its own point with the same values).
//!
//! [`WarnOnce`] remembers which series were already named in a warning, up to a bound, so the
//! log gets one line per series, not one per point.

use std::collections::hash_map::Entry;
use std::collections::HashSet;
use std::hash::Hasher;
use std::sync::{Mutex, PoisonError};

use rustc_hash::{FxHashMap, FxHasher};

use crate::connectors::influx_sink::influx::Lines;
use crate::connectors::influx_sink::line_protocol::parse::{sections, FieldPairs, Sections};

/// One line that replaced field values of an earlier line of the same write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overwrite {
    /// The line (index in the write) whose values InfluxDB keeps.
    pub line: usize,
    /// The earlier line one of whose values it replaced.
    pub replaced: usize,
    /// A hash of the series key (measurement and tags), to warn once per series.
    pub series: u64,
}

/// Finds overwriting lines in writes, reusing its table from one write to the next.
#[derive(Debug, Default)]
pub(crate) struct OverwriteDetector {
    /// Per (series, time) hash of the current write: the first line with it.
    first: FxHashMap<u64, u32>,
}

/// The lines of one write sharing a series and a time, merged as InfluxDB merges them.
struct Point<'a> {
    series: &'a [u8],
    timestamp: &'a [u8],
    /// Every field set so far: key, value, and the line that set it.
    fields: Vec<(&'a [u8], &'a [u8], usize)>,
}

impl<'a> Point<'a> {
    fn new(s: Sections<'a>, line: usize) -> Self {
        let mut p = Point {
            series: s.series,
            timestamp: s.timestamp,
            fields: Vec::new(),
        };
        p.merge(s.fields, line);
        p
    }

    /// Merges the field set of `line`; the earlier line whose value it replaced, if any.
    fn merge(&mut self, fields: &'a [u8], line: usize) -> Option<usize> {
        let mut replaced = None;
        for (key, value) in FieldPairs::new(fields) {
            match self.fields.iter_mut().find(|(k, _, _)| *k == key) {
                Some(slot) => {
                    if slot.1 != value {
                        replaced.get_or_insert(slot.2);
                    }
                    *slot = (key, value, line);
                }
                None => self.fields.push((key, value, line)),
            }
        }
        replaced
    }
}

impl OverwriteDetector {
    /// The lines of `lines` that replace a field value of an earlier line with the same series
    /// and time, in line order. Lines listed in `skip` (sorted; e.g. the ones InfluxDB
    /// refused) are ignored.
    pub(crate) fn find(&mut self, lines: Lines<'_>, skip: &[usize]) -> Vec<Overwrite> {
        self.first.clear();
        let mut points: FxHashMap<u64, Point<'_>> = FxHashMap::default();
        let mut found = Vec::new();
        for i in 0..lines.len() {
            if skip.binary_search(&i).is_ok() {
                continue;
            }
            let Some(s) = sections(lines.line(i)) else {
                continue;
            };
            let series = hash_bytes(s.series);
            let mut h = FxHasher::default();
            h.write_u64(series);
            h.write(s.timestamp);
            let key = h.finish();
            let first = match self.first.entry(key) {
                Entry::Vacant(e) => {
                    e.insert(i as u32);
                    continue;
                }
                Entry::Occupied(e) => *e.get() as usize,
            };
            let point = points.entry(key).or_insert_with(|| {
                let earlier = sections(lines.line(first));
                Point::new(earlier.unwrap_or(s), first)
            });
            // Equal hashes of different points: not a collision.
            if point.series != s.series || point.timestamp != s.timestamp {
                continue;
            }
            if let Some(replaced) = point.merge(s.fields, i) {
                found.push(Overwrite {
                    line: i,
                    replaced,
                    series,
                });
            }
        }
        found
    }
}

fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(bytes);
    h.finish()
}

/// What [`WarnOnce::first`] says about a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Warn {
    /// Not named before: warn about it.
    Series,
    /// Already named: say nothing.
    Quiet,
    /// The bound was reached just now: say that later series are not named.
    LimitReached,
}

/// The series already named in a warning, at most `limit` of them (shared by the workers).
#[derive(Debug)]
pub(crate) struct WarnOnce {
    warned: Mutex<HashSet<u64>>,
    limit: usize,
}

/// How many series [`WarnOnce`] names before it falls silent (8 bytes each).
pub(crate) const WARNED_SERIES_LIMIT: usize = 10_000;

impl WarnOnce {
    /// Remembers up to `limit` series.
    pub(crate) fn new(limit: usize) -> Self {
        WarnOnce {
            warned: Mutex::default(),
            limit,
        }
    }

    /// Whether to warn about `series` (a hash of its key).
    pub(crate) fn first(&self, series: u64) -> Warn {
        let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        if warned.contains(&series) {
            Warn::Quiet
        } else if warned.len() < self.limit {
            warned.insert(series);
            Warn::Series
        } else if warned.len() == self.limit {
            // One marker beyond the limit, so the notice is given once.
            warned.insert(series);
            Warn::LimitReached
        } else {
            Warn::Quiet
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::influx_sink::influx::{BatchLimits, Batcher};
    use std::time::{Duration, Instant};

    /// The overwrites among `lines` as (line, replaced) pairs.
    fn overwrites(lines: &[&str], skip: &[usize]) -> Vec<(usize, usize)> {
        let mut b = Batcher::new(BatchLimits {
            max_lines: 1000,
            max_bytes: 1 << 20,
            linger: Duration::from_secs(1),
        });
        for l in lines {
            b.push_line(l.as_bytes(), Instant::now());
        }
        let (lines, _) = b.take();
        OverwriteDetector::default()
            .find(lines, skip)
            .into_iter()
            .map(|o| (o.line, o.replaced))
            .collect()
    }

    #[test]
    fn same_series_and_time_with_another_value_is_an_overwrite() {
        assert_eq!(overwrites(&["m,id=a v=1 5", "m,id=a v=2 5"], &[]), [(1, 0)]);
        assert_eq!(
            overwrites(&["m,id=a v=1,w=1i 5", "m,id=a w=2i 5", "m,id=a v=3 5"], &[]),
            [(1, 0), (2, 0)],
            "each line replacing a value counts, naming the line that set it"
        );
        assert_eq!(
            overwrites(&["m,id=a v=1 5", "m,id=a v=2 5", "m,id=a v=3 5"], &[]),
            [(1, 0), (2, 1)]
        );
        assert_eq!(
            overwrites(&["m s=\"a b, c=d\" 5", "m s=\"a b, c=e\" 5"], &[]),
            [(1, 0)],
            "string values with spaces and commas"
        );
    }

    #[test]
    fn other_series_other_times_merges_and_duplicates_are_not() {
        let none: [(usize, usize); 0] = [];
        for lines in [
            &["m,id=a v=1 5", "m,id=a v=2 6"][..],
            &["m,id=a v=1 5", "m,id=b v=2 5"],
            &["m,id=a v=1 5", "n,id=a v=2 5"],
            &["m,id=a v=1 5", "m v=2 5"],
            &["m,id=a v=1 5", "m,id=a,k=x v=2 5"],
            &["m,id=a v=1 5", "m,id=a w=2 5"],
            &["m,id=a v=1 5", "m,id=a v=1 5"],
            &["m,id=a v=1 5", "m,id=a\\ b v=2 5"],
            &["my\\ m v=1 5", "my m v=2 5"],
        ] {
            assert_eq!(overwrites(lines, &[]), none, "{lines:?}");
        }
    }

    #[test]
    fn skipped_lines_neither_overwrite_nor_are_overwritten() {
        let lines = ["m,id=a v=1 5", "m,id=a v=2 5", "m,id=a v=3 5"];
        assert_eq!(overwrites(&lines, &[1]), [(2, 0)]);
        assert_eq!(overwrites(&lines, &[0, 2]), []);
        assert_eq!(overwrites(&lines, &[0]), [(2, 1)]);
    }

    #[test]
    fn the_detector_forgets_the_previous_write() {
        let mut b = Batcher::new(BatchLimits {
            max_lines: 10,
            max_bytes: 1 << 20,
            linger: Duration::from_secs(1),
        });
        let mut d = OverwriteDetector::default();
        b.push_line(b"m v=1 5", Instant::now());
        assert!(d.find(b.take().0, &[]).is_empty());
        b.push_line(b"m v=2 5", Instant::now());
        assert!(d.find(b.take().0, &[]).is_empty(), "another write");
    }

    #[test]
    fn warnings_once_per_series_up_to_a_limit() {
        let w = WarnOnce::new(2);
        assert_eq!(w.first(1), Warn::Series);
        assert_eq!(w.first(1), Warn::Quiet);
        assert_eq!(w.first(2), Warn::Series);
        assert_eq!(w.first(3), Warn::LimitReached);
        assert_eq!(w.first(4), Warn::Quiet);
        assert_eq!(w.first(3), Warn::Quiet);
        assert_eq!(w.first(2), Warn::Quiet);
    }
}
