//! An in-test Confluent Schema Registry on 127.0.0.1 implementing the documented REST subset
//! the runtime uses, with the registry's JSON shapes and `error_code`s:
//! `GET /schemas/ids/{id}` (`{"schema": "…"}`; HTTP 404 with `error_code` 40403 for an id it
//! does not hold) and `POST /subjects/{subject}/versions` (`{"schema": "…"}` in, `{"id": N}`
//! out; the same schema under the same subject keeps its id; 42201 for a body without a
//! schema). It counts requests, can answer HTTP 503 to its first requests (a registry down
//! for a while), can require HTTP basic auth (401, `error_code` 40101, without it), can be
//! started on an address chosen before (a registry that comes up after its clients), and
//! tells what was registered.
//!
//! No Schema Registry could be installed on this machine: Confluent's is not on Maven
//! Central, Apicurio Registry publishes no runnable jar there (`apicurio-registry-app` has no
//! `runner` classifier), and Karapace is not on PyPI.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running stand-in registry (axum); stops when dropped.
pub struct StubRegistry {
    url: String,
    requests: Arc<AtomicUsize>,
    store: Arc<Mutex<Store>>,
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

/// What the registry holds: schemas by id, and (subject, schema) → id for registrations.
#[derive(Default)]
struct Store {
    schemas: HashMap<u32, String>,
    registered: Vec<(String, String, u32)>,
    /// The `Authorization` header of every request (`None`: absent).
    authorizations: Vec<Option<String>>,
}

struct Answers {
    store: Arc<Mutex<Store>>,
    /// Requests answered 503 before any schema is served.
    down_for: usize,
    /// The `Authorization` header value every request must carry, when set.
    auth: Option<String>,
    requests: Arc<AtomicUsize>,
}

/// How to start a [`StubRegistry`].
#[derive(Default, Clone)]
pub struct StubOptions {
    /// Schemas served from the start (id → Avro schema JSON text).
    pub schemas: Vec<(u32, String)>,
    /// The first this many requests get HTTP 503.
    pub down_for: usize,
    /// `(user, password)` every request must send as HTTP basic auth.
    pub basic_auth: Option<(String, String)>,
    /// Where to listen (default: a free port on 127.0.0.1).
    pub addr: Option<SocketAddr>,
}

/// A free port on 127.0.0.1 for a registry to be started on later (the port is released
/// when this returns; another process could take it in between, which tests accept).
pub fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("bound socket has no address: {e}"))
}

impl StubRegistry {
    /// Serves `schemas` (id → Avro schema JSON text) until dropped. The first `down_for`
    /// requests get HTTP 503.
    pub async fn start(schemas: &[(u32, &str)], down_for: usize) -> StubRegistry {
        StubRegistry::start_with(StubOptions {
            schemas: schemas.iter().map(|(id, s)| (*id, s.to_string())).collect(),
            down_for,
            ..StubOptions::default()
        })
        .await
    }

    /// Serves with `options` until dropped.
    pub async fn start_with(options: StubOptions) -> StubRegistry {
        let addr = options
            .addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("stub registry cannot bind {addr}: {e}"));
        let url = match listener.local_addr() {
            Ok(addr) => format!("http://{addr}"),
            Err(e) => panic!("stub registry has no address: {e}"),
        };
        let requests = Arc::new(AtomicUsize::new(0));
        let store = Arc::new(Mutex::new(Store {
            schemas: options.schemas.into_iter().collect(),
            ..Store::default()
        }));
        let auth = options
            .basic_auth
            .map(|(user, password)| basic_auth_header(&user, &password));
        let answers = Arc::new(Answers {
            store: Arc::clone(&store),
            down_for: options.down_for,
            auth,
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
            store,
            stop: Some(stop),
            task,
        }
    }

    /// What was registered, in order: `(subject, schema, id)`.
    pub fn registered(&self) -> Vec<(String, String, u32)> {
        self.lock().registered.clone()
    }

    /// The schema registered or served under `id`.
    pub fn schema(&self, id: u32) -> Option<String> {
        self.lock().schemas.get(&id).cloned()
    }

    /// The `Authorization` header of every request so far, in order.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.lock().authorizations.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
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

/// The `Authorization` header value of HTTP basic auth: `Basic base64(user:password)`.
pub fn basic_auth_header(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let raw = format!("{user}:{password}");
    let mut out = String::from("Basic ");
    for chunk in raw.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn error(status: StatusCode, code: u32, message: &str) -> (StatusCode, serde_json::Value) {
    (
        status,
        serde_json::json!({"error_code": code, "message": message}),
    )
}

async fn answer(
    State(answers): State<Arc<Answers>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let n = answers.requests.fetch_add(1, Ordering::SeqCst);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut store = answers.store.lock().unwrap_or_else(PoisonError::into_inner);
    store.authorizations.push(authorization.clone());
    let path = uri.path();
    let registering = path
        .strip_prefix("/subjects/")
        .and_then(|rest| rest.strip_suffix("/versions"))
        .filter(|_| method == Method::POST);
    let (status, body) = if n < answers.down_for {
        error(StatusCode::SERVICE_UNAVAILABLE, 50301, "down for a test")
    } else if answers.auth.is_some() && authorization != answers.auth {
        error(StatusCode::UNAUTHORIZED, 40101, "Unauthorized")
    } else if let Some(subject) = registering {
        let subject = subject.to_string();
        let schema = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|b| b["schema"].as_str().map(str::to_string));
        match schema {
            None => error(StatusCode::UNPROCESSABLE_ENTITY, 42201, "Invalid schema"),
            Some(schema) => {
                let known = store
                    .registered
                    .iter()
                    .find(|(s, text, _)| *s == subject && *text == schema)
                    .map(|(_, _, id)| *id);
                let id = match known {
                    Some(id) => id,
                    None => {
                        let id = store.schemas.keys().max().map_or(1, |m| m + 1);
                        store.schemas.insert(id, schema.clone());
                        store.registered.push((subject, schema, id));
                        id
                    }
                };
                (StatusCode::OK, serde_json::json!({ "id": id }))
            }
        }
    } else {
        let schema = path
            .strip_prefix("/schemas/ids/")
            .and_then(|id| id.parse::<u32>().ok())
            .and_then(|id| store.schemas.get(&id));
        match schema {
            Some(s) => (StatusCode::OK, serde_json::json!({ "schema": s })),
            None => error(StatusCode::NOT_FOUND, 40403, "Schema not found"),
        }
    };
    drop(store);
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

    #[test]
    fn basic_auth_headers_are_rfc_7617() {
        assert_eq!(
            basic_auth_header("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic_auth_header("a", "b"), "Basic YTpi");
        assert_eq!(basic_auth_header("ab", "c"), "Basic YWI6Yw==");
    }

    #[tokio::test]
    async fn registers_schemas_once_per_subject_and_checks_credentials() {
        let registry = StubRegistry::start_with(StubOptions {
            basic_auth: Some(("u".into(), "p".into())),
            ..StubOptions::default()
        })
        .await;
        let client = reqwest::Client::new();
        let post = |subject: &str, body: serde_json::Value, auth: bool| {
            let mut r = client
                .post(format!("{}/subjects/{subject}/versions", registry.url()))
                .body(body.to_string());
            if auth {
                r = r.basic_auth("u", Some("p"));
            }
            r.send()
        };
        let refused = post("t-value", serde_json::json!({"schema": "\"long\""}), false)
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["error_code"], 40101);
        let mut ids = Vec::new();
        for (subject, schema) in [
            ("t-value", "\"long\""),
            ("t-value", "\"long\""),
            ("t-key", "\"string\""),
        ] {
            let ok = post(subject, serde_json::json!({ "schema": schema }), true)
                .await
                .unwrap();
            assert_eq!(ok.status(), 200);
            let body: serde_json::Value = ok.json().await.unwrap();
            ids.push(body["id"].as_u64().unwrap());
        }
        assert_eq!(ids, vec![1, 1, 2]);
        assert_eq!(registry.schema(2).as_deref(), Some("\"string\""));
        let invalid = post("t-value", serde_json::json!({}), true).await.unwrap();
        assert_eq!(invalid.status(), 422);
        assert_eq!(registry.authorizations()[0], None);
        assert_eq!(registry.authorizations()[1].as_deref(), Some("Basic dTpw"));
    }
}
