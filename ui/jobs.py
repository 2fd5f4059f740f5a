"""Work that runs in the dashboard's worker processes, and the plain requests that describe it.

Everything that crosses the process boundary is plain data: a request holds YAML text, names,
numbers and the path of the result store; a worker parses them itself and returns a picklable
`NetworkResult` or `SweepOutcome`. A shared status mapping (a `multiprocessing.Manager` dict
proxy) carries progress out of the worker and a cancel request into it. Cancelling is
cooperative: queued problems are dropped, the ones being solved stop with their best mapping so
far ("stopped"), and the layers left without an answer are reported as "cancelled".

Every solve goes through the persistent result store (`miredo_core.store.ResultStore`): the
worker reads the answers already stored, solves only the rest and stores each new answer as it
arrives, so repeating a sweep or a run, also after a server restart, or sweeping an overlapping
grid, solves only what is new. The store path is resolved in the server when a request is built
(`current_store_path`), not in the worker: workers are spawned once, with the environment of
that moment, so they would miss a later `$MIREDO_STORE`.

This module never imports streamlit, so a worker starts without it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import multiprocessing.util
import os
import time
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

import miredo_core
from miredo_core import (
    MAPPERS,
    PRESETS,
    Layer,
    Network,
    NetworkResult,
    ResultStore,
    SolveOptions,
    SweepSpec,
    SweepStats,
    WorkerPool,
    default_store_path,
    get_network,
    hardware_key,
    load_hardware,
    map_network,
    parse_hardware,
    parse_workload,
    process_pool,
    solve_layer,
    template_path,
)

logger = logging.getLogger(__name__)

#: Workload kinds: a built-in network by name, or a workload YAML document (sample files,
#: uploads, custom layers and imported ONNX models are all kept as workload YAML text).
BUILTIN = "builtin"
YAML = "yaml"


#: The preset a slider move re-optimizes with: seconds per layer, with an honest gap.
DEFAULT_PRESET = "interactive" if "interactive" in PRESETS else next(iter(PRESETS))
#: How often a page polls a running job, in seconds.
POLL_SECONDS = 0.4


def option_names(mapper: str) -> tuple[str, ...]:
    """The `SolveOptions` fields a request carries for `mapper`: preset and solver for a mapper
    that takes options (`Mapper.takes_options`), none for the others, so that an option a
    mapper ignores never splits the cache."""
    if mapper not in MAPPERS or not MAPPERS[mapper].takes_options:
        return ()
    return ("preset", "solver")


def current_store_path() -> str:
    """The result store of new requests: `$MIREDO_STORE` if set, else `miredo/results.sqlite3`
    under the user's cache directory (`miredo_core.store.default_store_path`)."""
    return str(default_store_path())


@dataclass(frozen=True)
class WorkloadSpec:
    """Which workload to map, as plain text (so it can key a cache and cross processes)."""

    kind: str
    value: str
    label: str = ""

    def load(self) -> Network:
        if self.kind == BUILTIN:
            return get_network(self.value)
        return parse_workload(self.value, source=self.label or "workload")


@dataclass(frozen=True)
class RunRequest:
    """One network mapping: everything that determines its result, as plain values.

    `options` holds `SolveOptions` fields (quality preset, solver) as sorted (name, value)
    pairs, empty for mappers that take none, so an option a mapper ignores never splits the
    cache.
    """

    hardware_text: str
    workload: WorkloadSpec
    mapper: str
    objective: str
    simulate: bool = True
    options: tuple[tuple[str, str], ...] = field(default=())
    store_path: str = field(default_factory=current_store_path)
    """The ResultStore file the worker reads first and writes to (":memory:" keeps nothing)."""

    def key(self) -> tuple:
        """What keys this run's job: the request with its hardware text replaced by the text's
        `hardware_key` (the text is canonical, see `ui.cached.canonical_hardware_text`)."""
        return _key(self)


@dataclass(frozen=True)
class SweepRequest:
    """A hardware sweep: every combination of `axes` values applied to one hardware."""

    hardware_text: str
    workload: WorkloadSpec
    mapper: str
    objective: str
    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    options: tuple[tuple[str, str], ...] = field(default=())
    store_path: str = field(default_factory=current_store_path)
    """As in RunRequest."""

    def key(self) -> tuple:
        """As RunRequest.key."""
        return _key(self)


def _key(request: RunRequest | SweepRequest) -> tuple:
    others = (getattr(request, f.name) for f in dataclasses.fields(request)
              if f.name != "hardware_text")  # fmt: skip
    return (hardware_key(request.hardware_text), *others)


@dataclass(frozen=True, eq=False)
class SweepOutcome:
    """What a sweep returns to the server: small and picklable (no per-layer results)."""

    points: pd.DataFrame
    """`SweepResult.points_frame()`: one row per point, totals, status and a `pareto` column."""
    stats: SweepStats
    """Points, distinct problems, answers from the store, answers solved, wall time."""
    store_path: str


#: Scheduling niceness of the dashboard's worker processes (and the solver processes they
#: start, which inherit it): the server (niceness 0) gets about nine times their share of a
#: busy CPU, so pages keep rendering while a network is mapped, and on an idle machine a solve
#: still runs at full speed. Work budgets, not time, bound a solve, so answers do not change
#: with it.
WORKER_NICENESS = 10
#: Linux's per-session scheduling groups (`sched_autogroup`): where this file exists, the CPU is
#: shared between sessions first, by the sessions' niceness, and by each process's niceness
#: only inside its session.
AUTOGROUP = "/proc/self/autogroup"
#: Niceness of a worker's own session (`lower_priority`): by the kernel's weights (335 at
#: niceness 5, 1024 at 0), each busy worker session keeps about a quarter of a CPU against a
#: CPU-bound program of niceness 0 in another session (the browser drawing a page, a compiler);
#: every worker leads a session of its own, so two busy workers weigh twice that. At 10 (weight
#: 110) a session would keep a tenth, which makes solves crawl beside any other work, and a
#: second tab was drawn no sooner than at 5 (`bench/dashboard.py --browser-only`).
SESSION_NICENESS = 5


def lower_priority() -> None:
    """In a worker process, raise its niceness to WORKER_NICENESS (never lowers it). A main
    process (the server, a test calling a job function itself) and a platform without
    `os.nice` keep their priority.

    Where the kernel groups processes by session (`AUTOGROUP`), a worker's niceness only ranks
    it against the server inside their session, while the browser, in another session, shares
    the CPU evenly with the whole session: a second tab then waits for the solve. The worker
    therefore leaves for a session of its own (`os.setsid`) of niceness SESSION_NICENESS. It
    still dies with the server (`miredo_core.workers`: parent-death signal and watchdog), and
    it ignores Ctrl-C either way; a signal sent to the server's process group (a hang-up,
    `kill -- -PGID`) no longer reaches it, so it ends through the watchdog, within about
    `workers.PARENT_POLL_S` of the server."""
    nice = getattr(os, "nice", None)
    if nice is None or multiprocessing.parent_process() is None:
        return
    current = nice(0)
    if current < WORKER_NICENESS:
        nice(WORKER_NICENESS - current)
    if not os.path.exists(AUTOGROUP):
        return
    try:
        if os.getsid(0) != os.getpid():
            os.setsid()
    except OSError as error:  # a kernel that refuses: the niceness above stays
        logger.warning("worker session unchanged: %s", error)
        return
    set_session_niceness()


#: Attempts at writing a session's niceness, AUTOGROUP_RETRY_S apart: without CAP_SYS_ADMIN
#: the kernel takes one such write per 100 ms on the whole machine, and workers start together.
AUTOGROUP_ATTEMPTS = 20
AUTOGROUP_RETRY_S = 0.15


def set_session_niceness() -> bool:
    """Give this process's session (scheduling group) niceness SESSION_NICENESS unless it has
    at least that already: True when it has it. A write refused for the rate limit is tried
    again; any other refusal is logged and leaves the session as it is."""
    for _ in range(AUTOGROUP_ATTEMPTS):
        try:
            with open(AUTOGROUP, encoding="ascii") as group:
                if int(group.read().split()[-1]) >= SESSION_NICENESS:
                    return True
            with open(AUTOGROUP, "w", encoding="ascii") as group:
                group.write(str(SESSION_NICENESS))
            return True
        except BlockingIOError:  # EAGAIN: another process wrote within the last 100 ms
            time.sleep(AUTOGROUP_RETRY_S)
        except (OSError, ValueError, IndexError) as error:
            logger.warning("worker session priority unchanged: %s", error)
            return False
    logger.warning("worker session priority unchanged: the kernel kept refusing the write")
    return False


def warm_up() -> bool:
    """Makes a fresh worker import the library, at a lower priority, before the first job, and
    start its solver processes (`layer_pool`)."""
    lower_priority()
    layer_pool()
    return True


#: Distinct layer shapes solved in parallel by one expensive run (baselines are fast alone).
PARALLEL_LAYERS = max(1, min(2, os.cpu_count() or 1))

_layer_pool: WorkerPool | None = None


#: The layer a fresh process maps to import the library and load its compiled kernels.
WARM_UP_LAYER = Layer("warm_up", R=3, S=3, P=4, Q=4, C=4, K=4)


def _warm_solver() -> bool:
    """In a solver process: import the search and load most of its compiled kernels by solving
    `WARM_UP_LAYER` (about 0.9 s; the first real layer then pays about 0.5 s more, where a
    layer big enough to load every kernel would take 3 s of each process at server start)."""
    hardware = load_hardware(template_path("resnet18"))
    solve_layer(hardware, WARM_UP_LAYER, "latency", SolveOptions(preset="interactive", workers=1))
    return True


def layer_pool() -> WorkerPool:
    """The dashboard worker's PARALLEL_LAYERS solver processes, started (and warmed up) on
    first use and kept for every later run: a spawned solver takes about two seconds to import
    the library and load its kernels, which a fresh pool per run paid on every slider move. A
    worker that dies is replaced by the pool (`WorkerPool.renew`); the processes end with the
    dashboard worker."""
    global _layer_pool
    if _layer_pool is None:
        _layer_pool = process_pool(PARALLEL_LAYERS)
        # A worker process that ends joins its children first: stop them before that join.
        multiprocessing.util.Finalize(_layer_pool, _layer_pool.kill, exitpriority=10)
        for _ in range(PARALLEL_LAYERS):
            _layer_pool.submit(_warm_solver)
    return _layer_pool


def _progress(status: Any):
    def report(done: int, total: int, text: str) -> None:
        status.update(done=done, total=total, layer=text)

    return report


def _cancel(status: Any):
    """The job's cancel request, read from its shared status mapping."""
    return lambda: bool(status.get("cancel"))


def solve_options(pairs: tuple[tuple[str, str], ...]) -> SolveOptions:
    """The `SolveOptions` of a request's option pairs."""
    return SolveOptions(**dict(pairs))


@contextlib.contextmanager
def solver_executor(mapper: str) -> Iterator[Executor]:
    """Where a worker solves the problems the store does not hold.

    An expensive mapper (`MAPPERS[mapper].expensive`): the worker's `layer_pool` of
    PARALLEL_LAYERS processes (layers in parallel), kept from run to run; called outside a
    worker process, a pool of its own for the run. A worker's main module is blank (see
    `ui.cached`), so its solver processes do not re-run a page. Others: one thread of this
    worker, as they take milliseconds and a pool seconds to start. Either way a solver crash
    ends a worker process at worst, never the server.
    """
    if MAPPERS[mapper].expensive and multiprocessing.parent_process() is not None:
        yield layer_pool()
    elif MAPPERS[mapper].expensive:  # a caller's own process (tests): a pool of its own
        with process_pool(PARALLEL_LAYERS) as pool:
            yield pool
    else:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="solver") as threads:
            yield threads


def run_network(request: RunRequest, status: Any) -> NetworkResult:
    """Map the request's network through the result store; library errors propagate to the
    caller unchanged."""
    lower_priority()
    hardware = parse_hardware(request.hardware_text, source="hardware")
    network = request.workload.load()
    status.update(done=0, total=0, layer="")
    with ResultStore(request.store_path) as store, solver_executor(request.mapper) as executor:
        return map_network(
            hardware, network, request.objective, request.mapper, solve_options(request.options),
            store=store, executor=executor, simulate=request.simulate,
            progress=_progress(status), cancel=_cancel(status),
        )  # fmt: skip


def sweep_spec(request: SweepRequest) -> SweepSpec:
    """The library's sweep of a request; raises ConfigError / WorkloadError / ValueError
    (an axis value the hardware cannot take) with a message that says what to change."""
    return SweepSpec(
        hardware=parse_hardware(request.hardware_text, source="hardware"),
        axes=request.axes,
        network=request.workload.load(),
        objective=request.objective,
        mapper=request.mapper,
        options=solve_options(request.options),
    )


def run_sweep(request: SweepRequest, status: Any) -> SweepOutcome:
    """Map the network on every sweep point through the result store (the library's sweep)."""
    lower_priority()
    spec = sweep_spec(request)
    status.update(done=0, total=0, layer="")
    with ResultStore(request.store_path) as store, solver_executor(request.mapper) as executor:
        result = miredo_core.run_sweep(spec, executor, store, _progress(status), _cancel(status))
    return SweepOutcome(result.points_frame(), result.stats, request.store_path)
