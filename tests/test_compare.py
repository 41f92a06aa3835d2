"""Per-user comparison library: RBO / Jaccard on hand-computed cases, segments, history."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys import build_dataset
from recsys.data.segments import SegmentConfig, find_user, user_activity, user_history, user_segments
from recsys.evaluation import jaccard, overlap_table, rank_biased_overlap, tail_counts
from recsys.rerank.preview import score_breakdown


def test_jaccard_hand_computed():
    assert jaccard([1, 2, 3], [2, 3, 4]) == pytest.approx(2 / 4)
    assert jaccard(["a"], ["b"]) == 0.0
    assert jaccard([1, 2, -1, -1], [2, 1]) == 1.0  # padding is ignored
    assert jaccard([], []) == 1.0


def test_rbo_hand_computed_same_length():
    p = 0.9
    # a = [1,2,3], b = [1,3,2]: X_1 = 1, X_2 = 1, X_3 = 3
    expected = (1 - p) / p * (1 * p + 0.5 * p**2 + 1 * p**3) + 1 * p**3
    assert rank_biased_overlap([1, 2, 3], [1, 3, 2], p) == pytest.approx(expected)
    assert expected == pytest.approx(0.955)
    # reversed order: X_1 = 0, X_2 = |{1, 2} ∩ {3, 2}| = 1, X_3 = 3
    expected_rev = (1 - p) / p * (0.5 * p**2 + p**3) + p**3
    assert expected_rev == pytest.approx(0.855)
    assert rank_biased_overlap([1, 2, 3], [3, 2, 1], p) == pytest.approx(expected_rev)


def test_rbo_bounds_and_symmetry():
    assert rank_biased_overlap(list(range(10)), list(range(10))) == pytest.approx(1.0)
    assert rank_biased_overlap([1, 2, 3], [4, 5, 6]) == 0.0
    a, b = [5, 1, 9, 2, 7], [1, 5, 2, 8, 3]
    assert rank_biased_overlap(a, b) == pytest.approx(rank_biased_overlap(b, a))
    # the same items moved to the top agree more than at the bottom (top-weighted)
    top = rank_biased_overlap([1, 2, 3, 4], [1, 2, 9, 8])
    bottom = rank_biased_overlap([1, 2, 3, 4], [9, 8, 3, 4])
    assert top > bottom
    with pytest.raises(ValueError):
        rank_biased_overlap([1], [1], p=1.0)


def test_rbo_uneven_lengths_hand_computed():
    p = 0.9
    # S = [1, 2] (s = 2), L = [1, 3, 2] (l = 3): X_1 = 1, X_2 = 1, X_3 = 2 = X_l, X_s = 1
    total = 1 / 1 * p + 1 / 2 * p**2 + 2 / 3 * p**3 + 1 * (3 - 2) / (2 * 3) * p**3
    expected = (1 - p) / p * total + ((2 - 1) / 3 + 1 / 2) * p**3
    assert rank_biased_overlap([1, 2], [1, 3, 2], p) == pytest.approx(expected)
    # a prefix of the other list: the extrapolation assumes it would go on agreeing
    assert rank_biased_overlap([1, 2, 3], [1, 2]) == pytest.approx(1.0)


def test_overlap_table_all_pairs():
    table = overlap_table({"a": [1, 2, 3], "b": [1, 2, 3], "c": [4, 5, 6]})
    assert len(table) == 3
    ab = table.query("`list A` == 'a' and `list B` == 'b'").iloc[0]
    assert ab["jaccard"] == 1.0 and ab["rbo"] == pytest.approx(1.0) and ab["shared"] == 3
    assert table.query("`list B` == 'c'")["jaccard"].eq(0).all()


def _toy_dataset():
    # 10 users; user u interacts with items 0..u (so user 9 is heaviest, user 0 lightest);
    # items 0-1 are very popular (head), the rest tail.
    rows = []
    for u in range(10):
        for i in range(u + 1):
            rows.append((f"u{u}", f"i{i}", pd.Timestamp("2024-01-01") + pd.Timedelta(days=i)))
    # tail lover: user 2 buys tail items only (besides the ones above it also has 7, 8, 9)
    rows += [("u2", "i7", pd.Timestamp("2024-02-01")), ("u2", "i8", pd.Timestamp("2024-02-02")),
             ("u2", "i9", pd.Timestamp("2024-02-03"))]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    catalog = pd.DataFrame({"item_id": [f"i{i}" for i in range(10)],
                            "title": [f"Item {i}" for i in range(10)],
                            "category": ["A"] * 5 + ["B"] * 5})
    return build_dataset(inter, catalog, name="toy")


def test_segments_vectorised_and_deterministic():
    ds = _toy_dataset()
    counts = np.diff(ds.matrix.indptr)
    seg = user_segments(ds.matrix, ds.is_tail, SegmentConfig(share=0.2, min_history=2))
    assert list(seg["heavy"]) == list(np.argsort(-counts, kind="stable")[:2])
    assert counts[seg["heavy"]].min() >= counts.max() - 1
    assert set(seg["cold_start"]) == {0, 1}  # fewest interactions
    # light = below the median, without the cold-start users
    assert set(seg["light"]).isdisjoint(seg["cold_start"])
    # counts: u0 1, u1 2, u3 4, u4 5, u2 6 (u2 and u5 tie at 6; ties go by position)
    assert set(seg["light"]) == {2, 3, 4}
    # tail lovers: the highest tail share among users with ≥ 2 items
    act = user_activity(ds.matrix, ds.is_tail)
    best = act.loc[act["items"] >= 2, "tail_share"].max()
    assert act.loc[seg["tail_lovers"][0], "tail_share"] == best
    assert ds.user_ids[seg["tail_lovers"][0]] == "u2"
    again = user_segments(ds.matrix, ds.is_tail, SegmentConfig(share=0.2, min_history=2))
    assert all(np.array_equal(seg[k], again[k]) for k in seg)


def test_segments_on_empty_rows_and_random_matrix():
    rng = np.random.default_rng(0)
    m = sp.random(500, 80, density=0.05, random_state=1, format="csr")
    is_tail = rng.random(80) < 0.7
    seg = user_segments(m, is_tail)
    counts = np.diff(m.indptr)
    assert len(seg["heavy"]) == 50 and len(seg["cold_start"]) == 50
    assert counts[seg["heavy"]].min() >= counts[seg["cold_start"]].max()
    # tail share of the tail lovers is at least that of anyone eligible left out
    act = user_activity(m, is_tail)
    eligible = act.index[act["items"] >= 3]
    left = np.setdiff1d(eligible, seg["tail_lovers"])
    assert act.loc[seg["tail_lovers"], "tail_share"].min() >= act.loc[left, "tail_share"].max()


def test_find_user_and_history():
    ds = _toy_dataset()
    pos = find_user(ds, " u2 ")
    assert ds.user_ids[pos] == "u2"
    with pytest.raises(ValueError, match="No user 'nobody'"):
        find_user(ds, "nobody")
    with pytest.raises(ValueError, match="Type a user id"):
        find_user(ds, "  ")
    hist = user_history(ds, pos)
    assert list(hist["item_id"]) == ["i9", "i8", "i7", "i2", "i1", "i0"]  # newest first
    assert {"title", "category", "is_tail", "last_time"} <= set(hist.columns)
    assert hist.set_index("item_id").loc["i9", "title"] == "Item 9"


def test_tail_counts_and_breakdown():
    ds = _toy_dataset()
    is_tail = ds.is_tail
    items = np.array([[0, 5, 6, -1], [1, 0, -1, -1]])
    assert list(tail_counts(items, is_tail)) == [int(is_tail[5]) + int(is_tail[6]) + int(is_tail[0]),
                                                 int(is_tail[1]) + int(is_tail[0])]
    frame = score_breakdown(ds, items[0], np.array([3.0, 2.0, 1.0, np.nan]),
                            base_score=np.array([0.9, 0.5, 0.4, np.nan]),
                            base_rank=np.array([1, 5, 2, 0]), boosted=np.array([False, True, False, False]),
                            reason=np.array(["", "tail bonus", "", ""], dtype=object))
    assert list(frame["rank"]) == [1, 2, 3]
    assert list(frame["moved"]) == [0, 3, -1]
    assert frame.loc[1, "reason"] == "tail bonus" and frame.loc[1, "boosted"]
