"""The peer of `cargo xtask bench tracking`: MLflow (installed from PyPI) with its sqlite backend,
on the same machine, doing the three tasks of issue 5's benchmark, so Cairn's figures can be
stated as ratios measured in the same run.

    python tracking_peers.py --out FILE [--full] [--skip-search] [--runs-search 10000,100000]
                             [--work DIR]

Prints one JSON object on stdout (and writes it to --out):

    mlflow_version, python_version, machine, load_before, load_after, full
    log_metric          {count, seconds, per_s}   (a) MlflowClient.log_metric, one call per point
                                                  (2,000 points; --full: 100,000)
    log_batch_points    {count, batch, seconds, per_s}  (a) log_batch, 100,000 points in batches
                                                  of 1,000
    create_runs         {count, seconds, per_s}   (b) per call: create_run, 10 log_param,
                                                  5 log_metric, 3 set_tag, set_terminated
                                                  (100 runs; --full: 1,000)
    create_runs_batch   {count, seconds, per_s}   (b) create_run, one log_batch (10 params,
                                                  5 metrics, 3 tags), set_terminated; 1,000 runs
    search              {"10000": {runs, repeats, first_ms, p50_ms, p95_ms, min_ms, returned,
                                   populate_s}, "100000": {...}}
                                                  (c) search_runs with a filter plus an order-by,
                                                  max_results=100

Every task gets a fresh sqlite database (`sqlite:///DIR/TASK.db`) whose schema MLflow creates
itself (its alembic migrations run once, untimed). The search populations are not created
through the API (100,000 runs take hours at MLflow's per-call rate): one run made through the
API is the template, its rows in `runs`, `params`, `metrics`, `latest_metrics` and `tags` are
read back, and 10,000 or 100,000 copies with new ids and values are inserted with sqlite3
`executemany` (populating is not timed). A search through MLflow then checks that it sees them
before the timed searches. Each run of a population has params p0..p9 (p0 is 'x' or 'y'),
metrics m0..m4 uniform in [0, 1) (one point each, step 0), and tags t0..t2.

The MLflow version is pinned by the harness (xtask/src/bench/tracking.rs), which installs it.
"""

import argparse
import json
import os
import platform
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid

FILTER = "metrics.m0 > 0.5 and params.p0 = 'x'"
ORDER_BY = ["metrics.m1 DESC"]
PAGE = 100


def loadavg():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def quantile(values, q):
    v = sorted(values)
    if not v:
        return float("nan")
    # Nearest rank, as the harness states p50/p95.
    k = max(0, min(len(v) - 1, int(round(q * (len(v) - 1)))))
    return v[k]


def client_for(work, name):
    from mlflow import MlflowClient

    path = os.path.join(work, name + ".db")
    if os.path.exists(path):
        os.remove(path)
    client = MlflowClient(tracking_uri="sqlite:///" + path)
    # The first call creates the schema (alembic migrations): not timed.
    exp = client.create_experiment(name)
    return client, exp, path


def rate(count, seconds):
    return {"count": count, "seconds": seconds, "per_s": count / seconds if seconds > 0 else None}


def bench_log_metric(work, points):
    client, exp, _ = client_for(work, "log_metric")
    run = client.create_run(exp).info.run_id
    rng = random.Random(1)
    started = time.perf_counter()
    for step in range(points):
        client.log_metric(run, "loss", rng.random(), step=step)
    seconds = time.perf_counter() - started
    client.set_terminated(run)
    got = len(client.get_metric_history(run, "loss"))
    assert got == points, f"MLflow holds {got} of {points} points"
    return rate(points, seconds)


def bench_log_batch(work, points, batch):
    from mlflow.entities import Metric

    client, exp, _ = client_for(work, "log_batch")
    run = client.create_run(exp).info.run_id
    rng = random.Random(2)
    ts = int(time.time() * 1000)
    started = time.perf_counter()
    for first in range(0, points, batch):
        metrics = [
            Metric("loss", rng.random(), ts, step) for step in range(first, min(points, first + batch))
        ]
        client.log_batch(run, metrics=metrics)
    seconds = time.perf_counter() - started
    client.set_terminated(run)
    got = len(client.get_metric_history(run, "loss"))
    assert got == points, f"MLflow holds {got} of {points} points"
    out = rate(points, seconds)
    out["batch"] = batch
    return out


def run_record(rng, i):
    params = {f"p{k}": ("x" if rng.random() < 0.5 else "y") if k == 0 else str(rng.random()) for k in range(10)}
    metrics = {f"m{k}": rng.random() for k in range(5)}
    tags = {f"t{k}": f"tag-{i % 7}-{k}" for k in range(3)}
    return params, metrics, tags


def bench_create_runs(work, count):
    client, exp, _ = client_for(work, "create_runs")
    rng = random.Random(3)
    records = [run_record(rng, i) for i in range(count)]
    started = time.perf_counter()
    for i, (params, metrics, tags) in enumerate(records):
        run = client.create_run(exp, run_name=f"run-{i}").info.run_id
        for k, v in params.items():
            client.log_param(run, k, v)
        for k, v in metrics.items():
            client.log_metric(run, k, v, step=0)
        for k, v in tags.items():
            client.set_tag(run, k, v)
        client.set_terminated(run)
    seconds = time.perf_counter() - started
    return rate(count, seconds)


def bench_create_runs_batch(work, count):
    from mlflow.entities import Metric, Param, RunTag

    client, exp, _ = client_for(work, "create_runs_batch")
    rng = random.Random(4)
    records = [run_record(rng, i) for i in range(count)]
    started = time.perf_counter()
    for i, (params, metrics, tags) in enumerate(records):
        run = client.create_run(exp, run_name=f"run-{i}").info.run_id
        ts = int(time.time() * 1000)
        client.log_batch(
            run,
            metrics=[Metric(k, v, ts, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        client.set_terminated(run)
    seconds = time.perf_counter() - started
    return rate(count, seconds)


def rows_of(conn, table, run_id):
    cur = conn.execute(f"SELECT * FROM {table} WHERE run_uuid = ?", (run_id,))
    cols = [d[0] for d in cur.description]
    return cols, [dict(zip(cols, r)) for r in cur.fetchall()]


def populate(work, runs):
    """A database with `runs` runs: one made through MLflow's API as the template, the rest
    inserted into its tables directly. Returns (client, experiment id, seconds)."""
    started = time.perf_counter()
    client, exp, path = client_for(work, f"search_{runs}")
    rng = random.Random(runs)
    params, metrics, tags = run_record(rng, 0)
    template = client.create_run(exp, run_name="template").info.run_id
    for k, v in params.items():
        client.log_param(template, k, v)
    for k, v in metrics.items():
        client.log_metric(template, k, v, step=0)
    for k, v in tags.items():
        client.set_tag(template, k, v)
    client.set_terminated(template)

    conn = sqlite3.connect(path)
    tables = {}
    for table in ("runs", "params", "metrics", "latest_metrics", "tags"):
        cols, rows = rows_of(conn, table, template)
        tables[table] = (cols, rows)
    run_cols, [run_row] = tables["runs"]
    base_ms = run_row["start_time"]

    def insert(table, rows):
        cols = tables[table][0]
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
        conn.executemany(sql, ([r[c] for c in cols] for r in rows))

    chunk = 5000
    for first in range(1, runs, chunk):
        new = {t: [] for t in tables}
        for i in range(first, min(runs, first + chunk)):
            rid = uuid.UUID(int=rng.getrandbits(128)).hex
            p, m, t = run_record(rng, i)
            row = dict(run_row)
            row.update(run_uuid=rid, name=f"run-{i}", start_time=base_ms + i, end_time=base_ms + i + 1)
            if "artifact_uri" in row and row["artifact_uri"]:
                row["artifact_uri"] = row["artifact_uri"].replace(template, rid)
            new["runs"].append(row)
            for r in tables["params"][1]:
                new["params"].append({**r, "run_uuid": rid, "value": p[r["key"]]})
            for table in ("metrics", "latest_metrics"):
                for r in tables[table][1]:
                    new[table].append({**r, "run_uuid": rid, "value": m[r["key"]]})
            for r in tables["tags"][1]:
                value = t.get(r["key"], r["value"]) if r["key"] != "mlflow.runName" else f"run-{i}"
                new["tags"].append({**r, "run_uuid": rid, "value": value})
        for table, rows in new.items():
            insert(table, rows)
        conn.commit()
    conn.close()
    seconds = time.perf_counter() - started

    # MLflow sees them: every run is found, and a filtered search matches bulk-inserted runs.
    from mlflow.entities import ViewType

    seen = client.search_runs([exp], run_view_type=ViewType.ALL, max_results=1)
    assert len(seen) == 1
    found = client.search_runs([exp], filter_string="params.p0 = 'x'", max_results=1000)
    assert len(found) >= min(1000, runs // 4), f"MLflow sees {len(found)} runs with p0 = 'x'"
    assert any(r.info.run_name != "template" for r in found)
    total = count_runs(client, exp) if runs <= 10_000 else None
    if total is not None:
        assert total == runs, f"MLflow lists {total} runs, {runs} were written"
    return client, exp, seconds


def count_runs(client, exp):
    n, token = 0, None
    while True:
        page = client.search_runs([exp], max_results=50000, page_token=token)
        n += len(page)
        token = page.token
        if not token:
            return n


def bench_search(work, runs, repeats):
    client, exp, populate_s = populate(work, runs)
    times = []
    returned = 0
    for i in range(repeats + 1):
        started = time.perf_counter()
        found = client.search_runs([exp], filter_string=FILTER, order_by=ORDER_BY, max_results=PAGE)
        times.append((time.perf_counter() - started) * 1e3)
        returned = len(found)
        if i == 0:
            values = [r.data.metrics["m1"] for r in found]
            assert values == sorted(values, reverse=True), "MLflow's order-by is not descending"
            assert all(r.data.metrics["m0"] > 0.5 and r.data.params["p0"] == "x" for r in found)
    first, rest = times[0], times[1:]
    return {
        "runs": runs,
        "repeats": repeats,
        "first_ms": first,
        "p50_ms": quantile(rest, 0.5),
        "p95_ms": quantile(rest, 0.95),
        "min_ms": min(rest),
        "returned": returned,
        "populate_s": populate_s,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--full", action="store_true", help="the full counts for the per-call tasks")
    ap.add_argument("--skip-search", action="store_true")
    ap.add_argument("--runs-search", default="10000,100000", help="population sizes, comma-separated")
    ap.add_argument("--work", help="folder for the sqlite databases (default: a temporary one)")
    args = ap.parse_args()

    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    import mlflow

    work = args.work or tempfile.mkdtemp(prefix="cairn-bench-mlflow-")
    os.makedirs(work, exist_ok=True)
    log = lambda msg: print(f"[tracking_peers] {msg}", file=sys.stderr, flush=True)
    result = {
        "peer": "mlflow",
        "mlflow_version": mlflow.__version__,
        "python_version": platform.python_version(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "backend": "sqlite",
        "full": args.full,
        "load_before": loadavg(),
    }
    try:
        n = 100_000 if args.full else 2_000
        log(f"(a) log_metric, {n} points, one call each")
        result["log_metric"] = bench_log_metric(work, n)
        log(f"    {result['log_metric']['per_s']:.1f} points/s")
        log("(a) log_batch, 100000 points in batches of 1000")
        result["log_batch_points"] = bench_log_batch(work, 100_000, 1_000)
        log(f"    {result['log_batch_points']['per_s']:.0f} points/s")
        n = 1_000 if args.full else 100
        log(f"(b) create {n} runs, one call per param/metric/tag")
        result["create_runs"] = bench_create_runs(work, n)
        log(f"    {result['create_runs']['per_s']:.2f} runs/s")
        log("(b) create 1000 runs with log_batch")
        result["create_runs_batch"] = bench_create_runs_batch(work, 1_000)
        log(f"    {result['create_runs_batch']['per_s']:.1f} runs/s")
        result["search"] = {}
        if not args.skip_search:
            for size in [int(s.replace("_", "")) for s in args.runs_search.split(",") if s.strip()]:
                repeats = 5 if size < 100_000 else 3
                log(f"(c) search {size} runs ({repeats} repeats after a first search)")
                fig = bench_search(work, size, repeats)
                result["search"][str(size)] = fig
                log(f"    p50 {fig['p50_ms']:.0f} ms, first {fig['first_ms']:.0f} ms (populated in {fig['populate_s']:.0f} s, untimed)")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    result["load_after"] = loadavg()
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
