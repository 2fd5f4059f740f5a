"""Hardware design-space sweeps on a local process pool or a Dask cluster, through the store.

A sweep (`SweepSpec`) is a base hardware, 1-N axes of `variants.VARIANT_AXES` with their values,
grid or seeded random sampling of the combinations, a network, an objective, a mapper and
solver options. `run_sweep` maps the network on every point and returns a `SweepResult`:
`points_frame()` (network totals, area and the Pareto mask per point) and `layers_frame()`.
Area is the hardware's (`Hardware.area_mm2`: memory areas plus macro area), so it is a Pareto
axis like latency and energy; totals follow `results` (sums over layers, EDP = product).

Unit of work: one *problem*, i.e. one (hardware point, distinct layer shape) pair keyed as in
`store.problem_key`. Copies of a layer within a network, equal problems across points and
problems already in the `ResultStore` are solved once; the store is read before anything is
submitted and written as each answer arrives, so an interrupted sweep (Ctrl-C, a dead worker,
a cancel) resumes where it stopped when run again.

Execution: `solve_task` is a module-level function taking and returning plain picklable data
(`LayerTask` -> `store.Answer`), so it runs unchanged on any `concurrent.futures.Executor`: by
default a spawn-context process pool (HiGHS deadlocks in forked children, and a solver crash
must not take the caller down), or `client.get_executor()` of a Dask cluster (`dask_executor`
with a scheduler address). Only the calling process touches the store (one SQLite file need not
be reachable from remote workers), and every cost is re-evaluated there from the answer's
mapping by `cost_model.evaluate`, so a pool, a cluster and a warm store give identical figures
for identical answers. Time-limited presets can return different answers under different load;
deterministic mappers (`ws`) and small layers that the engine enumerates completely do not.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import itertools
import logging
import math
import multiprocessing
import os
import random
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from miredo_core.hardware import Hardware
from miredo_core.network import MAPPERS, OBJECTIVES, ProgressCallback, map_layer
from miredo_core.pareto import DEFAULT_PARETO_COLUMNS, pareto_mask
from miredo_core.results import FRAME_COLUMNS, LayerResult, NetworkResult
from miredo_core.search.engine import SolveOptions
from miredo_core.store import Answer, ProblemKey, ResultStore, hardware_hash, problem_key
from miredo_core.variants import VARIANT_AXES, apply_variant
from miredo_core.workload import Layer, Network

logger = logging.getLogger(__name__)

#: How values of each axis are typed when parsed from text (the others are numbers).
INTEGER_AXES = frozenset({"cores", "macro_rows", "macro_columns", "compartment_depth"})
BOOLEAN_AXES = frozenset({"ping_pong"})
_TRUE, _FALSE = frozenset({"on", "true", "yes", "1"}), frozenset({"off", "false", "no", "0"})

#: Point status = the first of these that any of its layers has.
STATUS_PRECEDENCE = (
    "failed",
    "cancelled",
    "infeasible",
    "stopped",
    "best_found",
    "evaluated",
    "optimal",
)
#: Columns of `points_frame()` after the point index and the axis columns.
POINT_COLUMNS = ("hardware", "status", "latency_cycles", "energy_pj", "edp_pj_cycles", "area_mm2",
                 "pareto", "infeasible_layers")  # fmt: skip
#: Where a layer's answer came from: the store (before this run), this run's solve, or an
#: earlier layer of this run with the same problem.
SOURCES = ("store", "solved", "reused")


class SweepError(RuntimeError):
    """A task failed (a worker died, a solver crashed); finished answers are in the store."""


# ---------------------------------------------------------------- axes
def _number(axis: str, text: str) -> int | float:
    try:
        value = int(text) if axis in INTEGER_AXES else float(text)
    except ValueError:
        kind = "an integer" if axis in INTEGER_AXES else "a number"
        raise ValueError(f"{axis}: {text!r} is not {kind}") from None
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _expand_range(axis: str, text: str) -> list[int | float]:
    """`start:stop:step` (arithmetic) or `start:stop:*factor` (geometric), stop included when
    the sequence reaches it."""
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(f"{axis}: range {text!r} must be start:stop:step or start:stop:*factor")
    start, stop = _number(axis, parts[0]), _number(axis, parts[1])
    geometric = parts[2].startswith("*")
    step = _number(axis, parts[2].removeprefix("*")) if not geometric else float(parts[2][1:])
    if stop < start or (step <= 1 if geometric else step <= 0):
        raise ValueError(f"{axis}: range {text!r} must rise from start to stop")
    values: list[int | float] = []
    for count in itertools.count():
        value = start * step**count if geometric else start + count * step
        if value > stop * (1 + 1e-12):
            return values
        rounded = round(value, 12)
        values.append(int(rounded) if float(rounded).is_integer() else rounded)
        if len(values) > 10_000:
            raise ValueError(f"{axis}: range {text!r} has more than 10000 values")
    raise AssertionError("unreachable")


def parse_axis_values(axis: str, text: str) -> tuple[Any, ...]:
    """Values of one axis from text: a comma-separated list whose items are values or ranges
    (`4:16:4`, `1:16:*2`); `on`/`off` for ping_pong. Duplicates are dropped, order is kept."""
    if axis not in VARIANT_AXES:
        raise ValueError(f"unknown axis {axis!r}; valid axes: {', '.join(VARIANT_AXES)}")
    values: list[Any] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if axis in BOOLEAN_AXES:
            if item.lower() not in _TRUE | _FALSE:
                raise ValueError(f"{axis}: {item!r} is not on/off")
            values.append(item.lower() in _TRUE)
        elif ":" in item:
            values.extend(_expand_range(axis, item))
        else:
            values.append(_number(axis, item))
    if not values:
        raise ValueError(f"{axis}: give at least one value")
    return tuple(dict.fromkeys(values))


@dataclass(frozen=True)
class SweepAxis:
    name: str
    """A key of variants.VARIANT_AXES."""
    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if self.name not in VARIANT_AXES:
            raise ValueError(f"unknown axis {self.name!r}; valid axes: {', '.join(VARIANT_AXES)}")
        if not self.values:
            raise ValueError(f"{self.name}: give at least one value")


def parse_axis(text: str) -> SweepAxis:
    """`name=values` as the CLI spells it, e.g. `cores=4,8,16` or `gb_kib=128:512:*2`."""
    name, sep, values = text.partition("=")
    if not sep:
        raise ValueError(f"axis {text!r} must look like name=v1,v2,... (e.g. cores=4,8,16)")
    return SweepAxis(name.strip(), parse_axis_values(name.strip(), values))


# ---------------------------------------------------------------- the spec
@dataclass(frozen=True)
class SweepSpec:
    hardware: Hardware
    """The base design; every point applies its axis values to it, in axis order."""
    axes: tuple[SweepAxis, ...]
    """SweepAxis objects, or (name, values) pairs."""
    network: Network
    objective: str = "edp"
    mapper: str = "mip"
    options: SolveOptions = field(default_factory=SolveOptions)
    samples: int | None = None
    """None: every combination (grid). N: N distinct combinations drawn with `seed`."""
    seed: int = 0

    def __post_init__(self) -> None:
        axes = tuple(a if isinstance(a, SweepAxis) else SweepAxis(a[0], tuple(a[1]))
                     for a in self.axes)  # fmt: skip
        object.__setattr__(self, "axes", axes)
        problems = []
        names = [axis.name for axis in self.axes]
        if not names:
            problems.append("a sweep needs at least one axis")
        problems += [f"axis {name} is given twice" for name in sorted(set(names))
                     if names.count(name) > 1]  # fmt: skip
        if self.objective not in OBJECTIVES:
            problems.append(f"unknown objective {self.objective!r}; choose {', '.join(OBJECTIVES)}")
        if self.mapper not in MAPPERS:
            problems.append(f"unknown mapper {self.mapper!r}; choose {', '.join(MAPPERS)}")
        if self.samples is not None and not 1 <= self.samples <= self.grid_size:
            problems.append(f"samples must be between 1 and the {self.grid_size} grid points, "
                            f"got {self.samples}")  # fmt: skip
        for axis in self.axes:
            for value in axis.values:
                try:
                    apply_variant(self.hardware, axis.name, value)
                except ValueError as error:
                    problems.append(f"axis {axis.name}: {error}")
        if problems:
            raise ValueError("\n".join(problems))

    @property
    def axis_names(self) -> tuple[str, ...]:
        return tuple(axis.name for axis in self.axes)

    @property
    def grid_size(self) -> int:
        return math.prod(len(axis.values) for axis in self.axes)

    def points(self) -> list[dict[str, Any]]:
        """The axis values of every point, in grid order (first axis outermost)."""
        if self.samples is None:
            indices: Sequence[int] = range(self.grid_size)
        else:
            indices = sorted(random.Random(self.seed).sample(range(self.grid_size), self.samples))
        points = []
        for index in indices:
            values: dict[str, Any] = {}
            for axis in reversed(self.axes):
                index, position = divmod(index, len(axis.values))
                values[axis.name] = axis.values[position]
            points.append({name: values[name] for name in self.axis_names})
        return points

    def hardware_at(self, values: dict[str, Any]) -> Hardware:
        hw = self.hardware
        for name, value in values.items():
            hw = apply_variant(hw, name, value)
        return hw


# ---------------------------------------------------------------- the task
@dataclass(frozen=True)
class LayerTask:
    hardware: Hardware
    layer: Layer
    mapper: str
    objective: str
    options: SolveOptions


def solve_task(task: LayerTask) -> Answer:
    """Solve one problem (runs in a worker: module level, plain data in and out)."""
    result = map_layer(task.hardware, task.layer, task.mapper, task.objective,
                       options=task.options)  # fmt: skip
    return Answer.from_result(result)


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class PointResult:
    index: int
    values: dict[str, Any]
    hardware: Hardware
    network: NetworkResult
    sources: tuple[str, ...]
    """Per layer, one of SOURCES ("" for a cancelled layer)."""

    @property
    def status(self) -> str:
        statuses = {r.status for r in self.network.layer_results}
        return next(s for s in STATUS_PRECEDENCE if s in statuses)


@dataclass(frozen=True)
class SweepStats:
    points: int
    layer_problems: int
    """Points x layers: what a sweep without any deduplication would solve."""
    distinct_problems: int
    store_hits: int
    solved: int
    wall_time_s: float

    @property
    def saved_by_dedup(self) -> int:
        """Solves avoided because a layer shape repeats within or across points."""
        return self.layer_problems - self.distinct_problems

    @property
    def unsolved(self) -> int:
        return self.distinct_problems - self.store_hits - self.solved


@dataclass(frozen=True)
class SweepResult:
    spec: SweepSpec
    points: tuple[PointResult, ...]
    stats: SweepStats

    @property
    def complete(self) -> bool:
        return self.stats.unsolved == 0

    def points_frame(self, pareto_columns: Sequence[str] = DEFAULT_PARETO_COLUMNS) -> pd.DataFrame:
        """One row per point: `point`, the axis values, then POINT_COLUMNS. Totals follow
        `results` (NaN unless every layer has a cost); `pareto` over `pareto_columns`."""
        rows = [
            {
                "point": p.index,
                **p.values,
                "hardware": p.hardware.name,
                "status": p.status,
                "latency_cycles": p.network.latency_cycles,
                "energy_pj": p.network.energy_pj,
                "edp_pj_cycles": p.network.edp_pj_cycles,
                "area_mm2": p.hardware.area_mm2,
                "pareto": False,
                "infeasible_layers": sum(r.status == "infeasible" for r in p.network.layer_results),
            }
            for p in self.points
        ]
        frame = pd.DataFrame(rows, columns=["point", *self.spec.axis_names, *POINT_COLUMNS])
        frame["pareto"] = pareto_mask(frame, pareto_columns) if rows else []
        return frame

    def layers_frame(self) -> pd.DataFrame:
        """One row per (point, layer): `point`, the axis values, results.FRAME_COLUMNS, `source`."""
        columns = ["point", *self.spec.axis_names, *FRAME_COLUMNS, "source"]
        frames = [
            p.network.to_frame().assign(source=list(p.sources), point=p.index, **p.values)
            for p in self.points
        ]
        return (
            pd.concat(frames, ignore_index=True)[columns]
            if frames
            else pd.DataFrame(columns=columns)
        )


# ---------------------------------------------------------------- execution
def _ignore_interrupts() -> None:
    """Pool workers leave Ctrl-C to the caller, which cancels the queue and saves answers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def process_pool(jobs: int | None = None) -> concurrent.futures.ProcessPoolExecutor:
    """The default executor: a spawn-context pool of `jobs` (default: CPU count) workers."""
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=jobs or os.cpu_count() or 1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_ignore_interrupts,
    )


@contextlib.contextmanager
def dask_executor(scheduler: str) -> Iterator[concurrent.futures.Executor]:
    """`client.get_executor()` of the Dask scheduler at `scheduler` (tcp://HOST:PORT); workers
    must be able to import miredo_core. Run them with one thread each (`--nthreads 1`)."""
    try:
        from distributed import Client  # optional dependency: miredo-studio[dask]
    except ImportError as error:
        raise SweepError("a Dask scheduler needs dask.distributed: "
                         "pip install 'miredo-studio[dask]'") from error  # fmt: skip
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as error:
        raise SweepError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from error
    try:
        yield client.get_executor()
    finally:
        client.close()


@dataclass(frozen=True)
class _Problem:
    key: ProblemKey
    task: LayerTask
    label: str

    def result(self, answer: Answer) -> LayerResult:
        task = self.task
        return answer.to_result(task.hardware, task.layer, task.mapper, task.objective)


@dataclass(frozen=True)
class _Run:
    """What one run needs besides its points: the problem definition and where to solve."""

    mapper: str
    objective: str
    options: SolveOptions
    store: ResultStore
    executor: concurrent.futures.Executor | None
    jobs: int | None
    progress: ProgressCallback | None
    cancel: Callable[[], bool] | None

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel()

    def report(self, done: int, total: int, label: str) -> None:
        if self.progress is not None:
            self.progress(done, total, label)


def _read_store(problems: dict[str, _Problem], run: _Run) -> dict[str, LayerResult]:
    """The stored answers of `problems`, re-evaluated; one the model now rejects is dropped."""
    results = {}
    for digest, answer in run.store.get_many(p.key for p in problems.values()).items():
        try:
            results[digest] = problems[digest].result(answer)
        except ValueError as error:  # InfeasibleMappingError: the model changed since
            logger.info("stored answer of %s rejected (%s)", problems[digest].label, error)
    return results


def _solve(problems: dict[str, _Problem], results: dict[str, LayerResult], run: _Run) -> None:
    """Solve the problems missing from `results` on the executor, adding each answer to
    `results` and to the store as it arrives; stop early on cancel or on a failed task."""
    pending = [digest for digest in problems if digest not in results]
    if not pending or run.cancelled():
        return
    executor = run.executor or process_pool(min(run.jobs or os.cpu_count() or 1, len(pending)))
    futures = {executor.submit(solve_task, problems[d].task): d for d in pending}
    failures: list[tuple[str, BaseException]] = []

    def collect(finished) -> None:
        batch = []
        for future in finished:
            problem = problems[futures[future]]
            if future.cancelled() or problem.key.digest in results:
                continue
            if future.exception() is not None:
                failures.append((problem.label, future.exception()))
                continue
            results[problem.key.digest] = problem.result(future.result())
            batch.append((problem.key, future.result()))
        run.store.put_many(batch)
        for done, (key, _) in enumerate(batch, start=len(results) - len(batch) + 1):
            run.report(done, len(problems), problems[key.digest].label)

    try:
        waiting = set(futures)
        while waiting and not failures and not run.cancelled():
            finished, waiting = concurrent.futures.wait(
                waiting, timeout=0.25, return_when=concurrent.futures.FIRST_COMPLETED
            )
            collect(finished)
    finally:
        for future in futures:
            future.cancel()
        if run.executor is None:
            executor.shutdown(wait=True, cancel_futures=True)
        # Tasks that were running when the loop stopped may have finished: keep their answers.
        collect([future for future in futures if future.done()])
    if failures:
        label, error = failures[0]
        raise SweepError(
            f"solving {label} failed: {type(error).__name__}: {error}; "
            f"{len(results)} of {len(problems)} answers are in the store {run.store.path}, "
            "run the sweep again to resume"
        ) from error


def _network_result(hw, network, digests, results, hits, seen, run):
    """The NetworkResult of one point and the source of each layer; `seen` collects the
    problems used so far in the run, so that a second use counts as "reused"."""
    layer_results, sources, first = [], [], {}
    for layer, digest in zip(network.layers, digests, strict=True):
        if digest not in results:
            reason = "cancelled before it was solved"
            layer_results.append(LayerResult(layer, run.mapper, run.objective, "cancelled",
                                             None, None, reason=reason))  # fmt: skip
            sources.append("")
            continue
        source = "store" if digest in hits else "reused" if digest in seen else "solved"
        seen.add(digest)
        result = dataclasses.replace(results[digest], layer=layer,
                                     reused_from=first.setdefault(digest, layer.name))  # fmt: skip
        if result.reused_from == layer.name:
            result = dataclasses.replace(result, reused_from="")
        if source != "solved":
            result = dataclasses.replace(result, solve_time_s=0.0)
        layer_results.append(result)
        sources.append(source)
    return NetworkResult(hw.name, network.name, tuple(layer_results)), tuple(sources)


def _map_points(points: list[tuple[str, Hardware]], network: Network, run: _Run):
    """Map `network` on every (label, hardware) point: per point (NetworkResult, sources), and
    the run's statistics."""
    start = time.perf_counter()
    problems: dict[str, _Problem] = {}
    point_digests = []
    for label, hw in points:
        hw_hash = hardware_hash(hw)
        digests = []
        for layer in network.layers:
            key = problem_key(hw_hash, layer, run.objective, run.mapper, run.options)
            task = LayerTask(hw, layer, run.mapper, run.objective, run.options)
            problems.setdefault(key.digest, _Problem(key, task, f"{label}{layer.name}"))
            digests.append(key.digest)
        point_digests.append(digests)
    results = _read_store(problems, run)
    hits = set(results)
    run.report(len(hits), len(problems), "found in the store")
    _solve(problems, results, run)
    seen: set[str] = set()
    outcomes = [
        _network_result(hw, network, digests, results, hits, seen, run)
        for (_, hw), digests in zip(points, point_digests, strict=True)
    ]
    stats = SweepStats(
        points=len(points),
        layer_problems=len(points) * len(network.layers),
        distinct_problems=len(problems),
        store_hits=len(hits),
        solved=len(results) - len(hits),
        wall_time_s=time.perf_counter() - start,
    )
    return outcomes, stats


def run_sweep(
    spec: SweepSpec,
    executor: concurrent.futures.Executor | None = None,
    store: ResultStore | None = None,
    progress: ProgressCallback | None = None,
    cancel: Callable[[], bool] | None = None,
    *,
    jobs: int | None = None,
) -> SweepResult:
    """Run `spec`; see the module docstring.

    executor: where problems are solved; None creates a spawn-context pool of `jobs` workers
    (default: CPU count), only if something is left to solve. store: the ResultStore read
    first and written to; None opens the default one (`store.default_store_path()`); pass
    `ResultStore(store.MEMORY)` to keep nothing. progress(done, total, label) counts distinct
    problems. cancel() is polled while waiting; once true, queued problems are dropped and
    their layers reported "cancelled" (such points have NaN totals and status "cancelled").
    Raises SweepError when a task fails; every answer that arrived before is in the store.
    """
    values = spec.points()
    hardware = [spec.hardware_at(v) for v in values]
    labels = [", ".join(f"{name}={x}" for name, x in v.items()) + ": " for v in values]
    with contextlib.ExitStack() as stack:
        if store is None:
            store = stack.enter_context(ResultStore())
        run = _Run(spec.mapper, spec.objective, spec.options, store, executor, jobs, progress,
                   cancel)  # fmt: skip
        outcomes, stats = _map_points(list(zip(labels, hardware, strict=True)), spec.network, run)
    points = tuple(
        PointResult(index, v, hw, network, sources)
        for index, (v, hw, (network, sources)) in enumerate(
            zip(values, hardware, outcomes, strict=True)
        )
    )
    return SweepResult(spec, points, stats)


def map_network_stored(
    hw: Hardware,
    network: Network,
    mapper: str = "mip",
    objective: str = "latency",
    options: SolveOptions | None = None,
    *,
    store: ResultStore | None = None,
    executor: concurrent.futures.Executor | None = None,
    progress: ProgressCallback | None = None,
    cancel: Callable[[], bool] | None = None,
) -> NetworkResult:
    """`network.map_network` through the result store (a one-point sweep; the keyword
    arguments are run_sweep's): stored layers are not solved again, new answers are stored."""
    if mapper not in MAPPERS or objective not in OBJECTIVES:
        raise ValueError(f"unknown mapper {mapper!r} or objective {objective!r}")
    with contextlib.ExitStack() as stack:
        if store is None:
            store = stack.enter_context(ResultStore())
        run = _Run(mapper, objective, options or SolveOptions(), store, executor, None, progress,
                   cancel)  # fmt: skip
        [(result, _)], _ = _map_points([("", hw)], network, run)
    return result
