#!/usr/bin/env bash
# Issue 13's benchmarks, in one run (receive side on tmpfs):
#   1. a random file live through the relay and straight to the recipient (--direct), beside raw
#      loopback TCP (socat);
#   2. resume: on a link limited to SHAPED_MBS MB/s (bench/shaper.py; on loopback a recipient
#      does not keep a copy: sending again is cheaper), a send stopped with kill -9 once the
#      recipient holds half the file, then the next send (which resumes), beside a whole send;
#   3. one send to three recipients (all listening) beside a send to one;
#   4. the 3des suite in memory (cargo bench --bench courier: sealed and opened on both cores)
#      beside `openssl speed` des-ede3-cbc on one core.
# Knobs: RUNS (5), BIG_MIB (256), SHAPED_MBS (100), CASES (raw relay direct shaped shapedresumed
# three), SKIP_3DES=1.
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}; BIG_MIB=${BIG_MIB:-256}; CASES=${CASES:-raw relay direct shaped shapedresumed three}
cargo build --release --quiet --bins
bash bench/peers/setup.sh >/dev/null
export SSLX="$PWD/target/release/sslx"
W=$(mktemp -d /dev/shm/sslx-night-XXXXXX)
cleanup() {
  for p in "${cds_pid:-}" "${shaper_pid:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  wait 2>/dev/null || true; rm -rf "$W"
}
trap cleanup EXIT
source bench/dev-cds.sh
for p in sa sb sc sd; do enroll $p; done
for p in sb sc sd; do pair sa $p; done
echo "sa paired with sb, sc and sd at the CDS $SSLX_CDS" >&2
DATA=$W/data OUT=$W/out
mkdir -p "$DATA"
head -c $((BIG_MIB << 20)) /dev/urandom >"$DATA/big.bin"
TSV=$W/runs.tsv; : >"$TSV"

source bench/on-hook.sh
fresh() { rm -rf "$OUT"; mkdir -p "$OUT"/sb "$OUT"/sc "$OUT"/sd; }
recv() { "$SSLX" --home "$W/$1" -q recv --once --into "$OUT/$1" "${@:2}"; }
send() { "$SSLX" --home "$W/sa" -q send --no-mailbox "$@"; }
# cpu CMD…: runs the send, its CPU seconds (user + system) into $W/cpu.
cpu() { /usr/bin/time -f "%U %S" -o "$W/cpu.raw" "$SSLX" --home "$W/sa" -q send --no-mailbox "${@:2}"; awk '{print $1 + $2}' "$W/cpu.raw" >"$W/cpu"; }
check() { cmp -s "$DATA/big.bin" "$OUT/$1/big.bin" || { echo "$1 did not get the file whole" >&2; exit 1; }; }
record() { echo -e "$1\t$2" >>"$TSV"; }

# Waits until something listens on 127.0.0.1:PORT.
listening() { for _ in $(seq 2000); do ss -ltn | grep -q "127.0.0.1:$1 " && return 0; sleep 0.002; done; return 1; }
case_raw() {
  fresh
  socat -u -b 262144 TCP-LISTEN:47311,bind=127.0.0.1,reuseaddr "CREATE:$OUT/sb/big.bin" & local r=$!
  listening 47311
  local t0=$EPOCHREALTIME
  socat -u -b 262144 "OPEN:$DATA/big.bin,rdonly" TCP:127.0.0.1:47311
  wait $r; record raw "$(echo "$EPOCHREALTIME - $t0" | bc)"; check sb
}
case_relay() {
  fresh; on_hook 0; recv sb & local r=$!; on_hook 1
  local t0=$EPOCHREALTIME
  cpu send --to sb "$DATA/big.bin"; wait $r
  record relay "$(echo "$EPOCHREALTIME - $t0" | bc)"; check sb
  record relaycpu "$(cat "$W/cpu")"
}
case_direct() {
  fresh; on_hook 0
  recv sb --bind 127.0.0.1:47312 2>/dev/null & local r=$!
  listening 47312
  local t0=$EPOCHREALTIME
  send --direct 127.0.0.1:47312 --to sb "$DATA/big.bin"; wait $r
  record direct "$(echo "$EPOCHREALTIME - $t0" | bc)"; check sb
}
# The same whole and resumed sends through a link limited to $SHAPED_MBS MB/s (bench/shaper.py
# in front of the CDS for the sender): where resuming is meant to pay.
SHAPED_MBS=${SHAPED_MBS:-100}
shaped() {
  if [ -z "${shaper_port:-}" ]; then
    python3 bench/shaper.py "$SSLX_CDS" $((SHAPED_MBS * 1000000)) >"$W/shaper.port" & shaper_pid=$!
    for _ in $(seq 200); do [ -s "$W/shaper.port" ] && break; sleep 0.01; done
    shaper_port=$(cat "$W/shaper.port")
  fi
  "$SSLX" --home "$W/sa" -q --cds "127.0.0.1:$shaper_port" send --no-mailbox "$@"
}
case_shaped() {
  fresh; on_hook 0; recv sb & local r=$!; on_hook 1
  local t0=$EPOCHREALTIME
  shaped --to sb "$DATA/big.bin"; wait $r
  record shaped "$(echo "$EPOCHREALTIME - $t0" | bc)"; check sb
}
case_shapedresumed() {
  fresh; on_hook 0; recv sb 2>/dev/null & local r=$!; on_hook 1
  "$SSLX" --home "$W/sa" -q --cds "127.0.0.1:$shaper_port" send --no-mailbox --to sb "$DATA/big.bin" 2>/dev/null & local s=$!
  local half=$((BIG_MIB << 19)) parts size
  for _ in $(seq 60000); do
    parts=("$OUT"/sb/.sslx-recv-*.part-sa)
    size=0; [ ${#parts[@]} -gt 0 ] && size=$(stat -c %s "${parts[0]}" 2>/dev/null || echo 0)
    [ "$size" -ge "$half" ] && break
    sleep 0.001
  done
  kill -9 $s 2>/dev/null || true; wait $s 2>/dev/null || true; wait $r 2>/dev/null || true
  local held; held=$(stat -c %s "$OUT/sb/.sslx-resume-sa")
  on_hook 0; recv sb & r=$!; on_hook 1
  local t0=$EPOCHREALTIME
  shaped --to sb "$DATA/big.bin"; wait $r
  record shapedresumed "$(echo "$EPOCHREALTIME - $t0" | bc)"; check sb
  record shapedheld "$(echo "$held / $((BIG_MIB << 20))" | bc -l)"
}
case_three() {
  fresh; on_hook 0
  recv sb & local b=$!; recv sc & local c=$!; recv sd & local d=$!; on_hook 3
  local t0=$EPOCHREALTIME
  cpu send --to sb --to sc --to sd "$DATA/big.bin"; wait $b $c $d
  record three "$(echo "$EPOCHREALTIME - $t0" | bc)"; check sb; check sc; check sd
  record threecpu "$(cat "$W/cpu")"
}

for i in $(seq 0 "$RUNS"); do
  for c in $CASES; do "case_$c"; done
  [ "$i" = 0 ] && : >"$TSV"  # the first round warms up
done

python3 - "$TSV" "$BIG_MIB" "$SHAPED_MBS" <<'PY'
import sys, statistics as st
runs = {}
for line in open(sys.argv[1]):
    k, v = line.split("\t")
    runs.setdefault(k, []).append(float(v))
m = {k: st.median(v) for k, v in runs.items()}
mib = int(sys.argv[2])
print(f"## 1-3. {mib} MiB random file, median of {len(next(iter(runs.values())))} runs (receive side on tmpfs)")
print()
print("| case | median s | MB/s | ratio | target |")
print("|---|---:|---:|---:|---|")
rate = lambda k: mib * 1.048576 / m[k]
ratio = lambda a, b, what: f"{m[a]/m[b]:.2f}x {what}" if a in m and b in m else "-"
rows = [
    ("raw", "raw loopback TCP (socat)", "1.00", ""),
    ("relay", "sslx through the relay", ratio("raw", "relay", "raw TCP"), ">= 0.8x"),
    ("direct", "sslx --direct", ratio("raw", "direct", "raw TCP"), ">= 0.9x"),
    ("shaped", f"sslx through the relay, the sender on a {sys.argv[3]} MB/s link", "", ""),
    ("shapedresumed", f"the same, second send after a cut at {100*m.get('shapedheld', 0):.0f} % (resumed)", ratio("shapedresumed", "shaped", "a whole send's time"), "<= 0.6x"),
    ("three", "sslx to three recipients at once (all on this machine)", ratio("three", "relay", "one recipient's time"), "<= 1.3x"),
    ("threecpu", "the sender's CPU seconds for three recipients", ratio("threecpu", "relaycpu", "one recipient's"), "(one pass)"),
]
for k, label, r, target in rows:
    if k in m:
        mbs = "" if k.endswith("cpu") else f"{rate(k):.0f}"
        print(f"| {label} | {m[k]:.3f} | {mbs} | {r} | {target} |")
PY
[ "${SKIP_3DES:-}" = 1 ] && exit 0
echo
echo "## 4. the 3des suite in memory beside OpenSSL"
echo
ossl=$(openssl speed -elapsed -evp des-ede3-cbc -bytes 65536 -seconds 3 2>/dev/null | awk 'toupper($1)=="DES-EDE3-CBC" {sub("k","",$2); print $2/1000}')
cargo bench --quiet --bench courier 2>/dev/null | grep -E '^\| (des crate|sslx 3des)' >"$W/3des.md"
python3 - "$ossl" "$W/3des.md" <<'PY'
import sys
ossl = float(sys.argv[1])
print("| what | MB/s | vs openssl on one core | target |")
print("|---|---:|---:|---|")
print(f"| openssl speed -evp des-ede3-cbc, 64 KiB blocks, one core | {ossl:.1f} | 1.00x | |")
for line in open(sys.argv[2]):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    target = ">= 1.0x" if "seal" in cells[0] or "open" in cells[0] else ""
    print(f"| {cells[0]} | {float(cells[1]):.1f} | {float(cells[1]) / ossl:.2f}x | {target} |")
PY
