#!/usr/bin/env bash
# Runs the official SockJS protocol test suite (sockjs/sockjs-protocol,
# `sockjs-protocol.py`, 68 unittest tests) against our bare SockJS layer, the `sockjs-e2e`
# binary (e2e/src/bin/sockjs-e2e.rs).
#
#   bash tests/interop/sockjs-protocol.sh [unittest args, e.g. Protocol.test_simpleSession]
#
# The suite is not vendored and is not run in CI: fetch it by hand, as the message below
# says when it is missing. Default place: tests/interop/.cache/sockjs-protocol (gitignored);
# or set SOCKJS_PROTOCOL_SUITE to the checkout.
#
# Environment:
#   SOCKJS_PROTOCOL_SUITE  the checkout (default tests/interop/.cache/sockjs-protocol)
#   SOCKJS_PROTOCOL_FILE   the test file in it (default sockjs-protocol.py; tag v0.3.3 has
#                          sockjs-protocol-0.3.3.py)
#   SOCKJS_E2E_BIN         a prebuilt sockjs-e2e (default: cargo builds target/debug/sockjs-e2e)
#   SOCKJS_PYTHON          the Python 2.7 interpreter (default: python2.7 on PATH, else the
#                          newest 2.7 that pyenv knows)
#
# The suite is Python 2 code (urlparse, Queue, print statements). This script makes a
# Python 2.7 virtualenv in tests/interop/.cache/sockjs-venv with the pinned packages below
# (the suite's requirements.txt names them unpinned) and reuses it afterwards. Ends with
# `N passed, M failed`; exits 1 when a test fails, 2 when a prerequisite is missing or the
# run breaks.
set -euo pipefail
export PIP_NO_PYTHON_VERSION_WARNING=1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tested_commit="fdf5b7d719de6bd74ea4aedd264f01814b4f226d"
suite="${SOCKJS_PROTOCOL_SUITE:-$here/.cache/sockjs-protocol}"
file="${SOCKJS_PROTOCOL_FILE:-sockjs-protocol.py}"
venv="$here/.cache/sockjs-venv"
boot="$here/.cache/virtualenv-bootstrap"
# The last releases of the suite's requirements (and theirs) that run on Python 2.7.
pins=(unittest2==1.1.0 argparse==1.4.0 six==1.16.0 traceback2==1.4.0 linecache2==1.0.0
  websocket-client==0.59.0 ws4py==0.5.1)

missing() {
  echo "sockjs-protocol: MISSING PREREQUISITE: $1" >&2
  shift
  for line in "$@"; do echo "  $line" >&2; done
  exit 2
}

if [[ ! -f "$suite/$file" || ! -f "$suite/utils.py" ]]; then
  missing "the SockJS protocol test suite (looked for $suite/$file)" \
    "Fetch the repository sockjs/sockjs-protocol from GitHub (checked at commit" \
    "$tested_commit), e.g.:" \
    "  git clone https://github.com/sockjs/sockjs-protocol $here/.cache/sockjs-protocol" \
    "  git -C $here/.cache/sockjs-protocol checkout $tested_commit" \
    "or put the checkout anywhere and set SOCKJS_PROTOCOL_SUITE=/path/to/sockjs-protocol." \
    "Do not commit it: .cache/ is gitignored."
fi

# shellcheck source=../lib/python27.sh
source "$root/tests/lib/python27.sh"
find_python27 "${SOCKJS_PYTHON:-}"
if [[ ${#py[@]} -eq 0 ]]; then
  missing "CPython 2.7 (the suite is Python 2 code)" \
    "Install one of:" \
    "  pyenv:   pyenv install 2.7.18   (found by this script; its ssl module must build, pip needs HTTPS)" \
    "  Debian 11 and older:  apt-get install python2.7   (Debian 12 and later ship no Python 2)" \
    "or point SOCKJS_PYTHON at a python2.7 binary; it needs pip (python2.7 -m ensurepip)." \
    "PyPI packages (installed by this script into $venv): ${pins[*]}"
fi
"${py[@]}" -m pip --version >/dev/null 2>&1 ||
  missing "pip for Python 2.7" "Run: ${py[*]} -m ensurepip"

want="$(printf '%s\n' "${pins[@]}" | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || "$(cat "$venv/.pins.sha256" 2>/dev/null || true)" != "$want" ]]; then
  echo "sockjs-protocol: building $venv (Python 2.7: ${pins[*]})"
  python27_virtualenv "$venv" "$boot"
  timeout 600 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    --no-deps "${pins[@]}" || missing "the pinned packages" "pip failed: ${pins[*]}"
  "$venv/bin/python" -m pip check --disable-pip-version-check >/dev/null ||
    missing "a consistent dependency set" "'$venv/bin/python -m pip check' fails"
  echo "$want" > "$venv/.pins.sha256"
fi

if [[ -n "${SOCKJS_E2E_BIN:-}" ]]; then
  bin="$SOCKJS_E2E_BIN"
else
  echo "sockjs-protocol: cargo build -p primus-e2e --bin sockjs-e2e"
  (cd "$root" && timeout 1800 cargo build --quiet -p primus-e2e --bin sockjs-e2e)
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/sockjs-e2e"
fi
[[ -x "$bin" ]] || missing "$bin" "Build it: cargo build -p primus-e2e --bin sockjs-e2e"

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

"$bin" --port 0 > "$work/server.log" 2>&1 &
server=$!
port=""
for _ in $(seq 1 100); do
  port="$(sed -n 's/^listening \([0-9][0-9]*\)$/\1/p' "$work/server.log" 2>/dev/null)"
  [[ -n "$port" ]] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
[[ -n "$port" ]] || { cat "$work/server.log" >&2; echo "sockjs-protocol: sockjs-e2e did not start" >&2; exit 2; }

echo "sockjs-protocol: $file against sockjs-e2e on 127.0.0.1:$port"
rc=0
(cd "$suite" && SOCKJS_URL="http://127.0.0.1:$port" PYTHONDONTWRITEBYTECODE=1 \
  timeout 600 "$venv/bin/python" "$file" -v "$@") 2>&1 | tee "$work/unittest.log" || rc=$?

# unittest's closing lines: "Ran N tests in …" then "OK", "OK (skipped=K)" or
# "FAILED (failures=F, errors=E, skipped=K)".
ran="$(sed -n 's/^Ran \([0-9][0-9]*\) tests\{0,1\} in .*/\1/p' "$work/unittest.log" | tail -n 1)"
if [[ -z "$ran" ]]; then
  echo "sockjs-protocol: unittest printed no summary (exit $rc; 124 is the 600 s time limit)" >&2
  exit 2
fi
verdict="$(grep -E '^(OK|FAILED)( \(.*\))?$' "$work/unittest.log" | tail -n 1 || true)"
count() { sed -n "s/.*[(, ]$1=\([0-9][0-9]*\).*/\1/p" <<<"$verdict"; }
failures="$(count failures)" errors="$(count errors)" skipped="$(count skipped)"
expected="$(count 'expected failures')" unexpected="$(count 'unexpected successes')"
failed=$((${failures:-0} + ${errors:-0} + ${unexpected:-0}))
skipped=$((${skipped:-0} + ${expected:-0}))
echo "$((ran - failed - skipped)) passed, $failed failed, $skipped skipped"
[[ "$failed" -eq 0 && "$rc" -eq 0 ]] || exit 1
