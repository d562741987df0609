#!/usr/bin/env bash
# What the browser tests need beyond the Python packages: Debian's Chromium at /usr/bin/chromium
# (Playwright drives it; `playwright install` would download a browser build, which sites and CI
# cannot fetch). Idempotent and quiet: does nothing when Chromium is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "prepare_browser: /usr/bin/chromium is missing and apt-get is not available; browser tests will skip" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "prepare_browser: not root and no sudo; install the 'chromium' package to run the browser tests" >&2
    exit 0
  fi
fi
echo "prepare_browser: installing chromium (apt-get)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
