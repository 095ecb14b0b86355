#!/usr/bin/env bash
# Runs Autobahn|Testsuite's fuzzing client (RFC 6455 conformance, cases 1.* to 10.*)
# against our WebSocket transformer, through the `raw-echo` server (e2e/src/bin/raw-echo.rs);
# AUTOBAHN_TRANSFORMER=uws tests the second engine (fastwebsockets) instead.
#
#   bash tests/autobahn/run.sh
#
# What it needs: CPython 2.7 with pip (autobahntestsuite runs on nothing newer), a C
# compiler and the Python 2.7 headers (a few dependencies build C extensions), PyPI, and
# cargo. It makes tests/autobahn/.venv (a Python 2.7 virtualenv holding the pinned
# requirements.txt) on first use and reuses it while requirements.txt is unchanged.
#
# Environment:
#   AUTOBAHN_PYTHON   the Python 2.7 interpreter to use (default: python2.7 on PATH, else
#                     the newest 2.7 that pyenv knows)
#   AUTOBAHN_CASES    comma-separated case patterns to run (default "*"), e.g. "1.*,5.*"
#   AUTOBAHN_PROFILE  cargo profile for raw-echo: "dev" (default, shares the usual build) or "release"
#   AUTOBAHN_TIMEOUT  seconds the whole fuzzing run may take (default 1500)
#   AUTOBAHN_SERVER_BIN  a prebuilt raw-echo to test instead of building one
#   AUTOBAHN_TRANSFORMER websockets (default), uws, lws or faye: the transformer raw-echo runs
#
# Cases 12.* and 13.* (permessage-deflate) are always excluded: the transformer does not
# implement compression. Output: per-behavior counts, closing-behavior counts, the failed
# case ids, and a closing `N passed, M failed, K skipped` line. A case fails when its
# behavior is FAILED or its closing behavior is FAILED or UNCLEAN (both red in Autobahn's
# own report); UNIMPLEMENTED cases are the skipped ones. Exits 1 when a case failed, 2
# when a prerequisite is missing or the run could not finish.
# Not part of CI: it needs Python 2.7 and takes several minutes.
set -euo pipefail
export PIP_NO_PYTHON_VERSION_WARNING=1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cases="${AUTOBAHN_CASES:-*}"
profile="${AUTOBAHN_PROFILE:-dev}"
budget="${AUTOBAHN_TIMEOUT:-1500}"
venv="$here/.venv"
boot="$here/.venv-bootstrap"
reports="$here/reports"

missing() {
  echo "autobahn: MISSING PREREQUISITE: $1" >&2
  shift
  for line in "$@"; do echo "  $line" >&2; done
  exit 2
}

# --- Python 2.7 -------------------------------------------------------------------------
# shellcheck source=../lib/python27.sh
source "$root/tests/lib/python27.sh"
find_python27 "${AUTOBAHN_PYTHON:-}"
if [[ ${#py[@]} -eq 0 ]]; then
  missing "CPython 2.7 (autobahntestsuite 0.8.2 runs on Python 2.7 only)" \
    "Install one of:" \
    "  pyenv:   pyenv install 2.7.18   (found by this script; its ssl module must build, pip needs HTTPS)" \
    "  Debian 11 and older:  apt-get install python2.7 python2.7-dev   (Debian 12 and later ship no Python 2)" \
    "or point AUTOBAHN_PYTHON at a python2.7 binary. It needs pip (python2.7 -m ensurepip)," \
    "a C compiler (gcc) and the Python 2.7 headers (Python.h)."
fi
"${py[@]}" -m pip --version >/dev/null 2>&1 ||
  missing "pip for Python 2.7" "Run: ${py[*]} -m ensurepip   (or install python-pip for 2.7)"
command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 ||
  missing "a C compiler" "Run: apt-get install gcc   (wsaccel, ujson, zope.interface and Twisted build C code)"

# --- virtualenv with the pinned requirements ---------------------------------------------
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/wstest" || "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
  echo "autobahn: building $venv (Python 2.7, pinned requirements.txt) ..."
  python27_virtualenv "$venv" "$boot"
  timeout 900 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    --no-deps -r "$req" ||
    missing "the pinned packages in $req" "pip failed (see above): PyPI, gcc and the Python 2.7 headers are needed"
  "$venv/bin/python" -m pip check --disable-pip-version-check >/dev/null ||
    missing "a consistent dependency set" "'$venv/bin/python -m pip check' fails: requirements.txt lacks a package"
  echo "$want" > "$stamp"
fi

# --- the echo server ---------------------------------------------------------------------
if [[ -n "${AUTOBAHN_SERVER_BIN:-}" ]]; then
  bin="$AUTOBAHN_SERVER_BIN"
else
  command -v cargo >/dev/null 2>&1 || missing "cargo" "Install a Rust toolchain (rustup) to build raw-echo."
  if [[ "$profile" == "release" ]]; then
    build=(--release) dir=release
  else
    build=() dir=debug
  fi
  echo "autobahn: cargo build -p primus-e2e --bin raw-echo ${build[*]}"
  (cd "$root" && timeout 1800 cargo build --quiet -p primus-e2e --bin raw-echo "${build[@]}")
  bin="${CARGO_TARGET_DIR:-$root/target}/$dir/raw-echo"
fi
[[ -x "$bin" ]] || missing "$bin" "Build it: cargo build -p primus-e2e --bin raw-echo"

mkdir -p "$reports"
rm -rf "$reports/servers"
server_log="$reports/raw-echo.log"
server=""
cleanup() {
  if [[ -n "$server" ]]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
}
trap cleanup EXIT
"$bin" --port 0 --transformer "${AUTOBAHN_TRANSFORMER:-websockets}" > "$server_log" 2>&1 &
server=$!
port=""
for _ in $(seq 1 100); do
  port="$(sed -n 's/^listening \([0-9][0-9]*\)$/\1/p' "$server_log" 2>/dev/null)"
  [[ -n "$port" ]] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
[[ -n "$port" ]] || { cat "$server_log" >&2; echo "autobahn: raw-echo did not start" >&2; exit 2; }
echo "autobahn: raw-echo listening on 127.0.0.1:$port"

# --- the fuzzing client -------------------------------------------------------------------
spec="$here/spec.json"
"$venv/bin/python" - "$spec" "$port" "$cases" "$reports/servers" <<'PY'
import json, sys
spec, port, cases, out = sys.argv[1:5]
json.dump({
    "outdir": out,
    "servers": [{"agent": "primus-rs", "url": "ws://127.0.0.1:%s/primus" % port}],
    "cases": [c.strip() for c in cases.split(",") if c.strip()],
    "exclude-cases": ["12.*", "13.*"],
    "exclude-agent-cases": {},
}, open(spec, "w"), indent=2)
PY
echo "autobahn: excluding 12.* and 13.* (permessage-deflate: compression is not implemented)"
echo "autobahn: wstest -m fuzzingclient -s $spec  (cases: $cases, time limit ${budget}s)"
rc=0
(cd "$here" && PYTHONWARNINGS=ignore timeout "$budget" "$venv/bin/wstest" -m fuzzingclient -s "$spec") \
  > "$reports/wstest.log" 2>&1 || rc=$?
if [[ $rc -ne 0 ]]; then
  tail -n 20 "$reports/wstest.log" >&2
  if [[ $rc -eq 124 ]]; then echo "autobahn: wstest ran out of time (${budget}s)" >&2; fi
fi
index="$reports/servers/index.json"
if [[ ! -f "$index" ]]; then
  echo "autobahn: no report at $index (wstest exit $rc); see $reports/wstest.log" >&2
  exit 2
fi

# --- the summary --------------------------------------------------------------------------
"$venv/bin/python" - "$index" <<'PY'
import json, sys

def key(case_id):
    return [int(p) for p in case_id.split(".")]

index = json.load(open(sys.argv[1]))
cases = {}
for agent in index.values():
    cases.update(agent)
order = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
counts = dict((b, 0) for b in order)
close_counts = {}
failed, close_bad = [], []
for cid in sorted(cases, key=key):
    case = cases[cid]
    b = case.get("behavior", "?")
    counts[b] = counts.get(b, 0) + 1
    bc = case.get("behaviorClose", "?")
    close_counts[bc] = close_counts.get(bc, 0) + 1
    row = (cid, b, bc, case.get("remoteCloseCode"))
    # Autobahn's own report paints these red: a failed behavior, or a closing handshake
    # that failed or was not clean (no close frame back, TCP dropped first, ...).
    if b not in ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED") \
            or (bc in ("FAILED", "UNCLEAN") and b != "UNIMPLEMENTED"):
        failed.append(row)
    elif bc not in ("OK", "INFORMATIONAL"):
        # WRONG CODE and FAILED BY CLIENT: amber in Autobahn's report, listed, not failed.
        close_bad.append(row)
print("autobahn: %d cases run" % len(cases))
for b in order + sorted(set(counts) - set(order)):
    print("  %-14s %d" % (b, counts[b]))
print("autobahn: closing behavior: " + ", ".join(
    "%s %d" % (b, n) for b, n in sorted(close_counts.items())))
for title, rows in (("FAILED cases (behavior or closing behavior)", failed),
                    ("passed, closing behavior not strict", close_bad)):
    if rows:
        print("autobahn: %s (id: behavior / closing behavior / close code we sent):" % title)
        for cid, b, bc, code in rows:
            print("  %-9s %s / %s / %s" % (cid, b, bc, code))
skipped = counts["UNIMPLEMENTED"]
print("%d passed, %d failed, %d skipped" % (len(cases) - len(failed) - skipped, len(failed), skipped))
sys.exit(1 if failed else 0)
PY
