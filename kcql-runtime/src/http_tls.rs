//! TLS settings of an HTTP client (the InfluxDB writer; the Schema Registry client can use the
//! same): which servers to trust, the client certificate, and the escape hatch.
//!
//! * **Trust**: by default a server certificate is verified against the bundled Mozilla roots
//!   (webpki-roots) **and** the operating system's trust store (rustls-native-certs: Debian's
//!   `/etc/ssl/certs`, `SSL_CERT_FILE` / `SSL_CERT_DIR` when set), as Go programs such as
//!   Telegraf use the system pool. [`HttpTls::ca_file`] adds a private CA (a PEM file, which may
//!   hold several certificates) to those; with [`HttpTls::system_roots`] off, the CA file is
//!   the only thing trusted (a server with a public certificate is then refused).
//! * **Client certificate**: [`HttpTls::client_cert_file`] (PEM, the chain) and
//!   [`HttpTls::client_key_file`] (PEM, unencrypted PKCS#8, PKCS#1 or SEC1) go together.
//! * **`insecure_skip_verify`** (Telegraf's name): no certificate or host name is checked at
//!   all. For tests only; callers warn once at start ([`HttpTls::warning`]).
//!
//! Files are read when the client is built ([`HttpTls::apply`]) and checked up front by
//! [`HttpTls::validate`] (`kcql run --check`): each problem names the setting
//! ([`TlsSetting`]) and the file, so a configuration layer can name its own key.
//!
//! [`sends_in_clear`] tells whether credentials sent to a URL cross the network unencrypted.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use reqwest::{ClientBuilder, Url};
use serde::Deserialize;
use thiserror::Error;

use crate::pem::{read_certificates, read_private_key, PemError};

/// TLS settings of one HTTP client. The default verifies servers against the built-in and
/// system roots and presents no client certificate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpTls {
    /// A PEM file of CA certificates trusted besides (or, with `system_roots` off, instead of)
    /// the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// The client certificate (PEM; the chain, leaf first), presented when a server asks.
    pub client_cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM, unencrypted).
    pub client_key_file: Option<PathBuf>,
    /// Trust the bundled Mozilla roots and the operating system's trust store (default
    /// `true`).
    pub system_roots: bool,
    /// Verify nothing: any certificate, any host name (default `false`).
    pub insecure_skip_verify: bool,
}

impl Default for HttpTls {
    fn default() -> Self {
        HttpTls {
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            system_roots: true,
            insecure_skip_verify: false,
        }
    }
}

/// One of the settings of [`HttpTls`], for naming the configuration key of a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsSetting {
    /// [`HttpTls::ca_file`].
    CaFile,
    /// [`HttpTls::client_cert_file`].
    ClientCert,
    /// [`HttpTls::client_key_file`].
    ClientKey,
    /// [`HttpTls::system_roots`].
    SystemRoots,
}

impl fmt::Display for TlsSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsSetting::CaFile => "CA file",
            TlsSetting::ClientCert => "client certificate",
            TlsSetting::ClientKey => "client key",
            TlsSetting::SystemRoots => "system roots",
        })
    }
}

/// Why TLS settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HttpTlsError {
    /// A file is missing, unreadable, or not the PEM it should be.
    #[error("{setting}: {source}")]
    File {
        /// Which setting names the file.
        setting: TlsSetting,
        /// What is wrong with it.
        #[source]
        source: PemError,
    },
    /// A CA file's certificate is not usable as a trust anchor.
    #[error("CA file `{path}`: certificate {index} is not usable as a trust anchor: {reason}")]
    BadCa {
        /// The file.
        path: String,
        /// 1-based position of the certificate in the file.
        index: usize,
        /// rustls' reason.
        reason: String,
    },
    /// A client certificate without its key.
    #[error("a client certificate needs its private key: the client key file is not set")]
    CertWithoutKey,
    /// A client key without its certificate.
    #[error("a client key needs its certificate: the client certificate file is not set")]
    KeyWithoutCert,
    /// The system roots are off and there is no CA file: no server could be trusted.
    #[error("nothing would be trusted: the system roots are off and no CA file is set")]
    NothingTrusted,
    /// The HTTP client refused the settings (e.g. a key that does not belong to the
    /// certificate).
    #[error("the TLS settings cannot be used: {reason}")]
    Client {
        /// The setting most likely at fault.
        setting: TlsSetting,
        /// reqwest's and rustls' reason.
        reason: String,
    },
}

impl HttpTlsError {
    /// The setting the problem is about.
    pub fn setting(&self) -> TlsSetting {
        match self {
            HttpTlsError::File { setting, .. } | HttpTlsError::Client { setting, .. } => *setting,
            HttpTlsError::BadCa { .. } | HttpTlsError::NothingTrusted => TlsSetting::CaFile,
            HttpTlsError::CertWithoutKey => TlsSetting::ClientKey,
            HttpTlsError::KeyWithoutCert => TlsSetting::ClientCert,
        }
    }

    /// The message without the setting's generic name (for a caller that names its own key).
    pub fn detail(&self) -> String {
        match self {
            HttpTlsError::File { source, .. } => source.to_string(),
            other => other.to_string(),
        }
    }
}

impl HttpTls {
    /// True when any setting differs from the default (for "TLS settings on an `http://` URL"
    /// checks).
    pub fn is_set(&self) -> bool {
        *self != HttpTls::default()
    }

    /// The warning to log once at start, when there is one (`insecure_skip_verify`).
    pub fn warning(&self) -> Option<&'static str> {
        self.insecure_skip_verify.then_some(
            "TLS certificate verification is OFF (insecure_skip_verify): any server, \
             including an impostor on the network path, is accepted",
        )
    }

    /// Configures `builder` with these settings, reading the files.
    pub fn apply(&self, builder: ClientBuilder) -> Result<ClientBuilder, HttpTlsError> {
        let mut builder = builder;
        let identity = self.identity_pem()?;
        if !self.system_roots && self.ca_file.is_none() && !self.insecure_skip_verify {
            return Err(HttpTlsError::NothingTrusted);
        }
        if let Some(ca) = &self.ca_file {
            for cert in read_trust_anchors(ca)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        if !self.system_roots {
            builder = builder.tls_built_in_root_certs(false);
        }
        if let Some(pem) = identity {
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| HttpTlsError::Client {
                setting: TlsSetting::ClientKey,
                reason: crate::error_chain::error_chain(&e),
            })?;
            builder = builder.identity(identity);
        }
        if self.insecure_skip_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        Ok(builder)
    }

    /// Checks everything [`apply`](Self::apply) needs, building a throwaway client so that a
    /// key that does not match its certificate is found too.
    pub fn validate(&self) -> Result<(), HttpTlsError> {
        self.apply(reqwest::Client::builder())?
            .build()
            .map(drop)
            .map_err(|e| HttpTlsError::Client {
                setting: if self.client_cert_file.is_some() {
                    TlsSetting::ClientKey
                } else {
                    TlsSetting::CaFile
                },
                reason: crate::error_chain::error_chain(&e),
            })
    }

    /// The client certificate chain and key as one PEM text (only their sections: reqwest
    /// refuses other sections, e.g. openssl's `EC PARAMETERS`), checked.
    fn identity_pem(&self) -> Result<Option<Vec<u8>>, HttpTlsError> {
        let (cert, key) = match (&self.client_cert_file, &self.client_key_file) {
            (None, None) => return Ok(None),
            (Some(_), None) => return Err(HttpTlsError::CertWithoutKey),
            (None, Some(_)) => return Err(HttpTlsError::KeyWithoutCert),
            (Some(c), Some(k)) => (c, k),
        };
        let file_error = |setting| move |source| HttpTlsError::File { setting, source };
        read_certificates(cert).map_err(file_error(TlsSetting::ClientCert))?;
        read_private_key(key).map_err(file_error(TlsSetting::ClientKey))?;
        let read = |path: &Path, setting| {
            std::fs::read_to_string(path).map_err(|e| HttpTlsError::File {
                setting,
                source: PemError::Read {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                },
            })
        };
        let mut pem = pem_sections(&read(cert, TlsSetting::ClientCert)?, &["CERTIFICATE"]);
        pem.push_str(&pem_sections(
            &read(key, TlsSetting::ClientKey)?,
            &["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"],
        ));
        Ok(Some(pem.into_bytes()))
    }
}

/// The certificates of a CA file, each checked as a trust anchor.
fn read_trust_anchors(path: &Path) -> Result<Vec<reqwest::Certificate>, HttpTlsError> {
    let certs = read_certificates(path).map_err(|source| HttpTlsError::File {
        setting: TlsSetting::CaFile,
        source,
    })?;
    let mut out = Vec::with_capacity(certs.len());
    for (i, der) in certs.into_iter().enumerate() {
        let bad = |reason: String| HttpTlsError::BadCa {
            path: path.display().to_string(),
            index: i + 1,
            reason,
        };
        rustls::RootCertStore::empty()
            .add(der.clone())
            .map_err(|e| bad(e.to_string()))?;
        out.push(reqwest::Certificate::from_der(&der).map_err(|e| bad(e.to_string()))?);
    }
    Ok(out)
}

/// The `-----BEGIN <label>-----` … `-----END <label>-----` blocks of `text` whose label is one
/// of `labels`, in order, each line ending with `\n`.
fn pem_sections(text: &str, labels: &[&str]) -> String {
    let mut out = String::new();
    let mut inside: Option<&str> = None;
    for line in text.lines().map(str::trim) {
        match inside {
            None => {
                inside = labels
                    .iter()
                    .find(|l| line == format!("-----BEGIN {l}-----"))
                    .copied();
                if inside.is_some() {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            Some(label) => {
                out.push_str(line);
                out.push('\n');
                if line == format!("-----END {label}-----") {
                    inside = None;
                }
            }
        }
    }
    out
}

/// True when credentials sent to `url` would cross the network unencrypted: plain `http://`
/// to a host that is not this machine (`localhost`, `*.localhost`, `127.0.0.0/8`, `::1`).
pub fn sends_in_clear(url: &Url) -> bool {
    if url.scheme() != "http" {
        return false;
    }
    let Some(host) = url.host_str() else {
        return false;
    };
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(ip) => !ip.is_loopback(),
        Err(_) => {
            let d = host.trim_end_matches('.').to_ascii_lowercase();
            !(d == "localhost" || d.ends_with(".localhost"))
        }
    }
}

#[cfg(test)]
mod tests;
