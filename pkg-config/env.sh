# Shared settings for the build/serve/test scripts (sourced, not run).
# A persistent target dir outside the clone, so every checkout and CI run reuses one build cache.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/webtune/target}"
export WEBTUNE_ASSETS="${WEBTUNE_ASSETS:-$ROOT/../shared/assets}"
# Cargo config for wasm32 builds (rustflags, test runner): pass as `cargo $WASM_CARGO ...`.
WASM_CARGO="--config $ROOT/pkg-config/wasm.toml"
export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver || true)}"
export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$ROOT/pkg-config/webdriver.json"
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-600}"
export CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}"
# Without a desktop session, Mesa's Vulkan device-selection layer prints "XDG_RUNTIME_DIR is
# invalid" at every wgpu instance while it looks for a display; it selects nothing there.
[ -n "${XDG_RUNTIME_DIR:-}" ] || export NODEVICE_SELECT="${NODEVICE_SELECT:-1}"
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
