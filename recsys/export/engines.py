"""Where an export's blocks of users are scored: in this process, or as Ray tasks.

An export cuts its users into blocks and hands every block to one picklable scorer (the
model, the dataset, the re-ranking steps and their context: :class:`recsys.export.lists.
BlockScorer`). The engine only decides where that call runs; the driver writes the results in
block order, so both engines write the same file.

* :class:`LocalEngine` (``local``, the default) calls the scorer block after block in this
  process.
* :class:`RayEngine` (``ray``, the optional ``requirements-scale.txt``) puts the scorer into
  the Ray object store once (``ray.put``) and hands it to one Ray actor per CPU (one CPU
  each), which unpickles it once and keeps it: the model and the dataset's caches are rebuilt
  once per worker, not once per block. Blocks go to the actors in turn, a bounded number in
  flight, and are collected in order. Without an address it starts a quiet
  local Ray on this machine's cores and shuts it down afterwards; ``auto`` or ``HOST:PORT``
  connects to a running cluster (whose nodes need ``requirements.txt`` installed; the
  ``recsys`` package itself is shipped with the job).

Ray is imported only when a Ray engine is opened, so ``import recsys`` never imports it.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

__all__ = ["ENGINES", "EngineError", "ExportEngine", "LocalEngine", "RayEngine", "open_engine",
           "RAY_INSTALL_HINT"]

log = logging.getLogger(__name__)

#: The engines ``--engine`` accepts.
ENGINES = ("local", "ray")
#: How to get Ray, said by every message about it missing.
RAY_INSTALL_HINT = "pip install -r requirements-scale.txt"
#: Seconds to wait for a cluster's address to answer before giving up (Ray itself would retry
#: for minutes).
CONNECT_TIMEOUT_S = 3.0
#: Thread settings of the numeric libraries: a local Ray's workers get one thread each.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")

In = TypeVar("In")
Out = TypeVar("Out")


class EngineError(ValueError):
    """An engine that cannot be used: Ray missing, a bad or unreachable address."""


class ExportEngine(Protocol):
    """Runs ``fn`` over blocks, yielding the results in the blocks' order."""

    name: str

    def prepare(self, model: Any) -> Any: ...

    def map(self, fn: Callable[[In], Out], blocks: Iterable[In]) -> Iterator[Out]: ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class LocalEngine:
    """Every block in this process, one after the other."""

    name = "local"

    def prepare(self, model: Any) -> Any:
        """The model as it is: it scores where it was trained."""
        return model

    def map(self, fn: Callable[[In], Out], blocks: Iterable[In]) -> Iterator[Out]:
        for block in blocks:
            yield fn(block)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def close(self) -> None:
        pass

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def _worker_threads() -> Iterator[None]:
    """One thread per numeric library while a local Ray starts: its workers inherit this
    process's environment, and every task holds one CPU, so a setting meant for this process
    (e.g. ``OMP_NUM_THREADS=2``) would oversubscribe the cores. Restored afterwards."""
    saved = {name: os.environ.get(name) for name in THREAD_VARS}
    os.environ.update(dict.fromkeys(THREAD_VARS, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _Holder:
    """The body of every Ray actor: ``fn`` arrives from the object store once, when the actor
    starts, and is kept; every block then arrives by value and is scored with it."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self._fn = fn

    def call(self, block: Any) -> Any:
        return self._fn(block)


def check_address(address: str) -> None:
    """Refuse an address that is neither ``auto`` nor a ``HOST:PORT`` that answers, in a
    second or three, with a one-line :class:`EngineError` (Ray would retry for minutes)."""
    if address == "auto":
        return
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise EngineError(f"--ray-address must be 'auto' or HOST:PORT of a running Ray cluster's "
                          f"head (e.g. 10.0.0.5:6379), got '{address}'")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise EngineError(f"--ray-address {address}: no Ray cluster answers there ({exc}); start "
                          f"one with 'ray start --head' or pass 'auto' on a cluster node") from exc


def import_ray() -> Any:
    """The ``ray`` module, or an :class:`EngineError` naming how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise EngineError(f"--engine ray needs Ray, which is not installed: "
                          f"{RAY_INSTALL_HINT}") from exc
    return ray


class RayEngine:
    """Blocks scored by Ray actors holding the scorer (one per CPU, ``num_cpus=1`` each), at
    most ``in_flight`` blocks at once, yielded in order.

    ``address`` ``None`` starts a local Ray with ``num_cpus`` (default: this machine's cores),
    no dashboard and no worker logs, shut down by :meth:`close`; ``auto`` or ``HOST:PORT``
    connects to a running cluster (left running). A Ray already initialised in this process is
    used as it is and left running.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None,
                 in_flight: int | None = None) -> None:
        ray = import_ray()
        if address is not None:
            check_address(address)
        self._ray = ray
        self._owned = False
        self.address = address
        if not ray.is_initialized():
            self._init(address, num_cpus)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.cpus = max(1, cpus)
        self.in_flight = in_flight or 2 * self.cpus
        self._actor = ray.remote(num_cpus=1)(_Holder)

    def _init(self, address: str | None, num_cpus: int | None) -> None:
        ray = self._ray
        quiet = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        logging.getLogger("ray").setLevel(logging.ERROR)  # start-up notices, not the user's output
        if address is None:
            with _worker_threads():
                ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **quiet)
        else:
            import recsys

            package = str(Path(recsys.__file__).resolve().parent)
            try:
                ray.init(address=address, runtime_env={"py_modules": [package]}, **quiet)
            except ConnectionError as exc:
                raise EngineError(f"--ray-address {address}: no running Ray cluster found from "
                                  f"this node (start one with 'ray start --head', or give the "
                                  f"head's HOST:PORT)") from exc
            except ValueError as exc:
                raise EngineError(f"--ray-address {address}: {exc}") from exc
        self._owned = True
        log.info("ray: %s with %s CPUs", "local" if address is None else address,
                 ray.cluster_resources().get("CPU"))

    def prepare(self, model: Any) -> Any:
        """The model as the tasks can hold it: itself on the CPU, else an exact CPU copy (saved
        and loaded back). A task holds one CPU and no GPU, and a CUDA tensor cannot be unpickled
        without one; such lists may then differ from the GPU's in the last float bits."""
        if str(getattr(model, "device_", "cpu")) == "cpu" or not hasattr(model, "save"):
            return model
        try:
            with tempfile.TemporaryDirectory(prefix="recsys-ray-model-") as tmp:
                model.save(tmp)
                copy = type(model).load(tmp, device="cpu")
        except Exception as exc:  # a model without an exact save / load
            raise EngineError(f"--engine ray: the {model.name} model trained on {model.device_} "
                              f"cannot be copied to the CPU for the Ray tasks ({exc}); train "
                              f"with --device cpu") from exc
        log.info("ray: %s moved from %s to the CPU for the tasks", model.name, model.device_)
        return copy

    def map(self, fn: Callable[[In], Out], blocks: Iterable[In]) -> Iterator[Out]:
        """``fn(block)`` of every block on the actors; ``fn`` goes into the object store once
        and is unpickled once per actor. Actors start as the first blocks arrive (an export of
        one block starts one) and block ``i`` goes to actor ``i mod cpus``; they are ended when
        the blocks are done (or the caller stops early), freeing their CPUs."""
        ray = self._ray
        fn_ref = ray.put(fn)
        actors: list[Any] = []
        pending: deque[Any] = deque()
        try:
            for n, block in enumerate(blocks):
                if len(actors) < self.cpus:
                    actors.append(self._actor.remote(fn_ref))
                pending.append(actors[n % len(actors)].call.remote(block))
                if len(pending) >= self.in_flight:
                    yield ray.get(pending.popleft())
            while pending:
                yield ray.get(pending.popleft())
        finally:
            for actor in actors:
                ray.kill(actor)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address or "local", "cpus": self.cpus,
                "ray": getattr(self._ray, "__version__", None)}

    def close(self) -> None:
        """Shut down the Ray this engine started (a cluster it connected to keeps running)."""
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()
        self._owned = False

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_engine(name: str = "local", address: str | None = None, *,
                num_cpus: int | None = None) -> LocalEngine | RayEngine:
    """The engine called ``name`` (:data:`ENGINES`), ready to use; close it (or use it as a
    context manager) when the export is done."""
    if name == "local":
        if address is not None:
            raise EngineError("--ray-address needs --engine ray")
        return LocalEngine()
    if name == "ray":
        return RayEngine(address, num_cpus=num_cpus)
    raise EngineError(f"unknown engine '{name}' (choose from {', '.join(ENGINES)})")
