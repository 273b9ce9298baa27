//! Configuration of the InfluxDB writer.
//!
//! Deserialised with serde (TOML pipeline files, JSON); unknown keys are errors. Durations are
//! written as strings with a unit (`"500ms"`, `"10s"`, `"5m"`, `"1h"`, `"30d"`) or as a bare
//! integer number of milliseconds.
//!
//! ```toml
//! url = "http://127.0.0.1:8086"
//! precision = "ns"
//! gzip = true
//! timeout = "10s"
//! api = { version = "v1", database = "telemetry", retention_policy = "autogen" }
//! # api = { version = "v2", org = "acme", bucket = "telemetry", token = "…" }
//! # tls = { ca_file = "/etc/kcql/influx-ca.pem" }   # https:// only; see crate::http_tls
//! ```

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::config::Secret;
use crate::http_tls::HttpTls;

/// Everything the writer needs to reach one InfluxDB (or InfluxDB-compatible) endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxConfig {
    /// Base URL of the server, e.g. `http://127.0.0.1:8086`. A path prefix is kept
    /// (`http://proxy/influx` writes to `http://proxy/influx/write`).
    pub url: String,
    /// Which write API to use and where to write.
    pub api: Api,
    /// Precision of the timestamps in the line protocol sent (default `ns`).
    #[serde(default)]
    pub precision: Precision,
    /// Compress request bodies with gzip (`Content-Encoding: gzip`). Default off.
    #[serde(default)]
    pub gzip: bool,
    /// Deadline for one HTTP request, connect included (default 10 s).
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// First back-off delay ceiling of [`InfluxWriter::backoff`](super::InfluxWriter::backoff),
    /// for the caller's retries of transient failures (the writer retries nothing); doubles on
    /// every retry (default 100 ms).
    #[serde(default = "default_backoff_base", deserialize_with = "de_duration")]
    pub backoff_base: Duration,
    /// Largest back-off delay, also the cap applied to a server's `Retry-After` (default 30 s).
    #[serde(default = "default_max_backoff", deserialize_with = "de_duration")]
    pub max_backoff: Duration,
    /// When a batch is sent (lines, bytes, linger).
    #[serde(default)]
    pub batch: BatchLimits,
    /// TLS settings for an `https://` URL (CA file, client certificate, trust store,
    /// `insecure_skip_verify`); default: the built-in and system roots.
    #[serde(default)]
    pub tls: HttpTls,
}

impl InfluxConfig {
    /// A configuration with every optional setting at its default.
    pub fn new(url: impl Into<String>, api: Api) -> Self {
        InfluxConfig {
            url: url.into(),
            api,
            precision: Precision::default(),
            gzip: false,
            timeout: default_timeout(),
            backoff_base: default_backoff_base(),
            max_backoff: default_max_backoff(),
            batch: BatchLimits::default(),
            tls: HttpTls::default(),
        }
    }
}

/// The write API and its target.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "version", rename_all = "lowercase", deny_unknown_fields)]
pub enum Api {
    /// InfluxDB 1.x: `POST /write?db=&rp=&precision=&consistency=`, HTTP basic auth.
    V1 {
        /// Database to write into.
        database: String,
        /// Retention policy to write into (server default when absent).
        #[serde(default)]
        retention_policy: Option<String>,
        /// User for HTTP basic auth (no auth when absent).
        #[serde(default)]
        username: Option<String>,
        /// Password for HTTP basic auth (used only with `username`).
        #[serde(default)]
        password: Option<Secret>,
        /// Write consistency (InfluxDB Enterprise clusters; OSS accepts and ignores it).
        #[serde(default)]
        consistency: Option<Consistency>,
    },
    /// InfluxDB 2.x API: `POST /api/v2/write?org=&bucket=&precision=`,
    /// `Authorization: Token …`.
    V2 {
        /// Organisation name.
        org: String,
        /// Bucket to write into.
        bucket: String,
        /// API token.
        token: Secret,
    },
}

/// InfluxDB 1.x write consistency level (`consistency=` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// The write succeeds when any node, including hinted handoff, accepted it.
    Any,
    /// One data node accepted the write.
    One,
    /// A quorum of data nodes accepted the write.
    Quorum,
    /// All data nodes accepted the write.
    All,
}

impl Consistency {
    /// The query-string value (`any`, `one`, `quorum`, `all`).
    pub fn as_str(self) -> &'static str {
        match self {
            Consistency::Any => "any",
            Consistency::One => "one",
            Consistency::Quorum => "quorum",
            Consistency::All => "all",
        }
    }
}

/// Timestamp precision of the line protocol sent (`precision=` query parameter): the
/// encoder's own type, so the writer and the encoder cannot disagree.
pub use crate::connectors::influx_sink::line_protocol::Precision;

/// When a [`Batcher`](super::Batcher) hands out its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchLimits {
    /// A batch is full at this many lines (default 5000).
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
    /// A batch is full at this many bytes (default 1 MiB). The line that crosses the limit stays
    /// in the batch, so a body may exceed it by one line.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// A non-empty batch is due this long after its first line arrived (default 1 s).
    #[serde(default = "default_linger", deserialize_with = "de_duration")]
    pub linger: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_lines: default_max_lines(),
            max_bytes: default_max_bytes(),
            linger: default_linger(),
        }
    }
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_backoff_base() -> Duration {
    Duration::from_millis(100)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(30)
}
fn default_max_lines() -> usize {
    5000
}
fn default_max_bytes() -> usize {
    1024 * 1024
}
fn default_linger() -> Duration {
    Duration::from_secs(1)
}

/// A duration as `"<digits><ms|s|m|h|d>"` or an integer number of milliseconds.
fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Millis(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Millis(ms) => Ok(Duration::from_millis(ms)),
        Raw::Text(text) => kcql::Duration::parse(text.trim())
            .map(kcql::Duration::to_std)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid duration {text:?}: expected e.g. \"500ms\", \"10s\", \"5m\", \"1h\", \
                     \"30d\" or a number of milliseconds"
                ))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v1_minimal_gets_defaults() {
        let c: InfluxConfig = serde_json::from_value(json!({
            "url": "http://127.0.0.1:8086",
            "api": {"version": "v1", "database": "db"}
        }))
        .unwrap();
        assert_eq!(
            c,
            InfluxConfig::new(
                "http://127.0.0.1:8086",
                Api::V1 {
                    database: "db".into(),
                    retention_policy: None,
                    username: None,
                    password: None,
                    consistency: None
                }
            )
        );
        assert_eq!(c.precision, Precision::Ns);
        assert_eq!(c.timeout, Duration::from_secs(10));
    }

    #[test]
    fn v1_full_and_durations() {
        let c: InfluxConfig = serde_json::from_value(json!({
            "url": "http://h:8086",
            "api": {"version": "v1", "database": "db", "retention_policy": "rp",
                    "username": "u", "password": "p", "consistency": "quorum"},
            "precision": "ms", "gzip": true, "timeout": "2s",
            "backoff_base": 50, "max_backoff": "1m",
            "batch": {"max_lines": 10, "linger": "250ms"}
        }))
        .unwrap();
        assert_eq!(c.precision, Precision::Ms);
        assert!(c.gzip);
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.backoff_base, Duration::from_millis(50));
        assert_eq!(c.max_backoff, Duration::from_secs(60));
        assert_eq!(c.batch.max_lines, 10);
        assert_eq!(c.batch.max_bytes, 1024 * 1024);
        assert_eq!(c.batch.linger, Duration::from_millis(250));
        match &c.api {
            Api::V1 {
                password,
                consistency,
                ..
            } => {
                assert_eq!(password.as_ref().map(Secret::expose), Some("p"));
                assert_eq!(*consistency, Some(Consistency::Quorum));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            !format!("{c:?}").contains("\"p\""),
            "password must be redacted"
        );
    }

    #[test]
    fn v2_token_is_redacted() {
        let c: InfluxConfig = serde_json::from_value(json!({
            "url": "http://h:8086",
            "api": {"version": "v2", "org": "o", "bucket": "b", "token": "s3cret"}
        }))
        .unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let bad = [
            json!({"url": "u", "api": {"version": "v1", "database": "d"}, "gzp": true}),
            json!({"url": "u", "api": {"version": "v1", "database": "d", "bucket": "b"}}),
            json!({"url": "u", "api": {"version": "v2", "org": "o", "bucket": "b"}}),
            json!({"url": "u", "api": {"version": "v3", "database": "d"}}),
            json!({"url": "u", "api": {"version": "v1", "database": "d", "consistency": "most"}}),
            json!({"url": "u", "api": {"version": "v1", "database": "d"}, "precision": "h"}),
            json!({"url": "u", "api": {"version": "v1", "database": "d"}, "timeout": "10 parsecs"}),
            json!({"url": "u", "api": {"version": "v1", "database": "d"}, "batch": {"lines": 1}}),
        ];
        for v in bad {
            assert!(
                serde_json::from_value::<InfluxConfig>(v.clone()).is_err(),
                "accepted {v}"
            );
        }
    }
}
