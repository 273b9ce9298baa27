//! Process plumbing shared by services and child processes: log files, signals, pid files
//! and waiting with a deadline.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The file in an instance directory naming its process: `<pid> <start time>`.
pub(crate) const PID_FILE: &str = "process.pid";

/// How much of a log [`log_tail`] reads from the end.
const TAIL_BYTES: u64 = 64 * 1024;

/// How often waits poll.
pub(crate) const POLL: Duration = Duration::from_millis(25);

/// The process's start time (clock ticks since boot, field 22 of `/proc/<pid>/stat`), or
/// `None` when it does not exist. Together with the pid it identifies one process.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest: state(3) ppid(4) … starttime(22): index 22 - 3 = 19.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Records `pid` and its start time in `dir`/[`PID_FILE`].
pub(crate) fn write_pid_file(dir: &Path, pid: u32) -> io::Result<()> {
    let start = start_time(pid).unwrap_or_default();
    std::fs::write(dir.join(PID_FILE), format!("{pid} {start}\n"))
}

/// SIGKILLs the process recorded in `dir`/[`PID_FILE`] if that exact process (same pid and
/// start time) is still running.
pub(crate) fn kill_orphan(dir: &Path) {
    let Ok(text) = std::fs::read_to_string(dir.join(PID_FILE)) else {
        return;
    };
    let mut words = text.split_whitespace();
    let (Some(Ok(pid)), Some(Ok(start))) = (
        words.next().map(str::parse::<u32>),
        words.next().map(str::parse::<u64>),
    ) else {
        return;
    };
    if start != 0 && start_time(pid) == Some(start) {
        let _ = send_signal(pid, "KILL");
    }
}

/// Sends `SIG<signal>` (`TERM`, `KILL`, …) to `pid` with the `kill` command.
pub(crate) fn send_signal(pid: u32, signal: &str) -> io::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("kill -{signal} {pid}: {status}")))
    }
}

/// Opens `path` for appending, writes a `==== <unix time> <header>` line, and returns the
/// file (for the child's stdout and stderr) and the offset where this run's output starts.
pub(crate) fn open_log(path: &Path, header: &str) -> io::Result<(File, u64)> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    writeln!(file, "==== {secs} {header}")?;
    let offset = file.metadata()?.len();
    Ok((file, offset))
}

/// `stdout` and `stderr` handles writing to `file`.
pub(crate) fn log_stdio(file: &File) -> io::Result<(Stdio, Stdio)> {
    Ok((
        Stdio::from(file.try_clone()?),
        Stdio::from(file.try_clone()?),
    ))
}

/// The log from byte `from` on (at most the last 64 KiB of it), lossily decoded.
pub(crate) fn read_log_from(path: &Path, from: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or_default();
    let start = from.max(len.saturating_sub(TAIL_BYTES));
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The last `lines` lines of the log at `path` (empty if it cannot be read).
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    let text = read_log_from(path, 0);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Waits up to `timeout` for `child` to exit; `None` if it is still running then.
pub(crate) async fn wait_exit(
    child: &mut Child,
    timeout: Duration,
) -> io::Result<Option<ExitStatus>> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// SIGKILLs `child` and reaps it (blocking; a killed process exits at once).
pub(crate) fn kill_and_reap(child: &mut Child) -> io::Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    child.kill()?;
    child.wait()
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_start_time_is_known() {
        let pid = std::process::id();
        assert!(super::start_time(pid).is_some_and(|t| t > 0));
        assert_eq!(super::start_time(u32::MAX), None);
    }
}
