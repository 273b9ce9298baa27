//! Durations in settings: integer milliseconds, as Kafka Connect writes them, or a number
//! with a unit, as Telegraf and Go write them (`"500ms"`, `"5s"`, `"1m30s"`, `"1.5h"`).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use thiserror::Error;

/// The units a duration may be written in, longest name first where one is a prefix of
/// another.
const UNITS: [(&str, f64); 7] = [
    ("ns", 1e-9),
    ("us", 1e-6),
    ("µs", 1e-6),
    ("ms", 1e-3),
    ("s", 1.0),
    ("m", 60.0),
    ("h", 3600.0),
];

/// A duration that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{text}` is not a duration: write milliseconds (`1500`) or a number with a unit (`500ms`, `5s`, `1m30s`, `2h`; units ns, us, ms, s, m, h)")]
pub struct DurationError {
    /// The text as written.
    pub text: String,
}

/// Parses `text`: a bare non-negative integer counts milliseconds; otherwise one or more
/// `<number><unit>` parts, added up (`1m30s`). Surrounding white space is ignored.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let err = || DurationError {
        text: text.to_string(),
    };
    let t = text.trim();
    if let Ok(ms) = t.parse::<u64>() {
        return Ok(Duration::from_millis(ms));
    }
    if t.is_empty() {
        return Err(err());
    }
    let mut rest = t;
    let mut seconds = 0.0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let number: f64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let (_, scale) = UNITS
            .iter()
            .find(|(name, _)| *name == &rest[..unit_len])
            .ok_or_else(err)?;
        seconds += number * scale;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| err())
}

/// A duration setting in a pipeline file: an integer (milliseconds) or a string with a unit
/// ([`parse_duration`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationSetting(pub Duration);

impl DurationSetting {
    /// Whole milliseconds (rounded down).
    pub fn as_millis(self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }
}

impl fmt::Display for DurationSetting {
    /// As property text: whole milliseconds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_millis())
    }
}

impl<'de> Deserialize<'de> for DurationSetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Millis(u64),
            Text(String),
        }
        match Written::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "expected milliseconds (an integer) or a duration string such as \"5s\" or \"500ms\"",
            )
        })? {
            Written::Millis(ms) => Ok(DurationSetting(Duration::from_millis(ms))),
            Written::Text(t) => parse_duration(&t)
                .map(DurationSetting)
                .map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> u128 {
        parse_duration(text).unwrap().as_millis()
    }

    #[test]
    fn integers_are_milliseconds_and_units_are_go_style() {
        assert_eq!(ms("1500"), 1500);
        assert_eq!(ms(" 0 "), 0);
        assert_eq!(ms("500ms"), 500);
        assert_eq!(ms("5s"), 5_000);
        assert_eq!(ms("1.5s"), 1_500);
        assert_eq!(ms("2m"), 120_000);
        assert_eq!(ms("1m30s"), 90_000);
        assert_eq!(ms("1h"), 3_600_000);
        assert_eq!(ms("1.5h"), 5_400_000);
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(parse_duration("7ns").unwrap(), Duration::from_nanos(7));
    }

    #[test]
    fn anything_else_is_refused_with_the_accepted_forms() {
        for bad in ["", "-5", "5 s", "5sec", "s", "1.2.3s", "5S", "ms5", "1e3ms"] {
            let e = parse_duration(bad).unwrap_err();
            assert_eq!(e.text, bad);
            assert!(e.to_string().contains("`500ms`, `5s`"), "{e}");
        }
    }

    #[test]
    fn pipeline_files_may_write_integers_or_strings() {
        #[derive(Deserialize)]
        struct T {
            a: DurationSetting,
            b: DurationSetting,
        }
        let t: T = toml::from_str("a = 250\nb = \"2s\"\n").unwrap();
        assert_eq!((t.a.as_millis(), t.b.as_millis()), (250, 2_000));
        assert_eq!(t.b.to_string(), "2000");
        let e = toml::from_str::<T>("a = \"2 parsecs\"\nb = 1\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("`2 parsecs` is not a duration"), "{e}");
        let e = toml::from_str::<T>("a = true\nb = 1\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("expected milliseconds"), "{e}");
    }
}
