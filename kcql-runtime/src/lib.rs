//! # kcql-runtime
//!
//! The runtime side of kcql: it executes compiled KCQL routing plans as streaming connectors
//! (MQTT → Kafka, Kafka → window processor → Kafka, Kafka → InfluxDB). Today it holds the
//! `kcql` command-line tool ([`cli`]), the value model ([`value`]) and payload decoders
//! ([`decode`]), and the InfluxDB line-protocol encoder ([`line_protocol`]).

#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod dead_letter;
pub mod decode;
pub mod endpoint;
pub mod eval;
pub mod influx;
pub mod influx_point;
pub mod influx_sink;
pub mod kafka;
pub mod line_protocol;
pub mod metrics;
pub mod mqtt;
pub mod record;
pub mod run;
pub mod shutdown;
pub mod time;
pub mod value;
pub mod window;
pub mod window_processor;
