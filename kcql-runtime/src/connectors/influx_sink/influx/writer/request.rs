//! One write request and its classified answer.

use std::io::Write as _;

use flate2::write::GzEncoder;
use flate2::Compression;
use reqwest::header::{ACCEPT, CONTENT_ENCODING, CONTENT_TYPE};

use super::super::batch::Lines;
use super::super::classify::{self, Reply};
use super::super::error::WriteError;
use super::transport::{retry_after_of, transport_failure};
use super::InfluxWriter;
use crate::error_chain::error_chain;

impl InfluxWriter {
    /// Sends the body of `lines` in one request and classifies the answer; see [`WriteError`]
    /// for the outcomes. An empty body is not sent. Nothing is retried here: a
    /// [`WriteError::Transient`] is for the caller to retry (e.g. after a delay from
    /// [`backoff`](Self::backoff), honouring its `retry_after`).
    ///
    /// Rejected lines are reported by their index in `lines` (e.g. what
    /// [`Batcher::take`](super::super::Batcher::take) hands out).
    pub async fn write(&self, lines: Lines<'_>) -> Result<(), WriteError> {
        let body = lines.body();
        if body.is_empty() {
            return Ok(());
        }
        let payload = if self.gzip {
            gzip(body)
                .map_err(|e| WriteError::Fatal {
                    status: None,
                    message: format!("gzip compression failed: {e}"),
                })?
                .into()
        } else {
            lines.owned_body()
        };
        let sent_bytes = payload.len();
        let mut request = self
            .client
            .post(self.write_url.clone())
            .timeout(self.timeout)
            .header(CONTENT_TYPE, "text/plain; charset=utf-8")
            .header(ACCEPT, "application/json")
            .body(payload);
        if self.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        request = self.authorize(request);
        let response = request.send().await.map_err(|e| {
            let (transient, message) = transport_failure(&e, self.timeout);
            if transient {
                WriteError::Transient {
                    retry_after: None,
                    status: None,
                    message,
                }
            } else {
                WriteError::Fatal {
                    status: None,
                    message,
                }
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = retry_after_of(&response);
        let error_header = response
            .headers()
            .get("x-influxdb-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let reply_body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Err(WriteError::Transient {
                    retry_after,
                    status: Some(status.as_u16()),
                    message: format!(
                        "HTTP {status}, then reading the response failed: {}",
                        error_chain(&e)
                    ),
                })
            }
        };
        let reply = Reply {
            status: status.as_u16(),
            retry_after,
            error_header: error_header.as_deref(),
            body: &reply_body,
        };
        let outcome = classify::classify(&self.target, &reply, lines, sent_bytes);
        if let Err(e) = &outcome {
            tracing::debug!(url = %self.write_url, lines = lines.len(), bytes = body.len(), error = %e, "InfluxDB write failed");
        }
        outcome
    }
}

/// `body` gzip-compressed (fast level).
fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 4 + 64), Compression::fast());
    enc.write_all(body)?;
    enc.finish()
}

#[cfg(test)]
mod tests;
