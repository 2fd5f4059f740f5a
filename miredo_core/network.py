"""Map whole networks: the one path that the CLI, the dashboard and sweeps take.

Unit of work: one *problem*, a (hardware, layer shape) pair under one objective, mapper and
options, keyed as in `store.problem_key`. Layers with equal `Layer.shape_key()` pose the same
problem (ResNet's repeated blocks), and so do equal layers of different design points of a
sweep: each distinct problem is solved once and its mapping, cost and simulation reused for
every copy, which carries `reused_from` (the first layer of its network with that problem) and
solve_time_s = 0 (the work was done once).

Order of a run (`map_networks`; `map_network` is the one-network case):

1. the problems the `ResultStore` already holds are read (their mappings re-evaluated by
   `cost_model.evaluate`, so a stored answer never disagrees with the model);
2. the others are solved: in this process, or on an executor (a `workers.WorkerPool` of `jobs`
   processes by default, any `concurrent.futures.Executor`, e.g. a Dask cluster's). Each answer
   is written to the store as it arrives, so an interrupted run resumes where it stopped;
3. with `simulate`, the event simulator runs once per distinct problem: in the task that solved
   it (so on the executor, in parallel with the other solves), and in this process for the
   answers read from the store and for a simulation the task could not complete;
4. the layers are stitched back into one NetworkResult per network.

Nothing finished is thrown away. A cancel (`cancel.is_set()`, polled) drops the problems not
started (their layers are "cancelled"); a running solve interrupted by it returns its best
mapping so far ("stopped"). A worker that dies is replaced and its problem retried once, then
reported "failed" with the reason (`workers.run_tasks`). Cancelled, stopped and failed answers
are never stored. `progress(done, total, text)` counts layers (copies included) and says what
was just done.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from miredo_core import workers
from miredo_core.hardware import Hardware
from miredo_core.kinds import Objective, Status
from miredo_core.mappers import (  # noqa: F401  (re-exported: the registry's old home)
    MAPPERS,
    Mapper,
    MapperOutcome,
    get_mapper,
    infeasible,
    map_layer,
    register_mapper,
    simulate_result,
)
from miredo_core.mapping import InfeasibleMappingError
from miredo_core.results import LayerResult, NetworkResult
from miredo_core.search.engine import SolveOptions
from miredo_core.store import Answer, ProblemKey, ResultStore, hardware_hash, problem_key
from miredo_core.workload import Layer, Network

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, str], None]
"""Called as progress(done, total, text): layers done so far, layers in all, what was done."""

#: Where a layer's answer came from: the store (before this run), this run's solve, or an
#: earlier layer of this run with the same problem.
SOURCES = ("store", "solved", "reused")
#: Statuses whose answers the store keeps (the others depend on how the run was stopped).
STORED_STATUSES = frozenset({Status.EVALUATED, Status.OPTIMAL, Status.BEST_FOUND,
                             Status.INFEASIBLE})  # fmt: skip


class _Event:
    """`is_set()` over a plain callable, for callers that pass `cancel=lambda: ...`."""

    def __init__(self, function: Callable[[], bool]) -> None:
        self.function = function

    def is_set(self) -> bool:
        return bool(self.function())


def as_cancel(cancel: Any) -> Any:
    """None, an object with `is_set()`, or a callable returning bool -> None or `is_set()`."""
    if cancel is None or hasattr(cancel, "is_set"):
        return cancel
    return _Event(cancel)


@dataclass(frozen=True)
class Problem:
    """One distinct problem and the layers (over every network of the run) that pose it."""

    key: ProblemKey
    hardware: Hardware
    layer: Layer
    label: str
    copies: int = 1


@dataclass(frozen=True)
class Run:
    """What a run maps besides its networks."""

    objective: str
    mapper: str
    options: SolveOptions
    simulate: bool = False


def solve_problem(hw: Hardware, layer: Layer, run: Run, cancel: Any = None) -> LayerResult:
    """Solve one problem (runs in a worker: module level, picklable arguments). In a worker of
    a `WorkerPool`, the pool's stop event is the cancel."""
    cancel = cancel if cancel is not None else workers.worker_cancel()
    result = map_layer(hw, layer, run.objective, run.mapper, run.options, cancel=cancel)
    if run.simulate:
        try:
            result = simulate_result(hw, result)
        except Exception:  # noqa: BLE001 (the solve is kept: `_simulate` runs it again, reports)
            logger.debug("simulating %s failed", layer.name, exc_info=True)
    return result


def _failed(problem: Problem, run: Run, reason: str) -> LayerResult:
    return LayerResult(problem.layer, run.mapper, run.objective, Status.FAILED, None, None,
                       reason=reason)  # fmt: skip


class _Tracker:
    """Results by problem digest, stored and reported as they arrive."""

    def __init__(self, problems, run, store, progress, total_layers) -> None:
        self.problems, self.run, self.store, self.progress = problems, run, store, progress
        self.total, self.done = total_layers, 0
        self.results: dict[str, LayerResult] = {}

    def add(self, digest: str, result: LayerResult, verb: str) -> None:
        problem = self.problems[digest]
        self.results[digest] = result
        if self.store is not None and verb == "solved" and result.status in STORED_STATUSES:
            self.store.put(problem.key, Answer.from_result(result))
        self.done += problem.copies
        if self.progress is not None:
            more = f", reused by {problem.copies - 1} more" if problem.copies > 1 else ""
            self.progress(self.done, self.total, f"{problem.label} {verb}{more}")

    def fail(self, digest: str, reason: str) -> None:
        logger.warning("%s failed: %s", self.problems[digest].label, reason)
        self.add(digest, _failed(self.problems[digest], self.run, reason), "failed")


def _read_store(problems: dict[str, Problem], tracker: _Tracker, run: Run) -> None:
    """Serve what the store holds; an answer the model now rejects is solved again."""
    answers = tracker.store.get_many(p.key for p in problems.values())
    for digest, answer in answers.items():
        problem = problems[digest]
        try:
            result = answer.to_result(problem.hardware, problem.layer, run.mapper, run.objective)
        except ValueError as error:  # InfeasibleMappingError: the model changed since
            logger.info("stored answer of %s rejected (%s)", problem.label, error)
            continue
        tracker.results[digest] = dataclasses.replace(result, solve_time_s=0.0)
        tracker.done += problem.copies
    if answers and tracker.progress is not None:
        tracker.progress(tracker.done, tracker.total, f"{tracker.done} layers found in the store")


def _solve(problems, tracker: _Tracker, run: Run, executor, jobs: int, cancel) -> None:
    """Solve every problem the tracker has no result for."""
    todo = {d: p for d, p in problems.items() if d not in tracker.results}
    if not todo:
        return
    if executor is None and jobs <= 1:  # in this process; cancel is polled before each problem
        for digest, problem in todo.items():
            if cancel is not None and cancel.is_set():
                return
            try:
                result = solve_problem(problem.hardware, problem.layer, run, cancel)
            except Exception as error:  # as a worker's task would: that layer fails, not the run
                logger.debug("solving %s raised", problem.label, exc_info=True)
                tracker.fail(digest, f"{type(error).__name__}: {error}")
                continue
            tracker.add(digest, result, "solved")
        return
    if cancel is not None and cancel.is_set():
        return
    with contextlib.ExitStack() as stack:
        owned = executor is None
        if owned:
            executor = stack.enter_context(workers.process_pool(min(jobs, len(todo))))
        # A thread runs in this process and can take the cancel itself; a process cannot.
        local = isinstance(executor, concurrent.futures.ThreadPoolExecutor)
        # Largest layers first: the small ones then fill the workers' last gaps, so a run
        # does not end waiting on one big layer (results do not depend on the order).
        biggest_first = sorted(todo.items(), key=lambda item: -item[1].layer.macs)
        tasks = {d: (p.hardware, p.layer, run, cancel if local else None)
                 for d, p in biggest_first}  # fmt: skip
        workers.run_tasks(
            solve_problem, tasks, executor, cancel=cancel, owned=owned,
            on_result=lambda digest, result: tracker.add(digest, result, "solved"),
            on_failure=tracker.fail,
        )  # fmt: skip


def _simulate(problems, tracker: _Tracker) -> None:
    """Simulate every result that is not yet (answers from the store, a simulation the solving
    task could not complete); a mapping the simulator rejects makes its layer infeasible."""
    for digest, result in list(tracker.results.items()):
        if result.sim_latency_cycles is not None or result.mapping is None:
            continue
        try:
            tracker.results[digest] = simulate_result(problems[digest].hardware, result)
        except InfeasibleMappingError as error:
            tracker.results[digest] = infeasible(
                result.layer,
                result.mapper,
                result.objective,
                str(error),
                solve_time_s=result.solve_time_s,
            )


@dataclass(frozen=True)
class Mapped:
    """One network of a run: its result and, per layer, one of SOURCES ("" if not solved)."""

    result: NetworkResult
    sources: tuple[str, ...]


def _stitch(hw, network, digests, results, hits, seen, run) -> Mapped:
    """The NetworkResult of one network; `seen` collects the problems used so far in the run,
    so that a second use counts as "reused"."""
    layer_results, sources, first = [], [], {}
    for layer, digest in zip(network.layers, digests, strict=True):
        result = results.get(digest)
        if result is None:
            reason = "cancelled before it was solved"
            layer_results.append(LayerResult(layer, run.mapper, run.objective, Status.CANCELLED,
                                             None, None, reason=reason))  # fmt: skip
            sources.append("")
            continue
        source = "store" if digest in hits else "reused" if digest in seen else "solved"
        seen.add(digest)
        reused_from = first.setdefault(digest, layer.name)
        result = dataclasses.replace(
            result, layer=layer, reused_from="" if reused_from == layer.name else reused_from,
            solve_time_s=result.solve_time_s if source == "solved" else 0.0,
        )  # fmt: skip
        layer_results.append(result)
        sources.append(source)
    return Mapped(NetworkResult(hw.name, network.name, tuple(layer_results)), tuple(sources))


@dataclass(frozen=True)
class RunStats:
    layers: int
    """Layers over all networks: what a run without any deduplication would solve."""
    distinct_problems: int
    store_hits: int
    solved: int
    wall_time_s: float


def map_networks(
    points: Sequence[tuple[str, Hardware, Network]],
    run: Run,
    *,
    store: ResultStore | None = None,
    executor: concurrent.futures.Executor | None = None,
    jobs: int = 1,
    progress: ProgressCallback | None = None,
    cancel: Any = None,
) -> tuple[list[Mapped], RunStats]:
    """Map each (label, hardware, network) of `points`, every distinct problem once (see the
    module docstring); the label prefixes progress texts."""
    start = time.perf_counter()
    get_mapper(run.mapper)
    run = dataclasses.replace(run, objective=Objective.parse(run.objective).value)
    cancel = as_cancel(cancel)
    problems: dict[str, Problem] = {}
    point_digests = []
    for label, hw, network in points:
        hw_hash = hardware_hash(hw)
        digests = []
        for layer in network.layers:
            key = problem_key(hw_hash, layer, run.objective, run.mapper, run.options)
            known = problems.get(key.digest)
            if known is None:
                problems[key.digest] = Problem(key, hw, layer, f"{label}{layer.name}")
            else:
                problems[key.digest] = dataclasses.replace(known, copies=known.copies + 1)
            digests.append(key.digest)
        point_digests.append(digests)
    total = sum(len(digests) for digests in point_digests)
    tracker = _Tracker(problems, run, store, progress, total)
    if store is not None:
        _read_store(problems, tracker, run)
    hits = set(tracker.results)
    _solve(problems, tracker, run, executor, jobs, cancel)
    if run.simulate:
        _simulate(problems, tracker)
    seen: set[str] = set()
    mapped = [
        _stitch(hw, network, digests, tracker.results, hits, seen, run)
        for (_, hw, network), digests in zip(points, point_digests, strict=True)
    ]
    solved = sum(tracker.results[d].status != Status.FAILED for d in tracker.results) - len(hits)
    stats = RunStats(total, len(problems), len(hits), solved, time.perf_counter() - start)
    return mapped, stats


def map_network(
    hw: Hardware,
    network: Network,
    objective: str = "latency",
    mapper: str = "ws",
    options: SolveOptions | None = None,
    *,
    store: ResultStore | None = None,
    executor: concurrent.futures.Executor | None = None,
    simulate: bool = False,
    progress: ProgressCallback | None = None,
    cancel: Any = None,
    jobs: int = 1,
) -> NetworkResult:
    """Map every layer of `network` on `hw` with `mapper` (default "ws") (see the module
    docstring).

    store: a ResultStore read first and written to (None: no store). executor: where problems
    are solved; None solves in this process, or in a `WorkerPool` of `jobs` processes when
    jobs > 1. cancel: an object with `is_set()` (or a callable returning bool).
    """
    run = Run(objective, mapper, options or SolveOptions(), simulate)
    [mapped], _ = map_networks([("", hw, network)], run, store=store, executor=executor,
                               jobs=jobs, progress=progress, cancel=cancel)  # fmt: skip
    return mapped.result
