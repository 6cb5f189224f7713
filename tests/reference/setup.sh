#!/usr/bin/env bash
# Creates the reference Python environment (transformers + PyTorch, CPU) used by the fixture
# scripts and the benchmarks, at $WEBTUNE_REFENV (default ~/.cache/webtune/refenv); skips it when
# the pinned versions are already there. Prints the python to use.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ENV="${WEBTUNE_REFENV:-$HOME/.cache/webtune/refenv}"
if ! "$ENV/bin/python" - "$HERE/requirements.txt" "$HERE/requirements-nodeps.txt" >/dev/null 2>&1 <<'PY'
import sys, importlib.metadata as m
for path in sys.argv[1:]:
    for line in open(path):
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            assert m.version(name) == version, name
PY
then
  echo "setting up the reference environment in $ENV (transformers + torch, ~2 GB, once)" >&2
  python3 -m venv "$ENV"
  "$ENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt" >&2
  "$ENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$HERE/requirements-nodeps.txt" >&2
fi
echo "$ENV/bin/python"
