"""Training under ``torchrun`` with DDP (gloo, 2 CPU processes) against one process.

Each model is trained by ``python -m recsys train`` once in one process and once under
``torchrun --nproc-per-node 2``, on the same generated shop, split and seed, and measured on the
same held-out part. DDP must give the quality of one process within noise, with both ranks
training (their examples counted) and in step (the same weights on both).

The tolerances (``NDCG_TOLERANCE``, NDCG@10 per model) come from the seed-to-seed spread measured
with ``benchmarks/bench_ddp.py --quick --seeds 5`` (the shop and configs below), seeds 0-4:
BPR one process 0.157-0.171 (sd 0.005), two processes 0.159-0.171 (sd 0.005); Mult-VAE one
process 0.158-0.160 (sd 0.0007), two 0.156-0.160 (sd 0.0016). A difference of two runs then has
an sd of about 0.007 (BPR) and 0.002 (Mult-VAE): 0.025 and 0.008 are over 3.5 sd, so noise does
not fail the test, while ranks that train apart (their weights differ, checked first) or a lost
shard (the examples, checked too) do. SASRec is checked for running in step only (and for its
validation, decided on rank 0): at the 3 epochs that fit here its NDCG's seed-to-seed sd is 0.014
(0.028-0.063), too wide for a quality comparison that could fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from recsys.models.bpr import BPR, BPRConfig
from recsys.models.distributed import Shards

ROOT = Path(__file__).resolve().parents[1]
NDCG_TOLERANCE = {"bpr": 0.025, "multvae": 0.008}
#: The shop and configs of the comparison (``bench_ddp.py --quick`` measures the same).
SHOP = {"n_users": 1200, "n_items": 600, "n_interactions": 24_000}
CONFIGS = {
    "bpr": {"epochs": 8, "batch_size": 1024},
    "multvae": {"epochs": 10, "encoder": [200, 64], "batch_size": 128},
}
#: Fixed epochs here (early stopping on a small validation set adds its own noise); the
#: SASRec test validates, so rank 0 decides and broadcasts there.
VALIDATION = {"bpr": 0.0, "multvae": 0.0}


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "RECSYS_DEVICE": "cpu"}


def _train(shop: Path, out: Path, model: str, config: dict, nproc: int,
           validation_frac: float = 0.0) -> subprocess.CompletedProcess:
    """``recsys train`` in one process, or under torchrun with ``nproc`` processes."""
    launcher = [sys.executable] if nproc == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--standalone"]
    cmd = [*launcher, "-m", "recsys", "train", "--interactions", str(shop / "interactions.csv"),
           "--model", model, "--config", json.dumps(config), "--out", str(out), "--device", "cpu",
           "--validation-frac", str(validation_frac)]
    return subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=240)


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    from recsys.data.scale_shop import write_scale_shop

    folder = tmp_path_factory.mktemp("ddp_shop")
    write_scale_shop(folder, seed=0, fmt="csv", **SHOP)
    return folder


@pytest.mark.parametrize("model", sorted(CONFIGS))
def test_two_processes_match_one(shop: Path, tmp_path: Path, model: str):
    runs = {}
    for nproc in (1, 2):
        proc = _train(shop, tmp_path / f"p{nproc}", model, CONFIGS[model], nproc, VALIDATION[model])
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[nproc] = json.loads((tmp_path / f"p{nproc}" / "metrics.json").read_text())
    one, two = runs[1], runs[2]
    assert one["world_size"] == 1 and two["world_size"] == 2 and two["backend"] == "gloo"
    examples = two["examples_per_rank"]
    assert len(examples) == 2 and min(examples) > 0 and examples[0] == examples[1]
    # each rank ran its half of every epoch: together as many examples as the one process
    assert abs(sum(examples) - one["examples_per_rank"][0] * two["epochs"] / one["epochs"]) <= 2 * two["epochs"]
    sums = two["weight_sum_per_rank"]
    assert sums[0] == pytest.approx(sums[1], rel=1e-6), "the ranks' weights drifted apart"
    assert abs(two["metrics"]["ndcg"] - one["metrics"]["ndcg"]) <= NDCG_TOLERANCE[model], (one["metrics"],
                                                                                     two["metrics"])
    saved = json.loads((tmp_path / "p2" / "model.json").read_text())
    assert saved["name"] == model and len(saved["history"]) == two["epochs"]
    if VALIDATION[model]:
        assert all("val_ndcg" in h for h in saved["history"])


def test_sasrec_trains_in_step_under_torchrun(shop: Path, tmp_path: Path):
    config = {"epochs": 3, "dim": 16, "blocks": 1, "max_len": 20, "text_init": False}
    proc = _train(shop, tmp_path / "sas", "sasrec", config, 2, validation_frac=0.1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "sas" / "metrics.json").read_text())
    assert record["world_size"] == 2 and min(record["examples_per_rank"]) > 0
    sums = record["weight_sum_per_rank"]
    assert sums[0] == pytest.approx(sums[1], rel=1e-6)
    assert record["metrics"]["ndcg"] > 0


FAILING_VALIDATION = """
import sys

import recsys.evaluation
from recsys.cli import main


def broken(*args, **kwargs):
    raise OSError("validation data is gone")


recsys.evaluation.validation_metrics = broken
sys.exit(main(sys.argv[1:]))
"""


def test_a_failure_on_rank_0_stops_every_rank(shop: Path, tmp_path: Path):
    """Rank 0 validates alone: when that fails, the other rank must stop too, not wait for ever."""
    script = tmp_path / "failing_validation.py"
    script.write_text(FAILING_VALIDATION)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
           str(script), "train", "--interactions", str(shop / "interactions.csv"), "--model", "bpr",
           "--config", '{"epochs": 2}', "--validation-frac", "0.1", "--device", "cpu", "--out",
           str(tmp_path / "m")]
    proc = subprocess.run(cmd, cwd=ROOT, env={**_env(), "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert "error: validation data is gone" in proc.stderr
    assert "unexpected" not in proc.stderr  # the other rank stops quietly
    assert not (tmp_path / "m").exists()


def test_sgd_solver_is_refused_under_torchrun(monkeypatch: pytest.MonkeyPatch):
    """The fit of a torchrun rank (its place faked: no process group needed to refuse)."""
    from recsys.data.dataset import build_dataset
    from recsys.data.demo import generate_demo_shop

    demo = generate_demo_shop(seed=5, n_items=60, n_users=40)
    ds = build_dataset(demo.interactions, demo.catalog, users=demo.users, name="tiny")
    monkeypatch.setattr(Shards, "from_env", classmethod(lambda cls, device, seed: _shards(0, 2, seed)))
    with pytest.raises(ValueError, match=r"solver 'sgd' .* torchrun"):
        BPR(BPRConfig(epochs=1, solver="sgd")).fit(ds, device="cpu")
    with pytest.raises(ValueError, match="sparse_updates 'on'"):
        BPR(BPRConfig(epochs=1, sparse_updates="on")).fit(ds, device="cpu")


def test_explicit_sparse_updates_are_refused_and_auto_falls_back():
    on = BPR(BPRConfig(sparse_updates="on"))
    on.n_users_, on.n_items_ = 10, 5
    with pytest.raises(ValueError, match="sparse_updates 'on'"):
        on._ddp_solver(True)
    auto = BPR(BPRConfig(sparse_updates="auto"))
    auto.n_users_, auto.n_items_ = 10, 5
    assert auto._ddp_solver(True) is False


def _shards(rank: int, world: int, seed: int = 3) -> Shards:
    gen = torch.Generator().manual_seed(seed + 7)
    return Shards(rank=rank, world_size=world, backend="gloo", seed=seed, _order_gen=gen)


@pytest.mark.parametrize("n", [10, 11, 1])
def test_shards_split_each_epoch_between_the_ranks(n: int):
    parts = [_shards(r, 3).permutation(n, torch.Generator().manual_seed(r), "cpu") for r in range(3)]
    assert len({len(p) for p in parts}) == 1  # as many batches on every rank
    seen = np.concatenate([p.numpy() for p in parts])
    assert set(seen.tolist()) == set(range(n))  # every example, the padding wraps around
    assert len(seen) - n < 3
    assert _shards(0, 3).batch_size(256) == 86


def test_one_process_shuffles_as_before():
    gen_a, gen_b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(Shards().permutation(50, gen_a, "cpu"), torch.randperm(50, generator=gen_b))
    assert Shards().batch_size(256) == 256 and not Shards().active


def test_train_command_refuses_a_bad_validation_share(tmp_path: Path, capsys: pytest.CaptureFixture):
    from recsys.cli import main

    code = main(["train", "--interactions", str(tmp_path / "none.csv"), "--model", "bpr", "--out",
                 str(tmp_path / "m"), "--validation-frac", "1.5"])
    err = capsys.readouterr().err
    assert code == 2 and "--validation-frac" in err and len(err.strip().splitlines()) == 1


def test_train_command_refuses_a_split_with_nothing_held_out(tmp_path: Path, capsys: pytest.CaptureFixture):
    from recsys.cli import main

    data = tmp_path / "one_each.csv"
    data.write_text("user_id,item_id\nu1,a\nu2,b\nu3,c\n")
    code = main(["train", "--interactions", str(data), "--model", "pop", "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 1 and "--split none" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


TORCHRUN = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": "29500"}


@pytest.mark.parametrize("env, under", [
    (TORCHRUN, True),
    ({**TORCHRUN, "WORLD_SIZE": "1"}, False),  # one process: nothing to share
    ({k: v for k, v in TORCHRUN.items() if k != "MASTER_PORT"}, False),  # not torchrun's
    ({"LOCAL_RANK": "1", "WORLD_SIZE": "2"}, False),
])
def test_one_torchrun_rule_for_the_device_and_the_rank(monkeypatch: pytest.MonkeyPatch, env, under):
    """The device of a process and the rank that writes follow the one torchrun rule
    (:func:`recsys.device.torchrun_env`)."""
    from recsys import device
    from recsys.cli import train

    for name in device.TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert (device.torchrun_env() is not None) is under
    assert device._local_gpu() == ("cuda:1" if under else "cuda")
    assert train._rank() == (1 if under else 0)


def test_a_world_size_that_is_no_number_is_named(monkeypatch: pytest.MonkeyPatch):
    from recsys.device import torchrun_env

    for name, value in {**TORCHRUN, "WORLD_SIZE": "two"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="WORLD_SIZE must be a whole number"):
        torchrun_env()
