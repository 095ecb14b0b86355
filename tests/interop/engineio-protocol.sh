#!/usr/bin/env bash
# Runs the official Engine.IO protocol test suite (socketio/engine.io-protocol,
# `test-suite/`) against our bare Engine.IO layer, the `engineio-e2e` binary.
#
#   ENGINEIO_PROTOCOL_SUITE=/path/to/engine.io-protocol/test-suite \
#   ENGINEIO_E2E_BIN=target/debug/engineio-e2e  bash tests/interop/engineio-protocol.sh
#
# The suite is not vendored here (its repository carries no licence file); point
# ENGINEIO_PROTOCOL_SUITE at a checkout. Its own package-lock pins mocha, chai,
# node-fetch and ws; they are installed into a scratch copy. The suite talks to
# http://localhost:3000, so port 3000 must be free.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
suite="${ENGINEIO_PROTOCOL_SUITE:?set ENGINEIO_PROTOCOL_SUITE to engine.io-protocol/test-suite}"
bin="${ENGINEIO_E2E_BIN:-$root/target/debug/engineio-e2e}"
[[ -x "$bin" ]] || { echo "build it first: cargo build -p primus-e2e --bin engineio-e2e" >&2; exit 2; }

work="$(mktemp -d)"
server=""
cleanup() { [[ -n "$server" ]] && kill "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cp -r "$suite"/. "$work"/
(cd "$work" && npm ci --no-audit --no-fund >/dev/null)

"$bin" --port 3000 > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 50); do
  grep -q '^listening ' "$work/server.log" 2>/dev/null && break
  sleep 0.1
done
grep -q '^listening 3000' "$work/server.log" || { cat "$work/server.log" >&2; exit 1; }
cd "$work" && timeout 300 npx mocha test-suite.js
