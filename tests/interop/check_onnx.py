"""Checks Cairn bundles against the real Python peers (run by tests/interop/run.sh).

For each case (a bundle, the data set CSV it was trained on, and `cairn predict`'s scores of
that CSV), it checks that:

- `zipfile` lists exactly the manifest's entries, `manifest.json` and (when signed) `manifest.sig`;
- `safetensors` opens `model/weights.safetensors`, with the tensor names and shapes the model
  config implies;
- `onnx.checker` accepts `model/model.onnx` (full check, with shape inference), it declares
  opset 17 and IR version 8, and its initializers hold exactly the safetensors weights;
- onnxruntime, fed the raw columns as docs/formats/bundle.md ("model.onnx") describes them,
  matches Candle's predictions: every class probability within 1e-5 and the same labels, or the
  regression prediction within 1e-5 relative to max(1, |y|) (see TOLERANCE_NOTE).

It prints one line per case and exits non-zero when any check fails.

    python check_onnx.py CASES.json
"""

import io
import json
import os
import sys
import tempfile
import zipfile

import mlflow.models
import mlflow.pyfunc
import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from onnx import numpy_helper
from safetensors.numpy import load as load_safetensors

TOLERANCE = 1e-5
TOLERANCE_NOTE = (
    "regression predictions are float32 in target units: at |y| ~ 300 one float32 step is "
    "3e-5, so they are compared relative to max(1, |y|)"
)


def expected_tensors(config):
    """The weight names and shapes a model config implies (model.rs, re-derived here)."""
    kind = config["model"]
    shapes = {}

    def dense(prefix, inp, out):
        shapes[f"{prefix}.weight"] = (out, inp)
        shapes[f"{prefix}.bias"] = (out,)

    def bn(prefix, c):
        for leaf in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{leaf}"] = (c,)

    if kind in ("linear", "logistic"):
        dense("linear", config["n_features"], config["n_outputs"])
    elif kind == "mlp":
        width = config["n_features"]
        for i, h in enumerate(config["hidden"]):
            dense(f"hidden{i}", width, h)
            if config["batch_norm"]:
                bn(f"bn{i}", h)
            width = h
        dense("out", width, config["n_outputs"])
    elif kind == "cnn":
        c_in, k = config["channels"], config["kernel"]
        for i, c in enumerate(config["conv"]):
            shapes[f"conv{i}.weight"] = (c, c_in, k, k)
            shapes[f"conv{i}.bias"] = (c,)
            if config["batch_norm"]:
                bn(f"bn{i}", c)
            c_in = c
        flat = c_in * (config["height"] // 2) * (config["width"] // 2)
        dense("fc", flat, config["dense"])
        dense("out", config["dense"], config["n_outputs"])
    else:
        raise AssertionError(f"unknown model kind {kind!r}")
    return shapes


def features(pre, data):
    """The `features` input from raw data, as docs/formats/bundle.md describes it."""
    columns, names = [], []
    for spec in pre["features"]:
        kind, col = spec["kind"], spec["column"]
        raw = data[col]
        if kind == "numeric":
            columns.append(pd.to_numeric(raw, errors="raise").to_numpy(np.float64))
            names.append(col)
            continue
        missing = raw.isna().to_numpy()
        values = raw.where(~raw.isna(), spec.get("fill")).astype(object)
        cats = spec["categories"]
        if kind == "one_hot":
            for c in cats:
                columns.append((values == c).to_numpy(np.float64))
                names.append(f"{col}={c}")
        else:
            index = {c: i for i, c in enumerate(cats)}
            columns.append(np.array([index.get(v, -1) for v in values], dtype=np.float64))
            names.append(col)
        if spec["indicator"]:
            columns.append(missing.astype(np.float64))
            names.append(f"{col}__missing")
    return np.stack(columns, axis=1).astype(np.float32), names


def check_mlflow(z, onnx_bytes, x, outputs):
    """The bundle's mlflow/ directory, loaded by mlflow.pyfunc alone: same outputs as
    onnxruntime on the whole data, a signature naming the input, an input example that loads
    and predicts."""
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in z.namelist():
            if name.startswith("mlflow/"):
                # Names were checked against the manifest above; write them without extract()'s
                # path handling, under tmp only.
                target = os.path.join(tmp, *name.split("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as f:
                    f.write(z.read(name))
        mdir = os.path.join(tmp, "mlflow")
        if z.read("mlflow/model.onnx") != onnx_bytes:
            problems.append("mlflow/model.onnx differs from model/model.onnx")
        model = mlflow.pyfunc.load_model(mdir)
        got = model.predict(x)
        for name, want in outputs.items():
            if name not in got or not np.array_equal(np.asarray(got[name]), want):
                problems.append(f"mlflow.pyfunc output {name} differs from onnxruntime's")
        sig = model.metadata.signature
        inputs = sig.inputs.to_dict() if sig else []
        if len(inputs) != 1 or inputs[0].get("name") != "features" or list(inputs[0]["tensor-spec"]["shape"]) != [-1, x.shape[1]]:
            problems.append(f"signature inputs {inputs}")
        outs = sorted(o["name"] for o in sig.outputs.to_dict()) if sig else []
        if outs != sorted(outputs):
            problems.append(f"signature outputs {outs} != {sorted(outputs)}")
        example = mlflow.models.Model.load(mdir).load_input_example(mdir)
        rows = np.asarray(example["features"] if isinstance(example, dict) else example, dtype=np.float32)
        if rows.shape != (min(5, len(x)), x.shape[1]) or not np.allclose(rows, x[: len(rows)], equal_nan=True):
            problems.append(f"the input example {rows.shape} is not the first rows of the data")
        first = model.predict(rows)
        for name, want in outputs.items():
            if not np.array_equal(np.asarray(first[name]), want[: len(rows)]):
                problems.append(f"mlflow.pyfunc on the input example: {name} differs")
    return problems


def check_case(case):
    problems = []
    z = zipfile.ZipFile(case["bundle"])
    names = z.namelist()
    manifest = json.loads(z.read("manifest.json"))
    listed = [e["path"] for e in manifest["entries"]] + ["manifest.json"]
    if "manifest.sig" in names:
        listed.append("manifest.sig")
    if sorted(names) != sorted(listed) or len(set(names)) != len(names):
        problems.append(f"zip entries {sorted(names)} != manifest {sorted(listed)}")
    if "model/model.onnx" not in listed:
        problems.append("the manifest does not list model/model.onnx")

    config = json.loads(z.read("model/config.json"))
    pre = json.loads(z.read("model/preprocessing.json"))
    weights = load_safetensors(z.read("model/weights.safetensors"))
    want = expected_tensors(config)
    got = {k: tuple(v.shape) for k, v in weights.items()}
    if got != want:
        problems.append(f"safetensors tensors {got} != expected {want}")

    onnx_bytes = z.read("model/model.onnx")
    model = onnx.load_model_from_string(onnx_bytes)
    onnx.checker.check_model(model, full_check=True)
    opsets = {o.domain: o.version for o in model.opset_import}
    if opsets != {"": 17} or model.ir_version != 8:
        problems.append(f"opsets {opsets}, ir_version {model.ir_version}")
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for name, w in weights.items():
        if name not in inits or not np.array_equal(inits[name], w):
            problems.append(f"ONNX initializer {name} differs from the safetensors tensor")

    data = pd.read_csv(case["data"], keep_default_na=False, na_values=[""])
    x, columns = features(pre, data)
    meta = {p.key: p.value for p in model.metadata_props}
    if json.loads(meta["cairn.input_columns"]) != columns:
        problems.append(f"input columns {meta['cairn.input_columns']} != {columns}")
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"features": x})))

    problems += check_mlflow(z, onnx_bytes, x, outputs)

    preds = pd.read_csv(case["preds"], keep_default_na=False, na_values=[""])
    if len(preds) != len(data) or list(preds["row"]) != list(range(1, len(data) + 1)):
        problems.append(f"{len(preds)} scored rows for {len(data)} data rows")
    target = pre["target"]["column"]
    if pre["target"]["kind"] == "classes":
        classes = pre["target"]["classes"]
        if [str(v) for v in preds[target]] != [str(v) for v in data[target]]:
            problems.append("the scores' target column does not line up with the data")
        proba = outputs["probabilities"]
        candle = preds[[f"proba_{c}" for c in classes]].to_numpy(np.float64)
        diff = float(np.abs(proba.astype(np.float64) - candle).max())
        labels = [classes[i] for i in outputs["label"]]
        wrong = sum(a != str(b) for a, b in zip(labels, preds["prediction"]))
        if wrong:
            problems.append(f"{wrong} labels differ from Candle's")
        if proba.dtype != np.float32 or outputs["label"].dtype != np.int64:
            problems.append(f"output types {proba.dtype}, {outputs['label'].dtype}")
        ok = diff <= TOLERANCE
        measure = f"max |Δp| {diff:.3e}"
        what = f"{len(classes)} classes"
    else:
        if not np.allclose(preds[target].to_numpy(np.float64), data[target].to_numpy(np.float64)):
            problems.append("the scores' target column does not line up with the data")
        y = outputs["prediction"][:, 0].astype(np.float64)
        candle = preds["prediction"].to_numpy(np.float64)
        diff = float(np.abs(y - candle).max())
        rel = float((np.abs(y - candle) / np.maximum(1.0, np.abs(candle))).max())
        ok = rel <= TOLERANCE
        measure = f"max |Δy| {diff:.3e} (relative {rel:.3e})"
        what = "regression"
    if not ok:
        problems.append(f"{measure} exceeds {TOLERANCE}")
    return {
        "diff": diff,
        "line": f"{case['name']:<26} {config['model']:<9} {what:<11} {len(data):>5} rows  {measure}",
        "problems": problems,
    }


def main():
    cases = json.load(open(sys.argv[1]))
    failed = 0
    print(f"{'case':<26} {'model':<9} {'task':<11} {'rows':>10}  onnxruntime {ort.__version__} vs Candle")
    for case in cases:
        try:
            result = check_case(case)
        except Exception as e:  # noqa: BLE001 — report every case, then fail
            result = {"line": f"{case['name']:<26} error: {type(e).__name__}: {e}", "problems": [str(e)]}
        status = "ok" if not result["problems"] else "FAIL"
        print(f"{result['line']}  {status}")
        for p in result["problems"]:
            print(f"    - {p}")
        failed += bool(result["problems"])
    print(f"note: {TOLERANCE_NOTE}")
    print(f"{len(cases) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
