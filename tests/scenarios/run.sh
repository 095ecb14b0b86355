#!/usr/bin/env bash
# Scenario suite: one set of scenarios run unchanged against every transformer of our
# primus-e2e-server (PRIMUS_SERVER_BIN, default target/debug/primus-e2e-server) and of the
# real Node Primus 8.0.9, with the official npm primus client (or, for transformers it
# cannot speak, our browser client library in Node or in headless Chromium: Debian's
# chromium is installed when missing). Writes RESULTS.md here;
# SCENARIOS_UPDATE_README=1 also rewrites the table in the README.
# Extra arguments go to `node --test` (e.g. --test-name-pattern=heartbeat).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source ../lib/chromium.sh

if [[ ! -d node_modules || ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi

exec node --test --test-concurrency=1 "$@" *.test.mjs
