#!/usr/bin/env bash
# Desktop E2E harness: prepares a workspace with the real CLI (import, train, new versions,
# split, quality check), starts Xvfb and tauri-driver, runs tests/e2e/desktop.test.mjs against
# the real app, and stops everything.
# Expects `cargo build --workspace` to have run. Screenshots: target/e2e/.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/scripts/env.sh
BIN_DIR="$CARGO_TARGET_DIR/debug"
CAIRN="${E2E_CAIRN:-$BIN_DIR/cairn}"
APP="$BIN_DIR/cairn-desktop"
[ -x "$CAIRN" ] && [ -x "$APP" ] || { echo "build first: cargo build --workspace" >&2; exit 1; }

SCRATCH=$(mktemp -d)
WS="$SCRATCH/ws"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pkill -f "WebKitWebDriver --port=${NATIVE_PORT:-4445}" 2>/dev/null || true
  if [ -n "${E2E_KEEP:-}" ]; then echo "kept the workspace: $WS" >&2; else rm -rf "$SCRATCH"; fi
}
trap cleanup EXIT

# Runs the CLI on the E2E workspace quietly; shows its output if it fails.
cairn() {
  "$CAIRN" --workspace "$WS" "$@" >"$SCRATCH/cli.log" 2>&1 && return
  local rc=$?
  echo "cairn $* failed (exit $rc):" >&2
  cat "$SCRATCH/cli.log" >&2
  return "$rc"
}
cairn data import sample-data/breast_cancer.csv
cairn train --data breast_cancer --target target --name e2e-logistic --tag purpose=e2e
# The registry (see tests/e2e/README.md): e2e-model v1 and v2 from the same run, production → v1;
# then a policy whose metric gate asks production's next version to beat v1's accuracy by 0.01,
# which v2 (the same model) cannot: its promotion's dry run shows that check failing.
cairn registry register e2e-logistic --name e2e-model --description "Breast cancer classifier (E2E)"
cairn registry register e2e-logistic --name e2e-model
cairn registry promote e2e-model@1 --alias production
cat >"$SCRATCH/policy.toml" <<'EOF_POLICY'
[[aliases.production.metrics]]
metric = "test_accuracy"
min_absolute_change = 0.01
EOF_POLICY
cairn registry policy set "$SCRATCH/policy.toml" --model e2e-model

# The data browser's data sets (see tests/e2e/README.md):
# penguins@1 is the sample; penguins@2 changes one cell (row 1's bill_length_mm 39.1 -> 40.1);
# penguins@2 is split 80/20 and checked against rules of which some fail.
cairn data import sample-data/penguins.csv
awk -F, -v OFS=, 'NR == 2 { $3 = "40.1" } { print }' sample-data/penguins.csv >"$SCRATCH/penguins.csv"
cairn data import "$SCRATCH/penguins.csv" --name penguins
cairn data split penguins --ratios 0.8,0.2 --seed 7 --stratify species
cat >"$SCRATCH/rules.toml" <<'EOF_RULES'
[rows]
min = 100

[[rules]]
check = "not_null"
column = "sex"

[[rules]]
check = "allowed"
column = "species"
values = ["Adelie", "Chinstrap", "Gentoo"]

[[rules]]
check = "range"
column = "body_mass_g"
min = 2500
max = 6500

[[rules]]
name = "bill longer than deep"
check = "expr"
expr = "bill_length_mm > bill_depth_mm"
EOF_RULES
# `check` exits 1 when a rule fails, as some do here; the report is stored all the same.
rc=0
"$CAIRN" --workspace "$WS" data check penguins --rules "$SCRATCH/rules.toml" >"$SCRATCH/cli.log" 2>&1 || rc=$?
[ "$rc" -le 1 ] || { echo "cairn data check failed (exit $rc):" >&2; cat "$SCRATCH/cli.log" >&2; exit 1; }
# The same change with a unique key column, so the diff can match rows and show changed cells.
awk -F, -v OFS=, '{ print (NR == 1 ? "id" : NR - 1), $0 }' sample-data/penguins.csv >"$SCRATCH/penguins_ids.csv"
cairn data import "$SCRATCH/penguins_ids.csv"
awk -F, -v OFS=, '{ print (NR == 1 ? "id" : NR - 1), $0 }' "$SCRATCH/penguins.csv" >"$SCRATCH/penguins_ids.csv"
cairn data import "$SCRATCH/penguins_ids.csv"
# A regression data set for the Train view's residual plot.
cairn data import sample-data/diabetes.csv
# A logged parent run with a child that carries a note, for the run page's lineage facts.
printf '%s\n' \
  '{"event":"start","name":"e2e-parent","params":{"grid":"lr"}}' \
  '{"event":"metric","key":"best","value":0.9,"step":0}' \
  '{"event":"end","status":"finished"}' \
  '{"event":"start","name":"e2e-child","parent":"e2e-parent","params":{"lr":0.1},"note":"Tried a **larger** rate.\nSecond line."}' \
  '{"event":"metric","key":"loss","value":0.5,"step":0}' \
  '{"event":"end","status":"finished"}' | cairn log
# The bundle tests sign with this key pair and write their bundles here.
cairn keys new --out "$SCRATCH/keys" --name e2e
mkdir -p "$SCRATCH/bundles"
# A bundle from another workspace, with its data snapshot, for the import test.
other() {
  "$CAIRN" --workspace "$SCRATCH/other" "$@" >"$SCRATCH/cli.log" 2>&1 && return
  local rc=$?
  echo "cairn $* (other workspace) failed (exit $rc):" >&2
  cat "$SCRATCH/cli.log" >&2
  return "$rc"
}
other data import sample-data/iris.csv
other train --data iris --target target --name other-iris --param epochs=5
other bundle export other-iris --out "$SCRATCH/bundles/other-iris.zip" --include-data
# A data set of millions of rows for the paged table (E2E_BIG_ROWS to change the size).
BIG_ROWS=${E2E_BIG_ROWS:-2000000}
awk -v n="$BIG_ROWS" 'BEGIN { srand(7); print "id,value,group"
  for (i = 1; i <= n; i++) printf "%d,%.4f,g%d\n", i, rand() * 100, i % 7 }' >"$SCRATCH/big.csv"
cairn data import "$SCRATCH/big.csv"
rm -f "$SCRATCH/big.csv"
# Thousands of runs for the Runs and Compare views (E2E_SEED_RUNS, E2E_LONG_POINTS to change):
# dated a day ago, so the runs above stay the newest; seed-00001 has a million-point loss.
SEED_RUNS=${E2E_SEED_RUNS:-3000}
LONG_POINTS=${E2E_LONG_POINTS:-1000000}
cargo build --workspace --example seed_runs --quiet
"$BIN_DIR/examples/seed_runs" "$WS" "$SEED_RUNS" "$LONG_POINTS" >"$SCRATCH/seed.log" 2>&1 \
  || { echo "seeding runs failed:" >&2; cat "$SCRATCH/seed.log" >&2; exit 1; }

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
export E2E_MODEL=e2e-model
export E2E_BIG_ROWS="$BIG_ROWS"
export E2E_SEED_RUNS="$SEED_RUNS" E2E_LONG_POINTS="$LONG_POINTS"
export E2E_CLI="$CAIRN" E2E_RULES="$SCRATCH/rules.toml"
export E2E_KEY="$SCRATCH/keys/e2e.key" E2E_PUB="$SCRATCH/keys/e2e.pub" E2E_BUNDLES="$SCRATCH/bundles"
export SCREENSHOT_DIR="$PWD/target/e2e"
rm -rf "$SCREENSHOT_DIR"
if ! node --test tests/e2e/desktop.test.mjs; then
  echo "--- tauri-driver log"; cat "$SCRATCH/driver.log" || true
  exit 1
fi
echo "screenshots: $(ls "$SCREENSHOT_DIR"/*.png | tr '\n' ' ')"
