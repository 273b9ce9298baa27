//! Entry points for the fuzz targets (`fuzz/`) into parts of the crate that are not public.
//! Built only with the `fuzzing` feature, and not part of the public API.

use std::ops::Range;
use std::time::{Duration, SystemTime};

use crate::connectors::influx_sink::influx::{self, Lines, WriteError};

/// An HTTP answer to an InfluxDB write, as the writer reads it off the response.
#[derive(Debug, Clone, Copy)]
pub struct InfluxReply<'a> {
    /// `true` when the write went to the 2.x API (`/api/v2/write`).
    pub v2: bool,
    /// The HTTP status code.
    pub status: u16,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<&'a str>,
    /// The `X-Influxdb-Error` header, if any.
    pub error_header: Option<&'a str>,
    /// The response body.
    pub body: &'a [u8],
}

/// Classifies `reply` to a write of `sent` the way the InfluxDB writer does, with
/// `Retry-After` read relative to `now`.
pub fn classify_influx_reply(
    reply: &InfluxReply<'_>,
    sent: Lines<'_>,
    now: SystemTime,
) -> Result<(), WriteError> {
    let target = influx::Target {
        v2: reply.v2,
        database: "fuzz".to_string(),
        retention_policy: None,
    };
    let parsed = influx::Reply {
        status: reply.status,
        retry_after: reply
            .retry_after
            .and_then(|v| influx::parse_retry_after(v, now)),
        error_header: reply.error_header,
        body: reply.body,
    };
    influx::classify(&target, &parsed, sent, sent.body().len())
}

/// A `Retry-After` header value (delta-seconds or an HTTP date) as a delay from `now`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    influx::parse_retry_after(value, now)
}

/// The byte ranges of `body` cut at every newline, to build [`Lines`] from.
pub fn newline_ranges(body: &[u8]) -> Vec<Range<usize>> {
    influx::newline_ranges(body)
}
