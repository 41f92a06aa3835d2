"""Simulation over policies and seeds: regret against the best fixed list, bootstrap bands,
the off-policy estimate beside the replay, one fit shared by every policy, the job."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.cli import main
from recsys.data.dataset import build_dataset
from recsys.feedback.arms import Arm, run_arm
from recsys.feedback.beside import ope_beside
from recsys.feedback.job import SimulationJob
from recsys.feedback.regret import BAND_METRICS, best_fixed_hits, seed_bands
from recsys.feedback.replay import BIAS_NOTE, ReplayConfig, prepare_replay
from recsys.feedback.simulation import SimulationConfig, simulate
from recsys.models import create_model
from tests.test_simulate import planted_interactions

REPLAY = ReplayConfig(days=5, k=3, candidates=20)


@pytest.fixture(scope="module")
def shop():
    return build_dataset(planted_interactions(), None, name="planted")


class CountingPop:
    """The popularity model, counting its fits."""

    def __init__(self) -> None:
        self.inner, self.fits, self.name = create_model("pop", {}), 0, "pop"

    def fit(self, *args, **kwargs):
        self.fits += 1
        self.inner.fit(*args, **kwargs)
        return self

    def __getattr__(self, name):
        if name == "inner":  # not set yet (a copy being built)
            raise AttributeError(name)
        return getattr(self.inner, name)


def test_best_fixed_hits_matches_a_loop():
    rng = np.random.default_rng(3)
    day, item = rng.integers(-1, 6, 400), rng.integers(0, 30, 400)
    got = best_fixed_hits(day, item, days=5, n_items=30, k=4)
    for d in range(5):
        counts = sorted((np.sum((day == d) & (item == i)) for i in range(30)), reverse=True)
        assert got[d] == sum(counts[:4])
    assert best_fixed_hits(day, item, days=5, n_items=30, k=99).tolist() == [
        int(np.sum(day == d)) for d in range(5)]


def test_seed_bands():
    one = seed_bands(np.array([[1.0, 2.0, 4.0]]))
    assert all(np.array_equal(one[0], b) for b in one)
    same = seed_bands(np.tile([1.0, 5.0], (4, 1)))
    assert np.array_equal(same[1], same[2])
    rng = np.random.default_rng(0)
    values = rng.normal(10, 2, size=(8, 6)).cumsum(axis=1)
    mean, lo, hi = seed_bands(values)
    assert np.allclose(mean, values.mean(axis=0))
    assert (lo < mean).all() and (mean < hi).all()
    # roughly the mean ± 2 standard errors over seeds
    se = values.std(axis=0, ddof=1) / np.sqrt(len(values))
    assert np.all(hi - lo > 2 * se) and np.all(hi - lo < 6 * se)
    with pytest.raises(ValueError):
        seed_bands(np.zeros((0, 3)))


@pytest.fixture(scope="module")
def result(shop):
    model = CountingPop()
    res = simulate(model, shop, SimulationConfig(
        policies=("boosted", "epsilon", "thompson"), exploration=0.5, seeds=3, prior="rank",
        replay=REPLAY, bootstrap=50))
    return model, res


def test_one_fit_serves_every_policy_and_seed(result, shop):
    model, res = result
    assert model.fits == 1
    assert list(res.runs) == ["greedy", "boosted", "epsilon", "thompson"]
    assert [len(res.runs[n]) for n in res.runs] == [1, 1, 3, 3]  # deterministic arms run once
    again = simulate(model, shop, SimulationConfig(policies=("epsilon",), exploration=0.5,
                                                   replay=REPLAY), prepared=res.prepared)
    assert model.fits == 1  # the prepared replay was reused
    pd.testing.assert_frame_equal(again.days("epsilon"), res.days("epsilon"))


def test_regret_and_bands(result):
    _, res = result
    best = res.days("greedy")["best_fixed_hits"]
    assert best.sum() == res.summary["best_fixed_hits"] > 0
    for name, runs in res.runs.items():
        for run in runs:
            d = run.days
            assert (d["best_fixed_hits"] == best).all()  # one yardstick for every policy
            assert (d["regret"] == d["best_fixed_hits"] - d["hits"]).all()
            assert (d["cumulative_regret"] == d["regret"].cumsum()).all()
        totals = res.summary["policies"][name]["totals"]
        assert totals["hits"]["mean"] == pytest.approx(np.mean([r.days["hits"].sum()
                                                                for r in runs]))
    bands = res.bands
    assert set(bands["policy"]) == set(res.runs) and len(bands) == 4 * REPLAY.days
    for m in BAND_METRICS:
        assert (bands[f"{m}_lo"] <= bands[m] + 1e-12).all()
        assert (bands[m] <= bands[f"{m}_hi"] + 1e-12).all()
    greedy = bands[bands["policy"] == "greedy"]
    assert (greedy["cumulative_hits_lo"] == greedy["cumulative_hits_hi"]).all()
    eps = bands[bands["policy"] == "epsilon"]
    assert (eps["cumulative_hits_hi"] > eps["cumulative_hits_lo"]).any()
    found = res.summary["policies"]["thompson"]["totals"]["tail_items_discovered"]["mean"]
    assert found > res.summary["policies"]["greedy"]["totals"]["tail_items_discovered"]["mean"]
    assert "deterministic" in res.summary["bands_note"] or "random" in res.summary["bands_note"]
    assert res.summary["note"] == BIAS_NOTE and "best fixed list" in res.summary[
        "regret_definition"]


def test_ope_beside_the_replay(result):
    _, res = result
    ope = res.summary["policies"]["epsilon"]["ope"]
    assert set(ope["estimators"]) == {"ips", "snips", "dr"}
    for est in ope["estimators"].values():
        lo, hi = est["ci95"]
        assert lo <= est["value"] <= hi and est["ess"] > 0
    greedy_days = res.days("greedy")
    assert ope["logging_hit_rate"] == pytest.approx(greedy_days["hits"].sum()
                                                    / greedy_days["slots"].sum())
    eps = res.days("epsilon")
    assert ope["replay_hit_rate"] == pytest.approx(eps["hits"].sum() / eps["slots"].sum())
    assert any("propensity is 1" in w for w in ope["warnings"])  # greedy logs deterministically
    assert ope["cost"]["ips"]["value"] == pytest.approx(ope["logging_hit_rate"]
                                                        - ope["estimators"]["ips"]["value"])
    assert "greedy_on_target_log" in ope  # epsilon's own log supports the greedy lists
    assert "ope" not in res.summary["policies"]["greedy"]


def test_ope_of_the_logging_policy_on_its_own_log_is_its_hit_rate(shop):
    prepared = prepare_replay(create_model("pop", {}), shop, REPLAY)
    greedy = run_arm(prepared, Arm("greedy"), keep_targets=True)
    eps = run_arm(prepared, Arm("epsilon", exploration=0.4), seed=1, keep_targets=True)
    same = ope_beside(greedy, greedy, bootstrap=20)
    rate = greedy.reward.mean()
    assert same["estimators"]["ips"]["value"] == pytest.approx(rate)
    assert same["estimators"]["snips"]["value"] == pytest.approx(rate)
    own = ope_beside(eps, eps, bootstrap=20)  # on-policy: every weight is 1
    assert own["estimators"]["ips"]["value"] == pytest.approx(eps.reward.mean())
    assert own["estimators"]["ips"]["ess"] == pytest.approx(len(eps.key))


def test_simulate_command_with_seeds_and_comparison(tmp_path: Path, capsys):
    inter = tmp_path / "orders.csv"
    planted_interactions(users=30).to_csv(inter, index=False)
    out = tmp_path / "sim"
    assert main(["simulate", "--interactions", str(inter), "--model", "pop", "--policy",
                 "epsilon", "--exploration", "0.5", "--days", "5", "--k", "3", "--seeds", "2",
                 "--compare", "greedy,boosted", "--bootstrap", "20", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "regret" in text and "over 2 seeds" in text
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["policies"]) == {"greedy", "boosted", "epsilon"}
    assert summary["policies"]["epsilon"]["seeds"] == 2
    assert summary["regret"] == summary["best_fixed_hits"] - summary["hits"]
    assert "dr" in summary["policies"]["epsilon"]["ope"]["estimators"]
    bands = pd.read_csv(out / "bands.csv")
    assert set(bands["policy"]) == {"greedy", "boosted", "epsilon"} and len(bands) == 15
    assert main(["simulate", "--interactions", str(inter), "--model", "pop", "--compare",
                 "greedy,nope", "--out", str(out)]) == 2
    assert "--compare" in capsys.readouterr().err
    assert main(["simulate", "--interactions", str(inter), "--model", "pop", "--seeds", "0",
                 "--out", str(out)]) == 2


def test_simulation_job_runs_and_cancels(shop):
    config = SimulationConfig(policies=("epsilon",), exploration=0.3, replay=REPLAY)
    job = SimulationJob(shop, create_model("pop", {}), config)
    job.run()
    assert job.status == "done" and job.result is not None and job.fraction == 1.0
    stopped = SimulationJob(shop, create_model("pop", {}), config)
    stopped.cancel()
    stopped.run()
    assert stopped.status == "stopped" and stopped.result is None
    flat = build_dataset(pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"]}), None)
    failed = SimulationJob(flat, create_model("pop", {}), config)
    failed.run()
    assert failed.status == "failed" and "timestamps" in failed.error


def test_policy_targets_for_a_log(shop):
    from recsys.feedback import PolicyConfig
    from recsys.feedback.targets import policy_targets

    model = create_model("pop", {}).fit(shop, device="cpu")
    ids = [*shop.user_ids[:6].astype(str), "nobody"]
    eps, unknown = policy_targets(model, shop, ids, 3, PolicyConfig(policy="epsilon",
                                                                    exploration=0.5))
    assert unknown == 1 and set(eps.user) == set(ids[:6])
    slots = pd.DataFrame({"u": eps.user, "r": eps.rank, "p": eps.probability})
    sums = slots.groupby(["u", "r"])["p"].sum()
    assert np.allclose(sums, 1.0)  # every slot shows exactly one item
    assert (eps.probability < 1).any() and set(eps.rank) == {1, 2, 3}
    greedy, _ = policy_targets(model, shop, ids[:6], 3, PolicyConfig(policy="greedy"))
    assert len(greedy.user) == 18 and (greedy.probability == 1).all()
    with pytest.raises(ValueError, match="no user of the log"):
        policy_targets(model, shop, ["nobody"], 3, PolicyConfig())


def test_thompson_with_the_rank_prior_ignores_a_prepared_calibrated_prior(shop):
    """A replay prepared with the calibrated prior (hit model) and reused for Thompson with the
    rank prior shows what a replay prepared without it shows: the prior asked for is used."""
    with_prior = prepare_replay(create_model("pop", {}), shop, REPLAY, thompson_prior=True)
    without = prepare_replay(create_model("pop", {}), shop, REPLAY)
    arm = Arm("thompson", exploration=0.5, prior="rank")
    a, b = run_arm(with_prior, arm, seed=3), run_arm(without, arm, seed=3)
    np.testing.assert_array_equal(a.item, b.item)
    np.testing.assert_array_equal(a.propensity, b.propensity)
    calibrated = run_arm(with_prior, Arm("thompson", exploration=0.5), seed=3)
    assert not (np.array_equal(calibrated.item, a.item)
                and np.array_equal(calibrated.propensity, a.propensity))


def _scored_per_day(prepared, hit_model):
    """Every day's candidates and prior scored afresh for that day's customers alone."""
    from recsys.feedback.pools import prior_means, with_target_candidates
    from recsys.rerank import candidates_from_model

    model, train, cfg = prepared.model, prepared.train, prepared.config
    c = max(cfg.candidates, cfg.k)
    out = []
    for day in prepared.days:
        users = day.cands.users
        cands = candidates_from_model(model, train, users, c, exclude=train.known)
        cands = with_target_candidates(model, train, cands, c, prepared.targets, train.known, None)
        out.append((cands, prior_means(hit_model, cands, train) if len(users) else None))
    return out


@pytest.mark.parametrize("name", ["ease", "als"])
def test_a_customer_scored_once_gets_the_candidates_of_every_day(shop, name):
    """Customers active on several days are scored once: each day's candidates and Thompson
    prior are exactly those scored for that day's customers alone."""
    fixed = REPLAY.model_copy(update={"update_model": False})
    prepared = prepare_replay(create_model(name, {}), shop, fixed, thompson_prior=True)
    users = np.concatenate([d.cands.users for d in prepared.days])
    assert len(users) > len(np.unique(users))  # some come back on another day
    assert prepared.has_prior
    for day, (cands, prior) in zip(prepared.days, _scored_per_day(prepared, prepared.hit_model),
                                   strict=True):
        np.testing.assert_array_equal(day.cands.users, cands.users)
        np.testing.assert_array_equal(day.cands.items, cands.items)
        np.testing.assert_array_equal(day.cands.scores, cands.scores)
        np.testing.assert_array_equal(day.prior, prior)


def test_no_target_item_adds_padding_without_scoring(shop):
    """Without any exploration target the added columns are the padding the model would give."""
    from recsys.feedback.pools import with_target_candidates
    from recsys.rerank import candidates_from_model

    model = create_model("pop", {}).fit(shop, device="cpu")
    none = np.zeros(shop.n_items, dtype=bool)
    for users in (np.arange(7), np.zeros(0, dtype=np.int64)):
        cands = candidates_from_model(model, shop, users, 5, exclude=shop.known)
        got = with_target_candidates(model, shop, cands, 5, none, shop.known, None)
        scored = candidates_from_model(model, shop, users, 5, exclude=shop.known,
                                       allowed_items=none)
        assert got.items.shape == (len(users), cands.c + scored.c)
        np.testing.assert_array_equal(got.items[:, cands.c:], scored.items)
        np.testing.assert_array_equal(got.scores[:, cands.c:], scored.scores)


@pytest.mark.parametrize("name", ["ease", "als", "pop"])
def test_the_model_is_updated_with_each_day_before_the_next(shop, name):
    """With online updates a customer's later candidates leave out what they took on an
    earlier replayed day (their history grew), while the fitted model itself is untouched."""
    model = create_model(name, {})
    prepared = prepare_replay(model, shop, REPLAY)
    assert prepared.updated
    assert prepared.model.seen_.nnz == prepared.train.matrix.nnz  # the fit is not changed
    n = prepared.train.n_items
    taken: dict[int, set[int]] = {}
    checked = 0
    for day in prepared.days:
        for row, user in enumerate(day.cands.users):
            earlier = taken.get(int(user), set())
            if earlier:
                assert not earlier & set(day.cands.items[row].tolist())
                checked += 1
        for key in day.truth:
            taken.setdefault(int(key // n), set()).add(int(key % n))
    assert checked > 0
    fixed = prepare_replay(create_model(name, {}), shop,
                           REPLAY.model_copy(update={"update_model": False}))
    assert not fixed.updated
    changed = sum(not np.array_equal(a.cands.items, b.cands.items)
                  for a, b in zip(prepared.days[1:], fixed.days[1:], strict=True))
    assert changed > 0  # later days' lists differ from the stale model's
