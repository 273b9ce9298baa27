//! How the MQTT source writes its Kafka records' keys and values.
//!
//! | property | TOML | meaning |
//! | --- | --- | --- |
//! | `connect.mqtt.value.format.out` | `value_format_out` | `json` (default), `string`, `bytes`, `avro`, `confluent_avro` |
//! | `connect.mqtt.key.format.out` | `key_format_out` | `string` (default), `bytes`, `json`, `avro`, `confluent_avro` |
//! | `connect.mqtt.avro.schema.out` | `avro_schema_out` | the values' Avro schema: JSON text, or the path of a file holding it |
//! | `connect.mqtt.schema.registry.url`, `schema.registry.url` | `schema_registry_url` | the registry for `confluent_avro` |
//! | `basic.auth.credentials.source`, `basic.auth.user.info`, `schema.registry.ssl.truststore.location` | `basic_auth_credentials_source`, `basic_auth_user_info`, `schema_registry_ca_file` | see [`crate::config::registry`] |
//!
//! Kafka Connect's `value.converter` / `key.converter` classes stand for the formats when
//! the `…format.out` keys are not given (`io.confluent.connect.avro.AvroConverter` →
//! `confluent_avro`, with `value.converter.schema.registry.url` and the converter's
//! `basic.auth.*` settings; `JsonConverter`, `StringConverter`, `ByteArrayConverter`).
//!
//! The Avro value formats need `avro_schema_out`: the source cannot infer field types from
//! the KCQL (a projected field's type is the payload's). A record whose value does not fit
//! the schema is a poison message (error policy, dead letter). Keys are always text (the
//! `WITHKEY` fields joined, or the MQTT topic): the Avro key formats write them with the
//! schema `"string"`. `json` writes the value as it is: the payload unchanged without a
//! projection, the projected object otherwise; the Avro formats write the decoded payload
//! (or the projected object; with the bytes converter, the payload as Avro `bytes`).
//! `confluent_avro` registers the schemas under `<topic>-value` / `<topic>-key`.

use std::sync::Arc;

use crate::config::part_format::read_part_format;
use crate::config::registry::{self, read_registry_options};
use crate::decode::{schema_registry, Format, SchemaRegistry};
use crate::encode::OutputEncoder;

use super::Reader;

/// `connect.mqtt.value.format.out`.
pub const VALUE_FORMAT_OUT: &str = "connect.mqtt.value.format.out";
/// `connect.mqtt.key.format.out`.
pub const KEY_FORMAT_OUT: &str = "connect.mqtt.key.format.out";
/// `connect.mqtt.avro.schema.out`.
pub const AVRO_SCHEMA_OUT: &str = "connect.mqtt.avro.schema.out";
/// `connect.mqtt.schema.registry.url`.
pub const SCHEMA_REGISTRY_URL: &str = "connect.mqtt.schema.registry.url";

/// The Avro schema of keys: they are always text.
const KEY_SCHEMA: &str = r#""string""#;

/// The source's key and value encoders.
#[derive(Debug, Clone)]
pub struct OutputSettings {
    /// How keys are written (default: their text).
    pub key: OutputEncoder,
    /// How values are written (default: JSON).
    pub value: OutputEncoder,
}

impl Default for OutputSettings {
    fn default() -> Self {
        OutputSettings {
            key: text_keys(),
            value: OutputEncoder::json(),
        }
    }
}

fn text_keys() -> OutputEncoder {
    // `string` needs no schema or registry: this cannot fail.
    OutputEncoder::new(Format::String, true, None, None).unwrap_or_else(|_| OutputEncoder::json())
}

/// A part's format: `format_key`, else the Kafka Connect converter class of
/// `converter_key` (`value.converter`, `key.converter`), else `default`; both given must
/// agree. `JsonConverter` writes plain JSON: its schema envelope (`schemas.enable=true`)
/// is refused when asked for explicitly.
fn read_format_or_converter(
    r: &mut Reader<'_>,
    format_key: &'static str,
    converter_key: &'static str,
    schemas_key: &'static str,
    default: Format,
) -> Format {
    let json_converter = r
        .optional(converter_key)
        .and_then(|class| Format::of_converter(&class))
        == Some(Format::Json);
    if json_converter && r.boolean(schemas_key) == Some(true) {
        r.invalid(
            schemas_key,
            format!("{schemas_key} = true: the source writes plain JSON, not Kafka Connect's schema envelope; set it to false"),
        );
    }
    read_part_format(r, format_key, converter_key, "writes")
        .format
        .unwrap_or(default)
}

/// `connect.mqtt.avro.schema.out`: JSON text, or a file path.
fn read_schema(r: &mut Reader<'_>) -> Option<String> {
    let v = r.optional(AVRO_SCHEMA_OUT)?;
    if v.starts_with(['{', '[', '"']) {
        return Some(v);
    }
    match std::fs::read_to_string(&v) {
        Ok(text) => Some(text),
        Err(e) => {
            r.invalid(
                AVRO_SCHEMA_OUT,
                format!(
                    "{AVRO_SCHEMA_OUT}: `{v}` is neither a JSON schema nor a readable file: {e}"
                ),
            );
            None
        }
    }
}

/// The output settings, every problem reported naming its key.
pub(super) fn read_output(r: &mut Reader<'_>) -> OutputSettings {
    let value_format = read_format_or_converter(
        r,
        VALUE_FORMAT_OUT,
        "value.converter",
        "value.converter.schemas.enable",
        Format::Json,
    );
    let key_format = read_format_or_converter(
        r,
        KEY_FORMAT_OUT,
        "key.converter",
        "key.converter.schemas.enable",
        Format::String,
    );
    let schema = read_schema(r);
    let options = read_registry_options(r);
    let url_key = [
        SCHEMA_REGISTRY_URL,
        registry::SCHEMA_REGISTRY_URL,
        "value.converter.schema.registry.url",
        "key.converter.schema.registry.url",
    ]
    .into_iter()
    .find(|k| r.optional(k).is_some());
    let confluent = value_format == Format::ConfluentAvro || key_format == Format::ConfluentAvro;
    let registry = match url_key.and_then(|k| r.optional(k).map(|url| (k, url))) {
        Some((key, url)) if confluent => {
            match SchemaRegistry::with_options(url, &options, schema_registry::DEFAULT_TIMEOUT) {
                Ok(client) => Some(Arc::new(client)),
                Err(e) => {
                    r.invalid(key, format!("{key}: {e}"));
                    return OutputSettings::default();
                }
            }
        }
        _ => None,
    };
    let value = OutputEncoder::new(value_format, false, schema.as_deref(), registry.clone());
    let key = OutputEncoder::new(key_format, true, Some(KEY_SCHEMA), registry);
    let mut out = OutputSettings::default();
    match value {
        Ok(v) => out.value = v,
        Err(crate::encode::OutputFormatError::MissingRegistry { .. }) => r.invalid(
            VALUE_FORMAT_OUT,
            format!("{VALUE_FORMAT_OUT} = confluent_avro needs {SCHEMA_REGISTRY_URL} (or {})", registry::SCHEMA_REGISTRY_URL),
        ),
        Err(crate::encode::OutputFormatError::MissingSchema { format, .. }) => r.invalid(
            AVRO_SCHEMA_OUT,
            format!("{VALUE_FORMAT_OUT} = {format} needs {AVRO_SCHEMA_OUT} (the values' Avro schema, as JSON text or a file path)"),
        ),
        Err(e) => r.invalid(AVRO_SCHEMA_OUT, format!("{AVRO_SCHEMA_OUT}: {e}")),
    }
    match key {
        Ok(k) => out.key = k,
        Err(_) => r.invalid(
            KEY_FORMAT_OUT,
            format!(
                "{KEY_FORMAT_OUT} = confluent_avro needs {SCHEMA_REGISTRY_URL} (or {})",
                registry::SCHEMA_REGISTRY_URL
            ),
        ),
    }
    out
}
