#!/usr/bin/env bash
# Runs every test suite of the project and ends with one line "N passed, N failed".
# Suites: the Rust workspace (unit and integration tests, the relay against the real binary),
# the WinRM conformance tests (pywinrm and pypsrp against the simulator), and the browser
# tests (playwright-core driving Debian's chromium against the real relay).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-output
passed=0
failed=0
status=0

count() { # $1 = log file, $2 = kind
    local p=0 f=0
    case "$2" in
        cargo)
            p=$(grep -hoE 'test result: [A-Za-z]+\. [0-9]+ passed' "$1" | awk '{s+=$4} END {print s+0}')
            f=$(grep -hoE '; [0-9]+ failed' "$1" | awk '{s+=$2} END {print s+0}') ;;
        pytest)
            p=$(grep -oE '[0-9]+ passed' "$1" | tail -1 | awk '{print $1+0}')
            f=$(grep -oE '[0-9]+ (failed|error)' "$1" | tail -1 | awk '{print $1+0}') ;;
        node)
            p=$(grep -E '^# pass ' "$1" | tail -1 | awk '{print $3+0}')
            f=$(grep -E '^# fail ' "$1" | tail -1 | awk '{print $3+0}') ;;
    esac
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
}

run_suite() { # $1 = name, $2 = kind, rest = command
    local name=$1 kind=$2
    shift 2
    echo "=== $name: $*"
    local start=$SECONDS
    "$@" 2>&1 | tee "test-output/$name.log"
    local rc=${PIPESTATUS[0]}
    count "test-output/$name.log" "$kind"
    echo "=== $name: exit $rc in $((SECONDS - start)) s"
    [ "$rc" = 0 ] || status=1
}

# The binary the integration, conformance and browser tests start.
cargo build -p winrelay --bins || exit 1
export WINRELAY_BIN=$PWD/target/debug/winrelay

run_suite rust cargo cargo test --no-fail-fast
run_suite conformance pytest .venv/bin/python -m pytest -q tests/conformance
run_suite browser node node --test --test-reporter=tap --test-concurrency=1 tests/browser/
# Discovery and deployment against a real Docker Engine and one-node Swarm (root only; cleans up).
run_suite docker node tests/docker/e2e.sh
# A short run of each protocol fuzz target (make fuzz runs longer, and the config loader too).
run_suite fuzz cargo env FUZZ_QUICK=1 scripts/fuzz.sh 10

echo
echo "total: $passed passed, $failed failed"
exit $status
