//! Writes a [`Value`] as compact JSON: the MQTT source's projected records and the window
//! processor's results (and its group keys) all go through here.

use std::io::Write as _;

use crate::value::Value;

/// Appends `v` to `out` as compact JSON. Non-finite floats become `null`; bytes become a
/// string of their lossy UTF-8 text; a float always shows it is one (`1.0`, not `1`).
pub fn write_json(v: &Value<'_>, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::UInt(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Float(f) if !f.is_finite() => out.extend_from_slice(b"null"),
        Value::Float(f) => {
            let start = out.len();
            let _ = write!(out, "{f}");
            if !out[start..].iter().any(|c| matches!(c, b'.' | b'e' | b'E')) {
                out.extend_from_slice(b".0");
            }
        }
        Value::Str(s) => write_str(s, out),
        Value::Bytes(b) => write_str(&String::from_utf8_lossy(b), out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(item, out);
            }
            out.push(b']');
        }
        Value::Object(members) => write_object(members.iter().map(|(k, v)| (k.as_ref(), v)), out),
    }
}

/// Appends an object with the given members, in order.
pub fn write_object<'v, 'a: 'v>(
    members: impl IntoIterator<Item = (&'v str, &'v Value<'a>)>,
    out: &mut Vec<u8>,
) {
    out.push(b'{');
    for (i, (k, v)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(k, out);
        out.push(b':');
        write_json(v, out);
    }
    out.push(b'}');
}

/// Appends a JSON string literal.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[plain..i]);
        match escape {
            Some(e) => out.extend_from_slice(e),
            None => {
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        plain = i + 1;
    }
    out.extend_from_slice(&s.as_bytes()[plain..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::json;

    #[test]
    fn round_trips_through_the_decoder() {
        let text = r#"{"a":1,"b":[true,null,2.5],"c":"x\"y\n\u0001é","d":{"e":-3},"f":1.0}"#;
        let v = json::parse(text.as_bytes()).unwrap();
        let mut out = Vec::new();
        write_json(&v, &mut out);
        assert_eq!(json::parse(&out).unwrap(), v);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":1,"b":[true,null,2.5],"c":"x\"y\n\u0001é","d":{"e":-3},"f":1.0}"#
        );
    }
}
