#!/usr/bin/env bash
# Browser suite: the primus-rs browser client (<pathname>/primus.js) in headless Chromium,
# against the Rust servers (target/debug/primus-e2e-server and primus, or under
# CARGO_TARGET_DIR; PRIMUS_SERVER_BIN / PRIMUS_BIN override). Chromium is Debian's package,
# driven by playwright-core (pinned by package-lock.json); no browser is ever downloaded.
# Extra arguments go to `node --test` (e.g. --test-name-pattern=sockjs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

source ../lib/chromium.sh

# The servers the suite starts (a no-op when scripts/test-all.sh built them already).
if [[ -z "${PRIMUS_SERVER_BIN:-}${PRIMUS_BIN:-}" ]]; then
  (cd ../.. && cargo build --quiet -p primus-rs -p primus-e2e --bins)
fi
# The example plugin that plugin.test.mjs drives (cargo test builds it too).
(cd ../.. && cargo build --quiet -p primus-rs --example plugin --example chat)

if [[ ! -d node_modules || ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi

exec node --test --test-concurrency=1 "$@" *.test.mjs
