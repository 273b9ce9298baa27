//! Administration over InfluxQL (1.x `POST /query`): creating the database and its retention
//! policy.

use std::time::Duration;

use reqwest::{StatusCode, Url};

use super::super::classify;
use super::super::error::EnsureError;
use super::super::influxql::{create_database, create_retention_policy, duration_literal};
use super::transport::{retry_after_of, transport_failure};
use super::InfluxWriter;
use crate::error_chain::error_chain;

impl InfluxWriter {
    /// Makes sure database `db` exists (1.x: `CREATE DATABASE`, which succeeds when it already
    /// exists) and, when `retention` names a policy with a duration, that the policy exists
    /// (`CREATE RETENTION POLICY "p" ON "db" DURATION 30d REPLICATION 1`; an existing policy of
    /// that name is left as it is, with a warning if its settings differ). A policy given
    /// without a duration is not created: it must exist already (e.g. `autogen`). A zero
    /// duration means `INF`. Identifiers are quoted with [`quote_ident`](super::super::quote_ident).
    ///
    /// On the 2.x API this is a no-op returning `Ok`: buckets are created out of band (the 2.x
    /// API needs an org id and an all-access token for that), and a missing bucket surfaces as
    /// [`WriteError::DatabaseNotFound`](super::super::WriteError::DatabaseNotFound) on the first write.
    pub async fn ensure_database(
        &self,
        db: &str,
        retention: Option<(&str, Option<Duration>)>,
    ) -> Result<(), EnsureError> {
        let Some(query_url) = &self.query_url else {
            tracing::debug!(
                bucket = db,
                "InfluxDB 2.x API: buckets are created out of band"
            );
            return Ok(());
        };
        self.query(query_url, &create_database(db)).await?;
        if let Some((policy, Some(duration))) = retention {
            let statement = create_retention_policy(policy, db, duration);
            match self.query(query_url, &statement).await {
                Err(EnsureError::Statement { message, .. })
                    if message.contains("retention policy already exists") =>
                {
                    tracing::warn!(
                        database = db, policy, requested = %duration_literal(duration),
                        "retention policy exists with other settings; left unchanged"
                    );
                }
                other => other?,
            }
        }
        Ok(())
    }

    /// Runs one InfluxQL statement with `POST /query` and checks its result.
    async fn query(&self, url: &Url, statement: &str) -> Result<(), EnsureError> {
        let mut url = url.clone();
        url.query_pairs_mut().append_pair("q", statement);
        let request = self.authorize(self.client.post(url).timeout(self.timeout));
        let response = request.send().await.map_err(|e| {
            let (transient, message) = transport_failure(&e, self.timeout);
            if transient {
                EnsureError::Transient {
                    retry_after: None,
                    status: None,
                    message,
                }
            } else {
                EnsureError::Fatal {
                    status: None,
                    message,
                }
            }
        })?;
        let status = response.status();
        let retry_after = retry_after_of(&response);
        let body = response.bytes().await.map_err(|e| EnsureError::Transient {
            retry_after,
            status: Some(status.as_u16()),
            message: format!("reading the response failed: {}", error_chain(&e)),
        })?;
        let json = serde_json::from_slice::<serde_json::Value>(&body).ok();
        if status == StatusCode::OK {
            let error = json.as_ref().and_then(|v| {
                v.get("results")?
                    .as_array()?
                    .iter()
                    .find_map(|r| r.get("error")?.as_str())
                    .or_else(|| v.get("error")?.as_str())
            });
            return match error {
                Some(message) => Err(EnsureError::Statement {
                    statement: statement.to_string(),
                    message: message.to_string(),
                }),
                None => Ok(()),
            };
        }
        let message = classify::server_message(status.as_u16(), json.as_ref(), None, &body);
        Err(match status.as_u16() {
            400 => EnsureError::Statement {
                statement: statement.to_string(),
                message,
            },
            408 | 429 | 500..=599 => EnsureError::Transient {
                retry_after,
                status: Some(status.as_u16()),
                message,
            },
            s => EnsureError::Fatal {
                status: Some(s),
                message,
            },
        })
    }
}

#[cfg(test)]
mod tests;
