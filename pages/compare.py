"""Compare page: one user's history beside the top-N of several kept models and boosted variants."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import streamlit as st
from pydantic import ValidationError

import ui
from recsys.data.segments import (
    SEGMENT_LABELS,
    USER_SEGMENTS,
    find_user,
    user_activity,
    user_history,
    user_segments,
)
from recsys.evaluation import overlap_table
from recsys.export import item_clusters
from recsys.labels import metric_label
from recsys.rerank import METHODS, RERANK_POOL, RerankConfig, RerankContext, make_lists
from recsys.rerank.bands import held_out_comparison
from recsys.rerank.preview import score_breakdown
from recsys.sampling import Band, SampleConfig
from recsys.workspace import WorkspaceError

log = logging.getLogger(__name__)
TAIL_MARK = "★"
PANELS_PER_ROW = 3
#: One definition of a user's tail share, for the user picker and the metric alike.
TAIL_SHARE_HELP = ("Share of the user's training items that are long tail: outside the head, the "
                   "most popular items covering the head share of the evaluation split's training "
                   "interactions. ★ marks the same items.")
#: Narrow marks ahead of the title, so they stay visible in a third of a narrow page.
LIST_COLUMNS = {"#": st.column_config.NumberColumn(width=36),
                "title": st.column_config.TextColumn(width="medium"),
                "tail": st.column_config.TextColumn(width=40),
                "hit": st.column_config.TextColumn(width=36),
                "why": st.column_config.TextColumn(width=110)}

ds = ui.page_start("Compare")
st.caption(f"Dataset **{ui.md_escape(ds.name)}** · one user's history beside each model's top-N; "
           "long-tail items (mid + far tail) are marked ★, items the user interacted with in the "
           "held-out part are hits (✓).")

runs = ui.model_picker(ds, key="compare_models", label="Models", multi=True, preselect="best")
if runs is None:
    st.stop()
if not runs:
    st.info("Pick at least one model.")
    st.stop()

try:
    split = ui.evaluation_split(ds, runs[0])
    models = {run: ui.load_trained(ds, run) for run in runs}
except (WorkspaceError, OSError, ValueError) as exc:
    hint = "" if "Train page" in str(exc) else " Train them again on the Train page."
    st.error(f"The kept models could not be loaded: {ui.md_escape(exc)}{hint}")
    st.stop()
train = split.train
item_map = ui.workspace().load_item_map(ds.name)
clusters = item_clusters(ds, item_map[0]) if item_map is not None else None

# ------------------------------------------------------------------------------ find a user
ui.forget_on_switch(ds, "compare_user", "compare_user_id", "compare_segment_user")
c = st.columns([1, 2, 1, 1])
how = c[0].radio("Find a user", ["by id", "by segment"], key="compare_find", horizontal=True)
user: int | None = None
if how == "by id":
    text = c[1].text_input("User id", value=str(ds.user_ids[0]), key="compare_user_id",
                           help="The customer / user id exactly as in the interaction file.")
    try:
        user = find_user(ds, text)
    except ValueError as exc:
        c[1].error(ui.md_escape(exc))
else:
    segment = c[1].selectbox("Segment", USER_SEGMENTS, format_func=SEGMENT_LABELS.get, key="compare_segment",
                             help="Judged on the training interactions of the evaluation split.",
                             on_change=st.session_state.pop, args=("compare_segment_user", None))
    members = user_segments(train.matrix, train.is_tail)[segment][:500]
    if not len(members):
        c[1].warning("No user in this segment.")
    else:
        act = user_activity(train.matrix[members], train.is_tail)
        labels = {int(u): f"{ds.user_ids[u]} · {n} training items, {share:.0%} in the tail" for u, n, share in
                  zip(members, act["items"], act["tail_share"], strict=True)}
        user = c[2].selectbox("User", list(labels), format_func=labels.get, key="compare_segment_user",
                              help=TAIL_SHARE_HELP)
n = int(c[3].number_input("Top-N", 1, 50, 10, key="compare_n"))

v = st.columns([1, 1, 2])
method = v[0].selectbox("Boosted variant", ["none", *METHODS], index=1, key="compare_method",
                        help="Adds a re-ranked variant of every picked model.")
strength = v[1].slider("Strength", 0.0, 1.0, 0.5, 0.05, key="compare_strength", disabled=method == "none")
if user is None:
    st.stop()


# ------------------------------------------------------------------------------ lists
def build_lists() -> dict[str, pd.DataFrame]:
    """Breakdown frame of every list (each model, and each model's boosted variant)."""
    out: dict[str, pd.DataFrame] = {}
    variant = None if method == "none" else RerankConfig(method=method, strength=float(strength))
    context = RerankContext(train, item_clusters=clusters)
    for run, model in models.items():
        lists = {run: make_lists(model, train, np.array([user]), n,
                                 candidates=max(RERANK_POOL, n))}
        if variant is not None:
            lists[f"{run} + {variant.label()}"] = make_lists(
                model, train, np.array([user]), n, steps=variant, context=context,
                candidates=max(RERANK_POOL, n))
        for name, r in lists.items():
            out[name] = score_breakdown(train, r.items[0], r.score[0], base_score=r.base_score[0],
                                        base_rank=r.base_rank[0], boosted=r.boosted[0], reason=r.reason[0])
    return out


try:
    frames = build_lists()
except (ValidationError, ValueError) as exc:
    st.error(f"Could not build the lists: {ui.md_escape(exc)}")
    st.stop()
except Exception as exc:  # never a traceback in the browser
    log.exception("compare failed")
    st.error(f"Could not build the lists ({type(exc).__name__}: {ui.md_escape(exc)}).")
    st.stop()

held_out = set(split.test[user].indices.tolist())
history = user_history(ds, user, clusters=clusters)
history_pos = ds.item_positions(history["item_id"], missing="negative")
history["held_out"] = np.isin(history_pos, list(held_out))
history["is_tail"] = train.is_tail[history_pos]  # the training split's head, as the lists use
training = history.loc[~history["held_out"]]
uid = ds.user_ids[user]
m = st.columns(4)
m[0].metric("User", str(uid))
m[1].metric("Training items", f"{len(training):,}", help="What the models learned from.")
m[2].metric("Tail share of training items", f"{training['is_tail'].mean():.0%}" if len(training) else "–",
            help=TAIL_SHARE_HELP)
m[3].metric("Held-out items", f"{len(held_out):,}", help="Interactions the models never saw: an "
            "item of a list that is one of them is a hit (✓).")


def show_history() -> None:
    st.markdown("**History** (newest first)")
    shown = history.assign(tail=np.where(history["is_tail"], TAIL_MARK, ""),
                           part=np.where(history["held_out"], "held out", "train"))
    keep = [x for x in ("tail", "part", "title", "category", "last_time", "interactions") if x in shown]
    st.dataframe(shown[keep].head(50), hide_index=True, key="compare_history", column_config={
        "tail": LIST_COLUMNS["tail"], "part": st.column_config.TextColumn(width=64),
        "title": LIST_COLUMNS["title"]})
    below = 0 if ds.context_matrix is None else int(ds.context_matrix[user].nnz)
    if below:
        st.caption(f"Also seen below the rating threshold: {below:,} items, never recommended "
                   "back.")


def show_list(name: str, frame: pd.DataFrame) -> None:
    hit = np.isin(ds.item_positions(frame["item_id"], missing="negative"), list(held_out))
    st.markdown(f"**{ui.md_escape(name)}** · {int(frame['is_tail'].sum())} tail · {int(hit.sum())} hits")
    compact = pd.DataFrame({"#": frame["rank"], "tail": np.where(frame["is_tail"], TAIL_MARK, ""),
                            "hit": np.where(hit, "✓", ""), "title": frame["title"],
                            "why": np.where(frame["boosted"], "↑ " + frame["reason"], frame["reason"])})
    st.dataframe(compact, hide_index=True, key=f"compare_list_{name}", column_config=LIST_COLUMNS)


# History first, then the lists, at most three panels a row so titles stay readable
panels = [("history", None), *frames.items()]
for start in range(0, len(panels), PANELS_PER_ROW):
    row = panels[start:start + PANELS_PER_ROW]
    for col, (name, frame) in zip(st.columns(PANELS_PER_ROW), row, strict=False):
        with col:
            if frame is None:
                show_history()
            else:
                show_list(name, frame)

st.subheader("Overlap between lists")
table = overlap_table({name: list(f["item_id"]) for name, f in frames.items()})
if table.empty:
    st.caption("Pick two models, or a boosted variant, to compare lists.")
else:
    st.dataframe(table, hide_index=True, key="compare_overlap", column_config={
        "list A": "List A", "list B": "List B", "shared": "Shared items",
        "jaccard": st.column_config.NumberColumn("Jaccard", format="%.3f"),
        "rbo": st.column_config.NumberColumn("RBO", format="%.3f")})
    st.caption("Jaccard = shared items / all items of both lists; RBO = rank-biased overlap (p = 0.9, "
               "extrapolated): agreement weighted towards the top of the lists.")
tails = pd.DataFrame({"list": list(frames), "tail items": [int(f["is_tail"].sum()) for f in frames.values()],
                      "items": [len(f) for f in frames.values()]})
st.dataframe(tails, hide_index=True, key="compare_tail_counts")



@st.cache_data(max_entries=8, show_spinner="Measuring every list on the evaluation customers…")
def held_out(fingerprint: str, kept: tuple[tuple[str, str], ...], method: str, strength: float,
             k: int, max_users: int, seed: int, _models, _split, _clusters) -> pd.DataFrame:
    """Each model's (and variant's) held-out figures with bands, deltas against the first."""
    variant = None if method == "none" else RerankConfig(method=method, strength=strength)
    users = ui.eval_sample(_split).users
    return held_out_comparison(_models, _split.train, _split.test, users, k, steps=variant,
                               context=RerankContext(_split.train, item_clusters=_clusters),
                               seed=seed)


def show_held_out() -> None:
    """The held-out figures of every list on the same (sampled) customers, with 95 % bands
    and paired deltas against the first model."""
    st.subheader("Held-out figures")
    sample = ui.eval_sample(split)
    sample_cfg = SampleConfig()
    kept = tuple((run, str(ui.run_info(ds, run).saved_at)) for run in runs)
    try:
        table = held_out(ds.fingerprint, kept, method, float(strength), n, sample_cfg.max_users,
                         sample_cfg.seed, models, split, clusters)
    except (ValidationError, ValueError) as exc:
        st.error(f"The held-out figures could not be computed: {ui.md_escape(exc)}")
        return
    fmt = {"ndcg": "{:.4f}", "recall": "{:.4f}", "aplt": "{:.3f}", "coverage": "{:.3f}"}
    first = runs[0]
    rows = []  # one row per list and figure: four columns fit any page width
    for r in table.itertuples():
        f = fmt.get(r.metric, "{:.4f}")
        rows.append({"list": r.list, "figure": metric_label(r.metric),
                     "value (95 % band)": Band(r.value, r.low, r.high).format(f),
                     "change (95 % band)": "" if r.list == first or np.isnan(r.delta) else
                     Band(r.delta, r.delta_low, r.delta_high).format("{:.4f}", signed=True)})
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="compare_held_out",
                 height=min(35 * (len(rows) + 1) + 3, 720))  # every row without scrolling
    st.caption(f"{ui.sample_caption(sample)} Top-{n} lists, the same customers for every list; "
               f"changes are against '{ui.md_escape(first)}', banded from the per-customer "
               "differences (paired); coverage by a bootstrap, and it grows with the number "
               "of lists, so a sample reads lower than every customer would.")


show_held_out()

#: Headers of the score breakdown (the frame keeps its field names for programs).
BREAKDOWN_COLUMNS = {
    "rank": "Rank", "title": "Title", "is_tail": st.column_config.CheckboxColumn("Long tail"),
    "base_rank": st.column_config.NumberColumn("Model's rank"), "moved": "Places moved",
    "base_score": st.column_config.NumberColumn("Model's score", format="%.4f"),
    "score": st.column_config.NumberColumn("Score", format="%.4f"),
    "boosted": st.column_config.CheckboxColumn("Boosted"), "reason": "Reason"}
st.subheader("Score breakdown")
for name, frame in frames.items():
    with st.expander(ui.md_escape(name)):
        st.dataframe(frame.drop(columns=["item_id"]), hide_index=True, key=f"compare_breakdown_{name}",
                     column_config=BREAKDOWN_COLUMNS)
