//! Free loopback ports for private instances.
//!
//! Ports are drawn at random from 20000 up to the start of the kernel's ephemeral range
//! (`/proc/sys/net/ipv4/ip_local_port_range`), so an outgoing connection's local port cannot
//! take a private port while its service is down for a restart. A port counts as free when
//! `127.0.0.1:<port>` can be bound; it is released before the service binds it, so a service
//! that then finds it taken is restarted on another port (see `service.rs`). A process never
//! hands out the same port twice.

use std::collections::hash_map::RandomState;
use std::collections::BTreeSet;
use std::hash::BuildHasher;
use std::io;
use std::net::TcpListener;
use std::sync::Mutex;

const LOWEST: u16 = 20000;
const ATTEMPTS: usize = 500;

static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

/// A loopback port that nothing listens on right now and that this process has not handed
/// out before.
pub(crate) fn free_port() -> io::Result<u16> {
    let top = ephemeral_start();
    let random = RandomState::new();
    let mut last_error = None;
    if top > LOWEST + 1000 {
        let span = u64::from(top - LOWEST);
        for attempt in 0..ATTEMPTS {
            let candidate = LOWEST + (random.hash_one(attempt) % span) as u16;
            if let Some(port) = claim(candidate, &mut last_error) {
                return Ok(port);
            }
        }
    }
    // Fallback: whatever the kernel gives (an ephemeral port).
    for _ in 0..ATTEMPTS {
        let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
        if let Some(port) = claim(port, &mut last_error) {
            return Ok(port);
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("every candidate port was taken")))
}

fn claim(port: u16, last_error: &mut Option<io::Error>) -> Option<u16> {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    if handed_out.contains(&port) {
        return None;
    }
    match TcpListener::bind(("127.0.0.1", port)) {
        Ok(listener) => {
            drop(listener);
            handed_out.insert(port);
            Some(port)
        }
        Err(e) => {
            *last_error = Some(e);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ports_are_distinct_and_bindable() {
        let a = super::free_port().unwrap();
        let b = super::free_port().unwrap();
        assert_ne!(a, b);
        std::net::TcpListener::bind(("127.0.0.1", a)).unwrap();
    }
}
