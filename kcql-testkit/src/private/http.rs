//! The HTTP status probe of the private services' health checks: reqwest, no connection pool
//! (each probe is a fresh connection, like a first client), no proxy (loopback), 2 s deadline.

use std::time::Duration;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The status code of `GET <path>` on `127.0.0.1:<port>`, or what went wrong.
pub(crate) async fn status(port: u16, path: &str) -> Result<u16, String> {
    let client = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .pool_max_idle_per_host(0)
        .no_proxy()
        .build()
        .map_err(|e| format!("GET {path}: cannot build an HTTP client: {e}"))?;
    match client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
    {
        Ok(response) => Ok(response.status().as_u16()),
        Err(e) if e.is_timeout() => Err(format!("GET {path}: no answer within {PROBE_TIMEOUT:?}")),
        Err(e) => Err(format!("GET {path}: {}", chain(&e))),
    }
}

/// `e` and its sources, `: `-separated (reqwest's own message names only the URL).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_the_status_or_why_there_is_none() {
        let app = axum::Router::new().route(
            "/ping",
            axum::routing::get(|| async { axum::http::StatusCode::NO_CONTENT }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        assert_eq!(status(port, "/ping").await, Ok(204));
        assert_eq!(status(port, "/nope").await, Ok(404));
        server.abort();
        let _ = server.await;

        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = free.local_addr().unwrap().port();
        drop(free);
        let err = status(closed, "/ping").await.unwrap_err();
        assert!(err.starts_with("GET /ping: "), "{err}");
        assert!(err.to_lowercase().contains("refused"), "{err}");
    }
}
