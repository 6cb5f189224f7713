#!/usr/bin/env bash
# Installs what is missing, builds pkg/, fetches the demo's default models (once, into
# ~/.cache/webtune/models, sha256-verified; skipped when $WEBTUNE_ASSETS has them), and serves the
# demo at http://127.0.0.1:${PORT:-8080}/
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
"$ROOT/pkg-config/setup.sh"
"$ROOT/pkg-config/build.sh"
node "$ROOT/pkg-config/models.mjs" >/dev/null
exec node "$ROOT/pkg-config/serve.mjs" --port "${PORT:-8080}"
