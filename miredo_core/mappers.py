"""The mapper registry and `map_layer`: map, evaluate and optionally simulate one layer.

A mapper is a function `(hw, layer, objective, options, cancel) -> MapperOutcome` registered in
`MAPPERS` with what a caller needs to know about it (`Mapper`): the SolveOptions fields its
answer depends on (they key its answers in the result store, `problem_keys`, and say whether it
takes the solver settings a user picks), whether it ignores the objective, and whether it is
expensive (worth a process pool and a progress bar). `cancel` is None or an object with
`is_set()`; an interruptible mapper returns its best mapping so far with status "stopped" once
it is set. A mapper that finds no legal mapping raises `InfeasibleMappingError`, which becomes
an "infeasible" layer with the error as its reason.
Every mapping is evaluated by `cost_model.evaluate`, the single source of truth for cost.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from miredo_core import cost_model, simulator
from miredo_core.hardware import Hardware
from miredo_core.kinds import Objective, Status
from miredo_core.mapping import InfeasibleMappingError, Mapping
from miredo_core.results import LayerResult, SearchStats
from miredo_core.search import baselines
from miredo_core.search.engine import SolveOptions, solve_layer
from miredo_core.search.oracle import exhaustive_search
from miredo_core.workload import Layer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MapperOutcome:
    mapping: Mapping
    status: str = Status.EVALUATED
    search: SearchStats = field(default_factory=SearchStats)


MapperFunction = Callable[[Hardware, Layer, str, SolveOptions, Any], MapperOutcome]


#: SolveOptions fields that change how fast an answer comes, never what it is.
SPEED_ONLY_OPTIONS = frozenset({"threads", "workers"})


def answer_options() -> tuple[str, ...]:
    """The SolveOptions figures an optimizing mapper's answer can depend on: every field but
    the speed-only ones, and `budget`, the preset's resolved work budget (so a preset whose
    meaning changes never serves answers computed under the old one)."""
    names = (f.name for f in dataclasses.fields(SolveOptions))
    return (*(name for name in names if name not in SPEED_ONLY_OPTIONS), "budget")


@dataclass(frozen=True)
class Mapper:
    """A registered mapper: call it as the function it wraps."""

    name: str
    function: MapperFunction
    option_fields: tuple[str, ...] | None = None
    """The SolveOptions fields (or properties) its answer depends on, which key its stored
    answers; None: all of them (a mapper that does not say)."""
    objective_blind: bool = False
    """Whether its answer ignores the objective (its stored answer serves every objective)."""
    expensive: bool = False
    """Whether a layer takes seconds or more (solve layers in parallel, show progress)."""
    description: str = ""

    @property
    def takes_options(self) -> bool:
        """Whether it reads the solver settings a user picks (preset, solver, time limit, gap
        tolerance), which the option fields it depends on then include."""
        return self.option_fields is None or "preset" in self.option_fields

    def key_options(self, options: SolveOptions) -> tuple[str, ...]:
        """The names of `options` that key this mapper's answers."""
        if self.option_fields is None:
            return tuple(f.name for f in dataclasses.fields(options))
        return self.option_fields

    def __call__(self, hw, layer, objective, options, cancel=None) -> MapperOutcome:
        return self.function(hw, layer, objective, options, cancel)


def _weight_stationary(hw, layer, objective, options, cancel) -> MapperOutcome:
    """The weight-stationary heuristic baseline; it has a fixed rule, so it ignores objective."""
    return MapperOutcome(baselines.weight_stationary(hw, layer))


def _random_search(hw, layer, objective, options, cancel) -> MapperOutcome:
    """Best of 300 seeded random valid mappings under the objective."""
    return MapperOutcome(baselines.random_search(hw, layer, objective, seed=options.seed))


def _mip(hw, layer, objective, options, cancel) -> MapperOutcome:
    """The mapping engine (`search.engine.solve_layer`): bounds, order search, MIP."""
    result = solve_layer(hw, layer, objective, options, cancel=cancel)
    if result.mapping is None:
        raise InfeasibleMappingError(result.reason)
    return MapperOutcome(result.mapping, result.status, SearchStats.from_attributes(result))


def _exhaustive(hw, layer, objective, options, cancel) -> MapperOutcome:
    """The exhaustive oracle (small layers only): the certified optimum of the mapping space."""
    result = exhaustive_search(hw, layer, objective)
    if result.mapping is None:
        raise InfeasibleMappingError("no legal mapping in the whole mapping space")
    return MapperOutcome(
        result.mapping,
        Status.OPTIMAL,
        SearchStats(lower_bound=result.value, gap=0.0, candidates_total=result.candidates_total,
                    candidates_pruned=result.candidates_pruned),
    )  # fmt: skip


#: Mapper name -> Mapper, in menu order.
MAPPERS: dict[str, Mapper] = {}


def register_mapper(
    name: str,
    function: MapperFunction,
    *,
    option_fields: tuple[str, ...] | None = None,
    objective_blind: bool = False,
    expensive: bool = False,
    description: str = "",
) -> Mapper:
    """Add (or replace) a mapper; a new mapper plugs in with this one call (see `Mapper`)."""
    mapper = Mapper(name, function, option_fields, objective_blind, expensive, description)
    MAPPERS[name] = mapper
    return mapper


# The tolerance is among the engine's answer options: it decides optimal vs best_found.
register_mapper("mip", _mip, option_fields=answer_options(), expensive=True,
                description="the mapping engine: order search, MIP, certificate")  # fmt: skip
register_mapper("ws", _weight_stationary, option_fields=(), objective_blind=True,
                description="weight-stationary baseline")  # fmt: skip
register_mapper("random", _random_search, option_fields=("seed",),
                description="best of 300 random mappings")  # fmt: skip
register_mapper("exhaustive", _exhaustive, option_fields=(), expensive=True,
                description="exhaustive oracle (tiny layers only)")  # fmt: skip


def get_mapper(name: str) -> Mapper:
    """The registered mapper `name`; an unknown name is a ValueError listing the choices."""
    try:
        mapper = MAPPERS[name]
    except KeyError:
        raise ValueError(f"unknown mapper {name!r}; choose one of {', '.join(MAPPERS)}") from None
    if not isinstance(mapper, Mapper):  # a bare function put in the registry directly
        mapper = Mapper(name, mapper)
    return mapper


def map_layer(
    hw: Hardware,
    layer: Layer,
    objective: str = "latency",
    mapper: str = "ws",
    options: SolveOptions | None = None,
    *,
    simulate: bool = False,
    cancel: Any = None,
) -> LayerResult:
    """Map, evaluate and optionally simulate one layer (arguments in `map_network`'s order).

    An `InfeasibleMappingError` from the mapper, the cost model or the simulator yields an
    "infeasible" result carrying the error message, so that one impossible layer does not hide
    the results of the others. solve_time_s measures the mapper alone.
    """
    function = get_mapper(mapper)
    objective = Objective.parse(objective)
    options = options or SolveOptions()
    start = time.perf_counter()
    try:
        outcome = function(hw, layer, objective.value, options, cancel)
        solve_time_s = time.perf_counter() - start
        cost = cost_model.evaluate(hw, layer, outcome.mapping)
        result = LayerResult(layer, mapper, objective.value, outcome.status, outcome.mapping,
                             cost, solve_time_s=solve_time_s, search=outcome.search)  # fmt: skip
        return simulate_result(hw, result) if simulate else result
    except InfeasibleMappingError as error:
        logger.info("layer %s is infeasible with mapper %s: %s", layer.name, mapper, error)
        return infeasible(layer, mapper, objective.value, str(error),
                          solve_time_s=time.perf_counter() - start)  # fmt: skip


def infeasible(layer: Layer, mapper: str, objective: str, reason: str, **fields) -> LayerResult:
    return LayerResult(layer, mapper, objective, Status.INFEASIBLE, None, None, reason=reason,
                       **fields)  # fmt: skip


def simulate_result(hw: Hardware, result: LayerResult) -> LayerResult:
    """`result` with the event simulator's figures; a mapping the simulator rejects makes the
    layer infeasible (raised as InfeasibleMappingError for the caller to report)."""
    if result.mapping is None:
        return result
    sim = simulator.simulate(hw, result.layer, result.mapping)
    return dataclasses.replace(result, sim_latency_cycles=float(sim.latency_cycles),
                    sim_energy_pj=float(sim.energy_pj))  # fmt: skip
