"""Rules page: pin, boost, bury or block products, see what it does to a user and to the metrics,
and keep named rule sets for What-if and Export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from pydantic import ValidationError

import ui
from recsys.rerank import (
    RerankContext,
    changed_rows,
    item_clusters_from_map,
    lists_from_candidates,
    measure,
    preview_frame,
)
from recsys.rerank.config import MAX_POSITION
from recsys.rerank.rulesets import RULE_ACTIONS, RULE_LABELS, RuleSet
from recsys.workspace import WorkspaceError

WORKING = "rules_working"  # the rule set being edited, as a plain dict
SOURCES = {"search": "Search the catalog", "item_set": "A saved item set", "cluster": "A map cluster"}
SHOWN = {"ndcg": ("NDCG@K", "{:.4f}"), "recall": ("Recall@K", "{:.4f}"),
         "aplt": ("Tail share (APLT)", "{:.3f}"), "coverage": ("Coverage", "{:.3f}")}
MATCHES = 200

ds = ui.page_start("Rules")
st.caption("Merchandising decisions that apply whatever the model says: pin a product at a "
           "position, boost or bury products, block products. Rules run after any tail method "
           "on What-if and Export; keep them as named rule sets.")
ws = ui.workspace()
ui.show_flash()
ui.forget_on_switch(ds, "rules", WORKING, "rules_open", "rules_name", "rules_items",
                    "rules_search", "rules_remove")


def working() -> RuleSet:
    return RuleSet(**st.session_state.get(WORKING, {}))


def keep(rules: RuleSet) -> None:
    st.session_state[WORKING] = rules.model_dump(mode="json")


def item_label(pos: int) -> str:
    title = ds.catalog["title"].iloc[pos] if "title" in ds.catalog.columns else ""
    return f"{ds.item_ids[pos]} · {title}" if isinstance(title, str) and title else str(
        ds.item_ids[pos])


# ----------------------------------------------------------------------------- kept sets
def kept_sets() -> None:
    """Open, save and delete named rule sets."""
    saved = [r["name"] for r in ws.list_rule_sets(ds.name)]
    c = st.columns([2, 1, 2, 1])
    pick = c[0].selectbox("Kept rule sets", saved or ["(none kept yet)"], key="rules_open",
                          disabled=not saved)
    if c[1].button("Open", key="rules_load", disabled=not saved):
        try:
            keep(RuleSet(**ws.load_rule_set(ds.name, pick)))
        except (WorkspaceError, ValidationError, TypeError) as exc:
            st.error(f"The rule set '{ui.md_escape(pick)}' cannot be opened: "
                     f"{ui.md_escape(' '.join(str(exc).split()))}")
        else:
            st.session_state["rules_name"] = pick
            st.session_state.pop("rules_weight", None)  # follow the opened set's weight
            st.rerun()
    name = c[2].text_input("Save as", key="rules_name", max_chars=80,
                           placeholder="e.g. winter garden push")
    if c[3].button("Save", key="rules_save", type="primary",
                   disabled=working().is_empty or not name.strip()):
        saved_as = ws.save_rule_set(ds.name, name, working().model_dump(mode="json"))
        ui.flash(f"Rule set '{ui.md_escape(saved_as)}' kept ({working().n_rules} rules).")
        st.rerun()
    if saved:
        d = st.columns([2, 1, 3])
        sure = d[0].checkbox(f"Confirm deleting '{pick}'", key="rules_confirm_delete")
        if d[1].button("Delete", key="rules_delete", disabled=not sure):
            ws.delete_rule_set(ds.name, pick)
            st.session_state.pop("rules_confirm_delete", None)
            ui.flash(f"Rule set '{ui.md_escape(pick)}' deleted.")
            st.rerun()


# ----------------------------------------------------------------------------- adding rules
def picked_items() -> list[str]:
    """The item ids the chosen source gives (search matches picked, an item set, a cluster)."""
    source = st.radio("Products from", list(SOURCES), format_func=SOURCES.get, horizontal=True,
                      key="rules_source")
    if source == "search":
        text = st.text_input("Search by id or title", key="rules_search",
                             placeholder="e.g. lantern")
        titles = (ds.catalog["title"].astype(str) if "title" in ds.catalog.columns
                  else pd.Series([""] * ds.n_items))
        ids = pd.Series(ds.item_ids.astype(str))
        if text.strip():
            hit = (ids.str.contains(text.strip(), case=False, regex=False)
                   | titles.str.contains(text.strip(), case=False, regex=False)).to_numpy()
        else:  # nothing typed: the most popular products first
            hit = np.zeros(ds.n_items, dtype=bool)
            hit[np.argsort(-ds.popularity, kind="stable")[:MATCHES]] = True
        matches = np.flatnonzero(hit)[:MATCHES]
        if text.strip() and not len(matches):
            st.caption("No product matches.")
        chosen = st.multiselect("Products", matches.tolist(), format_func=item_label,
                                key="rules_items", max_selections=50,
                                help=f"Up to {MATCHES} matches are offered; type more to narrow.")
        return [str(ds.item_ids[p]) for p in chosen]
    if source == "item_set":
        sets = [s["name"] for s in ws.list_item_sets(ds.name)]
        if not sets:
            st.info("No item set yet: save one from the Map page or the Catalog.")
            return []
        name = st.selectbox("Item set", sets, key="rules_item_set")
        try:
            return ws.load_item_set(ds.name, name)
        except WorkspaceError as exc:
            st.error(ui.md_escape(exc))
            return []
    item_map = ws.load_item_map(ds.name)
    clusters = item_clusters_from_map(ds, item_map[0] if item_map else None)
    if clusters is None or not (clusters >= 0).any():
        st.info("No item map with clusters yet: build one on the Map page.")
        return []
    labels = {}
    if "cluster_label" in item_map[0].columns:
        first = item_map[0].drop_duplicates("cluster")
        labels = dict(zip(first["cluster"].astype(int), first["cluster_label"], strict=False))
    ids = sorted(int(c) for c in np.unique(clusters[clusters >= 0]))
    cluster = st.selectbox("Cluster", ids, key="rules_cluster",
                           format_func=lambda c: f"{c} · {labels.get(c, '')}".rstrip(" ·"))
    return [str(i) for i in ds.item_ids[clusters == cluster]]


def add_rules() -> None:
    st.subheader("Add rules")
    items = picked_items()
    c = st.columns([3, 1, 1])
    action = c[0].radio("Rule", RULE_ACTIONS, format_func=RULE_LABELS.get, horizontal=True,
                        key="rules_action")
    position = None
    if action == "pin":
        position = int(c[1].number_input("Position", 1, MAX_POSITION, 1, key="rules_position",
                                         help="Several products take consecutive positions."))
    if c[2].button(f"Add for {len(items):,} product{'s' if len(items) != 1 else ''}",
                   key="rules_add", disabled=not items):
        try:
            keep(working().with_rule(items, action, position))
        except (ValueError, ValidationError) as exc:
            st.error(f"These rules cannot be added: {ui.md_escape(' '.join(str(exc).split()))}")
        else:
            st.session_state.pop("rules_items", None)
            st.rerun()


def current_rules() -> RuleSet:
    rules = working()
    st.subheader(f"Rules ({rules.n_rules})")
    if rules.is_empty:
        st.caption("No rule yet.")
        return rules
    table = rules.rows(ds)
    st.dataframe(table, hide_index=True, key="rules_table", column_config={
        "item_id": st.column_config.TextColumn("product"),
        "position": st.column_config.NumberColumn("position", format="%d"),
        "in catalog": st.column_config.CheckboxColumn("in this catalog")})
    c = st.columns([3, 1, 1])
    remove = c[0].multiselect("Remove the rules of", table["item_id"].tolist(), key="rules_remove")
    if c[1].button("Remove", key="rules_remove_btn", disabled=not remove):
        keep(rules.without(remove))
        st.session_state.pop("rules_remove", None)
        st.rerun()
    if c[2].button("Clear all", key="rules_clear"):
        keep(RuleSet())
        st.rerun()
    if rules.boost or rules.bury:
        weight = st.slider("How far boosts and burials move a product", 0.05, 1.0,
                           float(rules.rule_weight), 0.05, key="rules_weight",
                           help="On each user's normalised score: 1 puts a boosted product ahead "
                           "of everything else (a buried one behind), smaller values nudge.")
        if weight != rules.rule_weight:
            rules = rules.model_copy(update={"rule_weight": weight})
            keep(rules)
    return rules


# ----------------------------------------------------------------------------- effect
def effect(rules: RuleSet) -> None:
    """The rules on a kept model's evaluation users: metrics against its own lists, the share
    of lists changed and one user's list before and after."""
    st.subheader("Effect")
    run = ui.model_picker(ds, key="rules_model", preselect="best")
    if run is None or rules.is_empty:
        if run is not None:
            st.caption("Add a rule to see its effect.")
        return
    try:
        model = ui.load_trained(ds, run)
        split = ui.evaluation_split(ds, run)
        info = ui.run_info(ds, run)
        cands = ui.eval_candidates(ds, info, model, split)
        k = info.results.protocol.k
        train = split.train
        result = lists_from_candidates(cands, train, k, steps=[rules.step()],
                                       context=RerankContext(train))
    except (WorkspaceError, ValueError, ValidationError, OSError) as exc:
        st.error(f"The rules cannot be previewed on '{ui.md_escape(run)}': "
                 f"{ui.md_escape(' '.join(str(exc).split()))}")
        return
    if cands.n_users == 0:
        st.warning("The validation split has no held-out interactions to measure on.")
        return
    now = measure(result, train, split.test, cands.users)
    base = measure(cands.top(k), train, split.test, cands.users)
    changed = changed_rows(cands, result)
    cols = st.columns(len(SHOWN) + 1)
    for col, (name, (label, fmt)) in zip(cols, SHOWN.items(), strict=False):
        delta = now[name] - base[name]
        col.metric(label, fmt.format(now[name]),
                   delta=f"{delta / base[name]:+.1%}" if base[name] and abs(delta) > 0 else None)
    cols[-1].metric("Lists changed", f"{len(changed) / cands.n_users:.0%}")
    st.caption(f"On {cands.n_users:,} evaluation users of '{ui.md_escape(run)}' "
               f"({ui.eval_sample(split).describe()}), K = {k}; deltas "
               "as % of the model's own lists. A pinned or boosted product a user already has "
               "is never shown to them again.")
    rows = np.concatenate([changed, np.setdiff1d(np.arange(cands.n_users), changed)])[:500]
    users = train.user_ids[cands.users[rows]]
    pick = st.selectbox("User", range(len(rows)), key="rules_user",
                        format_func=lambda i: f"{users[i]}" + (" · changed" if i < len(changed)
                                                               else ""))
    st.dataframe(preview_frame(cands, result, train, int(rows[pick])), hide_index=True,
                 key="rules_preview",
                 column_config={"score": st.column_config.NumberColumn(format="%.3f"),
                                "base score": st.column_config.NumberColumn(format="%.3f")})


kept_sets()
add_rules()
effect(current_rules())
