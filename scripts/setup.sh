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
