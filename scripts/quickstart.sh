#!/usr/bin/env bash
# The main job end to end on the embedded default: a throw-away `sslx-cds serve --dev` in the
# background, one participant enrolled through the verified setup (reply A direct, reply B from
# the dev outbox's .eml, the PIN from the dev out-of-band folder), then its public standing.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --bins
bin=$PWD/target/debug
work=$(mktemp -d)
cleanup() { [ -n "${cds_pid:-}" ] && kill "$cds_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$bin/sslx-cds" serve --dev --listen 127.0.0.1:0 --http 127.0.0.1:0 >"$work/cds.json" 2>"$work/cds.log" &
cds_pid=$!
for _ in $(seq 100); do [ -s "$work/cds.json" ] && break; sleep 0.05; done
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/cds.json" "$1"; }
export SSLX_HOME=$work/alice SSLX_CDS=$(field listen)
outbox=$(field outbox); oob=$(field oob_dir)

echo "== sslx keygen";         "$bin/sslx" keygen --name alice
echo "== sslx vsu";            rid=$("$bin/sslx" --json vsu --email alice@example.com --oob sms:+15551234567 | python3 -c "import json,sys; print(json.load(sys.stdin)['request_id'])")
echo "   request $rid: reply B in $outbox, PIN in $oob"
export SSLX_PIN=$(grep -o 'PIN [0-9A-F]*' "$oob/$rid.txt" | cut -d' ' -f2)
echo "== sslx assemble-key";   "$bin/sslx" assemble-key --reply-b "$(grep -l "$rid" "$outbox"/*.eml)"
echo "== sslx vsu --confirm";  "$bin/sslx" vsu --confirm
echo "== sslx standing alice"; "$bin/sslx" standing alice
