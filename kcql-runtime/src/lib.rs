//! # kcql-runtime
//!
//! The runtime side of kcql: it will execute compiled KCQL routing plans as streaming
//! connectors (MQTT → Kafka, Kafka → window processor → Kafka, Kafka → InfluxDB). Today it holds
//! the `kcql` command-line tool ([`cli`]): `parse`, `fmt` and `check`.

#![warn(missing_docs)]

pub mod cli;
