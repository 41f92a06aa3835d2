"""Off-policy estimates of a target list policy's reward per shown slot, from a feedback log.

Each log row is one shown slot ``(user u, item i, position k)`` with the logging policy's
propensity ``μ = P(i at k | u)`` and the observed reward ``r``. The target policy gives
``π(i at k | u)`` (:class:`~recsys.feedback.logs.TargetLists`). Under **per-slot
independence** (a slot's reward depends on the item shown there only) the importance weight
of a row is ``w = π / μ`` and

* **IPS** = Σ w·r / n,
* **SNIPS** = Σ w·r / Σ w (self-normalised: a little bias, much less variance; under
  examination the denominator is the weight without the examination ratio, whose mean is 1),
* **DR** = Σ [ Σ_j π(j at k | u)·q̂(j, k) + w·(r − q̂(i, k)) ] / n, where the reward model
  ``q̂(i, k) = m_k · ρ_i`` (mean reward at the position times the item's smoothed
  observed / expected reward ratio) is cross-fitted: rows of one half of the users are scored by
  a model fitted on the other half.

With ``examination`` (position-based model: a slot at position k is looked at with probability
``e_k``, and a looked-at item is clicked with a probability of its own) a logged click counts
for wherever the target shows the same item: ``w = Σ_k' π(i at k' | u)·e_k' / (P·e_k·μ)``
over the log's ``P`` positions, unbiased when the logging policy can show every item at every
position.

Each estimate carries a standard error (the delta method over users: rows of one user are not
independent), a 95 % interval (percentile bootstrap over users, seeded) and the effective sample
size ``(Σ w)² / Σ w²``. Warnings say when the log cannot support the target policy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys.feedback.logs import FeedbackLog, TargetLists

__all__ = ["ESTIMATORS", "Estimate", "OpeResult", "off_policy_estimates",
           "examination_weights", "ESS_WARN_SHARE", "UNLOGGED_WARN_SHARE"]

log = logging.getLogger(__name__)

ESTIMATORS: tuple[str, ...] = ("ips", "snips", "dr")
#: Warn when the effective sample size is below this share of the rows (or below 30).
ESS_WARN_SHARE = 0.01
ESS_WARN_MIN = 30.0
#: Warn when more than this share of the target's slot probability was never logged.
UNLOGGED_WARN_SHARE = 0.05
#: Pseudo-count of the reward model's item ratio (an unlogged item gets the position mean).
ITEM_PRIOR = 2.0


@dataclass(frozen=True)
class Estimate:
    """One estimator's value with its standard error, 95 % interval and effective sample size
    (``None`` where undefined, e.g. SNIPS when no logged row is supported)."""

    value: float | None
    stderr: float | None
    ci95: tuple[float | None, float | None]
    ess: float

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "stderr": self.stderr, "ci95": list(self.ci95),
                "ess": self.ess}


@dataclass(frozen=True)
class OpeResult:
    """Every requested estimate, the naive logged average, the rows used and warnings."""

    estimators: dict[str, Estimate]
    logged_reward: float
    rows: int
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract: ``{"estimators": {name: {value, stderr, ci95, ess}},
        "logged_reward", "rows", "warnings"}``."""
        return {"estimators": {k: v.to_dict() for k, v in self.estimators.items()},
                "logged_reward": self.logged_reward, "rows": self.rows,
                "warnings": list(self.warnings)}


def examination_weights(spec: str | Sequence[float] | None, positions: int) -> np.ndarray | None:
    """``e_1 … e_P`` from ``"log"`` (``1 / log2(k + 1)``, the DCG discount), a sequence, or a
    comma-separated text of numbers in (0, 1]; ``None`` stays ``None`` (per-slot)."""
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec.strip().lower() == "log":
            return 1.0 / np.log2(np.arange(positions) + 2.0)
        try:
            spec = [float(x) for x in spec.split(",") if x.strip()]
        except ValueError as exc:
            raise ValueError(f"examination must be 'log' or comma-separated numbers (got "
                             f"'{spec}')") from exc
    e = np.asarray(list(spec), dtype=np.float64)
    if len(e) < positions:
        raise ValueError(f"examination gives {len(e)} weights; the log has positions up to "
                         f"{positions}")
    if not ((e > 0) & (e <= 1)).all():
        raise ValueError("examination weights must be above 0 and at most 1")
    return e[:positions]


def _codes(log_ids: np.ndarray, list_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    cats = pd.Index(pd.unique(np.concatenate([log_ids, list_ids])))
    return cats.get_indexer(log_ids), cats.get_indexer(list_ids), len(cats)


def _reward_model(pos: np.ndarray, item: np.ndarray, reward: np.ndarray, n_pos: int,
                  n_items: int, exam: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(m, ρ)``: mean reward per position (``m ∝ e`` under examination) and each item's
    smoothed ratio of observed to expected reward, fitted on the given rows."""
    mean = reward.mean() if len(reward) else 0.0
    if exam is not None:
        m = exam * (mean / max(exam[pos].mean(), 1e-12)) if len(pos) else exam * 0.0
    else:
        sums = np.bincount(pos, weights=reward, minlength=n_pos)
        counts = np.bincount(pos, minlength=n_pos)
        m = (sums + mean) / (counts + 1.0)
    observed = np.bincount(item, weights=reward, minlength=n_items)
    expected = np.bincount(item, weights=m[pos], minlength=n_items)
    prior = ITEM_PRIOR * max(mean, 1e-12)
    rho = (observed + prior) / (expected + prior)
    return m, rho


@dataclass(frozen=True, eq=False)
class _Terms:
    """Per-row weights and estimator terms: ``w`` the importance weight, ``control`` the
    weight SNIPS normalises by (expectation 1 per row: ``w`` itself per slot; the target's
    probability of the item anywhere over ``P·μ`` under examination)."""

    user: np.ndarray
    w: np.ndarray
    control: np.ndarray
    wr: np.ndarray
    dr: np.ndarray


def _terms(lg: FeedbackLog, tg: TargetLists, exam_spec: Any, folds: int, seed: int
           ) -> tuple[_Terms, list[str]]:
    warnings: list[str] = []
    u_log, u_list, _ = _codes(lg.user, tg.user)
    i_log, i_list, n_items = _codes(lg.item, tg.item)
    has_list = np.isin(u_log, np.unique(u_list))
    if not has_list.any():
        raise ValueError("no user of the log has a list in the target lists; check that both "
                         "files use the same user ids")
    if not has_list.all():
        users_out = len(np.unique(u_log[~has_list]))
        warnings.append(f"{users_out:,} log users have no target list; their "
                        f"{int((~has_list).sum()):,} rows were left out")
    u, i = u_log[has_list], i_log[has_list]
    k = lg.position[has_list] - 1
    mu, r = lg.propensity[has_list], lg.reward[has_list]
    n_pos = int(k.max()) + 1
    exam = examination_weights(exam_spec, n_pos)
    in_range = tg.rank <= n_pos
    if not in_range.all():
        warnings.append(f"target ranks beyond {n_pos} (the log's deepest position) are not "
                        "evaluated")
    tu, ti, tk, tp = u_list[in_range], i_list[in_range], tg.rank[in_range] - 1, \
        tg.probability[in_range]
    slot_key = lambda uu, ii, kk: (uu.astype(np.int64) * n_items + ii) * n_pos + kk  # noqa: E731
    target = pd.Series(tp, index=slot_key(tu, ti, tk)).groupby(level=0).sum()
    pi_row = target.reindex(slot_key(u, i, k)).fillna(0.0).to_numpy()
    if exam is None:
        w = control = pi_row / mu
    else:
        pair_keys = tu.astype(np.int64) * n_items + ti
        row_keys = u.astype(np.int64) * n_items + i
        reach = pd.Series(tp * exam[tk], index=pair_keys).groupby(level=0).sum()
        mass = pd.Series(tp, index=pair_keys).groupby(level=0).sum()
        w = reach.reindex(row_keys).fillna(0.0).to_numpy() / (n_pos * exam[k] * mu)
        control = mass.reindex(row_keys).fillna(0.0).to_numpy() / (n_pos * mu)
    # support: (item, position) pairs (items under examination) the log ever showed anyone
    seen = np.unique(i * n_pos + k if exam is None else i)
    t_keys = ti * n_pos + tk if exam is None else ti
    in_log_users = np.isin(tu, np.unique(u))
    mass = tp[in_log_users].sum()
    unlogged = tp[in_log_users & ~np.isin(t_keys, seen)].sum() / mass if mass > 0 else 0.0
    if unlogged > UNLOGGED_WARN_SHARE:
        warnings.append(f"{unlogged:.0%} of the target policy's slot probability falls on "
                        "items the log never showed at that position to anyone: IPS and SNIPS "
                        "cannot see them (DR's reward model guesses)")
    if np.all(mu == 1.0):
        warnings.append("every logged propensity is 1 (a deterministic logging policy): only "
                        "slots the target shows exactly as logged are supported")
    dr = _doubly_robust(_Slots(u, i, k, r), w, _Slots(tu, ti, tk, tp), n_pos, n_items, exam,
                        folds, seed)
    return _Terms(u, w, control, w * r, dr), warnings


@dataclass(frozen=True, eq=False)
class _Slots:
    """Coded slots: user and item codes, 0-based position, and a value (the log's reward, or
    the target's probability)."""

    user: np.ndarray
    item: np.ndarray
    pos: np.ndarray
    value: np.ndarray


def _doubly_robust(rows: _Slots, w: np.ndarray, target: _Slots, n_pos: int, n_items: int,
                   exam: np.ndarray | None, folds: int, seed: int) -> np.ndarray:
    """Per-row DR terms with a reward model cross-fitted over ``folds`` groups of users: the
    target's expected reward at the row's slot under the model, plus the weighted residual."""
    u, i, k, r = rows.user, rows.item, rows.pos, rows.value
    tu, ti, tk, tp = target.user, target.item, target.pos, target.value
    n_folds = max(folds, 1)
    n_users = int(max(u.max(), tu.max() if len(tu) else 0)) + 1
    fold_of = np.random.default_rng(seed).integers(0, n_folds, size=n_users)
    out = np.zeros(len(u))
    for f in range(n_folds):
        here, t_here = fold_of[u] == f, fold_of[tu] == f
        fit = ~here if n_folds > 1 else here
        m, rho = _reward_model(k[fit], i[fit], r[fit], n_pos, n_items, exam)
        dm = pd.Series(tp[t_here] * m[tk[t_here]] * rho[ti[t_here]],
                       index=tu[t_here].astype(np.int64) * n_pos + tk[t_here])
        dm_row = dm.groupby(level=0).sum().reindex(
            u[here].astype(np.int64) * n_pos + k[here]).fillna(0.0).to_numpy()
        out[here] = dm_row + w[here] * (r[here] - m[k[here]] * rho[i[here]])
    return out


def _ratio(a: np.ndarray, b: np.ndarray, boot: np.ndarray, ess: float) -> Estimate:
    """Σa / Σb over users, its delta-method standard error and bootstrap interval."""
    total_b = b.sum()
    if total_b <= 0:
        return Estimate(None, None, (None, None), ess)
    value = float(a.sum() / total_b)
    n = len(a)
    z = (a - value * b) / (total_b / n)
    stderr = float(np.sqrt(z.var(ddof=1) / n)) if n > 1 else None
    sums_a, sums_b = boot @ a, boot @ b
    ok = sums_b > 0
    vals = sums_a[ok] / sums_b[ok]
    lo, hi = (np.quantile(vals, [0.025, 0.975]) if ok.any() else (np.nan, np.nan))
    ci = (float(lo), float(hi)) if ok.any() else (None, None)
    return Estimate(value, stderr, ci, ess)


def _bootstrap_counts(n_users: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(B, U) times each user is drawn in each bootstrap resample."""
    out = np.zeros((n_boot, n_users), dtype=np.float64)
    for b in range(n_boot):
        out[b] = np.bincount(rng.integers(0, n_users, n_users), minlength=n_users)
    return out


def off_policy_estimates(log_rows: FeedbackLog, target: TargetLists,
                         estimators: Sequence[str] = ESTIMATORS, *,
                         examination: str | Sequence[float] | None = None,
                         bootstrap: int = 200, folds: int = 2, seed: int = 0) -> OpeResult:
    """Estimate the target policy's reward per shown slot with each of ``estimators``.

    Raises ``ValueError`` on an unknown estimator, bad ``examination`` weights, or a log no
    target list applies to."""
    names = [e.strip().lower() for e in estimators if e.strip()]
    unknown = [e for e in names if e not in ESTIMATORS]
    if unknown or not names:
        raise ValueError(f"unknown estimator {', '.join(unknown) or '(none given)'}; choose from "
                         f"{', '.join(ESTIMATORS)}")
    terms, warnings = _terms(log_rows, target, examination, folds, seed)
    users, per_user = np.unique(terms.user, return_inverse=True)
    n_users = len(users)
    sum_u = lambda x: np.bincount(per_user, weights=x, minlength=n_users)  # noqa: E731
    ones = sum_u(np.ones(len(terms.w)))
    w_sum, w_sq = terms.w.sum(), (terms.w ** 2).sum()
    ess = float(w_sum ** 2 / w_sq) if w_sq > 0 else 0.0
    rows = len(terms.w)
    if ess < max(ESS_WARN_MIN, ESS_WARN_SHARE * rows):
        warnings.append(f"effective sample size {ess:.1f} of {rows:,} rows: the log barely "
                        "supports the target policy, so the estimates are unreliable")
    boot = _bootstrap_counts(n_users, bootstrap, np.random.default_rng(seed))
    parts = {"ips": (sum_u(terms.wr), ones), "snips": (sum_u(terms.wr), sum_u(terms.control)),
             "dr": (sum_u(terms.dr), ones)}
    out = {name: _ratio(*parts[name], boot, ess) for name in names}
    if "snips" in out and out["snips"].value is None:
        warnings.append("SNIPS is undefined: no logged row has a positive weight under the "
                        "target policy")
    has_list = np.isin(log_rows.user, target.user)
    logged = float(log_rows.reward[has_list].mean())
    return OpeResult(out, logged, rows, [*log_rows.warnings, *warnings])
