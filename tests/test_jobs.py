"""Training jobs: Stop acts within a batch or two, and a stopped run is either discarded or kept
marked "stopped at epoch N", never kept as if it had finished."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from recsys import SplitConfig, Workspace
from recsys.jobs import TrainingJob
from recsys.models import registry
from recsys.models.base import Recommender, stop_requested
from recsys.models.training import TorchStateMixin, TrainConfig, make_generator, train
from tests.test_rerank import synthetic_dataset

BATCHES_PER_EPOCH = 200
PRESS_AT = 5  # the batch during which "Stop" is pressed


class SlowConfig(TrainConfig):
    epochs: int = 3
    factors: int = 4


class _Factors(torch.nn.Module):
    def __init__(self, n_users: int, n_items: int, factors: int) -> None:
        super().__init__()
        self.user = torch.nn.Parameter(torch.randn(n_users, factors) * 0.1)
        self.item = torch.nn.Parameter(torch.randn(n_items, factors) * 0.1)


class SlowModel(TorchStateMixin, Recommender):
    """A tiny factor model whose epochs have many batches, each a chance to cancel.

    ``on_batch(n)`` is called after the loss of batch ``n`` (counted over the whole fit): the
    tests press Stop from another thread at a known batch through it.
    """

    name = "slowtest"
    label = "Slow test model"
    config_cls = SlowConfig
    iterative = True
    on_batch = staticmethod(lambda n: None)

    def _build(self) -> _Factors:
        return _Factors(self.n_users_, self.n_items_, self.config.factors)

    def _fit(self, dataset, *, callback, validation) -> None:
        torch.manual_seed(self.config.seed)
        self.net_ = net = self._build()
        self.batches_ = 0
        users = torch.as_tensor(dataset.matrix.tocoo().row.astype(np.int64))
        items = torch.as_tensor(dataset.matrix.tocoo().col.astype(np.int64))

        def batches(gen: torch.Generator):
            for _ in range(BATCHES_PER_EPOCH):
                idx = torch.randint(0, len(users), (16,), generator=gen)
                yield users[idx], items[idx]

        def loss_fn(u: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
            self.batches_ += 1
            type(self).on_batch(self.batches_)
            return -(net.user[u] * net.item[i]).sum(dim=1).sigmoid().log().mean()

        train(self, net, loss_fn, batches, self.config, dataset=dataset,
              generator=make_generator(self.config.seed), callback=callback,
              validation=validation)

    def score(self, users: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return (self.net_.user[torch.as_tensor(users)] @ self.net_.item.T).numpy()


@pytest.fixture
def slow_model(monkeypatch: pytest.MonkeyPatch):
    """``slowtest`` registered for the duration of a test, with a Stop press at batch 5 from
    another thread (the test's): ``press(job, keep)`` arms it; ``press.trained`` counts the
    batches the model really trained (its own count, not the job's)."""
    monkeypatch.setitem(registry.REGISTRY, "slowtest", SlowModel)
    reached, pressed, armed = threading.Event(), threading.Event(), threading.Event()

    def on_batch(n: int) -> None:
        press.trained = n
        if n == PRESS_AT and armed.is_set():
            reached.set()
            assert pressed.wait(30), "the test never pressed Stop"

    monkeypatch.setattr(SlowModel, "on_batch", staticmethod(on_batch))

    def press(job: TrainingJob, keep: bool) -> None:
        armed.set()

        def user() -> None:
            assert reached.wait(60), "training never reached the batch"
            job.cancel(keep=keep)  # the Stop button, from the page's thread
            pressed.set()

        threading.Thread(target=user, daemon=True).start()

    press.trained = 0
    return press


@pytest.fixture(scope="module")
def shop():
    return synthetic_dataset(n_users=60, n_items=40, seed=4, name="slow-shop")


def _job(shop, ws: Workspace, models: dict) -> TrainingJob:
    return TrainingJob(shop, models, SplitConfig(method="random", seed=0), workspace=ws,
                       device="cpu")


def test_stop_acts_within_a_batch_and_discards_the_model(slow_model, shop, tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.save_dataset(shop, source="test", activate=True)
    job = _job(shop, ws, {"slowtest": {}, "pop": {}})
    slow_model(job, keep=False)
    job.start().join(60)
    run, later = job.runs
    assert job.status == "stopped"
    # pressed during batch 5 of an epoch of 200: at most a batch or two more are trained
    assert slow_model.trained - PRESS_AT <= 2, slow_model.trained
    assert run.batches == slow_model.trained  # the job was asked after every batch
    assert run.epochs == [] and run.stopped_at == 1
    assert run.status == "stopped" and not run.kept and run.results is None
    assert run.outcome == "stopped at epoch 1, discarded"
    assert later.status == "stopped" and later.outcome == "skipped"  # models after it: skipped
    assert ws.kept_runs(shop.name) == []  # nothing kept


def test_a_discarded_stop_leaves_the_previous_model_as_it_was(slow_model, shop, tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.save_dataset(shop, source="test", activate=True)
    first = _job(shop, ws, {"slowtest": {"epochs": 1}})
    first.run()  # a finished run (no Stop armed yet)
    assert first.status == "done", first.message
    before = ws.kept_runs(shop.name)[0]
    assert not before.results.stopped and before.results.epochs == 1
    job = _job(shop, ws, {"slowtest": {}})
    slow_model(job, keep=False)
    job.start().join(60)
    after = ws.kept_runs(shop.name)
    assert [(m.run, m.saved_at, m.results.stopped) for m in after] == [
        (before.run, before.saved_at, None)]


def test_a_kept_stop_is_marked_stopped_at_its_epoch(slow_model, shop, tmp_path):
    import ui

    ws = Workspace(tmp_path / "ws")
    ws.save_dataset(shop, source="test", activate=True)
    job = _job(shop, ws, {"slowtest": {}})
    slow_model(job, keep=True)
    job.start().join(60)
    (run,) = job.runs
    assert slow_model.trained - PRESS_AT <= 2, slow_model.trained
    assert run.status == "stopped" and run.kept
    assert run.outcome == "stopped at epoch 1, kept marked as stopped"
    (kept,) = ws.kept_runs(shop.name)
    assert kept.results.stopped is True and kept.results.epochs == 1
    assert kept.results.stopped_label == "stopped at epoch 1"
    assert 0.0 <= kept.results.metric("ndcg") <= 1.0  # evaluated like any run
    assert ui.kept_label(kept).endswith(" · stopped at epoch 1")  # what the pickers list


def test_stop_requested_asks_only_callbacks_that_can_answer():
    class Control:
        def __init__(self) -> None:
            self.flag = False

        def __call__(self, epoch, metrics):
            return True

        def stop_requested(self) -> bool:
            return self.flag

    control = Control()
    assert stop_requested(None) is False
    assert stop_requested(lambda epoch, metrics: False) is False  # answers at epoch ends only
    assert stop_requested(control) is False
    control.flag = True
    assert stop_requested(control) is True
