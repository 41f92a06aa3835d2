"""The same first map in a plain Python process, in the dashboard's job thread and in the dashboard.

Each measurement starts from nothing: a fresh process (or a fresh ``streamlit run app.py``
server driven by a headless Chromium), a fresh workspace and so an empty embedding cache; only
the numba cache (``NUMBA_CACHE_DIR``, warmed by ``python -m recsys warmup``) is shared, as on a
set-up machine. The map is the page's default (sentence model, UMAP, HDBSCAN) of the demo shop.

* **plain**: ``build_map`` in the main thread of a Python process;
* **job**: the same build in the :class:`recsys.maps.MapJob` thread the dashboard uses, in a
  plain process (no server): shows whether the thread itself is the cause;
* **server**: the Map page of a real server, *Draw map* clicked in Chromium, the time the page
  reports (``Map ready (in X s)``).

The three run one after another in each round, so a busy machine slows them alike; the ratios
to *plain* are what to read. Two switches bring back what made the dashboard slow, to show
the cause: ``--post-gc`` runs the server with Streamlit's full garbage collection after every
script run (``runner.postScriptGC``, its default; off in ``.streamlit/config.toml``), which
the page's progress refresh triggers every second while the job encodes; ``--spin`` runs
everything with libgomp's spinning idle workers (``GOMP_SPINCOUNT=300000``, its default; off
through :mod:`recsys.threads`).

    python benchmarks/bench_map_server.py            # demo shop, 5,000 items, 2 rounds
    python benchmarks/bench_map_server.py --quick    # 1,000 items, 1 round (CI)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TARGET_RATIO = 1.2
NAME = "bench-shop"


def _dataset(n_items: int):
    """The demo shop (5,000 items) or a smaller one generated the same way."""
    from recsys import build_dataset
    from recsys.data.demo import generate_demo_shop

    shop = generate_demo_shop(seed=0, n_items=n_items, n_users=max(300, n_items * 3 // 5))
    return build_dataset(shop.interactions, shop.catalog, users=shop.users, name=NAME)


def _child(mode: str, workspace: str, out: str) -> None:
    """One measurement in this process: the map of the workspace's dataset, timings to ``out``."""
    import logging

    from recsys import Workspace
    from recsys.maps import MapConfig, MapJob, build_map

    heard: list[str] = []

    class Heard(logging.Handler):  # the encoding thread's settings, as the server logs them
        def emit(self, record: logging.LogRecord) -> None:
            heard.append(record.getMessage())

    text_log = logging.getLogger("recsys.features.text")
    text_log.setLevel(logging.INFO)
    text_log.addHandler(Heard())
    ws = Workspace(workspace)
    ds = ws.load_dataset(NAME)
    cache = ws.root / ".cache"
    t0 = time.perf_counter()
    if mode == "job":
        job = MapJob(ds, MapConfig(), cache_dir=cache).start()
        job.join()
        if job.frame is None:
            raise SystemExit(f"map job {job.status}: {job.error}")
        frame = job.frame
    else:
        frame = build_map(ds, MapConfig(), cache_dir=cache)
    wall = time.perf_counter() - t0
    Path(out).write_text(json.dumps({"build_s": frame.attrs["timings"]["total_s"], "wall_s": wall,
                                     "vectors_s": frame.attrs["timings"]["vectors_s"],
                                     "threads": _threads("\n".join(heard))}))


def _threads(log_text: str) -> str:
    """The thread settings the sentence model ran with, from its log line."""
    found = re.findall(r"sentence model on \w+: \d+ texts, (\{.*\})", log_text)
    return found[-1] if found else "?"


def _env(workspace: Path, spin: bool) -> dict[str, str]:
    env = {**os.environ, "TAILSTUDIO_WORKSPACE": str(workspace), "RECSYS_DEVICE": "cpu",
           "PYTHONUNBUFFERED": "1"}
    env.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "tail-studio" / "numba"))
    if spin:
        env["GOMP_SPINCOUNT"] = "300000"
    return env


def _fresh_workspace(tmp: Path, n_items: int) -> Path:
    from recsys import Workspace

    workspace = tmp / "workspace"
    Workspace(workspace).save_dataset(_dataset(n_items), source="benchmark shop", activate=True)
    return workspace


def _in_process(mode: str, n_items: int, spin: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        workspace = _fresh_workspace(Path(tmp), n_items)
        out = Path(tmp) / "result.json"
        subprocess.run([sys.executable, __file__, "--child", mode, str(workspace), str(out)],
                       env=_env(workspace, spin), check=True, cwd=ROOT)
        return json.loads(out.read_text())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def _server(n_items: int, spin: bool, post_gc: bool = False) -> dict:
    """The map drawn on a real server's Map page from Chromium; the time the page reports."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        workspace = _fresh_workspace(Path(tmp), n_items)
        port = _free_port()
        log = Path(tmp) / "streamlit.log"
        with log.open("w") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                 "--server.address", "127.0.0.1", "--server.headless", "true",
                 "--browser.gatherUsageStats", "false",
                 "--runner.postScriptGC", "true" if post_gc else "false"],
                cwd=ROOT, env=_env(workspace, spin), stdout=sink, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, proc)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(900_000)
                page.goto(f"{url}/map")
                page.get_by_role("button", name="Draw map").wait_for()
                t0 = time.perf_counter()
                page.get_by_role("button", name="Draw map").click()
                ready = page.get_by_text("Map ready (", exact=False)
                ready.wait_for()
                wall = time.perf_counter() - t0
                text = ready.inner_text()
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        found = re.search(r"in ([\d.]+) s", text)
        if not found:
            raise SystemExit(f"unexpected page text: {text!r}")
        return {"build_s": float(found.group(1)), "wall_s": wall,
                "threads": _threads(log.read_text())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 items, one round")
    parser.add_argument("--items", type=int, default=0, help="catalog size (default 5,000; "
                        "1,000 with --quick)")
    parser.add_argument("--repeats", type=int, default=0, help="rounds (default 2; 1 with --quick)")
    parser.add_argument("--spin", action="store_true", help="libgomp's spinning idle workers "
                        "(GOMP_SPINCOUNT=300000), as before the fix")
    parser.add_argument("--post-gc", action="store_true", help="the server collects garbage "
                        "after every script run (Streamlit's default), as before the fix")
    parser.add_argument("--modes", default="plain,job,server", help="comma-separated subset")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "WORKSPACE", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return 0
    n_items = args.items or (1_000 if args.quick else 5_000)
    rounds = args.repeats or (1 if args.quick else 2)
    modes = [m for m in args.modes.split(",") if m]
    if "server" in modes and not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM}: the server runs are skipped")
        modes.remove("server")
    print(f"first map of a {n_items:,}-item demo shop (sentence model, UMAP, HDBSCAN) on "
          f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} · idle OpenMP "
          f"workers {'spin (GOMP_SPINCOUNT=300000)' if args.spin else 'sleep (OMP_WAIT_POLICY=PASSIVE)'}"
          f" · server gc after each script run: {'on' if args.post_gc else 'off'}")
    results: dict[str, list[dict]] = {m: [] for m in modes}
    for r in range(rounds):
        for mode in modes:
            res = _server(n_items, args.spin, args.post_gc) if mode == "server" else \
                _in_process(mode, n_items, args.spin)
            results[mode].append(res)
            print(f"  round {r + 1} {mode:<6} build {res['build_s']:7.1f} s   (wall "
                  f"{res['wall_s']:6.1f} s)   {res['threads']}", flush=True)
    median = {m: statistics.median(x["build_s"] for x in v) for m, v in results.items() if v}
    base = median.get("plain")
    for mode, value in median.items():
        ratio = f"   {value / base:4.2f}× plain" if base else ""
        verdict = ""
        if base and mode != "plain":
            verdict = "  (ok)" if value / base <= TARGET_RATIO else f"  (over {TARGET_RATIO}×)"
        print(f"{mode:<6} median build {value:7.1f} s{ratio}{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
