//! The window processor connector: Kafka → [`window`] engine → Kafka.
//!
//! * [`config`]: its settings (TOML table, validated into [`WindowProcessorSettings`]).
//! * [`processor`]: the component ([`WindowProcessor`]): consumer, engine, producer, commits.
//! * [`window`]: the engine: window assignment, aggregates, watermarks, outputs.

pub mod config;
pub mod error;
pub mod processor;
pub mod window;

pub use config::{WindowProcessorSettings, WindowProcessorToml};
pub use processor::{ProcessorError, WindowProcessor};
