//! The value model: a decoded payload (JSON, Avro, text or bytes) as a tree that borrows from
//! the payload bytes wherever it can, so decoding copies only what escaping forces it to.

use std::borrow::Cow;
use std::fmt;

/// A decoded value. Strings and bytes borrow from the payload when no unescaping was needed.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// JSON `null`, an absent Avro union branch.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// An unsigned integer above `i64::MAX`.
    UInt(u64),
    /// A 64-bit float (always finite when decoded from JSON).
    Float(f64),
    /// Text.
    Str(Cow<'a, str>),
    /// Raw bytes.
    Bytes(Cow<'a, [u8]>),
    /// An array.
    Array(Vec<Value<'a>>),
    /// An object, members in payload order. A repeated key keeps both entries; lookups find
    /// the last (as JSON parsers commonly do).
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

impl<'a> Value<'a> {
    /// The member `key` of an object (the last one when repeated).
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Object(members) => members
                .iter()
                .rev()
                .find(|(k, _)| same_name(k, key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value at `path` (member names; all-digit segments also index arrays).
    pub fn get_path<S: AsRef<str>>(&self, path: &[S]) -> Option<&Value<'a>> {
        let mut cur = self;
        for seg in path {
            let seg = seg.as_ref();
            cur = match cur {
                Value::Object(_) => cur.get(seg)?,
                Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// A number as `f64` (integers converted, possibly rounding); `None` for other kinds.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(n) => Some(*n as f64),
            Value::UInt(n) => Some(*n as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// An integer, signed or not, widened to `i128`; `None` for other kinds.
    fn as_i128(&self) -> Option<i128> {
        match self {
            Value::Int(n) => Some(i128::from(*n)),
            Value::UInt(n) => Some(i128::from(*n)),
            _ => None,
        }
    }

    /// Orders two values of the same kind: numbers across integer and float (integers
    /// exactly), strings by their bytes, booleans; `None` for other pairs (and NaN).
    pub fn compare(&self, other: &Value<'_>) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Value::Str(x), Value::Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
            (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
            (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
            (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
            _ => match (self.as_i128(), other.as_i128()) {
                (Some(x), Some(y)) => Some(x.cmp(&y)),
                _ => self.as_f64()?.partial_cmp(&other.as_f64()?),
            },
        }
    }

    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The type's name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) | Value::UInt(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// The text form used for tags, keys and string conversion: strings as they are, numbers
    /// and booleans in their shortest form; `None` for null, arrays and objects.
    pub fn to_text(&self) -> Option<Cow<'_, str>> {
        Some(match self {
            Value::Str(s) => Cow::Borrowed(s.as_ref()),
            Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Value::Int(n) => Cow::Owned(n.to_string()),
            Value::UInt(n) => Cow::Owned(n.to_string()),
            Value::Float(f) => Cow::Owned(f.to_string()),
            Value::Bytes(b) => Cow::Owned(String::from_utf8_lossy(b).into_owned()),
            Value::Null | Value::Array(_) | Value::Object(_) => return None,
        })
    }

    /// A copy that owns all its data.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Int(n) => Value::Int(n),
            Value::UInt(n) => Value::UInt(n),
            Value::Float(f) => Value::Float(f),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Bytes(b) => Value::Bytes(Cow::Owned(b.into_owned())),
            Value::Array(v) => Value::Array(v.into_iter().map(Value::into_owned).collect()),
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                    .collect(),
            ),
        }
    }
}

/// `a == b`, comparing lengths and the first and last bytes before calling into `memcmp`
/// (member names of one record mostly differ there, so a lookup rarely compares in full).
#[inline]
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.first() == b.first() && a.last() == b.last() && a == b
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_text() {
            Some(t) => f.write_str(&t),
            None => f.write_str(self.type_name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_last_duplicate_wins() {
        let v = Value::Object(vec![
            (Cow::Borrowed("a"), Value::Int(1)),
            (
                Cow::Borrowed("b"),
                Value::Object(vec![(
                    Cow::Borrowed("c"),
                    Value::Array(vec![Value::Bool(true)]),
                )]),
            ),
            (Cow::Borrowed("a"), Value::Int(2)),
        ]);
        assert_eq!(v.get("a"), Some(&Value::Int(2)));
        assert_eq!(v.get_path(&["b", "c", "0"]), Some(&Value::Bool(true)));
        assert_eq!(v.get_path(&["b", "x"]), None);
        assert_eq!(Value::Float(25.3).to_text().as_deref(), Some("25.3"));
        assert_eq!(Value::Null.to_text(), None);
    }
}
