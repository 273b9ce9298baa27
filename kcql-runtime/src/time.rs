//! Timestamps: units, RFC 3339 / ISO-8601 strings, and a record's time by a plan.

use kcql::ast::TimeUnit;
use kcql::plan::TimestampPlan;
use thiserror::Error;

use crate::eval::lookup;
use crate::record::RecordView;
use crate::value::Value;

/// Why a record has no usable time (a poison record for the component that needs it).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TimeError {
    /// The time field is absent or null.
    #[error("time field `{0}` is missing")]
    MissingField(String),
    /// The time field has an unusable value.
    #[error("time field `{field}` has an invalid value ({value})")]
    BadValue {
        /// The field.
        field: String,
        /// Why.
        value: String,
    },
    /// The record has no Kafka timestamp and the plan uses it.
    #[error("the record has no Kafka timestamp")]
    NoRecordTimestamp,
}

/// A record's time in epoch nanoseconds by `plan` (the InfluxDB sink's point time and the
/// window processor's event time); `now_ns` is the processing time used by `sys_time()`.
pub fn time_ns(plan: &TimestampPlan, rec: &RecordView<'_>, now_ns: i64) -> Result<i64, TimeError> {
    match plan {
        TimestampPlan::RecordTimestamp => rec
            .timestamp_ms
            .and_then(|ms| ms.checked_mul(1_000_000))
            .ok_or(TimeError::NoRecordTimestamp),
        TimestampPlan::ProcessingTime => Ok(now_ns),
        TimestampPlan::Field { field, unit } => {
            let bad = |value: String| TimeError::BadValue {
                field: field.to_string(),
                value,
            };
            let v = lookup(field, rec)
                .filter(|v| !v.is_null())
                .ok_or_else(|| TimeError::MissingField(field.to_string()))?;
            match v.as_ref() {
                Value::Int(n) => n
                    .checked_mul(nanos_per(*unit))
                    .ok_or_else(|| bad(format!("{n} overflows nanoseconds"))),
                Value::UInt(n) => i64::try_from(*n)
                    .ok()
                    .and_then(|n| n.checked_mul(nanos_per(*unit)))
                    .ok_or_else(|| bad(format!("{n} overflows nanoseconds"))),
                Value::Float(f) => {
                    // An f64 near today's epoch seconds resolves about 0.2 µs, so round to µs.
                    let us = (f * 1e6).round();
                    if us.is_finite() && us.abs() < 9.2e15 {
                        Ok(us as i64 * 1_000)
                    } else {
                        Err(bad(format!("{f} seconds is out of range")))
                    }
                }
                Value::Str(s) => {
                    parse_iso8601(s).ok_or_else(|| bad(format!("`{s}` is not an ISO-8601 time")))
                }
                other => Err(bad(format!("a {} is not a time", other.type_name()))),
            }
        }
    }
}

/// The processing time of `WITHTIMESTAMP sys_time()`: the wall clock in epoch nanoseconds,
/// made strictly increasing, so no two records timed by one clock get the same time. (Two
/// readings within the clock's resolution, or a clock stepped back, would give equal times,
/// and points of one series with equal times are one point in InfluxDB.) The InfluxDB sink
/// keeps one per worker.
#[derive(Debug, Default)]
pub struct ProcessingClock {
    last: i64,
}

impl ProcessingClock {
    /// Now, later than every time this clock returned before.
    pub fn now_ns(&mut self) -> i64 {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        self.after(wall)
    }

    /// `wall` (a reading of the wall clock, epoch nanoseconds), or one nanosecond after the
    /// last time returned when `wall` is not later.
    pub fn after(&mut self, wall: i64) -> i64 {
        let t = wall.max(self.last.saturating_add(1));
        self.last = t;
        t
    }
}

/// Nanoseconds in one `unit`.
pub fn nanos_per(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Nanoseconds => 1,
        TimeUnit::Microseconds => 1_000,
        TimeUnit::Milliseconds => 1_000_000,
        TimeUnit::Seconds => 1_000_000_000,
        TimeUnit::Minutes => 60_000_000_000,
        TimeUnit::Hours => 3_600_000_000_000,
        TimeUnit::Days => 86_400_000_000_000,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DD[THH:MM[:SS[.fraction]]][Z|±HH:MM|±HHMM]` (a space may replace `T`; no
/// zone means UTC) to epoch nanoseconds.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut i = 10;
    let (mut h, mut mi, mut sec, mut frac_ns) = (0, 0, 0, 0i64);
    if i < b.len() && (b[i] == b'T' || b[i] == b't' || b[i] == b' ') {
        h = num(i + 1..i + 3)?;
        if b.get(i + 3) != Some(&b':') {
            return None;
        }
        mi = num(i + 4..i + 6)?;
        i += 6;
        if b.get(i) == Some(&b':') {
            sec = num(i + 1..i + 3)?;
            i += 3;
            if matches!(b.get(i), Some(b'.' | b',')) {
                let start = i + 1;
                let mut end = start;
                while end < b.len() && b[end].is_ascii_digit() {
                    end += 1;
                }
                if end == start {
                    return None;
                }
                let digits = &s.trim()[start..end.min(start + 9)];
                frac_ns = digits.parse::<i64>().ok()? * 10i64.pow(9 - digits.len() as u32);
                i = end;
            }
        }
        if h > 23 || mi > 59 || sec > 60 {
            return None;
        }
    }
    let offset_s = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) => {
            let oh = num(i + 1..i + 3)?;
            let om = match b.get(i + 3) {
                Some(b':') => num(i + 4..i + 6)?,
                Some(_) => num(i + 3..i + 5)?,
                None => 0,
            };
            let total = oh * 3600 + om * 60;
            if *sign == b'+' {
                total
            } else {
                -total
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    secs.checked_mul(1_000_000_000)?.checked_add(frac_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processing_time_never_repeats_or_goes_back() {
        let mut c = ProcessingClock::default();
        assert_eq!(c.after(100), 100);
        assert_eq!(c.after(100), 101, "the same reading twice");
        assert_eq!(c.after(50), 102, "a clock stepped back");
        assert_eq!(c.after(200), 200, "follows the wall clock again");
        let (a, b) = (c.now_ns(), c.now_ns());
        assert!(a > 200 && b > a, "{a} {b}");
    }

    #[test]
    fn iso_strings() {
        assert_eq!(parse_iso8601("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_iso8601("2017-03-28T09:26:16.034Z"),
            Some(1_490_693_176_034_000_000)
        );
        assert_eq!(
            parse_iso8601("2017-03-28T11:26:16.034+02:00"),
            Some(1_490_693_176_034_000_000)
        );
        assert_eq!(
            parse_iso8601("2017-03-28 09:26:16.000000001"),
            Some(1_490_693_176_000_000_001)
        );
        assert_eq!(parse_iso8601("2017-03-28"), Some(1_490_659_200_000_000_000));
        assert_eq!(parse_iso8601("1969-12-31T23:59:59Z"), Some(-1_000_000_000));
        for bad in [
            "",
            "2017-13-01",
            "2017-03-28T25:00",
            "yesterday",
            "2017-03-28Tx",
            "2017-03-28T09:26:16Zjunk",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }
}
