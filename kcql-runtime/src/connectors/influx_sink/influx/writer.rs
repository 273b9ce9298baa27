//! The HTTP writer: one reused `reqwest::Client`, line protocol in, classified outcome out.
//!
//! * [`request`]: one write request and its classified answer (never retried here).
//! * [`isolate`]: finding exactly which lines of a refused batch were refused.
//! * [`admin`]: creating the database and retention policy over InfluxQL (1.x).
//! * [`endpoint`](mod@endpoint) and [`transport`]: URLs, and what a failed HTTP exchange means.

mod admin;
mod endpoint;
mod isolate;
mod request;
mod transport;

use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::Url;

use super::classify::Target;
use super::config::{Api, InfluxConfig};
use super::error::ConfigError;
use crate::backoff::Backoff;
use crate::config::Secret;
use endpoint::{endpoint, parse_base};

pub use isolate::{RejectedLine, WriteReport};

/// Writes line-protocol bodies to InfluxDB over HTTP (1.x `/write` or 2.x `/api/v2/write`).
///
/// Cheap to share (`Arc<InfluxWriter>`); the inner `reqwest::Client` keeps its connection pool
/// across writes. The writer never logs a body and never keeps it (a batch's buffer is shared
/// with the request, not copied), so a failed write leaves every line with the caller.
#[derive(Debug)]
pub struct InfluxWriter {
    client: reqwest::Client,
    write_url: Url,
    /// `/query` (1.x only).
    query_url: Option<Url>,
    auth: Auth,
    gzip: bool,
    target: Target,
    timeout: Duration,
    backoff_base: Duration,
    max_backoff: Duration,
}

/// How requests authenticate.
#[derive(Debug)]
enum Auth {
    /// Not at all.
    None,
    Basic {
        username: String,
        password: Option<Secret>,
    },
    /// `Token …`, marked sensitive.
    Header(HeaderValue),
}

/// Checks a configured InfluxDB URL as [`InfluxWriter::new`] does (absolute, http or https,
/// a host, no query, no credentials) without building a client: for settings checks.
pub fn check_url(url: &str) -> Result<(), ConfigError> {
    parse_base(url).map(|_| ())
}

impl InfluxWriter {
    /// A writer for `config` with its own HTTP client (timeout = `config.timeout`, redirects
    /// not followed: a `3xx` is a [`WriteError::Fatal`](super::WriteError::Fatal); TLS from
    /// `config.tls`, whose files are read here).
    pub fn new(config: &InfluxConfig) -> Result<Self, ConfigError> {
        let builder = reqwest::Client::builder()
            // A redirected POST would be replayed as a body-less GET: report it instead.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout);
        let client = config
            .tls
            .apply(builder)?
            .build()
            .map_err(ConfigError::Client)?;
        Self::with_client(config, client)
    }

    /// A writer for `config` sharing an existing client (its own timeouts apply, and each
    /// request additionally gets `config.timeout`).
    pub fn with_client(
        config: &InfluxConfig,
        client: reqwest::Client,
    ) -> Result<Self, ConfigError> {
        let base = parse_base(&config.url)?;
        let (write_url, query_url, auth, target) = match &config.api {
            Api::V1 {
                database,
                retention_policy,
                username,
                password,
                consistency,
            } => {
                let mut url = endpoint(&base, "write");
                {
                    let mut q = url.query_pairs_mut();
                    q.append_pair("db", database);
                    if let Some(rp) = retention_policy {
                        q.append_pair("rp", rp);
                    }
                    q.append_pair("precision", config.precision.v1_param());
                    if let Some(c) = consistency {
                        q.append_pair("consistency", c.as_str());
                    }
                }
                let auth = match username {
                    Some(u) => Auth::Basic {
                        username: u.clone(),
                        password: password.clone(),
                    },
                    None => Auth::None,
                };
                let target = Target {
                    v2: false,
                    database: database.clone(),
                    retention_policy: retention_policy.clone(),
                };
                (url, Some(endpoint(&base, "query")), auth, target)
            }
            Api::V2 { org, bucket, token } => {
                let mut url = endpoint(&base, "api/v2/write");
                url.query_pairs_mut()
                    .append_pair("org", org)
                    .append_pair("bucket", bucket)
                    .append_pair("precision", config.precision.as_str());
                let mut header = HeaderValue::from_str(&format!("Token {}", token.expose()))
                    .map_err(|e| ConfigError::Credential {
                        what: "token",
                        reason: e.to_string(),
                    })?;
                header.set_sensitive(true);
                let target = Target {
                    v2: true,
                    database: bucket.clone(),
                    retention_policy: None,
                };
                (url, None, Auth::Header(header), target)
            }
        };
        Ok(InfluxWriter {
            client,
            write_url,
            query_url,
            auth,
            gzip: config.gzip,
            target,
            timeout: config.timeout,
            backoff_base: config.backoff_base,
            max_backoff: config.max_backoff,
        })
    }

    /// The full write URL (query string included; it holds no credential).
    pub fn write_url(&self) -> &Url {
        &self.write_url
    }

    /// A fresh [`Backoff`] with the configured base and cap.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.backoff_base, self.max_backoff)
    }

    /// `request` with the configured credentials.
    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::None => request,
            Auth::Basic { username, password } => {
                request.basic_auth(username, password.as_ref().map(Secret::expose))
            }
            Auth::Header(value) => request.header(AUTHORIZATION, value.clone()),
        }
    }
}

#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;
