"""Workspace: datasets survive a restart, several names coexist, the active one is remembered."""

import json

import pandas as pd
import pytest

from recsys.data.dataset import DatasetConfig, build_dataset
from recsys.workspace import Workspace, WorkspaceError, safe_name


def _ds(name, n=3):
    inter = pd.DataFrame({"user_id": ["u1", "u2", "u3"][:n], "item_id": ["a", "b", "a"][:n],
                          "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02",
                                                       "2024-01-03"][:n]),
                          "value": [1.0, 2.0, 3.0][:n]})
    catalog = pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["Apple", "Banana", "Cherry"],
                            "price": [1.0, 2.5, None], "origin": ["ES", "EC", "TR"]})
    users = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "country": ["UK", "FR", "DE"]})
    return build_dataset(inter, catalog, users=users, name=name,
                         config=DatasetConfig(head_share=0.7), meta={"source": "test"})


def test_round_trip_keeps_fingerprint_and_content(tmp_path):
    ws = Workspace(tmp_path)
    original = _ds("shop one")
    name = ws.save_dataset(original, report={"rows_read": 3}, source="shop.csv")
    assert name == "shop-one"
    reopened = Workspace(tmp_path)  # a server restart
    assert reopened.active_name() == "shop-one"
    loaded = reopened.load_dataset("shop-one")
    assert loaded.fingerprint == original.fingerprint
    assert list(loaded.item_ids) == list(original.item_ids)
    assert (loaded.matrix != original.matrix).nnz == 0
    assert loaded.config.head_share == 0.7
    assert list(loaded.catalog["origin"]) == ["ES", "EC", "TR"]
    assert loaded.users is not None and list(loaded.users["country"]) == ["UK", "FR", "DE"]
    meta = reopened.read_meta("shop-one")
    assert meta["report"] == {"rows_read": 3} and meta["source"] == "shop.csv"


def test_several_datasets_and_switching(tmp_path):
    ws = Workspace(tmp_path)
    ws.save_dataset(_ds("first"))
    ws.save_dataset(_ds("second", n=2))
    assert set(ws.names()) == {"first", "second"}
    assert ws.active_name() == "second"
    ws.set_active("first")
    assert Workspace(tmp_path).active_name() == "first"
    assert json.loads((tmp_path / "active.json").read_text()) == {"dataset": "first"}
    ws.delete_dataset("first")
    assert ws.names() == ["second"] and ws.active_name() is None


def test_replacing_a_dataset_keeps_one_copy(tmp_path):
    ws = Workspace(tmp_path)
    ws.save_dataset(_ds("shop"))
    ws.save_dataset(_ds("shop", n=2))
    assert ws.names() == ["shop"]
    assert ws.load_dataset("shop").n_interactions == 2
    assert not [p for p in (tmp_path / "datasets").iterdir() if p.name.startswith(".")]


def test_unknown_dataset_is_a_clear_error(tmp_path):
    ws = Workspace(tmp_path)
    with pytest.raises(WorkspaceError, match="No dataset named 'nope'"):
        ws.load_dataset("nope")
    with pytest.raises(WorkspaceError):
        ws.set_active("nope")


def test_workspace_path_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TAILSTUDIO_WORKSPACE", str(tmp_path / "ws"))
    assert Workspace().root == (tmp_path / "ws").resolve()
    assert (tmp_path / "ws" / "datasets").is_dir()


@pytest.mark.parametrize("raw,expected", [("My Shop 2024", "My-Shop-2024"),
                                          ("../../etc/passwd", "etc-passwd"),
                                          ("   ", "dataset"), ("a/b\\c", "a-b-c")])
def test_safe_names(raw, expected):
    assert safe_name(raw) == expected


def test_trained_models_are_kept_and_reload_identically(tmp_path):
    import numpy as np

    from recsys.models import create_model

    ws = Workspace(tmp_path)
    ds = _ds("shop")
    ws.save_dataset(ds)
    model = create_model("ease", {"l2": 10.0}).fit(ds, device="cpu")
    run = ws.save_model("shop", model, results={"ndcg": 0.5})
    assert run == "ease"
    kept = Workspace(tmp_path).list_models("shop")
    assert [m["run"] for m in kept] == ["ease"]
    assert kept[0]["results"] == {"ndcg": 0.5} and kept[0]["fingerprint"] == ds.fingerprint
    loaded = Workspace(tmp_path).load_model("shop", "ease", device="cpu")
    users = np.arange(ds.n_users)
    np.testing.assert_array_equal(loaded.score(users), model.score(users))
    with pytest.raises(WorkspaceError, match="No trained model"):
        ws.load_model("shop", "bpr")
    ws.delete_dataset("shop")
    assert ws.list_models("shop") == []


def test_item_sets_round_trip_and_replace(tmp_path):
    ws = Workspace(tmp_path)
    assert ws.list_item_sets("shop") == []
    assert ws.save_item_set("shop", "Garden tail!", ["b", 2, "a", "a"], note="lasso") == "Garden-tail"
    assert ws.load_item_set("shop", "Garden-tail") == ["2", "a", "b"]
    ws.save_item_set("shop", "Garden-tail", ["c"])
    assert [(s["name"], s["size"]) for s in Workspace(tmp_path).list_item_sets("shop")] == [
        ("Garden-tail", 1)]
    with pytest.raises(WorkspaceError, match="at least one"):
        ws.save_item_set("shop", "empty", [])
    ws.delete_item_set("shop", "Garden-tail")
    with pytest.raises(WorkspaceError, match="No item set"):
        ws.load_item_set("shop", "Garden-tail")


def test_item_map_round_trip_and_removed_with_dataset(tmp_path):
    ws = Workspace(tmp_path)
    ws.save_dataset(_ds("shop"))
    assert ws.load_item_map("shop") is None
    frame = pd.DataFrame({"item_id": ["a", "b"], "x": [0.0, 1.0], "y": [1.0, 0.0],
                          "cluster": [0, -1], "cluster_label": ["fruit", "noise"]})
    ws.save_item_map("shop", frame, {"method": "umap", "seed": 0})
    back, settings = ws.load_item_map("shop")
    pd.testing.assert_frame_equal(back, frame)
    assert settings == {"method": "umap", "seed": 0}
    ws.save_item_set("shop", "s", ["a"])
    ws.delete_dataset("shop")
    assert ws.load_item_map("shop") is None and ws.list_item_sets("shop") == []


def test_run_records_read_the_flat_results_file(tmp_path):
    from recsys.models import create_model
    from recsys.runs import KeptRun, ModelSpec, RunResults

    flat = {"ndcg": 0.25, "recall": 0.5, "users": 12, "train_s": 1.5, "eval_s": 0.1,
            "protocol": {"k": 5, "head_share": 0.8, "excluded_context_pairs": 0,
                         "split": {"method": "temporal", "test_frac": 0.2, "seed": 3,
                                   "cutoff": None, "min_user_pairs": 2}},
            "device": "cpu", "dataset_fingerprint": "abc"}
    results = RunResults.model_validate(flat)
    assert results.metrics == {"ndcg": 0.25, "recall": 0.5, "users": 12}
    assert isinstance(results.metrics["users"], int)
    assert results.protocol.k == 5 and results.protocol.split.method == "temporal"
    assert results.to_json() == flat and list(results.to_json()) == list(flat)
    assert results.scalars() == {k: v for k, v in flat.items() if k != "protocol"}
    old = RunResults.model_validate({"ndcg": 0.5, "someday": "ignored"})  # an older record
    assert old.metric("ndcg") == 0.5 and old.protocol.split is None and old.train_s is None
    assert old.protocol.split_config.method == "random" and old.to_json() == {"ndcg": 0.5}
    assert ModelSpec.many({"ease": {"l2": 1.0}}) == [ModelSpec(name="ease", config={"l2": 1.0})]

    ws = Workspace(tmp_path)
    ds = _ds("shop")
    ws.save_dataset(ds)
    model = create_model("ease", {"l2": 10.0}).fit(ds, device="cpu")
    ws.save_model("shop", model, results=results)
    assert ws.list_models("shop")[0]["results"] == flat  # the file format is unchanged
    (kept,) = ws.kept_runs("shop")
    assert isinstance(kept, KeptRun) and kept.run == "ease" and kept.model == "ease"
    assert kept.results == results and kept.config["l2"] == 10.0
    assert kept.fingerprint == ds.fingerprint and kept.trained_on("abc")
    assert kept.spec == ModelSpec(name="ease", config=model.config.model_dump(mode="json"))
    assert json.loads((kept.path / "results.json").read_text())["run"] == "ease"
