"""What-if page (AppTest): no model → a hint; with a kept model, moving the strength slider
changes the metrics, the curve and the preview; calibration without categories is explained."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from recsys import Workspace
from recsys.data.splits import SplitConfig
from recsys.jobs import train_models
from recsys.rerank import RERANK_POOL
from tests.app_support import open_page
from tests.test_rerank import synthetic_dataset

pytestmark = pytest.mark.usefixtures("navigation_apptest")


def _workspace_with(workspace_dir, *, categories: bool = True, train: bool = True,
                    n_items: int = 80) -> None:
    ws = Workspace(workspace_dir)
    ds = synthetic_dataset(n_users=150, n_items=n_items, seed=2, categories=categories,
                           name="small-shop")
    ws.save_dataset(ds, source="test", activate=True)
    if train:
        job = train_models(ds, {"ease": {}}, split=SplitConfig(method="random", seed=0),
                           workspace=ws)
        assert job.status == "done", job.message


def _whatif(workspace_dir) -> AppTest:
    return open_page("whatif", timeout=120)


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_no_trained_model_gives_a_hint(workspace_dir):
    _workspace_with(workspace_dir, train=False)
    at = _whatif(workspace_dir)
    assert any("No trained model" in i.value for i in at.info)
    assert not at.metric


def test_strength_slider_changes_the_metrics(workspace_dir):
    _workspace_with(workspace_dir)
    at = _whatif(workspace_dir)
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="whatif_model").value == "ease"
    at.selectbox(key="whatif_method").set_value("tail_bonus")
    at.slider(key="whatif_strength").set_value(0.0).run()
    assert not at.exception
    labels = {m.label for m in at.metric}
    assert {"NDCG@K", "Recall@K", "Tail share (APLT)", "Popularity (ARP)", "Coverage", "Gini (exposure)",
            "Novelty"} <= labels
    zero = _metric(at, "Tail share (APLT)")
    assert all(m.delta in (None, "") for m in at.metric)  # strength 0: the model's own lists
    at.slider(key="whatif_strength").set_value(1.0).run()
    assert not at.exception and not at.error
    assert float(_metric(at, "Tail share (APLT)")) > float(zero)
    assert any("tail bonus" in str(v) for v in at.dataframe[-1].value["reason"])
    assert any("re-ranked and measured" in c.value for c in at.caption)

    at.selectbox(key="whatif_method").set_value("promotion").run()
    assert not at.exception and not at.error
    at.radio(key="whatif_alloc").set_value("global").run()
    assert not at.exception and not at.error
    assert float(_metric(at, "Tail share (APLT)")) > float(zero)

    at.selectbox(key="whatif_method").set_value("calibrated").run()
    assert not at.exception and not at.error
    assert not at.radio(key="whatif_calibrate").disabled  # this shop has categories


def _pool_caption(at: AppTest) -> int:
    caption = next(c.value for c in at.caption if "candidates per user" in c.value)
    return int(re.search(r"top-(\d+) candidates per user", caption).group(1))


def test_the_caption_states_the_re_ranked_pool(workspace_dir):
    """The page re-ranks pools of RERANK_POOL; a catalog with fewer unseen items shows how many
    candidates there really are, never more than it holds."""
    _workspace_with(workspace_dir, n_items=RERANK_POOL + 60)
    at = _whatif(workspace_dir)
    assert not at.exception and not at.error
    assert _pool_caption(at) == RERANK_POOL


def test_a_small_catalog_states_its_real_pool(workspace_dir):
    _workspace_with(workspace_dir)
    at = _whatif(workspace_dir)
    assert not at.exception and not at.error
    assert 0 < _pool_caption(at) < 80 < RERANK_POOL


def test_calibration_without_categories_is_explained(workspace_dir):
    _workspace_with(workspace_dir, categories=False)
    at = _whatif(workspace_dir)
    at.selectbox(key="whatif_method").set_value("calibrated").run()
    assert not at.exception and not at.error
    assert any("no category column" in w.value for w in at.warning)
    assert at.radio(key="whatif_calibrate").disabled
    assert any("exposure by category is not available" in i.value for i in at.info)


def test_best_setting_within_the_budget_is_offered_and_applied(workspace_dir):
    _workspace_with(workspace_dir)
    at = _whatif(workspace_dir)
    at.selectbox(key="whatif_method").set_value("tail_bonus")
    at.slider(key="whatif_strength").set_value(0.0).run()
    assert not at.exception and not at.error
    best = next(d.value for d in at.dataframe if "NDCG loss" in d.value.columns)
    assert len(best) >= 4 and best["tail share (APLT)"].is_monotonic_decreasing
    assert (best["NDCG loss"] <= 0.05 + 1e-9).all()  # the default budget
    at.slider(key="whatif_budget").set_value(20).run()
    looser = next(d.value for d in at.dataframe if "NDCG loss" in d.value.columns)
    assert (looser["NDCG loss"] <= 0.20 + 1e-9).all()
    assert looser["tail share (APLT)"].max() >= best["tail share (APLT)"].max()
    top = looser.iloc[0]
    at.button(key="whatif_use_best").click().run()
    assert not at.exception and not at.error
    assert at.slider(key="whatif_strength").value == pytest.approx(top["strength"])
    assert float(_metric(at, "Tail share (APLT)")) == pytest.approx(top["tail share (APLT)"], abs=1e-3)


def test_expected_cost_of_a_slot_fits_a_hit_model_and_keeps_the_budget(workspace_dir):
    _workspace_with(workspace_dir)
    at = _whatif(workspace_dir)
    at.selectbox(key="whatif_method").set_value("promotion")
    at.slider(key="whatif_strength").set_value(0.6).run()
    at.radio(key="whatif_alloc").set_value("global").run()
    assert not at.exception and not at.error
    assert at.radio(key="whatif_swap_cost").options == ["score gap", "score ratio",
                                                        "expected NDCG loss"]
    gap = float(_metric(at, "Tail share (APLT)"))
    at.radio(key="whatif_swap_cost").set_value("expected").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    # the same number of promoted slots, spent on other lists
    assert float(_metric(at, "Tail share (APLT)")) == pytest.approx(gap, abs=0.02)
    assert any("promotion quota" in str(v) for v in at.dataframe[-1].value["reason"])
    # the trade-off sweep ran with the hit model: the promotion is in the best-settings table
    best = next(d.value for d in at.dataframe if "NDCG loss" in d.value.columns)
    assert "Promotion quota" in set(best["method"])
    # a second opinion for the hit model: the same budget, spent by the sharper hit chances
    assert at.selectbox(key="whatif_opinion").options == ["none", "Mult-VAE",
                                                         "BPR, popularity-debiased (MACR)",
                                                         "item-kNN"]
    at.selectbox(key="whatif_opinion").set_value("itemknn").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert float(_metric(at, "Tail share (APLT)")) == pytest.approx(gap, abs=0.02)
    assert any("item-kNN's opinion too" in c.value for c in at.caption)


def test_use_the_best_sets_the_widgets_without_a_session_state_warning(workspace_dir, monkeypatch):
    """The strength slider's value lives in session state only, so the button that moves it
    never makes Streamlit warn about a widget given a default and a session-state value."""
    from streamlit.elements.lib import policies

    warned: list[str] = []
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    monkeypatch.setattr(policies._LOGGER, "warning",
                        lambda msg, *args, **kw: warned.append(msg % args))
    _workspace_with(workspace_dir)
    at = _whatif(workspace_dir)
    at.selectbox(key="whatif_method").set_value("tail_bonus").run()
    top = next(d.value for d in at.dataframe if "NDCG loss" in d.value.columns).iloc[0]
    at.button(key="whatif_use_best").click().run()
    assert not at.exception and not at.error
    assert at.slider(key="whatif_strength").value == pytest.approx(top["strength"])
    at.slider(key="whatif_strength").set_value(0.25).run()  # the slider still moves by hand
    assert at.slider(key="whatif_strength").value == pytest.approx(0.25)
    assert not [w for w in warned if "default value" in w], warned


def _budget(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Promotes "))


def _slots(text: str) -> list[int]:
    """Slots promoted by the active allocation, then by the other one, from the caption."""
    return [int(n.replace(",", "")) for n in re.findall(r"([\d,]+) slots \(", text)]


def test_the_caption_states_each_allocations_budget(workspace_dir):
    """At strength 0.5 with a quota share of 0.5 and K = 10 a list's quota is 2.5 slots: the
    per-user allocation rounds each list's need down or up keeping the total, and the global one
    spends exactly as many slots, where they cost least. The caption names the active allocation
    and target and both budgets, they are equal, and so are the tail shares."""
    _workspace_with(workspace_dir)
    at = _whatif(workspace_dir)
    at.selectbox(key="whatif_method").set_value("promotion")
    at.slider(key="whatif_strength").set_value(0.5).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    per_user = _budget(at)
    assert "Promotes tail items with allocation 'same quota in every list'" in per_user
    assert "'same total, where it costs least' (score gap) would promote" in per_user
    assert "strength × quota share × K = 2.5 slots a list" in per_user
    mine, other = _slots(per_user)
    assert mine == other > 0  # one tail budget, whichever allocation
    tail_per_user = float(_metric(at, "Tail share (APLT)"))
    at.radio(key="whatif_alloc").set_value("global").run()
    assert not at.exception and not at.error
    global_ = _budget(at)
    assert global_.startswith("Promotes tail items with allocation 'same total, where it costs "
                              "least' (score gap)")
    assert _slots(global_) == [other, mine]
    # one promoted slot is one more tail item: the same budget gives the same tail share
    assert float(_metric(at, "Tail share (APLT)")) == pytest.approx(tail_per_user, abs=1e-3)


def test_the_best_kept_model_by_validation_ndcg_is_preselected(workspace_dir):
    """Models kept one after the other: the picker starts on the best by NDCG, not the newest."""
    from tests.test_rerank import synthetic_dataset

    ws = Workspace(workspace_dir)
    ds = synthetic_dataset(n_users=120, n_items=60, seed=4, name="small-shop")
    ws.save_dataset(ds, source="test", activate=True)
    for name in ("pop", "ease", "itemknn"):
        job = train_models(ds, {name: {}}, split=SplitConfig(method="random", seed=0), workspace=ws)
        assert job.status == "done", job.message
    runs = ws.kept_runs("small-shop")
    ndcg = {m.run: m.results.metric("ndcg") for m in runs}
    best = max(ndcg, key=ndcg.get)
    newest = max(runs, key=lambda m: m.saved_at).run
    assert best != newest  # else this test could not tell them apart
    at = _whatif(workspace_dir)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="whatif_model").value == best


def test_export_this_setting_hands_it_to_the_export_page(workspace_dir):
    """What-if → Export: the method, strength, allocation and quota arrive in Export's widgets,
    and Export shows the figures that setting gives on the validation split (What-if's own)."""
    _workspace_with(workspace_dir)
    at = _whatif(workspace_dir)
    at.selectbox(key="whatif_method").set_value("promotion").run()
    at.slider(key="whatif_strength").set_value(0.4)
    at.slider(key="whatif_share").set_value(0.7)
    at.radio(key="whatif_alloc").set_value("global").run()
    assert not at.exception and not at.error
    aplt = _metric(at, "Tail share (APLT)")
    at.button(key="whatif_to_export").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="export_method").value == "promotion"
    assert at.slider(key="export_strength").value == pytest.approx(0.4)
    assert at.radio(key="export_alloc").value == "global"
    assert any("quota share **0.7**" in c.value for c in at.caption), [c.value for c in at.caption]
    assert any(m.value.startswith("**Expected with this setting**") for m in at.markdown)
    assert _metric(at, "Tail share (APLT)") == aplt
    assert "of the model's lists" in next(m.delta for m in at.metric
                                          if m.label == "Tail share (APLT)")
    at.button(key="export_drop_handoff").click().run()  # back to the page's own options
    assert not any("quota share" in c.value for c in at.caption)


def test_deltas_are_shown_as_a_share_of_the_unboosted_value(workspace_dir):
    _workspace_with(workspace_dir)
    at = _whatif(workspace_dir)
    at.selectbox(key="whatif_method").set_value("tail_bonus")
    at.slider(key="whatif_strength").set_value(0.0).run()
    base = float(_metric(at, "NDCG@K"))
    at.slider(key="whatif_strength").set_value(1.0).run()
    metric = next(m for m in at.metric if m.label == "NDCG@K")
    assert metric.delta.endswith("%") and metric.delta.startswith("-")
    assert float(metric.delta.rstrip("%")) == pytest.approx(
        100 * (float(metric.value) - base) / base, abs=0.2)  # the shown values are rounded


def test_a_low_bound_measures_a_seeded_sample_and_shows_the_bands(workspace_copy, monkeypatch):
    """The demo shop's evaluation users bounded to 200: the page names the sample and its seed,
    every figure has its 95 % band, and the band of a change is paired (zero at strength 0)."""
    from recsys.data.splits import SplitConfig as Cfg
    from recsys.data.splits import split_dataset

    monkeypatch.setenv("TAILSTUDIO_EVAL_USERS", "200")
    ds = Workspace(workspace_copy).load_dataset(Workspace(workspace_copy).active_name())
    total = len(split_dataset(ds, Cfg(method="random", seed=0)).test_users)
    at = _whatif(workspace_copy)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(f"Measured on 200 of {total:,} customers, seed 0" in c.value for c in at.caption)
    assert any("200 users re-ranked and measured" in c.value for c in at.caption)
    at.selectbox(key="whatif_method").set_value("tail_bonus")
    at.slider(key="whatif_strength").set_value(0.0).run()
    bands = [c.value for c in at.caption if c.value.startswith("95 %:")]
    assert len(bands) == 7 and not any("change" in b for b in bands)  # own lists: no change
    at.slider(key="whatif_strength").set_value(1.0).run()
    assert not at.exception and not at.error
    aplt = next(c.value for c in at.caption if c.value.startswith("95 %:") and "change" in c.value)
    low, high = (float(x) for x in re.findall(r"(-?\d+\.\d+)", aplt)[:2])
    assert low < high
