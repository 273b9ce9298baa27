//! The HTTP writer: one reused `reqwest::Client`, line protocol in, classified outcome out.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::ops::Range;
use std::time::{Duration, SystemTime};

use flate2::write::GzEncoder;
use flate2::Compression;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::{StatusCode, Url};

use super::classify::{self, Reply, Target};
use super::config::{Api, InfluxConfig};
use super::error::{ConfigError, EnsureError, WriteError};
use super::influxql::{duration_literal, quote_ident};
use crate::backoff::Backoff;
use crate::config::Secret;

/// Writes line-protocol bodies to InfluxDB over HTTP (1.x `/write` or 2.x `/api/v2/write`).
///
/// Cheap to share (`Arc<InfluxWriter>`); the inner `reqwest::Client` keeps its connection pool
/// across writes. The writer never logs a body and only borrows it, so a failed write leaves
/// every line with the caller.
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
    max_retries: u32,
    backoff_base: Duration,
    max_backoff: Duration,
}

#[derive(Debug)]
enum Auth {
    None,
    Basic {
        username: String,
        password: Option<Secret>,
    },
    /// `Token …`, marked sensitive.
    Header(HeaderValue),
}

/// What [`InfluxWriter::write_isolating`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Lines InfluxDB refused, ascending by line number: poison records. Every other line was
    /// accepted.
    pub rejected: Vec<RejectedLine>,
    /// HTTP requests sent (retries of transient failures included).
    pub requests: usize,
}

/// One line InfluxDB refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedLine {
    /// 0-based line number in the body.
    pub line: usize,
    /// InfluxDB's message about the request that isolated it.
    pub message: String,
}

impl InfluxWriter {
    /// A writer for `config` with its own HTTP client (timeout = `config.timeout`, redirects
    /// not followed: a `3xx` is a [`WriteError::Fatal`]).
    pub fn new(config: &InfluxConfig) -> Result<Self, ConfigError> {
        let client = reqwest::Client::builder()
            // A redirected POST would be replayed as a body-less GET: report it instead.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
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
            max_retries: config.max_retries,
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

    /// Sends `body` (`lines` newline-separated line-protocol lines) in one request and
    /// classifies the answer; see [`WriteError`] for the outcomes. An empty body is not sent.
    ///
    /// `lines` lets rejected line numbers be reported in the caller's numbering; pass the
    /// number of lines the body holds (e.g. what [`Batcher::take`](super::Batcher::take)
    /// returns).
    pub async fn write(&self, body: &[u8], lines: usize) -> Result<(), WriteError> {
        if body.is_empty() {
            return Ok(());
        }
        let payload = if self.gzip {
            gzip(body).map_err(|e| WriteError::Fatal {
                status: None,
                message: format!("gzip compression failed: {e}"),
            })?
        } else {
            body.to_vec()
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
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| classify::parse_retry_after(v, SystemTime::now()));
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
        let outcome = classify::classify(&self.target, &reply, body, lines, sent_bytes);
        if let Err(e) = &outcome {
            tracing::debug!(url = %self.write_url, lines, bytes = body.len(), error = %e, "InfluxDB write failed");
        }
        outcome
    }

    /// [`write`](Self::write), retrying transient failures up to `max_retries` times with
    /// `backoff` delays (honouring `Retry-After`); the last error is returned when they run
    /// out. `backoff` is reset after a success.
    pub async fn write_with_retries(
        &self,
        body: &[u8],
        lines: usize,
        backoff: &mut Backoff,
    ) -> Result<(), WriteError> {
        let mut retries = 0;
        loop {
            match self.write(body, lines).await {
                Err(WriteError::Transient {
                    retry_after,
                    status,
                    message,
                }) if retries < self.max_retries => {
                    retries += 1;
                    let delay = backoff.delay_after(retry_after);
                    tracing::warn!(
                        url = %self.write_url, ?status, %message, retry = retries,
                        max_retries = self.max_retries, delay_ms = delay.as_millis() as u64,
                        "transient InfluxDB failure, retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
                outcome => {
                    if outcome.is_ok() {
                        backoff.reset();
                    }
                    return outcome;
                }
            }
        }
    }

    /// Writes `body` and, when InfluxDB refuses part of it, finds exactly which lines it
    /// refused, so that every other line is known to be stored. Transient failures are retried
    /// as in [`write_with_retries`](Self::write_with_retries); other errors (and exhausted
    /// retries) are returned, and then nothing can be assumed about which lines were written.
    ///
    /// InfluxDB 1.6.7 names only the first reason of a partial write, and with points in
    /// several shards only one shard's reason and count (field types are per shard), so the
    /// lines of one [`WriteError::Rejected`] can be too few or, across shards, too many. Here a
    /// line counts as refused only when InfluxDB quoted it as unparseable (or the 2.x API gave
    /// its number), or when it was refused in a request where every point was dropped
    /// (`dropped=` equal to the number of lines sent, or a single line). Otherwise the lines
    /// InfluxDB's message points at are sent again on their own, the rest is sent again, and
    /// a rejection naming no line (or a `413`) is split in halves.
    ///
    /// Lines that may already be stored are re-sent, which is harmless when every line carries
    /// its own timestamp (the point is overwritten with the same values); a line without a
    /// timestamp would be stored again at a new server time.
    ///
    /// If the body cannot be split into exactly `lines` lines, it is written once and the
    /// outcome returned as is.
    pub async fn write_isolating(
        &self,
        body: &[u8],
        lines: usize,
        backoff: &mut Backoff,
    ) -> Result<WriteReport, WriteError> {
        let mut report = WriteReport::default();
        let Some(ranges) = line_ranges(body, lines) else {
            report.requests = 1;
            return self.write(body, lines).await.map(|()| report);
        };
        let mut rejected: BTreeMap<usize, String> = BTreeMap::new();
        let mut pending: Vec<Vec<usize>> = vec![(0..lines).collect()];
        let mut buf = Vec::with_capacity(body.len());
        while let Some(set) = pending.pop() {
            if set.is_empty() {
                continue;
            }
            buf.clear();
            for &i in &set {
                buf.extend_from_slice(&body[ranges[i].clone()]);
                buf.push(b'\n');
            }
            let (message, dropped, named) = match self
                .write_counting(&buf, set.len(), backoff, &mut report)
                .await
            {
                Ok(()) => continue,
                Err(WriteError::Rejected {
                    message,
                    dropped,
                    lines,
                }) => (message, dropped, lines),
                Err(WriteError::Malformed { message, lines }) => (message, None, lines),
                Err(WriteError::TooLarge { message, .. }) => (message, None, Vec::new()),
                Err(other) => return Err(other),
            };
            // Sure: quoted (or numbered by the server). Suspected: matched by field.
            let by_field = classify::identify(&message, &buf, set.len()).by_field;
            let sure: Vec<usize> = named
                .iter()
                .copied()
                .filter(|k| by_field.binary_search(k).is_err())
                .collect();
            let everything_dropped =
                set.len() == 1 || dropped.is_some_and(|d| d + sure.len() >= set.len());
            if everything_dropped {
                for &line in &set {
                    rejected.insert(line, message.clone());
                }
                continue;
            }
            let mut suspects = Vec::new();
            let mut rest = Vec::new();
            for (k, &line) in set.iter().enumerate() {
                if sure.binary_search(&k).is_ok() {
                    rejected.insert(line, message.clone());
                } else if by_field.binary_search(&k).is_ok() {
                    suspects.push(line);
                } else {
                    rest.push(line);
                }
            }
            if suspects.is_empty() && sure.is_empty() {
                // Nothing named: halve.
                let (a, b) = set.split_at(set.len() / 2);
                pending.push(b.to_vec());
                pending.push(a.to_vec());
            } else if rest.is_empty() && sure.is_empty() {
                // Every line is a suspect, yet not all were dropped: halve the suspects.
                let (a, b) = suspects.split_at(suspects.len() / 2);
                pending.push(b.to_vec());
                pending.push(a.to_vec());
            } else {
                pending.push(rest);
                pending.push(suspects);
            }
        }
        report.rejected = rejected
            .into_iter()
            .map(|(line, message)| RejectedLine { line, message })
            .collect();
        Ok(report)
    }

    async fn write_counting(
        &self,
        body: &[u8],
        lines: usize,
        backoff: &mut Backoff,
        report: &mut WriteReport,
    ) -> Result<(), WriteError> {
        let mut retries = 0;
        loop {
            report.requests += 1;
            match self.write(body, lines).await {
                Err(WriteError::Transient { retry_after, .. }) if retries < self.max_retries => {
                    retries += 1;
                    tokio::time::sleep(backoff.delay_after(retry_after)).await;
                }
                outcome => {
                    if outcome.is_ok() {
                        backoff.reset();
                    }
                    return outcome;
                }
            }
        }
    }

    /// Makes sure database `db` exists (1.x: `CREATE DATABASE`, which succeeds when it already
    /// exists) and, when `retention` names a policy with a duration, that the policy exists
    /// (`CREATE RETENTION POLICY "p" ON "db" DURATION 30d REPLICATION 1`; an existing policy of
    /// that name is left as it is, with a warning if its settings differ). A policy given
    /// without a duration is not created: it must exist already (e.g. `autogen`). A zero
    /// duration means `INF`. Identifiers are quoted with [`quote_ident`].
    ///
    /// On the 2.x API this is a no-op returning `Ok`: buckets are created out of band (the 2.x
    /// API needs an org id and an all-access token for that), and a missing bucket surfaces as
    /// [`WriteError::DatabaseNotFound`] on the first write.
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
        self.query(query_url, &format!("CREATE DATABASE {}", quote_ident(db)))
            .await?;
        if let Some((policy, Some(duration))) = retention {
            let statement = format!(
                "CREATE RETENTION POLICY {} ON {} DURATION {} REPLICATION 1",
                quote_ident(policy),
                quote_ident(db),
                duration_literal(duration)
            );
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
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| classify::parse_retry_after(v, SystemTime::now()));
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

/// The configured URL, checked: absolute, http or https, with a host.
fn parse_base(url: &str) -> Result<Url, ConfigError> {
    let bad = |reason: String| ConfigError::Url {
        url: url.to_string(),
        reason,
    };
    let parsed = Url::parse(url.trim()).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!(
            "scheme must be http or https, not {:?}",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".to_string()));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("must not have a query string or fragment".to_string()));
    }
    Ok(parsed)
}

/// `base` with `path` appended to its path (a path prefix is kept).
fn endpoint(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}/{path}", base.path().trim_end_matches('/'));
    url.set_path(&joined);
    url
}

fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 4 + 64), Compression::fast());
    enc.write_all(body)?;
    enc.finish()
}

/// Byte ranges (without the newline) of the `lines` lines of `body`: InfluxDB's own split if
/// it yields `lines` lines, else a split at every newline if that does; `None` otherwise.
fn line_ranges(body: &[u8], lines: usize) -> Option<Vec<Range<usize>>> {
    let influx = classify::split_lines(body);
    if influx.len() == lines {
        return Some(influx);
    }
    let mut newline = Vec::new();
    let mut start = 0;
    for (i, &c) in body.iter().enumerate() {
        if c == b'\n' {
            newline.push(start..i);
            start = i + 1;
        }
    }
    if start < body.len() {
        newline.push(start..body.len());
    }
    (newline.len() == lines).then_some(newline)
}

/// Whether a request error is worth retrying, and a message naming its causes.
fn transport_failure(e: &reqwest::Error, timeout: Duration) -> (bool, String) {
    let chain = error_chain(e);
    if e.is_timeout() {
        (true, format!("no answer within {timeout:?}: {chain}"))
    } else if e.is_connect() {
        (true, format!("cannot connect: {chain}"))
    } else if e.is_builder() {
        (false, format!("cannot build the request: {chain}"))
    } else {
        (true, chain)
    }
}

/// `e` and its sources, joined with `: ` ("error sending request …: connection refused").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::influx_sink::influx::config::{Consistency, Precision};
    use std::io::Read as _;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A request as the canned server saw it.
    #[derive(Debug, Clone)]
    struct Seen {
        head: String,
        body: Vec<u8>,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<String> {
            self.head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        }
        fn target(&self) -> String {
            self.head
                .lines()
                .next()
                .and_then(|l| l.split(' ').nth(1))
                .unwrap_or_default()
                .to_string()
        }
    }

    /// A one-response-per-connection HTTP server answering with `responses` in turn (the last
    /// one repeats). `None` as a response means: read the request, never answer.
    async fn canned(responses: Vec<Option<String>>) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let mut n = 0;
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let response = responses[n.min(responses.len() - 1)].clone();
                n += 1;
                let log = log.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        let k = sock.read(&mut chunk).await.unwrap_or(0);
                        if k == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..k]);
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let k = sock.read(&mut chunk).await.unwrap_or(0);
                        if k == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..k]);
                    }
                    log.lock().unwrap().push(Seen {
                        head,
                        body: buf[head_end..].to_vec(),
                    });
                    match response {
                        Some(r) => {
                            let _ = sock.write_all(r.as_bytes()).await;
                            let _ = sock.shutdown().await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(30)).await,
                    }
                });
            }
        });
        (format!("http://{addr}"), seen)
    }

    fn http(status: &str, headers: &[(&str, &str)], body: &str) -> Option<String> {
        let mut r = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (k, v) in headers {
            r.push_str(&format!("{k}: {v}\r\n"));
        }
        r.push_str("\r\n");
        r.push_str(body);
        Some(r)
    }

    fn v1_config(url: &str) -> InfluxConfig {
        let mut c = InfluxConfig::new(
            url,
            Api::V1 {
                database: "my db".into(),
                retention_policy: Some("rp".into()),
                username: None,
                password: None,
                consistency: None,
            },
        );
        c.timeout = Duration::from_secs(5);
        c.backoff_base = Duration::from_millis(1);
        c.max_backoff = Duration::from_millis(5);
        c
    }

    const BODY: &[u8] = b"m,t=c v=3i 3000\nm,t=d v=2.5 4000\nm,t=e v=5i 5000\n";

    #[tokio::test]
    async fn v1_request_shape_and_success() {
        let (url, seen) = canned(vec![http("204 No Content", &[], "")]).await;
        let mut c = v1_config(&url);
        c.api = Api::V1 {
            database: "my db".into(),
            retention_policy: Some("r&p".into()),
            username: Some("user".into()),
            password: Some(Secret::new("pa:ss")),
            consistency: Some(Consistency::Quorum),
        };
        c.precision = Precision::Us;
        let w = InfluxWriter::new(&c).unwrap();
        w.write(BODY, 3).await.unwrap();
        let s = seen.lock().unwrap()[0].clone();
        assert_eq!(
            s.target(),
            "/write?db=my+db&rp=r%26p&precision=u&consistency=quorum"
        );
        assert!(s.head.starts_with("POST "));
        // base64("user:pa:ss")
        assert_eq!(
            s.header("authorization").as_deref(),
            Some("Basic dXNlcjpwYTpzcw==")
        );
        assert_eq!(s.header("content-encoding"), None);
        assert_eq!(s.body, BODY);
    }

    #[tokio::test]
    async fn v2_request_shape_with_gzip_and_path_prefix() {
        let (url, seen) = canned(vec![http("204 No Content", &[], "")]).await;
        let mut c = v1_config(&format!("{url}/prefix/"));
        c.api = Api::V2 {
            org: "acme corp".into(),
            bucket: "b/1".into(),
            token: Secret::new("tok=="),
        };
        c.gzip = true;
        let w = InfluxWriter::new(&c).unwrap();
        assert!(
            !format!("{w:?}").contains("tok=="),
            "token leaked into Debug"
        );
        w.write(BODY, 3).await.unwrap();
        let s = seen.lock().unwrap()[0].clone();
        assert_eq!(
            s.target(),
            "/prefix/api/v2/write?org=acme+corp&bucket=b%2F1&precision=ns"
        );
        assert_eq!(s.header("authorization").as_deref(), Some("Token tok=="));
        assert_eq!(s.header("content-encoding").as_deref(), Some("gzip"));
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&s.body[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, BODY);
    }

    #[tokio::test]
    async fn partial_write_is_rejected_with_the_line() {
        let body = r#"{"error":"partial write: field type conflict: input field \"v\" on measurement \"m\" is type float, already exists as type integer dropped=1"}"#;
        let (url, _) = canned(vec![http(
            "400 Bad Request",
            &[("Content-Type", "application/json")],
            body,
        )])
        .await;
        let w = InfluxWriter::new(&v1_config(&url)).unwrap();
        match w.write(BODY, 3).await {
            Err(WriteError::Rejected { dropped, lines, .. }) => {
                assert_eq!(dropped, Some(1));
                assert_eq!(lines, vec![1]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn statuses_map_to_classes() {
        type Check = fn(&WriteError) -> bool;
        let cases: Vec<(Option<String>, Check)> = vec![
            (
                http(
                    "401 Unauthorized",
                    &[],
                    r#"{"error":"authorization failed"}"#,
                ),
                |e| {
                    matches!(
                        e,
                        WriteError::Fatal {
                            status: Some(401),
                            ..
                        }
                    )
                },
            ),
            (
                http("403 Forbidden", &[], r#"{"error":"forbidden"}"#),
                |e| {
                    matches!(
                        e,
                        WriteError::Fatal {
                            status: Some(403),
                            ..
                        }
                    )
                },
            ),
            (
                http(
                    "404 Not Found",
                    &[],
                    r#"{"error":"database not found: \"my db\""}"#,
                ),
                |e| matches!(e, WriteError::DatabaseNotFound { database, .. } if database == "my db"),
            ),
            (
                http(
                    "500 Internal Server Error",
                    &[],
                    r#"{"error":"retention policy not found: rp"}"#,
                ),
                |e| matches!(e, WriteError::RetentionPolicyNotFound { policy, .. } if policy == "rp"),
            ),
            (
                http("429 Too Many Requests", &[("Retry-After", "7")], ""),
                |e| matches!(e, WriteError::Transient { retry_after: Some(d), status: Some(429), .. } if *d == Duration::from_secs(7)),
            ),
            (
                http("503 Service Unavailable", &[], "overloaded"),
                |e| matches!(e, WriteError::Transient { retry_after: None, status: Some(503), message } if message == "overloaded"),
            ),
            (http("408 Request Timeout", &[], ""), |e| {
                matches!(
                    e,
                    WriteError::Transient {
                        status: Some(408),
                        ..
                    }
                )
            }),
            (
                http(
                    "413 Request Entity Too Large",
                    &[],
                    r#"{"error":"Request Entity Too Large"}"#,
                ),
                |e| matches!(e, WriteError::TooLarge { bytes: 49, .. }),
            ),
            (http("200 OK", &[], ""), |_| false),
        ];
        for (response, check) in cases {
            let (url, _) = canned(vec![response.clone()]).await;
            let w = InfluxWriter::new(&v1_config(&url)).unwrap();
            match w.write(BODY, 3).await {
                Ok(()) => assert!(
                    response
                        .as_deref()
                        .unwrap_or_default()
                        .starts_with("HTTP/1.1 200"),
                    "{response:?} accepted"
                ),
                Err(e) => assert!(check(&e), "{response:?} gave {e:?}"),
            }
        }
    }

    #[tokio::test]
    async fn connection_refused_and_timeout_are_transient() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let w = InfluxWriter::new(&v1_config(&format!("http://127.0.0.1:{port}"))).unwrap();
        let e = w.write(BODY, 3).await.unwrap_err();
        assert!(
            matches!(&e, WriteError::Transient { status: None, message, .. } if message.contains("connect")),
            "{e:?}"
        );

        let (url, _) = canned(vec![None]).await;
        let mut c = v1_config(&url);
        c.timeout = Duration::from_millis(200);
        let w = InfluxWriter::new(&c).unwrap();
        let e = w.write(BODY, 3).await.unwrap_err();
        assert!(
            matches!(&e, WriteError::Transient { status: None, message, .. } if message.contains("no answer within")),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn retries_transient_then_succeeds_or_gives_up() {
        let (url, seen) = canned(vec![
            http("503 Service Unavailable", &[], ""),
            http("500 Internal Server Error", &[], "{\"error\":\"timeout\"}"),
            http("204 No Content", &[], ""),
        ])
        .await;
        let w = InfluxWriter::new(&v1_config(&url)).unwrap();
        let mut b = Backoff::with_seed(Duration::from_millis(1), Duration::from_millis(2), 1);
        w.write_with_retries(BODY, 3, &mut b).await.unwrap();
        assert_eq!(seen.lock().unwrap().len(), 3);
        assert_eq!(b.attempts(), 0, "reset after success");

        let (url, seen) = canned(vec![http("503 Service Unavailable", &[], "")]).await;
        let mut c = v1_config(&url);
        c.max_retries = 2;
        let w = InfluxWriter::new(&c).unwrap();
        let e = w.write_with_retries(BODY, 3, &mut b).await.unwrap_err();
        assert!(e.is_transient());
        assert_eq!(seen.lock().unwrap().len(), 3, "1 try + 2 retries");

        let (url, seen) = canned(vec![http("401 Unauthorized", &[], "")]).await;
        let w = InfluxWriter::new(&v1_config(&url)).unwrap();
        let e = w.write_with_retries(BODY, 3, &mut b).await.unwrap_err();
        assert!(matches!(
            e,
            WriteError::Fatal {
                status: Some(401),
                ..
            }
        ));
        assert_eq!(seen.lock().unwrap().len(), 1, "fatal is not retried");
    }

    #[tokio::test]
    async fn isolating_confirms_suspects_and_bisects_unnamed_rejections() {
        let conflict = r#"{"error":"partial write: field type conflict: input field \"v\" on measurement \"m\" is type float, already exists as type integer dropped=1"}"#;
        let beyond = r#"{"error":"partial write: points beyond retention policy dropped=1"}"#;
        let (url, seen) = canned(vec![
            // Full body: the conflict points at line 1.
            http("400 Bad Request", &[], conflict),
            // Line 1 alone: refused, so it is poison.
            http("400 Bad Request", &[], conflict),
            // Lines 0, 2: a reason naming no line.
            http("400 Bad Request", &[], beyond),
            // Halves: line 0 alone is fine.
            http("204 No Content", &[], ""),
            // line 2 alone is refused.
            http("400 Bad Request", &[], beyond),
        ])
        .await;
        let w = InfluxWriter::new(&v1_config(&url)).unwrap();
        let mut b = Backoff::with_seed(Duration::from_millis(1), Duration::from_millis(2), 1);
        let report = w.write_isolating(BODY, 3, &mut b).await.unwrap();
        assert_eq!(report.requests, 5);
        let lines: Vec<usize> = report.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![1, 2]);
        assert!(report.rejected[0].message.contains("field type conflict"));
        assert!(report.rejected[1].message.contains("beyond retention"));
        let bodies: Vec<Vec<u8>> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.body.clone())
            .collect();
        assert_eq!(bodies[0], BODY);
        assert_eq!(bodies[1], b"m,t=d v=2.5 4000\n");
        assert_eq!(bodies[2], b"m,t=c v=3i 3000\nm,t=e v=5i 5000\n");
        assert_eq!(bodies[3], b"m,t=c v=3i 3000\n");
        assert_eq!(bodies[4], b"m,t=e v=5i 5000\n");
    }

    #[tokio::test]
    async fn isolating_clears_suspects_that_were_written() {
        // Across shards a message can point at lines that were stored: the suspects are sent
        // on their own and the ones accepted there are not poison.
        let conflict = r#"{"error":"partial write: field type conflict: input field \"v\" on measurement \"m\" is type float, already exists as type integer dropped=1"}"#;
        let body = b"m v=1.5 1\nm v=2.5 2\nm v=3i 3\n";
        let (url, _) = canned(vec![
            http("400 Bad Request", &[], conflict), // all: suspects 0, 1
            http("400 Bad Request", &[], conflict), // 0, 1: dropped=1 of 2, halve
            http("400 Bad Request", &[], conflict), // 0 alone: poison
            http("204 No Content", &[], ""),        // 1 alone: fine
            http("204 No Content", &[], ""),        // rest: 2
        ])
        .await;
        let w = InfluxWriter::new(&v1_config(&url)).unwrap();
        let mut b = Backoff::with_seed(Duration::from_millis(1), Duration::from_millis(2), 1);
        let report = w.write_isolating(body, 3, &mut b).await.unwrap();
        let lines: Vec<usize> = report.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![0]);
        assert_eq!(report.requests, 5);
    }

    #[tokio::test]
    async fn isolating_retries_transient_and_returns_fatal() {
        let (url, seen) = canned(vec![
            http("503 Service Unavailable", &[], ""),
            http("204 No Content", &[], ""),
        ])
        .await;
        let w = InfluxWriter::new(&v1_config(&url)).unwrap();
        let mut b = Backoff::with_seed(Duration::from_millis(1), Duration::from_millis(2), 1);
        let report = w.write_isolating(BODY, 3, &mut b).await.unwrap();
        assert_eq!(
            report,
            WriteReport {
                rejected: vec![],
                requests: 2
            }
        );
        assert_eq!(seen.lock().unwrap().len(), 2);

        let (url, _) = canned(vec![http("401 Unauthorized", &[], "")]).await;
        let w = InfluxWriter::new(&v1_config(&url)).unwrap();
        assert!(matches!(
            w.write_isolating(BODY, 3, &mut b).await,
            Err(WriteError::Fatal {
                status: Some(401),
                ..
            })
        ));
    }

    #[tokio::test]
    async fn ensure_database_statements_and_errors() {
        let ok = http("200 OK", &[], r#"{"results":[{"statement_id":0}]}"#);
        let (url, seen) = canned(vec![ok.clone()]).await;
        let w = InfluxWriter::new(&v1_config(&url)).unwrap();
        w.ensure_database(
            "we\"ird\\db",
            Some(("r p", Some(Duration::from_secs(30 * 86_400)))),
        )
        .await
        .unwrap();
        let statements: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| {
                let url = Url::parse(&format!("http://x{}", s.target())).unwrap();
                assert_eq!(url.path(), "/query");
                url.query_pairs()
                    .find(|(k, _)| k == "q")
                    .map(|(_, v)| v.into_owned())
                    .unwrap()
            })
            .collect();
        assert_eq!(
            statements,
            [
                r#"CREATE DATABASE "we\"ird\\db""#,
                r#"CREATE RETENTION POLICY "r p" ON "we\"ird\\db" DURATION 30d REPLICATION 1"#,
            ]
        );

        let (url, _) = canned(vec![
            ok.clone(),
            http(
                "200 OK",
                &[],
                r#"{"results":[{"statement_id":0,"error":"retention policy already exists"}]}"#,
            ),
        ])
        .await;
        let w = InfluxWriter::new(&v1_config(&url)).unwrap();
        w.ensure_database("db", Some(("rp", Some(Duration::from_secs(7200)))))
            .await
            .expect("an existing policy is fine");

        let (url, _) = canned(vec![http(
            "200 OK",
            &[],
            r#"{"results":[{"statement_id":0,"error":"invalid name"}]}"#,
        )])
        .await;
        let w = InfluxWriter::new(&v1_config(&url)).unwrap();
        assert_eq!(
            w.ensure_database("a\\b", None).await,
            Err(EnsureError::Statement {
                statement: r#"CREATE DATABASE "a\\b""#.into(),
                message: "invalid name".into()
            })
        );

        let (url, _) = canned(vec![http(
            "401 Unauthorized",
            &[],
            r#"{"error":"authorization failed"}"#,
        )])
        .await;
        let w = InfluxWriter::new(&v1_config(&url)).unwrap();
        assert!(matches!(
            w.ensure_database("db", None).await,
            Err(EnsureError::Fatal {
                status: Some(401),
                ..
            })
        ));

        let (url, _) = canned(vec![http(
            "503 Service Unavailable",
            &[("Retry-After", "2")],
            "",
        )])
        .await;
        let w = InfluxWriter::new(&v1_config(&url)).unwrap();
        assert!(matches!(
            w.ensure_database("db", None).await,
            Err(EnsureError::Transient { retry_after: Some(d), .. }) if d == Duration::from_secs(2)
        ));
    }

    #[tokio::test]
    async fn ensure_database_is_a_no_op_on_v2() {
        let (url, seen) = canned(vec![http("500 Internal Server Error", &[], "")]).await;
        let mut c = v1_config(&url);
        c.api = Api::V2 {
            org: "o".into(),
            bucket: "b".into(),
            token: Secret::new("t"),
        };
        let w = InfluxWriter::new(&c).unwrap();
        w.ensure_database("b", Some(("rp", Some(Duration::from_secs(3600)))))
            .await
            .unwrap();
        assert!(seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn empty_body_sends_nothing() {
        let (url, seen) = canned(vec![http("500 Internal Server Error", &[], "")]).await;
        let w = InfluxWriter::new(&v1_config(&url)).unwrap();
        w.write(b"", 0).await.unwrap();
        assert!(seen.lock().unwrap().is_empty());
    }

    #[test]
    fn bad_urls_and_credentials_are_config_errors() {
        for url in [
            "",
            "127.0.0.1:8086",
            "ftp://h/",
            "http://h/?db=x",
            "http://",
        ] {
            assert!(
                matches!(
                    InfluxWriter::new(&v1_config(url)),
                    Err(ConfigError::Url { .. })
                ),
                "{url:?} accepted"
            );
        }
        let mut c = v1_config("http://h:8086");
        c.api = Api::V2 {
            org: "o".into(),
            bucket: "b".into(),
            token: Secret::new("bad\ntoken"),
        };
        assert!(matches!(
            InfluxWriter::new(&c),
            Err(ConfigError::Credential { what: "token", .. })
        ));
    }

    #[test]
    fn endpoints_keep_path_prefixes() {
        let base = parse_base("http://h:1/a/b/").unwrap();
        assert_eq!(endpoint(&base, "write").as_str(), "http://h:1/a/b/write");
        let base = parse_base("http://h:1").unwrap();
        assert_eq!(
            endpoint(&base, "api/v2/write").as_str(),
            "http://h:1/api/v2/write"
        );
    }
}
