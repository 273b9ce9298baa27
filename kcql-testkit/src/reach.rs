//! Waiting until a shared service's TCP port accepts connections.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// How long [`wait_connectable`] keeps trying.
const DEADLINE: Duration = Duration::from_secs(5);

/// Connects to `addr` (1 s per attempt, every 100 ms) until a connection succeeds or
/// [`DEADLINE`] has passed; then the last attempt's error.
pub(crate) fn wait_connectable(addr: impl ToSocketAddrs) -> Result<(), String> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let err = match addr.to_socket_addrs() {
            Ok(mut addrs) => match addrs.next() {
                Some(sa) => match TcpStream::connect_timeout(&sa, Duration::from_secs(1)) {
                    Ok(_) => return Ok(()),
                    Err(e) => e.to_string(),
                },
                None => "address resolves to nothing".to_string(),
            },
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(err);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
