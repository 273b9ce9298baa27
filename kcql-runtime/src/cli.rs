//! The `kcql` command-line tool.
//!
//! ```text
//! kcql parse [--json] [STATEMENT|-]   parse statements; print canonical KCQL or the AST as JSON
//! kcql fmt [FILE|-]                   print a file's statements in canonical form
//! kcql check [--connector C] [FILE|-]                 validate (and compile for connector C)
//! kcql explain --connector C [--format F] [FILE|-]     print the compiled plan
//! kcql run [--check] [--metrics ADDR|off] FILE...      run a pipeline (.toml) or connectors (.properties)
//! ```
//!
//! Connectors: `mqtt`, `influx`, `processor`. Explain formats: `text`, `json`, `dot`, `mermaid`.
//!
//! Exit status: 0 on success, 1 with the rendered diagnostic on stderr when the KCQL is invalid
//! (or, for `run`, when the configuration is invalid or a component failed), 2 for usage errors
//! (bad flags, unreadable input).

use clap::{Parser, Subcommand};
use std::io::{Read, Write};
use std::process::ExitCode;

use crate::redact::redact_url;

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
    /// Check that the statements of a file (or stdin) are valid KCQL, and with `--connector`
    /// that they compile for that connector.
    Check {
        /// Also compile for this connector.
        #[arg(long, value_enum)]
        connector: Option<ConnectorArg>,
        /// The file; `-` or absent reads standard input.
        file: Option<String>,
    },
    /// Compile the statements of a file (or stdin) for a connector and print the plan.
    Explain {
        /// The connector to compile for.
        #[arg(long, value_enum)]
        connector: ConnectorArg,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: FormatArg,
        /// The file; `-` or absent reads standard input.
        file: Option<String>,
    },
    /// Run a pipeline file (`.toml`) or Stream Reactor connector files (`.properties`) until
    /// SIGINT/SIGTERM (then flush, commit and exit 0) or a component fails (exit 1).
    Run {
        /// Only validate the files and print every problem (exit 1 if any).
        #[arg(long)]
        check: bool,
        /// Serve /metrics and /health here (`off` to disable); overrides the file's
        /// `[runtime] metrics`.
        #[arg(long)]
        metrics: Option<String>,
        /// One `.toml` pipeline file or any number of `.properties` files.
        #[arg(required = true)]
        files: Vec<String>,
    },
}

/// `--connector` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ConnectorArg {
    /// MQTT → Kafka source.
    Mqtt,
    /// Kafka → InfluxDB sink.
    Influx,
    /// Kafka → Kafka window processor.
    Processor,
}

impl From<ConnectorArg> for kcql::Connector {
    fn from(c: ConnectorArg) -> Self {
        match c {
            ConnectorArg::Mqtt => kcql::Connector::MqttSource,
            ConnectorArg::Influx => kcql::Connector::InfluxSink,
            ConnectorArg::Processor => kcql::Connector::WindowProcessor,
        }
    }
}

/// `--format` values of `explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// Readable text.
    Text,
    /// The plan as JSON.
    Json,
    /// Graphviz DOT topology.
    Dot,
    /// Mermaid flowchart topology.
    Mermaid,
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

/// What a command does once its input is read.
enum Action {
    Parse {
        json: bool,
    },
    Fmt,
    Check {
        connector: Option<ConnectorArg>,
    },
    Explain {
        connector: ConnectorArg,
        format: FormatArg,
    },
}

/// Runs a parsed command line, writing results to `out` and diagnostics to `err`.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
    let (text, action) = match cli.command {
        Command::Run {
            check,
            metrics,
            files,
        } => return run_pipeline_command(check, metrics, &files, out, err),
        Command::Parse { json, statement } => {
            let text = match statement.as_deref() {
                None | Some("-") => read_stdin(),
                Some(s) => Ok(s.to_string()),
            };
            (text, Action::Parse { json })
        }
        Command::Fmt { file } => (read_file(file.as_deref()), Action::Fmt),
        Command::Check { connector, file } => {
            (read_file(file.as_deref()), Action::Check { connector })
        }
        Command::Explain {
            connector,
            format,
            file,
        } => (
            read_file(file.as_deref()),
            Action::Explain { connector, format },
        ),
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
    let compile = |c: ConnectorArg| kcql::compile_str(&text, c.into());
    let written = match action {
        Action::Parse { json: true } => {
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
        Action::Parse { json: false } | Action::Fmt => {
            statements.iter().enumerate().try_for_each(|(i, s)| {
                let sep = if i + 1 < statements.len() { ";" } else { "" };
                writeln!(out, "{s}{sep}")
            })
        }
        Action::Check { connector } => {
            if let Some(c) = connector {
                if let Err(d) = compile(c) {
                    let _ = writeln!(err, "{d}");
                    return ExitCode::from(EXIT_INVALID);
                }
            }
            writeln!(
                out,
                "ok: {} statement{}{}",
                statements.len(),
                if statements.len() == 1 { "" } else { "s" },
                connector.map_or(String::new(), |c| format!(
                    " for the {} connector",
                    kcql::Connector::from(c)
                ))
            )
        }
        Action::Explain { connector, format } => {
            let plan = match compile(connector) {
                Ok(p) => p,
                Err(d) => {
                    let _ = writeln!(err, "{d}");
                    return ExitCode::from(EXIT_INVALID);
                }
            };
            let rendered = match format {
                FormatArg::Json => serde_json::to_string_pretty(&plan).map(|s| s + "\n"),
                FormatArg::Text => Ok(kcql::plan::explain(&plan, kcql::plan::ExplainFormat::Text)),
                FormatArg::Dot => Ok(kcql::plan::explain(&plan, kcql::plan::ExplainFormat::Dot)),
                FormatArg::Mermaid => Ok(kcql::plan::explain(
                    &plan,
                    kcql::plan::ExplainFormat::Mermaid,
                )),
            };
            match rendered {
                Ok(r) => out.write_all(r.as_bytes()),
                Err(e) => {
                    let _ = writeln!(err, "kcql: {e}");
                    return ExitCode::from(EXIT_USAGE);
                }
            }
        }
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

/// `kcql run`: load (and validate) the files, then run them on a tokio runtime.
fn run_pipeline_command(
    check: bool,
    metrics: Option<String>,
    files: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitCode {
    use crate::config::Pipeline;
    let tomls = files.iter().filter(|f| f.ends_with(".toml")).count();
    if tomls > 1 || (tomls == 1 && files.len() > 1) {
        let _ = writeln!(
            err,
            "kcql: give one .toml pipeline file, or any number of .properties files"
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let mut pipeline = match Pipeline::load(files) {
        Ok(p) => p,
        Err(errors) => {
            // Each error already leaves credentials out; URLs are stripped again here, the
            // last stop before the terminal.
            for e in &errors {
                let _ = writeln!(err, "error: {}", redact_url(&e.to_string()));
            }
            let _ = writeln!(
                err,
                "kcql: {} problem{} found",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            return ExitCode::from(EXIT_INVALID);
        }
    };
    match metrics.as_deref() {
        None => {}
        Some(m) if m.eq_ignore_ascii_case("off") => pipeline.metrics_addr = None,
        Some(m) => {
            if m.parse::<std::net::SocketAddr>().is_err() {
                let _ = writeln!(
                    err,
                    "kcql: --metrics `{m}` is not an address like 127.0.0.1:9464 (or off)"
                );
                return ExitCode::from(EXIT_USAGE);
            }
            pipeline.metrics_addr = Some(m.to_string());
        }
    }
    if check {
        // A running component logs its own warnings at start.
        for c in &pipeline.components {
            for w in c.settings.warnings() {
                let _ = writeln!(err, "warning: {} `{}`: {w}", c.settings.kind(), c.name);
            }
        }
        let _ = writeln!(
            out,
            "ok: {} component{}: {}",
            pipeline.components.len(),
            if pipeline.components.len() == 1 {
                ""
            } else {
                "s"
            },
            pipeline
                .components
                .iter()
                .map(|c| format!("{} `{}`", c.settings.kind(), c.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
        return ExitCode::SUCCESS;
    }
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "kcql: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let count = pipeline.components.len();
    let result = runtime.block_on(async move {
        let shutdown = crate::shutdown::Shutdown::new();
        shutdown.on_signals();
        crate::run::run_pipeline(
            pipeline,
            shutdown,
            crate::run::Observability::default(),
            |addr| {
                let where_ = addr.map_or("not served".to_string(), |a| {
                    format!("http://{a}/metrics and http://{a}/health")
                });
                tracing::info!(components = count, metrics = %where_, "kcql: pipeline running");
                eprintln!("kcql: running {count} component(s); metrics: {where_}");
            },
        )
        .await
    });
    match result {
        Ok(()) => {
            let _ = writeln!(err, "kcql: stopped cleanly");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(err, "kcql: {}", redact_url(&e.to_string()));
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rdkafka=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Parses `std::env::args` and runs; usage errors exit with status 2 (clap's convention).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Not locked for the whole run: `kcql run` logs to stderr from other threads.
    run(cli, &mut std::io::stdout(), &mut std::io::stderr())
}
