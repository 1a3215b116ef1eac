#!/usr/bin/env bash
# Installs what the wasm frontend build needs, and nothing that is already there:
# Debian's rustc/cargo with the std sources and lld (see TOOLCHAIN.md: no rustup target
# download), wasm-bindgen-cli at exactly the version in Cargo.lock, wasm-split-cli, and the npm packages
# (xterm.js, binaryen's wasm-opt, esbuild for the glue). Safe to run on every `make`: a no-op takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
# cargo-installed tools (wasm-bindgen) live here; appended so the PATH order stays as it was.
export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"

APT_PACKAGES=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-wasm-toolchain: apt-get install ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# wasm-bindgen-cli must match the crate exactly, or the generated JS and the wasm disagree.
want=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
if [ -z "$want" ]; then
    echo "install-wasm-toolchain: no wasm-bindgen in Cargo.lock; run 'cargo generate-lockfile' first" >&2
    exit 1
fi
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
    echo "install-wasm-toolchain: cargo install wasm-bindgen-cli $want (found '${have:-none}')"
    # No --locked: one locked dependency of the CLI is not served by the registry here.
    cargo install wasm-bindgen-cli --version "$want" --force
fi

# wasm-split (frontend/src/lazy.rs: the rarely used parts in chunks of their own): the CLI
# of the wasm_split_helpers that Leptos uses (0.2 in Cargo.lock), the tool behind cargo-leptos' --split.
WASM_SPLIT=0.2.3
# (The CLI has no --version: cargo's own list of what it installed says.)
have=$(cargo install --list 2>/dev/null | awk '/^wasm_split_cli_support /{sub(/^v/, "", $2); sub(/:$/, "", $2); print $2}' || true)
if [ "$have" != "$WASM_SPLIT" ] || ! command -v wasm-split-cli >/dev/null; then
    echo "install-wasm-toolchain: cargo install wasm_split_cli_support $WASM_SPLIT (found '${have:-none}')"
    cargo install wasm_split_cli_support --version "$WASM_SPLIT" --features build-binary --force
fi

# npm packages from the lock file; node_modules/.package-lock.json is npm's own record of
# what it installed, so it is newer than package-lock.json exactly when nothing changed.
if ! command -v npm >/dev/null; then
    echo "install-wasm-toolchain: apt-get install nodejs npm"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "install-wasm-toolchain: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
fi
