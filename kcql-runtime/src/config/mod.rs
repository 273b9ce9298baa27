//! Connector configuration loaded from Java `.properties` files, the format Kafka Connect and
//! Stream Reactor connectors are configured with.
//!
//! [`pipeline`] reads the TOML pipeline file of `kcql run` (and `.properties` files as
//! components); [`properties`] parses the `.properties` format; [`influx_sink`] validates the InfluxDB sink's keys
//! (Stream Reactor's `connect.influx.*` plus our additions) and builds the writer's
//! [`InfluxConfig`](crate::influx::InfluxConfig).

pub mod common;
pub mod influx_sink;
pub mod mqtt_source;
pub mod pipeline;
pub mod properties;
pub mod suggest;
pub mod window_processor;

pub use common::{ErrorPolicy, Secret};
pub use influx_sink::{InfluxSinkSettings, InfluxTarget, SettingsError};
pub use mqtt_source::{MqttSettingsError, MqttSourceSettings, MqttSourceToml};
pub use pipeline::{Component, ComponentSettings, Pipeline, PipelineError};
pub use properties::{parse_properties, PropertiesError, Property};
