//! A private InfluxDB 1.x (`influxd`) with its own config, meta/data/wal directories and ports.

use std::path::Path;

use serde_json::Value;

use super::service::{Launch, PrivateService, ServiceKind};
use super::wrapper::deref_to_service;
use super::PrivateServiceError;

/// A private InfluxDB 1.x on `127.0.0.1:<port>` (HTTP) plus a private RPC port, with usage
/// reporting, `_internal` monitoring and the query log off, as the shared one
/// (`scripts/services.sh`). Dereferences to [`PrivateService`] for `kill`, `stop`, `restart`,
/// `is_running`, `answers` and `log_tail`.
#[derive(Debug)]
pub struct PrivateInfluxd {
    service: PrivateService,
}

impl PrivateInfluxd {
    /// Starts `influxd` (found in `/usr/bin` or `$PATH`) and waits until `GET /ping`
    /// answers 204.
    pub async fn start() -> Result<PrivateInfluxd, PrivateServiceError> {
        Ok(PrivateInfluxd {
            service: PrivateService::start(ServiceKind::Influxd).await?,
        })
    }

    /// The HTTP base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// Runs one InfluxQL statement (`POST /query`, `epoch=ns`, in `db` if given) and returns
    /// the JSON answer. Statement errors are in the JSON (`results[0].error`); a transport
    /// error or a non-200 status is an error.
    pub async fn query(
        &self,
        db: Option<&str>,
        statement: &str,
    ) -> Result<Value, PrivateServiceError> {
        let mut params = vec![("q", statement), ("epoch", "ns")];
        if let Some(db) = db {
            params.push(("db", db));
        }
        let what = format!("query {statement:?}");
        let response = client()
            .post(format!("{}/query", self.url()))
            .form(&params)
            .send()
            .await
            .map_err(|e| self.request_error(&what, e))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| self.request_error(&what, e))?;
        if !status.is_success() {
            return Err(self.request_error(&what, format!("{status}: {text}")));
        }
        serde_json::from_str(&text).map_err(|e| self.request_error(&what, format!("{e}: {text}")))
    }

    /// Writes line protocol to `db` (`POST /write`, nanosecond precision); succeeds on 204.
    pub async fn write(&self, db: &str, lines: &str) -> Result<(), PrivateServiceError> {
        let what = format!("write to {db}");
        let response = client()
            .post(format!("{}/write", self.url()))
            .query(&[("db", db), ("precision", "ns")])
            .body(lines.to_string())
            .send()
            .await
            .map_err(|e| self.request_error(&what, e))?;
        let status = response.status();
        if status.as_u16() == 204 {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(self.request_error(&what, format!("{status}: {text}")))
    }

    fn request_error(&self, what: &str, detail: impl std::fmt::Display) -> PrivateServiceError {
        PrivateServiceError::Request {
            kind: ServiceKind::Influxd.name(),
            port: self.port(),
            what: what.to_string(),
            detail: detail.to_string(),
        }
    }
}

fn client() -> reqwest::Client {
    // A fresh client per call: a pooled connection must not outlive a killed server or a
    // test's runtime.
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap_or_default()
}

deref_to_service!(PrivateInfluxd);

/// Writes `influxdb.conf` into `dir` (data under `dir/data/{meta,data,wal}`).
/// The configuration `scripts/services.sh` writes for the shared InfluxDB, with placeholders.
const CONFIG_TEMPLATE: &str = include_str!("../../../scripts/influxdb/influxdb.conf.in");

pub(crate) fn prepare(dir: &Path, http_port: u16, rpc_port: u16) -> std::io::Result<Launch> {
    let data = dir.join(super::paths::DATA_DIR);
    for sub in ["meta", "data", "wal"] {
        std::fs::create_dir_all(data.join(sub))?;
    }
    let config = CONFIG_TEMPLATE
        .replace("@RPC_PORT@", &rpc_port.to_string())
        .replace("@HTTP_PORT@", &http_port.to_string())
        .replace("@STATE@", &data.display().to_string());
    let path = dir.join("influxdb.conf");
    std::fs::write(&path, config)?;
    Ok(Launch {
        args: vec!["run".into(), "-config".into(), path.into_os_string()],
        cwd: dir.to_path_buf(),
        env_remove: &[],
    })
}
