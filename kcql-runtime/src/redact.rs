//! Keeping credentials out of logs, error messages, `/health` and `Debug` output.
//!
//! * [`redact_url`] strips the userinfo (`user:password@`) of every URL in a text: used
//!   wherever a configured URL (InfluxDB, Schema Registry, MQTT broker) is displayed.
//! * [`is_secret_key`] tells whether a property names a credential (`sasl.password`,
//!   `ssl.key.password`, `sasl.jaas.config`, `basic.auth.user.info`, `…token`, `…secret` …);
//!   [`shown_value`] is what to print for a property's value.
//! * Credentials themselves are held in [`Secret`], URLs that may hold them in [`SecretUrl`],
//!   and librdkafka property maps in [`KafkaProperties`](crate::kafka::KafkaProperties): their
//!   `Debug` output hides the credentials, so the settings that hold them derive `Debug`
//!   safely.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What is printed in place of a credential.
pub const REDACTED: &str = "***";

/// Parts of property names that mark a credential (compared in lower case).
const SECRET_KEY_PARTS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "jaas",
    "user.info",
    "userinfo",
    "credential",
    "authorization",
    "api.key",
    "apikey",
    "private.key",
    "ssl.key.pem",
    "oauthbearer.config",
];

/// True when a property named `key` holds a credential: its name contains `password`,
/// `secret`, `token`, `jaas`, `user.info`, `credential` … in any letter case (librdkafka's
/// `sasl.password`, `ssl.key.password`, `ssl.keystore.password`, `sasl.jaas.config`,
/// `sasl.oauthbearer.client.secret`, the registry's `basic.auth.user.info`, InfluxDB's
/// `connect.influx.token`, MQTT's `connect.mqtt.password`).
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEY_PARTS.iter().any(|part| key.contains(part))
}

/// How the value of property `key` may be printed: [`REDACTED`] for a credential, else the
/// value with the userinfo of any URL in it stripped.
pub fn shown_value<'v>(key: &str, value: &'v str) -> Cow<'v, str> {
    if is_secret_key(key) {
        Cow::Borrowed(REDACTED)
    } else {
        redact_url(value)
    }
}

/// `text` with the userinfo of every URL in it replaced by [`REDACTED`]:
/// `http://user:pass@host:8086/write` becomes `http://***@host:8086/write`, and each URL of a
/// list (`tcp://u:p@a:1883,tcp://u:p@b:1883`) or of a sentence is treated. A URL runs from
/// its `scheme://` to white space, a quote, `<`, `>` or `,`; its userinfo ends at the last
/// `@` before any `?` or `#` (so a password holding an unescaped `@` or `/` is hidden whole;
/// a path holding `@` hides the host too, which errs on the safe side). Text without
/// userinfo is returned as it is.
pub fn redact_url(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let authority = from + found + 3;
        let rest = &text[authority..];
        let token_end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>' | ','))
            .unwrap_or(rest.len());
        let token = &rest[..token_end];
        let before_query = token.find(['?', '#']).map_or(token, |q| &token[..q]);
        if let Some(at) = before_query.rfind('@') {
            out.push_str(&text[copied..authority]);
            out.push_str(REDACTED);
            copied = authority + at;
        }
        from = authority + token_end;
    }
    if copied == 0 {
        Cow::Borrowed(text)
    } else {
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }
}

/// A credential. Its `Debug` output is redacted so it never reaches a log. Deserialized from
/// a string or a number (`password = 1234` in TOML is read as `"1234"`): a value of another
/// type is refused without being quoted in the error.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The credential itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// The credential's text; any other value is refused by type only.
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Secret;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a credential (a string)")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret::new(v))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Secret, E> {
                Ok(Secret::new(v.to_string()))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Secret, E> {
                Ok(Secret::new(v.to_string()))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Secret, E> {
                Ok(Secret::new(v.to_string()))
            }

            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
                Err(E::invalid_type(
                    serde::de::Unexpected::Other("a boolean"),
                    &self,
                ))
            }
        }
        deserializer.deserialize_any(Text)
    }
}

/// A configured URL that may hold credentials (`https://user:password@registry:8081`, as
/// Confluent's `basic.auth.credentials.source=URL` has it): used as given, but displayed and
/// `Debug`-printed through [`redact_url`]. Deserialized from a string.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        SecretUrl(url.into())
    }

    /// The URL as given, credentials included (for the client that uses it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SecretUrl {
    fn from(url: &str) -> Self {
        SecretUrl::new(url)
    }
}

impl From<String> for SecretUrl {
    fn from(url: String) -> Self {
        SecretUrl(url)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*redact_url(&self.0), f)
    }
}

/// Every way `errors` may be shown (each one's `Display` and the list's `Debug`), for tests
/// asserting that no credential is among them.
#[cfg(test)]
pub(crate) fn shown_every_way<E: fmt::Debug + fmt::Display>(errors: &[E]) -> String {
    let displayed: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("{errors:?}\n{}", displayed.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_stripped_from_every_url_in_a_text() {
        let cases = [
            (
                "http://user:hunter2@influx:8086/write?db=x",
                "http://***@influx:8086/write?db=x",
            ),
            ("https://key@registry:8081", "https://***@registry:8081"),
            (
                "tcp://u:hunter2@a:1883,tcp://u:hunter2@b:1883",
                "tcp://***@a:1883,tcp://***@b:1883",
            ),
            (
                "invalid url \"http://u:hunter2@h:99999\": invalid port",
                "invalid url \"http://***@h:99999\": invalid port",
            ),
            ("http://u:pa@ss/w@rd@host:1/", "http://***@host:1/"),
            ("http://u:hunter2@[::1]:8086", "http://***@[::1]:8086"),
            (
                "see `http://u:p@h` and `https://x@y`",
                "see `http://***@h` and `https://***@y`",
            ),
            ("http://host:8086/?email=a@b", "http://host:8086/?email=a@b"),
            ("no url here, just a@b", "no url here, just a@b"),
            ("http://host:8086", "http://host:8086"),
            ("", ""),
        ];
        for (text, expected) in cases {
            assert_eq!(redact_url(text), expected, "{text}");
        }
        assert!(matches!(redact_url("http://h:1/"), Cow::Borrowed(_)));
    }

    #[test]
    fn credential_keys_are_recognised_in_any_case() {
        for key in [
            "sasl.password",
            "ssl.key.password",
            "ssl.keystore.password",
            "sasl.jaas.config",
            "sasl.oauthbearer.client.secret",
            "sasl.oauthbearer.config",
            "basic.auth.user.info",
            "schema.registry.basic.auth.user.info",
            "connect.influx.token",
            "connect.mqtt.password",
            "SASL.PASSWORD",
            "ssl.key.pem",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "bootstrap.servers",
            "security.protocol",
            "sasl.mechanism",
            "sasl.username",
            "ssl.key.location",
            "ssl.ca.location",
            "group.id",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn shown_values_hide_credentials_and_url_userinfo() {
        assert_eq!(shown_value("sasl.password", "hunter2"), REDACTED);
        assert_eq!(
            shown_value("schema.registry.url", "http://u:hunter2@r:8081"),
            "http://***@r:8081"
        );
        assert_eq!(shown_value("group.id", "g1"), "g1");
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn secrets_deserialize_from_strings_and_numbers_and_errors_never_quote_them() {
        let read = |json: &str| serde_json::from_str::<Secret>(json);
        assert_eq!(read("\"hunter2\"").unwrap().expose(), "hunter2");
        assert_eq!(read("12345678").unwrap().expose(), "12345678");
        for bad in ["true", "[\"hunter2\"]", "{\"a\": \"hunter2\"}"] {
            let e = read(bad).unwrap_err().to_string();
            assert!(!e.contains("hunter2") && !e.contains("true"), "{e}");
        }
    }

    #[test]
    fn secret_urls_are_used_whole_and_shown_without_credentials() {
        let u = SecretUrl::new("http://u:hunter2@r:8081");
        assert_eq!(u.expose(), "http://u:hunter2@r:8081");
        assert_eq!(u.to_string(), "http://***@r:8081");
        assert_eq!(format!("{u:?}"), "\"http://***@r:8081\"");
        let read: SecretUrl = serde_json::from_str("\"http://r:1\"").unwrap();
        assert_eq!(read, SecretUrl::from("http://r:1"));
    }
}
