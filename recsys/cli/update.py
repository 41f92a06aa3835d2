"""``python -m recsys update``: fold new interactions into a kept model without a full retrain.

``--model`` is a kept run's name in the workspace (``--workspace``, default the app's;
``--dataset`` when several datasets keep a run of that name) or the folder of a saved model.
``--feedback`` is an interaction file (read like ``--interactions``, same ``--format`` and
``--columns``) or a feedback log (``user_id, item_id, position, propensity, reward``: the rows
with reward > 0). The updated model is kept as a new run beside the old one
(``<run>-updated-<n>``, or ``--run NAME``), or saved into ``--out``; the old one is never
replaced (:mod:`recsys.feedback.update`). Prints one summary line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recsys.cli.args import CliError, add_device_arg, parse_columns
from recsys.data.formats import INPUT_FORMATS
from recsys.data.schema import INTERACTION_ROLES

__all__ = ["add_arguments", "run"]

#: The most incremental epochs ``--epochs`` takes (more is a retrain's work: retrain instead).
MAX_EPOCHS = 100


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="RUN", help="a kept run's name in the "
                   "workspace, or a saved model folder")
    p.add_argument("--feedback", required=True, metavar="PATH", help="new interactions (CSV, "
                   "gz, Parquet, XLSX; columns as for --interactions) or a feedback log "
                   "(user_id, item_id, position, propensity, reward: rows with reward > 0)")
    p.add_argument("--catalog", metavar="PATH", help="catalog rows of new products (item id, "
                   "title, description, category, brand, price): content models (hybrid, "
                   "coldstart) score products they have never seen from these; an interaction "
                   "file's own title / category columns are used too")
    p.add_argument("--feedback-kind", choices=["auto", "interactions", "log"], default="auto",
                   help="how to read --feedback (default auto: a log when it has every log "
                   "column)")
    p.add_argument("--format", default="auto", choices=list(INPUT_FORMATS),
                   help="file format of an interaction file (default: recognise it)")
    p.add_argument("--columns", help="column mapping of an interaction file, e.g. "
                   "user_id=CustomerID,item_id=StockCode,timestamp=InvoiceDate")
    p.add_argument("--value-kind", choices=["rating", "quantity", "weight"],
                   help="how to read the value column")
    p.add_argument("--workspace", help="workspace folder (default TAILSTUDIO_WORKSPACE or "
                   "./workspace)")
    p.add_argument("--dataset", help="the dataset whose kept run --model names (needed when "
                   "several keep one of that name, or for a model folder saved without its ids)")
    p.add_argument("--run", dest="new_run", help="name of the new run (default "
                   "<run>-updated-<n>)")
    p.add_argument("--out", help="save the updated model into this folder instead of keeping "
                   "it as a run")
    p.add_argument("--epochs", type=int, default=None, metavar="N", help="torch models (BPR, "
                   "NeuMF, DeepFM, Mult-VAE, SASRec): warm-started epochs of their training "
                   "loop on the new interactions mixed with replayed old ones (default: "
                   "recsys.feedback.update.DEFAULT_EPOCHS; 0 = fold-in only: users without "
                   "new interactions keep their lists)")
    add_device_arg(p)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from recsys.data.reading import IngestError
    from recsys.feedback.update import (
        find_kept_run,
        read_feedback,
        read_new_products,
        update_kept_run,
        update_saved_model,
    )
    from recsys.workspace import Workspace, WorkspaceError

    epochs = args.epochs  # None: the default for torch models, silent for the others
    if epochs is not None and not 0 <= epochs <= MAX_EPOCHS:
        raise CliError(f"--epochs must be between 0 and {MAX_EPOCHS}, got {epochs}")
    if not Path(args.feedback).is_file():
        raise CliError(f"--feedback: no such file '{args.feedback}'")
    mapping = parse_columns(args.columns, INTERACTION_ROLES, "--columns")
    if args.catalog and not Path(args.catalog).is_file():
        raise CliError(f"--catalog: no such file '{args.catalog}'")
    try:
        frame, kind, catalog = read_feedback(args.feedback, kind=args.feedback_kind,
                                             file_format=args.format, mapping=mapping or None,
                                             value_kind=args.value_kind)
        if args.catalog:  # its rows first: a product in both keeps the --catalog row
            rows = read_new_products(args.catalog)
            catalog = rows if catalog is None else pd.concat([rows, catalog], ignore_index=True)
    except IngestError as exc:
        raise CliError(str(exc)) from exc
    source = Path(args.feedback).name + (" (rewarded log rows)" if kind == "log" else "")
    device = None if args.device == "auto" else args.device
    folder = Path(args.model)
    try:
        if (folder / "model.json").is_file():
            user_ids = item_ids = None
            threshold = None
            if args.dataset:
                ds = Workspace(args.workspace).load_dataset(args.dataset)
                user_ids, item_ids = ds.user_ids, ds.item_ids
                threshold = ds.config.rating_threshold
            result = update_saved_model(folder, frame, out=args.out, user_ids=user_ids,
                                        item_ids=item_ids, source=source, device=device,
                                        rating_threshold=threshold, catalog=catalog,
                                        epochs=epochs)
        else:
            ws = Workspace(args.workspace)
            dataset = find_kept_run(ws, args.model, args.dataset)
            if args.out:
                kept = next(r for r in ws.kept_runs(dataset) if r.run == args.model)
                ds = ws.load_dataset(dataset)
                result = update_saved_model(kept.path, frame, out=args.out, user_ids=ds.user_ids,
                                            item_ids=ds.item_ids, source=source, device=device,
                                            rating_threshold=ds.config.rating_threshold,
                                            catalog=catalog, epochs=epochs)
            else:
                result = update_kept_run(ws, dataset, args.model, frame, source=source,
                                         new_run=args.new_run, device=device, catalog=catalog,
                                         epochs=epochs)
    except WorkspaceError as exc:
        raise CliError(str(exc)) from exc
    except ValueError as exc:
        text = str(exc)
        if "user and item ids are needed" in text:
            text = (f"the model in '{folder}' was saved without its user and item ids: name the "
                    "dataset it was fitted on with --dataset")
        raise CliError(text) from exc
    print(result.summary())
    return 0
