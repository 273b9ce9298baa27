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
        // Room for a small record's members at once (what growing from empty allocates first,
        // without the growth path).
        let mut members = Vec::with_capacity(4);
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

    /// Where the first `"`, `\\` or control character at or after `i` is (the end of the
    /// payload when none), eight bytes at a time while eight remain.
    #[inline]
    fn scan_string(&self, mut i: usize) -> usize {
        while let Some(chunk) = self.b.get(i..).and_then(<[u8]>::first_chunk::<8>) {
            let stops = string_stops(u64::from_le_bytes(*chunk));
            if stops != 0 {
                return i + (stops.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
        while let Some(&c) = self.b.get(i) {
            if c == b'"' || c == b'\\' || c < 0x20 {
                break;
            }
            i += 1;
        }
        i
    }

    /// A string starting at the opening quote; borrowed when it has no escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        let start = self.i + 1;
        self.i = self.scan_string(start);
        match self.b.get(self.i) {
            Some(b'"') => {
                let s = &self.s[start..self.i];
                self.i += 1;
                return Ok(Cow::Borrowed(s));
            }
            Some(b'\\') => {}
            Some(_) => return Err(self.err("control character in string")),
            None => return Err(self.err("unterminated string")),
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
                    self.i = self.scan_string(run_start);
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

    /// A number: integers exactly (`i64`, else `u64`, else an error), the rest as the
    /// nearest `f64`. The digits are accumulated while scanning, so a float of at most 15
    /// significant digits and a power of ten up to 22 is one exact division or multiplication
    /// (Clinger's fast path: both operands are exact, and IEEE rounds the one operation
    /// correctly); any other float is parsed by the standard library.
    fn number(&mut self) -> Result<Value<'a>, JsonError> {
        let start = self.i;
        let negative = self.b.get(self.i) == Some(&b'-');
        if negative {
            self.i += 1;
        }
        let int_start = self.i;
        // The digits as one integer (wrapping: only used when there are at most 19).
        let mut mantissa: u64 = 0;
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(&mut mantissa),
            _ => return Err(self.err("invalid number")),
        }
        let int_digits = self.i - int_start;
        let mut frac_digits = 0;
        let mut float = false;
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            let frac_start = self.i;
            self.digits(&mut mantissa);
            frac_digits = self.i - frac_start;
            if frac_digits == 0 {
                return Err(self.err("invalid number: digits expected after `.`"));
            }
            float = true;
        }
        let mut exp: i64 = 0;
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            let exp_negative = self.b.get(self.i) == Some(&b'-');
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            let exp_start = self.i;
            while let Some(d @ b'0'..=b'9') = self.b.get(self.i) {
                // Saturates far beyond any finite f64; the fallback parse decides.
                exp = (exp * 10 + i64::from(d - b'0')).min(1 << 20);
                self.i += 1;
            }
            if self.i == exp_start {
                return Err(self.err("invalid number: digits expected in exponent"));
            }
            if exp_negative {
                exp = -exp;
            }
            float = true;
        }
        if !float {
            // Up to 18 digits always fit an i64.
            if int_digits <= 18 {
                let n = mantissa as i64;
                return Ok(Value::Int(if negative { -n } else { n }));
            }
            return self.big_integer(start);
        }
        let scale = exp - frac_digits as i64;
        if int_digits + frac_digits <= 19 && mantissa <= 1 << 53 && (-22..=22).contains(&scale) {
            let m = mantissa as f64;
            let v = if scale < 0 {
                m / POW10[scale.unsigned_abs() as usize]
            } else {
                m * POW10[scale as usize]
            };
            return Ok(Value::Float(if negative { -v } else { v }));
        }
        let text = &self.s[start..self.i];
        let v: f64 = text.parse().map_err(|_| self.err("invalid number"))?;
        if v.is_finite() {
            Ok(Value::Float(v))
        } else {
            Err(JsonError::NumberOutOfRange(start))
        }
    }

    /// Consumes a run of decimal digits, accumulating them into `acc` (wrapping).
    #[inline]
    fn digits(&mut self, acc: &mut u64) {
        while let Some(d @ b'0'..=b'9') = self.b.get(self.i) {
            *acc = acc.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            self.i += 1;
        }
    }

    /// An integer of 19 or more digits (`start..self.i`): `i64`, else `u64`, else an error.
    #[cold]
    fn big_integer(&self, start: usize) -> Result<Value<'a>, JsonError> {
        let text = &self.s[start..self.i];
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

/// The powers of ten an `f64` holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A mask with the high bit set in (at least) the first byte of `x` (little-endian) that is
/// `"`, `\\` or a control character; zero when there is none. Bytes after the first such byte
/// may be flagged falsely (borrows), so only the lowest set bit is meaningful.
#[inline]
fn string_stops(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let quote = x ^ (ONES * u64::from(b'"'));
    let backslash = x ^ (ONES * u64::from(b'\\'));
    let zero_byte = |y: u64| y.wrapping_sub(ONES) & !y;
    (zero_byte(quote) | zero_byte(backslash) | (x.wrapping_sub(ONES * 0x20) & !x)) & HIGH
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
    fn floats_are_the_nearest_f64_like_the_standard_parser() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut texts: Vec<String> = [
            "0.0",
            "-0.0",
            "25.3",
            "1e22",
            "9007199254740993.0",
            "9007199254740992.5",
            "0.30000000000000004",
            "1490693176.0345",
            "123456789012345678.9",
            "1e-22",
            "4.9e-324",
            "1.7976931348623157e308",
            "0.000000000000000000000000001",
            "12345678901234567890.5",
            "1E+2",
            "-7.25e-3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..20_000 {
            let r = next();
            let int = next() % 10u64.pow((r % 12) as u32 + 1);
            let frac_len = (r >> 8) % 18;
            let frac = next() % 10u64.pow(frac_len as u32).max(1);
            let mut t = format!("{}{int}", if r & (1 << 20) != 0 { "-" } else { "" });
            if frac_len > 0 {
                t += &format!(".{frac:0width$}", width = frac_len as usize);
            }
            if r & (1 << 21) != 0 {
                t += &format!("e{}", (r >> 24) % 60);
                if r & (1 << 22) != 0 {
                    t.insert(t.len() - 1 - ((r >> 24) % 60 >= 10) as usize, '-');
                }
            }
            texts.push(t);
        }
        for t in &texts {
            let expected: f64 = t.parse().unwrap();
            match parse(t.as_bytes()) {
                Ok(Value::Float(v)) => assert_eq!(v.to_bits(), expected.to_bits(), "{t}"),
                Ok(Value::Int(n)) => assert_eq!(n as f64, expected, "{t}"),
                other => panic!("{t}: {other:?}"),
            }
        }
    }

    #[test]
    fn strings_end_at_the_first_quote_backslash_or_control_character() {
        for (text, expected) in [
            (r#""""#, ""),
            (r#""a""#, "a"),
            (r#""abcdefgh""#, "abcdefgh"),
            (r#""abcdefghijklmnopq""#, "abcdefghijklmnopq"),
            (r#""é ü 😀 long enough""#, "é ü 😀 long enough"),
            (r#""abcdefg\"hij""#, "abcdefg\"hij"),
            (r#""abcdefghijklm\\n""#, "abcdefghijklm\\n"),
            ("\"\u{7f}\u{80}~ \"", "\u{7f}\u{80}~ "),
        ] {
            assert_eq!(
                parse(text.as_bytes()),
                Ok(Value::Str(expected.into())),
                "{text}"
            );
            let padded = format!("[{text}, 1, 2, 3, 4, 5, 6, 7, 8]");
            let Ok(Value::Array(items)) = parse(padded.as_bytes()) else {
                panic!("{padded}")
            };
            assert_eq!(items[0], Value::Str(expected.into()));
        }
        assert_eq!(
            parse(b"[\"abcdefghij\x1f\", 1, 2, 3, 4, 5, 6, 7, 8]"),
            Err(JsonError::Syntax {
                offset: 12,
                what: "control character in string"
            })
        );
        assert_eq!(
            parse(b"\"abcdefghij"),
            Err(JsonError::Syntax {
                offset: 11,
                what: "unterminated string"
            })
        );
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
