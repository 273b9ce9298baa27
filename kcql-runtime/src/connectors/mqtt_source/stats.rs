//! Counters of a running MQTT source (for logs and a `/metrics` endpoint).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Live counters, shared by all workers of one source. All monotonic except `in_flight`.
#[derive(Debug, Default)]
pub struct MqttSourceStats {
    /// MQTT messages received.
    pub received: AtomicU64,
    /// Kafka records confirmed written (delivery report succeeded).
    pub produced: AtomicU64,
    /// QoS 1/2 messages acknowledged to the broker (after Kafka confirmed them).
    pub acked: AtomicU64,
    /// Messages dropped by a `WHERE` clause.
    pub filtered: AtomicU64,
    /// Messages no route takes (a stale subscription of the session).
    pub unmatched: AtomicU64,
    /// Poison messages skipped by the NOOP policy (written to the DLQ when configured).
    pub skipped: AtomicU64,
    /// Poison messages and Kafka write failures seen (including retried ones).
    pub errors: AtomicU64,
    /// Kafka writes retried.
    pub retries: AtomicU64,
    /// MQTT (re)connections established.
    pub connects: AtomicU64,
    /// Messages received but not yet settled (written or skipped, and acknowledged).
    pub in_flight: AtomicI64,
}

/// A plain copy of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// See [`MqttSourceStats::received`].
    pub received: u64,
    /// See [`MqttSourceStats::produced`].
    pub produced: u64,
    /// See [`MqttSourceStats::acked`].
    pub acked: u64,
    /// See [`MqttSourceStats::filtered`].
    pub filtered: u64,
    /// See [`MqttSourceStats::unmatched`].
    pub unmatched: u64,
    /// See [`MqttSourceStats::skipped`].
    pub skipped: u64,
    /// See [`MqttSourceStats::errors`].
    pub errors: u64,
    /// See [`MqttSourceStats::retries`].
    pub retries: u64,
    /// See [`MqttSourceStats::connects`].
    pub connects: u64,
    /// See [`MqttSourceStats::in_flight`].
    pub in_flight: i64,
}

impl MqttSourceStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            received: r(&self.received),
            produced: r(&self.produced),
            acked: r(&self.acked),
            filtered: r(&self.filtered),
            unmatched: r(&self.unmatched),
            skipped: r(&self.skipped),
            errors: r(&self.errors),
            retries: r(&self.retries),
            connects: r(&self.connects),
            in_flight: self.in_flight.load(Ordering::Relaxed),
        }
    }
}
