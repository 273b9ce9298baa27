//! Kafka client settings: the brokers plus any librdkafka property, with the defaults our
//! connectors rely on.

use rdkafka::ClientConfig;
use serde::Deserialize;

use super::KafkaProperties;

/// Brokers used when none are configured.
pub const DEFAULT_BROKERS: &str = "127.0.0.1:9092";

/// How to reach Kafka: `bootstrap.servers` and any other librdkafka client property
/// (`security.protocol`, `sasl.*`, `ssl.*`, `client.id`, …). The configuration readers
/// translate Java client names and check the security settings
/// ([`resolve`](super::security::resolve)); the clients get the properties as they are here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    /// `bootstrap.servers` (default [`DEFAULT_BROKERS`]). Overridden by a
    /// `bootstrap.servers` entry in `properties`.
    #[serde(default)]
    pub brokers: Option<String>,
    /// Further librdkafka properties.
    #[serde(default)]
    pub properties: KafkaProperties,
}

impl KafkaSettings {
    /// Settings from `kafka.*` pass-through properties (prefix already removed).
    pub fn from_properties(properties: impl Into<KafkaProperties>) -> Self {
        KafkaSettings {
            brokers: None,
            properties: properties.into(),
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

    /// Sets the brokers and every property of `role` on `c`. Not through
    /// `ClientConfig::config_map`, which replaces credentials by a placeholder.
    fn apply(&self, c: &mut ClientConfig, role: ClientRole) {
        c.set("bootstrap.servers", self.bootstrap_servers());
        for (k, v) in &self.properties {
            if applies_to(k, role) {
                c.set(k, v);
            }
        }
    }
}

/// Which kind of client a configuration is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRole {
    /// A consumer.
    Consumer,
    /// A producer.
    Producer,
}

/// librdkafka properties only a consumer understands (CONFIGURATION.md marks them "C").
const CONSUMER_ONLY: &[&str] = &[
    "group.id",
    "group.instance.id",
    "group.protocol",
    "group.protocol.type",
    "group.remote.assignor",
    "partition.assignment.strategy",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "coordinator.query.interval.ms",
    "max.poll.interval.ms",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "enable.auto.offset.store",
    "auto.offset.reset",
    "queued.min.messages",
    "queued.max.messages.kbytes",
    "fetch.wait.max.ms",
    "fetch.queue.backoff.ms",
    "fetch.message.max.bytes",
    "max.partition.fetch.bytes",
    "fetch.max.bytes",
    "fetch.min.bytes",
    "fetch.error.backoff.ms",
    "isolation.level",
    "enable.partition.eof",
    "check.crcs",
    "consume.callback.max.messages",
];

/// librdkafka properties only a producer understands (CONFIGURATION.md marks them "P").
const PRODUCER_ONLY: &[&str] = &[
    "transactional.id",
    "transaction.timeout.ms",
    "enable.idempotence",
    "enable.gapless.guarantee",
    "queue.buffering.max.messages",
    "queue.buffering.max.kbytes",
    "queue.buffering.max.ms",
    "linger.ms",
    "message.send.max.retries",
    "retries",
    "queue.buffering.backpressure.threshold",
    "compression.codec",
    "compression.type",
    "compression.level",
    "batch.num.messages",
    "batch.size",
    "delivery.report.only.error",
    "sticky.partitioning.linger.ms",
    "acks",
    "request.required.acks",
    "request.timeout.ms",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "partitioner",
];

/// Whether the shared `[kafka.properties]` entry `key` is passed to a client of `role`.
/// Properties of the other role are left out, so one settings table serves consumers and
/// producers without librdkafka warning about (and ignoring) the other kind's properties.
pub fn applies_to(key: &str, role: ClientRole) -> bool {
    match role {
        ClientRole::Consumer => !PRODUCER_ONLY.contains(&key),
        ClientRole::Producer => !CONSUMER_ONLY.contains(&key),
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
    settings.apply(&mut c, ClientRole::Consumer);
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
    settings.apply(&mut c, ClientRole::Producer);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_gets_only_the_properties_of_its_kind() {
        let mut s = KafkaSettings::default();
        for (k, v) in [
            ("fetch.wait.max.ms", "50"),
            ("linger.ms", "20"),
            ("security.protocol", "ssl"),
        ] {
            s.properties.insert(k.into(), v.into());
        }
        let c = consumer_config(&s, "g");
        assert_eq!(c.get("fetch.wait.max.ms"), Some("50"));
        assert_eq!(c.get("linger.ms"), None);
        assert_eq!(c.get("security.protocol"), Some("ssl"));
        let p = producer_config(&s);
        assert_eq!(p.get("fetch.wait.max.ms"), None);
        assert_eq!(p.get("linger.ms"), Some("20"));
        assert_eq!(p.get("security.protocol"), Some("ssl"));
    }

    #[test]
    fn credentials_reach_the_client_unchanged() {
        let mut s = KafkaSettings::default();
        for (k, v) in [
            ("sasl.password", "hunter2"),
            ("ssl.key.password", "hunter3"),
            ("ssl.keystore.password", "hunter4"),
        ] {
            s.properties.insert(k.into(), v.into());
        }
        for c in [consumer_config(&s, "g"), producer_config(&s)] {
            assert_eq!(c.get("sasl.password"), Some("hunter2"));
            assert_eq!(c.get("ssl.key.password"), Some("hunter3"));
            assert_eq!(c.get("ssl.keystore.password"), Some("hunter4"));
        }
    }

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
