"""Thread settings that keep the dashboard's map as fast as a plain process."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _policy(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = "import os, recsys; print(os.environ.get('OMP_WAIT_POLICY', ''))"
    done = subprocess.run([sys.executable, "-c", code], env={**base, **env}, cwd=ROOT,
                          capture_output=True, text=True, check=True, timeout=120)
    return done.stdout.strip()


def test_import_recsys_makes_idle_openmp_workers_sleep():
    assert _policy() == "PASSIVE"
    assert _policy(OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"  # the user's choice is kept


def test_openmp_settings_name_the_thread():
    import threading

    from recsys.threads import openmp_settings

    seen: dict = {}
    worker = threading.Thread(target=lambda: seen.update(openmp_settings()), name="map-worker")
    worker.start()
    worker.join()
    assert seen["thread"] == "map-worker" and seen["omp_wait_policy"]


def test_dashboard_does_not_collect_garbage_after_every_script_run():
    # A full collection holds the interpreter lock ~0.7 s with torch loaded; the Map page reruns
    # its progress fragment every second while the map job encodes.
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
    assert config["server"]["fileWatcherType"] == "none"
