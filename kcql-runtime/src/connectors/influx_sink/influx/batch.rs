//! Accumulating encoded lines into write bodies, keeping where each line lies and where it
//! came from. Pure data: no I/O, no clock of its own (the caller passes `now`), so it is
//! trivially testable and usable from any runtime.

use std::ops::Range;
use std::time::Instant;

use bytes::Bytes;

use super::config::BatchLimits;

/// Where a line came from, in the caller's numbering: the record that produced it and its
/// measurement. The batcher only keeps it beside the line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Origin {
    /// The record (e.g. its index among the records of the batch).
    pub owner: u32,
    /// The measurement (e.g. an index into the caller's list of names).
    pub measurement: u32,
}

/// Newline-separated line-protocol lines and the byte range of each (without its `\n`): what
/// the [`InfluxWriter`](super::InfluxWriter) writes. Line `i` is `body[ranges[i]]`; a line may
/// hold a newline of its own (inside a string field value), so the lines are known from the
/// ranges, never from the newlines.
#[derive(Debug, Clone, Copy)]
pub struct Lines<'a> {
    body: &'a [u8],
    ranges: &'a [Range<usize>],
    /// `body` as a shared buffer, when it is one (a [`Batcher`]'s batch): a request sends it
    /// without copying it.
    shared: Option<&'a Bytes>,
}

/// Lines are equal when their bytes and ranges are, however the body is held.
impl PartialEq for Lines<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.body == other.body && self.ranges == other.ranges
    }
}

impl Eq for Lines<'_> {}

impl<'a> Lines<'a> {
    /// `body` cut into lines at `ranges`, which must cover it exactly in order: the first
    /// starts at 0, each ends at a `\n` the next starts right after, and the last ends at the
    /// end of the body or at its final `\n`. `None` when they do not.
    pub fn new(body: &'a [u8], ranges: &'a [Range<usize>]) -> Option<Self> {
        let mut at = 0;
        for r in ranges {
            if r.start != at || r.end < r.start || r.end > body.len() {
                return None;
            }
            at = r.end + 1;
            if r.end < body.len() && body[r.end] != b'\n' {
                return None;
            }
        }
        (at >= body.len()).then_some(Lines {
            body,
            ranges,
            shared: None,
        })
    }

    /// No checks: for parts built line by line (a `\n` after each).
    pub(crate) fn from_parts(body: &'a [u8], ranges: &'a [Range<usize>]) -> Self {
        debug_assert!(Lines::new(body, ranges).is_some());
        Lines {
            body,
            ranges,
            shared: None,
        }
    }

    /// The body as an owned request body: the shared buffer itself when there is one (no
    /// copy), else a copy.
    pub(crate) fn owned_body(&self) -> Bytes {
        match self.shared {
            Some(shared) => shared.clone(),
            None => Bytes::copy_from_slice(self.body),
        }
    }

    /// The whole body, as sent.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The byte range of every line (without its `\n`).
    pub fn ranges(&self) -> &'a [Range<usize>] {
        self.ranges
    }

    /// Line `i` (without its `\n`).
    pub fn line(&self, i: usize) -> &'a [u8] {
        &self.body[self.ranges[i].clone()]
    }

    /// How many lines.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// `true` when there is no line.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// The byte ranges of `body` cut at every newline: the lines of a body in which no line holds
/// a newline of its own (tests and fuzz targets build [`Lines`] from them).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn newline_ranges(body: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &c) in body.iter().enumerate() {
        if c == b'\n' {
            out.push(start..i);
            start = i + 1;
        }
    }
    if start < body.len() {
        out.push(start..body.len());
    }
    out
}

/// Collects line-protocol lines into one reused buffer until the batch is full or its linger
/// time is over, with each line's byte range and [`Origin`] (in vectors reused as well).
///
/// ```
/// use std::time::{Duration, Instant};
/// use kcql_runtime::connectors::influx_sink::influx::{BatchLimits, Batcher};
///
/// let mut b = Batcher::new(BatchLimits { max_lines: 2, max_bytes: 1 << 20, linger: Duration::from_secs(1) });
/// let now = Instant::now();
/// b.push_line(b"m v=1i 1", now);
/// assert!(!b.is_due(now));
/// b.push_line(b"m v=2i 2\n", now);
/// assert!(b.is_due(now));
/// let (lines, _origins) = b.take();
/// assert_eq!(lines.body(), b"m v=1i 1\nm v=2i 2\n");
/// assert_eq!(lines.ranges(), [0..8, 9..17]);
/// ```
#[derive(Debug)]
pub struct Batcher {
    limits: BatchLimits,
    buf: Vec<u8>,
    /// The taken batch's body: `buf` handed over (not copied) so that a request can own it;
    /// taken back into `buf` when the batch is cleared.
    frozen: Bytes,
    /// Per line: its bytes in `buf` (without the `\n`) and where it came from.
    ranges: Vec<Range<usize>>,
    origins: Vec<Origin>,
    first_at: Option<Instant>,
    /// `take` handed out the batch; it is cleared on the next append.
    taken: bool,
}

impl Batcher {
    /// An empty batcher with these limits.
    pub fn new(limits: BatchLimits) -> Self {
        Batcher {
            limits,
            buf: Vec::new(),
            frozen: Bytes::new(),
            ranges: Vec::new(),
            origins: Vec::new(),
            first_at: None,
            taken: false,
        }
    }

    /// The limits this batcher applies.
    pub fn limits(&self) -> BatchLimits {
        self.limits
    }

    /// Appends one line through `write`, which gets the body buffer, must append at most one
    /// line (a trailing `\n` is added if it leaves none), and returns the line's origin, or
    /// `None` having appended nothing (anything it appended is then removed). If `write`
    /// fails, whatever it appended is removed and its error returned. Returns whether a line
    /// was added (appending no byte adds none). `now` starts the linger clock of an empty
    /// batch.
    pub fn append_with<E>(
        &mut self,
        now: Instant,
        write: impl FnOnce(&mut Vec<u8>) -> Result<Option<Origin>, E>,
    ) -> Result<bool, E> {
        self.reset_if_taken();
        let mark = self.buf.len();
        let origin = match write(&mut self.buf) {
            Ok(Some(origin)) if self.buf.len() > mark => origin,
            Ok(_) => {
                self.buf.truncate(mark);
                return Ok(false);
            }
            Err(e) => {
                self.buf.truncate(mark);
                return Err(e);
            }
        };
        let end = match self.buf.last() {
            Some(b'\n') => self.buf.len() - 1,
            _ => {
                self.buf.push(b'\n');
                self.buf.len() - 1
            }
        };
        self.ranges.push(mark..end);
        self.origins.push(origin);
        self.first_at.get_or_insert(now);
        Ok(true)
    }

    /// Appends a copy of one encoded line (a trailing `\n` is added if missing; an empty line
    /// is ignored), of the default [`Origin`].
    pub fn push_line(&mut self, line: &[u8], now: Instant) {
        // The closure cannot fail.
        let _ = self.append_with(now, |buf| {
            buf.extend_from_slice(line);
            Ok::<_, std::convert::Infallible>(Some(Origin::default()))
        });
    }

    /// The current batch's body so far (empty once taken).
    pub fn body(&self) -> &[u8] {
        if self.taken {
            &[]
        } else {
            &self.buf
        }
    }

    /// Lines in the current batch.
    pub fn lines(&self) -> usize {
        if self.taken {
            0
        } else {
            self.ranges.len()
        }
    }

    /// Bytes in the current batch.
    pub fn bytes(&self) -> usize {
        if self.taken {
            0
        } else {
            self.buf.len()
        }
    }

    /// `true` when the current batch holds no line.
    pub fn is_empty(&self) -> bool {
        self.lines() == 0
    }

    /// `true` when the batch reached `max_lines` or `max_bytes`.
    pub fn is_full(&self) -> bool {
        !self.is_empty()
            && (self.lines() >= self.limits.max_lines || self.bytes() >= self.limits.max_bytes)
    }

    /// When the current batch becomes due by linger time (`None` when empty). Sleep until
    /// then, e.g. with `tokio::time::sleep_until`.
    pub fn deadline(&self) -> Option<Instant> {
        if self.is_empty() {
            return None;
        }
        self.first_at
            .map(|t| t.checked_add(self.limits.linger).unwrap_or(t))
    }

    /// `true` when the batch should be sent now: it is full, or it is non-empty and its first
    /// line arrived at least `linger` before `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        self.is_full() || self.deadline().is_some_and(|d| now >= d)
    }

    /// Hands out the current batch: its lines (body and ranges) and the origin of each line.
    /// The batcher is empty afterwards, but they stay valid (and the allocations are kept)
    /// until the next append or [`clear`](Self::clear), so the caller can retry the write with
    /// the same lines.
    pub fn take(&mut self) -> (Lines<'_>, &[Origin]) {
        if self.taken {
            return (Lines::from_parts(&[], &[]), &[]);
        }
        self.taken = true;
        self.first_at = None;
        self.frozen = Bytes::from(std::mem::take(&mut self.buf));
        let lines = Lines {
            shared: Some(&self.frozen),
            ..Lines::from_parts(&self.frozen, &self.ranges)
        };
        (lines, &self.origins)
    }

    /// Drops the current (or taken) batch, keeping the allocations.
    pub fn clear(&mut self) {
        if self.taken {
            let frozen = std::mem::take(&mut self.frozen);
            // Back into `buf` unless a request still holds it (then a new buffer grows).
            self.buf = frozen.try_into_mut().map(Vec::from).unwrap_or_default();
        }
        self.buf.clear();
        self.ranges.clear();
        self.origins.clear();
        self.first_at = None;
        self.taken = false;
    }

    fn reset_if_taken(&mut self) {
        if self.taken {
            self.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The body and line count of a take.
    fn take(b: &mut Batcher) -> (&[u8], usize) {
        let (lines, origins) = b.take();
        assert_eq!(lines.len(), origins.len());
        (lines.body(), lines.len())
    }

    fn limits(max_lines: usize, max_bytes: usize, linger_ms: u64) -> BatchLimits {
        BatchLimits {
            max_lines,
            max_bytes,
            linger: Duration::from_millis(linger_ms),
        }
    }

    #[test]
    fn a_taken_body_is_shared_with_the_request_not_copied() {
        let mut b = Batcher::new(limits(10, 1 << 20, 1000));
        let t = Instant::now();
        b.push_line(b"m v=1i 1", t);
        let (lines, _) = b.take();
        let owned = lines.owned_body();
        assert_eq!(&owned[..], b"m v=1i 1\n");
        assert_eq!(owned.as_ptr(), lines.body().as_ptr());
        // Held by a request while the batch is cleared: the batcher grows a new buffer.
        b.clear();
        b.push_line(b"m v=2i 2", t);
        assert_eq!(&owned[..], b"m v=1i 1\n");
        assert_eq!(b.take().0.body(), b"m v=2i 2\n");
        drop(owned);
        b.clear();
        b.push_line(b"m v=3i 3", t);
        assert_eq!(take(&mut b), (&b"m v=3i 3\n"[..], 1));
        // Lines built from plain bytes are copied.
        let ranges = newline_ranges(b"m v=4i 4");
        let plain = Lines::new(b"m v=4i 4", &ranges).unwrap();
        assert_eq!(&plain.owned_body()[..], b"m v=4i 4");
    }

    #[test]
    fn full_by_lines() {
        let mut b = Batcher::new(limits(3, 1 << 20, 1000));
        let t = Instant::now();
        for i in 0..2 {
            b.push_line(format!("m v={i}i").as_bytes(), t);
            assert!(!b.is_full());
        }
        b.push_line(b"m v=2i", t);
        assert!(b.is_full() && b.is_due(t));
        assert_eq!(take(&mut b), (&b"m v=0i\nm v=1i\nm v=2i\n"[..], 3));
    }

    #[test]
    fn full_by_bytes() {
        let mut b = Batcher::new(limits(100, 10, 1000));
        let t = Instant::now();
        b.push_line(b"m v=1i", t); // 7 bytes
        assert!(!b.is_full());
        b.push_line(b"m v=2i", t); // 14 bytes: crosses 10, stays in the batch
        assert!(b.is_full());
        assert_eq!(b.bytes(), 14);
    }

    #[test]
    fn due_by_linger_from_first_line() {
        let mut b = Batcher::new(limits(100, 1 << 20, 500));
        let t0 = Instant::now();
        assert!(
            !b.is_due(t0 + Duration::from_secs(10)),
            "empty is never due"
        );
        assert_eq!(b.deadline(), None);
        b.push_line(b"m v=1i", t0);
        b.push_line(b"m v=2i", t0 + Duration::from_millis(400));
        assert_eq!(b.deadline(), Some(t0 + Duration::from_millis(500)));
        assert!(!b.is_due(t0 + Duration::from_millis(499)));
        assert!(b.is_due(t0 + Duration::from_millis(500)));
        take(&mut b);
        assert!(!b.is_due(t0 + Duration::from_secs(10)));
        let t1 = t0 + Duration::from_secs(20);
        b.push_line(b"m v=3i", t1);
        assert_eq!(b.deadline(), Some(t1 + Duration::from_millis(500)));
    }

    #[test]
    fn take_keeps_allocation_and_bytes_until_next_append() {
        let mut b = Batcher::new(limits(100, 1 << 20, 1000));
        let t = Instant::now();
        b.push_line(b"m v=1i 1\n", t);
        let cap = {
            let (body, n) = take(&mut b);
            assert_eq!((body, n), (&b"m v=1i 1\n"[..], 1));
            body.as_ptr()
        };
        assert!(b.is_empty());
        assert_eq!(b.bytes(), 0);
        assert_eq!(
            take(&mut b),
            (&b""[..], 0),
            "a second take hands out nothing"
        );
        b.push_line(b"m v=2i 2", t);
        let (body, n) = take(&mut b);
        assert_eq!((body, n), (&b"m v=2i 2\n"[..], 1));
        assert_eq!(body.as_ptr(), cap, "allocation reused");
    }

    #[test]
    fn failed_or_empty_appends_leave_the_batch_alone() {
        let mut b = Batcher::new(limits(100, 1 << 20, 1000));
        let t = Instant::now();
        b.push_line(b"a v=1i", t);
        let r = b.append_with(t, |buf| {
            buf.extend_from_slice(b"half a li");
            Err("boom")
        });
        assert_eq!(r, Err("boom"));
        assert_eq!(
            b.append_with(t, |_| Ok::<_, ()>(Some(Origin::default()))),
            Ok(false)
        );
        assert_eq!(
            b.append_with(t, |buf| {
                buf.extend_from_slice(b"filtered v=1i");
                Ok::<_, ()>(None)
            }),
            Ok(false)
        );
        b.push_line(b"", t);
        assert_eq!(
            b.append_with(t, |buf| {
                buf.extend_from_slice(b"b v=2i\n");
                Ok::<_, ()>(Some(Origin::default()))
            }),
            Ok(true)
        );
        assert_eq!(take(&mut b), (&b"a v=1i\nb v=2i\n"[..], 2));
    }

    #[test]
    fn clear_drops_everything() {
        let mut b = Batcher::new(limits(100, 1 << 20, 1000));
        let t = Instant::now();
        b.push_line(b"a v=1i", t);
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.deadline(), None);
        assert_eq!(take(&mut b), (&b""[..], 0));
    }

    #[test]
    fn lines_keep_their_ranges_and_origins() {
        let mut b = Batcher::new(limits(100, 1 << 20, 1000));
        let t = Instant::now();
        for (i, line) in ["a v=1i 1", "s s=\"x\ny\" 2\n", "b v=3i 3"]
            .iter()
            .enumerate()
        {
            let origin = Origin {
                owner: i as u32 * 10,
                measurement: i as u32,
            };
            let added = b.append_with(t, |buf| {
                buf.extend_from_slice(line.as_bytes());
                Ok::<_, ()>(Some(origin))
            });
            assert_eq!(added, Ok(true));
        }
        let (lines, origins) = b.take();
        assert_eq!(lines.ranges(), [0..8, 9..20, 21..29]);
        assert_eq!(
            lines.line(1),
            b"s s=\"x\ny\" 2",
            "a newline in a string stays inside"
        );
        assert_eq!(
            origins[2],
            Origin {
                owner: 20,
                measurement: 2
            }
        );
        let cap = (lines.ranges().as_ptr(), origins.as_ptr());
        b.push_line(b"c v=4i 4", t);
        let (lines, origins) = b.take();
        assert_eq!(lines.ranges().len(), 1);
        assert_eq!(
            (lines.ranges()[0].clone(), origins),
            (0..8, &[Origin::default()][..])
        );
        assert_eq!(
            (lines.ranges().as_ptr(), origins.as_ptr()),
            cap,
            "vectors reused"
        );
    }

    #[test]
    fn lines_must_cover_the_body() {
        let body = b"a 1\nbc 2\n";
        assert!(Lines::new(body, &[0..3, 4..8]).is_some());
        assert!(
            Lines::new(b"a 1\nbc 2", &[0..3, 4..8]).is_some(),
            "no final newline"
        );
        assert!(Lines::new(b"", &[]).is_some());
        let first_only = [Range { start: 0, end: 3 }];
        for bad in [
            &first_only[..],
            &[0..2, 3..8],
            &[0..3, 5..8],
            &[0..3, 4..10],
            &[],
        ] {
            assert!(Lines::new(body, bad).is_none(), "{bad:?}");
        }
    }
}
