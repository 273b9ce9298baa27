//! A child process (e.g. `kcql run …`) whose output goes to a file and which a test can
//! SIGTERM, SIGKILL and wait for with a deadline.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::{paths, process, PrivateServiceError};

const KIND: &str = "child";
/// How often [`ChildProcess::wait_until`] probes.
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// A spawned process with stdout and stderr captured (interleaved) in
/// `target/services/private/child-…/output.log`. Dropping it SIGKILLs the process if it is
/// still running.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
    pid: u32,
    program: PathBuf,
    log: PathBuf,
    output_start: u64,
    status: Option<ExitStatus>,
}

impl ChildProcess {
    /// Spawns `program` with `args` and extra environment variables `env`, stdin from
    /// `/dev/null`.
    pub fn spawn<A, E, K, V>(
        program: impl AsRef<Path>,
        args: A,
        env: E,
    ) -> Result<ChildProcess, PrivateServiceError>
    where
        A: IntoIterator,
        A::Item: AsRef<OsStr>,
        E: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let mut command = Command::new(program.as_ref());
        command.args(args).envs(env).stdin(Stdio::null());
        ChildProcess::spawn_command(command)
    }

    /// Spawns a command the caller built (working directory, environment, stdin: pipe it to
    /// write with [`stdin`](Self::stdin)). Its stdout and stderr are replaced by the log file.
    pub fn spawn_command(mut command: Command) -> Result<ChildProcess, PrivateServiceError> {
        let program = PathBuf::from(command.get_program());
        let label = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = paths::new_instance_dir(KIND, Some(&label))?;
        let log = dir.join("output.log");
        let command_line = std::iter::once(command.get_program())
            .chain(command.get_args())
            .map(OsStr::to_string_lossy)
            .collect::<Vec<_>>()
            .join(" ");
        let io_error = |source| PrivateServiceError::Io {
            kind: KIND,
            action: "open the log",
            path: log.clone(),
            source,
        };
        let (file, output_start) =
            process::open_log(&log, &format!("starting: {command_line}")).map_err(io_error)?;
        let (stdout, stderr) = process::log_stdio(&file).map_err(io_error)?;
        command.stdout(stdout).stderr(stderr);
        let child = command
            .spawn()
            .map_err(|source| PrivateServiceError::Spawn {
                kind: KIND,
                program: program.clone(),
                source,
            })?;
        let pid = child.id();
        let _ = process::write_pid_file(&dir, pid);
        Ok(ChildProcess {
            child,
            pid,
            program,
            log,
            output_start,
            status: None,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The program that was started.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The file holding stdout and stderr, after a `==== <time> starting: <command line>`
    /// header line.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the process printed so far (the last 64 KiB at most), without the header.
    pub fn output(&self) -> String {
        process::read_log_from(&self.log, self.output_start)
    }

    /// The last `lines` lines of output.
    pub fn log_tail(&self, lines: usize) -> String {
        let output = self.output();
        let all: Vec<&str> = output.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The child's stdin, if the command was built with `stdin(Stdio::piped())`.
    pub fn stdin(&mut self) -> Option<&mut ChildStdin> {
        self.child.stdin.as_mut()
    }

    /// The exit status if the process has exited, without waiting.
    pub fn try_status(&mut self) -> Result<Option<ExitStatus>, PrivateServiceError> {
        if self.status.is_none() {
            self.status = self
                .child
                .try_wait()
                .map_err(|e| self.signal_error("wait", e))?;
        }
        Ok(self.status)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.try_status(), Ok(None))
    }

    /// Sends SIGTERM (does not wait: see [`wait_with_timeout`](Self::wait_with_timeout)).
    /// Does nothing if the process has exited.
    pub fn sigterm(&mut self) -> Result<(), PrivateServiceError> {
        if self.try_status()?.is_some() {
            return Ok(());
        }
        process::send_signal(self.pid, "TERM").map_err(|e| self.signal_error("SIGTERM", e))
    }

    /// Sends SIGKILL and reaps the process; returns its exit status (the status it already
    /// had if it exited before).
    pub fn sigkill(&mut self) -> Result<ExitStatus, PrivateServiceError> {
        if let Some(status) = self.try_status()? {
            return Ok(status);
        }
        let status =
            process::kill_and_reap(&mut self.child).map_err(|e| self.signal_error("SIGKILL", e))?;
        self.status = Some(status);
        Ok(status)
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still running then.
    pub async fn wait_with_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<ExitStatus>, PrivateServiceError> {
        if self.status.is_none() {
            self.status = process::wait_exit(&mut self.child, timeout)
                .await
                .map_err(|e| self.signal_error("wait", e))?;
        }
        Ok(self.status)
    }

    /// Polls the output (not the header) until it contains `needle`; `false` after `timeout` or when the
    /// process exited without printing it.
    pub async fn wait_for_output(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.output().contains(needle) {
                return true;
            }
            if !self.is_running() {
                return self.output().contains(needle);
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(process::POLL).await;
        }
    }

    /// Polls `probe` (every 100 ms) until it returns `Ok(value)`, while the process runs.
    /// Panics, naming `what`, with the probe's last `Err` and the process's last output lines,
    /// when the process exits first or `timeout` passes.
    pub async fn wait_until<T, F, Fut>(&mut self, what: &str, timeout: Duration, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, String>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let last = match probe().await {
                Ok(value) => return value,
                Err(last) => last,
            };
            let program = self.program.display().to_string();
            assert!(
                self.is_running(),
                "{what}: {program} exited ({last}):\n{}",
                self.log_tail(40)
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not reached within {timeout:?} ({last}); {program}:\n{}",
                self.log_tail(40)
            );
            tokio::time::sleep(PROBE_EVERY).await;
        }
    }

    fn signal_error(&self, action: &'static str, source: std::io::Error) -> PrivateServiceError {
        PrivateServiceError::Signal {
            kind: KIND,
            pid: self.pid,
            action,
            source,
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = process::kill_and_reap(&mut self.child);
        }
    }
}
