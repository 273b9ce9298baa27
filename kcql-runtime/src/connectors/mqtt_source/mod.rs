//! The MQTT → Kafka source connector.
//!
//! * [`route`]: one message through the plan (topic filter / `WITHREGEX`, converter, `WHERE`,
//!   projection, key, headers) → Kafka records or a poison error. Pure; shared with the
//!   conformance runner.
//! * [`tasks`]: statements spread over workers (`tasks.max`, `$share` replication).
//! * [`stats`]: live counters.
//! * [`size`]: a record's size as Kafka limits it; cutting dead-letter copies to fit.
//! * [`source`]: the connector ([`MqttSource`]): rumqttc client with manual acks, idempotent
//!   rdkafka producer, bounded in-order window, reconnects, graceful shutdown.
//!
//! Delivery is at-least-once for QoS 1 and 2: a message is acknowledged to the broker (PUBACK,
//! or PUBREC for QoS 2) only after Kafka confirmed every record made of it, in the order the
//! messages arrived, with a bounded number in flight. QoS 0 is best effort: the broker does
//! not redeliver it, so a crash between receipt and Kafka's confirmation loses it.

pub mod config;
pub mod error;
mod producer;
pub mod route;
mod session;
pub mod size;
pub mod source;
pub mod stats;
pub mod tasks;

pub use error::MqttSourceError;
pub use route::{KafkaRecord, MqttMessage, PoisonError, Routed, Router, RouterError};
pub use source::MqttSource;
pub use stats::{MqttSourceStats, StatsSnapshot};
