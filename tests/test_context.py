"""Context pairs: interactions below the rating threshold are seen, not positives.

They are never recommended back, never held out or counted as hits, survive splits (only when
older than the held-out pairs, for time-based splits) and workspace round trips, and EASE can
read them as a weak signal.
"""

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import DatasetConfig, build_dataset
from recsys.data.splits import SplitConfig, split_dataset
from recsys.evaluation import evaluate_split
from recsys.models import create_model
from recsys.rerank import candidates_from_model
from recsys.workspace import Workspace
from tests.test_loaders import ML100K, needs_ml

THRESHOLD = DatasetConfig(rating_threshold=4)


def _rated(n_users: int = 60, n_items: int = 40, seed: int = 0) -> pd.DataFrame:
    """Every user rates a random half of the items 1–5, one rating a day."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        items = rng.choice(n_items, n_items // 2, replace=False)
        for day, i in enumerate(items):
            rows.append((f"u{u}", f"i{i}", int(rng.integers(1, 6)),
                         pd.Timestamp("2024-01-01") + pd.Timedelta(days=day)))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "value", "timestamp"])


def _pairs(matrix) -> set[tuple[int, int]]:
    m = matrix.tocoo()
    return set(zip(m.row.tolist(), m.col.tolist(), strict=True))


def test_below_threshold_rows_become_context_not_positives():
    frame = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u2", "u3", "u3"],
                          "item_id": ["a", "b", "a", "c", "a", "a"],
                          "value": [5, 2, 4, 1, 5, 1]})
    catalog = pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["A", "B", "C"]})
    ds = build_dataset(frame, catalog, config=THRESHOLD)
    assert ds.n_pairs == 3 and ds.n_context_pairs == 2  # (u3, a, 1) is already a positive
    assert list(ds.popularity) == [3, 0, 0]  # context adds no popularity
    col = {item: j for j, item in enumerate(ds.item_ids)}
    assert ds.context_matrix[0, col["b"]] == 1 and ds.context_matrix[1, col["c"]] == 1
    assert _pairs(ds.known) == _pairs(ds.matrix) | _pairs(ds.context_matrix)
    assert ds.summary()["context_pairs"] == 2

    dropped = build_dataset(frame, catalog,
                            config=THRESHOLD.model_copy(update={"below_threshold": "drop"}))
    assert dropped.n_context_pairs == 0 and dropped.known is dropped.matrix
    assert dropped.fingerprint != ds.fingerprint
    # Items seen only below the threshold, with no catalog to keep them, are not in the
    # vocabulary, so neither are their context pairs.
    assert build_dataset(frame, config=THRESHOLD).n_context_pairs == 0


def test_context_setting_leaves_fingerprints_without_context_alone():
    frame = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["a", "b"], "value": [5, 4]})
    seen = build_dataset(frame, config=THRESHOLD)
    drop = build_dataset(frame, config=THRESHOLD.model_copy(update={"below_threshold": "drop"}))
    assert seen.n_context_pairs == 0 and seen.fingerprint == drop.fingerprint


def test_recommendations_never_contain_context_items():
    ds = build_dataset(_rated(), config=THRESHOLD)
    assert ds.n_context_pairs > 500
    model = create_model("ease", {"l2": 10.0}).fit(ds)
    users = np.arange(ds.n_users)
    top, _ = model.recommend(users, n=15)
    known = ds.known.toarray() > 0
    assert not known[users[:, None], top].any()
    cands = candidates_from_model(model, ds, users, c=15)
    assert not known[users[:, None], cands.items].any()
    # Without the exclusion some lists would have contained context items.
    raw = np.argsort(-model.score(users), axis=1)[:, :15]
    assert ds.context_matrix.toarray()[users[:, None], raw].any()


def test_random_split_keeps_all_context_in_train_and_never_holds_it_out():
    ds = build_dataset(_rated(), config=THRESHOLD)
    split = split_dataset(ds, SplitConfig(method="random", seed=3))
    assert split.train.n_context_pairs == ds.n_context_pairs
    assert not _pairs(split.test) & _pairs(ds.context_matrix)


@pytest.mark.parametrize("method", ["temporal", "leave-last", "time"])
def test_time_splits_keep_only_context_older_than_the_held_out_pairs(method):
    ds = build_dataset(_rated(), config=THRESHOLD)
    split = split_dataset(ds, SplitConfig(method=method, test_frac=0.3))
    ctx = split.train.context
    assert 0 < len(ctx) < len(ds.context)
    users = split.train.user_index.get_indexer(ctx["user_id"])
    first_test = split.test_pairs.groupby("user")["timestamp"].min()
    limit = (pd.Series(first_test.min(), index=users) if method == "time"
             else first_test.reindex(users))
    assert (ctx["timestamp"].to_numpy() < limit.fillna(pd.Timestamp.max).to_numpy()).all()


def test_workspace_round_trip_keeps_context_and_fingerprint(tmp_path):
    ds = build_dataset(_rated(), config=THRESHOLD, name="rated")
    ws = Workspace(tmp_path)
    ws.save_dataset(ds)
    back = ws.load_dataset("rated")
    assert back.fingerprint == ds.fingerprint
    assert _pairs(back.context_matrix) == _pairs(ds.context_matrix)


def test_saved_model_keeps_its_exclusions(tmp_path):
    ds = build_dataset(_rated(), config=THRESHOLD)
    model = create_model("ease", {"l2": 10.0}).fit(ds)
    back = type(model).load(model.save(tmp_path / "m"))
    assert _pairs(back.exclusion) == _pairs(ds.known)
    users = np.arange(ds.n_users)
    assert np.array_equal(back.recommend(users, 10)[0], model.recommend(users, 10)[0])


@needs_ml
def test_context_makes_movielens_lists_more_accurate():
    """Real data: knowing which films a user rated below 4 (never recommending them back, and
    reading them as a weak taste signal) raises NDCG@10 on held-out ratings ≥ 4."""
    from recsys.data.formats import load_files

    loaded = load_files(ML100K)
    scores = {}
    for mode, weight in (("drop", 0.0), ("seen", 0.0), ("seen", 0.3)):
        config = DatasetConfig(rating_threshold=4, kcore=5, below_threshold=mode)
        ds = build_dataset(loaded.interactions, loaded.catalog, config=config)
        split = split_dataset(ds, SplitConfig(method="random", seed=0))
        model = create_model("ease", {"context_weight": weight}).fit(split.train)
        scores[(mode, weight)] = evaluate_split(model, split).summary["ndcg"]
    assert scores[("seen", 0.0)] > 1.1 * scores[("drop", 0.0)]
    assert scores[("seen", 0.3)] > scores[("seen", 0.0)]


def test_models_without_context_save_their_history_once(tmp_path):
    frame = _rated()
    ds = build_dataset(frame.loc[frame["value"] >= 4], config=THRESHOLD)
    model = create_model("ease", {"l2": 10.0}).fit(ds)
    assert model.exclusion is model.seen_
    assert "known_data" not in model._state()
    back = type(model).load(model.save(tmp_path / "m"))
    assert (back.exclusion != back.seen_).nnz == 0
