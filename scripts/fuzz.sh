#!/usr/bin/env bash
# Runs cargo-fuzz targets for SECONDS each (default 20), starting from the committed seeds
# (fuzz/seeds/TARGET) and the corpus earlier runs grew (fuzz/corpus/TARGET).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 600 wsman_response
#
# Targets: wsman_response wsman_request ws_messages line_discipline psrp_fragments psrp_clixml
# (crate fuzz/, builds in about a minute) and config (crate fuzz/config/, builds the whole
# relay: several minutes the first time). `FUZZ_QUICK=1` runs only the first six (what make
# test runs).
#
# Works with the stable toolchain: RUSTC_BOOTSTRAP=1 lets it take the -Z flags that
# cargo-fuzz passes. Installs cargo-fuzz from crates.io when it is missing (about 1 min).
# A crash fails the run and leaves the input in fuzz/artifacts/TARGET/ (or
# fuzz/config/artifacts/config/); turn it into a regression test in the crate it hits, then
# `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir DIR TARGET FILE` confirms the fix.
# FUZZ_SANITIZER=none builds and runs faster; the default is address.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
quick=(wsman_response wsman_request ws_messages line_discipline psrp_fragments psrp_clixml)
targets=("$@")
if [ "$#" -eq 0 ]; then
    targets=("${quick[@]}")
    [ -n "${FUZZ_QUICK:-}" ] || targets+=(config)
fi
sanitizer=${FUZZ_SANITIZER:-address}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz
fi

dir_of() { if [ "$1" = config ]; then echo fuzz/config; else echo fuzz; fi; }

# Both fuzz crates start from the main workspace's lock file: the same crate versions.
cp Cargo.lock fuzz/Cargo.lock
cp Cargo.lock fuzz/config/Cargo.lock
start=$SECONDS
for t in "${targets[@]}"; do
    cargo fuzz build --fuzz-dir "$(dir_of "$t")" --sanitizer "$sanitizer" "$t"
done
echo "fuzz: built ${#targets[@]} targets in $((SECONDS - start)) s"

failed=0
for t in "${targets[@]}"; do
    d=$(dir_of "$t")
    mkdir -p "$d/corpus/$t" "$d/artifacts/$t"
    seeds=()
    [ -d "$d/seeds/$t" ] && seeds=("$d/seeds/$t")
    [ "$t" = config ] && seeds=("$d/seeds")
    log=$(mktemp)
    if cargo fuzz run --fuzz-dir "$d" --sanitizer "$sanitizer" "$t" "$d/corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=262144 \
        -artifact_prefix="$d/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
        runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
        cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo '?')
        echo "fuzz: $t: ok, $runs runs in ${seconds} s, coverage $cov, corpus $(ls "$d/corpus/$t" | wc -l) inputs"
        rm -f "$log"
    else
        failed=$((failed + 1))
        echo "fuzz: $t: FAILED"
        grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -n 20
        echo "(full output: $log)"
    fi
done
echo "fuzz: ${#targets[@]} targets, $failed failed"
# The same in the words scripts/test-all.sh counts for cargo suites.
echo "test result: $([ "$failed" = 0 ] && echo ok || echo FAILED). $((${#targets[@]} - failed)) passed; $failed failed"
[ "$failed" = 0 ]
