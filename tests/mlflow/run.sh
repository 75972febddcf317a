#!/usr/bin/env bash
# The MLflow round trip (issue 5): record runs with the `cairn` binary, `cairn export mlflow`,
# and read the export back with the real MLflow client (mlflow-skinny from PyPI), comparing
# every param, tag, metric history point, status, time and artifact with `cairn runs show --json`;
# then the differential search test (search_mlflow.py): MLflow's search_runs and
# `cairn runs search` on the same runs, query by query.
#
#   bash tests/mlflow/run.sh            # uses $CAIRN or the workspace's debug build
#
# The venv is the interop tests' one (tests/interop/setup.sh: mlflow-skinny and the ONNX peers
# pinned in tests/interop/requirements.txt), so CI installs MLflow once. Cost on the 2-core CI
# machine: see docs/mlflow.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/scripts/env.sh
started=$(date +%s)

VENV=$(bash tests/interop/setup.sh)
venv_s=$(( $(date +%s) - started ))

CAIRN="${CAIRN:-$CARGO_TARGET_DIR/debug/cairn}"
if [ ! -x "$CAIRN" ]; then
    cargo build --workspace --quiet
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CAIRN_WORKSPACE="$work/ws"
c() { "$CAIRN" "$@"; }

c data import sample-data/iris.csv --name iris >/dev/null 2>&1
c data import sample-data/diabetes.csv --name diabetes >/dev/null 2>&1
# Typed params (int, float, bool, list, string), tags, two models, a regression.
c train --data iris --target target --model logistic --name iris-logistic --seed 7 \
    --param epochs=5 --param lr=0.05 --param optimizer=adam \
    --tag team=flowers --tag stage/ab=b >/dev/null 2>&1
c train --data iris --target target --model mlp --name iris-mlp --seed 3 \
    --param epochs=4 --param 'hidden=[16, 8]' --param lr=0.00003 \
    --tag team=flowers >/dev/null 2>&1
c train --data diabetes --target target --model linear --name diabetes-linear \
    --param epochs=3 --tag 'purpose=round trip' >/dev/null 2>&1
# A run killed mid-training (SIGKILL): the next open marks it killed.
"$CAIRN" train --data iris --target target --model mlp --name killed-run --param epochs=1000000 \
    >/dev/null 2>&1 &
pid=$!
sleep 4
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
# Runs recorded from outside Cairn's trainer, when this build has `cairn log`.
if c log --help >/dev/null 2>&1; then
    {
        echo '{"event":"start","name":"logged","params":{"lr":0.01,"layers":[64,32],"bn":true,"opt":"sgd"},"tags":{"source":"script"}}'
        for s in 0 1 2 3 4; do
            echo "{\"event\":\"metric\",\"key\":\"val/loss\",\"step\":$s,\"value\":0.$((9 - s))}"
        done
        echo '{"event":"note","text":"# Logged from a script\n\nA *markdown* note, carried as mlflow.note.content."}'
        echo '{"event":"end","status":"finished"}'
        # A child run (a trial of the run above): carried as mlflow.parentRunId.
        echo '{"event":"start","name":"logged-trial","parent":"logged","params":{"lr":0.02}}'
        echo '{"event":"metric","key":"val/loss","value":0.4}'
        echo '{"event":"end","status":"finished"}'
        # Two points sent 300 ms apart keep their own times (once `cairn log` is reading: a
        # line waiting in the pipe while it starts is timed when it is read).
        sleep 1
        echo '{"event":"start","name":"timed"}'
        echo '{"event":"metric","key":"loss","value":1.0}'
        sleep 0.3
        echo '{"event":"metric","key":"loss","value":0.5}'
        echo '{"event":"end"}'
    } | c log >/dev/null
fi

c runs list --json > "$work/list.json"
python3 - "$work/list.json" > "$work/ids.txt" <<'PY'
import json, sys
print("\n".join(r["id"] for r in json.load(open(sys.argv[1]))))
PY
{
    echo "["
    first=1
    while read -r id; do
        [ $first = 1 ] || echo ","
        first=0
        c runs show "$id" --json
    done < "$work/ids.txt"
    echo "]"
} > "$work/runs.json"

c export mlflow --out "$work/mlruns" --json > "$work/export.json"
# A second export replaces the first (it is a previous export), and --query selects runs.
c export mlflow --out "$work/mlruns" --json > /dev/null
MLFLOW_ALLOW_FILE_STORE=true "$VENV/bin/python" tests/mlflow/check_export.py \
    --export "$work/mlruns" --runs "$work/runs.json"

c export mlflow --out "$work/flowers" --query "tags.team = 'flowers'" --experiment flowers --json > "$work/flowers.json"
python3 - "$work/runs.json" "$work/flowers-runs.json" <<'PY'
import json, sys
runs = [r for r in json.load(open(sys.argv[1])) if r["tags"].get("team") == "flowers"]
json.dump(runs, open(sys.argv[2], "w"))
PY
MLFLOW_ALLOW_FILE_STORE=true "$VENV/bin/python" tests/mlflow/check_export.py \
    --export "$work/flowers" --runs "$work/flowers-runs.json" --experiment flowers

# A folder that is neither empty nor an export is refused.
mkdir -p "$work/other" && touch "$work/other/keep"
if c export mlflow --out "$work/other" 2>/dev/null; then
    echo "export into a foreign non-empty folder was not refused" >&2
    exit 1
fi
echo "MLflow round trip passed ($(( $(date +%s) - started ))s, venv ${venv_s}s)"

# The query language against MLflow's search_runs on the same runs (docs/query-language.md).
MLFLOW_ALLOW_FILE_STORE=true "$VENV/bin/python" tests/mlflow/search_mlflow.py --cairn "$CAIRN"
