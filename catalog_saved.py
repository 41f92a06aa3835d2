"""The Catalog page's Saved datasets tab: the kept datasets (make one active, delete one) and
what is kept for each (trained models to delete, item sets to view, rename or delete)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from recsys.workspace import WorkspaceError

__all__ = ["render_datasets"]


def render_datasets() -> None:
    ws = ui.workspace()
    saved = ws.list_datasets()
    if not saved:
        st.info("No saved dataset.")
        return
    rows = [{"name": m["name"], "users": m["summary"]["users"], "items": m["summary"]["items"],
             "interactions": m["summary"]["interactions"], "source": m.get("source", ""),
             "saved": m.get("saved_at", ""), "active": m["name"] == ui.active_name()}
            for m in saved]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="datasets_table")
    names = [r["name"] for r in rows]
    c1, c2, c3 = st.columns([2, 1, 1])
    chosen = c1.selectbox("Dataset", names, key="manage_dataset")
    if c2.button("Make active", key="make_active"):
        ui.set_active(chosen)
        ui.flash(f"'{ui.md_escape(chosen)}' is now the active dataset.")
        st.rerun()
    confirm = c3.checkbox("Confirm delete", key="confirm_delete")
    if c3.button("Delete", disabled=not confirm, key="delete_dataset"):
        ws.delete_dataset(chosen)
        ui.flash(f"'{ui.md_escape(chosen)}' was deleted.")
        st.rerun()
    render_kept(chosen)


def confirmed_delete(label: str, key: str, delete, done: str, left=st, right=st) -> None:
    """A "Confirm delete" checkbox (in ``left``) arming a ``label`` button (in ``right``) that
    runs ``delete``, then says ``done`` on the next run."""
    sure = left.checkbox("Confirm delete", key=f"{key}_confirm")
    if right.button(label, disabled=not sure, key=f"{key}_delete"):
        delete()
        st.session_state.pop(f"{key}_confirm", None)
        ui.flash(done)
        st.rerun()


def render_kept(name: str) -> None:
    """What is kept for dataset ``name``: its trained models and item sets, to delete or (item
    sets) rename."""
    ws = ui.workspace()
    st.markdown(f"**Kept for '{ui.md_escape(name)}'**")
    left, right = st.columns(2)
    with left:
        runs = sorted(ws.kept_runs(name), key=lambda m: m.saved_at or "", reverse=True)
        if not runs:
            st.caption("No trained model kept.")
        else:
            st.dataframe(pd.DataFrame([{
                "run": m.run, "model": m.model, "NDCG@K": m.results.metric("ndcg"),
                "saved": ui.local_time(m.saved_at)} for m in runs]), hide_index=True,
                key="kept_models_table",
                column_config={"NDCG@K": st.column_config.NumberColumn(format="%.4f")})
            run = st.selectbox("Model", [m.run for m in runs], key="kept_model_pick")
            confirmed_delete("Delete model", "kept_model", lambda: ws.delete_model(name, run),
                             f"The model '{ui.md_escape(run)}' was deleted.")
    with right:
        sets = ws.list_item_sets(name)
        if not sets:
            st.caption("No item set kept (save one from the Map page).")
            return
        st.dataframe(pd.DataFrame([{"item set": s["name"], "items": s["size"], "note": s["note"],
                                    "saved": ui.local_time(s["saved_at"])} for s in sets]),
                     hide_index=True, key="kept_sets_table")
        chosen = st.selectbox("Item set", [s["name"] for s in sets], key="kept_set_pick")
        with st.expander("Items of this set"):
            ids = ws.load_item_set(name, chosen)
            st.caption(f"{len(ids):,} items: " + ", ".join(ui.md_escape(i) for i in ids[:50])
                       + (" …" if len(ids) > 50 else ""))
        new = st.text_input("New name", key="kept_set_name", max_chars=80)
        c1, c2, c3 = st.columns(3)
        if c1.button("Rename", key="kept_set_rename", disabled=not new.strip()):
            try:
                clean = ws.rename_item_set(name, chosen, new)
            except WorkspaceError as exc:
                st.error(ui.md_escape(exc))
            else:
                ui.flash(f"The item set '{ui.md_escape(chosen)}' is now '{ui.md_escape(clean)}'.")
                st.rerun()
        confirmed_delete("Delete set", "kept_set", lambda: ws.delete_item_set(name, chosen),
                         f"The item set '{ui.md_escape(chosen)}' was deleted.", c2, c3)
