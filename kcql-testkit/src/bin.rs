//! The `kcql` command-line binary for process tests.
//!
//! The binary belongs to `kcql-runtime`, so a test of another package cannot name it with
//! `CARGO_BIN_EXE_kcql`. [`kcql_binary`] finds it in the test's own build directory
//! (`target/<profile>/kcql`), which `cargo test --workspace` fills (kcql-runtime's own tests
//! need it), and builds it only when it is missing or older than the sources. Building it
//! unconditionally would relink it with another feature set than the test build's (cargo
//! unifies dev-dependency features only for test builds) and cost a recompile each run.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use crate::private::ChildProcess;

/// What `kcql run` prints once its components started.
pub const RUNNING: &str = "kcql: running";

/// The workspace root (the parent of this crate's directory).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("kcql-testkit lives in the workspace root")
        .to_path_buf()
}

/// The newest modification time of the files under `dir` (recursively).
fn newest_under(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest_under(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).ok()
        };
        newest = newest.max(time);
    }
    newest
}

/// `target/<profile>/kcql` for the profile of the running test (the directory above its
/// `deps/`), built with `cargo build -p kcql-runtime --bin kcql` first if it is missing or
/// older than any source of `kcql` or `kcql-runtime` (or their manifests). Panics if the build
/// fails.
pub fn kcql_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary in target/<profile>/deps")
        .to_path_buf();
    let bin = profile_dir.join("kcql");
    let root = workspace_root();
    let sources = ["kcql", "kcql-runtime"]
        .iter()
        .filter_map(|c| newest_under(&root.join(c).join("src")))
        .chain(
            ["kcql/Cargo.toml", "kcql-runtime/Cargo.toml", "Cargo.lock"]
                .iter()
                .filter_map(|f| {
                    std::fs::metadata(root.join(f))
                        .and_then(|m| m.modified())
                        .ok()
                }),
        )
        .max();
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    let fresh = matches!((built, sources), (Some(b), Some(s)) if b >= s);
    if !fresh {
        let mut build = Command::new(env!("CARGO"));
        build
            .current_dir(&root)
            .args(["build", "-p", "kcql-runtime", "--bin", "kcql"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build for the kcql binary");
        assert!(status.success(), "cargo build of the kcql binary failed");
    }
    assert!(bin.is_file(), "{} missing after the build", bin.display());
    bin
}

/// `<kcql> run ARGS…` as a child process (`RUST_LOG=info,rdkafka=warn`), once it printed
/// [`RUNNING`]. `kcql` is the binary (`env!("CARGO_BIN_EXE_kcql")` in kcql-runtime's tests,
/// [`kcql_binary`] elsewhere). Panics with its output when it does not get there within 60 s.
pub async fn kcql_run<A: AsRef<OsStr>>(
    kcql: impl AsRef<Path>,
    args: impl IntoIterator<Item = A>,
) -> ChildProcess {
    let args: Vec<std::ffi::OsString> = std::iter::once("run".into())
        .chain(args.into_iter().map(|a| a.as_ref().to_os_string()))
        .collect();
    let mut child = ChildProcess::spawn(kcql.as_ref(), &args, [("RUST_LOG", "info,rdkafka=warn")])
        .unwrap_or_else(|e| panic!("cannot spawn kcql run: {e}"));
    assert!(
        child
            .wait_for_output(RUNNING, Duration::from_secs(60))
            .await,
        "kcql run {args:?} did not start:\n{}",
        child.log_tail(40)
    );
    child
}
