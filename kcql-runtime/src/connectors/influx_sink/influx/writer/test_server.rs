//! A canned HTTP server for the writer's tests: answers each connection with the next of a
//! list of responses and records what it was sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::super::config::{Api, BatchLimits, InfluxConfig};
use super::super::Batcher;
use crate::config::Secret;

/// A request as the canned server saw it.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    /// Request line and headers.
    pub(super) head: String,
    /// The body as sent.
    pub(super) body: Vec<u8>,
}

impl Seen {
    /// The value of header `name` (any case).
    pub(super) fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
    /// The request target (path and query).
    pub(super) fn target(&self) -> String {
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
pub(super) async fn canned(responses: Vec<Option<String>>) -> (String, Arc<Mutex<Vec<Seen>>>) {
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

/// A raw HTTP/1.1 response with `status`, `headers` and `body`, closing the connection.
pub(super) fn http(status: &str, headers: &[(&str, &str)], body: &str) -> Option<String> {
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

/// A 1.x config for `url` (database `my db`, policy `rp`) with short timeouts and backoff.
pub(super) fn v1_config(url: &str) -> InfluxConfig {
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

/// A 2.x config for `url` writing to `bucket` of `org` with `token`, otherwise as
/// [`v1_config`].
pub(super) fn v2_config(url: &str, org: &str, bucket: &str, token: &str) -> InfluxConfig {
    let mut c = v1_config(url);
    c.api = Api::V2 {
        org: org.into(),
        bucket: bucket.into(),
        token: Secret::new(token),
    };
    c
}

/// Three lines; the second has a float `v` where the others have integers.
/// `body`'s lines (one per `\n`) as a batch: `batch(BODY).take().0` is what a writer writes.
pub(super) fn batch(body: &[u8]) -> Batcher {
    let mut b = Batcher::new(BatchLimits::default());
    for line in body.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        b.push_line(line, std::time::Instant::now());
    }
    b
}

pub(super) const BODY: &[u8] = b"m,t=c v=3i 3000\nm,t=d v=2.5 4000\nm,t=e v=5i 5000\n";
