#!/usr/bin/env bash
# Real clients against `cairn serve` (docs/serving.md): tritonclient.http in JSON and binary
# mode, and requests with each MLflow scoring format and CSV, get `cairn predict`'s answers.
#
#   bash tests/serve/run.sh      # uses $CAIRN or the workspace's debug build
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/scripts/env.sh
VENV=$(bash tests/interop/setup.sh)
PY="$VENV/bin/python"
CAIRN="${CAIRN:-$CARGO_TARGET_DIR/debug/cairn}"
[ -x "$CAIRN" ] || cargo build --workspace --quiet

work=$(mktemp -d)
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
export CAIRN_WORKSPACE="$work/ws"
c() { "$CAIRN" "$@"; }

c data import sample-data/penguins.csv >/dev/null 2>&1
c train --data penguins --target species --name p --param epochs=50 >/dev/null 2>&1
c registry register p --name penguins >/dev/null
c predict penguins@1 --data penguins --out "$work/scores.csv" >/dev/null 2>&1

c serve penguins@1 --port 0 --for-seconds 120 >"$work/serve.out" 2>"$work/serve.err" &
server=$!
for _ in $(seq 1 100); do
    grep -q "^serving on" "$work/serve.out" 2>/dev/null && break
    sleep 0.1
done
port=$(sed -n 's/^serving on http:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$work/serve.out")
[ -n "$port" ] || { echo "FAIL: the server did not start: $(cat "$work/serve.err")" >&2; exit 1; }
"$PY" tests/serve/check_clients.py "$port" penguins sample-data/penguins.csv "$work/scores.csv" species
echo "serve interop: passed"
