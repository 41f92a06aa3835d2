"""Export page: tail-boost lists of a kept model (optionally re-ranked) as CSV / Parquet / JSON."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path

import pandas as pd
import streamlit as st
from pydantic import ValidationError

import ui
from export_view import DAMAGED, damaged_export, open_export, show_export
from recsys.data.segments import SEGMENT_LABELS, USER_SEGMENTS
from recsys.export import (
    ExportConfig,
    ExportScope,
    export_lists,
    item_clusters,
    list_exports,
    new_export_dir,
    split_metrics,
)
from recsys.export.scopes import SCOPE_KINDS, SCOPE_RESTRICTS, ScopeKind, ScopeRestrict
from recsys.export.updated import refuse_opinion
from recsys.export.writers import EXPORT_FORMATS
from recsys.labels import METHOD_LABELS, method_label
from recsys.models import create_model
from recsys.rerank import (
    METHODS,
    RERANK_POOL,
    RerankConfig,
    RerankContext,
    fit_hit_model_on_split,
    inner_split_method,
    needs_hit_model,
    opinion_of,
)
from recsys.rerank.rulesets import with_rules
from recsys.workspace import WorkspaceError

LAST = "export_last_folder"
SCOPES: dict[ScopeKind, str] = {"all": "All users", "segment": "A user segment", "cluster": "A cluster of the map",
          "item_set": "A saved item set"}
RESTRICTS: dict[ScopeRestrict, str] = {"users": "users who interacted with it (full lists)",
                                       "lists": "every user, lists made of its items only"}

ds = ui.page_start("Export")
st.caption(f"Dataset **{ui.md_escape(ds.name)}** · {ds.n_users:,} users × {ds.n_items:,} items · lists hold only "
           "items a user has never interacted with.")
ws = ui.workspace()


@st.cache_resource(max_entries=2, show_spinner=False)
def retrained(fingerprint: str, run: str, saved_at: str, name: str, config_json: str, _ds,
              _bar=None) -> tuple[object, float]:
    """The kept model's settings fitted on every interaction, and the seconds it took (cached
    per dataset and run); ``_bar`` (a progress bar) follows the epochs."""
    model = create_model(name, json.loads(config_json))
    epochs = int(getattr(model.config, "epochs", 0) or 0)
    t0 = time.perf_counter()

    def progress(epoch: int, _metrics: dict) -> None:
        if _bar is not None:
            done = f"epoch {epoch} of at most {epochs}" if epochs > 1 else "fitted"
            _bar.progress(min(1.0, epoch / max(epochs, 1)),
                          text=f"Retraining on all interactions: {done}, "
                          f"{time.perf_counter() - t0:.0f} s")

    if _bar is not None:
        _bar.progress(0.0, text="Retraining on all interactions…")
    model.fit(_ds, callback=progress)
    return model, time.perf_counter() - t0


@st.cache_data(max_entries=8, show_spinner="Measuring the lists on the evaluation split…")
def held_out_metrics(fingerprint: str, run: str, saved_at: str, steps_json: str, k: int,
                     map_key: str, set_key: str) -> dict:
    model = ui.load_trained(ds, run)
    steps = [RerankConfig(**s) for s in json.loads(steps_json)]
    split = ui.evaluation_split(ds, run)
    hits = (ui.hit_model(ds, run, model, split, opinion_of(steps)) if needs_hit_model(steps)
            else None)
    context = RerankContext.for_items(split.train, item_clusters=clusters, item_ids=item_set,
                                      hit_model=hits)
    return split_metrics(model, split, steps, k=k, context=context)


@st.cache_resource(max_entries=2, show_spinner="Learning each candidate's hit chance on an inner "
                   "split of all interactions (the model is refitted there once)…")
def retrained_hit_model(fingerprint: str, run: str, saved_at: str, opinion: str, _model, _ds):
    """The hit model of the retrained model (``expected`` cost of a slot), cached per run."""
    return fit_hit_model_on_split(_model, _ds, method=inner_split_method(_ds), opinion=opinion)


#: Options a What-if hand-off carries beyond the widgets of this page (method → fields).
HANDED_OVER = {"promotion": ("target", "target_value", "quota_share"),
               "xquad": ("xquad_variant", "personalised"), "calibrated": ("calibrate_on",)}


def handed_over_options(method: str) -> dict:
    """The options of a setting handed over from What-if that this page has no widget for,
    while its method is still the one picked (a caption says so, with a way to drop them)."""
    config = st.session_state.get("export_handoff_options")
    if not config or config.get("method") != method or method not in HANDED_OVER:
        return {}
    extra = {f: config[f] for f in HANDED_OVER[method] if config.get(f) is not None}
    default = RerankConfig(method=method).model_dump(mode="json")
    shown = {f: v for f, v in extra.items() if v != default.get(f)}
    if shown:
        cols = st.columns([4, 1])
        def text(v: object) -> str:
            return f"{v:g}" if isinstance(v, float) else ui.md_escape(v)

        cols[0].caption("From What-if: " + ", ".join(f"{f.replace('_', ' ')} **{text(v)}**"
                                                      for f, v in shown.items()) + ".")
        if cols[1].button("Drop these", key="export_drop_handoff"):
            st.session_state.pop("export_handoff_options", None)
            st.rerun()
    return extra


def current_steps() -> list[RerankConfig]:
    """The re-ranking steps the widgets describe: the tail method (none for the model's own
    lists), then the chosen rule set."""
    tail = [] if method == "none" else [RerankConfig(method=method, strength=float(strength),
                                                     **options)]
    return with_rules(tail, rules)


def expected_figures() -> None:
    """What the chosen setting is expected to give, measured on the kept model's evaluation
    split, next to the model's own lists (deltas as % of them); an updated run has none."""
    if info.updated:
        st.caption(f"**{ui.md_escape(run)}** is an online update of "
                   f"**{ui.md_escape(info.results.updated_from)}**, not evaluated: it has no "
                   "held-out figures, so the expected figures of this setting are not shown and "
                   "the manifest carries no metrics. Retrain on the Train page to evaluate it.")
        return
    try:
        steps = current_steps()
        shown = {"ndcg": "NDCG@K", "recall": "Recall@K", "aplt": "Tail share (APLT)",
                 "coverage": "Coverage"}
        now, base = (held_out_metrics(ds.fingerprint, run, str(info.saved_at),
                                      json.dumps([x.model_dump(mode="json") for x in chosen]),
                                      int(k), map_key, json.dumps(item_set))
                     for chosen in (steps, []))
    except (ValidationError, ValueError, WorkspaceError, OSError) as exc:
        st.warning(f"The expected figures of this setting cannot be measured: "
                   f"{ui.md_escape(' '.join(str(exc).split()))}")
        return
    st.markdown(f"**Expected with this setting** (K = {int(k)}, the kept model on its "
                "evaluation split)")
    cols = st.columns(len(shown))
    for col, (name, label) in zip(cols, shown.items(), strict=True):
        delta = now[name] - base[name]
        col.metric(label, f"{now[name]:.4f}" if name != "aplt" else f"{now[name]:.3f}",
                   delta=f"{delta / base[name]:+.1%} of the model's lists"
                   if steps and base[name] and abs(delta) > 0 else None)


handoff = ui.take_handed_off_setting(ds)  # "Export this setting" on What-if
if handoff is not None:
    st.session_state["export_handoff_options"] = handoff["config"]
run = ui.model_picker(ds, key="export_model", updated=True)
if run is None:
    st.stop()
info = ui.run_info(ds, run, updated=True)
item_map = ws.load_item_map(ds.name)
clusters = item_clusters(ds, item_map[0]) if item_map is not None else None
item_set: list[str] | None = None
map_key = hashlib.sha256(clusters.tobytes()).hexdigest()[:16] if clusters is not None else ""

c = st.columns(4)
method = c[0].selectbox("Re-rank method", ["none", *METHODS], key="export_method",
                        format_func=METHOD_LABELS.get,
                        help="How the tail gets more exposure; the model's own lists export them unchanged.")
# Values live in session state only (a What-if hand-off sets them there): a default as well
# would make Streamlit warn about a widget set both ways.
st.session_state.setdefault("export_strength", 0.5)
st.session_state.setdefault("export_k", 10)
strength = c[1].slider("Strength", 0.0, 1.0, step=0.05, key="export_strength",
                       disabled=method == "none", help="0 = the model's lists, 1 = the strongest setting.")
k = c[2].number_input("K (items per user)", 1, 200, key="export_k")
fmt = c[3].selectbox("Format", EXPORT_FORMATS, key="export_format",
                     help="JSON is written as JSON Lines (one object per row).")

options: dict = handed_over_options(method)
if method == "promotion":
    o = st.columns(2)
    options.update(ui.promotion_allocation("export", o[0], o[1]))

rule_name, rules = ui.rule_set_picker(ds, "export_rule_set", st.columns(3)[0])

s = st.columns([1, 1, 1])
kind = s[0].selectbox("Scope", SCOPE_KINDS, format_func=SCOPES.get, key="export_scope")
value: str | None = None
restrict = "users"
if kind == "segment":
    value = s[1].selectbox("Segment", USER_SEGMENTS, format_func=SEGMENT_LABELS.get, key="export_segment")
elif kind == "cluster":
    if clusters is None or not (clusters >= 0).any():
        s[1].warning("No item map with clusters yet: build one on the Map page.")
    else:
        frame = item_map[0]
        labels = (frame.drop_duplicates("cluster").set_index("cluster")["cluster_label"].to_dict()
                  if "cluster_label" in frame.columns else {})
        ids = sorted(int(x) for x in set(clusters[clusters >= 0].tolist()))
        value = str(s[1].selectbox("Cluster", ids, key="export_cluster",
                                   format_func=lambda x: f"{x} · {labels.get(x, '')}".rstrip(" ·")))
elif kind == "item_set":
    sets = ws.list_item_sets(ds.name)
    if not sets:
        s[1].warning("No saved item set yet: save one from the Map page.")
    else:
        value = s[1].selectbox("Item set", [x["name"] for x in sets], key="export_item_set")
        item_set = ws.load_item_set(ds.name, value)
if kind in ("cluster", "item_set"):
    restrict = s[2].radio("Export", SCOPE_RESTRICTS, key="export_restrict", format_func=RESTRICTS.get)

if options.get("target") == "item_set" and options.get("target_value"):
    if kind == "item_set" and value != options["target_value"]:
        st.warning(f"The promotion targets the item set '{ui.md_escape(options['target_value'])}' "
                   "but the scope is another one; exporting uses the scope's set for both.")
    elif item_set is None:
        try:
            item_set = ws.load_item_set(ds.name, options["target_value"])
        except WorkspaceError as exc:
            st.error(f"The promoted item set cannot be read: {ui.md_escape(exc)}")

expected_figures()

if info.updated:
    retrain = False
    st.caption("Exported as updated: retraining would drop what the update learned. New "
               "customers are in *All users* only; new products are listed as far tail, with an "
               "empty title where the catalog lacks them.")
else:
    retrain = st.checkbox("Retrain on all interactions first", value=True, key="export_retrain",
                          help="Kept models were trained on the training part of their split; "
                          "retraining on everything uses the newest interactions too (same "
                          "settings).")
go = st.button("Export", type="primary", key="export_run", disabled=kind != "all" and value is None)

if go:
    folder: Path | None = None
    try:
        steps = current_steps()
        scope = ExportScope(kind=kind, value=value, restrict=restrict)
        config = ExportConfig(k=int(k), format=fmt, candidates=max(RERANK_POOL, int(k)), scope=scope)
        if info.updated and needs_hit_model(steps):
            refuse_opinion(opinion_of(steps))  # before any fit
        kept = ui.load_trained(ds, run, updated=True)
        retrain_note = ""
        if retrain:
            t0 = time.perf_counter()
            model, fit_s = retrained(ds.fingerprint, run, str(info.saved_at), kept.name,
                                     json.dumps(kept.config.model_dump(mode="json")), ds,
                                     st.progress(0.0, text="Retraining on all interactions…"))
            reused = time.perf_counter() - t0 < 0.5 * fit_s
            retrain_note = (f"reused the model retrained on all interactions earlier ({fit_s:.1f} s "
                            "then); " if reused else
                            f"retrained on all interactions in {fit_s:.1f} s; ")
        else:
            model = kept
        metrics = None if info.updated else {
                   "protocol": info.results.to_json().get("protocol"), "model": info.results.scalars(),
                   "lists": held_out_metrics(ds.fingerprint, run, str(info.saved_at),
                                             json.dumps([x.model_dump(mode="json") for x in steps]),
                                             int(k), map_key, json.dumps(item_set)),
                   "rule_set": rule_name,
                   "note": "measured on the evaluation split with the kept model (trained on its "
                           "training part); the exported lists exclude every interaction"}
        hits = None
        if needs_hit_model(steps) and (retrain or info.updated):
            hits = retrained_hit_model(ds.fingerprint, run, str(info.saved_at), opinion_of(steps),
                                       model, ds)
        elif needs_hit_model(steps):
            hits = ui.hit_model(ds, run, kept, ui.evaluation_split(ds, run), opinion_of(steps))
        folder = new_export_dir(ws.root, ds.name, run, method)
        bar = st.progress(0.0, text="Exporting…")
        result = export_lists(
            model, ds, folder, config, rerank=steps,
            context=RerankContext(ds, item_clusters=clusters, hit_model=hits), item_set=item_set,
            model_info={"run": run, "saved_at": info.saved_at, "trained_on": (
                f"updated from {info.results.updated_from} (not evaluated)" if info.updated else
                "all interactions" if retrain else "training part of the evaluation split"),
                **({"updated_from": info.results.updated_from, "update": info.results.update}
                   if info.updated else {})},
            metrics=metrics,
            progress=lambda done, total: bar.progress(done / max(total, 1),
                                                      text=f"{done:,} of {total:,} users"))
        bar.progress(1.0, text=f"Done: {retrain_note}{result.rows:,} rows for "
                     f"{result.users:,} users exported in {result.seconds:.1f} s.")
        st.session_state[LAST] = str(folder)
    except ValidationError as exc:
        st.error("Invalid settings: " + "; ".join(e["msg"] for e in exc.errors()))
    except (ValueError, WorkspaceError, OSError) as exc:
        st.error(f"Export failed: {ui.md_escape(exc)}")
    except Exception as exc:  # never a traceback in the browser; details in the server log
        logging.getLogger(__name__).exception("export failed")
        st.error(f"Export failed unexpectedly ({type(exc).__name__}: {ui.md_escape(exc)}).")
    finally:
        if folder is not None and st.session_state.get(LAST) != str(folder):
            shutil.rmtree(folder, ignore_errors=True)


last = st.session_state.get(LAST)
if last and Path(last).exists():
    st.subheader("This export")
    opened = open_export(Path(last))
    if opened is not None:
        manifest = opened[0]
        try:
            st.success(f"{manifest['rows']:,} rows for {manifest['users']:,} users "
                       f"({ui.md_escape(manifest['scope']['description'])}) written to "
                       f"{ui.md_escape(last)}.")
        except DAMAGED as exc:
            damaged_export(Path(last) / "manifest.json", exc)
        else:
            show_export(Path(last), "export_download")

st.subheader("Past exports")
past = [e for e in list_exports(ws.root, ds.name) if isinstance(e["manifest"], dict)]
if not past:
    st.caption("No export yet for this dataset.")
else:
    def past_row(e: dict) -> dict:
        """One row of the past exports table (a hand-edited manifest only blanks its cells)."""
        m = e["manifest"]
        try:
            model = m.get("model") or {}
            run_name = model.get("run") or model.get("name")
            rerank = ", ".join(method_label(r["method"], r["strength"]) for r in m.get("rerank") or [])
            scope = (m.get("scope") or {}).get("description")
        except (*DAMAGED, AttributeError):
            run_name, rerank, scope = None, "?", None
        return {"folder": e["folder"].name, "created": m.get("created"),
                "model": run_name, "re-rank": rerank or "none",
                "scope": scope, "format": m.get("format"), "rows": m.get("rows")}

    table = pd.DataFrame([past_row(e) for e in past])
    st.dataframe(table, hide_index=True, key="export_past_table")
    chosen = st.selectbox("Open a past export", [e["folder"].name for e in past], key="export_past")
    show_export(next(e["folder"] for e in past if e["folder"].name == chosen), "export_past_download")
