#!/usr/bin/env bash
# Remote execution (issue 14): `sslx exec HOST -- /bin/true` through sslx-gateway to sslx-execd
# on loopback, beside `ssh` to a loopback sshd running `true` (key auth, no ControlMaster), in one
# run: commands per second one after another and with PAR at once, latency p50/p99 of each, and
# the time of `sslx login` with the Argon2id costs stated (the KDC's defaults unless ARGON2_MIB).
# Both sides spawn a client process per command; both run it as the user sslx-bench (made here,
# its shell /bin/sh: sshd runs every command through the user's shell, and root's bash here reads
# a .bashrc that costs ~100 ms), or as the user running this when not root. ssh is measured with
# its default key exchange (sntrup761x25519) and with curve25519-sha256, its fastest.
# sslx-execd writes its chained audit file (tmpfs) and no syslog (no /dev/log here). Installs
# openssh-server with apt-get when sshd is missing (root only; otherwise ssh is left out).
# Then the web face (issue 15): POST /exec of the command form (/bin/true) with wrk for WEB_SECS
# seconds at PAR connections at once (a new TLS connection each, as the gateway closes them),
# beside sslx exec's rate at PAR in the same run. Installs wrk with apt-get when missing (root).
# Knobs: N (300 commands each), PAR (4), LOGINS (5), ARGON2_MIB (64), ARGON2_PASSES (3),
# WEB_SECS (10).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-300}; PAR=${PAR:-4}; LOGINS=${LOGINS:-5}; ARGON2_MIB=${ARGON2_MIB:-64}; ARGON2_PASSES=${ARGON2_PASSES:-3}
WEB_SECS=${WEB_SECS:-10}
cargo build --release --quiet --bins
R=$PWD/target/release
W=$(mktemp -d /dev/shm/sslx-exec-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
field() { python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())[sys.argv[2]])" "$1" "$2"; }
wait_for() { for _ in $(seq 200); do [ -s "$1" ] && return; sleep 0.05; done; echo "no $1" >&2; exit 1; }
ME=$(id -un)
if [ "$(id -u)" = 0 ]; then
  id sslx-bench >/dev/null 2>&1 || useradd --system --create-home --home-dir /var/lib/sslx-bench --shell /bin/sh sslx-bench
  usermod -p '*' sslx-bench   # not locked: sshd (without PAM) refuses a locked account
  ME=sslx-bench
fi

# The site: a dev CDS with its KDC, alice, the gateway gw1 and the host web1.
"$R/sslx-cds" serve --dev --db "$W/cds.db" --listen 127.0.0.1:0 --http 127.0.0.1:0 >"$W/cds.json" 2>"$W/cds.log" &
pids+=($!); wait_for "$W/cds.json"
CDS=$(field "$W/cds.json" listen)
SSLX_PASSWORD="correct horse" "$R/sslx-cds" principal add --db "$W/cds.db" alice \
  --argon2-memory $((ARGON2_MIB * 1024)) --argon2-passes "$ARGON2_PASSES" 2>/dev/null
"$R/sslx-cds" gateway add --db "$W/cds.db" gw1 --keytab "$W/gw1.keytab" 2>/dev/null
"$R/sslx-cds" host add --db "$W/cds.db" web1 --keytab "$W/web1.keytab" 2>/dev/null
printf '[[rule]]\nprincipal = "alice"\nuser = "%s"\ncommands = ["/bin/true"]\n' "$ME" >"$W/acl.toml"
"$R/sslx-execd" --listen 127.0.0.1:0 --keytab "$W/web1.keytab" --acl "$W/acl.toml" --syslog none \
  --audit-file "$W/audit.jsonl" >"$W/execd.json" 2>"$W/execd.log" &
pids+=($!); wait_for "$W/execd.json"
"$R/sslx-gateway" --dev --listen 127.0.0.1:0 --cds "$CDS" --keytab "$W/gw1.keytab" --web-key "$W/web.key" \
  --host "web1=$(field "$W/execd.json" listen)" >"$W/gw.json" 2>"$W/gw.log" &
pids+=($!); wait_for "$W/gw.json"
URL=$(field "$W/gw.json" listen); FP=$(field "$W/gw.json" fingerprint)
H=$W/home

# ssh: a loopback sshd of this run, its own host key, key auth only.
SSH=()
if ! command -v sshd >/dev/null && ! [ -x /usr/sbin/sshd ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null 2>&1 || true
  fi
fi
if [ -x /usr/sbin/sshd ]; then
  mkdir -p "$W/ssh" /run/sshd 2>/dev/null || true
  chmod 755 "$W" "$W/ssh"   # sshd reads authorized_keys as the user
  ssh-keygen -q -t ed25519 -N '' -f "$W/ssh/host"
  ssh-keygen -q -t ed25519 -N '' -f "$W/ssh/user"
  cp "$W/ssh/user.pub" "$W/ssh/authorized_keys"; chmod 644 "$W/ssh/authorized_keys"
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$W/ssh/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $PORT
HostKey $W/ssh/host
AuthorizedKeysFile $W/ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PermitRootLogin prohibit-password
PidFile $W/ssh/sshd.pid
MaxStartups 100:30:200
CONF
  /usr/sbin/sshd -D -e -f "$W/ssh/sshd_config" 2>"$W/ssh/sshd.log" &
  pids+=($!)
  for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.05; done
  SSH=(ssh -q -i "$W/ssh/user" -p "$PORT" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
       -o ControlMaster=no -o ControlPath=none "$ME@127.0.0.1")
  "${SSH[@]}" true || { echo "ssh to the loopback sshd failed: $(tail -3 "$W/ssh/sshd.log")" >&2; SSH=(); }
fi

# login: median of LOGINS.
ms() { python3 -c "import sys; print(f'{(float(sys.argv[2]) - float(sys.argv[1])) * 1000:.2f}')" "$1" "$2"; }
logins=()
for _ in $(seq "$LOGINS"); do
  t0=$EPOCHREALTIME
  SSLX_PASSWORD="correct horse" "$R/sslx" --home "$H" -q login --gateway "$URL" --gateway-fingerprint "$FP" alice
  t1=$EPOCHREALTIME; logins+=("$(ms "$t0" "$t1")")
done
SSLX_EXEC=("$R/sslx" --home "$H" exec web1 -- /bin/true)
"${SSLX_EXEC[@]}"

# run NAME PAR CMD...: N commands, PAR at a time; prints "rate p50 p99" (per second, ms).
run() {
  local name=$1 par=$2; shift 2
  local out=$W/times-$name-$par; : >"$out"
  local per=$((N / par)) t0 t1
  t0=$EPOCHREALTIME
  for _ in $(seq "$par"); do
    ( for _ in $(seq "$per"); do a=$EPOCHREALTIME; "$@" >/dev/null; b=$EPOCHREALTIME; echo "$a $b"; done >>"$out.$BASHPID" ) &
  done
  wait
  t1=$EPOCHREALTIME
  cat "$out".* >"$out"
  python3 - "$out" "$t0" "$t1" <<'PY'
import sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
lat = sorted((b - a) * 1000 for a, b in rows)
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"{len(rows) / (float(sys.argv[3]) - float(sys.argv[2])):.1f} {q(0.5):.2f} {q(0.99):.2f}")
PY
}

echo "## sslx exec beside ssh, $N commands of /bin/true each as $ME, loopback ($(nproc) cores)"
echo
echo "| client | at once | commands/s | p50 ms | p99 ms |"
echo "|---|---:|---:|---:|---:|"
for par in 1 "$PAR"; do
  read -r rate p50 p99 < <(run sslx "$par" "${SSLX_EXEC[@]}")
  echo "| sslx exec (gateway, execd) | $par | $rate | $p50 | $p99 |"
  if [ ${#SSH[@]} -gt 0 ]; then
    read -r srate sp50 sp99 < <(run ssh "$par" "${SSH[@]}" true)
    echo "| ssh (sshd, key auth, default kex) | $par | $srate | $sp50 | $sp99 |"
    read -r crate cp50 cp99 < <(run sshc "$par" "${SSH[@]}" -o KexAlgorithms=curve25519-sha256 true)
    echo "| ssh (sshd, key auth, curve25519-sha256) | $par | $crate | $cp50 | $cp99 |"
    python3 -c "import sys; print(f'| ratio sslx / the faster ssh | {sys.argv[3]} | {float(sys.argv[1])/max(float(sys.argv[2]), float(sys.argv[4])):.2f}x | | |')" "$rate" "$srate" "$par" "$crate"
  fi
done
# The web face: a browser's session (cookie and CSRF token) made with curl, then wrk.
if ! command -v wrk >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || true
fi
if command -v wrk >/dev/null && command -v curl >/dev/null; then
  token() { sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1; }
  pre=$(curl -sk -c "$W/jar" "$URL/" | token)
  curl -sk -b "$W/jar" -c "$W/jar" -o /dev/null --data-urlencode user=alice --data-urlencode "password=correct horse" \
    --data-urlencode "csrf=$pre" "$URL/login"
  csrf=$(curl -sk -b "$W/jar" "$URL/" | token)
  cookie=$(awk '$6 == "__Host-sslx-session" {print $6 "=" $7}' "$W/jar")
  enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$csrf")
  cat >"$W/post.lua" <<LUA
wrk.method = "POST"
wrk.body = "host=web1&program=%2Fbin%2Ftrue&args=&csrf=$enc"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "$cookie"
LUA
  curl -sk -H "Cookie: $cookie" --data-binary "host=web1&program=%2Fbin%2Ftrue&args=&csrf=$enc" "$URL/exec" | grep -q 'exit code 0' \
    || { echo "the web face's POST /exec did not run /bin/true" >&2; exit 1; }
  wrk -t2 -c"$PAR" -d"${WEB_SECS}s" --latency -s "$W/post.lua" "$URL/exec" >"$W/wrk.out"
  wrate=$(awk '/Requests\/sec/ {print $2}' "$W/wrk.out")
  wp50=$(awk '$1 == "50%" {print $2}' "$W/wrk.out"); wp99=$(awk '$1 == "99%" {print $2}' "$W/wrk.out")
  echo "| web face POST /exec (wrk, new TLS each) | $PAR | $wrate | $wp50 | $wp99 |"
  python3 -c "import sys; print(f'| ratio web face / sslx exec | {sys.argv[3]} | {float(sys.argv[1])/float(sys.argv[2]):.2f}x | | |')" "$wrate" "$rate" "$PAR"
  errors=$(grep -E 'Non-2xx|Socket errors' "$W/wrk.out" || true)
  [ -n "$errors" ] && echo "wrk: $errors" >&2
fi
read -r trate tp50 tp99 < <(run true 1 /bin/true)
echo "| /bin/true (process start) | 1 | $trate | $tp50 | $tp99 |"
echo
printf '`sslx login` (Argon2id %d MiB, %d passes, 1 lane; gateway, KDC and client on this machine): median %s ms of %d (%s)\n' \
  "$ARGON2_MIB" "$ARGON2_PASSES" "$(printf '%s\n' "${logins[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" \
  "$LOGINS" "$(printf '%s ' "${logins[@]}")"
echo "audit records written: $(wc -l <"$W/audit.jsonl") ($("$R/sslx-execd" audit verify "$W/audit.jsonl" | sed 's/.*: the chain/the chain/'))"
[ ${#SSH[@]} -gt 0 ] && echo "ssh: $(ssh -V 2>&1)"
