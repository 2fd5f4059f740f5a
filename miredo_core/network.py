"""Map a whole network: one mapper call per distinct layer shape, every result evaluated by the
cost model (the single source of truth for cost) and optionally checked by the simulator.

Layers are independent problems (each is a cold start, see `results`), so a network is mapped
layer by layer. Layers with equal `Layer.shape_key()` pose the same mapping problem — ResNet's
repeated blocks are the common case — so each distinct shape is solved once and its mapping,
cost and simulation are reused for every copy.

Mappers are functions `(hw, layer, objective, options) -> MapperOutcome` registered in `MAPPERS`;
a new mapper plugs in by adding an entry. A mapper that finds no legal mapping raises
`InfeasibleMappingError`, which becomes an "infeasible" layer with the error as its reason.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from miredo_core import cost_model, simulator
from miredo_core.hardware import Hardware
from miredo_core.kinds import OBJECTIVES
from miredo_core.mapping import InfeasibleMappingError, Mapping
from miredo_core.results import LayerResult, NetworkResult
from miredo_core.search import baselines
from miredo_core.search.engine import SolveOptions, solve_layer
from miredo_core.search.oracle import exhaustive_search
from miredo_core.workload import Layer, Network

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, str], None]
"""Called as progress(done, total, layer_name) after each layer of the network."""


@dataclass(frozen=True)
class MapperOutcome:
    mapping: Mapping
    status: str = "evaluated"
    search: dict[str, float] = field(default_factory=dict)


Mapper = Callable[[Hardware, Layer, str, SolveOptions], MapperOutcome]


def _weight_stationary(hw: Hardware, layer: Layer, objective: str, options) -> MapperOutcome:
    """The weight-stationary heuristic baseline; it has a fixed rule, so it ignores objective."""
    return MapperOutcome(baselines.weight_stationary(hw, layer))


def _random_search(hw: Hardware, layer: Layer, objective: str, options) -> MapperOutcome:
    """Best of 300 seeded random valid mappings under the objective."""
    return MapperOutcome(baselines.random_search(hw, layer, objective, seed=options.seed))


def _mip(hw: Hardware, layer: Layer, objective: str, options) -> MapperOutcome:
    """The mapping engine (`search.engine.solve_layer`): bounds, order search, MIP."""
    result = solve_layer(hw, layer, objective, options)
    if result.mapping is None:
        raise InfeasibleMappingError(result.reason)
    return MapperOutcome(
        result.mapping,
        result.status,
        {
            "predicted_latency_cycles": result.predicted_latency_cycles,
            "predicted_energy_pj": result.predicted_energy_pj,
            "lower_bound": result.lower_bound,
            "gap": result.gap,
            "candidates_total": result.candidates_total,
            "candidates_pruned": result.candidates_pruned,
        },
    )


def _exhaustive(hw: Hardware, layer: Layer, objective: str, options) -> MapperOutcome:
    """The exhaustive oracle (small layers only): the certified optimum of the mapping space."""
    result = exhaustive_search(hw, layer, objective)
    if result.mapping is None:
        raise InfeasibleMappingError("no legal mapping in the whole mapping space")
    return MapperOutcome(
        result.mapping,
        "optimal",
        {"lower_bound": result.value, "gap": 0.0, "candidates_total": result.candidates_total,
         "candidates_pruned": result.candidates_pruned},
    )  # fmt: skip


#: Mapper name -> mapping function.
MAPPERS: dict[str, Mapper] = {
    "mip": _mip,
    "ws": _weight_stationary,
    "random": _random_search,
    "exhaustive": _exhaustive,
}


def _check_choice(kind: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {kind} {value!r}; choose one of {', '.join(choices)}")


def map_layer(
    hw: Hardware,
    layer: Layer,
    mapper: str = "ws",
    objective: str = "latency",
    simulate: bool = False,
    options: SolveOptions | None = None,
) -> LayerResult:
    """Map, evaluate and optionally simulate one layer.

    An `InfeasibleMappingError` from the mapper, the cost model or the simulator yields an
    "infeasible" result carrying the error message, so that one impossible layer does not hide
    the results of the others. solve_time_s measures the mapper alone.
    """
    _check_choice("mapper", mapper, tuple(MAPPERS))
    _check_choice("objective", objective, OBJECTIVES)
    options = options or SolveOptions()
    start = time.perf_counter()
    try:
        outcome = MAPPERS[mapper](hw, layer, objective, options)
        solve_time_s = time.perf_counter() - start
        cost = cost_model.evaluate(hw, layer, outcome.mapping)
        sim = simulator.simulate(hw, layer, outcome.mapping) if simulate else None
    except InfeasibleMappingError as error:
        logger.info("layer %s is infeasible with mapper %s: %s", layer.name, mapper, error)
        return LayerResult(
            layer=layer,
            mapper=mapper,
            objective=objective,
            status="infeasible",
            mapping=None,
            cost=None,
            reason=str(error),
            solve_time_s=time.perf_counter() - start,
        )
    return LayerResult(
        layer=layer,
        mapper=mapper,
        objective=objective,
        status=outcome.status,
        mapping=outcome.mapping,
        cost=cost,
        solve_time_s=solve_time_s,
        sim_latency_cycles=None if sim is None else float(sim.latency_cycles),
        sim_energy_pj=None if sim is None else float(sim.energy_pj),
        search=outcome.search,
    )


def _map_layer_task(args) -> LayerResult:
    """Process-pool entry point (module level so that it pickles)."""
    return map_layer(*args)


def default_executor(jobs: int) -> concurrent.futures.Executor:
    """A spawn-context process pool: HiGHS deadlocks in forked children of a process that has
    already solved, and a solver crash in a worker cannot take the caller down."""
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn")
    )


def map_network(
    hw: Hardware,
    network: Network,
    mapper: str = "ws",
    objective: str = "latency",
    simulate: bool = False,
    progress: ProgressCallback | None = None,
    options: SolveOptions | None = None,
    jobs: int = 1,
    cancel: Callable[[], bool] | None = None,
) -> NetworkResult:
    """Map every layer of `network` on `hw`, solving each distinct layer shape once.

    A copy of an already solved layer gets the same mapping and figures under its own name,
    `reused_from` naming the solved layer and solve_time_s = 0 (the work was done once). With
    jobs > 1 the distinct shapes are solved in a spawn-context process pool. `cancel()` is
    polled between layers; once it returns True the layers not yet solved are reported with
    status "cancelled".
    """
    _check_choice("mapper", mapper, tuple(MAPPERS))
    _check_choice("objective", objective, OBJECTIVES)
    options = options or SolveOptions()
    distinct: dict[tuple, Layer] = {}
    for layer in network.layers:
        distinct.setdefault(layer.shape_key(), layer)
    solved: dict[tuple, LayerResult] = {}
    total = len(network.layers)
    args = {
        key: (hw, layer, mapper, objective, simulate, options) for key, layer in distinct.items()
    }
    if jobs <= 1:
        for done, layer in enumerate(network.layers, start=1):
            key = layer.shape_key()
            if key not in solved:
                if cancel is not None and cancel():
                    break
                solved[key] = map_layer(*args[key])
            if progress is not None:
                progress(done, total, layer.name)
    else:
        done = 0
        with default_executor(jobs) as pool:
            futures = {pool.submit(_map_layer_task, a): key for key, a in args.items()}
            for future in concurrent.futures.as_completed(futures):
                key = futures[future]
                solved[key] = future.result()
                for layer in network.layers:
                    if layer.shape_key() == key and progress is not None:
                        done += 1
                        progress(done, total, layer.name)
                if cancel is not None and cancel():
                    for pending in futures:
                        pending.cancel()
                    break
    return NetworkResult(
        hardware_name=hw.name,
        network_name=network.name,
        layer_results=tuple(
            _result_for(layer, solved, mapper, objective) for layer in network.layers
        ),
    )


def _result_for(layer: Layer, solved: dict, mapper: str, objective: str) -> LayerResult:
    first = solved.get(layer.shape_key())
    if first is None:
        return LayerResult(
            layer=layer,
            mapper=mapper,
            objective=objective,
            status="cancelled",
            mapping=None,
            cost=None,
            reason="cancelled before it was solved",
        )
    if first.layer.name == layer.name:
        return first
    return dataclasses.replace(first, layer=layer, solve_time_s=0.0, reused_from=first.layer.name)
