"""Refit a model on an inner split to learn its hit model (the ``expected`` cost of a slot).

The hit model (:mod:`recsys.rerank.hits`) must never learn from the pairs it is judged on, so
it is fitted on candidates of a twin of the model: the same setting (:func:`refit_spec`)
trained on an inner split carved out of the training data. :func:`hit_model_for` is what the
command line and exports call: a hit model only when some re-rank step needs one.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from recsys.data.dataset import Dataset
from recsys.rerank.candidates import candidates_from_model
from recsys.rerank.config import RERANK_POOL
from recsys.rerank.engine import as_configs
from recsys.rerank.hits import HitModel, fit_hit_model

__all__ = ["refit_spec", "fit_hit_model_on_split", "needs_hit_model", "inner_split_method",
           "hit_model_for", "opinion_of"]

log = logging.getLogger(__name__)


def refit_spec(model) -> tuple[str, dict[str, Any]]:
    """Name and config that rebuild ``model`` untrained (``auto`` gives the setting it chose,
    so a refit does not search again)."""
    chosen = getattr(model, "chosen_", None)
    if chosen:
        return str(chosen["name"]), dict(chosen.get("config", {}))
    config = model.config.model_dump()
    return str(model.name), config


def fit_hit_model_on_split(model, train: Dataset, *, method: str = "random",
                           valid_frac: float = 0.2, seed: int = 0, c: int = RERANK_POOL,
                           device: str | None = "cpu", opinion: str = "none") -> HitModel:
    """Fit the hit model for ``model`` without touching ``train``'s own held-out pairs: carve
    an inner split out of ``train`` (``method``, ``valid_frac``, ``seed``), refit the same
    setting (:func:`refit_spec`) on the inner training part and learn from its top-``c``.

    ``opinion`` names a second model (:data:`recsys.rerank.opinion.OPINIONS`) whose view of
    each candidate the hit model also reads: trained on the inner part while it learns, then
    on all of ``train`` for the lists it is used on."""
    from recsys.data.splits import SplitConfig, split_dataset
    from recsys.models import create_model
    from recsys.rerank.opinion import fit_opinion

    inner = split_dataset(train, SplitConfig(method=method, test_frac=valid_frac, seed=seed))
    name, config = refit_spec(model)
    model_seed = getattr(getattr(model, "config", None), "seed", seed)
    config = {**config, "seed": int(config.get("seed", model_seed))}
    twin = create_model(name, config).fit(inner.train, device=device)
    cands = candidates_from_model(twin, inner.train, inner.test_users, c=c)
    if opinion == "none":
        return fit_hit_model(cands, inner.train, inner.test)
    second = fit_opinion(opinion, inner.train, seed=seed, device=device)
    hits = fit_hit_model(cands, inner.train, inner.test, opinion=second, opinion_name=opinion)
    return hits.with_opinion(fit_opinion(opinion, train, seed=seed, device=device))


def needs_hit_model(configs) -> bool:
    """Does any of these re-rank configs (one, a list, or ``None``) spend slots by expected
    loss, and so need a hit model?"""
    return any(c.method == "promotion" and c.allocation == "global" and c.swap_cost == "expected"
               for c in as_configs(configs))


def inner_split_method(dataset: Dataset) -> str:
    """The inner split a hit model learns from when no protocol says otherwise: the future
    (temporal) when the data has timestamps, a random holdout otherwise."""
    return "temporal" if dataset.has_timestamps else "random"


def opinion_of(configs) -> str:
    """The second opinion (``RerankConfig.opinion``) the hit model of these configs reads:
    that of the first config that spends slots by expected loss (``"none"`` if none does)."""
    for c in as_configs(configs):
        if needs_hit_model(c):
            return c.opinion
    return "none"


def hit_model_for(configs, model, dataset: Dataset, c: int = RERANK_POOL) -> HitModel | None:
    """The hit model these re-rank configs need (``expected`` swap cost) for lists of
    ``model`` trained on all of ``dataset``: fitted on an inner split of ``dataset``
    (:func:`inner_split_method`) with the model's setting refitted there, reading the
    configs' second opinion (:func:`opinion_of`), on candidate pools of ``c`` like those it
    will rank; ``None`` when no config needs one."""
    if not needs_hit_model(configs):
        return None
    t0 = time.perf_counter()
    method = inner_split_method(dataset)
    hits = fit_hit_model_on_split(model, dataset, method=method,
                                  device=getattr(model, "device_", None) or "cpu",
                                  opinion=opinion_of(configs), c=c)
    log.info("hit model fitted on an inner %s split in %.1fs", method, time.perf_counter() - t0)
    return hits
