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
        echo "setup_browser.sh: $CHROMIUM missing and not root (no sudo): the browser test will be skipped;" \
             "install the Debian 'chromium' package to run it" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq >/dev/null && \
       $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null 2>&1; } \
   || [ ! -x "$CHROMIUM" ]; then
    # Not fatal: the rest of the suite runs, and the browser test skips saying chromium is missing.
    echo "setup_browser.sh: could not install Debian chromium (apt-get failed): the browser test will be skipped" >&2
    exit 0
fi
echo "setup_browser.sh: installed $($CHROMIUM --version 2>/dev/null || echo chromium)"
