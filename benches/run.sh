#!/usr/bin/env bash
# One command for the comparison benchmark: builds the release binaries, makes sure the Node
# reference server's npm deps are there, raises the open-file limit and runs
#   primus-bench compare --markdown benches/results/latest.md [extra args]
# Extra arguments go to `compare`, e.g. `benches/run.sh --servers raw,node --idle 2000`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target="${CARGO_TARGET_DIR:-target}"

if ! cargo build --release -p primus-rs -p primus-bench; then
  echo "run.sh: building primus-rs failed; measuring the other servers only" >&2
  cargo build --release -p primus-bench
fi

if [[ ! -d tests/interop/node_modules/primus ]]; then
  if command -v npm >/dev/null; then
    (cd tests/interop && npm ci --no-audit --no-fund) ||
      echo "run.sh: npm ci failed; the node server will be reported as unavailable" >&2
  else
    echo "run.sh: npm not found; the node server will be reported as unavailable" >&2
  fi
fi

# The generator and every server it starts hold up to --idle sockets each.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

mkdir -p benches/results
exec "$target/release/primus-bench" compare \
  --primus-bin "$target/release/primus" \
  --markdown benches/results/latest.md \
  "$@"
