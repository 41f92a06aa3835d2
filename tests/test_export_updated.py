"""Exports of an updated run (:mod:`recsys.export.updated`): an EASE run updated with a new
customer and a new product exports lists for every customer, the new one included, in the
model's own ids, never listing what a customer had (in the dataset or in the feedback), with
the new product as far tail and an empty title; scopes other than "all users" keep to the
dataset's customers; the manifest says the run was updated and not evaluated; the workspace
offers updated runs whose base run was trained on the current dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys import build_dataset
from recsys.export import ExportConfig, ExportScope, export_lists, read_export
from recsys.feedback.update import update_kept_run
from recsys.models import create_model
from recsys.rerank import RerankConfig
from recsys.runs import runs_on
from recsys.workspace import Workspace

FEEDBACK = pd.DataFrame({"user_id": ["u4", "u4", "newcomer", "newcomer"],
                         "item_id": ["i7", "brand-new", "i9", "brand-new"]})


@pytest.fixture(scope="module")
def updated(tmp_path_factory):
    """A workspace with ``ease`` kept (trained on the dataset) and ``ease-updated-1``
    (one new customer, one new product): (workspace, dataset name, dataset, updated model)."""
    rng = np.random.default_rng(5)
    users = rng.integers(0, 80, 900)
    items = (users // 3 + rng.integers(0, 8, 900)) % 30
    ds = build_dataset(pd.DataFrame({"user_id": [f"u{u}" for u in users],
                                     "item_id": [f"i{i}" for i in items]}), name="shop")
    ws = Workspace(tmp_path_factory.mktemp("ws"))
    name = ws.save_dataset(ds)
    ws.save_model(name, create_model("ease", {}).fit(ds, device="cpu"), run="ease",
                  results={"ndcg": 0.2, "dataset_fingerprint": ds.fingerprint})
    result = update_kept_run(ws, name, "ease", FEEDBACK, source="day1.csv")
    assert result.users_added == 1 and result.items_added == 1
    return ws, name, ws.load_dataset(name), ws.load_model(name, result.run)


def _had(ds, frame: pd.DataFrame) -> set[tuple[str, str]]:
    pairs = set(zip(ds.interactions["user_id"].astype(str), ds.interactions["item_id"].astype(str),
                    strict=True))
    return pairs | set(zip(frame["user_id"], frame["item_id"], strict=True))


def test_updated_run_exports_every_customer_in_its_own_ids(updated, tmp_path):
    ws, name, ds, model = updated
    info = next(r for r in ws.kept_runs(name) if r.run == "ease-updated-1")
    k = ds.n_items + 1  # every unseen product: the new one must show up
    result = export_lists(model, ds, tmp_path / "out", ExportConfig(k=k, candidates=k),
                          model_info={"run": info.run, "updated_from": info.results.updated_from,
                                      "update": info.results.update})
    rows = read_export(result.files[0])
    assert set(rows["user_id"]) == {*ds.user_ids.astype(str), "newcomer"}
    assert set(rows["item_id"]) == {*ds.item_ids.astype(str), "brand-new"}
    listed = set(zip(rows["user_id"], rows["item_id"], strict=True))
    assert not listed & _had(ds, FEEDBACK)
    per_user = rows.groupby("user_id").size()
    assert per_user["newcomer"] == ds.n_items + 1 - 2  # all but what they bought in the feedback
    new = rows[rows["item_id"] == "brand-new"]
    assert len(new) == ds.n_users - 1  # everyone but u4 and the newcomer, who bought it
    assert new["is_tail"].all() and (new["title"].fillna("") == "").all()
    assert (new["cluster"] == -1).all()
    old = rows[rows["item_id"] == "i3"]
    assert (old["title"] == "i3").all()
    manifest = result.manifest
    assert manifest["updated"]["updated_from"] == "ease" and not manifest["updated"]["evaluated"]
    assert manifest["updated"]["update"]["users_added"] == 1
    assert (manifest["updated"]["users_added"], manifest["updated"]["items_added"]) == (1, 1)
    assert manifest["metrics"] is None and manifest["users"] == ds.n_users + 1
    assert manifest["dataset"]["fingerprint"] == ds.fingerprint
    assert "1 added by the update" in manifest["scope"]["description"]


def test_updated_run_reranks_and_keeps_scopes_to_the_dataset(updated, tmp_path):
    *_, ds, model = updated
    boosted = export_lists(model, ds, tmp_path / "tail", ExportConfig(k=5, candidates=31),
                           rerank=RerankConfig(method="tail_bonus", strength=1.0))
    rows = read_export(boosted.files[0])
    assert "newcomer" in set(rows["user_id"]) and rows["boosted"].any()
    assert not set(zip(rows["user_id"], rows["item_id"], strict=True)) & _had(ds, FEEDBACK)
    segment = export_lists(model, ds, tmp_path / "heavy", ExportConfig(
        k=5, scope=ExportScope(kind="segment", value="heavy")))
    assert "newcomer" not in set(read_export(segment.files[0])["user_id"])
    assert segment.users < ds.n_users


def test_model_trained_as_usual_exports_as_before(updated, tmp_path):
    ws, name, ds, _ = updated
    plain = export_lists(ws.load_model(name, "ease"), ds, tmp_path / "plain", ExportConfig(k=3))
    assert plain.manifest["updated"] is None and plain.users == ds.n_users


def test_updated_runs_are_offered_while_their_base_run_belongs_to_the_dataset(updated):
    ws, name, ds, _ = updated
    kept = ws.kept_runs(name)
    assert [r.run for r in runs_on(kept, ds.fingerprint)] == ["ease", "ease-updated-1"]
    assert runs_on(kept, "another-fingerprint") == []
    orphan = [r for r in kept if r.run != "ease"]  # its base run deleted
    assert runs_on(orphan, ds.fingerprint) == []


def test_ids_of_another_dataset_are_refused_in_one_line(updated, tmp_path):
    model = updated[-1]
    other = build_dataset(pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"]}),
                          name="other")
    with pytest.raises(ValueError, match="do not match dataset 'other'"):
        export_lists(model, other, tmp_path / "bad", ExportConfig(k=2))


def test_a_second_opinion_on_an_updated_run_is_refused_in_one_line():
    from recsys.export.updated import refuse_opinion

    refuse_opinion("none")  # no opinion: fine
    with pytest.raises(ValueError, match="second opinion") as exc:
        refuse_opinion("multvae")
    assert "\n" not in str(exc.value)
