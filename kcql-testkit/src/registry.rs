//! A stand-in Confluent Schema Registry on 127.0.0.1: it serves `GET /schemas/ids/{id}` with
//! the registry's JSON shapes (`{"schema": "…"}`, and `{"error_code": 40403, …}` with HTTP 404
//! for an id it does not hold), counts requests, and can answer HTTP 503 to its first requests
//! (a registry that is down for a while).
//!
//! No Schema Registry can be installed on this machine (Confluent's is not on Maven Central);
//! tests of the Confluent Avro path against a real one belong with the secured-Kafka work.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running stand-in registry; stops when dropped.
pub struct StubRegistry {
    url: String,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StubRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Answers {
    schemas: HashMap<u32, String>,
    /// Requests answered 503 before any schema is served.
    down_for: usize,
    requests: Arc<AtomicUsize>,
}

impl StubRegistry {
    /// Serves `schemas` (id → Avro schema JSON text) until dropped. The first `down_for`
    /// requests get HTTP 503.
    pub async fn start(schemas: &[(u32, &str)], down_for: usize) -> StubRegistry {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("stub registry cannot bind 127.0.0.1: {e}"));
        let url = match listener.local_addr() {
            Ok(addr) => format!("http://{addr}"),
            Err(e) => panic!("stub registry has no address: {e}"),
        };
        let requests = Arc::new(AtomicUsize::new(0));
        let answers = Arc::new(Answers {
            schemas: schemas.iter().map(|(id, s)| (*id, s.to_string())).collect(),
            down_for,
            requests: Arc::clone(&requests),
        });
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, Arc::clone(&answers)));
            }
        });
        StubRegistry {
            url,
            requests,
            task,
        }
    }

    /// Its base URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many requests it has had.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// One request per connection (`Connection: close`).
async fn serve(mut sock: TcpStream, answers: Arc<Answers>) {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let n = answers.requests.fetch_add(1, Ordering::SeqCst);
    let text = String::from_utf8_lossy(&head);
    let path = text.split_whitespace().nth(1).unwrap_or("");
    let schema = path
        .strip_prefix("/schemas/ids/")
        .and_then(|id| id.parse::<u32>().ok())
        .and_then(|id| answers.schemas.get(&id));
    let (status, body) = match schema {
        _ if n < answers.down_for => (
            "503 Service Unavailable",
            serde_json::json!({"error_code": 50301, "message": "down for a test"}),
        ),
        Some(s) => ("200 OK", serde_json::json!({ "schema": s })),
        None => (
            "404 Not Found",
            serde_json::json!({"error_code": 40403, "message": "Schema not found"}),
        ),
    };
    let body = body.to_string();
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = sock.write_all(response.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// `datum` in the Confluent wire format: magic byte 0, the big-endian schema `id`, the datum.
pub fn confluent_payload(id: u32, datum: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(5 + datum.len());
    payload.push(0);
    payload.extend_from_slice(&id.to_be_bytes());
    payload.extend_from_slice(datum);
    payload
}
