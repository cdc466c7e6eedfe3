#!/usr/bin/env bash
# Session tokens: mint and verify per second beside PASETO v4.public and JWT EdDSA (in memory,
# cargo bench -p sslx-bench --bench token), then the whole-process time of `sslx token verify` and
# `sslx token mint` as a shell script calls them (release build, median of RUNS, default 50).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-50}
cargo build --release --quiet --bins
S=$PWD/target/release/sslx
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
echo "## In memory, one thread"
echo
cargo bench -p sslx-bench --quiet --bench token 2>/dev/null | grep -E '^\||^ring'
echo
"$S" --home "$W/h" -q keygen --name node1 --out "$W/n1.key" >"$W/n1.pub"
echo "1 $(cut -d' ' -f2 "$W/n1.pub")" >"$W/ring"
T=$("$S" token mint --key "$W/n1.key" --node 1 --field User-ID=fred --field Audience=node2)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_of() { for _ in $(seq "$RUNS"); do t0=$EPOCHREALTIME; "$@" >/dev/null; t1=$EPOCHREALTIME; echo "($t1 - $t0) * 1000" | bc -l; done | median; }
echo "## Whole process (release), median of $RUNS"
echo
echo "| command | ms |"
echo "|---|---:|"
printf '| sslx token verify TOKEN --keyring FILE | %.2f |\n' "$(time_of "$S" token verify "$T" --keyring "$W/ring")"
printf '| sslx token mint --key FILE --node 1 --field ... | %.2f |\n' "$(time_of "$S" token mint --key "$W/n1.key" --node 1 --field User-ID=fred)"
printf '| /bin/true (process start on this machine) | %.2f |\n' "$(time_of /bin/true)"
