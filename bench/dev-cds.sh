# Sourced by the bench scripts: a dev CDS (release build) in $W, participants enrolled through
# the verified setup, and pairs. Needs SSLX (the sslx binary) and W (a work dir); sets
# SSLX_CDS, SSLX_HTTP and cds_pid.

"$(dirname "$SSLX")/sslx-cds" serve --dev --health-detail --listen 127.0.0.1:0 --http 127.0.0.1:0 >"$W/cds.json" 2>"$W/cds.log" &
cds_pid=$!
for _ in $(seq 200); do [ -s "$W/cds.json" ] && break; sleep 0.05; done
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$W/cds.json" "$1"; }
export SSLX_CDS=$(field listen) SSLX_HTTP=$(field http)
outbox=$(field outbox); oob=$(field oob_dir)

# enroll NAME: a home $W/NAME with an identity and a confirmed CDS key.
enroll() {
  local home=$W/$1
  "$SSLX" --home "$home" -q keygen --name "$1" >/dev/null
  local rid; rid=$("$SSLX" --home "$home" --json vsu --email "$1@example.com" --oob sms:+15551234567 | python3 -c "import json,sys; print(json.load(sys.stdin)['request_id'])")
  SSLX_PIN=$(grep -o 'PIN [0-9A-F]*' "$oob/$rid.txt" | cut -d' ' -f2) "$SSLX" --home "$home" -q assemble-key --reply-b "$(grep -l "$rid" "$outbox"/*.eml)"
  "$SSLX" --home "$home" -q vsu --confirm
}

# pair A B: A pairs with B unattended, as scripts/quickstart.sh does: A's string reaches B through
# a FIFO, and B's own string (printed once it matched) is what A's side compares with its own.
pair() {
  rm -f "$W/phone" "$W/b-says"; mkfifo "$W/phone"
  "$SSLX" --home "$W/$2" pair --accept --sas-file "$W/phone" >"$W/b-says" 2>/dev/null & local acc=$!
  sleep 0.3
  "$SSLX" --home "$W/$1" pair "$2" --yes --sas-file "$W/b-says" 2>/dev/null | head -1 >"$W/phone"
  wait $acc
}
