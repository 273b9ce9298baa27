//! A private Mosquitto broker with its own persistence file and port.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::MqttOptions;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::service::{Launch, PrivateService, ServiceKind};
use super::wrapper::deref_to_service;
use super::PrivateServiceError;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

static PROBES: AtomicU64 = AtomicU64::new(0);

/// A private Mosquitto on `127.0.0.1:<port>` with the shared one's settings
/// (`scripts/services.sh`): anonymous, persistence on (`data/mosquitto.db`, saved every 30 s
/// and on a clean shutdown), `max_queued_messages 1000000`. Dereferences to
/// [`PrivateService`].
///
/// Mosquitto writes its persistence file only every 30 s and on SIGTERM, so queued messages
/// survive [`stop`](PrivateService::stop) + [`restart`](PrivateService::restart), but a
/// [`kill`](PrivateService::kill) loses what arrived since the last save (as a real crash
/// would).
#[derive(Debug)]
pub struct PrivateMosquitto {
    service: PrivateService,
}

impl PrivateMosquitto {
    /// Starts `mosquitto` (found in `/usr/sbin` or `$PATH`) and waits until an MQTT CONNECT is
    /// accepted.
    pub async fn start() -> Result<PrivateMosquitto, PrivateServiceError> {
        Ok(PrivateMosquitto {
            service: PrivateService::start(ServiceKind::Mosquitto).await?,
        })
    }

    /// The host, `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// rumqttc options for this broker, as [`crate::mqtt::options`] for the shared one
    /// (clean session, 30 s keep-alive, large packets, 1000 in flight).
    pub fn mqtt_options(&self, client_id: &str) -> MqttOptions {
        let mut options = MqttOptions::new(client_id, self.host(), self.port());
        options
            .set_clean_session(true)
            .set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(crate::mqtt::MAX_PACKET_SIZE, crate::mqtt::MAX_PACKET_SIZE)
            .set_inflight(1000);
        options
    }
}

deref_to_service!(PrivateMosquitto);

/// Writes `mosquitto.conf` into `dir` (persistence in `dir/data/`, log to stdout).
/// The configuration `scripts/services.sh` writes for the shared broker, with placeholders.
const CONFIG_TEMPLATE: &str = include_str!("../../../scripts/mosquitto/mosquitto.conf.in");

pub(crate) fn prepare(dir: &Path, port: u16) -> std::io::Result<Launch> {
    let data = dir.join(super::paths::DATA_DIR);
    std::fs::create_dir_all(&data)?;
    let config = CONFIG_TEMPLATE
        .replace("@PORT@", &port.to_string())
        .replace("@DATA@", &data.display().to_string())
        .replace("@LOG_DEST@", "stdout");
    let path = dir.join("mosquitto.conf");
    std::fs::write(&path, config)?;
    Ok(Launch {
        args: vec!["-c".into(), path.into_os_string()],
        cwd: dir.to_path_buf(),
        env_remove: &[],
    })
}

/// An MQTT 3.1.1 CONNECT (clean session) that must be answered by CONNACK "accepted", then
/// DISCONNECT.
pub(crate) async fn probe(port: u16) -> Result<(), String> {
    let client_id = format!(
        "kcql-probe-{}-{}",
        std::process::id(),
        PROBES.fetch_add(1, Ordering::Relaxed)
    );
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let id = client_id.as_bytes();
        let mut packet = vec![0x10, (12 + id.len()) as u8];
        packet.extend_from_slice(&[0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10]);
        packet.extend_from_slice(&(id.len() as u16).to_be_bytes());
        packet.extend_from_slice(id);
        stream.write_all(&packet).await?;
        let mut connack = [0u8; 4];
        stream.read_exact(&mut connack).await?;
        let _ = stream.write_all(&[0xE0, 0]).await;
        Ok::<_, std::io::Error>(connack)
    };
    let connack = tokio::time::timeout(PROBE_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no CONNACK within {PROBE_TIMEOUT:?}"))?
        .map_err(|e| format!("MQTT CONNECT: {e}"))?;
    match connack {
        [0x20, 2, _, 0] => Ok(()),
        other => Err(format!("unexpected answer to CONNECT: {other:02x?}")),
    }
}
