#!/usr/bin/env bash
# The CDS scaled out on PostgreSQL (issue 16), in one run against a PostgreSQL server the bench
# starts itself (tests/common/pg.rs: initdb + postgres from the machine's PostgreSQL, as an
# unprivileged user when run as root): open requests/s through a SQLite CDS, one instance on
# PostgreSQL and three on one database; SSLX_HOOKS (10,000) participants on hook over three
# instances, RSS of each; call setup with the callee at the caller's instance and at another.
# SSLX_BENCH_SECS per open-request figure (8).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench cluster 2>&1 | grep -vE '^\s+(Compiling|Finished|Running)|^warning'
