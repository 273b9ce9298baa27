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

use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running stand-in registry (axum); stops when dropped.
pub struct StubRegistry {
    url: String,
    requests: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StubRegistry {
    fn drop(&mut self) {
        // Closes the keep-alive connections (graceful shutdown); the abort closes the listener
        // at once.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
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
        // Every path and method goes to `answer`, which counts it.
        let app = axum::Router::new().fallback(answer).with_state(answers);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        StubRegistry {
            url,
            requests,
            stop: Some(stop),
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

async fn answer(State(answers): State<Arc<Answers>>, uri: Uri) -> Response {
    let n = answers.requests.fetch_add(1, Ordering::SeqCst);
    let schema = uri
        .path()
        .strip_prefix("/schemas/ids/")
        .and_then(|id| id.parse::<u32>().ok())
        .and_then(|id| answers.schemas.get(&id));
    let (status, body) = match schema {
        _ if n < answers.down_for => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error_code": 50301, "message": "down for a test"}),
        ),
        Some(s) => (StatusCode::OK, serde_json::json!({ "schema": s })),
        None => (
            StatusCode::NOT_FOUND,
            serde_json::json!({"error_code": 40403, "message": "Schema not found"}),
        ),
    };
    (
        status,
        [(
            header::CONTENT_TYPE,
            "application/vnd.schemaregistry.v1+json",
        )],
        body.to_string(),
    )
        .into_response()
}

/// `datum` in the Confluent wire format: magic byte 0, the big-endian schema `id`, the datum.
pub fn confluent_payload(id: u32, datum: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(5 + datum.len());
    payload.push(0);
    payload.extend_from_slice(&id.to_be_bytes());
    payload.extend_from_slice(datum);
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_schemas_after_being_down_and_stops_when_dropped() {
        let registry = StubRegistry::start(&[(7, r#""string""#)], 1).await;
        let client = reqwest::Client::new();
        let get = |path: &str| client.get(format!("{}{path}", registry.url())).send();

        let down = get("/schemas/ids/7").await.unwrap();
        assert_eq!(down.status(), 503);
        let body: serde_json::Value = down.json().await.unwrap();
        assert_eq!(body["error_code"], 50301);

        let found = get("/schemas/ids/7").await.unwrap();
        assert_eq!(found.status(), 200);
        assert_eq!(
            found.headers()["content-type"],
            "application/vnd.schemaregistry.v1+json"
        );
        let body: serde_json::Value = found.json().await.unwrap();
        assert_eq!(body["schema"], r#""string""#);

        for path in ["/schemas/ids/8", "/schemas/ids/x", "/subjects"] {
            let missing = get(path).await.unwrap();
            assert_eq!(missing.status(), 404, "{path}");
            let body: serde_json::Value = missing.json().await.unwrap();
            assert_eq!(body["error_code"], 40403, "{path}");
        }
        assert_eq!(registry.requests(), 5);

        let url = registry.url().to_string();
        drop(registry);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let after = client.get(format!("{url}/schemas/ids/7")).send().await;
        assert!(after.is_err(), "still answering after drop: {after:?}");
    }
}
