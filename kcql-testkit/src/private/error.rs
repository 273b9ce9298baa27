//! The one error type of the private services and child processes.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Why a private service or child process could not be started, stopped or queried.
///
/// Startup errors carry the last lines of the process log, so a test failure shows why the
/// service did not come up.
#[derive(Debug, thiserror::Error)]
pub enum PrivateServiceError {
    /// The service binary is not installed where it is looked for.
    #[error(
        "private {kind}: binary `{binary}` not found (looked in {searched}); \
         install it with scripts/services.sh up"
    )]
    BinaryMissing {
        /// The service kind (`influxd`, `kafka`, …).
        kind: &'static str,
        /// The binary's file name.
        binary: &'static str,
        /// The places searched, comma-separated.
        searched: String,
    },
    /// A file or directory of the instance could not be created, written or read.
    #[error("private {kind}: cannot {action} {path}: {source}")]
    Io {
        /// The service kind, or `child`.
        kind: &'static str,
        /// What was being done (`create`, `write`, …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// No free loopback port was found.
    #[error("private {kind}: no free loopback port: {source}")]
    NoFreePort {
        /// The service kind.
        kind: &'static str,
        /// The last bind error.
        #[source]
        source: io::Error,
    },
    /// The binary could not be executed.
    #[error("private {kind}: cannot start {program}: {source}")]
    Spawn {
        /// The service kind, or `child`.
        kind: &'static str,
        /// The program.
        program: PathBuf,
        /// The spawn error.
        #[source]
        source: io::Error,
    },
    /// The service exited before it answered.
    #[error(
        "private {kind} on 127.0.0.1:{port} exited during startup ({status}); \
         last lines of {log}:\n{tail}"
    )]
    ExitedDuringStartup {
        /// The service kind.
        kind: &'static str,
        /// Its main port.
        port: u16,
        /// The exit status.
        status: String,
        /// The log file.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },
    /// The service did not answer its health probe in time (the process is killed).
    #[error(
        "private {kind} on 127.0.0.1:{port} did not answer within {timeout:?} \
         (last probe: {probe}); last lines of {log}:\n{tail}"
    )]
    NotAnswering {
        /// The service kind.
        kind: &'static str,
        /// Its main port.
        port: u16,
        /// How long it was given.
        timeout: Duration,
        /// What the last health probe saw.
        probe: String,
        /// The log file.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },
    /// Sending a signal or waiting for the process failed.
    #[error("private {kind} (pid {pid}): {action} failed: {source}")]
    Signal {
        /// The service kind, or `child`.
        kind: &'static str,
        /// The process id.
        pid: u32,
        /// What was being done (`SIGTERM`, `SIGKILL`, `wait`).
        action: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The process was still running after SIGTERM and the grace period (it was then killed).
    #[error("private {kind} (pid {pid}) still running {timeout:?} after SIGTERM; sent SIGKILL")]
    DidNotExit {
        /// The service kind, or `child`.
        kind: &'static str,
        /// The process id.
        pid: u32,
        /// The grace period.
        timeout: Duration,
    },
    /// A request to the running service failed (transport error or unexpected answer).
    #[error("private {kind} on 127.0.0.1:{port}: {what} failed: {detail}")]
    Request {
        /// The service kind.
        kind: &'static str,
        /// Its main port.
        port: u16,
        /// The request.
        what: String,
        /// The error or the unexpected answer.
        detail: String,
    },
}
