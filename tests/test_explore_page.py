"""Explore page (AppTest): empty states (no kept model, no timestamps), a short simulation run
in the background → metrics, curves with bands and the off-policy estimate beside it; a bad
feedback log gives one message and keeps what is shown; a good one gives the estimate table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from recsys import Workspace
from recsys.data.dataset import build_dataset
from recsys.data.splits import SplitConfig
from recsys.jobs import train_models
from tests.app_support import kept_ease_shop, open_page

pytestmark = pytest.mark.usefixtures("navigation_apptest")

METRICS = {"Hits", "Tail items discovered", "Tail exposure", "Regret vs best list",
           "OPE cost per slot (DR)"}


def _explore() -> AppTest:
    return open_page("explore", timeout=120)


def _log_table(at: AppTest) -> pd.DataFrame:
    """The estimate table of the uploaded log (the only one with estimators on this run)."""
    return next(d.value for d in at.dataframe if "estimator" in d.value.columns)


def _simulate(at: AppTest, *, policy: str = "epsilon", days: int = 5, seeds: int = 2) -> AppTest:
    at.selectbox(key="explore_policy").set_value(policy)
    at.slider(key="explore_weight").set_value(0.5)
    at.number_input(key="explore_days").set_value(days)
    at.number_input(key="explore_seeds").set_value(seeds).run()
    at.button(key="explore_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    job = at.session_state["explore_job"][0]
    job.join(timeout=90)
    assert job.status == "done", job.error
    return at.run()


def test_no_kept_model_gives_a_hint(workspace_dir):
    from tests.test_rerank import synthetic_dataset

    ws = Workspace(workspace_dir)
    ws.save_dataset(synthetic_dataset(name="small-shop"), source="test", activate=True)
    at = _explore()
    assert any("No trained model" in i.value for i in at.info)
    assert not at.metric and not at.button


def test_data_without_timestamps_is_explained(workspace_dir):
    from tests.test_rerank import synthetic_dataset

    ws = Workspace(workspace_dir)
    timed = synthetic_dataset(name="flat")
    flat = build_dataset(timed.interactions.drop(columns="timestamp"), timed.catalog, name="flat")
    ws.save_dataset(flat, source="test", activate=True)
    job = train_models(flat, {"pop": {}}, split=SplitConfig(method="random", seed=0), workspace=ws)
    assert job.status == "done", job.message
    at = _explore()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("no timestamps" in i.value and "Catalog" in i.value for i in at.info)
    assert not [b for b in at.button if b.key == "explore_run"]
    assert at.button(key="explore_export_run")  # exports work without time


def test_simulation_shows_curves_metrics_and_the_estimate(workspace_dir):
    kept_ease_shop(workspace_dir)
    at = _explore()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="explore_model").value == "ease"
    at = _simulate(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Simulation done" in s.value for s in at.success)
    assert {m.label for m in at.metric} >= METRICS
    assert any("biased toward the logging policy" in i.value for i in at.info)
    charts = at.get("plotly_chart")
    assert len(charts) >= 2
    ope = next(d.value for d in at.dataframe if "estimator" in d.value.columns)
    assert list(ope["estimator"]) == ["IPS", "SNIPS (self-normalised)", "Doubly robust (DR)"]
    assert (ope["95 % low"] <= ope["value per slot"]).all()
    assert (ope["value per slot"] <= ope["95 % high"]).all()
    totals = next(d.value for d in at.dataframe if "seeds" in d.value.columns)
    assert dict(zip(totals["policy"], totals["seeds"], strict=True)) == {
        "ε-greedy (tail slots)": 2, "Model's own lists (greedy)": 1}
    # a second run with another weight reuses the fitted model (no refit)
    prepared = at.session_state["explore_prepared"][1]
    assert prepared.updated
    assert any("updated with each day's purchases" in m.value for m in at.markdown)
    at = _simulate(at, seeds=1)
    assert at.session_state["explore_prepared"][1] is prepared
    at.toggle(key="explore_online").set_value(False)  # a stale model: prepared again
    at = _simulate(at, seeds=1)
    assert not at.session_state["explore_prepared"][1].updated
    assert any("stayed as fitted before the replayed days" in m.value for m in at.markdown)


def test_bad_feedback_log_gives_a_message_and_keeps_what_is_shown(workspace_dir):
    _, ds = kept_ease_shop(workspace_dir)
    at = _explore()
    at.selectbox(key="explore_policy").set_value("epsilon").run()
    users = ds.user_ids[:20].astype(str)
    items = ds.item_ids[:10].astype(str)
    good = pd.DataFrame({"user_id": [u for u in users for _ in range(3)],
                         "item_id": [items[(i + j) % 10] for i in range(20) for j in range(3)],
                         "position": [j + 1 for _ in range(20) for j in range(3)],
                         "propensity": 0.5, "reward": [int((i + j) % 4 == 0) for i in range(20)
                                                      for j in range(3)]})
    at.file_uploader(key="explore_log").set_value(("log.csv", good.to_csv(index=False).encode(),
                                                    "text/csv"))
    at.run()
    at.button(key="explore_estimate").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = _log_table(at)
    assert list(table["estimator"]) == ["IPS", "SNIPS (self-normalised)", "Doubly robust (DR)"]
    assert table["ESS"].gt(0).all()

    bad = good.assign(propensity=1.5)
    at.file_uploader(key="explore_log").set_value(("bad.csv", bad.to_csv(index=False).encode(),
                                                    "text/csv"))
    at.run()
    at.button(key="explore_estimate").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "propensity must be above 0 and at most 1" in errors[0]
    assert "bad.csv" in errors[0]
    # the estimate on the good log is still shown
    assert _log_table(at).equals(table)
    missing = good.drop(columns="reward")
    at.file_uploader(key="explore_log").set_value(("short.csv",
                                                    missing.to_csv(index=False).encode(),
                                                    "text/csv"))
    at.run()
    at.button(key="explore_estimate").click().run()
    assert not at.exception and any("no column 'reward'" in e.value for e in at.error)


def test_exploring_lists_are_exported_with_propensities(workspace_dir):
    from recsys.export import read_export

    _, ds = kept_ease_shop(workspace_dir)
    at = _explore()
    at.selectbox(key="explore_policy").set_value("epsilon")
    at.slider(key="explore_weight").set_value(0.4).run()
    at.button(key="explore_export_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    folder = Path(at.session_state["explore_export"][1])
    assert "exports" in folder.parts
    lists = read_export(next(folder.glob("lists-*.csv")))
    assert {"propensity", "list_id"} <= set(lists.columns)
    assert lists["propensity"].between(0, 1, inclusive="right").all()
    assert (lists["propensity"] < 1).any()  # ε-greedy slots are random
    assert lists["user_id"].nunique() == ds.n_users
    assert at.get("download_button")
    preview = next(d.value for d in at.dataframe if "propensity" in d.value.columns)
    assert len(preview) == 20  # the first rows of the file, as the Export page shows them


def test_feedback_log_updates_the_model_and_gives_fresh_lists(workspace_dir):
    """Update from the uploaded log: a new run beside the kept one (which is unchanged), fresh
    lists for exactly the customers with a rewarded row, none holding what they just took."""
    import numpy as np

    ws, ds = kept_ease_shop(workspace_dir)
    before = ws.load_model(ds.name, "ease").recommend(np.arange(ds.n_users), n=10)[0]
    at = _explore()
    rewarded = ds.user_ids[:6].astype(str)
    taken = {u: ds.item_ids[(3 * i) % ds.n_items] for i, u in enumerate(rewarded)}
    log = pd.DataFrame({"user_id": list(rewarded) + list(ds.user_ids[6:9].astype(str)),
                        "item_id": [str(taken[u]) for u in rewarded]
                        + list(ds.item_ids[:3].astype(str)),
                        "position": 1, "propensity": 0.5, "reward": [1] * 6 + [0] * 3})
    at.file_uploader(key="explore_log").set_value(("log.csv", log.to_csv(index=False).encode(),
                                                    "text/csv"))
    at.run()
    assert at.number_input(key="explore_epochs").value == 2
    at.button(key="explore_update").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("ease-updated-1" in s.value for s in at.success)
    assert not any("epochs ignored" in c.value for c in at.caption)  # not asked for: silent
    fresh = next(d.value for d in at.dataframe if {"rank", "score"} <= set(d.value.columns))
    assert set(fresh["user_id"]) == set(rewarded)  # only the customers with a reward
    assert all(str(taken[u]) not in set(fresh.loc[fresh["user_id"] == u, "item_id"])
               for u in rewarded)
    assert {m.run for m in ws.kept_runs(ds.name)} == {"ease", "ease-updated-1"}
    after = ws.load_model(ds.name, "ease").recommend(np.arange(ds.n_users), n=10)[0]
    assert np.array_equal(before, after)  # the kept run itself is untouched


def test_new_products_come_with_their_catalog_rows_and_bad_rows_are_one_message(workspace_dir):
    """A log naming a product the model has never seen, with its catalog rows uploaded beside
    it: the update appends it and says how; catalog rows without an id column are refused in
    one message, with nothing lost."""
    ws, ds = kept_ease_shop(workspace_dir)
    at = _explore()
    log = pd.DataFrame({"user_id": [str(ds.user_ids[0]), str(ds.user_ids[1])],
                        "item_id": ["brand-new-lamp", str(ds.item_ids[2])], "position": 1,
                        "propensity": 0.5, "reward": 1})
    at.file_uploader(key="explore_log").set_value(("log.csv", log.to_csv(index=False).encode(),
                                                    "text/csv"))
    at.file_uploader(key="explore_new_products").set_value(
        ("new.csv", b"colour,size\nred,3\n", "text/csv"))
    at.run()
    at.button(key="explore_update").click().run()
    assert not at.exception
    assert any("These catalog rows cannot be used" in e.value for e in at.error)
    assert {m.run for m in ws.kept_runs(ds.name)} == {"ease"}
    rows = pd.DataFrame({"item_id": ["brand-new-lamp"], "title": ["Brass desk lamp"]})
    at.file_uploader(key="explore_new_products").set_value(
        ("new.csv", rows.to_csv(index=False).encode(), "text/csv"))
    at.run()
    at.button(key="explore_update").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("1 items added" in s.value for s in at.success)
    assert ws.load_model(ds.name, "ease-updated-1").item_ids_[-1] == "brand-new-lamp"
