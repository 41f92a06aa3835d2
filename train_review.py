"""Train page sections for retrained models: accept or keep the previous run, and the history.

A model retrained under a run name that is already kept waits beside it; every other page keeps
using the previous run until the user accepts the new one here, so a worse retrain never slips
into What-if, Compare or Export. Whatever is displaced goes to the run history, where it can be
restored.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from recsys.data.dataset import Dataset
from recsys.labels import metric_label
from recsys.runs import KeptRun
from recsys.workspace import WorkspaceError

__all__ = ["render_pending", "render_history"]

#: Figures set side by side when a retrained run waits (those the run recorded).
COMPARED = ("ndcg", "recall", "hitrate", "aplt", "coverage", "train_s")


def _protocol(m: KeptRun) -> str:
    split = m.results.protocol.split
    return f"{split.method} split, seed {split.seed}, K = {m.results.protocol.k}" if split else "?"


def comparison(old: KeptRun, new: KeptRun) -> pd.DataFrame:
    """One row per figure: the kept run's value, the waiting run's and the change (% of the
    kept value)."""
    rows = []
    for key in COMPARED:
        before, after = old.results.metric(key), new.results.metric(key)
        if before != before and after != after:  # recorded by neither
            continue
        change = (after - before) / abs(before) * 100 if before == before and before else None
        rows.append({"figure": metric_label(key), "in use": before, "new run": after,
                     "change %": change})
    return pd.DataFrame(rows)


def _decide(ds: Dataset, run: str, accept: bool) -> None:
    ws = ui.workspace()
    try:
        (ws.accept_pending if accept else ws.discard_pending)(ds.name, run)
    except WorkspaceError as exc:
        st.error(str(exc))
        return
    ui.flash(f"{run}: the new run is now in use; the previous one is in the run history."
             if accept else f"{run}: the previous run stays in use; the new one is in the run "
             "history.")
    st.rerun()


def render_pending(ds: Dataset) -> None:
    """Each retrained run waiting for a decision, beside the run in use, with the two buttons."""
    ws = ui.workspace()
    pending = ws.pending_runs(ds.name)
    if not pending:
        return
    kept = {m.run: m for m in ws.kept_runs(ds.name)}
    st.subheader("New runs to review")
    st.caption("These models were retrained under a name that is already kept. Every page "
               "keeps using the run in use until you accept the new one; either way the other "
               "version stays in the run history and can be restored.")
    for new in pending:
        old = kept.get(new.run)
        with st.container(border=True):
            marker = f" · {new.results.stopped_label}" if new.results.stopped_label else ""
            st.markdown(f"**{ui.md_escape(new.run)}**{ui.md_escape(marker)} — retrained "
                        f"{ui.local_time(new.saved_at)}; in use since "
                        f"{ui.local_time(old.saved_at if old else None)}")
            if old is not None:
                if _protocol(old) != _protocol(new):
                    st.warning(f"Measured on different protocols ({ui.md_escape(_protocol(old))}"
                               f" vs {ui.md_escape(_protocol(new))}): compare with care.")
                st.dataframe(comparison(old, new), hide_index=True, key=f"review_{new.run}",
                             column_config={
                                 "in use": st.column_config.NumberColumn(format="%.4f"),
                                 "new run": st.column_config.NumberColumn(format="%.4f"),
                                 "change %": st.column_config.NumberColumn(format="%+.1f %%")})
            left, right, _ = st.columns([1, 1, 3])
            if left.button("Use the new run", key=f"accept_{new.run}", type="primary"):
                _decide(ds, new.run, accept=True)
            if right.button("Keep the previous run", key=f"discard_{new.run}"):
                _decide(ds, new.run, accept=False)


def render_history(ds: Dataset, kept: list[KeptRun]) -> None:
    """Earlier versions of each kept run, with a way to put one back in use."""
    ws = ui.workspace()
    history = {m.run: ws.run_history(ds.name, m.run) for m in kept}
    history = {run: versions for run, versions in history.items() if versions}
    if not history:
        return
    with st.expander(f"Run history ({sum(map(len, history.values()))} earlier versions)"):
        run = st.selectbox("Model", list(history), key="history_run")
        versions = history[run]
        table = pd.DataFrame([{"saved": ui.local_time(v.saved_at), "protocol": _protocol(v),
                               "run": v.results.stopped_label or "finished",
                               **{metric_label(k): v.results.metric(k) for k in COMPARED}}
                              for v in versions])
        st.dataframe(table, hide_index=True, key="history_table", column_config={
            metric_label(k): st.column_config.NumberColumn(format="%.4f") for k in COMPARED})
        labels = {v.version: f"{ui.local_time(v.saved_at)} · NDCG {v.results.metric('ndcg'):.3f}"
                  for v in versions}
        version = st.selectbox("Version", list(labels), format_func=labels.get,
                               key="history_version")
        if st.button("Restore this version", key="history_restore",
                     help="It becomes the run in use on every page; the run in use now moves "
                     "to the history."):
            try:
                ws.restore_run(ds.name, run, str(version))
            except WorkspaceError as exc:
                st.error(str(exc))
            else:
                ui.flash(f"{run}: the version saved {labels[version]} is in use again.")
                st.rerun()
