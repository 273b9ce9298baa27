//! Exponential back-off with full jitter.
//!
//! The `n`-th delay (0-based) is uniform in `[0, min(max, base · 2ⁿ)]` ("full jitter", as in
//! AWS's *Exponential Backoff and Jitter*): many writers failing together spread their retries
//! instead of hammering a recovering server in lock-step. The random numbers come from
//! SplitMix64, so a [`Backoff::with_seed`] sequence is reproducible (tests); [`Backoff::new`]
//! seeds from the process's hash randomness and the clock.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Delays between retries: exponential, capped, fully jittered.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    state: u64,
}

impl Backoff {
    /// A back-off starting at `base` and capped at `max`, randomly seeded.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self::with_seed(base, max, random_seed())
    }

    /// A back-off whose delays are a deterministic function of `seed`.
    pub fn with_seed(base: Duration, max: Duration, seed: u64) -> Self {
        Backoff {
            base,
            max,
            attempt: 0,
            state: seed,
        }
    }

    /// The upper bound of the next delay: `min(max, base · 2^attempts)`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32 << self.attempt.min(31);
        self.base
            .checked_mul(factor)
            .map_or(self.max, |d| d.min(self.max))
    }

    /// The next delay, uniform in `[0, ceiling()]`; counts one attempt.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = u64::try_from(self.ceiling().as_nanos()).unwrap_or(u64::MAX);
        self.attempt = self.attempt.saturating_add(1);
        let r = self.next_u64();
        // Uniform in [0, ceiling] without modulo bias worth mentioning: (r · (c+1)) >> 64.
        let span = u128::from(ceiling) + 1;
        let nanos = ((u128::from(r) * span) >> 64) as u64;
        Duration::from_nanos(nanos)
    }

    /// The next delay without jitter, [`ceiling`](Self::ceiling); counts one attempt. For a
    /// lone caller with no herd of peers to spread out (the endpoint's accept loop).
    pub fn next_ceiling(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        ceiling
    }

    /// The delay before retrying after a failure that may carry a server `Retry-After`: the
    /// larger of [`next_delay`](Self::next_delay) and `retry_after` (itself capped at `max`,
    /// so a bogus header cannot stall the caller for hours).
    pub fn delay_after(&mut self, retry_after: Option<Duration>) -> Duration {
        let jittered = self.next_delay();
        match retry_after {
            Some(ra) => jittered.max(ra.min(self.max)),
            None => jittered,
        }
    }

    /// How many delays were handed out since creation or the last [`reset`](Self::reset).
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The same back-off as if `attempt` delays had been handed out already (for a retry whose
    /// attempt count is kept elsewhere, e.g. per record).
    pub fn at_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// Starts over at `base` (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// SplitMix64.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn random_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(d) = SystemTime::now().duration_since(UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn same_seed_same_delays() {
        let mut a = Backoff::with_seed(100 * MS, 10_000 * MS, 42);
        let mut b = Backoff::with_seed(100 * MS, 10_000 * MS, 42);
        let da: Vec<_> = (0..20).map(|_| a.next_delay()).collect();
        let db: Vec<_> = (0..20).map(|_| b.next_delay()).collect();
        assert_eq!(da, db);
        let mut c = Backoff::with_seed(100 * MS, 10_000 * MS, 43);
        let dc: Vec<_> = (0..20).map(|_| c.next_delay()).collect();
        assert_ne!(da, dc);
    }

    #[test]
    fn ceilings_double_then_cap() {
        let mut b = Backoff::with_seed(100 * MS, 1_000 * MS, 7);
        let mut ceilings = Vec::new();
        for _ in 0..6 {
            ceilings.push(b.ceiling());
            let d = b.next_delay();
            assert!(d <= *ceilings.last().unwrap());
        }
        assert_eq!(
            ceilings,
            [100 * MS, 200 * MS, 400 * MS, 800 * MS, 1000 * MS, 1000 * MS]
        );
        assert_eq!(b.attempts(), 6);
        b.reset();
        assert_eq!(b.ceiling(), 100 * MS);
    }

    #[test]
    fn unjittered_delays_are_the_ceilings() {
        let mut b = Backoff::with_seed(MS, 5 * MS, 1);
        let delays: Vec<_> = (0..5).map(|_| b.next_ceiling()).collect();
        assert_eq!(delays, [MS, 2 * MS, 4 * MS, 5 * MS, 5 * MS]);
        b.reset();
        assert_eq!(b.next_ceiling(), MS);
    }

    #[test]
    fn huge_attempt_counts_stay_capped() {
        let mut b = Backoff::with_seed(Duration::from_secs(1), Duration::from_secs(30), 1);
        for _ in 0..10_000 {
            assert!(b.next_delay() <= Duration::from_secs(30));
        }
        let mut b = Backoff::with_seed(Duration::MAX, Duration::MAX, 1);
        b.next_delay();
        b.next_delay();
        assert_eq!(b.ceiling(), Duration::MAX);
    }

    #[test]
    fn jitter_spreads_over_the_whole_range() {
        let mut b = Backoff::with_seed(1000 * MS, 1000 * MS, 99);
        let delays: Vec<_> = (0..2000).map(|_| b.next_delay()).collect();
        let low = delays.iter().filter(|d| **d < 250 * MS).count();
        let high = delays.iter().filter(|d| **d > 750 * MS).count();
        // Uniform: about 500 each.
        assert!((400..600).contains(&low), "low={low}");
        assert!((400..600).contains(&high), "high={high}");
    }

    #[test]
    fn retry_after_is_a_floor_capped_at_max() {
        let mut b = Backoff::with_seed(MS, 5_000 * MS, 3);
        assert!(b.delay_after(Some(2_000 * MS)) >= 2_000 * MS);
        assert_eq!(b.delay_after(Some(Duration::from_secs(3600))), 5_000 * MS);
        assert!(b.delay_after(None) <= 4 * MS);
    }

    #[test]
    fn zero_base_gives_zero_delays() {
        let mut b = Backoff::with_seed(Duration::ZERO, Duration::ZERO, 5);
        assert_eq!(b.next_delay(), Duration::ZERO);
    }
}
