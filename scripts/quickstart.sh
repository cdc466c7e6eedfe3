#!/usr/bin/env bash
# The main job end to end on the embedded default: a throw-away `sslx-cds serve --dev` in the
# background, two participants enrolled through the verified setup (reply A direct, reply B from
# the dev outbox's .eml, the PIN from the dev out-of-band folder), their public standing, then
# the courier: they pair (the short string passed along as a person would read it), alice sends
# a directory live through the CDS relay, then a file while bob is away (it waits in his CDS
# mailbox), bob collects it, and both logs show what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== cargo build --bins (the first build takes about 7 minutes on 2 cores, then seconds)"
cargo build --bins
bin=${CARGO_TARGET_DIR:-$PWD/target}/debug
work=$(mktemp -d)
cleanup() { [ -n "${cds_pid:-}" ] && kill "$cds_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$bin/sslx-cds" serve --dev --health-detail --listen 127.0.0.1:0 --http 127.0.0.1:0 >"$work/cds.json" 2>"$work/cds.log" &
cds_pid=$!
for _ in $(seq 100); do [ -s "$work/cds.json" ] && break; sleep 0.05; done
# One string member of a one-line JSON object (no python3 or jq needed).
json_field() { sed -nE "s/.*\"$1\": *\"([^\"]*)\".*/\\1/p"; }
field() { json_field "$1" <"$work/cds.json"; }
export SSLX_CDS=$(field listen)
outbox=$(field outbox); oob=$(field oob_dir)

enroll() {
  export SSLX_HOME=$work/$1
  echo "== $1: sslx keygen";         "$bin/sslx" keygen --name "$1"
  echo "== $1: sslx vsu";            rid=$("$bin/sslx" --json vsu --email "$1@example.com" --oob sms:+15551234567 | json_field request_id)
  echo "   request $rid: reply B in $outbox, PIN in $oob"
  SSLX_PIN=$(grep -o 'PIN [0-9A-F]*' "$oob/$rid.txt" | cut -d' ' -f2) \
    "$bin/sslx" assemble-key --reply-b "$(grep -l "$rid" "$outbox"/*.eml)"
  echo "== $1: sslx vsu --confirm";  "$bin/sslx" vsu --confirm
  echo "== $1: sslx standing $1";    "$bin/sslx" standing "$1"
}
enroll alice
enroll bob
alice() { SSLX_HOME=$work/alice "$bin/sslx" "$@"; }
bob() { SSLX_HOME=$work/bob "$bin/sslx" "$@"; }

echo "== pairing: bob waits (sslx pair --accept), alice calls (sslx pair bob) and reads the string to bob;"
echo "   bob's side shows its own string, which alice's side checks against hers before saving the key"
mkfifo "$work/phone"
bob pair --accept --sas-file "$work/phone" >"$work/bob-says" & acceptor=$!
sleep 0.3
alice pair bob --yes --sas-file "$work/bob-says" | head -1 >"$work/phone"
wait $acceptor

mkdir -p "$work/reports" "$work/inbox"
for i in 1 2 3; do echo "nightly report $i" >"$work/reports/day$i.txt"; done
echo "== bob: sslx recv --once (on hook at the CDS); alice: sslx send reports --to bob"
bob recv --once --into "$work/inbox" & receiver=$!
# GET /v1/health with bash's /dev/tcp (no curl needed), until bob's hook is up.
http=$(field http); hostport=${http#http://}
health() { exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" && printf 'GET /v1/health HTTP/1.0\r\nHost: %s\r\n\r\n' "$hostport" >&3 && cat <&3; exec 3<&-; }
for _ in $(seq 100); do health 2>/dev/null | grep -q '"on_hook":1' && break; sleep 0.05; done
alice send "$work/reports" --to bob
wait $receiver
diff -r "$work/reports" "$work/inbox/reports" && echo "   the directory arrived whole"

echo "== bob is away: alice's bundle waits in his mailbox at the CDS"
echo "ledger" >"$work/ledger.txt"
alice send "$work/ledger.txt" --to bob
echo "== bob: sslx recv --from-mailbox"
bob recv --from-mailbox --into "$work/inbox"
echo "== alice: sslx log";        alice log
echo "== bob: sslx log";          bob log
