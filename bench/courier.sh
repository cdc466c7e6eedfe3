#!/usr/bin/env bash
# sslx send → recv beside its peers, in one run (issue 5's benchmarks):
#   1. 256 MiB random file and 2,000 × 4 KiB tree: sslx live through the relay and sslx as an
#      offline bundle through a pipe, beside raw loopback TCP, age, tar|zstd|openssl and
#      magic-wormhole with its own mailbox and transit relay (bench/peers/courier.sh, installed
#      by bench/peers/setup.sh from the package registries);
#   2. the 3des suite beside the aead one (64 MiB), and in memory beside the des crate alone
#      (cargo bench --bench courier);
#   3. peak RSS of each side while sending a 4 GiB file, beside the same for 256 MiB.
# Knobs: RUNS (5), WARMUP (1), SKIP_PEERS=1 (only sslx), SKIP_4G=1, BIG4_DIR (where the 4 GiB file
# and its copy go, default /tmp/sslx-bench-4g).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}; WARMUP=${WARMUP:-1}
cargo build --release --quiet --bins
bash bench/peers/setup.sh >/dev/null
export SSLX="$PWD/target/release/sslx"
W=$(mktemp -d /tmp/sslx-bench-XXXXXX)
cleanup() { [ -n "${cds_pid:-}" ] && kill "$cds_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT

# A dev CDS, two participants enrolled through the verified setup, then paired.
source bench/dev-cds.sh
enroll sa; enroll sb; pair sa sb
export SSLX_A=$W/sa SSLX_B=$W/sb
echo "paired sa and sb at the CDS $SSLX_CDS" >&2

ratio() { python3 - "$1" <<'PY'
import sys, statistics as st
tsv = sys.argv[1]
walls = {}
for line in open(tsv):
    m, d, i, wall, rss, rsum, ok = line.rstrip("\n").split("\t")
    walls.setdefault((m, d), []).append(float(wall))
med = {k: st.median(v) for k, v in walls.items()}
print("| sslx method | dataset | sslx s | vs raw TCP | vs age | vs tar\\|zstd\\|openssl | vs magic-wormhole |")
print("|---|---|---:|---:|---:|---:|---:|")
for (m, d), t in sorted(med.items()):
    if not m.startswith("sslx"):
        continue
    def r(p):
        return f"{med[(p, d)] / t:.2f}x" if (p, d) in med else "-"
    print(f"| {m} | {d} | {t:.3f} | {r('raw')} | {r('age')} | {r('tzo')} | {r('wormhole')} |")
print()
print("Ratios are speed ratios (peer's median wall / sslx's median wall) from this one run: above 1 means sslx is faster.")
PY
}

echo "## 1. send → recv beside the peers (receive side on tmpfs; median of $RUNS runs)"
methods="rawnull raw age tzo wormhole sslx sslxpipe"
[ "${SKIP_PEERS:-}" = 1 ] && methods="raw sslx sslxpipe"
PEERBENCH_DIR=$W/peers RUNS=$RUNS WARMUP=$WARMUP METHODS="$methods" EXTRA_CASES="$PWD/bench/courier-cases.sh" \
  bash bench/peers/courier.sh 2>"$W/peers.log"
echo
ratio "$W/peers/runs.tsv"
echo

echo "## 2. the 3des suite beside the aead one (64 MiB file, median of 3 runs)"
PEERBENCH_DIR=$W/peers64 BIG_MIB=64 RUNS=3 WARMUP=0 METHODS="raw sslx sslx3des" DATASETS=file \
  EXTRA_CASES="$PWD/bench/courier-cases.sh" bash bench/peers/courier.sh 2>"$W/3des.log"
echo
echo "In memory, one thread (cargo bench --bench courier):"
echo
cargo bench --quiet --bench courier 2>/dev/null | grep '^|'
echo

if [ "${SKIP_4G:-}" != 1 ]; then
  echo "## 3. peak RSS while sending a 4 GiB file (live through the relay; receive on disk)"
  D=${BIG4_DIR:-/tmp/sslx-bench-4g}; mkdir -p "$D/out"; rm -rf "$D/out/"*
  [ "$(stat -c %s "$D/big4.bin" 2>/dev/null || echo 0)" = 4294967296 ] || head -c 4294967296 /dev/urandom >"$D/big4.bin"
  rss() { grep "Maximum resident" "$1" | awk '{printf "%.1f", $NF/1024}'; }
  echo "| file | size | sender peak RSS | receiver peak RSS | wall | bytes match |"
  echo "|---|---:|---:|---:|---:|---|"
  for f in "$W/peers/data/big.bin" "$D/big4.bin"; do
    rm -rf "$D/out/"*
    /usr/bin/time -v -o "$W/recv.tv" "$SSLX" --home "$SSLX_B" -q recv --once --into "$D/out" & r=$!
    for _ in $(seq 2000); do curl -s "$SSLX_HTTP/v1/health" | grep -q '"on_hook":1' && break; sleep 0.005; done
    t0=$EPOCHREALTIME
    /usr/bin/time -v -o "$W/send.tv" "$SSLX" --home "$SSLX_A" -q send --no-mailbox "$f" --to sb
    wait $r; t1=$EPOCHREALTIME
    cmp -s "$f" "$D/out/$(basename "$f")" && ok=ok || ok=FAIL
    printf '| %s | %s MiB | send %s MiB | recv %s MiB | %.1f s | %s |\n' "$(basename "$f")" $(( $(stat -c %s "$f") >> 20 )) \
      "$(rss "$W/send.tv")" "$(rss "$W/recv.tv")" "$(python3 -c "print($t1-$t0)")" "$ok"
  done
  rm -rf "$D/out"
fi
