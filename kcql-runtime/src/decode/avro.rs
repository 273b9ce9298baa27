//! Avro binary datums → [`Value`], borrowing strings and bytes from the payload.
//!
//! [`AvroSchema::parse`] reads a writer schema (the JSON form of the Avro specification) into a
//! compact arena of nodes; named types are indices into it, so references and recursive
//! schemas cost nothing at decode time. [`AvroSchema::decode`] walks a datum against it in one
//! pass. [`AvroSchema::decode_confluent`] does the same for the Confluent wire format (magic
//! byte 0, a big-endian 4-byte schema id, then the datum); the schema for an id comes from
//! [`SchemaRegistry`](super::schema_registry::SchemaRegistry).
//!
//! # How Avro maps onto [`Value`]
//!
//! | Avro | [`Value`] |
//! | --- | --- |
//! | `null` | `Null` |
//! | `boolean` | `Bool` |
//! | `int`, `long` | `Int` |
//! | `float`, `double` | `Float` (a `float` is widened exactly; NaN and infinities pass through) |
//! | `string` | `Str`, borrowed |
//! | `bytes`, `fixed` | `Bytes`, borrowed |
//! | `enum` | `Str`: the symbol's name (borrowed from the schema) |
//! | `record` | `Object`, fields in schema order (names borrowed from the schema) |
//! | `map` | `Object`, entries in payload order |
//! | `array` | `Array` |
//! | union | the chosen branch's value itself (no `{"type": value}` wrapper) |
//!
//! Logical types:
//!
//! | logical type | [`Value`] |
//! | --- | --- |
//! | `decimal` (bytes or fixed) | `Float`: the big-endian two's-complement unscaled integer divided by 10^scale. **Lossy**: an `f64` holds about 15–17 significant digits, so a decimal with more digits is rounded; an unscaled value wider than 128 bits is an error ([`AvroError::DecimalTooWide`]). |
//! | `uuid` on `string` | `Str`, borrowed |
//! | `uuid` on `fixed(16)` | `Str`, owned: the canonical lowercase hyphenated text |
//! | `date` | `Int`: days since 1970-01-01 |
//! | `time-millis` / `time-micros` | `Int`: milliseconds / microseconds after midnight |
//! | `timestamp-millis` / `-micros` / `-nanos` | `Int`: milli/micro/nanoseconds since the Unix epoch, UTC |
//! | `local-timestamp-millis` / `-micros` / `-nanos` | `Int`: the same units, in an unspecified local time zone |
//! | `duration` on `fixed(12)` | `Object` `{months, days, millis}` of `Int`s |
//!
//! The `Int` of a time type carries no unit: ask [`AvroSchema::logical_type`] for it. Logical
//! types this module does not know (or that are invalid, such as a decimal whose scale exceeds
//! its precision) are ignored and the underlying type is decoded, as the specification says.
//!
//! # Hostile input
//!
//! Every malformed datum is an [`AvroError`] carrying the byte offset; nothing panics. Lengths
//! and block counts are checked against the bytes that remain before anything is reserved, so
//! a forged length cannot make the decoder allocate more than a small multiple of the payload.
//! Values that take no bytes at all (`null`s, records of `null`s, in arrays or in records
//! nested ten deep by a schema) are capped at [`MAX_ZERO_SIZE_ITEMS`] per datum, and nesting at
//! [`MAX_DEPTH`], so recursive schemas cannot exhaust the stack.

use crate::value::Value;
use serde_json::{Map, Value as Json};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use thiserror::Error;

/// Deepest nesting of records, arrays and maps accepted in a datum.
pub const MAX_DEPTH: usize = 128;

/// Most values that encode in zero bytes (`null`s, empty records, records of those) accepted
/// in one datum, wherever they are: array items or record fields. Every other value takes at
/// least one byte, so the input's length bounds it.
pub const MAX_ZERO_SIZE_ITEMS: usize = 1 << 16;

/// The magic byte that starts a Confluent wire-format payload.
pub const CONFLUENT_MAGIC: u8 = 0;

/// Length of the Confluent wire-format header: the magic byte and a 4-byte schema id.
pub const CONFLUENT_HEADER_LEN: usize = 5;

/// An Avro logical type, as reported by [`AvroSchema::logical_type`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogicalType {
    /// `decimal`: decoded as a (lossy) float.
    Decimal {
        /// Total significant digits.
        precision: u32,
        /// Digits after the decimal point.
        scale: u32,
    },
    /// `uuid`, on a string or a 16-byte fixed.
    Uuid,
    /// `date`: days since 1970-01-01.
    Date,
    /// `time-millis`: milliseconds after midnight.
    TimeMillis,
    /// `time-micros`: microseconds after midnight.
    TimeMicros,
    /// `timestamp-millis`: milliseconds since the Unix epoch, UTC.
    TimestampMillis,
    /// `timestamp-micros`: microseconds since the Unix epoch, UTC.
    TimestampMicros,
    /// `timestamp-nanos`: nanoseconds since the Unix epoch, UTC.
    TimestampNanos,
    /// `local-timestamp-millis`: milliseconds, local time.
    LocalTimestampMillis,
    /// `local-timestamp-micros`: microseconds, local time.
    LocalTimestampMicros,
    /// `local-timestamp-nanos`: nanoseconds, local time.
    LocalTimestampNanos,
    /// `duration`: months, days and milliseconds.
    Duration,
}

impl LogicalType {
    /// The `logicalType` name in the schema.
    pub fn name(self) -> &'static str {
        match self {
            LogicalType::Decimal { .. } => "decimal",
            LogicalType::Uuid => "uuid",
            LogicalType::Date => "date",
            LogicalType::TimeMillis => "time-millis",
            LogicalType::TimeMicros => "time-micros",
            LogicalType::TimestampMillis => "timestamp-millis",
            LogicalType::TimestampMicros => "timestamp-micros",
            LogicalType::TimestampNanos => "timestamp-nanos",
            LogicalType::LocalTimestampMillis => "local-timestamp-millis",
            LogicalType::LocalTimestampMicros => "local-timestamp-micros",
            LogicalType::LocalTimestampNanos => "local-timestamp-nanos",
            LogicalType::Duration => "duration",
        }
    }
}

impl fmt::Display for LogicalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A schema that is not a usable Avro schema.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AvroSchemaError {
    /// The schema text is not JSON.
    #[error("Avro schema is not valid JSON: {0}")]
    Json(String),
    /// The JSON does not describe an Avro schema.
    #[error("invalid Avro schema: {0}")]
    Invalid(String),
}

/// A datum (or Confluent payload) that does not decode against its schema. Offsets count from
/// the start of the bytes handed to the decoder (for Confluent payloads, including the header).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AvroError {
    /// The input ends before the value does.
    #[error("truncated Avro datum: {needed} byte(s) needed at byte {offset}, input has {len}")]
    Truncated {
        /// Where the value that does not fit starts.
        offset: usize,
        /// How many bytes it needs from there (at least).
        needed: u64,
        /// The input's length.
        len: usize,
    },
    /// Bytes left over after the datum.
    #[error("{count} trailing byte(s) after the Avro datum at byte {offset}")]
    TrailingBytes {
        /// Where the datum ended.
        offset: usize,
        /// How many bytes follow it.
        count: usize,
    },
    /// A string (or map key) that is not UTF-8.
    #[error("Avro string is not valid UTF-8 (at byte {offset})")]
    InvalidUtf8 {
        /// The first invalid byte.
        offset: usize,
    },
    /// A union branch index outside the union.
    #[error("union branch index {index} at byte {offset} is out of range (the union has {branches} branches)")]
    BadUnionIndex {
        /// Where the index starts.
        offset: usize,
        /// The index read.
        index: i64,
        /// How many branches the union has.
        branches: usize,
    },
    /// An enum symbol index outside the enum.
    #[error(
        "enum index {index} at byte {offset} is out of range (the enum has {symbols} symbols)"
    )]
    BadEnumIndex {
        /// Where the index starts.
        offset: usize,
        /// The index read.
        index: i64,
        /// How many symbols the enum has.
        symbols: usize,
    },
    /// A negative string, bytes or block byte-size length.
    #[error("negative length {len} at byte {offset}")]
    NegativeLength {
        /// Where the length starts.
        offset: usize,
        /// The length read.
        len: i64,
    },
    /// A variable-length integer longer than 64 bits.
    #[error("variable-length integer at byte {offset} overflows 64 bits")]
    VarintOverflow {
        /// Where the integer starts.
        offset: usize,
    },
    /// An `int` outside the 32-bit range.
    #[error("int {value} at byte {offset} is outside the 32-bit range")]
    IntOutOfRange {
        /// Where the integer starts.
        offset: usize,
        /// The value read.
        value: i64,
    },
    /// A boolean byte other than 0 or 1.
    #[error("boolean byte {byte:#04x} at byte {offset} is neither 0 nor 1")]
    BadBoolean {
        /// Where.
        offset: usize,
        /// The byte.
        byte: u8,
    },
    /// A decimal whose unscaled value does not fit 128 bits.
    #[error("decimal at byte {offset} has an unscaled value wider than 128 bits")]
    DecimalTooWide {
        /// Where the decimal's bytes start.
        offset: usize,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("Avro datum nested deeper than {MAX_DEPTH} levels at byte {offset}")]
    TooDeep {
        /// Where the value that is too deep starts.
        offset: usize,
    },
    /// More than [`MAX_ZERO_SIZE_ITEMS`] values that take no bytes.
    #[error("the datum holds more than {MAX_ZERO_SIZE_ITEMS} zero-byte values (at byte {offset})")]
    TooManyItems {
        /// Where the block count that cannot fit starts, or where the value over the limit is.
        offset: usize,
    },
    /// A Confluent payload shorter than its 5-byte header.
    #[error("Confluent Avro payload is {len} byte(s), shorter than the 5-byte header")]
    ShortPayload {
        /// The payload's length.
        len: usize,
    },
    /// A Confluent payload whose first byte is not [`CONFLUENT_MAGIC`].
    #[error("Confluent Avro payload starts with byte {byte:#04x}, not the magic byte 0x00")]
    BadMagic {
        /// The first byte.
        byte: u8,
    },
    /// A Confluent payload decoded with the schema registered under another id.
    #[error("payload carries schema id {payload} but was decoded with schema id {schema}")]
    SchemaIdMismatch {
        /// The id in the payload.
        payload: u32,
        /// The id the schema was fetched under.
        schema: u32,
    },
}

/// Splits a Confluent wire-format payload into its schema id and the Avro datum.
pub fn split_confluent(payload: &[u8]) -> Result<(u32, &[u8]), AvroError> {
    if payload.len() < CONFLUENT_HEADER_LEN {
        return Err(AvroError::ShortPayload { len: payload.len() });
    }
    if payload[0] != CONFLUENT_MAGIC {
        return Err(AvroError::BadMagic { byte: payload[0] });
    }
    let id = u32::from_be_bytes([payload[1], payload[2], payload[3], payload[4]]);
    Ok((id, &payload[CONFLUENT_HEADER_LEN..]))
}

pub(crate) type NodeId = usize;

/// One schema node. Named types are nodes like any other; a reference is just its index.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Null,
    Boolean,
    Int(Option<LogicalType>),
    Long(Option<LogicalType>),
    Float,
    Double,
    Bytes,
    String,
    /// `uuid` on a string.
    UuidString,
    /// `uuid` on a 16-byte fixed.
    UuidFixed,
    Record {
        fields: Box<[(Box<str>, NodeId)]>,
    },
    Enum {
        symbols: Box<[Box<str>]>,
    },
    Array(NodeId),
    Map(NodeId),
    Union(Box<[NodeId]>),
    Fixed(usize),
    /// `decimal` on bytes (`size: None`) or on a fixed of `size` bytes.
    Decimal {
        precision: u32,
        scale: u32,
        size: Option<usize>,
    },
    /// `duration` on a 12-byte fixed.
    Duration,
    /// A record whose fields are still being parsed.
    Pending,
}

/// A parsed Avro writer schema, ready to decode datums.
#[derive(Debug, Clone)]
pub struct AvroSchema {
    nodes: Vec<Node>,
    /// A lower bound on each node's encoded size, to bound block counts by the input length.
    min_size: Vec<u32>,
    root: NodeId,
    registry_id: Option<u32>,
}

impl AvroSchema {
    /// Parses the JSON form of an Avro schema. Named types may be referenced (by full name, or
    /// by short name inside the same namespace) after, or inside, their definition, which
    /// makes recursive schemas possible. Aliases are accepted as names too.
    pub fn parse(json: &str) -> Result<AvroSchema, AvroSchemaError> {
        let doc: Json =
            serde_json::from_str(json).map_err(|e| AvroSchemaError::Json(e.to_string()))?;
        let mut p = SchemaParser::default();
        let root = p.parse(&doc, "")?;
        let min_size = min_sizes(&p.nodes);
        Ok(AvroSchema {
            nodes: p.nodes,
            min_size,
            root,
            registry_id: None,
        })
    }

    /// The root node (for the encoder, [`crate::encode::avro`]).
    pub(crate) fn root_node(&self) -> NodeId {
        self.root
    }

    /// Node `id` of the arena (for the encoder).
    pub(crate) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// The schema id this schema was registered under, when it came from a schema registry.
    pub fn registry_id(&self) -> Option<u32> {
        self.registry_id
    }

    /// Records the schema-registry id this schema was fetched under, so that
    /// [`decode_confluent`](Self::decode_confluent) refuses payloads carrying another id.
    pub fn with_registry_id(mut self, id: u32) -> AvroSchema {
        self.registry_id = Some(id);
        self
    }

    /// Decodes one Avro binary datum (no header, no container file). The value borrows
    /// strings and bytes from `datum`, and record field names and enum symbols from the schema.
    /// Bytes left after the datum are an error.
    pub fn decode<'a>(&'a self, datum: &'a [u8]) -> Result<Value<'a>, AvroError> {
        self.decode_from(datum, 0)
    }

    /// Decodes a Confluent wire-format payload: magic byte 0, the big-endian schema id, then
    /// the datum. When this schema came from a registry (see [`registry_id`](Self::registry_id)),
    /// a payload carrying a different id is refused. Error offsets count from the payload's
    /// first byte.
    pub fn decode_confluent<'a>(&'a self, payload: &'a [u8]) -> Result<Value<'a>, AvroError> {
        let (id, _) = split_confluent(payload)?;
        if let Some(schema) = self.registry_id {
            if schema != id {
                return Err(AvroError::SchemaIdMismatch {
                    payload: id,
                    schema,
                });
            }
        }
        self.decode_from(payload, CONFLUENT_HEADER_LEN)
    }

    fn decode_from<'a>(&'a self, bytes: &'a [u8], start: usize) -> Result<Value<'a>, AvroError> {
        let mut r = Reader {
            nodes: &self.nodes,
            min_size: &self.min_size,
            b: bytes,
            i: start,
            zero_items: 0,
        };
        let v = r.value(self.root, 0)?;
        if r.i != bytes.len() {
            return Err(AvroError::TrailingBytes {
                offset: r.i,
                count: bytes.len() - r.i,
            });
        }
        Ok(v)
    }

    /// The logical type of the value at `path` (record field names from the root record),
    /// looking through unions that have a single non-null branch. `None` when the path does
    /// not exist or the value there has no logical type.
    pub fn logical_type<S: AsRef<str>>(&self, path: &[S]) -> Option<LogicalType> {
        let mut id = self.through_nullable(self.root);
        for seg in path {
            let Node::Record { fields } = &self.nodes[id] else {
                return None;
            };
            let (_, field) = fields.iter().find(|(name, _)| &**name == seg.as_ref())?;
            id = self.through_nullable(*field);
        }
        match self.nodes[id] {
            Node::Int(l) | Node::Long(l) => l,
            Node::UuidString | Node::UuidFixed => Some(LogicalType::Uuid),
            Node::Decimal {
                precision, scale, ..
            } => Some(LogicalType::Decimal { precision, scale }),
            Node::Duration => Some(LogicalType::Duration),
            _ => None,
        }
    }

    /// The only non-null branch of a union like `["null", T]`, else `id` itself.
    fn through_nullable(&self, id: NodeId) -> NodeId {
        if let Node::Union(branches) = &self.nodes[id] {
            let mut others = branches
                .iter()
                .filter(|b| !matches!(self.nodes[**b], Node::Null));
            if let (Some(only), None) = (others.next(), others.next()) {
                return *only;
            }
        }
        id
    }
}

mod parse;
mod read;

use parse::{min_sizes, SchemaParser};
use read::Reader;

#[cfg(test)]
mod tests;
