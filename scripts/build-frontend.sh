#!/usr/bin/env bash
# Builds the browser app into dist/ (index.html + dist/assets/ with content-hashed names).
# Skips everything when its inputs did not change since the last build (stamp in dist/).
# Needs scripts/install-wasm-toolchain.sh first. Set FORCE=1 to rebuild anyway.
set -euo pipefail
cd "$(dirname "$0")/.."
# cargo-installed tools (wasm-bindgen) live here; appended so the PATH order stays as it was.
export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"

inputs_hash() {
    {
        find frontend/src frontend/build shared/src static -type f -print0 | sort -z | xargs -0 sha256sum
        sha256sum frontend/Cargo.toml shared/Cargo.toml Cargo.toml Cargo.lock package-lock.json scripts/build-frontend.sh
    } | sha256sum | cut -c1-64
}

stamp=dist/.inputs-sha256
hash=$(inputs_hash)
if [ "${FORCE:-0}" != 1 ] && [ -f dist/index.html ] && [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ]; then
    echo "build-frontend: dist/ is up to date"
    exit 0
fi

start=$(date +%s)
wasm_dir=target/wasm
# Debian's rustc (see TOOLCHAIN.md): it has no prebuilt wasm std, so std is built from the
# rust-web-src sources; RUSTC_BOOTSTRAP lets the stable compiler take -Z build-std.
# panic=immediate-abort: a panic traps at once, without the message formatting and location
# strings (the wasm has nowhere to print them anyway): 13 KB less gzipped.
# --emit-relocs: wasm-split (below) needs the linker's relocations to cut the module.
RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Clink-args=--emit-relocs" \
RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc CARGO_TARGET_DIR=$wasm_dir \
    /usr/bin/cargo build -p winrelay-frontend --bin winrelay-frontend \
    --target wasm32-unknown-unknown -Z build-std=std,panic_abort --profile wasm-release

# The rarely used parts (frontend/src/lazy.rs, `#[wasm_split]`) go into chunks of their own,
# loaded when first shown: wasm-split (crates.io `wasm_split_cli_support`, the tool behind
# cargo-leptos' --split) writes the main module, the chunks and the loader module
# __wasm_split.js that the main module imports.
split=$wasm_dir/split
rm -rf "$split"
wasm-split-cli --target web --out-name winrelay \
    "$wasm_dir/wasm32-unknown-unknown/wasm-release/winrelay-frontend.wasm" "$split"

bindgen=$wasm_dir/bindgen
rm -rf "$bindgen"
# --keep-lld-exports: the chunks take the memory, the function table and the functions
# they call from the main module's exports.
wasm-bindgen --target web --no-typescript --keep-lld-exports --out-dir "$bindgen" --out-name winrelay \
    "$split/winrelay.wasm"
cp "$split/__wasm_split.js" "$bindgen/"
# npm's binaryen: Debian's wasm-opt 108 produces modules that fail at run time.
for m in "$bindgen/winrelay_bg.wasm" "$split"/*.wasm; do
    [ "$m" = "$split/winrelay.wasm" ] && continue
    out="$bindgen/$(basename "$m")"
    node_modules/.bin/wasm-opt -Oz --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int \
        --enable-sign-ext --enable-reference-types --enable-multivalue --enable-mutable-globals \
        "$m" -o "$out" 2> "$bindgen/wasm-opt.log" || { cat "$bindgen/wasm-opt.log" >&2; exit 1; }
done
# (Its only words on success are about wasm-split's local-names subsection, which it drops.)
rm -f "$bindgen/wasm-opt.log"

# Assemble next to dist/ and swap, so a relay reading dist/ never sees half a build.
rm -rf dist.new dist.old
node frontend/build/assemble.mjs "$bindgen" dist.new
echo "$hash" > dist.new/.inputs-sha256
[ -d dist ] && mv dist dist.old
mv dist.new dist
rm -rf dist.old
echo "build-frontend: dist/ built in $(( $(date +%s) - start )) s"
