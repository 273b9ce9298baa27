//! The one way a consumed Kafka message becomes a [`RecordView`]: a [`RecordDecoder`] built
//! from a component's [`RecordFormat`] (key and value format, Avro writer schema, Schema
//! Registry) decodes the key and value of every record the InfluxDB sink and the window
//! processor read.
//!
//! Decoding is synchronous. Only the Confluent Avro format may need I/O first: the writer
//! schema registered under the id in the payload's header, fetched once per id and cached
//! ([`RecordDecoder::resolve`]; a ready future for every other format).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::message::Message;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::RecordView;
use crate::backoff::Backoff;
use crate::decode::{
    decode_with, json, schema_registry, AvroSchema, AvroSchemaError, DecodeError, Format,
    RegistryError, RegistryOptions, SchemaRegistry,
};
use crate::redact::SecretUrl;
use crate::shutdown::Shutdown;
use crate::value::Value;

/// How a component reads the key and value of the records it consumes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RecordFormat {
    /// How keys are decoded; `None` sniffs: a JSON object or array when the key parses as
    /// one, else UTF-8 text, else bytes.
    pub key: Option<Format>,
    /// How values are decoded (default JSON).
    pub value: Format,
    /// The Avro writer schema (JSON text) for a part whose format is [`Format::Avro`].
    pub avro_schema: Option<String>,
    /// The Schema Registry base URL for a part whose format is [`Format::ConfluentAvro`] (it
    /// may hold credentials; shown without them).
    pub schema_registry_url: Option<SecretUrl>,
    /// JSON keys and values may come in Kafka Connect's schema envelope
    /// (`{"schema": …, "payload": …}`, what `JsonConverter` writes with `schemas.enable=true`):
    /// such a document is read as its `payload`; any other document as it is.
    #[serde(default)]
    pub json_envelope: JsonEnvelope,
    /// How the registry is reached besides its URL (basic auth, a CA file); not serialized.
    #[serde(skip)]
    pub registry_options: RegistryOptions,
}

/// Which JSON parts may come in Kafka Connect's schema envelope
/// ([`RecordFormat::json_envelope`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JsonEnvelope {
    /// Keys (`key.converter.schemas.enable`).
    pub key: bool,
    /// Values (`value.converter.schemas.enable`).
    pub value: bool,
}

/// A [`RecordFormat`] that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordFormatError {
    /// The `avro` format without a writer schema.
    #[error("{part}_format = \"avro\" needs avro_schema (the writer schema as JSON text)")]
    MissingAvroSchema {
        /// `key` or `value`.
        part: &'static str,
    },
    /// The writer schema does not parse.
    #[error("avro_schema: {0}")]
    AvroSchema(#[from] AvroSchemaError),
    /// The `confluent_avro` format without a registry to resolve its schema ids.
    #[error("{part}_format = \"confluent_avro\" needs schema_registry_url (the Schema Registry's base URL)")]
    MissingRegistry {
        /// `key` or `value`.
        part: &'static str,
    },
    /// The registry URL is unusable.
    #[error("schema_registry_url: {0}")]
    Registry(#[from] RegistryError),
}

/// A record's key or value could not be decoded.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("cannot decode the record {part}: {error}")]
pub struct RecordDecodeError {
    /// `key` or `value`.
    pub part: &'static str,
    /// Why.
    pub error: DecodeError,
}

/// The writer schemas a record's Confluent Avro parts were resolved to
/// ([`RecordDecoder::resolve`]); empty for every other format.
#[derive(Debug, Clone, Default)]
pub struct Schemas {
    key: Option<Arc<AvroSchema>>,
    value: Option<Arc<AvroSchema>>,
}

/// The empty [`Schemas`], shared.
static NO_SCHEMAS: Schemas = Schemas::NONE;

impl Schemas {
    /// No resolved schema (what every format but Confluent Avro needs).
    pub const NONE: Schemas = Schemas {
        key: None,
        value: None,
    };

    /// A shared reference to [`Schemas::NONE`].
    pub fn none() -> &'static Schemas {
        &NO_SCHEMAS
    }

    /// Schemas given by the caller (e.g. resolved elsewhere).
    pub fn new(key: Option<Arc<AvroSchema>>, value: Option<Arc<AvroSchema>>) -> Schemas {
        Schemas { key, value }
    }
}

/// A consumed record's raw parts, borrowed from the consumer's message.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The record timestamp (epoch milliseconds), when the broker gave one.
    pub timestamp_ms: Option<i64>,
    /// The key bytes (`None`: null key).
    pub key: Option<&'a [u8]>,
    /// The value bytes (`None`: tombstone).
    pub value: Option<&'a [u8]>,
    /// The headers, in order ([`crate::kafka::headers_of`]).
    pub headers: &'a [(&'a str, &'a [u8])],
}

impl<'a> RawRecord<'a> {
    /// The raw parts of a consumed message; `headers` are its headers, read once by the caller.
    pub fn of_message<M: Message>(msg: &'a M, headers: &'a [(&'a str, &'a [u8])]) -> Self {
        Self::of_message_in(msg, msg.topic(), headers)
    }

    /// [`of_message`](Self::of_message) with the message's topic name already read by the
    /// caller (rdkafka measures and checks it on every `topic()` call).
    pub fn of_message_in<M: Message>(
        msg: &'a M,
        topic: &'a str,
        headers: &'a [(&'a str, &'a [u8])],
    ) -> Self {
        RawRecord {
            topic,
            partition: msg.partition(),
            offset: msg.offset(),
            timestamp_ms: msg.timestamp().to_millis(),
            key: msg.key(),
            value: msg.payload(),
            headers,
        }
    }
}

/// Decodes the records of one component by its [`RecordFormat`].
#[derive(Debug, Clone)]
pub struct RecordDecoder {
    key: Option<Format>,
    value: Format,
    avro: Option<AvroSchema>,
    registry: Option<Arc<SchemaRegistry>>,
    envelope: JsonEnvelope,
}

impl RecordDecoder {
    /// A decoder for `format`: parses the Avro writer schema and builds the registry client.
    pub fn new(format: &RecordFormat) -> Result<RecordDecoder, RecordFormatError> {
        let parts = [("key", format.key), ("value", Some(format.value))];
        let avro = match &format.avro_schema {
            Some(s) => Some(AvroSchema::parse(s)?),
            None => None,
        };
        for (part, f) in parts {
            if f == Some(Format::Avro) && avro.is_none() {
                return Err(RecordFormatError::MissingAvroSchema { part });
            }
        }
        let registry = match &format.schema_registry_url {
            Some(url) => Some(Arc::new(SchemaRegistry::with_options(
                url.expose(),
                &format.registry_options,
                schema_registry::DEFAULT_TIMEOUT,
            )?)),
            None => None,
        };
        for (part, f) in parts {
            if f == Some(Format::ConfluentAvro) && registry.is_none() {
                return Err(RecordFormatError::MissingRegistry { part });
            }
        }
        Ok(RecordDecoder {
            key: format.key,
            value: format.value,
            avro,
            registry,
            envelope: format.json_envelope,
        })
    }

    /// A decoder for JSON values and sniffed keys (the default format).
    pub fn json() -> RecordDecoder {
        RecordDecoder {
            key: None,
            value: Format::Json,
            avro: None,
            registry: None,
            envelope: JsonEnvelope::default(),
        }
    }

    /// The registry client, when a part is Confluent Avro (to share with an encoder).
    pub fn registry(&self) -> Option<&Arc<SchemaRegistry>> {
        self.registry.as_ref()
    }

    /// The value format.
    pub fn value_format(&self) -> Format {
        self.value
    }

    /// True when some part needs [`resolve`](Self::resolve) before decoding.
    pub fn needs_registry(&self) -> bool {
        self.value == Format::ConfluentAvro || self.key == Some(Format::ConfluentAvro)
    }

    /// Fetches (or finds cached) the writer schemas of `raw`'s Confluent Avro parts. A missing
    /// part (null key, tombstone) needs none. [`RegistryError::is_transient`] tells a registry
    /// that is down (retry later) from a record that can never be decoded.
    pub async fn resolve(&self, raw: &RawRecord<'_>) -> Result<Schemas, RegistryError> {
        let Some(registry) = &self.registry else {
            return Ok(Schemas::NONE);
        };
        let mut schemas = Schemas::NONE;
        if self.value == Format::ConfluentAvro {
            if let Some(bytes) = raw.value {
                schemas.value = Some(registry.schema_for(bytes).await?);
            }
        }
        if self.key == Some(Format::ConfluentAvro) {
            if let Some(bytes) = raw.key {
                schemas.key = Some(registry.schema_for(bytes).await?);
            }
        }
        Ok(schemas)
    }

    /// [`resolve`](Self::resolve), waiting out a registry that is down: transient failures
    /// are retried with backoff (and logged as `component`'s) until the registry answers or
    /// `stop` fires (`None`: nothing was decided). A record whose schema can never be had
    /// (unknown id, no Confluent header) is `Some(Err(…))`, for the component's error policy.
    pub async fn resolve_patiently(
        &self,
        raw: &RawRecord<'_>,
        stop: &Shutdown,
        component: &str,
    ) -> Option<Result<Schemas, RegistryError>> {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        let mut stop = stop.clone();
        loop {
            match self.resolve(raw).await {
                Err(e) if e.is_transient() => {
                    let delay = backoff.next_delay();
                    tracing::warn!(component, topic = raw.topic, partition = raw.partition,
                        offset = raw.offset, error = %e, retry_in = ?delay,
                        "cannot resolve the record's Avro schema; retrying");
                    tokio::select! {
                        _ = stop.wait() => return None,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
                other => return Some(other),
            }
        }
    }

    /// Decodes `raw` into a view; the key only when `with_key` (a route reads it), else it is
    /// [`Value::Null`]. `schemas` are the ones [`resolve`](Self::resolve) gave for `raw`.
    pub fn view<'a>(
        &'a self,
        raw: &RawRecord<'a>,
        schemas: &'a Schemas,
        with_key: bool,
    ) -> Result<RecordView<'a>, RecordDecodeError> {
        let value = self
            .part(raw.value, Some(self.value), schemas.value.as_deref())
            .map(|v| unwrap_envelope(v, self.envelope.value))
            .map_err(|error| RecordDecodeError {
                part: "value",
                error,
            })?;
        let key = if with_key {
            self.part(raw.key, self.key, schemas.key.as_deref())
                .map(|v| unwrap_envelope(v, self.envelope.key))
                .map_err(|error| RecordDecodeError { part: "key", error })?
        } else {
            Value::Null
        };
        Ok(RecordView {
            topic: raw.topic,
            partition: raw.partition,
            offset: raw.offset,
            timestamp_ms: raw.timestamp_ms,
            key,
            value,
            headers: raw.headers,
        })
    }

    fn part<'a>(
        &'a self,
        bytes: Option<&'a [u8]>,
        format: Option<Format>,
        resolved: Option<&'a AvroSchema>,
    ) -> Result<Value<'a>, DecodeError> {
        match format {
            None => Ok(sniff(bytes)),
            Some(Format::ConfluentAvro) => decode_with(bytes, Format::ConfluentAvro, resolved),
            Some(f) => decode_with(bytes, f, self.avro.as_ref()),
        }
    }
}

/// `value`'s `payload` when `enabled` and `value` is Kafka Connect's schema envelope: an
/// object of exactly the members `schema` and `payload`.
fn unwrap_envelope(value: Value<'_>, enabled: bool) -> Value<'_> {
    match value {
        Value::Object(mut members)
            if enabled
                && members.len() == 2
                && members.iter().any(|(k, _)| k == "schema")
                && members.iter().any(|(k, _)| k == "payload") =>
        {
            let at = members
                .iter()
                .position(|(k, _)| k == "payload")
                .unwrap_or(0);
            members.swap_remove(at).1
        }
        other => other,
    }
}

/// A key of no declared format: a JSON object or array when it parses as one, else UTF-8
/// text, else bytes.
fn sniff(bytes: Option<&[u8]>) -> Value<'_> {
    let Some(k) = bytes else {
        return Value::Null;
    };
    if matches!(k.first(), Some(b'{' | b'[')) {
        if let Ok(v) = json::parse(k) {
            return v;
        }
    }
    match std::str::from_utf8(k) {
        Ok(s) => Value::Str(Cow::Borrowed(s)),
        Err(_) => Value::Bytes(Cow::Borrowed(k)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(key: Option<&'a [u8]>, value: Option<&'a [u8]>) -> RawRecord<'a> {
        RawRecord {
            topic: "t",
            partition: 0,
            offset: 0,
            timestamp_ms: None,
            key,
            value,
            headers: &[],
        }
    }

    const SCHEMA: &str = r#"{"type":"record","name":"R","fields":[{"name":"id","type":"string"},{"name":"t","type":"double"}]}"#;

    #[test]
    fn the_kafka_connect_schema_envelope_is_read_as_its_payload_when_enabled() {
        let enveloped = br#"{"schema":{"type":"struct","fields":[{"field":"t","type":"double"}]},"payload":{"t":21.5}}"#;
        let key = br#"{"schema":{"type":"string"},"payload":"d1"}"#;
        let plain_with_schema_field = br#"{"schema":"v2","payload":1,"t":3}"#;
        let on = RecordDecoder::new(&RecordFormat {
            key: Some(Format::Json),
            json_envelope: JsonEnvelope {
                key: true,
                value: true,
            },
            ..RecordFormat::default()
        })
        .unwrap();
        let r = raw(Some(key), Some(enveloped));
        let v = on.view(&r, Schemas::none(), true).unwrap();
        assert_eq!(v.value.get("t").and_then(|t| t.as_f64()), Some(21.5));
        assert_eq!(v.key, Value::Str(Cow::Borrowed("d1")));
        // Any other document is read as it is.
        let r = raw(None, Some(plain_with_schema_field));
        let v = on.view(&r, Schemas::none(), false).unwrap();
        assert_eq!(v.value.get("t").and_then(|t| t.as_f64()), Some(3.0));
        // Off (the default): the envelope is the value.
        let off = RecordDecoder::json();
        let r = raw(None, Some(enveloped));
        let v = off.view(&r, Schemas::none(), false).unwrap();
        assert!(v.value.get("payload").is_some());
    }

    fn avro_datum() -> Vec<u8> {
        // id = "d1" (zigzag length 2 → 4), t = 21.5 (little-endian double)
        let mut d = vec![4, b'd', b'1'];
        d.extend_from_slice(&21.5f64.to_le_bytes());
        d
    }

    #[test]
    fn unknown_keys_are_sniffed_as_json_text_or_bytes() {
        let d = RecordDecoder::json();
        let none = Schemas::NONE;
        let kind = |k: Option<&'static [u8]>| {
            let r = raw(k, Some(b"{}"));
            d.view(&r, &none, true).expect("decodes").key.type_name()
        };
        assert_eq!(kind(Some(b"{\"id\":1}")), "object");
        assert_eq!(kind(Some(b"[1]")), "array");
        assert_eq!(kind(Some(b"{broken")), "string");
        assert_eq!(kind(Some(b"dev-1")), "string");
        assert_eq!(kind(Some(&[0xff, 0xfe])), "bytes");
        assert_eq!(kind(None), "null");
    }

    #[test]
    fn keys_are_decoded_only_when_asked() {
        let d = RecordDecoder::json();
        let r = raw(Some(b"{\"a\":1}"), Some(b"{}"));
        let v = d.view(&r, &Schemas::NONE, false).expect("decodes");
        assert!(matches!(v.key, Value::Null));
    }

    #[test]
    fn bad_values_name_the_part() {
        let d = RecordDecoder::json();
        let r = raw(None, Some(b"{nope"));
        let e = d.view(&r, &Schemas::NONE, true).expect_err("bad JSON");
        assert_eq!(e.part, "value");
        assert!(e.to_string().starts_with("cannot decode the record value:"));
    }

    #[test]
    fn raw_avro_values_decode_with_the_configured_schema() {
        let d = RecordDecoder::new(&RecordFormat {
            value: Format::Avro,
            avro_schema: Some(SCHEMA.to_string()),
            ..RecordFormat::default()
        })
        .expect("valid format");
        let datum = avro_datum();
        let r = raw(None, Some(&datum));
        let v = d.view(&r, &Schemas::NONE, false).expect("decodes");
        assert_eq!(v.value.get("id"), Some(&Value::Str("d1".into())));
        assert_eq!(v.value.get("t"), Some(&Value::Float(21.5)));
    }

    #[test]
    fn confluent_values_use_the_resolved_schema() {
        let d = RecordDecoder::new(&RecordFormat {
            value: Format::ConfluentAvro,
            schema_registry_url: Some("http://127.0.0.1:1".into()),
            ..RecordFormat::default()
        })
        .expect("valid format");
        assert!(d.needs_registry());
        let mut payload = vec![0, 0, 0, 0, 7];
        payload.extend(avro_datum());
        let r = raw(None, Some(&payload));
        let schema = Arc::new(AvroSchema::parse(SCHEMA).expect("schema"));
        let schemas = Schemas::new(None, Some(schema));
        let v = d.view(&r, &schemas, false).expect("decodes");
        assert_eq!(v.value.get("id"), Some(&Value::Str("d1".into())));
        // Unresolved, the value cannot be decoded: it is an error, never a guess.
        let e = d.view(&r, &Schemas::NONE, false).expect_err("no schema");
        assert_eq!(e.part, "value");
    }

    #[test]
    fn formats_that_cannot_work_are_refused() {
        let avro_without_schema = RecordFormat {
            value: Format::Avro,
            ..RecordFormat::default()
        };
        assert_eq!(
            RecordDecoder::new(&avro_without_schema).map(|_| ()),
            Err(RecordFormatError::MissingAvroSchema { part: "value" })
        );
        let confluent_without_registry = RecordFormat {
            key: Some(Format::ConfluentAvro),
            ..RecordFormat::default()
        };
        assert_eq!(
            RecordDecoder::new(&confluent_without_registry).map(|_| ()),
            Err(RecordFormatError::MissingRegistry { part: "key" })
        );
        let bad_schema = RecordFormat {
            value: Format::Avro,
            avro_schema: Some("{not a schema".to_string()),
            ..RecordFormat::default()
        };
        assert!(matches!(
            RecordDecoder::new(&bad_schema),
            Err(RecordFormatError::AvroSchema(_))
        ));
    }
}
