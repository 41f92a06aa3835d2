"""Explore page: replay an exploration policy day by day against the model's own lists (with
bands over seeds, regret and the off-policy estimate beside it), export exploring lists with
propensities, and estimate a policy on an uploaded feedback log."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pandas as pd
import streamlit as st
from pydantic import ValidationError

import ui
from explore_chart import curve_figure
from export_view import show_export
from recsys.data.reading import IngestError
from recsys.export import ExportConfig, new_export_dir
from recsys.export.explore import export_explored_lists
from recsys.export.writers import EXPORT_FORMATS
from recsys.feedback import PolicyConfig
from recsys.feedback.arms import ARMS
from recsys.feedback.job import SimulationJob
from recsys.feedback.logs import LOG_COLUMNS, read_log
from recsys.feedback.replay import BIAS_NOTE, ReplayConfig
from recsys.feedback.simulation import SimulationConfig, reusable
from recsys.feedback.targets import estimate_policy
from recsys.feedback.update import (
    DEFAULT_EPOCHS,
    fresh_lists,
    read_new_products,
    update_kept_run,
)
from recsys.labels import ESTIMATOR_LABELS, POLICY_LABELS
from recsys.models import create_model
from recsys.workspace import WorkspaceError

SIM_JOB = "explore_job"  # session: (SimulationJob, owner) running in the background
SIM_RESULT = "explore_result"  # session: (owner, SimulationResult, chosen policy)
PREPARED = "explore_prepared"  # session: (owner, PreparedReplay) reusable by the next run
OPE_RESULT = "explore_ope"  # session: (owner, file name, policy label, OpeResult dict)
LAST_EXPORT = "explore_export"  # session: (owner, folder)
UPDATE_RESULT = "explore_update_result"  # session: (owner, summary, notes, new run, fresh lists)
NOTE = "explore_note"  # session: [(kind, text)] about the last run, shown once
UPLOAD_TYPES = ["csv", "tsv", "txt", "gz", "parquet", "pq", "xlsx"]
#: Policies offered, the first preselected (the model's own lists are always replayed beside).
EXPLORING = [a for a in ("thompson", "epsilon", "linucb", "boosted") if a in ARMS]
WIDGETS = ("explore_policy", "explore_weight", "explore_age", "explore_days", "explore_seeds",
           "explore_compare", "explore_online")

ds = ui.page_start("Explore")
ui.show_flash()
st.caption("Explore the long tail on purpose: replay a policy that shows tail and new items with "
           "known probabilities day by day on the shop's own history, against the model's plain "
           "lists, and see what it discovers and what it costs before turning it on.")
run = ui.model_picker(ds, key="explore_model", preselect="best")
if run is None:
    st.stop()
ui.forget_on_switch(ds, "explore", *WIDGETS)
ws = ui.workspace()
info = ui.run_info(ds, run)
owner = (ds.fingerprint, run, str(info.saved_at))

c = st.columns(5)
policy = c[0].selectbox("Policy", EXPLORING, key="explore_policy", format_func=POLICY_LABELS.get,
                        help="ε-greedy reserves slots for tail / new items, Thompson sampling "
                        "draws from per-item posteriors started at the model's calibrated score, "
                        "LinUCB adds a bonus for rarely shown content, the boosted re-rank adds a "
                        "tail bonus to the model's scores.")
weight = c[1].slider("Exploration weight", 0.0, 1.0, 0.3, 0.05, key="explore_weight",
                     help="0 = the model's own lists, 1 = explore as much as the policy can "
                     "(the boosted re-rank's strength).")
age = c[2].number_input("New-item age cut-off (days)", 0, 3650, 0, key="explore_age",
                        help="Items launched or first seen within this many days of the data's "
                        "end count as new and are explored like tail items; 0 = off (only "
                        "items nobody has interacted with are new).")
days = c[3].number_input("Days to replay", 1, 90, 14, key="explore_days",
                         help="The last days of the data: the model is fitted before them.")
seeds = c[4].number_input("Seeds", 1, 20, 5, key="explore_seeds",
                          help="Stochastic policies are replayed under this many seeds; the "
                          "curves show the mean and a 95 % bootstrap band.")
o = st.columns([3, 1])
compare = o[0].multiselect("Also compare", [a for a in EXPLORING if a != policy],
                           key="explore_compare", format_func=POLICY_LABELS.get,
                           help="Replayed on the same fitted model; the model's own lists are "
                           "always shown.")
online = o[1].toggle("Update the model each day", True, key="explore_online",
                     help="Fold each replayed day's purchases into the model (an online update, "
                     "no retrain) before the next day's lists, as the shop would; off: the "
                     "model stays as fitted before the replayed days.")
new_item_days = float(age) if age else None


def policy_config() -> PolicyConfig:
    """The chosen exploration policy as exports and estimates take it."""
    return PolicyConfig(policy=policy, exploration=float(weight), new_item_days=new_item_days)


# ----------------------------------------------------------------------------- replay
def simulation_job() -> SimulationJob | None:
    """This session's simulation on this dataset and model; one left from another dataset or
    model is cancelled, not waited for."""
    held = st.session_state.get(SIM_JOB)
    if held is None:
        return None
    job, job_owner = held
    if job_owner != owner:
        job.cancel()
        st.session_state.pop(SIM_JOB, None)
        return None
    return job


def finish(job: SimulationJob) -> None:
    """A finished job's outcome: the result kept (and its fitted model for the next run)."""
    st.session_state.pop(SIM_JOB, None)
    notes = st.session_state.setdefault(NOTE, [])
    if job.status == "stopped":
        notes.append(("info", f"Simulation cancelled after {job.elapsed_s:.0f} s; nothing was "
                      "kept."))
    elif job.status != "done" or job.result is None:
        notes.append(("error", f"The simulation could not run: {job.error}"))
    else:
        st.session_state[SIM_RESULT] = (owner, job.result, job.label)
        st.session_state[PREPARED] = (owner, job.result.prepared)
        notes.append(("success", f"Simulation done in {job.elapsed_s:.0f} s."))


def start() -> None:
    """Start the replay of the chosen policies in the background (the page follows it)."""
    try:
        config = SimulationConfig(
            policies=(policy, *compare), exploration=float(weight), new_item_days=new_item_days,
            seeds=int(seeds), replay=ReplayConfig(days=int(days), k=int(info.results.protocol.k),
                                update_model=bool(online)))
    except ValidationError as exc:
        st.error("Invalid settings: " + "; ".join(e["msg"] for e in exc.errors()))
        return
    held = st.session_state.get(PREPARED)
    prepared = held[1] if held is not None and held[0] == owner else None
    if reusable(prepared, config):
        model = prepared.model
    else:
        try:
            prepared, model = None, create_model(info.model, info.config)
        except (ValidationError, ValueError, KeyError) as exc:
            st.error(f"The kept settings of '{ui.md_escape(run)}' cannot be fitted again: "
                     f"{ui.md_escape(' '.join(str(exc).split()))}")
            return
    st.session_state[SIM_JOB] = (SimulationJob(ds, model, config, prepared=prepared,
                                               label=policy).start(), owner)
    st.rerun()


def progress() -> None:
    """Progress, elapsed time, ETA and Cancel, refreshed every second; when the job ends the
    whole page is drawn again with its outcome."""
    ui.task_progress(simulation_job(), "explore_cancel", "Stops before the next replayed day.")


def metric_row(summary: dict, main: str) -> None:
    """Totals of the chosen policy against the model's own lists, regret and the OPE cost."""
    mine = summary["policies"][main]["totals"]
    base = summary["policies"]["greedy"]["totals"]
    cols = st.columns(5)
    for col, key, label, fmt in ((cols[0], "hits", "Hits", "{:,.0f}"),
                                 (cols[1], "tail_items_discovered", "Tail items discovered",
                                  "{:,.0f}"),
                                 (cols[2], "tail_exposure", "Tail exposure", "{:.1%}"),
                                 (cols[3], "regret", "Regret vs best list", "{:,.0f}")):
        now, then = mine[key]["mean"], base[key]["mean"]
        delta = now - then
        band = (f" 95 % band over seeds: {fmt.format(mine[key]['lo'])} – "
                f"{fmt.format(mine[key]['hi'])}." if mine[key]["hi"] > mine[key]["lo"] else "")
        col.metric(label, fmt.format(now), delta=None if delta == 0 else
                   (f"{delta:+.1%}" if key == "tail_exposure" else f"{delta:+,.1f}"),
                   delta_color="inverse" if key == "regret" else "normal",
                   help=f"Model's own lists: {fmt.format(then)}.{band}")
    ope = summary["policies"][main].get("ope", {})
    dr = ope.get("cost", {}).get("dr")
    if dr and dr["value"] is not None:
        lo, hi = dr["ci95"]
        cols[4].metric("OPE cost per slot (DR)", f"{dr['value']:+.4f}",
                       help=f"95 % interval {lo:+.4f} – {hi:+.4f}: the model's own hit rate per "
                       "slot minus the doubly robust estimate of this policy's on the model's "
                       "logged lists (positive = fewer hits per slot).")
        cols[4].caption(f"95 % interval {lo:+.4f} – {hi:+.4f}")
    else:
        cols[4].metric("OPE cost per slot (DR)", "—", help=ope.get("error", "Not estimated."))


def estimate_table(result: dict, cost: dict | None = None) -> pd.DataFrame:
    """One row per estimator: value, standard error, 95 % interval, ESS (and the cost)."""
    rows = []
    for name, est in result["estimators"].items():
        row = {"estimator": ESTIMATOR_LABELS.get(name, name), "value per slot": est["value"],
               "std. error": est["stderr"], "95 % low": est["ci95"][0],
               "95 % high": est["ci95"][1], "ESS": est["ess"]}
        if cost is not None:
            row["cost per slot"] = cost.get(name, {}).get("value")
        rows.append(row)
    return pd.DataFrame(rows)


def show_warnings(warnings: list[str]) -> None:
    for text in warnings:
        st.warning(ui.md_escape(text))


def show_result(result, main: str) -> None:
    """Curves with bands, the metric row, the OPE table beside the replay, downloads."""
    summary = result.summary
    shown = [p for p in (main, *[n for n in result.runs if n not in (main, "greedy")], "greedy")
             if p in result.runs]
    runs = summary["policies"][main]["seeds"]
    st.markdown(f"**{ui.md_escape(POLICY_LABELS.get(main, main))}** at exploration "
                f"{summary['settings']['exploration']:g}, {summary['settings']['replay']['days']} "
                f"days from {summary['train_until']} ({summary['user_days']:,} user-days, "
                f"K = {summary['settings']['replay']['k']}), {runs} seed{'s' if runs > 1 else ''}; "
                + ("the model was updated with each day's purchases before the next day."
                   if summary.get("model_updated_online") else
                   "the model stayed as fitted before the replayed days."))
    metric_row(summary, main)
    st.info(BIAS_NOTE.replace(" (python -m recsys ope)", "") + " The estimate below is that: "
            "this policy evaluated on the model's own replayed lists as a logged policy.")
    left, right = st.columns(2)
    left.plotly_chart(curve_figure(result.bands, "cumulative_hits", shown,
                                   "Cumulative hits"), key="explore_hits_chart")
    right.plotly_chart(curve_figure(result.bands, "cumulative_discovered_tail", shown,
                                    "Tail items discovered"), key="explore_tail_chart")
    st.caption(f"{ui.md_escape(summary['bands_note'])} {ui.md_escape(summary['regret_definition'])}")
    with st.expander("Regret and tail exposure over days"):
        a, b = st.columns(2)
        a.plotly_chart(curve_figure(result.bands, "cumulative_regret", shown,
                                    "Cumulative regret vs the best fixed list"),
                       key="explore_regret_chart")
        b.plotly_chart(curve_figure(result.bands, "tail_exposure", shown, "Tail exposure"),
                       key="explore_exposure_chart")
    ope = summary["policies"][main].get("ope")
    if ope and "estimators" in ope:
        st.markdown(f"**Off-policy estimate beside the replay**: replay hit rate "
                    f"{ope['replay_hit_rate']:.4f} per slot, the model's own lists "
                    f"{ope['logging_hit_rate']:.4f}")
        st.dataframe(estimate_table(ope, ope["cost"]), hide_index=True, key="explore_ope_table",
                     column_config={c: st.column_config.NumberColumn(format="%.4f") for c in (
                         "value per slot", "std. error", "95 % low", "95 % high",
                         "cost per slot")} | {"ESS": st.column_config.NumberColumn(format="%.0f")})
        show_warnings(ope["warnings"])
    names = {"hits": "hits", "tail_hits": "tail hits", "tail_items_discovered":
             "tail items discovered", "regret": "regret", "tail_exposure": "tail exposure"}
    totals = pd.DataFrame([{"policy": POLICY_LABELS.get(n, n), "seeds": e["seeds"],
                            **{label: e["totals"][k]["mean"] for k, label in names.items()}}
                           for n, e in summary["policies"].items()])
    st.dataframe(totals, hide_index=True, key="explore_totals", column_config={
        "tail exposure": st.column_config.NumberColumn(format="percent"),
        **{c: st.column_config.NumberColumn(format="%.1f") for c in (
            "hits", "tail hits", "tail items discovered", "regret")}})
    st.caption("Totals over the replayed days: the mean over seeds.")
    d = st.columns(2)
    d[0].download_button("Download the curves (CSV)", result.bands.to_csv(index=False),
                         file_name="explore-bands.csv", mime="text/csv", key="explore_dl_bands",
                         on_click="ignore")
    d[1].download_button("Download the summary (JSON)", json.dumps(summary, indent=2),
                         file_name="explore-summary.json", mime="application/json",
                         key="explore_dl_summary", on_click="ignore")


st.subheader("Replay")
if not ds.has_timestamps:
    st.info("This dataset has no timestamps, so it cannot be replayed: a replay shows lists day "
            "by day and needs the time of each interaction. Load the interactions again on "
            "**Catalog → Load data** with a date column mapped to *timestamp* (e.g. InvoiceDate). "
            "Exporting exploring lists and estimating a policy on a feedback log (below) work "
            "without it.")
else:
    job = simulation_job()
    if job is not None and not job.running:
        finish(job)
        job = None
    for kind, text in st.session_state.pop(NOTE, []):
        getattr(st, kind)(ui.md_escape(text))
    if st.button("Run the simulation", type="primary", key="explore_run", disabled=job is not None,
                 help="Fits the model's settings before the replayed days once, then replays "
                 "every chosen policy and the model's own lists day by day."):
        start()
    if job is not None:
        st.fragment(progress, run_every=1.0)()
    held = st.session_state.get(SIM_RESULT)
    if held is not None and held[0] == owner:
        show_result(held[1], held[2])
    elif job is None:
        st.caption("Press **Run the simulation** to replay the chosen policy.")


# ----------------------------------------------------------------------------- export
st.subheader("Export the exploring lists")
if policy == "boosted":
    st.info("The boosted re-rank has no random slots to log: export it from the Export page "
            "(method Tail bonus). Pick an exploration policy above to export lists with "
            "propensities.")
else:
    cells = st.columns([1, 1, 2])
    k = cells[0].number_input("K (items per user)", 1, 200, int(info.results.protocol.k),
                          key="explore_k")
    fmt = cells[1].selectbox("Format", EXPORT_FORMATS, key="explore_format")
    st.caption("Every user's list from the kept model (trained on the training part of its "
               "split), each row with its propensity: the probability that the policy shows "
               "this item at this rank to this user. Kept under the workspace's exports, listed "
               "on the Export page.")
    if st.button("Export exploring lists", key="explore_export_run"):
        folder: Path | None = None
        try:
            model = ui.load_trained(ds, run)
            folder = new_export_dir(ws.root, ds.name, run, policy)
            bar = st.progress(0.0, text="Exporting…")
            result = export_explored_lists(
                model, ds, folder, ExportConfig(k=int(k), format=fmt), policy_config(),
                model_info={"run": run, "trained_on": "training part of the evaluation split",
                            "saved_at": info.saved_at},
                progress=lambda done, total: bar.progress(done / max(total, 1),
                                                          text=f"{done:,} of {total:,} users"))
            bar.progress(1.0, text=f"Done: {result.rows:,} rows for {result.users:,} users in "
                         f"{result.seconds:.1f} s.")
            st.session_state[LAST_EXPORT] = (owner, str(folder))
        except ValidationError as exc:
            st.error("Invalid settings: " + "; ".join(e["msg"] for e in exc.errors()))
        except (ValueError, WorkspaceError, OSError) as exc:
            st.error(f"Export failed: {ui.md_escape(exc)}")
        except Exception as exc:  # never a traceback in the browser; details in the log
            logging.getLogger(__name__).exception("explore export failed")
            st.error(f"Export failed unexpectedly ({type(exc).__name__}: {ui.md_escape(exc)}).")
        finally:
            last = st.session_state.get(LAST_EXPORT)
            if folder is not None and (last is None or last[1] != str(folder)):
                shutil.rmtree(folder, ignore_errors=True)
    last = st.session_state.get(LAST_EXPORT)
    if last is not None and last[0] == owner and Path(last[1]).is_dir():
        show_export(Path(last[1]), "explore_dl")
        st.caption(f"Written to {ui.md_escape(last[1])}.")


# ----------------------------------------------------------------------------- feedback log
st.subheader("Estimate a policy on a feedback log")
st.caption(f"One row per shown slot with the columns {', '.join(LOG_COLUMNS)} (position from 1; "
           "propensity = the probability the shop's policy showed the item there, above 0 and "
           "at most 1; reward 0/1 or a number). The chosen policy's lists for the log's users "
           "come from the kept model; IPS, SNIPS and DR estimate its reward per shown slot.")
upload = st.file_uploader("Feedback log", type=UPLOAD_TYPES, key="explore_log")
if policy == "boosted":
    st.caption("Pick an exploration policy above to estimate it on a log.")
elif upload is not None and st.button("Estimate the policy on this log", key="explore_estimate"):
    try:
        rows = read_log(upload, name=upload.name)
        with st.spinner("Building the policy's lists for the log's users…"):
            ope = estimate_policy(ui.load_trained(ds, run), ds, rows, policy_config())
    except IngestError as exc:
        st.error(f"This feedback log cannot be used: {ui.md_escape(exc)}")
    except (ValueError, WorkspaceError) as exc:
        st.error(f"No estimate on this log: {ui.md_escape(exc)}")
    else:
        st.session_state[OPE_RESULT] = (owner, upload.name, policy_config().model_dump(),
                                        ope.to_dict())
held = st.session_state.get(OPE_RESULT)
if held is not None and held[0] == owner:
    _, name, used, result = held
    st.markdown(f"**{ui.md_escape(POLICY_LABELS.get(used['policy'], used['policy']))}** at "
                f"exploration {used['exploration']:g} on **{ui.md_escape(name)}**: "
                f"{result['rows']:,} rows, logged reward {result['logged_reward']:.4f} per slot")
    st.dataframe(estimate_table(result), hide_index=True, key="explore_log_table",
                 column_config={c: st.column_config.NumberColumn(format="%.4f") for c in (
                     "value per slot", "std. error", "95 % low", "95 % high")}
                 | {"ESS": st.column_config.NumberColumn(format="%.0f")})
    show_warnings(result["warnings"])


# ----------------------------------------------------------------------------- model update
class _CatalogProblem(Exception):
    """The uploaded catalog rows of new products cannot be read."""


def _new_product_rows(upload: object | None) -> pd.DataFrame | None:
    """The uploaded catalog rows of new products (``None`` when none was uploaded)."""
    if upload is None:
        return None
    try:
        upload.seek(0)  # type: ignore[attr-defined]
        return read_new_products(upload, name=upload.name)  # type: ignore[attr-defined]
    except IngestError as exc:
        raise _CatalogProblem(str(exc)) from exc


def everyone_lists(new_run: str) -> bytes:
    """Top-10 lists of the updated run for every customer it knows (new ones included); when
    they cannot be made (the run was deleted meanwhile…), a one-column CSV saying why (the
    download runs after the page, where no message can be shown)."""
    try:
        model = ws.load_model(ds.name, new_run)
        users = model.user_ids_ if model.user_ids_ is not None else ds.user_ids
        lists = fresh_lists(model, users, k=10, user_ids=ds.user_ids, item_ids=ds.item_ids)
    except Exception as exc:  # never a traceback in the browser; details in the server log
        logging.getLogger(__name__).exception("lists of %s failed", new_run)
        return pd.DataFrame({"error": [f"no lists from {new_run}: {exc}"]}).to_csv(
            index=False).encode()
    return lists.to_csv(index=False).encode()


st.subheader("Update the model from this feedback")
st.caption("Folds the log's rewarded rows (reward above 0) into a copy of the kept model without "
           "a full retrain: the customers in it get fresh lists at once (their histories, and "
           "for factor models their vectors, are updated; everyone else's lists stay as they "
           "were, except that new products added from their catalog rows can enter anyone's "
           "list and that incremental epochs move a torch model's shared weights). The copy "
           "is kept as a new run beside this one, which is not touched. It is "
           "not evaluated, so the pages that compare models do not offer it (the Export page "
           "does, marked \"updated, not evaluated\"); retrain on the Train page now and then, "
           "as the item side ages.")
new_products = st.file_uploader(
    "Catalog rows of new products (optional)", type=UPLOAD_TYPES, key="explore_new_products",
    help="Products the model has never seen (item id, title, description, category, brand, "
         "price). Hybrid and cold start models score them from this text at once; other models "
         "append them without collaborative signal or leave them out until a retrain.")
epochs = st.number_input(
    "Incremental epochs (BPR, NeuMF, DeepFM, Mult-VAE, SASRec)", 0, 20, DEFAULT_EPOCHS,
    key="explore_epochs", help="Warm-started epochs of the model's own training after the "
    "fold-in, on the updated customers' histories and a sample of others' (the shared weights "
    "move, so other lists may change a little); 0 = the fold-in alone. Other models ignore it.")
if upload is None:
    st.caption("Upload a feedback log above to update the model from it.")
elif st.button(f"Update {run} from {upload.name}", key="explore_update"):
    try:
        catalog = _new_product_rows(new_products)
        upload.seek(0)
        logged = read_log(upload, name=upload.name)
        frame = pd.DataFrame({"user_id": logged.user, "item_id": logged.item,
                              "position": logged.position, "propensity": logged.propensity,
                              "reward": logged.reward})
        with st.spinner(f"Updating {run}…"):
            result = update_kept_run(ws, ds.name, run, frame, source=upload.name,
                                     catalog=catalog,
                                     epochs=None if epochs == DEFAULT_EPOCHS else int(epochs))
            customers = frame.loc[frame["reward"] > 0, "user_id"]
            lists = fresh_lists(result.model, customers, k=10, user_ids=ds.user_ids,
                                item_ids=ds.item_ids)
    except _CatalogProblem as exc:
        st.error(f"These catalog rows cannot be used: {ui.md_escape(exc)}")
    except IngestError as exc:
        st.error(f"This feedback log cannot be used: {ui.md_escape(exc)}")
    except (ValueError, WorkspaceError) as exc:
        st.error(f"No update: {ui.md_escape(exc)}")
    except Exception as exc:  # never a traceback in the browser; details in the server log
        logging.getLogger(__name__).exception("update of %s failed", run)
        st.error(f"No update: it failed unexpectedly ({type(exc).__name__}: "
                 f"{ui.md_escape(exc)}).")
    else:
        st.session_state[UPDATE_RESULT] = (owner, result.summary(), list(result.notes),
                                           result.run, lists)
held = st.session_state.get(UPDATE_RESULT)
if held is not None and held[0] == owner:
    _, summary, notes, new_run, lists = held
    st.success(ui.md_escape(summary))
    for line in notes:
        st.caption(ui.md_escape(line))
    if len(lists):
        st.markdown(f"**Fresh lists** from **{ui.md_escape(new_run)}** for the "
                    f"{lists['user_id'].nunique():,} customers with a rewarded row "
                    f"(first {min(len(lists), 200):,} rows shown)")
        st.dataframe(lists.head(200), hide_index=True, key="explore_fresh_lists",
                     column_config={"score": st.column_config.NumberColumn(format="%.4f")})
        d = st.columns(2)
        d[0].download_button("Download the fresh lists (CSV)", lists.to_csv(index=False),
                             file_name=f"fresh-lists-{new_run}.csv", mime="text/csv",
                             key="explore_dl_fresh", on_click="ignore")
        d[1].download_button(  # made when clicked: every customer's list from the new run
            "Download lists for every customer (CSV)", lambda: everyone_lists(new_run),
            file_name=f"lists-{new_run}.csv", mime="text/csv", key="explore_dl_everyone",
            on_click="ignore")
