#!/usr/bin/env bash
# Set up (first run only) and run lint, the architecture contract, the whole test suite
# (browser test included) and the benchmarks (data layer; models vs peers on ml-100k, quick).
# Needs Debian's chromium for the browser test; installs it when run as root, otherwise that
# test is skipped with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
bash scripts/setup.sh --bench
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tail-studio/numba}"
.venv/bin/ruff check .
# The architecture contract (layers, no Streamlit in the library) and no import cycle.
.venv/bin/lint-imports
.venv/bin/python scripts/import_cycles.py
.venv/bin/python -m pytest -ra "$@"
.venv/bin/python benchmarks/bench_ingest.py
# Models against the peers on ml-100k, shortened epochs (the full run is by hand, see README).
.venv/bin/python benchmarks/bench_models.py --datasets ml-100k --quick
# auto against EASE λ=200 on ml-100k, random and per-user temporal, ratings under 4 dropped (~1 min).
.venv/bin/python benchmarks/bench_auto.py --cases ml-100k:random,ml-100k:temporal
# Re-rankers on ml-100k: frontier, best tail share within 5 % NDCG, What-if latency (~1 min).
.venv/bin/python benchmarks/bench_rerank.py --datasets ml-100k --quick
# New products: cold-start paths vs EASE and content kNN on a small demo shop (< 2 min).
.venv/bin/python benchmarks/bench_coldstart.py --quick
# Item map: Online Retail text → clustered UMAP map, cold process and warm (~20 s).
.venv/bin/python benchmarks/bench_map.py --quick
# Off-policy estimators on the synthetic logged bandit (bias, coverage) and policy speed (~5 s).
.venv/bin/python benchmarks/bench_feedback.py --seeds 10 --users 1000 --skip-retail
# Online updates on Online Retail: EASE and ALS updated vs retrained on two 14-day chunks (< 1 min).
.venv/bin/python benchmarks/bench_update.py --quick
# Shop scale: a generated 50k-customer shop read in batches, ALS trained, every customer's list
# streamed and exported (locally, then on a local Ray), next to implicit's ALS (~3 min; 10k → 100k
# → 1M by hand, see README).
.venv/bin/python benchmarks/bench_scale.py --quick
# What-if slider on a 50k-customer shop: every evaluation customer vs the 20,000 sample (~35 s).
.venv/bin/python benchmarks/bench_scale.py --whatif --quick
