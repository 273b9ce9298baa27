//! Payload decoders: bytes → [`Value`].
//!
//! JSON, text and raw bytes need nothing but the payload ([`decode`]). Avro needs the writer
//! schema as well ([`decode_with`]): for [`Format::Avro`] the one given in the configuration
//! ([`AvroSchema::parse`]), for [`Format::ConfluentAvro`] the one a [`SchemaRegistry`] returns
//! for the id in the payload's header. Fetching that schema is the only asynchronous step; once
//! resolved (and cached), decoding is synchronous:
//!
//! ```no_run
//! # async fn run(registry: &kcql_runtime::decode::SchemaRegistry, payload: &[u8])
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use kcql_runtime::decode::{decode_with, Format};
//! let schema = registry.schema_for(payload).await?; // a cache hit after the first time
//! let value = decode_with(Some(payload), Format::ConfluentAvro, Some(&schema))?;
//! # Ok(()) }
//! ```

pub mod avro;
pub mod json;
pub mod schema_registry;

pub use avro::{AvroError, AvroSchema, AvroSchemaError};
pub use schema_registry::{
    topic_subject, RegistryError, RegistryOptions, RegistryOptionsError, SchemaRegistry,
};

use crate::value::Value;
use std::borrow::Cow;
use thiserror::Error;

/// How a key or value payload is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// JSON documents (the default).
    #[default]
    Json,
    /// UTF-8 text, as one string value.
    String,
    /// Raw bytes, as one bytes value.
    Bytes,
    /// An Avro binary datum written with the schema given in the configuration.
    Avro,
    /// The Confluent wire format: magic byte 0, a big-endian 4-byte schema id, then an Avro
    /// datum written with the schema registered under that id in a Schema Registry.
    ConfluentAvro,
}

impl Format {
    /// The names of the formats, as configured.
    pub const NAMES: [&'static str; 5] = ["json", "string", "bytes", "avro", "confluent_avro"];

    /// The Kafka Connect converter classes a format stands for.
    pub const CONVERTERS: [(&'static str, Format); 4] = [
        ("org.apache.kafka.connect.json.JsonConverter", Format::Json),
        (
            "org.apache.kafka.connect.storage.StringConverter",
            Format::String,
        ),
        (
            "org.apache.kafka.connect.converters.ByteArrayConverter",
            Format::Bytes,
        ),
        (
            "io.confluent.connect.avro.AvroConverter",
            Format::ConfluentAvro,
        ),
    ];

    /// The format of a configured name (any case; [`Format::NAMES`]).
    pub fn from_name(name: &str) -> Option<Format> {
        const FORMATS: [Format; 5] = [
            Format::Json,
            Format::String,
            Format::Bytes,
            Format::Avro,
            Format::ConfluentAvro,
        ];
        Format::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .map(|i| FORMATS[i])
    }

    /// The configured name of the format ([`Format::NAMES`]).
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::String => "string",
            Format::Bytes => "bytes",
            Format::Avro => "avro",
            Format::ConfluentAvro => "confluent_avro",
        }
    }

    /// The format a Kafka Connect converter class reads ([`Format::CONVERTERS`]).
    pub fn of_converter(class: &str) -> Option<Format> {
        Format::CONVERTERS
            .iter()
            .find(|(c, _)| *c == class)
            .map(|(_, f)| *f)
    }

    /// True for the formats that need an Avro schema to decode ([`decode_with`]).
    pub fn needs_schema(self) -> bool {
        matches!(self, Format::Avro | Format::ConfluentAvro)
    }
}

/// A payload that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Bad JSON.
    #[error(transparent)]
    Json(#[from] json::JsonError),
    /// Text that is not UTF-8.
    #[error("payload is not valid UTF-8 (at byte {0})")]
    Utf8(usize),
    /// A bad Avro datum or Confluent header.
    #[error(transparent)]
    Avro(#[from] AvroError),
    /// An Avro format decoded without a schema.
    #[error("the {0:?} format needs an Avro schema")]
    SchemaRequired(Format),
}

/// Decodes `bytes` as `format`. A missing payload (Kafka tombstone) is [`Value::Null`]. The
/// Avro formats need a schema: use [`decode_with`] for them (here they are
/// [`DecodeError::SchemaRequired`]).
pub fn decode(bytes: Option<&[u8]>, format: Format) -> Result<Value<'_>, DecodeError> {
    decode_with(bytes, format, None)
}

/// Decodes `bytes` as `format`, with the writer `schema` for the Avro formats (ignored by the
/// others). For [`Format::ConfluentAvro`] the schema must be the one registered under the id
/// in the payload's header (see [`SchemaRegistry::schema_for`]); a schema fetched from a
/// registry under another id is refused. The value borrows from both `bytes` and `schema`.
/// A missing payload (Kafka tombstone) is [`Value::Null`].
pub fn decode_with<'a>(
    bytes: Option<&'a [u8]>,
    format: Format,
    schema: Option<&'a AvroSchema>,
) -> Result<Value<'a>, DecodeError> {
    let Some(bytes) = bytes else {
        return Ok(Value::Null);
    };
    Ok(match format {
        Format::Json => json::parse(bytes)?,
        Format::String => Value::Str(Cow::Borrowed(
            std::str::from_utf8(bytes).map_err(|e| DecodeError::Utf8(e.valid_up_to()))?,
        )),
        Format::Bytes => Value::Bytes(Cow::Borrowed(bytes)),
        Format::Avro => schema
            .ok_or(DecodeError::SchemaRequired(format))?
            .decode(bytes)?,
        Format::ConfluentAvro => schema
            .ok_or(DecodeError::SchemaRequired(format))?
            .decode_confluent(bytes)?,
    })
}
