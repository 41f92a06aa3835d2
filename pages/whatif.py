"""What-if page: slide the tail boost, pick the method, see what it costs on the validation split."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from pydantic import ValidationError

import ui
from recsys.labels import (
    ALLOCATION_LABELS,
    METHOD_LABELS,
    OPINION_LABELS,
    SWAP_COST_LABELS,
    metric_label,
)
from recsys.rerank import (
    METHODS,
    RERANK_POOL,
    RerankConfig,
    RerankContext,
    best_within,
    changed_rows,
    exposure_table,
    frontier,
    item_categories,
    item_clusters_from_map,
    lists_from_candidates,
    needs_hit_model,
    preview_frame,
)
from recsys.rerank.bands import banded_pair, measure_banded
from recsys.rerank.business import BUSINESS_LABELS, list_business, price_band_exposure
from recsys.rerank.rulesets import with_rules
from recsys.sampling import Band
from recsys.workspace import WorkspaceError

LABELS = METHOD_LABELS
SWEEP = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)
POOL = RERANK_POOL
#: Metric tiles: direction of a good change and number format (labels from recsys.labels).
SHOWN = {name: (metric_label(name), colour, fmt) for name, colour, fmt in (
    ("ndcg", "normal", "{:.4f}"), ("recall", "normal", "{:.4f}"), ("aplt", "normal", "{:.3f}"),
    ("arp", "inverse", "{:.1f}"), ("coverage", "normal", "{:.3f}"), ("gini", "inverse", "{:.3f}"),
    ("novelty", "normal", "{:.2f}"))}

ds = ui.page_start("What-if")
st.caption("Re-rank each user's best candidates to give the long tail more exposure, and see what "
           "it costs on the held-out validation split of the model's training run.")
run = ui.model_picker(ds, key="whatif_model", preselect="best")
if run is None:
    st.stop()


@st.cache_data(max_entries=8, show_spinner="Sweeping strengths for the trade-off curve…")
def _frontier(fingerprint: str, run: str, saved_at: str, k: int, methods: tuple[str, ...],
              options_json: str, sample: tuple[int, int], _cands, _split, _clusters, _item_set,
              _hit_model) -> pd.DataFrame:
    context = RerankContext(_split.train, item_clusters=_clusters, item_set=_item_set,
                            hit_model=_hit_model)
    return frontier(_cands, _split.train, _split.test, methods=methods, strengths=SWEEP, k=k,
                    options=json.loads(options_json), context=context)


try:
    info = next(m for m in ui.trained_models(ds) if m.run == run)
    model = ui.load_trained(ds, run)
    split = ui.evaluation_split(ds, run)
    saved_at = str(info.saved_at)
    k = info.results.protocol.k
    cands = ui.eval_candidates(ds, info, model, split, POOL)
except (WorkspaceError, ValueError, OSError, KeyError, StopIteration) as exc:
    st.error(f"The model '{ui.md_escape(run)}' cannot be used here: {ui.md_escape(exc)}")
    st.stop()
if cands.n_users == 0:
    st.warning("The validation split has no held-out interactions to measure on.")
    st.stop()

train = split.train
item_map = ui.workspace().load_item_map(ds.name)
clusters = item_clusters_from_map(train, item_map[0] if item_map else None)
cluster_names: dict[int, str] = {}
if item_map is not None and "cluster_label" in item_map[0].columns:
    frame = item_map[0].drop_duplicates("cluster")
    cluster_names = {int(c): f"{c} · {label}" for c, label in zip(frame["cluster"],
                                                                   frame["cluster_label"], strict=False)}
has_categories = item_categories(train) is not None or "genres" in train.catalog.columns
item_sets = [s["name"] for s in ui.workspace().list_item_sets(ds.name)]
split_cfg = info.results.protocol.split
sample = ui.eval_sample(split)
st.caption(f"{ui.sample_caption(sample)} Customers with held-out items of the "
           f"{split_cfg.method if split_cfg else '?'} split (seed "
           f"{split_cfg.seed if split_cfg else '?'}), K = {k}, top-{cands.pool} candidates per user. "
           f"Tail = the long tail: items outside the head (mid + far tail), the head covering "
           f"{train.config.head_share:.0%} of training "
           "interactions.")


def _options(method: str) -> dict:
    """Method-specific widgets; returns extra config fields."""
    opts: dict = {}
    cols = st.columns(3)
    if method == "promotion":
        targets = ["tail"] + (["cluster"] if clusters is not None else []) + (
            ["category"] if has_categories else []) + (["item_set"] if item_sets else [])
        target = cols[0].selectbox("Promote", targets, key="whatif_target",
                                   help="Which items the quota guarantees slots to. Clusters come "
                                   "from the latest item map, item sets from the Map page.")
        opts["target"] = target
        if target == "cluster":
            values = sorted(int(c) for c in np.unique(clusters) if c >= 0)
            opts["target_value"] = str(cols[1].selectbox(
                "Cluster", values, key="whatif_cluster", format_func=lambda c: cluster_names.get(
                    c, str(c))))
        elif target == "category":
            cats = item_categories(train)
            values = sorted(set(cats[cats != ""])) if cats is not None else sorted(
                {g for v in train.catalog["genres"].dropna() for g in str(v).split("|") if g})
            opts["target_value"] = cols[1].selectbox("Category", values, key="whatif_category")
        elif target == "item_set":
            opts["target_value"] = cols[1].selectbox("Item set", item_sets, key="whatif_set")
        opts["quota_share"] = cols[2].slider("Quota at full strength", 0.1, 1.0, 0.5, 0.1,
                                             key="whatif_share", help="Share of the K slots.")
        opts.update(ui.promotion_allocation("whatif"))
    elif method == "xquad":
        opts["xquad_variant"] = cols[0].radio("Variant", ["smooth", "binary"], horizontal=True,
                                              key="whatif_variant")
        opts["personalised"] = cols[1].checkbox("Personalised", True, key="whatif_personal",
                                                help="Weigh head and tail by each user's history.")
    elif method == "calibrated":
        if not has_categories:
            st.warning("This catalog has no category column, so calibration to each user's "
                       "category mix is not available; it calibrates to the head / mid / tail mix "
                       "of each user's history instead. Add a `category` column to the catalog to "
                       "enable it.")
        choice = cols[0].radio("Calibrate to", ["category", "popularity"], horizontal=True,
                               key="whatif_calibrate", disabled=not has_categories,
                               format_func={"category": "category mix",
                                            "popularity": "head / mid / tail mix"}.get)
        opts["calibrate_on"] = choice if has_categories else "popularity"
    return opts


def _metric_row(current: dict, baseline: dict, bands: dict[str, Band],
                deltas: dict[str, Band]) -> None:
    """The current lists' metrics, each with its change as % of the unboosted lists' value,
    its 95 % band and the band of the change (paired over the same customers)."""
    cols = st.columns(len(SHOWN))
    for col, (name, (label, colour, fmt)) in zip(cols, SHOWN.items(), strict=False):
        delta = current[name] - baseline[name]
        # As % of the unboosted value, unless that is (near) zero: then +88,500 % says
        # nothing and the change itself is shown.
        relative = baseline[name] and abs(delta / baseline[name]) <= 10
        shown = (None if abs(delta) == 0 else f"{delta / baseline[name]:+.1%}" if relative
                 else f"+{fmt.format(delta)}" if delta > 0 else fmt.format(delta))
        col.metric(label, fmt.format(current[name]), delta=shown, delta_color=colour,
                   help=f"Unboosted: {fmt.format(baseline[name])}; the change is shown as % of "
                   "it (as the change itself when it is more than ten times it).")
        band, change = bands[name], deltas[name]
        col.caption(f"95 %: {band.span(fmt)}" + ("" if change.low == change.high == 0 else
                                                  f" · change {change.span(fmt, signed=True)}"))


def _exposure_chart(table: pd.DataFrame, by: str, title: str) -> go.Figure:
    long = table.melt(id_vars=[by], value_vars=["baseline", "current"], var_name="lists",
                      value_name="share of slots")
    long[by] = ui.plot_escape_column(long[by])  # category and cluster names come from the upload
    fig = px.bar(long, x="share of slots", y=by, color="lists", barmode="group",
                 orientation="h", title=title,
                 color_discrete_map={"baseline": "#94a3b8", "current": "#0f766e"})
    fig.update_layout(height=max(260, 28 * len(table) + 120), yaxis={"autorange": "reversed"})
    return fig


def _budget_note(cfg: RerankConfig, promoted: dict[str, np.ndarray], k: int) -> str:
    """For a promotion: which allocation and target are active and the tail budget each
    allocation spends at this strength (slots promoted, share of all slots, lists changed)."""
    if cfg.method != "promotion" or not promoted:
        return ""

    opinion = getattr(cfg, "opinion", "none")
    second = (f", reading {OPINION_LABELS.get(opinion, opinion)}'s opinion too"
              if cfg.swap_cost == "expected" and opinion != "none" else "")

    def alloc(name: str) -> str:
        return f"'{ALLOCATION_LABELS[name]}'" + (f" ({SWAP_COST_LABELS[cfg.swap_cost]}{second})"
                                              if name == "global" else "")

    def spent(mask: np.ndarray) -> str:
        n = int(mask.sum())
        return (f"{n:,} slots ({n / max(1, mask.size):.1%} of the {mask.size:,} slots of K = {k}, "
                f"in {mask.any(axis=1).mean() if mask.size else 0:.0%} of the lists)")

    target = cfg.target if cfg.target_value is None else f"{cfg.target} {cfg.target_value}"
    other = next(name for name in promoted if name != cfg.allocation)
    quota = cfg.strength * cfg.quota_share * k
    return (f"Promotes {ui.md_escape(target)} items with allocation {alloc(cfg.allocation)}: "
            f"{spent(promoted[cfg.allocation])}. At this strength {alloc(other)} would promote "
            f"{spent(promoted[other])}. The quota is strength × quota share × K = {quota:g} "
            "slots a list, less what a list already holds: the same quota in every list rounds "
            "each list's need down or up so that the total is kept, and the same total spends "
            "exactly that many slots where they cost least, so a strength is one budget in both.")


def _business(base: np.ndarray, current) -> None:
    """Price on show and the long tail's share of expected revenue, current vs the unboosted
    lists (delta as % of the baseline), and the slot share per price band."""
    now, before = list_business(current, train), list_business(base, train)
    if now is None or before is None:
        st.caption("Business measures (price on show, the long tail's share of expected revenue, "
                   "exposure by price band) need a price column in the catalog.")
        return
    st.subheader("Business")
    cols = st.columns(3)
    for col, name in zip(cols, ("price_on_show", "tail_revenue_share"), strict=False):
        value, base_value = now[name], before[name]
        shown = f"{value:,.2f}" if name == "price_on_show" else f"{value:.1%}"
        delta = (f"{(value - base_value) / base_value:+.1%} of baseline"
                 if base_value and np.isfinite(base_value) and value != base_value else None)
        col.metric(BUSINESS_LABELS[name], shown if np.isfinite(value) else "—", delta=delta)
    cols[2].metric(BUSINESS_LABELS["priced_slots"], f"{now['priced_slots']:.0%}")
    st.caption("Each slot is weighted by its chance of being looked at (1 / log2(rank + 1), as in "
               "NDCG): expected revenue assumes every shown item sells in proportion to that, "
               "so it measures what is put on show, not a sales forecast.")
    bands = price_band_exposure(base, current, train)
    if bands is not None and len(bands):
        st.plotly_chart(_exposure_chart(bands, "price band", "Share of list slots by price band "
                                        "(catalog quartiles)"), key="whatif_exposure_price")


def _use_setting(method: str, strength: float) -> None:
    """Button callback: move the method picker and the slider to a setting of the table."""
    st.session_state["whatif_method"] = method
    st.session_state["whatif_strength"] = float(strength)


def _best_settings(curve: pd.DataFrame, budget: int) -> None:
    """Each method's most tail-heavy swept setting within the NDCG budget, best first, and a
    button that applies the best one."""
    best = best_within(curve, budget / 100).sort_values("aplt", ascending=False, kind="stable")
    base = float(curve.loc[curve["strength"] == 0, "ndcg"].iloc[0])
    table = pd.DataFrame({
        "method": best["method"].map(LABELS).fillna(best["method"]), "strength": best["strength"],
        "tail share (APLT)": best["aplt"], "NDCG@K": best["ndcg"],
        "NDCG loss": 1 - best["ndcg"] / base if base > 0 else 0.0, "coverage": best["coverage"]})
    st.markdown(f"**Most tail exposure within a {budget} % NDCG loss**")
    st.dataframe(table, hide_index=True, key="whatif_best", column_config={
        "strength": st.column_config.NumberColumn(format="%.2f"),
        "tail share (APLT)": st.column_config.NumberColumn(format="%.3f"),
        "NDCG@K": st.column_config.NumberColumn(format="%.4f"),
        "NDCG loss": st.column_config.NumberColumn(format="percent"),
        "coverage": st.column_config.NumberColumn(format="%.3f")})
    top = best.iloc[0]
    st.button(f"Use the best: {LABELS.get(top['method'], top['method'])} at "
              f"{top['strength']:.2f}", key="whatif_use_best", on_click=_use_setting,
              args=(str(top["method"]), float(top["strength"])),
              help="Sets the method and the strength above to this row.")
    st.caption(f"Among the swept strengths ({', '.join(f'{x:g}' for x in SWEEP)}); methods other "
               "than the one picked above use their default options.")


@st.fragment
def tuning() -> None:
    """Method, strength and everything they drive: reruns alone when a slider moves."""
    c1, c2 = st.columns([1, 2])
    method = c1.selectbox("Method", list(METHODS), key="whatif_method", format_func=LABELS.get)
    # The value lives in session state only ("Use the best" sets it there): a default as well
    # would make Streamlit warn about a widget set both ways.
    st.session_state.setdefault("whatif_strength", 0.3)
    strength = c2.slider("Strength", 0.0, 1.0, step=0.05, key="whatif_strength",
                         help="0 = the model's own lists, 1 = the method's strongest setting.")
    opts = _options(method)
    rule_name, rules = ui.rule_set_picker(ds, "whatif_rules", st.columns(3)[0])
    item_set = None
    try:
        if opts.get("target") == "item_set" and opts.get("target_value"):
            ids = ui.workspace().load_item_set(ds.name, opts["target_value"])
            item_set = set(train.item_positions(ids).tolist())
        cfg = RerankConfig(method=method, strength=strength, **opts)
        hits = (ui.hit_model(ds, run, model, split, cfg.opinion) if needs_hit_model(cfg)
                else None)
        ctx = RerankContext(train, item_clusters=clusters, item_set=item_set, hit_model=hits)
        t0 = time.perf_counter()
        result = lists_from_candidates(cands, train, k, steps=with_rules(cfg, rules),
                                       context=ctx)
        promoted = {}
        if cfg.method == "promotion":  # the other allocation's budget, for the caption
            other = "global" if cfg.allocation == "per_user" else "per_user"
            alt = lists_from_candidates(cands, train, k, context=ctx, steps=cfg.model_copy(
                update={"allocation": other}))
            promoted = {cfg.allocation: result.boosted, other: alt.boosted}
        now = measure_banded(result, train, split.test, cands.users)
        elapsed = time.perf_counter() - t0
        base = measure_banded(cands.top(k), train, split.test, cands.users)
        current, baseline = now.summary, base.summary
        bands, deltas = banded_pair(now, base, seed=sample.seed)
    except (ValidationError, ValueError, WorkspaceError) as exc:
        st.error(f"This setting cannot be applied: {ui.md_escape(' '.join(str(exc).split()))}")
        return
    applied = cfg.label() + (f" + rule set '{rule_name}'" if rule_name else "")
    st.caption(f"{ui.md_escape(applied)}: {cands.n_users:,} users re-ranked and measured in "
               f"{elapsed * 1000:.0f} ms. Deltas are against the model's unboosted lists; under "
               "each figure its 95 % band and the band of the change, from the per-customer "
               "differences on the same customers (coverage and Gini: a bootstrap).")
    if note := _budget_note(cfg, promoted, k):
        st.caption(note)
    _metric_row(current, baseline, bands, deltas)
    if st.button("Export this setting", key="whatif_to_export",
                 help="Opens Export with this model, method, strength and options filled in, "
                 "and the figures they are expected to give."):
        ui.hand_off_setting(run, cfg, k, rule_name)
        st.switch_page("pages/export.py")

    st.subheader("Trade-off")
    budget = st.columns([1, 2])[0].slider(
        "Accuracy budget: NDCG@K loss at most (%)", 1, 20, 5, 1, key="whatif_budget",
        help="How much of the unboosted NDCG you are willing to give up for tail exposure; the "
        "curve marks it and the table below picks each method's best setting within it.")
    options = {method: opts} if opts else {}
    methods = tuple(m for m in METHODS if m != "calibrated" or has_categories
                    or method == "calibrated")
    try:
        curve = _frontier(ds.fingerprint, run, saved_at, k, methods, json.dumps(options, sort_keys=True),
                          (sample.size, sample.seed), cands, split, clusters, frozenset(item_set) if item_set else None,
                          hits)
    except ValueError as exc:
        st.error(f"The trade-off curve could not be computed: {ui.md_escape(exc)}")
        curve = None
    if curve is not None and not curve.empty:
        fig = px.line(curve.assign(method=curve["method"].map(LABELS)), x="aplt", y="ndcg",
                      color="method", markers=True,
                      hover_data=["strength", "coverage", "gini"],
                      labels={"aplt": "tail share of lists (APLT@K)", "ndcg": "NDCG@K"},
                      title="Accuracy vs tail exposure, strengths 0 → 1")
        fig.add_trace(go.Scatter(x=[current["aplt"]], y=[current["ndcg"]], mode="markers",
                                 name="current setting",
                                 marker=dict(symbol="star", size=18, color="#dc2626")))
        fig.add_hline(y=(1 - budget / 100) * baseline["ndcg"], line_dash="dot",
                      line_color="#64748b", annotation_text=f"{budget} % NDCG loss")
        st.plotly_chart(fig, key="whatif_curve")
        _best_settings(curve, budget)

    st.subheader("Exposure")
    left, right = st.columns(2)
    by_cat = exposure_table(cands.top(k), result, train, "category")
    if by_cat is None:
        left.info("No category column in this catalog: exposure by category is not available.")
    else:
        left.plotly_chart(_exposure_chart(by_cat, "category", "Share of list slots by category"),
                          key="whatif_exposure_category")
    by_cluster = exposure_table(cands.top(k), result, train, "cluster", clusters)
    if by_cluster is None:
        right.info("No item map yet: build one on the Map page to see exposure by cluster.")
    else:
        by_cluster["cluster"] = by_cluster["cluster"].map(
            lambda c: cluster_names.get(int(c), str(c)) if str(c).lstrip("-").isdigit() else c)
        right.plotly_chart(_exposure_chart(by_cluster, "cluster", "Share of list slots by map "
                                           "cluster"), key="whatif_exposure_cluster")

    _business(cands.top(k), result)

    st.subheader("Per-user preview")
    changed = changed_rows(cands, result)
    rows = np.concatenate([changed, np.setdiff1d(np.arange(cands.n_users), changed)])[:500]
    user_ids = train.user_ids[cands.users[rows]]
    pick = st.selectbox("User", range(len(rows)), key="whatif_user",
                        format_func=lambda i: f"{user_ids[i]}" + (" · changed" if i < len(changed)
                                                                  else ""),
                        help="Users whose list changed come first.")
    row = int(rows[pick])
    table = preview_frame(cands, result, train, row)
    st.dataframe(table, hide_index=True, key="whatif_preview",
                 column_config={"score": st.column_config.NumberColumn(format="%.3f"),
                                "base score": st.column_config.NumberColumn(format="%.3f")})
    st.caption(f"{int(table['tail'].sum())} tail items after, {int(table['model tail'].sum())} "
               "before. 'was rank' is the item's place in the model's candidate list.")


tuning()
