"""Export page (AppTest): export a kept model's lists, re-ranked, see the manifest and past exports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from recsys import Workspace
from recsys.export import read_export
from tests.app_support import open_page

pytestmark = pytest.mark.usefixtures("navigation_apptest")


def _export_page() -> AppTest:
    return open_page("export", timeout=180)


def test_export_reranked_csv(workspace_copy: Path):
    at = _export_page()
    assert at.selectbox(key="export_model").options  # the kept models are offered
    at.selectbox(key="export_model").set_value("itemknn")
    at.selectbox(key="export_method").set_value("tail_bonus").run()
    at.slider(key="export_strength").set_value(0.8)
    at.number_input(key="export_k").set_value(5)
    at.selectbox(key="export_scope").set_value("segment").run()
    at.selectbox(key="export_segment").set_value("heavy")
    assert at.checkbox(key="export_retrain").value is True  # default on for exports
    at.button(key="export_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    folders = list((workspace_copy / "exports" / "demo-shop").iterdir())
    assert len(folders) == 1 and folders[0].name.endswith("-itemknn-tail_bonus")
    manifest = json.loads((folders[0] / "manifest.json").read_text())
    assert manifest["model"]["run"] == "itemknn" and manifest["model"]["trained_on"] == "all interactions"
    assert manifest["rerank"][0]["strength"] == 0.8 and manifest["scope"]["value"] == "heavy"
    assert manifest["metrics"]["lists"]["aplt"] > manifest["metrics"]["model"]["aplt"]  # the boost shows
    frame = read_export(folders[0] / "lists-segment-heavy.csv")
    assert frame["user_id"].nunique() == 300 and frame.groupby("user_id").size().max() == 5
    assert frame["boosted"].any()
    assert any("rows for 300 users" in s.value for s in at.success)
    past = [d.value for d in at.dataframe if "folder" in d.value.columns]
    assert past and past[0]["folder"].tolist() == [folders[0].name]


def test_export_json_model_lists_without_retraining(workspace_copy: Path):
    at = _export_page()
    at.selectbox(key="export_model").set_value("pop")
    at.selectbox(key="export_format").set_value("json")
    at.checkbox(key="export_retrain").uncheck()
    at.button(key="export_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    folder = next((workspace_copy / "exports" / "demo-shop").iterdir())
    frame = read_export(folder / "lists-all.jsonl")
    assert frame["user_id"].nunique() == 3000 and not frame["boosted"].any()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model"]["trained_on"].startswith("training part")
    assert manifest["rerank"] == []
    previews = [d.value for d in at.dataframe if "rank" in d.value.columns]
    assert previews and all(len(p) == 20 for p in previews)  # this export and the past one
    assert previews[0]["item_id"].tolist() == frame["item_id"].head(20).tolist()


def test_cluster_scope_without_map_is_explained(workspace_copy: Path):
    at = _export_page()
    at.selectbox(key="export_scope").set_value("cluster").run()
    assert not at.exception
    assert any("No item map" in w.value for w in at.warning)
    assert at.button(key="export_run").disabled


def test_no_model_yet(workspace_dir: Path):
    at = _export_page()
    assert any("No trained model" in i.value for i in at.info)


def test_cluster_lists_from_the_item_map(workspace_copy: Path):
    ws = Workspace(workspace_copy)
    ds = ws.load_dataset("demo-shop")
    frame = pd.DataFrame({"item_id": ds.item_ids, "x": 0.0, "y": 0.0, "cluster": np.arange(ds.n_items) % 4,
                          "is_tail": ds.is_tail, "is_tail_cluster": False,
                          "cluster_label": [f"group {i % 4}" for i in range(ds.n_items)]})
    ws.save_item_map("demo-shop", frame, {"method": "test"})
    at = _export_page()
    at.selectbox(key="export_model").set_value("pop")
    at.checkbox(key="export_retrain").uncheck()
    at.selectbox(key="export_scope").set_value("cluster").run()
    at.selectbox(key="export_cluster").set_value(2)
    at.radio(key="export_restrict").set_value("lists")
    at.selectbox(key="export_format").set_value("parquet")
    at.button(key="export_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    folder = next((workspace_copy / "exports" / "demo-shop").iterdir())
    lists = read_export(folder / "lists-cluster-2-lists.parquet")
    assert (lists["cluster"] == 2).all() and lists["user_id"].nunique() == 3000
    preview = next(d.value for d in at.dataframe if "rank" in d.value.columns)
    assert len(preview) == 20 and preview["item_id"].tolist() == lists["item_id"].head(20).tolist()


def test_export_global_promotion_by_expected_loss(workspace_copy: Path):
    """The promotion's allocation, cost of a slot and second opinion reach the export: the hit
    model is fitted (kept model, no retraining), used for the lists and recorded in the
    manifest."""
    at = _export_page()
    at.selectbox(key="export_model").set_value("itemknn")
    at.selectbox(key="export_method").set_value("promotion").run()
    at.slider(key="export_strength").set_value(0.6)
    at.radio(key="export_alloc").set_value("global").run()
    at.radio(key="export_swap_cost").set_value("expected").run()
    at.selectbox(key="export_opinion").set_value("itemknn")
    at.checkbox(key="export_retrain").uncheck()
    at.button(key="export_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    folder = next((workspace_copy / "exports" / "demo-shop").iterdir())
    manifest = json.loads((folder / "manifest.json").read_text())
    step = manifest["rerank"][0]
    assert (step["allocation"], step["swap_cost"], step["opinion"]) == ("global", "expected",
                                                                        "itemknn")
    assert manifest["hit_model"]["n_pairs"] > 0 and manifest["hit_model"]["opinion"] == "itemknn"
    assert manifest["metrics"]["lists"]["aplt"] > manifest["metrics"]["model"]["aplt"]
    frame = read_export(folder / "lists-all.csv")
    per_user = frame.groupby("user_id")["is_tail"].sum()
    assert frame["boosted"].any() and per_user.nunique() > 1  # spread where it costs least


def test_updated_run_is_offered_and_exports(workspace_copy: Path):
    from recsys.feedback.update import update_kept_run

    ws = Workspace(workspace_copy)
    ds = ws.load_dataset("demo-shop")
    old = [str(u) for u in ds.user_ids[:2]]
    feedback = pd.DataFrame({"user_id": [*old, "newcomer", "newcomer"],
                             "item_id": [str(ds.item_ids[0]), "brand-new", str(ds.item_ids[1]),
                                         "brand-new"]})
    result = update_kept_run(ws, "demo-shop", "itemknn", feedback, source="day1.csv")
    at = _export_page()
    box = at.selectbox(key="export_model")
    assert f"{result.run} (updated, not evaluated)" in box.options  # offered and marked,
    assert box.value == "itemknn"  # while an evaluated model stays preselected
    at.selectbox(key="export_model").set_value(result.run).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [c for c in at.checkbox if c.key == "export_retrain"]  # an update is not retrained
    assert any("not evaluated" in c.value for c in at.caption)
    at.button(key="export_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    folder = next((workspace_copy / "exports" / "demo-shop").iterdir())
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["updated"]["updated_from"] == "itemknn" and manifest["metrics"] is None
    assert manifest["model"]["run"] == result.run
    frame = read_export(folder / "lists-all.csv")
    assert frame["user_id"].nunique() == ds.n_users + 1 and "newcomer" in set(frame["user_id"])
