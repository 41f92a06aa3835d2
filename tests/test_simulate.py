"""Replay simulation: a planted shop where the tail is what people buy next, so exploring
policies discover tail items that the model's own lists never show."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.cli import main
from recsys.data.dataset import build_dataset
from recsys.feedback import PolicyConfig
from recsys.feedback.replay import BIAS_NOTE, DAY_COLUMNS, ReplayConfig, replay
from recsys.models import create_model


def planted_interactions(seed: int = 0, users: int = 80) -> pd.DataFrame:
    """20 days of head purchases (skewed popularity, 12 head items), each of 40 tail items
    bought once; then 5 days in which every user buys one tail item and one head item."""
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2024-03-01")
    head_p = 1.0 / np.arange(1, 13)
    head_p /= head_p.sum()
    for u in range(users):
        for h in rng.choice(12, size=4, replace=False, p=head_p):
            rows.append((f"u{u}", f"H{h}", start + pd.Timedelta(days=int(rng.integers(0, 20)))))
    for t in range(40):
        rows.append((f"u{t % users}", f"T{t}", start + pd.Timedelta(days=int(rng.integers(0, 20)))))
    for d in range(20, 25):
        for u in range(users):
            rows.append((f"u{u}", f"T{rng.integers(0, 40)}", start + pd.Timedelta(days=d, hours=9)))
            rows.append((f"u{u}", f"H{rng.integers(0, 12)}", start + pd.Timedelta(days=d, hours=10)))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


@pytest.fixture(scope="module")
def shop():
    return build_dataset(planted_interactions(), None, name="planted")


def _run(shop, policy: str, exploration: float = 0.5, seed: int = 0):
    """One replay on the popularity model as fitted before the days (no online update: with
    one, the tail items bought every day become popular and greedy shows them too)."""
    return replay(create_model("pop", {}), shop,
                  PolicyConfig(policy=policy, exploration=exploration, seed=seed),
                  ReplayConfig(days=5, k=3, candidates=20, update_model=False))


def test_thompson_discovers_more_tail_items_than_greedy(shop):
    greedy = _run(shop, "greedy").summary
    found = [_run(shop, "thompson", seed=s).summary["tail_items_discovered"] for s in range(3)]
    assert greedy["tail_items_discovered"] == 0 and greedy["tail_exposure"] == 0.0
    assert min(found) > greedy["tail_items_discovered"]
    eps = _run(shop, "epsilon").summary
    assert eps["tail_items_discovered"] > 0 and eps["tail_exposure"] > 0.2


def test_replay_rows_and_summary(shop):
    res = _run(shop, "epsilon", exploration=0.3)
    assert list(res.days.columns) == list(DAY_COLUMNS) and len(res.days) == 5
    # a user is active on a day with a first purchase of some item (repeats are no new pair)
    assert res.days["users"].between(60, 80).all()
    assert (res.days["slots"] == 3 * res.days["users"]).all()
    assert res.days["cumulative_hits"].iloc[-1] == res.summary["hits"]
    assert res.days["cumulative_discovered_tail"].is_monotonic_increasing
    assert res.summary["train_until"] == "2024-03-21" and res.summary["note"] == BIAS_NOTE
    assert res.summary["policy"]["exploration"] == 0.3
    again = _run(shop, "epsilon", exploration=0.3)
    pd.testing.assert_frame_equal(res.days, again.days)
    assert res.log["reward"].sum() == res.summary["hits"]
    assert res.log["propensity"].between(0, 1, inclusive="right").all()


def test_replay_needs_timestamps_and_history():
    flat = build_dataset(pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"]}), None)
    with pytest.raises(ValueError, match="needs timestamps"):
        replay(create_model("pop", {}), flat, PolicyConfig())
    shop = build_dataset(planted_interactions(users=10), None)
    with pytest.raises(ValueError, match="nothing is left to train"):
        replay(create_model("pop", {}), shop, PolicyConfig(), ReplayConfig(days=60))


def test_simulate_command(tmp_path: Path, capsys):
    inter = tmp_path / "orders.csv"
    planted_interactions(users=30).to_csv(inter, index=False)
    out = tmp_path / "sim"
    assert main(["simulate", "--interactions", str(inter), "--model", "pop", "--policy",
                 "thompson", "--exploration", "0.5", "--days", "5", "--k", "3", "--out",
                 str(out)]) == 0
    text = capsys.readouterr().out
    assert "tail items discovered" in text and "biased toward the logging policy" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["policy"]["policy"] == "thompson" and "biased" in summary["note"]
    log = pd.read_csv(out / "log.csv")
    assert list(log.columns) == ["user_id", "item_id", "position", "propensity", "reward", "day"]
    assert log["reward"].sum() == summary["hits"] and len(log) == summary["slots"]
    days = pd.read_csv(out / "days.csv")
    assert list(days.columns) == list(DAY_COLUMNS) and len(days) == 5
    assert main(["simulate", "--interactions", str(inter), "--model", "pop", "--days", "0",
                 "--out", str(out)]) == 2
    assert "--days" in capsys.readouterr().err
