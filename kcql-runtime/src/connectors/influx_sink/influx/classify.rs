//! Turning an HTTP response to a write into `Ok` or a [`WriteError`], and finding the lines
//! InfluxDB complains about.
//!
//! The answers this handles, found by experiment against InfluxDB 1.6.7 and VictoriaMetrics,
//! are tabled in the [`influx`](super) module documentation. Lines are read the way InfluxDB
//! reads them with the parser beside the encoder (`line_protocol::parse`).

use std::ops::Range;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::batch::Lines;
use super::error::WriteError;
use crate::connectors::influx_sink::line_protocol::parse::{
    skip_ws, split_lines, FieldType, ParsedLine,
};

/// Which API answered, and what was written to (for error messages).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `true` for the 2.x API.
    pub v2: bool,
    /// Database (v1) or bucket (v2).
    pub database: String,
    /// Retention policy (v1), if configured.
    pub retention_policy: Option<String>,
}

/// The parts of a response classification looks at.
#[derive(Debug)]
pub(crate) struct Reply<'a> {
    pub status: u16,
    pub retry_after: Option<Duration>,
    /// `X-Influxdb-Error`, if present.
    pub error_header: Option<&'a str>,
    pub body: &'a [u8],
}

/// Classifies the reply to a write of `sent` (uncompressed); `sent_bytes` is the size on the
/// wire.
pub(crate) fn classify(
    target: &Target,
    reply: &Reply<'_>,
    sent: Lines<'_>,
    sent_bytes: usize,
) -> Result<(), WriteError> {
    let status = reply.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let json = serde_json::from_slice::<serde_json::Value>(reply.body).ok();
    let message = server_message(status, json.as_ref(), reply.error_header, reply.body);
    let lower = message.to_ascii_lowercase();
    match status {
        400 | 422 => {
            let partial = lower.contains("partial write");
            let mut bad = identify_lines(&message, sent);
            if let Some(v) = &json {
                bad.extend(json_line_numbers(v).into_iter().filter(|&n| n < sent.len()));
                bad.sort_unstable();
                bad.dedup();
            }
            let names_lines = lower.contains("unable to parse")
                || lower.contains("field type conflict")
                || lower.contains("invalid field name")
                || !bad.is_empty();
            if status == 422 || partial {
                Err(WriteError::Rejected {
                    dropped: dropped_count(&message),
                    message,
                    lines: bad,
                })
            } else if names_lines && !target.v2 {
                // 1.x without "partial write": every line failed to parse, nothing was written,
                // and every line is named, so "the others were written" holds vacuously.
                Err(WriteError::Rejected {
                    dropped: dropped_count(&message),
                    message,
                    lines: bad,
                })
            } else if names_lines {
                Err(WriteError::Malformed {
                    message,
                    lines: bad,
                })
            } else {
                Err(WriteError::Fatal {
                    status: Some(status),
                    message,
                })
            }
        }
        401 | 403 => Err(WriteError::Fatal {
            status: Some(status),
            message: format!("authentication or authorization failed: {message}"),
        }),
        404 if lower.contains("database not found")
            || (lower.contains("bucket") && lower.contains("not found")) =>
        {
            Err(WriteError::DatabaseNotFound {
                database: target.database.clone(),
                message,
            })
        }
        413 => Err(WriteError::TooLarge {
            bytes: sent_bytes,
            message,
        }),
        _ if lower.contains("retention policy not found") => {
            Err(WriteError::RetentionPolicyNotFound {
                policy: target
                    .retention_policy
                    .clone()
                    .unwrap_or_else(|| after_colon(&message)),
                message,
            })
        }
        408 | 429 | 500..=599 => Err(WriteError::Transient {
            retry_after: reply.retry_after,
            status: Some(status),
            message,
        }),
        _ => Err(WriteError::Fatal {
            status: Some(status),
            message,
        }),
    }
}

/// The server's message: JSON `error` (1.x) or `message` (2.x), else `X-Influxdb-Error`, else
/// the body as text.
pub(crate) fn server_message(
    status: u16,
    json: Option<&serde_json::Value>,
    header: Option<&str>,
    body: &[u8],
) -> String {
    let from_json = json.and_then(|v| {
        ["error", "message"]
            .iter()
            .find_map(|k| v.get(k).and_then(|m| m.as_str()))
    });
    let text = match (from_json, header) {
        (Some(m), _) => m.to_string(),
        (None, Some(h)) if !h.trim().is_empty() => h.trim().to_string(),
        _ => String::from_utf8_lossy(body).trim().to_string(),
    };
    if text.is_empty() {
        format!("HTTP {status} with an empty body")
    } else {
        text
    }
}

/// `dropped=N` at the end of a partial-write message.
pub(crate) fn dropped_count(message: &str) -> Option<usize> {
    let at = message.rfind("dropped=")? + "dropped=".len();
    let digits: String = message[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn after_colon(message: &str) -> String {
    message
        .rsplit_once(": ")
        .map_or(message, |(_, name)| name)
        .trim()
        .to_string()
}

/// 0-based line numbers from the JSON shapes of InfluxDB 2.x/3.x (`"line": n` and
/// `"data": [{"line_number": n}]`, both 1-based).
fn json_line_numbers(v: &serde_json::Value) -> Vec<usize> {
    let mut out = Vec::new();
    let mut push = |n: Option<u64>| {
        if let Some(n) = n.and_then(|n| usize::try_from(n).ok()).filter(|&n| n >= 1) {
            out.push(n - 1);
        }
    };
    push(v.get("line").and_then(serde_json::Value::as_u64));
    if let Some(items) = v.get("data").and_then(serde_json::Value::as_array) {
        for item in items {
            push(item.get("line_number").and_then(serde_json::Value::as_u64));
        }
    }
    out
}

/// A line as InfluxDB quotes it in `unable to parse '…'`: leading spaces, tabs and NULs
/// removed, and the trailing newline a line keeps when an open quote ran to the end of the
/// body.
fn quoted_form(line: &[u8]) -> &[u8] {
    let line = skip_ws(line);
    line.strip_suffix(b"\n").unwrap_or(line)
}

/// The indexes of the lines of `sent` that `message` names: lines quoted in
/// `unable to parse '…': …`, and lines carrying the field of a `field type conflict` or an
/// `invalid field name`. The message is read against the body as InfluxDB splits it; when
/// that split disagrees with `sent`'s lines (a malformed line swallowing the next ones), a
/// bad InfluxDB line names every line of `sent` it overlaps.
pub(crate) fn identify_lines(message: &str, sent: Lines<'_>) -> Vec<usize> {
    let found = identify(message, sent);
    let mut out = found.quoted;
    out.extend(found.by_field);
    out.sort_unstable();
    out.dedup();
    out
}

/// Lines a message names, by how sure the naming is.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Identified {
    /// Quoted as unparseable: certainly refused.
    pub quoted: Vec<usize>,
    /// Matching a storage-level reason (measurement + field): refused unless the line went to
    /// another shard than the one whose error InfluxDB reported (field types are per shard in
    /// 1.x, and only one shard's error is reported).
    pub by_field: Vec<usize>,
}

/// [`identify_lines`], keeping apart quoted lines and lines matched by field.
pub(crate) fn identify(message: &str, sent: Lines<'_>) -> Identified {
    let body = sent.body();
    let influx_lines = split_lines(body);
    let mut quoted: Vec<Range<usize>> = Vec::new();
    let mut by_field: Vec<Range<usize>> = Vec::new();

    // Unparseable lines, reported in body order: match each quoted text to the next line
    // (at or after the previous match) that InfluxDB would quote that way.
    const PREFIX: &[u8] = b"unable to parse '";
    let msg = message.as_bytes();
    let (mut search_from, mut next_line) = (0, 0);
    while let Some(at) = find(&msg[search_from..], PREFIX) {
        let text_start = search_from + at + PREFIX.len();
        let rest = &msg[text_start..];
        let hit = (next_line..influx_lines.len()).find_map(|k| {
            let text = quoted_form(&body[influx_lines[k].clone()]);
            let quoted = !text.is_empty()
                && text[0] != b'#'
                && rest.starts_with(text)
                && rest[text.len()..].starts_with(b"': ");
            quoted.then_some((k, text.len()))
        });
        match hit {
            Some((k, len)) => {
                quoted.push(influx_lines[k].clone());
                next_line = k + 1;
                search_from = text_start + len;
            }
            None => search_from = text_start,
        }
    }

    // A storage-level reason naming a measurement and field.
    if let Some(reason) = FieldReason::parse(message) {
        for range in &influx_lines {
            if let Some(line) = ParsedLine::parse(&body[range.clone()]) {
                if reason.matches(&line) {
                    by_field.push(range.clone());
                }
            }
        }
    }

    // Map to the caller's lines.
    let covering = |bad: &[Range<usize>]| -> Vec<usize> {
        sent.ranges()
            .iter()
            .enumerate()
            .filter(|(_, r)| bad.iter().any(|b| overlaps(b, r)))
            .map(|(i, _)| i)
            .collect()
    };
    let quoted = covering(&quoted);
    let by_field = covering(&by_field)
        .into_iter()
        .filter(|i| quoted.binary_search(i).is_err())
        .collect();
    Identified { quoted, by_field }
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    if a.is_empty() || b.is_empty() {
        return a.start == b.start;
    }
    a.start < b.end && b.start < a.end
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `input field "F" on measurement "M" is type T, already exists as type E` or
/// `invalid field name: input field "F" on measurement "M" is invalid`.
#[derive(Debug, PartialEq)]
struct FieldReason {
    field: Vec<u8>,
    measurement: Vec<u8>,
    /// `(input type, existing type)` of a type conflict; `None` for an invalid field name.
    conflict: Option<(Option<FieldType>, Option<FieldType>)>,
}

impl FieldReason {
    fn parse(message: &str) -> Option<FieldReason> {
        const FIELD: &str = "input field \"";
        const ON: &str = "\" on measurement \"";
        let start = message.find(FIELD)? + FIELD.len();
        let rest = &message[start..];
        let on = rest.find(ON)?;
        let field = &rest[..on];
        let rest = &rest[on + ON.len()..];
        if let Some(end) = rest.find("\" is type ") {
            let measurement = &rest[..end];
            let tail = &rest[end + "\" is type ".len()..];
            let input = tail.split([',', ' ']).next().and_then(FieldType::from_name);
            let existing = tail
                .find("already exists as type ")
                .map(|i| &tail[i + "already exists as type ".len()..])
                .and_then(|t| t.split([' ', ',', '\n']).next())
                .and_then(FieldType::from_name);
            return Some(FieldReason {
                field: field.as_bytes().to_vec(),
                measurement: measurement.as_bytes().to_vec(),
                conflict: Some((input, existing)),
            });
        }
        let end = rest.find("\" is invalid")?;
        Some(FieldReason {
            field: field.as_bytes().to_vec(),
            measurement: rest.as_bytes()[..end].to_vec(),
            conflict: None,
        })
    }

    /// Does this line carry the offending field? For a conflict: a value of a type other than
    /// the existing one (or, when the message names no existing type, of the input type).
    fn matches(&self, line: &ParsedLine) -> bool {
        if line.measurement != self.measurement {
            return false;
        }
        line.fields.iter().any(|(key, ty)| {
            *key == self.field
                && match self.conflict {
                    None => true,
                    Some((_, Some(existing))) => *ty != existing,
                    Some((Some(input), None)) => *ty == input,
                    Some((None, None)) => true,
                }
        })
    }
}

/// `Retry-After`: delta-seconds or an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`). A date in
/// the past gives zero.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since the epoch of an IMF-fixdate. Its year is four digits (RFC 9110, 5.6.7), which
/// also keeps the arithmetic below far from overflowing.
fn parse_http_date(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split_ascii_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u64 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u64
        + 1;
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i64 = year.parse().ok()?;
    let hms: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    u64::try_from(days)
        .ok()
        .map(|d| d * 86_400 + h * 3600 + m * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u64, d: u64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
