use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::endpoint::ComponentState;

async fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// An endpoint on a free loopback port, serving with `limit` connections until the returned
/// signal fires.
async fn start(
    limit: usize,
) -> (
    SocketAddr,
    Arc<Registry>,
    Health,
    Shutdown,
    tokio::task::JoinHandle<()>,
) {
    let registry = Arc::new(Registry::default());
    let health = Health::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let app = routes(Arc::clone(&registry), health.clone());
    let server = tokio::spawn(serve_connections(listener, app, limit, shutdown.clone()));
    (addr, registry, health, shutdown, server)
}

#[tokio::test]
async fn serves_metrics_and_health() {
    let registry = Arc::new(Registry::default());
    registry.counter("kcql_test_total", "t", &[]).add(7);
    let health = Health::default();
    let endpoint = Endpoint::bind("127.0.0.1:0", Arc::clone(&registry), health.clone())
        .await
        .unwrap();
    let addr = endpoint.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let server = tokio::spawn(endpoint.serve(shutdown.clone()));

    let metrics = get(addr, "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("kcql_test_total 7\n"), "{metrics}");

    health.set("sink", ComponentState::Starting);
    assert!(get(addr, "/health").await.starts_with("HTTP/1.1 503"));
    health.set(
        "sink",
        ComponentState::Degraded("InfluxDB unreachable".into()),
    );
    let ok = get(addr, "/health").await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains("InfluxDB unreachable"), "{ok}");
    health.set("sink", ComponentState::Failed("auth".into()));
    assert!(get(addr, "/health").await.starts_with("HTTP/1.1 503"));
    assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404"));

    shutdown.trigger();
    server.await.unwrap();
}

#[tokio::test]
async fn content_types_unknown_paths_and_wrong_methods() {
    let (addr, registry, health, shutdown, server) = start(MAX_CONNECTIONS).await;
    registry.counter("kcql_test_total", "t", &[]).add(1);
    health.set("sink", ComponentState::Running);
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{addr}{path}");

    let metrics = client.get(url("/metrics?x=1")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert_eq!(metrics.headers()["content-type"], PROMETHEUS_TEXT);
    assert_eq!(metrics.headers()["connection"], "close");
    assert!(metrics
        .text()
        .await
        .unwrap()
        .contains("kcql_test_total 1\n"));

    let health_answer = client.get(url("/health")).send().await.unwrap();
    assert_eq!(health_answer.status(), 200);
    assert_eq!(health_answer.headers()["content-type"], "application/json");
    let body: serde_json::Value = health_answer.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["components"]["sink"]["state"], "running");

    let missing = client.get(url("/metrics/")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["content-type"], "text/plain");
    assert_eq!(
        missing.text().await.unwrap(),
        "not found: try /metrics or /health\n"
    );

    for (method, path) in [
        (reqwest::Method::POST, "/metrics"),
        (reqwest::Method::DELETE, "/health"),
        (reqwest::Method::PUT, "/nope"),
    ] {
        let r = client
            .request(method.clone(), url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method} {path}");
        assert_eq!(r.headers()["allow"], "GET, HEAD", "{method} {path}");
        assert_eq!(r.text().await.unwrap(), "only GET is served\n");
    }

    shutdown.trigger();
    server.await.unwrap();
}

#[tokio::test]
async fn at_the_connection_limit_new_connections_wait_for_a_free_slot() {
    let (addr, _registry, _health, shutdown, server) = start(1).await;
    // Holds the only slot: connected, request not sent yet.
    let idle = TcpStream::connect(addr).await.unwrap();
    let waiting = tokio::spawn(async move { get(addr, "/metrics").await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a second connection was served while the only slot was taken"
    );

    drop(idle);
    let answer = tokio::time::timeout(Duration::from_secs(3), waiting)
        .await
        .expect("served once the slot is free")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    shutdown.trigger();
    server.await.unwrap();
}

#[tokio::test]
async fn shutdown_answers_the_request_in_flight_closes_idle_connections_and_returns() {
    let (addr, _registry, _health, shutdown, server) = start(MAX_CONNECTIONS).await;
    let _idle = TcpStream::connect(addr).await.unwrap();
    let mut in_flight = TcpStream::connect(addr).await.unwrap();
    in_flight
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    shutdown.trigger();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !server.is_finished(),
        "serve returned with a request in flight"
    );
    in_flight.write_all(b"\r\n").await.unwrap();
    let mut answer = String::new();
    in_flight.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Well before DRAIN_TIMEOUT and HEADER_READ_TIMEOUT: the idle connection was closed.
    tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("serve returns once shutdown fired")
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still listening after shutdown"
    );
}

/// A listener whose first `failures` accepts fail with `EMFILE` (too many open files); after
/// that it accepts from `inner`, or keeps failing when there is none. Counts every call.
struct FailingListener {
    inner: Option<TcpListener>,
    failures: usize,
    attempts: Arc<std::sync::atomic::AtomicUsize>,
}

impl Accept for FailingListener {
    async fn accept(&mut self) -> std::io::Result<TcpStream> {
        let n = self
            .attempts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // As a real accept would, give the other tasks a turn.
        tokio::task::yield_now().await;
        match &self.inner {
            Some(inner) if n >= self.failures => inner.accept().await.map(|(s, _)| s),
            _ => Err(std::io::Error::from_raw_os_error(24)),
        }
    }
}

/// The log lines written while `f` runs (every level), on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines_containing(&self, needle: &str) -> usize {
        let text = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        String::from_utf8_lossy(&text)
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }
}

/// Out of file descriptors, `accept` fails at once, again and again. The loop backs off (1 ms
/// doubling to 1 s: at most 12 attempts in 2 s; spinning would make millions, a fixed 50 ms
/// pause 40) and logs at most once per second of it.
#[tokio::test]
async fn accept_errors_back_off_and_are_logged_at_most_once_per_second() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = FailingListener {
        inner: None,
        failures: usize::MAX,
        attempts: Arc::clone(&attempts),
    };
    let shutdown = Shutdown::new();
    let app = routes(Arc::new(Registry::default()), Health::default());
    let server = tokio::spawn(serve_connections(
        listener,
        app,
        MAX_CONNECTIONS,
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    shutdown.trigger();
    server.await.unwrap();
    let attempts = attempts.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (2..20).contains(&attempts),
        "{attempts} accept attempts in 2 s"
    );
    let logged = log.lines_containing("accept");
    assert!(
        (1..=3).contains(&logged),
        "{logged} log lines about accept errors in 2 s"
    );
}

/// When the errors stop, the endpoint serves again: a client that connected during them is
/// answered.
#[tokio::test]
async fn after_accept_errors_stop_the_endpoint_serves_again() {
    let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = inner.local_addr().unwrap();
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = FailingListener {
        inner: Some(inner),
        failures: 8,
        attempts: Arc::clone(&attempts),
    };
    let health = Health::default();
    health.set("sink", ComponentState::Running);
    let shutdown = Shutdown::new();
    let app = routes(Arc::new(Registry::default()), health);
    let server = tokio::spawn(serve_connections(listener, app, 1, shutdown.clone()));
    for _ in 0..3 {
        let answer = get(addr, "/health").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    assert!(attempts.load(std::sync::atomic::Ordering::SeqCst) > 8);
    shutdown.trigger();
    server.await.unwrap();
}
