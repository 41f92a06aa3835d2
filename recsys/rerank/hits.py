"""Hit model: how likely each candidate is to be one of the user's next items.

A promotion that trades head slots for tail slots should spend them where the fewest expected
hits are lost. Raw model scores do not say that: their scale differs between users (a heavy
user's best score means something else than a light user's) and between models. The hit model
is a small logistic regression on features every model's candidates have (score relative to
the user's best, standardised score, rank, item popularity, tail flag, user activity, the
user's tail share and a few of their products), fitted on held-out pairs of a validation split
so that its probabilities are comparable across users. It is never fitted on the pairs it is
judged on: :func:`recsys.rerank.refit.fit_hit_model_on_split` carves an inner split out of the
training part and refits the model there. This module is the maths only (features, labels,
the logistic model); refitting models is :mod:`recsys.rerank.refit`.

The fitted model is a handful of numbers (JSON-serialisable), applied to candidate lists in
any order (features come from the base scores and base ranks the lists carry).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys.data.dataset import Dataset

__all__ = ["HitModel", "FEATURES", "OPINION_FEATURES", "candidate_features", "hit_labels", "fit_hit_model",
           "expected_gain_values"]

log = logging.getLogger(__name__)

#: Feature names, in column order (products last).
FEATURES: tuple[str, ...] = (
    "log_score_ratio", "score_z", "log_rank", "log_popularity", "tail", "log_activity",
    "tail_share", "tail*log_score_ratio", "tail*log_popularity", "tail*log_activity",
    "tail*tail_share", "log_score_ratio*log_activity", "score_z*log_activity")
#: Features a second model adds (:mod:`recsys.rerank.opinion`), after :data:`FEATURES`.
OPINION_FEATURES: tuple[str, ...] = ("opinion_z", "opinion_log_rank", "tail*opinion_z",
                                     "tail*opinion_log_rank")
#: Candidates whose scores define each user's score mean and spread (the ``score_z`` feature).
Z_DEPTH = 50
#: Scores below this share of the user's best are treated alike (log ratio floor).
RATIO_FLOOR = 1e-4


def _base_features(base_score: np.ndarray, base_rank: np.ndarray, items: np.ndarray,
                   users: np.ndarray, dataset: Dataset) -> list[np.ndarray]:
    """The seven (U, C) float32 features before products (finite everywhere; padding slots
    hold meaningless values that callers mask out)."""
    valid = items >= 0
    safe = np.maximum(items, 0)
    s = np.where(valid, base_score, 0.0).astype(np.float32)
    best = np.max(np.where(valid, s, -np.inf), axis=1, keepdims=True)
    best = np.where(np.isfinite(best) & (best > 0), best, 1.0).astype(np.float32)
    ratio = np.log(np.clip(s / best, RATIO_FLOOR, None))
    head = valid & (base_rank <= Z_DEPTH)
    n_head = np.maximum(head.sum(axis=1, keepdims=True), 1)
    mean = np.where(head, s, 0.0).sum(axis=1, keepdims=True) / n_head
    var = np.where(head, (s - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / n_head
    std = np.sqrt(var)
    z = ((s - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)
    rank = np.log(np.maximum(base_rank, 1)).astype(np.float32)
    pop = np.log1p(np.asarray(dataset.popularity, dtype=np.float32))[safe]
    tail = np.asarray(dataset.is_tail, dtype=np.float32)[safe]
    hist = (sp.csr_matrix(dataset.matrix)[np.asarray(users, dtype=np.int64)] > 0).astype(
        np.float32)
    counts = np.asarray(hist.sum(axis=1), dtype=np.float32).ravel()
    share = np.asarray(hist @ np.asarray(dataset.is_tail, dtype=np.float32)).ravel() / np.maximum(
        counts, 1)
    activity = np.broadcast_to(np.log1p(counts)[:, None], s.shape)
    share = np.broadcast_to(share.astype(np.float32)[:, None], s.shape)
    return [ratio, z, rank, pop, tail, activity, share]


def _with_products(base: list[np.ndarray]) -> list[np.ndarray]:
    ratio, z, _rank, pop, tail, activity, share = base
    return [*base, tail * ratio, tail * pop, tail * activity, tail * share, ratio * activity,
            z * activity]


def _columns(base_score: np.ndarray, base_rank: np.ndarray, items: np.ndarray,
             users: np.ndarray, dataset: Dataset, opinion=None) -> list[np.ndarray]:
    """Every feature column in order: :data:`FEATURES`, then :data:`OPINION_FEATURES` when a
    second model (``opinion``, or a callable giving its columns) is given."""
    base = _base_features(base_score, base_rank, items, users, dataset)
    columns = _with_products(base)
    if opinion is not None:
        from recsys.rerank.opinion import opinion_columns

        z, rank = (opinion(users, items) if callable(opinion)
                   else opinion_columns(opinion, users, items))
        tail = base[4]
        columns += [z, rank, tail * z, tail * rank]
    return columns


def candidate_features(base_score: np.ndarray, base_rank: np.ndarray, items: np.ndarray,
                       users: np.ndarray, dataset: Dataset, opinion=None) -> np.ndarray:
    """(U, C, F) float32 features of every candidate (:data:`FEATURES`, plus
    :data:`OPINION_FEATURES` with a second model ``opinion``), from the model's base score and
    1-based base rank of each slot; padding (``items < 0``) gets zeros."""
    out = np.stack(_columns(base_score, base_rank, items, users, dataset, opinion), axis=-1)
    out[items < 0] = 0.0
    return out


def hit_labels(items: np.ndarray, users: np.ndarray, held_out: sp.csr_matrix) -> np.ndarray:
    """(U, C) True where the candidate is one of the user's held-out items."""
    held = sp.csr_matrix(held_out)[np.asarray(users, dtype=np.int64)].tocoo()
    n_items = held.shape[1]
    keys = np.sort(held.row.astype(np.int64) * n_items + held.col)
    rows = np.arange(items.shape[0], dtype=np.int64)[:, None]
    wanted = rows * n_items + np.maximum(items, 0)
    found = np.searchsorted(keys, wanted.ravel()).clip(0, max(len(keys) - 1, 0))
    hit = keys[found] == wanted.ravel() if len(keys) else np.zeros(wanted.size, dtype=bool)
    return hit.reshape(items.shape) & (items >= 0)


def _sigmoid(logit: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(logit, -30, 30)))).astype(np.float32)


@dataclass(frozen=True, eq=False)
class HitModel:
    """Logistic regression P(hit | candidate features), features standardised first.

    With a second opinion (``opinion_name``, :mod:`recsys.rerank.opinion`) the features also
    hold that model's view of each candidate; ``opinion`` is the second model trained on the
    data the probabilities are asked for (attach it with :meth:`with_opinion`).
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    n_pairs: int = 0
    hit_rate: float = 0.0
    opinion_name: str = "none"
    opinion: Any = None
    _memo: dict = field(default_factory=dict, repr=False)

    @property
    def features(self) -> tuple[str, ...]:
        return FEATURES + (OPINION_FEATURES if self.opinion_name != "none" else ())

    def with_opinion(self, opinion) -> HitModel:
        """This hit model reading a (re)trained second model."""
        return replace(self, opinion=opinion, _memo={})

    def _opinion_columns(self, users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, ...]:
        """The second model's columns for these candidate lists, kept for the last lists asked
        for: a page that re-ranks the same pool on every slider move scores it once."""
        from recsys.rerank.opinion import opinion_columns

        key = (np.asarray(users).tobytes(), items.shape, items.tobytes())
        last = self._memo.get("last")  # one (key, columns) pair: safe when sessions share it
        if last is None or last[0] != key:
            last = (key, opinion_columns(self._opinion_model(), users, items))
            self._memo["last"] = last
        return last[1]

    def _opinion_model(self):
        if self.opinion_name == "none":
            return None
        if self.opinion is None:
            raise ValueError(f"this hit model reads a second opinion ({self.opinion_name}) that "
                             "is not attached; fit it again")
        return self.opinion

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Probabilities of shape ``features.shape[:-1]``."""
        if features.shape[-1] != len(self.coef):
            raise ValueError(f"the hit model reads {len(self.coef)} features, got "
                             f"{features.shape[-1]}")
        logit = ((features - self.mean) / self.scale) @ self.coef + self.intercept
        return _sigmoid(logit)

    def predict_lists(self, base_score: np.ndarray, base_rank: np.ndarray, items: np.ndarray,
                      users: np.ndarray, dataset: Dataset) -> np.ndarray:
        """(U, C) hit probabilities of candidate lists in any order (0 on padding). Sums the
        weighted feature columns one by one (no (U, C, F) block: this runs on every slider
        move)."""
        weights = self.coef / self.scale
        logit = np.full(items.shape, self.intercept - float(weights @ self.mean), np.float32)
        opinion = self._opinion_columns if self.opinion_name != "none" else None
        if opinion is not None:
            self._opinion_model()  # a clear message when the second model is not attached
        for w, column in zip(weights, _columns(base_score, base_rank, items, users, dataset,
                                               opinion), strict=True):
            logit += np.float32(w) * column
        return np.where(items >= 0, _sigmoid(logit), 0.0).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "opinion": self.opinion_name, "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept, "n_pairs": self.n_pairs, "hit_rate": self.hit_rate}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HitModel:
        """The numbers of :meth:`to_dict`; a second opinion must be attached again
        (:meth:`with_opinion`) before predicting."""
        opinion = str(data.get("opinion", "none"))
        wanted = FEATURES + (OPINION_FEATURES if opinion != "none" else ())
        if list(data.get("features", [])) != list(wanted):
            raise ValueError("this hit model was fitted on other features; fit it again")
        return cls(np.asarray(data["mean"], np.float64), np.asarray(data["scale"], np.float64),
                   np.asarray(data["coef"], np.float64), float(data["intercept"]),
                   int(data.get("n_pairs", 0)), float(data.get("hit_rate", 0.0)), opinion)


def fit_hit_model(cands, train: Dataset, held_out: sp.csr_matrix, *, c: float = 1.0,
                  opinion=None, opinion_name: str = "none") -> HitModel:
    """Fit the hit model on candidate lists (:class:`~recsys.rerank.Candidates` of a model
    trained on ``train``) against the pairs held out of ``train`` (``held_out``); with a second
    model ``opinion`` (also trained on ``train``, named ``opinion_name``) its view of each
    candidate joins the features."""
    from sklearn.linear_model import LogisticRegression

    items = np.asarray(cands.items)
    valid = items >= 0
    ranks = np.broadcast_to(np.arange(1, items.shape[1] + 1), items.shape)
    if (opinion is None) != (opinion_name == "none"):
        raise ValueError("a second opinion needs both its model and its name")
    x = candidate_features(cands.scores, ranks, items, cands.users, train, opinion)[valid]
    y = hit_labels(items, cands.users, held_out)[valid]
    if len(y) == 0 or y.all() or not y.any():
        raise ValueError("the hit model needs candidates that are held-out items and candidates "
                         "that are not (is the validation split empty or too small?)")
    mean = x.mean(axis=0).astype(np.float64)
    scale = x.std(axis=0).astype(np.float64)
    scale = np.where(scale > 1e-9, scale, 1.0)
    lr = LogisticRegression(C=c, max_iter=500)
    lr.fit((x - mean) / scale, y)
    model = HitModel(mean, scale, lr.coef_.ravel().astype(np.float64),
                     float(lr.intercept_[0]), len(y), float(y.mean()), opinion_name, opinion)
    log.info("hit model: %d candidate pairs, hit rate %.4f, second opinion %s", len(y),
             y.mean(), opinion_name)
    return model


def expected_gain_values(p: np.ndarray, k: int) -> np.ndarray:
    """Per-candidate expected NDCG@``k`` worth of a bottom slot: its hit probability over the
    user's expected ideal DCG (from the expected number of hits among the candidates, at
    least one), so a swap costs the NDCG it is expected to lose, comparable across users."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])
    expected = np.clip(np.asarray(p, dtype=np.float64).sum(axis=1), 1.0, float(k))
    idcg = np.interp(expected, np.arange(k + 1), ideal)
    return np.asarray(p, dtype=np.float64) / idcg[:, None]
