//! The process behind every private service: start on free ports, health-probe, kill, stop,
//! restart on the same ports with the same data, clean up on drop.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

use super::PrivateServiceError;
use super::{influxd, kafka, mosquitto, paths, ports, process, victoria_metrics};

/// How many fresh ports `start` tries when the service finds its port taken.
const PORT_ATTEMPTS: usize = 5;

/// How long `restart` keeps retrying the same port while the service reports it in use.
const RESTART_PORT_WINDOW: Duration = Duration::from_secs(15);

/// How long `stop` waits after SIGTERM before it sends SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// How long `kill` waits for the process to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// Environment variable with the startup deadline in seconds (as for `scripts/services.sh`).
const TIMEOUT_ENV: &str = "KCQL_SERVICES_TIMEOUT";

/// The kinds of private service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceKind {
    /// InfluxDB 1.x (`influxd`), HTTP port plus RPC port.
    Influxd,
    /// Apache Kafka (KRaft, one node): broker port plus controller port.
    Kafka,
    /// Mosquitto MQTT broker with persistence.
    Mosquitto,
    /// VictoriaMetrics (InfluxDB v2 write API).
    VictoriaMetrics,
}

/// How to run one kind of service in an instance directory.
pub(crate) struct Launch {
    /// Arguments after the program.
    pub args: Vec<OsString>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Environment variables the child must not inherit.
    pub env_remove: &'static [&'static str],
}

impl ServiceKind {
    /// The short name used in directory names, logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Influxd => "influxd",
            ServiceKind::Kafka => "kafka",
            ServiceKind::Mosquitto => "mosquitto",
            ServiceKind::VictoriaMetrics => "victoria_metrics",
        }
    }

    fn port_count(self) -> usize {
        match self {
            ServiceKind::Influxd | ServiceKind::Kafka => 2,
            _ => 1,
        }
    }

    fn binary(self) -> Result<PathBuf, PrivateServiceError> {
        let (binary, dirs) = match self {
            ServiceKind::Influxd => ("influxd", vec![PathBuf::from("/usr/bin")]),
            ServiceKind::Kafka => ("java", java_dirs()),
            ServiceKind::Mosquitto => (
                "mosquitto",
                vec![PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")],
            ),
            ServiceKind::VictoriaMetrics => ("victoria-metrics", vec![PathBuf::from("/usr/bin")]),
        };
        find_binary(self.name(), binary, dirs)
    }

    fn prepare(self, dir: &Path, ports: &[u16]) -> std::io::Result<Launch> {
        match self {
            ServiceKind::Influxd => influxd::prepare(dir, ports[0], ports[1]),
            ServiceKind::Kafka => kafka::prepare(dir, ports[0], ports[1]),
            ServiceKind::Mosquitto => mosquitto::prepare(dir, ports[0]),
            ServiceKind::VictoriaMetrics => victoria_metrics::prepare(dir, ports[0]),
        }
    }

    /// One health probe: `Ok` when the service answers like itself.
    async fn probe(self, port: u16) -> Result<(), String> {
        match self {
            ServiceKind::Influxd => expect_status(port, "/ping", 204).await,
            ServiceKind::Kafka => kafka::probe(port).await,
            ServiceKind::Mosquitto => mosquitto::probe(port).await,
            ServiceKind::VictoriaMetrics => expect_status(port, "/health", 200).await,
        }
    }
}

/// Where `java` is looked for before `$PATH`: `$JAVA_HOME/bin`, `/usr/bin`.
fn java_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(home) = std::env::var_os("JAVA_HOME").filter(|h| !h.is_empty()) {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    dirs.push(PathBuf::from("/usr/bin"));
    dirs
}

/// The `java` binary (for tools run before a private Kafka starts).
pub(crate) fn java() -> std::io::Result<PathBuf> {
    find_binary("kafka", "java", java_dirs())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()))
}

/// `binary` from the first of `dirs` that has it, else from `$PATH`.
fn find_binary(
    kind: &'static str,
    binary: &'static str,
    mut dirs: Vec<PathBuf>,
) -> Result<PathBuf, PrivateServiceError> {
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.iter()
        .map(|d| d.join(binary))
        .find(|p| p.is_file())
        .ok_or_else(|| PrivateServiceError::BinaryMissing {
            kind,
            binary,
            searched: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

async fn expect_status(port: u16, path: &str, want: u16) -> Result<(), String> {
    match super::http::status(port, path).await? {
        got if got == want => Ok(()),
        got => Err(format!("GET {path} answered {got}, want {want}")),
    }
}

fn startup_timeout() -> Duration {
    std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(60))
}

/// One private service process, its ports and its directory. Used through
/// [`PrivateInfluxd`](super::PrivateInfluxd), [`PrivateKafka`](super::PrivateKafka),
/// [`PrivateMosquitto`](super::PrivateMosquitto) and
/// [`PrivateVictoriaMetrics`](super::PrivateVictoriaMetrics), which dereference to it.
///
/// Dropping it SIGKILLs the process and removes the data directory (unless
/// `KCQL_KEEP_PRIVATE=1`); the config and log stay for debugging.
#[derive(Debug)]
pub struct PrivateService {
    kind: ServiceKind,
    program: PathBuf,
    dir: PathBuf,
    log: PathBuf,
    ports: Vec<u16>,
    child: Option<Child>,
    run_offset: u64,
}

impl PrivateService {
    /// Starts `kind` on free loopback ports in a fresh directory and waits until it answers.
    /// If the service finds a port taken (a race with another process), it is started again on
    /// new ports, up to 5 times.
    pub async fn start(kind: ServiceKind) -> Result<PrivateService, PrivateServiceError> {
        let program = kind.binary()?;
        let dir = paths::new_instance_dir(kind.name(), None)?;
        let log = dir.join(format!("{}.log", kind.name()));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ports = (0..kind.port_count())
                .map(|_| ports::free_port())
                .collect::<std::io::Result<Vec<u16>>>()
                .map_err(|source| PrivateServiceError::NoFreePort {
                    kind: kind.name(),
                    source,
                })?;
            let mut service = PrivateService {
                kind,
                program: program.clone(),
                dir: dir.clone(),
                log: log.clone(),
                ports,
                child: None,
                run_offset: 0,
            };
            match service.launch().await {
                Ok(()) => return Ok(service),
                Err(_) if attempt < PORT_ATTEMPTS && service.port_clash() => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The kind of service.
    pub fn kind(&self) -> ServiceKind {
        self.kind
    }

    /// The main port (HTTP for InfluxDB and VictoriaMetrics, the Kafka listener for Kafka, MQTT for
    /// Mosquitto) on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.ports[0]
    }

    /// Every port the service listens on (InfluxDB: HTTP, then RPC; Kafka: broker, then
    /// controller).
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// The instance directory (config, log, `data/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log file (the process's stdout and stderr, all runs).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        process::log_tail(&self.log, lines)
    }

    /// The process id while the process runs.
    pub fn pid(&mut self) -> Option<u32> {
        self.is_running()
            .then(|| self.child.as_ref().map(Child::id))?
    }

    /// Whether the process is alive (it may still be starting or be unhealthy: see
    /// [`answers`](Self::answers)).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// One health probe now (InfluxDB `/ping` 204, Kafka metadata, Mosquitto MQTT
    /// CONNECT/CONNACK, VictoriaMetrics `/health`): whether the service answers.
    pub async fn answers(&self) -> bool {
        self.kind.probe(self.port()).await.is_ok()
    }

    /// SIGKILLs the process and waits until it is gone. Does nothing if it is not running.
    pub async fn kill(&mut self) -> Result<(), PrivateServiceError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = child.id();
        let signal_error = |action, source| PrivateServiceError::Signal {
            kind: self.kind.name(),
            pid,
            action,
            source,
        };
        child.kill().map_err(|e| signal_error("SIGKILL", e))?;
        match process::wait_exit(&mut child, KILL_WAIT).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(signal_error(
                "wait",
                std::io::Error::other("still running after SIGKILL"),
            )),
            Err(e) => Err(signal_error("wait", e)),
        }
    }

    /// Sends SIGTERM and waits until the process exited (a clean shutdown: Mosquitto saves its
    /// persistence file). After 30 s it is SIGKILLed and [`PrivateServiceError::DidNotExit`]
    /// is returned. Does nothing if it is not running.
    pub async fn stop(&mut self) -> Result<(), PrivateServiceError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let (kind, pid) = (self.kind.name(), child.id());
        let signal_error = |action, source| PrivateServiceError::Signal {
            kind,
            pid,
            action,
            source,
        };
        if child
            .try_wait()
            .map_err(|e| signal_error("wait", e))?
            .is_some()
        {
            return Ok(());
        }
        process::send_signal(pid, "TERM").map_err(|e| signal_error("SIGTERM", e))?;
        match process::wait_exit(&mut child, STOP_GRACE).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => {
                process::kill_and_reap(&mut child).map_err(|e| signal_error("SIGKILL", e))?;
                Err(PrivateServiceError::DidNotExit {
                    kind,
                    pid,
                    timeout: STOP_GRACE,
                })
            }
            Err(e) => Err(signal_error("wait", e)),
        }
    }

    /// Starts the service again on the SAME ports with the SAME data and waits until it
    /// answers. A running process is stopped first ([`stop`](Self::stop)). While the service
    /// reports its port in use it is retried for up to 15 s.
    pub async fn restart(&mut self) -> Result<(), PrivateServiceError> {
        self.stop().await?;
        let deadline = Instant::now() + RESTART_PORT_WINDOW;
        loop {
            match self.launch().await {
                Ok(()) => return Ok(()),
                Err(_) if self.port_clash() && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes the config, spawns the process and waits until it answers.
    async fn launch(&mut self) -> Result<(), PrivateServiceError> {
        let kind = self.kind.name();
        let io_error = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| PrivateServiceError::Io {
                kind,
                action,
                path,
                source,
            }
        };
        let launch = self
            .kind
            .prepare(&self.dir, &self.ports)
            .map_err(io_error("write the config in", &self.dir))?;
        let command_line = std::iter::once(self.program.as_os_str())
            .chain(launch.args.iter().map(OsString::as_os_str))
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        let (file, offset) = process::open_log(&self.log, &format!("starting: {command_line}"))
            .map_err(io_error("open the log", &self.log))?;
        self.run_offset = offset;
        let (stdout, stderr) =
            process::log_stdio(&file).map_err(io_error("open the log", &self.log))?;
        let mut command = Command::new(&self.program);
        command
            .args(&launch.args)
            .current_dir(&launch.cwd)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        for var in launch.env_remove {
            command.env_remove(var);
        }
        let child = command
            .spawn()
            .map_err(|source| PrivateServiceError::Spawn {
                kind,
                program: self.program.clone(),
                source,
            })?;
        // Best effort: lets a later test run kill this process if this one dies first.
        let _ = process::write_pid_file(&self.dir, child.id());
        self.child = Some(child);
        self.wait_answering().await
    }

    async fn wait_answering(&mut self) -> Result<(), PrivateServiceError> {
        let timeout = startup_timeout();
        let deadline = Instant::now() + timeout;
        loop {
            let exited = match self.child.as_mut() {
                Some(child) => child.try_wait().ok().flatten(),
                None => None,
            };
            if let Some(status) = exited {
                self.child = None;
                return Err(PrivateServiceError::ExitedDuringStartup {
                    kind: self.kind.name(),
                    port: self.port(),
                    status: status.to_string(),
                    log: self.log.clone(),
                    tail: self.run_log_tail(),
                });
            }
            let probe = match self.kind.probe(self.port()).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                if let Some(mut child) = self.child.take() {
                    let _ = process::kill_and_reap(&mut child);
                }
                return Err(PrivateServiceError::NotAnswering {
                    kind: self.kind.name(),
                    port: self.port(),
                    timeout,
                    probe,
                    log: self.log.clone(),
                    tail: self.run_log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last 30 lines of the current run's output.
    fn run_log_tail(&self) -> String {
        let text = process::read_log_from(&self.log, self.run_offset);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Whether the current run's output says its port was taken.
    fn port_clash(&self) -> bool {
        let text = process::read_log_from(&self.log, self.run_offset).to_ascii_lowercase();
        text.contains("address already in use") || text.contains("addrinuse")
    }
}

impl Drop for PrivateService {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = process::kill_and_reap(&mut child);
        }
        let _ = std::fs::remove_file(self.dir.join(process::PID_FILE));
        if !paths::keep() {
            let _ = std::fs::remove_dir_all(self.dir.join(paths::DATA_DIR));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_names_itself_and_the_fix() {
        let err = find_binary(
            "demo",
            "kcql-no-such-binary",
            vec![PathBuf::from("/nowhere")],
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("kcql-no-such-binary"), "{text}");
        assert!(text.contains("/nowhere"), "{text}");
        assert!(text.contains("scripts/services.sh up"), "{text}");
    }
}
