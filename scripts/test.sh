#!/usr/bin/env bash
# Runs everything CI runs: formatting, lints, every test (unit, property, spec corpus,
# conformance, CLI), in release mode so the property tests get through many cases quickly.
# Usage: scripts/test.sh            (from anywhere; needs only cargo)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

if [ -x scripts/services.sh ]; then
  step "services"
  scripts/services.sh up
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (workspace, release)"
# The process tests (kcql run as a child process) use target/release/kcql: kcql-runtime's own
# tests name it with CARGO_BIN_EXE_kcql; the root iot_pipeline_e2e test finds it with
# kcql_testkit::bin::kcql_binary (cargo builds it for kcql-runtime's tests in this run).
cargo test --workspace --release

step "conformance"
# kcql_conformance is kcql's test, influx_conformance and mqtt_conformance kcql-runtime's.
cargo test --workspace --release --test kcql_conformance --test influx_conformance --test mqtt_conformance -- --nocapture 2>&1 \
  | grep -E '^(CONFORMANCE|FAILED|DIFFERENCE)'

step "all tests passed"
