#!/usr/bin/env bash
# Create .venv and install the pinned dependencies (--dev: test tools; --scale: + Ray;
# --bench: test tools, Ray and the benchmark peers).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
req=requirements.txt
[ "${1:-}" = "--dev" ] && req=requirements-dev.txt
[ "${1:-}" = "--scale" ] && req=requirements-scale.txt
[ "${1:-}" = "--bench" ] && req=requirements-bench.txt
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r "$req"
# Compile the item map's numba code into the persistent cache, so the first map does not wait
# for it: NUMBA_CACHE_DIR when set, else the per-user ${XDG_CACHE_HOME:-~/.cache}/tail-studio/numba
# (never the workspace: numba reads its cache index with pickle). The dashboard, the command
# line and the test suite (scripts/test.sh) share it. Instant when already warm for the
# installed versions.
.venv/bin/python -m recsys warmup
