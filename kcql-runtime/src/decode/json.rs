//! JSON → [`Value`]: a small single-pass parser that borrows strings from the payload when
//! they contain no escapes. Unlike a generic JSON library it refuses integers that do not fit
//! 64 bits instead of silently turning them into floats, and reports byte offsets.

use crate::value::Value;
use std::borrow::Cow;
use thiserror::Error;

/// Deepest nesting accepted (objects and arrays), so hostile payloads cannot exhaust the stack.
pub const MAX_DEPTH: usize = 128;

/// Why a payload is not acceptable JSON.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JsonError {
    /// The payload is not UTF-8.
    #[error("payload is not valid UTF-8 (at byte {0})")]
    Utf8(usize),
    /// Malformed JSON.
    #[error("invalid JSON at byte {offset}: {what}")]
    Syntax {
        /// Where.
        offset: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// An integer outside the 64-bit range.
    #[error("integer `{text}` at byte {offset} does not fit in 64 bits")]
    BigInteger {
        /// Where.
        offset: usize,
        /// The digits.
        text: String,
    },
    /// A number too large for a 64-bit float.
    #[error("number at byte {0} is out of range")]
    NumberOutOfRange(usize),
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("JSON nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// Parses a whole JSON document.
pub fn parse(bytes: &[u8]) -> Result<Value<'_>, JsonError> {
    let text = std::str::from_utf8(bytes).map_err(|e| JsonError::Utf8(e.valid_up_to()))?;
    let mut p = Parser {
        s: text,
        b: text.as_bytes(),
        i: 0,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err("trailing characters after the JSON value"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, what: &'static str) -> JsonError {
        JsonError::Syntax {
            offset: self.i,
            what,
        }
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn literal(&mut self, word: &'static [u8], v: Value<'a>) -> Result<Value<'a>, JsonError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err("expected a value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, JsonError> {
        match self.b.get(self.i) {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("expected a value")),
            None => Err(self.err("unexpected end of input")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value<'a>, JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        self.i += 1;
        let mut members = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.ws();
            if self.b.get(self.i) != Some(&b'"') {
                return Err(self.err("expected a member name in quotes"));
            }
            let key = self.string()?;
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return Err(self.err("expected `:`"));
            }
            self.i += 1;
            self.ws();
            let v = self.value(depth)?;
            members.push((key, v));
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.err("expected `,` or `}`")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value<'a>, JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth)?);
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.err("expected `,` or `]`")),
            }
        }
    }

    /// A string starting at the opening quote; borrowed when it has no escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.i += 1;
        let start = self.i;
        loop {
            match self.b.get(self.i) {
                Some(b'"') => {
                    let s = &self.s[start..self.i];
                    self.i += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(c) if *c < 0x20 => return Err(self.err("control character in string")),
                Some(_) => self.i += 1,
                None => return Err(self.err("unterminated string")),
            }
        }
        let mut out = String::with_capacity(self.i - start + 16);
        out.push_str(&self.s[start..self.i]);
        loop {
            match self.b.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.i += 1;
                    let esc = *self
                        .b
                        .get(self.i)
                        .ok_or_else(|| self.err("unterminated escape"))?;
                    self.i += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                Some(c) if *c < 0x20 => return Err(self.err("control character in string")),
                Some(_) => {
                    // Copy the run up to the next quote or backslash (valid UTF-8 boundaries:
                    // both are ASCII).
                    let run_start = self.i;
                    while let Some(c) = self.b.get(self.i) {
                        if *c == b'"' || *c == b'\\' || *c < 0x20 {
                            break;
                        }
                        self.i += 1;
                    }
                    out.push_str(&self.s[run_start..self.i]);
                }
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .b
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("short \\u escape"))?;
        let mut v = 0u32;
        for d in digits {
            let n = (*d as char)
                .to_digit(16)
                .ok_or_else(|| self.err("invalid \\u escape"))?;
            v = v * 16 + n;
        }
        self.i += 4;
        Ok(v)
    }

    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                return Err(self.err("lone surrogate in \\u escape"));
            }
            self.i += 2;
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(self.err("invalid surrogate pair"));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else if (0xDC00..0xE000).contains(&first) {
            return Err(self.err("lone surrogate in \\u escape"));
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| self.err("invalid \\u escape"))
    }

    fn number(&mut self) -> Result<Value<'a>, JsonError> {
        let start = self.i;
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        let int_start = self.i;
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while matches!(self.b.get(self.i), Some(b'0'..=b'9')) {
                    self.i += 1;
                }
            }
            _ => return Err(self.err("invalid number")),
        }
        let mut float = false;
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !matches!(self.b.get(self.i), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number: digits expected after `.`"));
            }
            while matches!(self.b.get(self.i), Some(b'0'..=b'9')) {
                self.i += 1;
            }
            float = true;
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !matches!(self.b.get(self.i), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number: digits expected in exponent"));
            }
            while matches!(self.b.get(self.i), Some(b'0'..=b'9')) {
                self.i += 1;
            }
            float = true;
        }
        let text = &self.s[start..self.i];
        if float {
            let v: f64 = text.parse().map_err(|_| self.err("invalid number"))?;
            return if v.is_finite() {
                Ok(Value::Float(v))
            } else {
                Err(JsonError::NumberOutOfRange(start))
            };
        }
        // Fast path: up to 18 digits always fit an i64.
        let digits = &self.b[int_start..self.i];
        if digits.len() <= 18 {
            let mut n: i64 = 0;
            for d in digits {
                n = n * 10 + i64::from(d - b'0');
            }
            return Ok(Value::Int(if start == int_start { n } else { -n }));
        }
        if let Ok(n) = text.parse::<i64>() {
            return Ok(Value::Int(n));
        }
        if let Ok(n) = text.parse::<u64>() {
            return Ok(Value::UInt(n));
        }
        Err(JsonError::BigInteger {
            offset: start,
            text: text.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensor_record() {
        let v = parse(br#"{"id":"SB01","temperature":25.3,"humidity":40,"ts":1700000000000,"ok":true,"x":null}"#).unwrap();
        assert_eq!(v.get("id"), Some(&Value::Str(Cow::Borrowed("SB01"))));
        assert!(matches!(v.get("id"), Some(Value::Str(Cow::Borrowed(_)))));
        assert_eq!(v.get("temperature"), Some(&Value::Float(25.3)));
        assert_eq!(v.get("humidity"), Some(&Value::Int(40)));
        assert_eq!(v.get("ts"), Some(&Value::Int(1_700_000_000_000)));
        assert_eq!(v.get("ok"), Some(&Value::Bool(true)));
        assert_eq!(v.get("x"), Some(&Value::Null));
    }

    #[test]
    fn escapes_and_unicode() {
        let v = parse(br#"["a\"b\\c\/\n\t", "\u00e9\ud83d\ude00", "caf\u00e9 ok"]"#).unwrap();
        let Value::Array(items) = v else { panic!() };
        assert_eq!(items[0], Value::Str("a\"b\\c/\n\t".into()));
        assert_eq!(items[1], Value::Str("é😀".into()));
        assert_eq!(items[2], Value::Str("café ok".into()));
    }

    #[test]
    fn integers_at_the_edges() {
        assert_eq!(parse(b"9223372036854775807").unwrap(), Value::Int(i64::MAX));
        assert_eq!(
            parse(b"-9223372036854775808").unwrap(),
            Value::Int(i64::MIN)
        );
        assert_eq!(
            parse(b"18446744073709551615").unwrap(),
            Value::UInt(u64::MAX)
        );
        assert!(matches!(
            parse(b"18446744073709551616"),
            Err(JsonError::BigInteger { .. })
        ));
        assert!(matches!(
            parse(b"-9223372036854775809"),
            Err(JsonError::BigInteger { .. })
        ));
        assert_eq!(parse(b"-0").unwrap(), Value::Int(0));
        assert_eq!(parse(b"1e2").unwrap(), Value::Float(100.0));
        assert!(matches!(
            parse(b"1e999"),
            Err(JsonError::NumberOutOfRange(0))
        ));
    }

    #[test]
    fn malformed_input_is_an_error_with_an_offset() {
        for bad in [
            &b"{"[..],
            b"{\"a\"}",
            b"[1,]",
            b"01",
            b"1.",
            b"\"abc",
            b"tru",
            b"{\"a\":1}x",
            b"\"\x01\"",
            b"\"\\ud800\"",
            b"\xff",
            b"",
            b"  ",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(
            parse(b"[1, 2 3]"),
            Err(JsonError::Syntax {
                offset: 6,
                what: "expected `,` or `]`"
            })
        );
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(deep.as_bytes()), Err(JsonError::TooDeep));
    }
}
