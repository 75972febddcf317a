#!/usr/bin/env bash
# ONNX interop: train every model type with the `cairn` binary on the sample data, export each
# run's bundle, score the data with `cairn predict` (Candle), and check with the real Python
# peers (check_onnx.py) that onnxruntime running the bundle's model/model.onnx gives the same
# outputs within 1e-5, that safetensors opens the weights and that zipfile lists exactly the
# manifest's entries.
#
#   bash tests/interop/run.sh           # uses $CAIRN or the workspace's debug build
#
# The venv ($HOME/.cache/cairn-venv-interop) is made by setup.sh from requirements.txt and
# reused while that file is unchanged.
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

for ds in iris breast_cancer diabetes penguins wine digits; do
    c data import "sample-data/$ds.csv" --name "$ds" >/dev/null 2>&1
done

cases="$work/cases.json"
echo "[" > "$cases"
first=1
# case NAME DATASET TARGET MODEL [--param K=V ...]: train, export, score; add to cases.json.
case_() {
    local name=$1 ds=$2 target=$3 model=$4
    shift 4
    c train --data "$ds" --target "$target" --model "$model" --name "$name" --seed 11 "$@" \
        >"$work/$name.train.log" 2>&1 || { cat "$work/$name.train.log" >&2; exit 1; }
    # shellcheck disable=SC2086 # EXPORT_FLAGS is a list of words
    c bundle export "$name" --out "$work/$name.zip" ${EXPORT_FLAGS:-} >/dev/null 2>&1
    c predict "$name" --data "$ds" --out "$work/$name.preds.csv" >/dev/null
    [ $first = 1 ] || echo "," >> "$cases"
    first=0
    printf '{"name": "%s", "bundle": "%s", "data": "%s", "preds": "%s"}\n' \
        "$name" "$work/$name.zip" "sample-data/$ds.csv" "$work/$name.preds.csv" >> "$cases"
}

case_ diabetes-linear diabetes target linear --param epochs=30
case_ diabetes-mlp-tanh diabetes target mlp --param task=regression --param epochs=3 \
    --param 'hidden=[16, 8]' --param activation=tanh
c keys new --out "$work" --name interop >/dev/null
# Signed and with the data snapshot: zipfile must list manifest.sig and the snapshot too.
EXPORT_FLAGS="--sign $work/interop.key --include-data" \
    case_ iris-logistic iris target logistic --param epochs=5
case_ breast-cancer-logistic breast_cancer target logistic --param epochs=5
# Text columns (one-hot), missing numbers and categories, missing indicators, batch norm.
case_ penguins-mlp-bn penguins species mlp --param epochs=5 --param 'hidden=[16, 8]' \
    --param batch_norm=true --param missing_indicator=true --param dropout=0.1
# Ordinal encoding with the most frequent category imputed.
case_ penguins-logistic-ordinal penguins species logistic --param epochs=5 \
    --param categorical=ordinal --param impute=most_frequent --param missing_indicator=true
case_ wine-mlp-gelu wine target mlp --param epochs=5 --param 'hidden=[32, 16]' \
    --param activation=gelu
case_ iris-mlp-sigmoid iris target mlp --param epochs=5 --param 'hidden=[8]' \
    --param activation=sigmoid --param scaling=minmax
case_ digits-cnn-bn digits target cnn --param epochs=2 --param 'conv=[4, 8]' \
    --param dense=32 --param batch_norm=true
echo "]" >> "$cases"
train_s=$(( $(date +%s) - started - venv_s ))

"$VENV/bin/python" tests/interop/check_onnx.py "$cases"
# The signed bundle with data: zipfile sees the signature and the snapshot (check_onnx.py has
# already matched every name against the manifest).
"$VENV/bin/python" - "$work/iris-logistic.zip" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
missing = {"manifest.sig", "data/snapshot.parquet"} - set(names)
assert not missing, f"{sys.argv[1]} lacks {missing}"
PY
echo "ONNX interop passed ($(( $(date +%s) - started ))s: venv ${venv_s}s, cairn ${train_s}s)"
