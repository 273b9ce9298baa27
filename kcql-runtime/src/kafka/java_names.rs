//! Kafka's Java client property names, as Kafka Connect and Stream Reactor users write them,
//! turned into librdkafka's. The one place this happens: every connector's Kafka properties go
//! through [`translate`] (via [`resolve`](super::security::resolve)).
//!
//! | Java | librdkafka |
//! |---|---|
//! | `sasl.jaas.config` (`PlainLoginModule` / `ScramLoginModule`, `username="…" password="…"`) | `sasl.username`, `sasl.password` (and `sasl.mechanism=PLAIN` for `PlainLoginModule` when none is given) |
//! | `ssl.truststore.location` of type PEM | `ssl.ca.location` |
//! | `ssl.truststore.certificates` | `ssl.ca.pem` |
//! | `ssl.keystore.location` of type PEM (key and certificate chain in one file) | `ssl.certificate.location` + `ssl.key.location` |
//! | `ssl.keystore.location` of type PKCS12 (+ `ssl.keystore.password`) | the same names (librdkafka reads PKCS#12) |
//! | `ssl.keystore.certificate.chain`, `ssl.keystore.key` | `ssl.certificate.pem`, `ssl.key.pem` |
//! | `ssl.endpoint.identification.algorithm=` (empty) | `none` |
//!
//! A store's type is `ssl.*store.type`, else read from the file (PEM text, a JKS magic number or
//! PKCS#12's DER). JKS stores (and PKCS#12 trust stores) are refused with the command that
//! converts them. Problems never quote a value that may be secret.

use std::path::Path;

use super::security::SettingProblem;
use super::KafkaProperties;

const JAAS: &str = "sasl.jaas.config";
const TRUSTSTORE: &str = "ssl.truststore.location";
const TRUSTSTORE_TYPE: &str = "ssl.truststore.type";
const KEYSTORE: &str = "ssl.keystore.location";
const KEYSTORE_TYPE: &str = "ssl.keystore.type";

/// A key or trust store's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreType {
    Pem,
    Pkcs12,
    Jks,
}

/// Replaces the Java client names in `props` by librdkafka's (see the module docs), adding a
/// problem for each one that cannot be translated. librdkafka names pass unchanged, so
/// translating twice changes nothing.
pub fn translate(props: &mut KafkaProperties, problems: &mut Vec<SettingProblem>) {
    jaas(props, problems);
    truststore(props, problems);
    keystore(props, problems);
    rename(props, "ssl.truststore.certificates", "ssl.ca.pem", problems);
    rename(
        props,
        "ssl.keystore.certificate.chain",
        "ssl.certificate.pem",
        problems,
    );
    rename(props, "ssl.keystore.key", "ssl.key.pem", problems);
    if let Some(v) = props.get_mut("ssl.endpoint.identification.algorithm") {
        if v.trim().is_empty() {
            *v = "none".to_string();
        }
    }
}

/// Moves `from` to `to` unless `to` is set as well (a problem).
fn rename(
    props: &mut KafkaProperties,
    from: &'static str,
    to: &'static str,
    problems: &mut Vec<SettingProblem>,
) {
    if let Some(v) = props.remove(from) {
        if props.contains_key(to) {
            problems.push(SettingProblem::new(
                from,
                format!("give either `{from}` (Java) or `{to}` (librdkafka), not both"),
            ));
        } else {
            props.insert(to.to_string(), v);
        }
    }
}

fn jaas(props: &mut KafkaProperties, problems: &mut Vec<SettingProblem>) {
    let Some(text) = props.remove(JAAS) else {
        return;
    };
    let entry = match super::jaas::parse(&text) {
        Ok(e) => e,
        Err(why) => {
            problems.push(SettingProblem::new(JAAS, format!("cannot be read: {why}")));
            return;
        }
    };
    let mechanism = match entry.simple_module() {
        "PlainLoginModule" => Some("PLAIN"),
        "ScramLoginModule" => None,
        other => {
            problems.push(SettingProblem::new(
                JAAS,
                format!("login module `{other}` is not supported: use PlainLoginModule or ScramLoginModule (or sasl.username and sasl.password)"),
            ));
            return;
        }
    };
    if props.contains_key("sasl.username") || props.contains_key("sasl.password") {
        problems.push(SettingProblem::new(
            JAAS,
            "give either sasl.jaas.config or sasl.username/sasl.password, not both".to_string(),
        ));
        return;
    }
    for option in ["username", "password"] {
        match entry.options.get(option) {
            Some(v) => {
                props.insert(format!("sasl.{option}"), v.clone());
            }
            None => problems.push(SettingProblem::new(
                JAAS,
                format!("has no {option}=\"…\" option"),
            )),
        }
    }
    // ScramLoginModule serves both SCRAM mechanisms: sasl.mechanism says which (checked with
    // the merged settings, `super::security::check`).
    let given = props.contains_key("sasl.mechanism") || props.contains_key("sasl.mechanisms");
    if let (Some(m), false) = (mechanism, given) {
        props.insert("sasl.mechanism".to_string(), m.to_string());
    }
}

/// The store type named by `type_key`, else read from the file, else `None`.
fn store_type(
    props: &KafkaProperties,
    type_key: &'static str,
    path: &str,
    problems: &mut Vec<SettingProblem>,
) -> Option<StoreType> {
    match props.get(type_key).map(|t| t.trim().to_ascii_uppercase()) {
        Some(t) if t == "PEM" => Some(StoreType::Pem),
        Some(t) if t == "PKCS12" || t == "P12" => Some(StoreType::Pkcs12),
        Some(t) if t == "JKS" || t == "JCEKS" => Some(StoreType::Jks),
        Some(t) => {
            problems.push(SettingProblem::new(
                type_key,
                format!("`{t}` is not a store type librdkafka reads: use PEM or PKCS12"),
            ));
            None
        }
        None => sniff(Path::new(path)),
    }
}

/// The store type from the file's first bytes.
fn sniff(path: &Path) -> Option<StoreType> {
    use std::io::Read;
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .ok()?;
    let head = &head[..n];
    if head.starts_with(&[0xFE, 0xED, 0xFE, 0xED]) || head.starts_with(&[0xCE, 0xCE, 0xCE, 0xCE]) {
        Some(StoreType::Jks)
    } else if String::from_utf8_lossy(head)
        .trim_start()
        .starts_with("-----BEGIN")
    {
        Some(StoreType::Pem)
    } else if head.first() == Some(&0x30) {
        Some(StoreType::Pkcs12)
    } else {
        None
    }
}

/// Problems with a Java store file that does not exist.
fn missing(key: &'static str, path: &str, problems: &mut Vec<SettingProblem>) -> bool {
    if Path::new(path).exists() {
        return false;
    }
    problems.push(SettingProblem::new(
        key,
        format!("names `{path}`, which does not exist"),
    ));
    true
}

fn truststore(props: &mut KafkaProperties, problems: &mut Vec<SettingProblem>) {
    let Some(path) = props.get(TRUSTSTORE).cloned() else {
        props.remove(TRUSTSTORE_TYPE);
        props.remove("ssl.truststore.password");
        return;
    };
    if !missing(TRUSTSTORE, &path, problems) {
        match store_type(props, TRUSTSTORE_TYPE, &path, problems) {
            Some(StoreType::Pem) => {
                if props.contains_key("ssl.ca.location") {
                    problems.push(SettingProblem::new(
                        TRUSTSTORE,
                        "give either ssl.truststore.location (Java) or ssl.ca.location (librdkafka), not both".to_string(),
                    ));
                } else {
                    props.insert("ssl.ca.location".to_string(), path.clone());
                }
            }
            Some(StoreType::Pkcs12) => problems.push(SettingProblem::new(
                TRUSTSTORE,
                format!("`{path}` is a PKCS#12 trust store; librdkafka reads CA certificates as PEM only: `openssl pkcs12 -in {path} -nokeys -out ca.pem`, then ssl.truststore.location=ca.pem and ssl.truststore.type=PEM"),
            )),
            Some(StoreType::Jks) => problems.push(SettingProblem::new(
                TRUSTSTORE,
                format!("`{path}` is a JKS trust store, which librdkafka cannot read: export the CA as PEM (`keytool -exportcert -rfc -keystore {path} -alias <alias> -file ca.pem`), then ssl.truststore.location=ca.pem and ssl.truststore.type=PEM"),
            )),
            None if props.contains_key(TRUSTSTORE_TYPE) => {}
            None => problems.push(SettingProblem::new(
                TRUSTSTORE_TYPE,
                format!("cannot tell the format of `{path}`: set ssl.truststore.type=PEM (the only trust store librdkafka reads)"),
            )),
        }
    }
    for k in [TRUSTSTORE, TRUSTSTORE_TYPE, "ssl.truststore.password"] {
        props.remove(k);
    }
}

fn keystore(props: &mut KafkaProperties, problems: &mut Vec<SettingProblem>) {
    let Some(path) = props.get(KEYSTORE).cloned() else {
        props.remove(KEYSTORE_TYPE);
        return;
    };
    if missing(KEYSTORE, &path, problems) {
        props.remove(KEYSTORE);
        props.remove(KEYSTORE_TYPE);
        return;
    }
    match store_type(props, KEYSTORE_TYPE, &path, problems) {
        // librdkafka's own `ssl.keystore.location` is a PKCS#12 file: keep it.
        Some(StoreType::Pkcs12) | None => {}
        Some(StoreType::Pem) => {
            if props.contains_key("ssl.certificate.location")
                || props.contains_key("ssl.key.location")
            {
                problems.push(SettingProblem::new(
                    KEYSTORE,
                    "give either a PEM ssl.keystore.location (Java) or ssl.certificate.location and ssl.key.location (librdkafka), not both".to_string(),
                ));
            } else {
                // The key and the certificate chain are in the one file; each reader skips the
                // other's blocks.
                props.insert("ssl.certificate.location".to_string(), path.clone());
                props.insert("ssl.key.location".to_string(), path.clone());
            }
            props.remove(KEYSTORE);
            props.remove("ssl.keystore.password");
        }
        Some(StoreType::Jks) => {
            problems.push(SettingProblem::new(
                KEYSTORE,
                format!("`{path}` is a JKS key store, which librdkafka cannot read: convert it (`keytool -importkeystore -srckeystore {path} -destkeystore keystore.p12 -deststoretype PKCS12`) and set ssl.keystore.location=keystore.p12 with ssl.keystore.type=PKCS12, or use PEM files"),
            ));
            props.remove(KEYSTORE);
        }
    }
    props.remove(KEYSTORE_TYPE);
}

#[cfg(test)]
mod tests;
