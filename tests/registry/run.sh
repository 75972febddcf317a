#!/usr/bin/env bash
# The registry's acceptance walk with the real `cairn` binary, as a user would run it: two
# versions, a metric gate that refuses and a forced move, signed approvals with separate duties,
# alias history at three times, the audit log tampered with from outside Cairn (the duckdb
# Python package: an edit, a deletion, a swap, a truncation after a signed checkpoint), kill -9
# inside `register` and `promote`, a promoted bundle verified in a fresh workspace (and with one
# byte of an approval flipped), and bad input that must change nothing.
#
#   bash tests/registry/run.sh      # uses $CAIRN or the workspace's debug build
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/scripts/env.sh
VENV=$(bash tests/interop/setup.sh)
PY="$VENV/bin/python"
CAIRN="${CAIRN:-$CARGO_TARGET_DIR/debug/cairn}"
[ -x "$CAIRN" ] || cargo build --workspace --quiet

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
W="$work/ws"
export CAIRN_WORKSPACE="$W"
c() { "$CAIRN" "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_fail NEEDLE CMD...: CMD exits 1 and its stderr contains NEEDLE.
expect_fail() {
    local needle=$1
    shift
    local err rc=0
    err=$("$@" 2>&1 >/dev/null) || rc=$?
    [ "$rc" = 1 ] || fail "expected exit 1 from: $* (got $rc)"
    grep -qF -- "$needle" <<<"$err" || fail "expected \`$needle\` in the error of: $*; got: $err"
}
jq_() { "$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
entries() { c audit log --json | jq_ 'len(d)'; }
now() { "$PY" -c "import datetime; print(datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='milliseconds').replace('+00:00','Z'))"; }

c data import sample-data/iris.csv --name iris >/dev/null 2>&1
c train --data iris --target target --name good --param epochs=30 >/dev/null 2>&1
c train --data iris --target target --name weak --param epochs=3 >/dev/null 2>&1
c registry register good --name iris >/dev/null
c registry register weak --name iris >/dev/null
[ "$(c registry list --json | jq_ 'd[0]["versions"]')" = 2 ] || fail "two versions"
sig=$(c registry show iris@1 --json | jq_ 'len(d["record"]["signature"]), d["record"]["signature"][0]["min"], len(d["record"]["reference"]["columns"][0]["numeric"]["quantiles"])')
[ "$sig" = "4 4.3 101" ] || fail "signature and sketch: $sig"

c registry tag iris@2 owner=ana >/dev/null
c registry describe iris@2 "the weak one" >/dev/null
[ "$(c registry show iris@2 --json | jq_ 'd["tags"]["owner"], d["description"]')" = "ana the weak one" ] || fail "tags and description"

echo "== --bundle registers a verified bundle file (a modified one is refused, naming the entry)"
c bundle export weak --out "$work/weak.zip" >/dev/null 2>&1
got=$(CAIRN_WORKSPACE="$work/other" c registry register --bundle "$work/weak.zip" --name imported --json | jq_ 'd["version"], d["record"]["run_name"], len(d["record"]["signature"])')
[ "$got" = "1 weak 4" ] || fail "register --bundle: $got"
"$PY" - "$work/weak.zip" "$work/weak-bad.zip" <<'PYEOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as zin, zipfile.ZipFile(sys.argv[2], "w") as zout:
    for info in zin.infolist():
        data = zin.read(info)
        if info.filename == "model/config.json":
            data = data.replace(b"{", b"{ ", 1)
        zout.writestr(info, data)
PYEOF
expect_fail "model/config.json" env CAIRN_WORKSPACE="$work/other2" "$CAIRN" registry register --bundle "$work/weak-bad.zip" --name bad
[ ! -e "$work/other2" ] || fail "a refused bundle created a workspace"

echo "== a metric gate refuses v2; --force moves it, recorded with its reason"
t0=$(now)
sleep 0.05
c registry promote iris@1 --alias production >/dev/null
sleep 0.05
t1=$(now)
cat > "$work/policy.toml" <<'TOML'
[[aliases.production.metrics]]
metric = "test_accuracy"
min_absolute_change = 0.01
TOML
c registry policy set "$work/policy.toml" --model iris >/dev/null
expect_fail "metric:test_accuracy.min_absolute_change" c registry promote iris@2 --alias production
expect_fail "does not beat v1's" c registry promote iris@2 --alias production
expect_fail "needs --reason" c registry promote iris@2 --alias production --force
c registry promote iris@2 --alias production --force --reason "rollback drill" >/dev/null
sleep 0.05
t2=$(now)
forced=$(c audit log --subject model:iris@production --json | jq_ '[(e["action"], json.loads(e["payload"]).get("forced"), json.loads(e["payload"]).get("reason")) for e in d if e["action"] == "registry.alias_move"][-1]')
[ "$forced" = "('registry.alias_move', True, 'rollback drill')" ] || fail "forced move in the audit log: $forced"

c predict iris@production --data iris --out "$work/p.csv" >/dev/null 2>&1 || fail "predict NAME@alias"
[ "$(wc -l < "$work/p.csv")" = 151 ] || fail "predict NAME@alias scores every row"

echo "== history --at before, between and after the two moves"
for pair in "$t0:None" "$t1:1" "$t2:2"; do
    t=${pair%:*}; want=${pair##*:}
    got=$(c registry history iris --alias production --at "$t" --json | jq_ '(d["pointing"] or [{"version": None}])[0]["version"]')
    [ "$got" = "$want" ] || fail "history at $t: $got, want $want"
done

echo "== approvals = 2 with separate duties; untrusted keys refused"
for k in alice bob req mallory; do c keys new --out "$work" --name $k >/dev/null; done
pub() { cut -d' ' -f2 "$work/$1.pub"; }
cat > "$work/policy2.toml" <<TOML
[aliases.production]
[[aliases.production.metrics]]
metric = "test_accuracy"
min_absolute_change = 0.01

[aliases.staging]
approvals = 2
separate_duties = true
trusted_keys = ["$(pub alice)", "$(pub bob)", "cairn-ed25519-public-v1 $(pub req)"]
TOML
c registry policy set "$work/policy2.toml" --model iris >/dev/null
mallory_fp=$(c keys new --out "$work/m2" --name x --json | jq_ 'd["fingerprint"]') # (another untrusted key)
expect_fail "is not trusted" c registry approve iris@1 --alias staging --key "$work/mallory.key"
expect_fail "$mallory_fp" c registry approve iris@1 --alias staging --key "$work/m2/x.key"
c registry approve iris@1 --alias staging --key "$work/req.key" >/dev/null
c registry approve iris@1 --alias staging --key "$work/alice.key" --comment "looks good" >/dev/null
expect_fail "1 of 2" c registry promote iris@1 --alias staging --key "$work/req.key"
expect_fail "does not count" c registry promote iris@1 --alias staging --key "$work/req.key"
c registry approve iris@1 --alias staging --key "$work/bob.key" >/dev/null
c registry promote iris@1 --alias staging --key "$work/req.key" >/dev/null
[ "$(c registry show iris@staging --json | jq_ 'd["version"]')" = 1 ] || fail "staging → v1"

echo "== a reproduce gate reads the evidence \`cairn registry reproduce\` records"
cat "$work/policy2.toml" > "$work/policy3.toml"
printf '\n[aliases.audited]\nreproduce = true\n' >> "$work/policy3.toml"
c registry policy set "$work/policy3.toml" --model iris >/dev/null
expect_fail "no reproduction is recorded for iris@1" c registry promote iris@1 --alias audited
c registry reproduce iris@1 >/dev/null 2>&1 || fail "registry reproduce iris@1"
c registry promote iris@1 --alias audited >/dev/null
c audit log --subject model:iris@1 --json | jq_ '[e["action"] for e in d]' | grep -q registry.reproduce || fail "the reproduction is audited"

echo "== the promoted bundle carries its approvals and gate report into a fresh workspace"
c bundle export iris@staging --out "$work/promoted.zip" >/dev/null 2>&1
v=$(CAIRN_WORKSPACE="$work/fresh" c bundle verify "$work/promoted.zip" --json | jq_ 'd["ok"], sum(a["valid"] for a in d["registry"]["approvals"]), all(g["valid"] for g in d["registry"]["gate_reports"]), sorted(g["alias"] for g in d["registry"]["gate_reports"])')
[ "$v" = "True 3 True ['audited', 'production', 'staging']" ] || fail "promoted bundle: $v"
"$PY" - "$work/promoted.zip" "$work/flipped.zip" <<'PYEOF'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
    for info in zin.infolist():
        data = zin.read(info)
        if info.filename == "registry/approvals.json":
            i = data.index(b'"signature": "') + len(b'"signature": "') + 10
            data = data[:i] + (b"0" if data[i:i + 1] != b"0" else b"1") + data[i + 1:]
        zout.writestr(info, data)
PYEOF
expect_fail "approval 1 (key" env CAIRN_WORKSPACE="$work/fresh" "$CAIRN" bundle verify "$work/flipped.zip"
expect_fail "the signature does not verify" env CAIRN_WORKSPACE="$work/fresh" "$CAIRN" bundle verify "$work/flipped.zip"

echo "== kill -9 inside register and inside promote: all or nothing, and the log verifies"
kill_at() {
    local point=$1
    shift
    rm -f "$W/failpoint-$point"
    CAIRN_FAILPOINT=$point "$CAIRN" "$@" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 600); do [ -e "$W/failpoint-$point" ] && break; sleep 0.05; done
    [ -e "$W/failpoint-$point" ] || fail "never reached $point"
    kill -9 $pid
    wait $pid 2>/dev/null || true
    rm -f "$W/failpoint-$point"
}
before=$(entries)
kill_at registry.register registry register good --name killed
c registry list --json | jq_ '[m["name"] for m in d]' | grep -q killed && fail "a killed register left a model"
kill_at registry.promote registry promote iris@1 --alias canary
c registry show iris@1 --json | jq_ 'd["aliases"]' | grep -q canary && fail "a killed promote moved the alias"
[ "$(entries)" = "$before" ] || fail "killed changes left audit entries ($before → $(entries))"
c audit verify >/dev/null || fail "audit verify after kill -9"

echo "== lineage: file → data → run → model version → bundle → aliases, as JSON, DOT and Mermaid"
kinds=$(c lineage iris@staging --json | jq_ '" ".join(sorted({n["kind"] for n in d["nodes"]})), d["root"]')
[ "$kinds" = "alias bundle data file model run model:iris@1" ] || fail "lineage: $kinds"
c lineage iris@1 --format dot | grep -q 'digraph lineage' || fail "lineage as DOT"
c lineage iris@1 --format mermaid | grep -q '^flowchart LR' || fail "lineage as Mermaid"
c lineage good --json | jq_ '[n["id"] for n in d["nodes"]]' | grep -q "model:iris@1" || fail "a run's lineage names its model version"

echo "== search over model versions and data sets"
[ "$(c registry search "models.alias = 'staging'" --json | jq_ '[h["name"] + "@" + str(h["version"]) for h in d]')" = "['iris@1']" ] || fail "models.alias"
[ "$(c registry search "models.name = 'iris' ORDER BY metrics.test_accuracy DESC LIMIT 1" --json | jq_ 'd[0]["run_name"]')" = good ] || fail "ordered by a metric"
found=$(c search iris --json | jq_ 'len(d["runs"]) > 0, len(d["models"]), [x["label"] for x in d["datasets"]]')
[ "$found" = "True 2 ['iris@1']" ] || fail "free-text search finds runs, models and data sets: $found"

echo "== bad input: clear errors, nothing changed"
before=$(entries)
expect_fail "alias \`latest\` is reserved" c registry promote iris@1 --alias latest
expect_fail "alias \`v2\` is reserved" c registry promote iris@1 --alias v2
expect_fail "the limit is 64" c registry promote iris@1 --alias "$(printf 'a%.0s' $(seq 65))"
expect_fail "has \`ü\`" c registry promote iris@1 --alias prodüction
expect_fail "no registered model \`nope\`" c registry promote nope@1 --alias production
expect_fail "has no version 9" c registry promote iris@9 --alias production
printf '[aliases.production\napprovals = 1\n' > "$work/bad1.toml"
expect_fail "bad1.toml: line 1, column" c registry policy set "$work/bad1.toml" --model iris
printf '[[aliases.production.metrics]]\nmetric = "test_acuracy"\nthreshold = 0.9\n' > "$work/bad2.toml"
expect_fail "unknown metric \`test_acuracy\`" c registry policy set "$work/bad2.toml" --model iris
printf '[aliases.production]\napprovals = "two"\n' > "$work/bad3.toml"
expect_fail "bad3.toml: line 2, column 13" c registry policy set "$work/bad3.toml" --model iris
[ "$(entries)" = "$before" ] || fail "bad input changed the audit log"
c registry register weak --name iris >/dev/null
c registry archive iris@3 --reason "superseded" >/dev/null
before=$(entries)
expect_fail "archived" c registry promote iris@3 --alias production
[ "$(entries)" = "$before" ] || fail "promoting an archived version changed the log"

echo "== tampering from outside Cairn is found, naming the first bad entry"
c audit verify >/dev/null || fail "untouched log must verify"
n=$(entries)
tamper() {
    rm -rf "$work/t"
    cp -r "$W" "$work/t"
    "$PY" tests/registry/tamper.py "$work/t/cairn.duckdb" "$@"
}
tamper edit 4
expect_fail "FAILED at entry 4" env CAIRN_WORKSPACE="$work/t" "$CAIRN" audit verify
tamper delete 6
expect_fail "FAILED at entry 6" env CAIRN_WORKSPACE="$work/t" "$CAIRN" audit verify
tamper swap 8
expect_fail "FAILED at entry 8" env CAIRN_WORKSPACE="$work/t" "$CAIRN" audit verify
c audit checkpoint --key "$work/alice.key" >/dev/null
tamper truncate $((n - 2))
expect_fail "FAILED at entry $((n - 1))" env CAIRN_WORKSPACE="$work/t" "$CAIRN" audit verify
c audit verify >/dev/null || fail "the untouched log (with its checkpoint) must verify"
echo "registry acceptance: ok"
