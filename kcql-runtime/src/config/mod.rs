//! Connector configuration loaded from Java `.properties` files, the format Kafka Connect and
//! Stream Reactor connectors are configured with.
//!
//! [`properties`] parses the file format; [`influx_sink`] validates the InfluxDB sink's keys
//! (Stream Reactor's `connect.influx.*` plus our additions) and builds the writer's
//! [`InfluxConfig`](crate::influx::InfluxConfig).

pub mod influx_sink;
pub mod properties;

pub use influx_sink::{ErrorPolicy, InfluxSinkSettings, InfluxTarget, SettingsError};
pub use properties::{parse_properties, PropertiesError, Property};
