//! Counters of a running MQTT source, registered in the process's metrics [`Registry`] (so
//! `/metrics` reads them as they are, with nothing polled or copied), and its connected state.

use std::sync::{Arc, OnceLock};

use crate::component::{ComponentContext, ComponentState};
use crate::metrics::{Counter, Gauge, Registry};

/// Live counters, shared by all workers of one source. All monotonic except `in_flight`.
#[derive(Debug)]
pub struct MqttSourceStats {
    /// MQTT messages received (`kcql_records_consumed_total`).
    pub received: Arc<Counter>,
    /// Kafka records confirmed written (`kcql_records_written_total`).
    pub produced: Arc<Counter>,
    /// QoS 1/2 messages acknowledged to the broker after Kafka confirmed them
    /// (`kcql_mqtt_acked_total`).
    pub acked: Arc<Counter>,
    /// Messages dropped by a `WHERE` clause (`kcql_records_filtered_total`).
    pub filtered: Arc<Counter>,
    /// Messages no route takes, a stale subscription of the session
    /// (`kcql_mqtt_unmatched_total`).
    pub unmatched: Arc<Counter>,
    /// Poison messages skipped by the NOOP policy, written to the DLQ when configured
    /// (`kcql_records_skipped_total`).
    pub skipped: Arc<Counter>,
    /// Poison messages and Kafka write failures seen, retried ones included
    /// (`kcql_errors_total`).
    pub errors: Arc<Counter>,
    /// Kafka writes retried (`kcql_write_retries_total`).
    pub retries: Arc<Counter>,
    /// Records too large for Kafka (over `max_message_bytes`, or refused by the topic as too
    /// large), handled by the error policy (`kcql_records_too_large_total`).
    pub too_large: Arc<Counter>,
    /// MQTT (re)connections established (`kcql_mqtt_connects_total`).
    pub connects: Arc<Counter>,
    /// Messages received but not yet settled, written or skipped and acknowledged
    /// (`kcql_mqtt_in_flight`).
    pub in_flight: Arc<Gauge>,
    /// Where a connection reports the component `running`, when it runs as a component.
    component: OnceLock<ComponentContext>,
}

impl Default for MqttSourceStats {
    /// Counters in a registry of their own (a source run outside a pipeline).
    fn default() -> Self {
        MqttSourceStats::new(&Registry::default(), "kcql-mqtt-source")
    }
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
    /// See [`MqttSourceStats::too_large`].
    pub too_large: u64,
    /// See [`MqttSourceStats::connects`].
    pub connects: u64,
    /// See [`MqttSourceStats::in_flight`].
    pub in_flight: i64,
}

impl MqttSourceStats {
    /// Counters registered in `registry`, labelled `component = name`.
    pub fn new(registry: &Registry, name: &str) -> Self {
        let l = [("component", name)];
        let counter = |metric: &str, help: &str| registry.counter(metric, help, &l);
        MqttSourceStats {
            received: counter("kcql_records_consumed_total", "Records (messages) read."),
            produced: counter(
                "kcql_records_written_total",
                "Records whose output was accepted by the target.",
            ),
            acked: counter(
                "kcql_mqtt_acked_total",
                "MQTT messages acknowledged after Kafka confirmed them.",
            ),
            filtered: counter(
                "kcql_records_filtered_total",
                "Records dropped by WHERE on every route.",
            ),
            unmatched: counter(
                "kcql_mqtt_unmatched_total",
                "MQTT messages no route takes (a stale subscription of the session).",
            ),
            skipped: counter(
                "kcql_records_skipped_total",
                "Poison records skipped by the NOOP error policy.",
            ),
            errors: counter(
                "kcql_errors_total",
                "Poison records and write failures seen (retried ones included).",
            ),
            retries: counter(
                "kcql_write_retries_total",
                "Writes retried after a transient failure.",
            ),
            too_large: counter(
                "kcql_records_too_large_total",
                "Records too large for Kafka (over max_message_bytes or the topic's limit), handled by the error policy.",
            ),
            connects: counter("kcql_mqtt_connects_total", "MQTT (re)connections."),
            in_flight: registry.gauge(
                "kcql_mqtt_in_flight",
                "MQTT messages read and not yet confirmed by Kafka.",
                &l,
            ),
            component: OnceLock::new(),
        }
    }

    /// Counters in `ctx`'s registry; a connection reports the component `running` there.
    pub fn for_component(ctx: &ComponentContext) -> Self {
        let stats = MqttSourceStats::new(ctx.registry(), ctx.name());
        let _ = stats.component.set(ctx.clone());
        stats
    }

    /// Counts an established MQTT connection.
    pub fn connected(&self) {
        self.connects.inc();
        if let Some(ctx) = self.component.get() {
            if ctx.state() == Some(ComponentState::Starting) {
                ctx.set_state(ComponentState::Running);
            }
        }
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            received: self.received.get(),
            produced: self.produced.get(),
            acked: self.acked.get(),
            filtered: self.filtered.get(),
            unmatched: self.unmatched.get(),
            skipped: self.skipped.get(),
            errors: self.errors.get(),
            retries: self.retries.get(),
            too_large: self.too_large.get(),
            connects: self.connects.get(),
            in_flight: self.in_flight.get(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::Health;

    #[test]
    fn counters_are_the_registry_series_themselves() {
        let registry = Arc::new(Registry::default());
        let health = Health::default();
        let ctx = ComponentContext::new("src", Arc::clone(&registry), health.clone());
        health.set("src", ComponentState::Starting);
        let stats = MqttSourceStats::for_component(&ctx);
        stats.received.add(3);
        stats.in_flight.add(2);
        stats.connected();
        let text = registry.render();
        assert!(
            text.contains("kcql_records_consumed_total{component=\"src\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("kcql_mqtt_in_flight{component=\"src\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("kcql_mqtt_connects_total{component=\"src\"} 1"),
            "{text}"
        );
        assert_eq!(health.get("src"), Some(ComponentState::Running));
        assert_eq!(stats.snapshot().received, 3);
    }
}
