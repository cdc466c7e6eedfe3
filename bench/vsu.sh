#!/usr/bin/env bash
# VSU figures in one run: the criterion benches (open requests/s through a CDS on loopback with the
# file transport; assemble/make-replies time), then the whole-process time of `sslx assemble-key`
# and `sslx vsu` as a script would call them (release build, --dev CDS, N runs, median).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-30}
cargo bench -p sslx-bench --bench vsu 2>&1 | grep -E "^(cds|vsu)/|time:|thrpt:"
cargo build --release --quiet --bins
bin=$PWD/target/release
work=$(mktemp -d)
trap 'kill $cds_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
"$bin/sslx-cds" serve --dev --listen 127.0.0.1:0 --http 127.0.0.1:0 >"$work/cds.json" 2>/dev/null &
cds_pid=$!
for _ in $(seq 100); do [ -s "$work/cds.json" ] && break; sleep 0.05; done
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/cds.json" "$1"; }
export SSLX_HOME=$work/home SSLX_CDS=$(field listen)
outbox=$(field outbox); oob=$(field oob_dir)
"$bin/sslx" -q keygen --name bench >/dev/null
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { python3 -c "import time,subprocess,sys; t=time.perf_counter(); subprocess.run(sys.argv[1:],check=True,stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL); print('%.2f'%((time.perf_counter()-t)*1000))" "$@"; }
vsu_t=(); asm_t=()
for _ in $(seq "$N"); do
  vsu_t+=("$(ms "$bin/sslx" vsu --email b@example.com --oob sms:+1)")
  rid=$(python3 -c "import json; print(json.load(open('$SSLX_HOME/vsu-pending.json'))['request_id'])")
  eml=$(grep -l "$rid" "$outbox"/*.eml); pin=$(grep -o 'PIN [0-9A-F]*' "$oob/$rid.txt" | cut -d' ' -f2)
  asm_t+=("$(SSLX_PIN=$pin ms "$bin/sslx" assemble-key --reply-b "$eml")")
done
echo "sslx vsu (whole process, open request + reply A), median of $N: $(printf '%s\n' "${vsu_t[@]}" | median) ms"
echo "sslx assemble-key (whole process), median of $N: $(printf '%s\n' "${asm_t[@]}" | median) ms"
