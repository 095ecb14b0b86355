#!/usr/bin/env bash
# Runs the official Engine.IO protocol test suite (socketio/engine.io-protocol,
# `test-suite/test-suite.js`, mocha) against our bare Engine.IO layer, the `engineio-e2e`
# binary (e2e/src/bin/engineio-e2e.rs).
#
#   bash tests/interop/engineio-protocol.sh
#
# The suite is not vendored (its repository carries no licence file) and is not run in CI:
# fetch it by hand, as the message below says when it is missing. Default place:
# tests/interop/.cache/engine.io-protocol (gitignored); or set ENGINEIO_PROTOCOL_SUITE to
# the checkout (its root or its test-suite/ directory).
#
# Environment:
#   ENGINEIO_PROTOCOL_SUITE  the checkout (default tests/interop/.cache/engine.io-protocol)
#   ENGINEIO_E2E_BIN         a prebuilt engineio-e2e (default: cargo builds target/debug/engineio-e2e)
#
# Needs Node.js >= 18 with npm (checked with Node 20.20.2, npm 11.19.1); the suite's own
# package-lock.json pins mocha 9.2.1, chai 4.3.6, chai-string, node-fetch 3.2.0 and
# ws 8.5.0, installed by `npm ci` into a scratch copy. The suite talks to
# http://localhost:3000, so 127.0.0.1:3000 must be free. Ends with `N passed, M failed`;
# exits 1 when a test fails, 2 when a prerequisite is missing or the run breaks.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tested_commit="f21de7b00ed09b3bbad2807db718ea5d6bc36aba"
suite="${ENGINEIO_PROTOCOL_SUITE:-$here/.cache/engine.io-protocol}"
[[ -f "$suite/test-suite/test-suite.js" ]] && suite="$suite/test-suite"

missing() {
  echo "engineio-protocol: MISSING PREREQUISITE: $1" >&2
  shift
  for line in "$@"; do echo "  $line" >&2; done
  exit 2
}

if [[ ! -f "$suite/test-suite.js" || ! -f "$suite/package-lock.json" ]]; then
  missing "the Engine.IO protocol test suite (looked in $suite)" \
    "Fetch the repository socketio/engine.io-protocol from GitHub (checked at commit" \
    "$tested_commit, 2024-07-01; test-suite/ last changed in 05488c4), e.g.:" \
    "  git clone https://github.com/socketio/engine.io-protocol $here/.cache/engine.io-protocol" \
    "  git -C $here/.cache/engine.io-protocol checkout $tested_commit" \
    "or put the checkout anywhere and set ENGINEIO_PROTOCOL_SUITE=/path/to/engine.io-protocol." \
    "Do not commit it: .cache/ is gitignored."
fi
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
  missing "Node.js >= 18 and npm" "Install Node.js 18 or newer (checked with 20.20.2), e.g. apt-get install nodejs npm."
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[[ "$node_major" -ge 18 ]] ||
  missing "Node.js >= 18 (found $(node --version))" "The suite is an ES module with top-level await and node-fetch 3."
if (exec 3<>/dev/tcp/127.0.0.1/3000) 2>/dev/null; then
  missing "a free port 3000" "Something listens on 127.0.0.1:3000; the suite's URL is fixed to localhost:3000."
fi

if [[ -n "${ENGINEIO_E2E_BIN:-}" ]]; then
  bin="$ENGINEIO_E2E_BIN"
else
  echo "engineio-protocol: cargo build -p primus-e2e --bin engineio-e2e"
  (cd "$root" && timeout 1800 cargo build --quiet -p primus-e2e --bin engineio-e2e)
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/engineio-e2e"
fi
[[ -x "$bin" ]] || missing "$bin" "Build it: cargo build -p primus-e2e --bin engineio-e2e"

work="$(mktemp -d)"
server=""
cleanup() {
  if [[ -n "$server" ]]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
cp -r "$suite"/. "$work"/
rm -rf "$work/node_modules"
echo "engineio-protocol: npm ci (the suite's package-lock.json)"
(cd "$work" && timeout 300 npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
  missing "the suite's npm packages" "npm ci failed in a copy of $suite (is the npm registry reachable?)"

"$bin" --port 3000 > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  grep -q '^listening ' "$work/server.log" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
grep -q '^listening 3000$' "$work/server.log" || {
  cat "$work/server.log" >&2
  echo "engineio-protocol: engineio-e2e did not start on port 3000" >&2
  exit 2
}

echo "engineio-protocol: mocha test-suite.js against engineio-e2e on 127.0.0.1:3000"
rc=0
(cd "$work" && timeout 300 npx --no-install mocha --reporter spec test-suite.js) 2>&1 |
  tee "$work/mocha.log" || rc=$?
passed="$(sed -n 's/^ *\([0-9][0-9]*\) passing.*/\1/p' "$work/mocha.log" | tail -n 1)"
failed="$(sed -n 's/^ *\([0-9][0-9]*\) failing.*/\1/p' "$work/mocha.log" | tail -n 1)"
pending="$(sed -n 's/^ *\([0-9][0-9]*\) pending.*/\1/p' "$work/mocha.log" | tail -n 1)"
if [[ -z "$passed" && -z "$failed" ]]; then
  echo "engineio-protocol: mocha printed no summary (exit $rc; 124 is the 300 s time limit)" >&2
  exit 2
fi
echo "${passed:-0} passed, ${failed:-0} failed, ${pending:-0} skipped"
[[ "${failed:-0}" -eq 0 && "$rc" -eq 0 ]] || exit 1
