//! The `kcql` command-line tool.
//!
//! ```text
//! kcql parse [--json] [STATEMENT|-]   parse statements; print canonical KCQL or the AST as JSON
//! kcql fmt [FILE|-]                   print a file's statements in canonical form
//! kcql check [FILE|-]                 validate a file's statements
//! ```
//!
//! Exit status: 0 on success, 1 with the rendered diagnostic on stderr when the KCQL is invalid,
//! 2 for usage errors (bad flags, unreadable input).

use clap::{Parser, Subcommand};
use std::io::{Read, Write};
use std::process::ExitCode;

/// Command-line arguments of `kcql`.
#[derive(Debug, Parser)]
#[command(
    name = "kcql",
    version,
    about = "Parse, format and check KCQL (Kafka Connect Query Language)"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse KCQL given on the command line (or `-`/nothing for stdin) and print it in canonical
    /// form, or as the AST in JSON with `--json`.
    Parse {
        /// Print the AST as JSON instead of canonical KCQL.
        #[arg(long)]
        json: bool,
        /// The KCQL text; `-` or absent reads standard input.
        statement: Option<String>,
    },
    /// Print the statements of a file (or stdin) in canonical form, one per line.
    Fmt {
        /// The file; `-` or absent reads standard input.
        file: Option<String>,
    },
    /// Check that the statements of a file (or stdin) are valid KCQL.
    Check {
        /// The file; `-` or absent reads standard input.
        file: Option<String>,
    },
}

/// Exit status for invalid KCQL.
pub const EXIT_INVALID: u8 = 1;
/// Exit status for usage errors.
pub const EXIT_USAGE: u8 = 2;

fn read_stdin() -> Result<String, String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    Ok(s)
}

fn read_file(file: Option<&str>) -> Result<String, String> {
    match file {
        None | Some("-") => read_stdin(),
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}")),
    }
}

/// Runs a parsed command line, writing results to `out` and diagnostics to `err`.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
    let (text, json, mode) = match &cli.command {
        Command::Parse { json, statement } => {
            let text = match statement.as_deref() {
                None | Some("-") => read_stdin(),
                Some(s) => Ok(s.to_string()),
            };
            (text, *json, "parse")
        }
        Command::Fmt { file } => (read_file(file.as_deref()), false, "fmt"),
        Command::Check { file } => (read_file(file.as_deref()), false, "check"),
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "kcql: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let statements = match kcql::parse_many(&text) {
        Ok(s) => s,
        Err(diags) => {
            let _ = writeln!(err, "{diags}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let written = match mode {
        "parse" if json => {
            let value = if statements.len() == 1 {
                serde_json::to_string_pretty(&statements[0])
            } else {
                serde_json::to_string_pretty(&statements)
            };
            match value {
                Ok(v) => writeln!(out, "{v}"),
                Err(e) => {
                    let _ = writeln!(err, "kcql: {e}");
                    return ExitCode::from(EXIT_USAGE);
                }
            }
        }
        "check" => writeln!(
            out,
            "ok: {} statement{}",
            statements.len(),
            if statements.len() == 1 { "" } else { "s" }
        ),
        _ => statements.iter().enumerate().try_for_each(|(i, s)| {
            let sep = if i + 1 < statements.len() { ";" } else { "" };
            writeln!(out, "{s}{sep}")
        }),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(err, "kcql: cannot write output: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Parses `std::env::args` and runs; usage errors exit with status 2 (clap's convention).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    run(
        cli,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}
