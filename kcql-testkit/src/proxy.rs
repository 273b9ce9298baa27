//! A TCP proxy on loopback in front of a real service, for "the service is slow" tests: it
//! relays every connection to the upstream address unchanged and can hold each **response**
//! back for a while (the request is forwarded at once, so the service does the work; only
//! its answer is late, as when a database is overloaded or a network path stalls).
//!
//! A response is the upstream's first bytes after the client sent something on that
//! connection (HTTP/1.1 is request → response on a connection), so the proxy counts the
//! responses it delayed exactly, whatever the framing.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use kcql_testkit::proxy::DelayProxy;
//! let proxy = DelayProxy::start("127.0.0.1:8086").await;
//! let url = proxy.url(); // point the code under test at this
//! proxy.set_response_delay(Duration::from_secs(12)); // past the client's timeout
//! // … every response now comes 12 s late …
//! proxy.set_response_delay(Duration::ZERO);
//! assert!(proxy.delayed_responses() > 0);
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Bytes read at once from either side.
const CHUNK: usize = 64 * 1024;

/// What the accept loop and the connections share with the test.
#[derive(Debug)]
struct Shared {
    upstream: String,
    delay_ms: AtomicU64,
    responses: AtomicUsize,
    delayed: AtomicUsize,
}

/// A running proxy on `127.0.0.1:<port>`; dropping it closes the listener and every
/// connection.
#[derive(Debug)]
pub struct DelayProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl DelayProxy {
    /// Listens on a free loopback port and relays each connection to `upstream`
    /// (`host:port`), with no delay until [`set_response_delay`](Self::set_response_delay).
    /// Panics when it cannot listen.
    pub async fn start(upstream: &str) -> DelayProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("delay proxy cannot listen on 127.0.0.1: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("delay proxy has no address: {e}"));
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            delay_ms: AtomicU64::new(0),
            responses: AtomicUsize::new(0),
            delayed: AtomicUsize::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        DelayProxy { addr, shared, task }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`: the base URL of an HTTP service behind the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Holds every response that starts from now on back for `delay` (zero: relay at once).
    /// A response already held keeps the delay it started with.
    pub fn set_response_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Responses relayed (or being relayed) so far.
    pub fn responses(&self) -> usize {
        self.shared.responses.load(Ordering::SeqCst)
    }

    /// Responses held back so far (each for the delay in force when it started).
    pub fn delayed_responses(&self) -> usize {
        self.shared.delayed.load(Ordering::SeqCst)
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        // The accept loop owns the connections' tasks: aborting it drops them all.
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    connections.spawn(relay(client, Arc::clone(&shared)));
                }
                Err(e) => {
                    eprintln!("[delay proxy] accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Relays one client connection to a fresh upstream connection until either side closes.
async fn relay(client: TcpStream, shared: Arc<Shared>) {
    let upstream = match TcpStream::connect(&shared.upstream).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("[delay proxy] cannot reach {}: {e}", shared.upstream);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let awaiting = Arc::new(AtomicBool::new(false));
    let requests = forward_requests(client_read, upstream_write, Arc::clone(&awaiting));
    let responses = forward_responses(upstream_read, client_write, awaiting, &shared);
    tokio::join!(requests, responses);
}

/// Client → upstream, at once; marks that a response is due.
async fn forward_requests(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    awaiting: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        awaiting.store(true, Ordering::SeqCst);
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Upstream → client; the first bytes of each response wait for the delay in force.
async fn forward_responses(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    awaiting: Arc<AtomicBool>,
    shared: &Shared,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if awaiting.swap(false, Ordering::SeqCst) {
            shared.responses.fetch_add(1, Ordering::SeqCst);
            let delay = Duration::from_millis(shared.delay_ms.load(Ordering::SeqCst));
            if !delay.is_zero() {
                shared.delayed.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// An upstream that answers every line with `ok\n`.
    async fn echo_upstream() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(b"ok\n").await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn ask(stream: &mut TcpStream) -> Duration {
        let started = Instant::now();
        stream.write_all(b"hi\n").await.unwrap();
        let mut buf = [0u8; 3];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ok\n");
        started.elapsed()
    }

    #[tokio::test]
    async fn responses_are_relayed_and_held_back_while_a_delay_is_set() {
        let proxy = DelayProxy::start(&echo_upstream().await).await;
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        ask(&mut stream).await;
        proxy.set_response_delay(Duration::from_millis(300));
        assert!(ask(&mut stream).await >= Duration::from_millis(300));
        proxy.set_response_delay(Duration::ZERO);
        ask(&mut stream).await;
        assert_eq!((proxy.responses(), proxy.delayed_responses()), (3, 1));
    }
}
