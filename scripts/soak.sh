#!/usr/bin/env bash
# The soak test (make soak; minutes, not part of make test): SESSIONS sessions on a
# `winrelay sim` target, clients typing, disconnecting and resuming at random for MINUTES,
# checking that every client received every byte in order and that no shell is leaked.
#
#   scripts/soak.sh [SESSIONS] [MINUTES]          defaults: 200 sessions, 10 minutes
#
# Prints relay memory every 10 s, then one summary line and one JSON line; exits 1 on any
# error, lost byte or leaked shell. The client is tests/soak (its own small crate).
set -euo pipefail
cd "$(dirname "$0")/.."
sessions=${1:-${SOAK_SESSIONS:-200}}
minutes=${2:-${SOAK_MINUTES:-10}}
# Each session holds a shell process and two sockets in this one test: make room.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
cargo build -q --release -p winrelay
cp Cargo.lock tests/soak/Cargo.lock
CARGO_TARGET_DIR=$PWD/target cargo build -q --release --manifest-path tests/soak/Cargo.toml
exec target/release/winrelay-soak --bin target/release/winrelay --sessions "$sessions" --minutes "$minutes"
