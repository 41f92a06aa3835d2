"""Streamlit glue shared by the pages: cached workspace and datasets, session keys, sidebar.

This and the page files are the only modules that import ``streamlit``; every computation
lives in :mod:`recsys`.
"""

from __future__ import annotations

import html
import json
import logging
import re
import typing
import zipfile
from pathlib import Path
from typing import Any, Literal

import annotated_types as at
import streamlit as st
from pydantic import BaseModel, ValidationError

from recsys import Dataset, Workspace
from recsys.data.formats import DEMO_NAME, demo_dataset
from recsys.data.splits import Split, SplitConfig, split_dataset
from recsys.device import describe_device
from recsys.labels import ALLOCATION_LABELS, OPINION_LABELS, SWAP_COST_LABELS, field_title
from recsys.rerank.config import RERANK_POOL
from recsys.runs import KeptRun, runs_on
from recsys.sampling import EVAL_USERS_ENV, SampleConfig, UserSample, sample_users
from recsys.workspace import WorkspaceError, default_workspace_path

if typing.TYPE_CHECKING:  # the Train page imports the jobs module itself
    from recsys.jobs import TrainingJob

log = logging.getLogger(__name__)

#: Session-state keys (kept small: handles and pending uploads only).
PENDING = "pending_validation"
#: This session's active dataset name (see :func:`active_name`).
ACTIVE = "active_dataset_name"
FLASH = "flash_message"
TRAIN_JOB = "training_job"
#: ``id`` of the training job the Train page last drew in full while it was running.
TRAIN_WATCH = "training_job_drawn_running"


#: Characters that make markup anywhere in a line of Streamlit's markdown: links and images
#: (``[``, ``]``), HTML tags and autolinks (``<``), entities (``&``), emphasis, code, maths and
#: strikethrough (``*``, `````, ``$``, ``~``) and the escape character itself.
_MD_ANYWHERE = re.compile(r"([\\`*\[\]<~$&])")
#: ``_`` emphasises unless it sits between two letters or digits (``shop_log`` stays as typed).
_MD_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
#: ``http://`` and ``www.`` become links by themselves (GFM autolinks).
_MD_AUTOLINK = re.compile(r"(:)(?=//)|(?<=www)(\.)", re.IGNORECASE)
#: Block markers count only at the start of a line: headings, quotes, lists and rules.
_MD_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+(?=[.)]))")


def md_escape(value: Any) -> str:
    """``value`` as markdown that shows it literally, on one line.

    Dataset names, file names, item titles, categories, cluster labels and column names come
    from uploads: interpolated raw into ``st.markdown`` / ``st.caption`` / ``st.error`` (or a
    widget label), ``![x](http://host/p.png)`` would fetch a remote image in every session that
    shows it. Every character that can start markup where it stands gets a backslash (block
    markers only at the start, ``_`` only outside words, so ordinary names read as typed), and
    line breaks become spaces so a value cannot start a block of its own.
    """
    text = " ".join(("" if value is None else str(value)).splitlines())
    text = _MD_ANYWHERE.sub(r"\\\1", text)
    text = _MD_UNDERSCORE.sub(r"\\_", text)
    text = _MD_AUTOLINK.sub(lambda m: "\\" + m.group(0), text)
    match = _MD_LINE_START.match(text)
    if match:
        lead, marker = match.groups()
        if marker.isdigit():  # "1. x" / "2) x": the dot or parenthesis after the number
            text = lead + marker + "\\" + text[match.end():]
        else:
            text = lead + "\\" + marker + text[match.end():]
    return text


def plot_escape(value: Any) -> str:
    """``value`` as text for Plotly (trace names, ticks, hover text, annotations).

    Plotly renders a subset of HTML in every label (``<a href>``, ``<span style>``, ``<b>``,
    ``<br>``): ``<``, ``>`` and ``&`` are written as entities, which it shows as the characters.
    """
    return html.escape("" if value is None else str(value), quote=False)


def plot_escape_column(values: Any) -> Any:
    """A pandas Series (or anything iterable) of labels escaped with :func:`plot_escape`."""
    if hasattr(values, "map"):
        return values.map(plot_escape)
    return [plot_escape(v) for v in values]


@st.cache_resource(max_entries=2, show_spinner=False)
def _workspace(root: str) -> Workspace:
    return Workspace(root)


def workspace() -> Workspace:
    """The workspace folder (``TAILSTUDIO_WORKSPACE`` or ``./workspace``)."""
    return _workspace(str(default_workspace_path()))


@st.cache_resource(max_entries=4, show_spinner="Loading dataset…")
def _load(root: str, name: str, fingerprint: str) -> Dataset:
    """Datasets are cached by content fingerprint, so a replaced dataset is reloaded."""
    return Workspace(root).load_dataset(name)


def ensure_demo(ws: Workspace) -> None:
    """First start: generate the demo shop and make it active."""
    if ws.names():
        return
    with st.spinner("Generating the demo shop (first start only)…"):
        ws.save_dataset(demo_dataset(), source="generated demo shop", activate=True)


def active_name() -> str | None:
    """This browser session's active dataset.

    Each session keeps its own choice in ``st.session_state``: one analyst switching datasets
    never changes what another one sees or exports. The workspace remembers the last choice
    made in any session only as the default of a new session.
    """
    ws = workspace()
    names = ws.names()
    name = st.session_state.get(ACTIVE)
    if name not in names:  # a new session, or its dataset was deleted in another one
        name = ws.active_name()
        if name not in names:  # none remembered (or it was deleted): the first one
            name = names[0] if names else None
            if name is not None:
                ws.set_active(name)
        if name is not None:
            st.session_state[ACTIVE] = name
    return name


def set_active(name: str) -> None:
    """Make ``name`` this session's active dataset (and the default of new sessions)."""
    st.session_state[ACTIVE] = name
    workspace().set_active(name)


def save_and_activate(dataset: Dataset, **kwargs: Any) -> str:
    """Save ``dataset`` in the workspace and make it this session's active dataset."""
    name = workspace().save_dataset(dataset, **kwargs)
    set_active(name)
    return name


def active_dataset() -> Dataset | None:
    """This session's active dataset (the demo shop on a fresh workspace)."""
    ws = workspace()
    ensure_demo(ws)
    name = active_name()
    if name is None:
        return None
    try:
        meta = ws.read_meta(name)
        return _load(str(ws.root), name, meta["fingerprint"])
    except (WorkspaceError, OSError, KeyError, ValueError) as exc:
        st.error(f"The saved dataset '{md_escape(name)}' could not be loaded "
                 f"({md_escape(exc)}). Load another one.")
        return None


def upload_limit_mb() -> tuple[int, str]:
    """The upload size that applies, in MB, and a note when two settings disagree.

    The library reads files up to ``TAILSTUDIO_MAX_UPLOAD_MB``; the server refuses bodies above
    ``server.maxUploadSize`` (``.streamlit/config.toml``, or ``--server.maxUploadSize``, which
    ``scripts/dashboard.sh`` sets from ``TAILSTUDIO_MAX_UPLOAD_MB``). The smaller one applies,
    so the uploader never accepts a file the server would refuse with a bare HTTP 413.
    """
    from recsys.data.reading import default_max_upload_mb

    library = default_max_upload_mb()
    server = int(st.get_option("server.maxUploadSize"))
    if library <= server:
        return library, ""
    return server, (f"Uploads are limited to {server:,} MB by the server setting "
                    f"server.maxUploadSize, below TAILSTUDIO_MAX_UPLOAD_MB = {library:,} MB; "
                    "raise both to accept larger files.")


@st.cache_resource(show_spinner=False)
def device_label() -> str:
    """Compute device as shown to the user (resolved once per server)."""
    return describe_device()


def ensure_router() -> None:
    """Make a page always run inside ``app.py``'s router.

    Streamlit treats a ``pages/`` folder beside the entry script as a legacy multipage app
    until ``st.navigation`` has run once in the process, so a first request for ``/catalog``
    after a server start would run the page alone (no sidebar, no page config). Each page calls
    this first: in that case it switches legacy mode off and reruns through the router.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - internal module moved; the router still works
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def page_start(title: str) -> Dataset:
    """Common start of a page that needs data: router guard, title, then the active dataset
    (or a hint and a stop when there is none)."""
    ensure_router()
    ds = active_dataset()
    st.title(title)
    if ds is None:
        st.info("Load a dataset on the Catalog page first.")
        st.stop()
    return ds


def _bounds(field: Any) -> tuple[float | None, float | None]:
    lo = hi = None
    for m in field.metadata:
        if isinstance(m, at.Ge | at.Gt):
            lo = m.ge if isinstance(m, at.Ge) else m.gt
        if isinstance(m, at.Le | at.Lt):
            hi = m.le if isinstance(m, at.Le) else m.lt
    return lo, hi


def _parse_numbers(text: str) -> tuple[float, ...] | str:
    """``"256, 64"`` → ``(256, 64)``; anything unreadable is returned as typed, so the config's
    validation reports it in words."""
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        return tuple(int(p) if p.lstrip("-").isdigit() else float(p) for p in parts)
    except ValueError:
        return text


def config_form(config_cls: type[BaseModel], key: str,
                fields: typing.Sequence[str] | None = None) -> dict[str, Any]:
    """Widgets for every simple field of a typed config (bounds and help from the config).

    Returns the values; the caller validates them with ``config_cls(**values)``. Tuples of
    numbers (layer widths) are typed as comma-separated text; nested settings keep their
    defaults. ``fields`` limits the form to those fields (e.g. main settings, then advanced).
    """
    values: dict[str, Any] = {}
    chosen = [(n, f) for n, f in config_cls.model_fields.items() if fields is None or n in fields]
    cols = st.columns(3)
    for i, (name, field) in enumerate(chosen):
        ann, default = field.annotation, field.get_default(call_default_factory=True)
        label = field.title or field_title(name)  # one label per field, declared with it
        lo, hi = _bounds(field)
        col, wkey, help_ = cols[i % 3], f"{key}.{name}", field.description
        args = typing.get_args(ann)
        optional = type(None) in args
        base = next((a for a in args if a is not type(None)), ann) if optional else ann
        if base is bool:
            values[name] = col.checkbox(label, value=bool(default), key=wkey, help=help_)
        elif typing.get_origin(base) is typing.Literal:
            choices = list(typing.get_args(base))
            values[name] = col.selectbox(label, choices, index=choices.index(default), key=wkey,
                                         help=help_)
        elif base is int:
            values[name] = col.number_input(label, min_value=int(lo) if lo is not None else None,
                                            max_value=int(hi) if hi is not None else None,
                                            value=default, step=1, key=wkey, help=help_)
        elif typing.get_origin(base) is tuple:  # layer widths etc.: "256, 64"
            text = col.text_input(label, value=", ".join(map(str, default or ())), key=wkey,
                                  help=(help_ or "") + " Comma-separated numbers.")
            values[name] = _parse_numbers(text)
        elif base is float:
            values[name] = col.number_input(label, min_value=float(lo) if lo is not None else None,
                                            max_value=float(hi) if hi is not None else None,
                                            value=None if default is None else float(default),
                                            format="%g", key=wkey, help=help_,
                                            placeholder="off" if optional else None)
    return values


def trained_models(ds: Dataset) -> list[KeptRun]:
    """Models kept for ``ds`` that were trained on its current content (newest first).

    Each entry is the workspace's :class:`~recsys.runs.KeptRun` (run, model, saved_at, results
    with the evaluation protocol). Models trained before the dataset was replaced are left out.
    """
    kept = [m for m in workspace().kept_runs(ds.name) if m.trained_on(ds.fingerprint)]
    return sorted(kept, key=lambda m: m.saved_at or "", reverse=True)


def exportable_models(ds: Dataset) -> list[KeptRun]:
    """:func:`trained_models`, then the updated runs whose base run is one of them (an online
    update keeps no metrics and no fingerprint: :func:`recsys.runs.runs_on`), newest first in
    each group, so a picker preselects an evaluated model."""
    newest = sorted(workspace().kept_runs(ds.name), key=lambda m: m.saved_at or "", reverse=True)
    return runs_on(newest, ds.fingerprint)


def run_info(ds: Dataset, run: str, *, updated: bool = False) -> KeptRun:
    """The workspace's record of the kept model ``run`` (see :func:`trained_models`; with
    ``updated``, :func:`exportable_models`)."""
    info = next((m for m in (exportable_models(ds) if updated else trained_models(ds))
                 if m.run == run), None)
    if info is None:
        raise WorkspaceError(f"No trained model '{run}' for the current '{ds.name}'.")
    return info


@st.cache_resource(max_entries=6, show_spinner="Loading model…")
def _trained(root: str, dataset: str, run: str, saved_at: str) -> Any:
    return Workspace(root).load_model(dataset, run)


def load_trained(ds: Dataset, run: str, *, updated: bool = False) -> Any:
    """A kept model, loaded once per server (cache keyed by its save time, so retraining reloads).

    Models from the Train page were fitted on the training part of its split (see
    :func:`evaluation_split`); ``model.seen_`` holds that training matrix.
    """
    info = run_info(ds, run, updated=updated)
    try:
        return _trained(str(workspace().root), ds.name, run, str(info.saved_at))
    except WorkspaceError:
        raise
    except Exception as exc:  # a truncated or hand-edited file: say which, and how to recover
        log.warning("kept model %s/%s cannot be loaded: %s", ds.name, run, exc)
        folder = Path(info.path) if info.path is not None else workspace().root / "models"
        raise WorkspaceError(damaged_model_message(run, folder, exc)) from exc


def damaged_file(folder: Path) -> Path:
    """The first file of a kept model folder that is missing or unreadable (else the folder).

    ``model.json`` must parse as JSON and ``weights.npz`` must be a whole zip archive (numpy's
    ``.npz``); a file cut short by a full disk or a killed copy fails one of these checks.
    """
    config, weights = folder / "model.json", folder / "weights.npz"
    try:
        json.loads(config.read_text())
    except (OSError, ValueError):
        return config
    try:
        with zipfile.ZipFile(weights) as archive:
            if archive.testzip() is None:
                return folder
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        pass
    return weights


def damaged_model_message(run: str, folder: Path, exc: Exception) -> str:
    """What the pages say about a kept model whose files cannot be read: the file, the reason
    and the way out (train it again, which rewrites the folder)."""
    path = damaged_file(folder)
    reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    what = "is missing" if not path.exists() else f"cannot be read ({reason})"
    return (f"the kept model '{run}' is damaged: {path} {what}. Train '{run}' again on the "
            "Train page to replace it.")


@st.cache_resource(max_entries=4, show_spinner="Rebuilding the evaluation split…")
def _split(fingerprint: str, protocol_json: str, _ds: Dataset) -> Split:
    return split_dataset(_ds, SplitConfig(**json.loads(protocol_json)))


def evaluation_split(ds: Dataset, run: str) -> Split:
    """The seeded split a kept model was trained and evaluated on (train part + held-out test)."""
    protocol = run_info(ds, run).results.protocol.split_config
    return _split(ds.fingerprint, json.dumps(protocol.model_dump(mode="json"), sort_keys=True), ds)


@st.cache_resource(max_entries=4, show_spinner="Learning each candidate's hit chance on an inner "
                   "split of the training part (the model is refitted there once)…")
def _hit_model(fingerprint: str, run: str, saved_at: str, method: str, seed: int, opinion: str,
               _model: Any, _train: Dataset) -> Any:
    from recsys.rerank import fit_hit_model_on_split

    return fit_hit_model_on_split(_model, _train, method=method, seed=seed, opinion=opinion)


def hit_model(ds: Dataset, run: str, model: Any, split: Split, opinion: str = "none") -> Any:
    """The hit model of a kept model for the ``expected`` swap cost, fitted once per server on
    an inner split of its training part (same split method), never on its held-out pairs;
    ``opinion`` names the second model it also reads (``RerankConfig.opinion``)."""
    info = run_info(ds, run)
    protocol = info.results.protocol.split_config
    try:
        return _hit_model(ds.fingerprint, run, str(info.saved_at), protocol.method, protocol.seed,
                          opinion, model, split.train)
    except ValueError:
        raise
    except Exception as exc:  # a refit that fails must not put a traceback on the page
        log.exception("hit model for %s/%s failed", ds.name, run)
        raise ValueError(f"the hit model could not be fitted ({exc}); use another cost of a "
                         "slot") from exc


def promotion_allocation(prefix: str, left: Any = st, right: Any = st) -> dict[str, str]:
    """Radios for a promotion's allocation (in ``left``) and, when global, its cost of a slot
    (in ``right``); returns the :class:`~recsys.rerank.RerankConfig` fields chosen."""
    options = {"allocation": left.radio("Allocation", list(ALLOCATION_LABELS), horizontal=True,
                                        key=f"{prefix}_alloc", format_func=ALLOCATION_LABELS.get)}
    if options["allocation"] == "global":
        options["swap_cost"] = right.radio(
            "Cost of a slot", list(SWAP_COST_LABELS), horizontal=True, key=f"{prefix}_swap_cost",
            format_func=SWAP_COST_LABELS.get,
            help="How the cheapest lists are found. Expected NDCG loss learns each candidate's "
            "chance of being a hit on an inner split of the training data (the model is "
            "refitted there once) and usually buys the most tail exposure for the accuracy "
            "given up.")
        if options["swap_cost"] == "expected":
            options["opinion"] = right.selectbox(
                "Second opinion", list(OPINION_LABELS), key=f"{prefix}_opinion",
                format_func=OPINION_LABELS.get,
                help="A second model whose ranking of each candidate the hit model also reads "
                "(trained beside the chosen one, here and on the inner split): another model "
                "family tells good long-tail candidates apart better (Mult-VAE: the most tail "
                "exposure on ml-100k at the same accuracy).")
    return options


def forget_on_switch(ds: Dataset, scope: str, *keys: str) -> None:
    """Drop the widget values ``keys`` when ``ds`` is not the dataset they were chosen on (the
    sidebar switched it, or its content was replaced), so the widgets start from the new
    dataset's defaults instead of a choice that means nothing there. ``scope`` names the group."""
    owner = f"{scope}__dataset"
    if st.session_state.get(owner) != (ds.name, ds.fingerprint):
        for key in keys:
            st.session_state.pop(key, None)
        st.session_state[owner] = (ds.name, ds.fingerprint)


def best_first(kept: list[KeptRun]) -> list[KeptRun]:
    """``kept`` ordered by validation NDCG, best first (runs without it last; ties newest first);
    runs stopped before they finished come after every finished one, so none is preselected."""
    def score(m: KeptRun) -> tuple[bool, float]:
        value = m.results.metric("ndcg")
        return not m.results.stopped, value if value == value else float("-inf")  # NaN last
    return sorted(kept, key=score, reverse=True)  # stable: the newest-first order breaks ties


def kept_label(m: KeptRun) -> str:
    """A kept model as the pickers list it: run, NDCG and, for a stopped run, its marker
    (``neumf · NDCG 0.051 · stopped at epoch 1``)."""
    if m.updated:
        return f"{m.run} (updated, not evaluated)"
    label = f"{m.run} · NDCG {m.results.metric('ndcg'):.3f}"
    return f"{label} · {m.results.stopped_label}" if m.results.stopped_label else label


def training_jobs(ds: Dataset) -> tuple[TrainingJob | None, TrainingJob | None]:
    """This session's training job as ``(on ds, on another dataset and still running)``.

    A session keeps one job. The Train page follows it only on the dataset it trains; after a
    sidebar switch a finished job of the previous dataset is not shown at all, and a running
    one is only mentioned (its results land on its own dataset).
    """
    job: TrainingJob | None = st.session_state.get(TRAIN_JOB)
    if job is None:
        return None, None
    if (job.dataset.name, job.dataset.fingerprint) == (ds.name, ds.fingerprint):
        return job, None
    return None, job if job.running else None


def mark_drawn(job: TrainingJob | None) -> None:
    """Remember that the page was drawn in full while ``job`` ran (see :func:`job_finished`)."""
    if job is not None and job.running:
        st.session_state[TRAIN_WATCH] = id(job)


def job_finished(job: TrainingJob | None) -> bool:
    """Whether ``job`` ended since the page was last drawn in full: the live fragment then
    reruns the whole page, so the sections outside it (the kept results) show the new runs."""
    if job is None or job.running or st.session_state.get(TRAIN_WATCH) != id(job):
        return False
    st.session_state.pop(TRAIN_WATCH, None)
    return True


def model_picker(ds: Dataset, key: str, *, label: str = "Model", multi: bool = False,
                 default: int | list[str] | None = None,
                 preselect: Literal["newest", "best"] = "newest",
                 updated: bool = False) -> Any:
    """A select box (or multiselect) of the models kept for ``ds``; ``None`` and a hint when none.

    Without ``default`` it preselects the newest model (two for ``multi``), or with
    ``preselect="best"`` the best by validation NDCG. A choice left from another dataset (the
    sidebar switched it) is dropped, so the new dataset's models show at once. ``updated``
    also offers the updated runs (:func:`exportable_models`), after the evaluated ones.
    Returns run names (a list when ``multi``).
    """
    kept = exportable_models(ds) if updated else trained_models(ds)
    if not kept:
        st.info("No trained model for this dataset yet: train one on the Train page.")
        return None
    runs = [m.run for m in kept]
    names = {m.run: kept_label(m) for m in kept}
    order = [m.run for m in best_first(kept)] if preselect == "best" else runs
    forget_on_switch(ds, key, key)
    if multi:
        chosen = default if isinstance(default, list) else order[:2]
        if key not in st.session_state or not set(st.session_state[key]) <= set(runs):
            st.session_state[key] = [r for r in chosen if r in runs]
        return st.multiselect(label, runs, key=key, format_func=names.get)
    index = default if isinstance(default, int) else runs.index(order[0])
    if st.session_state.get(key) not in runs:
        st.session_state[key] = runs[index]
    return st.selectbox(label, runs, key=key, format_func=names.get)


def duration(seconds: float) -> str:
    """A rounded duration for people: ``8 s``, ``1 min 05 s``, ``2 h 03 min``."""
    s = max(0, round(float(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def flash(message: str) -> None:
    """Show ``message`` once on the next run (survives ``st.rerun``)."""
    st.session_state[FLASH] = message


def show_flash() -> None:
    if msg := st.session_state.pop(FLASH, None):
        st.success(msg)


def _switch_dataset() -> None:
    name = st.session_state.get("sidebar_dataset")
    if name:
        set_active(name)
        st.session_state.pop(PENDING, None)


def sidebar(ds: Dataset | None) -> None:
    """Active dataset (with a switcher) and compute device, on every page."""
    ws = workspace()
    with st.sidebar:
        st.markdown("### Active dataset")
        names = ws.names()
        if ds is not None and names:
            # A keyed widget keeps its old value across reruns and ignores ``index``, so sync it to
            # the active dataset (changed by "Use this dataset", "Make active" or another tab).
            st.session_state["sidebar_dataset"] = ds.name if ds.name in names else names[0]
            st.selectbox("Dataset", names, key="sidebar_dataset", on_change=_switch_dataset,
                         help="Datasets saved in the workspace; switching keeps the others.")
            s = ds.summary()
            st.caption(
                f"**{s['users']:,}** users · **{s['items']:,}** items · "
                f"**{s['interactions']:,}** interactions  \n"
                f"fingerprint `{ds.fingerprint}`"
            )
        else:
            st.caption("No dataset loaded.")
        st.markdown("### Compute device")
        st.caption(device_label())
        st.caption(f"Workspace: {md_escape(ws.root)}")


__all__ = ["ACTIVE", "DEMO_NAME", "PENDING", "TRAIN_JOB", "active_dataset", "active_name",
           "config_form", "damaged_model_message", "device_label", "md_escape", "plot_escape",
           "plot_escape_column", "save_and_activate", "set_active", "ensure_router",
           "best_first", "duration", "evaluation_split", "flash", "forget_on_switch", "job_finished",
           "kept_label", "load_trained", "mark_drawn", "training_jobs",
           "model_picker", "page_start", "show_flash",
           "sidebar", "task_progress", "trained_models", "upload_limit_mb", "workspace"]


#: Session key of a What-if setting on its way to the Export page (see :func:`hand_off_setting`).
EXPORT_HANDOFF = "export_handoff"
#: Export page widgets a hand-off fills in (``RerankConfig`` field → widget key).
_EXPORT_WIDGETS = {"method": "export_method", "strength": "export_strength",
                   "allocation": "export_alloc", "swap_cost": "export_swap_cost",
                   "opinion": "export_opinion"}


def hand_off_setting(run: str, config: Any, k: int, rule_set: str | None = None) -> None:
    """Keep a What-if setting (a :class:`~recsys.rerank.RerankConfig`, and the rule set applied
    after it) for the Export page, which fills its widgets from it on its next run
    (:func:`take_handed_off_setting`)."""
    st.session_state[EXPORT_HANDOFF] = {"run": run, "k": int(k), "rule_set": rule_set,
                                        "config": config.model_dump(mode="json")}


def take_handed_off_setting(ds: Dataset) -> dict[str, Any] | None:
    """On the Export page, before its widgets: move a handed-off setting into the widgets'
    session state and return it (the method's other options, e.g. a promotion's target and
    quota share, are in its ``config``); ``None`` when nothing was handed over."""
    handoff = st.session_state.pop(EXPORT_HANDOFF, None)
    if not handoff:
        return None
    config = handoff["config"]
    st.session_state["export_model"] = handoff["run"]
    st.session_state["export_k"] = handoff["k"]
    for field, key in _EXPORT_WIDGETS.items():
        if field in config:
            st.session_state[key] = config[field]
    st.session_state["export_rule_set"] = handoff.get("rule_set") or NO_RULES
    for scope in ("export_model", "export_rule_set"):  # chosen on this dataset: keep them
        st.session_state[f"{scope}__dataset"] = (ds.name, ds.fingerprint)
    return handoff


#: The rule-set picker's "no rule set" choice.
NO_RULES = "(no rule set)"


def rule_set_picker(ds: Dataset, key: str, where: Any = st) -> tuple[str | None, Any]:
    """A select box of the rule sets kept for ``ds`` (in ``where``); returns the chosen name
    and its :class:`~recsys.rerank.rulesets.RuleSet` (``None, None`` for none, or when the set
    cannot be read: a warning then says why)."""
    from recsys.rerank.rulesets import RuleSet

    names = [r["name"] for r in workspace().list_rule_sets(ds.name)]
    if not names:
        return None, None
    forget_on_switch(ds, key, key)
    if st.session_state.get(key) not in [NO_RULES, *names]:
        st.session_state.pop(key, None)
    name = where.selectbox("Rule set", [NO_RULES, *names], key=key,
                           help="Pins, boosts, burials and blocks kept on the Rules page, applied "
                           "after the tail method.")
    if name == NO_RULES:
        return None, None
    try:
        rules = RuleSet(**workspace().load_rule_set(ds.name, name))
    except (WorkspaceError, ValidationError) as exc:
        where.warning(f"The rule set '{md_escape(name)}' cannot be used: "
                      f"{md_escape(' '.join(str(exc).split()))}")
        return None, None
    unknown = rules.unknown_items(ds)
    where.caption(f"{rules.n_rules} rules" + (f"; {len(unknown)} of their items are not in this "
                                               "catalog and do nothing here" if unknown else ""))
    return name, rules


def eval_sample(split: Split) -> UserSample:
    """The evaluation users What-if, Rules and Compare measure: all of them up to the bound
    of :class:`recsys.sampling.SampleConfig` (``TAILSTUDIO_EVAL_USERS``), else a seeded sample
    of that size, the same for every model and every rerun."""
    return sample_users(split.test_users, SampleConfig())


def sample_caption(sample: UserSample) -> str:
    """``Measured on 20,000 of 312,455 customers, seed 0`` and the setting that bounds it."""
    text = sample.describe("customers")
    bound = SampleConfig.model_fields["max_users"].title
    return (text[0].upper() + text[1:] + f" ({bound.lower()}: {SampleConfig().max_users:,}, "
            f"`{EVAL_USERS_ENV}`); bands are 95 % confidence bands over these customers.")


@st.cache_resource(max_entries=4, show_spinner="Scoring candidates for the evaluation users…")
def _eval_candidates(fingerprint: str, run: str, saved_at: str, c: int, max_users: int,
                     seed: int, _model: Any, _split: Split) -> Any:
    from recsys.rerank import candidates_from_model

    users = sample_users(_split.test_users, SampleConfig(max_users=max_users, seed=seed)).users
    return candidates_from_model(_model, _split.train, users, c=c)


def eval_candidates(ds: Dataset, info: KeptRun, model: Any, split: Split,
                    c: int = RERANK_POOL) -> Any:
    """The kept model's top-``c`` candidates for the evaluation users of :func:`eval_sample`
    (cached per run, save and sample): what What-if and Rules re-rank and measure."""
    cfg = SampleConfig()
    return _eval_candidates(ds.fingerprint, info.run, str(info.saved_at), c, cfg.max_users,
                            cfg.seed, model, split)


def local_time(stamp: str | None) -> str:
    """An ISO time stamp of the workspace (UTC) as a local date and time, "2026-12-03 10:15"
    (the server's time zone); "—" when missing or unreadable."""
    import datetime as dt

    if not stamp:
        return "—"
    try:
        when = dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return "—"
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


def task_progress(job: Any, key: str, cancel_help: str) -> None:
    """A background task's progress bar (message, elapsed time, ETA) and its Cancel button,
    for a fragment refreshed every second; when the task ends the whole page is drawn again
    with its outcome."""
    if job is None:
        return
    if not job.running:
        st.rerun()
    eta = job.eta_s
    left = f" · about {duration(eta)} left" if eta is not None else ""
    st.progress(min(1.0, job.fraction), text=f"{'Cancelling: ' if job.cancelled else ''}"
                f"{md_escape(job.message)} · {job.elapsed_s:.0f} s{left}")
    if st.button("Cancel", key=key, disabled=job.cancelled, help=cancel_help):
        job.cancel()
