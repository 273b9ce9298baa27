//! InfluxDB 1.x and VictoriaMetrics helpers against the real services started by
//! `scripts/services.sh up` (InfluxDB 1.6.7 at `127.0.0.1:8086`, no auth; VictoriaMetrics at
//! `127.0.0.1:8428`).
//!
//! * [`require_influx`] / [`require_vm`] panic with "run scripts/services.sh up" when the
//!   service does not answer: a test never skips silently.
//! * [`unique_db`] gives a fresh database name; [`DropDatabase`] drops it when the test ends,
//!   even when an assertion failed.
//! * [`influxql`] runs a statement and returns InfluxDB's JSON; [`rows`] flattens a `SELECT`
//!   result into one JSON object per row.
//! * [`vm_force_flush`], [`vm_export`] and [`vm_wait_series`] read back what VictoriaMetrics
//!   stored (`m,host=a v=42` is stored as series `m_v{host="a"}`, millisecond timestamps).
//!
//! * [`influx_tls_url`], [`influx_tls_ca`], [`require_influx_tls`] and [`influxql_tls`]: the
//!   second InfluxDB 1.6.7, over HTTPS with a test CA (`127.0.0.1:8087`).
//!
//! Every helper panics with the address and the error when a request fails.

use std::time::{Duration, Instant};

use serde_json::Value;

/// Default InfluxDB 1.x URL. Override with `KCQL_TEST_INFLUX_URL` (see [`influx_url`]).
pub const INFLUX_URL: &str = "http://127.0.0.1:8086";

/// Environment variable that overrides [`INFLUX_URL`].
pub const INFLUX_URL_ENV: &str = "KCQL_TEST_INFLUX_URL";

/// Default VictoriaMetrics URL. Override with `KCQL_TEST_VM_URL` (see [`vm_url`]).
pub const VM_URL: &str = "http://127.0.0.1:8428";

/// Environment variable that overrides [`VM_URL`].
pub const VM_URL_ENV: &str = "KCQL_TEST_VM_URL";

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

fn env_or(var: &str, default: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v.trim().trim_end_matches('/').to_string(),
        _ => default.to_string(),
    }
}

/// The InfluxDB URL: `$KCQL_TEST_INFLUX_URL` if set and not empty, else [`INFLUX_URL`].
pub fn influx_url() -> String {
    env_or(INFLUX_URL_ENV, INFLUX_URL)
}

/// The VictoriaMetrics URL: `$KCQL_TEST_VM_URL` if set and not empty, else [`VM_URL`].
pub fn vm_url() -> String {
    env_or(VM_URL_ENV, VM_URL)
}

/// Default URL of the HTTPS InfluxDB 1.x (`scripts/services.sh up influxdb-tls`). Override
/// with `KCQL_TEST_INFLUX_TLS_URL` (see [`influx_tls_url`]).
pub const INFLUX_TLS_URL: &str = "https://127.0.0.1:8087";

/// Environment variable that overrides [`INFLUX_TLS_URL`].
pub const INFLUX_TLS_URL_ENV: &str = "KCQL_TEST_INFLUX_TLS_URL";

/// Environment variable that overrides [`influx_tls_ca`].
pub const INFLUX_TLS_CA_ENV: &str = "KCQL_TEST_INFLUX_TLS_CA";

/// The HTTPS InfluxDB's URL: `$KCQL_TEST_INFLUX_TLS_URL` if set, else [`INFLUX_TLS_URL`].
pub fn influx_tls_url() -> String {
    env_or(INFLUX_TLS_URL_ENV, INFLUX_TLS_URL)
}

/// The CA (PEM) that signed the HTTPS InfluxDB's certificate: `$KCQL_TEST_INFLUX_TLS_CA` if
/// set, else `<services dir>/influxdb-tls/tls/ca.pem` (made by `scripts/services.sh`).
pub fn influx_tls_ca() -> std::path::PathBuf {
    match std::env::var_os(INFLUX_TLS_CA_ENV) {
        Some(p) if !p.is_empty() => p.into(),
        _ => crate::private::services_root()
            .join("influxdb-tls")
            .join("tls")
            .join("ca.pem"),
    }
}

/// A client for the HTTPS InfluxDB, trusting only [`influx_tls_ca`]. Panics when the CA file
/// is missing or not PEM.
fn tls_client() -> reqwest::Client {
    let ca = influx_tls_ca();
    let pem = std::fs::read(&ca).unwrap_or_else(|e| {
        panic!(
            "HTTPS InfluxDB CA {} not readable: run scripts/services.sh up ({e})",
            ca.display()
        )
    });
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .unwrap_or_else(|e| panic!("{}: not a PEM CA bundle: {e}", ca.display()));
    certs
        .into_iter()
        .fold(reqwest::Client::builder(), |b, c| b.add_root_certificate(c))
        .tls_built_in_root_certs(false)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap_or_else(|e| panic!("cannot build an HTTPS client: {e}"))
}

/// Panics unless the HTTPS InfluxDB answers `GET /ping` with 204 within 5 s, verified against
/// [`influx_tls_ca`].
pub async fn require_influx_tls() {
    let url = influx_tls_url();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let last = match tls_client().get(format!("{url}/ping")).send().await {
            Ok(r) if r.status().as_u16() == 204 => return,
            Ok(r) => format!("GET /ping answered {}", r.status()),
            Err(e) => format!("{e:?}"),
        };
        if Instant::now() >= deadline {
            panic!("{}", unreachable("HTTPS InfluxDB", &url, last));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// [`influxql`] against the HTTPS InfluxDB ([`influx_tls_url`], trusting [`influx_tls_ca`]).
pub async fn influxql_tls(db: Option<&str>, statement: &str) -> Value {
    let url = influx_tls_url();
    let mut params = vec![("q", statement), ("epoch", "ns")];
    if let Some(db) = db {
        params.push(("db", db));
    }
    let response = tls_client()
        .post(format!("{url}/query"))
        .form(&params)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", unreachable("HTTPS InfluxDB", &url, e)));
    let status = response.status();
    let text = response
        .text()
        .await
        .unwrap_or_else(|e| panic!("HTTPS InfluxDB {url}: reading the answer: {e}"));
    assert!(
        status.is_success(),
        "HTTPS InfluxDB {url}: {statement:?} answered {status}: {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("HTTPS InfluxDB {url}: {statement:?} answered non-JSON {text:?}: {e}")
    })
}

/// A database name unique to this process and call (`<prefix>_<pid>_<millis>_<n>`).
pub fn unique_db(prefix: &str) -> String {
    crate::names::unique(prefix)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap_or_else(|e| panic!("cannot build an HTTP client: {e}"))
}

fn unreachable(what: &str, url: &str, detail: impl std::fmt::Display) -> String {
    format!("{what} at {url} is not reachable: run scripts/services.sh up ({detail})")
}

/// Panics unless InfluxDB answers `GET /ping` with 204 within 5 s.
pub async fn require_influx() {
    let url = influx_url();
    require(&format!("{url}/ping"), "InfluxDB", &url, 204).await;
}

/// Panics unless VictoriaMetrics answers `GET /health` with 200 within 5 s.
pub async fn require_vm() {
    let url = vm_url();
    require(&format!("{url}/health"), "VictoriaMetrics", &url, 200).await;
}

async fn require(probe: &str, what: &str, base: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let client = client();
    loop {
        let detail = match client.get(probe).send().await {
            Ok(r) if r.status().as_u16() == want => return,
            Ok(r) => format!("GET {probe} answered {}", r.status()),
            Err(e) => format!("GET {probe}: {e}"),
        };
        if Instant::now() >= deadline {
            panic!("{}", unreachable(what, base, detail));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs one InfluxQL statement with `POST /query` (`epoch=ns`, in database `db` if given) and
/// returns the JSON answer. Panics on a transport error or a non-200 status; statement errors
/// are in the JSON (`results[0].error`), see [`statement_error`].
pub async fn influxql(db: Option<&str>, statement: &str) -> Value {
    let url = influx_url();
    let mut params = vec![("q", statement), ("epoch", "ns")];
    if let Some(db) = db {
        params.push(("db", db));
    }
    let text = post_form(
        "InfluxDB",
        &url,
        "/query",
        &params,
        &format!("the answer to {statement:?}"),
        &format!("{statement:?}"),
    )
    .await;
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("InfluxDB {url}: {statement:?} answered non-JSON {text:?}: {e}"))
}

/// `POST <url><path>` with `form` as the body; the answer's text. Panics when `service` at
/// `url` does not answer, when the answer cannot be read (naming `reading`) or when it is not
/// a success (naming `what`).
async fn post_form(
    service: &str,
    url: &str,
    path: &str,
    form: &[(&str, &str)],
    reading: &str,
    what: &str,
) -> String {
    let response = client()
        .post(format!("{url}{path}"))
        .form(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", unreachable(service, url, e)));
    let status = response.status();
    let text = response
        .text()
        .await
        .unwrap_or_else(|e| panic!("{service} {url}: reading {reading}: {e}"));
    assert!(
        status.is_success(),
        "{service} {url}: {what} answered {status}: {text}"
    );
    text
}

/// The `error` of the first statement result, if any.
pub fn statement_error(answer: &Value) -> Option<&str> {
    answer.pointer("/results/0/error").and_then(Value::as_str)
}

/// Runs a statement and panics if InfluxDB reports an error for it.
pub async fn influxql_ok(db: Option<&str>, statement: &str) -> Value {
    let answer = influxql(db, statement).await;
    if let Some(e) = statement_error(&answer) {
        panic!("InfluxDB refused {statement:?}: {e}");
    }
    answer
}

/// `name` as a double-quoted InfluxQL identifier (`"` and `\` escaped).
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `CREATE DATABASE "name"`, panicking on failure.
pub async fn create_db(name: &str) {
    influxql_ok(None, &format!("CREATE DATABASE {}", quote(name))).await;
}

/// `DROP DATABASE "name"` (succeeds when it does not exist), panicking on failure.
pub async fn drop_db(name: &str) {
    influxql_ok(None, &format!("DROP DATABASE {}", quote(name))).await;
}

/// Whether `SHOW DATABASES` lists `name`.
pub async fn db_exists(name: &str) -> bool {
    let answer = influxql_ok(None, "SHOW DATABASES").await;
    rows(&answer)
        .iter()
        .any(|r| r.get("name").and_then(Value::as_str) == Some(name))
}

/// The rows of every series of the first statement result, each as a JSON object
/// `{column: value, …}` plus `"_measurement"` (the series name) and the series' `tags` (for
/// `GROUP BY`). Empty when the result has no series.
pub fn rows(answer: &Value) -> Vec<serde_json::Map<String, Value>> {
    let mut out = Vec::new();
    let Some(series) = answer
        .pointer("/results/0/series")
        .and_then(Value::as_array)
    else {
        return out;
    };
    for s in series {
        let columns: Vec<&str> = s
            .get("columns")
            .and_then(Value::as_array)
            .map(|c| c.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for values in s
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mut row = serde_json::Map::new();
            if let Some(name) = s.get("name") {
                row.insert("_measurement".into(), name.clone());
            }
            if let Some(tags) = s.get("tags").and_then(Value::as_object) {
                for (k, v) in tags {
                    row.insert(k.clone(), v.clone());
                }
            }
            for (c, v) in columns.iter().zip(values.as_array().into_iter().flatten()) {
                row.insert((*c).to_string(), v.clone());
            }
            out.push(row);
        }
    }
    out
}

/// `SELECT * FROM "measurement"` in `db` (ns timestamps) as [`rows`], ordered by time.
pub async fn select_all(db: &str, measurement: &str) -> Vec<serde_json::Map<String, Value>> {
    let answer = influxql_ok(Some(db), &format!("SELECT * FROM {}", quote(measurement))).await;
    rows(&answer)
}

/// Drops its InfluxDB database when dropped (end of test, panics included). The drop waits
/// for the `DROP DATABASE` request (5 s timeout) and never panics.
#[derive(Debug)]
pub struct DropDatabase {
    name: String,
}

impl DropDatabase {
    /// Guards database `name` (it need not exist yet).
    pub fn new(name: impl Into<String>) -> Self {
        DropDatabase { name: name.into() }
    }

    /// The guarded database.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::ops::Deref for DropDatabase {
    type Target = str;
    fn deref(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Display for DropDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let statement = format!("DROP DATABASE {}", quote(&self.name));
        if let Err(e) = blocking_post_query(&influx_url(), &statement) {
            eprintln!(
                "warning: could not drop InfluxDB database {:?}: {e}",
                self.name
            );
        }
    }
}

/// `POST /query` with `statement`, waiting for the answer: on a thread of its own with a
/// one-thread runtime, because `Drop` may run inside the test's runtime, where blocking on
/// it (and so `reqwest::blocking`) panics.
fn blocking_post_query(base: &str, statement: &str) -> Result<(), String> {
    let url = format!("{}/query", base.trim_end_matches('/'));
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("no runtime for the request: {e}"))?;
                runtime.block_on(async {
                    let response = reqwest::Client::builder()
                        .timeout(Duration::from_secs(5))
                        .build()
                        .map_err(|e| e.to_string())?
                        .post(&url)
                        .form(&[("q", statement)])
                        .send()
                        .await
                        .map_err(|e| format!("{url}: {e}"))?;
                    let status = response.status();
                    if status == reqwest::StatusCode::OK {
                        Ok(())
                    } else {
                        let body = response.text().await.unwrap_or_default();
                        Err(format!("{url} answered {status}: {body}"))
                    }
                })
            })
            .join()
            .unwrap_or_else(|_| Err("the request thread panicked".into()))
    })
}

/// `GET /internal/force_flush`: makes recent writes searchable. Panics on failure.
pub async fn vm_force_flush() {
    let url = vm_url();
    let r = client()
        .get(format!("{url}/internal/force_flush"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", unreachable("VictoriaMetrics", &url, e)));
    assert!(
        r.status().is_success(),
        "VictoriaMetrics {url}: force_flush answered {}",
        r.status()
    );
}

/// `/api/v1/export?match[]=selector`: one JSON object per series
/// (`{"metric":{"__name__":…,label:…},"values":[…],"timestamps":[ms…]}`), sorted by metric.
pub async fn vm_export(selector: &str) -> Vec<Value> {
    let url = vm_url();
    let text = post_form(
        "VictoriaMetrics",
        &url,
        "/api/v1/export",
        &[("match[]", selector)],
        "the export",
        &format!("export {selector:?}"),
    )
    .await;
    let mut series: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("VictoriaMetrics export line {l:?}: {e}"))
        })
        .collect();
    series.sort_by_key(|s| s["metric"].to_string());
    series
}

/// Flushes, then polls [`vm_export`] until it returns at least `series` series holding at
/// least `points` points in total, or panics after `timeout` showing what it saw.
pub async fn vm_wait_series(
    selector: &str,
    series: usize,
    points: usize,
    timeout: Duration,
) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        vm_force_flush().await;
        let got = vm_export(selector).await;
        let n: usize = got
            .iter()
            .map(|s| s["values"].as_array().map_or(0, Vec::len))
            .sum();
        if got.len() >= series && n >= points {
            return got;
        }
        if Instant::now() >= deadline {
            panic!(
                "VictoriaMetrics: {selector:?} has {} series / {n} points after {timeout:?}, \
                 expected {series} / {points}: {got:?}",
                got.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quoting() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn rows_flatten_series() {
        let answer = json!({"results":[{"statement_id":0,"series":[
            {"name":"m","tags":{"host":"a"},"columns":["time","v"],"values":[[1,2],[3,4]]},
            {"name":"m","tags":{"host":"b"},"columns":["time","v"],"values":[[5,6]]}
        ]}]});
        let r = rows(&answer);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0]["host"], "a");
        assert_eq!(r[1]["v"], 4);
        assert_eq!(r[2]["_measurement"], "m");
        assert!(rows(&json!({"results":[{"statement_id":0}]})).is_empty());
        assert_eq!(
            statement_error(&json!({"results":[{"statement_id":0,"error":"boom"}]})),
            Some("boom")
        );
    }
}
