//! Private, killable service instances for fault-injection tests, and a child-process helper.
//!
//! Tests that kill or restart a service must not touch the shared services on the standard
//! ports (other tests use them at the same time). Each private instance runs its own process
//! on free loopback ports, with its own config, log and data under
//! `target/services/private/<kind>-<test pid>-<millis>-<n>/` (`$KCQL_SERVICES_DIR/private` if
//! that is set):
//!
//! | type | binary | health probe |
//! |---|---|---|
//! | [`PrivateInfluxd`] | `influxd` (InfluxDB 1.x, `/usr/bin`) | `GET /ping` → 204 |
//! | [`PrivateKafka`] | `java … kafka.Kafka` (jars of `services.sh up kafka`) | Kafka metadata lists a broker |
//! | [`PrivateMosquitto`] | `mosquitto` (`/usr/sbin`) | MQTT CONNECT → CONNACK accepted |
//! | [`PrivateVictoriaMetrics`] | `victoria-metrics` (`/usr/bin`) | `GET /health` → 200 |
//!
//! The configs mirror `scripts/services.sh`. Every type dereferences to [`PrivateService`]:
//! [`kill`](PrivateService::kill) (SIGKILL), [`stop`](PrivateService::stop) (SIGTERM),
//! [`restart`](PrivateService::restart) (same ports, same data, waits until it answers),
//! [`is_running`](PrivateService::is_running), [`answers`](PrivateService::answers),
//! [`log_tail`](PrivateService::log_tail).
//!
//! ```no_run
//! # async fn demo() -> Result<(), kcql_testkit::private::PrivateServiceError> {
//! use kcql_testkit::private::PrivateInfluxd;
//! let mut influx = PrivateInfluxd::start().await?;
//! influx.query(None, "CREATE DATABASE d").await?;
//! influx.kill().await?;            // the code under test sees InfluxDB vanish
//! influx.restart().await?;         // same URL, same data
//! # Ok(()) }
//! ```
//!
//! A missing binary or a service that does not come up is an error naming the binary or
//! showing the last log lines; tests `expect` it, so they fail loudly.
//!
//! Cleanup: dropping an instance SIGKILLs its process and removes its `data/` directory
//! (the config and log stay for debugging). The first instance in a test process also cleans
//! up after test processes that are gone: their leftover service processes (matched by pid and
//! start time) are SIGKILLed, their data removed, and their directories removed an hour after
//! they last changed. `KCQL_KEEP_PRIVATE=1` keeps everything.
//!
//! [`ChildProcess`] runs a program (e.g. the `kcql` binary: `env!("CARGO_BIN_EXE_kcql")` in
//! the caller) with its output in a file, to SIGTERM or SIGKILL it in a test.

mod child;
mod error;
mod http;
mod influxd;
mod kafka;
mod mosquitto;
mod paths;
mod ports;
mod process;
mod service;
mod victoria_metrics;
mod wrapper;

pub use child::ChildProcess;
pub use error::PrivateServiceError;
pub use influxd::PrivateInfluxd;
pub use kafka::{PrivateKafka, KAFKA_LIBS_ENV};
pub use mosquitto::PrivateMosquitto;
pub use paths::{private_root, services_root, KEEP_ENV};
pub use service::{PrivateService, ServiceKind};
pub use victoria_metrics::PrivateVictoriaMetrics;
