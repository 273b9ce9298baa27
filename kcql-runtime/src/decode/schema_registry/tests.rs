//! The registry client against a stand-in: a tiny HTTP/1.1 server on 127.0.0.1 that serves
//! `GET /schemas/ids/{id}` with the Confluent Schema Registry's JSON shapes. (No real Schema
//! Registry runs on this machine; this is the only test of the registry path.)

use super::*;
use crate::decode::{decode_with, Format};
use crate::value::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SENSOR: &str = r#"{"type":"record","name":"Sensor","namespace":"iot","fields":[{"name":"id","type":"string"},{"name":"temperature","type":"double"},{"name":"humidity","type":"int"},{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}]}"#;

/// Schema id → (HTTP status, body); `None` for an id that hangs without answering.
fn answer(id: u32) -> Option<(u16, String)> {
    let schema = |s: &str| serde_json::json!({ "schema": s }).to_string();
    Some(match id {
        1 => (200, schema(SENSOR)),
        2 => (
            200,
            serde_json::json!({"schemaType": "PROTOBUF", "schema": "syntax = \"proto3\"; message M {}"})
                .to_string(),
        ),
        3 => (
            500,
            r#"{"error_code":50001,"message":"Error in the backend data store"}"#.into(),
        ),
        4 => (200, schema(r#""Nope""#)),
        5 => (
            200,
            serde_json::json!({"schema": "\"iot.Other\"", "references": [
                {"name": "iot.Other", "subject": "other-value", "version": 1}]})
            .to_string(),
        ),
        6 => (200, "<html>not json</html>".into()),
        7 => return None,
        8 => (200, serde_json::json!({"schemaType": "AVRO", "schema": "\"string\""}).to_string()),
        _ => (
            404,
            r#"{"error_code":40403,"message":"Schema not found"}"#.into(),
        ),
    })
}

struct Stub {
    url: String,
    requests: Arc<AtomicUsize>,
    /// The head of every request, in arrival order.
    heads: Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves until dropped; one request per connection (`Connection: close`).
async fn stub() -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = heads.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let counter = counter.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let head = String::from_utf8_lossy(&buf);
                seen.lock().unwrap().push(head.to_string());
                let path = head.split_whitespace().nth(1).unwrap_or("");
                let (status, body) = match path.strip_prefix("/schemas/ids/") {
                    Some(id) => match id.parse::<u32>().map(answer) {
                        Ok(Some(a)) => a,
                        Ok(None) => {
                            // Hold the connection open without answering.
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            return;
                        }
                        Err(_) => (
                            404,
                            r#"{"error_code":404,"message":"HTTP 404 Not Found"}"#.into(),
                        ),
                    },
                    None => (
                        404,
                        r#"{"error_code":404,"message":"HTTP 404 Not Found"}"#.into(),
                    ),
                };
                let reason = match status {
                    200 => "OK",
                    404 => "Not Found",
                    _ => "Internal Server Error",
                };
                let response = format!(
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(response.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Stub {
        url,
        requests,
        heads,
        task,
    }
}

fn payload(id: u32, datum: &[u8]) -> Vec<u8> {
    [&[0u8][..], &id.to_be_bytes(), datum].concat()
}

fn sensor_datum() -> Vec<u8> {
    let mut d = vec![8];
    d.extend_from_slice(b"SB01");
    d.extend_from_slice(&25.3f64.to_le_bytes());
    d.push(80); // 40
                // ts: 1_700_000_000_000, zigzag varint.
    let mut z = 1_700_000_000_000u64 << 1;
    while z >= 0x80 {
        d.push((z as u8) | 0x80);
        z >>= 7;
    }
    d.push(z as u8);
    d
}

#[tokio::test]
async fn fetches_once_then_serves_from_the_cache() {
    let stub = stub().await;
    let registry =
        SchemaRegistry::with_timeout(format!("{}/", stub.url), Duration::from_secs(5)).unwrap();
    assert_eq!(registry.url(), stub.url, "trailing slash dropped");
    let msg = payload(1, &sensor_datum());

    assert!(registry.cached_schema_for(&msg).unwrap().is_none());
    let schema = registry.schema_for(&msg).await.unwrap();
    assert_eq!(schema.registry_id(), Some(1));
    let v = decode_with(Some(&msg), Format::ConfluentAvro, Some(&schema)).unwrap();
    assert_eq!(v.get("id"), Some(&Value::Str("SB01".into())));
    assert_eq!(v.get("temperature"), Some(&Value::Float(25.3)));
    assert_eq!(v.get("humidity"), Some(&Value::Int(40)));
    assert_eq!(v.get("ts"), Some(&Value::Int(1_700_000_000_000)));
    assert_eq!(stub.requests.load(Ordering::SeqCst), 1);

    // Second lookup of the same id: the cache, not the server.
    let again = registry.schema_for(&msg).await.unwrap();
    assert!(Arc::ptr_eq(&schema, &again));
    let hot = registry.cached_schema_for(&msg).unwrap().unwrap();
    assert!(Arc::ptr_eq(&schema, &hot));
    assert!(registry.cached(1).is_some());
    assert_eq!(stub.requests.load(Ordering::SeqCst), 1);

    // The schema fetched for id 1 refuses a payload carrying id 8.
    let other = payload(8, &[0]);
    assert!(matches!(
        decode_with(Some(&other), Format::ConfluentAvro, Some(&schema)),
        Err(crate::decode::DecodeError::Avro(
            AvroError::SchemaIdMismatch {
                payload: 8,
                schema: 1
            }
        ))
    ));
    // An explicit "schemaType": "AVRO" is fine.
    let s8 = registry.schema(8).await.unwrap();
    assert_eq!(
        s8.decode_confluent(&payload(8, &[4, b'h', b'i'])),
        Ok(Value::Str("hi".into()))
    );
    assert_eq!(stub.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn concurrent_misses_share_one_schema() {
    let stub = stub().await;
    let registry = Arc::new(SchemaRegistry::new(&stub.url).unwrap());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let r = registry.clone();
            tokio::spawn(async move { r.schema(1).await.unwrap() })
        })
        .collect();
    let mut schemas = Vec::new();
    for t in tasks {
        schemas.push(t.await.unwrap());
    }
    assert!(schemas.iter().all(|s| Arc::ptr_eq(s, &schemas[0])));
    let n = stub.requests.load(Ordering::SeqCst);
    assert!((1..=8).contains(&n));
    registry.schema(1).await.unwrap();
    assert_eq!(stub.requests.load(Ordering::SeqCst), n);
}

#[tokio::test]
async fn registry_errors() {
    let stub = stub().await;
    let registry = SchemaRegistry::new(&stub.url).unwrap();

    // Unknown id: the Confluent 404 with error code 40403; not cached, not transient.
    for expected_requests in [1, 2] {
        let e = registry.schema(999).await.unwrap_err();
        assert_eq!(
            e,
            RegistryError::UnknownId {
                id: 999,
                url: stub.url.clone()
            }
        );
        assert!(!e.is_transient());
        assert_eq!(stub.requests.load(Ordering::SeqCst), expected_requests);
    }

    let e = registry.schema(2).await.unwrap_err();
    assert_eq!(
        e,
        RegistryError::NotAvro {
            id: 2,
            schema_type: "PROTOBUF".into()
        }
    );

    let e = registry.schema(3).await.unwrap_err();
    assert_eq!(
        e,
        RegistryError::Http {
            id: 3,
            status: 500,
            error_code: Some(50001),
            message: "Error in the backend data store".into()
        }
    );
    assert!(e.is_transient());

    let e = registry.schema(4).await.unwrap_err();
    assert!(
        matches!(&e, RegistryError::Schema { id: 4, source: AvroSchemaError::Invalid(m) } if m.contains("Nope")),
        "{e}"
    );
    assert!(!e.is_transient());

    assert_eq!(
        registry.schema(5).await.unwrap_err(),
        RegistryError::References { id: 5 }
    );
    assert!(matches!(
        registry.schema(6).await.unwrap_err(),
        RegistryError::BadResponse { id: 6, .. }
    ));
    assert!(registry.cached(2).is_none() && registry.cached(3).is_none());

    // Bad payloads never reach the server.
    let before = stub.requests.load(Ordering::SeqCst);
    assert_eq!(
        registry.schema_for(b"{\"a\":1}").await.unwrap_err(),
        RegistryError::Payload(AvroError::BadMagic { byte: b'{' })
    );
    assert_eq!(
        registry.schema_for(&[0, 0, 1]).await.unwrap_err(),
        RegistryError::Payload(AvroError::ShortPayload { len: 3 })
    );
    assert!(matches!(
        registry.cached_schema_for(&[7, 0, 0, 0, 1]),
        Err(AvroError::BadMagic { byte: 7 })
    ));
    assert_eq!(stub.requests.load(Ordering::SeqCst), before);

    // A base URL that is not a registry: a plain 404 is an HTTP error, not an unknown id.
    let wrong = SchemaRegistry::new(format!("{}/nope", stub.url)).unwrap();
    assert!(matches!(
        wrong.schema(1).await.unwrap_err(),
        RegistryError::Http {
            status: 404,
            error_code: Some(404),
            ..
        }
    ));
}

#[tokio::test]
async fn unreachable_and_slow_registries_are_transient() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let registry = SchemaRegistry::new(format!("http://127.0.0.1:{port}")).unwrap();
    let e = registry.schema(1).await.unwrap_err();
    assert!(matches!(&e, RegistryError::Unreachable { .. }), "{e:?}");
    assert!(e.is_transient());

    // A registry that accepts the connection and never answers.
    let stub = stub().await;
    let registry = SchemaRegistry::with_timeout(&stub.url, Duration::from_millis(300)).unwrap();
    let started = std::time::Instant::now();
    let e = registry.schema(7).await.unwrap_err();
    assert!(matches!(&e, RegistryError::Unreachable { .. }), "{e:?}");
    assert!(e.is_transient());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(e.to_string().contains(&stub.url), "{e}");
}

#[test]
fn bad_urls_are_refused_up_front() {
    for url in ["not a url", "ftp://registry:21", ""] {
        assert!(
            matches!(SchemaRegistry::new(url), Err(RegistryError::BadUrl { .. })),
            "{url}"
        );
    }
    assert!(SchemaRegistry::new("https://registry.example:8081/base/").is_ok());
}

/// Credentials in the registry URL (Confluent's `basic.auth.credentials.source=URL`) are sent
/// as HTTP basic auth, and shown nowhere: not by `url()`, `Debug`, nor any error.
#[tokio::test]
async fn url_credentials_are_sent_but_never_shown() {
    let stub = stub().await;
    let with_credentials = stub.url.replace("http://", "http://user:hunter2@");
    let registry = SchemaRegistry::with_timeout(&with_credentials, Duration::from_secs(5)).unwrap();
    registry.schema(1).await.unwrap();
    let head = stub.heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(
        head.contains("authorization: basic dxnlcjpodw50zxiy"),
        "{head}"
    );
    let unknown = registry.schema(999).await.unwrap_err();
    let shown = format!("{} {registry:?} {unknown} {unknown:?}", registry.url());
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        shown.contains(&stub.url.replace("http://", "http://***@")),
        "{shown}"
    );

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down = SchemaRegistry::new(format!("http://user:hunter2@127.0.0.1:{port}")).unwrap();
    let unreachable = down.schema(1).await.unwrap_err();
    let shown = format!("{unreachable} {unreachable:?}");
    assert!(
        matches!(unreachable, RegistryError::Unreachable { .. }),
        "{shown}"
    );
    assert!(!shown.contains("hunter2"), "{shown}");

    for bad in [
        "ftp://user:hunter2@registry:21",
        "http://user:hunter2@registry:99999",
    ] {
        let e = SchemaRegistry::new(bad).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(matches!(e, RegistryError::BadUrl { .. }), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
