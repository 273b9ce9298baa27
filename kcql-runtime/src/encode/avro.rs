//! [`Value`] → Avro binary datum, written against a parsed [`AvroSchema`] (the inverse of
//! [`crate::decode::avro`]), and the Confluent wire format around it.
//!
//! # How values fit Avro types
//!
//! | Avro | accepted [`Value`]s |
//! | --- | --- |
//! | `null` | `Null` |
//! | `boolean` | `Bool` |
//! | `int`, `long` (any logical type) | `Int` in range; a `Float` with no fraction in range |
//! | `float`, `double` | `Float`, `Int`, `UInt` |
//! | `string` (also `uuid`) | `Str`; `Bytes` holding UTF-8 |
//! | `bytes` | `Bytes`, `Str` (its UTF-8 bytes) |
//! | `fixed` | `Bytes` or `Str` of exactly the fixed size |
//! | `uuid` on `fixed(16)` | `Str` in the hyphenated hex form |
//! | `enum` | `Str` naming a symbol |
//! | `record` | `Object`: each field by name; an absent field is written as `null` when its type allows it, else the value does not fit. Members the schema does not name are not written |
//! | `map` | `Object` |
//! | `array` | `Array` |
//! | union | the first branch the value fits (`Null` → the `null` branch) |
//! | `decimal` | `Float` or `Int`, rounded to the scale |
//! | `duration` | `Object` `{months, days, millis}` of non-negative 32-bit `Int`s |
//!
//! A value that does not fit is an [`AvroEncodeError`] naming the path (`value.temperature`,
//! `value.readings[3]`) and the types; nothing panics.

use std::borrow::Cow;

use thiserror::Error;

use crate::decode::avro::{Node, NodeId, CONFLUENT_MAGIC, MAX_DEPTH};
use crate::decode::AvroSchema;
use crate::value::Value;

/// A value that does not fit the Avro schema it is written with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AvroEncodeError {
    /// The value's kind is not one the Avro type accepts.
    #[error("{path}: a value of type {found} does not fit the Avro type {expected}")]
    Mismatch {
        /// Where in the value (`value`, `value.field`, `value.list[2]`).
        path: String,
        /// The Avro type.
        expected: String,
        /// The value's kind.
        found: &'static str,
    },
    /// A number outside the Avro type's range (or a float with a fraction for an integer).
    #[error("{path}: {value} does not fit the Avro type {expected}")]
    OutOfRange {
        /// Where in the value.
        path: String,
        /// The value, as text.
        value: String,
        /// The Avro type.
        expected: &'static str,
    },
    /// A record field that is absent and whose type does not allow null.
    #[error("{path}: missing, and its Avro type does not allow null")]
    MissingField {
        /// Where in the value.
        path: String,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("{path}: nested deeper than {MAX_DEPTH} levels")]
    TooDeep {
        /// Where in the value.
        path: String,
    },
}

impl AvroEncodeError {
    /// The same error, one level further down: `segment` is prepended to its path.
    fn under(mut self, segment: &str) -> Self {
        let path = match &mut self {
            AvroEncodeError::Mismatch { path, .. }
            | AvroEncodeError::OutOfRange { path, .. }
            | AvroEncodeError::MissingField { path }
            | AvroEncodeError::TooDeep { path } => path,
        };
        let sep = if path.is_empty() || path.starts_with('[') {
            ""
        } else {
            "."
        };
        *path = format!("{segment}{sep}{path}");
        self
    }
}

/// Appends the Avro binary datum of `value` written with `schema` to `out`. On error `out`
/// may hold part of the datum: truncate it to its old length.
pub fn write_avro(
    schema: &AvroSchema,
    value: &Value<'_>,
    out: &mut Vec<u8>,
) -> Result<(), AvroEncodeError> {
    let w = Writer { schema };
    w.value(schema.root_node(), value, 0, out)
        .map_err(|e| e.under("value"))
}

/// The Avro binary datum of `value` written with `schema`.
pub fn to_avro(schema: &AvroSchema, value: &Value<'_>) -> Result<Vec<u8>, AvroEncodeError> {
    let mut out = Vec::with_capacity(64);
    write_avro(schema, value, &mut out)?;
    Ok(out)
}

/// `value` in the Confluent wire format: magic byte 0, the big-endian schema `id`, then the
/// datum written with `schema` (the schema registered under `id`).
pub fn to_confluent(
    schema: &AvroSchema,
    id: u32,
    value: &Value<'_>,
) -> Result<Vec<u8>, AvroEncodeError> {
    let mut out = Vec::with_capacity(64);
    out.push(CONFLUENT_MAGIC);
    out.extend_from_slice(&id.to_be_bytes());
    write_avro(schema, value, &mut out)?;
    Ok(out)
}

struct Writer<'s> {
    schema: &'s AvroSchema,
}

fn mismatch(expected: impl Into<String>, v: &Value<'_>) -> AvroEncodeError {
    AvroEncodeError::Mismatch {
        path: String::new(),
        expected: expected.into(),
        found: v.type_name(),
    }
}

fn out_of_range(v: impl ToString, expected: &'static str) -> AvroEncodeError {
    AvroEncodeError::OutOfRange {
        path: String::new(),
        value: v.to_string(),
        expected,
    }
}

/// Appends a zigzag variable-length `long`.
fn write_long(n: i64, out: &mut Vec<u8>) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn write_len(len: usize, out: &mut Vec<u8>) {
    write_long(len as i64, out);
}

/// An integer value as `i64`: an `Int`, or a `Float` without a fraction in range.
fn integer(v: &Value<'_>, expected: &'static str) -> Result<i64, AvroEncodeError> {
    match v {
        Value::Int(n) => Ok(*n),
        Value::UInt(n) => Err(out_of_range(n, expected)),
        Value::Float(f) if f.fract() == 0.0 && *f >= -9.2e18 && *f <= 9.2e18 => Ok(*f as i64),
        Value::Float(f) => Err(out_of_range(f, expected)),
        other => Err(mismatch(expected, other)),
    }
}

fn float(v: &Value<'_>, expected: &'static str) -> Result<f64, AvroEncodeError> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(n) => Ok(*n as f64),
        Value::UInt(n) => Ok(*n as f64),
        other => Err(mismatch(expected, other)),
    }
}

fn bytes_of<'v>(v: &'v Value<'_>, expected: &'static str) -> Result<&'v [u8], AvroEncodeError> {
    match v {
        Value::Bytes(b) => Ok(b),
        Value::Str(s) => Ok(s.as_bytes()),
        other => Err(mismatch(expected, other)),
    }
}

impl Writer<'_> {
    fn value(
        &self,
        id: NodeId,
        v: &Value<'_>,
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), AvroEncodeError> {
        if depth > MAX_DEPTH {
            return Err(AvroEncodeError::TooDeep {
                path: String::new(),
            });
        }
        match self.schema.node(id) {
            Node::Null => match v {
                Value::Null => Ok(()),
                other => Err(mismatch("null", other)),
            },
            Node::Boolean => match v {
                Value::Bool(b) => {
                    out.push(u8::from(*b));
                    Ok(())
                }
                other => Err(mismatch("boolean", other)),
            },
            Node::Int(_) => {
                let n = integer(v, "int")?;
                if i32::try_from(n).is_err() {
                    return Err(out_of_range(n, "int"));
                }
                write_long(n, out);
                Ok(())
            }
            Node::Long(_) => {
                write_long(integer(v, "long")?, out);
                Ok(())
            }
            Node::Float => {
                out.extend_from_slice(&(float(v, "float")? as f32).to_le_bytes());
                Ok(())
            }
            Node::Double => {
                out.extend_from_slice(&float(v, "double")?.to_le_bytes());
                Ok(())
            }
            Node::Bytes => {
                let b = bytes_of(v, "bytes")?;
                write_len(b.len(), out);
                out.extend_from_slice(b);
                Ok(())
            }
            Node::String | Node::UuidString => {
                let s: Cow<'_, str> = match v {
                    Value::Str(s) => Cow::Borrowed(s.as_ref()),
                    Value::Bytes(b) => match std::str::from_utf8(b) {
                        Ok(s) => Cow::Borrowed(s),
                        Err(_) => return Err(mismatch("string", v)),
                    },
                    other => return Err(mismatch("string", other)),
                };
                write_len(s.len(), out);
                out.extend_from_slice(s.as_bytes());
                Ok(())
            }
            Node::UuidFixed => {
                let Value::Str(s) = v else {
                    return Err(mismatch("uuid (fixed 16)", v));
                };
                let raw = uuid_bytes(s).ok_or_else(|| out_of_range(s, "uuid"))?;
                out.extend_from_slice(&raw);
                Ok(())
            }
            Node::Fixed(size) => {
                let b = bytes_of(v, "fixed")?;
                if b.len() != *size {
                    return Err(AvroEncodeError::Mismatch {
                        path: String::new(),
                        expected: format!("fixed({size})"),
                        found: if b.len() < *size { "shorter" } else { "longer" },
                    });
                }
                out.extend_from_slice(b);
                Ok(())
            }
            Node::Enum { symbols } => {
                let Value::Str(s) = v else {
                    return Err(mismatch("enum", v));
                };
                let index = symbols
                    .iter()
                    .position(|sym| **sym == **s)
                    .ok_or_else(|| out_of_range(format!("`{s}`"), "enum (not a symbol)"))?;
                write_len(index, out);
                Ok(())
            }
            Node::Record { fields } => {
                if !matches!(v, Value::Object(_)) {
                    return Err(mismatch("record", v));
                }
                for (name, field) in fields.iter() {
                    match v.get(name) {
                        Some(fv) => self.value(*field, fv, depth + 1, out),
                        None if self.allows_null(*field) => {
                            self.value(*field, &Value::Null, depth + 1, out)
                        }
                        None => Err(AvroEncodeError::MissingField {
                            path: String::new(),
                        }),
                    }
                    .map_err(|e| e.under(name))?;
                }
                Ok(())
            }
            Node::Array(item) => {
                let Value::Array(items) = v else {
                    return Err(mismatch("array", v));
                };
                if !items.is_empty() {
                    write_len(items.len(), out);
                    for (i, x) in items.iter().enumerate() {
                        self.value(*item, x, depth + 1, out)
                            .map_err(|e| e.under(&format!("[{i}]")))?;
                    }
                }
                write_len(0, out);
                Ok(())
            }
            Node::Map(item) => {
                let Value::Object(members) = v else {
                    return Err(mismatch("map", v));
                };
                if !members.is_empty() {
                    write_len(members.len(), out);
                    for (k, x) in members {
                        write_len(k.len(), out);
                        out.extend_from_slice(k.as_bytes());
                        self.value(*item, x, depth + 1, out)
                            .map_err(|e| e.under(k))?;
                    }
                }
                write_len(0, out);
                Ok(())
            }
            Node::Union(branches) => self.union(branches, v, depth, out),
            Node::Decimal { scale, size, .. } => {
                let x = float(v, "decimal")?;
                let scaled = (x * 10f64.powi((*scale).min(300) as i32)).round();
                if !scaled.is_finite() || scaled.abs() >= 1.7e38 {
                    return Err(out_of_range(x, "decimal"));
                }
                let be = (scaled as i128).to_be_bytes();
                let fill = if scaled < 0.0 { 0xff } else { 0x00 };
                // Shortest two's complement: drop sign-extension bytes.
                let mut start = 0;
                while start < 15 && be[start] == fill && (be[start + 1] & 0x80) == (fill & 0x80) {
                    start += 1;
                }
                let minimal = &be[start..];
                match size {
                    None => {
                        write_len(minimal.len(), out);
                        out.extend_from_slice(minimal);
                    }
                    Some(n) if minimal.len() <= *n => {
                        out.extend(std::iter::repeat_n(fill, n - minimal.len()));
                        out.extend_from_slice(minimal);
                    }
                    Some(_) => return Err(out_of_range(x, "decimal (fixed size)")),
                }
                Ok(())
            }
            Node::Duration => {
                if !matches!(v, Value::Object(_)) {
                    return Err(mismatch("duration", v));
                }
                for part in ["months", "days", "millis"] {
                    let n = v
                        .get(part)
                        .ok_or(AvroEncodeError::MissingField {
                            path: String::new(),
                        })
                        .and_then(|x| integer(x, "duration"))
                        .and_then(|n| u32::try_from(n).map_err(|_| out_of_range(n, "duration")))
                        .map_err(|e| e.under(part))?;
                    out.extend_from_slice(&n.to_le_bytes());
                }
                Ok(())
            }
            Node::Pending => Err(mismatch("(unresolved type)", v)),
        }
    }

    fn union(
        &self,
        branches: &[NodeId],
        v: &Value<'_>,
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), AvroEncodeError> {
        let mut first_error = None;
        // A branch of the value's own kind first (an `Int` goes to `long` before `double`, a
        // `Float` to `double` before `long`), then any branch the value converts to.
        for exact_only in [true, false] {
            for (index, branch) in branches.iter().enumerate() {
                let node = self.schema.node(*branch);
                if matches!(node, Node::Null) != matches!(v, Value::Null)
                    || (exact_only && !same_kind(node, v))
                    || (!exact_only && same_kind(node, v))
                {
                    continue;
                }
                let mark = out.len();
                write_len(index, out);
                match self.value(*branch, v, depth + 1, out) {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        out.truncate(mark);
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        Err(first_error.unwrap_or_else(|| mismatch("union", v)))
    }

    /// True when a field of this type may be written as null (a `null` or a union with one).
    fn allows_null(&self, id: NodeId) -> bool {
        match self.schema.node(id) {
            Node::Null => true,
            Node::Union(branches) => branches
                .iter()
                .any(|b| matches!(self.schema.node(*b), Node::Null)),
            _ => false,
        }
    }
}

/// True when `node` is a type of `v`'s own kind (no conversion needed).
fn same_kind(node: &Node, v: &Value<'_>) -> bool {
    match v {
        Value::Null => matches!(node, Node::Null),
        Value::Bool(_) => matches!(node, Node::Boolean),
        Value::Int(_) | Value::UInt(_) => matches!(node, Node::Int(_) | Node::Long(_)),
        Value::Float(_) => matches!(node, Node::Float | Node::Double | Node::Decimal { .. }),
        Value::Str(_) => matches!(
            node,
            Node::String | Node::UuidString | Node::UuidFixed | Node::Enum { .. }
        ),
        Value::Bytes(_) => matches!(node, Node::Bytes | Node::Fixed(_)),
        Value::Array(_) => matches!(node, Node::Array(_)),
        Value::Object(_) => matches!(node, Node::Record { .. } | Node::Map(_) | Node::Duration),
    }
}

/// The 16 bytes of a hyphenated (or plain) hex UUID.
fn uuid_bytes(s: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = s.bytes().filter(|c| *c != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut raw = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        raw[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(raw)
}

#[cfg(test)]
mod tests;
