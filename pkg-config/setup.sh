#!/usr/bin/env bash
# Installs what building and testing webtune needs, skipping whatever is already there:
# Debian packages (chromium, chromium-driver, mesa-vulkan-drivers), the wasm32 rustup
# target, wasm-bindgen-cli at exactly the Cargo.lock version, wasm-pack, and the npm dev tools from
# the lockfile.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/pkg-config/env.sh"
cd "$ROOT"

apt_pkgs=()
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || apt_pkgs+=(chromium)
command -v chromedriver >/dev/null || apt_pkgs+=(chromium-driver)
ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1 || apt_pkgs+=(mesa-vulkan-drivers)
if ((${#apt_pkgs[@]})); then
  if command -v apt-get >/dev/null; then
    step "apt-get install ${apt_pkgs[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
  else
    echo "setup: please install: ${apt_pkgs[*]} (no apt-get here)" >&2
  fi
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

wb_version="$(awk '$0=="name = \"wasm-bindgen\"" {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)"
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $wb_version"; then
  step "cargo install wasm-bindgen-cli $wb_version (the Cargo.lock version; ~9 min once)"
  cargo install wasm-bindgen-cli --version "$wb_version" --force
fi

# wasm-pack (crates.io): runs the browser suite (test.sh) and `wasm-pack build`; it uses the
# chromedriver and wasm-bindgen above and downloads nothing.
wp_version="0.15.1"
if ! wasm-pack --version 2>/dev/null | grep -qx "wasm-pack $wp_version"; then
  step "cargo install wasm-pack $wp_version (~5 min once)"
  cargo install wasm-pack --locked --version "$wp_version" --force
fi

if [ ! -f pkg-config/node_modules/.package-lock.json ] \
   || [ pkg-config/package-lock.json -nt pkg-config/node_modules/.package-lock.json ]; then
  step "npm install from the lockfile (pkg-config)"
  # Not `npm ci`: the lockfile can only list the platform builds of Vite's bundler (rollup) that
  # the registry serves, and `npm ci` rejects a lock without every optional one. `--no-save` keeps
  # the lockfile as committed; the versions installed are still the locked ones.
  (cd pkg-config && npm install --no-save --no-audit --no-fund --loglevel=error)
fi
