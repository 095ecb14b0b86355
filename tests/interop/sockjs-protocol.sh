#!/usr/bin/env bash
# Runs the official SockJS protocol test suite (sockjs/sockjs-protocol,
# `sockjs-protocol.py`, 68 tests) against our bare SockJS layer, the `sockjs-e2e` binary.
#
#   SOCKJS_PROTOCOL_SUITE=/path/to/sockjs-protocol \
#   SOCKJS_E2E_BIN=target/debug/sockjs-e2e  bash tests/interop/sockjs-protocol.sh
#
# The suite is not vendored here; point SOCKJS_PROTOCOL_SUITE at a checkout. It needs
# Python 2.7 with unittest2, websocket-client (< 0.60) and ws4py 0.5.1, installed with
# pip when missing. Without a Python 2.7 this script says so and exits 0 (skipped).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
suite="${SOCKJS_PROTOCOL_SUITE:?set SOCKJS_PROTOCOL_SUITE to a sockjs-protocol checkout}"
bin="${SOCKJS_E2E_BIN:-$root/target/debug/sockjs-e2e}"
[[ -x "$bin" ]] || { echo "build it first: cargo build -p primus-e2e --bin sockjs-e2e" >&2; exit 2; }

# Python 2.7: on PATH, or a pyenv version.
py=""
if command -v python2.7 >/dev/null 2>&1 && python2.7 -c 'import sys; assert sys.version_info[:2] == (2, 7)' 2>/dev/null; then
  py="python2.7"
elif command -v pyenv >/dev/null 2>&1; then
  v="$(pyenv versions --bare 2>/dev/null | grep -E '^2\.7' | tail -n 1 || true)"
  if [[ -n "$v" ]]; then export PYENV_VERSION="$v"; py="python"; fi
fi
if [[ -z "$py" ]]; then
  echo "sockjs-protocol: SKIPPED, no Python 2.7 on this machine (the suite needs it)"
  exit 0
fi
if ! "$py" -c 'import unittest2, websocket, ws4py' 2>/dev/null; then
  "$py" -m pip install --quiet --disable-pip-version-check \
    unittest2 'websocket-client<0.60' 'ws4py==0.5.1'
fi

work="$(mktemp -d)"
server=""
cleanup() { [[ -n "$server" ]] && kill "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$bin" --port 0 > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 50); do
  grep -q '^listening ' "$work/server.log" 2>/dev/null && break
  sleep 0.1
done
port="$(sed -n 's/^listening \([0-9]*\)$/\1/p' "$work/server.log")"
[[ -n "$port" ]] || { cat "$work/server.log" >&2; exit 1; }
cd "$suite" && SOCKJS_URL="http://127.0.0.1:$port" timeout 300 "$py" sockjs-protocol.py
