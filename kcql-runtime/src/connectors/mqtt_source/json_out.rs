//! Writes a [`Value`] as compact JSON (the output of a projection on a JSON or Avro payload).

use crate::value::Value;

/// Appends `v` to `out` as JSON. Non-finite floats become `null`; bytes become a string
/// (invalid UTF-8 replaced).
pub fn write_json(v: &Value<'_>, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::UInt(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Float(f) if f.is_finite() => {
            let text = f.to_string();
            out.extend_from_slice(text.as_bytes());
            if !text.contains(['.', 'e', 'E']) {
                out.extend_from_slice(b".0");
            }
        }
        Value::Float(_) => out.extend_from_slice(b"null"),
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
        Value::Object(members) => {
            write_object(members.iter().map(|(k, v)| (k.as_ref(), v)), out);
        }
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
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
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
