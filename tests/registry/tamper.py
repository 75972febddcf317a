"""Tampers with a Cairn workspace's audit log from outside Cairn, through the duckdb package.

    python tamper.py WORKSPACE/cairn.duckdb edit|delete|swap|truncate SEQ [N]

edit      changes entry SEQ's payload (its hash is left alone)
delete    removes entry SEQ
swap      exchanges the contents (all but seq) of entries SEQ and SEQ+1
truncate  removes every entry after SEQ
"""
import sys

import duckdb

path, how, seq = sys.argv[1], sys.argv[2], int(sys.argv[3])
con = duckdb.connect(path)
cols = "ts, actor, key, action, subject, payload, prev, hash"
if how == "edit":
    before = con.execute("SELECT payload FROM audit_log WHERE seq = ?", [seq]).fetchone()[0]
    # A believable edit: one digit (or the first character) of the payload changed.
    after = before.replace("1", "2", 1) if "1" in before else "{}" if before != "{}" else "[]"
    con.execute("UPDATE audit_log SET payload = ? WHERE seq = ?", [after, seq])
elif how == "delete":
    con.execute("DELETE FROM audit_log WHERE seq = ?", [seq])
elif how == "swap":
    a = con.execute(f"SELECT {cols} FROM audit_log WHERE seq = ?", [seq]).fetchone()
    b = con.execute(f"SELECT {cols} FROM audit_log WHERE seq = ?", [seq + 1]).fetchone()
    sets = ", ".join(f"{c} = ?" for c in cols.split(", "))
    con.execute(f"UPDATE audit_log SET {sets} WHERE seq = ?", [*b, seq])
    con.execute(f"UPDATE audit_log SET {sets} WHERE seq = ?", [*a, seq + 1])
elif how == "truncate":
    con.execute("DELETE FROM audit_log WHERE seq > ?", [seq])
else:
    sys.exit(f"unknown tampering {how!r}")
con.close()
