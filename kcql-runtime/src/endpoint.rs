//! The operations endpoint: `GET /metrics` (Prometheus text) and `GET /health` (JSON).
//!
//! A deliberately small HTTP/1.1 server on tokio: one request per connection, `GET` only,
//! no body. `/health` answers `200` when every
//! registered component is `running` or `degraded` (working, but e.g. retrying a sink that is
//! down), `503` when one is `starting`, `failed` or `stopped`; the body lists each component's
//! state and reason.

use std::net::SocketAddr;
use std::sync::Arc;

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub use crate::component::{ComponentState, Health};
use crate::metrics::Registry;
use crate::shutdown::Shutdown;

/// The endpoint could not start.
#[derive(Debug, Error)]
#[error("cannot listen on {addr} for /metrics and /health: {source}")]
pub struct EndpointError {
    /// The address asked for.
    pub addr: String,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// A bound, not yet serving endpoint (bind first so a port clash is reported at start-up).
#[derive(Debug)]
pub struct Endpoint {
    listener: TcpListener,
    registry: Arc<Registry>,
    health: Health,
}

impl Endpoint {
    /// Binds `addr` (e.g. `127.0.0.1:9464`; port 0 picks a free one).
    pub async fn bind(
        addr: &str,
        registry: Arc<Registry>,
        health: Health,
    ) -> Result<Self, EndpointError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| EndpointError {
                addr: addr.to_string(),
                source,
            })?;
        Ok(Endpoint {
            listener,
            registry,
            health,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `shutdown` fires.
    pub async fn serve(self, shutdown: Shutdown) {
        let mut stop = shutdown.clone();
        loop {
            tokio::select! {
                _ = stop.wait() => return,
                accepted = self.listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let registry = Arc::clone(&self.registry);
                    let health = self.health.clone();
                    tokio::spawn(async move {
                        let _ = answer(stream, &registry, &health).await;
                    });
                }
            }
        }
    }
}

async fn answer(
    mut stream: TcpStream,
    registry: &Registry,
    health: &Health,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    // Read the request head (bounded: 16 KiB, 5 s).
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() > 16 * 1024 {
                break;
            }
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return Ok(());
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("").split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            registry.render(),
        ),
        ("GET", "/health") => {
            let status = if health.is_healthy() {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            (status, "application/json", health.to_json())
        }
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "not found: try /metrics or /health\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET is served\n".to_string(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
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
}
