//! Unique names per test, so tests can run in parallel against shared services.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique to this process and call: `<prefix>_<pid>_<millis>_<n>`, using only
/// `[a-z0-9_]` so it is valid as a Kafka topic, an InfluxDB database and an MQTT topic level.
pub fn unique(prefix: &str) -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let clean: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{clean}_{}_{millis}_{n}", std::process::id())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_unique_and_clean() {
        let a = super::unique("My Test");
        let b = super::unique("My Test");
        assert_ne!(a, b);
        assert!(a.starts_with("my_test_"));
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'));
    }
}
