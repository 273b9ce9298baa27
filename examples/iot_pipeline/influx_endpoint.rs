//! A tiny HTTP endpoint in front of InfluxDB's 1.x API, between the sink and the database:
//!
//! * **file mode** (no InfluxDB answers): accepts `POST /write` and appends the line protocol
//!   to a file, answers `/ping` and `/query` like an empty InfluxDB;
//! * **proxy mode**: forwards every request to the real InfluxDB and relays its answer.
//!
//! Either way every point InfluxDB (or the file) accepted is recorded with the wall-clock time
//! the write was acknowledged: the end of the pipeline, for the latency figures and the table.
//! It speaks just enough HTTP/1.1 for the sink's client (keep-alive, `Content-Length` bodies,
//! gzip request bodies).

use std::collections::BTreeMap;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

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
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                let _ = serve_connection(stream, shared).await;
            });
        }
    });
    Ok((format!("http://{addr}"), log))
}

struct Shared {
    backend: Backend,
    log: Arc<WriteLog>,
    client: reqwest::Client,
    file_lock: tokio::sync::Mutex<()>,
}

/// One parsed request.
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    fn query_param(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| v.to_string())
        })
    }
}

struct Response {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let Some(request) = read_request(&mut reader).await? else {
            return Ok(());
        };
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let response = handle(&shared, request).await;
        let reason = match response.status {
            200 => "OK",
            204 => "No Content",
            400 => "Bad Request",
            404 => "Not Found",
            _ => "Status",
        };
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Length: {}\r\n",
            response.status,
            response.body.len()
        );
        if let Some(ct) = &response.content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        head.push_str(if close {
            "Connection: close\r\n\r\n"
        } else {
            "Connection: keep-alive\r\n\r\n"
        });
        write.write_all(head.as_bytes()).await?;
        write.write_all(&response.body).await?;
        write.flush().await?;
        if close {
            return Ok(());
        }
    }
}

async fn read_request(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<Request>> {
    use tokio::io::AsyncBufReadExt;
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).await? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await?;
    Ok(Some(Request {
        method,
        target,
        headers,
        body,
    }))
}

async fn handle(shared: &Shared, request: Request) -> Response {
    let is_write = request.method == "POST" && request.path().ends_with("/write");
    let response = match &shared.backend {
        Backend::Proxy(base) => forward(&shared.client, base, &request).await,
        Backend::File(path) => answer_locally(shared, path, &request).await,
    };
    if is_write && (200..300).contains(&response.status) {
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
        .header("content-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    if gzip {
        let mut out = String::new();
        let _ = flate2::read::GzDecoder::new(&request.body[..]).read_to_string(&mut out);
        out
    } else {
        String::from_utf8_lossy(&request.body).into_owned()
    }
}

async fn answer_locally(shared: &Shared, path: &PathBuf, request: &Request) -> Response {
    let empty = |status| Response {
        status,
        content_type: None,
        body: Vec::new(),
    };
    match (request.method.as_str(), request.path()) {
        (_, "/ping") => empty(204),
        ("POST", "/write") => {
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
                Ok(()) => empty(204),
                Err(_) => empty(500),
            }
        }
        (_, "/query") => Response {
            status: 200,
            content_type: Some("application/json".into()),
            body: br#"{"results":[{"statement_id":0}]}"#.to_vec(),
        },
        _ => empty(404),
    }
}

async fn forward(client: &reqwest::Client, base: &str, request: &Request) -> Response {
    let url = format!("{}{}", base.trim_end_matches('/'), request.target);
    let method =
        reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut builder = client.request(method, url).body(request.body.clone());
    for (k, v) in &request.headers {
        let lower = k.to_ascii_lowercase();
        if !matches!(
            lower.as_str(),
            "host" | "content-length" | "connection" | "transfer-encoding"
        ) {
            builder = builder.header(k, v);
        }
    }
    match builder.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let content_type = r
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = r.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            Response {
                status,
                content_type,
                body,
            }
        }
        // The sink sees a 503: transient, retried.
        Err(e) => Response {
            status: 503,
            content_type: Some("text/plain".into()),
            body: format!("proxy: {e}").into_bytes(),
        },
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
}
