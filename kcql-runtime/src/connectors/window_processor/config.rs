//! Settings of the window processor (`[[processor.window]]` in the pipeline file).
//!
//! ```toml
//! [[processor.window]]
//! name = "averages"                  # metric label; consumer group `kcql-<name>` by default
//! kcql = """INSERT INTO sensor_avg SELECT id, AVG(temperature) AS avg_temp, COUNT(*) AS n
//!           FROM sensor_data GROUP BY id WINDOW TUMBLING(2s)"""
//! group_id = "kcql-averages"         # optional
//! error_policy = "NOOP"              # NOOP (skip + optional dead letter) | THROW (default)
//! dlq_topic = "sensor_data_dlq"      # optional: skipped poison records go here
//! value_format = "json"              # json | string | bytes | avro | confluent_avro
//! schema_registry_url = "http://127.0.0.1:8081"   # for confluent_avro (in or out)
//! basic_auth_credentials_source = "USER_INFO"     # or URL (credentials in the URL)
//! basic_auth_user_info = "user:password"          # a secret: never printed
//! schema_registry_ca_file = "/etc/ssl/registry-ca.pem"   # PEM CA for an https registry
//! value_format_out = "json"          # json | string | bytes | avro | confluent_avro
//! avro_schema_out = "…"              # for avro/confluent_avro; absent: derived from the plan
//! late = "drop"                      # or { topic = "sensor_late" }
//! max_open_windows = 10000
//! max_groups = 1000000
//! max_future_ms = 3600000            # event times further ahead than this are poison
//! [processor.window.kafka]           # this component's Kafka client settings
//! properties = { "fetch.min.bytes" = "1" }
//! ```

use kcql::plan::ProcessorPlan;
use serde::Deserialize;

use crate::config::common::ErrorPolicy;
use crate::config::duration::DurationSetting;
use crate::connectors::window_processor::window::{LatePolicy, WindowEngine, WindowSettings};
use crate::decode::RegistryOptionsError;
use crate::kafka::KafkaSettings;

/// A `[[processor.window]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowProcessorToml {
    /// The component's name.
    pub name: Option<String>,
    /// The KCQL statements (several may be `;`-separated).
    pub kcql: String,
    /// The consumer group (default `kcql-<name>`).
    pub group_id: Option<String>,
    /// `NOOP` or `THROW` (default).
    pub error_policy: Option<String>,
    /// Dead-letter topic for poison records skipped under `NOOP`.
    pub dlq_topic: Option<String>,
    /// How record values are decoded (default JSON).
    #[serde(default)]
    pub value_format: Option<crate::decode::Format>,
    /// How record keys are decoded when `_key…` is read (default text).
    #[serde(default)]
    pub key_format: Option<crate::decode::Format>,
    /// Avro writer schema (JSON text) for `value_format = "avro"`.
    pub avro_schema: Option<String>,
    /// Schema Registry base URL for `value_format = "confluent_avro"` (it may hold
    /// credentials; shown without them).
    pub schema_registry_url: Option<crate::redact::SecretUrl>,
    /// `USER_INFO` or `URL`: where the registry's basic-auth credentials come from.
    pub basic_auth_credentials_source: Option<String>,
    /// `user:password` for the registry (`USER_INFO`).
    pub basic_auth_user_info: Option<crate::redact::Secret>,
    /// A PEM file of CA certificates for an `https` registry.
    pub schema_registry_ca_file: Option<std::path::PathBuf>,
    /// How output values are written (default JSON).
    #[serde(default)]
    pub value_format_out: Option<crate::decode::Format>,
    /// The Avro schema (JSON text) of the output values for `avro`/`confluent_avro`
    /// (absent: derived from the plan).
    pub avro_schema_out: Option<String>,
    /// Late records: `"drop"` (default) or `{ topic = "…" }`.
    pub late: Option<LatePolicy>,
    /// Most windows held at once.
    pub max_open_windows: Option<usize>,
    /// Most groups held at once.
    pub max_groups: Option<usize>,
    /// How far ahead of the partition's time and the clock an event time may be:
    /// milliseconds or a duration string such as `"1h"`.
    pub max_future_ms: Option<DurationSetting>,
    /// Kafka client settings of this component (on top of the pipeline's `[kafka]`).
    pub kafka: Option<KafkaSettings>,
}

/// The validated settings of one window processor.
#[derive(Debug, Clone)]
pub struct WindowProcessorSettings {
    /// Its name.
    pub name: String,
    /// The KCQL, as written.
    pub kcql: String,
    /// The compiled plan.
    pub plan: ProcessorPlan,
    /// Engine settings.
    pub window: WindowSettings,
    /// What happens to poison records.
    pub error_policy: ErrorPolicy,
    /// Dead-letter topic.
    pub dlq_topic: Option<String>,
    /// The consumer group.
    pub group_id: String,
}

impl WindowProcessorToml {
    /// Validates the table; every problem is returned (as text naming the key).
    pub fn into_settings(
        self,
    ) -> Result<(WindowProcessorSettings, Option<KafkaSettings>), Vec<String>> {
        let mut errors = Vec::new();
        let name = self
            .name
            .unwrap_or_else(|| "kcql-window-processor".to_string());
        let plan = match kcql::compile_processor(&self.kcql) {
            Ok(p) => Some(p),
            Err(d) => {
                errors.push(format!("kcql is invalid:\n{d}"));
                None
            }
        };
        let error_policy = match self.error_policy.as_deref().map(ErrorPolicy::parse) {
            None => ErrorPolicy::Throw,
            Some(Some(p @ (ErrorPolicy::Noop | ErrorPolicy::Throw))) => p,
            Some(_) => {
                errors.push(format!(
                    "error_policy must be NOOP or THROW, got `{}`",
                    self.error_policy.as_deref().unwrap_or_default()
                ));
                ErrorPolicy::Throw
            }
        };
        let mut window = WindowSettings::default();
        if let Some(f) = self.value_format {
            window.value_format = f;
        }
        if let Some(f) = self.key_format {
            window.key_format = f;
        }
        window.avro_schema = self.avro_schema;
        window.schema_registry_url = self.schema_registry_url;
        if let Some(f) = self.value_format_out {
            window.value_format_out = f;
        }
        window.avro_schema_out = self.avro_schema_out;
        if let Some(path) = &self.schema_registry_ca_file {
            if let Err(e) = crate::config::registry::check_ca_file(path) {
                errors.push(format!("schema_registry_ca_file: {e}"));
            }
        }
        match crate::decode::RegistryOptions::from_basic_auth(
            self.basic_auth_credentials_source.as_deref(),
            self.basic_auth_user_info,
            self.schema_registry_ca_file,
        ) {
            Ok(options) => window.registry_options = options,
            Err(e) => errors.push(match e {
                RegistryOptionsError::UnknownSource(v) => format!(
                    "basic_auth_credentials_source must be USER_INFO or URL, got `{v}`"
                ),
                RegistryOptionsError::MissingUserInfo => "basic_auth_credentials_source = USER_INFO needs basic_auth_user_info (\"user:password\")".to_string(),
                RegistryOptionsError::BadUserInfo => {
                    "basic_auth_user_info must be \"user:password\" (no `:` found)".to_string()
                }
            }),
        }
        if let Some(l) = self.late {
            window.late = l;
        }
        if let Some(n) = self.max_open_windows {
            window.max_open_windows = n;
        }
        if let Some(n) = self.max_groups {
            window.max_groups = n;
        }
        if let Some(n) = self.max_future_ms {
            window.max_future_ms = n.as_millis();
        }
        if let Some(plan) = &plan {
            if let Err(e) = WindowEngine::new(plan, window.clone()) {
                errors.push(e.to_string());
            }
        }
        match plan {
            Some(plan) if errors.is_empty() => Ok((
                WindowProcessorSettings {
                    group_id: self.group_id.unwrap_or_else(|| format!("kcql-{name}")),
                    name,
                    kcql: self.kcql,
                    plan,
                    window,
                    error_policy,
                    dlq_topic: self.dlq_topic,
                },
                self.kafka,
            )),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_compiles_to_settings_and_reports_problems() {
        let ok: WindowProcessorToml = toml::from_str(
            r#"
            name = "avg"
            kcql = "INSERT INTO out SELECT id, AVG(t) AS a FROM input GROUP BY id WINDOW TUMBLING(2s)"
            late = { topic = "late" }
            "#,
        )
        .unwrap();
        let (s, _) = ok.into_settings().unwrap();
        assert_eq!(s.group_id, "kcql-avg");
        assert_eq!(s.window.late_topic(), Some("late"));
        assert_eq!(s.plan.routes.len(), 1);

        let bad: WindowProcessorToml = toml::from_str(
            r#"
            kcql = "INSERT INTO out SELECT id FROM input WINDOW TUMBLING(2s) PK id"
            error_policy = "sometimes"
            max_groups = 0
            "#,
        )
        .unwrap();
        let errors = bad.into_settings().unwrap_err();
        assert!(
            errors.iter().any(|e| e.contains("kcql is invalid")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("error_policy")),
            "{errors:?}"
        );
    }

    #[test]
    fn avro_output_and_registry_settings() {
        let toml_text = r#"
            kcql = "INSERT INTO out SELECT id, COUNT(*) AS n FROM input GROUP BY id WINDOW TUMBLING(2s)"
            value_format_out = "confluent_avro"
            schema_registry_url = "http://127.0.0.1:8081"
            basic_auth_user_info = "u:hunter2"
            "#;
        let ok: WindowProcessorToml = toml::from_str(toml_text).unwrap();
        let (s, _) = ok.into_settings().unwrap();
        assert_eq!(
            s.window.value_format_out,
            crate::decode::Format::ConfluentAvro
        );
        assert_eq!(
            s.window
                .registry_options
                .user_info
                .as_ref()
                .map(|u| u.expose()),
            Some("u:hunter2")
        );
        assert!(!format!("{s:?}").contains("hunter2"));

        let bad: WindowProcessorToml = toml::from_str(
            r#"
            kcql = "INSERT INTO out SELECT COUNT(*) AS n FROM input WINDOW TUMBLING(2s)"
            value_format_out = "confluent_avro"
            basic_auth_credentials_source = "USER_INFO"
            schema_registry_ca_file = "/nonexistent/ca.pem"
            "#,
        )
        .unwrap();
        let errors = bad.into_settings().unwrap_err();
        let all = errors.join("\n");
        assert!(
            all.contains("basic_auth_credentials_source = USER_INFO needs basic_auth_user_info"),
            "{all}"
        );
        assert!(
            all.contains("schema_registry_ca_file: cannot read `/nonexistent/ca.pem`"),
            "{all}"
        );
        assert!(
            all.contains(
                "value_format_out: value format confluent_avro needs a schema registry URL"
            ),
            "{all}"
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e =
            toml::from_str::<WindowProcessorToml>("kcql = \"x\"\nlatee = \"drop\"\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `latee`"), "{e}");
    }
}
