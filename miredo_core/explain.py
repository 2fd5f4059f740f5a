"""Figures that explain a result: the candidate floors of a layer and the channel time of a
mapping's traffic (the dashboard's bound cards and roofline read them).

- compute floor: the best spatial unrolling's bit-serial passes, t_MAC cycles each;
- DRAM floor: every touched element of an operand crosses its DRAM channel once;
- candidate floor: the proven bound of `search.spatial.candidate` (compute, DRAM, the
  compute-interface volumes, register reloads between passes with the partial-sum round trips
  they force, weight writes that exclude compute; energy and EDP add MAC, DRAM, register
  traffic and leakage energy), minimized over every legal unrolling: a proven lower bound of
  the layer's objective.
"""

from __future__ import annotations

import functools
import math

from miredo_core.cost_model import READ, WRITE
from miredo_core.hardware import AXES, Hardware, Level
from miredo_core.search.factors import divisors
from miredo_core.search.spatial import (
    candidate,
    dram_floor_cycles,
    latency_floor_terms,
    spatial_candidates,
)
from miredo_core.workload import DIMS, Layer


def _product_states(hardware: Hardware, layer: Layer) -> set[tuple[int, int, int]]:
    """Every (cores, rows, columns) product of a legal spatial unrolling: each dim's factors
    over the axes that may unroll it divide the dim, each axis's product fits the axis. The
    candidate floors depend on an unrolling only through these three products, so merging equal
    triples gives the same minimum as enumerating every candidate, far faster."""
    sizes = [hardware.axis_size(axis) for axis in AXES]
    states = {(1, 1, 1)}
    for dim in DIMS:
        size = layer.size(dim)
        allowed = [index for index, axis in enumerate(AXES) if dim in hardware.axis_dims(axis)]
        splits = {(1, 1, 1)}
        for index in allowed:
            grown = set()
            for split in splits:
                used = math.prod(split)
                for factor in divisors(size // used):
                    if factor > sizes[index]:
                        break
                    new = list(split)
                    new[index] *= factor
                    grown.add(tuple(new))
            splits = grown
        merged = set()
        for state in states:
            for split in splits:
                product = tuple(a * b for a, b in zip(state, split, strict=True))
                if all(value <= limit for value, limit in zip(product, sizes, strict=True)):
                    merged.add(product)
        states = merged
    return states


def layer_floors(hardware: Hardware, layer: Layer, objective: str) -> tuple[float, float, float]:
    """(compute floor cycles, DRAM floor cycles, candidate floor of the objective). The compute
    floor is the fewest bit-serial passes of any legal unrolling times t_MAC (from the merged
    (cores, rows, columns) products, which give the same minimum as every candidate, fast); the
    candidate floor is the smallest `search.spatial.candidate` bound over every legal
    unrolling, the same proven bound the search starts from."""
    t_mac = hardware.macro.pass_cycles(layer.input_bits)
    dram = float(max(dram_floor_cycles(hardware, layer).values()))
    total = math.prod(layer.dims.values())
    compute = min(
        t_mac * (total // (cores * rows * columns))
        for cores, rows, columns in _product_states(hardware, layer)
    )
    best = _floor_candidate(hardware, layer, objective)
    floor = math.inf if best is None else best.bound(objective)
    return float(compute), dram, float(floor)


@functools.lru_cache(maxsize=256)
def _floor_candidate(hardware: Hardware, layer: Layer, objective: str):
    """The legal unrolling whose candidate bound of `objective` is the smallest (the first of
    equal ones, in `spatial_candidates` order), or None without a legal unrolling. Cached: a
    bound card asks for the floor and for what binds it."""
    return min(spatial_candidates(hardware, layer), key=lambda c: c.bound(objective),
               default=None)  # fmt: skip


def binding_floor(hardware: Hardware, layer: Layer, objective: str) -> tuple[str, float]:
    """What sets the latency floor of the unrolling with the smallest candidate bound of
    `objective`: the largest of its `latency_floor_terms` (e.g. "compute + weight writes into
    the macro") and that term's cycles; ("", NaN) without a legal unrolling."""
    best = _floor_candidate(hardware, layer, objective)
    if best is None:
        return "", math.nan
    terms = latency_floor_terms(hardware, layer, best.spatial)
    name = max(terms, key=terms.__getitem__)
    return name, terms[name]


def channel_cycles(cost, hardware: Hardware, level: Level) -> float:
    """Cycles the level's channels need for the mapping's traffic, reads and writes apart."""
    memory = hardware.memory(level)
    bits = {READ: 0.0, WRITE: 0.0}
    for (place, _, access), count in cost.memory_bits.items():
        if place is level:
            bits[access] += count
    read, write = bits[READ], bits[WRITE]
    return max(read / memory.read_bw_bits_per_cycle, write / memory.write_bw_bits_per_cycle)


def spatial_bound(hw: Hardware, layer: Layer, spatial, objective: str) -> float:
    """The proven candidate-level lower bound of `objective` over every mapping that uses the
    (legal) spatial unrolling `spatial`: the bound the search prunes and certifies with."""
    return candidate(hw, layer, spatial).bound(objective)
