#!/usr/bin/env bash
# Installs the peers `make bench` measures against, and nothing that is already there:
# a Python virtual environment .venv-bench with bench/requirements.txt (pywinrm, pypsrp,
# terminado, tornado, websockets) and the npm packages (playwright-core) for the page timing.
# The Rust peer winrm-rs is a crates.io dependency of bench/winrm-rs-peer, built by
# scripts/bench.sh. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

venv=.venv-bench
stamp=$venv/.requirements-sha256
want=$(sha256sum bench/requirements.txt | cut -c1-64)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "install-bench-deps: $venv is up to date"
else
    python=${PYTHON:-python3}
    if ! "$python" -m venv --help >/dev/null 2>&1; then
        echo "install-bench-deps: $python has no venv module; installing python3-venv" >&2
        as_root apt-get install -y python3-venv >/dev/null
    fi
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
    echo "$want" > "$stamp"
    echo "install-bench-deps: installed $(grep -v '^#' bench/requirements.txt | tr '\n' ' ')into $venv"
fi

# The page timing drives Debian's chromium with playwright-core (as the browser tests do).
if [ -x scripts/install-browser-deps.sh ]; then
    scripts/install-browser-deps.sh
fi
