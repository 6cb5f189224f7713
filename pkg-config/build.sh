#!/usr/bin/env bash
# Builds the npm package into pkg/: the wasm (release, size-tuned), its wasm-bindgen JS glue
# (--target web), the JS shim from www/lib/, package.json from pkg-config/package.template.json.
# Prints the raw and gzipped wasm size at the end. Run pkg-config/setup.sh first (serve.sh and
# test.sh do).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/pkg-config/env.sh"
cd "$ROOT"
OUT="${1:-$ROOT/pkg}"

# WEBTUNE_FEATURES: extra Cargo features (test.sh builds the tested package with "test-hooks").
features=(${WEBTUNE_FEATURES:+--features "$WEBTUNE_FEATURES"})
step "cargo build --release --target wasm32-unknown-unknown ${features[*]} (cache: $CARGO_TARGET_DIR)"
cargo $WASM_CARGO build --lib --release --target wasm32-unknown-unknown "${features[@]}"
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/webtune.wasm"

step "wasm-bindgen --target web"
rm -rf "$OUT" && mkdir -p "$OUT"
wasm-bindgen --target web --remove-name-section --remove-producers-section --out-dir "$OUT" --out-name webtune_core "$wasm"

# No wasm-opt pass, by measurement (2026-11-23, this crate): rustc's opt-level "s" + LTO output is
# 16.40 MB raw / 3.17 MB gzip; binaryen 132 -Os gives 14.0 MB raw but 3.37 MB gzip (bigger over
# the wire) after 5.5 min, and Debian's binaryen 108 breaks the externref table Chromium loads.

step "JS shim + package.json"
cp www/lib/*.js www/lib/*.d.ts "$OUT/"
cp LICENSE-MIT LICENSE-APACHE "$OUT/"
cp pkg-config/npm-README.md "$OUT/README.md"
version="$(awk -F'"' '/^version = / {print $2; exit}' Cargo.toml)"
node -e '
  const fs = require("fs");
  const p = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  p.version = process.argv[2];
  fs.writeFileSync(process.argv[3], JSON.stringify(p, null, 2) + "\n");
' pkg-config/package.template.json "$version" "$OUT/package.json"

raw=$(stat -c %s "$OUT/webtune_core_bg.wasm")
gz=$(gzip -9 -c "$OUT/webtune_core_bg.wasm" | wc -c)
echo "webtune $version -> $OUT"
awk -v r="$raw" -v g="$gz" 'BEGIN { printf "wasm size: %.2f MB raw, %.2f MB gzip\n", r / 1e6, g / 1e6 }'
