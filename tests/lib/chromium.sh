# Sourced by the suites that drive headless Chromium (tests/browser, tests/scenarios):
# Debian's chromium package, installed when missing; a browser is never downloaded by a
# test tool (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD), playwright-core only drives it.
if ! command -v chromium >/dev/null && [[ ! -x /usr/bin/chromium ]]; then
  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)
fi
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
