//! The shared broker's secured listeners, as `scripts/services.sh up` makes them: `SSL` with a
//! required client certificate on `127.0.0.1:9093` and `SASL_SSL` with SCRAM-SHA-512 on
//! `127.0.0.1:9094`, both with the test CA and client certificate the script writes (PEM) to
//! `<services dir>/kafka/tls/` ([`tls_dir`]).
//!
//! [`ssl_properties`] and [`sasl_ssl_properties`] are the librdkafka client properties that
//! reach each listener (bootstrap servers included); the helpers of the parent module take
//! them as `extra` settings, so `produce_with`, `consume_all_at` etc. work on them too.

use std::path::PathBuf;

/// The `SSL` listener (TLS, client certificate required).
pub const SSL_BROKERS: &str = "127.0.0.1:9093";

/// The `SASL_SSL` listener (SCRAM-SHA-512 over TLS).
pub const SASL_SSL_BROKERS: &str = "127.0.0.1:9094";

/// The SCRAM user `scripts/services.sh` creates when it formats the broker's storage.
pub const SCRAM_USER: &str = "kcql";

/// [`SCRAM_USER`]'s password.
pub const SCRAM_PASSWORD: &str = "kcql-secret";

/// The SASL mechanism of the `SASL_SSL` listener.
pub const SCRAM_MECHANISM: &str = "SCRAM-SHA-512";

/// Where `scripts/services.sh` keeps the broker's TLS files: `<services dir>/kafka/tls`.
pub fn tls_dir() -> PathBuf {
    crate::private::services_root().join("kafka").join("tls")
}

/// One of the TLS files (`ca.pem`, `client.pem`, `client.key`), as a path string. Panics
/// when it is missing: the secured listeners are not set up (run `scripts/services.sh up`).
pub fn tls_file(name: &str) -> String {
    let path = tls_dir().join(name);
    assert!(
        path.is_file(),
        "Kafka TLS file {} is missing: run scripts/services.sh up (it makes the test CA)",
        path.display()
    );
    path.display().to_string()
}

/// The test CA's certificate (PEM), which signed the broker's and the client's certificates.
pub fn ca_file() -> String {
    tls_file("ca.pem")
}

/// librdkafka properties for the `SSL` listener: bootstrap servers, `security.protocol=ssl`,
/// the CA and the client certificate and key. Panics (naming the address) when the listener
/// does not accept connections.
pub fn ssl_properties() -> Vec<(String, String)> {
    super::wait_reachable_at(SSL_BROKERS);
    [
        ("bootstrap.servers", SSL_BROKERS.to_string()),
        ("security.protocol", "ssl".to_string()),
        ("ssl.ca.location", ca_file()),
        ("ssl.certificate.location", tls_file("client.pem")),
        ("ssl.key.location", tls_file("client.key")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// librdkafka properties for the `SASL_SSL` listener: bootstrap servers,
/// `security.protocol=sasl_ssl`, SCRAM-SHA-512 with [`SCRAM_USER`] / [`SCRAM_PASSWORD`], and
/// the CA. Panics (naming the address) when the listener does not accept connections.
pub fn sasl_ssl_properties() -> Vec<(String, String)> {
    super::wait_reachable_at(SASL_SSL_BROKERS);
    [
        ("bootstrap.servers", SASL_SSL_BROKERS.to_string()),
        ("security.protocol", "sasl_ssl".to_string()),
        ("sasl.mechanism", SCRAM_MECHANISM.to_string()),
        ("sasl.username", SCRAM_USER.to_string()),
        ("sasl.password", SCRAM_PASSWORD.to_string()),
        ("ssl.ca.location", ca_file()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// `props` as the `(&str, &str)` pairs the parent module's `extra` parameters take.
pub fn as_pairs(props: &[(String, String)]) -> Vec<(&str, &str)> {
    props
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}
