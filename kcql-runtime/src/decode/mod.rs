//! Payload decoders: bytes → [`Value`](crate::value::Value).

pub mod json;

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
}

/// Decodes `bytes` as `format`. A missing payload (Kafka tombstone) is [`Value::Null`].
pub fn decode(bytes: Option<&[u8]>, format: Format) -> Result<Value<'_>, DecodeError> {
    let Some(bytes) = bytes else {
        return Ok(Value::Null);
    };
    Ok(match format {
        Format::Json => json::parse(bytes)?,
        Format::String => Value::Str(Cow::Borrowed(
            std::str::from_utf8(bytes).map_err(|e| DecodeError::Utf8(e.valid_up_to()))?,
        )),
        Format::Bytes => Value::Bytes(Cow::Borrowed(bytes)),
    })
}
