"""Map a whole network: one mapper call per distinct layer shape, every result evaluated by the
cost model (the single source of truth for cost) and optionally checked by the simulator.

Layers are independent problems (each is a cold start, see `results`), so a network is mapped
layer by layer. Layers with equal `Layer.shape_key()` pose the same mapping problem — ResNet's
repeated blocks are the common case — so each distinct shape is solved once and its mapping,
cost and simulation are reused for every copy.

Mappers are plain functions `(hw, layer, objective) -> Mapping` registered in `MAPPERS`; a new
mapper plugs in by adding an entry. A mapper that finds no legal mapping raises
`InfeasibleMappingError`, which becomes an "infeasible" layer with the error as its reason.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from miredo_core import cost_model, simulator
from miredo_core.hardware import Hardware
from miredo_core.mapping import InfeasibleMappingError, Mapping
from miredo_core.results import LayerResult, NetworkResult
from miredo_core.search import baselines
from miredo_core.workload import Layer, Network

logger = logging.getLogger(__name__)

Mapper = Callable[[Hardware, Layer, str], Mapping]
ProgressCallback = Callable[[int, int, str], None]
"""Called as progress(done, total, layer_name) after each layer of the network."""

OBJECTIVES: tuple[str, ...] = ("latency", "energy", "edp")


def _weight_stationary(hw: Hardware, layer: Layer, objective: str) -> Mapping:
    """The weight-stationary heuristic baseline; it has a fixed rule, so it ignores objective."""
    return baselines.weight_stationary(hw, layer)


def _random_search(hw: Hardware, layer: Layer, objective: str) -> Mapping:
    """Best of 300 seeded random valid mappings under the objective."""
    return baselines.random_search(hw, layer, objective)


#: Mapper name -> mapping function. The status a mapper's results get is in MAPPER_STATUS.
MAPPERS: dict[str, Mapper] = {
    "ws": _weight_stationary,
    "random": _random_search,
}

#: Status of a feasible result per mapper: baselines make no optimality claim ("evaluated").
MAPPER_STATUS: dict[str, str] = {
    "ws": "evaluated",
    "random": "evaluated",
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
) -> LayerResult:
    """Map, evaluate and optionally simulate one layer.

    An `InfeasibleMappingError` from the mapper, the cost model or the simulator yields an
    "infeasible" result carrying the error message, so that one impossible layer does not hide
    the results of the others. solve_time_s measures the mapper alone.
    """
    _check_choice("mapper", mapper, tuple(MAPPERS))
    _check_choice("objective", objective, OBJECTIVES)
    start = time.perf_counter()
    try:
        mapping = MAPPERS[mapper](hw, layer, objective)
        solve_time_s = time.perf_counter() - start
        cost = cost_model.evaluate(hw, layer, mapping)
        sim = simulator.simulate(hw, layer, mapping) if simulate else None
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
        status=MAPPER_STATUS.get(mapper, "evaluated"),
        mapping=mapping,
        cost=cost,
        solve_time_s=solve_time_s,
        sim_latency_cycles=None if sim is None else float(sim.latency_cycles),
        sim_energy_pj=None if sim is None else float(sim.energy_pj),
    )


def map_network(
    hw: Hardware,
    network: Network,
    mapper: str = "ws",
    objective: str = "latency",
    simulate: bool = False,
    progress: ProgressCallback | None = None,
) -> NetworkResult:
    """Map every layer of `network` on `hw`, solving each distinct layer shape once.

    A copy of an already solved layer gets the same mapping and figures under its own name,
    `reused_from` naming the solved layer and solve_time_s = 0 (the work was done once).
    """
    _check_choice("mapper", mapper, tuple(MAPPERS))
    _check_choice("objective", objective, OBJECTIVES)
    solved: dict[tuple, LayerResult] = {}
    results: list[LayerResult] = []
    total = len(network.layers)
    for done, layer in enumerate(network.layers, start=1):
        key = layer.shape_key()
        if key in solved:
            first = solved[key]
            result = dataclasses.replace(
                first, layer=layer, solve_time_s=0.0, reused_from=first.layer.name
            )
        else:
            result = map_layer(hw, layer, mapper, objective, simulate)
            solved[key] = result
            logger.debug("mapped %s in %.3f s: %s", layer.name, result.solve_time_s, result.status)
        results.append(result)
        if progress is not None:
            progress(done, total, layer.name)
    return NetworkResult(
        hardware_name=hw.name, network_name=network.name, layer_results=tuple(results)
    )
