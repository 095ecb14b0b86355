#!/usr/bin/env bash
# Cluster suite: three primus-cluster-node processes (CLUSTER_NODE_BIN, default
# ${CARGO_TARGET_DIR:-target}/debug/primus-cluster-node) sharing one throw-away
# redis-server on a free loopback port, driven by the official npm `primus` client
# (pinned by package-lock.json), and two `primus serve --redis` demo servers (PRIMUS_BIN).
# Redis is Debian's package.
# Extra arguments go to `node --test` (e.g. --test-name-pattern=HTTP).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if ! command -v redis-server >/dev/null && [[ ! -x /usr/bin/redis-server ]]; then
  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server)
fi

if [[ ! -d node_modules || ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi

# The servers under test (a no-op when they are up to date): the cluster node, and the
# `primus` binary whose `serve --redis` demo.test.mjs runs.
if [[ -z "${CLUSTER_NODE_BIN:-}" || -z "${PRIMUS_BIN:-}" ]]; then
  (cd ../.. && cargo build --quiet -p primus-e2e --bin primus-cluster-node -p primus-rs --bin primus)
fi

exec node --test --test-concurrency=1 "$@" *.test.mjs
