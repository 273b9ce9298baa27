//! How a component writes the keys or values of the records it produces: an
//! [`OutputEncoder`] for one part (key or value) in one [`Format`] — the formats the decoders
//! read, written back:
//!
//! | format | written |
//! | --- | --- |
//! | `json` | compact JSON ([`crate::encode::json`]) |
//! | `string` | a string value's text; any other value as JSON |
//! | `bytes` | a bytes value's bytes, a string's UTF-8; any other value as JSON |
//! | `avro` | the Avro binary datum, written with the configured schema ([`crate::encode::avro`]) |
//! | `confluent_avro` | magic byte 0, the schema id, the datum: the schema is registered under the topic's subject (`<topic>-value` / `<topic>-key`, Confluent's `TopicNameStrategy`) |
//!
//! Only registering needs I/O: [`OutputEncoder::prepare`] registers the schema for a topic's
//! subject once and caches the id; [`OutputEncoder::encode`] is synchronous and refuses a topic
//! not prepared. A value that does not fit the schema is an [`EncodeError`], for the
//! component's error policy.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use thiserror::Error;
use tokio::sync::watch;

use super::avro::{to_avro, to_confluent, AvroEncodeError};
use super::json::write_json;
use crate::backoff::Backoff;
use crate::decode::{
    topic_subject, AvroSchema, AvroSchemaError, Format, RegistryError, SchemaRegistry,
};
use crate::value::Value;

/// An output format that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OutputFormatError {
    /// `avro` or `confluent_avro` without a schema.
    #[error("{part} format {format} needs a writer schema")]
    MissingSchema {
        /// `key` or `value`.
        part: &'static str,
        /// The format's name.
        format: &'static str,
    },
    /// The schema does not parse.
    #[error("{part} output schema: {error}")]
    Schema {
        /// `key` or `value`.
        part: &'static str,
        /// Why.
        error: AvroSchemaError,
    },
    /// `confluent_avro` without a registry.
    #[error("{part} format confluent_avro needs a schema registry URL")]
    MissingRegistry {
        /// `key` or `value`.
        part: &'static str,
    },
}

/// A value that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// It does not fit the Avro schema.
    #[error("the record {part} does not fit its Avro schema: {error}")]
    Avro {
        /// `key` or `value`.
        part: &'static str,
        /// Where and why.
        error: AvroEncodeError,
    },
    /// Confluent Avro for a topic whose subject was not registered first
    /// ([`OutputEncoder::prepare`]).
    #[error("no schema id for subject `{subject}`: it was not registered")]
    NotRegistered {
        /// The subject.
        subject: String,
    },
}

impl EncodeError {
    /// The class of a record skipped for this error (metric label, dead-letter header).
    pub fn class(&self) -> &'static str {
        "schema_error"
    }
}

/// Writes one part (key or value) of produced records in one format. Cheap to clone: clones
/// share the schema, the registry client and the cache of registered ids.
#[derive(Debug, Clone)]
pub struct OutputEncoder {
    format: Format,
    is_key: bool,
    schema: Option<Arc<(AvroSchema, String)>>,
    registry: Option<Arc<SchemaRegistry>>,
    /// Subject → registered id.
    ids: Arc<RwLock<HashMap<String, u32>>>,
}

impl OutputEncoder {
    /// An encoder of keys (`is_key`) or values in `format`; `schema` is the Avro writer schema
    /// (JSON text) that `avro` and `confluent_avro` need, `registry` the client
    /// `confluent_avro` registers it with.
    pub fn new(
        format: Format,
        is_key: bool,
        schema: Option<&str>,
        registry: Option<Arc<SchemaRegistry>>,
    ) -> Result<OutputEncoder, OutputFormatError> {
        let part = if is_key { "key" } else { "value" };
        let avro = matches!(format, Format::Avro | Format::ConfluentAvro);
        let schema = match (avro, schema) {
            (false, _) => None,
            (true, None) => {
                return Err(OutputFormatError::MissingSchema {
                    part,
                    format: format.name(),
                })
            }
            (true, Some(text)) => {
                let parsed = AvroSchema::parse(text)
                    .map_err(|error| OutputFormatError::Schema { part, error })?;
                Some(Arc::new((parsed, text.to_string())))
            }
        };
        if format == Format::ConfluentAvro && registry.is_none() {
            return Err(OutputFormatError::MissingRegistry { part });
        }
        Ok(OutputEncoder {
            format,
            is_key,
            schema,
            registry: registry.filter(|_| format == Format::ConfluentAvro),
            ids: Arc::default(),
        })
    }

    /// A JSON value encoder (the default).
    pub fn json() -> OutputEncoder {
        OutputEncoder {
            format: Format::Json,
            is_key: false,
            schema: None,
            registry: None,
            ids: Arc::default(),
        }
    }

    /// The format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// True for `avro` and `confluent_avro`: the value must be decoded and encoded (a JSON
    /// payload cannot pass through as it is).
    pub fn is_avro(&self) -> bool {
        self.schema.is_some()
    }

    fn part(&self) -> &'static str {
        if self.is_key {
            "key"
        } else {
            "value"
        }
    }

    fn cached_id(&self, subject: &str) -> Option<u32> {
        self.ids
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(subject)
            .copied()
    }

    /// Registers the schema under `topic`'s subject unless it was already (Confluent Avro
    /// only; every other format needs nothing).
    pub async fn prepare(&self, topic: &str) -> Result<(), RegistryError> {
        let (Some(registry), Some(schema)) = (&self.registry, &self.schema) else {
            return Ok(());
        };
        let subject = topic_subject(topic, self.is_key);
        if self.cached_id(&subject).is_some() {
            return Ok(());
        }
        let id = registry.register(&subject, &schema.1).await?;
        tracing::info!(subject, id, registry = registry.url(), "schema registered");
        self.ids
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(subject, id);
        Ok(())
    }

    /// [`prepare`](Self::prepare), waiting out a registry that is down (transient errors are
    /// retried with backoff and logged as `component`'s) until it answers or `stop` turns
    /// true (`None`). A refusal (an invalid or incompatible schema, bad credentials) is
    /// `Some(Err(…))`.
    pub async fn prepare_patiently(
        &self,
        topic: &str,
        mut stop: watch::Receiver<bool>,
        component: &str,
    ) -> Option<Result<(), RegistryError>> {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        loop {
            if *stop.borrow_and_update() {
                return None;
            }
            match self.prepare(topic).await {
                Err(e) if e.is_transient() => {
                    let delay = backoff.next_delay();
                    tracing::warn!(component, topic, error = %e, retry_in = ?delay,
                        "cannot register the output schema; retrying");
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => return None,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
                other => return Some(other),
            }
        }
    }

    /// Writes `v` for a record to `topic` (prepared first for Confluent Avro).
    pub fn encode(&self, topic: &str, v: &Value<'_>) -> Result<Vec<u8>, EncodeError> {
        let part = self.part();
        let avro_error = |error| EncodeError::Avro { part, error };
        match (self.format, &self.schema, v) {
            (Format::Avro, Some(schema), _) => to_avro(&schema.0, v).map_err(avro_error),
            (Format::ConfluentAvro, Some(schema), _) => {
                let subject = topic_subject(topic, self.is_key);
                let id = self
                    .cached_id(&subject)
                    .ok_or(EncodeError::NotRegistered { subject })?;
                to_confluent(&schema.0, id, v).map_err(avro_error)
            }
            (Format::String | Format::Bytes, _, Value::Str(s)) => Ok(s.as_bytes().to_vec()),
            (Format::Bytes, _, Value::Bytes(b)) => Ok(b.to_vec()),
            _ => {
                let mut out = Vec::with_capacity(64);
                write_json(v, &mut out);
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests;
