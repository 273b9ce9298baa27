//! Test support for kcql's integration tests against the real services started by
//! `scripts/services.sh` (Mosquitto, InfluxDB 1.x, Apache Kafka, VictoriaMetrics on loopback).
//!
//! Every helper fails loudly (panics with the address and the error) when its service does not
//! answer: a test that needs a service never skips silently. [`embedded`] runs an MQTT broker
//! and a mock Kafka cluster in the process instead (the `iot_pipeline` example's defaults).

#![warn(missing_docs)]

pub mod alloc_count;
pub mod bin;
pub mod devices;
pub mod embedded;
pub mod influx;
pub mod kafka;
pub mod mqtt;
pub mod names;
pub mod private;
pub mod proxy;
mod reach;
pub mod registry;
pub mod telegraf;
pub mod tls;
pub mod window_points;
