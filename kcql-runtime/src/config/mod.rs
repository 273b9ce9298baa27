//! Connector configuration loaded from Java `.properties` files, the format Kafka Connect and
//! Stream Reactor connectors are configured with.
//!
//! [`pipeline`] reads the TOML pipeline file of `kcql run` (and `.properties` files as
//! components); [`properties`] parses the `.properties` format; [`common`] holds what every
//! connector's settings share. Each connector's own settings live in its folder
//! (`crate::connectors::<name>::config`).

pub mod common;
pub mod connect_errors;
pub mod duration;
pub mod part_format;
pub mod pipeline;
pub mod properties;
pub mod providers;
pub mod reader;
pub mod registry;
pub mod suggest;
pub mod worker;

pub use crate::connectors::influx_sink::config::{InfluxSinkSettings, InfluxTarget, SettingsError};
pub use crate::connectors::mqtt_source::config::{
    MqttSettingsError, MqttSourceSettings, MqttSourceToml,
};
pub use common::{ErrorPolicy, Secret};
pub use pipeline::{Component, ComponentSettings, Pipeline, PipelineError};
pub use properties::{parse_properties, PropertiesError, Property};
