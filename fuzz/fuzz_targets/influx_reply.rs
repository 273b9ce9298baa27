//! The InfluxDB reply classifier (what the sink's writer makes of an HTTP answer to a write)
//! on any status, headers and body, against any batch of lines:
//!
//! * it never panics, and the error renders;
//! * 2xx is `Ok`, anything else an error; 401/403 are fatal; the lines it names exist and are
//!   listed once each, ascending;
//! * `Retry-After` in delta-seconds is read exactly; an HTTP date in the future gives a delay
//!   that grows by as much as `now` is moved back.
//!
//! Input: a status byte (`0x80` set: any status from the next two bytes; else one of the
//! statuses InfluxDB uses; `0x40`: the 2.x API), then `Retry-After`, `X-Influxdb-Error`, the
//! reply body and the lines sent, separated by `0xFF` bytes (which UTF-8 never contains).
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kcql_runtime::connectors::influx_sink::influx::{Lines, WriteError};
use kcql_runtime::fuzz_api::{
    classify_influx_reply, newline_ranges, parse_retry_after, InfluxReply,
};
use libfuzzer_sys::fuzz_target;

const STATUSES: [u16; 16] = [
    200, 204, 400, 401, 403, 404, 408, 413, 422, 429, 500, 502, 503, 504, 301, 418,
];

/// A fixed "now" (2023-11-14), so runs are reproducible.
const NOW_SECS: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let (status, rest) = if head & 0x80 != 0 {
        let [a, b, rest @ ..] = rest else {
            return;
        };
        (100 + u16::from_le_bytes([*a, *b]) % 500, rest)
    } else {
        (STATUSES[usize::from(head) % STATUSES.len()], rest)
    };
    let v2 = head & 0x40 != 0;
    let mut parts = rest.split(|&b| b == 0xFF);
    fn text(p: Option<&[u8]>) -> Option<&str> {
        p.and_then(|p| std::str::from_utf8(p).ok())
    }
    let retry_after = text(parts.next());
    let error_header = text(parts.next());
    let body = parts.next().unwrap_or_default();
    let sent = parts.next().unwrap_or_default();

    let ranges = newline_ranges(sent);
    let lines = Lines::new(sent, &ranges).expect("lines cut at newlines");
    let now = UNIX_EPOCH + Duration::from_secs(NOW_SECS);
    let reply = InfluxReply {
        v2,
        status,
        retry_after,
        error_header,
        body,
    };
    let outcome = classify_influx_reply(&reply, lines, now);
    match &outcome {
        Ok(()) => assert!((200..300).contains(&status), "{status} classified as Ok"),
        Err(e) => {
            assert!(
                !(200..300).contains(&status),
                "{status} classified as {e:?}"
            );
            let _ = e.to_string();
            let bad = e.bad_lines();
            assert!(
                bad.windows(2).all(|w| w[0] < w[1]),
                "lines not ascending: {bad:?}"
            );
            assert!(
                bad.iter().all(|&i| i < lines.len()),
                "{bad:?} names a line past the {} sent",
                lines.len()
            );
            if matches!(status, 401 | 403) {
                assert!(matches!(e, WriteError::Fatal { .. }), "{status}: {e:?}");
            }
        }
    }

    if let Some(value) = retry_after {
        let delay = parse_retry_after(value, now);
        if let Ok(secs) = value.trim().parse::<u64>() {
            assert_eq!(delay, Some(Duration::from_secs(secs)));
        } else if let Some(d) = delay.filter(|d| !d.is_zero()) {
            let earlier = now - Duration::from_secs(1000);
            assert_eq!(
                parse_retry_after(value, earlier),
                Some(d + Duration::from_secs(1000)),
                "{value:?}"
            );
        }
        let _ = parse_retry_after(value, SystemTime::UNIX_EPOCH);
    }
});
