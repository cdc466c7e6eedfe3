#!/usr/bin/env bash
# Session figures in one run (release build):
#  - `sslx dial NAME` through the CDS relay, `sslx dial HOST:PORT` direct, and raw loopback TCP
#    (Python sockets: the same pipe in, /dev/null out), SIZE MiB each, median of RUNS;
#  - handshakes/s beside rustls (cargo bench -p sslx-bench --bench session, in memory and over loopback);
#  - RSS of a CDS with 10,000 participants on hook (cargo bench --bench relay_hooks).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-1024}; RUNS=${RUNS:-5}
cargo build --release --quiet --bins
bin=$PWD/target/release
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
"$bin/sslx-cds" serve --dev --listen 127.0.0.1:0 --http 127.0.0.1:0 >"$work/cds.json" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/cds.json" ] && break; sleep 0.05; done
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/cds.json" "$1"; }
export SSLX_CDS=$(field listen); outbox=$(field outbox); oob=$(field oob_dir)
enroll() {
  local home=$work/$1
  SSLX_HOME=$home "$bin/sslx" -q keygen --name "$1" >/dev/null
  local rid; rid=$(SSLX_HOME=$home "$bin/sslx" --json vsu --email "$1@example.com" --oob sms:+1 | python3 -c "import json,sys; print(json.load(sys.stdin)['request_id'])")
  SSLX_HOME=$home SSLX_PIN=$(grep -o 'PIN [0-9A-F]*' "$oob/$rid.txt" | cut -d' ' -f2) "$bin/sslx" -q assemble-key --reply-b "$(grep -l "$rid" "$outbox"/*.eml)"
  SSLX_HOME=$home "$bin/sslx" -q vsu --confirm
}
enroll alice; enroll bob; enroll carol
SSLX_HOME=$work/bob "$bin/sslx" -q listen --max-calls 4 >/dev/null 2>&1 &
pids+=($!)
SSLX_HOME=$work/carol "$bin/sslx" listen --bind 127.0.0.1:0 >/dev/null 2>"$work/carol.err" &
pids+=($!)
sleep 0.5
carol=$(sed -n 's/^sslx: listening on \([^ ]*\) .*/\1/p' "$work/carol.err")
cat >"$work/sink.py" <<'PY'
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
buf = bytearray(1 << 20)
while True:
    c, _ = s.accept()
    while c.recv_into(buf): pass
    c.close()
PY
cat >"$work/send.py" <<'PY'
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
inp = sys.stdin.buffer.raw
buf = bytearray(1 << 20)
while True:
    n = inp.readinto(buf)
    if not n: break
    c.sendall(memoryview(buf)[:n])
c.close()
PY
python3 "$work/sink.py" >"$work/sink.port" &
pids+=($!)
sleep 0.3
port=$(cat "$work/sink.port")
secs() { python3 -c "import time,subprocess,sys; t=time.perf_counter(); subprocess.run(sys.argv[1],shell=True,check=True); print('%.3f'%(time.perf_counter()-t))" "$1"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
SSLX_HOME=$work/alice "$bin/sslx" -q handshake bob >/dev/null    # warm the session cache
declare -A t
for _ in $(seq "$RUNS"); do
  t[raw]+="$(secs "head -c ${SIZE}M /dev/zero | python3 $work/send.py $port") "
  t[relay]+="$(secs "head -c ${SIZE}M /dev/zero | SSLX_HOME=$work/alice $bin/sslx -q dial bob") "
  t[direct]+="$(secs "head -c ${SIZE}M /dev/zero | SSLX_HOME=$work/alice $bin/sslx -q dial $carol") "
done
echo "dial throughput, ${SIZE} MiB, median of $RUNS (same run):"
raw=$(echo ${t[raw]} | tr ' ' '\n' | median)
for k in raw relay direct; do
  m=$(echo ${t[$k]} | tr ' ' '\n' | median)
  python3 -c "import sys; s,m,r=float(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'  {sys.argv[4]:<8} {m:.3f} s  {s/m:8.1f} MiB/s  {r/m:.2f}x raw')" "$SIZE" "$m" "$raw" "$k"
done
echo "handshakes/s and record throughput (criterion medians, same run):"
cargo bench -p sslx-bench --bench session 2>&1 | awk '/^(handshake|loopback)/ {name=$1} /thrpt:/ && name {print "  " name, $4, $5; name=""}'
cargo bench --bench relay_hooks 2>&1 | grep -E "on hook"
