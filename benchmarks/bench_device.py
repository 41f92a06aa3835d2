"""Benchmark: one training epoch of every torch model, and the sentence model's encoding of N
texts, on CUDA against CPU.

Models: every registered model whose class has ``iterative = True`` (BPR, NeuMF, Mult-VAE,
DeepFM today; new gradient-trained models join by themselves). Data: ml-100k (ratings >= 4,
5-core) when ``../shared/data`` has it, and a synthetic larger shop (Zipf popularity, taste
groups). After one warm-up fit that is not counted, each model is fitted with ``epochs=1`` and
with ``epochs=E`` on the same data; the difference divided by ``E - 1`` is the steady time of
one epoch, the rest of the one-epoch fit is set-up (building tensors, moving them to the
device). On CUDA every timing ends with ``torch.cuda.synchronize()``, and one extra epoch runs
under ``torch.profiler`` to report the share of the GPU's busy time spent in host<->device
copies and the peak GPU memory: a high copy share means data moves every batch.

Without CUDA the CUDA columns say so and the script still runs on the CPU.

    python benchmarks/bench_device.py [--quick] [--models bpr,neumf] [--datasets ml-100k,synthetic]
                                      [--texts 5000] [--threads N] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
log = logging.getLogger("bench_device")

#: Synthetic shop sizes (users, items, interactions): full and ``--quick``.
SYNTHETIC = {"full": (50_000, 20_000, 2_000_000), "quick": (3_000, 1_500, 60_000)}


def torch_models() -> list[str]:
    """Registered models trained by gradient steps (``iterative = True``), in registry order."""
    from recsys.models import available_models, get_model_class

    return [n for n in available_models() if getattr(get_model_class(n), "iterative", False)
            or "iterations" in get_model_class(n).config_cls.model_fields]  # + ALS (torch on CUDA)


def ml100k():
    """ml-100k, ratings ≥ 4, 5-core (``None`` when the shared data folder lacks it)."""
    from recsys.data.dataset import DatasetConfig, build_dataset
    from recsys.data.formats import load_files

    path = SHARED / "ml-100k" / "u.data.gz"
    if not path.exists():
        log.warning("ml-100k not found at %s: skipped", path)
        return None
    r = load_files(path)
    return build_dataset(r.interactions, r.catalog, users=r.users, name="ml-100k",
                         config=DatasetConfig(rating_threshold=4, kcore=5))


def synthetic(n_users: int, n_items: int, n_pairs: int, seed: int = 0):
    """A larger shop: Zipf item popularity mixed with 20 taste groups, no timestamps."""
    import pandas as pd

    from recsys.data.dataset import DatasetConfig, build_dataset

    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n_pairs)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.9
    popular = rng.choice(n_items, n_pairs, p=pop / pop.sum())
    group = (users % 20) * (n_items // 20) + rng.integers(0, max(n_items // 20, 1), n_pairs)
    items = np.where(rng.random(n_pairs) < 0.5, popular, group % n_items)
    inter = pd.DataFrame({"user_id": users.astype(str), "item_id": items.astype(str)})
    return build_dataset(inter.drop_duplicates(), None, name=f"synthetic-{n_users // 1000}k",
                         config=DatasetConfig())


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def _fit_seconds(name: str, dataset: Any, device: str, epochs: int) -> float:
    from recsys.models import create_model, get_model_class

    fields = get_model_class(name).config_cls.model_fields
    model = create_model(name, {"epochs" if "epochs" in fields else "iterations": epochs})
    _sync(device)
    t0 = time.perf_counter()
    model.fit(dataset, device=device)
    _sync(device)
    return time.perf_counter() - t0


def _copy_profile(name: str, dataset: Any) -> dict[str, float]:
    """One CUDA epoch under torch.profiler: share of device time in memcpy, peak memory."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.reset_peak_memory_stats()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        _fit_seconds(name, dataset, "cuda", 1)
    total = copies = 0.0
    for event in prof.key_averages():
        # self time only: an aten op's total would count its kernels a second time
        device_us = float(getattr(event, "self_device_time_total", 0.0)
                          or getattr(event, "self_cuda_time_total", 0.0) or 0.0)
        if event.key.startswith("Memcpy"):
            copies += device_us
        elif not event.key.startswith(("Memset", "cuda")):
            total += device_us
    busy = total + copies
    return {"copy_share": copies / busy if busy else float("nan"),
            "gpu_busy_s": busy / 1e6,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30}


def time_model(name: str, dataset: Any, devices: list[str], epochs: int) -> dict[str, Any]:
    """Set-up and steady one-epoch seconds of ``name`` on each device (plus CUDA hints)."""
    row: dict[str, Any] = {"model": name, "data": dataset.name, "pairs": int(dataset.n_pairs)}
    for device in devices:
        _fit_seconds(name, dataset, device, 1)  # warm-up: kernels, caches (text embeddings)
        one = _fit_seconds(name, dataset, device, 1)
        many = _fit_seconds(name, dataset, device, epochs)
        epoch_s = (many - one) / (epochs - 1) if many > one else float("nan")  # NaN: noise won
        row[f"{device}_epoch_s"] = epoch_s
        row[f"{device}_setup_s"] = max(one - epoch_s, 0.0)  # noise can push it below 0
    if "cuda" in devices:
        row.update(_copy_profile(name, dataset))
    return row


def time_texts(n: int, devices: list[str]) -> dict[str, Any] | None:
    """Seconds for the sentence model to encode ``n`` product texts on each device."""
    from recsys.data.formats import demo_dataset
    from recsys.features.text import clear_memo, item_texts, sentence_model_available, text_embeddings

    if not sentence_model_available():
        log.warning("sentence model not installed: text encoding skipped")
        return None
    base = item_texts(demo_dataset())
    texts = [f"{base[i % len(base)]} #{i}" for i in range(n)]  # distinct, realistic lengths
    row: dict[str, Any] = {"model": "sentence-model", "data": f"{n} texts", "pairs": n}
    for device in devices:
        text_embeddings(texts[:32], device=device, method="sentence-model")  # load once
        clear_memo()
        _sync(device)
        t0 = time.perf_counter()
        text_embeddings(texts, device=device, method="sentence-model")
        _sync(device)
        row[f"{device}_epoch_s"] = time.perf_counter() - t0
        row[f"{device}_setup_s"] = float("nan")
        clear_memo()
    return row


def _fmt(value: Any, width: int) -> str:
    if isinstance(value, str):
        return f"{value:>{width}}"
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return f"{'-':>{width}}"
    return f"{value:>{width},.3f}" if isinstance(value, float) else f"{value:>{width},}"


def print_table(rows: list[dict[str, Any]], cuda: bool) -> None:
    """Seconds per device, the CUDA/CPU ratio (below 1: the GPU is faster) and CUDA hints."""
    cols = ["model", "data", "pairs", "cpu_epoch_s", "cpu_setup_s"]
    if cuda:
        cols += ["cuda_epoch_s", "cuda_setup_s", "cuda/cpu", "copy_share", "peak_gib"]
    widths = [max(12, len(c)) for c in cols]
    print(" ".join(f"{c:>{w}}" for c, w in zip(cols, widths, strict=True)))
    for r in rows:
        if cuda and r.get("cpu_epoch_s"):
            r["cuda/cpu"] = r["cuda_epoch_s"] / r["cpu_epoch_s"]
        print(" ".join(_fmt(r.get(c), w) for c, w in zip(cols, widths, strict=True)))
    if cuda:
        print("cuda/cpu < 1: CUDA is faster. copy_share: share of the GPU's busy time spent in "
              "host<->device copies (high: data is moved every batch; keep it on the device). "
              "setup_s: the one-epoch fit minus one steady epoch (tensors built and moved).")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small synthetic set, 2 epochs, 300 "
                   "texts: a CPU-only run in well under 2 minutes")
    p.add_argument("--models", help="comma-separated names (default: every iterative model)")
    p.add_argument("--datasets", default="ml-100k,synthetic")
    p.add_argument("--epochs", type=int, help="E of the steady-epoch estimate (default 3, "
                   "quick 2)")
    p.add_argument("--texts", type=int, help="texts to encode (default 5000, quick 300)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own)")
    p.add_argument("--json", dest="json_path", help="write the rows as JSON here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    devices = ["cpu", "cuda"] if cuda else ["cpu"]
    if cuda:
        print(f"CUDA: {torch.cuda.get_device_name(0)}; CPU threads: {torch.get_num_threads()}")
    else:
        print(f"CUDA: none on this machine, CUDA timings skipped (CPU only, "
              f"{torch.get_num_threads()} threads)")
    epochs = max(2, args.epochs or (2 if args.quick else 3))
    models = [m.strip() for m in args.models.split(",")] if args.models else torch_models()
    sets = []
    for name in (d.strip() for d in args.datasets.split(",")):
        if name == "ml-100k":
            ds = ml100k()
            if ds is not None:
                sets.append(ds)
        elif name == "synthetic":
            sets.append(synthetic(*SYNTHETIC["quick" if args.quick else "full"]))
        else:
            p.error(f"unknown data set '{name}' (ml-100k, synthetic)")
    rows = []
    for ds in sets:
        for name in models:
            t0 = time.perf_counter()
            rows.append(time_model(name, ds, devices, epochs))
            log.info("%s on %s: %.1f s", name, ds.name, time.perf_counter() - t0)
    text_row = time_texts(args.texts or (300 if args.quick else 5000), devices)
    if text_row is not None:
        rows.append(text_row)
    print_table(rows, cuda)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({"cuda": cuda, "epochs": epochs,
                                                    "rows": rows}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
