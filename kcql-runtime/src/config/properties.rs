//! A parser for Java `.properties` files (the `java.util.Properties::load` format).
//!
//! Supported: `key=value`, `key: value` and `key value` separators; `#` and `!` comment lines;
//! blank lines; a line ending in an odd number of backslashes continues on the next line (whose
//! leading white space is dropped); the escapes `\t \n \r \f \\ \uXXXX`, and a backslash before
//! any other character keeps that character (so keys may contain `\=`, `\:` and `\ `).
//! A key given twice keeps its last value, as in Java; it stays at its first position.

use thiserror::Error;

/// One `key = value` entry of a properties file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The key, escapes resolved.
    pub key: String,
    /// The value, escapes resolved.
    pub value: String,
    /// The 1-based line the entry (its last definition) starts on.
    pub line: usize,
}

/// Why a properties file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PropertiesError {
    /// A `\u` escape not followed by four hexadecimal digits.
    #[error("line {line}: malformed \\uXXXX escape")]
    BadUnicodeEscape {
        /// The 1-based line of the entry.
        line: usize,
    },
    /// A `\uXXXX` escape naming a lone surrogate that no following escape completes.
    #[error("line {line}: \\u{code:04X} is an unpaired surrogate")]
    UnpairedSurrogate {
        /// The 1-based line of the entry.
        line: usize,
        /// The code unit.
        code: u32,
    },
}

impl PropertiesError {
    /// The 1-based line the error is on.
    pub fn line(&self) -> usize {
        match self {
            PropertiesError::BadUnicodeEscape { line }
            | PropertiesError::UnpairedSurrogate { line, .. } => *line,
        }
    }
}

/// Parses the text of a properties file into its entries, in order of first appearance
/// (duplicate keys: the last value wins).
pub fn parse_properties(text: &str) -> Result<Vec<Property>, PropertiesError> {
    let mut out: Vec<Property> = Vec::new();
    for (line, logical) in logical_lines(text) {
        let (raw_key, raw_value) = split_entry(&logical);
        let key = unescape(raw_key, line)?;
        let value = unescape(raw_value, line)?;
        match out.iter_mut().find(|p| p.key == key) {
            Some(existing) => {
                existing.value = value;
                existing.line = line;
            }
            None => out.push(Property { key, value, line }),
        }
    }
    Ok(out)
}

/// Converts entries into `(key, value)` pairs.
pub fn into_pairs(props: Vec<Property>) -> Vec<(String, String)> {
    props.into_iter().map(|p| (p.key, p.value)).collect()
}

/// Borrowed `(key, value)` pairs as the owned pairs the settings readers take (settings
/// written in code: tests, embedded defaults).
pub fn owned_pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// Splits on `\n`, `\r\n` and `\r`.
fn natural_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// Whether `s` ends in an odd number of backslashes (a continuation).
fn continues(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Logical lines (continuations joined, comments and blank lines dropped), with the 1-based
/// line each starts on. Escapes are still raw.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let lines = natural_lines(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start = i + 1;
        let first = lines[i].trim_start_matches(is_ws);
        i += 1;
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_string();
        while continues(&logical) {
            logical.pop();
            match lines.get(i) {
                Some(next) => {
                    logical.push_str(next.trim_start_matches(is_ws));
                    i += 1;
                }
                None => break,
            }
        }
        out.push((start, logical));
    }
    out
}

/// Splits a logical line into its raw key and raw value.
fn split_entry(line: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut key_end = line.len();
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || is_ws(c) {
            key_end = i;
            break;
        }
    }
    let key = &line[..key_end];
    let mut rest = line[key_end..].trim_start_matches(is_ws);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches(is_ws);
    }
    (key, rest)
}

/// Resolves the escapes of a raw key or value.
fn unescape(raw: &str, line: usize) -> Result<String, PropertiesError> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    let mut pending_high: Option<u32> = None;
    while let Some(c) = chars.next() {
        if c != '\\' {
            if let Some(code) = pending_high.take() {
                return Err(PropertiesError::UnpairedSurrogate { line, code });
            }
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            break; // A lone trailing backslash is dropped, as in Java.
        };
        if e != 'u' {
            if let Some(code) = pending_high.take() {
                return Err(PropertiesError::UnpairedSurrogate { line, code });
            }
            out.push(match e {
                't' => '\t',
                'n' => '\n',
                'r' => '\r',
                'f' => '\u{c}',
                other => other,
            });
            continue;
        }
        let mut code = 0u32;
        for _ in 0..4 {
            let d = chars
                .next()
                .and_then(|h| h.to_digit(16))
                .ok_or(PropertiesError::BadUnicodeEscape { line })?;
            code = code * 16 + d;
        }
        match (pending_high.take(), code) {
            (None, 0xD800..=0xDBFF) => pending_high = Some(code),
            (Some(high), 0xDC00..=0xDFFF) => {
                let c = 0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00);
                out.push(
                    char::from_u32(c).ok_or(PropertiesError::UnpairedSurrogate { line, code })?,
                );
            }
            (Some(high), _) => return Err(PropertiesError::UnpairedSurrogate { line, code: high }),
            (None, _) => out.push(
                char::from_u32(code).ok_or(PropertiesError::UnpairedSurrogate { line, code })?,
            ),
        }
    }
    if let Some(code) = pending_high {
        return Err(PropertiesError::UnpairedSurrogate { line, code });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(String, String)> {
        into_pairs(parse_properties(text).expect("parses"))
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn separators_comments_and_blank_lines() {
        let text = "# comment\n! also a comment\n\n   \na=1\nb: 2\nc 3\n  d  =  4  \ne\nf=\ng:=x\n";
        assert_eq!(
            kv(text),
            vec![
                p("a", "1"),
                p("b", "2"),
                p("c", "3"),
                p("d", "4  "),
                p("e", ""),
                p("f", ""),
                p("g", "=x"),
            ]
        );
    }

    #[test]
    fn line_numbers_and_line_endings() {
        let props = parse_properties("a=1\r\n\r\n# c\rb=2\nc=3").unwrap();
        let lines: Vec<usize> = props.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![1, 4, 5]);
    }

    #[test]
    fn continuation_lines() {
        let text = "k = one, \\\n      two, \\\n  three\nnext=1\n";
        assert_eq!(kv(text), vec![p("k", "one, two, three"), p("next", "1")]);
        // An even number of backslashes is an escaped backslash, not a continuation.
        assert_eq!(kv("a=x\\\\\nb=y"), vec![p("a", "x\\"), p("b", "y")]);
        // A continued line that starts with `#` is not a comment.
        assert_eq!(kv("a=1\\\n#2"), vec![p("a", "1#2")]);
        // Continuation at end of file.
        assert_eq!(kv("a=1\\"), vec![p("a", "1")]);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            kv(r"a=\t\n\r\f\\\u0041\u00e9\q"),
            vec![p("a", "\t\n\r\u{c}\\A\u{e9}q")]
        );
        assert_eq!(kv(r"e=\ud83d\ude00"), vec![p("e", "\u{1F600}")]);
    }

    #[test]
    fn escaped_separators_in_keys() {
        assert_eq!(
            kv("my\\=key=v\nmy\\:k2:v2\nmy\\ key value with spaces\n"),
            vec![
                p("my=key", "v"),
                p("my:k2", "v2"),
                p("my key", "value with spaces"),
            ]
        );
    }

    #[test]
    fn duplicates_last_wins() {
        let props = parse_properties("a=1\nb=2\na=3\n").unwrap();
        assert_eq!(
            props,
            vec![
                Property {
                    key: "a".into(),
                    value: "3".into(),
                    line: 3
                },
                Property {
                    key: "b".into(),
                    value: "2".into(),
                    line: 2
                },
            ]
        );
    }

    #[test]
    fn errors_carry_line_numbers() {
        let e = parse_properties("a=1\n\nb=\\u12G4\n").unwrap_err();
        assert_eq!(e, PropertiesError::BadUnicodeEscape { line: 3 });
        assert_eq!(e.line(), 3);
        assert!(e.to_string().starts_with("line 3:"));
        assert_eq!(
            parse_properties("x=\\u12").unwrap_err(),
            PropertiesError::BadUnicodeEscape { line: 1 }
        );
        assert_eq!(
            parse_properties("x=\\ud83d!").unwrap_err(),
            PropertiesError::UnpairedSurrogate {
                line: 1,
                code: 0xD83D
            }
        );
    }
}
