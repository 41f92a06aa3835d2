"""Re-rankers on hand-made candidate lists: each method does what it promises, strength 0 is a
no-op, quotas are met, pins land where asked, blocked items never appear, steps compose in order.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from recsys.data.dataset import DatasetConfig, build_dataset
from recsys.rerank import (
    METHODS,
    Candidates,
    RerankConfig,
    RerankContext,
    best_within,
    candidates_from_model,
    exposure,
    exposure_table,
    frontier,
    measure,
    preview_frame,
    rerank,
)


def synthetic_dataset(n_users: int = 120, n_items: int = 60, seed: int = 0, categories: bool = True,
                      name: str = "synthetic"):
    """A small shop with a steep popularity curve (so it has a head and a tail) and categories."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_items + 1) ** 1.1
    rows = []
    for u in range(n_users):
        n = rng.integers(4, 14)
        items = rng.choice(n_items, size=n, replace=False, p=weights / weights.sum())
        rows += [(f"u{u:03d}", f"i{i:03d}", pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(d)))
                 for i, d in zip(items, rng.integers(0, 90, size=n), strict=False)]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    catalog = pd.DataFrame({"item_id": [f"i{i:03d}" for i in range(n_items)],
                            "title": [f"Item {i}" for i in range(n_items)]})
    if categories:
        catalog["category"] = [("Kitchen", "Garden", "Toys")[i % 3] for i in range(n_items)]
    return build_dataset(inter, catalog, name=name, config=DatasetConfig())


@pytest.fixture(scope="module")
def ds():
    return synthetic_dataset()


def make_cands(ds, n_users: int = 8, c: int = 20, seed: int = 1) -> Candidates:
    """Candidates like a popularity-biased model's: popular items first (with noise)."""
    rng = np.random.default_rng(seed)
    noise = rng.gumbel(size=(n_users, ds.n_items))
    key = np.log1p(ds.popularity)[None, :] * 1.5 + noise
    items = np.argsort(-key, axis=1, kind="stable")[:, :c]
    scores = np.sort(rng.random((n_users, c)).astype(np.float32), axis=1)[:, ::-1].copy()
    return Candidates(np.arange(n_users), items.astype(np.int64), scores)


def tail_share(ds, result) -> float:
    return float(np.asarray(ds.is_tail)[result.items].mean())


def test_strength_zero_and_none_leave_lists_unchanged(ds):
    cands = make_cands(ds)
    for method in (*METHODS, "none"):
        cfg = RerankConfig(method=method, strength=0.0, target="tail")
        out = rerank(cands, ds, cfg, k=10)
        np.testing.assert_array_equal(out.items, cands.items[:, :10])
        np.testing.assert_array_equal(out.base_rank, np.tile(np.arange(1, 11), (cands.n_users, 1)))
        assert not out.boosted.any() and (out.reason == "").all()
        np.testing.assert_allclose(out.base_score, cands.scores[:, :10])
    np.testing.assert_array_equal(rerank(cands, ds, None, k=10).items, cands.items[:, :10])


def test_tail_bonus_at_full_strength_puts_tail_first_and_says_why(ds):
    cands = make_cands(ds)
    out = rerank(cands, ds, RerankConfig(method="tail_bonus", strength=1.0), k=10)
    tail = np.asarray(ds.is_tail)
    for row in range(cands.n_users):
        cand_tail = tail[cands.items[row]]
        expected = min(10, int(cand_tail.sum()))
        assert tail[out.items[row]].sum() == expected
        # tail items keep the model's relative order
        picked = out.items[row][tail[out.items[row]]]
        ranks = [int(np.flatnonzero(cands.items[row] == i)[0]) for i in picked]
        assert ranks == sorted(ranks)
    moved = out.boosted
    assert moved.any()
    assert set(out.reason[moved]) == {"tail bonus"}
    assert (out.base_rank[moved] > np.arange(1, 11)[None, :].repeat(cands.n_users, 0)[moved]).all()
    assert (out.reason[~moved] == "").all()
    np.testing.assert_allclose(out.base_score, np.take_along_axis(
        cands.scores, out.base_rank - 1, axis=1))


@pytest.mark.parametrize("method", ["tail_bonus", "pop_penalty", "promotion"])
def test_tail_share_grows_with_strength_on_hand_made_lists(ds, method):
    cands = make_cands(ds, n_users=30, c=30)
    shares = [tail_share(ds, rerank(cands, ds, RerankConfig(method=method, strength=s), k=10))
              for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(shares)), shares
    assert shares[-1] > shares[0]


def test_promotion_quota_is_met_at_the_bottom(ds):
    cands = make_cands(ds)
    tail = np.asarray(ds.is_tail)
    before = tail[cands.items[:, :10]].sum(axis=1)
    cfg = RerankConfig(method="promotion", strength=1.0, quota_share=0.4)
    out = rerank(cands, ds, cfg, k=10)
    after = tail[out.items].sum(axis=1)
    available = tail[cands.items].sum(axis=1)
    assert (after >= np.minimum(4, available)).all()
    assert (after == np.maximum(before, np.minimum(4, available))).all()  # no more than needed
    for row in range(cands.n_users):
        promoted = np.flatnonzero(out.reason[row] == "promotion quota")
        n_new = int(after[row] - before[row])
        assert list(promoted) == list(range(10 - n_new, 10))  # the lowest-value slots
        kept = out.items[row][: 10 - n_new]
        np.testing.assert_array_equal(kept, [i for i in cands.items[row, :10] if i in kept])


def test_promotion_of_a_category_cluster_and_item_set(ds):
    cands = make_cands(ds)
    cats = ds.catalog["category"].to_numpy()
    out = rerank(cands, ds, RerankConfig(method="promotion", strength=1.0, quota_share=0.5,
                                         target="category", target_value="Toys"), k=10)
    available = (cats[cands.items] == "Toys").sum(axis=1)
    assert ((cats[out.items] == "Toys").sum(axis=1) >= np.minimum(5, available)).all()
    assert (available >= 5).mean() > 0.5
    clusters = np.arange(ds.n_items) % 4
    out = rerank(cands, ds, RerankConfig(method="promotion", strength=1.0, quota_share=0.3,
                                         target="cluster", target_value="2"), k=10,
                 context=RerankContext(ds, item_clusters=clusters))
    available = (clusters[cands.items] == 2).sum(axis=1)
    assert ((clusters[out.items] == 2).sum(axis=1) >= np.minimum(3, available)).all()
    chosen = {int(i) for i in cands.items[0, 15:20]}
    out = rerank(cands, ds, RerankConfig(method="promotion", strength=1.0, quota_share=0.2,
                                         target="item_set", target_value="picks"), k=10,
                 context=RerankContext(ds, item_set=chosen))
    assert sum(int(i) in chosen for i in out.items[0]) >= 2
    with pytest.raises(ValueError, match="item set"):
        rerank(cands, ds, RerankConfig(method="promotion", strength=1.0, target="item_set",
                                       target_value="picks"), k=10)
    with pytest.raises(ValueError, match="map"):
        rerank(cands, ds, RerankConfig(method="promotion", strength=1.0, target="cluster",
                                       target_value="1"), k=10)


def test_global_allocation_spends_the_same_budget_where_it_is_cheapest(ds):
    cands = make_cands(ds, n_users=40, c=30, seed=3)
    tail = np.asarray(ds.is_tail)
    cfg = RerankConfig(method="promotion", strength=0.5, quota_share=0.4, allocation="global")
    out = rerank(cands, ds, cfg, k=10)
    before = tail[cands.items[:, :10]].sum(axis=1)
    per_user = rerank(cands, ds, cfg.model_copy(update={"allocation": "per_user"}), k=10)
    assert tail[out.items].sum() == tail[per_user.items].sum()  # as many promoted slots
    assert (tail[out.items].sum(axis=1) <= np.maximum(4, before)).all()  # never past the quota
    assert len(np.unique(tail[out.items].sum(axis=1))) > 1      # but spread unevenly


@pytest.mark.parametrize("swap_cost", ["gap", "ratio"])
def test_both_allocations_spend_one_tail_budget_at_every_strength(ds, swap_cost):
    """A strength means one budget: at every strength the global allocation promotes as many
    slots as the per-user one (give or take one per list that cannot take a slot), whose total
    is the lists' needs (quota = strength × quota share × K less the targets a list holds)
    summed, rounded once, each list getting its need rounded down or up; both reach the
    same tail count, and the budget grows with the strength."""
    cands = make_cands(ds, n_users=60, c=30, seed=5)
    tail = np.asarray(ds.is_tail)
    have = tail[cands.items[:, :10]].sum(axis=1)
    for share in (0.3, 0.5):
        counts = []
        for strength in (0.1, 0.25, 0.35, 0.5, 0.7, 0.85, 1.0):
            cfg = RerankConfig(method="promotion", strength=strength, quota_share=share,
                               swap_cost=swap_cost)
            per_user = rerank(cands, ds, cfg, k=10)
            global_ = rerank(cands, ds, cfg.model_copy(update={"allocation": "global"}), k=10)
            slots = per_user.boosted.sum(axis=1)
            available = np.minimum(tail[cands.items[:, 10:]].sum(axis=1), 10 - have)
            need = np.clip(strength * share * 10 - have, 0, available)
            assert ((slots == np.floor(need)) | (slots == np.ceil(need))).all()
            assert abs(slots.sum() - need.sum()) <= 0.5 + 1e-6  # rounded once, not per list
            stuck = int((available == 0).sum())  # lists with no target to bring in
            assert abs(int(global_.boosted.sum()) - int(slots.sum())) <= stuck
            assert tail[global_.items].sum() - tail[per_user.items].sum() == (
                int(global_.boosted.sum()) - int(slots.sum()))
            counts.append(int(slots.sum()))
        assert counts == sorted(counts) and len(set(counts)) == len(counts), counts


def test_ratio_swap_cost_gives_the_slot_to_the_smallest_relative_loss(ds):
    """Three lists, K = 2, a quota of one slot a list (two at full strength): A and B lack a
    tail item, so the budget is two slots; C already has one and could take a second. By score
    gap B (0.3 → 0.1) and C (0.5 → 0.2) are cheaper than A (0.9 → 0.45); by score ratio A (× 2)
    and C (× 2.5) are cheaper than B (× 3)."""
    head = np.flatnonzero(~np.asarray(ds.is_tail))
    tail = np.flatnonzero(ds.is_tail)
    items = np.array([[head[0], head[1], tail[0], head[2]]] * 2
                     + [[tail[1], head[0], tail[2], head[1]]], dtype=np.int64)
    scores = np.array([[1.0, 0.9, 0.45, 0.0], [1.0, 0.3, 0.1, 0.0], [1.0, 0.5, 0.2, 0.0]],
                      dtype=np.float32)
    cands = Candidates(np.arange(3), items, scores)
    cfg = RerankConfig(method="promotion", strength=0.5, quota_share=1.0, allocation="global")
    gap = rerank(cands, ds, cfg, k=2)
    ratio = rerank(cands, ds, cfg.model_copy(update={"swap_cost": "ratio"}), k=2)
    per_user = rerank(cands, ds, cfg.model_copy(update={"allocation": "per_user"}), k=2)
    np.testing.assert_array_equal(per_user.items, [[head[0], tail[0]], [head[0], tail[0]],
                                                   [tail[1], head[0]]])
    np.testing.assert_array_equal(gap.items, [[head[0], head[1]], [head[0], tail[0]],
                                              [tail[1], tail[2]]])
    np.testing.assert_array_equal(ratio.items, [[head[0], tail[0]], [head[0], head[1]],
                                                [tail[1], tail[2]]])
    assert gap.boosted.sum() == ratio.boosted.sum() == per_user.boosted.sum() == 2
    assert ratio.reason[0, 1] == "promotion quota" and not ratio.boosted[1].any()


def test_ratio_swap_values_handle_non_positive_scores():
    from recsys.rerank.lists import WorkingLists
    from recsys.rerank.methods import swap_values

    scores = np.array([[2.0, 1.0, -0.5, -np.inf], [-1.0, -2.0, -3.0, -4.0]], dtype=np.float32)
    items = np.array([[0, 1, 2, -1], [0, 1, 2, 3]], dtype=np.int64)
    lists = WorkingLists.start(Candidates(np.arange(2), items, scores))
    v = swap_values(lists, "ratio")
    assert np.isfinite(v[items >= 0]).all() and np.isneginf(v[0, 3])
    np.testing.assert_allclose(v[0, :3], [0.0, np.log(0.5), np.log(1e-4)], rtol=1e-6)
    assert (np.diff(v[1]) < 0).all()           # all-negative list: still ordered by score
    with pytest.raises(ValueError, match="swap cost"):
        swap_values(lists, "bogus")


def test_ratio_allocation_grows_tail_share_with_strength(ds):
    cands = make_cands(ds, n_users=30, c=30)
    cfg = RerankConfig(method="promotion", allocation="global", swap_cost="ratio")
    shares = [tail_share(ds, rerank(cands, ds, cfg.model_copy(update={"strength": s}), k=10))
              for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(shares)), shares
    assert shares[-1] > shares[0]
    np.testing.assert_array_equal(rerank(cands, ds, cfg, k=10).items, cands.items[:, :10])


def test_pins_land_at_their_position_and_blocked_items_never_appear(ds):
    cands = make_cands(ds)
    tail = np.flatnonzero(ds.is_tail)
    pinned_known = str(ds.item_ids[cands.items[0, 12]])          # a candidate from below K
    pinned_new = str(ds.item_ids[tail[-1]])                      # maybe not a candidate at all
    blocked = [str(ds.item_ids[i]) for i in cands.items[0, :3]]
    cfg = RerankConfig(method="tail_bonus", strength=0.3, pins={pinned_known: 1, pinned_new: 4},
                       block=blocked)
    out = rerank(cands, ds, cfg, k=10)
    blocked_pos = ds.item_index.get_indexer(blocked)
    assert not np.isin(out.items, blocked_pos).any()
    seen = ds.matrix.toarray() > 0
    for row, user in enumerate(cands.users):
        for item_id, position in ((pinned_known, 1), (pinned_new, 4)):
            item = ds.item_index.get_loc(item_id)
            if seen[user, item]:
                assert item not in out.items[row]                # never re-recommend history
            else:
                assert out.items[row, position - 1] == item
                assert out.reason[row, position - 1] in ("pinned", "")
        assert len(set(out.items[row][out.items[row] >= 0])) == (out.items[row] >= 0).sum()
    with pytest.raises(ValidationError):
        RerankConfig(pins={"a": 2, "b": 2})
    with pytest.raises(ValidationError):
        RerankConfig(pins={"a": 0})


def test_boost_and_bury_item_sets(ds):
    cands = make_cands(ds)
    boost = [str(ds.item_ids[i]) for i in cands.items[0, 15:17]]
    bury = [str(ds.item_ids[cands.items[0, 0]])]
    out = rerank(cands, ds, RerankConfig(boost=boost, bury=bury), k=10)
    boosted = ds.item_index.get_indexer(boost)
    assert set(out.items[0, :2].tolist()) == set(boosted.tolist())
    assert set(out.reason[0, :2]) == {"boosted set"}
    assert cands.items[0, 0] not in out.items[0]


def test_composition_applies_steps_in_order(ds):
    cands = make_cands(ds)
    first = str(ds.item_ids[cands.items[0, 0]])
    bonus = RerankConfig(method="tail_bonus", strength=1.0)
    pin_head = RerankConfig(pins={first: 1})
    a = rerank(cands, ds, [bonus, pin_head], k=10)
    b = rerank(cands, ds, [pin_head, bonus], k=10)
    assert a.items[0, 0] == cands.items[0, 0]          # pin last: it wins
    if not ds.is_tail[cands.items[0, 0]]:
        assert b.items[0, 0] != cands.items[0, 0]      # bonus last: the tail goes first
    single = rerank(cands, ds, bonus, k=10)
    np.testing.assert_array_equal(rerank(cands, ds, [bonus], k=10).items, single.items)


def test_xquad_and_calibration(ds):
    cands = make_cands(ds, n_users=30, c=30)
    binary = rerank(cands, ds, RerankConfig(method="xquad", strength=1.0, xquad_variant="binary"))
    smooth = rerank(cands, ds, RerankConfig(method="xquad", strength=1.0, xquad_variant="smooth"))
    tail = np.asarray(ds.is_tail)
    hist = ds.matrix[cands.users].toarray() > 0
    both = (hist & tail).any(1) & (hist & ~tail).any(1)
    first_two = tail[binary.items[:, :2]]
    assert (first_two[both].sum(axis=1) == 1).all()  # binary: both classes covered at once
    assert tail_share(ds, smooth) > tail_share(ds, rerank(cands, ds, None))
    # calibration moves each list's category mix towards the user's history mix
    cats = ds.catalog["category"].to_numpy()
    names = np.array(["Kitchen", "Garden", "Toys"])
    hist = (ds.matrix[cands.users].toarray() > 0)
    p = np.stack([(hist & (cats == n)).sum(1) for n in names], 1) / hist.sum(1, keepdims=True)

    def kl(items):
        q = np.stack([(cats[items] == n).mean(1) for n in names], 1) * 0.99 + 0.01 * p
        return np.where(p > 0, p * np.log(np.where(p > 0, p, 1) / np.where(p > 0, q, 1)), 0).sum(1).mean()

    calibrated = rerank(cands, ds, RerankConfig(method="calibrated", strength=0.9), k=10)
    assert kl(calibrated.items) < kl(cands.items[:, :10])
    pop = rerank(cands, ds, RerankConfig(method="calibrated", strength=0.9,
                                         calibrate_on="popularity"), k=10)
    assert pop.items.shape == (30, 10)
    no_cats = synthetic_dataset(categories=False)
    with pytest.raises(ValueError, match="category"):
        rerank(make_cands(no_cats), no_cats, RerankConfig(method="calibrated", strength=0.5))


def test_configs_are_strict():
    with pytest.raises(ValidationError):
        RerankConfig(method="tail_bonus", strength=1.5)
    with pytest.raises(ValidationError):
        RerankConfig(method="nope", strength=0.5)
    with pytest.raises(ValidationError):
        RerankConfig(method="tail_bonus", strength=0.5, typo=1)
    with pytest.raises(ValidationError, match="target_value"):
        RerankConfig(method="promotion", strength=0.5, target="cluster")


def test_candidates_from_a_model_measure_frontier_and_preview(ds):
    from recsys.data.splits import SplitConfig, split_dataset
    from recsys.models import create_model

    split = split_dataset(ds, SplitConfig(method="random", seed=0))
    model = create_model("ease").fit(split.train, device="cpu")
    cands = candidates_from_model(model, split.train, split.test_users, c=25)
    assert cands.items.shape == (len(split.test_users), 25)
    seen = split.train.matrix[split.test_users].toarray() > 0
    assert cands.pool == 25 < split.train.n_items - seen.sum(axis=1).max()
    wide = candidates_from_model(model, split.train, split.test_users, c=split.train.n_items + 5)
    assert wide.c == split.train.n_items  # as wide as the catalog, padded past the unseen…
    assert wide.pool == split.train.n_items - seen.sum(axis=1).min() < wide.c  # …so fewer real
    rows = np.arange(cands.n_users)[:, None]
    assert not seen[rows, np.maximum(cands.items, 0)][cands.items >= 0].any()
    assert (np.diff(np.where(cands.items >= 0, cands.scores, -np.inf), axis=1) <= 0).all()
    base, _ = model.recommend(split.test_users, 10)
    np.testing.assert_array_equal(cands.top(10), base)
    everything = candidates_from_model(model, ds, split.test_users, c=25, exclude=ds.matrix)
    full_seen = ds.matrix[split.test_users].toarray() > 0
    assert not full_seen[rows, np.maximum(everything.items, 0)][everything.items >= 0].any()

    result = rerank(cands, split.train, RerankConfig(method="tail_bonus", strength=0.5))
    metrics = measure(result, split.train, split.test, cands.users)
    assert {"ndcg", "recall", "aplt", "arp", "coverage", "gini", "novelty"} <= set(metrics)
    shares = exposure(result, split.train, "category")
    assert shares.sum() == pytest.approx(1.0)
    table = exposure_table(cands.top(10), result, split.train, "segment")
    assert {"baseline", "current", "change"} <= set(table.columns)
    assert exposure(result, split.train, "cluster") is None
    curve = frontier(cands, split.train, split.test, methods=["tail_bonus", "promotion"],
                     strengths=(0.0, 0.5, 1.0))
    assert len(curve) == 6 and (curve.loc[curve.strength == 0, "ndcg"].nunique() == 1)
    best = best_within(curve, 0.05)
    assert set(best["method"]) == {"tail_bonus", "promotion"}
    frame = preview_frame(cands, result, split.train, 0)
    assert list(frame["rank"]) == list(range(1, 11))
    assert {"model's item", "re-ranked item", "tail", "reason"} <= set(frame.columns)
