//! Accumulating encoded lines into write bodies. Pure data: no I/O, no clock of its own (the
//! caller passes `now`), so it is trivially testable and usable from any runtime.

use std::time::Instant;

use super::config::BatchLimits;

/// Collects line-protocol lines into one reused buffer until the batch is full or its linger
/// time is over.
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
/// let (body, lines) = b.take();
/// assert_eq!((body, lines), (&b"m v=1i 1\nm v=2i 2\n"[..], 2));
/// ```
#[derive(Debug)]
pub struct Batcher {
    limits: BatchLimits,
    buf: Vec<u8>,
    lines: usize,
    first_at: Option<Instant>,
    /// `take` handed out `buf`; it is cleared on the next append.
    taken: bool,
}

impl Batcher {
    /// An empty batcher with these limits.
    pub fn new(limits: BatchLimits) -> Self {
        Batcher {
            limits,
            buf: Vec::new(),
            lines: 0,
            first_at: None,
            taken: false,
        }
    }

    /// The limits this batcher applies.
    pub fn limits(&self) -> BatchLimits {
        self.limits
    }

    /// Appends one line through `write`, which gets the body buffer and must append exactly one
    /// line (a trailing `\n` is added if it leaves none). If `write` fails, whatever it
    /// appended is removed and its error returned. Returns whether a line was added (`write`
    /// appending nothing adds none). `now` starts the linger clock of an empty batch.
    pub fn append_with<E>(
        &mut self,
        now: Instant,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<bool, E> {
        self.reset_if_taken();
        let mark = self.buf.len();
        if let Err(e) = write(&mut self.buf) {
            self.buf.truncate(mark);
            return Err(e);
        }
        if self.buf.len() == mark {
            return Ok(false);
        }
        if self.buf.last() != Some(&b'\n') {
            self.buf.push(b'\n');
        }
        self.lines += 1;
        self.first_at.get_or_insert(now);
        Ok(true)
    }

    /// Appends a copy of one encoded line (a trailing `\n` is added if missing; an empty line
    /// is ignored).
    pub fn push_line(&mut self, line: &[u8], now: Instant) {
        // The closure cannot fail.
        let _ = self.append_with(now, |buf| {
            buf.extend_from_slice(line);
            Ok::<(), std::convert::Infallible>(())
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
            self.lines
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

    /// Hands out the current batch: the body (newline-terminated lines) and its line count.
    /// The batcher is empty afterwards, but the bytes stay valid (and the allocation is kept)
    /// until the next append or [`clear`](Self::clear), so the caller can retry the write with
    /// the same slice.
    pub fn take(&mut self) -> (&[u8], usize) {
        if self.taken {
            return (&[], 0);
        }
        self.taken = true;
        self.first_at = None;
        (&self.buf, self.lines)
    }

    /// Drops the current (or taken) batch, keeping the allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.lines = 0;
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

    fn limits(max_lines: usize, max_bytes: usize, linger_ms: u64) -> BatchLimits {
        BatchLimits {
            max_lines,
            max_bytes,
            linger: Duration::from_millis(linger_ms),
        }
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
        assert_eq!(b.take(), (&b"m v=0i\nm v=1i\nm v=2i\n"[..], 3));
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
        b.take();
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
            let (body, n) = b.take();
            assert_eq!((body, n), (&b"m v=1i 1\n"[..], 1));
            body.as_ptr()
        };
        assert!(b.is_empty());
        assert_eq!(b.bytes(), 0);
        assert_eq!(b.take(), (&b""[..], 0), "a second take hands out nothing");
        b.push_line(b"m v=2i 2", t);
        let (body, n) = b.take();
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
        assert_eq!(b.append_with(t, |_| Ok::<(), ()>(())), Ok(false));
        b.push_line(b"", t);
        assert_eq!(
            b.append_with(t, |buf| {
                buf.extend_from_slice(b"b v=2i\n");
                Ok::<(), ()>(())
            }),
            Ok(true)
        );
        assert_eq!(b.take(), (&b"a v=1i\nb v=2i\n"[..], 2));
    }

    #[test]
    fn clear_drops_everything() {
        let mut b = Batcher::new(limits(100, 1 << 20, 1000));
        let t = Instant::now();
        b.push_line(b"a v=1i", t);
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.deadline(), None);
        assert_eq!(b.take(), (&b""[..], 0));
    }
}
