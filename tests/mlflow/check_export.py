"""Reads a `cairn export mlflow` folder with the real MLflow client and checks it against
Cairn's own account of every run (`cairn runs show RUN --json`): params (as text, exactly as
documented in docs/mlflow.md), tags (the run's own plus MLflow's and Cairn's system tags),
every metric history point (step and value, exact; its timestamp within the run, and for the run
`timed` as far apart as the points were sent), status, start and end times, and the
artifacts (bytes, by SHA-256).

    MLFLOW_ALLOW_FILE_STORE=true python check_export.py --export DIR --runs RUNS.json
        [--experiment cairn]

RUNS.json is a JSON list of `cairn runs show --json` objects. Exits non-zero on the first
difference, naming the run and the field.
"""

import argparse
import calendar
import datetime as dt
import decimal
import hashlib
import json
import math
import os
import sys
import tempfile

STATUS = {
    "queued": "SCHEDULED",
    "running": "RUNNING",
    "finished": "FINISHED",
    "failed": "FAILED",
    "killed": "KILLED",
}


def rust_f64(x):
    """A float as Rust's `{:?}` writes it (the text Cairn exports for a float param)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "-0.0" if math.copysign(1, x) < 0 else "0.0"
    sign, digits, exp = decimal.Decimal(repr(x)).as_tuple()
    digits = list(digits)
    while len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exp += 1
    s = "-" if sign else ""
    text = "".join(map(str, digits))
    if 1e-4 <= abs(x) < 1e16:
        point = len(text) + exp  # digits before the decimal point
        if exp >= 0:
            return s + text + "0" * exp + ".0"
        if point > 0:
            return s + text[:point] + "." + text[point:]
        return s + "0." + "0" * (-point) + text
    sci = len(text) - 1 + exp
    mant = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{s}{mant}e{sci}"


def param_text(p):
    kind, value = p["type"], p["value"]
    if kind == "int":
        return str(value)
    if kind == "float":
        return rust_f64(float(value))
    if kind == "bool":
        return "true" if value else "false"
    if kind in ("str", "string"):
        return value
    if kind == "list":
        return "[" + ", ".join(param_text(v) for v in value) + "]"
    raise ValueError(f"unknown param type {kind}")


def ms(text):
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return calendar.timegm(t.utctimetuple()) * 1000 + t.microsecond // 1000


def same_float(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def fail(run, what):
    print(f"MISMATCH run {run['id']} ({run['name']}): {what}", file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--export", required=True)
    ap.add_argument("--runs", required=True)
    ap.add_argument("--experiment", default="cairn")
    args = ap.parse_args()

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    with open(args.runs) as f:
        runs = json.load(f)
    root = os.path.abspath(args.export)
    client = MlflowClient(tracking_uri="file://" + root)
    exp = client.get_experiment_by_name(args.experiment)
    assert exp is not None, f"MLflow finds no experiment {args.experiment!r} in {root}"
    found = client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL, max_results=50000)
    ids = sorted(r.info.run_id for r in found)
    want = sorted(r["id"] for r in runs)
    assert ids == want, f"MLflow lists runs {ids}, Cairn has {want}"

    counts = {"runs": 0, "params": 0, "tags": 0, "metric_series": 0, "metric_points": 0, "artifacts": 0}
    for run in runs:
        got = client.get_run(run["id"])
        info, data = got.info, got.data
        if info.run_name != run["name"]:
            fail(run, f"name {info.run_name!r} != {run['name']!r}")
        if info.status != STATUS[run["status"]]:
            fail(run, f"status {info.status} != {STATUS[run['status']]}")
        if info.start_time != ms(run["created_at"]):
            fail(run, f"start_time {info.start_time} != {ms(run['created_at'])}")
        end = ms(run["finished_at"]) if run.get("finished_at") else None
        if info.end_time != end:
            fail(run, f"end_time {info.end_time} != {end}")

        params = {k: param_text(v) for k, v in run["params"].items()}
        if data.params != params:
            fail(run, f"params {data.params} != {params}")

        tags = dict(run["tags"])
        tags["mlflow.runName"] = run["name"]
        tags["cairn.model"] = run["model"]
        tags["cairn.dataset"] = run["dataset"]
        tags["cairn.dataset_hash"] = run["dataset_hash"]
        tags["cairn.target"] = run["target"]
        tags["cairn.seed"] = str(run["seed"])
        if run.get("note"):
            tags["mlflow.note.content"] = run["note"]
        if run.get("parent_id"):
            tags["mlflow.parentRunId"] = run["parent_id"]
        if run.get("error"):
            tags["cairn.error"] = run["error"]
        env = run.get("environment")
        if env not in (None, {}):
            tags["cairn.environment"] = None  # compared as JSON below
        if set(data.tags) != set(tags):
            fail(run, f"tag keys {sorted(data.tags)} != {sorted(tags)}")
        for k, v in tags.items():
            if k == "cairn.environment":
                if json.loads(data.tags[k]) != env:
                    fail(run, "tag cairn.environment differs from the run's environment")
            elif data.tags[k] != v:
                fail(run, f"tag {k}: {data.tags[k]!r} != {v!r}")

        history = run.get("history", {})
        if set(data.metrics) != set(history):
            fail(run, f"metric keys {sorted(data.metrics)} != {sorted(history)}")
        for key, points in history.items():
            got_points = client.get_metric_history(run["id"], key)
            a = [(m.step, m.value) for m in got_points]
            b = [(p["step"], float(p["value"]) if p["value"] is not None else math.nan) for p in points]
            if len(a) != len(b) or any(sa != sb or not same_float(va, vb) for (sa, va), (sb, vb) in zip(a, b)):
                fail(run, f"metric {key}: history differs (MLflow {a[:5]}..., Cairn {b[:5]}...)")
            # Each point carries the time it was logged: within its run's life.
            until = info.end_time if info.end_time is not None else info.start_time + 86_400_000
            for m in got_points:
                if not info.start_time <= m.timestamp <= until:
                    fail(run, f"metric {key} step {m.step}: timestamp {m.timestamp} outside the run "
                              f"({info.start_time}..{until})")
            if run["name"] == "timed":
                gap = got_points[-1].timestamp - got_points[0].timestamp
                if gap < 250:
                    fail(run, f"metric {key}: points sent 300 ms apart are {gap} ms apart")
            last = run["metrics"].get(key)
            if last is not None and not same_float(data.metrics[key], last):
                fail(run, f"metric {key}: latest {data.metrics[key]} != Cairn's last {last}")
            counts["metric_series"] += 1
            counts["metric_points"] += len(a)

        with tempfile.TemporaryDirectory() as tmp:
            for art in run.get("artifacts", []):
                local = client.download_artifacts(run["id"], art["path"], tmp)
                with open(local, "rb") as f:
                    sha = hashlib.sha256(f.read()).hexdigest()
                if sha != art["sha256"]:
                    fail(run, f"artifact {art['path']}: sha256 {sha} != {art['sha256']}")
                counts["artifacts"] += 1
        counts["runs"] += 1
        counts["params"] += len(params)
        counts["tags"] += len(tags)

    print(json.dumps({"ok": True, "mlflow_version": mlflow.__version__, **counts}))


if __name__ == "__main__":
    main()
