//! # kcql-runtime
//!
//! The runtime side of kcql: it executes compiled KCQL routing plans as streaming connectors.
//!
//! * [`connectors`]: one folder per connector (its config, component and engine):
//!   [`connectors::influx_sink`] (Kafka → InfluxDB), [`connectors::mqtt_source`] (MQTT →
//!   Kafka), [`connectors::window_processor`] (Kafka → window aggregates → Kafka).
//! * Shared by the connectors: [`record`] (a Kafka message as a [`record::RecordView`]),
//!   [`decode`] (JSON, Avro, Schema Registry), [`value`], [`eval`] (expressions, paths),
//!   [`time`], [`http_tls`] (HTTP clients' TLS settings) and [`pem`] (PEM files), [`backoff`]
//!   (retries with jitter), [`kafka`] (client settings, offsets, rebalance context), [`dead_letter`],
//!   [`config`] (pipeline files, `.properties`, shared settings), [`metrics`], [`endpoint`]
//!   (`/metrics`, `/health`), [`shutdown`], [`redact`] (credentials kept out of logs, errors
//!   and `Debug` output).
//! * [`component`]: what a connector is to its host (the [`component::Component`] trait, its
//!   context, health). [`run`] hosts the components of a pipeline; [`cli`] is the `kcql`
//!   command-line tool.

#![warn(missing_docs)]

pub mod backoff;
pub mod cli;
pub mod component;
pub mod config;
pub mod connectors;
pub mod dead_letter;
pub mod decode;
pub mod encode;
pub mod endpoint;
pub mod error_chain;
pub mod eval;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz_api;
pub mod http_tls;
pub mod kafka;
pub mod metrics;
pub mod pem;
pub mod record;
pub mod redact;
pub mod run;
pub mod shutdown;
pub mod time;
pub mod value;
