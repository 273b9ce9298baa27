//! KCQL `LIKE` (`kcql::plan::LikePattern`): never panics, agrees with a textbook dynamic-programming
//! matcher, and stays fast on long texts (`-timeout=` turns a slow input into a finding).
//!
//! Input: `pattern NUL text` (lossy UTF-8). When the first byte of the text is `*`, the rest of
//! the text is repeated up to 16 KiB, so a pattern that makes the matcher backtrack shows up
//! as a timeout.
#![no_main]

use kcql::plan::LikePattern;
use libfuzzer_sys::fuzz_target;

/// Longest text the fuzz target builds by repetition.
const LONG_TEXT: usize = 16 * 1024;

/// Largest pattern × text (in characters) checked against the reference.
const REFERENCE_CELLS: usize = 1 << 16;

/// `pattern` matches all of `text`: `%` any run of characters, `_` one character, anything
/// else itself. `matched[j]`: the pattern read so far matches the first `j` characters.
fn reference(pattern: &[char], text: &[char]) -> bool {
    let mut matched = vec![false; text.len() + 1];
    matched[0] = true;
    for &p in pattern {
        let mut next = vec![false; text.len() + 1];
        match p {
            '%' => {
                let mut any = false;
                for j in 0..=text.len() {
                    any |= matched[j];
                    next[j] = any;
                }
            }
            _ => {
                for j in 1..=text.len() {
                    next[j] = matched[j - 1] && (p == '_' || text[j - 1] == p);
                }
            }
        }
        matched = next;
    }
    matched[text.len()]
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let pattern = String::from_utf8_lossy(&data[..split]);
    let mut text = String::from_utf8_lossy(data.get(split + 1..).unwrap_or_default()).into_owned();
    if let Some(unit) = text.strip_prefix('*') {
        if !unit.is_empty() {
            text = unit.repeat(LONG_TEXT / unit.len());
        }
    }

    let compiled = LikePattern::compile(&pattern);
    assert_eq!(compiled.source, pattern);
    let result = compiled.matches(&text);

    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    if p.len().saturating_mul(t.len() + 1) <= REFERENCE_CELLS {
        let expected = reference(&p, &t);
        assert_eq!(
            result, expected,
            "LIKE disagrees with the reference\npattern: {pattern:?}\ntext:    {text:?}\nparts:   {:?}",
            compiled.parts
        );
    }
});
