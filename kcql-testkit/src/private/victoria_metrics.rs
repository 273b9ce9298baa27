//! A private VictoriaMetrics with its own storage directory and port.

use std::path::Path;

use super::service::{Launch, PrivateService, ServiceKind};
use super::wrapper::deref_to_service;
use super::PrivateServiceError;

/// A private VictoriaMetrics on `127.0.0.1:<port>` with the shared one's flags
/// (`scripts/services.sh`). Dereferences to [`PrivateService`].
#[derive(Debug)]
pub struct PrivateVictoriaMetrics {
    service: PrivateService,
}

impl PrivateVictoriaMetrics {
    /// Starts `victoria-metrics` (found in `/usr/bin` or `$PATH`) and waits until `GET /health`
    /// answers 200.
    pub async fn start() -> Result<PrivateVictoriaMetrics, PrivateServiceError> {
        Ok(PrivateVictoriaMetrics {
            service: PrivateService::start(ServiceKind::VictoriaMetrics).await?,
        })
    }

    /// The HTTP base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }
}

deref_to_service!(PrivateVictoriaMetrics);

/// Storage in `dir/data`.
pub(crate) fn prepare(dir: &Path, port: u16) -> std::io::Result<Launch> {
    let data = dir.join(super::paths::DATA_DIR);
    std::fs::create_dir_all(&data)?;
    Ok(Launch {
        args: vec![
            format!("-httpListenAddr=127.0.0.1:{port}").into(),
            format!("-storageDataPath={}", data.display()).into(),
            "-retentionPeriod=100y".into(),
            "-search.latencyOffset=0s".into(),
            "-search.disableCache".into(),
            "-memory.allowedPercent=20".into(),
        ],
        cwd: dir.to_path_buf(),
        env_remove: &[],
    })
}
