#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, formatting, lints, architecture invariants,
# generated-code freshness, Rust unit and integration tests, UI tests, the MLflow and ONNX
# interop tests against the real Python peers, and the desktop end-to-end test in a real
# window under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/scripts/env.sh
start=$(date +%s)
step() { echo; echo "==> $* ($(( $(date +%s) - start ))s)"; }

step "set-up"
bash tests/scripts/setup-debian.sh

step "formatting"
cargo fmt --all --check

step "UI: type check, unit tests, build"
(cd ui && npm run --silent check && npm run --silent test && npm run --silent build)

step "clippy (warnings are errors)"
# Every cargo command here selects the whole workspace: the same features everywhere, so
# DuckDB's C++ library is built once.
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "architecture invariants"
cargo xtask deps

step "build"
cargo build --workspace --quiet

step "Rust tests (unit, integration, CLI acceptance, generated bindings fresh)"
cargo test --workspace --quiet

step "MLflow round trip (cairn export mlflow read back by MlflowClient; docs/mlflow.md) and search vs MLflow"
bash tests/mlflow/run.sh

step "ONNX interop (every model type: onnxruntime vs Candle within 1e-5; safetensors and zipfile open bundles)"
bash tests/interop/run.sh

step "serving interop (tritonclient.http JSON and binary, requests with every MLflow format and CSV, vs cairn predict)"
bash tests/serve/run.sh

step "registry acceptance (gates, signed approvals, alias history, audit tampering via duckdb, kill -9)"
bash tests/registry/run.sh

step "desktop end-to-end (Xvfb + tauri-driver + WebKitWebDriver)"
bash tests/e2e/run.sh

step "all passed"
