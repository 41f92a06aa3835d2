"""The Catalog page's Profile tab: how concentrated attention is in the active dataset.

Headline figures, the Lorenz curve, head / mid / far tail tables (shares, price, recency,
revenue), long-tail share per category, price or recency by segment and a searchable item table.
Only display: every figure comes from :mod:`recsys.data.profile` and
:mod:`recsys.rerank.business`.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

import ui
from recsys import Dataset
from recsys.data.dataset import SEGMENT_NAMES, SEGMENTS
from recsys.data.profile import (
    item_table,
    lorenz_curve,
    profile_summary,
    segment_stats,
    segment_table,
    tail_share_by,
)
from recsys.evaluation import gini
from recsys.rerank.business import revenue_by_segment

__all__ = ["render_profile"]

SEGMENT_COLORS = {"head": "#0f766e", "mid": "#67e8f9", "far tail": "#f59e0b"}
SEGMENT_ORDER = [SEGMENT_NAMES[s] for s in SEGMENTS]
#: Groups drawn in "Long-tail share per category" (largest first); the rest share one bar.
TAIL_GROUPS = 15


def render_profile(ds: Dataset | None) -> None:
    """The active dataset's profile: headline figures, popularity, segments and the items."""
    if ds is None:
        st.info("No dataset yet: load the demo shop or upload files in **Load data**.")
        return
    summary = profile_summary(ds)
    profile_headline(ds, summary)
    popularity_curve(ds, summary)
    segment_tables(ds)  # full width: in a half-width column their last columns scrolled away
    groups = [c for c in ("category", "brand", "subcategory") if c in ds.catalog.columns]
    items = named_segments(item_table(ds)).rename(columns={"is_tail": "long tail"})
    left, right = st.columns(2)
    with left:
        tail_share_chart(ds, groups)
    with right:
        price_or_recency_chart(items)
    item_browser(items)


def profile_headline(ds: Dataset, summary: dict) -> None:
    """Name, source and the six headline metrics."""
    s = ds.summary()
    st.caption(f"**{ui.md_escape(ds.name)}** · {ui.md_escape(ds.meta.get('source', ''))} · "
               f"head = items covering "
               f"{ds.config.head_share:.0%} of interactions")
    if ds.n_context_pairs:
        st.caption(f"{ds.n_context_pairs:,} user–item pairs below the rating threshold "
                   f"(≥ {ds.config.rating_threshold:g}) are kept as seen: they are not positives, "
                   "and no list recommends them back to the user.")
    if s["pairs"] != s["interactions"]:
        st.caption(f"Interactions = {s['interactions']:,} events (rows kept); they form "
                   f"{s['pairs']:,} distinct user–item pairs, which the head / mid / far tail table "
                   "counts.")
    c = st.columns(6)
    c[0].metric("Users", f"{s['users']:,}")
    c[1].metric("Items", f"{s['items']:,}")
    c[2].metric("Interactions", f"{s['interactions']:,}",
                help=f"Interaction events (rows kept). They form {s['pairs']:,} distinct "
                "user–item pairs, which the head / mid / far tail table and the popularity curve "
                "count.")
    c[3].metric("Gini of interactions", f"{summary['gini']:.3f}",
                help="0 = every item equally popular, 1 = one item gets everything.")
    c[4].metric("Head items", f"{summary['head_items_share']:.1%}",
                help=f"Share of items that take {ds.config.head_share:.0%} of interactions.")
    c[5].metric("Cold items", f"{summary['cold_items']:,}", help="Items with no interaction.")


def popularity_curve(ds: Dataset, summary: dict) -> None:
    """The Lorenz curve of item popularity, with where the head starts."""
    lc = lorenz_curve(ds.popularity)
    fig = go.Figure()
    fig.add_scatter(x=lc["items_share"], y=lc["interactions_share"], mode="lines",
                    name="Lorenz curve", line=dict(color="#0f766e", width=3))
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="equal popularity",
                    line=dict(color="#9ca3af", dash="dash"))
    head_x = 1 - summary["head_items_share"]
    fig.add_vline(x=head_x, line_dash="dot", line_color="#f59e0b",
                  annotation_text="head starts", annotation_position="top left")
    fig.update_layout(title=f"Popularity curve (Gini {gini(ds.popularity):.3f})",
                      xaxis_title="share of items (least popular first)",
                      yaxis_title="share of interactions", height=380,
                      xaxis_tickformat=".0%", yaxis_tickformat=".0%",
                      legend=dict(orientation="h", y=-0.25))
    st.plotly_chart(fig, key="lorenz")


def named_segments(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its segment codes shown by name (head / mid / far tail)."""
    return frame.assign(segment=frame["segment"].map(SEGMENT_NAMES).fillna(frame["segment"]))


def segment_tables(ds: Dataset) -> None:
    """Head / mid / far tail shares, then price, recency and revenue per segment."""
    seg = named_segments(segment_table(ds))
    st.markdown("**Head / mid / far tail**")
    st.dataframe(seg, hide_index=True, column_order=[
        "segment", "items_share", "interactions_share", "items", "interactions",
        "mean_popularity", "cold_items"], column_config={
        "items_share": st.column_config.ProgressColumn("items share", format="percent",
                                                       min_value=0.0, max_value=1.0),
        "interactions": st.column_config.NumberColumn("user–item pairs"),
        "interactions_share": st.column_config.ProgressColumn(
            "pairs share", format="percent", min_value=0.0, max_value=1.0),
        "mean_popularity": st.column_config.NumberColumn("mean popularity", format="%.1f"),
        "cold_items": st.column_config.NumberColumn("cold items"),
    })
    st.caption(f"Interactions here are distinct user–item pairs ({ds.n_pairs:,} in all, from "
               f"{ds.n_interactions:,} interaction events): popularity = distinct users per item. "
               "Mid and far tail together form the **long tail** that every tail metric "
               "counts.")
    stats = named_segments(segment_stats(ds))
    st.markdown("**Price and recency by segment**")
    st.dataframe(stats, hide_index=True, column_config={
        "median_price": st.column_config.NumberColumn("median price", format="%.2f"),
        "median_days_since_last": st.column_config.NumberColumn(
            "median days since last", format="%.0f",
            help="Days between an item's last interaction and the end of the data."),
        "new_last_90d_share": st.column_config.NumberColumn(
            "new in last 90 days", format="percent",
            help="Share of items first seen in the last 90 days of the data."),
    })
    revenue = revenue_by_segment(ds)
    if revenue is not None:
        revenue = named_segments(revenue)
        st.markdown("**Revenue by segment**")
        st.dataframe(revenue, hide_index=True, column_order=[
            "segment", "revenue share", "items share", "revenue", "priced events"], column_config={
            "revenue share": st.column_config.ProgressColumn(
                "revenue share", format="percent", min_value=0.0, max_value=1.0),
            "items share": st.column_config.NumberColumn("items share", format="percent"),
            "revenue": st.column_config.NumberColumn("revenue", format="localized"),
            "priced events": st.column_config.NumberColumn(
                "events with a price", format="percent"),
        })
        long_tail = float(revenue.loc[revenue["segment"] != "head", "revenue share"].sum())
        st.caption(f"Revenue = catalog price × quantity (× 1 per event without a quantity) over "
                   f"the kept interactions. The long tail (mid + far tail) brings {long_tail:.1%} of "
                   "it.")


def tail_share_chart(ds: Dataset, groups: list[str]) -> None:
    """Share of long-tail items per category (or brand, subcategory)."""
    if groups:
        by = st.selectbox("Long-tail share by", groups, key="tail_by")
        share = tail_share_by(ds, by, top=TAIL_GROUPS)
        # Highest tail share on top, the pooled rest last: one labelled bar per row.
        share = share.sort_values(["pooled", "tail_share"], ascending=[True, False], kind="stable")
        share["group"] = ui.plot_escape_column(share["group"])  # category names are uploaded
        fig = px.bar(share, x="tail_share", y="group", orientation="h",
                     hover_data=["items", "tail_items", "interactions_share"],
                     labels={"tail_share": "share of items in the long tail", "group": by,
                             "interactions_share": "share of interactions"},
                     color="interactions_share", color_continuous_scale="Teal")
        groups_shown = share["group"].tolist()
        fig.update_layout(height=max(320, 24 * len(share) + 140), xaxis_tickformat=".0%",
                          title=f"Long-tail share per {by}",
                          yaxis=dict(autorange="reversed", type="category", tickmode="array",
                                     tickvals=groups_shown, ticktext=groups_shown,
                                     automargin=True))
        st.plotly_chart(fig, key="tail_share")
        if share["pooled"].any():
            st.caption(f"The {TAIL_GROUPS} {by} values with the most items, then the other "
                       f"{by} values pooled in one bar.")
    else:
        st.info("The catalog has no category or brand column, so tail share per category "
                "cannot be shown.")


def price_or_recency_chart(items: pd.DataFrame) -> None:
    """Price by segment when the catalog has prices, else when items were last seen."""
    if "price" in items.columns and items["price"].notna().any():
        fig = px.box(items.dropna(subset=["price"]), x="segment", y="price",
                     color="segment", color_discrete_map=SEGMENT_COLORS, log_y=True,
                     category_orders={"segment": SEGMENT_ORDER},
                     title="Price by segment")
        fig.update_layout(height=460, showlegend=False)
        # Plotly's default log ticks repeat bare digits (2, 5, 2, 10…); label 1-2-5 steps instead.
        fig.update_yaxes(title="price (log scale)",
                         tickvals=[m * 10**e for e in range(-2, 6) for m in (1, 2, 5)])
        st.plotly_chart(fig, key="price_box")
    elif items["last_seen"].notna().any():
        fig = px.histogram(items, x="last_seen", color="segment",
                           color_discrete_map=SEGMENT_COLORS, title="Last interaction")
        st.plotly_chart(fig, key="recency_hist")


def item_browser(items: pd.DataFrame) -> None:
    """The item table, filtered by a search, segments and categories."""
    st.markdown("**Items**")
    f1, f2, f3 = st.columns([2, 1, 1])
    query = f1.text_input("Search title or id", key="item_search", placeholder="e.g. lantern")
    segs = f2.multiselect("Segment", SEGMENT_ORDER, key="item_segments")
    cats = []
    if "category" in items.columns:
        cats = f3.multiselect("Category", sorted(items["category"].dropna().unique()),
                              key="item_categories")
    view = items
    if query:
        q = query.strip()
        view = view.loc[view["title"].str.contains(q, case=False, regex=False)
                        | view["item_id"].str.contains(q, case=False, regex=False)]
    if segs:
        view = view.loc[view["segment"].isin(segs)]
    if cats:
        view = view.loc[view["category"].isin(cats)]
    st.caption(f"{len(view):,} of {len(items):,} items")
    st.dataframe(view.sort_values("popularity", ascending=False), hide_index=True, height=420,
                 column_config={"price": st.column_config.NumberColumn(format="%.2f")})
