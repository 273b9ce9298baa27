//! MQTT topic filters (MQTT 3.1.1 §4.7 / MQTT 5 §4.7–4.8): `+` matches exactly one level
//! (which may be empty), `#` — only as the last level — matches the parent level and any number
//! of levels below it (`a/#` matches `a`), filters starting with a wildcard do not match topics
//! starting with `$`, and a `$share/<group>/` prefix marks a shared subscription whose filter is
//! the rest.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One level of a filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "text", rename_all = "snake_case")]
pub enum Level {
    /// A literal level.
    Exact(String),
    /// `+`
    Single,
    /// `#` (always last)
    Multi,
}

/// A validated, pre-split MQTT topic filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicFilter {
    /// What to subscribe to, as written (including any `$share/<group>/` prefix).
    pub subscription: String,
    /// The shared-subscription group, when the filter is `$share/<group>/…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_group: Option<String>,
    /// The filter's levels (without the share prefix).
    pub levels: Vec<Level>,
}

/// Why a filter is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The filter (or the part after `$share/<group>/`) is empty.
    #[error("an MQTT topic filter cannot be empty")]
    Empty,
    /// `#` not alone in the last level.
    #[error("`#` must be the last level and stand alone in it (`a/#`)")]
    MisplacedMulti,
    /// `+` sharing a level with other characters.
    #[error("`+` must stand alone in its level (`a/+/b`)")]
    MisplacedSingle,
    /// `$share/` without a group or filter.
    #[error("a shared subscription is written `$share/<group>/<filter>`")]
    BadShare,
    /// A NUL character.
    #[error("an MQTT topic filter cannot contain NUL")]
    Nul,
}

impl TopicFilter {
    /// Parses and validates `filter`.
    pub fn parse(filter: &str) -> Result<TopicFilter, FilterError> {
        if filter.contains('\0') {
            return Err(FilterError::Nul);
        }
        let (share_group, rest) = match filter.strip_prefix("$share/") {
            Some(r) => match r.split_once('/') {
                Some((g, f)) if !g.is_empty() && !g.contains(['+', '#']) && !f.is_empty() => {
                    (Some(g.to_string()), f)
                }
                _ => return Err(FilterError::BadShare),
            },
            None => (None, filter),
        };
        if rest.is_empty() {
            return Err(FilterError::Empty);
        }
        let raw: Vec<&str> = rest.split('/').collect();
        let mut levels = Vec::with_capacity(raw.len());
        for (i, l) in raw.iter().enumerate() {
            levels.push(match *l {
                "#" if i + 1 == raw.len() => Level::Multi,
                "+" => Level::Single,
                l if l.contains('#') => return Err(FilterError::MisplacedMulti),
                l if l.contains('+') => return Err(FilterError::MisplacedSingle),
                l => Level::Exact(l.to_string()),
            });
        }
        Ok(TopicFilter {
            subscription: filter.to_string(),
            share_group,
            levels,
        })
    }

    /// True when `topic` (a concrete topic name) matches the filter.
    pub fn matches(&self, topic: &str) -> bool {
        if topic.starts_with('$')
            && matches!(self.levels.first(), Some(Level::Single | Level::Multi))
        {
            return false;
        }
        let mut parts = topic.split('/');
        for level in &self.levels {
            match level {
                Level::Multi => return true,
                Level::Single => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Level::Exact(e) => {
                    if parts.next() != Some(e.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }

    /// True when the filter has no wildcards (it names one topic).
    pub fn is_literal(&self) -> bool {
        self.levels.iter().all(|l| matches!(l, Level::Exact(_)))
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.subscription)
    }
}

/// The Kafka topic for an MQTT topic under a dynamic (`$`) target: one leading `/` removed,
/// then every run of `/` replaced by `_` (`/I/Love/Kafka` → `I_Love_Kafka`, `a//b/` → `a_b_`).
pub fn sanitize_topic(mqtt_topic: &str) -> String {
    let t = mqtt_topic.strip_prefix('/').unwrap_or(mqtt_topic);
    let mut out = String::with_capacity(t.len());
    let mut in_slash = false;
    for c in t.chars() {
        if c == '/' {
            if !in_slash {
                out.push('_');
            }
            in_slash = true;
        } else {
            out.push(c);
            in_slash = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_spec_matching() {
        // (filter, topic, whether the filter matches the topic)
        let cases = [
            ("sport/tennis/player1/#", "sport/tennis/player1", true),
            (
                "sport/tennis/player1/#",
                "sport/tennis/player1/ranking",
                true,
            ),
            ("sport/#", "sport", true),
            ("#", "a/b/c", true),
            ("sport/tennis/+", "sport/tennis/player1", true),
            ("sport/tennis/+", "sport/tennis/player1/ranking", false),
            ("sport/+", "sport", false),
            ("sport/+", "sport/", true),
            ("+/+", "/finance", true),
            ("/+", "/finance", true),
            ("+", "/finance", false),
            ("a//b", "a//b", true),
            ("a/+/b", "a//b", true),
            ("#", "$SYS/broker", false),
            ("+/monitor", "$SYS/monitor", false),
            ("$SYS/#", "$SYS/broker", true),
            ("/sensors/+", "/sensors/SB01", true),
            ("/sensors/+", "sensors/SB01", false),
        ];
        for (filter, topic, matches) in cases {
            let f = TopicFilter::parse(filter).unwrap();
            assert_eq!(f.matches(topic), matches, "{filter} on {topic}");
        }
    }

    #[test]
    fn shared_subscriptions() {
        let f = TopicFilter::parse("$share/g1/sensors/+/temp").unwrap();
        assert_eq!(f.share_group.as_deref(), Some("g1"));
        assert_eq!(f.subscription, "$share/g1/sensors/+/temp");
        assert!(f.matches("sensors/a/temp"));
        assert_eq!(TopicFilter::parse("$share/g"), Err(FilterError::BadShare));
        assert_eq!(TopicFilter::parse("$share//t"), Err(FilterError::BadShare));
    }

    #[test]
    fn invalid_filters() {
        assert_eq!(TopicFilter::parse(""), Err(FilterError::Empty));
        assert_eq!(
            TopicFilter::parse("a/#/b"),
            Err(FilterError::MisplacedMulti)
        );
        assert_eq!(TopicFilter::parse("a/b#"), Err(FilterError::MisplacedMulti));
        assert_eq!(
            TopicFilter::parse("a/b+/c"),
            Err(FilterError::MisplacedSingle)
        );
    }

    #[test]
    fn dynamic_target_names() {
        assert_eq!(sanitize_topic("/I/Love/Kafka"), "I_Love_Kafka");
        assert_eq!(sanitize_topic("Foo/Bar/Baz"), "Foo_Bar_Baz");
        assert_eq!(sanitize_topic("a//b/"), "a_b_");
        assert_eq!(
            sanitize_topic("/mqttSourceTopic/A/test"),
            "mqttSourceTopic_A_test"
        );
    }
}
