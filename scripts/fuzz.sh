#!/usr/bin/env bash
# Fuzzes every decoder of untrusted bytes (fuzz/fuzz_targets/) with libFuzzer for SECS seconds
# each (default 20): `bash scripts/fuzz.sh`, or `bash scripts/fuzz.sh 3600 token` for one target
# longer. Installs cargo-fuzz if it is missing; the stable toolchain is enough (RUSTC_BOOTSTRAP
# lets cargo-fuzz pass its sanitizer flags). Seeds each corpus with the frames and files of
# tests/vectors. Exits non-zero on the first crash; the reproducer is in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-20}
shift || true
export RUSTC_BOOTSTRAP=1 CARGO_TERM_COLOR=never
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
targets=${*:-$(cargo fuzz list --fuzz-dir .)}

# Seeds: every hex value in the vectors that decodes (frames, tokens' bytes), the bundle files,
# and the key and token texts.
python3 - <<'PY'
import os, re, glob, binascii
root = "../tests/vectors"
seeds = {}
for path in glob.glob(f"{root}/**/*.txt", recursive=True):
    for line in open(path, encoding="utf-8"):
        if ": " not in line:
            continue
        k, v = line.rstrip("\n").split(": ", 1)
        if re.fullmatch(r"(?:[0-9a-f]{2}){6,}", v):
            b = binascii.unhexlify(v)
            for t in ("frames", "messages", "bundle"):
                seeds.setdefault(t, []).append(b)
        elif k in ("token", "line") or v.startswith(("sslx-", "SSLX-")):
            for t in ("token", "key_lines", "reply_b_email"):
                seeds.setdefault(t, []).append(v.encode())
        if k.startswith("s") and k[1:].isdigit():
            seeds.setdefault("token_dialogue", []).append(v.encode() + b"\r\n")
for path in glob.glob(f"{root}/courier/*.sslx"):
    data = open(path, "rb").read()
    seeds.setdefault("bundle", []).append(data)
    seeds.setdefault("frames", []).append(data)
for t, items in seeds.items():
    os.makedirs(f"corpus/{t}", exist_ok=True)
    for i, b in enumerate(items):
        open(f"corpus/{t}/seed-{i:03}", "wb").write(b)
PY

cargo fuzz build -O --fuzz-dir . >/dev/null
for t in $targets; do
  mkdir -p "corpus/$t"
  out=$(cargo fuzz run -O --fuzz-dir . "$t" "corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 2>&1) || {
    echo "$out" | tail -40
    echo "fuzz: $t crashed; reproducer in fuzz/artifacts/$t/" >&2
    exit 1
  }
  execs=$(echo "$out" | sed -n 's/^stat::number_of_executed_units: *//p' | tail -1)
  echo "fuzz: $t: ${execs:-?} runs in ${secs} s, no crash"
done
