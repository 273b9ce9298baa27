//! Reading line protocol the way InfluxDB's parser does, as far as the sink needs it: where
//! InfluxDB ends each line of a body ([`split_lines`]), a line's measurement and field keys with
//! their types ([`ParsedLine`], to read InfluxDB's answers about refused lines), and a line's
//! series key, field set and timestamp ([`sections`], [`FieldPairs`], to find points of one
//! write that overwrite each other).

use std::ops::Range;

/// Byte ranges of the lines of `body` as InfluxDB splits them (a port of `scanLine` in
/// InfluxDB's `models/points.go`: a newline inside a double-quoted field value does not end the
/// line). A trailing newline does not start another line; empty lines count.
pub(crate) fn split_lines(body: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let end = scan_line(body, pos);
        out.push(pos..end);
        pos = end + 1;
    }
    out
}

fn scan_line(buf: &[u8], mut i: usize) -> usize {
    let (mut quoted, mut fields, mut equals) = (false, false, 0usize);
    while i < buf.len() {
        let c = buf[i];
        if c == b'\\' && i + 2 < buf.len() {
            i += 2;
            continue;
        }
        if c == b' ' {
            fields = true;
        }
        if fields {
            if !quoted && c == b'=' {
                i += 1;
                equals += 1;
                continue;
            } else if c == b'"' && equals > 0 {
                quoted = !quoted;
            }
        }
        if c == b'\n' && !quoted {
            break;
        }
        i += 1;
    }
    i
}

/// `line` without leading spaces, tabs and NULs (which InfluxDB skips).
pub(crate) fn skip_ws(line: &[u8]) -> &[u8] {
    let n = line
        .iter()
        .take_while(|&&c| c == b' ' || c == b'\t' || c == 0)
        .count();
    &line[n..]
}

/// The line-protocol type of a field value, named as InfluxDB names it in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    Float,
    Integer,
    Unsigned,
    String,
    Boolean,
}

impl FieldType {
    /// The type InfluxDB names `name` (`float`, `integer`, `unsigned`, `string`, `boolean`).
    pub(crate) fn from_name(name: &str) -> Option<FieldType> {
        Some(match name {
            "float" => FieldType::Float,
            "integer" => FieldType::Integer,
            "unsigned" => FieldType::Unsigned,
            "string" => FieldType::String,
            "boolean" => FieldType::Boolean,
            _ => return None,
        })
    }

    /// The type of a field value as written in a line.
    pub(crate) fn of_value(v: &[u8]) -> FieldType {
        match v {
            [b'"', ..] => FieldType::String,
            b"t" | b"T" | b"true" | b"True" | b"TRUE" | b"f" | b"F" | b"false" | b"False"
            | b"FALSE" => FieldType::Boolean,
            [.., b'i'] => FieldType::Integer,
            [.., b'u'] => FieldType::Unsigned,
            _ => FieldType::Float,
        }
    }
}

/// Measurement and field keys/types of one line (just enough to match a conflict).
#[derive(Debug)]
pub(crate) struct ParsedLine {
    /// Unescaped as InfluxDB names it in messages.
    pub measurement: Vec<u8>,
    /// Keys (unescaped) and value types, in line order.
    pub fields: Vec<(Vec<u8>, FieldType)>,
}

impl ParsedLine {
    /// `None` for an empty or comment line.
    pub(crate) fn parse(line: &[u8]) -> Option<ParsedLine> {
        let line = skip_ws(line);
        if line.is_empty() || line[0] == b'#' {
            return None;
        }
        // Measurement: up to an unescaped ',' or ' '.
        let mut i = scan_until(line, 0, b", ");
        let measurement = unescape(&line[..i], NAME_ESCAPES);
        // Tags: up to an unescaped ' '.
        if line.get(i) == Some(&b',') {
            i = scan_until(line, i, b" ");
        }
        while line.get(i) == Some(&b' ') {
            i += 1;
        }
        let fields = FieldPairs::new(&line[i..])
            .map(|(k, v)| (unescape(k, NAME_ESCAPES), FieldType::of_value(v)))
            .collect();
        Some(ParsedLine {
            measurement,
            fields,
        })
    }
}

/// The field set of a line (or a line from its field set on): `(key, value)` pairs as written
/// (escaped, string values with their quotes), up to the first value not followed by `,`.
#[derive(Debug, Clone)]
pub(crate) struct FieldPairs<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> FieldPairs<'a> {
    /// The pairs of `fields`, which starts at the first field key.
    pub(crate) fn new(fields: &'a [u8]) -> Self {
        FieldPairs { rest: Some(fields) }
    }
}

impl<'a> Iterator for FieldPairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let line = self.rest.take()?;
        let k_end = scan_until(line, 0, b"=");
        if k_end >= line.len() {
            return None;
        }
        let v_start = k_end + 1;
        let v_end = if line.get(v_start) == Some(&b'"') {
            let mut j = v_start + 1;
            while j < line.len() && line[j] != b'"' {
                j += if line[j] == b'\\' { 2 } else { 1 };
            }
            (j + 1).min(line.len())
        } else {
            line[v_start..]
                .iter()
                .position(|&c| c == b',' || c == b' ')
                .map_or(line.len(), |p| v_start + p)
        };
        if line.get(v_end) == Some(&b',') {
            self.rest = Some(&line[v_end + 1..]);
        }
        Some((&line[..k_end], &line[v_start..v_end]))
    }
}

/// The three sections of a line with a timestamp, as written (escaped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sections<'a> {
    /// Measurement and tags: what InfluxDB identifies a series by.
    pub series: &'a [u8],
    /// The field set.
    pub fields: &'a [u8],
    /// The timestamp's digits.
    pub timestamp: &'a [u8],
}

/// Cuts `line` into series key, field set and timestamp; `None` when it has no timestamp (the
/// sink always writes one) or no field set.
pub(crate) fn sections(line: &[u8]) -> Option<Sections<'_>> {
    let series_end = scan_until(line, 0, b" ");
    let ts_space = line.iter().rposition(|&c| c == b' ')?;
    if ts_space <= series_end + 1 {
        return None;
    }
    let timestamp = &line[ts_space + 1..];
    let digits = timestamp.strip_prefix(b"-").unwrap_or(timestamp);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(Sections {
        series: &line[..series_end],
        fields: &line[series_end + 1..ts_space],
        timestamp,
    })
}

/// Index of the first byte in `stops` at or after `from`, skipping backslash escapes.
fn scan_until(line: &[u8], from: usize, stops: &[u8]) -> usize {
    let mut i = from;
    while i < line.len() {
        if line[i] == b'\\' {
            i += 2;
            continue;
        }
        if stops.contains(&line[i]) {
            return i;
        }
        i += 1;
    }
    line.len()
}

/// What InfluxDB's `escape.Unescape` unescapes in measurement names and keys before it names
/// them in a message (`\,`, `\"`, `\ `, `\=`).
const NAME_ESCAPES: &[u8] = b",\" =";

/// Removes the backslash before any byte of `escaped`; other backslashes stay.
fn unescape(s: &[u8], escaped: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 1 < s.len() && escaped.contains(&s[i + 1]) {
            out.push(s[i + 1]);
            i += 2;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn influx_line_split_matches_scan_line() {
        let body = b"a v=1i 1\n\nb s=\"x\ny\" 2\nc v=\\\n 3";
        let lines: Vec<&[u8]> = split_lines(body).into_iter().map(|r| &body[r]).collect();
        assert_eq!(
            lines,
            vec![&b"a v=1i 1"[..], b"", b"b s=\"x\ny\" 2", b"c v=\\\n 3"]
        );
        assert_eq!(split_lines(b"a v=1\n").len(), 1);
        assert_eq!(split_lines(b"").len(), 0);
    }

    #[test]
    fn measurement_and_typed_fields() {
        let line =
            ParsedLine::parse(b"  my\\ m\\,x,t=a f\\ k=1i,s=\"a, b=c\",b=t,u=2u,x=1.5 7").unwrap();
        assert_eq!(line.measurement, b"my m,x");
        let fields: Vec<(&[u8], FieldType)> =
            line.fields.iter().map(|(k, t)| (&k[..], *t)).collect();
        assert_eq!(
            fields,
            [
                (&b"f k"[..], FieldType::Integer),
                (b"s", FieldType::String),
                (b"b", FieldType::Boolean),
                (b"u", FieldType::Unsigned),
                (b"x", FieldType::Float),
            ]
        );
        assert!(ParsedLine::parse(b"# comment").is_none());
        assert!(ParsedLine::parse(b"").is_none());
    }

    #[test]
    fn sections_and_field_pairs_as_written() {
        let line = b"my\\ m,t=a\\ b f\\ k=1i,s=\"a, b=c \\\" 9\",x=1.5 1700000000000000000";
        let s = sections(line).unwrap();
        assert_eq!(s.series, b"my\\ m,t=a\\ b");
        assert_eq!(s.timestamp, b"1700000000000000000");
        let pairs: Vec<(&[u8], &[u8])> = FieldPairs::new(s.fields).collect();
        assert_eq!(
            pairs,
            [
                (&b"f\\ k"[..], &b"1i"[..]),
                (b"s", b"\"a, b=c \\\" 9\""),
                (b"x", b"1.5"),
            ]
        );
        assert_eq!(
            sections(b"m v=1i -5").map(|s| s.timestamp),
            Some(&b"-5"[..])
        );
        for no_time in [&b"m v=1i"[..], b"m s=\"a 1\"", b"m", b"m 5", b""] {
            assert_eq!(
                sections(no_time),
                None,
                "{:?}",
                String::from_utf8_lossy(no_time)
            );
        }
    }
}
