#!/usr/bin/env bash
# Courier peers on loopback (127.0.0.1 only). Run setup.sh first.
# Copied from ../shared/peers/courier.sh; the only change: EXTRA_CASES (sslx's cases, bench/courier.sh).
#
# Datasets: (a) one 256 MiB random file, (b) a tree of 2,000 random 4 KiB files
# (20 dirs x 100 files). Methods:
#   rawnull socat TCP copy into /dev/null on the receiver (loopback TCP alone, no
#           disk; exit codes checked, content not)
#   raw     socat TCP copy (tar stream for the tree), no crypto
#   age     age -r X25519 | age -d (pipe, no network), tar stream for the tree
#   wormhole  magic-wormhole send/receive, LOCAL mailbox + LOCAL transit relay,
#           --no-listen on both sides so all data goes through the relay on 127.0.0.1
#           (direct hints would name this machine's non-loopback address)
#   tzo     tar | zstd -3 -T1 | openssl enc -aes-256-ctr -pbkdf2 | socat TCP ->
#           socat | openssl enc -d | zstd -d | tar x   (confidentiality only, no MAC)
# Each case is run WARMUP times untimed (default 1), then RUNS times (default 5); the report gives the median wall seconds
# (first process start to last process exit, start-up included), MB/s = payload
# bytes / 10^6 / median wall, and peak RSS from /usr/bin/time -v: the largest single
# process of the case and the sum of every process's peak, medians over the runs.
# Every run's output is verified (cmp / diff -r); a failed check is reported.
set -euo pipefail

VENV="${PEERBENCH_VENV:-/tmp/peerbench-venv}"
W="${PEERBENCH_DIR:-/tmp/peerbench-courier}"
RUNS="${RUNS:-5}"
WARMUP="${WARMUP:-1}"
BIG_MIB="${BIG_MIB:-256}"
NDIRS=20; PERDIR=100; FSIZE=4096
METHODS="${METHODS:-rawnull raw age tzo wormhole}"
DATASETS="${DATASETS:-file tree}"
P_RAW=47011; P_TZO=47012; P_MBOX=47013; P_TRANSIT=47014
PW="peerbench-not-a-secret"

DATA="$W/data"
# Receive side and temp files on tmpfs by default: on this VM's ext4, creating the
# 2,000 files alone takes ~1.2 s (tar x, no fsync), which would swamp every method.
# OUTBASE=/some/ext4/dir measures with the disk in the loop.
OUTBASE="${OUTBASE:-/dev/shm/peerbench-courier}"
export TMPDIR="$OUTBASE/tmp"
mkdir -p "$DATA" "$W/runs" "$OUTBASE" "$TMPDIR"
export LC_ALL=C

# ---------------------------------------------------------------- data
big_bytes=$((BIG_MIB * 1048576))
if [ ! -f "$DATA/big.bin" ] || [ "$(stat -c %s "$DATA/big.bin")" -ne "$big_bytes" ]; then
  echo "generating $BIG_MIB MiB random file" >&2
  head -c "$big_bytes" /dev/urandom > "$DATA/big.bin"
fi
if [ "$(find "$DATA/tree" -type f 2>/dev/null | wc -l)" -ne $((NDIRS * PERDIR)) ]; then
  echo "generating tree of $((NDIRS * PERDIR)) x $FSIZE B" >&2
  rm -rf "$DATA/tree"
  python3 - "$DATA/tree" "$NDIRS" "$PERDIR" "$FSIZE" <<'EOF'
import os, sys
root, nd, pf, sz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for d in range(nd):
    p = os.path.join(root, f"d{d:02d}")
    os.makedirs(p)
    for f in range(pf):
        with open(os.path.join(p, f"f{f:03d}.bin"), "wb") as fh:
            fh.write(os.urandom(sz))
EOF
fi
tree_bytes=$((NDIRS * PERDIR * FSIZE))

if [ ! -f "$W/age.key" ]; then age-keygen -o "$W/age.key" 2>/dev/null; fi
RECIP="$(age-keygen -y "$W/age.key")"

# ---------------------------------------------------------------- helpers
TV() { local tag=$1; shift; /usr/bin/time -v -o "$RD/$tag.tv" "$@"; }
sock() { echo "TCP:127.0.0.1:$1,retry=500,interval=0.01"; }
listen() { echo "TCP-LISTEN:$1,bind=127.0.0.1,reuseaddr"; }
WH() { "$VENV/bin/wormhole" --relay-url "ws://127.0.0.1:$P_MBOX/v1" --transit-helper "tcp:127.0.0.1:$P_TRANSIT" "$@"; }

SERVER_PIDS=()
cleanup() { for p in "${SERVER_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start_wormhole_servers() {
  [ "${#SERVER_PIDS[@]}" -gt 0 ] && return 0
  mkdir -p "$W/servers"
  ( cd "$W/servers" && exec "$VENV/bin/twist" wormhole-mailbox --port "tcp:$P_MBOX:interface=127.0.0.1" --channel-db "$W/servers/relay.sqlite" ) >"$W/servers/mailbox.log" 2>&1 &
  SERVER_PIDS+=($!)
  ( cd "$W/servers" && exec "$VENV/bin/twist" transitrelay --port "tcp:$P_TRANSIT:interface=127.0.0.1" --usage-db "$W/servers/transit-usage.sqlite" ) >"$W/servers/transit.log" 2>&1 &
  SERVER_PIDS+=($!)
  for _ in $(seq 100); do
    if ss -ltn | grep -q "127.0.0.1:$P_MBOX " && ss -ltn | grep -q "127.0.0.1:$P_TRANSIT "; then return 0; fi
    sleep 0.1
  done
  echo "wormhole servers did not start" >&2; cat "$W/servers/"*.log >&2; return 1
}

# ---------------------------------------------------------------- cases (OUT = receive dir)
case_rawnull_file() {
  TV recv socat -u -b 262144 "$(listen $P_RAW)" "OPEN:/dev/null,wronly" & local r=$!
  TV send socat -u -b 262144 "OPEN:$DATA/big.bin,rdonly" "$(sock $P_RAW)"
  wait $r
}
case_rawnull_tree() {
  TV recv socat -u -b 262144 "$(listen $P_RAW)" "OPEN:/dev/null,wronly" & local r=$!
  TV send_tar tar cf - -C "$DATA" tree | TV send_socat socat -u -b 262144 STDIN "$(sock $P_RAW)"
  wait $r
}
case_raw_file() {
  TV recv socat -u -b 262144 "$(listen $P_RAW)" "CREATE:$OUT/big.bin" & local r=$!
  TV send socat -u -b 262144 "OPEN:$DATA/big.bin,rdonly" "$(sock $P_RAW)"
  wait $r
}
case_raw_tree() {
  { TV recv_socat socat -u -b 262144 "$(listen $P_RAW)" STDOUT | TV recv_tar tar xf - -C "$OUT"; } & local r=$!
  TV send_tar tar cf - -C "$DATA" tree | TV send_socat socat -u -b 262144 STDIN "$(sock $P_RAW)"
  wait $r
}
case_age_file() {
  TV enc age -r "$RECIP" <"$DATA/big.bin" | TV dec age -d -i "$W/age.key" >"$OUT/big.bin"
}
case_age_tree() {
  TV tar_c tar cf - -C "$DATA" tree | TV enc age -r "$RECIP" | TV dec age -d -i "$W/age.key" | TV tar_x tar xf - -C "$OUT"
}
tzo_recv() { TV r_socat socat -u -b 262144 "$(listen $P_TZO)" STDOUT | TV r_ssl openssl enc -d -aes-256-ctr -pbkdf2 -pass "pass:$PW" | TV r_zstd zstd -d -q -c | TV r_tar tar xf - -C "$OUT"; }
tzo_send() { TV s_tar tar cf - -C "$DATA" "$1" | TV s_zstd zstd -3 -T1 -q -c | TV s_ssl openssl enc -aes-256-ctr -pbkdf2 -pass "pass:$PW" | TV s_socat socat -u -b 262144 STDIN "$(sock $P_TZO)"; }
case_tzo_file() { tzo_recv & local r=$!; tzo_send big.bin; wait $r; }
case_tzo_tree() { tzo_recv & local r=$!; tzo_send tree; wait $r; }
case_wormhole_file() {
  local code="$((RANDOM % 900 + 100))-peer-bench"
  TV recv WH receive --no-listen --accept-file --hide-progress -o "$OUT/big.bin" "$code" >"$RD/recv.out" 2>&1 & local r=$!
  TV send WH send --no-listen --no-qr --hide-progress --code "$code" "$DATA/big.bin" >"$RD/send.out" 2>&1
  wait $r
}
case_wormhole_tree() {
  local code="$((RANDOM % 900 + 100))-peer-bench"
  TV recv WH receive --no-listen --accept-file --hide-progress -o "$OUT/tree" "$code" >"$RD/recv.out" 2>&1 & local r=$!
  TV send WH send --no-listen --no-qr --hide-progress --code "$code" "$DATA/tree" >"$RD/send.out" 2>&1
  wait $r
}
# TV cannot wrap a shell function: export a wrapper script for WH
mkdir -p "$W/bin"
cat >"$W/bin/WH" <<EOF
#!/bin/sh
exec "$VENV/bin/wormhole" --relay-url "ws://127.0.0.1:$P_MBOX/v1" --transit-helper "tcp:127.0.0.1:$P_TRANSIT" "\$@"
EOF
chmod +x "$W/bin/WH"
export PATH="$W/bin:$PATH"

verify() {
  [ "$m" = rawnull ] && return 0   # sink is /dev/null: only exit codes are checked
  if [ "$1" = file ]; then cmp -s "$DATA/big.bin" "$OUT/big.bin"; else diff -rq "$DATA/tree" "$OUT/tree" >/dev/null; fi
}

# Extra methods (sslx's own cases) come from the file EXTRA_CASES names: case_<method>_<dataset>.
if [ -n "${EXTRA_CASES:-}" ]; then source "$EXTRA_CASES"; fi

# ---------------------------------------------------------------- run
TSV="$W/runs.tsv"
: >"$TSV"
for m in $METHODS; do
  [ "$m" = wormhole ] && start_wormhole_servers
  for d in $DATASETS; do
    for i in $(seq $((1 - WARMUP)) "$RUNS"); do
      RD="$W/runs/$m-$d-$i"; OUT="$OUTBASE/out"
      rm -rf "$RD" "$OUT"; mkdir -p "$RD" "$OUT"
      sync
      t0=$EPOCHREALTIME
      rc=0; "case_${m}_${d}" || rc=$?
      t1=$EPOCHREALTIME
      ok=ok; [ $rc -eq 0 ] && verify "$d" || ok="FAIL(rc=$rc)"
      rss=$(grep -h "Maximum resident set size" "$RD"/*.tv | awk '{print $NF}' | sort -n | tail -1)
      rsum=$(grep -h "Maximum resident set size" "$RD"/*.tv | awk '{s+=$NF} END{print s}')
      wall=$(python3 -c "print(f'{$t1-$t0:.3f}')")
      [ "$i" -le 0 ] && { echo "$m $d warm-up: $wall s $ok" >&2; continue; }
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$m" "$d" "$i" "$wall" "$rss" "$rsum" "$ok" | tee -a "$TSV" >&2
    done
  done
done
rm -rf "$OUTBASE/out"

if [ -f "$W/servers/transit-usage.sqlite" ]; then
  echo "transit relay usage (shows the data crossed the local relay):" >&2
  python3 - "$W/servers/transit-usage.sqlite" >&2 <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for t in [r[0] for r in db.execute("select name from sqlite_master where type='table'")]:
    cols = [c[1] for c in db.execute(f"pragma table_info({t})")]
    if "total_bytes" in cols:
        for row in db.execute(f"select count(*), sum(total_bytes) from {t}"):
            print(f"  {t}: {row[0]} sessions, {row[1]} bytes relayed")
EOF
fi

python3 - "$TSV" "$big_bytes" "$tree_bytes" "$RUNS" <<'EOF'
import sys, statistics as st
tsv, big, tree, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = {}
for line in open(tsv):
    m, d, i, wall, rss, rsum, ok = line.rstrip("\n").split("\t")
    rows.setdefault((m, d), []).append((float(wall), int(rss), int(rsum), ok))
label = {"rawnull": "raw loopback TCP into /dev/null (socat; tar for tree)", "raw": "raw loopback TCP (socat; tar for tree)", "age": "age X25519 encrypt \\| decrypt (pipe)",
         "tzo": "tar \\| zstd -3 \\| openssl aes-256-ctr \\| TCP \\| reverse", "wormhole": "magic-wormhole via local mailbox + transit relay"}
print(f"| method | dataset | median wall s | MB/s | min-max wall s | peak RSS max proc (MiB) | sum of procs (MiB) | runs ok |")
print("|---|---|---:|---:|---|---:|---:|---|")
for (m, d), v in rows.items():
    walls = [x[0] for x in v]
    med = st.median(walls)
    n = big if d == "file" else tree
    oks = sum(1 for x in v if x[3] == "ok")
    ds = f"{big >> 20} MiB file" if d == "file" else f"{tree // 4096} x 4 KiB tree"
    print(f"| {label.get(m, m)} | {ds} | {med:.3f} | {n/1e6/med:.1f} | {min(walls):.3f}-{max(walls):.3f} | "
          f"{st.median(x[1] for x in v)/1024:.1f} | {st.median(x[2] for x in v)/1024:.1f} | {oks}/{len(v)} |")
EOF
