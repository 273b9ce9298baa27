//! The HTTP side of the operations endpoint: axum routes served on hyper's HTTP/1.1
//! connections.
//!
//! * `GET /metrics`: `200`, Prometheus text (`text/plain; version=0.0.4; charset=utf-8`);
//! * `GET /health`: `200` when [`Health::is_healthy`], else `503`; JSON ([`Health::to_json`]);
//! * any other path: `404`; any other method: `405` with `Allow: GET, HEAD` (`HEAD` is
//!   answered like `GET`, without the body).
//!
//! One request per connection (`Connection: close`), at most [`MAX_CONNECTIONS`] open at once:
//! a semaphore permit is taken *before* accepting, so at the limit new connections wait in the
//! kernel's listen backlog instead of costing a task and a socket each. A client has
//! [`HEADER_READ_TIMEOUT`] to send its request head, which bounds how long an idle connection
//! holds a permit. When `accept` fails (e.g. `EMFILE`: out of file descriptors, which fails
//! every accept at once) the loop pauses 1 ms, doubling up to 1 s, back to 1 ms after the next
//! success, and logs at most one line a second (`accept::AcceptBackoff`); it keeps serving once
//! accepts succeed again. On shutdown the endpoint stops accepting, lets the exchanges in
//! flight finish (at most [`DRAIN_TIMEOUT`]) and returns.
//!
//! Why a connection limit rather than tower's `ConcurrencyLimitLayer`: the handlers answer from
//! memory at once, so requests in flight are never the scarce resource; open sockets (and the
//! task behind each) are, and a request limit does not bound those.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::Health;
use crate::metrics::Registry;
use crate::shutdown::Shutdown;
use accept::{Accept, AcceptBackoff};

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 32;

/// How long a client has to send its request head before the connection is closed.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`Endpoint::serve`] waits, after shutdown fired, for exchanges in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

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

    /// Serves until `shutdown` fires, then finishes the exchanges in flight and returns.
    pub async fn serve(self, shutdown: Shutdown) {
        let app = routes(self.registry, self.health);
        serve_connections(self.listener, app, MAX_CONNECTIONS, shutdown).await;
    }
}

/// What the handlers read.
#[derive(Clone)]
struct Sources {
    registry: Arc<Registry>,
    health: Health,
}

fn routes(registry: Arc<Registry>, health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics).fallback(wrong_method))
        .route("/health", get(health_status).fallback(wrong_method))
        .fallback(unknown_path)
        .with_state(Sources { registry, health })
}

async fn metrics(State(sources): State<Sources>) -> Response {
    (
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        sources.registry.render(),
    )
        .into_response()
}

async fn health_status(State(sources): State<Sources>) -> Response {
    let status = if sources.health.is_healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        sources.health.to_json(),
    )
        .into_response()
}

async fn unknown_path(method: Method) -> Response {
    if method == Method::GET || method == Method::HEAD {
        (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain")],
            "not found: try /metrics or /health\n",
        )
            .into_response()
    } else {
        wrong_method().await
    }
}

async fn wrong_method() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [
            (header::CONTENT_TYPE, "text/plain"),
            (header::ALLOW, "GET, HEAD"),
        ],
        "only GET is served\n",
    )
        .into_response()
}

/// Accepts connections from `listener` while fewer than `limit` are open, serving each with
/// `app`, until `shutdown` fires; then waits (at most [`DRAIN_TIMEOUT`]) for the open ones.
async fn serve_connections(
    mut listener: impl Accept,
    app: Router,
    limit: usize,
    shutdown: Shutdown,
) {
    let slots = Arc::new(Semaphore::new(limit));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(false);
    let mut stop = shutdown;
    let mut backoff = AcceptBackoff::default();
    loop {
        let slot = tokio::select! {
            _ = stop.wait() => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // never closed
            },
        };
        let stream = tokio::select! {
            _ = stop.wait() => break,
            accepted = listener.accept() => match accepted {
                Ok(stream) => {
                    backoff.succeeded();
                    stream
                }
                Err(e) => {
                    // E.g. out of file descriptors: every accept fails at once until one is
                    // freed, so pause (the permit is released meanwhile) instead of spinning.
                    drop(slot);
                    let after = backoff.failed(std::time::Instant::now());
                    if let Some(errors) = after.log {
                        tracing::warn!(
                            errors,
                            pause = ?after.pause,
                            "endpoint: cannot accept connections for /metrics and /health: {e}"
                        );
                    }
                    tokio::select! {
                        _ = stop.wait() => break,
                        _ = tokio::time::sleep(after.pause) => continue,
                    }
                }
            },
        };
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors are the client's (bad request head, reset, header timeout): nothing to do.
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("endpoint: connections still open after {DRAIN_TIMEOUT:?}; leaving them");
    }
}

mod accept;
#[cfg(test)]
mod tests;
