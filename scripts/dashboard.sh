#!/usr/bin/env bash
# Set up (first run only) and start the dashboard; it opens on the embedded demo shop.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# One setting drives both upload limits: the server's and the library's.
exec .venv/bin/streamlit run app.py --server.maxUploadSize "${TAILSTUDIO_MAX_UPLOAD_MB:-500}" "$@"
