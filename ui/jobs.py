"""Work that runs in the dashboard's worker processes, and the plain requests that describe it.

Everything that crosses the process boundary is plain data: a request holds YAML text, names,
numbers and the path of the result store; a worker parses them itself and returns a picklable
`NetworkResult` or `SweepOutcome`. A shared status mapping (a `multiprocessing.Manager` dict
proxy) carries progress out of the worker and a cancel request into it. Cancelling is
cooperative: queued problems are dropped, the ones being solved finish first, and the layers
left without an answer are reported as "cancelled".

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
import os
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from miredo_core import simulator, sweep
from miredo_core.config import parse_hardware, parse_workload
from miredo_core.hardware import Hardware
from miredo_core.mapping import InfeasibleMappingError
from miredo_core.results import LayerResult, NetworkResult
from miredo_core.search.engine import SolveOptions
from miredo_core.store import ResultStore, default_store_path
from miredo_core.workload import Network
from miredo_core.zoo import get_network

#: Workload kinds: a built-in network by name, or a workload YAML document (sample files,
#: uploads, custom layers and imported ONNX models are all kept as workload YAML text).
BUILTIN = "builtin"
YAML = "yaml"


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


@dataclass(frozen=True, eq=False)
class SweepOutcome:
    """What a sweep returns to the server: small and picklable (no per-layer results)."""

    points: pd.DataFrame
    """`SweepResult.points_frame()`: one row per point, totals, status and a `pareto` column."""
    stats: sweep.SweepStats
    """Points, distinct problems, answers from the store, answers solved, wall time."""
    store_path: str


def warm_up() -> bool:
    """A no-op task that makes a fresh worker import the library before the first real job."""
    return True


#: Distinct layer shapes solved in parallel by one MIP run (baselines are fast enough alone).
MIP_PARALLEL_LAYERS = max(1, min(2, os.cpu_count() or 1))


def _progress(status: Any):
    def report(done: int, total: int, name: str) -> None:
        status.update(done=done, total=total, layer=name)

    return report


def _cancel(status: Any):
    return lambda: bool(status.get("cancel"))


def _options(pairs: tuple[tuple[str, str], ...]) -> SolveOptions:
    return SolveOptions(**dict(pairs))


@contextlib.contextmanager
def solver_executor(mapper: str) -> Iterator[Executor]:
    """Where a worker solves the problems the store does not hold.

    MIP: a nested spawn pool of MIP_PARALLEL_LAYERS processes (layers in parallel). Its
    processes start only when a problem is submitted, so an answer served from the store costs
    no start-up; and a worker's main module is blank (see `ui.cached`), so they do not re-run a
    page. Baselines: one thread of this worker, as they take milliseconds and a pool seconds to
    start. Either way a solver crash ends a worker process at worst, never the server.
    """
    if mapper == "mip":
        with sweep.process_pool(MIP_PARALLEL_LAYERS) as pool:
            yield pool
    else:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="solver") as threads:
            yield threads


def run_network(request: RunRequest, status: Any) -> NetworkResult:
    """Map the request's network through the result store; library errors propagate to the
    caller unchanged."""
    hardware = parse_hardware(request.hardware_text, source="hardware")
    network = request.workload.load()
    status.update(done=0, total=0, layer="")
    with ResultStore(request.store_path) as store, solver_executor(request.mapper) as executor:
        result = sweep.map_network_stored(
            hardware, network, request.mapper, request.objective, _options(request.options),
            store=store, executor=executor, progress=_progress(status), cancel=_cancel(status),
        )  # fmt: skip
    if not request.simulate:
        return result
    status.update(layer="event simulator")
    return simulate_layers(hardware, result)


def simulate_layers(hardware: Hardware, result: NetworkResult) -> NetworkResult:
    """`result` with the event simulator's figures on every mapped layer, each distinct layer
    shape simulated once. `map_network_stored` has no `simulate` option, so this follows
    `network.map_layer`: a mapping the simulator rejects makes its layer infeasible."""
    simulated: dict[tuple, LayerResult] = {}
    layer_results = []
    for layer_result in result.layer_results:
        if layer_result.mapping is None:
            layer_results.append(layer_result)
            continue
        key = layer_result.layer.shape_key()
        if key not in simulated:
            simulated[key] = _simulate(hardware, layer_result)
        layer_results.append(dataclasses.replace(
            simulated[key], layer=layer_result.layer, reused_from=layer_result.reused_from,
            solve_time_s=layer_result.solve_time_s,
        ))  # fmt: skip
    return dataclasses.replace(result, layer_results=tuple(layer_results))


def _simulate(hardware: Hardware, layer_result: LayerResult) -> LayerResult:
    assert layer_result.mapping is not None
    try:
        sim = simulator.simulate(hardware, layer_result.layer, layer_result.mapping)
    except InfeasibleMappingError as error:
        return dataclasses.replace(
            layer_result, status="infeasible", mapping=None, cost=None, reason=str(error)
        )
    return dataclasses.replace(
        layer_result,
        sim_latency_cycles=float(sim.latency_cycles),
        sim_energy_pj=float(sim.energy_pj),
    )


def sweep_spec(request: SweepRequest) -> sweep.SweepSpec:
    """The library's sweep of a request; raises ConfigError / WorkloadError / ValueError
    (an axis value the hardware cannot take) with a message that says what to change."""
    return sweep.SweepSpec(
        hardware=parse_hardware(request.hardware_text, source="hardware"),
        axes=request.axes,
        network=request.workload.load(),
        objective=request.objective,
        mapper=request.mapper,
        options=_options(request.options),
    )


def run_sweep(request: SweepRequest, status: Any) -> SweepOutcome:
    """Map the network on every sweep point through the result store (`sweep.run_sweep`)."""
    spec = sweep_spec(request)
    status.update(done=0, total=0, layer="")
    with ResultStore(request.store_path) as store, solver_executor(request.mapper) as executor:
        result = sweep.run_sweep(spec, executor, store, _progress(status), _cancel(status))
    return SweepOutcome(result.points_frame(), result.stats, request.store_path)
