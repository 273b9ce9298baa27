//! Reading a connector's `.properties` keys: every problem is collected, none stops the
//! reading, so a user sees all of them at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The problems a settings reader reports, as each connector's settings error spells them.
pub trait KeyProblem {
    /// A required key is absent.
    fn missing(key: &'static str) -> Self;
    /// A key's value is not acceptable (`message` names the key).
    fn invalid(key: &'static str, message: String) -> Self;
    /// A key the connector does not know, with the closest known one.
    fn unknown(key: String, suggestion: Option<&'static str>) -> Self;
}

/// Which keys a connector accepts.
#[derive(Debug, Clone, Copy)]
pub struct KnownKeys {
    /// Every key the connector reads.
    pub keys: &'static [&'static str],
    /// Prefixes of keys accepted as they are (e.g. Kafka Connect's `value.converter.`).
    pub open_prefixes: &'static [&'static str],
    /// The prefix of Kafka client settings passed to librdkafka (`kafka.`).
    pub kafka_prefix: &'static str,
    /// How far (edit distance, case-insensitive) an unknown key may be from a known one to
    /// be suggested.
    pub suggest_within: usize,
}

/// Reads one connector's properties, collecting problems of type `E`.
#[derive(Debug)]
pub struct Reader<'a, E> {
    props: BTreeMap<&'a str, &'a str>,
    /// The problems found so far.
    pub errors: Vec<E>,
}

impl<'a, E: KeyProblem> Reader<'a, E> {
    /// Starts reading `props` (a key given twice keeps its last value) and checks every key
    /// against `known`: unknown keys are reported with a suggestion. Returns the reader and the
    /// Kafka client settings (keys under `known.kafka_prefix`, prefix removed).
    pub fn new(
        props: &'a [(String, String)],
        known: KnownKeys,
    ) -> (Reader<'a, E>, BTreeMap<String, String>) {
        let mut reader = Reader {
            props: props
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            errors: Vec::new(),
        };
        let mut kafka = BTreeMap::new();
        let mut seen = BTreeSet::new();
        for (k, v) in props {
            if !seen.insert(k.as_str()) {
                continue;
            }
            if let Some(rest) = k.strip_prefix(known.kafka_prefix) {
                if rest.is_empty() {
                    reader.errors.push(E::unknown(k.clone(), None));
                } else {
                    kafka.insert(rest.to_string(), v.clone());
                }
            } else if !known.keys.contains(&k.as_str())
                && !known.open_prefixes.iter().any(|p| k.starts_with(p))
            {
                let suggestion =
                    super::suggest::closest_within(k, known.keys, known.suggest_within);
                reader.errors.push(E::unknown(k.clone(), suggestion));
            }
        }
        (reader, kafka)
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.props.get(key).copied()
    }

    /// Reports `key`'s value as not acceptable.
    pub fn invalid(&mut self, key: &'static str, message: String) {
        self.errors.push(E::invalid(key, message));
    }

    /// A required string, trimmed: absent → missing, blank → invalid with `blank`.
    pub fn required(&mut self, key: &'static str, blank: &str) -> Option<String> {
        match self.get(key) {
            None => {
                self.errors.push(E::missing(key));
                None
            }
            Some(v) if v.trim().is_empty() => {
                self.invalid(key, blank.to_string());
                None
            }
            Some(v) => Some(v.trim().to_string()),
        }
    }

    /// An optional string, trimmed; empty counts as absent.
    pub fn optional(&self, key: &str) -> Option<String> {
        self.get(key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// A number (`what` describes it in the error: "a number of milliseconds").
    pub fn number<T: std::str::FromStr>(&mut self, key: &'static str, what: &str) -> Option<T> {
        let v = self.get(key)?;
        match v.trim().parse::<T>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.invalid(key, format!("{key} must be {what}, got `{v}`"));
                None
            }
        }
    }

    /// `true` or `false` in any letter case; `None` when absent or invalid (reported).
    pub fn boolean(&mut self, key: &'static str) -> Option<bool> {
        match self.get(key).map(str::trim) {
            None => None,
            Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
            Some(v) => {
                self.invalid(key, format!("{key} must be true or false, got `{v}`"));
                None
            }
        }
    }

    /// A duration in milliseconds, `default` when absent or invalid (reported).
    pub fn millis(&mut self, key: &'static str, default: u64) -> Duration {
        Duration::from_millis(
            self.number::<u64>(key, "a number of milliseconds")
                .unwrap_or(default),
        )
    }
}
