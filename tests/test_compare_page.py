"""Compare page (AppTest): find users by id or segment, lists of two models and a boosted variant."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from recsys import Workspace, build_dataset
from recsys.data.segments import user_segments
from tests.app_support import open_page

pytestmark = pytest.mark.usefixtures("navigation_apptest")


def _compare_page() -> AppTest:
    return open_page("compare", timeout=180)


def _frames(at: AppTest, column: str) -> list:
    return [d.value for d in at.dataframe if column in d.value.columns]


def test_user_by_id_two_models_and_variant(workspace_copy: Path):
    at = _compare_page()
    at.multiselect(key="compare_models").set_value(["pop", "itemknn"])
    at.selectbox(key="compare_method").set_value("tail_bonus").run()
    at.slider(key="compare_strength").set_value(1.0)
    at.text_input(key="compare_user_id").set_value("U00042").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(m.value == "U00042" for m in at.metric)
    lists = [d.value for d in at.dataframe if "#" in d.value.columns]
    assert len(lists) == 4 and all(len(x) == 10 for x in lists)  # 2 models + 2 boosted variants
    overlap = _frames(at, "rbo")[0]
    assert len(overlap) == 6  # every pair of the four lists
    assert overlap["rbo"].between(0, 1).all() and overlap["jaccard"].between(0, 1).all()
    tails = _frames(at, "tail items")[0].set_index("list")
    assert tails.loc["itemknn + Tail bonus (additive) at 1.00", "tail items"] >= tails.loc["itemknn", "tail items"]
    breakdown = _frames(at, "base_rank")
    assert len(breakdown) == 4 and {"base_score", "score", "reason", "moved"} <= set(breakdown[0].columns)
    history = _frames(at, "last_time")[0]
    assert history["last_time"].is_monotonic_decreasing  # newest first
    metrics = {m.label: m.value for m in at.metric}
    counts = history["part"].value_counts()
    assert int(metrics["Training items"]) == counts.get("train", 0)
    assert int(metrics["Held-out items"]) == counts.get("held out", 0) > 0
    # A list item is marked a hit exactly when the user interacted with it in the held-out part
    held_out = set(history.loc[history["part"] == "held out", "title"])
    for frame in lists:
        assert ((frame["hit"] == "✓") == frame["title"].isin(held_out)).all()


def test_unknown_user_id_is_explained(workspace_copy: Path):
    at = _compare_page()
    at.text_input(key="compare_user_id").set_value("no-such-user").run()
    assert not at.exception
    assert any("No user 'no-such-user'" in e.value for e in at.error)


def test_user_from_segment(workspace_copy: Path):
    at = _compare_page()
    at.radio(key="compare_find").set_value("by segment").run()
    at.selectbox(key="compare_segment").set_value("cold_start").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    user = at.selectbox(key="compare_segment_user").value
    ws = Workspace(workspace_copy)
    ds = ws.load_dataset("demo-shop")
    from recsys.data.splits import SplitConfig, split_dataset

    train = split_dataset(ds, SplitConfig(method="random", seed=0)).train
    cold = user_segments(train.matrix, train.is_tail)["cold_start"]
    assert user == int(cold[0])
    assert np.diff(train.matrix.indptr)[user] == np.diff(train.matrix.indptr).min()
    assert any(m.value == str(ds.user_ids[user]) for m in at.metric)


def test_items_seen_below_the_threshold_are_reported(workspace_dir: Path):
    """A ratings dataset: the history notes the films rated below the threshold, none of which
    any list offers back."""
    from recsys import SplitConfig
    from recsys.jobs import TrainingJob
    from tests.test_context import THRESHOLD, _rated

    ds = build_dataset(_rated(), config=THRESHOLD, name="ratings")
    ws = Workspace(workspace_dir)
    ws.save_dataset(ds, activate=True)
    job = TrainingJob(ds, {"pop": {}}, SplitConfig(method="random", seed=0), workspace=ws,
                      device="cpu")
    job.run()
    assert job.status == "done", job.message
    at = _compare_page()
    at.multiselect(key="compare_models").set_value(["pop"])
    at.text_input(key="compare_user_id").set_value("u3").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    below = int(ds.context_matrix[ds.user_index.get_loc("u3")].nnz)
    assert below > 0
    assert any(f"Also seen below the rating threshold: {below:,} items" in c.value
               for c in at.caption)
    lists = [d.value for d in at.dataframe if "#" in d.value.columns]
    assert lists and all(len(x) == 10 for x in lists)
    row = ds.context_matrix[ds.user_index.get_loc("u3")]
    rated_low = set(ds.catalog["title"].to_numpy()[row.indices])
    assert not any(rated_low & set(x["title"]) for x in lists)


def _share(text: str) -> int:
    """The whole percent in a label such as 'U00042 · 12 training items, 67% in the tail'."""
    return int(re.search(r"(\d+)% (?:in the )?tail", text).group(1))


def test_tail_share_of_the_picker_and_the_page_agree(workspace_copy: Path):
    """The user picker and the metric both give the share of the user's training items outside
    the training split's head; both match that share computed here, for several users."""
    from recsys.data.splits import SplitConfig, split_dataset

    ds = Workspace(workspace_copy).load_dataset("demo-shop")
    train = split_dataset(ds, SplitConfig(method="random", seed=0)).train
    at = _compare_page()
    at.multiselect(key="compare_models").set_value(["pop"])
    at.radio(key="compare_find").set_value("by segment").run()
    at.selectbox(key="compare_segment").set_value("tail_lovers").run()
    lovers = user_segments(train.matrix, train.is_tail)["tail_lovers"]
    seen = 0
    for index, member in enumerate(lovers[:6]):
        at.selectbox(key="compare_segment_user").set_value(int(member)).run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        user = at.selectbox(key="compare_segment_user").value
        row = train.matrix[user]
        expected = round(100 * train.is_tail[row.indices].mean())
        metric = next(m.value for m in at.metric if m.label == "Tail share of training items")
        assert _share(at.selectbox(key="compare_segment_user").format_func(user)) == expected
        assert int(metric.rstrip("%")) == expected, (index, metric)
        seen += 1
    assert seen == 6


def test_picked_user_resets_when_the_segment_changes(workspace_copy: Path):
    from recsys.data.splits import SplitConfig, split_dataset

    ds = Workspace(workspace_copy).load_dataset("demo-shop")
    train = split_dataset(ds, SplitConfig(method="random", seed=0)).train
    segments = user_segments(train.matrix, train.is_tail)
    # a tail lover who is also a heavy user, but not the heaviest: it must not carry over
    both = [int(u) for u in segments["tail_lovers"] if u in set(segments["heavy"][1:].tolist())]
    assert both
    at = _compare_page()
    at.multiselect(key="compare_models").set_value(["pop"])
    at.radio(key="compare_find").set_value("by segment").run()
    at.selectbox(key="compare_segment").set_value("tail_lovers").run()
    at.selectbox(key="compare_segment_user").set_value(both[0]).run()
    assert at.selectbox(key="compare_segment_user").value == both[0]
    at.selectbox(key="compare_segment").set_value("heavy").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="compare_segment_user").value == int(segments["heavy"][0])
    assert any(m.value == str(ds.user_ids[segments["heavy"][0]]) for m in at.metric)


def _second_dataset(workspace_dir: Path, models: tuple[str, ...] = ("pop",)) -> None:
    """A small shop beside the demo one, with ``models`` kept (trained in that order)."""
    from recsys import SplitConfig
    from recsys.jobs import train_models
    from tests.test_rerank import synthetic_dataset

    ws = Workspace(workspace_dir)
    ds = synthetic_dataset(n_users=120, n_items=60, seed=4, name="small-shop")
    ws.save_dataset(ds, source="test", activate=False)
    for name in models:  # one job each, so each is saved after the one before
        job = train_models(ds, {name: {}}, split=SplitConfig(method="random", seed=0), workspace=ws)
        assert job.status == "done", job.message


def test_a_sidebar_dataset_switch_shows_the_new_models_at_once(workspace_copy: Path):
    _second_dataset(workspace_copy, ("pop",))
    at = _compare_page()
    assert set(at.multiselect(key="compare_models").value) == {"pop", "itemknn"}
    at.sidebar.selectbox(key="sidebar_dataset").set_value("small-shop").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.multiselect(key="compare_models").value == ["pop"]
    assert not any("Pick at least one model" in i.value for i in at.info)
    lists = [d.value for d in at.dataframe if "#" in d.value.columns]
    assert len(lists) == 2  # pop and its boosted variant, for the new shop's first user
    assert any(m.value == "u000" for m in at.metric)


def test_the_best_kept_models_by_validation_ndcg_are_preselected(workspace_copy: Path):
    """Three kept models, the oldest the best: the two best by NDCG are preselected, not the
    two newest."""
    _second_dataset(workspace_copy, ("pop", "ease", "itemknn"))
    runs = Workspace(workspace_copy).kept_runs("small-shop")
    ndcg = {m.run: m.results.metric("ndcg") for m in runs}
    best_two = sorted(ndcg, key=ndcg.get, reverse=True)[:2]
    newest_two = [m.run for m in sorted(runs, key=lambda m: m.saved_at, reverse=True)][:2]
    assert set(best_two) != set(newest_two)  # else this test could not tell them apart
    at = _compare_page()
    at.sidebar.selectbox(key="sidebar_dataset").set_value("small-shop").run()
    assert not at.exception
    assert at.multiselect(key="compare_models").value == best_two


def test_held_out_figures_on_a_sample_with_bands_and_paired_changes(workspace_copy: Path,
                                                                     monkeypatch):
    """Bounded to 200 evaluation users, the held-out table measures every list on the same
    sample, shows each figure's band and each change against the first model with its band."""
    monkeypatch.setenv("TAILSTUDIO_EVAL_USERS", "200")
    at = _compare_page()
    at.multiselect(key="compare_models").set_value(["pop", "itemknn"])
    at.selectbox(key="compare_method").set_value("none").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(re.search(r"Measured on 200 of [\d,]+ customers, seed 0", c.value)
               for c in at.caption)
    held = _frames(at, "change (95 % band)")[0]
    assert list(held.columns) == ["list", "figure", "value (95 % band)", "change (95 % band)"]
    assert list(dict.fromkeys(held["list"])) == ["pop", "itemknn"]
    table = held[held["figure"] == "NDCG@K"].set_index("list")
    assert table.loc["pop", "change (95 % band)"] == ""  # the baseline
    value, low, high = (float(x) for x in
                        re.findall(r"\d+\.\d+", table.loc["itemknn", "value (95 % band)"]))
    assert low <= value <= high and low < high
    delta, d_low, d_high = (float(x) for x in re.findall(
        r"[+-]\d+\.\d+", table.loc["itemknn", "change (95 % band)"]))
    assert d_low <= delta <= d_high
    pop_value = float(table.loc["pop", "value (95 % band)"].split()[0])
    assert delta == pytest.approx(value - pop_value, abs=2e-4)
