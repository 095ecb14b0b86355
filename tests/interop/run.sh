#!/usr/bin/env bash
# Interop suite: official npm `primus` client against the Node reference server
# and the Rust primus-e2e-server (PRIMUS_SERVER_BIN, default target/debug/primus-e2e-server).
# PRIMUS_INTEROP_REFERENCE_ONLY=1 runs only the reference half.
# Extra arguments go to `node --test` (e.g. --test-name-pattern=heartbeat).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if [[ ! -d node_modules || ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi

exec node --test --test-concurrency=1 "$@" *.test.mjs
