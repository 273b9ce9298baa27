//! Reading a connector's `.properties` keys: every problem is collected, none stops the
//! reading, so a user sees all of them at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use thiserror::Error;

use super::duration::parse_duration;
use crate::kafka::KafkaProperties;

/// The keys of the Kafka Connect framework (and of Stream Reactor's shared settings) that
/// every connector's properties may hold.
pub mod keys {
    /// `name`: the connector's name.
    pub const NAME: &str = "name";
    /// `connector.class` (accepted, not interpreted).
    pub const CONNECTOR_CLASS: &str = "connector.class";
    /// `tasks.max`.
    pub const TASKS_MAX: &str = "tasks.max";
    /// `topics` (sinks).
    pub const TOPICS: &str = "topics";
    /// `key.converter`.
    pub const KEY_CONVERTER: &str = "key.converter";
    /// `value.converter`.
    pub const VALUE_CONVERTER: &str = "value.converter";
    /// `connect.progress.enabled`.
    pub const PROGRESS: &str = "connect.progress.enabled";
    /// The prefix of the keys passed through to the Kafka client.
    pub const KAFKA_PREFIX: &str = "kafka.";
    /// Kafka Connect's per-connector client overrides, read like [`KAFKA_PREFIX`] keys
    /// (both into the connector's one set of client properties; each client takes the ones
    /// of its kind).
    pub const CONNECT_OVERRIDE_PREFIXES: &[&str] = &["consumer.override.", "producer.override."];
}

/// A problem with one key, as every connector's settings reader reports it (each connector's
/// settings error wraps it beside its own problems).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// A required key is absent.
    #[error("missing required key `{key}`")]
    Missing {
        /// The key.
        key: &'static str,
    },
    /// A key's value is not acceptable.
    #[error("{message}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A key the connector does not know.
    #[error("unknown key `{key}`{}", .suggestion.map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownKey {
        /// The key.
        key: String,
        /// The closest known key, if one is close.
        suggestion: Option<&'static str>,
    },
}

impl KeyError {
    /// The key the problem is about.
    pub fn key(&self) -> &str {
        match self {
            KeyError::Missing { key } | KeyError::Invalid { key, .. } => key,
            KeyError::UnknownKey { key, .. } => key,
        }
    }
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

impl<'a, E: From<KeyError>> Reader<'a, E> {
    /// Starts reading `props` (a key given twice keeps its last value) and checks every key
    /// against `known`: unknown keys are reported with a suggestion. Returns the reader and the
    /// Kafka client settings (keys under `known.kafka_prefix` or one of
    /// [`keys::CONNECT_OVERRIDE_PREFIXES`], prefix removed), with Java client names translated
    /// ([`crate::kafka::java_names`]). Their security settings are checked once merged with
    /// the pipeline's and a worker file's ([`crate::kafka::resolve`]).
    pub fn new(
        props: &'a [(String, String)],
        known: KnownKeys,
    ) -> (Reader<'a, E>, KafkaProperties) {
        let mut reader = Reader {
            props: props
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            errors: Vec::new(),
        };
        let mut kafka = KafkaProperties::new();
        let mut seen = BTreeSet::new();
        for (k, v) in props {
            if !seen.insert(k.as_str()) {
                continue;
            }
            let client_key = k.strip_prefix(known.kafka_prefix).or_else(|| {
                keys::CONNECT_OVERRIDE_PREFIXES
                    .iter()
                    .find_map(|p| k.strip_prefix(p))
            });
            if let Some(rest) = client_key {
                if rest.is_empty() {
                    reader.errors.push(E::from(KeyError::UnknownKey {
                        key: k.clone(),
                        suggestion: None,
                    }));
                } else {
                    kafka.insert(rest.to_string(), v.clone());
                }
            } else if !known.keys.contains(&k.as_str())
                && !known.open_prefixes.iter().any(|p| k.starts_with(p))
            {
                let suggestion =
                    super::suggest::closest_within(k, known.keys, known.suggest_within);
                reader.errors.push(E::from(KeyError::UnknownKey {
                    key: k.clone(),
                    suggestion,
                }));
            }
        }
        let mut problems = Vec::new();
        crate::kafka::java_names::translate(&mut kafka, &mut problems);
        for problem in problems {
            // Translation problems are about the Java names it knows: static keys.
            let key = match problem.key {
                std::borrow::Cow::Borrowed(key) => key,
                std::borrow::Cow::Owned(_) => "kafka",
            };
            reader.errors.push(E::from(KeyError::Invalid {
                key,
                message: problem.to_string(),
            }));
        }
        (reader, kafka)
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.props.get(key).copied()
    }

    /// Reports `key`'s value as not acceptable.
    pub fn invalid(&mut self, key: &'static str, message: String) {
        self.errors
            .push(E::from(KeyError::Invalid { key, message }));
    }

    /// A required string, trimmed: absent → missing, blank → invalid with `blank`.
    pub fn required(&mut self, key: &'static str, blank: &str) -> Option<String> {
        match self.get(key) {
            None => {
                self.errors.push(E::from(KeyError::Missing { key }));
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

    /// A duration: integer milliseconds or a number with a unit (`500ms`, `5s`; see
    /// [`parse_duration`]); `None` when absent or invalid (reported).
    pub fn duration(&mut self, key: &'static str) -> Option<Duration> {
        let v = self.get(key)?;
        match parse_duration(v) {
            Ok(d) => Some(d),
            Err(e) => {
                self.invalid(key, format!("{key}: {e}"));
                None
            }
        }
    }

    /// A duration ([`Reader::duration`]), `default_ms` milliseconds when absent or invalid.
    pub fn millis(&mut self, key: &'static str, default_ms: u64) -> Duration {
        self.duration(key)
            .unwrap_or(Duration::from_millis(default_ms))
    }
}
