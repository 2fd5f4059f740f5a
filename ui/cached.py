"""Every cached call of the dashboard, keyed by plain values (YAML text, names, numbers).

Three kinds of cache:

* `st.cache_data` for quick pure functions (parsing, variants, workload loading, checking a
  sweep);
* one shared job store (`st.cache_resource`) for mapping runs and sweeps. A run is keyed by its
  request (`RunRequest.key`: the hardware's `hardware_key`, workload, mapper, objective, options,
  store path), so asking again for a finished run returns it at once: moving a slider back is
  instant. Jobs run in a `miredo_core.process_pool` (a solver crash kills a worker, never the
  server); progress and cancel travel through a `Manager` dict per job;
* the persistent result store (`miredo_core.store`), which the workers read and write (see
  `ui.jobs`): it outlives the job store and the server, and serves every layer problem already
  solved by any run or sweep.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import types
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from miredo_core import (
    ConfigError,
    Hardware,
    InfeasibleMappingError,
    Network,
    ResultStore,
    StoreError,
    SweepError,
    WorkloadError,
    apply_variants,
    canonical_hardware,
    dump_hardware,
    dump_workload,
    hardware_key,
    import_onnx,
    load_hardware,
    map_layer,
    parse_hardware,
    process_pool,
    spawn_manager,
    template_path,
    workload_from_dict,
)
from ui import jobs, provisional

#: Finished jobs kept (each holds one NetworkResult or sweep frame; ResNet-18 is ~1 MB).
STORE_CAPACITY = 64
#: Worker processes: one per core, at most 4 (a dashboard serves few users at once).
WORKERS = max(1, min(4, os.cpu_count() or 1))

#: Errors whose message says what is wrong and what to do (the user's input, an unusable store
#: file, a solver crash during a sweep): shown as their message, never as a traceback.
USER_ERRORS = (ConfigError, WorkloadError, InfeasibleMappingError, ValueError, StoreError,
               SweepError)  # fmt: skip


# ---------------------------------------------------------------- quick cached functions
@st.cache_data(max_entries=256, show_spinner=False)
def hardware_from_text(text: str) -> Hardware:
    """Parse hardware YAML text (raises ConfigError, which is not cached)."""
    return parse_hardware(text, source="hardware YAML")


@st.cache_data(max_entries=256, show_spinner=False)
def canonical_hardware_text(text: str) -> str:
    """The library's canonical text of the hardware (`miredo_core.canonical_hardware`): equal
    hardware gives equal text, so comments and key order never split the result cache."""
    return canonical_hardware(text, source="hardware YAML")[1]


@st.cache_data(max_entries=256, show_spinner=False)
def hardware_variant_text(base_text: str, axes: tuple[tuple[str, Any], ...]) -> str:
    """The base hardware with every axis that differs from it set through the library's
    variants, as canonical text; the base text itself when nothing differs. Raises ConfigError /
    ValueError."""
    base = hardware_from_text(base_text)
    hardware = apply_variants(base, axes)
    return base_text if hardware is base else dump_hardware(hardware)


@st.cache_data(max_entries=4096, show_spinner=False)
def variant_name_and_key(base_text: str, axes: tuple[tuple[str, Any], ...]) -> tuple[str, str]:
    """The name and `hardware_key` of `hardware_variant_text(base_text, axes)` (kept for many
    designs: a sweep table names every point at each rerun)."""
    text = canonical_hardware_text(hardware_variant_text(base_text, axes))
    return hardware_from_text(text).name, hardware_key(text)


@st.cache_data(max_entries=32, show_spinner=False)
def load_network(kind: str, value: str, label: str) -> Network:
    """A workload (built-in name or workload YAML text); raises WorkloadError / ConfigError."""
    return jobs.WorkloadSpec(kind, value, label).load()


@st.cache_data(max_entries=16, show_spinner=False)
def onnx_to_workload_text(data: bytes, name: str) -> str:
    """Import an ONNX model (never executed) and keep it as workload YAML text."""
    return dump_workload(import_onnx(data, name=name))


# ---------------------------------------------------------------- the job store
@dataclass
class Job:
    """A submitted run or sweep. `status` is a Manager dict: done, total, layer, cancel."""

    key: Hashable
    label: str
    future: Future
    status: Any
    started_s: float = field(default_factory=time.monotonic)
    """`time.monotonic()` at submission."""
    first_progress: tuple[float, int] | None = None
    """(time, layers done) when progress was first seen: answers served from the store arrive
    in one lump at the start, so the rate of work is measured from there."""

    def done(self) -> bool:
        return self.future.done()

    def estimate(self, done: int, total: int) -> tuple[float, float | None]:
        """(seconds since submission, seconds left at the rate since the first progress, None
        while there is no rate yet)."""
        now = time.monotonic()
        if self.first_progress is None and done > 0:
            self.first_progress = (now, done)
        elapsed = now - self.started_s
        if self.first_progress is None or done <= self.first_progress[1] or total <= done:
            return elapsed, None if total > done or total == 0 else 0.0
        since, then = now - self.first_progress[0], self.first_progress[1]
        return elapsed, (total - done) * since / (done - then)

    def progress(self) -> tuple[int, int, str]:
        try:
            status = self.status.copy()
        except (OSError, EOFError):  # the manager is gone; the future still reports the end
            return 0, 0, ""
        return int(status["done"]), int(status["total"]), str(status["layer"])

    def cancel(self) -> None:
        if not self.future.cancel():
            try:
                self.status["cancel"] = True
            except (OSError, EOFError):
                pass

    def outcome(self) -> tuple[Any, str]:
        """(result, "") or (None, message): no exception leaves this method."""
        if self.future.cancelled():
            return None, "cancelled"
        error = self.future.exception()
        if error is None:
            return self.future.result(), ""
        if isinstance(error, BrokenProcessPool):
            return None, "the solver process crashed; the worker pool was restarted, try again"
        if isinstance(error, USER_ERRORS):
            return None, str(error)
        return None, f"unexpected error ({type(error).__name__}): {error}"

    def cancel_requested(self) -> bool:
        try:
            return bool(self.status.get("cancel"))
        except (OSError, EOFError):
            return False

    def retryable(self) -> bool:
        """A cancelled (possibly partial) or crashed job: kept to be shown, but submitting its
        request again runs it anew (its finished answers are in the result store)."""
        if not self.done():
            return False
        if self.future.cancelled() or self.cancel_requested():
            return True
        return isinstance(self.future.exception(), BrokenProcessPool | SweepError)


@contextlib.contextmanager
def _blank_main_module() -> Iterator[None]:
    """Streamlit runs a page as `sys.modules["__main__"]`, and a spawned child re-imports the
    parent's main module on start-up: it would run the page (and start processes) again. While
    processes start, the main module is an empty one."""
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


class JobStore:
    """Jobs by key: one process pool and one Manager, shared by every session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: OrderedDict[Hashable, Job] = OrderedDict()
        with _blank_main_module():
            self._manager = spawn_manager()
        self._executor = process_pool(WORKERS)
        self._warm_up()

    def _warm_up(self) -> None:
        """Start every worker now, with a blank main module: a spawn pool starts one worker per
        submit until it has `max_workers`, and never replaces one (a crash breaks the whole
        pool, which `submit` then renews)."""
        with _blank_main_module():
            for _ in range(WORKERS):
                self._executor.submit(jobs.warm_up)

    def find(self, key: Hashable) -> Job | None:
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                self._jobs.move_to_end(key)
            return job

    def submit(self, key: Hashable, label: str, function: Callable, request: Any) -> Job:
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and not job.retryable():
                self._jobs.move_to_end(key)
                return job
            status = self._manager.dict(done=0, total=0, layer="", cancel=False)
            try:
                future = self._executor.submit(function, request, status)
            except (BrokenProcessPool, RuntimeError):  # a crashed pool refuses new work
                self._executor.renew()
                self._warm_up()
                future = self._executor.submit(function, request, status)
            job = Job(key, label, future, status)
            self._jobs[key] = job
            self._evict()
        return job

    def _evict(self) -> None:
        finished = [key for key, job in self._jobs.items() if job.done()]
        for key in finished[: max(0, len(self._jobs) - STORE_CAPACITY)]:
            del self._jobs[key]


@st.cache_resource(show_spinner=False)
def job_store() -> JobStore:
    return JobStore()


def _warm_up_models() -> None:
    """Import the search and cost-model modules and compile their kernels by mapping one small
    layer: the first provisional answer then costs only its own work."""
    map_layer(load_hardware(template_path("resnet18")), jobs.WARM_UP_LAYER, mapper="ws")


@st.cache_resource(show_spinner=False)
def warm_up_server() -> threading.Thread:
    """Once per server, in the background: `_warm_up_models`."""
    thread = threading.Thread(target=_warm_up_models, name="warm-up", daemon=True)
    thread.start()
    return thread


def run_key(request: jobs.RunRequest) -> tuple:
    return ("run", request.key())


def start_run(request: jobs.RunRequest, label: str) -> Job:
    """Submit a network mapping, or return the finished / running job of an equal request."""
    return job_store().submit(run_key(request), label, jobs.run_network, request)


def find_run(request: jobs.RunRequest) -> Job | None:
    return job_store().find(run_key(request))


@st.cache_data(max_entries=64, show_spinner=False)
def sweep_size(request: jobs.SweepRequest) -> int:
    """The number of design points of a sweep, once the library has checked it (every axis
    value applies to the hardware); raises ConfigError / WorkloadError / ValueError."""
    return jobs.sweep_spec(request).grid_size


def start_sweep(request: jobs.SweepRequest) -> Job:
    return job_store().submit(("sweep", request.key()), "sweep", jobs.run_sweep, request)


def find_sweep(request: jobs.SweepRequest) -> Job | None:
    return job_store().find(("sweep", request.key()))


@st.cache_data(max_entries=32, show_spinner=False)
def custom_workload_text(layers: tuple[tuple[tuple[str, Any], ...], ...]) -> str:
    """Workload YAML of hand-entered layers, validated by the library (every problem raised
    as one ConfigError with the layer's path)."""
    document = {"workload": {"name": "custom", "layers": [dict(layer) for layer in layers]}}
    return dump_workload(workload_from_dict(document, source="custom layers"))


def run_jobs(runs: Sequence[tuple[jobs.RunRequest, str]], start: bool) -> list[Job] | None:
    """The jobs of `runs` (request, label), equal requests shared: submitted when `start`,
    otherwise only found if already known. None when one of them is not known."""
    found: dict[jobs.RunRequest, Job | None] = {}
    for request, label in runs:
        if request not in found:
            found[request] = start_run(request, label) if start else find_run(request)
    if any(job is None for job in found.values()):
        return None
    return [job for job in found.values() if job is not None]


# ---------------------------------------------------------------- provisional answers
@st.cache_resource(show_spinner=False)
def result_store(path: str) -> ResultStore | None:
    """One reading connection per store file and server (None for a store that cannot be
    opened: the run itself reports why)."""
    try:
        return ResultStore(path)
    except StoreError:
        return None


@st.cache_data(max_entries=32, show_spinner=False)
def provisional_answer(
    hardware_text: str,
    workload: jobs.WorkloadSpec,
    objective: str,
    store_path: str,
    known: tuple[str, ...],
) -> provisional.Provisional:
    """The provisional answer of a design (`ui.provisional`): its nearest stored neighbours,
    `known` (canonical texts of designs the session used) among them, or WS."""  # fmt: skip
    hardware = hardware_from_text(hardware_text)
    points = provisional.neighbours(hardware, [hardware_from_text(text) for text in known])
    network = load_network(workload.kind, workload.value, workload.label)
    return provisional.provisional_network(
        hardware, network, objective, result_store(store_path), points
    )


def live_answer(request: jobs.RunRequest, known: tuple[str, ...]) -> provisional.Provisional:
    """The provisional answer with every layer the run has finished so far (its answers are
    in the result store as soon as they are solved) in place."""
    start = provisional_answer(
        request.hardware_text, request.workload, request.objective, request.store_path, known
    )
    store = result_store(request.store_path)
    if store is None:
        return start
    hardware = hardware_from_text(request.hardware_text)
    network = load_network(request.workload.kind, request.workload.value, request.workload.label)
    run = (request.objective, request.mapper, jobs.solve_options(request.options))
    return provisional.refine(start, provisional.final_answers(store, hardware, network, run))
