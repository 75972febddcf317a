#!/usr/bin/env bash
# Desktop E2E harness: prepares a workspace with the real CLI (import + train), starts Xvfb and
# tauri-driver, runs tests/e2e/desktop.test.mjs against the real app, and stops everything.
# Expects `cargo build --workspace` to have run. Screenshots: target/e2e/.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/scripts/env.sh
BIN_DIR="$CARGO_TARGET_DIR/debug"
CAIRN="$BIN_DIR/cairn"
APP="$BIN_DIR/cairn-desktop"
[ -x "$CAIRN" ] && [ -x "$APP" ] || { echo "build first: cargo build --workspace" >&2; exit 1; }

SCRATCH=$(mktemp -d)
WS="$SCRATCH/ws"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pkill -f "WebKitWebDriver --port=${NATIVE_PORT:-4445}" 2>/dev/null || true
  rm -rf "$SCRATCH"
}
trap cleanup EXIT

"$CAIRN" --workspace "$WS" data import sample-data/breast_cancer.csv >/dev/null
"$CAIRN" --workspace "$WS" train --data breast_cancer --target target --name e2e-logistic \
  --tag purpose=e2e >/dev/null 2>&1

DISPLAY_NUM=${E2E_DISPLAY:-:97}
Xvfb "$DISPLAY_NUM" -screen 0 1280x800x24 -nolisten tcp >"$SCRATCH/xvfb.log" 2>&1 &
pids+=($!)
export DISPLAY="$DISPLAY_NUM"
PORT=${E2E_PORT:-4444}
NATIVE_PORT=${E2E_NATIVE_PORT:-4445}
tauri-driver --port "$PORT" --native-port "$NATIVE_PORT" >"$SCRATCH/driver.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done

export CAIRN_WORKSPACE="$WS"
export CAIRN_DESKTOP_BIN="$APP"
export CAIRN_DESKTOP_ARGS="[\"--workspace\", \"$WS\"]"
export WEBDRIVER_URL="http://127.0.0.1:$PORT"
export E2E_EXPECT_DATASET=breast_cancer
export E2E_EXPECT_RUN=e2e-logistic
export SCREENSHOT_DIR="$PWD/target/e2e"
rm -rf "$SCREENSHOT_DIR"
if ! node --test tests/e2e/desktop.test.mjs; then
  echo "--- tauri-driver log"; cat "$SCRATCH/driver.log" || true
  exit 1
fi
echo "screenshots: $(ls "$SCREENSHOT_DIR"/*.png | tr '\n' ' ')"
