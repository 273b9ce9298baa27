//! The sink's TLS keys (for an `https://` `connect.influx.url`) and the start-up warnings about
//! how it reaches InfluxDB.
//!
//! | property | pipeline file | Telegraf `outputs.influxdb` | meaning |
//! |---|---|---|---|
//! | `connect.influx.ssl.ca.cert` | `ssl_ca_cert` | `tls_ca` | PEM file of CA certificates to trust |
//! | `connect.influx.ssl.cert` | `ssl_cert` | `tls_cert` | client certificate (PEM) |
//! | `connect.influx.ssl.key` | `ssl_key` | `tls_key` | its private key (PEM, unencrypted) |
//! | `connect.influx.ssl.system.roots` | `ssl_system_roots` | — | also trust the built-in and system roots (default true) |
//! | `connect.influx.insecure.skip.verify` | `insecure_skip_verify` | `insecure_skip_verify` | verify nothing (warns) |
//!
//! The `ssl.*` names follow Stream Reactor's MQTT connector (`connect.mqtt.ssl.ca.cert`, …).
//! Any of them with an `http://` URL is an error: they would silently do nothing.

use std::path::PathBuf;

use reqwest::Url;

use crate::http_tls::{sends_in_clear, HttpTls, TlsSetting};

use super::{InfluxSinkSettings, InfluxTarget, Reader, PASSWORD, TOKEN};

pub(super) const SSL_CA: &str = "connect.influx.ssl.ca.cert";
pub(super) const SSL_CERT: &str = "connect.influx.ssl.cert";
pub(super) const SSL_KEY: &str = "connect.influx.ssl.key";
pub(super) const SSL_SYSTEM_ROOTS: &str = "connect.influx.ssl.system.roots";
pub(super) const INSECURE_SKIP_VERIFY: &str = "connect.influx.insecure.skip.verify";

/// The TLS keys, in the order problems are looked for.
pub(super) const TLS_KEYS: [&str; 5] = [
    SSL_CA,
    SSL_CERT,
    SSL_KEY,
    SSL_SYSTEM_ROOTS,
    INSECURE_SKIP_VERIFY,
];

/// The key of a [`TlsSetting`].
fn key_of(setting: TlsSetting) -> &'static str {
    match setting {
        TlsSetting::CaFile => SSL_CA,
        TlsSetting::ClientCert => SSL_CERT,
        TlsSetting::ClientKey => SSL_KEY,
        TlsSetting::SystemRoots => SSL_SYSTEM_ROOTS,
    }
}

/// Reads the TLS keys and checks them against `url` (when it parses) and the files.
pub(super) fn read_tls(r: &mut Reader<'_>, url: Option<&str>) -> HttpTls {
    let tls = HttpTls {
        ca_file: r.optional(SSL_CA).map(PathBuf::from),
        client_cert_file: r.optional(SSL_CERT).map(PathBuf::from),
        client_key_file: r.optional(SSL_KEY).map(PathBuf::from),
        system_roots: r.boolean(SSL_SYSTEM_ROOTS).unwrap_or(true),
        insecure_skip_verify: r.boolean(INSECURE_SKIP_VERIFY).unwrap_or(false),
    };
    let given: Vec<&'static str> = TLS_KEYS
        .into_iter()
        .filter(|k| r.get(k).is_some())
        .collect();
    if given.is_empty() {
        return tls;
    }
    let scheme = url
        .and_then(|u| Url::parse(u).ok())
        .map(|u| u.scheme().to_string());
    if scheme.as_deref() == Some("http") {
        for key in given {
            r.invalid(
                key,
                format!(
                    "{key} is set but connect.influx.url is http://: TLS settings apply only \
                     to an https:// URL (use https://, or remove {key})"
                ),
            );
        }
        return tls;
    }
    if let Err(e) = tls.validate() {
        let key = key_of(e.setting());
        r.invalid(key, format!("{key}: {}", e.detail()));
    }
    tls
}

impl InfluxSinkSettings {
    /// What to warn about once at start (and in `kcql run --check`): certificate verification
    /// turned off, and a password or token that would cross the network unencrypted
    /// (`http://` to a host that is not this machine).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(w) = self.tls.warning() {
            out.push(format!("{INSECURE_SKIP_VERIFY} = true: {w}"));
        }
        let credential = match &self.target {
            InfluxTarget::V1 {
                password: Some(_), ..
            } => Some(PASSWORD),
            InfluxTarget::V2 { .. } => Some(TOKEN),
            InfluxTarget::V1 { password: None, .. } => None,
        };
        if let (Some(key), Ok(url)) = (credential, Url::parse(&self.url)) {
            if sends_in_clear(&url) {
                out.push(format!(
                    "{key} is sent unencrypted: connect.influx.url is http:// to {}, another \
                     machine, so anyone on the network path can read it (use https://)",
                    url.host_str().unwrap_or_default()
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
