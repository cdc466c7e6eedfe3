# sslx's methods for bench/peers/courier.sh (sourced there; see bench/courier.sh, which sets
# SSLX, SSLX_A, SSLX_B, SSLX_HTTP). Cases follow the peers' conventions: TV wraps each process
# for its peak RSS, $OUT is the receive dir, $DATA holds big.bin and tree/.

# Waits until the CDS reports `n` participants on hook (the receiver is reachable).
source "$(dirname "${BASH_SOURCE[0]}")/on-hook.sh"
sslx_on_hook() { on_hook "$@"; }

# Live: `sslx recv --once` on hook at the CDS, `sslx send` through the relay.
sslx_live() {
  sslx_on_hook 0
  TV recv "$SSLX" --home "$SSLX_B" -q recv --once --into "$OUT" & local r=$!
  sslx_on_hook 1
  TV send "$SSLX" --home "$SSLX_A" -q send --no-mailbox "$@" --to sb
  wait $r
}
case_sslx_file() { sslx_live "$DATA/big.bin"; }
case_sslx_tree() { sslx_live "$DATA/tree"; }
case_sslx3des_file() { sslx_live --suite 3des "$DATA/big.bin"; }
case_sslx3des_tree() { sslx_live --suite 3des "$DATA/tree"; }

# Offline: the bundle through a pipe (what age does).
sslx_pipe() {
  TV send "$SSLX" --home "$SSLX_A" -q send "$1" --to sb --out - | TV recv "$SSLX" --home "$SSLX_B" -q recv --in - --into "$OUT"
}
case_sslxpipe_file() { sslx_pipe "$DATA/big.bin"; }
case_sslxpipe_tree() { sslx_pipe "$DATA/tree"; }
