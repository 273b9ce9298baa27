//! The `.properties` reader (`kcql_runtime::config::properties`) on any UTF-8 text:
//!
//! * it never panics; errors and entries name a line that exists;
//! * keys come out unique (a repeated key keeps its last value);
//! * the entries, written back with every special character escaped, read back the same;
//! * the connector loader on top of it (`Pipeline::component_from_properties`, what
//!   `kcql run --check x.properties` does) returns, and its errors render.
#![no_main]

use kcql_runtime::config::{parse_properties, Pipeline};
use libfuzzer_sys::fuzz_target;

/// Natural lines as the format counts them (`\n`, `\r\n` and `\r` end a line).
fn line_count(text: &str) -> usize {
    let breaks = text.replace("\r\n", "\n").matches(['\n', '\r']).count();
    breaks + usize::from(!text.ends_with(['\n', '\r']))
}

/// `s` escaped so that it reads back as itself; `key`: also the separators, and a leading
/// `#`/`!` (a comment otherwise).
fn escape(s: &str, key: bool, out: &mut String) {
    for (i, c) in s.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' if key || i == 0 => out.push_str("\\t"),
            '\u{c}' if key || i == 0 => out.push_str("\\f"),
            ' ' if key || i == 0 => out.push_str("\\ "),
            '=' | ':' if key => {
                out.push('\\');
                out.push(c);
            }
            '#' | '!' if key && i == 0 => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = line_count(text);
    match parse_properties(text) {
        Err(e) => {
            let _ = e.to_string();
            assert!((1..=lines).contains(&e.line()), "{e:?} in {lines} lines");
        }
        Ok(props) => {
            let mut keys: Vec<&str> = props.iter().map(|p| p.key.as_str()).collect();
            keys.sort_unstable();
            keys.dedup();
            assert_eq!(keys.len(), props.len(), "repeated keys: {props:?}");
            for p in &props {
                assert!((1..=lines).contains(&p.line), "{p:?} in {lines} lines");
            }

            let mut written = String::new();
            for p in &props {
                escape(&p.key, true, &mut written);
                written.push('=');
                escape(&p.value, false, &mut written);
                written.push('\n');
            }
            let back = parse_properties(&written).unwrap_or_else(|e| {
                panic!("written entries do not read back: {e}\nwritten: {written:?}")
            });
            let pairs = |ps: &[kcql_runtime::config::Property]| -> Vec<(String, String)> {
                ps.iter()
                    .map(|p| (p.key.clone(), p.value.clone()))
                    .collect()
            };
            assert_eq!(
                pairs(&back),
                pairs(&props),
                "entries changed when written back\ninput:   {text:?}\nwritten: {written:?}"
            );
        }
    }
    if let Err(errors) = Pipeline::component_from_properties(text, "fuzz.properties") {
        assert!(!errors.is_empty());
        for e in &errors {
            let _ = e.to_string();
        }
    }
});
