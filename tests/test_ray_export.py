"""``--engine ray``: the same lists files and manifests as the local engine, and one-line errors.

One local Ray with 2 CPUs serves the module (started once, shut down after); exports run in
this process (the engine uses the running Ray) and once from a child process that connects to
it with ``--ray-address``. Ray is part of requirements-bench.txt (CI); without it the Ray tests
are skipped with that reason, and the missing-Ray message is checked either way.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from recsys.cli import main
from recsys.export import read_export
from tests.test_loaders import ML100K, needs_ml

ROOT = Path(__file__).resolve().parents[1]

try:
    import ray
except ImportError:  # the optional extra is absent
    ray = None

needs_ray = pytest.mark.skipif(ray is None, reason="Ray is not installed: pip install -r "
                               "requirements-scale.txt (CI installs it with requirements-bench.txt)")

#: Manifest fields that differ between two runs of the same export (time, where it ran).
RUN_FIELDS = ("created", "seconds", "engine")


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray with 2 CPUs for the whole module, quiet; shut down after. Yields its address."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _export(out: Path, *extra: str, model: str = "ease") -> Path:
    code = main(["export", "--interactions", str(ML100K), "--model", model, "--k", "10",
                 "--chunk-users", "200", "--out", str(out), *extra])
    assert code == 0
    return out


def _same_exports(local: Path, other: Path) -> dict:
    """Assert both folders hold the same lists (row for row) and the same manifest apart from
    :data:`RUN_FIELDS` and the training time; returns the other manifest."""
    a, b = read_export(local / "lists-all.csv"), read_export(other / "lists-all.csv")
    assert len(a) > 0
    pd.testing.assert_frame_equal(a, b)
    ma, mb = (json.loads((f / "manifest.json").read_text()) for f in (local, other))
    assert ma["engine"] == {"name": "local"}
    for m in (ma, mb):
        m["model"].pop("train_s")
    assert {k: v for k, v in ma.items() if k not in RUN_FIELDS} == \
        {k: v for k, v in mb.items() if k not in RUN_FIELDS}
    return mb


@needs_ray
@needs_ml
def test_ray_export_equals_local_export(ray_cluster, tmp_path: Path):
    local = _export(tmp_path / "local")
    on_ray = _export(tmp_path / "ray", "--engine", "ray")
    manifest = _same_exports(local, on_ray)
    assert manifest["engine"]["name"] == "ray" and manifest["engine"]["cpus"] == 2
    assert manifest["users"] == 943 and manifest["rows"] == 9430  # 5 blocks of ≤ 200 users


@needs_ray
@needs_ml
def test_reranked_export_on_a_cluster_address_equals_local(ray_cluster, tmp_path: Path):
    """A child process connects to the module's Ray with --ray-address (the job ships recsys)."""
    rerank = ("--rerank", "tail_bonus", "--strength", "0.6")
    local = _export(tmp_path / "local", *rerank, model="itemknn")
    out = tmp_path / "ray"
    proc = subprocess.run(
        [sys.executable, "-m", "recsys", "export", "--interactions", str(ML100K), "--model",
         "itemknn", "--k", "10", "--chunk-users", "200", *rerank, "--out", str(out),
         "--engine", "ray", "--ray-address", ray_cluster],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "(ray)" in proc.stdout
    manifest = _same_exports(local, out)
    assert manifest["engine"]["address"] == ray_cluster
    assert manifest["rerank"][0]["method"] == "tail_bonus"
    assert read_export(out / "lists-all.csv")["boosted"].any()  # the re-ranker did change lists


@needs_ray
@needs_ml
def test_ray_recommend_equals_local(ray_cluster, tmp_path: Path):
    paths = {}
    for engine in ("local", "ray"):
        paths[engine] = tmp_path / f"{engine}.csv"
        assert main(["recommend", "--interactions", str(ML100K), "--model", "itemknn", "--k", "5",
                     "--engine", engine, "--out", str(paths[engine])]) == 0
    local, on_ray = (pd.read_csv(p) for p in paths.values())
    assert len(local) == 943 * 5
    pd.testing.assert_frame_equal(local, on_ray)


@needs_ray
@needs_ml
def test_a_model_off_the_cpu_reaches_the_tasks_as_an_exact_cpu_copy(ray_cluster):
    """Ray tasks hold no GPU: a model on another device is saved and loaded back on the CPU."""
    import numpy as np

    from recsys import build_dataset, load_files
    from recsys.export.engines import LocalEngine, RayEngine
    from recsys.models import create_model

    loaded = load_files(ML100K)
    ds = build_dataset(loaded.interactions, loaded.catalog, name="ml-100k")
    model = create_model("itemknn").fit(ds, device="cpu")
    engine = RayEngine()
    assert engine.prepare(model) is model and LocalEngine().prepare(model) is model
    model.device_ = "cuda"  # as if trained there (the arrays are the same)
    copy = engine.prepare(model)
    assert copy is not model and copy.device_ == "cpu"
    users = np.arange(50)
    assert np.array_equal(copy.recommend(users, 10)[0], model.recommend(users, 10)[0])


def _free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _error(capsys, tmp_path: Path, *args: str) -> str:
    code = main(["export", "--interactions", str(tmp_path / "log.csv"), "--model", "pop",
                 "--out", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()  # refused before anything was read or written
    return err


def test_missing_ray_is_one_line_naming_the_extra(monkeypatch, capsys, tmp_path: Path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    err = _error(capsys, tmp_path, "--engine", "ray")
    assert "pip install -r requirements-scale.txt" in err


@needs_ray
@pytest.mark.parametrize("args, message", [
    (("--engine", "ray", "--ray-address", "nonsense"), "must be 'auto' or HOST:PORT"),
    (("--engine", "ray", "--ray-address", "127.0.0.1:{port}"), "no Ray cluster answers there"),
    (("--ray-address", "auto"), "--ray-address needs --engine ray"),
    (("--engine", "ray", "--policy", "epsilon"), "--policy runs on the local engine only"),
])
def test_bad_engine_options_are_one_line(capsys, tmp_path: Path, args, message):
    args = tuple(a.replace("{port}", str(_free_port())) for a in args)
    assert message in _error(capsys, tmp_path, *args)
