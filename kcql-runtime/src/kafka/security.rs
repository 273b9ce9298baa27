//! Checking a client's security settings before it is made, so `kcql run --check` (and the
//! start of `kcql run`) names what is missing or wrong instead of librdkafka retrying forever:
//! the protocol and SASL mechanism are ones this build speaks, SASL has its mechanism, user
//! and password, a client key has its certificate, and every file named exists. Problems
//! name the key and never print a secret.

use std::borrow::Cow;
use std::path::Path;

use rdkafka::error::KafkaError;
use rdkafka::ClientConfig;
use thiserror::Error;

use super::KafkaProperties;

/// The `security.protocol` values librdkafka accepts (any letter case).
pub const PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

/// The SASL mechanisms this build supports (librdkafka with OpenSSL, without Kerberos).
pub const MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// The properties naming a file librdkafka reads.
const FILES: &[&str] = &[
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.keystore.location",
    "ssl.crl.location",
];

/// One problem with a Kafka client's settings.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("Kafka client setting `{key}`: {message}")]
pub struct SettingProblem {
    /// The property (librdkafka's name, or the Java name it was written as).
    pub key: Cow<'static, str>,
    /// What is wrong; never a secret value.
    pub message: String,
}

impl SettingProblem {
    /// A problem with `key`.
    pub fn new(key: impl Into<Cow<'static, str>>, message: String) -> Self {
        SettingProblem {
            key: key.into(),
            message,
        }
    }
}

/// Translates the Java client names in `props` to librdkafka's
/// ([`translate`](super::java_names::translate)) and [`check`]s the result: every problem.
pub fn resolve(props: &mut KafkaProperties) -> Vec<SettingProblem> {
    let mut problems = Vec::new();
    super::java_names::translate(props, &mut problems);
    check(props, &mut problems);
    problems
}

/// Adds a problem for every property of `props` librdkafka refuses: a name it does not know
/// (often a Java client setting without a librdkafka equivalent, such as
/// `max.poll.records`) or a value it cannot take. librdkafka checks them when a client is
/// made; checked here, `--check` finds them. A refused credential's value is never quoted.
pub fn check_known(props: &KafkaProperties, problems: &mut Vec<SettingProblem>) {
    // These have their own, more precise, checks below.
    const CHECKED: [&str; 3] = ["security.protocol", "sasl.mechanism", "sasl.mechanisms"];
    for (key, value) in props {
        if CHECKED.contains(&key.as_str()) {
            continue;
        }
        let Err(e) = ClientConfig::new().set(key, value).create_native_config() else {
            continue;
        };
        let why = match &e {
            KafkaError::ClientConfig(_, description, _, _) => description.clone(),
            other => other.to_string(),
        };
        let message = if why.starts_with("No such configuration property") {
            "librdkafka has no such property (a Java client setting without a librdkafka equivalent, such as max.poll.records or a serializer, has no meaning here: remove it)".to_string()
        } else if crate::redact::is_secret_key(key) {
            let why = if value.is_empty() {
                why
            } else {
                why.replace(value.as_str(), crate::redact::REDACTED)
            };
            format!("librdkafka refuses it: {why}")
        } else {
            format!("librdkafka refuses it: {why}")
        };
        problems.push(SettingProblem::new(key.clone(), message));
    }
}

/// Adds a problem for every security setting of `props` (librdkafka names) that cannot work.
pub fn check(props: &KafkaProperties, problems: &mut Vec<SettingProblem>) {
    check_known(props, problems);
    let set = |k: &str| props.get(k).is_some_and(|v| !v.trim().is_empty());
    let protocol = props
        .get("security.protocol")
        .map(|p| p.trim().to_ascii_uppercase())
        .unwrap_or_else(|| "PLAINTEXT".to_string());
    if !PROTOCOLS.contains(&protocol.as_str()) {
        problems.push(SettingProblem::new(
            "security.protocol",
            format!("`{protocol}` is not one of {}", PROTOCOLS.join(", ")),
        ));
        return;
    }
    let sasl = protocol.starts_with("SASL_");
    let tls = protocol.ends_with("SSL");
    let mechanism = mechanism(props, problems);
    if sasl {
        match &mechanism {
            None => problems.push(SettingProblem::new(
                "sasl.mechanism",
                format!(
                    "security.protocol = {protocol} needs sasl.mechanism (one of {})",
                    MECHANISMS.join(", ")
                ),
            )),
            Some(_) => {
                for key in ["sasl.username", "sasl.password"] {
                    if !set(key) {
                        problems.push(SettingProblem::new(
                            key,
                            format!(
                                "security.protocol = {protocol} needs {key} (or sasl.jaas.config)"
                            ),
                        ));
                    }
                }
            }
        }
    } else if mechanism.is_some() || set("sasl.username") || set("sasl.password") {
        problems.push(SettingProblem::new(
            "security.protocol",
            format!("SASL settings are given but security.protocol is {protocol}: set it to SASL_SSL (or SASL_PLAINTEXT)"),
        ));
    }
    let tls_keys = [
        "ssl.ca.location",
        "ssl.ca.pem",
        "ssl.certificate.location",
        "ssl.certificate.pem",
        "ssl.key.location",
        "ssl.key.pem",
        "ssl.keystore.location",
    ];
    if !tls {
        if let Some(k) = tls_keys.iter().find(|k| set(k)) {
            problems.push(SettingProblem::new(
                "security.protocol",
                format!(
                    "{k} is given but security.protocol is {protocol}: set it to SSL (or SASL_SSL)"
                ),
            ));
        }
    }
    let key = set("ssl.key.location") || set("ssl.key.pem");
    let certificate = set("ssl.certificate.location") || set("ssl.certificate.pem");
    if key && !certificate {
        problems.push(SettingProblem::new(
            "ssl.certificate.location",
            "a client key is given (ssl.key.location) but no client certificate: set ssl.certificate.location (PEM)".to_string(),
        ));
    }
    if certificate && !key {
        problems.push(SettingProblem::new(
            "ssl.key.location",
            "a client certificate is given (ssl.certificate.location) but no key: set ssl.key.location (PEM)".to_string(),
        ));
    }
    for &file in FILES {
        if let Some(path) = props.get(file).map(|p| p.trim()).filter(|p| !p.is_empty()) {
            if let Some(why) = unusable(file, path) {
                problems.push(SettingProblem::new(file, format!("names `{path}`, {why}")));
            }
        }
    }
}

/// The SASL mechanism (`sasl.mechanism`, or its librdkafka alias `sasl.mechanisms`), when one
/// is given; a problem when it is not supported or the two disagree.
fn mechanism(props: &KafkaProperties, problems: &mut Vec<SettingProblem>) -> Option<String> {
    let read = |k: &str| {
        props
            .get(k)
            .map(|m| m.trim().to_ascii_uppercase())
            .filter(|m| !m.is_empty())
    };
    let mechanism = match (read("sasl.mechanism"), read("sasl.mechanisms")) {
        (Some(a), Some(b)) if a != b => {
            problems.push(SettingProblem::new(
                "sasl.mechanisms",
                format!("`{b}` differs from sasl.mechanism `{a}`: give one of them"),
            ));
            return None;
        }
        (a, b) => a.or(b)?,
    };
    if !MECHANISMS.contains(&mechanism.as_str()) {
        problems.push(SettingProblem::new(
            "sasl.mechanism",
            format!(
                "`{mechanism}` is not supported: use one of {}",
                MECHANISMS.join(", ")
            ),
        ));
    }
    Some(mechanism)
}

/// Why the file `path` of property `key` cannot be read, if it cannot.
fn unusable(key: &str, path: &str) -> Option<String> {
    // librdkafka looks for the system's CA store itself.
    if key == "ssl.ca.location" && path == "probe" {
        return None;
    }
    let p = Path::new(path);
    match std::fs::metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Some("which does not exist".to_string())
        }
        Err(e) => Some(format!("which cannot be read: {e}")),
        // A CA directory is fine (OpenSSL's hashed directory).
        Ok(m) if m.is_dir() && key == "ssl.ca.location" => None,
        Ok(m) if m.is_dir() => Some("which is a directory, not a file".to_string()),
        Ok(_) => std::fs::File::open(p)
            .err()
            .map(|e| format!("which cannot be read: {e}")),
    }
}

#[cfg(test)]
mod tests;
