"""Managing what is kept for a dataset: item sets renamed (never over another) and deleted,
trained models deleted, from the workspace API and from the Catalog page's Saved datasets tab."""

from __future__ import annotations

import pytest

from recsys import Workspace
from recsys.data.splits import SplitConfig
from recsys.jobs import train_models
from recsys.workspace import WorkspaceError
from tests.app_support import open_page
from tests.test_rerank import synthetic_dataset


def test_rename_item_set_keeps_its_items_and_refuses_a_taken_name(tmp_path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.save_item_set("shop", "garden picks", ["b", "a"], note="from the map")
    ws.save_item_set("shop", "toys", ["c"])
    new = ws.rename_item_set("shop", "garden-picks", "Garden favourites")
    assert new == "Garden-favourites"  # names are made safe as when saving
    assert ws.load_item_set("shop", new) == ["a", "b"]
    assert {s["name"] for s in ws.list_item_sets("shop")} == {new, "toys"}
    assert next(s["note"] for s in ws.list_item_sets("shop") if s["name"] == new) == "from the map"
    with pytest.raises(WorkspaceError, match="already exists"):
        ws.rename_item_set("shop", "toys", "Garden favourites")
    assert ws.load_item_set("shop", "toys") == ["c"]  # nothing lost
    with pytest.raises(WorkspaceError, match="No item set"):
        ws.rename_item_set("shop", "missing", "x")


@pytest.mark.usefixtures("navigation_apptest")
def test_catalog_page_manages_kept_models_and_item_sets(workspace_dir) -> None:
    ws = Workspace(workspace_dir)
    ds = synthetic_dataset(n_users=60, n_items=30, seed=1, name="small-shop")
    ws.save_dataset(ds, source="test", activate=True)
    job = train_models(ds, {"pop": {}, "itemknn": {}}, split=SplitConfig(method="random", seed=0),
                       workspace=ws)
    assert job.status == "done", job.message
    ws.save_item_set(ds.name, "picks", ds.item_ids[:3])
    ws.save_item_set(ds.name, "others", ds.item_ids[3:5])

    at = open_page("catalog")
    models = next(d.value for d in at.dataframe if "NDCG@K" in d.value.columns)
    assert set(models["run"]) == {"pop", "itemknn"}
    assert "—" not in set(models["saved"])  # local times of the saves
    at.selectbox(key="kept_model_pick").set_value("pop")
    assert at.button(key="kept_model_delete").disabled  # not without confirming
    at.checkbox(key="kept_model_confirm").check().run()
    at.button(key="kept_model_delete").click().run()
    assert not at.exception
    assert [m.run for m in ws.kept_runs(ds.name)] == ["itemknn"]

    at.selectbox(key="kept_set_pick").set_value("picks")
    at.text_input(key="kept_set_name").set_value("others").run()
    at.button(key="kept_set_rename").click().run()
    assert any("already exists" in e.value for e in at.error)
    at.text_input(key="kept_set_name").set_value("spring picks").run()
    at.button(key="kept_set_rename").click().run()
    assert not at.exception and not at.error
    assert {s["name"] for s in ws.list_item_sets(ds.name)} == {"spring-picks", "others"}
    at.selectbox(key="kept_set_pick").set_value("others")
    at.checkbox(key="kept_set_confirm").check().run()
    at.button(key="kept_set_delete").click().run()
    assert [s["name"] for s in ws.list_item_sets(ds.name)] == ["spring-picks"]
