"""Train page: pick models, edit their configs, train in the background with live curves."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st
from pydantic import ValidationError

import ui
from recsys.data.splits import SPLIT_METHODS, SplitConfig
from recsys.jobs import TrainingJob
from recsys.labels import metric_label
from recsys.models import available_models, get_model_class
from recsys.models.selection import candidate_label, choice_rows
from train_review import render_history, render_pending

ds = ui.page_start("Train")
st.caption(f"Dataset **{ui.md_escape(ds.name)}** · {ds.n_users:,} users × {ds.n_items:,} items · training on "
           f"**{ui.device_label()}**")

job, elsewhere = ui.training_jobs(ds)  # this dataset's job; another one's still running
if elsewhere is not None:
    st.info(f"A training run on **{ui.md_escape(elsewhere.dataset.name)}** is in progress "
            f"({elsewhere.progress:.0%}); its models are kept for that dataset. Switch back to it "
            "in the sidebar to follow or stop it; a new run can start here once it ends.")
busy = bool((job and job.running) or elsewhere)

#: Readable names of the split methods (the protocol picker and the results table).
SPLIT_LABELS = {"random": "Random per user", "temporal": "Latest per user (temporal)",
                "time": "Global time cut-off", "leave-last": "Leave last out",
                "item-cold": "New products (item cold start)"}
#: Readable headers of the new-product figures of an item cold start split.
NEW_ITEM_COLUMNS = {"new_recall": ("new products: Recall@K", "Recall@K counting only the "
                                   "held-out new products a user went on to interact with"),
                    "new_share": ("new products: share of lists", "Mean share of new products "
                                  "in the recommended lists")}

names = [n for n in available_models() if n != "blend"]
labels = {n: f"{get_model_class(n).label} ({n})" for n in names}

# No form: the settings panels must follow the model picker as soon as it changes.
ui.forget_on_switch(ds, "train", "train_split")  # split methods depend on the dataset
with st.container(border=True):
    st.markdown("**Protocol**")
    c = st.columns(5)
    methods = list(SPLIT_METHODS) if ds.has_timestamps else ["random", "item-cold"]
    method = c[0].selectbox("Split", methods, index=methods.index("temporal")
                            if "temporal" in methods else 0, key="train_split",
                            format_func=lambda m: SPLIT_LABELS.get(m, m),
                            help="Per-user random holdout, per-user temporal (latest pairs), "
                            "global time cut-off, leave-last-out, or new products: a share of "
                            "items held out whole, as if just added to the catalog.")
    test_frac = c[1].number_input("Test share", 0.05, 0.5, 0.2, 0.05, key="train_test_frac")
    cold_frac = c[2].number_input("New products share", 0.05, 0.5, 0.2, 0.05,
                                  key="train_cold_frac", help="New products split only: share "
                                  "of items held out whole, with all their interactions.")
    seed = c[3].number_input("Seed", 0, 10_000, 0, key="train_seed")
    k = c[4].number_input("K", 1, 100, 10, key="train_k")
    chosen = st.multiselect("Models", names, default=["pop", "ease"], key="train_models",
                            format_func=labels.get)
    configs = {}
    for name in chosen:
        with st.expander(f"{labels[name]} settings"):
            configs[name] = ui.config_form(get_model_class(name).config_cls, f"cfg.{name}")
    start = st.button("Train", type="primary", key="train_start", disabled=busy,
                      help="One run at a time per browser tab." if busy else None)

if start:
    try:
        split = SplitConfig(method=method, test_frac=test_frac, cold_item_frac=cold_frac,
                            seed=int(seed))
        validated = {n: get_model_class(n).config_cls(**configs[n]).model_dump() for n in chosen}
    except ValidationError as exc:
        st.error("Invalid settings: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                                  for e in exc.errors()))
    else:
        if not chosen:
            st.warning("Pick at least one model.")
        else:
            st.session_state[ui.TRAIN_JOB] = TrainingJob(ds, validated, split, k=int(k),
                                                         workspace=ui.workspace(),
                                                         ask_before_replacing=True).start()
            st.rerun()  # drawn again as running: Train disabled, progress and Stop shown


def _stop_controls(job: TrainingJob) -> None:
    """Two ways to stop: drop the model in training, or keep it marked as stopped."""
    if job.cancelled:
        st.caption("Stopping…")
        return
    left, right, note = st.columns([1, 1, 4])
    if left.button("Stop and discard", key="stop_training",
                   help="Stop within a batch; the model in training is not kept."):
        job.cancel(keep=False)
        st.toast("Stopping; the model in training will be discarded.")
    if right.button("Stop and keep", key="stop_keep",
                    help="Stop within a batch; the model in training is evaluated and kept, "
                    "marked 'stopped at epoch N' on every page."):
        job.cancel(keep=True)
        st.toast("Stopping; the model in training will be kept, marked as stopped.")
    note.caption("Either way the models after it are skipped.")


def live_progress(name: str, fingerprint: str) -> None:
    """Progress bar, live curves and the Stop buttons of this dataset's job, refreshed every
    second while it runs; when it ends, the whole page reruns so Results show its models."""
    job, _ = ui.training_jobs(ds)
    if job is None or (job.dataset.name, job.dataset.fingerprint) != (name, fingerprint):
        return
    if ui.job_finished(job):
        st.rerun()
    current = next((r for r in job.runs if r.status == "running"), None)
    if current is None:
        text = f"Training {job.status}."
    else:
        text = f"{'Stopping' if job.cancelled else 'Training'} {current.name}…"
    st.progress(job.progress, text=text)
    if job.running:
        _stop_controls(job)
    if job.status == "failed":
        st.error(f"Training failed: {ui.md_escape(job.message)}")
    for run in job.runs:
        if run.status == "failed":
            st.error(f"{run.name} failed: {ui.md_escape(run.error)}")
        elif (run.status == "stopped" or run.pending) and not job.running:
            st.caption(f"{ui.md_escape(run.name)}: {run.outcome}.")
    curves = [{"model": r.name, **e} for r in job.runs for e in r.epochs if "loss" in e]
    if curves:
        frame = pd.DataFrame(curves)
        left, right = st.columns(2)
        left.plotly_chart(px.line(frame, x="epoch", y="loss", color="model", markers=True,
                                  title="Training loss"), key="loss_chart")
        if "val_ndcg" in frame:
            right.plotly_chart(px.line(frame, x="epoch", y="val_ndcg", color="model",
                                       markers=True, title="Validation NDCG"), key="val_chart")
    if not job.running:
        st.caption(f"Last run: {job.status}.")


ui.mark_drawn(job)
st.fragment(live_progress, run_every=1.0 if job is not None and job.running else None)(
    ds.name, ds.fingerprint)

ui.show_flash()
render_pending(ds)
st.subheader("Results")
kept = ui.workspace().kept_runs(ds.name)
rows = [{"model": m.model, "protocol": SPLIT_LABELS.get(m.results.protocol.split_config.method),
         **m.results.scalars(), "current data": m.trained_on(ds.fingerprint),
         "run": m.results.stopped_label or "finished", "saved": m.saved_at} for m in kept]
if not rows:
    st.info("No trained model yet for this dataset.")
else:
    table = pd.DataFrame(rows)
    cols = [c for c in ("model", "run", "protocol", "ndcg", "recall", "hitrate", "map", "aplt",
                        "arp", "coverage", "gini", "novelty", *NEW_ITEM_COLUMNS, "train_s",
                        "device", "current data", "saved")
            if c in table and c != "dataset_fingerprint"
            and (c != "run" or (table["run"] != "finished").any())]  # shown for a stopped run
    formats = {c: st.column_config.NumberColumn(metric_label(c), format="%.4f")
               for c in ("ndcg", "recall", "hitrate", "map", "aplt", "coverage", "gini")}
    formats.update({c: st.column_config.NumberColumn(metric_label(c), format="%.1f")
                    for c in ("arp", "train_s")})
    formats["novelty"] = st.column_config.NumberColumn(metric_label("novelty"), format="%.2f")
    formats["device"] = st.column_config.TextColumn(metric_label("device"))
    formats.update({c: st.column_config.NumberColumn(label, help=help, format="%.4f")
                    for c, (label, help) in NEW_ITEM_COLUMNS.items()})
    table["saved"] = [ui.local_time(t) for t in table["saved"]]
    sortable = [c for c in ("ndcg", "recall", "hitrate", "map", "aplt", "coverage",
                            *NEW_ITEM_COLUMNS) if c in table]
    if sortable:
        by = st.selectbox("Sort by", sortable, key="results_sort",
                          format_func=lambda c: NEW_ITEM_COLUMNS[c][0] if c in NEW_ITEM_COLUMNS
                          else metric_label(c))
        table = table.sort_values(by, ascending=False, kind="stable", na_position="last")
    st.dataframe(table[cols], hide_index=True, key="results_table", column_config=formats)
    if {"aplt", "ndcg"} <= set(table.columns):  # a run recorded without them has no point
        fig = px.scatter(table.dropna(subset=["aplt", "ndcg"]), x="aplt", y="ndcg", text="model",
                         size_max=12, title="Accuracy vs tail exposure",
                         labels={"aplt": "tail share of lists (APLT@K)", "ndcg": "NDCG@K"})
        fig.update_traces(textposition="top center", marker=dict(size=12, color="#0f766e"))
        fig.update_xaxes(rangemode="tozero")  # one model: no axis padded around a lone point
        fig.update_yaxes(rangemode="tozero")
        st.plotly_chart(fig, key="results_chart")
    protocol = kept[0].results.protocol
    split = protocol.split
    st.caption(f"Protocol: {split.method if split else '?'} split, test share "
               f"{split.test_frac if split else '?'}, seed {split.seed if split else '?'}, "
               f"K = {protocol.k}, head = items covering "
               f"{protocol.head_share:.0%} of training interactions; full ranking, training "
               "items excluded. Trained models are kept in the workspace and appear in the other pages.")
    if split is not None and split.method == "item-cold":
        new = (f"{protocol.new_items:,} items" if protocol.new_items
               else f"{split.cold_item_frac:.0%} of the items")
        st.caption(f"New products (item cold start): {new} held out whole, as if just added "
                   "to the catalog, plus a share of each user's other interactions; the "
                   "new-product columns show how well each model ranks them and how much room "
                   "they get in the lists.")
    render_history(ds, kept)
    for m in kept:
        choice = m.results.choice
        if not choice:
            continue
        with st.expander(f"How {m.model} chose its model"):
            inner = choice.get("inner_split", {})
            st.markdown(f"**Kept:** {ui.md_escape(candidate_label(**choice['chosen']))}  \n"
                        f"**Why:** {ui.md_escape(choice.get('reason', ''))}  \n"
                        f"**Validated on:** {ui.md_escape(SPLIT_LABELS.get(inner.get('method'), '?'))}"
                        f" — {ui.md_escape(inner.get('reason', ''))}"
                        + (f" ({inner['never_sold_left_out']:,} never-sold products kept out of "
                           "its validation lists: they cannot be hits there)"
                           if inner.get("never_sold_left_out") else ""))
            st.dataframe(pd.DataFrame(choice_rows(choice)), hide_index=True,
                         key=f"choice_{m.model}", column_config={
                             c: st.column_config.NumberColumn(format="%.4f")
                             for c in ("validation NDCG", "validation tail share")} | {
                             "seconds": st.column_config.NumberColumn(format="%.1f")})
    noted = [(m.model, label, note) for m in kept for label, note in (m.results.notes or {}).items()]
    if noted:
        with st.expander("What the models chose on their own training data"):
            st.caption("Settings a model measures on an inner split of its training data while "
                       "it fits: the text embedding of the catalog and how loud new products "
                       "are in the lists (the figures each candidate reached are in the note).")
            st.dataframe(pd.DataFrame(noted, columns=["model", "setting", "chosen"]),
                         hide_index=True, key="fitted_notes")
