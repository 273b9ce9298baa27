//! Where the endpoint's connections come from: [`Accept`] is implemented by the TCP listener,
//! and by tests' listeners whose `accept` fails on demand (an accept error such as `EMFILE`
//! cannot be provoked reliably in a test process).

use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

use crate::backoff::Backoff;

/// A source of accepted connections.
pub(in crate::endpoint) trait Accept: Send {
    /// The next connection, or why none could be accepted (the listener stays usable).
    fn accept(&mut self) -> impl Future<Output = io::Result<TcpStream>> + Send;
}

impl Accept for TcpListener {
    async fn accept(&mut self) -> io::Result<TcpStream> {
        TcpListener::accept(self).await.map(|(stream, _)| stream)
    }
}

/// The first pause after an accept error.
pub(in crate::endpoint) const FIRST_ACCEPT_PAUSE: Duration = Duration::from_millis(1);

/// The longest pause between accept attempts, and the shortest time between two log lines
/// about accept errors.
pub(in crate::endpoint) const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// What the accept loop does after an error: pause, and maybe log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::endpoint) struct AfterError {
    /// How long to pause before the next attempt.
    pub pause: Duration,
    /// `Some(n)`: log now, `n` errors happened since the last log line (this one included);
    /// `None`: stay quiet, one was logged less than [`MAX_ACCEPT_PAUSE`] ago.
    pub log: Option<u64>,
}

/// The accept loop's reaction to errors (e.g. `EMFILE` when the process is out of file
/// descriptors, which fails every accept at once until a descriptor is freed): pauses of 1 ms
/// doubling up to 1 s, back to 1 ms after a success, and a log line at most once a second.
#[derive(Debug)]
pub(in crate::endpoint) struct AcceptBackoff {
    pauses: Backoff,
    quiet_until: Option<Instant>,
    unlogged: u64,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff {
            pauses: Backoff::new(FIRST_ACCEPT_PAUSE, MAX_ACCEPT_PAUSE),
            quiet_until: None,
            unlogged: 0,
        }
    }
}

impl AcceptBackoff {
    /// An accept failed at `now`.
    pub fn failed(&mut self, now: Instant) -> AfterError {
        self.unlogged += 1;
        let log = match self.quiet_until {
            Some(until) if now < until => None,
            _ => {
                self.quiet_until = Some(now + MAX_ACCEPT_PAUSE);
                Some(std::mem::take(&mut self.unlogged))
            }
        };
        AfterError {
            pause: self.pauses.next_ceiling(),
            log,
        }
    }

    /// An accept succeeded: the next error pauses [`FIRST_ACCEPT_PAUSE`] again (the log
    /// stays limited to one line a second).
    pub fn succeeded(&mut self) {
        self.pauses.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn pauses_double_to_a_second_and_start_over_after_a_success() {
        let mut b = AcceptBackoff::default();
        let t0 = Instant::now();
        let pauses: Vec<Duration> = (0..12).map(|_| b.failed(t0).pause).collect();
        assert_eq!(
            pauses,
            [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 1000].map(|ms| ms * MS)
        );
        b.succeeded();
        assert_eq!(b.failed(t0).pause, MS);
    }

    #[test]
    fn errors_are_logged_at_most_once_a_second_with_the_count_since_the_last_line() {
        let mut b = AcceptBackoff::default();
        let t0 = Instant::now();
        // 3000 errors over 3 s (one a millisecond): lines at 0 s, 1 s and 2 s.
        let logged: Vec<(u32, u64)> = (0..3000u32)
            .filter_map(|ms| b.failed(t0 + ms * MS).log.map(|n| (ms, n)))
            .collect();
        assert_eq!(logged, [(0, 1), (1000, 1000), (2000, 1000)]);
        // A success does not reopen the log: errors right after it stay quiet.
        b.succeeded();
        assert_eq!(b.failed(t0 + 2500 * MS).log, None);
        assert_eq!(b.failed(t0 + 3000 * MS).log, Some(1001));
    }
}
