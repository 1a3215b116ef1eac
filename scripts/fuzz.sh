#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 20), starting from the
# committed seeds (fuzz/seeds/TARGET) and the corpus earlier runs grew (fuzz/corpus/TARGET).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 600 wsman_response
#
# Works with the stable toolchain: RUSTC_BOOTSTRAP=1 lets it take the -Z flags that
# cargo-fuzz passes. Installs cargo-fuzz from crates.io when it is missing. A crash stops
# the run with exit 1 and leaves the input in fuzz/artifacts/TARGET/; turn it into a
# regression test in the crate it hits, then `cargo fuzz run TARGET FILE` to confirm the fix.
# FUZZ_SANITIZER=none builds faster and runs ~2x faster; the default is address.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
all=(wsman_response wsman_request ws_messages line_discipline config)
targets=("$@")
[ "$#" -gt 0 ] || targets=("${all[@]}")
sanitizer=${FUZZ_SANITIZER:-address}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz from crates.io (about 1-2 minutes)"
    cargo install cargo-fuzz
fi

cd fuzz
# Start from the main workspace's lock file so the fuzz build uses the same crate versions.
cp ../Cargo.lock Cargo.lock
start=$SECONDS
if [ "$#" -eq 0 ]; then
    cargo fuzz build --sanitizer "$sanitizer" # all targets in one build
else
    for t in "${targets[@]}"; do
        cargo fuzz build --sanitizer "$sanitizer" "$t"
    done
fi
echo "fuzz: built ${#targets[@]} targets in $((SECONDS - start)) s"

failed=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    seeds=()
    [ -d "seeds/$t" ] && seeds=("seeds/$t")
    log=$(mktemp)
    if cargo fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=262144 \
        -print_final_stats=1 >"$log" 2>&1; then
        runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
        cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo '?')
        echo "fuzz: $t: ok, $runs runs in ${seconds} s, coverage $cov, corpus $(ls "corpus/$t" | wc -l) inputs"
    else
        failed=$((failed + 1))
        echo "fuzz: $t: FAILED"
        grep -E 'panicked|ERROR|SUMMARY|Test unit written|artifact_prefix' "$log" | head -n 20
        echo "(full output: $log)"
    fi
done
echo "fuzz: ${#targets[@]} targets, $failed failed"
[ "$failed" = 0 ]
