"""Baseline mappers.

`weight_stationary` is the canonical CIM weight-stationary heuristic (reference section 5.2, "WS"):
output channels K on the macro columns, the reduction C*R*S on the macro rows, what is left of K
and then G, P, Q, N on the cores; one temporal loop per dim in the order N, G, K, C, R, S, P, Q
(outermost first), so that a loaded set of weights stays in the macro while every output position
streams through. Each operand keeps its innermost loops in the deepest levels that can hold them
(greedy, innermost level first), and nothing is double-buffered.
"""

from __future__ import annotations

import itertools
import math
import random

from miredo_core.cost_model import evaluate
from miredo_core.hardware import OPERAND_LEVELS, Axis, Hardware, Level
from miredo_core.kinds import objective_value
from miredo_core.mapping import InfeasibleMappingError, Mapping, analyze
from miredo_core.search.factors import divisors, prime_factors
from miredo_core.workload import Dim, Layer, Operand, is_relevant

WS_ORDER = (Dim.N, Dim.G, Dim.K, Dim.C, Dim.R, Dim.S, Dim.P, Dim.Q)


def _fill_axis(remaining: dict[Dim, int], dims: list[Dim], capacity: int) -> dict[Dim, int]:
    """Largest product of divisors of the remaining dims that fits `capacity`; ties prefer the
    earlier dims of `dims` (their factors are tried largest first)."""
    best: dict[Dim, int] = {}
    best_product = 0
    options = [[f for f in reversed(divisors(remaining[d])) if f <= capacity] for d in dims]
    for combo in itertools.product(*options):
        product = math.prod(combo)
        if product <= capacity and product > best_product:
            best, best_product = dict(zip(dims, combo, strict=True)), product
    return {d: f for d, f in best.items() if f > 1}


def weight_stationary_spatial(hw: Hardware, layer: Layer) -> dict[Axis, dict[Dim, int]]:
    remaining = dict(layer.dims)
    spatial: dict[Axis, dict[Dim, int]] = {}
    plan = (
        (Axis.COLUMNS, [Dim.K]),
        (Axis.ROWS, [Dim.C, Dim.R, Dim.S]),
        (Axis.CORES, [Dim.K, Dim.G, Dim.P, Dim.Q, Dim.N]),
    )
    for axis, dims in plan:
        allowed = [d for d in dims if d in hw.axis_dims(axis)]
        chosen = _fill_axis(remaining, allowed, hw.axis_size(axis)) if allowed else {}
        for dim, factor in chosen.items():
            remaining[dim] //= factor
        spatial[axis] = chosen
    return spatial


def _try(hw: Hardware, layer: Layer, spatial, loops, placement) -> bool:
    try:
        analyze(hw, layer, Mapping.build(spatial, loops, placement))
    except InfeasibleMappingError:
        return False
    return True


def _place_operand(hw, layer, spatial, loops, placement, operand: Operand) -> None:
    """Greedy: from the innermost level outward, give each level the longest run of the
    innermost unplaced loops that keeps the mapping legal."""
    chain = OPERAND_LEVELS[operand]
    levels = placement[operand]
    placed = 0  # loops (counted from the innermost) already placed below DRAM
    for level in reversed(chain[1:]):
        best = 0
        for count in range(1, len(loops) - placed + 1):
            trial = list(levels)
            for i in range(len(loops) - placed - count, len(loops) - placed):
                trial[i] = level
            if _try(hw, layer, spatial, loops, {**placement, operand: trial}):
                best = count
        for i in range(len(loops) - placed - best, len(loops) - placed):
            levels[i] = level
        placed += best


def weight_stationary(hw: Hardware, layer: Layer, objective: str = "latency") -> Mapping:
    """The WS baseline mapping of `layer` on `hw` (the objective does not change it)."""
    spatial = weight_stationary_spatial(hw, layer)
    remaining = dict(layer.dims)
    for dims in spatial.values():
        for dim, factor in dims.items():
            remaining[dim] //= factor
    loops = [(d, remaining[d]) for d in WS_ORDER if remaining[d] > 1]
    placement = {op: [Level.DRAM] * len(loops) for op in OPERAND_LEVELS}
    if not _try(hw, layer, spatial, loops, placement):
        # Re-raise the precise reason (for example weights wider than the macro cells).
        analyze(hw, layer, Mapping.build(spatial, loops, placement))
    for operand in (Operand.W, Operand.I, Operand.O):
        _place_operand(hw, layer, spatial, loops, placement, operand)
    return Mapping.build(spatial, loops, placement)


def _random_spatial(hw: Hardware, layer: Layer, rng) -> dict[Axis, dict[Dim, int]]:
    remaining = dict(layer.dims)
    spatial: dict[Axis, dict[Dim, int]] = {}
    for axis in rng.sample(list(Axis), 3):
        room = hw.axis_size(axis)
        chosen: dict[Dim, int] = {}
        for dim in rng.sample(sorted(hw.axis_dims(axis)), len(hw.axis_dims(axis))):
            options = [f for f in divisors(remaining[dim]) if f <= room]
            factor = rng.choice(options[-3:]) if rng.random() < 0.7 else rng.choice(options)
            if factor > 1:
                chosen[dim] = factor
                remaining[dim] //= factor
                room //= factor
        spatial[axis] = chosen
    return spatial


def _random_loops(remaining: dict[Dim, int], rng) -> list[tuple[Dim, int]]:
    loops = []
    for dim, size in remaining.items():
        primes = prime_factors(size)
        rng.shuffle(primes)
        groups: list[int] = []
        for p in primes:
            if groups and rng.random() < 0.5:
                groups[rng.randrange(len(groups))] *= p
            else:
                groups.append(p)
        loops += [(dim, g) for g in groups]
    rng.shuffle(loops)
    return loops


def _random_levels(operand: Operand, n: int, rng) -> list[Level]:
    chain = OPERAND_LEVELS[operand]
    cuts = sorted(rng.randint(0, n) for _ in range(len(chain) - 1))
    levels = []
    for i in range(n):
        depth = sum(1 for c in cuts if c <= i)
        levels.append(chain[depth])
    return levels


def _merge_irrelevant_blocks(layer_loops, levels: list[Level], operand: Operand) -> None:
    """Move the loops of an intermediate level that holds only irrelevant loops one level up."""
    chain = OPERAND_LEVELS[operand]
    for depth in range(1, len(chain) - 1):
        block = [i for i, lv in enumerate(levels) if lv is chain[depth]]
        if block and not any(is_relevant(operand, layer_loops[i][0]) for i in block):
            for i in block:
                levels[i] = chain[depth - 1]


def random_mapping(hw: Hardware, layer: Layer, rng, attempts: int = 50) -> Mapping:
    """A random valid mapping (random spatial unrolling, tiling, order, placement and double
    buffers), found by rejection; falls back to keeping every loop in DRAM, which is always
    legal when the spatial unrolling is."""
    for _ in range(attempts):
        spatial = _random_spatial(hw, layer, rng)
        remaining = dict(layer.dims)
        for dims in spatial.values():
            for dim, factor in dims.items():
                remaining[dim] //= factor
        loops = _random_loops(remaining, rng)
        placement = {}
        for operand in Operand:
            levels = _random_levels(operand, len(loops), rng)
            _merge_irrelevant_blocks(loops, levels, operand)
            placement[operand] = levels
        eligible = [
            (level, operand)
            for operand in Operand
            for level in OPERAND_LEVELS[operand]
            if level in placement[operand]
            and level in (Level.GLOBAL_BUFFER, Level.INPUT_BUFFER, Level.OUTPUT_BUFFER)
        ]
        if hw.macro.ping_pong:
            eligible.append((Level.MACRO, Operand.W))
        double = [pair for pair in eligible if rng.random() < 0.5]
        for candidate in (double, []):
            mapping = Mapping.build(spatial, loops, placement, candidate)
            try:
                analyze(hw, layer, mapping)
            except InfeasibleMappingError:
                continue
            return mapping
    spatial = weight_stationary_spatial(hw, layer)
    remaining = dict(layer.dims)
    for dims in spatial.values():
        for dim, factor in dims.items():
            remaining[dim] //= factor
    loops = _random_loops(remaining, rng)
    return Mapping.build(spatial, loops, {op: [Level.DRAM] * len(loops) for op in Operand})


def random_search(
    hw: Hardware, layer: Layer, objective: str = "latency", samples: int = 300, seed: int = 0
) -> Mapping:
    """Best of `samples` random valid mappings under `objective` (seeded, reproducible)."""
    rng = random.Random(seed)
    best, best_value = None, math.inf
    for _ in range(samples):
        mapping = random_mapping(hw, layer, rng)
        value = objective_value(evaluate(hw, layer, mapping), objective)
        if value < best_value:
            best, best_value = mapping, value
    assert best is not None
    return best
