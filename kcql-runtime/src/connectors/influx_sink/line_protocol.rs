//! InfluxDB line protocol, written straight into a caller-owned buffer.
//!
//! `measurement[,tag=value…] field=value[,…] [timestamp]\n` with the escaping rules of the
//! InfluxDB line protocol reference: commas and spaces in measurements; commas, `=` and spaces
//! in tag keys, tag values and field keys; `"` and `\` in string field values; and `\` itself in
//! names (as the line protocol v2 parsers read `\\`). A name ending in a backslash is refused:
//! parsers reject it. (InfluxDB 1.x keeps `\\` in names as two characters, so a backslash in a
//! name is stored doubled there; backslashes in string fields are exact everywhere.)
//! Tags are sorted by key (byte order, as InfluxDB prefers), empty tag values
//! are dropped, integers get `i` (unsigned `u`), floats are written in their shortest
//! round-trip form without exponent. A point that cannot be written (no fields, NaN/infinite
//! float, a newline in a name, an empty key) is refused on its own and the buffer is left as
//! it was, so one bad point never spoils its batch.
//!
//! Its private `parse` module reads lines back the way InfluxDB's parser does (where a line
//! ends, its measurement and typed field keys), to match InfluxDB's messages about refused
//! lines to the lines written.

use thiserror::Error;

mod number;
pub(crate) mod parse;

use number::{push_float, push_int, push_uint};

/// Timestamp precision of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Nanoseconds (the default).
    #[default]
    Ns,
    /// Microseconds.
    Us,
    /// Milliseconds.
    Ms,
    /// Seconds.
    S,
}

impl Precision {
    /// The name in configuration and in the 2.x API (`ns`, `us`, `ms`, `s`).
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Ns => "ns",
            Precision::Us => "us",
            Precision::Ms => "ms",
            Precision::S => "s",
        }
    }

    /// The `precision=` value of the 1.x `/write` API: `ns`, **`u`**, `ms`, `s`. InfluxDB 1.x
    /// does not know `us` and silently reads such timestamps as nanoseconds (checked against
    /// 1.6.7: `precision=us` with `1000` stores `1000` ns, `precision=u` stores `1000000` ns).
    pub fn v1_param(self) -> &'static str {
        match self {
            Precision::Us => "u",
            other => other.as_str(),
        }
    }

    /// A nanosecond timestamp in this precision (truncated toward negative infinity).
    pub fn from_nanos(self, ns: i64) -> i64 {
        let d = match self {
            Precision::Ns => 1,
            Precision::Us => 1_000,
            Precision::Ms => 1_000_000,
            Precision::S => 1_000_000_000,
        };
        ns.div_euclid(d)
    }
}

/// A field value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    /// A float (must be finite).
    Float(f64),
    /// A signed integer (`42i`).
    Int(i64),
    /// An unsigned integer (`42u`; InfluxDB 1.x accepts it only when built with uint support).
    UInt(u64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(&'a str),
}

/// Why one point was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PointError {
    /// No fields left to write.
    #[error("the point has no fields")]
    NoFields,
    /// A float field that is NaN or infinite.
    #[error("field `{0}` is not a finite number")]
    NonFinite(String),
    /// An empty measurement or field key.
    #[error("empty {0}")]
    Empty(&'static str),
    /// A newline in a measurement, key or tag value.
    #[error("{0} contains a line break")]
    LineBreak(&'static str),
    /// A measurement, key or tag value ending in `\\`.
    #[error("{0} ends with a backslash, which line protocol cannot express")]
    TrailingBackslash(&'static str),
}

/// What each byte needs in one kind of element: 0 nothing, 1 a backslash before it, 2 it
/// cannot be written (a line break).
struct Escapes([u8; 256]);

impl Escapes {
    const fn new(specials: &[u8], forbid_line_breaks: bool) -> Escapes {
        let mut t = [0u8; 256];
        let mut i = 0;
        while i < specials.len() {
            t[specials[i] as usize] = 1;
            i += 1;
        }
        if forbid_line_breaks {
            t[b'\n' as usize] = 2;
            t[b'\r' as usize] = 2;
        }
        Escapes(t)
    }
}

/// Measurements: comma, space, backslash.
static MEASUREMENT: Escapes = Escapes::new(b", \\", true);
/// Tag keys, tag values, field keys: comma, equals, space, backslash.
static KEY: Escapes = Escapes::new(b",= \\", true);
/// String field values: double quote, backslash.
static STRING: Escapes = Escapes::new(b"\"\\", false);

/// Appends `s` escaped per `esc` in one pass; `Err` (with `out` partly written) when `s`
/// contains a byte that cannot be written.
#[inline]
fn push_escaped(out: &mut Vec<u8>, s: &str, esc: &Escapes) -> Result<(), ()> {
    let bytes = s.as_bytes();
    if bytes.iter().all(|b| esc.0[*b as usize] == 0) {
        out.extend_from_slice(bytes);
        return Ok(());
    }
    for &b in bytes {
        match esc.0[b as usize] {
            0 => out.push(b),
            1 => out.extend_from_slice(&[b'\\', b]),
            _ => return Err(()),
        }
    }
    Ok(())
}

/// Appends a measurement, key or tag value: not empty, no line break, no trailing backslash.
#[inline]
fn push_name(
    out: &mut Vec<u8>,
    s: &str,
    esc: &Escapes,
    what: &'static str,
) -> Result<(), PointError> {
    match s.as_bytes().last() {
        None => return Err(PointError::Empty(what)),
        Some(b'\\') => return Err(PointError::TrailingBackslash(what)),
        Some(_) => {}
    }
    push_escaped(out, s, esc).map_err(|()| PointError::LineBreak(what))
}

/// Appends one point to `out`. `tags` is sorted in place; empty tag values are dropped. On
/// error `out` is unchanged.
pub fn write_point(
    out: &mut Vec<u8>,
    measurement: &str,
    tags: &mut [(&str, &str)],
    fields: &[(&str, FieldValue<'_>)],
    timestamp: Option<i64>,
) -> Result<(), PointError> {
    if fields.is_empty() {
        return Err(PointError::NoFields);
    }
    write_fields(out, measurement, tags, fields.iter().copied(), timestamp)
}

/// [`write_point`] with the fields from an iterator (so a caller need not collect them) and
/// tag values of any string type; the caller has checked that there is at least one field.
pub(crate) fn write_fields<'f, T: AsRef<str>>(
    out: &mut Vec<u8>,
    measurement: &str,
    tags: &mut [(&str, T)],
    fields: impl IntoIterator<Item = (&'f str, FieldValue<'f>)>,
    timestamp: Option<i64>,
) -> Result<(), PointError> {
    let start = out.len();
    let result = write_line(out, measurement, tags, fields, timestamp);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// `measurement` as [`write_point`] writes it: commas, spaces and backslashes escaped (a line
/// break, which `write_point` refuses, is kept as is).
pub fn escape_measurement(measurement: &str) -> String {
    let mut out = Vec::with_capacity(measurement.len());
    for &b in measurement.as_bytes() {
        if MEASUREMENT.0[b as usize] == 1 {
            out.push(b'\\');
        }
        out.push(b);
    }
    // Only ASCII backslashes were added to valid UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn write_line<'f, T: AsRef<str>>(
    out: &mut Vec<u8>,
    measurement: &str,
    tags: &mut [(&str, T)],
    fields: impl IntoIterator<Item = (&'f str, FieldValue<'f>)>,
    timestamp: Option<i64>,
) -> Result<(), PointError> {
    if tags.len() > 1 {
        tags.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    }
    push_name(out, measurement, &MEASUREMENT, "measurement")?;
    for (k, v) in tags.iter() {
        let v = v.as_ref();
        if v.is_empty() {
            continue;
        }
        out.push(b',');
        push_name(out, k, &KEY, "tag key")?;
        out.push(b'=');
        push_name(out, v, &KEY, "tag value")?;
    }
    out.push(b' ');
    for (i, (k, v)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_name(out, k, &KEY, "field key")?;
        out.push(b'=');
        match v {
            FieldValue::Float(f) => {
                if !f.is_finite() {
                    return Err(PointError::NonFinite(k.to_string()));
                }
                push_float(out, f)
            }
            FieldValue::Int(n) => {
                push_int(out, n);
                out.push(b'i');
            }
            FieldValue::UInt(n) => {
                push_uint(out, n);
                out.push(b'u');
            }
            FieldValue::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            FieldValue::Str(s) => {
                out.push(b'"');
                // String fields may hold any character, so this cannot fail.
                let _ = push_escaped(out, s, &STRING);
                out.push(b'"');
            }
        }
    }
    if let Some(t) = timestamp {
        out.push(b' ');
        push_int(out, t);
    }
    out.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(
        m: &str,
        tags: &mut [(&str, &str)],
        fields: &[(&str, FieldValue)],
        t: Option<i64>,
    ) -> String {
        let mut out = Vec::new();
        write_point(&mut out, m, tags, fields, t).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn sensor_point() {
        assert_eq!(
            line(
                "sensor",
                &mut [("poweredBy", "kcql"), ("id", "SB01")],
                &[
                    ("temperature", FieldValue::Float(25.3)),
                    ("humidity", FieldValue::Int(40))
                ],
                Some(1_700_000_000_000_000_000)
            ),
            "sensor,id=SB01,poweredBy=kcql temperature=25.3,humidity=40i 1700000000000000000\n"
        );
    }

    #[test]
    fn escaped_measurement_is_as_written() {
        for m in ["cpu", "my cpu,x", "a\\b", "é m"] {
            let written = line(m, &mut [], &[("v", FieldValue::Int(1))], None);
            assert_eq!(
                written.strip_suffix(" v=1i\n"),
                Some(escape_measurement(m).as_str())
            );
        }
    }

    #[test]
    fn escaping() {
        assert_eq!(
            line(
                "my meas,x",
                &mut [("tag key", "a=b,c d"), ("empty", "")],
                &[
                    ("f=1", FieldValue::Str("say \"hi\" \\ bye")),
                    ("b", FieldValue::Bool(false)),
                    ("u", FieldValue::UInt(u64::MAX)),
                    ("n", FieldValue::Int(i64::MIN)),
                    ("big", FieldValue::Float(1e21)),
                    ("small", FieldValue::Float(-0.000001)),
                ],
                None
            ),
            "my\\ meas\\,x,tag\\ key=a\\=b\\,c\\ d f\\=1=\"say \\\"hi\\\" \\\\ bye\",b=false,\
             u=18446744073709551615u,n=-9223372036854775808i,big=1000000000000000000000,small=-0.000001\n"
        );
        assert_eq!(
            line(
                "a\\b",
                &mut [("k", "v\\,w")],
                &[("f", FieldValue::Int(1))],
                None
            ),
            "a\\\\b,k=v\\\\\\,w f=1i\n"
        );
        let mut out = Vec::new();
        assert_eq!(
            write_point(
                &mut out,
                "m",
                &mut [("k", "v\\")],
                &[("f", FieldValue::Int(1))],
                None
            ),
            Err(PointError::TrailingBackslash("tag value"))
        );
    }

    #[test]
    fn bad_points_are_refused_and_leave_the_buffer_alone() {
        let mut out = b"ok f=1i\n".to_vec();
        let before = out.clone();
        assert_eq!(
            write_point(&mut out, "m", &mut [], &[], None),
            Err(PointError::NoFields)
        );
        assert_eq!(
            write_point(
                &mut out,
                "m",
                &mut [],
                &[("x", FieldValue::Float(f64::NAN))],
                None
            ),
            Err(PointError::NonFinite("x".into()))
        );
        assert_eq!(
            write_point(
                &mut out,
                "m",
                &mut [("t", "a\nb")],
                &[("x", FieldValue::Int(1))],
                None
            ),
            Err(PointError::LineBreak("tag value"))
        );
        assert_eq!(
            write_point(&mut out, "", &mut [], &[("x", FieldValue::Int(1))], None),
            Err(PointError::Empty("measurement"))
        );
        assert_eq!(out, before);
    }

    #[test]
    fn precision_conversion() {
        assert_eq!(
            Precision::Ms.from_nanos(1_700_000_000_123_456_789),
            1_700_000_000_123
        );
        assert_eq!(Precision::S.from_nanos(-1), -1);
        assert_eq!(Precision::Ns.as_str(), "ns");
    }
}
