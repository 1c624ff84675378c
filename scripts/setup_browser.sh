#!/usr/bin/env bash
# Install Debian's Chromium for the Playwright browser test (tests/notebooks/test_browser.py).
# Idempotent and quiet: does nothing when /usr/bin/chromium exists. Never runs `playwright install`
# (no browser downloads); Playwright drives this system Chromium via executable_path.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "setup_browser.sh: $CHROMIUM missing and not root (no sudo); install the Debian 'chromium' package" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
if [ ! -x "$CHROMIUM" ]; then
    echo "setup_browser.sh: apt-get finished but $CHROMIUM is still missing" >&2
    exit 1
fi
echo "setup_browser.sh: installed $($CHROMIUM --version 2>/dev/null || echo chromium)"
