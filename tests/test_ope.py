"""Off-policy estimates on a synthetic logged bandit whose true policy value is exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.feedback.logs import check_lists, check_log
from recsys.feedback.ope import off_policy_estimates
from recsys.feedback.synthetic import make_bandit

SEEDS = range(20)


@pytest.fixture(scope="module")
def runs() -> list[tuple[float, dict]]:
    """(truth, result) for 20 seeds of the synthetic bandit (per-slot estimators)."""
    out = []
    for seed in SEEDS:
        bandit = make_bandit(seed)
        out.append((bandit.truth, off_policy_estimates(bandit.log, bandit.target, seed=seed)))
    return out


@pytest.mark.parametrize("name", ["ips", "snips"])
def test_ips_and_snips_land_near_the_truth_and_cover_it(runs, name):
    z = [abs(r.estimators[name].value - truth) / r.estimators[name].stderr for truth, r in runs]
    covered = [r.estimators[name].ci95[0] <= truth <= r.estimators[name].ci95[1]
               for truth, r in runs]
    assert sum(v < 3 for v in z) >= 18, z
    assert sum(covered) >= 15, covered


def test_doubly_robust_has_lower_variance_than_ips(runs):
    ips = np.array([r.estimators["ips"].value - truth for truth, r in runs])
    dr = np.array([r.estimators["dr"].value - truth for truth, r in runs])
    assert dr.std() < ips.std()
    assert np.mean([r.estimators["dr"].stderr for _, r in runs]) < \
        np.mean([r.estimators["ips"].stderr for _, r in runs])
    assert abs(dr.mean()) < 3 * dr.std() / np.sqrt(len(dr)) + 0.01


def test_the_naive_logged_average_is_biased(runs):
    naive = np.array([r.logged_reward - truth for truth, r in runs])
    ips = np.array([r.estimators["ips"].value - truth for truth, r in runs])
    ses = np.array([r.estimators["ips"].stderr for _, r in runs])
    assert (np.abs(naive) > 3 * ses).all()  # the log's own average misses, every time
    assert np.abs(ips).mean() < np.abs(naive).mean() / 2


def test_position_based_examination_with_the_true_weights():
    exam = list(1.0 / np.arange(1, 5) ** 0.8)  # the bandit's click model
    hits = 0
    for seed in range(8):
        bandit = make_bandit(seed)
        res = off_policy_estimates(bandit.log, bandit.target, examination=exam, seed=seed)
        hits += all(abs(e.value - bandit.truth) < 3 * e.stderr for e in res.estimators.values())
    assert hits >= 7


def test_hand_computed_values_on_a_tiny_log():
    log = check_log(pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"],
                                  "position": [1, 2, 1], "propensity": [0.5, 0.25, 0.5],
                                  "reward": [1, 0, 0]}))
    lists = check_lists(pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "z", "x"],
                                      "rank": [1, 2, 1], "probability": [1.0, 1.0, 0.5]}))
    res = off_policy_estimates(log, lists, ["ips", "snips"], bootstrap=50)
    # weights: a/x/1 = 1/0.5 = 2, a/y/2 = 0 (target shows z), b/x/1 = 0.5/0.5 = 1
    assert res.estimators["ips"].value == pytest.approx((2 * 1 + 0 + 1 * 0) / 3)
    assert res.estimators["snips"].value == pytest.approx(2 / 3)
    assert res.estimators["ips"].ess == pytest.approx(9 / 5)
    assert res.logged_reward == pytest.approx(1 / 3) and res.rows == 3
    assert list(res.to_dict()) == ["estimators", "logged_reward", "rows", "warnings"]


def test_warnings_when_the_log_does_not_support_the_target():
    bandit = make_bandit(0, users=200)
    frame = bandit.lists_frame.copy()
    frame["item_id"] = "never-shown"  # target items the log never showed
    extra = pd.DataFrame({"user_id": ["ghost"], "item_id": ["i1"], "position": [1],
                          "propensity": [0.5], "reward": [1]})
    log = check_log(pd.concat([bandit.log_frame, extra], ignore_index=True))
    res = off_policy_estimates(log, check_lists(frame), bootstrap=20)
    text = " ".join(res.warnings)
    assert "never showed" in text and "effective sample size" in text
    assert "1 log users have no target list" in text
    assert res.estimators["ips"].value == 0.0 and res.estimators["snips"].value is None


def test_blank_propensities_are_left_out_with_a_warning():
    bandit = make_bandit(1, users=100)
    frame = bandit.log_frame.astype({"propensity": object})
    frame.loc[[0, 5], "propensity"] = ""
    log = check_log(frame)
    assert log.rows == len(frame) - 2
    assert "2 of" in log.warnings[0] and "no propensity" in log.warnings[0]


def test_unknown_estimator_and_disjoint_users_are_refused():
    bandit = make_bandit(2, users=50)
    with pytest.raises(ValueError, match="unknown estimator"):
        off_policy_estimates(bandit.log, bandit.target, ["ipw"])
    other = bandit.lists_frame.assign(user_id=lambda f: "x" + f["user_id"])
    with pytest.raises(ValueError, match="no user of the log"):
        off_policy_estimates(bandit.log, check_lists(other))


def test_estimates_are_reproducible_for_a_seed():
    bandit = make_bandit(3, users=100)
    a = off_policy_estimates(bandit.log, bandit.target, seed=7).to_dict()
    b = off_policy_estimates(bandit.log, bandit.target, seed=7).to_dict()
    assert a == b
