"""Figures that explain a result: the candidate floors of a layer and the channel time of a
mapping's traffic (the dashboard's bound cards and roofline read them).

- compute floor: the best spatial unrolling's bit-serial passes, t_MAC cycles each;
- DRAM floor: every touched element of an operand crosses its DRAM channel once;
- candidate floor: per unrolling the larger of the two (energy and EDP: MAC energy, DRAM energy
  and leakage over that latency), minimized over every legal unrolling. These are the floor
  bounds of `search.spatial.candidate`, so the minimum over the unrollings is a proven lower
  bound of the layer's objective.
"""

from __future__ import annotations

import math

from miredo_core.cost_model import READ, WRITE, mac_energy_pj
from miredo_core.hardware import AXES, Hardware, Level
from miredo_core.search.factors import divisors
from miredo_core.search.spatial import candidate, dram_floor_cycles, dram_floor_energy_pj
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
    """(compute floor cycles, DRAM floor cycles, candidate floor of the objective): the
    bounds of `miredo_core.search.spatial.candidate`, minimized over every legal unrolling."""
    t_mac = hardware.macro.pass_cycles(layer.input_bits)
    dram = float(max(dram_floor_cycles(hardware, layer).values()))
    dram_energy = dram_floor_energy_pj(hardware, layer)
    total = math.prod(layer.dims.values())
    compute, floor = math.inf, math.inf
    for cores, rows, columns in _product_states(hardware, layer):
        passes = total // (cores * rows * columns)
        latency = max(t_mac * passes, dram)
        energy = (
            mac_energy_pj(hardware, layer, passes, cores)
            + dram_energy
            + hardware.leakage_pj_per_cycle * latency
        )
        value = {"latency": latency, "energy": energy, "edp": latency * energy}[objective]
        compute, floor = min(compute, t_mac * passes), min(floor, value)
    return float(compute), dram, float(floor)


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
