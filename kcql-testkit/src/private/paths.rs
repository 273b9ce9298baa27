//! Where private instances live: `<target>/services/private/<kind>-<owner pid>-<millis>-<n>/`,
//! and cleaning up after test processes that are gone.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::process;
use super::PrivateServiceError;

/// Set to `1` to keep every private data directory (no removal on drop, no pruning).
pub const KEEP_ENV: &str = "KCQL_KEEP_PRIVATE";

/// The sub-directory of an instance that holds its data; removed on drop.
pub(crate) const DATA_DIR: &str = "data";

/// Directories of finished test processes are removed this long after their last change.
const KEEP_FINISHED: Duration = Duration::from_secs(3600);

static COUNTER: AtomicU64 = AtomicU64::new(0);
static PRUNE: Once = Once::new();

/// Whether `KCQL_KEEP_PRIVATE=1` is set.
pub(crate) fn keep() -> bool {
    std::env::var(KEEP_ENV).is_ok_and(|v| v.trim() == "1")
}

/// The root of all private instances: `<services dir>/private`.
pub fn private_root() -> PathBuf {
    services_root().join("private")
}

/// The state directory of `scripts/services.sh`: `$KCQL_SERVICES_DIR` if set, else
/// `<cargo target dir>/services`.
pub fn services_root() -> PathBuf {
    match std::env::var_os("KCQL_SERVICES_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => target_dir().join("services"),
    }
}

/// The cargo target directory: the nearest ancestor of the running executable holding
/// cargo's `CACHEDIR.TAG`, else `$CARGO_TARGET_DIR`, else `<workspace>/target`.
fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.ancestors().find(|a| a.join("CACHEDIR.TAG").is_file()) {
            return dir.to_path_buf();
        }
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => workspace.join(d),
        _ => workspace.join("target"),
    }
}

/// Creates a fresh directory `<root>/<kind>-<pid>-<millis>-<n>[-<label>]` for one instance.
/// The first call in a process also prunes what finished test processes left behind.
pub(crate) fn new_instance_dir(
    kind: &'static str,
    label: Option<&str>,
) -> Result<PathBuf, PrivateServiceError> {
    let root = private_root();
    PRUNE.call_once(|| prune(&root));
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = format!("{kind}-{}-{millis}-{n}", std::process::id());
    if let Some(label) = label {
        name.push('-');
        name.extend(label.chars().map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        }));
    }
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).map_err(|source| PrivateServiceError::Io {
        kind,
        action: "create",
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

/// For every instance directory whose owning test process is gone: SIGKILL its process if it
/// is still running (an orphan of a killed test run, identified by pid AND start time), remove
/// its data, and remove the whole directory once it is older than [`KEEP_FINISHED`].
fn prune(root: &Path) {
    if keep() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.split('-').nth(1))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if owner == std::process::id() || Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        process::kill_orphan(&dir);
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| m.elapsed().ok())
            .unwrap_or_default();
        if age > KEEP_FINISHED {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            let _ = std::fs::remove_dir_all(dir.join(DATA_DIR));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_is_under_a_target_dir() {
        let root = super::private_root();
        assert!(root.ends_with("services/private"), "{root:?}");
    }
}
