#!/usr/bin/env bash
# Runs every test of primus-rs on a fresh machine: formatting and lints, the Rust unit and
# integration tests (some start the real Node Primus server), and the node interop suite
# (the official npm `primus` client against our server and against the real Node server).
# It installs what it needs (npm packages from the lock files) and is safe to re-run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "node packages (tests/interop, pinned by package-lock.json)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node and npm are required (Debian: apt-get install -y nodejs npm)" >&2
  exit 1
fi
if [[ ! -d tests/interop/node_modules || tests/interop/package-lock.json -nt tests/interop/node_modules/.package-lock.json ]]; then
  (cd tests/interop && npm ci --no-audit --no-fund)
fi

step "redis-server (Debian's; the cluster tests start their own on free loopback ports)"
# Pinned to the version the cluster suites were written against; if the mirror has moved
# on, the current Debian 12 build is taken (and said so).
REDIS_DEB_VERSION="5:7.0.15-1~deb12u7"
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "redis-server=$REDIS_DEB_VERSION" "redis-tools=$REDIS_DEB_VERSION" \
    || { echo "redis-server $REDIS_DEB_VERSION is gone from the mirror: installing the current one" >&2
         DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server redis-tools; }
fi
# The package starts a system Redis on 6379; the tests never use it (nor the default port).
redis-server --version

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo clippy: a library build with one transformer and no binary (warnings are errors)"
cargo clippy -p primus-rs --no-default-features --features websockets -- -D warnings
cargo build -p primus-rs --no-default-features --features websockets
# The other transformers are left out there: selecting one is a typed error.
cargo test -p primus-rs --lib --no-default-features --features websockets
# webtransport is off by default (its own QUIC stack): a build with it alone stays clean.
cargo clippy -p primus-rs --no-default-features --features webtransport -- -D warnings

step "cargo package (the published crates build from their own files, include_str! too)"
# Together: primus-rs depends on primus-core by version, and cargo resolves it from the
# primus-core package just made (alone, `cargo package -p primus-rs` would look for
# primus-core on crates.io). Each package is unpacked and built (verified).
cargo package -p primus-core -p primus-rs

step "cargo build (binaries the interop suites start)"
cargo build --workspace --bins

step "cargo test"
cargo test --workspace

step "node interop suite (official primus client vs our server and the Node reference)"
PRIMUS_SERVER_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/primus-e2e-server" bash tests/interop/run.sh

step "parsers: the npm packages decode our encodings (tests/parsers, pinned by its lock file)"
(
  cd tests/parsers
  if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --no-audit --no-fund
  fi
  node --test
)

step "plugins: the npm plugins' captured frames still hold, and npm plugin clients vs ours (tests/plugins, pinned by its lock file)"
(
  cd tests/plugins
  if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --no-audit --no-fund
  fi
  node capture.mjs --check
  MULTIPLEX_E2E_BIN="${CARGO_TARGET_DIR:-$PWD/../../target}/debug/multiplex-e2e" \
    node --test --test-concurrency=1 *.test.mjs
)

step "cluster suite: three primus-cluster-node processes + one Redis, driven by the npm primus client (tests/cluster, pinned by its lock file)"
CLUSTER_NODE_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/primus-cluster-node" \
  PRIMUS_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/primus" bash tests/cluster/run.sh

step "scenarios: one suite, every transformer, ours and Node's (tests/scenarios)"
PRIMUS_SERVER_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/primus-e2e-server" bash tests/scenarios/run.sh

step "browser suite (our browser client in headless Chromium against our server)"
bash tests/browser/run.sh
