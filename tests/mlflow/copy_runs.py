"""Copies every run of a `cairn export mlflow` folder to another MLflow tracking server or
database through MlflowClient: the way to move Cairn's history onto a shared server
(docs/mlflow.md).

    MLFLOW_ALLOW_FILE_STORE=true python copy_runs.py --export DIR --to URI [--experiment cairn]

URI is a server (`http://mlflow.example:5000`) or a database (`sqlite:///mlflow.db`). The
server gives each run a new id; the Cairn id is kept in the tag `cairn.run_id` and parent runs
(`mlflow.parentRunId`) are re-pointed at the new ids. Params, tags and metric histories go in
`log_batch` calls within MLflow's limits; artifacts are uploaded; status and times are kept.
Prints one JSON line: the runs copied and the id map.
"""

import argparse
import json
import os
import tempfile


def chunks(items, n):
    for i in range(0, len(items), n):
        yield items[i : i + n]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--export", required=True)
    ap.add_argument("--to", required=True)
    ap.add_argument("--experiment", default="cairn")
    args = ap.parse_args()
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag, ViewType

    src = MlflowClient(tracking_uri="file://" + os.path.abspath(args.export))
    dst = MlflowClient(tracking_uri=args.to)
    exp = src.get_experiment_by_name(args.experiment)
    target = dst.get_experiment_by_name(args.experiment)
    target_id = target.experiment_id if target else dst.create_experiment(args.experiment)

    runs, token = [], None
    while True:
        page = src.search_runs([exp.experiment_id], run_view_type=ViewType.ALL, max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            break
    # Cairn ids are UUIDv7: sorting them puts parents before their children.
    runs.sort(key=lambda r: r.info.run_id)
    new_ids = {}
    for run in runs:
        info, data = run.info, run.data
        tags = dict(data.tags)
        tags["cairn.run_id"] = info.run_id
        if "mlflow.parentRunId" in tags:
            tags["mlflow.parentRunId"] = new_ids.get(tags["mlflow.parentRunId"], tags["mlflow.parentRunId"])
        created = dst.create_run(target_id, start_time=info.start_time, run_name=info.run_name)
        rid = created.info.run_id
        new_ids[info.run_id] = rid
        params = [Param(k, v) for k, v in sorted(data.params.items())]
        tag_list = [RunTag(k, v) for k, v in sorted(tags.items()) if k != "mlflow.runName"]
        for p in chunks(params, 100):
            dst.log_batch(rid, params=p)
        for t in chunks(tag_list, 100):
            dst.log_batch(rid, tags=t)
        for key in sorted(data.metrics):
            history = src.get_metric_history(info.run_id, key)
            points = [Metric(key, m.value, m.timestamp, m.step) for m in history]
            for m in chunks(points, 1000):
                dst.log_batch(rid, metrics=m)
        if src.list_artifacts(info.run_id):
            with tempfile.TemporaryDirectory() as tmp:
                local = src.download_artifacts(info.run_id, "", tmp)
                dst.log_artifacts(rid, local)
        if info.status != "RUNNING":
            dst.set_terminated(rid, status=info.status, end_time=info.end_time)
    print(json.dumps({"copied": len(runs), "experiment_id": target_id, "ids": new_ids}))


if __name__ == "__main__":
    main()
