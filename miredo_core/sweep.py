"""Hardware design-space sweeps on a local process pool or a Dask cluster, through the store.

A sweep (`SweepSpec`) is a base hardware, 1-N axes of `variants.AXES` with their values,
grid or seeded random sampling of the combinations, a network, an objective, a mapper and
solver options. `run_sweep` maps the network on every point and returns a `SweepResult`:
`points_frame()` (network totals, area and the Pareto mask per point) and `layers_frame()`.
Area is the hardware's (`Hardware.area_mm2`: memory areas plus macro area), so it is a Pareto
axis like latency and energy; totals follow `results` (sums over layers, EDP = product).

Execution is `network.map_networks` over all points at once: one *problem* per (hardware
point, distinct layer shape), so copies of a layer within a network, equal problems across
points and problems already in the `ResultStore` are solved once; answers are stored as they
arrive, so an interrupted sweep (Ctrl-C, a dead worker, a cancel) resumes where it stopped. The
problems run on any `concurrent.futures.Executor`: by default a `workers.WorkerPool`, or
`client.get_executor()` of a Dask cluster (`dask_executor` with a scheduler address). Only the
calling process touches the store (one SQLite file need not be reachable from remote workers).
Time-limited presets can return different answers under different load; deterministic mappers
(`ws`) and small layers that the engine enumerates completely do not.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import math
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from miredo_core.axes import (  # noqa: F401  (re-exported: axis parsing's old home)
    BOOLEAN_AXES,
    INTEGER_AXES,
    SweepAxis,
    parse_axis,
    parse_axis_values,
)
from miredo_core.canonical import hardware_key
from miredo_core.hardware import Hardware
from miredo_core.kinds import OBJECTIVES
from miredo_core.mappers import MAPPERS
from miredo_core.network import ProgressCallback, Run, map_networks
from miredo_core.pareto import DEFAULT_PARETO_COLUMNS, pareto_mask
from miredo_core.results import FRAME_COLUMNS, NetworkResult
from miredo_core.search.engine import SolveOptions
from miredo_core.store import ResultStore
from miredo_core.variants import apply_variant, apply_variants
from miredo_core.workload import Network

logger = logging.getLogger(__name__)

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
POINT_COLUMNS = ("hardware", "hardware_hash", "status", "latency_cycles", "energy_pj",
                 "edp_pj_cycles", "area_mm2", "pareto", "infeasible_layers")  # fmt: skip


class SweepError(RuntimeError):
    """The sweep cannot run where it was asked to (a Dask scheduler that cannot be reached)."""


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
        """The point's design: the base with the axes that differ from it set (`apply_variants`),
        so the point that equals the base has the base's name and hash."""
        return apply_variants(self.hardware, values)


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
                "hardware_hash": hardware_key(p.hardware),
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


def run_sweep(
    spec: SweepSpec,
    executor: concurrent.futures.Executor | None = None,
    store: ResultStore | None = None,
    progress: ProgressCallback | None = None,
    cancel: Any = None,
    *,
    jobs: int | None = None,
) -> SweepResult:
    """Run `spec`; see the module docstring.

    executor: where problems are solved; None creates a `workers.WorkerPool` of `jobs` workers
    (default: CPU count), only if something is left to solve. store: the ResultStore read
    first and written to; None opens the default one (`store.default_store_path()`); pass
    `ResultStore(store.MEMORY)` to keep nothing. progress(done, total, text) counts layers of
    all points. cancel (`is_set()` or a callable) is polled; once set, queued problems are
    dropped and their layers reported "cancelled" (such points have NaN totals and status
    "cancelled"). A problem whose worker died twice, or whose solve raised, is "failed".
    """
    values = spec.points()
    hardware = [spec.hardware_at(v) for v in values]
    labels = [", ".join(f"{name}={x}" for name, x in v.items()) + ": " for v in values]
    run = Run(spec.objective, spec.mapper, spec.options)
    with contextlib.ExitStack() as stack:
        if store is None:
            store = stack.enter_context(ResultStore())
        mapped, stats = map_networks(
            [(label, hw, spec.network) for label, hw in zip(labels, hardware, strict=True)],
            run, store=store, executor=executor, jobs=jobs or os.cpu_count() or 1,
            progress=progress, cancel=cancel,
        )  # fmt: skip
    points = tuple(
        PointResult(index, v, hw, m.result, m.sources)
        for index, (v, hw, m) in enumerate(zip(values, hardware, mapped, strict=True))
    )
    return SweepResult(spec, points, SweepStats(
        points=len(points), layer_problems=stats.layers, distinct_problems=stats.distinct_problems,
        store_hits=stats.store_hits, solved=stats.solved, wall_time_s=stats.wall_time_s,
    ))  # fmt: skip
