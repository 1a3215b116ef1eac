#!/usr/bin/env bash
# Installs what the browser tests need, and nothing that is already there: Debian's chromium
# (playwright-core drives it; never a tool's own browser download) and the npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! dpkg -s chromium 2>/dev/null | grep -q '^Status: install ok installed' || [ ! -x /usr/bin/chromium ]; then
    echo "install-browser-deps: apt-get install chromium"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core
fi
if ! command -v npm >/dev/null; then
    echo "install-browser-deps: apt-get install nodejs npm"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "install-browser-deps: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
fi
