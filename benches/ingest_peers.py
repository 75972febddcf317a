"""The peers of `cargo xtask bench ingest`: the same import + profile done by DuckDB alone and
by pandas, so Cairn's time can be stated as a ratio measured in the same run.

    python ingest_peers.py duckdb FILE.csv DB_PATH   # CREATE TABLE AS read_csv, then SUMMARIZE
    python ingest_peers.py pandas FILE.csv           # pd.read_csv, then describe(include='all')

Prints one JSON object on stdout: the tool, its version, the rows read and the time of each
phase in seconds (the harness times the whole process from outside as well).
"""

import json
import sys
import time


def run_duckdb(csv_path, db_path):
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect(db_path)
    con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [csv_path])
    t1 = time.perf_counter()
    summary = con.execute("SUMMARIZE t").fetchall()
    rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
    t2 = time.perf_counter()
    con.close()
    t3 = time.perf_counter()
    return {
        "tool": "duckdb",
        "version": duckdb.__version__,
        "rows": rows,
        "columns": len(summary),
        "read_s": t1 - t0,
        "profile_s": t2 - t1,
        "close_s": t3 - t2,
    }


def run_pandas(csv_path):
    import pandas as pd

    t0 = time.perf_counter()
    df = pd.read_csv(csv_path)
    t1 = time.perf_counter()
    described = df.describe(include="all")
    t2 = time.perf_counter()
    return {
        "tool": "pandas",
        "version": pd.__version__,
        "rows": len(df),
        "columns": described.shape[1],
        "read_s": t1 - t0,
        "profile_s": t2 - t1,
    }


def main(argv):
    if len(argv) == 4 and argv[1] == "duckdb":
        out = run_duckdb(argv[2], argv[3])
    elif len(argv) == 3 and argv[1] == "pandas":
        out = run_pandas(argv[2])
    else:
        sys.exit(__doc__)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
