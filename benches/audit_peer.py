"""The peer of `cargo xtask bench audit`: an auditor's independent check of a Cairn audit log,
in Python with the duckdb package and hashlib, following docs/formats/audit-log.md alone.

    python audit_peer.py WORKSPACE/cairn.duckdb REPEATS

Reads every entry in seq order, recomputes each hash and link, and prints one JSON line:
{"entries": N, "ok": true, "seconds": [...]} (the first bad seq instead of ok when broken).
"""
import hashlib
import json
import sys
import time

import duckdb

DOMAIN = b"cairn-audit-v1\n"
GENESIS = "0" * 64


def js(s):
    # The format's minimal escapes; json.dumps(ensure_ascii=False) escapes the same characters
    # except that it writes control characters other than \n \r \t as \u00XX, as the format does.
    return json.dumps(s, ensure_ascii=False)


def verify(path):
    con = duckdb.connect(path, read_only=True)
    rows = con.execute(
        "SELECT seq, ts, actor, key, action, subject, payload, prev, hash FROM audit_log ORDER BY seq"
    ).fetchall()
    con.close()
    prev = GENESIS
    for i, (seq, ts, actor, key, action, subject, payload, prev_stored, h) in enumerate(rows, 1):
        if seq != i or prev_stored != prev:
            return i, len(rows)
        msg = (
            '{"action":' + js(action) + ',"actor":' + js(actor) + ',"at":' + js(ts)
            + ',"key":' + (js(key) if key is not None else "null") + ',"payload":' + payload
            + ',"prev":' + js(prev_stored) + ',"seq":' + str(seq) + ',"subject":' + js(subject) + "}"
        )
        if hashlib.sha256(DOMAIN + msg.encode()).hexdigest() != h:
            return i, len(rows)
        prev = h
    return None, len(rows)


def main():
    path, repeats = sys.argv[1], int(sys.argv[2])
    seconds = []
    for _ in range(repeats):
        t = time.perf_counter()
        bad, n = verify(path)
        seconds.append(time.perf_counter() - t)
    print(json.dumps({"entries": n, "ok": bad is None, "first_bad": bad, "seconds": seconds}))


main()
