//! The runtime's JSON decoder (`kcql_runtime::decode::json`) on any bytes:
//!
//! * it never panics, and the record path (`RecordDecoder::json()`, value and sniffed key)
//!   decodes exactly what `json::parse` does;
//! * it accepts what `serde_json` accepts, with the same values, except for what it refuses on
//!   purpose (integers beyond 64 bits, which `serde_json` turns into floats; nesting near the
//!   depth limit);
//! * whatever it accepts re-encodes (`encode::json::write_json`) to JSON that decodes to the
//!   same value.
#![no_main]

use kcql_runtime::decode::json::{self, JsonError};
use kcql_runtime::decode::{decode, Format};
use kcql_runtime::encode::json::write_json;
use kcql_runtime::record::{RawRecord, RecordDecoder, Schemas};
use kcql_runtime::value::Value;
use libfuzzer_sys::fuzz_target;
use serde_json::Value as Json;

/// Same JSON value: numbers by their value (`-0` is an integer here, a float in `serde_json`),
/// objects as `serde_json` keeps them (the last of repeated keys wins).
fn same(ours: &Value<'_>, theirs: &Json) -> bool {
    match (ours, theirs) {
        (Value::Null, Json::Null) => true,
        (Value::Bool(a), Json::Bool(b)) => a == b,
        (Value::Int(a), Json::Number(b)) => {
            b.as_i64() == Some(*a) || (*a == 0 && b.as_f64() == Some(0.0))
        }
        (Value::UInt(a), Json::Number(b)) => b.as_u64() == Some(*a),
        (Value::Float(a), Json::Number(b)) => b.is_f64() && b.as_f64() == Some(*a),
        (Value::Str(a), Json::String(b)) => a == b,
        (Value::Array(a), Json::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Object(members), Json::Object(b)) => {
            let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_ref()).collect();
            keys.sort_unstable();
            keys.dedup();
            keys.len() == b.len()
                && keys.iter().all(|k| {
                    b.get(*k)
                        .is_some_and(|theirs| ours.get(k).is_some_and(|v| same(v, theirs)))
                })
        }
        _ => false,
    }
}

/// Refusals `serde_json` does not share: integers wider than 64 bits (it reads them as
/// floats) and the nesting limit (both stop near 128 levels, counted differently).
fn deliberate(e: &JsonError) -> bool {
    matches!(e, JsonError::BigInteger { .. } | JsonError::TooDeep)
}

fuzz_target!(|data: &[u8]| {
    let ours = json::parse(data);

    // The record path decodes the value with the same parser, and sniffs the key.
    let decoder = RecordDecoder::json();
    let raw = RawRecord {
        topic: "fuzz",
        partition: 0,
        offset: 0,
        timestamp_ms: None,
        key: Some(data),
        value: Some(data),
        headers: &[],
    };
    match (&ours, decoder.view(&raw, Schemas::none(), true)) {
        (Ok(v), Ok(view)) => {
            assert_eq!(&view.value, v);
            if matches!(data.first(), Some(b'{' | b'[')) {
                assert_eq!(&view.key, v);
            }
        }
        (Err(e), Err(err)) => {
            let _ = (e.to_string(), err.to_string());
        }
        (ours, view) => panic!("json::parse and the record path disagree: {ours:?} vs {view:?}"),
    }
    assert_eq!(
        decode(Some(data), Format::Json).map_err(|_| ()),
        ours.clone().map_err(|_| ())
    );

    match (&ours, serde_json::from_slice::<Json>(data)) {
        (Ok(v), Ok(theirs)) => assert!(
            same(v, &theirs),
            "values differ\ninput:      {:?}\nours:       {v:?}\nserde_json: {theirs:?}",
            String::from_utf8_lossy(data)
        ),
        (Ok(v), Err(e)) => assert!(
            e.to_string().starts_with("recursion limit exceeded"),
            "accepted what serde_json refuses ({e})\ninput: {:?}\nours:  {v:?}",
            String::from_utf8_lossy(data)
        ),
        (Err(e), Ok(theirs)) => assert!(
            deliberate(e),
            "refused what serde_json accepts ({e})\ninput: {:?}\nserde_json: {theirs:?}",
            String::from_utf8_lossy(data)
        ),
        (Err(_), Err(_)) => {}
    }

    if let Ok(v) = &ours {
        let _ = v.to_string();
        let mut out = Vec::new();
        write_json(v, &mut out);
        match json::parse(&out) {
            Ok(back) => assert_eq!(
                &back,
                v,
                "re-encoding changed the value\nencoded: {:?}",
                String::from_utf8_lossy(&out)
            ),
            Err(e) => panic!(
                "re-encoded JSON does not decode ({e})\nencoded: {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
});
