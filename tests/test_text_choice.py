"""text_method="auto": the embedding that ranks hidden training items better is chosen."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.models.text_choice import choose_text_method, held_out_item_recall


def _planted(seed: int = 0, n_users: int = 600, n_items: int = 300, groups: int = 10):
    """Users buy only within their taste group; ``good`` content vectors encode the group,
    ``noise`` ones are random."""
    rng = np.random.default_rng(seed)
    item_group = rng.integers(0, groups, n_items)
    user_group = rng.integers(0, groups, n_users)
    rows, cols = [], []
    for u in range(n_users):
        pool = np.flatnonzero(item_group == user_group[u])
        picks = rng.choice(pool, size=min(8, len(pool)), replace=False)
        rows += [u] * len(picks)
        cols += list(picks)
    x = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))
    good = np.eye(groups, dtype=np.float32)[item_group] + 0.05 * rng.standard_normal(
        (n_items, groups)).astype(np.float32)
    noise = rng.standard_normal((n_items, groups)).astype(np.float32)
    unit = [v / np.linalg.norm(v, axis=1, keepdims=True) for v in (good, noise)]
    return x, unit[0], unit[1]


def test_recall_among_hidden_items_separates_good_from_noise():
    x, good, noise = _planted()
    recall = held_out_item_recall(x, {"good": good, "noise": noise}, seed=1)
    assert len(recall["good"]) == len(recall["noise"]) > 100  # paired: the same users
    assert recall["good"].mean() > 3 * recall["noise"].mean()
    assert recall["good"].mean() > 0.3


def test_auto_keeps_the_sentence_model_unless_tfidf_is_better_beyond_noise():
    x, good, noise = _planted(seed=2)
    built = {"tfidf": (good, "tfidf"), "sentence-model": (noise, "sentence")}
    choice = choose_text_method(x, built.__getitem__, sentence_available=True)
    assert choice.method == "tfidf" and choice.content is good
    assert "chosen on inner item cold start split" in choice.note
    assert choice.recall["tfidf"] > choice.recall["sentence-model"]

    built = {"tfidf": (noise, "tfidf"), "sentence-model": (good, "sentence")}
    assert choose_text_method(x, built.__getitem__, sentence_available=True).method == \
        "sentence-model"
    same = {"tfidf": (good, "tfidf"), "sentence-model": (good, "sentence")}
    assert choose_text_method(x, same.__getitem__, sentence_available=True).method == \
        "sentence-model"  # no gain: the default stays


def test_without_the_sentence_model_tfidf_is_used_untested():
    x, good, _ = _planted(seed=3)
    calls = []

    def build(method: str):
        calls.append(method)
        return good, method

    choice = choose_text_method(x, build, sentence_available=False)
    assert choice.method == "tfidf" and calls == ["tfidf"] and choice.recall == {}
