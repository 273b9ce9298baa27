//! librdkafka client properties as settings hold them: a map whose `Debug` output hides
//! credentials.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::Deserialize;

use crate::redact::shown_value;

/// librdkafka client properties by name (`security.protocol`, `sasl.password`, …), passed
/// through unchanged. It dereferences to the map; its `Debug` output shows `***` for every
/// credential ([`is_secret_key`](crate::redact::is_secret_key)) and strips the userinfo of
/// URLs in the other values, so settings holding it derive `Debug` safely. In TOML, values
/// may be strings, numbers or booleans (read as their text).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaProperties(BTreeMap<String, String>);

impl KafkaProperties {
    /// No properties.
    pub fn new() -> Self {
        KafkaProperties::default()
    }

    /// The map itself.
    pub fn into_inner(self) -> BTreeMap<String, String> {
        self.0
    }
}

impl Deref for KafkaProperties {
    type Target = BTreeMap<String, String>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for KafkaProperties {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl From<BTreeMap<String, String>> for KafkaProperties {
    fn from(map: BTreeMap<String, String>) -> Self {
        KafkaProperties(map)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for KafkaProperties {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        KafkaProperties(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl IntoIterator for KafkaProperties {
    type Item = (String, String);
    type IntoIter = std::collections::btree_map::IntoIter<String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a KafkaProperties {
    type Item = (&'a String, &'a String);
    type IntoIter = std::collections::btree_map::Iter<'a, String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Debug for KafkaProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, shown_value(k, v))))
            .finish()
    }
}

/// A property value as TOML may write it.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
}

impl<'de> Deserialize<'de> for KafkaProperties {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, Scalar>::deserialize(deserializer)?;
        Ok(map
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    Scalar::Text(s) => s,
                    Scalar::Integer(i) => i.to_string(),
                    Scalar::Float(x) => x.to_string(),
                    Scalar::Boolean(b) => b.to_string(),
                };
                (k, text)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_credentials_and_url_userinfo() {
        let p: KafkaProperties = [
            ("sasl.password", "hunter2-a"),
            ("sasl.jaas.config", "org.apache… password=\"hunter2-b\";"),
            ("ssl.key.password", "hunter2-c"),
            ("schema.registry.url", "http://u:hunter2-d@r:8081"),
            ("security.protocol", "sasl_ssl"),
        ]
        .into_iter()
        .collect();
        let shown = format!("{p:?} {p:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("\"security.protocol\": \"sasl_ssl\""),
            "{shown}"
        );
        assert!(shown.contains("\"sasl.password\": \"***\""), "{shown}");
        assert!(shown.contains("http://***@r:8081"), "{shown}");
        assert_eq!(
            p.get("sasl.password").map(String::as_str),
            Some("hunter2-a")
        );
    }

    #[test]
    fn toml_values_may_be_strings_numbers_or_booleans_and_are_never_echoed() {
        // As the pipeline loader reads tables: parsed first, then converted.
        let read = |text: &str| {
            let table: toml::Table = text.parse().unwrap();
            toml::Value::Table(table).try_into::<KafkaProperties>()
        };
        let p = read("\"a\" = \"x\"\n\"b\" = 5\n\"c\" = true\n\"d\" = 1.5\n").unwrap();
        let pairs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("a", "x"), ("b", "5"), ("c", "true"), ("d", "1.5")]);
        let err = read("\"sasl.password\" = [\"hunter2\"]\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
