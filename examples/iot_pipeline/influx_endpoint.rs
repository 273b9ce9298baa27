//! A tiny HTTP endpoint in front of InfluxDB's 1.x API, between the sink and the database:
//!
//! * **file mode** (no InfluxDB answers): accepts `POST /write` and appends the line protocol
//!   to a file, answers `/ping` and `/query` like an empty InfluxDB;
//! * **proxy mode**: forwards every request to the real InfluxDB and relays its answer.
//!
//! Either way every point InfluxDB (or the file) accepted is recorded with the wall-clock time
//! the write was acknowledged: the end of the pipeline, for the latency figures and the table.
//! HTTP is axum's (on hyper: keep-alive, any body framing); gzip request bodies are
//! gunzipped for the record, and forwarded as they came.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use thiserror::Error;
use tokio::net::TcpListener;

/// Where accepted points go.
#[derive(Debug, Clone)]
pub enum Backend {
    /// Forward to this InfluxDB (base URL, e.g. `http://127.0.0.1:8086`).
    Proxy(String),
    /// Append to this line-protocol file.
    File(PathBuf),
}

/// One point as written, with when its write was acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenPoint {
    /// Measurement.
    pub measurement: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Numeric fields (others are left out).
    pub fields: BTreeMap<String, f64>,
    /// The point's time, epoch ms.
    pub time_ms: i64,
    /// Wall-clock time the write was acknowledged, epoch ms (fractional).
    pub acknowledged_ms: f64,
}

/// Every point accepted so far, in order.
#[derive(Debug, Default)]
pub struct WriteLog {
    points: Mutex<Vec<WrittenPoint>>,
}

impl WriteLog {
    /// A copy of every point accepted so far.
    pub fn points(&self) -> Vec<WrittenPoint> {
        self.points
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn extend(&self, new: Vec<WrittenPoint>) {
        self.points
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(new);
    }
}

/// Why the endpoint could not start.
#[derive(Debug, Error)]
pub enum EndpointError {
    /// Binding the listener failed.
    #[error("cannot listen on 127.0.0.1: {0}")]
    Bind(std::io::Error),
    /// The output file cannot be created.
    #[error("cannot create {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The current wall-clock time, epoch ms.
pub fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or_default()
}

/// Starts the endpoint on a free loopback port; returns its base URL and the log of accepted
/// points. It serves until the process exits.
pub async fn start(backend: Backend) -> Result<(String, Arc<WriteLog>), EndpointError> {
    if let Backend::File(path) = &backend {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| EndpointError::File {
                path: dir.display().to_string(),
                source,
            })?;
        }
        std::fs::write(path, b"").map_err(|source| EndpointError::File {
            path: path.display().to_string(),
            source,
        })?;
    }
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(EndpointError::Bind)?;
    let addr: SocketAddr = listener.local_addr().map_err(EndpointError::Bind)?;
    let log = Arc::new(WriteLog::default());
    let shared = Arc::new(Shared {
        backend,
        log: Arc::clone(&log),
        client: reqwest::Client::new(),
        file_lock: tokio::sync::Mutex::new(()),
    });
    // Every method and path goes to `handle`: the proxy forwards what it does not know.
    let app = axum::Router::new().fallback(handle).with_state(shared);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((format!("http://{addr}"), log))
}

struct Shared {
    backend: Backend,
    log: Arc<WriteLog>,
    client: reqwest::Client,
    file_lock: tokio::sync::Mutex<()>,
}

/// Largest request body taken (the sink's batches are far smaller).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One request, body read in full.
struct Request {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Request {
    fn query_param(&self, name: &str) -> Option<String> {
        let query = self.uri.query()?;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| v.to_string())
        })
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("request body: {e}")).into_response(),
    };
    let request = Request {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
    };
    let is_write = request.method == Method::POST && request.uri.path().ends_with("/write");
    let response = match &shared.backend {
        Backend::Proxy(base) => forward(&shared.client, base, &request).await,
        Backend::File(path) => answer_locally(&shared, path, &request).await,
    };
    if is_write && response.status().is_success() {
        let acknowledged_ms = now_ms();
        let body = decoded_body(&request);
        let precision = request.query_param("precision");
        shared
            .log
            .extend(parse_points(&body, precision.as_deref(), acknowledged_ms));
    }
    response
}

/// The request body, gunzipped when it says so.
fn decoded_body(request: &Request) -> String {
    let gzip = request
        .headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    if gzip {
        let mut out = String::new();
        let _ = flate2::read::GzDecoder::new(&request.body[..]).read_to_string(&mut out);
        out
    } else {
        String::from_utf8_lossy(&request.body).into_owned()
    }
}

async fn answer_locally(shared: &Shared, path: &PathBuf, request: &Request) -> Response {
    match (&request.method, request.uri.path()) {
        (_, "/ping") => StatusCode::NO_CONTENT.into_response(),
        (&Method::POST, "/write") => {
            let body = decoded_body(request);
            let _guard = shared.file_lock.lock().await;
            let mut text = body.into_bytes();
            if !text.ends_with(b"\n") {
                text.push(b'\n');
            }
            // Small appends: a blocking write is fine here.
            let appended = std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, &text));
            match appended {
                Ok(()) => StatusCode::NO_CONTENT.into_response(),
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
        (_, "/query") => (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"results":[{"statement_id":0}]}"#,
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn forward(client: &reqwest::Client, base: &str, request: &Request) -> Response {
    let target = request.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let url = format!("{}{target}", base.trim_end_matches('/'));
    let mut headers = request.headers.clone();
    for hop in [
        header::HOST,
        header::CONTENT_LENGTH,
        header::CONNECTION,
        header::TRANSFER_ENCODING,
    ] {
        headers.remove(hop);
    }
    let sent = client
        .request(request.method.clone(), url)
        .headers(headers)
        .body(request.body.clone())
        .send()
        .await;
    match sent {
        Ok(r) => {
            let status = r.status();
            let content_type = r.headers().get(header::CONTENT_TYPE).cloned();
            let body = r.bytes().await.unwrap_or_default();
            let mut response = Response::new(axum::body::Body::from(body));
            *response.status_mut() = status;
            if let Some(ct) = content_type {
                response.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            response
        }
        // The sink sees a 503: transient, retried.
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain")],
            format!("proxy: {e}"),
        )
            .into_response(),
    }
}

/// The points of a line-protocol body (`precision` as in `/write`: n, ns, u, ms, s; default ns).
pub fn parse_points(
    body: &str,
    precision: Option<&str>,
    acknowledged_ms: f64,
) -> Vec<WrittenPoint> {
    let per_ms: f64 = match precision.unwrap_or("ns") {
        "s" => 1e-3,
        "ms" => 1.0,
        "u" | "us" => 1e3,
        _ => 1e6,
    };
    influxdb_line_protocol::parse_lines(body)
        .filter_map(Result::ok)
        .map(|line| {
            let tags = line
                .series
                .tag_set
                .iter()
                .flatten()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let fields = line
                .field_set
                .iter()
                .filter_map(|(k, v)| {
                    let n = match v {
                        influxdb_line_protocol::FieldValue::F64(f) => *f,
                        influxdb_line_protocol::FieldValue::I64(i) => *i as f64,
                        influxdb_line_protocol::FieldValue::U64(u) => *u as f64,
                        _ => return None,
                    };
                    Some((k.to_string(), n))
                })
                .collect();
            WrittenPoint {
                measurement: line.series.measurement.to_string(),
                tags,
                fields,
                time_ms: line
                    .timestamp
                    .map(|t| (t as f64 / per_ms).round() as i64)
                    .unwrap_or_default(),
                acknowledged_ms,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_protocol_points_in_milliseconds() {
        let body =
            "sensor,id=dev-1,poweredBy=kcql avg_temp=21.5,n=20i,window_start=1000i 3000000000\n";
        let p = parse_points(body, None, 5.0);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].measurement, "sensor");
        assert_eq!(p[0].tags["id"], "dev-1");
        assert_eq!(p[0].fields["n"], 20.0);
        assert_eq!(p[0].fields["avg_temp"], 21.5);
        assert_eq!(p[0].time_ms, 3000);
        assert_eq!(parse_points("m v=1 3\n", Some("s"), 0.0)[0].time_ms, 3000);
    }

    #[tokio::test]
    async fn the_file_endpoint_accepts_writes_like_influxdb() {
        let path = std::env::temp_dir()
            .join(format!("kcql-iot-endpoint-{}", std::process::id()))
            .join("out.lp");
        let (url, log) = start(Backend::File(path.clone())).await.unwrap();
        let client = reqwest::Client::new();
        let ping = client.get(format!("{url}/ping")).send().await.unwrap();
        assert_eq!(ping.status().as_u16(), 204);
        for i in 0..2 {
            let r = client
                .post(format!("{url}/write?db=iot&precision=ms"))
                .body(format!("sensor,id=d{i} v={i} 1000"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 204);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "sensor,id=d0 v=0 1000\nsensor,id=d1 v=1 1000\n");
        let points = log.points();
        assert_eq!(points.len(), 2);
        assert_eq!(points[1].tags["id"], "d1");
        assert_eq!(points[1].time_ms, 1000);
        assert!(points[1].acknowledged_ms > 0.0);
    }

    #[tokio::test]
    async fn the_proxy_forwards_requests_and_relays_answers() {
        // A stand-in InfluxDB: 204 to writes (recording them), JSON to anything else.
        type Seen = Arc<Mutex<Vec<(String, Option<String>, Vec<u8>)>>>;
        let seen: Seen = Arc::default();
        let upstream = axum::Router::new()
            .fallback(
                |State(seen): State<Seen>,
                 method: Method,
                 uri: Uri,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let encoding = headers
                        .get(header::CONTENT_ENCODING)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    seen.lock()
                        .unwrap()
                        .push((format!("{method} {uri}"), encoding, body.to_vec()));
                    if uri.path() == "/write" {
                        StatusCode::NO_CONTENT.into_response()
                    } else {
                        (
                            StatusCode::BAD_REQUEST,
                            [(header::CONTENT_TYPE, "application/json")],
                            r#"{"error":"nope"}"#,
                        )
                            .into_response()
                    }
                },
            )
            .with_state(Arc::clone(&seen));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, upstream).await });

        let (url, log) = start(Backend::Proxy(upstream_url)).await.unwrap();
        let client = reqwest::Client::new();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"sensor,id=d1 v=1 2000").unwrap();
        let gzipped = gz.finish().unwrap();
        let write = client
            .post(format!("{url}/write?db=iot&precision=ms"))
            .header("Content-Encoding", "gzip")
            .body(gzipped.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(write.status().as_u16(), 204);
        let query = client.get(format!("{url}/query?q=x")).send().await.unwrap();
        assert_eq!(query.status().as_u16(), 400);
        assert_eq!(query.headers()["content-type"], "application/json");
        assert_eq!(query.text().await.unwrap(), r#"{"error":"nope"}"#);

        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, "POST /write?db=iot&precision=ms");
        assert_eq!(seen[0].1.as_deref(), Some("gzip"));
        assert_eq!(seen[0].2, gzipped, "the body is forwarded as it came");
        assert_eq!(seen[1].0, "GET /query?q=x");
        let points = log.points();
        assert_eq!(points.len(), 1, "only the accepted write is recorded");
        assert_eq!(points[0].tags["id"], "d1");
        assert_eq!(points[0].time_ms, 2000);
    }
}
