//! The TOML pipeline loader on any UTF-8 text, through `kcql run --check FILE.toml` (the CLI
//! entry, `Pipeline::load`: parsing, every component's settings, KCQL compilation, unique
//! names; no network, nothing is started):
//!
//! * it never panics, and prints either `ok: …` or every problem and a count;
//! * it agrees with `Pipeline::from_toml_str` on the same text: the same problems, word for
//!   word, or the same number of components (unless two share a name, which only `load`
//!   checks).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use kcql_runtime::cli::{run, Cli, Command};
use kcql_runtime::config::Pipeline;
use libfuzzer_sys::fuzz_target;

/// This process's pipeline file (libFuzzer may run several processes side by side).
fn file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        std::env::temp_dir().join(format!("kcql-fuzz-pipeline-{}.toml", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = file();
    std::fs::write(path, text).expect("write the pipeline file");
    let cli = Cli {
        command: Command::Run {
            check: true,
            metrics: None,
            files: vec![path.display().to_string()],
        },
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let _ = run(cli, &mut out, &mut err);
    let out = String::from_utf8(out).expect("UTF-8 output");
    let err = String::from_utf8(err).expect("UTF-8 diagnostics");

    // The same text read directly, under the same name, for the same messages.
    match Pipeline::from_toml_str(text, &path.display().to_string()) {
        Ok(pipeline) => {
            assert!(!pipeline.components.is_empty());
            let mut names: Vec<&str> = pipeline
                .components
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            names.sort_unstable();
            names.dedup();
            if names.len() == pipeline.components.len() {
                assert!(
                    out.starts_with(&format!("ok: {} component", pipeline.components.len())),
                    "--check disagrees with from_toml_str\nout: {out}\nerr: {err}"
                );
                assert!(err.is_empty(), "{err}");
            } else {
                assert!(out.is_empty(), "{out}");
                assert!(err.contains("is used twice"), "{err}");
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            let mut expected: String = errors.iter().map(|e| format!("error: {e}\n")).collect();
            expected.push_str(&format!(
                "kcql: {} problem{} found\n",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            ));
            assert!(out.is_empty(), "--check printed {out:?} for a bad pipeline");
            assert_eq!(
                err, expected,
                "--check reported other problems than from_toml_str"
            );
        }
    }
});
