#!/usr/bin/env bash
# Create .venv and install the pinned dependencies (--dev: test tools; --bench: + benchmark peers).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
req=requirements.txt
[ "${1:-}" = "--dev" ] && req=requirements-dev.txt
[ "${1:-}" = "--bench" ] && req=requirements-bench.txt
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r "$req"
# Compile the item map's numba code into the persistent caches, so the first map does not wait
# for it: the dashboard's (<workspace>/.cache/numba) and, for test setups, the suite's
# (.cache/numba). Instant when already warm for the installed versions.
.venv/bin/python -m recsys warmup
if [ "${1:-}" = "--dev" ] || [ "${1:-}" = "--bench" ]; then
  NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$PWD/.cache/numba}" .venv/bin/python -m recsys warmup
fi
