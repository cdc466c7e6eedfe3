# Sourced by the bench scripts. on_hook N: waits until the CDS at $SSLX_HTTP (started with
# --health-detail) has N participants on hook, polling /v1/health with bash's /dev/tcp and
# builtins only (no process started per poll).
on_hook() {
  local n=$1 hp=${SSLX_HTTP#http://} body line
  for _ in $(seq 3000); do
    exec 9<>"/dev/tcp/${hp%:*}/${hp#*:}"
    printf 'GET /v1/health HTTP/1.0\r\nHost: x\r\n\r\n' >&9
    body=""; while IFS= read -r -u 9 line || [[ -n $line ]]; do body+=$line; done
    exec 9<&-
    [[ $body == *"\"on_hook\":$n"[,}]* ]] && return 0
    sleep 0.002
  done
  echo "never $n on hook" >&2; return 1
}
