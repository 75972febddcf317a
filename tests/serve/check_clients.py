"""Real clients against `cairn serve`: tritonclient.http in JSON and in binary mode, and
requests with each MLflow scoring format and CSV, must give `cairn predict`'s answers on the
same rows (classes exact, probabilities within 1e-6).

    python check_clients.py PORT MODEL DATA.csv SCORES.csv TARGET
"""
import csv
import io
import json
import sys

import numpy as np
import requests
import tritonclient.http as httpclient

port, model, data_csv, scores_csv, target = sys.argv[1:6]
url = f"127.0.0.1:{port}"
base = f"http://{url}"

meta = requests.get(f"{base}/v2/models/{model}", timeout=10).json()
fields = [(i["name"], i["datatype"]) for i in meta["inputs"]]
classes = meta["parameters"]["classes"]

with open(data_csv, newline="") as f:
    data = list(csv.DictReader(f))
with open(scores_csv, newline="") as f:
    scores = {int(r["row"]): r for r in csv.DictReader(f)}
# Rows with every input present (the null rules have their own tests), 40 of them.
rows = [(i + 1, r) for i, r in enumerate(data) if all(r[n] != "" for n, _ in fields)][:40]
assert len(rows) == 40, len(rows)
want_label = [scores[i]["prediction"] for i, _ in rows]
want_proba = np.array([[float(scores[i][f"proba_{c}"]) for c in classes] for i, _ in rows])


def value(name, dtype, text):
    return float(text) if dtype != "BYTES" else text


def check(what, labels, proba):
    assert list(labels) == want_label, f"{what}: labels {list(labels)[:5]} vs {want_label[:5]}"
    proba = np.asarray(proba, dtype=float)
    diff = np.abs(proba - want_proba).max()
    assert diff <= 1e-6, f"{what}: probabilities differ by {diff}"
    print(f"ok  {what}: {len(labels)} rows, max |Δp| = {diff:.1e}")


client = httpclient.InferenceServerClient(url=url)
assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(model)
for binary in (False, True):
    inputs = []
    for name, dtype in fields:
        if dtype == "BYTES":
            arr = np.array([r[name].encode() for _, r in rows], dtype=np.object_)
        else:
            arr = np.array([float(r[name]) for _, r in rows], dtype=np.float64)
        t = httpclient.InferInput(name, [len(rows)], dtype)
        t.set_data_from_numpy(arr, binary_data=binary)
        inputs.append(t)
    outputs = [
        httpclient.InferRequestedOutput("label", binary_data=binary),
        httpclient.InferRequestedOutput("probabilities", binary_data=binary),
    ]
    res = client.infer(model, inputs, outputs=outputs, request_id="r-1")
    labels = [x.decode() if isinstance(x, bytes) else x for x in res.as_numpy("label")]
    check(f"tritonclient.http {'binary' if binary else 'JSON'}", labels, res.as_numpy("probabilities"))
    assert res.get_response()["id"] == "r-1"

names = [n for n, _ in fields]
records = [{n: value(n, d, r[n]) for n, d in fields} for _, r in rows]
bodies = {
    "dataframe_split": {"dataframe_split": {"columns": names, "data": [[rec[n] for n in names] for rec in records]}},
    "dataframe_records": {"dataframe_records": records},
    "instances": {"instances": records},
    "inputs": {"inputs": {n: [rec[n] for rec in records] for n in names}},
}
for fmt, body in bodies.items():
    r = requests.post(f"{base}/invocations", json=body, timeout=10)
    assert r.status_code == 200, (fmt, r.status_code, r.text)
    preds = r.json()["predictions"]
    check(f"requests {fmt}", [p["prediction"] for p in preds], [[p[f"proba_{c}"] for c in classes] for p in preds])
buf = io.StringIO()
w = csv.writer(buf)
w.writerow(names)
for _, r in rows:
    w.writerow([r[n] for n in names])
r = requests.post(f"{base}/invocations", data=buf.getvalue(), headers={"Content-Type": "text/csv"}, timeout=10)
assert r.status_code == 200, r.text
preds = r.json()["predictions"]
check("requests text/csv", [p["prediction"] for p in preds], [[p[f"proba_{c}"] for c in classes] for p in preds])

# Errors as each protocol gives them.
r = requests.post(f"{base}/invocations", data="x", headers={"Content-Type": "text/plain"}, timeout=10)
assert r.status_code == 415 and "error_code" in r.json(), r.text
r = requests.post(f"{base}/invocations", json={"dataframe_split": {"columns": names, "data": [[None] * len(names)]}}, timeout=10)
assert r.status_code == 400 and r.json()["error_code"] == "BAD_REQUEST", r.text
try:
    client.infer("no-such-model", inputs)
    raise AssertionError("an unknown model answered")
except httpclient.InferenceServerException as e:
    assert e.status() in ("404", 404), e.status()
print("ok  errors: 415 for text/plain, 400 BAD_REQUEST, 404 unknown model via tritonclient")
