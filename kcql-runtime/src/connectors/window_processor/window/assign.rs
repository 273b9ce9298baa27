//! Which windows an event time falls into.
//!
//! Windows are aligned to the epoch (like Kafka Streams): a tumbling window of size `s` starts at
//! every multiple of `s`; a hopping window of size `s` and advance `a` starts at every multiple
//! of `a`. A window `[start, end)` contains the times `start <= t < end`.

use kcql::ast::{Window, WindowKind, MAX_WINDOWS_PER_RECORD};

/// A route's window shape in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowShape {
    /// Window length.
    pub size_ms: i64,
    /// Distance between window starts (`size_ms` for tumbling windows).
    pub advance_ms: i64,
    /// `GRACE`: how far the watermark must pass a window's end before it closes.
    pub grace_ms: i64,
}

impl WindowShape {
    /// The shape of a planned `WINDOW` clause. Durations beyond `i64::MAX` ms are clamped (the
    /// parser's durations are far smaller); zero sizes are rejected by the compiler and read
    /// as 1 ms here so assignment always terminates. The window must put each record in at
    /// most [`MAX_WINDOWS_PER_RECORD`] windows (the compiler and the engine refuse others).
    pub fn of(window: &Window) -> WindowShape {
        debug_assert!(
            window.kind.windows_per_record() <= MAX_WINDOWS_PER_RECORD,
            "{window}: more than {MAX_WINDOWS_PER_RECORD} windows per record"
        );
        let ms = |millis: u64| i64::try_from(millis).unwrap_or(i64::MAX).max(1);
        let (size_ms, advance_ms) = match window.kind {
            WindowKind::Tumbling { size } => (ms(size.millis), ms(size.millis)),
            WindowKind::Hopping { size, advance } => {
                let size = ms(size.millis);
                (size, ms(advance.millis).min(size))
            }
        };
        WindowShape {
            size_ms,
            advance_ms,
            grace_ms: window
                .grace
                .map_or(0, |g| i64::try_from(g.millis).unwrap_or(i64::MAX)),
        }
    }

    /// The start times of every window containing `t`, newest first; `None` when a window
    /// boundary would overflow the 64-bit millisecond range.
    pub fn starts(&self, t: i64) -> Option<impl Iterator<Item = i64>> {
        let newest = t.checked_sub(t.rem_euclid(self.advance_ms))?;
        // The oldest start still containing t is > t - size.
        let lowest = t.checked_sub(self.size_ms)?;
        newest.checked_add(self.size_ms)?;
        let step = self.advance_ms;
        Some(
            std::iter::successors(Some(newest), move |s| s.checked_sub(step))
                .take_while(move |s| *s > lowest),
        )
    }

    /// The end of the window starting at `start`.
    pub fn end(&self, start: i64) -> i64 {
        start.saturating_add(self.size_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kcql::ast::Duration;

    fn shape(size: u64, advance: u64) -> WindowShape {
        WindowShape::of(&Window {
            kind: WindowKind::Hopping {
                size: Duration { millis: size },
                advance: Duration { millis: advance },
            },
            grace: None,
        })
    }

    #[test]
    fn tumbling_windows_hold_each_time_once() {
        let s = shape(2000, 2000);
        assert_eq!(s.starts(0).unwrap().collect::<Vec<_>>(), [0]);
        assert_eq!(s.starts(1999).unwrap().collect::<Vec<_>>(), [0]);
        assert_eq!(s.starts(2000).unwrap().collect::<Vec<_>>(), [2000]);
        assert_eq!(s.starts(-1).unwrap().collect::<Vec<_>>(), [-2000]);
    }

    #[test]
    fn hopping_windows_hold_each_time_size_over_advance_times() {
        let s = shape(10_000, 5_000);
        assert_eq!(
            s.starts(12_000).unwrap().collect::<Vec<_>>(),
            [10_000, 5_000]
        );
        assert_eq!(
            s.starts(10_000).unwrap().collect::<Vec<_>>(),
            [10_000, 5_000]
        );
        let s = shape(10, 3);
        for t in -50..50 {
            let starts: Vec<i64> = s.starts(t).unwrap().collect();
            let expected: Vec<i64> = (-70..70)
                .rev()
                .filter(|st: &i64| st.rem_euclid(3) == 0 && *st <= t && t < st + 10)
                .collect();
            assert_eq!(starts, expected, "t={t}");
        }
    }

    #[test]
    fn extreme_times_are_refused_not_wrapped() {
        assert!(shape(2000, 2000).starts(i64::MIN).is_none());
        assert!(shape(2000, 2000).starts(i64::MAX).is_none());
    }
}
