#!/usr/bin/env bash
# Set up (first run only) and start the dashboard; it opens on the embedded demo shop.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/streamlit run app.py "$@"
