//! The window processor's settings (beside its KCQL plan).
//!
//! ```toml
//! value_format = "json"        # json | string | bytes | avro | confluent_avro
//! key_format = "string"        # how `_key…` fields are read (only decoded when used)
//! value_format_out = "json"    # json | string | bytes | avro | confluent_avro
//! avro_schema_out = "…"        # optional for the Avro outputs: derived from the plan if absent
//! late = "drop"                # or: late = { topic = "sensor_late" }
//! max_open_windows = 10000     # windows held in memory, all routes together
//! max_groups = 1000000         # groups held in memory, all open windows together
//! max_future_ms = 3600000      # event times further ahead (of partition time and clock) are poison
//! ```

use crate::decode::Format;
use serde::{Deserialize, Serialize};

/// What happens to a record that arrives after every window it belongs to has closed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LatePolicy {
    /// Count it (metric `late`) and drop it.
    #[default]
    Drop,
    /// Count it and have the caller copy the original record to this Kafka topic (`late = {
    /// topic = "…" }`). The caller must have that copy delivered before it commits the record's
    /// offset, as for a dead-letter topic.
    Topic(String),
}

/// Settings of one [`WindowEngine`](super::WindowEngine).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSettings {
    /// How record values are decoded (default JSON).
    #[serde(default)]
    pub value_format: Format,
    /// How record keys are decoded when a route reads `_key…` (default: UTF-8 text).
    #[serde(default = "default_key_format")]
    pub key_format: Format,
    /// The Avro writer schema (JSON text) for `value_format = "avro"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avro_schema: Option<String>,
    /// The Schema Registry base URL for `value_format = "confluent_avro"` (it may hold
    /// credentials; shown without them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry_url: Option<crate::redact::SecretUrl>,
    /// How the registry is reached besides its URL (basic auth, a CA file); not serialized.
    #[serde(skip)]
    pub registry_options: crate::decode::RegistryOptions,
    /// How output values are written: `json` (default), `string`, `bytes`, `avro` or
    /// `confluent_avro` (registered under `<target>-value`).
    #[serde(default)]
    pub value_format_out: Format,
    /// The Avro schema (JSON text) of every route's output for the Avro output formats;
    /// absent: derived from each route's plan ([`output::schema`](super::output)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avro_schema_out: Option<String>,
    /// Late records: dropped or copied to a topic (default: dropped).
    #[serde(default)]
    pub late: LatePolicy,
    /// Most windows held at once, over all routes (default 10 000). When a record would exceed
    /// it, the oldest open window (smallest end, then route order) is closed early and emitted
    /// with what it holds (metric `forced_closes`); records for it that arrive later are late.
    #[serde(default = "default_max_open_windows")]
    pub max_open_windows: usize,
    /// Most groups held at once, summed over all held windows (default 1 000 000). Exceeding
    /// it closes the oldest open windows early, as for `max_open_windows`.
    #[serde(default = "default_max_groups")]
    pub max_groups: usize,
    /// How far ahead an event time may be (default 1 h), in ms, of the later of its
    /// partition's largest event time so far and the processor's clock. A record further
    /// ahead is poison (error policy, dead letter, metric): believed, it would raise the
    /// watermark, close every open window early and make later records late. A filtered
    /// record that far ahead does not move its partition's time.
    #[serde(default = "default_max_future_ms")]
    pub max_future_ms: u64,
}

fn default_key_format() -> Format {
    Format::String
}

fn default_max_open_windows() -> usize {
    10_000
}

fn default_max_groups() -> usize {
    1_000_000
}

fn default_max_future_ms() -> u64 {
    3_600_000
}

impl Default for WindowSettings {
    fn default() -> Self {
        WindowSettings {
            value_format: Format::Json,
            key_format: default_key_format(),
            avro_schema: None,
            schema_registry_url: None,
            registry_options: crate::decode::RegistryOptions::default(),
            value_format_out: Format::Json,
            avro_schema_out: None,
            late: LatePolicy::Drop,
            max_open_windows: default_max_open_windows(),
            max_groups: default_max_groups(),
            max_future_ms: default_max_future_ms(),
        }
    }
}

impl WindowSettings {
    /// The topic late records are copied to, if any.
    pub fn late_topic(&self) -> Option<&str> {
        match &self.late {
            LatePolicy::Drop => None,
            LatePolicy::Topic(t) => Some(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_and_rejects_unknown_keys() {
        let s: WindowSettings =
            serde_json::from_str(r#"{"late":{"topic":"late_ones"},"max_groups":5}"#).unwrap();
        assert_eq!(s.late_topic(), Some("late_ones"));
        assert_eq!(s.max_groups, 5);
        assert_eq!(s.max_open_windows, 10_000);
        assert_eq!(s.key_format, Format::String);
        let s: WindowSettings = serde_json::from_str(r#"{"late":"drop"}"#).unwrap();
        assert_eq!(s, WindowSettings::default());
        let err = serde_json::from_str::<WindowSettings>(r#"{"max_group":5}"#).unwrap_err();
        assert!(err.to_string().contains("max_groups"), "{err}");
        assert!(serde_json::from_str::<WindowSettings>(r#"{"late":"keep"}"#).is_err());
    }
}
