#!/usr/bin/env bash
# `make bench` (after `make relay` built target/release/winrelay): installs the peers, builds
# the bench binaries, measures winrelay and its peers side by side on loopback, prints a table
# and writes bench/results/latest.json. Sizes: see SETTINGS in bench/run.py (env vars, e.g.
# BENCH_SESSIONS=200 BENCH_ONLY=client,e2e make bench).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-bench-deps.sh
# The cluster section starts its own redis-server (as the tests do).
scripts/install-test-servers.sh
echo "bench: building the bench binaries (winrelay-bench) and the winrm-rs peer"
cargo build --release -p winrelay-bench --quiet
# The winrm-rs peer is a workspace of its own (see bench/winrm-rs-peer/Cargo.toml).
CARGO_TARGET_DIR="$PWD/target/bench-peer" cargo build --release --quiet \
    --manifest-path bench/winrm-rs-peer/Cargo.toml
mkdir -p bench/results
exec .venv-bench/bin/python bench/run.py
