# Python 2.7 for the by-hand conformance runs (tests/autobahn/run.sh,
# tests/interop/sockjs-protocol.sh). Sourced; the caller defines `missing MSG LINES...`.

# `find_python27 [OVERRIDE]`: sets the array `py` to the first candidate that really is
# CPython 2.7 (OVERRIDE, python2.7 on PATH, the newest pyenv 2.7.x), or leaves it empty.
# A pyenv shim named python2.7 can be on PATH and still fail when no 2.7 is selected, so
# every candidate is run.
is27() { "$@" -c 'import sys; assert sys.version_info[:2] == (2, 7)' >/dev/null 2>&1; }
find_python27() {
  py=()
  if [[ -n "${1:-}" ]]; then
    py=("$1")
  elif command -v python2.7 >/dev/null 2>&1 && is27 python2.7; then
    py=(python2.7)
  elif command -v pyenv >/dev/null 2>&1; then
    local v
    v="$(pyenv versions --bare 2>/dev/null | grep -E '^2\.7(\.[0-9]+)?$' | sort -t. -k3 -n | tail -n 1 || true)"
    if [[ -n "$v" ]]; then py=(env "PYENV_VERSION=$v" python); fi
  fi
  if [[ ${#py[@]} -gt 0 ]] && ! is27 "${py[@]}"; then py=(); fi
}

# `python27_virtualenv VENV BOOT`: an empty virtualenv at VENV for "${py[@]}". Python 2.7 has
# no `venv` module: virtualenv 20.15.1 (the last release that runs on 2.7) is installed
# into the private folder BOOT rather than into the interpreter.
python27_virtualenv() {
  local venv="$1" boot="$2"
  rm -rf "$venv"
  if [[ ! -f "$boot/virtualenv/__init__.py" ]]; then
    rm -rf "$boot"
    timeout 300 "${py[@]}" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
      --target "$boot" 'virtualenv==20.15.1' ||
      missing "virtualenv 20.15.1 from PyPI" "pip could not install it into $boot: is PyPI reachable?"
  fi
  VIRTUALENV_OVERRIDE_APP_DATA="$boot/app-data" PYTHONPATH="$boot" \
    timeout 300 "${py[@]}" -m virtualenv --quiet --no-download --no-periodic-update "$venv"
}
