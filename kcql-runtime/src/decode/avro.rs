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
//! Items that take no bytes at all (an array of `null`s) are capped at [`MAX_ZERO_SIZE_ITEMS`]
//! per datum, and nesting at [`MAX_DEPTH`], so recursive schemas cannot exhaust the stack.

use crate::value::Value;
use serde_json::{Map, Value as Json};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use thiserror::Error;

/// Deepest nesting of records, arrays and maps accepted in a datum.
pub const MAX_DEPTH: usize = 128;

/// Most items that encode in zero bytes (`null`s, empty records) accepted in one datum. Array
/// and map block counts of other items are bounded by the input length instead.
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
    /// More than [`MAX_ZERO_SIZE_ITEMS`] zero-byte items.
    #[error("block at byte {offset} brings the datum over {MAX_ZERO_SIZE_ITEMS} zero-byte items")]
    TooManyItems {
        /// Where the block count starts.
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

type NodeId = usize;

/// One schema node. Named types are nodes like any other; a reference is just its index.
#[derive(Debug, Clone)]
enum Node {
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

// ---------------------------------------------------------------------------------------------
// Schema parsing

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

#[derive(Default)]
struct SchemaParser {
    nodes: Vec<Node>,
    /// Full names (and full aliases) of named types.
    names: HashMap<String, NodeId>,
}

fn invalid(what: impl Into<String>) -> AvroSchemaError {
    AvroSchemaError::Invalid(what.into())
}

fn primitive(name: &str) -> Option<Node> {
    Some(match name {
        "null" => Node::Null,
        "boolean" => Node::Boolean,
        "int" => Node::Int(None),
        "long" => Node::Long(None),
        "float" => Node::Float,
        "double" => Node::Double,
        "bytes" => Node::Bytes,
        "string" => Node::String,
        _ => return None,
    })
}

/// The full name of `name` inside namespace `ns`.
fn full_name(name: &str, ns: &str) -> String {
    if name.contains('.') || ns.is_empty() {
        name.to_owned()
    } else {
        format!("{ns}.{name}")
    }
}

/// The namespace part of a full name.
fn namespace_of(full: &str) -> &str {
    full.rsplit_once('.').map_or("", |(ns, _)| ns)
}

impl SchemaParser {
    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn parse(&mut self, j: &Json, ns: &str) -> Result<NodeId, AvroSchemaError> {
        match j {
            Json::String(name) => self.reference(name, ns),
            Json::Array(branches) => {
                let mut ids = Vec::with_capacity(branches.len());
                for b in branches {
                    let id = self.parse(b, ns)?;
                    if matches!(self.nodes[id], Node::Union(_)) {
                        return Err(invalid("a union may not directly contain another union"));
                    }
                    ids.push(id);
                }
                Ok(self.push(Node::Union(ids.into())))
            }
            Json::Object(m) => self.complex(m, ns),
            other => Err(invalid(format!("`{other}` is not a schema"))),
        }
    }

    /// A primitive type name or a reference to a named type defined earlier.
    fn reference(&mut self, name: &str, ns: &str) -> Result<NodeId, AvroSchemaError> {
        if let Some(node) = primitive(name) {
            return Ok(self.push(node));
        }
        self.names
            .get(&full_name(name, ns))
            .or_else(|| self.names.get(name))
            .copied()
            .ok_or_else(|| invalid(format!("unknown type `{name}`")))
    }

    fn complex(&mut self, m: &Map<String, Json>, ns: &str) -> Result<NodeId, AvroSchemaError> {
        let ty = m
            .get("type")
            .ok_or_else(|| invalid("a schema object has no `type`"))?;
        let logical = m.get("logicalType").and_then(Json::as_str);
        let base = match ty {
            Json::String(t) => match t.as_str() {
                "record" | "error" => return self.record(m, ns),
                "enum" => return self.enumeration(m, ns),
                "fixed" => return self.fixed(m, ns, logical),
                "array" => {
                    let items = m
                        .get("items")
                        .ok_or_else(|| invalid("an array schema has no `items`"))?;
                    let items = self.parse(items, ns)?;
                    return Ok(self.push(Node::Array(items)));
                }
                "map" => {
                    let values = m
                        .get("values")
                        .ok_or_else(|| invalid("a map schema has no `values`"))?;
                    let values = self.parse(values, ns)?;
                    return Ok(self.push(Node::Map(values)));
                }
                name => self.reference(name, ns)?,
            },
            nested => self.parse(nested, ns)?,
        };
        // Logical types on primitives. Primitive nodes are never shared, so they can be
        // rewritten in place; a logical type on a reference to a named type is ignored.
        if let Some(lt) = logical {
            let node = match (&self.nodes[base], lt) {
                (Node::Int(None), "date") => Node::Int(Some(LogicalType::Date)),
                (Node::Int(None), "time-millis") => Node::Int(Some(LogicalType::TimeMillis)),
                (Node::Long(None), _) => match long_logical(lt) {
                    Some(l) => Node::Long(Some(l)),
                    None => return Ok(base),
                },
                (Node::String, "uuid") => Node::UuidString,
                (Node::Bytes, "decimal") => match decimal_params(m) {
                    Some((precision, scale)) => Node::Decimal {
                        precision,
                        scale,
                        size: None,
                    },
                    None => return Ok(base),
                },
                _ => return Ok(base),
            };
            self.nodes[base] = node;
        }
        Ok(base)
    }

    /// The full name and aliases of a named type, and the namespace its members live in.
    fn names_of(
        &self,
        m: &Map<String, Json>,
        ns: &str,
    ) -> Result<(String, Vec<String>), AvroSchemaError> {
        let name = m
            .get("name")
            .and_then(Json::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid("a named type has no `name`"))?;
        let space = match m.get("namespace") {
            Some(Json::String(s)) => s.as_str(),
            Some(Json::Null) | None => ns,
            Some(other) => return Err(invalid(format!("namespace `{other}` is not a string"))),
        };
        let full = full_name(name, space);
        let own_ns = namespace_of(&full).to_owned();
        let mut aliases = Vec::new();
        if let Some(list) = m.get("aliases") {
            let list = list
                .as_array()
                .ok_or_else(|| invalid(format!("aliases of `{full}` are not an array")))?;
            for a in list {
                let a = a
                    .as_str()
                    .ok_or_else(|| invalid(format!("an alias of `{full}` is not a string")))?;
                aliases.push(full_name(a, &own_ns));
            }
        }
        Ok((full, aliases))
    }

    fn define(
        &mut self,
        full: &str,
        aliases: &[String],
        id: NodeId,
    ) -> Result<(), AvroSchemaError> {
        for name in std::iter::once(full).chain(aliases.iter().map(String::as_str)) {
            if PRIMITIVES.contains(&name) {
                return Err(invalid(format!("`{name}` is a primitive type name")));
            }
            if self.names.insert(name.to_owned(), id).is_some() {
                return Err(invalid(format!("type `{name}` is defined twice")));
            }
        }
        Ok(())
    }

    fn record(&mut self, m: &Map<String, Json>, ns: &str) -> Result<NodeId, AvroSchemaError> {
        let (full, aliases) = self.names_of(m, ns)?;
        let id = self.push(Node::Pending);
        self.define(&full, &aliases, id)?;
        let inner_ns = namespace_of(&full).to_owned();
        let list = m
            .get("fields")
            .and_then(Json::as_array)
            .ok_or_else(|| invalid(format!("record `{full}` has no `fields` array")))?;
        let mut fields: Vec<(Box<str>, NodeId)> = Vec::with_capacity(list.len());
        for f in list {
            let name = f
                .get("name")
                .and_then(Json::as_str)
                .ok_or_else(|| invalid(format!("a field of record `{full}` has no `name`")))?;
            if fields.iter().any(|(n, _)| &**n == name) {
                return Err(invalid(format!("record `{full}` has two fields `{name}`")));
            }
            let ty = f
                .get("type")
                .ok_or_else(|| invalid(format!("field `{full}.{name}` has no `type`")))?;
            let ty = self
                .parse(ty, &inner_ns)
                .map_err(|e| invalid(format!("field `{full}.{name}`: {}", strip(e))))?;
            fields.push((name.into(), ty));
        }
        self.nodes[id] = Node::Record {
            fields: fields.into(),
        };
        Ok(id)
    }

    fn enumeration(&mut self, m: &Map<String, Json>, ns: &str) -> Result<NodeId, AvroSchemaError> {
        let (full, aliases) = self.names_of(m, ns)?;
        let list = m
            .get("symbols")
            .and_then(Json::as_array)
            .ok_or_else(|| invalid(format!("enum `{full}` has no `symbols` array")))?;
        let symbols = list
            .iter()
            .map(|s| s.as_str().map(Box::from))
            .collect::<Option<Box<[Box<str>]>>>()
            .ok_or_else(|| invalid(format!("a symbol of enum `{full}` is not a string")))?;
        let id = self.push(Node::Enum { symbols });
        self.define(&full, &aliases, id)?;
        Ok(id)
    }

    fn fixed(
        &mut self,
        m: &Map<String, Json>,
        ns: &str,
        logical: Option<&str>,
    ) -> Result<NodeId, AvroSchemaError> {
        let (full, aliases) = self.names_of(m, ns)?;
        let size = m
            .get("size")
            .and_then(Json::as_u64)
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(|| invalid(format!("fixed `{full}` has no non-negative `size`")))?;
        let node = match logical {
            Some("decimal") => match decimal_params(m) {
                Some((precision, scale)) => Node::Decimal {
                    precision,
                    scale,
                    size: Some(size),
                },
                None => Node::Fixed(size),
            },
            Some("uuid") if size == 16 => Node::UuidFixed,
            Some("duration") if size == 12 => Node::Duration,
            _ => Node::Fixed(size),
        };
        let id = self.push(node);
        self.define(&full, &aliases, id)?;
        Ok(id)
    }
}

/// The message of a schema error, to nest it in another.
fn strip(e: AvroSchemaError) -> String {
    match e {
        AvroSchemaError::Json(s) | AvroSchemaError::Invalid(s) => s,
    }
}

fn long_logical(name: &str) -> Option<LogicalType> {
    Some(match name {
        "time-micros" => LogicalType::TimeMicros,
        "timestamp-millis" => LogicalType::TimestampMillis,
        "timestamp-micros" => LogicalType::TimestampMicros,
        "timestamp-nanos" => LogicalType::TimestampNanos,
        "local-timestamp-millis" => LogicalType::LocalTimestampMillis,
        "local-timestamp-micros" => LogicalType::LocalTimestampMicros,
        "local-timestamp-nanos" => LogicalType::LocalTimestampNanos,
        _ => return None,
    })
}

/// A decimal's precision and scale, or `None` when they are invalid (then the logical type is
/// ignored, as the specification says).
fn decimal_params(m: &Map<String, Json>) -> Option<(u32, u32)> {
    let precision = u32::try_from(m.get("precision")?.as_u64()?).ok()?;
    let scale = match m.get("scale") {
        None => 0,
        Some(s) => u32::try_from(s.as_u64()?).ok()?,
    };
    (precision >= 1 && scale <= precision).then_some((precision, scale))
}

/// A lower bound on the encoded size of every node. Only records depend on other nodes, so a
/// few passes settle; for a record that (impossibly) contains itself with no union or array to
/// end the recursion the bound stops growing after the last pass, and stays a lower bound.
fn min_sizes(nodes: &[Node]) -> Vec<u32> {
    let mut min = vec![0u32; nodes.len()];
    for _ in 0..64 {
        let mut changed = false;
        for i in (0..nodes.len()).rev() {
            let size = match &nodes[i] {
                Node::Null | Node::Pending => 0,
                Node::Boolean
                | Node::Int(_)
                | Node::Long(_)
                | Node::Bytes
                | Node::String
                | Node::UuidString
                | Node::Enum { .. }
                | Node::Array(_)
                | Node::Map(_) => 1,
                Node::Union(branches) => u32::from(!branches.is_empty()),
                Node::Float => 4,
                Node::Double => 8,
                Node::UuidFixed => 16,
                Node::Duration => 12,
                Node::Fixed(size) => u32::try_from(*size).unwrap_or(u32::MAX),
                Node::Decimal { size, .. } => {
                    size.map_or(1, |s| u32::try_from(s).unwrap_or(u32::MAX))
                }
                Node::Record { fields } => fields
                    .iter()
                    .fold(0u32, |acc, (_, f)| acc.saturating_add(min[*f])),
            };
            if size != min[i] {
                min[i] = size;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    min
}

// ---------------------------------------------------------------------------------------------
// Datum decoding

struct Reader<'a> {
    nodes: &'a [Node],
    min_size: &'a [u32],
    b: &'a [u8],
    i: usize,
    zero_items: usize,
}

impl<'a> Reader<'a> {
    fn truncated(&self, offset: usize, needed: u64) -> AvroError {
        AvroError::Truncated {
            offset,
            needed,
            len: self.b.len(),
        }
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], AvroError> {
        let end = self
            .i
            .checked_add(n)
            .filter(|&end| end <= self.b.len())
            .ok_or_else(|| self.truncated(self.i, n as u64))?;
        let s = &self.b[self.i..end];
        self.i = end;
        Ok(s)
    }

    #[inline]
    fn long(&mut self) -> Result<i64, AvroError> {
        let start = self.i;
        let mut acc: u64 = 0;
        let mut shift = 0u32;
        loop {
            let Some(&byte) = self.b.get(self.i) else {
                return Err(self.truncated(self.i, 1));
            };
            self.i += 1;
            if shift == 63 && byte > 1 {
                return Err(AvroError::VarintOverflow { offset: start });
            }
            acc |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        Ok((acc >> 1) as i64 ^ -((acc & 1) as i64))
    }

    #[inline]
    fn int(&mut self) -> Result<i32, AvroError> {
        let offset = self.i;
        let value = self.long()?;
        i32::try_from(value).map_err(|_| AvroError::IntOutOfRange { offset, value })
    }

    /// A non-negative length.
    #[inline]
    fn len(&mut self) -> Result<u64, AvroError> {
        let offset = self.i;
        let len = self.long()?;
        u64::try_from(len).map_err(|_| AvroError::NegativeLength { offset, len })
    }

    #[inline]
    fn bytes(&mut self) -> Result<&'a [u8], AvroError> {
        let len = self.len()?;
        match usize::try_from(len) {
            Ok(n) => self.take(n),
            Err(_) => Err(self.truncated(self.i, len)),
        }
    }

    #[inline]
    fn str(&mut self) -> Result<&'a str, AvroError> {
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes).map_err(|e| AvroError::InvalidUtf8 {
            offset: self.i - bytes.len() + e.valid_up_to(),
        })
    }

    /// A block count of an array or map whose items encode in at least `min` bytes each,
    /// checked against the remaining input; 0 ends the array or map.
    fn block(&mut self, min: u64) -> Result<usize, AvroError> {
        let offset = self.i;
        let n = self.long()?;
        if n < 0 {
            // A negative count is followed by the block's size in bytes.
            let size = self.len()?;
            if size > (self.b.len() - self.i) as u64 {
                return Err(self.truncated(self.i, size));
            }
        }
        let count = n.unsigned_abs();
        if count == 0 {
            return Ok(0);
        }
        if min > 0 {
            let needed = count.saturating_mul(min);
            if needed > (self.b.len() - self.i) as u64 {
                return Err(self.truncated(offset, needed));
            }
        } else {
            if count > (MAX_ZERO_SIZE_ITEMS - self.zero_items) as u64 {
                return Err(AvroError::TooManyItems { offset });
            }
            self.zero_items += count as usize;
        }
        // Bounded by the input length or by MAX_ZERO_SIZE_ITEMS, both of which fit usize.
        Ok(count as usize)
    }

    fn value(&mut self, id: NodeId, depth: usize) -> Result<Value<'a>, AvroError> {
        let nodes = self.nodes;
        Ok(match &nodes[id] {
            Node::Null | Node::Pending => Value::Null,
            Node::Boolean => match self.take(1)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                byte => {
                    return Err(AvroError::BadBoolean {
                        offset: self.i - 1,
                        byte,
                    })
                }
            },
            Node::Int(_) => Value::Int(i64::from(self.int()?)),
            Node::Long(_) => Value::Int(self.long()?),
            Node::Float => {
                let b = self.take(4)?;
                Value::Float(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            }
            Node::Double => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Float(f64::from_le_bytes(a))
            }
            Node::Bytes => Value::Bytes(Cow::Borrowed(self.bytes()?)),
            Node::String | Node::UuidString => Value::Str(Cow::Borrowed(self.str()?)),
            Node::UuidFixed => Value::Str(Cow::Owned(uuid_text(self.take(16)?))),
            Node::Fixed(size) => Value::Bytes(Cow::Borrowed(self.take(*size)?)),
            Node::Enum { symbols } => {
                let offset = self.i;
                let index = self.long()?;
                let symbol = usize::try_from(index)
                    .ok()
                    .and_then(|i| symbols.get(i))
                    .ok_or(AvroError::BadEnumIndex {
                        offset,
                        index,
                        symbols: symbols.len(),
                    })?;
                Value::Str(Cow::Borrowed(symbol))
            }
            Node::Decimal { scale, size, .. } => {
                let offset = self.i;
                let raw = match size {
                    Some(n) => self.take(*n)?,
                    None => self.bytes()?,
                };
                let offset = if size.is_some() {
                    offset
                } else {
                    self.i - raw.len()
                };
                Value::Float(
                    decimal_to_f64(raw, *scale).ok_or(AvroError::DecimalTooWide { offset })?,
                )
            }
            Node::Duration => {
                let b = self.take(12)?;
                let part = |k: usize| {
                    Value::Int(i64::from(u32::from_le_bytes([
                        b[k],
                        b[k + 1],
                        b[k + 2],
                        b[k + 3],
                    ])))
                };
                Value::Object(vec![
                    (Cow::Borrowed("months"), part(0)),
                    (Cow::Borrowed("days"), part(4)),
                    (Cow::Borrowed("millis"), part(8)),
                ])
            }
            Node::Record { fields } => {
                self.enter(depth)?;
                let mut out = Vec::with_capacity(fields.len());
                for (name, field) in fields.iter() {
                    out.push((Cow::Borrowed(&**name), self.value(*field, depth + 1)?));
                }
                Value::Object(out)
            }
            Node::Array(item) => {
                self.enter(depth)?;
                let mut out = Vec::new();
                loop {
                    let count = self.block(u64::from(self.min_size[*item]))?;
                    if count == 0 {
                        break;
                    }
                    out.reserve(count);
                    for _ in 0..count {
                        out.push(self.value(*item, depth + 1)?);
                    }
                }
                Value::Array(out)
            }
            Node::Map(values) => {
                self.enter(depth)?;
                let mut out = Vec::new();
                loop {
                    // An entry is a key (at least its length byte) and a value.
                    let count = self.block(1 + u64::from(self.min_size[*values]))?;
                    if count == 0 {
                        break;
                    }
                    out.reserve(count);
                    for _ in 0..count {
                        let key = self.str()?;
                        out.push((Cow::Borrowed(key), self.value(*values, depth + 1)?));
                    }
                }
                Value::Object(out)
            }
            Node::Union(branches) => {
                // A union's branch is never a union, so it needs no depth of its own.
                let offset = self.i;
                let index = self.long()?;
                let branch = usize::try_from(index)
                    .ok()
                    .and_then(|i| branches.get(i))
                    .ok_or(AvroError::BadUnionIndex {
                        offset,
                        index,
                        branches: branches.len(),
                    })?;
                self.value(*branch, depth)?
            }
        })
    }

    #[inline]
    fn enter(&self, depth: usize) -> Result<(), AvroError> {
        if depth >= MAX_DEPTH {
            Err(AvroError::TooDeep { offset: self.i })
        } else {
            Ok(())
        }
    }
}

/// A big-endian two's-complement unscaled integer over 10^scale, or `None` when it does not fit
/// 128 bits.
fn decimal_to_f64(raw: &[u8], scale: u32) -> Option<f64> {
    let Some(&first) = raw.first() else {
        return Some(0.0);
    };
    let fill = if first & 0x80 != 0 { 0xff } else { 0x00 };
    // Drop sign-extension bytes that do not change the value.
    let mut s = raw;
    while s.len() > 16 && s[0] == fill && (s[1] & 0x80) == (fill & 0x80) {
        s = &s[1..];
    }
    if s.len() > 16 {
        return None;
    }
    let mut buf = [fill; 16];
    buf[16 - s.len()..].copy_from_slice(s);
    let unscaled = i128::from_be_bytes(buf) as f64;
    // 10^scale is exact in f64 up to 10^22; beyond that the quotient is rounded twice.
    Some(unscaled / 10f64.powi(scale.min(400) as i32))
}

/// The canonical text of a 16-byte UUID: lowercase hex, hyphenated 8-4-4-4-12.
fn uuid_text(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(HEX[usize::from(byte >> 4)] as char);
        s.push(HEX[usize::from(byte & 0xf)] as char);
    }
    s
}

#[cfg(test)]
mod tests;
