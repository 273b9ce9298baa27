//! The spec corpus: every `kcql/tests/specs/**/*.kcql` file is one input (possibly several
//! `;`-separated statements), parsed with [`kcql::parse_many`] and snapshotted with insta
//! (`kcql/tests/snapshots/`).
//!
//! - Files under `kcql/tests/specs/errors/` must fail; their snapshot is the rendered
//!   diagnostics.
//! - Every other file must parse; its snapshot holds, per statement, the canonical print, the
//!   AST as pretty JSON and the reference view (target type and field lists, one line each).
//!   The canonical print must parse back to an equal AST and print identically (idempotent),
//!   alone and as a whole `;`-separated program.
//! - Together, the error specs must produce every [`ErrorKind`] variant that parsing can raise
//!   (all but the `Stage::Plan` ones) at least once. The variants are read from
//!   `kcql/src/diag.rs`, so a new kind without a spec is named in the failure.
//!
//! Update the snapshots with `INSTA_UPDATE=always cargo test -p kcql --test specs` (or
//! `cargo insta`), then review the diff.

use kcql::{ErrorKind, Statement};
use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;

/// The variant name of an error kind (`Unexpected`, `DuplicateClause` …).
fn kind_name(kind: &ErrorKind) -> String {
    format!("{kind:?}")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

/// The `ErrorKind` variants a spec must produce, read from `kcql/src/diag.rs` so that a new
/// kind without an error spec fails this test (with its name) instead of going unnoticed:
/// every variant except those of the `Stage::Plan` arm of `ErrorKind::stage` (spec files are
/// parsed, not compiled for a connector).
fn parse_kind_names() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/diag.rs");
    let src = std::fs::read_to_string(&path).expect("kcql/src/diag.rs is readable");
    let body = src
        .split_once("pub enum ErrorKind {")
        .and_then(|(_, rest)| rest.split_once("\n}"))
        .map(|(body, _)| body)
        .expect("diag.rs defines `pub enum ErrorKind { … }`");
    let variants = body
        .lines()
        .filter_map(|line| line.strip_prefix("    "))
        .filter(|line| line.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(|line| {
            line.chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect::<String>()
        });
    // The match arm `A | B { .. } | C => Stage::Plan`: the names after the previous arm.
    let plan_arm = src
        .split_once("fn stage(&self)")
        .and_then(|(_, body)| body.split_once("=> Stage::Plan"))
        .map(|(before, _)| {
            let arm = before.rsplit_once("Stage::").map_or(before, |(_, a)| a);
            arm.split_once(',').map_or(arm, |(_, a)| a)
        })
        .unwrap_or("");
    let plan: BTreeSet<&str> = plan_arm
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.starts_with(|c: char| c.is_ascii_uppercase()))
        .collect();
    variants.filter(|v| !plan.contains(v.as_str())).collect()
}

/// Checks the canonical print of `stmt` (it parses back to an equal AST and prints
/// identically) and returns the snapshot text for it.
fn render_statement(index: usize, stmt: &Statement) -> Result<String, String> {
    let printed = stmt.to_string();
    let reparsed = kcql::parse(&printed).map_err(|d| {
        format!("statement {index}: the canonical print does not parse:\n{printed}\n{d}")
    })?;
    if &reparsed != stmt {
        return Err(format!(
            "statement {index}: parse(print(ast)) != ast; print:\n{printed}\nreparsed: {reparsed:#?}"
        ));
    }
    if reparsed.to_string() != printed {
        return Err(format!(
            "statement {index}: printing is not idempotent:\n{printed}\n{reparsed}"
        ));
    }
    let json = serde_json::to_string_pretty(stmt).map_err(|e| e.to_string())?;
    let view = reference_view(stmt)?;
    Ok(format!(
        "--- statement {index} ---\n{printed}\n\n{json}\n\nreference view:\n{view}"
    ))
}

/// The reference implementation's view of `stmt` (target type and field lists after `_key.`,
/// `_header.` and `_.` rules), one compact JSON line per entry, empty lists left out.
fn reference_view(stmt: &Statement) -> Result<String, String> {
    fn line<T: serde::Serialize>(out: &mut String, label: &str, value: &T) -> Result<(), String> {
        let json = serde_json::to_string(value).map_err(|e| e.to_string())?;
        let _ = writeln!(out, "  {label}: {json}");
        Ok(())
    }
    let mut out = String::new();
    match stmt.target_type() {
        Some(Ok(t)) => line(&mut out, "target type", &t)?,
        Some(Err(e)) => {
            let _ = writeln!(out, "  target type: error: {e}");
        }
        None => {}
    }
    let selected = stmt.selected_fields();
    let lists = [
        ("field", selected.fields),
        ("key field", selected.key_fields),
        ("header field", selected.header_fields),
        ("ignored field", stmt.ignored_fields()),
        ("primary key", stmt.primary_key_fields()),
    ];
    for (label, fields) in &lists {
        for f in fields {
            line(&mut out, label, f)?;
        }
    }
    if out.is_empty() {
        out.push_str("  (no fields)\n");
    }
    Ok(out)
}

/// Parses one spec input and returns its snapshot text, or what is wrong with it.
fn run_spec(
    input: &str,
    must_fail: bool,
    kinds_seen: &mut BTreeSet<String>,
) -> (String, Result<(), String>) {
    let mut out = format!("--- input ---\n{input}");
    if !input.ends_with('\n') {
        out.push('\n');
    }
    match kcql::parse_many(input) {
        Ok(stmts) => {
            let mut problems = Vec::new();
            if must_fail {
                problems.push("expected a parse error, but it parsed".to_string());
            }
            for (i, stmt) in stmts.iter().enumerate() {
                match render_statement(i + 1, stmt) {
                    Ok(text) => {
                        out.push('\n');
                        out.push_str(&text);
                    }
                    Err(e) => problems.push(e),
                }
            }
            // The whole canonical program parses back to the same statements.
            let program = stmts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(";\n");
            match kcql::parse_many(&program) {
                Ok(again) if again == stmts => {}
                Ok(_) => {
                    problems.push(format!("the canonical program changed meaning:\n{program}"))
                }
                Err(d) => problems.push(format!(
                    "the canonical program does not parse:\n{program}\n{d}"
                )),
            }
            let verdict = if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("\n"))
            };
            (out, verdict)
        }
        Err(diags) => {
            kinds_seen.extend(diags.iter().map(|d| kind_name(&d.kind)));
            let _ = write!(out, "\n--- diagnostics ---\n{diags}\n");
            let verdict = if diags.is_empty() {
                Err("an error with no diagnostics".to_string())
            } else if must_fail {
                Ok(())
            } else {
                Err(format!("expected to parse, but:\n{diags}"))
            };
            (out, verdict)
        }
    }
}

#[test]
fn specs() {
    let specs_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs");
    // `glob!` hands out canonical paths.
    let specs_dir = specs_dir.canonicalize().unwrap_or(specs_dir);
    let mut files = 0usize;
    let mut failures: Vec<String> = Vec::new();
    let mut kinds_seen: BTreeSet<String> = BTreeSet::new();
    insta::glob!("specs/**/*.kcql", |path| {
        files += 1;
        let rel = path
            .strip_prefix(&specs_dir)
            .expect("spec files live under tests/specs");
        let must_fail = rel.starts_with("errors");
        let input = std::fs::read_to_string(path).expect("spec files are UTF-8");
        let (out, verdict) = run_spec(&input, must_fail, &mut kinds_seen);
        if let Err(e) = verdict {
            failures.push(format!("{}: {e}", rel.display()));
        }
        insta::assert_snapshot!(out);
    });
    assert!(
        failures.is_empty(),
        "{} spec(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(files >= 90, "the spec corpus shrank to {files} files");
    let all = parse_kind_names();
    assert!(
        all.len() >= 20,
        "could not read the ErrorKind variants: {all:?}"
    );
    let missing: Vec<&String> = all.iter().filter(|k| !kinds_seen.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "error kinds with no spec under tests/specs/errors/: {missing:?}"
    );
}
