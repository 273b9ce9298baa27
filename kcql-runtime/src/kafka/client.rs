//! Kafka client settings: the brokers plus any librdkafka property, with the defaults our
//! connectors rely on.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use serde::Deserialize;

/// Brokers used when none are configured.
pub const DEFAULT_BROKERS: &str = "127.0.0.1:9092";

/// How to reach Kafka: `bootstrap.servers` and any other librdkafka client property
/// (`security.protocol`, `sasl.*`, `ssl.*`, `client.id`, …), passed through unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    /// `bootstrap.servers` (default [`DEFAULT_BROKERS`]). Overridden by a
    /// `bootstrap.servers` entry in `properties`.
    #[serde(default)]
    pub brokers: Option<String>,
    /// Further librdkafka properties.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

impl KafkaSettings {
    /// Settings from `kafka.*` pass-through properties (prefix already removed).
    pub fn from_properties(properties: BTreeMap<String, String>) -> Self {
        KafkaSettings {
            brokers: None,
            properties,
        }
    }

    /// The brokers in use.
    pub fn bootstrap_servers(&self) -> &str {
        self.properties
            .get("bootstrap.servers")
            .map(String::as_str)
            .or(self.brokers.as_deref())
            .unwrap_or(DEFAULT_BROKERS)
    }

    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.bootstrap_servers());
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}

/// A consumer configuration for at-least-once processing in group `group_id`: offsets are
/// committed by the connector only (`enable.auto.commit=false`), a group without committed
/// offsets starts at the earliest record, and librdkafka statistics (consumer lag) every 5 s.
/// Explicit `properties` win over these defaults, except `enable.auto.commit`, which must
/// stay off for the delivery guarantee.
pub fn consumer_config(settings: &KafkaSettings, group_id: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("group.id", group_id)
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("statistics.interval.ms", "5000")
        // Bound what librdkafka prefetches per partition (memory stays bounded while paused).
        .set("queued.max.messages.kbytes", "16384");
    for (k, v) in settings.base().config_map() {
        c.set(k, v);
    }
    c.set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    c
}

/// A producer configuration with idempotence on (no duplicates or reordering from
/// retries) and `acks=all`; explicit `properties` win.
pub fn producer_config(settings: &KafkaSettings) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("compression.type", "lz4");
    for (k, v) in settings.base().config_map() {
        c.set(k, v);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_commit_cannot_be_switched_on() {
        let mut s = KafkaSettings::default();
        s.properties
            .insert("enable.auto.commit".into(), "true".into());
        s.properties
            .insert("auto.offset.reset".into(), "latest".into());
        let c = consumer_config(&s, "g");
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
        assert_eq!(c.get("auto.offset.reset"), Some("latest"));
        assert_eq!(c.get("bootstrap.servers"), Some(DEFAULT_BROKERS));
        assert_eq!(c.get("group.id"), Some("g"));
    }

    #[test]
    fn explicit_bootstrap_servers_win() {
        let mut s = KafkaSettings {
            brokers: Some("a:1".into()),
            ..Default::default()
        };
        assert_eq!(s.bootstrap_servers(), "a:1");
        s.properties
            .insert("bootstrap.servers".into(), "b:2".into());
        assert_eq!(producer_config(&s).get("bootstrap.servers"), Some("b:2"));
    }
}
