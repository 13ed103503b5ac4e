#!/usr/bin/env bash
# Installs what the tests need outside npm: Debian's Chromium (for the browser tests).
# Safe to run again; does nothing when it is already there.
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "Installing Debian's chromium package (browser tests need /usr/bin/chromium)..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "Browser tests need /usr/bin/chromium: install Debian's 'chromium' package (sudo apt-get install chromium)" >&2
    exit 1
  fi
fi
