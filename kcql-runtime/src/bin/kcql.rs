//! The `kcql` binary; see [`kcql_runtime::cli`].

fn main() -> std::process::ExitCode {
    kcql_runtime::cli::main()
}
