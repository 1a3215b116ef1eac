#!/usr/bin/env bash
# Installs the servers the tests start for themselves, and nothing that is already there:
# Debian's redis-server (the cluster tests run their own on a free loopback port in a temporary
# directory). The package's own service is not wanted: it is kept from starting on install,
# and stopped if something started it anyway.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v redis-server >/dev/null; then
    echo "install-test-servers: apt-get install redis-server"
    before=$(pgrep -x redis-server || true)
    as_root apt-get update -qq
    # RUNLEVEL=1: Debian's invoke-rc.d starts no service during the install.
    as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq redis-server >/dev/null
    after=$(pgrep -x redis-server || true)
    if [ -n "$after" ] && [ "$after" != "$before" ]; then
        as_root service redis-server stop >/dev/null 2>&1 || as_root pkill -x redis-server || true
    fi
fi
